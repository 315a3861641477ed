"""The adapter contract, a port of the core: what every platform adapter fulfils and is handed.

The core defines it and adapters implement it, so nothing in ``bot/`` imports an adapter. An
adapter turns platform objects into ``bot.events`` (a pure function per platform, tested from
recorded payloads), pushes them into the engine's sink, and carries the engine's
``OutgoingMessage``s back to the platform. It never writes SQL and never decides anything about
facilitation. It drops its own messages, other bots', and any backlog older than its own start
unless it is backfilling on purpose.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol

from bot.events import ChannelRef, CommandInvoked, Event, MemberRef
from bot.outgoing import OutgoingMessage, literal

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from bot.commands.spec import CommandSpec


@dataclass(frozen=True, slots=True)
class AgreedSetting:
    """A setting that every process of one bot account on the database gives alike, as it
    decides what the account's connections are (``Adapter.agreed_settings``)."""

    name: str
    """As in the configuration: ``adapters.discord.shard_count``."""
    account: str
    """The bot account whose processes agree: ``discord bot 1234567890``."""
    value: str


ANSWER_GRACE_S = 5.0
"""Seconds a stopping adapter waits for the commands it handed over to be answered."""


async def answered_before_closing(sink: EventSink) -> None:
    """What a stopping adapter awaits before it disconnects: every command it handed over
    answered (``EventSink.drain``), for ANSWER_GRACE_S at most. Answered after, their answers
    could not reach the platform, or would open the connection again."""
    try:
        await asyncio.wait_for(sink.drain(), ANSWER_GRACE_S)
    except TimeoutError:
        log.warning("stopping before every command was answered (%.0f s passed)", ANSWER_GRACE_S)


class EventSink(Protocol):
    """Where an adapter delivers events: the engine."""

    async def __call__(self, event: Event) -> None:
        """Queue the event for storage; returns at once, except while the store cannot write (a
        full disk): then it waits until it can, so the adapter stops taking from the platform."""

    async def drain(self) -> None:
        """Return once every event queued so far is stored (and every command before it
        answered). An adapter that remembers how far it has read a platform (a sync token) saves
        that position only after this returns, so a crash can replay events (harmless: ingestion
        is idempotent) but never lose them. While the store cannot write, it does not return; a
        script run is told to give up, and then it raises ``StoreUnavailable`` instead."""

    async def stored(self) -> None:
        """Return once every event queued so far is stored, not waiting for the commands held
        back while the adapters catch up at start: what an adapter's own catch-up waits for
        before it reads where to start (``drain`` would wait for that catch-up itself)."""


class StoredPositions(Protocol):
    """What the store holds of a community on one platform: where a catch-up starts from."""

    @property
    def newest(self) -> datetime | None:
        """When the newest message stored from the platform was posted; None when nothing was
        ever stored from it (a first start)."""

    @property
    def last_messages(self) -> Mapping[str, datetime]:
        """Place key (``discord:<thread or channel id>``) -> when its newest stored message was
        posted, for the places with a message since the time asked."""

    @property
    def messages(self) -> Mapping[str, Set[str]]:
        """Place key -> platform ids of the messages stored there (not deleted) since the time
        asked: a catch-up that reads a stretch again tells which of them were deleted."""

    @property
    def members_present(self) -> Set[str]:
        """Keys of the people stored as members who have not left."""


class StateKey(NamedTuple):
    """One row an adapter keeps in its state: ``scope`` names what kind of thing it is (a sync
    position, a direct room), ``key`` which one."""

    scope: str
    key: str


class AdapterState(Protocol):
    """An adapter's own key/value rows in the store: what it must remember across restarts (a
    login, a sync position, direct rooms). Each adapter is handed a view of its own rows only, so
    its keys never meet another adapter's or the core's (the schedules' records)."""

    async def get(self, scope: str, key: str) -> str | None: ...

    async def set(self, scope: str, key: str, value: str) -> None: ...

    async def delete(self, scope: str, key: str) -> None: ...

    async def entries(self, scope: str) -> dict[str, str]:
        """Every key of ``scope`` with its value (to find what concerns one member)."""
        ...


