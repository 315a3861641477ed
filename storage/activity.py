"""Reading what happened: participation counts, digest material, credits and questions.

Every query leaves out bots, opted-out members (storage/privacy.py) and deleted messages, so no
caller can forget to. ``activity`` reads whole local days from the rollups (storage/rollups.py,
activity_days), which ``refresh_activity`` brings up to date first.
Periods are [start, end) in UTC epoch seconds; ``day_offset`` (seconds east of UTC) places day
boundaries in the community's timezone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from storage import identities
from storage.contract import Reads, Unit, fetch_aggregate
from storage.privacy import VISIBLE_IDS as _VISIBLE
from storage.rollups import first_response_probes, refresh_rollups, runs

# Replies to a message are found through messages_by_reply, named with INDEXED BY: the time
# index covers reply_to too, and SQLite would otherwise walk all of it per message.
# Every "IN _VISIBLE" on a member column of messages or reactions is written "+column IN" (see
# privacy.VISIBLE_IDS): probing a member index per visible member would be O(members²) for
# replies received.


@dataclass(slots=True)
class Activity:
    messages: int = 0
    replies_given: int = 0
    replies_received: int = 0
    reactions_given: int = 0
    reactions_received: int = 0
    threads_started: int = 0
    active_days: int = 0
    chars: int = 0


def _params(
    community: str, start: int, end: int, theme: str | None, day_offset: int
) -> dict[str, object]:
    return {"c": community, "s": start, "e": end, "t": theme, "off": day_offset}


_THEME = "(:t IS NULL OR theme = :t)"


async def _recorded_days(
    db: Reads, community: str, start: int, end: int, day_offset: int
) -> tuple[str, tuple[int, int]] | None:
    """The timezone the community's rollups are counted in, and the period's whole local days
    in it, when its days are ``day_offset``'s days all through the period; else None."""
    recorded = await db.fetch_one(
        "SELECT timezone FROM rollup_zones WHERE community = ?", (community,)
    )
    if recorded is None or recorded[0] is None:
        return None
    span = whole_days(ZoneInfo(recorded[0]), start, end, day_offset)
    return None if span is None else (recorded[0], span)


async def refresh_activity(
    tx: Unit, community: str, start: int, end: int, *, day_offset: int = 0
) -> None:
    """Bring up to date, for ``activity`` to read, only what changes every row of the rollups
    (who is hidden, a forget-me): no day is recounted here, so the write lock that storing chat
    waits for is held briefly. The days ingest changed are counted from the chat tables by
    ``activity`` until the hourly recount catches them up."""
    recorded = await _recorded_days(tx, community, start, end, day_offset)
    if recorded is not None:
        await refresh_rollups(tx, community, recorded[0], within=_NO_DAY)


async def activity(
    db: Reads,
    community: str,
    start: int,
    end: int,
    *,
    theme: str | None = None,
    day_offset: int = 0,
) -> dict[int, Activity]:
    """Per visible person (storage.identities): what they did in the period (in one theme, or
    everywhere); what one of a person's accounts gave another (a reply, a reaction) is not
    received.

    The whole local days of the period are read from activity_days, but for the days ingest
    changed since their last recount: those, like the part-days at the period's edges, are
    counted from the chat tables. So ``stats`` recounts nothing under the write lock, which
    storing chat waits for (``refresh_activity`` before it only applies who is hidden); the
    hourly recount catches those days up. That needs the community's days (its recorded
    timezone) to be ``day_offset``'s days all through the period, for active days to be the same
    days; otherwise, and for a period of no whole day, all of it is counted from the chat
    tables."""
    per_member = await _per_member(db, community, start, end, theme, day_offset)
    linked = await identities.persons(db, community)
    if not linked:
        return per_member
    per_person = identities.fold(per_member, linked, _sum)
    together = [member_id for member_id in per_member if member_id in linked]
    days = await identities.active_days(
        db, community, together, start, end, theme=theme, day_offset=day_offset
    )
    for person, active in days.items():
        per_person[person].active_days = active
    own = await identities.received_from_themselves(
        db, community, together, start, end, theme=theme
    )
    for person, (replies, reactions) in own.items():
        per_person[person].replies_received -= replies
        per_person[person].reactions_received -= reactions
    return per_person


