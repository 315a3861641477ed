"""The M&E report's reads: every statement ``bot.monitoring.report`` needs, over the rollups.

Everything is aggregated in SQL (per member and week, per pair of members, per theme) and only
aggregates reach Python, so a year of a large community costs a few scans of the rollups, not a
loop over the messages. The rollups hold whole local days (``storage.rollups``); a period whose
boundary cuts a day reads that day from the base tables instead (``ReportDays``).

The privacy rule is storage's: only visible members (no bots, nobody opted out) are counted,
named or linked. Reads take ``db: Reads`` (the store, or a ``reading()`` connection).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from bot.clock import epoch
from storage import identities
from storage.contract import Reads
from storage.privacy import VISIBLE_IDS, shown_name, visible
from storage.rollups import EPOCH_DAY, MAX_THREAD_PARTICIPANTS, MONDAY
from storage.surveys import released

BROKER_TIES = 4000
"""Brokers are found on the strongest ties only (all of them in a community of ordinary size)."""

_CHUNK = 5000


class ReportDays:
    """The period in the rollups' local days, and the days its boundaries cut.

    Rollup rows are whole local days. A boundary at local midnight falls between rows; one that
    does not (a ``7d`` period, a UTC year) cuts a day, and that day is read from the base tables
    instead. Positions make both comparable: a whole day d is at ``4 * d``; a moment of a cut day d
    is at ``4 * d`` plus the number of that day's boundaries at or before it, so "at or after a
    boundary" is one comparison of positions whichever way the row was counted.
    """

    def __init__(self, tz: ZoneInfo, *moments: int) -> None:
        self.tz = tz
        self.cut: dict[int, list[int]] = defaultdict(list)
        for moment in moments:
            day, midnight = self.day(moment)
            if moment != midnight:
                self.cut[day].append(moment)
        self.positions = [self.position(moment) for moment in moments]

    def day(self, moment: int) -> tuple[int, int]:
        """The local day of an epoch second, and the epoch second of that day's midnight."""
        local = datetime.fromtimestamp(moment, self.tz).date()
        midnight = epoch(datetime.combine(local, time(), tzinfo=self.tz))
        return local.toordinal() - EPOCH_DAY, midnight

    def position(self, moment: int) -> int:
        day, _ = self.day(moment)
        return 4 * day + sum(b <= moment for b in self.cut.get(day, ()))

    def ranges(self) -> list[tuple[int, int, int]]:
        """(day, first second, first second of the next day) of each cut day."""
        result = []
        for day in sorted(self.cut):
            start = epoch(datetime.combine(date.fromordinal(day + EPOCH_DAY), time(), self.tz))
            after = date.fromordinal(day + EPOCH_DAY + 1)
            result.append((day, start, epoch(datetime.combine(after, time(), tzinfo=self.tz))))
        return result

    def sql_position(self, column: str) -> str:
        """SQL for the position of base-table moments ``column`` that lie in a cut day."""
        cases = []
        for day, start, after in self.ranges():
            marks = "".join(f" + CAST({column} >= {b} AS INTEGER)" for b in sorted(self.cut[day]))
            cases.append(f"WHEN {column} >= {start} AND {column} < {after} THEN {4 * day}{marks}")
        return f"(CASE {' '.join(cases)} END)"

    def sql_in_cut(self, column: str) -> str:
        return " OR ".join(f"({column} >= {s} AND {column} < {a})" for _, s, a in self.ranges())


@dataclass(frozen=True, slots=True)
class ReportSpan:
    """What every read of one report is bounded by."""

    community: str
    start: int
    end: int
    """The period, [start, end) in epoch seconds."""
    days: ReportDays
    """The period and the previous one of the same length, in the rollups' local days."""
    first_week: int
    """The rollups' week number of the period's first (local) Monday."""
    weeks: int
    """Weeks from that Monday to the period's end."""
    window: int
    """Weeks a member's level is measured over (``participation.window_weeks``)."""

    def params(self) -> dict[str, Any]:
        return {"c": self.community, "s": self.start, "e": self.end}


class Membership(NamedTuple):
    members: int
    """Visible members at the end of the period."""
    joined: int
    """Of them, those who joined in the period."""
    threads: int
    """Threads visible members opened in the period."""


