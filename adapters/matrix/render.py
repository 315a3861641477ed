"""Markdown as Matrix message content: HTML built from escaped text (what members wrote is never
markup), nobody pinged (``m.mentions`` empty, ``@room`` broken), split to fit an event.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any

from markdown_it import MarkdownIt

from bot.outgoing import split_markdown

MAX_EVENT_BYTES = 60_000
"""Synapse refuses events over 65,536 bytes; keep a margin for the envelope and encryption."""

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["strikethrough", "table"])
_ROOM_PING = re.compile(r"@(room)\b", re.IGNORECASE)


def defuse(text: str) -> str:
    """Break every ``@room`` with a zero-width joiner so no client reads it as a room ping."""
    return _ROOM_PING.sub("@\u200d\\1", text)


def render_content(markdown: str, *, msgtype: str = "m.notice") -> dict[str, Any]:
    """A message from Markdown: member-written HTML escaped, nobody pinged (``m.mentions`` empty)."""
    html = _MARKDOWN.render(markdown).strip()
    return {
        "msgtype": msgtype,
        "body": defuse(markdown),
        "format": "org.matrix.custom.html",
        "formatted_body": defuse(html),
        "m.mentions": {},
    }


def chunk_contents(markdown: str, limit: int) -> list[dict[str, Any]]:
    """Split to ``limit`` characters, then further wherever a chunk would exceed an event's size."""
    contents: list[dict[str, Any]] = []
    for chunk in split_markdown(markdown, limit):
        content = render_content(chunk)
        if len(json.dumps(content).encode()) > MAX_EVENT_BYTES and limit >= 40:
            contents.extend(chunk_contents(chunk, limit // 2))
        else:
            contents.append(content)
    return contents


def image_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    return None
