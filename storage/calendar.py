"""The community's calendar: events announced by members, and their reminders (times in UTC epoch
seconds)."""

from __future__ import annotations

from dataclasses import dataclass

from storage.contract import Reads, Unit
from storage.privacy import hidden, names_hiding, visible


@dataclass(frozen=True, slots=True)
class CommunityEvent:
    id: int
    title: str
    starts_at: int
    place: str
    theme: str | None
    created_by: int | None
    day_reminded_at: int | None
    hour_reminded_at: int | None


_EVENT = "id, title, starts_at, place, theme, created_by, day_reminded_at, hour_reminded_at"
_EVENT_TEXT = ("title", "place")
# An event announced by a member who opted out is theirs, like their items: it is not shown.
_EVENTS = (
    f"FROM events e WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.id = e.created_by "
    f"AND NOT ({visible('m')}))"
)


async def add_event(
    tx: Unit,
    community: str,
    *,
    title: str,
    starts_at: int,
    place: str,
    theme: str | None,
    created_by: int | None,
    at: int,
) -> int:
    return await tx.insert(
        "INSERT INTO events (community, title, starts_at, place, theme, created_by, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (community, title, starts_at, place, theme, created_by, at),
    )


async def events_between(db: Reads, community: str, start: int, end: int) -> list[CommunityEvent]:
    """Events starting in [start, end), soonest first."""
    rows = await db.fetch_all(
        f"SELECT {_EVENT} {_EVENTS} AND community = ? AND starts_at >= ? AND starts_at < ? "
        "ORDER BY starts_at, id",
        (community, start, end),
    )
    hiding = await names_hiding(db, community)
    return [hidden(CommunityEvent(*row), hiding, _EVENT_TEXT) for row in rows]


async def event(db: Reads, community: str, event_id: int) -> CommunityEvent | None:
    row = await db.fetch_one(
        f"SELECT {_EVENT} {_EVENTS} AND community = ? AND id = ?", (community, event_id)
    )
    if row is None:
        return None
    return hidden(CommunityEvent(*row), await names_hiding(db, community), _EVENT_TEXT)


async def events_to_remind(
    db: Reads, community: str, now: int, *, ahead: int, column: str
) -> list[CommunityEvent]:
    """Events starting within ``ahead`` seconds from ``now`` whose ``column`` reminder
    ('day_reminded_at' or 'hour_reminded_at') has not gone out."""
    if column not in ("day_reminded_at", "hour_reminded_at"):
        raise ValueError(f"unknown reminder column {column!r}")
    rows = await db.fetch_all(
        f"SELECT {_EVENT} {_EVENTS} AND community = ? AND starts_at > ? AND starts_at <= ? "
        f"AND {column} IS NULL ORDER BY starts_at, id",
        (community, now, now + ahead),
    )
    hiding = await names_hiding(db, community)
    return [hidden(CommunityEvent(*row), hiding, _EVENT_TEXT) for row in rows]


async def mark_event_reminded(tx: Unit, event_id: int, column: str, at: int) -> None:
    if column not in ("day_reminded_at", "hour_reminded_at"):
        raise ValueError(f"unknown reminder column {column!r}")
    await tx.execute(f"UPDATE events SET {column} = ? WHERE id = ?", (at, event_id))


async def remove_event(tx: Unit, community: str, event_id: int) -> bool:
    changed = await tx.execute(
        "DELETE FROM events WHERE community = ? AND id = ?", (community, event_id)
    )
    return changed > 0
