"""Sending to Matrix rooms: a message as notices of at most the room's length (rendered from
Markdown by ``render``), in its thread and as a reply where asked, attachments uploaded (encrypted
in an encrypted room), reactions; each send tried again after a passing failure.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import nio

from adapters.matrix.render import chunk_contents, defuse, image_size
from adapters.matrix.session import MatrixError, ensure_room
from bot.events import ChannelRef
from bot.outgoing import Attachment, OutgoingMessage
from bot.ports import SentMessage

log = logging.getLogger(__name__)

SEND_ATTEMPTS = 4
"""How often a message that failed for a passing reason (a room not loaded, a server hiccup) is
tried before the failure is reported."""


async def send_content(
    client: nio.AsyncClient, room_id: str, content: dict[str, Any], *, e2e: bool
) -> str:
    """Send, trying again after a passing failure; what the server refuses is reported."""
    failure = ""
    for attempt in range(SEND_ATTEMPTS):
        if attempt:
            log.warning("sending to %s failed (%s); trying again", room_id, failure)
            await asyncio.sleep(0.25 * 2**attempt)
        try:
            if e2e:
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


def thread_relation(channel: ChannelRef, reply_to: str | None) -> dict[str, Any]:
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


async def post(
    client: nio.AsyncClient,
    channel: ChannelRef,
    message: OutgoingMessage,
    *,
    limit: int,
    e2e: bool,
    reply_to: str | None = None,
) -> SentMessage:
    ids: list[str] = []
    for index, content in enumerate(chunk_contents(message.text, limit)):
        relation = thread_relation(channel, reply_to if index == 0 else None)
        if relation:
            content["m.relates_to"] = relation
        ids.append(await send_content(client, channel.id, content, e2e=e2e))
    for attachment in message.attachments:
        ids.append(await _send_attachment(client, channel, attachment, e2e=e2e))
    return SentMessage(channel, tuple(ids))


async def _send_attachment(
    client: nio.AsyncClient, channel: ChannelRef, attachment: Attachment, *, e2e: bool
) -> str:
    if e2e:
        await ensure_room(client, channel.id)
    room = client.rooms.get(channel.id)
    encrypt = bool(e2e and room is not None and room.encrypted)
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
    relation = thread_relation(channel, None)
    if relation:
        content["m.relates_to"] = relation
    return await send_content(client, channel.id, content, e2e=e2e)


async def react(client: nio.AsyncClient, room_id: str, event_id: str, key: str) -> None:
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