async def membership(db: Reads, span: ReportSpan) -> Membership:
    p = span.params()
    members = await db.fetch_one(
        # Persons, not accounts: linked accounts are one member (storage.identities).
        "SELECT count(DISTINCT coalesce(person_id, id)), "
        "coalesce(sum(CAST(joined_at >= :s AND joined_at < :e AS INTEGER)), 0) "
        "FROM members "
        f"WHERE id IN {VISIBLE_IDS} AND coalesce(joined_at, first_seen_at) < :e "
        "AND (left_at IS NULL OR left_at >= :e)",
        p,
    )
    threads = await db.fetch_one(
        "SELECT count(*) FROM threads WHERE community = :c AND opened_at >= :s "
        f"AND opened_at < :e AND opener_member_id IN {VISIBLE_IDS}",
        p,
    )
    assert members is not None and threads is not None  # aggregates always return a row
    return Membership(members[0], members[1], threads[0])


async def organisations_written(db: Reads, community: str) -> list[tuple[int, str]]:
    """(visible member id, organisation as written in their profile, trimmed), blank ones left
    out. Plain tuples, as read: at 100,000 members, named rows and a copy of them were 10 MB."""
    rows = await db.fetch_tuples(
        f"SELECT member_id, trim(organisation) FROM profiles WHERE member_id IN {VISIBLE_IDS} "
        "AND trim(organisation) != ''",
        {"c": community},
    )
    return cast(list[tuple[int, str]], rows)


async def names_of(db: Reads, community: str, ids: Iterable[int]) -> dict[int, str]:
    """Member id -> name of those of ``ids`` Trellis may name; the others are left out.

    The report names a few of its members (brokers, the network chart, new voices, who members
    learned from): at 100,000 members, reading every visible member's name took 29 MB."""
    rows = await db.fetch_tuples(
        f"SELECT m.id, {shown_name('m')} FROM members m WHERE m.community = :c AND {visible('m')} "
        "AND m.id IN (SELECT CAST(value AS INTEGER) FROM json_each(:ids))",
        {"c": community, "ids": json.dumps(sorted(set(ids)))},
    )
    return dict(rows)


@dataclass(slots=True)
class ActivityTotals:
    messages: int = 0
    replies: int = 0
    reactions: int = 0
    participants: set[int] = field(default_factory=set)
    """Visible members who posted or reacted in the period."""


def _day_params(span: ReportSpan) -> dict[str, Any]:
    """The rollup bounds of the period: weeks for the levels' span, whole days inside it."""
    start, end = span.days.positions[0], span.days.positions[1]
    q = {
        **span.params(),
        "w0": span.first_week - (span.window - 1),
        "w1": span.first_week + span.weeks,
        "ds": start,
        "de": end,
    }
    # Whole days inside the period are one range: from the start's day (the next one if the start
    # cuts it) to the end's day, excluded (cut or not). Whole days before it end at the start's day.
    q["lo"], q["hi"] = (start + 3) // 4, end // 4
    # The period's totals apart: summing only its own weeks' rows costs less than a conditional
    # sum over every row of the levels' longer span.
    q["wa"], q["wb"] = (q["lo"] - MONDAY) // 7, (q["hi"] - 1 - MONDAY) // 7 + 1
    return q


def _sum(db: Reads, column: str) -> str:
    """The sum of a rollup's count column. PostgreSQL adds up 64-bit integers as ``numeric``,
    several times slower than 32-bit ones (whose sum is 64-bit): a day's count fits in 32 bits."""
    return f"sum(CAST({column} AS INTEGER))" if db.dialect == "postgresql" else f"sum({column})"


# The unary + keeps SQLite off the rollups' by-day indexes (they serve recounts): the report
# reads in key order, which is cheaper than a day range plus a lookup per row.
_INSIDE = "(+day >= :lo AND +day < :hi)"


