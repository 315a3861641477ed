"""What the Matrix adapter remembers across restarts, in its own rows of the store (handed to it at
start): its login, its sync position, direct rooms, the reactions it delivered, the threads it saw
open, the rooms it warned about encryption, members' join dates; and which of them concern one
member, so that forget-me deletes exactly those.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime

from adapters.matrix.translate import ReactionRecord
from bot.ports import AdapterState, StateKey

_LOGIN = ""
"""Our own account: user id, device id, access token, and the sync token."""
_DIRECT = "direct"
"""A member's user id -> their direct room with us."""
_DIRECT_ROOM = "direct_room"
"""A direct room -> the member's user id."""
_REACTION = "reaction"
"""A reaction's event id -> what it was (``ReactionRecord``), so its redaction can name it."""
_THREAD = "thread"
"""A thread's root event id, once its opening was delivered."""
_E2E_WARNED = "e2e_warned"
"""An encrypted room we could not read and said so in."""
_BOTS = "bots_elsewhere"
"""Bots of other platforms (Trellis's own account there too), whose bridged copies are not chat:
known before the adapter that told them connects again."""
_JOINED = "joined"
"""A member event's id -> when that member joined, for members whose last event was a profile change."""


class MatrixState:
    """The Matrix adapter's rows, by what they mean."""

    def __init__(self, rows: AdapterState) -> None:
        self._rows = rows

    async def login(self, user_id: str) -> tuple[str, str] | None:
        """(device id, access token) of the stored login of ``user_id``, if there is one."""
        if await self._rows.get(_LOGIN, "user_id") != user_id:
            return None
        device = await self._rows.get(_LOGIN, "device_id")
        token = await self._rows.get(_LOGIN, "access_token")
        return (device, token) if device and token else None

    async def save_login(self, user_id: str, device_id: str, access_token: str) -> None:
        await self._rows.set(_LOGIN, "user_id", user_id)
        await self._rows.set(_LOGIN, "device_id", device_id)
        await self._rows.set(_LOGIN, "access_token", access_token)

    async def sync_token(self) -> str | None:
        return await self._rows.get(_LOGIN, "sync_token")

    async def save_sync_token(self, token: str) -> None:
        await self._rows.set(_LOGIN, "sync_token", token)

    async def direct_room(self, user_id: str) -> str | None:
        return await self._rows.get(_DIRECT, user_id)

    async def bots_elsewhere(self) -> list[str]:
        return json.loads(await self._rows.get(_BOTS, "") or "[]")

    async def save_bots_elsewhere(self, keys: frozenset[str]) -> None:
        await self._rows.set(_BOTS, "", json.dumps(sorted(keys)))

    async def direct_member(self, room_id: str) -> str | None:
        return await self._rows.get(_DIRECT_ROOM, room_id)

    async def save_direct_room(self, user_id: str, room_id: str) -> None:
        await self._rows.set(_DIRECT, user_id, room_id)
        await self._rows.set(_DIRECT_ROOM, room_id, user_id)

    async def reaction(self, event_id: str) -> ReactionRecord | None:
        stored = await self._rows.get(_REACTION, event_id)
        return ReactionRecord(**json.loads(stored)) if stored else None

    async def save_reaction(self, event_id: str, record: ReactionRecord) -> None:
        await self._rows.set(_REACTION, event_id, json.dumps(asdict(record)))

    async def drop_reaction(self, event_id: str) -> None:
        await self._rows.delete(_REACTION, event_id)

    async def thread_open(self, root_id: str) -> bool:
        return bool(await self._rows.get(_THREAD, root_id))

    async def save_thread_open(self, root_id: str) -> None:
        await self._rows.set(_THREAD, root_id, "1")

    async def warned_encrypted(self, room_id: str) -> bool:
        return bool(await self._rows.get(_E2E_WARNED, room_id))

    async def save_warned_encrypted(self, room_id: str) -> None:
        await self._rows.set(_E2E_WARNED, room_id, "1")

    async def forget_warned_encrypted(self, room_id: str) -> None:
        await self._rows.delete(_E2E_WARNED, room_id)

    async def join_date(self, event_id: str) -> datetime | None:
        remembered = await self._rows.get(_JOINED, event_id)
        return datetime.fromtimestamp(float(remembered), tz=UTC) if remembered else None

    async def save_join_date(self, event_id: str, joined: datetime) -> None:
        await self._rows.set(_JOINED, event_id, str(joined.timestamp()))

    async def held_for(self, member_key: str, key_of: Callable[[str], str]) -> list[StateKey]:
        """The rows that concern the member whose key is ``member_key``: their direct room (both
        ways) and the reactions they gave. ``key_of`` turns a Matrix user id into a member key (a
        bridge's puppet stands for a member of another platform)."""
        held: list[StateKey] = []
        for user_id, room_id in (await self._rows.entries(_DIRECT)).items():
            if key_of(user_id) == member_key:
                held += [StateKey(_DIRECT, user_id), StateKey(_DIRECT_ROOM, room_id)]
        for room_id, user_id in (await self._rows.entries(_DIRECT_ROOM)).items():
            if key_of(user_id) == member_key and StateKey(_DIRECT_ROOM, room_id) not in held:
                held.append(StateKey(_DIRECT_ROOM, room_id))
        for event_id, stored in (await self._rows.entries(_REACTION)).items():
            if key_of(json.loads(stored)["sender"]) == member_key:
                held.append(StateKey(_REACTION, event_id))
        return held
