"""Monitoring and evaluation in the store: profiles, shared knowledge, commitments, community
events, anonymous surveys and welcomes.

Every read leaves out bots and opted-out members (as people, authors, owners or the person someone
learned from), what opted-out members shared or announced, and their names in the free text it
returns (``names_hiding``), so no caller can forget to. Times are UTC epoch seconds; commitment due
dates are ISO dates (``YYYY-MM-DD``) in the community's timezone, which compare correctly as text.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

from storage.sqlite import SqliteStore

_NAME = (
    "coalesce(nullif({m}.display_name, ''), substr({m}.member_key, instr({m}.member_key, ':') + 1))"
)
_VISIBLE = "{m}.is_bot = 0 AND {m}.opted_out_at IS NULL"
_Row = TypeVar("_Row")


def _name(alias: str) -> str:
    return _NAME.format(m=alias)


def _visible(alias: str) -> str:
    return _VISIBLE.format(m=alias)


# Profiles: the knowledge map -------------------------------------------------------------------

PROFILE_FIELDS = ("organisation", "expertise", "languages", "prefers")


@dataclass(frozen=True, slots=True)
class Profile:
    member_id: int
    key: str
    name: str
    organisation: str
    expertise: str
    languages: str
    prefers: str
    updated_at: int
    last_posted_at: int | None


_PROFILE = (
    f"p.member_id, m.member_key, {_name('m')}, p.organisation, p.expertise, p.languages, "
    "p.prefers, p.updated_at, m.last_posted_at"
)


async def set_profile(store: SqliteStore, member_id: int, fields: dict[str, str], at: int) -> None:
    """Create or update a member's profile; fields not given keep their value."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    columns = ", ".join(fields)
    marks = ", ".join("?" for _ in fields)
    updates = "".join(f", {name} = excluded.{name}" for name in fields)
    async with store.transaction() as db:
        await db.execute(
            f"INSERT INTO profiles (member_id, updated_at{', ' if fields else ''}{columns}) "
            f"VALUES (?, ?{', ' if fields else ''}{marks}) "
            f"ON CONFLICT (member_id) DO UPDATE SET updated_at = excluded.updated_at{updates}",
            (member_id, at, *fields.values()),
        )


async def profile(store: SqliteStore, member_id: int) -> Profile | None:
    row = await store.fetch_one(
        f"SELECT {_PROFILE}, m.community FROM profiles p JOIN members m ON m.id = p.member_id "
        f"WHERE p.member_id = ? AND {_visible('m')}",
        (member_id,),
    )
    if row is None:
        return None
    hiding = await names_hiding(store, row[-1])
    return hidden(Profile(*row[:-1]), hiding, PROFILE_FIELDS)


async def profiles(store: SqliteStore, community: str) -> list[Profile]:
    """Every visible member's profile, of members still in the community."""
    rows = await store.fetch_all(
        f"SELECT {_PROFILE} FROM profiles p JOIN members m ON m.id = p.member_id "
        f"WHERE m.community = ? AND m.left_at IS NULL AND {_visible('m')} ORDER BY {_name('m')}",
        (community,),
    )
    hiding = await names_hiding(store, community)
    return [hidden(Profile(*row), hiding, PROFILE_FIELDS) for row in rows]


@dataclass(frozen=True, slots=True)
class ThemeActivity:
    member_id: int
    name: str
    theme: str
    messages: int


async def theme_activity(
    store: SqliteStore, community: str, themes: list[str], since: int
) -> list[ThemeActivity]:
    """Visible members' messages in the given themes since ``since``, busiest first."""
    if not themes:
        return []
    marks = ", ".join("?" for _ in themes)
    rows = await store.fetch_all(
        f"SELECT m.id, {_name('m')}, g.theme, count(*) FROM messages g "
        f"JOIN members m ON m.id = g.member_id WHERE g.community = ? AND g.theme IN ({marks}) "
        f"AND g.posted_at >= ? AND g.deleted_at IS NULL AND m.left_at IS NULL AND {_visible('m')} "
        "GROUP BY m.id, g.theme ORDER BY count(*) DESC, m.id",
        (community, *themes, since),
    )
    return [ThemeActivity(*row) for row in rows]