PositionsSince = Callable[[str, datetime], Awaitable[StoredPositions]]
"""(community, since) -> what the store holds of the adapter's platform there (its messages
since ``since``)."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store holds for one adapter, handed to it at ``start``: its own state, and where
    each place's catch-up starts (so it never needs the store itself)."""

    state: AdapterState
    positions: PositionsSince


class Delivery(enum.Enum):
    """What became of a direct message."""

    DELIVERED = "delivered"
    UNREACHABLE = "unreachable"
    """The member does not accept direct messages from us (Discord 403, Matrix invite refused)."""


@dataclass(frozen=True, slots=True)
class SentMessage:
    channel: ChannelRef
    message_ids: tuple[str, ...]
    """One id per chunk the message was split into."""


class Bridges:
    """What the adapters learn of the bridges that relay one platform's places into another's,
    shared between them by the application: a place whose chat is counted in the place it is
    relayed into (so each message, reaction, edit and deletion counts once, credited to its
    real author), and the accounts of ours or of other bots that a bridge copies elsewhere.

    The adapter whose copies name their real authors (a bridge's puppets) says which places it
    counts; the other adapter leaves those places' chat to it (its commands still run)."""

    def __init__(self) -> None:
        self._counted_in: dict[str, str] = {}
        self._not_people: set[str] = set()

    def counted_in(self, relayed: str, counting: str) -> None:
        """The chat of place ``relayed`` ('platform:id') is counted in place ``counting``."""
        self._counted_in[relayed] = counting

    def counting_place(self, place: str) -> str | None:
        """Where the chat of ``place`` is counted, when not in ``place`` itself."""
        return self._counted_in.get(place)

    def not_a_person(self, member: str) -> None:
        """``member`` ('platform:id') is a bot (ours or another): its bridged copies are not chat."""
        self._not_people.add(member)

    def is_person(self, member: str) -> bool:
        return member not in self._not_people

    @property
    def not_people(self) -> frozenset[str]:
        return frozenset(self._not_people)


