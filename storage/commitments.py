"""Commitments members make, their due dates (ISO dates in the community's timezone, which compare
correctly as text) and reminders."""

from __future__ import annotations

from dataclasses import dataclass

from storage.contract import Reads, Unit
from storage.identities import accounts_of
from storage.privacy import hidden, names_hiding, shown_name, visible


@dataclass(frozen=True, slots=True)
class Commitment:
    id: int
    member_id: int
    key: str
    name: str
    what: str
    due_date: str
    created_at: int
    done_at: int | None
    reminded_at: int | None


_COMMITMENT = (
    f"c.id, c.member_id, m.member_key, {shown_name('m')}, c.what, c.due_date, c.created_at, "
    "c.done_at, c.reminded_at"
)
_COMMITMENTS = f"FROM commitments c JOIN members m ON m.id = c.member_id WHERE {visible('m')}"


async def add_commitment(
    tx: Unit, community: str, member_id: int, what: str, due_date: str, at: int
) -> int:
    return await tx.insert(
        "INSERT INTO commitments (community, member_id, what, due_date, created_at) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id",
        (community, member_id, what, due_date, at),
    )


async def commitment(db: Reads, community: str, commitment_id: int) -> Commitment | None:
    row = await db.fetch_one(
        f"SELECT {_COMMITMENT} {_COMMITMENTS} AND c.community = ? AND c.id = ?",
        (community, commitment_id),
    )
    return hidden(Commitment(*row), await names_hiding(db, community), ("what",)) if row else None


async def mark_done(tx: Unit, commitment_id: int, at: int) -> None:
    await tx.execute(
        "UPDATE commitments SET done_at = ? WHERE id = ? AND done_at IS NULL",
        (at, commitment_id),
    )


async def commitments(
    db: Reads, community: str, *, member_id: int | None = None, open_only: bool = False
) -> list[Commitment]:
    """Commitments (of ``member_id``'s person: every linked account's), open ones first by due
    date, then fulfilled ones, most recent first."""
    rows = await db.fetch_all(
        f"SELECT {_COMMITMENT} {_COMMITMENTS} AND c.community = :c "
        f"AND (:m IS NULL OR c.member_id IN {accounts_of(':m')}) AND (:o = 0 OR c.done_at IS NULL) "
        "ORDER BY c.done_at IS NOT NULL, c.due_date, -coalesce(c.done_at, 0), c.id",
        {"c": community, "m": member_id, "o": int(open_only)},
    )
    hiding = await names_hiding(db, community)
    return [hidden(Commitment(*row), hiding, ("what",)) for row in rows]


async def overdue(db: Reads, community: str, today: str) -> list[Commitment]:
    """Open commitments whose due date is before ``today`` (ISO date in the community's zone)."""
    rows = await db.fetch_all(
        f"SELECT {_COMMITMENT} {_COMMITMENTS} AND c.community = ? AND c.done_at IS NULL "
        "AND c.due_date < ? ORDER BY c.due_date, c.id",
        (community, today),
    )
    hiding = await names_hiding(db, community)
    return [hidden(Commitment(*row), hiding, ("what",)) for row in rows]


async def to_remind(db: Reads, community: str, today: str, by: str) -> list[Commitment]:
    """Open, not yet reminded commitments due from ``today`` to ``by`` (ISO dates), of members
    still in the community."""
    rows = await db.fetch_all(
        f"SELECT {_COMMITMENT} {_COMMITMENTS} AND c.community = ? AND c.done_at IS NULL "
        "AND c.reminded_at IS NULL AND c.due_date >= ? AND c.due_date <= ? AND m.left_at IS NULL "
        "ORDER BY c.due_date, c.id",
        (community, today, by),
    )
    hiding = await names_hiding(db, community)
    return [hidden(Commitment(*row), hiding, ("what",)) for row in rows]


async def mark_reminded(tx: Unit, commitment_id: int, at: int) -> None:
    await tx.execute("UPDATE commitments SET reminded_at = ? WHERE id = ?", (at, commitment_id))


@dataclass(frozen=True, slots=True)
class Fulfilment:
    due: int
    """Commitments of visible members due in the period."""
    done: int
    on_time: int
    """Done no later than the end of their due date."""


async def fulfilment(
    db: Reads, community: str, first_day: str, last_day: str, day_end: dict[str, int]
) -> Fulfilment:
    """How many commitments due between two ISO dates (both included) were fulfilled.

    ``day_end`` maps each due date in the range to the epoch second its day ends in the
    community's timezone; dates missing from it count as done on time when done at all.
    """
    rows = await db.fetch_all(
        f"SELECT c.due_date, c.done_at {_COMMITMENTS} AND c.community = ? "
        "AND c.due_date >= ? AND c.due_date <= ?",
        (community, first_day, last_day),
    )
    done = [row for row in rows if row[1] is not None]
    on_time = [row for row in done if row[1] <= day_end.get(row[0], row[1])]
    return Fulfilment(due=len(rows), done=len(done), on_time=len(on_time))
