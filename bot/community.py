"""One community as its services, features, jobs, listeners and commands see it, never the app.

A ``Community`` holds what they need and nothing more: the store, the clock, the configuration,
the community's themes and translator, the way to talk to its members (post, direct, reply,
mention) through the platforms, and the member lookups, which go through the member cache that
sits behind storage. The application builds one per configured community.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bot.clock import Clock
from bot.config import CommunitySettings, Settings
from bot.events import ChannelRef, CommandInvoked, MemberRef, key_parts
from bot.i18n import Translator
from bot.outgoing import OutgoingMessage, literal
from bot.ports import Adapter, Delivery, SentMessage, StateKey
from bot.services.digest_section import DigestSection
from bot.themes import ThemeMap
from storage import members
from storage.contract import Store
from storage.ingest import MemberCache

log = logging.getLogger(__name__)

ANSWER_LIMIT = 2000
"""The longest answer, in characters, on any platform: Discord's message limit, the smallest."""


@dataclass(slots=True)
class Community:
    id: str
    config: Settings
    """The whole configuration, for its shared sections (nudges, dormancy, retention, …)."""
    store: Store
    clock: Clock
    themes: ThemeMap
    translator: Translator
    """For what the community reads: posts, public answers."""
    member_cache: MemberCache
    """The members the store writes through (the engine's hot path and every command)."""
    adapters: Mapping[str, Adapter]
    drain: Callable[[], Awaitable[None]]
    """Wait until what was said so far is stored (a digest counts it)."""
    digest_sections: tuple[DigestSection, ...] = ()
    """What the features add to the weekly digest, between the core's sections."""

    @property
    def settings(self) -> CommunitySettings:
        return self.config.communities[self.id]

    # Members -------------------------------------------------------------------------------

    async def member(self, key: str) -> members.MemberRow | None:
        return await members.by_key(self.store, self.id, key)

    async def members_named(self, name: str) -> list[members.MemberRow]:
        return await members.by_display_name(self.store, self.id, name)

    async def translator_of(self, member_key: str) -> Translator:
        """For what one member reads alone (direct messages, private answers): the language
        they chose (``profile set language:pt``), else the community's."""
        language = await members.language_of(self.store, self.id, member_key)
        return Translator(language) if language else self.translator

    async def member_roles(self, member: MemberRef, platform: str | None = None) -> frozenset[str]:
        """The roles and power levels the member holds where they act (``platform``, when it
        differs from theirs: a bridged puppet)."""
        adapter = self.adapters.get(platform or member.platform)
        return await adapter.member_roles(self.id, member) if adapter else frozenset()

    def member_from_mention(self, platform: str, text: str) -> MemberRef | None:
        """The member that ``text`` mentions in ``platform``'s own syntax (Discord's <@id>)."""
        adapter = self.adapters.get(platform)
        return adapter.member_from_mention(text) if adapter is not None else None

    def mentions_credited(self, platform: str) -> bool:
        """Whether a post on ``platform`` names credited members by a mention (where its
        adapter offers mentions that never ping) rather than by their name."""
        adapter = self.adapters.get(platform)
        return adapter is not None and adapter.mention_credited_members

    def mention(self, member: MemberRef) -> str:
        """``member`` in their platform's mention syntax (their name where it is not enabled)."""
        adapter = self.adapters.get(member.platform)
        return adapter.mention(member) if adapter is not None else literal(member.display_name)

    async def forget_on_platforms(self, member: MemberRef) -> dict[str, list[StateKey]]:
        """Per platform, the rows its adapter keeps about ``member`` (for forget-me)."""
        return {
            platform: await adapter.forget_member(member)
            for platform, adapter in self.adapters.items()
        }

    # Places --------------------------------------------------------------------------------

    def on(self, platform: str) -> bool:
        """Whether Trellis talks through ``platform`` here (its adapter is enabled)."""
        return platform in self.adapters

    def command_prefix(self, platform: str) -> str:
        """How commands are typed on ``platform`` (members of a bridged platform type them here)."""
        adapter = self.adapters.get(platform)
        return adapter.command_prefix if adapter is not None else "/"

    def named_options(self, platform: str) -> bool:
        """Whether commands on ``platform`` take their values as named options (``Adapter``)."""
        adapter = self.adapters.get(platform)
        return adapter is not None and adapter.named_options

    def message_limit(self, platform: str) -> int:
        """The longest answer a place on ``platform`` takes in one message."""
        adapter = self.adapters.get(platform)
        return min(adapter.message_limit, ANSWER_LIMIT) if adapter else ANSWER_LIMIT

    async def place_name(self, place: str) -> str:
        """A configured place ('platform:id') as members see it (#general, the room's name);
        as configured when its adapter is off."""
        platform, place_id = key_parts(place)
        adapter = self.adapters.get(platform)
        if adapter is None:
            return literal(place)
        return await adapter.place_name(ChannelRef(platform, place_id))

    async def sealed_from(self, place: str) -> frozenset[str]:
        """The community's end-to-end encrypted places, whose messages may not be quoted in
        ``place`` ('platform:id'): none when it is encrypted too or ``digest.quote_encrypted``."""
        if self.settings.digest.quote_encrypted:
            return frozenset()
        sealed = frozenset().union(
            *[await adapter.encrypted_places(self.id) for adapter in self.adapters.values()]
        )
        return frozenset() if place in sealed else sealed

    # Talking -------------------------------------------------------------------------------

    async def post(self, place: str, message: OutgoingMessage) -> SentMessage | None:
        """Post to a configured place ('platform:id'); logs and returns None if its adapter is off."""
        platform, place_id = key_parts(place)
        adapter = self.adapters.get(platform)
        if adapter is None:
            log.warning("cannot post to %s: the %s adapter is not enabled", place, platform)
            return None
        return await adapter.send(ChannelRef(platform, place_id), message)

    async def direct(self, member_key: str, message: OutgoingMessage) -> Delivery:
        platform, member_id = key_parts(member_key)
        adapter = self.adapters.get(platform)
        if adapter is None:
            delivery = Delivery.UNREACHABLE
        else:
            delivery = await adapter.send_direct(MemberRef(platform, member_id), message)
        # Any refused direct message (a welcome, a survey, a nudge) holds back nudges for the
        # cooldown; one that arrives clears it.
        reachable = delivery is Delivery.DELIVERED
        at = int(self.clock.now().timestamp())
        async with self.store.transaction() as tx:
            await members.set_reachable(tx, self.id, member_key, at, reachable=reachable)
        return delivery

    async def reply(
        self, invocation: CommandInvoked, message: OutgoingMessage, *, private: bool
    ) -> None:
        # The place's platform answers: a bridged puppet is attributed to another platform.
        adapter = self.adapters.get(invocation.channel.platform)
        if adapter is None:
            log.warning("no adapter to answer %s", invocation.member.key)
            return
        await adapter.reply(invocation, message, private=private)
