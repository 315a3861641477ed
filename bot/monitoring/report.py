"""The PraxisNote's three-level M&E report: the figures of monitoring, evaluation and impact.

``build_report`` reads a period from the store and returns plain data (``Report``); turning it into
markdown, HTML, JSON or CSV is ``bot.monitoring.render``'s job. Everything is aggregated in SQL
(per member and week, per pair of members, per theme) and only aggregates reach Python, so a year
of a large community costs a few scans of the messages table, not a loop over its rows.

Opted-out members and bots appear nowhere: not as nodes of the network, not in counts, not as
names. Forgotten members are already gone from the tables. Survey results are shown only for
groups of at least the community's ``surveys.min_group_size`` answers, and read from released
answers only, which come in steps of that size.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import networkx as nx

from bot.config import Settings
from bot.monitoring.common import about_period
from bot.services.digest import ResponseTimes, first_responses
from bot.services.participation import Level, level_of
from storage.activity import Activity
from storage.contract import Reads
from storage.knowledge import KNOWLEDGE_KINDS, knowledge_items
from storage.privacy import hide_names, names_hiding
from storage.rollups import MAX_THREAD_PARTICIPANTS, refresh_rollups
from storage.sqlite import SqliteStore
from storage.surveys import released

EXACT_BETWEENNESS_NODES = 400
"""Up to this many members, betweenness is exact; above it, it is estimated from sampled sources."""
BETWEENNESS_SAMPLES = 48
BROKER_TIES = 4000
"""Brokers are found on the strongest ties only (all of them in a community of ordinary size)."""
BROKERS = 5
NETWORK_TIES = 150
"""The network chart draws the strongest ties only; the figures count them all."""
ORGANISATION_LINKS = 10
WEEK = 7 * 86400

_Graph = dict[int, dict[int, int]]
"""Member -> neighbour -> weight of their tie, both ways."""

_VISIBLE = "(SELECT id FROM members WHERE community = :c AND is_bot = 0 AND opted_out_at IS NULL)"


@dataclass(frozen=True, slots=True)
class WeekLevels:
    week: str
    """ISO week label, ``2026-W40``; weeks start on Monday in the community's timezone."""
    starts: date
    core: int
    active: int
    peripheral: int
    inactive: int


@dataclass(frozen=True, slots=True)
class ThemeWeek:
    week: str
    theme: str
    theme_name: str
    messages: int
    participants: int


@dataclass(frozen=True, slots=True)
class OrganisationLink:
    a: str
    b: str
    ties: int


@dataclass(frozen=True, slots=True)
class Broker:
    name: str
    organisation: str
    betweenness: float
    organisations_reached: int
    """Distinct organisations among the member's ties, their own included."""
    themes: tuple[str, ...]
    """Names of the themes they took part in during the period."""


@dataclass(frozen=True, slots=True)
class NetworkNode:
    key: str
    """An opaque label for the chart's edges; never a member id or a platform id."""
    label: str
    organisation: str


@dataclass(frozen=True, slots=True)
class NetworkEdge:
    a: str
    b: str
    weight: int


@dataclass(frozen=True, slots=True)
class Network:
    nodes: tuple[NetworkNode, ...]
    edges: tuple[NetworkEdge, ...]


@dataclass(frozen=True, slots=True)
class KnowledgeItem:
    kind: str
    title: str
    link: str | None
    theme_name: str | None
    authors: tuple[str, ...]
    created: date


@dataclass(frozen=True, slots=True)
class Monitoring:
    members: int
    participants: int
    new_members: int
    messages: int
    replies: int
    reactions: int
    threads: int
    levels: tuple[WeekLevels, ...]
    theme_activity: tuple[ThemeWeek, ...]
    ties: int
    new_ties: int
    cross_organisation_ties: int
    organisations: int
    """Organisations named in the profiles of members who took part in the period."""
    organisation_links: tuple[OrganisationLink, ...]
    brokers: tuple[Broker, ...]
    knowledge: dict[str, int]
    """Knowledge items shared in the period, per kind: lesson, case, document."""
    knowledge_items: tuple[KnowledgeItem, ...]
    commitments_due: int
    commitments_fulfilled: int
    fulfilled_ratio: float | None
    network: Network
    first_responses: tuple[ResponseTimes, ...] = ()
    """Per theme, the median time to first response of its questions and prompts (CHAOSS)."""


@dataclass(frozen=True, slots=True)
class PulseResult:
    survey: str
    asked: date
    invited: int
    answers: int
    shown: bool
    """False when fewer than the community's min_group_size answered: then no average and no name is given."""
    satisfaction: float | None
    ownership: float | None
    learned_from: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ThemeVoices:
    theme: str
    theme_name: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Evaluation:
    pulses: tuple[PulseResult, ...]
    ties_strengthened: int
    ties_appeared: int
    """Ties of the period with no interaction in the previous period of the same length."""
    ties_grown: int
    """Ties with more interactions than in the previous period (and some in it)."""
    new_voices: tuple[ThemeVoices, ...]