async def active_since(store: SqliteStore, community: str, since: int) -> set[int]:
    """Visible members who posted or reacted since ``since``."""
    rows = await store.fetch_all(
        f"SELECT m.id FROM members m WHERE m.community = :c AND {_visible('m')} AND ("
        "m.last_posted_at >= :s OR EXISTS (SELECT 1 FROM reactions r WHERE r.member_id = m.id "
        "AND r.reacted_at >= :s))",
        {"c": community, "s": since},
    )
    return {row[0] for row in rows}


# Shared knowledge --------------------------------------------------------------------------------

KNOWLEDGE_KINDS = ("lesson", "case", "document", "reference")


@dataclass(frozen=True, slots=True)
class KnowledgeItem:
    id: int
    kind: str | None
    """None while the item waits for its kind (a 💡): then it is in no read but ``knowledge_item``."""
    title: str
    link: str | None
    theme: str | None
    created_at: int
    authors: tuple[tuple[int, str], ...]
    """(member id, name) of the visible authors, in the order they were credited."""
    created_by: int | None = None
    """Who shared it or marked it (filled by ``knowledge_item`` only)."""


async def add_knowledge(
    store: SqliteStore,
    community: str,
    *,
    kind: str | None,
    title: str,
    link: str | None,
    theme: str | None,
    channel_key: str | None,
    source_platform_id: str | None,
    created_by: int | None,
    authors: list[int],
    at: int,
) -> int | None:
    """Record a knowledge item and its authors (``kind`` None: waiting for its kind). None if
    this message was already recorded."""
    async with store.transaction() as db:
        cursor = await db.execute(
            "INSERT OR IGNORE INTO knowledge_items (community, kind, title, link, theme, "
            "channel_key, source_platform_id, created_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (community, kind, title, link, theme, channel_key, source_platform_id, at, created_by),
        )
        if cursor.rowcount == 0:
            return None
        item_id = cursor.lastrowid
        await db.executemany(
            "INSERT OR IGNORE INTO knowledge_authors (item_id, member_id) VALUES (?, ?)",
            [(item_id, author) for author in dict.fromkeys(authors)],
        )
        return item_id