async def activity_totals(db: Reads, span: ReportSpan) -> ActivityTotals:
    """Messages, replies and reactions of visible members in the period, and who took part."""
    q = _day_params(span)
    totals = ActivityTotals()
    rows = db.fetch_chunks(
        f"SELECT member_id, {_sum(db, 'messages')}, {_sum(db, 'replies')}, "
        f"{_sum(db, 'reactions')} FROM member_days "
        f"WHERE member_id IN {VISIBLE_IDS} AND week >= :wa AND week < :wb AND {_INSIDE} "
        "GROUP BY member_id",
        q,
        _CHUNK,
    )
    async with aclosing(rows):
        async for chunk in rows:
            for member_id, messages, replies, reactions in chunk:
                if messages or reactions:
                    totals.messages += messages
                    totals.replies += replies
                    totals.reactions += reactions
                    totals.participants.add(member_id)
    days = span.days
    if days.cut:
        # What whole days cannot tell: the moments of cut days inside the period, per member.
        position = days.sql_position("t")
        cut_rows = await db.fetch_all(
            "SELECT member_id, sum(CAST(kind = 1 AS INTEGER)), sum(reply), "
            "sum(CAST(kind = 2 AS INTEGER)) FROM ("
            "SELECT member_id, posted_at AS t, 1 AS kind, CAST(reply_to IS NOT NULL AS INTEGER) "
            "AS reply "
            f"FROM messages WHERE community = :c AND deleted_at IS NULL AND ({days.sql_in_cut('posted_at')}) "
            "UNION ALL SELECT member_id, reacted_at, 2, 0 FROM reactions WHERE community = :c "
            f"AND ({days.sql_in_cut('reacted_at')})) "
            f"WHERE {position} >= :ds AND {position} < :de AND member_id IN {VISIBLE_IDS} "
            "GROUP BY member_id",
            q,
        )
        for member_id, messages, replies, reactions in cut_rows:
            totals.messages += messages
            totals.replies += replies
            totals.reactions += reactions
            totals.participants.add(member_id)
    return totals


class ThemeCount(NamedTuple):
    messages: int
    participants: int


async def theme_activity(
    db: Reads, span: ReportSpan, spoke: Callable[[str, int, bool], None]
) -> dict[tuple[int, str], ThemeCount]:
    """Per (rollup week, theme): messages and participants of the period.

    Every (theme, member) that spoke in the theme during the period is passed to ``spoke``, once,
    with whether it is a new voice (never spoke in that theme before the period); they come in a
    stream, none of them kept here.
    """
    q = _day_params(span)
    days = span.days
    theme_cut: list[tuple[Any, ...]] = []
    if days.cut:
        pos = days.sql_position("posted_at")
        theme_cut = await db.fetch_tuples(
            f"SELECT theme, member_id, {pos}, ({pos} / 4 - 4) / 7, count(*) FROM messages "
            f"WHERE community = :c AND deleted_at IS NULL AND ({days.sql_in_cut('posted_at')}) "
            f"AND theme IS NOT NULL AND theme != '' AND member_id IN {VISIBLE_IDS} "
            "GROUP BY 1, 2, 3, 4",
            q,
        )
    # Per theme and week, in the order of their index (theme_days_by_week): no sort of the
    # period's rows, which took half of the themes' read of a year at a million messages.
    weekly = await db.fetch_tuples(
        f"SELECT (day - 4) / 7, theme, {_sum(db, 'messages')}, count(DISTINCT member_id) "
        "FROM theme_days INDEXED BY theme_days_by_week "
        f"WHERE {_INSIDE} AND +member_id IN {VISIBLE_IDS} GROUP BY theme, (day - 4) / 7",
        q,
    )
    themes = {(week, theme): [n, people] for week, theme, n, people in weekly}
    # Per theme and member: spoke before the period (whole days), spoke inside (whole days).
    if theme_cut:
        # Cut days may hold a member's only words inside: every pair's past is needed.
        spoken = db.fetch_chunks(
            f"SELECT theme, member_id, min(day) < :ds / 4, max(CAST({_INSIDE} AS INTEGER)) "
            "FROM theme_days "
            f"WHERE +day < :hi AND member_id IN {VISIBLE_IDS} GROUP BY theme, member_id",
            q,
            _CHUNK,
        )
    else:
        # Only the pairs that spoke inside, each with one look back along the by-member index.
        spoken = db.fetch_chunks(
            "SELECT theme, member_id, EXISTS (SELECT 1 FROM theme_days e WHERE "
            "e.theme = d.theme AND e.member_id = d.member_id AND e.day < :ds / 4), 1 "
            f"FROM theme_days d WHERE {_INSIDE} AND +member_id IN {VISIBLE_IDS} "
            "GROUP BY theme, member_id",
            q,
            _CHUNK,
        )
    # The pairs that spoke in the cut days first (two days at most): then the pairs of whole days
    # pass by in a stream.
    cut_before: set[tuple[str, int]] = set()
    cut_during: set[tuple[str, int]] = set()
    if theme_cut:
        cut_weeks = {week for *_, week, _ in theme_cut}
        known = {
            (theme, m, week)
            for theme, m, week in await db.fetch_tuples(
                f"SELECT DISTINCT theme, member_id, (day - 4) / 7 FROM theme_days WHERE {_INSIDE} "
                "AND (day - 4) / 7 IN (SELECT CAST(value AS INTEGER) FROM json_each(:weeks))",
                {**q, "weeks": json.dumps(sorted(cut_weeks))},
            )
        }
        for theme, m, pos, week, n in theme_cut:
            if pos < q["ds"]:
                cut_before.add((theme, m))
            elif pos < q["de"]:
                cut_during.add((theme, m))
                entry = themes.setdefault((week, theme), [0, 0])
                entry[0] += n
                if (theme, m, week) not in known:
                    known.add((theme, m, week))
                    entry[1] += 1
    async with aclosing(spoken):
        async for rows in spoken:
            for theme, m, earlier, now in rows:
                pair = (theme, m)
                if pair in cut_during:
                    cut_during.discard(pair)
                    now = True
                if now:
                    spoke(theme, m, not earlier and pair not in cut_before)
    # Spoken only in a cut day inside, and never on a whole day before it.
    for theme, m in cut_during:
        spoke(theme, m, (theme, m) not in cut_before)
    return {key: ThemeCount(n, people) for key, (n, people) in themes.items()}


