"""The Discord adapter: a real ``discord.Client`` that reads every gateway dispatch as raw JSON (so
that edits, deletes and reactions on messages discord.py never cached still count), resolves guilds
to communities and threads to their parent channel from the client's cache, translates them
(``translate``) and hands the events to the engine in the order Discord sent them; it answers slash
commands (``commands``), posts, sends direct messages and reads history.

At every start and after every new gateway session (not after a resume, which replays what was
missed) the adapter catches up: every member present (``MemberJoined(live=False)``: never
welcomed) and those gone, then each readable channel and thread from its newest stored message
(threads created or archived meanwhile included), the messages of the day before it read again
(their reactions, edits and deletions meanwhile), at most ``catch_up.max_days`` back. Where each
place starts is handed to it at start (``Stored.positions``).

Nothing we send can ping anyone: ``AllowedMentions.none()`` is set on the client and passed on
every send.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import discord
from discord import app_commands

from adapters.discord.commands import (
    DIRECT_COMMANDS,
    CatalogTranslator,
    command_tree_roots,
    theme_choices,
)
from adapters.discord.translate import (
    GATEWAY_EVENTS,
    PLATFORM,
    Gateway,
    catch_up_start,
    command_options,
    deleted_meanwhile,
    emoji_text,
    id_time,
    member_ref,
    message_edited,
    message_posted,
    presence,
    thread_place,
    translate,
)
from bot.clock import Clock, SystemClock
from bot.commands.spec import CommandSpec
from bot.commands.words import split_public
from bot.config import ConfigError, Settings
from bot.events import (
    ChannelRef,
    CommandInvoked,
    Event,
    MemberJoined,
    MemberRef,
    MessageDeleted,
    MessagePosted,
    ReactionAdded,
    ThreadOpened,
)
from bot.outgoing import Attachment, OutgoingMessage, split_markdown
from bot.ports import (
    Adapter,
    AgreedSetting,
    Delivery,
    EventSink,
    PositionsSince,
    SentMessage,
    Stored,
    StoredPositions,
    answered_before_closing,
)

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
NO_PINGS = discord.AllowedMentions.none()
ROLE_PREFIX = "discord-role:"

_USER_MENTION = re.compile(r"<@!?(\d+)>")
"""How a member is mentioned in a message's text (``<@!id>`` is the older nickname form)."""

_INTERACTION_LIFETIME = 15 * 60
"""Seconds an interaction token can still be answered (Discord's limit)."""

_RECENT = timedelta(days=1)
"""How far before a place's newest stored message a catch-up reads again: what happened while
Trellis was down to the messages of the day before (reactions, edits, deletions) counts too."""

_NOT_ANSWERED = (
    "Trellis could not answer this command; please try again later, and tell a facilitator if "
    "it happens again."
)
_NOT_READ = "Trellis could not read this command's options; please type it again."


@dataclass
class _Pending:
    """An interaction waiting for the engine's answer."""

    interaction: discord.Interaction
    private: bool
    created: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    timers: list[asyncio.Task[None]] = field(default_factory=list)
    """The deferral and the last-resort answer, both cancelled once the engine has answered."""


@dataclass(eq=False)
class _NewSession:
    """A READY in the queue of events: where the catch-up of the session it opens starts."""

    positions: asyncio.Future[dict[str, StoredPositions]]


class _Handlers:
    """What Trellis's Discord client does, sharded or not: setup in ``setup_hook``, every raw
    gateway frame to the adapter, a catch-up per new gateway session."""

    adapter: DiscordAdapter
    tree: app_commands.CommandTree[Any]

    async def setup_hook(self) -> None:
        await self.adapter._setup()

    async def on_socket_raw_receive(self, frame: str) -> None:
        self.adapter._on_frame(frame)

    async def on_ready(self) -> None:
        # Each new session (a start, or a re-identify after INVALID_SESSION) missed what happened
        # before it: catch up. A resume replays instead and fires no on_ready.
        self.adapter._catch_up_soon()

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("error in Discord event handler %s", event_method)


class _Client(_Handlers, discord.Client):
    """One gateway connection for every server of the bot."""


class _ShardedClient(_Handlers, discord.AutoShardedClient):
    """The shards of the bot's gateway this process holds, one connection each."""

    async def on_shard_ready(self, shard_id: int) -> None:
        # A shard's new session after the first start (on_ready fires once for all of them).
        if self.is_ready():
            self.adapter._catch_up_soon()


