"""The Matrix adapter's session with the homeserver: logging in (and keeping the login), requests
nio has no method for, our device's keys after each sync, and rooms loaded from their state before
the sync loop brings them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import nio

from adapters.matrix.state import MatrixState
from bot.config import Settings

log = logging.getLogger(__name__)

RATE_LIMIT_RETRIES = 5
"""How many ``M_LIMIT_EXCEEDED`` answers one request may get (each waited out) before giving up."""


class MatrixError(Exception):
    """The homeserver refused something we need; the message says what and how to fix it."""


async def login(client: nio.AsyncClient, settings: Settings, state: MatrixState) -> None:
    """Log in: with the configured access token, else with the stored login, else with the
    password (and store the login, so the device and its encryption keys stay the same)."""
    config = settings.adapters.matrix
    if config.access_token_env:
        token = settings.secret(config.access_token_env, "adapters.matrix.access_token_env")
        client.access_token = token.get_secret_value()
        whoami = await client.whoami()
        if not isinstance(whoami, nio.WhoamiResponse):
            raise MatrixError(
                f"The homeserver refused the access token in {config.access_token_env} "
                f"({whoami.message}); create a new one for {config.user_id}."
            )
        client.restore_login(whoami.user_id, whoami.device_id or "", client.access_token)
        return
    stored = await state.login(config.user_id)
    if stored is not None:
        device, access_token = stored
        client.restore_login(config.user_id, device, access_token)
        whoami = await client.whoami()
        if isinstance(whoami, nio.WhoamiResponse):
            return
        log.warning("stored Matrix login no longer works (%s); logging in again", whoami)
        client.device_id = device  # keep the device, so encryption keys stay valid
    password = settings.secret(config.password_env, "adapters.matrix.password_env")
    response = await client.login(password.get_secret_value(), device_name=config.device_name)
    if not isinstance(response, nio.LoginResponse):
        raise MatrixError(
            f"Logging in to {config.homeserver} as {config.user_id} failed "
            f"({response.message}); check adapters.matrix.user_id and the password in "
            f"{config.password_env}."
        )
    await state.save_login(config.user_id, response.device_id, response.access_token)


async def crypto_housekeeping(client: nio.AsyncClient) -> None:
    """With encryption on, what nio's ``sync_forever`` would do after each sync: keep our device keys in order."""
    await client.send_to_device_messages()
    if client.should_upload_keys:
        await client.keys_upload()
    if client.should_query_keys:
        await client.keys_query()
    if client.should_claim_keys:
        await client.keys_claim(client.get_users_for_key_claiming())


async def ensure_room(client: nio.AsyncClient, room_id: str, *, complete: bool = False) -> None:
    """Load a room nio has not seen through sync yet from its state, so that nio knows
    whether to encrypt for it without waiting for the sync loop. ``complete`` reads the state
    even of a room nio knows: one we just created may have come through a sync that caught
    it half made (before the invitation), and a room key shared then misses the invitee."""
    if room_id in client.rooms and not complete:
        return
    response = await client.room_get_state(room_id)
    if not isinstance(response, nio.RoomGetStateResponse):
        raise MatrixError(f"Reading the state of {room_id} failed ({response.message}).")
    if room_id in client.rooms and not complete:
        return  # the sync loop brought it meanwhile
    room = client.rooms.get(room_id) or nio.MatrixRoom(room_id, client.user_id)
    for raw in response.events:
        event = nio.Event.parse_event(raw)
        if isinstance(event, nio.RoomMemberEvent):
            room.handle_membership(event)
        elif isinstance(event, nio.Event):
            room.handle_event(event)
    client.rooms[room_id] = room
    if room.encrypted:
        client.encrypted_rooms.add(room_id)
        if client.olm is not None:
            client.olm.update_tracked_users(room)


async def raw_request(client: nio.AsyncClient, method: str, path: str, body: Any = None) -> Any:
    """A request nio has no method for, with the same bounded respect for rate limits."""
    headers = {"Authorization": f"Bearer {client.access_token}"}
    data = None if body is None else json.dumps(body)
    if data is not None:
        headers["Content-Type"] = "application/json"
    for _ in range(RATE_LIMIT_RETRIES + 1):
        response = await client.send(method, path, data, headers)
        payload = await response.json(content_type=None)
        if response.status != 429:
            return payload
        await asyncio.sleep(max(payload.get("retry_after_ms", 5000), 100) / 1000)
    raise MatrixError(f"{method} {path} stayed rate-limited after {RATE_LIMIT_RETRIES} waits.")
