"""The rollups of the M&E report and of ``stats`` (migrations 003, 004, 010 and 013): counted when
read, from the days that changed.

Ingest writes the chat tables and notes, per community, the local days whose counts it changed
(``Changes``); it counts nothing else. ``refresh_rollups`` recounts those days from the chat
tables with set-based statements, and writes only the rows that differ. It runs every hour (a job
of the report feature) and before every report, so a report has at most an hour's chat left to
count. There is one definition of every rollup row (the recount), the hot path stays as light as
the chat tables allow, and a day's counts are written once per recount rather than once per
event.

Everything is recounted the first time, when the community's timezone changes, after a
forget-me (it deletes, by cascade, the reactions others gave the forgotten member and their place
in threads, which can make a crowded thread small again). When the set of hidden members (bots,
opted out) changes, only activity_days changes: it leaves them out of everyone's counts, as
``stats`` does (the report's rollups count them and hide them when read). It is corrected, not
recounted: the rows of the members whose visibility changed, and the replies and reactions they
gave to others, found through their own index entries, so an opt-out at a million messages holds
the write lock for milliseconds rather than the seconds of a recount of every day.

Who posted in which thread (thread_members) is kept at ingest: it is what tells which days a
thread's ties fall on, and a thread can span months.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from storage.contract import Reads, Unit
from storage.sqlite import sqlite_connection

MONDAY = 4
"""Day 4 since 1970-01-01 (a Thursday) is the first Monday: local weeks are (day - 4) // 7."""

MAX_THREAD_PARTICIPANTS = 12
"""Sharing a thread ties its participants only up to this size: in a crowd, being in the same
thread says little about a relationship, and the pairs would grow with the square of the crowd."""

MAX_RUNS = 16
"""Changed days are recounted run by run (consecutive days together); past this many runs, one
span from the first to the last is recounted instead, which costs less than many small passes."""

EPOCH_DAY = date(1970, 1, 1).toordinal()
_EVERYTHING = (-(2**62), 2**62)


def week_of(day: int) -> int:
    return (day - MONDAY) // 7


class LocalDays:
    """Local day numbers (days since 1970-01-01 in ``zone``) of UTC epoch seconds.

    Offsets are looked up once per quarter hour, the finest step at which any timezone changes.
    """

    def __init__(self, zone: ZoneInfo | None) -> None:
        self._zone = zone
        self._offsets: dict[int, int] = {}
        self._last = self._last_offset = 0

    def __call__(self, at: int) -> int:
        if self._zone is None:
            return at // 86400
        quarter = at // 900
        if quarter == self._last:
            return (at + self._last_offset) // 86400
        offset = self._offsets.get(quarter)
        if offset is None:
            moment = datetime.fromtimestamp(quarter * 900, UTC).astimezone(self._zone)
            shift = moment.utcoffset()
            assert shift is not None  # an aware datetime in a ZoneInfo
            offset = self._offsets[quarter] = int(shift.total_seconds())
        self._last, self._last_offset = quarter, offset
        return (at + offset) // 86400


def _midnight(day: int, zone: ZoneInfo) -> int:
    """Epoch seconds of the local midnight that starts ``day`` (the first moment of a day whose
    midnight a clock change skips)."""
    local = datetime.combine(date.fromordinal(day + EPOCH_DAY), time(), tzinfo=zone)
    return int(local.timestamp())


async def zones(db: Reads) -> dict[str, ZoneInfo]:
    """The timezone each community's rollups are counted in (communities not recorded: UTC)."""
    rows = await db.fetch_all(
        "SELECT community, timezone FROM rollup_zones WHERE timezone IS NOT NULL"
    )
    return {community: ZoneInfo(zone) for community, zone in rows}


