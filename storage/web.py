"""What the web dashboard and the history site keep: one-time login links, sessions, and the
archive of posted digests.

Tokens never reach the database: only their SHA-256 (``token_hash``), so a copy of the file opens
no dashboard. A link or a session belongs to a member row and goes with it (forget-me).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from bot.events import key_parts
from storage.contract import Reads, Unit


def token_hash(token: str) -> str:
    return hashlib.sha256(f"trellis-web\0{token}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class WebMember:
    """Who a link or a session lets in, and with what permission (a ``Permission`` value)."""

    member_id: int
    community: str
    member_key: str
    name: str
    permission: int


async def add_link(tx: Unit, token: str, member_id: int, permission: int, expires_at: int) -> None:
    await tx.execute(
        "INSERT INTO web_links (token_hash, member_id, permission, expires_at) VALUES (?, ?, ?, ?)",
        (token_hash(token), member_id, permission, expires_at),
    )


async def use_link(tx: Unit, token: str, now: int) -> WebMember | None:
    """Spend a link: who it lets in, or None if it is unknown, spent or expired. Spent links and
    expired links and sessions are deleted on the way."""
    row = await tx.fetch_one(
        "UPDATE web_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL "
        "AND expires_at > ? RETURNING member_id, permission",
        (now, token_hash(token), now),
    )
    await tx.execute("DELETE FROM web_links WHERE expires_at <= ?", (now,))
    await tx.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,))
    if row is None:
        return None
    return await _member(tx, row[0], row[1])


async def _member(db: Reads, member_id: int, permission: int) -> WebMember | None:
    row = await db.fetch_one(
        "SELECT id, community, member_key, display_name FROM members WHERE id = ?",
        (member_id,),
    )
    if row is None:
        return None
    return WebMember(row[0], row[1], row[2], row[3] or key_parts(row[2])[1], permission)


async def add_session(tx: Unit, token: str, member: WebMember, expires_at: int) -> None:
    await tx.execute(
        "INSERT INTO web_sessions (token_hash, member_id, permission, expires_at) "
        "VALUES (?, ?, ?, ?)",
        (token_hash(token), member.member_id, member.permission, expires_at),
    )


async def session(db: Reads, token: str, now: int) -> WebMember | None:
    """Who the session ``token`` is, while it lasts (and while the member is tracked)."""
    row = await db.fetch_one(
        "SELECT m.id, m.community, m.member_key, m.display_name, s.permission "
        "FROM web_sessions s JOIN members m ON m.id = s.member_id "
        "WHERE s.token_hash = ? AND s.expires_at > ?",
        (token_hash(token), now),
    )
    if row is None:
        return None
    return WebMember(row[0], row[1], row[2], row[3] or key_parts(row[2])[1], row[4])


async def end_session(tx: Unit, token: str) -> None:
    await tx.execute("DELETE FROM web_sessions WHERE token_hash = ?", (token_hash(token),))


@dataclass(frozen=True, slots=True)
class ArchivedDigest:
    id: int
    week_end: int
    posted_at: int
    text: str


async def archive_digest(
    tx: Unit, community: str, week_end: int, posted_at: int, text: str
) -> None:
    """Keep a posted digest (Markdown, as posted); a digest of the same week posted again
    (``digest post`` then the schedule) replaces it."""
    await tx.execute(
        "INSERT INTO digest_archive (community, week_end, posted_at, text) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (community, week_end) DO UPDATE SET posted_at = excluded.posted_at, "
        "text = excluded.text",
        (community, week_end, posted_at, text),
    )


async def archived_digests(db: Reads, community: str) -> list[ArchivedDigest]:
    """Every archived digest of the community, oldest first."""
    rows = await db.fetch_all(
        "SELECT id, week_end, posted_at, text FROM digest_archive WHERE community = ? "
        "ORDER BY week_end, id",
        (community,),
    )
    return [ArchivedDigest(row[0], row[1], row[2], row[3]) for row in rows]


async def theme_beginnings(db: Reads, community: str) -> dict[str, int]:
    """When each theme's first message still stored was posted: the site's 'theme started'."""
    rows = await db.fetch_all(
        "SELECT theme, min(posted_at) FROM messages WHERE community = ? AND theme IS NOT NULL "
        "AND deleted_at IS NULL GROUP BY theme",
        (community,),
    )
    return {row[0]: row[1] for row in rows}


async def privacy_mark(db: Reads, community: str) -> tuple[int, ...]:
    """A value that changes whenever a member opts out or in, is forgotten or appears: a page
    built before it changed may name someone it must not, so it is not served again."""
    row = await db.fetch_one(
        "SELECT (SELECT count(*) FROM members WHERE community = :c AND opted_out_at IS NOT NULL), "
        "(SELECT coalesce(max(opted_out_at), 0) FROM members WHERE community = :c), "
        "(SELECT count(*) FROM forgotten_members WHERE community = :c), "
        "(SELECT count(*) FROM members WHERE community = :c)",
        {"c": community},
    )
    return tuple(row) if row is not None else ()


_QUOTE = re.compile(r"^\s*>.*\n?", re.MULTILINE)


def without_quotes(text: str) -> str:
    """A digest's Markdown without its quoted messages (its ``>`` lines)."""
    return _QUOTE.sub("", text)


async def drop_quotes(tx: Unit, before: int) -> int:
    """Take the quoted messages out of archived digests that may quote a message posted before
    ``before``: message text is kept only as long as ``retention.message_text_days``, in the
    archive too. Returns how many digests changed."""
    rows = await tx.fetch_all(
        "SELECT id, text FROM digest_archive WHERE week_end - ? < ? AND text LIKE '%>%'",
        (DIGEST_WEEK, before),
    )
    changed = [(kept, row[0]) for row in rows if (kept := without_quotes(row[1])) != row[1]]
    await tx.execute_many("UPDATE digest_archive SET text = ? WHERE id = ?", changed)
    return len(changed)


DIGEST_WEEK = 7 * 86400 + 3600
"""The longest week a digest covers (seven days on the wall clock, with a clock change)."""