MemberSpan = tuple[int, int, int | None]
"""(member id, arrived at, left at or None): plain tuples, read once per member."""
MemberWeek = tuple[int, int, int, int, int]
"""(member id, week from the levels' first, messages, reactions given, active days): plain
tuples, read once per member and week (millions at 100,000 members)."""


def member_spans(db: Reads, span: ReportSpan) -> AsyncGenerator[list[MemberSpan], None]:
    """Every visible member's arrival and departure, in member order, a few thousand at a time."""
    return db.fetch_chunks(
        "SELECT id, coalesce(joined_at, first_seen_at), left_at FROM members "
        f"WHERE id IN {VISIBLE_IDS} ORDER BY id",
        span.params(),
        _CHUNK,
    )


def member_weeks(db: Reads, span: ReportSpan) -> AsyncGenerator[list[MemberWeek], None]:
    """Each visible member's weeks from ``window - 1`` weeks before the period's first, in member
    then week order (beside ``member_spans``: only one member's weeks need be held at a time)."""
    return db.fetch_chunks(
        "SELECT member_id, week - :w0, messages, reactions, days FROM member_weeks "
        f"WHERE member_id IN {VISIBLE_IDS} AND week >= :w0 AND week < :w1 "
        "ORDER BY member_id, week",
        _day_params(span),
        _CHUNK,
    )


class Tie(NamedTuple):
    weight: int
    a: int
    b: int


@dataclass(slots=True)
class Ties:
    count: int = 0
    new: int = 0
    """Pairs that never interacted before the period."""
    appeared: int = 0
    """Pairs that did not interact in the previous period of the same length."""
    grown: int = 0
    """Pairs that interacted in the previous period, and more in this one."""
    links: dict[tuple[str, str], int] = field(default_factory=dict)
    """(organisation, organisation) -> ties between their members, names in display order."""
    strongest: list[Tie] = field(default_factory=list)
    """The strongest ties (at most BROKER_TIES), strongest first."""
    organisations: set[str] = field(default_factory=set)
    """Organisations of the members at either end of the period's ties."""