@dataclass(frozen=True, slots=True)
class ImpactSurvey:
    survey: str
    asked: date
    invited: int
    answers: int
    shown: bool
    stories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Impact:
    surveys: tuple[ImpactSurvey, ...]
    answers: int
    stories: int


@dataclass(frozen=True, slots=True)
class Report:
    community: str
    community_name: str
    label: str
    start: datetime
    end: datetime
    timezone: str
    monitoring: Monitoring
    evaluation: Evaluation
    impact: Impact
    min_group_size: int
    """Survey results are shown from this many answers (``surveys.min_group_size``)."""


async def _rows(store: Reads, sql: str, params: dict) -> list[tuple]:
    """Plain tuples: the report reads tens of thousands of rows, and named rows cost twice as much."""
    async with store.db.execute(sql, params) as cursor:
        cursor.row_factory = None
        return await cursor.fetchall()


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class _Period:
    """The period's weeks, and the epoch arithmetic the SQL buckets use."""

    def __init__(self, start: datetime, end: datetime, tz: ZoneInfo, window_weeks: int) -> None:
        if end <= start:
            raise ValueError("the report's period must end after it starts")
        self.start, self.end = _epoch(start), _epoch(end)
        first = start.astimezone(tz).date()
        self.monday = first - timedelta(days=first.weekday())
        # Weeks are counted in fixed 7-day steps from a local Monday midnight: across a DST change
        # a boundary is off by an hour, which moves a handful of late-night messages at most.
        self.anchor = _epoch(datetime.combine(self.monday, time(), tzinfo=tz))
        self.day_offset = int(tz.utcoffset(datetime.combine(self.monday, time())).total_seconds())
        self.weeks = -(-(self.end - self.anchor) // WEEK)
        self.window = window_weeks
        # Buckets start (window - 1) weeks before the first week, so its level sees a full window.
        self.lookback = self.anchor - (window_weeks - 1) * WEEK

    def week_start(self, k: int) -> date:
        return self.monday + timedelta(weeks=k)

    def week_label(self, k: int) -> str:
        year, week, _ = self.week_start(k).isocalendar()
        return f"{year}-W{week:02d}"


async def build_report(
    store: SqliteStore,
    settings: Settings,
    community: str,
    start: datetime,
    end: datetime,
    *,
    label: str = "",
) -> Report:
    """The three levels of M&E for ``community`` over [start, end) (aware UTC datetimes)."""
    config = settings.communities[community]
    tz = ZoneInfo(config.timezone)
    period = _Period(start, end, tz, settings.participation.window_weeks)
    names = await _visible_names(store, community)
    theme_names = {theme_id: theme.name for theme_id, theme in config.themes.items()}
    organisations = await _organisations(store, community)
    p = {"c": community, "s": period.start, "e": period.end}

    async with store.transaction() as db:
        # Recounts the days that changed since the last (hourly) recount, in local days.
        await refresh_rollups(db, community, config.timezone)
    days = _Days(tz, period.start, period.end, 2 * period.start - period.end)
    # The ties are the longest read: on a connection of its own it runs beside the rest. The rest
    # reads on another one, not the store's own: that one writes chat, and its page cache is
    # sized for ingest (32 MB), which the report's reads would fill on top of their own memory.
    async with asyncio.TaskGroup() as group, store.reading() as reader:
        ties_read = group.create_task(_ties(store, p, days, names, organisations))
        act = await _activity(reader, settings, p, period, days, names, theme_names)
        members, new_members, threads = await _membership(reader, p)
    ties = ties_read.result()
    # Only the strongest ties make the graph: in a large, busy community most pairs exchanged a
    # reaction or two, and paths over those say little about who carries knowledge across.
    graph: _Graph = {}
    for weight, a, b in ties.strongest:
        # Nodes and neighbours in the order networkx's add_edge would keep them: the sampled
        # sources and the chart's order among equal ties depend on it.
        graph.setdefault(a, {})[b] = weight
        graph.setdefault(b, {})[a] = weight
    knowledge, items = await _knowledge(store, p, theme_names, tz)
    due, fulfilled = await _commitments(store, p, period, tz, end)
    monitoring = Monitoring(
        members=members,
        participants=len(act.participants),
        new_members=new_members,
        messages=act.messages,
        replies=act.replies,
        reactions=act.reactions,
        threads=threads,
        levels=act.levels,
        theme_activity=act.theme_activity,
        ties=ties.count,
        new_ties=ties.new,
        cross_organisation_ties=sum(ties.links.values()),
        organisations=len(
            {organisations[m] for m in act.participants if m in organisations} | ties.organisations
        ),
        organisation_links=tuple(
            OrganisationLink(a, b, n)
            for (a, b), n in sorted(ties.links.items(), key=lambda kv: (-kv[1], kv[0]))[
                :ORGANISATION_LINKS
            ]
        ),
        brokers=_brokers(graph, names, organisations, act.member_themes, theme_names),
        knowledge=knowledge,
        knowledge_items=items,
        commitments_due=due,
        commitments_fulfilled=fulfilled,
        fulfilled_ratio=round(fulfilled / due, 3) if due else None,
        network=_network(graph, names, organisations),
        first_responses=tuple(
            await first_responses(store, community, theme_names, period.start, period.end)
        ),
    )
    evaluation = Evaluation(
        pulses=await _pulses(store, p, names, tz, config.surveys.min_group_size),
        ties_strengthened=ties.appeared + ties.grown,
        ties_appeared=ties.appeared,
        ties_grown=ties.grown,
        new_voices=act.new_voices,
    )
    surveys = await _impact(store, p, tz, config.surveys.min_group_size)
    impact = Impact(
        surveys=surveys,
        answers=sum(s.answers for s in surveys),
        stories=sum(len(s.stories) for s in surveys),
    )
    return Report(
        community=community,
        community_name=config.name,
        label=label
        or f"{start.astimezone(tz).date()}..{(end - timedelta(seconds=1)).astimezone(tz).date()}",
        start=start,
        end=end,
        timezone=config.timezone,
        monitoring=monitoring,
        evaluation=evaluation,
        impact=impact,
        min_group_size=config.surveys.min_group_size,
    )


async def _visible_names(store: SqliteStore, community: str) -> dict[int, str]:
    rows = await store.fetch_all(
        "SELECT id, display_name, member_key FROM members WHERE community = :c AND is_bot = 0 "
        "AND opted_out_at IS NULL",
        {"c": community},
    )
    return {row[0]: row[1] or row[2].split(":", 1)[1] for row in rows}


async def _organisations(store: SqliteStore, community: str) -> dict[int, str]:
    """Visible member id -> organisation as written in their profile (blank ones left out)."""
    rows = await store.fetch_all(
        f"SELECT member_id, trim(organisation) FROM profiles WHERE member_id IN {_VISIBLE} "
        "AND trim(organisation) != ''",
        {"c": community},
    )
    # The same organisation is often written with different capitals; show its commonest form.
    spellings: dict[str, Counter] = defaultdict(Counter)
    for _, org in rows:
        spellings[org.casefold()][org] += 1
    canonical = {key: counts.most_common(1)[0][0] for key, counts in spellings.items()}
    return {member_id: canonical[org.casefold()] for member_id, org in rows}


async def _membership(store: Reads, p: dict) -> tuple[int, int, int]:
    """Members at the end of the period, members who joined in it, and threads opened in it."""
    members = await store.fetch_one(
        "SELECT count(*), coalesce(sum(joined_at >= :s AND joined_at < :e), 0) FROM members "
        f"WHERE id IN {_VISIBLE} AND coalesce(joined_at, first_seen_at) < :e "
        "AND (left_at IS NULL OR left_at >= :e)",
        p,
    )
    threads = await store.fetch_one(
        "SELECT count(*) FROM threads WHERE community = :c AND opened_at >= :s "
        f"AND opened_at < :e AND opener_member_id IN {_VISIBLE}",
        p,
    )
    return members[0], members[1], threads[0]


@dataclass(slots=True)
class _Activity:
    """What the rollups of messages and reactions yield for the period."""

    messages: int
    replies: int
    reactions: int
    participants: set[int]
    levels: tuple[WeekLevels, ...]
    theme_activity: tuple[ThemeWeek, ...]
    member_themes: _MemberThemes
    new_voices: tuple[ThemeVoices, ...]


class _Days:
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
        midnight = _epoch(datetime.combine(local, time(), tzinfo=self.tz))
        return local.toordinal() - _EPOCH_DAY, midnight

    def position(self, moment: int) -> int:
        day, _ = self.day(moment)
        return 4 * day + sum(b <= moment for b in self.cut.get(day, ()))

    def ranges(self) -> list[tuple[int, int, int]]:
        """(day, first second, first second of the next day) of each cut day."""
        result = []
        for day in sorted(self.cut):
            start = _epoch(datetime.combine(date.fromordinal(day + _EPOCH_DAY), time(), self.tz))
            after = date.fromordinal(day + _EPOCH_DAY + 1)
            result.append((day, start, _epoch(datetime.combine(after, time(), tzinfo=self.tz))))
        return result

    def sql_position(self, column: str) -> str:
        """SQL for the position of base-table moments ``column`` that lie in a cut day."""
        cases = []
        for day, start, after in self.ranges():
            marks = "".join(f" + ({column} >= {b})" for b in sorted(self.cut[day]))
            cases.append(f"WHEN {column} >= {start} AND {column} < {after} THEN {4 * day}{marks}")
        return f"(CASE {' '.join(cases)} END)"

    def sql_in_cut(self, column: str) -> str:
        return " OR ".join(f"({column} >= {s} AND {column} < {a})" for _, s, a in self.ranges())


_EPOCH_DAY = date(1970, 1, 1).toordinal()
_MONDAY = 4
"""Day 4 since 1970-01-01 is the first Monday: the rollups' local weeks are (day - 4) // 7."""


async def _activity(
    store: Reads,
    settings: Settings,
    p: dict,
    period: _Period,
    days: _Days,
    names: dict[int, str],
    theme_names: dict[str, str],
) -> _Activity:
    """Totals, levels per week, theme activity and new voices from the rollups.

    Passes over member_days give the levels (per member and week, straight off its key) and the
    period's totals; one over theme_days, per theme and member, the themes. A day cut by the
    period's start or end is read from messages and reactions instead.
    """
    start, end = days.positions[0], days.positions[1]
    first_week = (period.monday.toordinal() - _EPOCH_DAY - _MONDAY) // 7
    q = {
        **p,
        "w0": first_week - (period.window - 1),
        "w1": first_week + period.weeks,
        "ds": start,
        "de": end,
    }
    # Whole days inside the period are one range: from the start's day (the next one if the start
    # cuts it) to the end's day, excluded (cut or not). Whole days before it end at the start's day.
    q["lo"], q["hi"] = (start + 3) // 4, end // 4
    # The unary + keeps SQLite off the rollups' by-day indexes (they serve recounts): the report
    # reads in key order, which is cheaper than a day range plus a lookup per row.
    inside = "(+day >= :lo AND +day < :hi)"
    # The period's totals apart: summing only its own weeks' rows costs less than a conditional
    # sum over every row of the levels' longer span.
    q["wa"], q["wb"] = (q["lo"] - _MONDAY) // 7, (q["hi"] - 1 - _MONDAY) // 7 + 1
    messages = replies = reactions = 0
    participants: set[int] = set()
    totals = _chunks(
        store,
        "SELECT member_id, sum(messages), sum(replies), sum(reactions) FROM member_days "
        f"WHERE member_id IN {_VISIBLE} AND week >= :wa AND week < :wb AND {inside} "
        "GROUP BY member_id",
        q,
    )
    async with aclosing(totals):
        async for rows in totals:
            for member_id, m_in, r_in, x_in in rows:
                if m_in or x_in:
                    messages += m_in
                    replies += r_in
                    reactions += x_in
                    participants.add(member_id)
    # What whole days cannot tell: the moments of cut days inside the period, per member.
    theme_cut: list = []
    if days.cut:
        position = days.sql_position("t")
        cut_rows = await store.fetch_all(
            f"SELECT member_id, sum(kind = 1), sum(reply), sum(kind = 2) FROM ("
            "SELECT member_id, posted_at AS t, 1 AS kind, reply_to IS NOT NULL AS reply "
            f"FROM messages WHERE community = :c AND deleted_at IS NULL AND ({days.sql_in_cut('posted_at')}) "
            "UNION ALL SELECT member_id, reacted_at, 2, 0 FROM reactions WHERE community = :c "
            f"AND ({days.sql_in_cut('reacted_at')})) "
            f"WHERE {position} >= :ds AND {position} < :de AND member_id IN {_VISIBLE} "
            "GROUP BY member_id",
            q,
        )
        for member_id, m_in, r_in, x_in in cut_rows:
            messages += m_in
            replies += r_in
            reactions += x_in
            participants.add(member_id)
        pos = days.sql_position("posted_at")
        theme_cut = await store.fetch_all(
            f"SELECT theme, member_id, {pos}, ({pos} / 4 - 4) / 7, count(*) FROM messages "
            f"WHERE community = :c AND deleted_at IS NULL AND ({days.sql_in_cut('posted_at')}) "
            f"AND theme IS NOT NULL AND theme != '' AND member_id IN {_VISIBLE} "
            "GROUP BY 1, 2, 3, 4",
            q,
        )
    themes, voices, member_themes = await _themes(store, q, inside, theme_cut, theme_names)
    return _Activity(
        messages=messages,
        replies=replies,
        reactions=reactions,
        participants=participants,
        levels=await _levels(store, settings, q, period),
        theme_activity=tuple(
            ThemeWeek(period.week_label(week - first_week), theme, theme_names[theme], n, people)
            for (week, theme), (n, people) in sorted(themes.items())
            if theme in theme_names
        ),
        member_themes=member_themes,
        new_voices=tuple(
            ThemeVoices(
                theme,
                theme_names[theme],
                tuple(sorted((names[m] for m in voices[theme]), key=str.casefold)),
            )
            for theme in theme_names
            if voices.get(theme)
        ),
    )


async def _themes(
    store: Reads, q: dict, inside: str, theme_cut: list, theme_names: dict[str, str]
) -> tuple[dict, dict[str, set[int]], _MemberThemes]:
    """Per (week, theme): [messages, participants]; new voices per theme; themes per member."""
    # One sort of the period's rows per week and theme. The unary + keeps SQLite off the
    # by-member index: looking each row up again by its key costs three times the scan.
    weekly = await _rows(
        store,
        "SELECT (day - 4) / 7 AS week, theme, sum(messages), count(DISTINCT member_id) "
        f"FROM theme_days WHERE {inside} AND +member_id IN {_VISIBLE} GROUP BY week, theme",
        q,
    )
    themes = {(week, theme): [n, people] for week, theme, n, people in weekly}
    # Per theme and member: spoke before the period (whole days), spoke inside (whole days).
    if theme_cut:
        # Cut days may hold a member's only words inside: every pair's past is needed.
        spoken = _chunks(
            store,
            f"SELECT theme, member_id, min(day) < :ds / 4, max({inside}) FROM theme_days "
            f"WHERE +day < :hi AND member_id IN {_VISIBLE} GROUP BY theme, member_id",
            q,
        )
    else:
        # Only the pairs that spoke inside, each with one look back along the by-member index.
        spoken = _chunks(
            store,
            "SELECT theme, member_id, EXISTS (SELECT 1 FROM theme_days e WHERE "
            "e.theme = d.theme AND e.member_id = d.member_id AND e.day < :ds / 4), 1 "
            f"FROM theme_days d WHERE {inside} AND +member_id IN {_VISIBLE} "
            "GROUP BY theme, member_id",
            q,
        )
    # The pairs that spoke in the cut days first (two days at most): then the pairs of whole days
    # pass by in a stream, none of them kept but as a new voice or a bit of a member's themes.
    cut_before: set[tuple[str, int]] = set()
    cut_during: set[tuple[str, int]] = set()
    if theme_cut:
        cut_weeks = {week for *_, week, _ in theme_cut}
        known = {
            (theme, m, week)
            for theme, m, week in await store.fetch_all(
                f"SELECT DISTINCT theme, member_id, (day - 4) / 7 FROM theme_days WHERE {inside} "
                "AND (day - 4) / 7 IN (SELECT value FROM json_each(:weeks))",
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
    voices: dict[str, set[int]] = defaultdict(set)
    member_themes = _MemberThemes()
    async with aclosing(spoken):
        async for rows in spoken:
            for theme, m, earlier, now in rows:
                pair = (theme, m)
                if pair in cut_during:
                    cut_during.discard(pair)
                    now = True
                if now:
                    member_themes.add(m, theme)
                    if not earlier and pair not in cut_before:
                        voices[theme].add(m)
    # Spoken only in a cut day inside, and never on a whole day before it.
    for theme, m in cut_during:
        member_themes.add(m, theme)
        if (theme, m) not in cut_before:
            voices[theme].add(m)
    return themes, voices, member_themes


class _MemberThemes:
    """The themes each member spoke in during the period, as one bit per theme: only the brokers'
    are ever named, and a set of names per member would take tens of MB at 100,000 members."""

    def __init__(self) -> None:
        self._bits: dict[str, int] = {}
        self._of: dict[int, int] = {}

    def add(self, member: int, theme: str) -> None:
        bit = self._bits.setdefault(theme, 1 << len(self._bits))
        self._of[member] = self._of.get(member, 0) | bit

    def of(self, member: int) -> list[str]:
        mask = self._of.get(member, 0)
        return [theme for theme, bit in self._bits.items() if mask & bit]


_CHUNK = 5000


async def _chunks(store: Reads, sql: str, params: dict) -> AsyncIterator[list[tuple]]:
    """The rows of ``sql`` as plain tuples, a few thousand at a time: for reads too large to hold
    at once (a year of member weeks at 100,000 members is over 300 MB as Python objects)."""
    async with store.db.execute(sql, params) as cursor:
        cursor.row_factory = None
        while rows := await cursor.fetchmany(_CHUNK):
            yield rows


async def _levels(
    store: Reads, settings: Settings, q: dict, period: _Period
) -> tuple[WeekLevels, ...]:
    """Each week's levels among members present that week, over the window ending with it.

    member_days is read per member and week, from ``window - 1`` weeks before the first (week
    ``:w0``), in member order beside the members themselves: only one member's weeks are held at
    a time. A member's window sums slide along them once, and the level of a given tuple of sums
    is worked out once.
    """
    spans = _chunks(
        store,
        "SELECT id, coalesce(joined_at, first_seen_at), left_at FROM members "
        f"WHERE id IN {_VISIBLE} ORDER BY id",
        q,
    )
    window = period.window
    levels = list(Level)
    # Counts per week as lists indexed like ``levels``: hashing a Level runs Python code, and this
    # loop runs once per member and week.
    counts = [[0] * len(levels) for _ in range(period.weeks)]
    cache: dict[tuple[int, int, int], int] = {}
    read = _chunks(
        store,
        "SELECT member_id, week - :w0, sum(messages), sum(reactions), count(*) FROM member_days "
        f"WHERE member_id IN {_VISIBLE} AND week >= :w0 AND week < :w1 "
        "GROUP BY member_id, week ORDER BY member_id, week",
        q,
    )
    async with aclosing(spans), aclosing(read):
        chunk: list[tuple] = []
        at = 0
        async for members in spans:
            for member_id, arrived, left in members:
                # This member's rows, each kept as it came (no tuple built per row); a member who
                # became invisible between the two reads has rows nobody asks for, passed over.
                weeks: dict[int, tuple] = {}
                while True:
                    if at == len(chunk):
                        chunk, at = await anext(read, []), 0
                        if not chunk:
                            break
                    row = chunk[at]
                    if row[0] > member_id:
                        break
                    if row[0] == member_id:
                        weeks[row[1]] = row
                    at += 1
                # The weeks the member was there: from the one they arrived in to the one they
                # left in.
                first = max(0, (arrived - period.anchor) // WEEK)
                stop = (
                    period.weeks
                    if left is None
                    else min(period.weeks, (left - period.anchor) // WEEK + 1)
                )
                m = r = d = 0
                for k in range(window - 1 + stop):
                    new = weeks.get(k)
                    if new:
                        m, r, d = m + new[2], r + new[3], d + new[4]
                    old = weeks.get(k - window)
                    if old:
                        m, r, d = m - old[2], r - old[3], d - old[4]
                    week = k - window + 1
                    if week >= first:
                        key = (m, r, d)
                        level = cache.get(key)
                        if level is None:
                            activity = Activity(messages=m, reactions_given=r, active_days=d)
                            level = cache[key] = levels.index(
                                level_of(activity, settings.participation)
                            )
                        counts[week][level] += 1
    return tuple(
        WeekLevels(
            week=period.week_label(k),
            starts=period.week_start(k),
            core=c[levels.index(Level.CORE)],
            active=c[levels.index(Level.ACTIVE)],
            peripheral=c[levels.index(Level.PERIPHERAL)],
            inactive=c[levels.index(Level.INACTIVE)],
        )
        for k, c in enumerate(counts)
    )


async def _ties(
    store: SqliteStore, p: dict, days: _Days, names: dict[int, str], organisations: dict[int, str]
) -> _Ties:
    """The period's ties, in one pass over tie_days in key order (pair, then day).

    An interaction is a reply, a mention, a reaction, or sharing a small thread (counted in
    tie_days). A tie is new when the pair never interacted before the period; it appeared when
    the pair did not interact in the previous period of the same length, and grew when it did,
    less. Only aggregates, organisation links and the strongest ties reach Python.

    The query runs on a read-only connection of its own, beside the rest of the report.
    """
    start, end, previous = days.positions
    # Organisations are numbered in their display order, so a link's ends come out sorted. In the
    # SQL a link is one integer (its two numbers as digits in base len(orgs) + 1), a cheaper key to
    # group by, and the unary + on a and b makes SQLite look each pair's organisations up rather
    # than index every pair to look them up from the organisations' side.
    orgs = sorted(set(organisations.values()), key=lambda o: (o.casefold(), o))
    number = {org: i for i, org in enumerate(orgs)}
    q = {
        **p,
        "ps": start,
        "pe": end,
        "pp": previous,
        "cut": json.dumps(sorted(days.cut)),
        # Every visible member, numbered 1 + their organisation's number, 0 with none: one join
        # per end then gives both the links and the organisations the ties reach.
        "orgs": json.dumps(
            {str(m): number[organisations[m]] + 1 if m in organisations else 0 for m in names}
        ),
        "top": BROKER_TIES,
        "base": len(orgs) + 1,
    }
    if not days.cut:
        # Every position is then a whole day's, 4 * day: compare days, one product less per row.
        q["ps"], q["pe"], q["pp"] = start // 4, end // 4, previous // 4
        source = "SELECT a, b, day AS pos, weight FROM tie_days WHERE +day < :pe"
    else:
        # The cut days come from the base tables; merging them costs a sort, whole days do not.
        t = days.sql_position("t")
        source = (
            "SELECT a, b, pos, weight FROM (SELECT a, b, 4 * day AS pos, weight FROM tie_days "
            "WHERE 4 * day < :pe AND day NOT IN "
            "(SELECT value FROM json_each(:cut)) "
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
    sql = (
        f"WITH visible (id) AS MATERIALIZED ({_VISIBLE[1:-1]}), "
        "org (id, o) AS MATERIALIZED (SELECT CAST(key AS INTEGER), value FROM json_each(:orgs)), "
        "pairs AS MATERIALIZED (SELECT a, b, sum(weight) FILTER (WHERE pos >= :ps) AS w, "
        "coalesce(sum(weight) FILTER (WHERE pos >= :pp AND pos < :ps), 0) AS prev, "
        f"min(pos) < :ps AS old FROM ({source}) GROUP BY a, b "
        "HAVING w > 0 AND a IN visible AND b IN visible) "
        "SELECT 0, count(*), sum(NOT old), sum(w > prev AND prev = 0), sum(w > prev AND prev > 0) "
        "FROM pairs "
        "UNION ALL SELECT * FROM (SELECT 1, k / :base, k % :base, count(*), 0 FROM ("
        "SELECT min(x.o, y.o) * :base + max(x.o, y.o) AS k FROM pairs "
        "JOIN org x ON x.id = +a JOIN org y ON y.id = +b) GROUP BY k) "
        "UNION ALL SELECT * FROM (SELECT 2, a, b, w, 0 FROM pairs "
        "ORDER BY w DESC, a DESC, b DESC LIMIT :top)"
    )
    async with store.reading() as reader:
        rows = await _rows(reader, sql, q)
    ties = _Ties()
    for part, x, y, z, u in rows:
        if part == 0:
            ties.count, ties.new, ties.appeared, ties.grown = x, y or 0, z or 0, u or 0
        elif part == 1:
            # Numbers one above the organisation's, 0 for a member who names none.
            ties.organisations.update(orgs[n - 1] for n in (x, y) if n)
            if x and x != y:
                ties.links[(orgs[x - 1], orgs[y - 1])] = z
        else:
            ties.strongest.append((z, x, y))
    return ties


@dataclass(slots=True)
class _Ties:
    count: int = 0
    new: int = 0
    appeared: int = 0
    grown: int = 0
    links: dict[tuple[str, str], int] = field(default_factory=dict)
    """(organisation, organisation) -> ties between their members, names in display order."""
    strongest: list[tuple[int, int, int]] = field(default_factory=list)
    """(weight, member, member) of the strongest ties, strongest first."""
    organisations: set[str] = field(default_factory=set)
    """Organisations of the members at either end of the period's ties."""


def _brokers(
    graph: _Graph,
    names: dict[int, str],
    organisations: dict[int, str],
    member_themes: _MemberThemes,
    theme_names: dict[str, str],
) -> tuple[Broker, ...]:
    """Members through whom most shortest paths run: they carry what one group knows to another."""
    if len(graph) < 3:
        return ()
    centrality = _betweenness(graph)
    ranked = sorted(
        ((score, member) for member, score in centrality.items() if score > 0),
        key=lambda pair: (-pair[0], names[pair[1]].casefold()),
    )[:BROKERS]
    brokers = []
    for score, member in ranked:
        reached = {organisations[m].casefold() for m in graph[member] if m in organisations}
        if member in organisations:
            reached.add(organisations[member].casefold())
        brokers.append(
            Broker(
                name=names[member],
                organisation=organisations.get(member, ""),
                betweenness=round(score, 4),
                organisations_reached=len(reached),
                themes=tuple(sorted(theme_names.get(t, t) for t in member_themes.of(member))),
            )
        )
    return tuple(brokers)


def _betweenness(graph: _Graph) -> dict[int, float]:
    """Normalised betweenness (networkx): exact up to EXACT_BETWEENNESS_NODES members, else from
    BETWEENNESS_SAMPLES sampled sources."""
    nx_graph = nx.Graph()
    nx_graph.add_weighted_edges_from(
        (a, b, weight) for a, neighbours in graph.items() for b, weight in neighbours.items()
    )
    if nx_graph.number_of_nodes() <= EXACT_BETWEENNESS_NODES:
        return nx.betweenness_centrality(nx_graph)
    # A fixed seed keeps the same community's report stable from one run to the next.
    return nx.betweenness_centrality(nx_graph, k=BETWEENNESS_SAMPLES, seed=7)


def _network(graph: _Graph, names: dict[int, str], organisations: dict[int, str]) -> Network:
    # Each edge once, from the end seen first, as networkx lists a graph's edges.
    edges, seen = [], set()
    for a, neighbours in graph.items():
        edges.extend((a, b, weight) for b, weight in neighbours.items() if b not in seen)
        seen.add(a)
    strongest = sorted(
        edges,
        key=lambda edge: (-edge[2], names[edge[0]].casefold(), names[edge[1]].casefold()),
    )[:NETWORK_TIES]
    keys: dict[int, str] = {}
    for a, b, _ in strongest:
        for member in (a, b):
            keys.setdefault(member, f"n{len(keys) + 1}")
    return Network(
        nodes=tuple(
            NetworkNode(key, names[member], organisations.get(member, ""))
            for member, key in keys.items()
        ),
        edges=tuple(NetworkEdge(keys[a], keys[b], weight) for a, b, weight in strongest),
    )


async def _knowledge(
    store: SqliteStore, p: dict, theme_names: dict[str, str], tz: ZoneInfo
) -> tuple[dict[str, int], tuple[KnowledgeItem, ...]]:
    """Items shared in the period, as the library shows them (storage.monitoring's privacy rule)."""
    counts = dict.fromkeys(KNOWLEDGE_KINDS, 0)
    items = []
    for item in reversed(await knowledge_items(store, p["c"], start=p["s"], end=p["e"])):
        counts[item.kind] += 1
        items.append(
            KnowledgeItem(
                kind=item.kind,
                title=item.title,
                link=item.link,
                theme_name=theme_names.get(item.theme, item.theme) if item.theme else None,
                authors=tuple(sorted((name for _, name in item.authors), key=str.casefold)),
                created=datetime.fromtimestamp(item.created_at, tz).date(),
            )
        )
    return counts, tuple(items)


async def _commitments(
    store: SqliteStore, p: dict, period: _Period, tz: ZoneInfo, end: datetime
) -> tuple[int, int]:
    """Commitments of visible members due within the period, and how many of them were done."""
    first = datetime.fromtimestamp(period.start, tz).date().isoformat()
    last = (end - timedelta(seconds=1)).astimezone(tz).date().isoformat()
    row = await store.fetch_one(
        "SELECT count(*), count(done_at) FROM commitments WHERE community = :c "
        f"AND due_date >= :first AND due_date <= :last AND member_id IN {_VISIBLE}",
        {**p, "first": first, "last": last},
    )
    return row[0], row[1]


async def _survey_rows(store: SqliteStore, p: dict, kind: str, tz: ZoneInfo) -> list:
    """Surveys about the period (``about_period``): id, period, asked at, invited, answers, and
    answers released (results are read from released answers only: storage.monitoring.answer)."""
    start, end = datetime.fromtimestamp(p["s"], tz), datetime.fromtimestamp(p["e"], tz)
    rows = await store.fetch_all(
        "SELECT s.id, s.period, s.asked_at, "
        "(SELECT count(*) FROM survey_invitations i WHERE i.survey_id = s.id AND i.delivered = 1 "
        f"AND i.member_id IN {_VISIBLE}), "
        "(SELECT count(*) FROM survey_answers a WHERE a.survey_id = s.id), "
        f"(SELECT count(*) FROM survey_answers a WHERE a.survey_id = s.id AND {released('a')}) "
        "FROM surveys s WHERE s.community = :c AND s.kind = :kind ORDER BY s.asked_at",
        {**p, "kind": kind},
    )
    return [row for row in rows if about_period(row[1], start, end, tz)]


async def _pulses(
    store: SqliteStore, p: dict, names: dict[int, str], tz: ZoneInfo, min_group: int
) -> tuple[PulseResult, ...]:
    results = []
    for survey_id, label, asked_at, invited, answers, shown in await _survey_rows(
        store, p, "pulse", tz
    ):
        asked = datetime.fromtimestamp(asked_at, tz).date()
        if shown < min_group:
            results.append(PulseResult(label, asked, invited, answers, False, None, None, ()))
            continue
        averages = await store.fetch_one(
            "SELECT avg(satisfaction), avg(ownership) FROM survey_answers WHERE survey_id = ? "
            f"AND {released()}",
            (survey_id,),
        )
        learned = await store.fetch_all(
            "SELECT learned_from_member_id, count(*) FROM survey_answers WHERE survey_id = ? "
            f"AND {released()} AND learned_from_member_id IS NOT NULL GROUP BY 1",
            (survey_id,),
        )
        named = sorted(
            ((names[m], n) for m, n in learned if m in names),
            key=lambda pair: (-pair[1], pair[0].casefold()),
        )
        results.append(
            PulseResult(
                survey=label,
                asked=asked,
                invited=invited,
                answers=answers,
                shown=True,
                satisfaction=None if averages[0] is None else round(averages[0], 2),
                ownership=None if averages[1] is None else round(averages[1], 2),
                learned_from=tuple(named),
            )
        )
    return tuple(results)


async def _impact(
    store: SqliteStore, p: dict, tz: ZoneInfo, min_group: int
) -> tuple[ImpactSurvey, ...]:
    results = []
    hiding = await names_hiding(store, p["c"])
    for survey_id, label, asked_at, invited, answers, shown in await _survey_rows(
        store, p, "impact", tz
    ):
        stories: tuple[str, ...] = ()
        if shown >= min_group:
            rows = await store.fetch_all(
                "SELECT trim(story) FROM survey_answers WHERE survey_id = ? "
                f"AND {released()} AND trim(coalesce(story, '')) != '' ORDER BY id",
                (survey_id,),
            )
            stories = tuple(hide_names(row[0], hiding) for row in rows)
        results.append(
            ImpactSurvey(
                survey=label,
                asked=datetime.fromtimestamp(asked_at, tz).date(),
                invited=invited,
                answers=answers,
                shown=shown >= min_group,
                stories=stories,
            )
        )
    return tuple(results)
