"""The Matrix adapter (matrix-nio): rooms and spaces in, ``!trellis`` commands, notices out.

It logs in (``session``), syncs, translates each event (``translate``), remembers what it must
across restarts in its own rows of the store (``state``: device, access token, sync token, direct
rooms, reactions), and sends (``render``; direct messages through ``direct``).

Restarts: every start's first sync asks for the rooms' full state, so members, power levels,
encryption and direct rooms are known at once, not when a room next has traffic; the members
present are handed over as already there (never welcomed). The very first start skips the rooms'
backlog; later starts resume from the stored sync token, so what arrived while the bot was down is
delivered once (gaps in a limited timeline are filled from ``/messages``, at most
``catch_up.max_days`` back), and nothing is replayed. End-to-end encrypted rooms are read and
answered with matrix-nio's e2e support (vodozemac), keys kept beside the database; direct rooms
are encrypted whenever encryption is on.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nio
from nio.crypto import ENCRYPTION_ENABLED

from adapters.matrix.bridges import bridged_channels
from adapters.matrix.direct import (
    ENCRYPTION_STATE,
    encrypt_direct_room,
    forget_direct,
    load_direct_rooms,
    record_direct,
)
from adapters.matrix.render import chunk_contents, defuse, image_size, render_content
from adapters.matrix.session import (
    RATE_LIMIT_RETRIES,
    MatrixError,
    crypto_housekeeping,
    ensure_room,
    login,
)
from adapters.matrix.state import MatrixState
from adapters.matrix.translate import (
    PLATFORM,
    Known,
    ReactionRecord,
    RoomContext,
    SeenEvent,
    is_own_join,
    occurred_at,
    references,
    translate,
)
from bot.config import ConfigError, Settings
from bot.events import (
    ChannelRef,
    CommandInvoked,
    Event,
    MemberJoined,
    MemberLeft,
    MemberRef,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    ThreadOpened,
)
from bot.i18n import Translator
from bot.outgoing import Attachment, OutgoingMessage, literal
from bot.ports import Adapter, Delivery, EventSink, SentMessage, StateKey, Stored

if TYPE_CHECKING:
    from bot.commands.spec import CommandSpec

log = logging.getLogger(__name__)

CREATOR_POWER_LEVEL = 1_000_000
"""From room version 12 the room's creators outrank every power level (and are not listed)."""
_LEGACY_ROOM_VERSIONS = frozenset(str(v) for v in range(1, 12))
SEND_ATTEMPTS = 4
"""How often a message that failed for a passing reason (a room not loaded, a server hiccup) is
tried before the failure is reported."""
JOIN_DATE_HOPS = 20
"""How many profile changes back a member's join is looked for before their oldest seen event counts."""


def _compile(patterns: Sequence[str], path: str) -> list[re.Pattern[str]]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(
                f"{path}: {pattern!r} is not a regular expression ({exc}); "
                f"write it like '@_discord_.*'"
            ) from None
    return compiled