async def ties(
    db: Reads, span: ReportSpan, organisations: dict[int, str], persons: Mapping[int, int]
) -> Ties:
    """The period's ties, in one pass over tie_days in key order (pair, then day).

    An interaction is a reply, a mention, a reaction, or sharing a small thread (counted in
    tie_days). A tie is new when the pair never interacted before the period; it appeared when
    the pair did not interact in the previous period of the same length, and grew when it did,
    less. Only aggregates, organisation links and the strongest ties reach Python.

    Only ties between visible members count (``storage.privacy``'s rule); ``organisations`` are
    those of the visible members who name one. A tie is between persons: linked accounts
    (``persons``, storage.identities) are one end, and one person's accounts have no tie.
    """
    start, end, previous = span.days.positions
    days = span.days
    # Organisations are numbered in their display order, so a link's ends come out sorted. In the
    # SQL a link is one integer (its two numbers as digits in base len(orgs) + 1), a cheaper key to
    # group by, and the unary + on a and b makes SQLite look each pair's organisations up rather
    # than index every pair to look them up from the organisations' side.
    orgs = sorted(set(organisations.values()), key=lambda o: (o.casefold(), o))
    number = {org: i for i, org in enumerate(orgs)}
    q = {
        **span.params(),
        "ps": start,
        "pe": end,
        "pp": previous,
        "cut": json.dumps(sorted(days.cut)),
        # The members who name an organisation, numbered 1 + its number; the others visible get
        # 0 in the SQL. One join per end then keeps the visible members' ties and gives both the
        # links and the organisations the ties reach.
        "orgs": json.dumps({str(m): number[org] + 1 for m, org in organisations.items()}),
        "top": BROKER_TIES,
        "base": len(orgs) + 1,
    }
    if not days.cut:
        # Every position is then a whole day's, 4 * day: compare days, one product less per row.
        q["ps"], q["pe"], q["pp"] = start // 4, end // 4, previous // 4
        source = "SELECT a, b, day AS pos, weight FROM tie_days WHERE +day < :pe"
        if db.dialect == "postgresql":
            # In key order, which its primary key (covering weight) gives without a sort: then
            # PostgreSQL groups each pair as it passes rather than hashing every pair-day.
            source += " ORDER BY a, b"
    else:
        # The cut days come from the base tables; merging them costs a sort, whole days do not.
        t = days.sql_position("t")
        source = (
            "SELECT a, b, pos, weight FROM (SELECT a, b, 4 * day AS pos, weight FROM tie_days "
            "WHERE 4 * day < :pe AND day NOT IN "
            "(SELECT CAST(value AS INTEGER) FROM json_each(:cut)) "
            f"UNION ALL SELECT min(x, y) AS a, max(x, y) AS b, {t} AS pos, 1 AS weight FROM ("
            "SELECT member_id AS x, reply_to_member_id AS y, posted_at AS t FROM messages "
            "WHERE community = :c AND deleted_at IS NULL AND reply_to_member_id != member_id "
            "UNION ALL SELECT m.member_id, n.member_id, m.posted_at FROM mentions n "
            "JOIN messages m ON m.id = n.message_id WHERE m.community = :c "
            "AND m.deleted_at IS NULL AND n.member_id != m.member_id "
            "UNION ALL SELECT member_id, target_member_id, reacted_at FROM reactions "
            "WHERE community = :c AND target_member_id != member_id "
            "UNION ALL SELECT x.member_id, y.member_id, max(x.first_at, y.first_at) "
            "FROM thread_members x JOIN thread_members y ON y.community = x.community "
            "AND y.thread_key = x.thread_key AND y.member_id > x.member_id "
            "WHERE x.community = :c AND x.thread_key IN (SELECT thread_key FROM thread_members "
            f"WHERE community = :c GROUP BY thread_key HAVING count(*) BETWEEN 2 AND {MAX_THREAD_PARTICIPANTS})"
            f") WHERE {days.sql_in_cut('t')}) ORDER BY a, b"
        )
    # The members' numbers are looked up once per pair, in the order the pairs come (CROSS JOIN
    # keeps SQLite from indexing the pairs instead), and they decide visibility too: only
    # visible members are numbered. Four lookups per pair (two for visibility, two for the
    # organisations, then a second pass over the pairs to join them) were two thirds of the read.
    if db.dialect == "postgresql":
        sql = _ties_postgresql(source, persons)
    else:
        sql = (
            # Every visible member's number (0 when they name none; one no longer visible is left out
            # even if the organisations still name them).
            "WITH org (id, o) AS MATERIALIZED (SELECT id, max(o) FROM ("
            f"SELECT v.id, 0 AS o FROM {VISIBLE_IDS} AS v "
            "UNION ALL SELECT CAST(key AS INTEGER), value FROM json_each(:orgs)) AS numbered "
            "GROUP BY id HAVING min(o) = 0), "
            "pairs AS MATERIALIZED (SELECT a, b, w, prev, old, "
            "min(x.o, y.o) * :base + max(x.o, y.o) AS k FROM ("
            f"{_pair_sums(source, persons, 'sum(weight)', 'w')}) "
            "CROSS JOIN org x ON x.id = +a CROSS JOIN org y ON y.id = +b) "
            "SELECT 0, count(*), sum(NOT old), sum(w > prev AND prev = 0), sum(w > prev AND prev > 0) "
            "FROM pairs "
            "UNION ALL SELECT * FROM (SELECT 1, k / :base, k % :base, count(*), 0 FROM pairs GROUP BY k) "
            "UNION ALL SELECT * FROM (SELECT 2, a, b, w, 0 FROM pairs "
            "ORDER BY w DESC, a DESC, b DESC LIMIT :top)"
        )
    result = Ties()
    for part, x, y, z, u in await db.fetch_tuples(sql, q):
        if part == 0:
            result.count, result.new, result.appeared, result.grown = x, y or 0, z or 0, u or 0
        elif part == 1:
            # Numbers one above the organisation's, 0 for a member who names none.
            result.organisations.update(orgs[n - 1] for n in (x, y) if n)
            if x and x != y:
                result.links[(orgs[x - 1], orgs[y - 1])] = z
        else:
            result.strongest.append(Tie(z, x, y))
    return result


