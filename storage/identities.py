"""Linked identities: one person's accounts (on Discord, Matrix, or two on one platform) counted
as one person, with the one-time codes and facilitators' proposals that link them.

A member row is a person of its own until linked (``person_id`` NULL); linked rows all carry the
id of one of them, the person's representative (whose own ``person_id`` is its id), so a person is
``coalesce(person_id, id)``. Reads count per person in one of two ways, both written here once:
in SQL, through ``person_of`` or ``accounts_of`` (one join to the members); or, where a figure is
read from the per-member rollups, by folding the per-member figures with ``persons`` (a read of
the linked rows alone, empty while nobody linked) and ``fold``.

Unlinking splits the person again: each account keeps its own history, as it was written by it.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from storage.contract import Reads, Unit
from storage.members import COLUMNS, MemberRow, member_row
from storage.privacy import shown_name, visible
from storage.profiles import PROFILE_FIELDS

LINK_CODE_SECONDS = 600
"""How long a link code may be typed on the other account (ten minutes), once."""

CODE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""Letters of a link code: none that reads as another (0/O, 1/I), so it can be typed from a phone."""
CODE_LENGTH = 8


def person_of(column: str) -> str:
    """SQL: the person (its representative's member id) of the member id in ``column``."""
    return f"coalesce((SELECT pm.person_id FROM members pm WHERE pm.id = {column}), {column})"


def accounts_of(member: str) -> str:
    """SQL: the ids of every account of the person of the member id ``member`` (a column or a
    placeholder), that account included."""
    return (
        "(SELECT pa.id FROM members pa JOIN members pb ON pa.id = coalesce(pb.person_id, pb.id) "
        f"OR (pa.community = pb.community AND pa.person_id = pb.person_id) WHERE pb.id = {member})"
    )


INLINE_PERSONS = 64
"""Up to this many linked accounts, ``person_among`` writes them into the statement."""


def person_among(column: str, persons: Mapping[int, int]) -> str:
    """SQL: the person of the member id in ``column``, for a read of many rows. A community's
    linked accounts (``persons``, see ``persons``) are written into the statement while they
    are few, so that no row looks a member up; the column itself while nobody linked; beyond
    INLINE_PERSONS, looked up per row (``person_of``), as a long CASE is tried branch by branch."""
    if not persons:
        return column
    if len(persons) > INLINE_PERSONS:
        return person_of(column)
    cases = " ".join(f"WHEN {int(member)} THEN {int(person)}" for member, person in persons.items())
    return f"CASE {column} {cases} ELSE {column} END"


async def persons(db: Reads, community: str) -> dict[int, int]:
    """Member id -> person of every linked account of the community (any other member is a
    person of its own)."""
    rows = await db.fetch_all(
        "SELECT id, person_id FROM members WHERE person_id IS NOT NULL AND community = ?",
        (community,),
    )
    return {row[0]: row[1] for row in rows}


T = TypeVar("T")


def fold(
    per_member: Mapping[int, T], persons: Mapping[int, int], add: Callable[[T, T], T]
) -> dict[int, T]:
    """Per-member figures as per-person figures, under each person's representative id."""
    folded: dict[int, T] = {}
    for member_id, value in per_member.items():
        person = persons.get(member_id, member_id)
        folded[person] = add(folded[person], value) if person in folded else value
    return folded


def people(member_ids: Iterable[int], persons: Mapping[int, int]) -> set[int]:
    """The persons among ``member_ids``."""
    return {persons.get(member_id, member_id) for member_id in member_ids}


async def accounts(db: Reads, member_id: int) -> list[MemberRow]:
    """Every account of the member's person, the member's included, oldest first."""
    rows = await db.fetch_all(
        f"SELECT {COLUMNS} FROM members WHERE id IN {accounts_of('?')} ORDER BY id", (member_id,)
    )
    return [member_row(row) for row in rows]