class Adapter(ABC):
    platform: str
    bridges: Bridges | None = None
    """Shared with the other adapters by the application (``Trellis``), before ``start``."""
    reads_bridges: bool = False
    """Whether this adapter learns bridged places from the platform itself (Matrix's room
    state): it starts before the others."""
    message_limit: int
    """The longest message the platform accepts, in characters."""
    mention_credited_members: bool = False
    """Name members in the digest with ``mention()`` instead of by display name: a platform whose
    mentions never ping may offer it (Discord, ``adapters.discord.mention_credited_members``)."""
    command_prefix: str = "/"
    """How members start a command here ("/" for slash commands, "!trellis " on Matrix)."""
    named_options: bool = False
    """Whether a command's values are given as the platform's named options, the required ones
    first (Discord's slash commands: ``theme:``), rather than as words after its name; a command
    word that heads subcommands is then only their group (``/library list``, not ``/library``)."""

    @abstractmethod
    async def start(self, sink: EventSink, stored: Stored) -> None:
        """Connect and begin delivering live events to ``sink``; ``stored`` is what the store
        holds for this adapter (its state, where its catch-up starts).

        Returns once connected, with the platform's state loaded (members present, handed to the
        sink as ``MemberJoined(live=False)``; rooms, power levels, direct rooms) and what happened
        while Trellis was down (at most ``catch_up.max_days`` back) handed to the sink: the app
        drains the sink and only then runs the jobs that fell due."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect cleanly; events already handed to the sink stay handed. A stopped adapter
        may be started again (a standby taking over one more of its connections)."""

    def connections(self) -> list[str]:
        """The platform connections this adapter opens that must be unique among every process
        on the database (a bot account's sync, one Discord shard), each named the same in every
        process with the same configuration; none where nothing is unique (the console)."""
        return []

    def agreed_settings(self) -> list[AgreedSetting]:
        """The settings that name ``connections()``, which another process of the same account
        giving otherwise would split into other connections (Discord's shard count)."""
        return []

    def use_connections(self, held: Sequence[str]) -> None:
        """Open only ``held`` of ``connections()`` at the next ``start``: this process was
        elected for those, other processes hold the rest."""
        return None  # an adapter with one connection is started (holding it) or not at all

    def serves(self, community: str) -> bool:
        """Whether the connections this process holds reach ``community`` (the Discord shard of
        its server may be another process's)."""
        return True

    @abstractmethod
    async def register_commands(self, specs: Sequence[CommandSpec]) -> None:
        """Make the commands known to the platform (slash commands, help text for prefixes)."""

    @abstractmethod
    async def send(self, channel: ChannelRef, message: OutgoingMessage) -> SentMessage:
        """Post to a channel (or thread), split to ``message_limit``, pinging nobody."""

    @abstractmethod
    async def send_direct(self, member: MemberRef, message: OutgoingMessage) -> Delivery:
        """Send a direct message; report UNREACHABLE instead of raising when the member refuses."""

    @abstractmethod
    async def reply(
        self, invocation: CommandInvoked, message: OutgoingMessage, *, private: bool
    ) -> None:
        """Answer a command. ``private`` answers only the invoker (ephemeral) where possible."""

    @abstractmethod
    def mention(self, member: MemberRef) -> str:
        """``member`` named in an ``OutgoingMessage`` as this platform shows a person, ready to
        embed: escaped, never a ping (adapters send every message with no mentions allowed).
        Services ask this instead of writing a platform's mention syntax themselves."""

    def member_from_mention(self, text: str) -> MemberRef | None:
        """The member a command argument names in this platform's own mention syntax (Discord's
        ``<@123>``), or None when ``text`` is no such mention: commands ask this instead of
        parsing a platform's syntax themselves."""
        return None

    async def forget_member(self, member: MemberRef) -> list[StateKey]:
        """The keys of this adapter's state that hold something of ``member`` (a direct room, a
        reaction's record): deleted with everything else when the member asks to be forgotten.
        Exactly theirs: never a row of someone else that merely contains the same characters.
        What the adapter keeps of them on the platform itself (Matrix's ``m.direct``) it forgets
        here, so that no later start brings it back."""
        return []

    async def place_name(self, place: ChannelRef) -> str:
        """``place`` as members see it, ready to embed in an ``OutgoingMessage`` (escaped, never a
        ping): ``#general``, a Matrix room's name. Replies and listings name places with it
        instead of a raw ``platform:id``."""
        return "#" + literal(place.name or place.id)

    async def member_roles(self, community: str, member: MemberRef) -> frozenset[str]:
        """Keys of what the member holds on the platform, for permission checks.

        Discord answers role keys (``"discord-role:456"``); Matrix answers the member's power level
        in the community's rooms (``"matrix-power:50"``). Configuration names these keys in
        ``roles.admins`` / ``roles.facilitators``.
        """
        return frozenset()

    async def encrypted_places(self, community: str) -> frozenset[str]:
        """Keys of the community's places (its digest channel included) that are end-to-end
        encrypted: what is said there is not quoted into a place that is not, unless the
        community allows it (``digest.quote_encrypted``)."""
        return frozenset()

    @abstractmethod
    async def channels(self, community: str) -> list[ChannelRef]:
        """The places of a community the bot can read (channels, rooms and their threads)."""

    async def posts_in(self, community: str) -> frozenset[str]:
        """The places ('platform:id') Trellis can post in for ``community`` besides those it
        reads (``channels()``): a Matrix room joined only to post the digest there. The ready
        line names the configured places it can neither read nor post in."""
        return frozenset()

    def watched(self, places: int) -> str:
        """What the ready line says this adapter reads, given how many places ``channels()``
        listed across the communities."""
        return f"{places} places watched"

    @abstractmethod
    def history(self, channel: ChannelRef, since: datetime) -> AsyncIterator[Event]:
        """Past events of one place from ``channels()`` (a channel, or one thread when ``thread_id`` is set)
        since ``since``, oldest first, for backfill."""