class Commitments(NamedTuple):
    due: int
    fulfilled: int


def _pair_sums(source: str, persons: Mapping[int, int], total: str, weight: str) -> str:
    """``ties``' sums per pair of ``source`` (a, b, pos, weight): the pair's weight in the period
    (w), in the previous one (prev), and whether it interacted before the period (old), for the
    pairs with weight in the period; ``total`` sums weights, ``weight`` is the period's weight
    as a HAVING names it. With linked accounts (``persons``, storage.identities) the pairs are
    of persons: the pairs of other accounts are counted in one pass in key order as without
    links; a linked account's pairs (found through tie_days' two indexes, a and b) are added up
    per pair of persons, and a person's own accounts are no pair."""
    sums = (
        f"SELECT a, b, {total} FILTER (WHERE pos >= :ps) AS w, "
        f"coalesce({total} FILTER (WHERE pos >= :pp AND pos < :ps), 0) AS prev, "
    )
    if not persons:
        return (
            f"{sums}min(pos) < :ps AS old FROM ({source}) AS source GROUP BY a, b "
            f"HAVING {weight} > 0"
        )
    linked = ", ".join(str(int(member)) for member in persons)
    x, y = identities.person_among("a", persons), identities.person_among("b", persons)
    return (
        f"{sums}min(pos) < :ps AS old FROM ({source}) AS source GROUP BY a, b "
        f"HAVING {weight} > 0 AND a NOT IN ({linked}) AND b NOT IN ({linked}) "
        "UNION ALL SELECT CASE WHEN x < y THEN x ELSE y END, CASE WHEN x < y THEN y ELSE x END, "
        "sum(w), sum(prev), min(first) < :ps FROM ("
        f"SELECT {x} AS x, {y} AS y, w, prev, first FROM ({sums}min(pos) AS first "
        f"FROM ({source}) AS source WHERE a IN ({linked}) OR b IN ({linked}) GROUP BY a, b) "
        "AS accounts) AS ends WHERE x != y GROUP BY CASE WHEN x < y THEN x ELSE y END, "
        "CASE WHEN x < y THEN y ELSE x END HAVING sum(w) > 0"
    )


_INTEGER_WEIGHT = "sum(CAST(weight AS INTEGER))"