async def most_used(db: Reads, member_ids: Iterable[int]) -> dict[int, int]:
    """Per person among ``member_ids``, the account it wrote the most messages with (the most
    recently active on a tie, then the oldest): where Trellis writes to the person alone."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    marks = ", ".join("?" for _ in ids)
    rows = await db.fetch_all(
        "SELECT m.id, coalesce(m.person_id, m.id), (SELECT count(*) FROM messages g "
        "WHERE g.member_id = m.id AND g.deleted_at IS NULL), coalesce(m.last_posted_at, 0) "
        f"FROM members m WHERE m.id IN ({marks})",
        ids,
    )
    best: dict[int, tuple[int, int, int]] = {}
    for member_id, person, messages, last in rows:
        rank = (messages, last, -member_id)
        if person not in best or rank > best[person]:
            best[person] = rank
    return {person: -rank[2] for person, rank in best.items()}


# Linking ----------------------------------------------------------------------------------------


async def link(tx: Unit, first: MemberRow, second: MemberRow) -> int:
    """Make the two accounts' persons one; the person's id. Every account of the person with
    fewer accounts points at the other person. The most private choice of either holds for all:
    an opt-out, nudges off. The profile is the person's: the representative's, its empty fields
    filled from the other's."""
    ours, theirs = await accounts(tx, first.id), await accounts(tx, second.id)
    if ours[0].person == theirs[0].person:  # linked meanwhile (a code, another proposal)
        return ours[0].person
    larger, smaller = (ours, theirs) if len(ours) >= len(theirs) else (theirs, ours)
    person, other = larger[0].person, smaller[0].person
    ids = [account.id for account in (*larger, *smaller)]
    marks = ", ".join("?" for _ in ids)
    await tx.execute(f"UPDATE members SET person_id = ? WHERE id IN ({marks})", (person, *ids))
    choices = await tx.fetch_one(
        f"SELECT min(opted_out_at), max(nudges_off) FROM members WHERE id IN ({marks})", ids
    )
    assert choices is not None  # an aggregate always gives a row
    await tx.execute(
        f"UPDATE members SET opted_out_at = ?, nudges_off = ? WHERE id IN ({marks})",
        (choices[0], choices[1], *ids),
    )
    await _merge_profiles(tx, into=person, other=other)
    return person


async def _merge_profiles(tx: Unit, *, into: int, other: int) -> None:
    fields = ", ".join(PROFILE_FIELDS)
    found = await tx.fetch_one(
        f"SELECT {fields}, updated_at FROM profiles WHERE member_id = ?", (other,)
    )
    if found is None:
        return
    await tx.execute(
        f"INSERT INTO profiles (member_id, {fields}, updated_at) "
        f"VALUES (?, {', '.join('?' for _ in PROFILE_FIELDS)}, ?) ON CONFLICT (member_id) DO UPDATE SET "
        + ", ".join(
            f"{name} = CASE WHEN profiles.{name} = '' THEN excluded.{name} ELSE profiles.{name} END"
            for name in PROFILE_FIELDS
        ),
        (into, *found),
    )
    await tx.execute("DELETE FROM profiles WHERE member_id = ?", (other,))


async def unlink(tx: Unit, member: MemberRow) -> list[MemberRow]:
    """Make the account a person of its own again; the accounts it was linked with (still one
    person, with a new representative if it was theirs, or each alone if one is left). The
    person's profile stays with the representative's account."""
    others = [account for account in await accounts(tx, member.id) if account.id != member.id]
    await tx.execute("UPDATE members SET person_id = NULL WHERE id = ?", (member.id,))
    if not others:
        return []
    ids = [account.id for account in others]
    marks = ", ".join("?" for _ in ids)
    person = ids[0] if len(ids) > 1 else None
    await tx.execute(f"UPDATE members SET person_id = ? WHERE id IN ({marks})", (person, *ids))
    return others


# Link codes -------------------------------------------------------------------------------------


def new_code() -> str:
    return "".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH))


def normal_code(typed: str) -> str:
    """A code as typed (any case, spaces or dashes between its letters) as it was made."""
    return "".join(ch for ch in typed.upper() if ch not in " -")


def code_hash(code: str) -> str:
    return hashlib.sha256(f"trellis-link\0{normal_code(code)}".encode()).hexdigest()


async def add_code(tx: Unit, member_id: int, code: str, at: int) -> None:
    """Store a new code for the member (only its hash); an older unused code of theirs ends."""
    await tx.execute("DELETE FROM link_codes WHERE member_id = ?", (member_id,))
    await tx.execute(
        "INSERT INTO link_codes (code_hash, member_id, expires_at) VALUES (?, ?, ?)",
        (code_hash(code), member_id, at + LINK_CODE_SECONDS),
    )


