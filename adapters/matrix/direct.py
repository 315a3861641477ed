"""Direct rooms with members: found in our ``m.direct`` account data, created once (encrypted
whenever encryption is on) and remembered, so a member has one direct room with Trellis.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import nio

from adapters.matrix.session import MatrixError, ensure_room, raw_request
from adapters.matrix.state import MatrixState

log = logging.getLogger(__name__)

ENCRYPTION_STATE: dict[str, Any] = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


async def load_direct_rooms(client: nio.AsyncClient, state: MatrixState) -> dict[str, str]:
    """Our direct rooms (room id -> member's user id) from ``m.direct``: a store restored from an
    older backup still finds them."""
    found: dict[str, str] = {}
    direct = await raw_request(client, "GET", direct_path(client))
    if not isinstance(direct, dict) or "errcode" in direct:
        return found
    for user_id, rooms in direct.items():
        if not isinstance(rooms, list) or not rooms:
            continue
        for room_id in rooms:
            found[room_id] = user_id
        if not await state.direct_room(user_id):
            await state.save_direct_room(user_id, rooms[-1])
    return found


def direct_path(client: nio.AsyncClient) -> str:
    return f"/_matrix/client/v3/user/{quote(client.user_id)}/account_data/m.direct"


async def record_direct(client: nio.AsyncClient, user_id: str, room_id: str) -> None:
    """Add the room to our ``m.direct`` account data, as Element does for direct chats."""
    path = direct_path(client)
    current = await raw_request(client, "GET", path)
    direct = current if isinstance(current, dict) and "errcode" not in current else {}
    rooms = direct.setdefault(user_id, [])
    if room_id not in rooms:
        rooms.append(room_id)
    await raw_request(client, "PUT", path, direct)


async def forget_direct(client: nio.AsyncClient, user_id: str) -> None:
    """Take the member out of our ``m.direct`` account data: a member who asked to be forgotten
    is not found there again by the next start."""
    path = direct_path(client)
    current = await raw_request(client, "GET", path)
    if not isinstance(current, dict) or "errcode" in current or user_id not in current:
        return
    del current[user_id]
    await raw_request(client, "PUT", path, current)


async def encrypt_direct_room(client: nio.AsyncClient, room_id: str) -> None:
    """Turn on encryption in a direct room made before encryption was: what we say to one
    member privately may quote encrypted rooms."""
    await ensure_room(client, room_id)
    room = client.rooms[room_id]
    if room.encrypted:
        return
    response = await client.room_put_state(
        room_id, ENCRYPTION_STATE["type"], ENCRYPTION_STATE["content"]
    )
    if not isinstance(response, nio.RoomPutStateResponse):
        raise MatrixError(f"Turning on encryption in {room_id} failed ({response.message}).")
    room.encrypted = True
    client.encrypted_rooms.add(room_id)
    if client.olm is not None:
        client.olm.update_tracked_users(room)


async def direct_room(
    client: nio.AsyncClient,
    state: MatrixState,
    known: dict[str, str],
    user_id: str,
    *,
    e2e: bool,
) -> str | None:
    """The member's direct room with us, created (and recorded in ``m.direct``) the first time,
    and added to ``known`` (room id -> user id).

    None when the member left or refused it: leaving the direct room is their way of saying no.
    """
    room_id = await state.direct_room(user_id)
    if room_id:
        known[room_id] = user_id
        membership = await client.room_get_state_event(room_id, "m.room.member", user_id)
        if isinstance(membership, nio.RoomGetStateEventResponse):
            if membership.content.get("membership") in ("join", "invite"):
                if e2e:
                    await encrypt_direct_room(client, room_id)
                return room_id
        log.info("%s left their direct room %s; not messaging them", user_id, room_id)
        return None
    created = await client.room_create(
        is_direct=True,
        invite=[user_id],
        preset=nio.RoomPreset.trusted_private_chat,
        initial_state=[ENCRYPTION_STATE] if e2e else [],
    )
    if not isinstance(created, nio.RoomCreateResponse):
        log.warning("cannot open a direct room with %s: %s", user_id, created.message)
        return None
    room_id = str(created.room_id)
    if e2e:
        await ensure_room(client, room_id, complete=True)
    await record_direct(client, user_id, room_id)
    await state.save_direct_room(user_id, room_id)
    known[room_id] = user_id
    return room_id
