"""The PraxisNote's three-level M&E report: the figures of monitoring, evaluation and impact.

``build_report`` reads a period from the store and returns plain data (``Report``); turning it into
markdown, HTML, JSON or CSV is ``bot.monitoring.render``'s job. Everything is aggregated in SQL
(per member and week, per pair of members, per theme) and only aggregates reach Python, so a year
of a large community costs a few scans of the messages table, not a loop over its rows.

Opted-out members and bots appear nowhere: not as nodes of the network, not in counts, not as
names. Forgotten members are already gone from the tables. Survey results are shown only for
groups of at least ``MIN_GROUP`` answers.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import networkx as nx

from bot.config import Settings
from bot.services.participation import Level, level_of
from storage.activity import Activity
from storage.sqlite import SqliteStore

MIN_GROUP = 5
"""Survey results (averages, stories, names learned from) need at least this many answers."""
MAX_THREAD_PARTICIPANTS = 12
"""Sharing a thread ties its participants only up to this size: in a crowd, being in the same
thread says little about a relationship, and the pairs would grow with the square of the crowd."""
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


@dataclass(frozen=True, slots=True)
class PulseResult:
    survey: str
    asked: date
    invited: int
    answers: int
    shown: bool
    """False when fewer than MIN_GROUP answered: then no average and no name is given."""
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

    act = await _activity(store, settings, p, period, names, theme_names)
    members, new_members, threads = await _membership(store, p)
    ties = await _ties(store, p, period)
    people = act.participants | {m for pair in ties for m in pair}
    cross: Counter[tuple[str, str]] = Counter()
    new_ties = appeared = grown = 0
    for (a, b), (weight, previous, new) in ties.items():
        new_ties += new
        if weight > previous:
            appeared += previous == 0
            grown += previous > 0
        org_a, org_b = organisations.get(a), organisations.get(b)
        if org_a and org_b and org_a != org_b:
            cross[(org_a, org_b) if org_a.casefold() < org_b.casefold() else (org_b, org_a)] += 1
    # Only the strongest ties make the graph: in a large, busy community most pairs exchanged a
    # reaction or two, and paths over those say little about who carries knowledge across.
    strongest = heapq.nlargest(
        BROKER_TIES, ((weight, a, b) for (a, b), (weight, _, _) in ties.items())
    )
    graph = nx.Graph()
    graph.add_weighted_edges_from((a, b, weight) for weight, a, b in strongest)
    knowledge, items = await _knowledge(store, p, names, theme_names, tz)
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
        ties=len(ties),
        new_ties=new_ties,
        cross_organisation_ties=sum(cross.values()),
        organisations=len({organisations[m] for m in people if m in organisations}),
        organisation_links=tuple(
            OrganisationLink(a, b, n)
            for (a, b), n in sorted(cross.items(), key=lambda kv: (-kv[1], kv[0]))[
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
    )
    evaluation = Evaluation(
        pulses=await _pulses(store, p, names, tz),
        ties_strengthened=appeared + grown,
        ties_appeared=appeared,
        ties_grown=grown,
        new_voices=act.new_voices,
    )
    surveys = await _impact(store, p, tz)
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


async def _membership(store: SqliteStore, p: dict) -> tuple[int, int, int]:
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
    """What one pass over messages and reactions, grouped by member and week, yields."""

    messages: int
    replies: int
    reactions: int
    participants: set[int]
    levels: tuple[WeekLevels, ...]
    theme_activity: tuple[ThemeWeek, ...]
    member_themes: dict[int, set[str]]
    new_voices: tuple[ThemeVoices, ...]


# Weeks are numbered from far enough back that every bucket is positive: SQLite's integer division
# truncates toward zero, which would merge the week before the origin with the one after it.
_ORIGIN_WEEKS = 4000


async def _activity(
    store: SqliteStore,
    settings: Settings,
    p: dict,
    period: _Period,
    names: dict[int, str],
    theme_names: dict[str, str],
) -> _Activity:
    """Levels per week, totals, theme activity and new voices from ONE grouped pass.

    The pass reads all history before the end, so a plain table scan beats walking the time
    index and looking up each row (``NOT INDEXED``); the same holds for the ties below.

    Rows are (member, week, inside the period?) with counts, distinct days and a count per
    configured theme, over all history before the end: the history is what tells a new voice
    (no message in the theme before the period) from a returning one.
    """
    themes = list(theme_names)
    theme_columns = "".join(f", sum(theme = :t{i})" for i in range(len(themes)))
    origin = period.anchor - _ORIGIN_WEEKS * WEEK
    q = {
        **p,
        "z": origin,
        "off": period.day_offset,
        **{f"t{i}": theme for i, theme in enumerate(themes)},
    }
    rows = await store.fetch_all(
        "SELECT member_id, (t - :z) / 604800, t >= :s, sum(kind = 1), sum(reply), "
        f"sum(kind = 2), count(DISTINCT (t + :off) / 86400){theme_columns} FROM ("
        "SELECT member_id, posted_at AS t, 1 AS kind, reply_to IS NOT NULL AS reply, theme "
        "FROM messages NOT INDEXED WHERE community = :c AND posted_at >= :z AND posted_at < :e "
        "AND deleted_at IS NULL "
        "UNION ALL SELECT member_id, reacted_at, 2, 0, NULL FROM reactions NOT INDEXED "
        "WHERE community = :c AND reacted_at >= :z AND reacted_at < :e) "
        f"WHERE member_id IN {_VISIBLE} GROUP BY 1, 2, 3",
        q,
    )
    first_bucket = _ORIGIN_WEEKS - (period.window - 1)
    buckets = period.weeks + period.window - 1
    series: dict[int, list[list[int]]] = {}
    messages = replies = reactions = 0
    participants: set[int] = set()
    theme_weeks: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    spoke_before: set[tuple[int, str]] = set()
    spoke_inside: set[tuple[int, str]] = set()
    for member_id, bucket, inside, posts, answered, reacted, days, *per_theme in rows:
        k = bucket - first_bucket
        if 0 <= k < buckets:
            # A day never straddles a week; it can straddle the period's start only for periods
            # that do not start at midnight (``7d``), and then counts once more, in one window.
            slot = series.setdefault(member_id, [[0, 0, 0] for _ in range(buckets)])[k]
            slot[0] += posts
            slot[1] += reacted
            slot[2] += days
        for theme, count in zip(themes, per_theme, strict=True):
            if not count:
                continue
            if inside:
                spoke_inside.add((member_id, theme))
                entry = theme_weeks[(bucket - _ORIGIN_WEEKS, theme)]
                entry[0] += count
                entry[1] += 1
            else:
                spoke_before.add((member_id, theme))
        if inside:
            messages += posts
            replies += answered
            reactions += reacted
            participants.add(member_id)
    member_themes: dict[int, set[str]] = defaultdict(set)
    voices: dict[str, list[str]] = defaultdict(list)
    for member_id, theme in spoke_inside:
        member_themes[member_id].add(theme)
        if (member_id, theme) not in spoke_before:
            voices[theme].append(names[member_id])
    return _Activity(
        messages=messages,
        replies=replies,
        reactions=reactions,
        participants=participants,
        levels=await _levels(store, settings, p, period, series),
        theme_activity=tuple(
            ThemeWeek(period.week_label(k), theme, theme_names[theme], n, people)
            for (k, theme), (n, people) in sorted(theme_weeks.items())
        ),
        member_themes=member_themes,
        new_voices=tuple(
            ThemeVoices(theme, theme_names[theme], tuple(sorted(voices[theme], key=str.casefold)))
            for theme in themes
            if voices[theme]
        ),
    )


async def _levels(
    store: SqliteStore,
    settings: Settings,
    p: dict,
    period: _Period,
    series: dict[int, list[list[int]]],
) -> tuple[WeekLevels, ...]:
    """Each week's levels among members present that week, over the window ending with it."""
    spans = await store.fetch_all(
        "SELECT id, coalesce(joined_at, first_seen_at), left_at FROM members "
        f"WHERE id IN {_VISIBLE}",
        p,
    )
    result = []
    for k in range(period.weeks):
        week_start = period.anchor + k * WEEK
        week_end = week_start + WEEK
        counts = dict.fromkeys(Level, 0)
        for member_id, arrived, left in spans:
            if arrived >= week_end or (left is not None and left < week_start):
                continue
            weeks = series.get(member_id)
            if weeks is None:
                counts[Level.INACTIVE] += 1
                continue
            window = weeks[k : k + period.window]
            activity = Activity(
                messages=sum(w[0] for w in window),
                reactions_given=sum(w[1] for w in window),
                active_days=sum(w[2] for w in window),
            )
            counts[level_of(activity, settings.participation)] += 1
        result.append(
            WeekLevels(
                week=period.week_label(k),
                starts=period.week_start(k),
                core=counts[Level.CORE],
                active=counts[Level.ACTIVE],
                peripheral=counts[Level.PERIPHERAL],
                inactive=counts[Level.INACTIVE],
            )
        )
    return tuple(result)


