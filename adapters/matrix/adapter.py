"""The Matrix adapter (matrix-nio): rooms and spaces in, ``!trellis`` commands, notices out.

It logs in (``session``), learns the rooms it serves (``rooms``), syncs and catches up after
downtime (``sync``), reads each event as Trellis events (``reading``, through ``translate``),
remembers what it must across restarts in its own rows of the store (``state``: device, access
token, sync token, direct rooms, reactions), and sends (``sending``, rendered by ``render``;
direct messages through ``direct``). End-to-end encrypted rooms are read and answered with
matrix-nio's e2e support (vodozemac), keys kept beside the database; direct rooms are encrypted
whenever encryption is on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import nio
from nio.crypto import ENCRYPTION_ENABLED

from adapters.matrix.direct import (
    direct_room,
    encrypt_direct_room,
    forget_direct,
    load_direct_rooms,
)
from adapters.matrix.reading import Reader
from adapters.matrix.rooms import Rooms
from adapters.matrix.sending import post, react
from adapters.matrix.session import RATE_LIMIT_RETRIES, MatrixError, login
from adapters.matrix.state import MatrixState
from adapters.matrix.sync import Sync
from adapters.matrix.translate import PLATFORM
from bot.config import Settings
from bot.events import ChannelRef, CommandInvoked, Event, MemberRef
from bot.outgoing import OutgoingMessage, literal
from bot.ports import (
    Adapter,
    Delivery,
    EventSink,
    SentMessage,
    StateKey,
    Stored,
    answered_before_closing,
)

if TYPE_CHECKING:
    from bot.commands.spec import CommandSpec

log = logging.getLogger(__name__)


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
        self.key_dir = Path(f"{settings.storage.path}.matrix-keys")
        self.e2e = self.config.encryption and ENCRYPTION_ENABLED
        self.rooms = Rooms(settings)
        self._reader = Reader(settings, self.rooms, e2e=self.e2e)
        self._client: nio.AsyncClient | None = None
        self._state: MatrixState | None = None
        self._sync: Sync | None = None
        self._sink: EventSink | None = None

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
        self._reader.bridges = self.bridges
        if self.bridges is not None:
            for key in await self.state.bots_elsewhere():
                self.bridges.not_a_person(key)
        client = await self._connect()
        token = await self.state.sync_token()
        self.rooms.direct.update(await load_direct_rooms(client, self.state))
        if self.e2e:
            # Encryption is readable again: a later change of setting must warn again.
            for room_id in self.rooms.community:
                await self.state.forget_warned_encrypted(room_id)
        self._sync = Sync(
            client,
            self.state,
            sink,
            self.settings,
            self.rooms,
            self._reader,
            bridges=self.bridges,
            e2e=self.e2e,
            timeline_limit=self._timeline_limit,
            poll_ms=self._poll_ms,
        )
        await self._sync.catch_up(token)

    async def stop(self) -> None:
        if self._sync is not None:
            await self._sync.stop()
            self._sync = None
        if self._sink is not None and self._client is not None:
            # Closed first, the connection would be opened again, a new login, to answer them.
            await answered_before_closing(self._sink)
        if self._state is not None and self.bridges is not None:
            await self.state.save_bots_elsewhere(self.bridges.not_people)
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def register_commands(self, specs: Sequence[CommandSpec]) -> None:
        self._reader.command_names = tuple(spec.name for spec in specs)

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
            await self.rooms.resolve(client, self.bridges)
        except BaseException:
            await client.close()
            raise
        self._client = client
        return client

    # -- sending -----------------------------------------------------------------------------

    async def _post(
        self, channel: ChannelRef, message: OutgoingMessage, *, reply_to: str | None = None
    ) -> SentMessage:
        client = await self._connect()
        return await post(
            client, channel, message, limit=self.message_limit, e2e=self.e2e, reply_to=reply_to
        )

    async def send(self, channel: ChannelRef, message: OutgoingMessage) -> SentMessage:
        return await self._post(channel, message)

    async def reply(
        self, invocation: CommandInvoked, message: OutgoingMessage, *, private: bool
    ) -> None:
        channel = invocation.channel
        if private and channel.id not in self.rooms.direct:
            # Never fall back to the room: a private answer may hold what others must not see.
            if await self.send_direct(invocation.member, message) is Delivery.UNREACHABLE:
                log.warning("could not answer %s privately", invocation.member.key)
            elif invocation.invocation_id:
                # A mark on the command, so the member knows where the answer went.
                await react(await self._connect(), channel.id, invocation.invocation_id, "📬")
            return
        if channel.id in self.rooms.direct:
            client = await self._connect()
            if self.e2e:
                await encrypt_direct_room(client, channel.id)
        await self._post(channel, message, reply_to=invocation.invocation_id or None)

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
        """The member's direct room with us, created the first time; None when the member left
        or refused it."""
        client = await self._connect()
        return await direct_room(client, self.state, self.rooms.direct, user_id, e2e=self.e2e)

    # -- places, history and power -----------------------------------------------------------

    async def channels(self, community: str) -> list[ChannelRef]:
        return await self.rooms.channels(await self._connect(), community)

    async def posts_in(self, community: str) -> frozenset[str]:
        # Every room joined can be posted in: the digest rooms, which are never read, among them.
        client = await self._connect()
        return frozenset(f"{PLATFORM}:{room_id}" for room_id in client.rooms)

    async def encrypted_places(self, community: str) -> frozenset[str]:
        return self.rooms.encrypted_places(await self._connect(), community)

    async def history(self, channel: ChannelRef, since: datetime) -> AsyncIterator[Event]:
        client = await self._connect()
        async for event in self._reader.history(client, self.state, channel, since):
            yield event

    async def forget_member(self, member: MemberRef) -> list[StateKey]:
        if self._state is None:
            return []
        held = await self._state.held_for(member.key, self._reader.member_key)
        if member.platform == PLATFORM and self._client is not None:
            await forget_direct(self._client, member.id)
        return held

    def mention(self, member: MemberRef) -> str:
        # The name as members read it in the room; messages carry an empty ``m.mentions``, so
        # no client notifies anyone of it.
        return literal(member.name)

    async def place_name(self, place: ChannelRef) -> str:
        return await self.rooms.place_name(self._client, place)

    async def member_roles(self, community: str, member: MemberRef) -> frozenset[str]:
        if member.platform != PLATFORM:
            return frozenset()
        return await self.rooms.member_roles(await self._connect(), community, member)

    async def power_level(self, room_id: str, user_id: str) -> int:
        return await self.rooms.power_level(await self._connect(), room_id, user_id)
