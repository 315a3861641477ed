"""The privacy rules every read applies, written once: which members Trellis may name (no bots, no
one who opted out), what it calls them, and hiding the names of those who opted out in free text
others wrote."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from bot.events import key_parts
from storage.contract import Reads

if TYPE_CHECKING:
    from _typeshed import DataclassInstance  # exists for type checkers only

VISIBLE_IDS = (
    "(SELECT id FROM members WHERE community = :c AND is_bot = 0 AND opted_out_at IS NULL)"
)
"""SQL: the ids of the members of community ``:c`` Trellis may name. On a member column of
messages or reactions write it ``+column IN VISIBLE_IDS``: the unary + keeps SQLite from probing a
member index once per visible member; rows are found by time and tested against the visible set,
which SQLite builds once per statement."""


def visible(alias: str) -> str:
    """SQL: the member row ``alias`` is one Trellis may name."""
    return f"{alias}.is_bot = 0 AND {alias}.opted_out_at IS NULL"


def shown_name(alias: str) -> str:
    """SQL: the name of the member row ``alias``: their display name, else their platform id."""
    return (
        f"coalesce(nullif({alias}.display_name, ''), "
        f"substr({alias}.member_key, instr({alias}.member_key, ':') + 1))"
    )


async def visible_members(db: Reads, community: str) -> dict[int, str]:
    """Member id -> name for everyone Trellis may name (no bots, no opted-out)."""
    rows = await db.fetch_all(
        f"SELECT m.id, {shown_name('m')} FROM members m WHERE m.community = :c AND {visible('m')}",
        {"c": community},
    )
    return {row[0]: row[1] for row in rows}


async def visible_member_keys(db: Reads, community: str) -> dict[int, str]:
    """Member id -> member key ('discord:123') for everyone Trellis may name."""
    rows = await db.fetch_all(
        f"SELECT m.id, m.member_key FROM members m WHERE m.community = :c AND {visible('m')}",
        {"c": community},
    )
    return {row[0]: row[1] for row in rows}


HIDDEN_NAME = "[…]"
"""What free text shows where it named a member who opted out (or, stored, one who was forgotten)."""


async def names_hiding(db: Reads, community: str) -> re.Pattern[str] | None:
    """A pattern for the names of the community's opted-out members, or None if nobody opted out.

    The one rule for free text others wrote (a story, a kudos reason, a profile, a commitment, a
    prompt, a title): it may name a member who has since opted out, and must not bring them back
    into any output. Opting in again shows the text as written, so it is hidden, not changed.
    """
    rows = await db.fetch_all(
        "SELECT display_name, member_key FROM members WHERE community = ? "
        "AND opted_out_at IS NOT NULL",
        (community,),
    )
    return names_pattern(name for display, key in rows for name in (display, key_parts(key)[1]))


def names_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """Display names and platform handles in any case, as whole words, with or without @."""
    alternatives = sorted({name for name in names if name}, key=len, reverse=True)
    if not alternatives:
        return None
    return re.compile(
        rf"(?<!\w)@?(?:{'|'.join(map(re.escape, alternatives))})(?!\w)", re.IGNORECASE
    )


def hide_names(text: str, pattern: re.Pattern[str] | None) -> str:
    return pattern.sub(HIDDEN_NAME, text) if pattern else text


_Row = TypeVar("_Row", bound="DataclassInstance")


def hidden(row: _Row, pattern: re.Pattern[str] | None, fields: Iterable[str]) -> _Row:
    """``row`` (a dataclass) with the names ``pattern`` finds hidden in its text ``fields``."""
    if pattern is None:
        return row
    changed: dict[str, Any] = {name: hide_names(getattr(row, name), pattern) for name in fields}
    return replace(row, **changed)