async def _ties(
    store: SqliteStore, p: dict, period: _Period
) -> dict[tuple[int, int], tuple[int, int, bool]]:
    """(member, member) -> (interactions in the period, in the previous period, new in the period).

    An interaction is a reply, a mention, a reaction, or sharing a (small) thread. A tie is new
    when the pair never interacted before the period.
    """
    q = {**p, "p": period.start - (period.end - period.start), "maxp": MAX_THREAD_PARTICIPANTS}
    rows = await store.fetch_all(
        "WITH tp AS (SELECT thread_key, member_id, min(posted_at) AS first FROM messages NOT INDEXED "
        "WHERE community = :c AND thread_key IS NOT NULL AND posted_at < :e AND deleted_at IS NULL "
        "GROUP BY 1, 2), "
        "small AS (SELECT thread_key FROM tp GROUP BY 1 HAVING count(*) BETWEEN 2 AND :maxp), "
        "e (a, b, t) AS ("
        "SELECT member_id, reply_to_member_id, posted_at FROM messages NOT INDEXED "
        "WHERE community = :c "
        "AND posted_at < :e AND deleted_at IS NULL AND reply_to_member_id IS NOT NULL "
        "AND reply_to_member_id != member_id "
        "UNION ALL SELECT m.member_id, n.member_id, m.posted_at FROM mentions n "
        "JOIN messages m ON m.id = n.message_id WHERE m.community = :c AND m.posted_at < :e "
        "AND m.deleted_at IS NULL AND n.member_id != m.member_id "
        "UNION ALL SELECT member_id, target_member_id, reacted_at FROM reactions "
        "WHERE community = :c AND reacted_at < :e AND target_member_id != member_id "
        "UNION ALL SELECT x.member_id, y.member_id, max(x.first, y.first) FROM tp x "
        "JOIN tp y ON y.thread_key = x.thread_key AND y.member_id > x.member_id "
        "WHERE x.thread_key IN small) "
        "SELECT min(a, b), max(a, b), sum(t >= :s), sum(t >= :p AND t < :s), min(t) >= :s "
        f"FROM e WHERE a IN {_VISIBLE} AND b IN {_VISIBLE} GROUP BY 1, 2 HAVING sum(t >= :s) > 0",
        q,
    )
    return {(a, b): (weight, previous, bool(new)) for a, b, weight, previous, new in rows}