async def knowledge_items(
    store: SqliteStore,
    community: str,
    *,
    theme: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> list[KnowledgeItem]:
    """Knowledge items, newest first, with their visible authors.

    An item is shown only while one of its authors may be named: one whose every author opted
    out is theirs, not the community's, so it is never shown uncredited."""
    p = {"c": community, "t": theme, "s": start, "e": end}
    rows = await store.fetch_all(
        "SELECT id, kind, title, link, theme, created_at FROM knowledge_items "
        "WHERE community = :c AND kind IS NOT NULL AND (:t IS NULL OR theme = :t) "
        "AND (:s IS NULL OR created_at >= :s) "
        "AND (:e IS NULL OR created_at < :e) ORDER BY created_at DESC, id DESC",
        p,
    )
    if not rows:
        return []
    authors: dict[int, list[tuple[int, str]]] = {}
    for item_id, member_id, name in await store.fetch_all(
        f"SELECT a.item_id, m.id, {_name('m')} FROM knowledge_authors a "
        "JOIN knowledge_items k ON k.id = a.item_id JOIN members m ON m.id = a.member_id "
        "WHERE k.community = :c AND k.kind IS NOT NULL AND (:t IS NULL OR k.theme = :t) "
        "AND (:s IS NULL OR k.created_at >= :s) AND (:e IS NULL OR k.created_at < :e) "
        f"AND {_visible('m')} ORDER BY a.item_id, {_name('m')}",
        p,
    ):
        authors.setdefault(item_id, []).append((member_id, name))
    hiding = await names_hiding(store, community)
    return [
        hidden(KnowledgeItem(*row, authors=tuple(authors[row[0]])), hiding, ("title",))
        for row in rows
        if row[0] in authors
    ]


async def knowledge_item(
    store: SqliteStore, community: str, *, item_id: int | None = None, source: str | None = None
) -> KnowledgeItem | None:
    """One item by its id, or the item filed from the message ``source`` (a platform id),
    waiting for its kind or not, with its visible authors; None if there is none, or if every
    author opted out (as ``knowledge_items`` hides it)."""
    row = await store.fetch_one(
        "SELECT id, kind, title, link, theme, created_at, created_by FROM knowledge_items "
        "WHERE community = :c AND (id = :i OR source_platform_id = :s)",
        {"c": community, "i": item_id, "s": source},
    )
    if row is None:
        return None
    authors = await store.fetch_all(
        f"SELECT m.id, {_name('m')} FROM knowledge_authors a JOIN members m ON m.id = a.member_id "
        f"WHERE a.item_id = ? AND {_visible('m')} ORDER BY {_name('m')}",
        (row[0],),
    )
    if not authors:
        return None
    item = KnowledgeItem(*row[:6], authors=tuple((a[0], a[1]) for a in authors), created_by=row[6])
    return hidden(item, await names_hiding(store, community), ("title",))


async def edit_knowledge(
    store: SqliteStore, item_id: int, *, title: str | None, kind: str | None, at: int
) -> None:
    """Change an item's title or kind (None: unchanged). An item waiting for its kind that gets
    one enters the library now: it is counted from ``at``, not from when it was marked."""
    if kind is not None and kind not in KNOWLEDGE_KINDS:
        raise ValueError(f"not a kind of knowledge: {kind!r}")
    async with store.transaction() as db:
        await db.execute(
            "UPDATE knowledge_items SET title = coalesce(:t, title), "
            "created_at = CASE WHEN kind IS NULL AND :k IS NOT NULL THEN :at ELSE created_at END, "
            "kind = coalesce(:k, kind) WHERE id = :i",
            {"t": title, "k": kind, "at": at, "i": item_id},
        )


async def remove_knowledge(store: SqliteStore, item_id: int) -> None:
    async with store.transaction() as db:
        await db.execute("DELETE FROM knowledge_items WHERE id = ?", (item_id,))


async def file_waiting(store: SqliteStore, community: str, marked_before: int, at: int) -> int:
    """Items marked before ``marked_before`` and still waiting for their kind go into the library
    as references. How many were filed."""
    async with store.transaction() as db:
        cursor = await db.execute(
            "UPDATE knowledge_items SET kind = 'reference', created_at = :at "
            "WHERE community = :c AND kind IS NULL AND created_at < :b",
            {"c": community, "b": marked_before, "at": at},
        )
        return cursor.rowcount


@dataclass(frozen=True, slots=True)
class SourceMessage:
    author_id: int
    text: str | None
    theme: str | None
    channel_key: str


async def source_message(
    store: SqliteStore, community: str, platform_id: str
) -> SourceMessage | None:
    """The stored message a 💡 points at, if it exists and its author may be credited."""
    row = await store.fetch_one(
        "SELECT g.member_id, g.text, g.theme, g.channel_key FROM messages g "
        "JOIN members m ON m.id = g.member_id WHERE g.community = ? AND g.platform_id = ? "
        f"AND g.deleted_at IS NULL AND {_visible('m')}",
        (community, platform_id),
    )
    return SourceMessage(*row) if row else None


# Commitments -------------------------------------------------------------------------------------


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
    f"c.id, c.member_id, m.member_key, {_name('m')}, c.what, c.due_date, c.created_at, "
    "c.done_at, c.reminded_at"
)
_COMMITMENTS = f"FROM commitments c JOIN members m ON m.id = c.member_id WHERE {_visible('m')}"