class MatrixAdapter(Adapter):
    platform = PLATFORM
    message_limit = 16_000
    reads_bridges = True

    def __init__(
        self,
        settings: Settings,
        *,
        sync_timeline_limit: int = 50,
        poll_timeout_ms: int = 30_000,
    ) -> None:
        self.settings = settings
        self.config = settings.adapters.matrix
        self.command_prefix = f"{self.config.command_prefix} "
        self._timeline_limit = sync_timeline_limit
        self._poll_ms = poll_timeout_ms
        self._ignore = tuple(_compile(self.config.ignore_senders, "adapters.matrix.ignore_senders"))
        puppets = _compile(list(self.config.puppet_patterns), "adapters.matrix.puppet_patterns")
        self._puppets = tuple(zip(puppets, self.config.puppet_patterns.values(), strict=True))
        self.key_dir = Path(f"{settings.storage.path}.matrix-keys")
        self.e2e = self.config.encryption and ENCRYPTION_ENABLED
        self._client: nio.AsyncClient | None = None
        self._state: MatrixState | None = None
        self._sink: EventSink | None = None
        self._sync_task: asyncio.Task[None] | None = None
        self._token: str | None = None
        self._saving: asyncio.Task[None] | None = None
        self._command_names: tuple[str, ...] = ()
        self._room_community: dict[str, str] = {}
        self._spaces: dict[str, str] = {}
        self._digest_rooms: set[str] = set()
        """Rooms named as a digest channel: joined to post there, never read for the record."""
        self._direct_rooms: dict[str, str] = {}
        self._seen: OrderedDict[str, SeenEvent] = OrderedDict()
        self._creators: dict[str, frozenset[str]] = {}
        self._warned_undecryptable: set[str] = set()
        self._members: dict[str, set[str]] = {}
        """Per community, the Matrix users handed to the sink as its members (in any of its rooms)."""

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def state(self) -> MatrixState:
        """What this adapter keeps in the store; handed to it at ``start``."""
        if self._state is None:
            raise RuntimeError("the Matrix adapter is not started")
        return self._state

    def connections(self) -> list[str]:
        # One sync per bot account: two would each deliver every event and save positions.
        return [f"matrix sync of {self.config.user_id}"]

    async def start(self, sink: EventSink, stored: Stored) -> None:
        self._sink = sink
        self._state = MatrixState(stored.state)
        if self.bridges is not None:
            for key in await self.state.bots_elsewhere():
                self.bridges.not_a_person(key)
        client = await self._connect()
        token = await self.state.sync_token()
        self._direct_rooms.update(await load_direct_rooms(client, self.state))
        if self.e2e:
            # Encryption is readable again: a later change of setting must warn again.
            for room_id in self._room_community:
                await self.state.forget_warned_encrypted(room_id)
        # Full state even when resuming: an incremental sync names only the rooms with news, and
        # a room nio does not know can be neither posted to (encrypted) nor asked for power levels.
        response = await self._sync(client, since=token, wait_ms=0, full_state=True)
        await self._hand_over_members(response)
        # The first start ever skips the backlog; a restart delivers what came while we were away.
        await self._process(response, previous=token, deliver=token is not None, live=False)
        await self._advance(response.next_batch)
        if await self._join_community_rooms():
            # Learn the rooms we just joined (their state, members, encryption) before serving.
            response = await self._sync(client, since=self._token, wait_ms=0)
            await self._hand_over_members(response)
            await self._process(response, previous=self._token, deliver=True, live=False)
            await self._advance(response.next_batch)
        self._sync_task = asyncio.create_task(self._sync_forever(), name="trellis-matrix-sync")

    async def _hand_over_members(
        self, response: nio.SyncResponse, *, new_rooms_only: bool = False
    ) -> None:
        """The members of the synced community rooms (or of the rooms we just joined), as
        already there with their join dates: stored, never welcomed. Joins seen later for them
        are joins to one more room."""
        client = self._client
        assert client is not None and self._sink is not None
        since: dict[str, dict[str, tuple[datetime, MemberRef]]] = {}
        for room_id, info in response.rooms.join.items():
            community = self._room_community.get(room_id)
            room = client.rooms.get(room_id)
            context = self._context(room_id)
            if community is None or room is None or context is None:
                continue
            if new_rooms_only and not any(
                is_own_join(e.source, client.user_id) for e in info.timeline.events
            ):
                continue
            latest = {
                e.source.get("state_key"): e.source
                for e in (*info.state, *info.timeline.events)
                if e.source.get("type") == "m.room.member"
            }
            for user_id in room.users:
                raw = latest.get(user_id)
                if (
                    user_id in room.invited_users
                    or raw is None
                    or context.ignores(user_id)
                    or context.is_puppet(user_id)
                ):
                    continue
                joined = await self._join_date(room_id, raw)
                found = since.setdefault(community, {})
                if user_id not in found or joined < found[user_id][0]:
                    found[user_id] = (joined, context.member(user_id))
        for community, members in since.items():
            self._members.setdefault(community, set()).update(members)
            for joined, member in members.values():
                await self._sink(MemberJoined(community, member, joined, live=False))

    async def _join_date(self, room_id: str, raw: Mapping[str, Any]) -> datetime:
        """When the member of this ``join`` event joined: profile changes are joins after a
        join, so walk back past them (remembered, since each step is a request)."""
        event_id = raw.get("event_id", "")
        remembered = await self.state.join_date(event_id)
        if remembered is not None:
            return remembered
        first = raw
        for _ in range(JOIN_DATE_HOPS):
            unsigned = raw.get("unsigned") or {}
            before = unsigned.get("prev_content") or {}
            if before.get("membership") != "join" or not unsigned.get("replaces_state"):
                break
            assert self._client is not None
            response = await self._client.room_get_event(room_id, unsigned["replaces_state"])
            if not isinstance(response, nio.RoomGetEventResponse):
                break
            raw = response.event.source
        if raw is not first:
            await self.state.save_join_date(event_id, occurred_at(raw))
        return occurred_at(raw)

    async def stop(self) -> None:
        if self._sync_task is not None:
            self._sync_task.cancel()
            try:
                await self._sync_task
            except asyncio.CancelledError:
                pass
            self._sync_task = None
        if self._saving is not None:
            await self._saving
        if self._state is not None and self.bridges is not None:
            await self.state.save_bots_elsewhere(self.bridges.not_people)
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def register_commands(self, specs: Sequence[CommandSpec]) -> None:
        self._command_names = tuple(spec.name for spec in specs)

    async def _connect(self) -> nio.AsyncClient:
        if self._client is not None:
            return self._client
        config = self.config
        if self.e2e:
            self.key_dir.mkdir(parents=True, exist_ok=True)
        client = nio.AsyncClient(
            config.homeserver,
            config.user_id,
            store_path=str(self.key_dir) if self.e2e else "",
            config=nio.AsyncClientConfig(
                encryption_enabled=self.e2e,
                store_sync_tokens=False,
                max_limit_exceeded=RATE_LIMIT_RETRIES,
                max_timeouts=3,
            ),
        )
        try:
            await login(client, self.settings, self.state)
            await self._resolve_communities(client)
        except BaseException:
            await client.close()
            raise
        self._client = client
        return client

    async def _resolve_communities(self, client: nio.AsyncClient) -> None:
        for community_id, community in self.settings.communities.items():
            for room in community.matrix_rooms:
                room_id = await self._room_id(client, room)
                self._room_community[room_id] = community_id
            if community.matrix_space:
                space_id = await self._room_id(client, community.matrix_space)
                self._spaces[space_id] = community_id
                await client.join(space_id)
                await self._load_space(client, space_id)
            for digest_place in community.digest.places:
                platform, _, place = digest_place.partition(":")
                if platform == PLATFORM and place not in self._room_community:
                    self._digest_rooms.add(place)
        for community in self.settings.communities.values():
            for bridge in community.bridges:
                if self.bridges is not None and bridge.matrix in self._room_community:
                    self.bridges.counted_in(
                        f"discord:{bridge.discord}", f"{PLATFORM}:{bridge.matrix}"
                    )

    async def _room_id(self, client: nio.AsyncClient, room: str) -> str:
        if not room.startswith("#"):
            return room
        response = await client.room_resolve_alias(room)
        if not isinstance(response, nio.RoomResolveAliasResponse):
            raise MatrixError(
                f"The room alias {room} in communities.*.matrix_rooms does not exist "
                f"({response.message}); use the room's id or an alias that resolves."
            )
        return str(response.room_id)

    async def _load_space(self, client: nio.AsyncClient, space_id: str) -> None:
        response = await client.room_get_state(space_id)
        if not isinstance(response, nio.RoomGetStateResponse):
            log.warning("cannot read the space %s: %s", space_id, response)
            return
        for event in response.events:
            if event.get("type") == "m.space.child" and event.get("content", {}).get("via"):
                self._room_community.setdefault(event["state_key"], self._spaces[space_id])

    async def _join_community_rooms(self) -> bool:
        """Join the community's rooms (and digest rooms) we are not in yet; whether we joined any."""
        client = self._client
        assert client is not None
        joined = False
        for room_id in (*self._room_community, *self._digest_rooms):
            if room_id not in client.rooms:
                response = await client.join(room_id)
                joined = joined or isinstance(response, nio.JoinResponse)
                if not isinstance(response, nio.JoinResponse):
                    log.warning(
                        "cannot join %s (%s); invite %s to it",
                        room_id,
                        response.message,
                        self.config.user_id,
                    )
        return joined

    # -- syncing -----------------------------------------------------------------------------

    def _filter(self) -> dict[str, Any]:
        return {
            "room": {"timeline": {"limit": self._timeline_limit}},
            "presence": {"not_types": ["*"]},
        }

    async def _sync(
        self, client: nio.AsyncClient, *, since: str | None, wait_ms: int, full_state: bool = False
    ) -> nio.SyncResponse:
        response = await client.sync(
            timeout=wait_ms,
            since=since,
            sync_filter=self._filter(),
            full_state=full_state or since is None,
        )
        if not isinstance(response, nio.SyncResponse):
            raise MatrixError(f"Syncing with {self.config.homeserver} failed ({response.message}).")
        if self.e2e:
            await crypto_housekeeping(client)
        return response

    async def _sync_forever(self) -> None:
        client = self._client
        assert client is not None
        pause = 1.0
        while True:
            try:
                response = await self._sync(client, since=self._token, wait_ms=self._poll_ms)
                await self._hand_over_members(response, new_rooms_only=True)
                await self._process(response, previous=self._token, deliver=True, live=True)
                await self._advance(response.next_batch)
                pause = 1.0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Matrix sync failed; retrying in %.0f s", pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 60.0)

    async def _advance(self, token: str) -> None:
        """Read on from ``token``; it is saved as our position once everything before it is
        stored. Saving waits for the engine, and the engine may be answering a command that
        waits for this sync loop (a new direct room), so the saving happens beside the loop."""
        if token == self._token:
            return
        self._token = token
        if self._saving is None or self._saving.done():
            self._saving = asyncio.create_task(
                self._save_position(), name="trellis-matrix-position"
            )

    async def _save_position(self) -> None:
        while True:
            token = self._token
            assert self._sink is not None and token is not None
            await self._sink.drain()
            await self.state.save_sync_token(token)
            if token == self._token:
                return

    async def _process(
        self, response: nio.SyncResponse, *, previous: str | None, deliver: bool, live: bool
    ) -> None:
        """Deliver a sync's events; ``live`` is false for the catch-up at start, whose joins
        are members found already there, never newcomers to welcome."""
        client = self._client
        assert client is not None
        for room_id in response.rooms.invite:
            if (
                room_id in self._room_community
                or room_id in self._spaces
                or room_id in self._digest_rooms
            ):
                await client.join(room_id)
        for room_id, info in response.rooms.join.items():
            events = list(info.timeline.events)
            if room_id in self._room_community:
                self._learn_bridges(room_id, [e.source for e in (*info.state, *events)])
            if room_id in self._spaces:
                if any(e.source.get("type") == "m.space.child" for e in events):
                    await self._load_space(client, room_id)
                    await self._join_community_rooms()
                continue
            if not deliver:
                continue
            if info.timeline.limited and previous:
                events = await self._gap(room_id, info.timeline.prev_batch, previous) + events
            joined = [i for i, e in enumerate(events) if is_own_join(e.source, client.user_id)]
            if joined:
                # A room we just joined: what was said before we came is backlog, not live chat.
                events = events[joined[-1] + 1 :]
            for event in events:
                for trellis_event in await self._translate(room_id, event, live=live):
                    assert self._sink is not None
                    await self._sink(trellis_event)
        await self._warn_about_encryption(client)

    async def _gap(self, room_id: str, start: str, until: str) -> list[nio.Event]:
        """Events a limited sync timeline left out, between our last token and the timeline,
        at most ``catch_up.max_days`` back."""
        client = self._client
        assert client is not None
        days = self.settings.catch_up.max_days
        cutoff = (datetime.now(UTC).timestamp() - days * 86400) * 1000
        missing: list[nio.Event] = []
        token: str | None = start
        while token:
            response = await client.room_messages(
                room_id, start=token, end=until, direction=nio.MessageDirection.back, limit=100
            )
            if not isinstance(response, nio.RoomMessagesResponse) or not response.chunk:
                break
            recent = [e for e in response.chunk if e.source.get("origin_server_ts", 0) >= cutoff]
            missing.extend(recent)
            if len(recent) < len(response.chunk):
                log.warning(
                    "Matrix room %s: what was said more than %d days ago while Trellis was down "
                    "is left to `trellis backfill` (catch_up.max_days)",
                    room_id,
                    days,
                )
                break
            token = response.end
        missing.reverse()
        return missing

    def _learn_bridges(self, room_id: str, raws: Sequence[Mapping[str, Any]]) -> None:
        """A community room relayed into a Discord channel (its bridge's state says so): what
        is said there is counted here, where the bridge's puppets name the real authors."""
        if self.bridges is None:
            return
        for channel in bridged_channels(raws):
            self.bridges.counted_in(channel, f"{PLATFORM}:{room_id}")

    # -- translating -------------------------------------------------------------------------

    def _context(self, room_id: str) -> RoomContext | None:
        community = self._room_community.get(room_id)
        if community is None and room_id in self._direct_rooms:
            community = self._community_of_member(self._direct_rooms[room_id])
        if community is None:
            return None
        room = self._client.rooms.get(room_id) if self._client else None
        return RoomContext(
            community=community,
            room_id=room_id,
            room_name=room.display_name if room else "",
            bot_user_id=self.config.user_id,
            command_prefix=self.config.command_prefix,
            command_names=self._command_names,
            ignore_senders=self._ignore,
            puppet_patterns=self._puppets,
            display_names={u: m.display_name or "" for u, m in room.users.items()} if room else {},
            not_people=self.bridges.not_people if self.bridges is not None else frozenset(),
        )

    def _community_of_member(self, user_id: str) -> str | None:
        """The community a direct room's commands speak for: the first the member is part of."""
        client = self._client
        for room_id, community in self._room_community.items():
            room = client.rooms.get(room_id) if client else None
            if room is not None and user_id in room.users:
                return community
        return next(iter(self.settings.communities), None)

    async def _translate(self, room_id: str, event: nio.Event, *, live: bool) -> list[Event]:
        if isinstance(event, nio.MegolmEvent):
            if event.session_id not in self._warned_undecryptable:
                self._warned_undecryptable.add(event.session_id)
                log.warning(
                    "cannot decrypt %s's message in %s yet (no key for session %s)",
                    event.sender,
                    room_id,
                    event.session_id,
                )
            return []
        if room_id not in self._room_community and room_id not in self._direct_rooms:
            user_id = await self.state.direct_member(room_id)
            if user_id:
                self._direct_rooms[room_id] = user_id
        context = self._context(room_id)
        if context is None:
            return []
        raw = event.source
        known = await self._known(room_id, raw)
        events = translate(raw, context, known)
        if room_id not in self._room_community:
            # A direct room: only commands; what a member says to us privately is not tracked.
            events = [e for e in events if isinstance(e, CommandInvoked)]
        else:
            events = self._community_membership(room_id, raw.get("state_key", ""), events, live)
        await self._remember(raw, events)
        return events

    async def _known(self, room_id: str, raw: Mapping[str, Any]) -> Known:
        refs = references(raw)
        seen = {}
        for event_id in refs.events:
            found = await self._seen_event(room_id, event_id)
            if found is not None:
                seen[event_id] = found
        reactions = {}
        if refs.redacted:
            record = await self.state.reaction(refs.redacted)
            if record is not None:
                reactions[refs.redacted] = record
        open_threads = set()
        if refs.thread_root and await self.state.thread_open(refs.thread_root):
            open_threads.add(refs.thread_root)
        return Known(seen, reactions, open_threads)

    async def _seen_event(self, room_id: str, event_id: str) -> SeenEvent | None:
        if event_id in self._seen:
            return self._seen[event_id]
        assert self._client is not None
        response = await self._client.room_get_event(room_id, event_id)
        if not isinstance(response, nio.RoomGetEventResponse):
            return None
        event = response.event
        if isinstance(event, nio.MegolmEvent) and self.e2e:
            try:
                event = self._client.decrypt_event(event)
            except nio.EncryptionError:
                pass
        body = event.source.get("content", {}).get("body", "")
        return self._cache(event_id, SeenEvent(event.sender, body if isinstance(body, str) else ""))

    def _cache(self, event_id: str, seen: SeenEvent) -> SeenEvent:
        self._seen[event_id] = seen
        self._seen.move_to_end(event_id)
        while len(self._seen) > 5000:
            self._seen.popitem(last=False)
        return seen

    async def _remember(self, raw: Mapping[str, Any], events: Sequence[Event]) -> None:
        event_id = raw.get("event_id", "")
        for event in events:
            if isinstance(event, MessagePosted):
                self._cache(event_id, SeenEvent(raw.get("sender", ""), event.text))
            elif isinstance(event, ReactionAdded):
                record = ReactionRecord(event.message_id, raw["sender"], event.emoji)
                await self.state.save_reaction(event_id, record)
            elif isinstance(event, ReactionRemoved):
                await self.state.drop_reaction(references(raw).redacted or "")
            elif isinstance(event, ThreadOpened) and event.channel.thread_id:
                await self.state.save_thread_open(event.channel.thread_id)

    def _community_membership(
        self, room_id: str, user_id: str, events: list[Event], live: bool
    ) -> list[Event]:
        """Joins and leaves of a room as the community sees them: joining one more of its rooms is
        no join, leaving one while still in another is no leave. A join found while catching up
        (``live`` false) is stored with its date and never welcomed."""
        community = self._room_community[room_id]
        members = self._members.setdefault(community, set())
        kept: list[Event] = []
        for event in events:
            if isinstance(event, MemberJoined):
                if user_id in members:
                    continue
                members.add(user_id)
                event = replace(event, live=live)
            elif isinstance(event, MemberLeft):
                if self._joined_elsewhere(room_id, community, user_id):
                    continue
                members.discard(user_id)
            kept.append(event)
        return kept

    def _joined_elsewhere(self, room_id: str, community: str, user_id: str) -> bool:
        """Whether the user is joined (not merely invited) to another room of the community."""
        assert self._client is not None
        for other, owner in self._room_community.items():
            room = self._client.rooms.get(other)
            if other == room_id or owner != community or room is None:
                continue
            if user_id in room.users and user_id not in room.invited_users:
                return True
        return False

    # -- encryption warnings -----------------------------------------------------------------

    async def _warn_about_encryption(self, client: nio.AsyncClient) -> None:
        if self.e2e:
            return
        for room_id in self._room_community:
            room = client.rooms.get(room_id)
            if room is None or not room.encrypted:
                continue
            if await self.state.warned_encrypted(room_id):
                continue
            community = self.settings.communities[self._room_community[room_id]]
            _ = Translator(community.locale)._
            if not self.config.encryption:
                text = _(
                    "I cannot read this room: it is end-to-end encrypted and encryption is turned "
                    "off in my configuration (adapters.matrix.encryption). Until that changes, "
                    "nothing said here is counted."
                )
            else:
                text = _(
                    "I cannot read this room: it is end-to-end encrypted and my end-to-end "
                    "encryption support could not be loaded (install matrix-nio[e2e] where I "
                    "run). Until that changes, nothing said here is counted."
                )
            log.error("Matrix room %s is encrypted and cannot be read: %s", room_id, text)
            await self.state.save_warned_encrypted(room_id)
            await self._send_content(room_id, render_content(text))

    # -- sending -----------------------------------------------------------------------------

    async def _send_content(self, room_id: str, content: dict[str, Any]) -> str:
        """Send, trying again after a passing failure; what the server refuses is reported."""
        client = await self._connect()
        failure = ""
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                log.warning("sending to %s failed (%s); trying again", room_id, failure)
                await asyncio.sleep(0.25 * 2**attempt)
            try:
                if self.e2e:
                    await ensure_room(client, room_id)
                    if client.rooms[room_id].encrypted and client.should_query_keys:
                        await client.keys_query()
                response = await client.room_send(
                    room_id, "m.room.message", content, ignore_unverified_devices=True
                )
            except (nio.LocalProtocolError, nio.SendRetryError, MatrixError) as exc:
                failure = str(exc)
                continue
            if isinstance(response, nio.RoomSendResponse):
                return str(response.event_id)
            failure = response.message
            if response.status_code not in (None, "M_UNKNOWN"):
                break  # refused (forbidden, not in the room): trying again changes nothing
        raise MatrixError(f"Sending to {room_id} failed ({failure}).")

    def _thread_relation(self, channel: ChannelRef, reply_to: str | None) -> dict[str, Any]:
        if channel.thread_id:
            return {
                "rel_type": "m.thread",
                "event_id": channel.thread_id,
                "is_falling_back": reply_to is None,
                "m.in_reply_to": {"event_id": reply_to or channel.thread_id},
            }
        if reply_to:
            return {"m.in_reply_to": {"event_id": reply_to}}
        return {}

    async def _post(
        self, channel: ChannelRef, message: OutgoingMessage, *, reply_to: str | None = None
    ) -> SentMessage:
        ids: list[str] = []
        for index, content in enumerate(chunk_contents(message.text, self.message_limit)):
            relation = self._thread_relation(channel, reply_to if index == 0 else None)
            if relation:
                content["m.relates_to"] = relation
            ids.append(await self._send_content(channel.id, content))
        for attachment in message.attachments:
            ids.append(await self._send_attachment(channel, attachment))
        return SentMessage(channel, tuple(ids))

    async def _send_attachment(self, channel: ChannelRef, attachment: Attachment) -> str:
        client = await self._connect()
        if self.e2e:
            await ensure_room(client, channel.id)
        room = client.rooms.get(channel.id)
        encrypt = bool(self.e2e and room is not None and room.encrypted)
        uploaded, keys = await client.upload(
            io.BytesIO(attachment.data),
            content_type=attachment.mime_type,
            filename=attachment.filename,
            encrypt=encrypt,
            filesize=len(attachment.data),
        )
        if not isinstance(uploaded, nio.UploadResponse):
            raise MatrixError(f"Uploading {attachment.filename} failed ({uploaded.message}).")
        info: dict[str, Any] = {"mimetype": attachment.mime_type, "size": len(attachment.data)}
        size = image_size(attachment.data)
        if size:
            info["w"], info["h"] = size
        content: dict[str, Any] = {
            "msgtype": "m.image" if attachment.mime_type.startswith("image/") else "m.file",
            "body": defuse(attachment.description or attachment.filename),
            "filename": attachment.filename,
            "info": info,
            "m.mentions": {},
        }
        if encrypt and keys:
            content["file"] = {**keys, "url": uploaded.content_uri}
        else:
            content["url"] = uploaded.content_uri
        relation = self._thread_relation(channel, None)
        if relation:
            content["m.relates_to"] = relation
        return await self._send_content(channel.id, content)

    async def send(self, channel: ChannelRef, message: OutgoingMessage) -> SentMessage:
        return await self._post(channel, message)

    async def reply(
        self, invocation: CommandInvoked, message: OutgoingMessage, *, private: bool
    ) -> None:
        channel = invocation.channel
        if private and channel.id not in self._direct_rooms:
            # Never fall back to the room: a private answer may hold what others must not see.
            if await self.send_direct(invocation.member, message) is Delivery.UNREACHABLE:
                log.warning("could not answer %s privately", invocation.member.key)
            elif invocation.invocation_id:
                # A mark on the command, so the member knows where the answer went.
                await self._react(channel.id, invocation.invocation_id, "📬")
            return
        if channel.id in self._direct_rooms:
            client = await self._connect()
            if self.e2e:
                await encrypt_direct_room(client, channel.id)
        await self._post(channel, message, reply_to=invocation.invocation_id or None)

    async def _react(self, room_id: str, event_id: str, key: str) -> None:
        client = await self._connect()
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        try:
            # In an encrypted room nio shares the room's key first, as for any message.
            response = await client.room_send(
                room_id, "m.reaction", content, ignore_unverified_devices=True
            )
        except (nio.LocalProtocolError, nio.SendRetryError) as exc:
            log.warning("could not react in %s: %s", room_id, exc)
            return
        if not isinstance(response, nio.RoomSendResponse):
            log.warning("could not react in %s: %s", room_id, response.message)

    async def send_direct(self, member: MemberRef, message: OutgoingMessage) -> Delivery:
        if member.platform != PLATFORM or not member.id.startswith("@"):
            return Delivery.UNREACHABLE  # a bridge's puppet, or a person a relay knows by name
        room_id = await self.direct_room(member.id)
        if room_id is None:
            return Delivery.UNREACHABLE
        try:
            await self._post(ChannelRef(PLATFORM, room_id), message)
        except MatrixError as exc:
            log.warning("direct message to %s failed: %s", member.id, exc)
            return Delivery.UNREACHABLE
        return Delivery.DELIVERED

    async def direct_room(self, user_id: str) -> str | None:
        """The member's direct room with us, created (and recorded in ``m.direct``) the first time.

        None when the member left or refused it: leaving the direct room is their way of saying no.
        """
        client = await self._connect()
        room_id = await self.state.direct_room(user_id)
        if room_id:
            self._direct_rooms[room_id] = user_id
            membership = await client.room_get_state_event(room_id, "m.room.member", user_id)
            if isinstance(membership, nio.RoomGetStateEventResponse):
                if membership.content.get("membership") in ("join", "invite"):
                    if self.e2e:
                        await encrypt_direct_room(client, room_id)
                    return room_id
            log.info("%s left their direct room %s; not messaging them", user_id, room_id)
            return None
        created = await client.room_create(
            is_direct=True,
            invite=[user_id],
            preset=nio.RoomPreset.trusted_private_chat,
            initial_state=[ENCRYPTION_STATE] if self.e2e else [],
        )
        if not isinstance(created, nio.RoomCreateResponse):
            log.warning("cannot open a direct room with %s: %s", user_id, created.message)
            return None
        room_id = str(created.room_id)
        if self.e2e:
            await ensure_room(client, room_id, complete=True)
        await record_direct(client, user_id, room_id)
        await self.state.save_direct_room(user_id, room_id)
        self._direct_rooms[room_id] = user_id
        return room_id

    # -- places, history and power -----------------------------------------------------------

    async def channels(self, community: str) -> list[ChannelRef]:
        client = await self._connect()
        places = []
        for room_id, owner in self._room_community.items():
            if owner != community:
                continue
            room = client.rooms.get(room_id)
            name = room.display_name if room else ""
            if not name:
                response = await client.room_get_state_event(room_id, "m.room.name", "")
                if isinstance(response, nio.RoomGetStateEventResponse):
                    name = response.content.get("name", "")
            places.append(ChannelRef(PLATFORM, room_id, name))
        return places

    async def encrypted_places(self, community: str) -> frozenset[str]:
        """The community's encrypted rooms and its digest room if encrypted (as nio knows them
        from the full-state sync; a room it does not know counts as not encrypted)."""
        client = await self._connect()
        rooms = [room_id for room_id, owner in self._room_community.items() if owner == community]
        for place in self.settings.communities[community].digest.places:
            platform, _, digest_room = place.partition(":")
            if platform == PLATFORM:
                rooms.append(digest_room)
        return frozenset(
            f"{PLATFORM}:{room_id}"
            for room_id in rooms
            if room_id in client.rooms and client.rooms[room_id].encrypted
        )

    async def history(self, channel: ChannelRef, since: datetime) -> AsyncIterator[Event]:
        client = await self._connect()
        room_id = channel.id
        members = await client.joined_members(room_id)
        names = (
            {m.user_id: m.display_name or "" for m in members.members}
            if isinstance(members, nio.JoinedMembersResponse)
            else {}
        )
        newest_first: list[nio.Event] = []
        token: str | None = None
        cutoff = since.timestamp() * 1000
        while True:
            response = await client.room_messages(
                room_id, start=token, direction=nio.MessageDirection.back, limit=100
            )
            if not isinstance(response, nio.RoomMessagesResponse):
                raise MatrixError(f"Reading the history of {room_id} failed ({response.message}).")
            older = [e for e in response.chunk if e.source.get("origin_server_ts", 0) >= cutoff]
            newest_first.extend(older)
            if len(older) < len(response.chunk) or not response.chunk or not response.end:
                break
            token = response.end
        context = self._context(room_id)
        if context is None:
            return
        context = replace(context, display_names=names)
        elsewhere = await self._members_elsewhere(client, room_id, context.community)
        undecryptable = 0
        for event in reversed(newest_first):
            if isinstance(event, nio.MegolmEvent):
                undecryptable += 1  # nio decrypts what it holds the keys for as it reads
                continue
            known = await self._known(room_id, event.source)
            events = [
                # A join in the past is a member already there: stored, never welcomed.
                replace(e, live=False) if isinstance(e, MemberJoined) else e
                for e in translate(event.source, context, known)
                if not isinstance(e, CommandInvoked)
                # Leaving this room while in another of the community's is not leaving it.
                and not (isinstance(e, MemberLeft) and event.source.get("state_key") in elsewhere)
            ]
            await self._remember(event.source, events)
            for trellis_event in events:
                yield trellis_event
        if undecryptable:
            log.warning(
                "backfill of %s skipped %d encrypted events: this device holds no keys for them "
                "(it was not in the room then, or encryption was off)",
                room_id,
                undecryptable,
            )

    async def _members_elsewhere(
        self, client: nio.AsyncClient, room_id: str, community: str
    ) -> set[str]:
        """Who is joined to the community's other rooms now (asked of the server: a backfill
        runs without the sync that would tell nio)."""
        present: set[str] = set()
        for other, owner in self._room_community.items():
            if other == room_id or owner != community:
                continue
            response = await client.joined_members(other)
            if isinstance(response, nio.JoinedMembersResponse):
                present.update(m.user_id for m in response.members)
        return present

    async def forget_member(self, member: MemberRef) -> list[StateKey]:
        if self._state is None:
            return []
        held = await self._state.held_for(member.key, self._member_key)
        if member.platform == PLATFORM and self._client is not None:
            await forget_direct(self._client, member.id)
        return held

    def _member_key(self, user_id: str) -> str:
        """The key of the member a Matrix user is (a bridge's puppet: of another platform)."""
        return RoomContext("", "", puppet_patterns=self._puppets).member(user_id).key

    def mention(self, member: MemberRef) -> str:
        # The name as members read it in the room; messages carry an empty ``m.mentions``, so
        # no client notifies anyone of it.
        return literal(member.name)

    async def place_name(self, place: ChannelRef) -> str:
        """The room's name from its state (``m.room.name``), else its main alias, else its id."""
        room = self._client.rooms.get(place.id) if self._client is not None else None
        name = (room.name or room.canonical_alias or "") if room is not None else ""
        if not name and self._client is not None:
            response = await self._client.room_get_state_event(place.id, "m.room.name", "")
            if isinstance(response, nio.RoomGetStateEventResponse):
                name = response.content.get("name", "")
        return literal(name or place.id)

    async def member_roles(self, community: str, member: MemberRef) -> frozenset[str]:
        """``matrix-power:<level>``: the member's highest power level in the community's rooms."""
        if member.platform != PLATFORM:
            return frozenset()
        levels = [
            await self.power_level(room_id, member.id)
            for room_id, owner in self._room_community.items()
            if owner == community
        ]
        return frozenset({f"matrix-power:{max(levels)}"}) if levels else frozenset()

    async def power_level(self, room_id: str, user_id: str) -> int:
        """The user's power level in the room (0 when we do not know the room).

        A creator of a room of version 12 or later gets ``CREATOR_POWER_LEVEL``.
        """
        client = await self._connect()
        room = client.rooms.get(room_id)
        if room is None:
            return 0
        if room.room_version not in _LEGACY_ROOM_VERSIONS:
            if room_id not in self._creators:
                self._creators[room_id] = await self._room_creators(client, room_id)
            if user_id in self._creators[room_id]:
                return CREATOR_POWER_LEVEL
        return int(room.power_levels.get_user_level(user_id))

    async def _room_creators(self, client: nio.AsyncClient, room_id: str) -> frozenset[str]:
        response = await client.room_get_state(room_id)
        if not isinstance(response, nio.RoomGetStateResponse):
            return frozenset()
        for event in response.events:
            if event.get("type") == "m.room.create":
                extra = event.get("content", {}).get("additional_creators", [])
                return frozenset([event["sender"], *extra])
        return frozenset()
