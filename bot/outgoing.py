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


_MARKUP = re.compile(r"([\\`*_\[\]<>#|~&])")
_LINE_START_MARKUP = re.compile(r"^(\s*)([-+=>])|^(\s*\d+)([.)])")
_BULK_PING = re.compile(r"@(everyone|here|room)", re.IGNORECASE)
_LINE_BREAK = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def literal(text: str) -> str:
    """Member-written text made safe to put in an ``OutgoingMessage``: shown as written, never
    as markup, never a ping.

    Markdown's punctuation is backslash-escaped (links, images, emphasis, code, headings, lists,
    HTML, entities and platform mention syntax such as ``<@&123>``), so every renderer shows the characters
    themselves: Discord reads the escapes, Matrix renders them to escaped text, the console
    removes them (``unescape``). Bulk pings are broken with a zero-width joiner. Line breaks
    become spaces, control characters go and the ends are trimmed: a quote is one line of the message around it.
    """
    text = _CONTROL.sub("", _LINE_BREAK.sub(" ", text)).strip()
    text = _MARKUP.sub(r"\\\1", text)
    text = _LINE_START_MARKUP.sub(_escape_line_start, text, count=1)
    return _BULK_PING.sub("@\u200d\\1", text)


def _escape_line_start(match: re.Match[str]) -> str:
    """``- x``, ``> x`` or ``1. x`` at the start of a quote would begin a list or a quote."""
    if match.group(2) is not None:
        return f"{match.group(1)}\\{match.group(2)}"
    return f"{match.group(3)}\\{match.group(4)}"


def unescape(markdown: str) -> str:
    """The text a reader sees of escaped punctuation (for plain-text outputs such as the console)."""
    return _ESCAPED.sub(r"\1", markdown)


_WORD = re.compile(r"\S+")
"""A word. A platform's mention syntax (Discord's ``<@id>``, a Matrix id) has no space in it, so
it is one word here and never cut: this module needs to know no platform's syntax."""


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
        for token in _WORD.findall(line):
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