async def _per_member(
    db: Reads, community: str, start: int, end: int, theme: str | None, day_offset: int
) -> dict[int, Activity]:
    """activity() per member id, each account apart."""
    recorded = await _recorded_days(db, community, start, end, day_offset)
    if recorded is None:
        return await _counted(db, community, start, end, theme, day_offset)
    first, last = recorded[1]
    changed = [
        day
        for (day,) in await db.fetch_all(
            "SELECT day FROM rollup_changed_days WHERE community = ? AND day BETWEEN ? AND ?",
            (community, first, last),
        )
    ]
    skipped = ", ".join(f":x{i}" for i in range(len(changed)))
    result: dict[int, Activity] = defaultdict(Activity)
    for member_id, *counts in await db.fetch_all(
        "SELECT member_id, sum(messages), sum(replies_given), sum(replies_received), "
        "sum(reactions_given), sum(reactions_received), sum(threads_started), "
        "sum(CAST(messages + reactions_given > 0 AS INTEGER)), sum(chars) FROM activity_days "
        f"WHERE theme = :t AND member_id IN {_VISIBLE} AND day BETWEEN :d0 AND :d1 "
        + (f"AND day NOT IN ({skipped}) " if changed else "")
        + "GROUP BY member_id",
        {
            "c": community,
            "d0": first,
            "d1": last,
            "t": "*" if theme is None else theme,
            **{f"x{i}": day for i, day in enumerate(changed)},
        },
    ):
        result[member_id] = Activity(*counts)
    # The edges lie in the days before and after the whole ones, the changed days between them:
    # their active days add up.
    whole_start, whole_end = first * 86400 - day_offset, (last + 1) * 86400 - day_offset
    counted = [(start, whole_start), (whole_end, end)]
    counted += [
        (d0 * 86400 - day_offset, (d1 + 1) * 86400 - day_offset) for d0, d1 in runs(sorted(changed))
    ]
    for part_start, part_end in counted:
        if part_start < part_end:
            part = await _counted(db, community, part_start, part_end, theme, day_offset)
            for member_id, done in part.items():
                _add(result[member_id], done)
    return dict(result)


_NO_DAY = (1, 0)
"""A span of no day, for ``refresh_rollups`` to recount none."""