async def add_commitment(
    store: SqliteStore, community: str, member_id: int, what: str, due_date: str, at: int
) -> int:
    async with store.transaction() as db:
        cursor = await db.execute(
            "INSERT INTO commitments (community, member_id, what, due_date, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (community, member_id, what, due_date, at),
        )
        return cursor.lastrowid


async def commitment(store: SqliteStore, community: str, commitment_id: int) -> Commitment | None:
    row = await store.fetch_one(
        f"SELECT {_COMMITMENT} {_COMMITMENTS} AND c.community = ? AND c.id = ?",
        (community, commitment_id),
    )
    return (
        hidden(Commitment(*row), await names_hiding(store, community), ("what",)) if row else None
    )


async def mark_done(store: SqliteStore, commitment_id: int, at: int) -> None:
    async with store.transaction() as db:
        await db.execute(
            "UPDATE commitments SET done_at = ? WHERE id = ? AND done_at IS NULL",
            (at, commitment_id),
        )


async def commitments(
    store: SqliteStore, community: str, *, member_id: int | None = None, open_only: bool = False
) -> list[Commitment]:
    """Commitments, open ones first by due date, then fulfilled ones, most recent first."""
    rows = await store.fetch_all(
        f"SELECT {_COMMITMENT} {_COMMITMENTS} AND c.community = :c "
        "AND (:m IS NULL OR c.member_id = :m) AND (:o = 0 OR c.done_at IS NULL) "
        "ORDER BY c.done_at IS NOT NULL, c.due_date, -coalesce(c.done_at, 0), c.id",
        {"c": community, "m": member_id, "o": int(open_only)},
    )
    hiding = await names_hiding(store, community)
    return [hidden(Commitment(*row), hiding, ("what",)) for row in rows]


async def overdue(store: SqliteStore, community: str, today: str) -> list[Commitment]:
    """Open commitments whose due date is before ``today`` (ISO date in the community's zone)."""
    rows = await store.fetch_all(
        f"SELECT {_COMMITMENT} {_COMMITMENTS} AND c.community = ? AND c.done_at IS NULL "
        "AND c.due_date < ? ORDER BY c.due_date, c.id",
        (community, today),
    )
    hiding = await names_hiding(store, community)
    return [hidden(Commitment(*row), hiding, ("what",)) for row in rows]


async def to_remind(store: SqliteStore, community: str, today: str, by: str) -> list[Commitment]:
    """Open, not yet reminded commitments due from ``today`` to ``by`` (ISO dates), of members
    still in the community."""
    rows = await store.fetch_all(
        f"SELECT {_COMMITMENT} {_COMMITMENTS} AND c.community = ? AND c.done_at IS NULL "
        "AND c.reminded_at IS NULL AND c.due_date >= ? AND c.due_date <= ? AND m.left_at IS NULL "
        "ORDER BY c.due_date, c.id",
        (community, today, by),
    )
    hiding = await names_hiding(store, community)
    return [hidden(Commitment(*row), hiding, ("what",)) for row in rows]


async def mark_reminded(store: SqliteStore, commitment_id: int, at: int) -> None:
    async with store.transaction() as db:
        await db.execute("UPDATE commitments SET reminded_at = ? WHERE id = ?", (at, commitment_id))


@dataclass(frozen=True, slots=True)
class Fulfilment:
    due: int
    """Commitments of visible members due in the period."""
    done: int
    on_time: int
    """Done no later than the end of their due date."""


async def fulfilment(
    store: SqliteStore, community: str, first_day: str, last_day: str, day_end: dict[str, int]
) -> Fulfilment:
    """How many commitments due between two ISO dates (both included) were fulfilled.

    ``day_end`` maps each due date in the range to the epoch second its day ends in the
    community's timezone; dates missing from it count as done on time when done at all.
    """
    rows = await store.fetch_all(
        f"SELECT c.due_date, c.done_at {_COMMITMENTS} AND c.community = ? "
        "AND c.due_date >= ? AND c.due_date <= ?",
        (community, first_day, last_day),
    )
    done = [row for row in rows if row[1] is not None]
    on_time = [row for row in done if row[1] <= day_end.get(row[0], row[1])]
    return Fulfilment(due=len(rows), done=len(done), on_time=len(on_time))