class Changes:
    """What one ingest batch changed that the rollups count: local days, and threads' members."""

    def __init__(self, zones: dict[str, ZoneInfo]) -> None:
        self._zones = zones
        self._local: dict[str, LocalDays] = {}
        self.days: set[tuple[str, int]] = set()
        # (community, thread key, member) -> [first posted, messages] of new posts
        self.threads: dict[tuple[str, str, int], list[int]] = {}
        self.threads_recount: set[tuple[str, str, int]] = set()

    def day(self, community: str, at: int) -> int:
        days = self._local.get(community)
        if days is None:
            days = self._local[community] = LocalDays(self._zones.get(community))
        return days(at)

    def touch(self, community: str, at: int) -> None:
        """The counts of the local day holding ``at`` changed."""
        self.days.add((community, self.day(community, at)))

    def posted(self, community: str, member_id: int, at: int, thread_key: str | None) -> None:
        """A new message (not a replay: it would count in its thread twice)."""
        self.touch(community, at)
        if thread_key is not None:
            thread = self.threads.setdefault((community, thread_key, member_id), [at, 0])
            thread[0] = min(thread[0], at)
            thread[1] += 1

    def unposted(self, community: str, member_id: int, at: int, thread_key: str | None) -> None:
        """A message about to be marked deleted."""
        self.touch(community, at)
        if thread_key is not None:
            self.threads_recount.add((community, thread_key, member_id))

    async def write(self, tx: Unit) -> None:
        await self._write_threads(tx)
        if self.days:
            await tx.execute_many(
                "INSERT OR IGNORE INTO rollup_changed_days (community, day) VALUES (?, ?)",
                sorted(self.days),
            )

    async def _participants(
        self, db: Reads, threads: set[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[int, int]]:
        """(community, thread key) -> {member: first posted} as stored, for the given threads."""
        found: dict[tuple[str, str], dict[int, int]] = {key: {} for key in threads}
        by_community: dict[str, list[str]] = defaultdict(list)
        for community, thread_key in threads:
            by_community[community].append(thread_key)
        for community, keys in by_community.items():
            for thread_key, member_id, first in await db.fetch_all(
                "SELECT thread_key, member_id, first_at FROM thread_members WHERE community = ? "
                "AND thread_key IN (SELECT value FROM json_each(?))",
                (community, json.dumps(keys)),
            ):
                found[(community, thread_key)][member_id] = first
        return found

    def _touch_ties(self, community: str, participants: dict[int, int]) -> None:
        """The days a thread's ties fall on, if it is small enough to make any: each pair is tied
        on the day the later of the two first posted, so every participant's first day but the
        earliest one's."""
        if 2 <= len(participants) <= MAX_THREAD_PARTICIPANTS:
            for first in sorted(participants.values())[1:]:
                self.touch(community, first)

    async def _write_threads(self, db: Unit) -> None:
        """Write thread participants; a thread whose participants changed changes its ties' days."""
        touched = {(c, t) for c, t, _ in self.threads} | {
            (c, t) for c, t, _ in self.threads_recount
        }
        if not touched:
            return
        before = await self._participants(db, touched)
        after = {key: dict(people) for key, people in before.items()}
        for (community, thread_key, member_id), (first, _) in self.threads.items():
            people = after[(community, thread_key)]
            people[member_id] = min(first, people.get(member_id, first))
        if self.threads:
            await db.execute_many(
                "INSERT INTO thread_members (community, thread_key, member_id, first_at, messages) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (community, thread_key, member_id) "
                "DO UPDATE SET first_at = min(thread_members.first_at, excluded.first_at), "
                "messages = thread_members.messages + excluded.messages",
                [(*key, first, count) for key, (first, count) in self.threads.items()],
            )
        # A deleted message may have been someone's first in its thread, or their only one.
        for community, thread_key, member_id in self.threads_recount:
            params = (community, thread_key, member_id)
            await db.execute(
                "DELETE FROM thread_members WHERE community = ? AND thread_key = ? AND member_id = ?",
                params,
            )
            await db.execute(
                "INSERT INTO thread_members (community, thread_key, member_id, first_at, messages) "
                "SELECT ?1, ?2, ?3, min(posted_at), count(*) FROM messages WHERE member_id = ?3 "
                "AND community = ?1 AND thread_key = ?2 AND deleted_at IS NULL HAVING count(*) > 0",
                params,
            )
        if self.threads_recount:
            after.update(await self._participants(db, {(c, t) for c, t, _ in self.threads_recount}))
        for key, people in after.items():
            if people != before[key]:
                self._touch_ties(key[0], before[key])
                self._touch_ties(key[0], people)


async def refresh_rollups(
    tx: Unit,
    community: str,
    timezone: str,
    *,
    within: tuple[int, int] | None = None,
) -> bool:
    """Bring ``community``'s rollups up to date in local days of ``timezone``, before reading them.

    Runs inside the caller's transaction. Recounts the days ingest noted as changed (only those
    ``within`` the first and last local day given, if given: the others stay noted); returns
    whether everything had to be recounted instead (the first time, a new timezone, a forget-me).
    Written for SQLite (the recount registers a day function on its connection).
    """
    db = tx
    zone = ZoneInfo(timezone)
    digest = await _forgotten_digest(db, community)
    hidden = await _hidden(db, community)
    recorded = await db.fetch_one(
        "SELECT timezone, forgotten, hidden FROM rollup_zones WHERE community = ?", (community,)
    )
    if recorded is None or tuple(recorded[:2]) != (timezone, digest):
        await _recount(db, community, zone, None)
        await db.execute(
            "INSERT INTO rollup_zones (community, timezone, forgotten, hidden) "
            "VALUES (:c, :z, :d, :h) "
            "ON CONFLICT (community) DO UPDATE SET timezone = :z, forgotten = :d, hidden = :h",
            {"c": community, "z": timezone, "d": digest, "h": json.dumps(hidden)},
        )
        await db.execute("DELETE FROM rollup_changed_days WHERE community = ?", (community,))
        return True
    counted_hidden = _recorded_hidden(recorded[2])
    if counted_hidden != hidden:
        if counted_hidden is None:
            await _recount_hidden(db, community, zone)
        else:
            await _rehide(db, community, zone, set(counted_hidden), set(hidden))
        await db.execute(
            "UPDATE rollup_zones SET hidden = ? WHERE community = ?",
            (json.dumps(hidden), community),
        )
    first, last = within or _EVERYTHING
    span = {"c": community, "d0": first, "d1": last}
    rows = await db.fetch_all(
        "SELECT day FROM rollup_changed_days WHERE community = :c AND day BETWEEN :d0 AND :d1 "
        "ORDER BY day",
        span,
    )
    days = [day for (day,) in rows]
    found = runs(days)
    if len(found) > MAX_RUNS:
        found = [(found[0][0], found[-1][1])]
    for run in found:
        await _recount(db, community, zone, run)
    await db.execute(
        "DELETE FROM rollup_changed_days WHERE community = :c AND day BETWEEN :d0 AND :d1", span
    )
    return False


async def _day_function(tx: Unit, zone: ZoneInfo) -> None:
    """``trellis_day(epoch seconds)``, the local day in ``zone``, for this transaction's
    statements: a Python function on SQLite's connection; on PostgreSQL a function of the
    database (storage.postgresql) that reads the zone set here."""
    if tx.dialect == "sqlite":
        await sqlite_connection(tx).create_function(
            "trellis_day", 1, LocalDays(zone), deterministic=True
        )
    else:
        await tx.execute("SELECT set_config('trellis.zone', ?, true)", (zone.key,))


def runs(days: list[int]) -> list[tuple[int, int]]:
    """Sorted days as (first, last) runs of consecutive days."""
    found: list[tuple[int, int]] = []
    for day in days:
        if found and day == found[-1][1] + 1:
            found[-1] = (found[-1][0], day)
        else:
            found.append((day, day))
    return found


async def _forgotten_digest(db: Reads, community: str) -> str:
    row = await db.fetch_one(
        "SELECT group_concat(key_hash, '') FROM (SELECT key_hash FROM forgotten_members "
        "WHERE community = ? ORDER BY key_hash) AS f",
        (community,),
    )
    joined = (row[0] if row else None) or ""
    return hashlib.sha256(joined.encode()).hexdigest()


async def _hidden(db: Reads, community: str) -> list[int]:
    """Who activity_days leaves out (bots, opted out), by member id in order."""
    rows = await db.fetch_all(
        "SELECT id FROM members WHERE community = ? AND (is_bot != 0 OR opted_out_at IS NOT NULL) "
        "ORDER BY id",
        (community,),
    )
    return [member_id for (member_id,) in rows]


def _recorded_hidden(recorded: str) -> list[int] | None:
    """The hidden members activity_days was counted without, as rollup_zones records them; None
    when it does not say who (a community never counted since migration 010 recorded '', and
    until this version a digest): then activity_days is recounted everywhere once."""
    try:
        found = json.loads(recorded)
    except ValueError:
        return None
    return found if isinstance(found, list) else None


# Each rollup is counted into a temporary table of the same shape, then only the differences are
# written: rows no longer counted deleted, new or changed ones upserted. A day's rows lie all over
# the pair-ordered tie_days, so rewriting the day would dirty nearly every page of it; rows that
# did not change are left alone.
_COUNTED = (
    "CREATE TEMP TABLE IF NOT EXISTS counted_member_days (member_id INTEGER, week INTEGER, "
    "day INTEGER, messages INTEGER, replies INTEGER, reactions INTEGER, "
    "PRIMARY KEY (member_id, week, day)) WITHOUT ROWID",
    "CREATE TEMP TABLE IF NOT EXISTS counted_theme_days (theme TEXT, member_id INTEGER, "
    "day INTEGER, messages INTEGER, PRIMARY KEY (theme, member_id, day)) WITHOUT ROWID",
    "CREATE TEMP TABLE IF NOT EXISTS counted_tie_days (a INTEGER, b INTEGER, day INTEGER, "
    "weight INTEGER, PRIMARY KEY (a, b, day)) WITHOUT ROWID",
    "CREATE TEMP TABLE IF NOT EXISTS counted_activity_days (theme TEXT, member_id INTEGER, "
    "day INTEGER, messages INTEGER, replies_given INTEGER, chars INTEGER, "
    "replies_received INTEGER, reactions_given INTEGER, reactions_received INTEGER, "
    "threads_started INTEGER, PRIMARY KEY (theme, member_id, day)) WITHOUT ROWID",
)
_ACTIVITY_COUNTS = (
    "messages",
    "replies_given",
    "chars",
    "replies_received",
    "reactions_given",
    "reactions_received",
    "threads_started",
)


def first_response_probes(another: str) -> tuple[str, str]:
    """SQL for a question ``q``'s first response: the first reply to it, and the first later post
    in its thread (NULL outside a thread), by another member as ``another`` tells (SQL comparing
    ``a.member_id`` with ``q.member_id``), not deleted. One index probe each (messages_by_reply,
    messages_by_thread)."""
    return (
        "(SELECT min(a.posted_at) FROM messages a INDEXED BY messages_by_reply "
        f"WHERE a.community = q.community AND a.reply_to = q.platform_id AND {another} "
        "AND a.deleted_at IS NULL)",
        "CASE WHEN q.thread_key IS NOT NULL THEN (SELECT min(a.posted_at) FROM messages a "
        "WHERE a.community = q.community AND a.thread_key = q.thread_key "
        f"AND a.posted_at >= q.posted_at AND {another} AND a.deleted_at IS NULL) END",
    )


async def _recount_first_responses(db: Unit, p: dict[str, Any], *, everything: bool) -> None:
    """Each question's first response (``messages.first_response_at``, migration 015), kept for
    the report (storage.activity.question_first_responses): of the questions asked in the days
    recounted, and of those that a post of these days (deleted since, or not) replied to or
    followed in their thread. Another member is another account here; the report probes the
    questions of linked accounts afresh, as one person's accounts do not answer each other."""
    if everything:
        questions = "SELECT id FROM messages WHERE community = :c AND is_question = 1"
    else:
        posted = "a.community = :c AND a.posted_at >= :t0 AND a.posted_at < :t1"
        questions = (
            "SELECT id FROM messages WHERE community = :c AND posted_at >= :t0 "
            "AND posted_at < :t1 AND is_question = 1 "
            "UNION SELECT q.id FROM messages a JOIN messages q ON q.community = a.community "
            f"AND q.platform_id = a.reply_to WHERE {posted} AND a.reply_to IS NOT NULL "
            "AND q.is_question = 1 "
            "UNION SELECT q.id FROM messages a JOIN messages q ON q.community = a.community "
            f"AND q.thread_key = a.thread_key WHERE {posted} AND a.thread_key IS NOT NULL "
            "AND q.posted_at <= a.posted_at AND q.is_question = 1"
        )
    reply, thread = first_response_probes("a.member_id != q.member_id")
    await db.execute(
        f"WITH probed AS MATERIALIZED (SELECT q.id AS id, {reply} AS r, {thread} AS t "
        f"FROM messages q WHERE q.id IN ({questions})) "
        "UPDATE messages SET first_response_at = CASE WHEN probed.t IS NULL "
        "OR probed.r < probed.t THEN probed.r ELSE probed.t END FROM probed "
        "WHERE messages.id = probed.id",
        p,
    )


async def _recount(db: Unit, community: str, zone: ZoneInfo, days: tuple[int, int] | None) -> None:
    """Count ``community``'s rollups afresh from the chat tables, for the local days ``days``
    (first, last) or for every day (None, when thread participants are recounted too)."""
    await _day_function(db, zone)
    members = "(SELECT id FROM members WHERE community = :c)"
    if days is None:
        (d0, d1), (t0, t1) = _EVERYTHING, _EVERYTHING
    else:
        d0, d1 = days
        t0, t1 = _midnight(d0, zone), _midnight(d1 + 1, zone)
    p = {
        "c": community,
        "most": MAX_THREAD_PARTICIPANTS,
        "d0": d0,
        "d1": d1,
        "w0": week_of(d0),
        "w1": week_of(d1),
        "t0": t0,
        "t1": t1,
    }
    if days is None:
        await db.execute("DELETE FROM thread_members WHERE community = :c", p)
        await db.execute(
            "INSERT INTO thread_members (community, thread_key, member_id, first_at, messages) "
            "SELECT community, thread_key, member_id, min(posted_at), count(*) FROM messages "
            "WHERE community = :c AND thread_key IS NOT NULL AND deleted_at IS NULL GROUP BY 1, 2, 3",
            p,
        )
    for statement in _COUNTED:
        await db.execute(statement)
    posted = "community = :c AND posted_at >= :t0 AND posted_at < :t1"
    reacted = "community = :c AND reacted_at >= :t0 AND reacted_at < :t1"
    await db.execute(
        "INSERT INTO temp.counted_member_days "
        "SELECT member_id, (d - 4) / 7, d, sum(n), sum(r), sum(x) FROM ("
        "SELECT member_id, trellis_day(posted_at) AS d, 1 AS n, CAST(reply_to IS NOT NULL AS INTEGER) AS r, "
        f"0 AS x FROM messages WHERE {posted} AND deleted_at IS NULL "
        f"UNION ALL SELECT member_id, trellis_day(reacted_at), 0, 0, 1 FROM reactions "
        f"WHERE {reacted}) GROUP BY member_id, d",
        p,
    )
    await db.execute(
        "INSERT INTO temp.counted_theme_days "
        "SELECT theme, member_id, trellis_day(posted_at) AS d, count(*) FROM messages "
        f"WHERE {posted} AND deleted_at IS NULL AND theme IS NOT NULL AND theme != '' "
        "GROUP BY theme, member_id, d",
        p,
    )
    # A thread's pair is tied on the day the later of the two first posted: only threads with
    # someone's first post in these days can have a pair here.
    await db.execute(
        "INSERT INTO temp.counted_tie_days "
        "SELECT min(x, y), max(x, y), trellis_day(t) AS d, count(*) FROM ("
        "SELECT member_id AS x, reply_to_member_id AS y, posted_at AS t FROM messages "
        f"WHERE {posted} AND deleted_at IS NULL AND reply_to_member_id != member_id "
        "UNION ALL SELECT m.member_id, n.member_id, m.posted_at FROM messages m "
        "JOIN mentions n ON n.message_id = m.id "
        f"WHERE m.{posted} AND m.deleted_at IS NULL AND n.member_id != m.member_id "
        "UNION ALL SELECT member_id, target_member_id, reacted_at FROM reactions "
        f"WHERE {reacted} AND target_member_id != member_id "
        "UNION ALL SELECT x.member_id, y.member_id, max(x.first_at, y.first_at) AS t "
        "FROM thread_members x JOIN thread_members y ON y.community = x.community "
        "AND y.thread_key = x.thread_key AND y.member_id > x.member_id "
        "WHERE x.community = :c AND max(x.first_at, y.first_at) >= :t0 "
        "AND max(x.first_at, y.first_at) < :t1 AND x.thread_key IN ("
        "SELECT thread_key FROM (SELECT DISTINCT thread_key FROM thread_members "
        "WHERE community = :c AND first_at >= :t0 AND first_at < :t1) s "
        "WHERE (SELECT count(*) FROM thread_members z WHERE z.community = :c "
        "AND z.thread_key = s.thread_key) BETWEEN 2 AND :most)"
        ") GROUP BY 1, 2, 3",
        p,
    )
    await db.execute(
        f"DELETE FROM member_days WHERE member_id IN {members} AND week BETWEEN :w0 AND :w1 "
        "AND day BETWEEN :d0 AND :d1 AND NOT EXISTS (SELECT 1 FROM temp.counted_member_days c "
        "WHERE c.member_id = member_days.member_id AND c.week = member_days.week "
        "AND c.day = member_days.day)",
        p,
    )
    await db.execute(
        "INSERT INTO member_days (member_id, week, day, messages, replies, reactions) "
        "SELECT * FROM temp.counted_member_days WHERE true "
        "ON CONFLICT (member_id, week, day) DO UPDATE SET messages = excluded.messages, "
        "replies = excluded.replies, reactions = excluded.reactions "
        "WHERE member_days.messages != excluded.messages "
        "OR member_days.replies != excluded.replies "
        "OR member_days.reactions != excluded.reactions"
    )
    # The weeks of these days, counted again from member_days whole (their other days included).
    await db.execute(
        f"DELETE FROM member_weeks WHERE member_id IN {members} AND week BETWEEN :w0 AND :w1", p
    )
    await db.execute(
        "INSERT INTO member_weeks (member_id, week, messages, reactions, days) "
        "SELECT member_id, week, sum(messages), sum(reactions), count(*) FROM member_days "
        f"WHERE member_id IN {members} AND week BETWEEN :w0 AND :w1 GROUP BY member_id, week",
        p,
    )
    # The unary + on the member columns makes SQLite find the days' rows by their day (index).
    await db.execute(
        f"DELETE FROM theme_days WHERE day BETWEEN :d0 AND :d1 AND +member_id IN {members} "
        "AND NOT EXISTS (SELECT 1 FROM temp.counted_theme_days c WHERE c.theme = "
        "theme_days.theme AND c.member_id = theme_days.member_id AND c.day = theme_days.day)",
        p,
    )
    await db.execute(
        "INSERT INTO theme_days (theme, member_id, day, messages) "
        "SELECT * FROM temp.counted_theme_days WHERE true "
        "ON CONFLICT (theme, member_id, day) DO UPDATE SET messages = excluded.messages "
        "WHERE theme_days.messages != excluded.messages"
    )
    await db.execute(
        f"DELETE FROM tie_days WHERE day BETWEEN :d0 AND :d1 AND +a IN {members} "
        "AND NOT EXISTS (SELECT 1 FROM temp.counted_tie_days c WHERE c.a = tie_days.a "
        "AND c.b = tie_days.b AND c.day = tie_days.day)",
        p,
    )
    await db.execute(
        "INSERT INTO tie_days (a, b, day, weight) SELECT * FROM temp.counted_tie_days WHERE true "
        "ON CONFLICT (a, b, day) DO UPDATE SET weight = excluded.weight "
        "WHERE tie_days.weight != excluded.weight"
    )
    await _recount_first_responses(db, p, everything=days is None)
    await _recount_activity(db, p)
    for table in ("member_days", "theme_days", "tie_days", "activity_days"):
        await db.execute(f"DELETE FROM temp.counted_{table}")


async def _recount_hidden(db: Unit, community: str, zone: ZoneInfo) -> None:
    """activity_days of every day afresh, when who is hidden changed and rollup_zones does not say
    who was hidden before (``_recorded_hidden``): only activity_days leaves hidden members out,
    the report's rollups stay."""
    await _day_function(db, zone)
    for statement in _COUNTED:
        await db.execute(statement)
    first, last = _EVERYTHING
    await _recount_activity(db, {"c": community, "d0": first, "d1": last, "t0": first, "t1": last})
    await db.execute("DELETE FROM temp.counted_activity_days")


async def _rehide(
    db: Unit, community: str, zone: ZoneInfo, before: set[int], now: set[int]
) -> None:
    """Correct activity_days for a new set of hidden members (``before`` -> ``now``).

    The rows of members newly hidden go; members visible again get their rows counted as
    ``_recount_activity`` counts them. Everyone else's replies and reactions received change by
    what the members who changed gave them: added for those visible again, taken away for those
    newly hidden. Those are found through the changed members' own index entries, so an opt-out
    costs what that member wrote, not what the community wrote. Days that ingest noted as changed
    are recounted whole when next read, whatever this leaves on them.
    """
    await _day_function(db, zone)
    for statement in _COUNTED:
        await db.execute(statement)
    p = {
        "c": community,
        "gone": json.dumps(sorted(now - before)),
        "back": json.dumps(sorted(before - now)),
        "changed": json.dumps(sorted(before ^ now)),
    }
    await db.execute(
        "DELETE FROM activity_days WHERE member_id IN "
        "(SELECT CAST(value AS INTEGER) FROM json_each(:gone))",
        p,
    )
    # Members visible before and now: only their received counts change.
    staying = (
        "(SELECT id FROM members WHERE community = :c AND is_bot = 0 AND opted_out_at IS NULL "
        "AND id NOT IN (SELECT CAST(value AS INTEGER) FROM json_each(:back)))"
    )
    # Each changed member with the sign of what they gave: +1 visible again, -1 hidden now.
    await db.execute(
        "WITH changed (id, sign) AS (SELECT CAST(value AS INTEGER), CASE WHEN value IN "
        "(SELECT value FROM json_each(:back)) THEN 1 ELSE -1 END FROM json_each(:changed)) "
        "INSERT INTO temp.counted_activity_days SELECT th, who, trellis_day(t) AS d, 0, 0, 0, "
        "sum(rr), 0, sum(gr), 0 FROM ("
        "SELECT m.posted_at AS t, m.reply_to_member_id AS who, coalesce(m.theme, '') AS th, "
        "x.sign AS rr, 0 AS gr FROM changed x JOIN messages m INDEXED BY messages_by_member "
        "ON m.member_id = x.id "
        "WHERE m.community = :c AND m.deleted_at IS NULL AND m.reply_to_member_id != m.member_id "
        f"AND m.reply_to_member_id IN {staying} "
        "UNION ALL SELECT r.reacted_at, r.target_member_id, coalesce(r.theme, ''), 0, x.sign "
        "FROM changed x JOIN reactions r INDEXED BY reactions_by_member ON r.member_id = x.id "
        "WHERE r.community = :c "
        f"AND r.target_member_id != r.member_id AND r.target_member_id IN {staying}"
        ") GROUP BY 1, 2, 3",
        p,
    )
    if before - now:
        first, last = _EVERYTHING
        await _count_activity(db, {**p, "t0": first, "t1": last}, only=":back")
    await _add_all_themes(db)
    counts = ", ".join(_ACTIVITY_COUNTS)
    await db.execute(
        f"INSERT INTO activity_days (theme, member_id, day, {counts}) "
        "SELECT * FROM temp.counted_activity_days WHERE true "
        "ON CONFLICT (theme, member_id, day) DO UPDATE SET "
        + ", ".join(f"{name} = activity_days.{name} + excluded.{name}" for name in _ACTIVITY_COUNTS)
    )
    # A row whose every count is now 0 is one a recount would not have.
    await db.execute(
        "DELETE FROM activity_days WHERE (theme, member_id, day) IN "
        "(SELECT theme, member_id, day FROM temp.counted_activity_days) AND "
        + " AND ".join(f"{name} = 0" for name in _ACTIVITY_COUNTS)
    )
    await db.execute("DELETE FROM temp.counted_activity_days")


async def _recount_activity(db: Unit, p: dict[str, object]) -> None:
    """activity_days of the days in ``p`` afresh."""
    await _count_activity(db, p)
    await _add_all_themes(db)
    members = "(SELECT id FROM members WHERE community = :c)"
    await db.execute(
        f"DELETE FROM activity_days WHERE day BETWEEN :d0 AND :d1 AND +member_id IN {members} "
        "AND NOT EXISTS (SELECT 1 FROM temp.counted_activity_days c WHERE c.theme = "
        "activity_days.theme AND c.member_id = activity_days.member_id "
        "AND c.day = activity_days.day)",
        p,
    )
    changed = " OR ".join(f"activity_days.{name} != excluded.{name}" for name in _ACTIVITY_COUNTS)
    await db.execute(
        f"INSERT INTO activity_days (theme, member_id, day, {', '.join(_ACTIVITY_COUNTS)}) "
        "SELECT * FROM temp.counted_activity_days WHERE true "
        "ON CONFLICT (theme, member_id, day) DO UPDATE SET "
        + ", ".join(f"{name} = excluded.{name}" for name in _ACTIVITY_COUNTS)
        + f" WHERE {changed}"
    )


async def _count_activity(db: Unit, p: dict[str, object], only: str | None = None) -> None:
    """Count into temp.counted_activity_days the activity of the times in ``p``, with
    storage.activity.activity()'s definitions: each source row counts for one member (the
    author, the one replied to, the reactor, the one reacted to, the opener), visible members
    only on both sides; with ``only`` (a parameter holding a JSON list of member ids), for
    those members alone."""
    visible = (
        "(SELECT id FROM members WHERE community = :c AND is_bot = 0 AND opted_out_at IS NULL)"
    )
    posted = "community = :c AND posted_at >= :t0 AND posted_at < :t1 AND deleted_at IS NULL"
    reacted = "community = :c AND reacted_at >= :t0 AND reacted_at < :t1"

    def who(column: str) -> str:
        return (
            f" AND {column} IN (SELECT CAST(value AS INTEGER) FROM json_each({only}))"
            if only
            else ""
        )

    # A few members' own messages and reactions are found by member, not over all time.
    messages_by_member = " INDEXED BY messages_by_member" if only else ""
    reactions_by_member = " INDEXED BY reactions_by_member" if only else ""

    await db.execute(
        "INSERT INTO temp.counted_activity_days SELECT th, who, trellis_day(t) AS d, sum(n), "
        "sum(r), sum(ch), sum(rr), sum(g), sum(gr), sum(ts) FROM ("
        "SELECT posted_at AS t, member_id AS who, coalesce(theme, '') AS th, 1 AS n, "
        "CAST(reply_to IS NOT NULL AS INTEGER) AS r, chars AS ch, 0 AS rr, 0 AS g, 0 AS gr, 0 AS ts "
        f"FROM messages{messages_by_member} WHERE {posted} AND +member_id IN {visible}"
        f"{who('member_id')} "
        "UNION ALL SELECT posted_at, reply_to_member_id, coalesce(theme, ''), 0, 0, 0, 1, 0, 0, 0 "
        f"FROM messages WHERE {posted} AND reply_to_member_id != member_id "
        f"AND +reply_to_member_id IN {visible} AND +member_id IN {visible}"
        f"{who('+reply_to_member_id')} "
        "UNION ALL SELECT reacted_at, member_id, coalesce(theme, ''), 0, 0, 0, 0, 1, 0, 0 "
        f"FROM reactions{reactions_by_member} WHERE {reacted} AND +member_id IN {visible}"
        f"{who('member_id')} "
        "UNION ALL SELECT reacted_at, target_member_id, coalesce(theme, ''), 0, 0, 0, 0, 0, 1, 0 "
        f"FROM reactions WHERE {reacted} AND target_member_id != member_id "
        f"AND +target_member_id IN {visible} AND +member_id IN {visible}"
        f"{who('+target_member_id')} "
        "UNION ALL SELECT opened_at, opener_member_id, coalesce(theme, ''), 0, 0, 0, 0, 0, 0, 1 "
        "FROM threads WHERE community = :c AND opened_at >= :t0 AND opened_at < :t1 "
        f"AND +opener_member_id IN {visible}{who('+opener_member_id')}) GROUP BY 1, 2, 3",
        p,
    )


async def _add_all_themes(db: Unit) -> None:
    """Each member's day in every theme together ('*'), from the counted rows of each theme."""
    sums = ", ".join(f"sum({name})" for name in _ACTIVITY_COUNTS)
    await db.execute(
        f"INSERT INTO temp.counted_activity_days SELECT '*', member_id, day, {sums} "
        "FROM temp.counted_activity_days GROUP BY member_id, day"
    )