def whole_days(zone: ZoneInfo, start: int, end: int, day_offset: int) -> tuple[int, int] | None:
    """The first and last whole local day of [start, end) when ``zone`` is ``day_offset`` east of
    UTC all through it (its days are then day_offset's days); None otherwise or if there is none."""
    first = -((start + day_offset) // -86400)
    last = (end + day_offset) // 86400 - 1
    if first > last:
        return None
    moments = [start, end - 1, *(day * 86400 - day_offset for day in range(first, last + 2))]
    for moment in moments:
        offset = datetime.fromtimestamp(moment, UTC).astimezone(zone).utcoffset()
        if offset is None or int(offset.total_seconds()) != day_offset:
            return None
    return first, last


def _add(into: Activity, more: Activity) -> None:
    for name in Activity.__slots__:
        setattr(into, name, getattr(into, name) + getattr(more, name))


def _sum(one: Activity, other: Activity) -> Activity:
    both = Activity()
    _add(both, one)
    _add(both, other)
    return both


async def _counted(
    db: Reads, community: str, start: int, end: int, theme: str | None, day_offset: int
) -> dict[int, Activity]:
    """activity() counted from the chat tables."""
    p = _params(community, start, end, theme, day_offset)
    result: dict[int, Activity] = defaultdict(Activity)
    for member_id, messages, replies, chars in await db.fetch_all(
        "SELECT member_id, count(*), count(reply_to), sum(chars) FROM messages "
        f"WHERE community = :c AND posted_at >= :s AND posted_at < :e AND deleted_at IS NULL "
        f"AND {_THEME} AND +member_id IN {_VISIBLE} GROUP BY member_id",
        p,
    ):
        entry = result[member_id]
        entry.messages, entry.replies_given, entry.chars = messages, replies, chars
    for member_id, count in await db.fetch_all(
        "SELECT reply_to_member_id, count(*) FROM messages WHERE community = :c "
        "AND posted_at >= :s AND posted_at < :e AND deleted_at IS NULL AND reply_to_member_id "
        f"!= member_id AND {_THEME} AND +reply_to_member_id IN {_VISIBLE} "
        f"AND +member_id IN {_VISIBLE} GROUP BY reply_to_member_id",
        p,
    ):
        result[member_id].replies_received = count
    for member_id, count in await db.fetch_all(
        "SELECT member_id, count(*) FROM reactions WHERE community = :c AND reacted_at >= :s "
        f"AND reacted_at < :e AND {_THEME} AND +member_id IN {_VISIBLE} GROUP BY member_id",
        p,
    ):
        result[member_id].reactions_given = count
    for member_id, count in await db.fetch_all(
        "SELECT target_member_id, count(*) FROM reactions WHERE community = :c "
        "AND reacted_at >= :s AND reacted_at < :e AND target_member_id != member_id "
        f"AND {_THEME} AND +target_member_id IN {_VISIBLE} AND +member_id IN {_VISIBLE} "
        "GROUP BY target_member_id",
        p,
    ):
        result[member_id].reactions_received = count
    for member_id, count in await db.fetch_all(
        "SELECT opener_member_id, count(*) FROM threads WHERE community = :c AND opened_at >= :s "
        f"AND opened_at < :e AND {_THEME} AND +opener_member_id IN {_VISIBLE} "
        "GROUP BY opener_member_id",
        p,
    ):
        result[member_id].threads_started = count
    for member_id, days in await db.fetch_all(
        "SELECT member_id, count(DISTINCT day) FROM ("
        "SELECT member_id, (posted_at + :off) / 86400 AS day FROM messages WHERE community = :c "
        f"AND posted_at >= :s AND posted_at < :e AND deleted_at IS NULL AND {_THEME} "
        "UNION ALL SELECT member_id, (reacted_at + :off) / 86400 FROM reactions WHERE community = :c "
        f"AND reacted_at >= :s AND reacted_at < :e AND {_THEME}) "
        f"WHERE member_id IN {_VISIBLE} GROUP BY member_id",
        p,
    ):
        result[member_id].active_days = days
    return dict(result)


async def theme_last_activity(db: Reads, community: str) -> dict[str, int]:
    """Theme -> when its last message not deleted was posted, for the themes that have one.

    Off the index of themes (messages_by_theme): each theme found after the one before it, then
    the last entry of its range, a few probes per theme where grouping every message took a pass
    over the table."""
    rows = await db.fetch_all(
        "WITH RECURSIVE spoken (theme) AS (SELECT min(theme) FROM messages INDEXED BY "
        "messages_by_theme WHERE community = :c "
        "AND theme IS NOT NULL AND deleted_at IS NULL "
        "UNION ALL SELECT (SELECT min(m.theme) FROM messages m INDEXED BY messages_by_theme "
        "WHERE m.community = :c "
        "AND m.theme > s.theme AND m.theme IS NOT NULL AND m.deleted_at IS NULL) "
        "FROM spoken s WHERE s.theme IS NOT NULL) "
        "SELECT s.theme, (SELECT max(m.posted_at) FROM messages m INDEXED BY messages_by_theme "
        "WHERE m.community = :c "
        "AND m.theme = s.theme AND m.theme IS NOT NULL AND m.deleted_at IS NULL) "
        "FROM spoken s WHERE s.theme IS NOT NULL",
        {"c": community},
    )
    return {row[0]: row[1] for row in rows}


@dataclass(frozen=True, slots=True)
class ThreadSummary:
    title: str
    theme: str | None
    messages: int
    participants: int


async def busiest_threads(
    db: Reads, community: str, start: int, end: int, limit: int
) -> list[ThreadSummary]:
    """The ``limit`` threads with the most messages in the period, busiest first; between two as
    busy, the one begun first, then by key, so that a shorter list is the start of a longer one."""
    rows = await db.fetch_all(
        # A title is its opener's words: not shown once they opted out.
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM members o WHERE o.id = t.opener_member_id "
        "AND o.opted_out_at IS NOT NULL) THEN '' ELSE coalesce(t.title, '') END, "
        "b.theme, b.messages, b.people FROM (SELECT m.thread_key, min(m.theme) AS theme, "
        f"count(*) AS messages, count(DISTINCT {identities.person_of('m.member_id')}) AS people, "
        "min(m.posted_at) AS first FROM messages m WHERE m.community = :c "
        "AND m.posted_at >= :s AND m.posted_at < :e AND m.deleted_at IS NULL "
        f"AND m.thread_key IS NOT NULL AND +m.member_id IN {_VISIBLE} GROUP BY m.thread_key "
        "ORDER BY count(*) DESC, min(m.posted_at), m.thread_key LIMIT :limit) AS b "
        "LEFT JOIN threads t ON t.community = :c AND t.thread_key = b.thread_key "
        "ORDER BY b.messages DESC, b.first, b.thread_key",
        {"c": community, "s": start, "e": end, "limit": limit},
    )
    return [ThreadSummary(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class Excerpt:
    member_id: int
    theme: str | None
    text: str
    reactions: int
    posted_at: int
    channel_key: str


async def highlights(
    db: Reads, community: str, start: int, end: int, per_theme: int
) -> list[Excerpt]:
    """The most reacted-to and replied-to messages of the period whose text is still kept, at
    most ``per_theme`` in each theme. SQLite ranks and picks them: a busy week's messages are
    scored without Python's lock, and only the chosen few become Python objects, so a digest
    preview leaves the event loop to the answers of short commands."""
    rows = await db.fetch_all(
        "SELECT member_id, theme, text, score, posted_at, channel_key FROM ("
        "SELECT *, row_number() OVER (PARTITION BY theme ORDER BY score DESC, posted_at) AS place "
        "FROM (SELECT m.member_id, m.theme, m.text, "
        "(SELECT count(*) FROM reactions r WHERE r.community = m.community "
        "AND r.message_platform_id = m.platform_id) + "
        "(SELECT count(*) FROM messages x INDEXED BY messages_by_reply "
        "WHERE x.community = m.community "
        "AND x.reply_to = m.platform_id AND x.deleted_at IS NULL) AS score, m.posted_at, "
        "m.channel_key "
        "FROM messages m WHERE m.community = :c AND m.posted_at >= :s AND m.posted_at < :e "
        "AND m.text IS NOT NULL AND m.deleted_at IS NULL AND m.chars >= 20 "
        f"AND +m.member_id IN {_VISIBLE} AND NOT EXISTS (SELECT 1 FROM mentions mn "
        "JOIN members mm ON mm.id = mn.member_id WHERE mn.message_id = m.id "
        "AND mm.opted_out_at IS NOT NULL)) WHERE score > 0) WHERE place <= :n "
        "ORDER BY score DESC, posted_at",
        {"c": community, "s": start, "e": end, "n": per_theme},
    )
    return [Excerpt(*row) for row in rows]


class Credit(NamedTuple):
    """A tuple, as a busy week's digest reads tens of thousands of them on the event loop: a
    frozen dataclass took four times as long to make (30 ms of the loop at a million messages)."""

    kind: str
    receiver_id: int
    giver_id: int | None
    asker_id: int | None
    theme: str | None
    reason: str
    credited_at: int


_RECEIVER = identities.person_of("receiver_id")
_GIVER = identities.person_of("giver_id")


async def credits(db: Reads, community: str, start: int, end: int) -> list[Credit]:
    """Credits of the period whose receiver may be named (givers are hidden later if opted out),
    between persons: receiver and giver are persons, and one's accounts never credit each other."""
    rows = await db.fetch_tuples(
        f"SELECT kind, {_RECEIVER}, {_GIVER}, asker_id, theme, reason, credited_at FROM credits "
        "WHERE community = :c AND credited_at >= :s AND credited_at < :e "
        f"AND +receiver_id IN {_VISIBLE} AND (giver_id IS NULL OR {_GIVER} != {_RECEIVER}) "
        "ORDER BY credited_at, id",
        {"c": community, "s": start, "e": end},
    )
    return list(map(Credit._make, rows))


async def add_credit(
    tx: Unit,
    community: str,
    *,
    kind: str,
    receiver_id: int,
    giver_id: int,
    theme: str | None,
    reason: str,
    source: str,
    at: int,
) -> None:
    await tx.execute(
        "INSERT INTO credits (community, kind, receiver_id, giver_id, theme, reason, "
        "source_platform_id, credited_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (community, kind, receiver_id, giver_id, theme, reason, source, at),
    )


@dataclass(frozen=True, slots=True)
class Question:
    member_id: int
    theme: str | None
    text: str | None
    posted_at: int
    channel_key: str


SOLVED_REACTION = "✅"
"""The asker's reaction that says their question is answered."""


def _persons(x: str, compare: str, y: str, persons: Mapping[int, int]) -> str:
    """SQL: the persons (storage.identities) of the member ids in columns ``x`` and ``y``
    compared (``=``, ``!=``). The community's few linked accounts are written into the
    statement, so that a question's probes look no member up; while nobody linked, it is the
    plain comparison of the ids."""
    return f"{identities.person_among(x, persons)} {compare} {identities.person_among(y, persons)}"


def _waiting(persons: Mapping[int, int]) -> str:
    """A question nobody answered yet: no reply to it and no later post in its thread by
    another person (a post of one of the asker's own linked accounts is no answer), no ✅ from
    its asker (from any of their accounts), not marked solved. Each question costs three index
    probes (a reply: messages_by_reply; a later post in its thread: messages_by_thread; the
    asker's ✅: the reactions' unique key), never a pass over the messages: the ways of being
    answered are separate NOT EXISTS, as one OR between them would be tested against every
    message of the community."""
    return (
        "q.community = :c AND q.is_question = 1 AND q.deleted_at IS NULL AND q.solved_at IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM messages a INDEXED BY messages_by_reply "
        "WHERE a.community = q.community AND a.reply_to = q.platform_id "
        f"AND {_persons('a.member_id', '!=', 'q.member_id', persons)} "
        "AND a.deleted_at IS NULL) "
        "AND (q.thread_key IS NULL OR NOT EXISTS (SELECT 1 FROM messages a "
        "WHERE a.community = q.community AND a.thread_key = q.thread_key "
        f"AND a.posted_at >= q.posted_at AND {_persons('a.member_id', '!=', 'q.member_id', persons)} "
        "AND a.deleted_at IS NULL)) "
        "AND NOT EXISTS (SELECT 1 FROM reactions r WHERE r.community = q.community "
        f"AND r.message_platform_id = q.platform_id AND {_persons('r.member_id', '=', 'q.member_id', persons)} "
        f"AND r.emoji = '{SOLVED_REACTION}') "
    )


@dataclass(frozen=True, slots=True)
class Waiting:
    """The questions of a period still waiting for an answer: how many, and the newest few."""

    count: int
    newest: list[Question]
    """The newest first."""


async def unanswered_questions(
    db: Reads, community: str, start: int, end: int, listed: int
) -> Waiting:
    """Questions of the period still waiting for an answer: all of them counted, the newest
    ``listed`` read (a busy fortnight has thousands; a digest lists a few)."""
    persons = await identities.persons(db, community)
    rows = await db.fetch_tuples(
        "SELECT q.member_id, q.theme, q.text, q.posted_at, q.channel_key, count(*) OVER () "
        f"FROM messages q WHERE {_waiting(persons)} AND q.posted_at >= :s AND q.posted_at < :e "
        f"AND +q.member_id IN {_VISIBLE} ORDER BY q.posted_at DESC, q.id DESC LIMIT :n",
        {"c": community, "s": start, "e": end, "n": listed},
    )
    return Waiting(rows[0][5] if rows else 0, [Question(*row[:5]) for row in rows])


async def mark_solved(
    tx: Unit,
    community: str,
    asker_id: int,
    channel_key: str,
    thread_key: str | None,
    since: int,
    at: int,
) -> Question | None:
    """Mark the newest question ``asker_id`` asked since ``since`` in this channel (or thread)
    that still waits as solved; None when there is none."""
    persons = await identities.persons(tx, community)
    row = await tx.fetch_one(
        "SELECT q.id, q.member_id, q.theme, q.text, q.posted_at, q.channel_key "
        f"FROM messages q INDEXED BY messages_by_member WHERE q.member_id = :m "
        f"AND q.posted_at >= :s AND q.channel_key = :k AND q.thread_key IS :t AND {_waiting(persons)}"
        "ORDER BY q.posted_at DESC LIMIT 1",
        {"c": community, "m": asker_id, "s": since, "k": channel_key, "t": thread_key},
    )
    if row is None:
        return None
    await tx.execute("UPDATE messages SET solved_at = ? WHERE id = ?", (at, row[0]))
    return Question(*row[1:])


class QuestionResponses(NamedTuple):
    """One theme's questions of a period and their first responses."""

    asked: int
    answered: int
    median: float | None
    """The median seconds to the first response of those answered (between the middle two when
    they are an even number); None when none was answered."""


async def question_first_responses(
    db: Reads, community: str, start: int, end: int, *, kept: bool = False
) -> dict[str, QuestionResponses]:
    """Per theme, the questions asked in it in the period: how many, how many had a first
    response (a reply, or a later post in its thread, by another person), and the median time to
    it. The questions come from their own index (messages_questions); with ``kept`` (the report,
    right after recounting the rollups) their first responses are those the recount kept there
    (storage.rollups), else two index probes per question find them, as in
    ``unanswered_questions``. The questions are counted and their median found in SQL: a year
    holds tens of thousands of questions, and sending each one's time to Python to sort it there
    cost more than ranking them where they are (on PostgreSQL, 50 ms of a year's report at a
    million messages)."""
    persons = await identities.persons(db, community)
    questions = (
        "FROM messages q WHERE q.community = :c AND q.posted_at >= :s AND q.posted_at < :e "
        "AND q.is_question = 1 AND q.deleted_at IS NULL AND q.theme IS NOT NULL "
        f"AND +q.member_id IN {_VISIBLE}"
    )
    if kept and not persons:
        answered = (
            "answered AS MATERIALIZED (SELECT q.theme AS theme, CASE WHEN q.first_response_at "
            f"< q.posted_at THEN 0 ELSE q.first_response_at - q.posted_at END AS after {questions})"
        )
    else:
        reply, thread = first_response_probes(_persons("a.member_id", "!=", "q.member_id", persons))
        if kept:
            # Kept per account: a question of a linked account is probed afresh, as a post of
            # the asker's other accounts is no answer.
            linked = ", ".join(str(int(member)) for member in persons)
            reply = f"CASE WHEN q.member_id IN ({linked}) THEN {reply} ELSE q.first_response_at END"
            thread = f"CASE WHEN q.member_id IN ({linked}) THEN {thread} END"
        answered = (
            f"probed AS MATERIALIZED (SELECT q.theme AS theme, q.posted_at AS asked, {reply} AS r, "
            f"{thread} AS t {questions}), "
            "answered AS MATERIALIZED (SELECT theme, "
            "CASE WHEN first < asked THEN 0 ELSE first - asked END AS after FROM ("
            "SELECT theme, asked, CASE WHEN t IS NULL OR r < t THEN r ELSE t END AS first "
            "FROM probed) AS firsts)"
        )
    rows = await db.fetch_all(
        f"WITH {answered}, "
        # The answered times of each theme in order, and how many: its median is the middle one,
        # or the mean of the middle two.
        "ranked AS (SELECT theme, after, row_number() OVER (PARTITION BY theme ORDER BY after) "
        "AS n, count(*) OVER (PARTITION BY theme) AS k FROM answered WHERE after IS NOT NULL) "
        "SELECT counted.theme, counted.asked, counted.answered, middle.median FROM ("
        "SELECT theme, count(*) AS asked, count(after) AS answered FROM answered GROUP BY theme"
        ") AS counted LEFT JOIN (SELECT theme, avg(after) AS median FROM ranked "
        "WHERE n IN ((k + 1) / 2, (k + 2) / 2) GROUP BY theme) AS middle "
        "ON middle.theme = counted.theme",
        {"c": community, "s": start, "e": end},
    )
    return {
        theme: QuestionResponses(asked, answered, None if median is None else float(median))
        for theme, asked, answered, median in rows
    }


async def prompt_first_response(
    db: Reads, community: str, platform_id: str, thread_key: str, posted_at: int
) -> int | None:
    """Seconds from a posted prompt (Trellis's message ``platform_id``) to its first response: a
    reply to it, or a post in the thread opened on it (``thread_key``); None if it has none. Any
    later post in the theme is not an answer to the prompt."""
    row = await fetch_aggregate(
        db,
        "SELECT (SELECT min(a.posted_at) FROM messages a INDEXED BY messages_by_reply "
        "WHERE a.community = :c AND a.reply_to = :p AND a.deleted_at IS NULL), "
        "(SELECT min(a.posted_at) FROM messages a WHERE a.community = :c AND a.thread_key = :t "
        "AND a.deleted_at IS NULL)",
        {"c": community, "p": platform_id, "t": thread_key},
    )
    return _first_after(posted_at, row[0], row[1])


def _first_after(at: int, *responses: int | None) -> int | None:
    answered = [response for response in responses if response is not None]
    return max(0, min(answered) - at) if answered else None


async def joined_between(db: Reads, community: str, start: int, end: int) -> list[int]:
    """The visible members who joined in the period, once per person (storage.identities): a
    person's account that joined after another of theirs is not a new member."""
    rows = await db.fetch_all(
        f"SELECT id FROM members WHERE id IN {_VISIBLE} AND joined_at >= :s AND joined_at < :e "
        "AND left_at IS NULL AND NOT EXISTS (SELECT 1 FROM members o "
        "WHERE o.community = members.community AND o.person_id = members.person_id "
        "AND o.id != members.id "
        "AND (coalesce(o.joined_at, o.first_seen_at) < members.joined_at "
        "OR (coalesce(o.joined_at, o.first_seen_at) = members.joined_at AND o.id < members.id))) "
        "ORDER BY joined_at",
        {"c": community, "s": start, "e": end},
    )
    return [row[0] for row in rows]


@dataclass(frozen=True, slots=True)
class Totals:
    messages: int = 0
    active_members: int = 0
    replies: int = 0
    reactions: int = 0
    threads: int = 0
    new_members: int = 0
    by_theme: dict[str, int] = field(default_factory=dict)


async def totals(db: Reads, community: str, start: int, end: int) -> Totals:
    """The period in numbers: one pass over its messages, one over its reactions."""
    p = {"c": community, "s": start, "e": end}
    messages = replies = 0
    by_theme: dict[str, int] = defaultdict(int)
    active: set[int] = set()
    for member_id, theme, count, replied in await db.fetch_all(
        "SELECT member_id, theme, count(*), count(reply_to) FROM messages WHERE community = :c "
        "AND posted_at >= :s AND posted_at < :e AND deleted_at IS NULL "
        f"AND +member_id IN {_VISIBLE} GROUP BY member_id, theme",
        p,
    ):
        messages, replies = messages + count, replies + replied
        active.add(member_id)
        if theme is not None:
            by_theme[theme] += count
    reactions = 0
    for member_id, count in await db.fetch_all(
        "SELECT member_id, count(*) FROM reactions WHERE community = :c AND reacted_at >= :s "
        f"AND reacted_at < :e AND +member_id IN {_VISIBLE} GROUP BY member_id",
        p,
    ):
        reactions += count
        active.add(member_id)
    threads = await fetch_aggregate(
        db,
        "SELECT count(*) FROM threads WHERE community = :c AND opened_at >= :s "
        f"AND opened_at < :e AND +opener_member_id IN {_VISIBLE}",
        p,
    )
    return Totals(
        messages=messages,
        active_members=len(identities.people(active, await identities.persons(db, community))),
        replies=replies,
        reactions=reactions,
        threads=threads[0],
        new_members=len(await joined_between(db, community, start, end)),
        by_theme=dict(by_theme),
    )


@dataclass(frozen=True, slots=True)
class ThemePeople:
    posted: int
    """Members who wrote in the theme in the period."""
    only_reacted: int
    """Members who reacted there and wrote nothing."""


async def people_by_theme(
    db: Reads, community: str, start: int, end: int
) -> dict[str, ThemePeople]:
    """Per theme, how many visible persons wrote in the period and how many more only reacted,
    counted for every theme in one statement."""
    rows = await db.fetch_all(
        "SELECT theme, count(DISTINCT CASE WHEN wrote = 1 THEN who END), count(DISTINCT who) FROM ("
        f"SELECT theme, {identities.person_of('member_id')} AS who, 1 AS wrote FROM messages "
        "WHERE community = :c "
        "AND posted_at >= :s AND posted_at < :e AND deleted_at IS NULL AND theme IS NOT NULL "
        f"AND +member_id IN {_VISIBLE} "
        f"UNION ALL SELECT theme, {identities.person_of('member_id')}, 0 FROM reactions "
        "WHERE community = :c "
        "AND reacted_at >= :s AND reacted_at < :e AND theme IS NOT NULL "
        f"AND +member_id IN {_VISIBLE}) GROUP BY theme",
        {"c": community, "s": start, "e": end},
    )
    return {row[0]: ThemePeople(row[1], row[2] - row[1]) for row in rows}


async def themes_of_member(db: Reads, member_id: int) -> list[str]:
    """The themes a member took part in, most active first."""
    rows = await db.fetch_all(
        "SELECT theme FROM messages WHERE member_id = ? AND theme IS NOT NULL "
        "AND deleted_at IS NULL GROUP BY theme ORDER BY count(*) DESC",
        (member_id,),
    )
    return [row[0] for row in rows]


async def purge_text(tx: Unit, before: int) -> int:
    """Forget message text older than ``before``; counts and links stay. Returns how many."""
    return await tx.execute(
        "UPDATE messages SET text = NULL WHERE posted_at < ? AND text IS NOT NULL", (before,)
    )


async def message_count(db: Reads, community: str) -> int:
    row = await fetch_aggregate(
        db, "SELECT count(*) FROM messages WHERE community = ?", (community,)
    )
    return int(row[0])
