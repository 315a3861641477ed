"""Reading Matrix events as Trellis events, live or from a room's history: each room's context for
``translate`` (its community, names, who is ignored or a bridge's puppet), and what an event points
at (the messages it replies to, the reactions it takes back, the threads it opens), remembered so
that later events find it.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import nio

from adapters.matrix.rooms import Rooms
from adapters.matrix.session import MatrixError
from adapters.matrix.state import MatrixState
from adapters.matrix.translate import (
    Known,
    ReactionRecord,
    RoomContext,
    SeenEvent,
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
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    ThreadOpened,
)
from bot.ports import Bridges

log = logging.getLogger(__name__)

SEEN_KEPT = 5000
"""Messages remembered (sender and text) for the replies and reactions that point at them."""


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


class Reader:
    """Turns the events of the rooms the adapter serves into Trellis events."""

    def __init__(self, settings: Settings, rooms: Rooms, *, e2e: bool) -> None:
        self.config = settings.adapters.matrix
        self.rooms = rooms
        self.e2e = e2e
        self._ignore = tuple(_compile(self.config.ignore_senders, "adapters.matrix.ignore_senders"))
        puppets = _compile(list(self.config.puppet_patterns), "adapters.matrix.puppet_patterns")
        self._puppets = tuple(zip(puppets, self.config.puppet_patterns.values(), strict=True))
        self.command_names: tuple[str, ...] = ()
        self.bridges: Bridges | None = None
        self._seen: OrderedDict[str, SeenEvent] = OrderedDict()
        self._warned_undecryptable: set[str] = set()

    def context(self, client: nio.AsyncClient | None, room_id: str) -> RoomContext | None:
        community = self.rooms.community.get(room_id)
        if community is None and room_id in self.rooms.direct:
            community = self.rooms.community_of_member(client, self.rooms.direct[room_id])
        if community is None:
            return None
        room = client.rooms.get(room_id) if client else None
        return RoomContext(
            community=community,
            room_id=room_id,
            room_name=room.display_name if room else "",
            bot_user_id=self.config.user_id,
            command_prefix=self.config.command_prefix,
            command_names=self.command_names,
            ignore_senders=self._ignore,
            puppet_patterns=self._puppets,
            display_names={u: m.display_name or "" for u, m in room.users.items()} if room else {},
            not_people=self.bridges.not_people if self.bridges is not None else frozenset(),
        )

    def member_key(self, user_id: str) -> str:
        """The key of the member a Matrix user is (a bridge's puppet: of another platform)."""
        return RoomContext("", "", puppet_patterns=self._puppets).member(user_id).key

    async def translate(
        self,
        client: nio.AsyncClient,
        state: MatrixState,
        room_id: str,
        event: nio.Event,
        *,
        live: bool,
    ) -> list[Event]:
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
        if room_id not in self.rooms.community and room_id not in self.rooms.direct:
            user_id = await state.direct_member(room_id)
            if user_id:
                self.rooms.direct[room_id] = user_id
        context = self.context(client, room_id)
        if context is None:
            return []
        raw = event.source
        known = await self._known(client, state, room_id, raw)
        events = translate(raw, context, known)
        if room_id not in self.rooms.community:
            # A direct room: only commands; what a member says to us privately is not tracked.
            events = [e for e in events if isinstance(e, CommandInvoked)]
        else:
            user_id = raw.get("state_key", "")
            events = self.rooms.membership(client, room_id, user_id, events, live)
        await self._remember(state, raw, events)
        return events

    async def history(
        self, client: nio.AsyncClient, state: MatrixState, channel: ChannelRef, since: datetime
    ) -> AsyncIterator[Event]:
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
        context = self.context(client, room_id)
        if context is None:
            return
        context = replace(context, display_names=names)
        elsewhere = await self.rooms.members_elsewhere(client, room_id, context.community)
        undecryptable = 0
        for event in reversed(newest_first):
            if isinstance(event, nio.MegolmEvent):
                undecryptable += 1  # nio decrypts what it holds the keys for as it reads
                continue
            known = await self._known(client, state, room_id, event.source)
            events = [
                # A join in the past is a member already there: stored, never welcomed.
                replace(e, live=False) if isinstance(e, MemberJoined) else e
                for e in translate(event.source, context, known)
                if not isinstance(e, CommandInvoked)
                # Leaving this room while in another of the community's is not leaving it.
                and not (isinstance(e, MemberLeft) and event.source.get("state_key") in elsewhere)
            ]
            await self._remember(state, event.source, events)
            for trellis_event in events:
                yield trellis_event
        if undecryptable:
            log.warning(
                "backfill of %s skipped %d encrypted events: this device holds no keys for them "
                "(it was not in the room then, or encryption was off)",
                room_id,
                undecryptable,
            )

    async def _known(
        self, client: nio.AsyncClient, state: MatrixState, room_id: str, raw: Mapping[str, Any]
    ) -> Known:
        refs = references(raw)
        seen = {}
        for event_id in refs.events:
            found = await self._seen_event(client, room_id, event_id)
            if found is not None:
                seen[event_id] = found
        reactions = {}
        if refs.redacted:
            record = await state.reaction(refs.redacted)
            if record is not None:
                reactions[refs.redacted] = record
        open_threads = set()
        if refs.thread_root and await state.thread_open(refs.thread_root):
            open_threads.add(refs.thread_root)
        return Known(seen, reactions, open_threads)

    async def _seen_event(
        self, client: nio.AsyncClient, room_id: str, event_id: str
    ) -> SeenEvent | None:
        if event_id in self._seen:
            return self._seen[event_id]
        response = await client.room_get_event(room_id, event_id)
        if not isinstance(response, nio.RoomGetEventResponse):
            return None
        event = response.event
        if isinstance(event, nio.MegolmEvent) and self.e2e:
            try:
                event = client.decrypt_event(event)
            except nio.EncryptionError:
                pass
        body = event.source.get("content", {}).get("body", "")
        return self._cache(event_id, SeenEvent(event.sender, body if isinstance(body, str) else ""))

    def _cache(self, event_id: str, seen: SeenEvent) -> SeenEvent:
        self._seen[event_id] = seen
        self._seen.move_to_end(event_id)
        while len(self._seen) > SEEN_KEPT:
            self._seen.popitem(last=False)
        return seen

    async def _remember(
        self, state: MatrixState, raw: Mapping[str, Any], events: Sequence[Event]
    ) -> None:
        event_id = raw.get("event_id", "")
        for event in events:
            if isinstance(event, MessagePosted):
                self._cache(event_id, SeenEvent(raw.get("sender", ""), event.text))
            elif isinstance(event, ReactionAdded):
                record = ReactionRecord(event.message_id, raw["sender"], event.emoji)
                await state.save_reaction(event_id, record)
            elif isinstance(event, ReactionRemoved):
                await state.drop_reaction(references(raw).redacted or "")
            elif isinstance(event, ThreadOpened) and event.channel.thread_id:
                await state.save_thread_open(event.channel.thread_id)
