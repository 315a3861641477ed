"""What Trellis says: platform-neutral outgoing messages, and splitting them to a platform's size limit."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    data: bytes = field(repr=False)
    mime_type: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """Markdown text (CommonMark subset: bold, italics, lists, headings, links) and files.

    Adapters render it for their platform, never let it ping anyone in bulk, and split it with
    ``split_markdown`` when it is longer than the platform allows.
    """

    text: str
    attachments: tuple[Attachment, ...] = ()


_MENTION_OR_WORD = re.compile(r"<@[!&]?\d+>|@[\w.:-]+|\S+")


def split_markdown(text: str, limit: int) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters.

    Prefers paragraph breaks, then line breaks; a single line longer than the limit is cut between
    words, never inside a mention or a word (unless one word alone exceeds the limit).
    """
    if limit < 20:
        raise ValueError("limit too small to split sensibly")
    if len(text) <= limit:
        return [text] if text else []
    chunks: list[str] = []
    current = ""
    for line in _lines_within(text, limit):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
            continue
        if current.strip():
            chunks.append(current.rstrip("\n"))
        current = line
    if current.strip():
        chunks.append(current.rstrip("\n"))
    return chunks


def _lines_within(text: str, limit: int) -> list[str]:
    lines: list[str] = []
    for line in text.split("\n"):
        if len(line) <= limit:
            lines.append(line)
            continue
        piece = ""
        for token in _MENTION_OR_WORD.findall(line):
            while len(token) > limit:
                if piece:
                    lines.append(piece)
                    piece = ""
                lines.append(token[:limit])
                token = token[limit:]
            candidate = f"{piece} {token}" if piece else token
            if len(candidate) <= limit:
                piece = candidate
            else:
                lines.append(piece)
                piece = token
        if piece:
            lines.append(piece)
    return lines