def _brokers(
    graph: nx.Graph,
    names: dict[int, str],
    organisations: dict[int, str],
    member_themes: dict[int, set[str]],
    theme_names: dict[str, str],
) -> tuple[Broker, ...]:
    """Members through whom most shortest paths run: they carry what one group knows to another."""
    if graph.number_of_nodes() < 3:
        return ()
    if graph.number_of_nodes() <= EXACT_BETWEENNESS_NODES:
        centrality = nx.betweenness_centrality(graph)
    else:
        # A fixed seed keeps the same community's report stable from one run to the next.
        centrality = nx.betweenness_centrality(graph, k=BETWEENNESS_SAMPLES, seed=7)
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
                themes=tuple(sorted(theme_names.get(t, t) for t in member_themes.get(member, ()))),
            )
        )
    return tuple(brokers)


def _network(graph: nx.Graph, names: dict[int, str], organisations: dict[int, str]) -> Network:
    strongest = sorted(
        graph.edges(data="weight"),
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
    store: SqliteStore,
    p: dict,
    names: dict[int, str],
    theme_names: dict[str, str],
    tz: ZoneInfo,
) -> tuple[dict[str, int], tuple[KnowledgeItem, ...]]:
    """Items shared in the period. An item whose every author opted out is left out with them."""
    rows = await store.fetch_all(
        "SELECT k.id, k.kind, k.title, k.link, k.theme, k.created_at, "
        "group_concat(a.member_id) FROM knowledge_items k "
        "LEFT JOIN knowledge_authors a ON a.item_id = k.id "
        "WHERE k.community = :c AND k.created_at >= :s AND k.created_at < :e "
        "GROUP BY k.id ORDER BY k.created_at, k.id",
        p,
    )
    counts = dict.fromkeys(("lesson", "case", "document"), 0)
    items = []
    for _, kind, title, link, theme, created_at, author_ids in rows:
        authors = [int(a) for a in author_ids.split(",")] if author_ids else []
        shown = tuple(sorted((names[a] for a in authors if a in names), key=str.casefold))
        if authors and not shown:
            continue
        counts[kind] += 1
        items.append(
            KnowledgeItem(
                kind=kind,
                title=title,
                link=link,
                theme_name=theme_names.get(theme, theme) if theme else None,
                authors=shown,
                created=datetime.fromtimestamp(created_at, tz).date(),
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


async def _survey_rows(store: SqliteStore, p: dict, kind: str) -> list:
    return await store.fetch_all(
        "SELECT s.id, s.period, s.asked_at, "
        "(SELECT count(*) FROM survey_invitations i WHERE i.survey_id = s.id AND i.delivered = 1 "
        f"AND i.member_id IN {_VISIBLE}), "
        "(SELECT count(*) FROM survey_answers a WHERE a.survey_id = s.id) "
        "FROM surveys s WHERE s.community = :c AND s.kind = :kind AND s.asked_at >= :s "
        "AND s.asked_at < :e ORDER BY s.asked_at",
        {**p, "kind": kind},
    )


async def _pulses(
    store: SqliteStore, p: dict, names: dict[int, str], tz: ZoneInfo
) -> tuple[PulseResult, ...]:
    results = []
    for survey_id, label, asked_at, invited, answers in await _survey_rows(store, p, "pulse"):
        asked = datetime.fromtimestamp(asked_at, tz).date()
        if answers < MIN_GROUP:
            results.append(PulseResult(label, asked, invited, answers, False, None, None, ()))
            continue
        averages = await store.fetch_one(
            "SELECT avg(satisfaction), avg(ownership) FROM survey_answers WHERE survey_id = ?",
            (survey_id,),
        )
        learned = await store.fetch_all(
            "SELECT learned_from_member_id, count(*) FROM survey_answers WHERE survey_id = ? "
            "AND learned_from_member_id IS NOT NULL GROUP BY 1",
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


async def _impact(store: SqliteStore, p: dict, tz: ZoneInfo) -> tuple[ImpactSurvey, ...]:
    results = []
    for survey_id, label, asked_at, invited, answers in await _survey_rows(store, p, "impact"):
        stories: tuple[str, ...] = ()
        if answers >= MIN_GROUP:
            rows = await store.fetch_all(
                "SELECT trim(story) FROM survey_answers WHERE survey_id = ? "
                "AND trim(coalesce(story, '')) != '' ORDER BY id",
                (survey_id,),
            )
            stories = tuple(row[0] for row in rows)
        results.append(
            ImpactSurvey(
                survey=label,
                asked=datetime.fromtimestamp(asked_at, tz).date(),
                invited=invited,
                answers=answers,
                shown=answers >= MIN_GROUP,
                stories=stories,
            )
        )
    return tuple(results)