# Community events --------------------------------------------------------------------------------


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
    f"AND NOT ({_visible('m')}))"
)


async def add_event(
    store: SqliteStore,
    community: str,
    *,
    title: str,
    starts_at: int,
    place: str,
    theme: str | None,
    created_by: int | None,
    at: int,
) -> int:
    async with store.transaction() as db:
        cursor = await db.execute(
            "INSERT INTO events (community, title, starts_at, place, theme, created_by, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (community, title, starts_at, place, theme, created_by, at),
        )
        return cursor.lastrowid


async def events_between(
    store: SqliteStore, community: str, start: int, end: int
) -> list[CommunityEvent]:
    """Events starting in [start, end), soonest first."""
    rows = await store.fetch_all(
        f"SELECT {_EVENT} {_EVENTS} AND community = ? AND starts_at >= ? AND starts_at < ? "
        "ORDER BY starts_at, id",
        (community, start, end),
    )
    hiding = await names_hiding(store, community)
    return [hidden(CommunityEvent(*row), hiding, _EVENT_TEXT) for row in rows]


async def event(store: SqliteStore, community: str, event_id: int) -> CommunityEvent | None:
    row = await store.fetch_one(
        f"SELECT {_EVENT} {_EVENTS} AND community = ? AND id = ?", (community, event_id)
    )
    if row is None:
        return None
    return hidden(CommunityEvent(*row), await names_hiding(store, community), _EVENT_TEXT)


async def events_to_remind(
    store: SqliteStore, community: str, now: int, *, ahead: int, column: str
) -> list[CommunityEvent]:
    """Events starting within ``ahead`` seconds from ``now`` whose ``column`` reminder
    ('day_reminded_at' or 'hour_reminded_at') has not gone out."""
    if column not in ("day_reminded_at", "hour_reminded_at"):
        raise ValueError(f"unknown reminder column {column!r}")
    rows = await store.fetch_all(
        f"SELECT {_EVENT} {_EVENTS} AND community = ? AND starts_at > ? AND starts_at <= ? "
        f"AND {column} IS NULL ORDER BY starts_at, id",
        (community, now, now + ahead),
    )
    hiding = await names_hiding(store, community)
    return [hidden(CommunityEvent(*row), hiding, _EVENT_TEXT) for row in rows]


async def mark_event_reminded(store: SqliteStore, event_id: int, column: str, at: int) -> None:
    if column not in ("day_reminded_at", "hour_reminded_at"):
        raise ValueError(f"unknown reminder column {column!r}")
    async with store.transaction() as db:
        await db.execute(f"UPDATE events SET {column} = ? WHERE id = ?", (at, event_id))


async def remove_event(store: SqliteStore, community: str, event_id: int) -> bool:
    async with store.transaction() as db:
        cursor = await db.execute(
            "DELETE FROM events WHERE community = ? AND id = ?", (community, event_id)
        )
        return cursor.rowcount > 0


# Surveys -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Survey:
    id: int
    community: str
    kind: str
    period: str
    asked_at: int


async def open_survey(
    store: SqliteStore, community: str, kind: str, period: str, at: int
) -> Survey | None:
    """Create the survey of ``kind`` for ``period``; None if it was already asked."""
    async with store.transaction() as db:
        cursor = await db.execute(
            "INSERT OR IGNORE INTO surveys (community, kind, period, asked_at) VALUES (?, ?, ?, ?)",
            (community, kind, period, at),
        )
        if cursor.rowcount == 0:
            return None
        return Survey(cursor.lastrowid, community, kind, period, at)