def _ties_postgresql(source: str, persons: Mapping[int, int]) -> str:
    """``ties``' statement as PostgreSQL writes it.

    The members' numbers are one array, indexed by member id from the lowest visible one's, -1
    for an id that is not a visible member's: two subscripts per pair, where joins to the
    numbered members cost twice as much (the planner, without statistics for them, sorted the
    year's 300,000 pairs to merge them). The array spans the ids from the community's lowest
    visible member's to its highest, 4 bytes each. The organisations' numbers come from a JSON
    object (``json_each_text``); weights and the counts of conditions are summed as 32-bit
    integers (see ``_sum``)."""
    return (
        "WITH visible (id, o) AS MATERIALIZED (SELECT v.id, coalesce(n.o, 0) "
        f"FROM {VISIBLE_IDS} AS v LEFT JOIN (SELECT CAST(key AS BIGINT) AS id, "
        "CAST(value AS INTEGER) AS o FROM json_each_text(CAST(:orgs AS json))) AS n "
        "ON n.id = v.id), "
        "numbers (lo, o) AS MATERIALIZED (SELECT min(g), array_agg(coalesce(visible.o, -1) "
        "ORDER BY g) FROM generate_series((SELECT min(id) FROM visible), "
        "(SELECT max(id) FROM visible)) AS g LEFT JOIN visible ON visible.id = g), "
        "pairs AS MATERIALIZED (SELECT a, b, w, prev, old, "
        "LEAST(xo, yo) * :base + GREATEST(xo, yo) AS k FROM (SELECT counted.*, "
        "n.o[a - n.lo + 1] AS xo, n.o[b - n.lo + 1] AS yo FROM ("
        f"{_pair_sums(source, persons, _INTEGER_WEIGHT, f'{_INTEGER_WEIGHT} FILTER (WHERE pos >= :ps)')}"
        ") AS counted CROSS JOIN numbers AS n) AS numbered WHERE xo >= 0 AND yo >= 0) "
        "SELECT 0, count(*), sum(CAST(NOT old AS INTEGER)), "
        "sum(CAST(w > prev AND prev = 0 AS INTEGER)), sum(CAST(w > prev AND prev > 0 AS INTEGER)) "
        "FROM pairs "
        "UNION ALL SELECT * FROM (SELECT 1, k / :base, k % :base, count(*), 0 FROM pairs "
        "GROUP BY k) AS links "
        "UNION ALL SELECT * FROM (SELECT 2, a, b, w, 0 FROM pairs "
        "ORDER BY w DESC, a DESC, b DESC LIMIT :top) AS strongest"
    )


async def commitments_due(db: Reads, community: str, first: str, last: str) -> Commitments:
    """Commitments of visible members due from ``first`` to ``last`` (ISO dates, both included),
    and how many of them were done."""
    row = await db.fetch_one(
        "SELECT count(*), count(done_at) FROM commitments WHERE community = :c "
        f"AND due_date >= :first AND due_date <= :last AND member_id IN {VISIBLE_IDS}",
        {"c": community, "first": first, "last": last},
    )
    assert row is not None  # an aggregate always returns a row
    return Commitments(row[0], row[1])


class SurveyCount(NamedTuple):
    id: int
    period: str
    """The period the survey asks about, as its facilitator wrote it."""
    asked_at: int
    invited: int
    """Visible members the invitation reached."""
    answers: int
    released: int
    """Answers released: results are read from these only (storage.surveys.answer)."""


async def survey_counts(db: Reads, community: str, kind: str) -> list[SurveyCount]:
    """The community's surveys of ``kind`` ('pulse' or 'impact'), oldest first."""
    rows = await db.fetch_all(
        "SELECT s.id, s.period, s.asked_at, "
        "(SELECT count(*) FROM survey_invitations i WHERE i.survey_id = s.id AND i.delivered = 1 "
        f"AND i.member_id IN {VISIBLE_IDS}), "
        "(SELECT count(*) FROM survey_answers a WHERE a.survey_id = s.id), "
        f"(SELECT count(*) FROM survey_answers a WHERE a.survey_id = s.id AND {released('a')}) "
        "FROM surveys s WHERE s.community = :c AND s.kind = :kind ORDER BY s.asked_at",
        {"c": community, "kind": kind},
    )
    return [SurveyCount(*row) for row in rows]


class PulseAverages(NamedTuple):
    satisfaction: float | None
    ownership: float | None


async def pulse_averages(db: Reads, survey_id: int) -> PulseAverages:
    row = await db.fetch_one(
        "SELECT avg(satisfaction), avg(ownership) FROM survey_answers WHERE survey_id = ? "
        f"AND {released()}",
        (survey_id,),
    )
    assert row is not None  # an aggregate always returns a row
    return PulseAverages(row[0], row[1])


async def learned_from(db: Reads, survey_id: int) -> list[tuple[int, int]]:
    """(member id, answers that named them as someone the answerer learned from)."""
    rows = await db.fetch_all(
        "SELECT learned_from_member_id, count(*) FROM survey_answers WHERE survey_id = ? "
        f"AND {released()} AND learned_from_member_id IS NOT NULL GROUP BY 1",
        (survey_id,),
    )
    return [(row[0], row[1]) for row in rows]


async def stories(db: Reads, survey_id: int) -> list[str]:
    """The released answers' stories, trimmed, blank ones left out, in the order they came."""
    rows = await db.fetch_all(
        "SELECT trim(story) FROM survey_answers WHERE survey_id = ? "
        f"AND {released()} AND trim(coalesce(story, '')) != '' ORDER BY id",
        (survey_id,),
    )
    return [row[0] for row in rows]