class DiscordAdapter(Adapter):
    """Serves every community whose ``discord_guild_id`` is set, with one bot account."""

    platform = PLATFORM
    message_limit = MESSAGE_LIMIT
    named_options = True

    def __init__(
        self,
        settings: Settings,
        token: str,
        *,
        clock: Clock | None = None,
        defer_after: float = 2.0,
        give_up_after: float = 120.0,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        self._settings = settings
        self.mention_credited_members = settings.adapters.discord.mention_credited_members
        self._token = token
        self._clock = clock or SystemClock()
        self.defer_after = defer_after
        """Seconds to wait for the engine's answer before telling Discord it is coming (defer)."""
        self.give_up_after = give_up_after
        """Seconds after which a command the engine never answered (it failed unexpectedly) is
        answered that Trellis could not answer it, rather than left "thinking" until Discord
        drops it."""
        self._guild_community = {
            str(c.discord_guild_id): cid
            for cid, c in settings.communities.items()
            if c.discord_guild_id
        }
        self._guild_ready_timeout = guild_ready_timeout
        self._bot = _bot_of(token)
        self._shard_count = settings.adapters.discord.shard_count
        self._shards = self._configured_shards() if self._shard_count is not None else None
        """The shards this process holds (all those it may hold until the election says)."""
        self._bridged = {b.discord for c in settings.communities.values() for b in c.bridges}
        """Channels a bridge relays from Matrix, by the configuration."""
        self.client = self._new_client()
        self._specs: list[CommandSpec] = []
        self._sink: EventSink | None = None
        self._positions: PositionsSince | None = None
        self._queue: asyncio.Queue[Event | _NewSession] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._pending: dict[str, _Pending] = {}
        self._seen_roles: dict[tuple[str, str], frozenset[str]] = {}
        self._set_up = False
        self._catching_up: asyncio.Task[None] | None = None
        self._session: _NewSession | None = None
        """The gateway session being served (its READY), and the last one caught up."""
        self._caught_up: _NewSession | None = None
        self._catch_up_lock = asyncio.Lock()

    # ---------------------------------------------------------------- lifecycle

    def _new_client(self) -> _Client | _ShardedClient:
        """A client for the shards this process holds (all the bot's servers when unsharded)."""
        intents = discord.Intents.none()
        intents.guilds = True
        intents.members = True
        intents.guild_messages = True
        intents.guild_reactions = True
        intents.message_content = True
        client: _Client | _ShardedClient
        if self._shard_count is None:
            client = _Client(
                intents=intents,
                allowed_mentions=NO_PINGS,
                enable_debug_events=True,
                guild_ready_timeout=self._guild_ready_timeout,
            )
        else:
            client = _ShardedClient(
                intents=intents,
                allowed_mentions=NO_PINGS,
                enable_debug_events=True,
                guild_ready_timeout=self._guild_ready_timeout,
                shard_count=self._shard_count,
                shard_ids=list(self._shards or ()),
            )
        client.adapter = self
        client.tree = app_commands.CommandTree(client)
        client.tree.on_error = self._on_command_error  # type: ignore[method-assign]
        return client

    def connections(self) -> list[str]:
        if self._shard_count is None:
            return [f"discord gateway of bot {self._bot}"]
        return [self._shard_name(shard) for shard in self._configured_shards()]

    def agreed_settings(self) -> list[AgreedSetting]:
        # Processes counting shards differently would each hold a "shard 0" of another split;
        # one without shards would hold the whole bot beside them.
        count = "unset" if self._shard_count is None else str(self._shard_count)
        return [AgreedSetting("adapters.discord.shard_count", f"discord bot {self._bot}", count)]

    def _configured_shards(self) -> list[int]:
        config = self._settings.adapters.discord
        assert self._shard_count is not None
        return list(config.shard_ids or range(self._shard_count))

    def _shard_name(self, shard: int) -> str:
        return f"discord shard {shard} of {self._shard_count}, bot {self._bot}"

    def use_connections(self, held: Sequence[str]) -> None:
        if self._shard_count is None:
            return
        shards = [shard for shard in self._configured_shards() if self._shard_name(shard) in held]
        if shards != self._shards:
            self._shards = shards
            if shards:  # with none the adapter is not started: its client can wait
                self.client = self._new_client()

    def _on_held_shard(self, guild_id: str | int) -> bool:
        """Whether the server's events come to this process (its shard is one held here)."""
        if self._shard_count is None:
            return True
        return (int(guild_id) >> 22) % self._shard_count in (self._shards or ())

    def serves(self, community: str) -> bool:
        guild_id = self._settings.communities[community].discord_guild_id
        return guild_id is not None and self._on_held_shard(guild_id)

    async def start(self, sink: EventSink, stored: Stored) -> None:
        if self.client.is_closed():  # started before: a standby taking over one more shard
            self.client = self._new_client()
            self._session = self._caught_up = None
        self._sink = sink
        self._positions = stored.positions
        self._pump = asyncio.create_task(self._deliver(), name="trellis-discord-events")
        env = self._settings.adapters.discord.token_env
        try:
            await self.client.login(self._token)
        except discord.LoginFailure:
            await self.stop()
            raise ConfigError(
                f"Discord refused the bot token in the environment variable {env}; copy it again "
                f"from the Bot page of your application in the Discord developer portal"
            ) from None
        self._runner = asyncio.create_task(self.client.connect(), name="trellis-discord-gateway")
        ready = asyncio.create_task(self.client.wait_until_ready())
        await asyncio.wait({self._runner, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            error = self._runner.exception()
            await self.stop()
            if isinstance(error, discord.PrivilegedIntentsRequired):
                raise ConfigError(
                    "Discord refused the connection because the bot's privileged intents are off; "
                    "switch on Server Members Intent and Message Content Intent on the Bot page "
                    "of your application in the Discord developer portal"
                ) from None
            raise error or RuntimeError("the Discord gateway closed before the bot was ready")
        await self._catch_up_session()
        await self._check_configuration()

    async def stop(self) -> None:
        if self._catching_up is not None:
            self._catching_up.cancel()
            await asyncio.gather(self._catching_up, return_exceptions=True)
        if self._pump is not None and self._sink is not None:
            await self.flush()
            # Once the gateway is closed their interactions can no longer be answered, and the
            # members who asked would see "the application did not respond".
            await answered_before_closing(self._sink)
        if not self.client.is_closed():
            await self.client.close()
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)
        for pending in self._pending.values():
            for timer in pending.timers:
                timer.cancel()
        self._pending.clear()
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
            self._pump = None

    async def flush(self) -> None:
        """Return once every event received so far has been handed to the sink."""
        await self._queue.join()

    async def _deliver(self) -> None:
        # One consumer keeps Discord's order: a delete never overtakes the message it deletes.
        while True:
            item = await self._queue.get()
            try:
                assert self._sink is not None
                if isinstance(item, _NewSession):
                    await self._read_positions(item)
                else:
                    await self._sink(item)
            except Exception:
                log.exception("the engine did not accept %s", type(item).__name__)
            finally:
                self._queue.task_done()

    async def _read_positions(self, session: _NewSession) -> None:
        """Where the new session's catch-up starts, read once everything received before it is
        stored and before anything it brings is: a message arriving live cannot hide the ones
        missed before it."""
        assert self._sink is not None
        try:
            await self._sink.stored()
            since = self._clock.now() - timedelta(days=self._settings.catch_up.max_days)
            positions = {c: await self._stored(c, since) for c in self._guild_community.values()}
        except Exception as error:
            session.positions.set_exception(error)  # the catch-up says it could not start
        else:
            session.positions.set_result(positions)

    async def _setup(self) -> None:
        self._set_up = True
        if self.bridges is not None and self.client.user is not None:
            # What a bridge relays of our own posts is not the community's chat.
            self.bridges.not_a_person(f"{PLATFORM}:{self.client.user.id}")
        await self.client.tree.set_translator(CatalogTranslator())
        if self._specs:
            await self._sync_commands()

    # ---------------------------------------------------------------- catch-up

    def _catch_up_soon(self) -> None:
        if self._sink is None:
            return
        self._catching_up = asyncio.create_task(
            self._catch_up_session(), name="trellis-discord-catch-up"
        )

    async def _catch_up_session(self) -> None:
        """Catch up once per gateway session: ``start`` does it for the first one (before it
        returns), ``on_ready`` for every later one."""
        async with self._catch_up_lock:
            session = self._session
            if session is not None and session is not self._caught_up:
                try:
                    positions = await session.positions
                    for community in self._guild_community.values():
                        await self._catch_up(community, positions[community])
                except Exception:
                    # The next session or start catches up again; what was read is handed over.
                    log.exception("Discord catch-up stopped early")
                self._caught_up = session
        await self.flush()

    async def _catch_up(self, community: str, positions: StoredPositions) -> None:
        guild = self._guild_of(community)
        if guild is None:
            return
        now = self._clock.now()
        people = [
            (MemberRef(PLATFORM, str(m.id), m.display_name, m.bot), m.joined_at)
            for m in guild.members
        ]
        counts = dict.fromkeys(("joined", "left", "messages", "reactions", "threads", "deleted"), 0)
        for event in presence(
            community, people, positions.members_present, now=now, complete=guild.chunked
        ):
            counts["joined" if isinstance(event, MemberJoined) else "left"] += 1
            self._queue.put_nowait(event)
        horizon = now - timedelta(days=self._settings.catch_up.max_days)
        downtime = catch_up_start(None, positions, horizon=horizon, recent=_RECENT)
        if downtime is None:
            log.info(
                "Discord: %s first seen; %d members present. Older chat is read with "
                "`trellis backfill discord`.",
                community,
                counts["joined"],
            )
            return
        for place, thread in await self._places(guild, archived_since=downtime):
            if self._counted_elsewhere(place):
                continue  # the bridged place it is relayed into catches it up
            if thread is not None and id_time(thread.id) >= downtime:
                owner = guild.get_member(thread.owner_id) if thread.owner_id else None
                opener = (
                    MemberRef(PLATFORM, str(thread.owner_id), owner.display_name if owner else "")
                    if thread.owner_id
                    else None
                )
                counts["threads"] += 1
                self._queue.put_nowait(
                    ThreadOpened(community, place, thread.name, opener, id_time(thread.id))
                )
            key = f"{PLATFORM}:{place.thread_id or place.id}"
            since = catch_up_start(key, positions, horizon=horizon, recent=_RECENT)
            assert since is not None
            there: set[str] = set()
            async for read in self.history(place, since):
                if isinstance(read, MessagePosted):
                    there.add(read.message_id)
                    counts["messages"] += 1
                elif isinstance(read, ReactionAdded):
                    counts["reactions"] += 1
                self._queue.put_nowait(read)
            # Read whole: what is stored from that stretch and no longer there was deleted.
            for gone in deleted_meanwhile(positions.messages.get(key, frozenset()), there, since):
                counts["deleted"] += 1
                self._queue.put_nowait(MessageDeleted(community, place, gone, now))
        log.info(
            "Discord: caught up %s since %s: %d messages, %d reactions, %d threads read, "
            "%d messages deleted meanwhile; %d members present, %d gone.",
            community,
            downtime.isoformat(timespec="minutes"),
            counts["messages"],
            counts["reactions"],
            counts["threads"],
            counts["deleted"],
            counts["joined"],
            counts["left"],
        )

    async def _stored(self, community: str, since: datetime) -> StoredPositions:
        assert self._positions is not None
        return await self._positions(community, since)

    # ---------------------------------------------------------------- incoming gateway events

    def _on_frame(self, frame: str) -> None:
        # Runs without awaiting, in the order frames arrived: the queue keeps that order.
        message = json.loads(frame)
        kind = message.get("t")
        if kind == "READY":
            self._session = _NewSession(asyncio.get_running_loop().create_future())
            self._queue.put_nowait(self._session)
            return
        if kind not in GATEWAY_EVENTS:
            return
        try:
            events = self._translate(kind, message["d"])
        except (KeyError, TypeError, ValueError):
            log.exception("could not read a %s payload from Discord", kind)
            return
        for event in events:
            self._queue.put_nowait(event)

    def _translate(self, kind: str, data: dict[str, Any]) -> list[Event]:
        community = self._guild_community.get(str(data.get("guild_id")))
        if community is None or self.client.user is None:
            return []
        guild_id = data["guild_id"]
        gateway = Gateway(
            community=community,
            own_id=str(self.client.user.id),
            now=self._clock.now(),
            place=self._place,
            member_name=lambda user_id: self._member_name(guild_id, user_id),
            relayed=self._relayed,
        )
        author = data.get("author") or {}
        if author.get("bot") and "webhook_id" not in data and self.bridges is not None:
            self.bridges.not_a_person(f"{PLATFORM}:{author['id']}")  # its bridged copies too
        return [e for e in translate(kind, data, gateway) if not self._counted_elsewhere(e)]

    def _relayed(self, place: ChannelRef) -> bool:
        """Whether a bridge named in the configuration relays ``place`` from a Matrix room that
        Trellis does not watch: the bridge's webhook posts there count for their authors."""
        return place.id in self._bridged and not self._counted_elsewhere(place)

    def _counted_elsewhere(self, event: Event | ChannelRef) -> bool:
        """Whether a bridge relays this place (or this event's place) into a place whose
        adapter counts its chat, with the real authors: it is not counted here too."""
        place = event if isinstance(event, ChannelRef) else getattr(event, "channel", None)
        return (
            place is not None
            and self.bridges is not None
            and self.bridges.counting_place(place.key) is not None
        )

    def _place(self, channel_id: str | int) -> ChannelRef:
        """The ChannelRef of a channel id: a thread is named by its parent channel and its own id."""
        channel = self.client.get_channel(int(channel_id))
        if isinstance(channel, discord.Thread):
            parent = channel.parent
            name = parent.name if parent is not None else ""
            return ChannelRef(PLATFORM, str(channel.parent_id), name, str(channel.id))
        return ChannelRef(PLATFORM, str(channel_id), getattr(channel, "name", "") or "")

    def _member_name(self, guild_id: str | int, user_id: str | int) -> str:
        guild = self.client.get_guild(int(guild_id))
        member = guild.get_member(int(user_id)) if guild is not None else None
        return member.display_name if member is not None else ""

    def member_from_mention(self, text: str) -> MemberRef | None:
        found = _USER_MENTION.fullmatch(text)
        return MemberRef(PLATFORM, found.group(1)) if found else None

    def mention(self, member: MemberRef) -> str:
        # Shown as the member's name by every client, yet it pings nobody: every message goes out
        # with AllowedMentions.none().
        return f"<@{member.id}>"

    async def place_name(self, place: ChannelRef) -> str:
        """A channel mention (``<#id>``): every client shows it as the channel's current name,
        clickable, and it pings nobody. A channel the bot cannot see is named as configured."""
        place_id = place.thread_id or place.id
        if place_id.isdigit() and self.client.get_channel(int(place_id)) is not None:
            return f"<#{place_id}>"
        return await super().place_name(place)

    async def member_roles(self, community: str, member: MemberRef) -> frozenset[str]:
        """The member's roles in the community's guild as ``discord-role:<id>`` keys.

        Read from the cache (the members intent keeps it current), so no request is made; the
        roles seen on the member's last slash command stand in when the member is not cached.
        """
        guild_id = self._settings.communities[community].discord_guild_id
        if not guild_id:
            return frozenset()
        guild = self.client.get_guild(int(guild_id))
        cached = guild.get_member(int(member.id)) if guild is not None else None
        if cached is None:
            return self._seen_roles.get((str(guild_id), member.id), frozenset())
        return frozenset(f"{ROLE_PREFIX}{r.id}" for r in cached.roles if not r.is_default())

    # ---------------------------------------------------------------- slash commands

    async def register_commands(self, specs: Sequence[CommandSpec]) -> None:
        self._specs = list(specs)
        if self._set_up:
            await self._sync_commands()

    async def _sync_commands(self) -> None:
        roots = self._tree_roots(self._specs)
        tree = self.client.tree
        for guild_id in self._guild_community:
            guild = discord.Object(int(guild_id))
            tree.clear_commands(guild=guild)
            for root in roots:
                tree.add_command(root, guild=guild)
            try:
                await tree.sync(guild=guild)
            except discord.Forbidden:
                log.warning(
                    "Could not register slash commands in the Discord server %s: invite the bot "
                    "with the applications.commands scope (see docs/discord.md).",
                    guild_id,
                )
        # Global, but offered only in a direct message with the bot: in a server the server's
        # own commands stand, so nothing is listed twice.
        tree.clear_commands(guild=None)
        direct = [spec for spec in self._specs if spec.name in DIRECT_COMMANDS]
        for root in self._tree_roots(direct, direct=True):
            tree.add_command(root)
        try:
            await tree.sync()
        except discord.HTTPException as error:
            log.warning(
                "Could not offer the member commands in direct messages with the bot (%s); "
                "members can still use them in the server.",
                error,
            )

    def _tree_roots(
        self, specs: Sequence[CommandSpec], *, direct: bool = False
    ) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
        return command_tree_roots(
            specs, invoke=self._invoked, autocomplete_theme=self._autocomplete_theme, direct=direct
        )

    async def _autocomplete_theme(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        community = self._guild_community.get(str(interaction.guild_id))
        if community is None:
            return []
        themes = {k: t.name for k, t in self._settings.communities[community].themes.items()}
        return [app_commands.Choice(name=n, value=v) for n, v in theme_choices(themes, current)]

    async def _invoked(self, spec: CommandSpec, interaction: discord.Interaction) -> None:
        if interaction.guild_id is None:
            community, refusal = self._community_of_direct(interaction.user.id)
        else:
            community = self._guild_community.get(str(interaction.guild_id))
            refusal = (
                "Trellis is not set up for this server: add its id as discord_guild_id to a "
                "community in the configuration."
            )
        if community is None:
            await interaction.response.send_message(refusal, ephemeral=True)
            return
        self._forget_expired()
        user = interaction.user
        if isinstance(user, discord.Member):
            self._seen_roles[(str(interaction.guild_id), str(user.id))] = frozenset(
                f"{ROLE_PREFIX}{r.id}" for r in user.roles if not r.is_default()
            )
        words, options = command_options(cast(dict[str, Any], interaction.data or {}))
        event = CommandInvoked(
            community=community,
            channel=self._place(interaction.channel_id or 0),
            member=MemberRef(PLATFORM, str(user.id), user.display_name, user.bot),
            command=words,
            occurred_at=id_time(interaction.id),
            options=options,
            invocation_id=str(interaction.id),
        )
        pending = _Pending(interaction, private=not split_public(spec, event)[1])
        self._pending[event.invocation_id] = pending
        pending.timers = [
            asyncio.create_task(self._defer_later(pending)),
            asyncio.create_task(self._give_up_later(event.invocation_id, pending)),
        ]
        self._queue.put_nowait(event)

    def _community_of_direct(self, user_id: int) -> tuple[str | None, str]:
        """The community a command typed in a direct message is for: the one whose server the
        person is in. None, with the sentence to answer, when that is not exactly one."""
        found = [
            community
            for guild_id, community in self._guild_community.items()
            if (guild := self.client.get_guild(int(guild_id))) is not None
            and guild.get_member(user_id) is not None
        ]
        if len(found) == 1:
            return found[0], ""
        if not found:
            return None, (
                "You are not in a server Trellis serves, so it holds nothing about you; "
                "use its commands in the community's server."
            )
        return None, (
            "You are in several communities Trellis serves; use this command in the server of "
            "the community you mean."
        )

    async def _defer_later(self, pending: _Pending) -> None:
        await asyncio.sleep(self.defer_after)
        async with pending.lock:
            if not pending.interaction.response.is_done():
                await pending.interaction.response.defer(ephemeral=pending.private, thinking=True)

    async def _give_up_later(self, invocation_id: str, pending: _Pending) -> None:
        # The engine answers every command, a failed one included; this is the last resort
        # when it could not (a bug, a stalled store), so the member never waits on "thinking…".
        await asyncio.sleep(self.give_up_after)
        async with pending.lock:
            log.warning("No answer to Discord interaction %s; told the member.", invocation_id)
            await self._answer(pending, [(_NOT_ANSWERED, [])], private=True)

    def _forget_expired(self) -> None:
        limit = time.monotonic() - _INTERACTION_LIFETIME
        for key in [k for k, p in self._pending.items() if p.created < limit]:
            del self._pending[key]

    async def _on_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        log.error("slash command /%s failed", interaction.command, exc_info=error)
        if not interaction.response.is_done():
            await interaction.response.send_message(
                _NOT_READ, ephemeral=True, allowed_mentions=NO_PINGS
            )

    async def reply(
        self, invocation: CommandInvoked, message: OutgoingMessage, *, private: bool
    ) -> None:
        pending = self._pending.get(invocation.invocation_id)
        if pending is None:
            log.warning(
                "No Discord interaction %s to answer (older than 15 minutes, or not ours).",
                invocation.invocation_id,
            )
            return
        async with pending.lock:
            for timer in pending.timers:
                timer.cancel()
            await self._answer(pending, self._pieces(message), private=private)

    async def _answer(
        self, pending: _Pending, pieces: list[tuple[str, list[discord.File]]], *, private: bool
    ) -> None:
        """The first piece as the interaction's response (or the follow-up of its deferral),
        the others as follow-ups."""
        for content, files in pieces:
            extra: dict[str, Any] = {"files": files} if files else {}
            response = pending.interaction.response
            if not response.is_done():
                await response.send_message(
                    content, ephemeral=private, allowed_mentions=NO_PINGS, **extra
                )
            else:
                await pending.interaction.followup.send(
                    content, ephemeral=private, allowed_mentions=NO_PINGS, **extra
                )

    # ---------------------------------------------------------------- outgoing messages

    def _pieces(self, message: OutgoingMessage) -> list[tuple[str, list[discord.File]]]:
        """The message as Discord messages: text split to 2,000 characters, files on the last."""
        chunks = split_markdown(message.text, MESSAGE_LIMIT) or [""]
        files = [_file(a) for a in message.attachments]
        pieces: list[tuple[str, list[discord.File]]] = [(chunk, []) for chunk in chunks[:-1]]
        pieces.append((chunks[-1], files))
        return [(text, f) for text, f in pieces if text.strip() or f]

    async def send(self, channel: ChannelRef, message: OutgoingMessage) -> SentMessage:
        target = self.client.get_partial_messageable(int(channel.thread_id or channel.id))
        ids: list[str] = []
        for content, files in self._pieces(message):
            sent = await target.send(content or None, files=files, allowed_mentions=NO_PINGS)
            ids.append(str(sent.id))
        return SentMessage(channel, tuple(ids))

    async def send_direct(self, member: MemberRef, message: OutgoingMessage) -> Delivery:
        try:
            dm = await self.client.create_dm(discord.Object(int(member.id)))
            for content, files in self._pieces(message):
                await dm.send(content or None, files=files, allowed_mentions=NO_PINGS)
        except discord.Forbidden as error:
            log.info(
                "%s does not accept direct messages from the bot (%s).", member.key, error.code
            )
            return Delivery.UNREACHABLE
        return Delivery.DELIVERED

    # ---------------------------------------------------------------- backfill

    async def channels(self, community: str) -> list[ChannelRef]:
        guild = self._guild_of(community)
        if guild is None:
            return []
        return [place for place, _ in await self._places(guild)]

    async def _places(
        self, guild: discord.Guild, *, archived_since: datetime | None = None
    ) -> list[tuple[ChannelRef, discord.Thread | None]]:
        """Every channel and thread the bot can read, each thread with its Discord object: the
        active ones, and those archived (all of them, or since ``archived_since``)."""
        places: list[tuple[ChannelRef, discord.Thread | None]] = []
        for channel in guild.channels:
            if not isinstance(channel, discord.TextChannel | discord.ForumChannel):
                continue
            rights = channel.permissions_for(guild.me)
            if not (rights.view_channel and rights.read_message_history):
                continue
            parent = ChannelRef(PLATFORM, str(channel.id), channel.name)
            if isinstance(channel, discord.TextChannel):
                places.append((parent, None))
            threads = {t.id: t for t in channel.threads}
            # Newest archived first: those archived before ``archived_since`` have not changed.
            async for thread in channel.archived_threads(limit=None):
                if archived_since is not None and thread.archive_timestamp < archived_since:
                    break
                threads.setdefault(thread.id, thread)
            places.extend((thread_place(parent, str(t)), threads[t]) for t in sorted(threads))
        return places

    async def history(self, channel: ChannelRef, since: datetime) -> AsyncIterator[Event]:
        """One place's messages since ``since`` (the thread when ``thread_id`` is set, else the
        channel itself; ``channels()`` lists threads separately), oldest first, each followed by
        its last edit (a message stored before it was edited gets the new text) and its
        reactions. discord.py waits out Discord's rate limits."""
        community = await self._community_of(channel)
        if community is None or self.client.user is None or self._counted_elsewhere(channel):
            return
        own_id = str(self.client.user.id)
        target = int(channel.thread_id or channel.id)
        after = discord.utils.time_snowflake(since) - 1
        while True:
            # discord.py types the JSON it returns; the translation reads it as plain dicts.
            page = cast(
                list[dict[str, Any]], await self.client.http.logs_from(target, 100, after=after)
            )
            page.sort(key=lambda m: int(m["id"]))
            relayed = self._relayed(channel)
            for data in page:
                posted = message_posted(
                    data, community=community, channel=channel, own_id=own_id, relayed=relayed
                )
                if posted is None:
                    continue
                yield posted
                edit = message_edited(
                    data, community=community, channel=channel, own_id=own_id, relayed=relayed
                )
                if edit is not None:
                    yield edit
                for reaction in data.get("reactions") or []:
                    async for added in self._past_reactions(posted, reaction["emoji"], own_id):
                        yield added
            if len(page) < 100:
                return
            after = int(page[-1]["id"])

    async def _past_reactions(
        self, posted: MessagePosted, emoji: dict[str, Any], own_id: str
    ) -> AsyncIterator[ReactionAdded]:
        target = int(posted.channel.thread_id or posted.channel.id)
        key = f"{emoji['name']}:{emoji['id']}" if emoji.get("id") else emoji["name"]
        after: int | None = None
        while True:
            users = cast(
                list[dict[str, Any]],
                await self.client.http.get_reaction_users(
                    target, int(posted.message_id), key, 100, after=after
                ),
            )
            for user in users:
                if str(user["id"]) == own_id or user.get("bot"):
                    continue
                guild = self._guild_of(posted.community)
                member = guild.get_member(int(user["id"])) if guild is not None else None
                who = member_ref(user)
                if member is not None:
                    who = MemberRef(PLATFORM, who.id, member.display_name, who.is_bot)
                yield ReactionAdded(
                    posted.community,
                    posted.channel,
                    posted.message_id,
                    who,
                    emoji_text(emoji),
                    posted.occurred_at,
                )
            if len(users) < 100:
                return
            after = int(users[-1]["id"])

    def _guild_of(self, community: str) -> discord.Guild | None:
        guild_id = self._settings.communities[community].discord_guild_id
        return self.client.get_guild(int(guild_id)) if guild_id else None

    async def _community_of(self, channel: ChannelRef) -> str | None:
        found = self.client.get_channel(int(channel.id))
        if found is None:
            found = await self.client.fetch_channel(int(channel.id))
        guild = getattr(found, "guild", None)
        return self._guild_community.get(str(guild.id)) if guild is not None else None

    # ---------------------------------------------------------------- configuration check

    async def _check_configuration(self) -> None:
        """Name, one log line each, every configured place or role the guild does not have."""
        for community_id, community in self._settings.communities.items():
            if not community.discord_guild_id or not self.serves(community_id):
                continue  # not on Discord, or on a shard another process holds
            guild = self.client.get_guild(int(community.discord_guild_id))
            if guild is None:
                log.warning(
                    "Community %s: the bot is not in the Discord server %s (discord_guild_id); "
                    "invite it with the link in docs/discord.md.",
                    community_id,
                    community.discord_guild_id,
                )
                continue
            for key, ref in _configured_places(community_id, community):
                if not await self._has_place(guild, ref.removeprefix("discord:")):
                    log.warning(
                        "Community %s: %s names %s, which is not a channel or thread the bot can "
                        "see in the Discord server %s.",
                        community_id,
                        key,
                        ref,
                        guild.name,
                    )
            for key, ref in _configured_roles(community_id, community):
                role_id = ref.removeprefix(ROLE_PREFIX)
                if not role_id.isdigit() or guild.get_role(int(role_id)) is None:
                    log.warning(
                        "Community %s: %s names %s, which is not a role of the Discord server %s.",
                        community_id,
                        key,
                        ref,
                        guild.name,
                    )

    async def _has_place(self, guild: discord.Guild, place_id: str) -> bool:
        if not place_id.isdigit():
            return False
        if guild.get_channel_or_thread(int(place_id)) is not None:
            return True
        try:
            channel = await self.client.fetch_channel(int(place_id))
        except (discord.NotFound, discord.Forbidden):
            return False
        return getattr(getattr(channel, "guild", None), "id", None) == guild.id


def _bot_of(token: str) -> str:
    """Which bot a token is, said without the token: the bot's user id, which Discord writes
    in base64 as the token's first part (a short hash of a token of another form)."""
    first = token.partition(".")[0]
    try:
        user_id = base64.b64decode(first + "=" * (-len(first) % 4), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        user_id = ""
    if user_id.isdigit():
        return user_id
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _configured_places(community_id: str, community: Any) -> list[tuple[str, str]]:
    prefix = f"communities.{community_id}"
    found: list[tuple[str, str]] = []
    for theme_id, theme in community.themes.items():
        found += [(f"{prefix}.themes.{theme_id}.places", p) for p in theme.places]
        found += [(f"{prefix}.themes.{theme_id}.prompt_places", p) for p in theme.prompt_places]
        if theme.prompt_place:
            found.append((f"{prefix}.themes.{theme_id}.prompt_place", theme.prompt_place))
    found += [(f"{prefix}.digest.channels", p) for p in community.digest.channels]
    if community.digest.channel:
        found.append((f"{prefix}.digest.channel", community.digest.channel))
    return [(key, ref) for key, ref in found if ref.startswith("discord:")]


def _configured_roles(community_id: str, community: Any) -> list[tuple[str, str]]:
    prefix = f"communities.{community_id}.roles"
    found = [(f"{prefix}.admins", r) for r in community.roles.admins]
    found += [(f"{prefix}.facilitators", r) for r in community.roles.facilitators]
    return [(key, ref) for key, ref in found if ref.startswith(ROLE_PREFIX)]


def _file(attachment: Attachment) -> discord.File:
    return discord.File(
        io.BytesIO(attachment.data),
        filename=attachment.filename,
        description=attachment.description or None,
    )