async def members_to_ask(store: SqliteStore, community: str) -> list[tuple[int, str]]:
    """(id, member key) of every visible member still in the community."""
    rows = await store.fetch_all(
        f"SELECT m.id, m.member_key FROM members m WHERE m.community = ? AND m.left_at IS NULL "
        f"AND {_visible('m')} ORDER BY m.id",
        (community,),
    )
    return [(row[0], row[1]) for row in rows]


async def invite(store: SqliteStore, survey_id: int, member_id: int, *, delivered: bool) -> None:
    async with store.transaction() as db:
        await db.execute(
            "INSERT OR IGNORE INTO survey_invitations (survey_id, member_id, delivered) "
            "VALUES (?, ?, ?)",
            (survey_id, member_id, int(delivered)),
        )


async def surveys(store: SqliteStore, community: str, kind: str | None = None) -> list[Survey]:
    rows = await store.fetch_all(
        "SELECT id, community, kind, period, asked_at FROM surveys WHERE community = :c "
        "AND (:k IS NULL OR kind = :k) ORDER BY asked_at, id",
        {"c": community, "k": kind},
    )
    return [Survey(*row) for row in rows]


async def pending_survey(
    store: SqliteStore, community: str, kind: str, member_id: int
) -> Survey | None:
    """The most recent survey of ``kind`` the member was asked and has not answered."""
    row = await store.fetch_one(
        "SELECT s.id, s.community, s.kind, s.period, s.asked_at FROM surveys s "
        "JOIN survey_invitations i "
        "ON i.survey_id = s.id WHERE s.community = ? AND s.kind = ? AND i.member_id = ? "
        "AND i.answered = 0 ORDER BY s.asked_at DESC, s.id DESC LIMIT 1",
        (community, kind, member_id),
    )
    return Survey(*row) if row else None


async def has_answered(store: SqliteStore, survey_id: int, member_id: int) -> bool:
    row = await store.fetch_one(
        "SELECT answered FROM survey_invitations WHERE survey_id = ? AND member_id = ?",
        (survey_id, member_id),
    )
    return bool(row and row[0])


def released(alias: str = "") -> str:
    """SQL: the survey_answers row (of table ``alias``) is released, so it may count in results."""
    return f"{alias + '.' if alias else ''}held = 0"


async def answer(
    store: SqliteStore,
    survey_id: int,
    member_id: int,
    *,
    min_group: int,
    satisfaction: int | None = None,
    ownership: int | None = None,
    learned_from: int | None = None,
    story: str | None = None,
) -> bool:
    """Record one answer, without the member: the invitation is marked answered and the answer
    written with a random key, in one transaction. False if they were not asked or already
    answered (nothing is written then).

    Results move only in steps of ``min_group`` answers: an answer is held until ``min_group``
    answers are held, then they are released together. A result that changed with each answer
    would tell, by difference, what the latest one said (and whom they learned from)."""
    async with store.transaction() as db:
        cursor = await db.execute(
            "UPDATE survey_invitations SET answered = 1 WHERE survey_id = ? AND member_id = ? "
            "AND answered = 0",
            (survey_id, member_id),
        )
        if cursor.rowcount == 0:
            return False
        await db.execute(
            "INSERT INTO survey_answers (id, survey_id, satisfaction, ownership, "
            "learned_from_member_id, story, held) VALUES (?, ?, ?, ?, ?, ?, 1)",
            (
                secrets.token_hex(16),
                survey_id,
                satisfaction,
                ownership,
                learned_from,
                story,
            ),
        )
        async with db.execute(
            "SELECT count(*) FROM survey_answers WHERE survey_id = ? AND held = 1",
            (survey_id,),
        ) as cursor:
            (held,) = await cursor.fetchone()
        if held >= min_group:
            await db.execute(
                "UPDATE survey_answers SET held = 0 WHERE survey_id = ? AND held = 1", (survey_id,)
            )
        return True


