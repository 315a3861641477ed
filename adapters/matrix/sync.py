"""Syncing with the homeserver: the catch-up at start and the live sync after it, each sync's
events handed to the sink in order, and our position saved once what came before it is stored.

Every start's first sync asks for the rooms' full state, so members, power levels, encryption and
direct rooms are known at once, not when a room next has traffic; the members present are handed
over as already there (never welcomed). The very first start skips the rooms' backlog; later
starts resume from the stored sync token, so what arrived while the bot was down is delivered once
(gaps in a limited timeline are filled from ``/messages``, at most ``catch_up.max_days`` back), and
nothing is replayed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import nio

from adapters.matrix.bridges import bridged_channels
from adapters.matrix.reading import Reader
from adapters.matrix.render import render_content
from adapters.matrix.rooms import Rooms
from adapters.matrix.sending import send_content
from adapters.matrix.session import MatrixError, crypto_housekeeping
from adapters.matrix.state import MatrixState
from adapters.matrix.translate import PLATFORM, is_own_join, occurred_at
from bot.config import Settings
from bot.events import MemberJoined, MemberRef
from bot.i18n import Translator
from bot.ports import Bridges, EventSink

log = logging.getLogger(__name__)

JOIN_DATE_HOPS = 20
"""How many profile changes back a member's join is looked for before their oldest seen event counts."""


class Sync:
    """One run of the adapter's sync, from the catch-up at start to the stop."""

    def __init__(
        self,
        client: nio.AsyncClient,
        state: MatrixState,
        sink: EventSink,
        settings: Settings,
        rooms: Rooms,
        reader: Reader,
        *,
        bridges: Bridges | None,
        e2e: bool,
        timeline_limit: int,
        poll_ms: int,
    ) -> None:
        self.client = client
        self.state = state
        self.sink = sink
        self.settings = settings
        self.rooms = rooms
        self.reader = reader
        self.bridges = bridges
        self.e2e = e2e
        self._timeline_limit = timeline_limit
        self._poll_ms = poll_ms
        self._token: str | None = None
        self._saving: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None

    async def catch_up(self, token: str | None) -> None:
        """The start's syncs, from the stored ``token``; then the live sync runs beside."""
        client = self.client
        # Full state even when resuming: an incremental sync names only the rooms with news, and
        # a room nio does not know can be neither posted to (encrypted) nor asked for power levels.
        response = await self._sync(since=token, wait_ms=0, full_state=True)
        await self._hand_over_members(response)
        # The first start ever skips the backlog; a restart delivers what came while we were away.
        await self._process(response, previous=token, deliver=token is not None, live=False)
        await self._advance(response.next_batch)
        if await self.rooms.join_missing(client):
            # Learn the rooms we just joined (their state, members, encryption) before serving.
            response = await self._sync(since=self._token, wait_ms=0)
            await self._hand_over_members(response)
            await self._process(response, previous=self._token, deliver=True, live=False)
            await self._advance(response.next_batch)
        self._task = asyncio.create_task(self._sync_forever(), name="trellis-matrix-sync")

    async def stop(self) -> None:
        """Stop syncing; returns once our position is saved."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._saving is not None:
            await self._saving

    async def _hand_over_members(
        self, response: nio.SyncResponse, *, new_rooms_only: bool = False
    ) -> None:
        """The members of the synced community rooms (or of the rooms we just joined), as
        already there with their join dates: stored, never welcomed. Joins seen later for them
        are joins to one more room."""
        client = self.client
        since: dict[str, dict[str, tuple[datetime, MemberRef]]] = {}
        for room_id, info in response.rooms.join.items():
            community = self.rooms.community.get(room_id)
            room = client.rooms.get(room_id)
            context = self.reader.context(client, room_id)
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
            self.rooms.members.setdefault(community, set()).update(members)
            for joined, member in members.values():
                await self.sink(MemberJoined(community, member, joined, live=False))

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
            response = await self.client.room_get_event(room_id, unsigned["replaces_state"])
            if not isinstance(response, nio.RoomGetEventResponse):
                break
            raw = response.event.source
        if raw is not first:
            await self.state.save_join_date(event_id, occurred_at(raw))
        return occurred_at(raw)

    def _filter(self) -> dict[str, Any]:
        return {
            "room": {"timeline": {"limit": self._timeline_limit}},
            "presence": {"not_types": ["*"]},
        }

    async def _sync(
        self, *, since: str | None, wait_ms: int, full_state: bool = False
    ) -> nio.SyncResponse:
        response = await self.client.sync(
            timeout=wait_ms,
            since=since,
            sync_filter=self._filter(),
            full_state=full_state or since is None,
        )
        if not isinstance(response, nio.SyncResponse):
            raise MatrixError(
                f"Syncing with {self.settings.adapters.matrix.homeserver} failed "
                f"({response.message})."
            )
        if self.e2e:
            await crypto_housekeeping(self.client)
        return response

    async def _sync_forever(self) -> None:
        pause = 1.0
        while True:
            try:
                response = await self._sync(since=self._token, wait_ms=self._poll_ms)
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
            assert token is not None
            await self.sink.drain()
            await self.state.save_sync_token(token)
            if token == self._token:
                return

    async def _process(
        self, response: nio.SyncResponse, *, previous: str | None, deliver: bool, live: bool
    ) -> None:
        """Deliver a sync's events; ``live`` is false for the catch-up at start, whose joins
        are members found already there, never newcomers to welcome."""
        client = self.client
        for room_id in response.rooms.invite:
            if self.rooms.served(room_id):
                await client.join(room_id)
        for room_id, info in response.rooms.join.items():
            events = list(info.timeline.events)
            if room_id in self.rooms.community:
                self._learn_bridges(room_id, [e.source for e in (*info.state, *events)])
            if room_id in self.rooms.spaces:
                if any(e.source.get("type") == "m.space.child" for e in events):
                    await self.rooms.load_space(client, room_id)
                    await self.rooms.join_missing(client)
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
                for trellis_event in await self.reader.translate(
                    client, self.state, room_id, event, live=live
                ):
                    await self.sink(trellis_event)
        await self._warn_about_encryption()

    async def _gap(self, room_id: str, start: str, until: str) -> list[nio.Event]:
        """Events a limited sync timeline left out, between our last token and the timeline,
        at most ``catch_up.max_days`` back."""
        days = self.settings.catch_up.max_days
        cutoff = (datetime.now(UTC).timestamp() - days * 86400) * 1000
        missing: list[nio.Event] = []
        token: str | None = start
        while token:
            response = await self.client.room_messages(
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

    async def _warn_about_encryption(self) -> None:
        """Say once in each encrypted community room that it goes unread, and why."""
        if self.e2e:
            return
        config = self.settings.adapters.matrix
        for room_id in self.rooms.community:
            room = self.client.rooms.get(room_id)
            if room is None or not room.encrypted:
                continue
            if await self.state.warned_encrypted(room_id):
                continue
            community = self.settings.communities[self.rooms.community[room_id]]
            _ = Translator(community.locale)._
            if not config.encryption:
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
            await send_content(self.client, room_id, render_content(text), e2e=self.e2e)