class CodeRefusal(enum.Enum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    OTHER_COMMUNITY = "other community"
    SAME_PERSON = "same person"


@dataclass(frozen=True, slots=True)
class FoundCode:
    owner: MemberRow
    expires_at: int
    used_at: int | None


def refusal(found: FoundCode | None, member: MemberRow, at: int) -> CodeRefusal | None:
    """Why ``member`` may not link with the account that made the code, if they may not."""
    if found is None:
        return CodeRefusal.UNKNOWN
    if found.used_at is not None:
        return CodeRefusal.USED
    if found.expires_at <= at:
        return CodeRefusal.EXPIRED
    if found.owner.community != member.community:
        return CodeRefusal.OTHER_COMMUNITY
    if found.owner.person == member.person:
        return CodeRefusal.SAME_PERSON
    return None


async def find_code(db: Reads, code: str) -> FoundCode | None:
    row = await db.fetch_one(
        f"SELECT expires_at, used_at, {COLUMNS} FROM link_codes c "
        "JOIN members ON members.id = c.member_id WHERE c.code_hash = ?",
        (code_hash(code),),
    )
    return FoundCode(member_row(row[2:]), row[0], row[1]) if row else None


async def use_code(tx: Unit, code: str, at: int) -> None:
    await tx.execute("UPDATE link_codes SET used_at = ? WHERE code_hash = ?", (at, code_hash(code)))


# Facilitators' proposals ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Merge:
    id: int
    first_id: int
    second_id: int
    first_confirmed: bool
    second_confirmed: bool


async def propose(tx: Unit, community: str, first: int, second: int, by: int, at: int) -> None:
    """A facilitator's proposal that the two accounts are one person; confirmed by neither yet
    (a proposal made again starts over)."""
    first, second = min(first, second), max(first, second)
    await tx.execute(
        "DELETE FROM pending_merges WHERE first_id = ? AND second_id = ?", (first, second)
    )
    await tx.execute(
        "INSERT INTO pending_merges (community, first_id, second_id, proposed_by, proposed_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (community, first, second, by, at),
    )


async def waiting_merges(db: Reads, member_id: int) -> list[Merge]:
    """The proposals naming the member, oldest first."""
    rows = await db.fetch_all(
        "SELECT id, first_id, second_id, first_confirmed_at IS NOT NULL, "
        "second_confirmed_at IS NOT NULL FROM pending_merges "
        "WHERE first_id = :m OR second_id = :m ORDER BY id",
        {"m": member_id},
    )
    return [Merge(row[0], row[1], row[2], bool(row[3]), bool(row[4])) for row in rows]


async def confirm(tx: Unit, merge: Merge, member_id: int, at: int) -> bool:
    """The member's confirmation of a proposal naming them; True when both accounts have now
    confirmed (the proposal is then done, and gone)."""
    side = "first" if merge.first_id == member_id else "second"
    await tx.execute(
        f"UPDATE pending_merges SET {side}_confirmed_at = ? WHERE id = ?", (at, merge.id)
    )
    both = (merge.first_confirmed or side == "first") and (
        merge.second_confirmed or side == "second"
    )
    if both:
        await tx.execute("DELETE FROM pending_merges WHERE id = ?", (merge.id,))
    return both


# Suggestions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """An account as the suggestions compare it."""

    id: int
    person: int
    key: str
    name: str
    organisation: str
    themes: frozenset[str]


async def candidates(db: Reads, community: str, since: int) -> list[Candidate]:
    """Every visible account still in the community, with its person's profile organisation and
    the themes it wrote in since ``since``."""
    rows = await db.fetch_all(
        f"SELECT m.id, coalesce(m.person_id, m.id), m.member_key, {shown_name('m')}, "
        "coalesce((SELECT p.organisation FROM profiles p "
        "WHERE p.member_id = coalesce(m.person_id, m.id)), '') "
        f"FROM members m WHERE m.community = :c AND m.left_at IS NULL AND {visible('m')} "
        "ORDER BY m.id",
        {"c": community},
    )
    themes: dict[int, set[str]] = {}
    for member_id, theme in await db.fetch_all(
        "SELECT DISTINCT member_id, theme FROM messages WHERE community = :c "
        "AND posted_at >= :s AND theme IS NOT NULL AND deleted_at IS NULL",
        {"c": community, "s": since},
    ):
        themes.setdefault(member_id, set()).add(theme)
    return [
        Candidate(row[0], row[1], row[2], row[3], row[4], frozenset(themes.get(row[0], ())))
        for row in rows
    ]


# Figures per person -----------------------------------------------------------------------------


def _members_named(ids: Sequence[int]) -> tuple[str, dict[str, int]]:
    """A statement's ``IN (…)`` list of ``ids`` as named parameters (``:m0, :m1``) and their
    values: the linked accounts are few, and a list the planner sees lets it use the member
    indexes."""
    return ", ".join(f":m{i}" for i in range(len(ids))), {f"m{i}": v for i, v in enumerate(ids)}


async def active_days(
    db: Reads,
    community: str,
    member_ids: Iterable[int],
    start: int,
    end: int,
    *,
    theme: str | None,
    day_offset: int,
) -> dict[int, int]:
    """Per person among ``member_ids``: the local days of [start, end) on which any of its
    accounts wrote or reacted (a day both accounts were active counts once). For the linked
    accounts alone, whose per-account days cannot simply be added."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    marks, named = _members_named(ids)
    rows = await db.fetch_all(
        "SELECT coalesce(p.person_id, p.id), count(DISTINCT d.day) FROM ("
        "SELECT member_id, (posted_at + :off) / 86400 AS day FROM messages "
        f"WHERE member_id IN ({marks}) AND posted_at >= :s AND posted_at < :e "
        "AND deleted_at IS NULL AND (:t IS NULL OR theme = :t) "
        "UNION ALL SELECT member_id, (reacted_at + :off) / 86400 FROM reactions "
        f"WHERE community = :c AND reacted_at >= :s AND reacted_at < :e AND member_id IN ({marks}) "
        "AND (:t IS NULL OR theme = :t)) AS d JOIN members p ON p.id = d.member_id "
        "GROUP BY coalesce(p.person_id, p.id)",
        {
            "c": community,
            "s": start,
            "e": end,
            "t": theme,
            "off": day_offset,
            **named,
        },
    )
    return {row[0]: row[1] for row in rows}


async def received_from_themselves(
    db: Reads,
    community: str,
    member_ids: Iterable[int],
    start: int,
    end: int,
    *,
    theme: str | None,
) -> dict[int, tuple[int, int]]:
    """Per person among ``member_ids``: the replies and the reactions in [start, end) that one of
    its accounts gave another of its accounts, which the per-account figures count as received
    and a person does not receive from themselves. For the linked accounts alone: their rows are
    found through the member indexes."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    marks, named = _members_named(ids)
    rows = await db.fetch_all(
        "SELECT p.person_id, sum(d.reply), count(*) - sum(d.reply) FROM ("
        "SELECT member_id AS x, reply_to_member_id AS y, 1 AS reply FROM messages "
        f"WHERE member_id IN ({marks}) AND posted_at >= :s AND posted_at < :e "
        f"AND deleted_at IS NULL AND reply_to_member_id IN ({marks}) "
        "AND reply_to_member_id != member_id AND (:t IS NULL OR theme = :t) "
        "UNION ALL SELECT member_id, target_member_id, 0 FROM reactions "
        f"WHERE member_id IN ({marks}) AND community = :c AND reacted_at >= :s AND reacted_at < :e "
        f"AND target_member_id IN ({marks}) AND target_member_id != member_id "
        "AND (:t IS NULL OR theme = :t)) AS d "
        "JOIN members p ON p.id = d.x JOIN members q ON q.id = d.y "
        "WHERE p.person_id = q.person_id GROUP BY p.person_id",
        {
            "c": community,
            "s": start,
            "e": end,
            "t": theme,
            **named,
        },
    )
    return {row[0]: (row[1], row[2]) for row in rows}


async def weeks_of_persons(
    db: Reads, member_ids: Iterable[int], first: int, stop: int
) -> dict[int, dict[int, tuple[int, int, int, int, int]]]:
    """Per person among ``member_ids``, per local week in [first, stop) of the rollups
    (storage/rollups.py), as ``report_reads.MemberWeek`` rows (person, week counted from
    ``first``, messages, reactions given, active days): the days of all its accounts as one (a
    day two accounts were active counts once), read from member_days, of which member_weeks holds
    each account's sums apart. For the linked accounts alone."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    marks, named = _members_named(ids)
    rows = await db.fetch_all(
        "SELECT coalesce(p.person_id, p.id), d.week - :w0, sum(d.messages), sum(d.reactions), "
        "count(DISTINCT d.day) FROM member_days d JOIN members p ON p.id = d.member_id "
        f"WHERE d.member_id IN ({marks}) AND d.week >= :w0 AND d.week < :w1 "
        "GROUP BY coalesce(p.person_id, p.id), d.week",
        {"w0": first, "w1": stop, **named},
    )
    found: dict[int, dict[int, tuple[int, int, int, int, int]]] = {}
    for person, week, messages, reactions, days in rows:
        found.setdefault(person, {})[week] = (person, week, messages, reactions, days)
    return found