@dataclass(frozen=True, slots=True)
class SurveyAnswers:
    survey: Survey
    invited: int
    """Visible members asked."""
    answered: int
    """Visible members who answered (answers of members who opted out since stay anonymous)."""
    satisfaction: tuple[int, ...]
    ownership: tuple[int, ...]
    stories: tuple[str, ...]
    learned_from: dict[int, int]
    """Visible member id -> how many answers said they learned from them."""

    @property
    def answers(self) -> int:
        return max(len(self.satisfaction), len(self.stories))


HIDDEN_NAME = "[…]"
"""What free text shows where it named a member who opted out (or, stored, one who was forgotten)."""


async def names_hiding(store: SqliteStore, community: str) -> re.Pattern[str] | None:
    """A pattern for the names of the community's opted-out members, or None if nobody opted out.

    The one rule for free text others wrote (a story, a kudos reason, a profile, a commitment, a
    prompt, a title): it may name a member who has since opted out, and must not bring them back
    into any output. Opting in again shows the text as written, so it is hidden, not changed.
    """
    rows = await store.fetch_all(
        "SELECT display_name, member_key FROM members WHERE community = ? "
        "AND opted_out_at IS NOT NULL",
        (community,),
    )
    return names_pattern(name for display, key in rows for name in (display, key.split(":", 1)[1]))


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


def hidden(row: _Row, pattern: re.Pattern[str] | None, fields: Iterable[str]) -> _Row:
    """``row`` (a dataclass) with the names ``pattern`` finds hidden in its text ``fields``."""
    if pattern is None:
        return row
    return replace(row, **{name: hide_names(getattr(row, name), pattern) for name in fields})


async def survey_answers(store: SqliteStore, survey: Survey) -> SurveyAnswers:
    """Everything answered to one survey, in an order that says nothing about who answered.

    Stories name no member who opted out (``names_hiding``)."""
    invited, answered = await store.fetch_one(
        "SELECT count(*), coalesce(sum(i.answered), 0) FROM survey_invitations i "
        f"JOIN members m ON m.id = i.member_id WHERE i.survey_id = ? AND {_visible('m')}",
        (survey.id,),
    )
    rows = await store.fetch_all(
        "SELECT satisfaction, ownership, story FROM survey_answers WHERE survey_id = ? "
        f"AND {released()} ORDER BY satisfaction, ownership, story",
        (survey.id,),
    )
    hiding = await names_hiding(store, survey.community)
    learned = await store.fetch_all(
        "SELECT a.learned_from_member_id, count(*) FROM survey_answers a "
        "JOIN members m ON m.id = a.learned_from_member_id WHERE a.survey_id = ? "
        f"AND {released('a')} AND {_visible('m')} GROUP BY a.learned_from_member_id",
        (survey.id,),
    )
    return SurveyAnswers(
        survey=survey,
        invited=invited,
        answered=answered,
        satisfaction=tuple(row[0] for row in rows if row[0] is not None),
        ownership=tuple(row[1] for row in rows if row[1] is not None),
        stories=tuple(sorted(hide_names(row[2], hiding) for row in rows if row[2])),
        learned_from={row[0]: row[1] for row in learned},
    )


# Welcomes ----------------------------------------------------------------------------------------


async def claim_welcome(store: SqliteStore, member_id: int, at: int) -> bool:
    """Claim the welcome of a member; False if they were welcomed before."""
    async with store.transaction() as db:
        cursor = await db.execute(
            "INSERT OR IGNORE INTO welcomes (member_id, sent_at, delivered) VALUES (?, ?, 0)",
            (member_id, at),
        )
        return cursor.rowcount == 1


async def welcome_delivered(store: SqliteStore, member_id: int, *, delivered: bool) -> None:
    async with store.transaction() as db:
        await db.execute(
            "UPDATE welcomes SET delivered = ? WHERE member_id = ?", (int(delivered), member_id)
        )
