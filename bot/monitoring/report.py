"""The PraxisNote's three-level M&E report: the figures of monitoring, evaluation and impact.

``build_report`` reads a period through ``storage.report_reads`` and returns plain data
(``bot.monitoring.report_model.Report``); turning it into markdown, HTML, JSON or CSV is
``bot.monitoring.render``'s job, the network maths ``bot.monitoring.report_network``'s. Here: the
period's weeks, the levels of participation per week, and the assembly.

Opted-out members and bots appear nowhere: not as nodes of the network, not in counts, not as
names. Forgotten members are already gone from the tables. Survey results are shown only for
groups of at least the community's ``surveys.min_group_size`` answers, and read from released
answers only, which come in steps of that size.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from contextlib import aclosing
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import epoch
from bot.config import Settings
from bot.monitoring.common import about_period
from bot.monitoring.report_model import (
    Evaluation,
    Impact,
    ImpactSurvey,
    KnowledgeItem,
    Monitoring,
    Network,
    OrganisationLink,
    PulseResult,
    Report,
    ThemeVoices,
    ThemeWeek,
    WeekLevels,
)
from bot.monitoring.report_network import Graph, MemberThemes, brokers, graph_figures, tie_graph
from bot.monitoring.responses import ResponseTimes, first_responses
from bot.services.participation import Level, level_of
from bot.worker import run_in_worker
from storage import identities, report_reads
from storage.activity import Activity
from storage.contract import Reads, Store
from storage.knowledge import KNOWLEDGE_KINDS, knowledge_items
from storage.privacy import hide_names, names_hiding
from storage.report_reads import ReportDays, ReportSpan, SurveyCount
from storage.rollups import EPOCH_DAY, MONDAY, refresh_rollups

ORGANISATION_LINKS = 10
WEEK = 7 * 86400


class _Period:
    """The period's weeks, and the epoch arithmetic the rollups' weeks are counted in."""

    def __init__(self, start: datetime, end: datetime, tz: ZoneInfo, window_weeks: int) -> None:
        if end <= start:
            raise ValueError("the report's period must end after it starts")
        self.start, self.end = epoch(start), epoch(end)
        first = start.astimezone(tz).date()
        self.monday = first - timedelta(days=first.weekday())
        # Weeks are counted in fixed 7-day steps from a local Monday midnight: across a DST change
        # a boundary is off by an hour, which moves a handful of late-night messages at most.
        self.anchor = epoch(datetime.combine(self.monday, time(), tzinfo=tz))
        self.weeks = -(-(self.end - self.anchor) // WEEK)
        self.window = window_weeks
        self.first_week = (self.monday.toordinal() - EPOCH_DAY - MONDAY) // 7
        """The rollups' number of the period's first week."""

    def week_start(self, k: int) -> date:
        return self.monday + timedelta(weeks=k)

    def week_label(self, k: int) -> str:
        year, week, _ = self.week_start(k).isocalendar()
        return f"{year}-W{week:02d}"


async def build_report(
    store: Store,
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
    theme_names = {theme_id: theme.name for theme_id, theme in config.themes.items()}
    organisations = _display_spellings(await report_reads.organisations_written(store, community))
    # Linked accounts are one person (storage.identities): each has its person's organisation,
    # and the ties, participants and brokers are counted per person.
    linked = await identities.persons(store, community)
    organisations |= {m: organisations[p] for m, p in linked.items() if p in organisations}

    async with store.transaction() as db:
        # Recounts the days that changed since the last (hourly) recount, in local days.
        await refresh_rollups(db, community, config.timezone)
    span = ReportSpan(
        community=community,
        start=period.start,
        end=period.end,
        days=ReportDays(tz, period.start, period.end, 2 * period.start - period.end),
        first_week=period.first_week,
        weeks=period.weeks,
        window=period.window,
    )
    # The ties (then the network maths on them) are the longest read, and the first responses
    # the next: each on a connection of its own, they run beside the rest. The rest reads on
    # another one, not the store's own: that one writes chat, and its page cache is sized for
    # ingest (32 MB), which the report's reads would fill on top of their own memory.
    async with asyncio.TaskGroup() as group, store.reading() as reader:
        ties_read = group.create_task(_ties(store, span, organisations, linked))
        responses_read = group.create_task(_first_responses(store, period, community, theme_names))
        totals = await report_reads.activity_totals(reader, span)
        voices: dict[str, set[int]] = defaultdict(set)
        member_themes = MemberThemes()

        def spoke(theme: str, member: int, new_voice: bool) -> None:
            member_themes.add(member, theme)
            if new_voice:
                voices[theme].add(member)

        themes = await report_reads.theme_activity(reader, span, spoke)
        levels = await _levels(reader, settings, span, period, linked)
        membership = await report_reads.membership(reader, span)
        # Names only of the new voices: the brokers and the chart are named with the ties.
        voice_names = await report_reads.names_of(
            reader, community, (m for members in voices.values() for m in members)
        )
    ties, graph, centrality, network, names = ties_read.result()
    knowledge, items = await _knowledge(store, community, period, theme_names, tz)
    commitments = await report_reads.commitments_due(
        store,
        community,
        datetime.fromtimestamp(period.start, tz).date().isoformat(),
        (end - timedelta(seconds=1)).astimezone(tz).date().isoformat(),
    )
    monitoring = Monitoring(
        members=membership.members,
        participants=len(identities.people(totals.participants, linked)),
        new_members=membership.joined,
        messages=totals.messages,
        replies=totals.replies,
        reactions=totals.reactions,
        threads=membership.threads,
        levels=levels,
        theme_activity=tuple(
            ThemeWeek(period.week_label(week - period.first_week), theme, theme_names[theme], *n)
            for (week, theme), n in sorted(themes.items())
            if theme in theme_names
        ),
        ties=ties.count,
        new_ties=ties.new,
        cross_organisation_ties=sum(ties.links.values()),
        organisations=len(
            {organisations[m] for m in totals.participants if m in organisations}
            | ties.organisations
        ),
        organisation_links=tuple(
            OrganisationLink(a, b, n)
            for (a, b), n in sorted(ties.links.items(), key=lambda kv: (-kv[1], kv[0]))[
                :ORGANISATION_LINKS
            ]
        ),
        brokers=brokers(graph, centrality, names, organisations, member_themes, theme_names),
        knowledge=knowledge,
        knowledge_items=items,
        commitments_due=commitments.due,
        commitments_fulfilled=commitments.fulfilled,
        fulfilled_ratio=(
            round(commitments.fulfilled / commitments.due, 3) if commitments.due else None
        ),
        network=network,
        first_responses=responses_read.result(),
    )
    evaluation = Evaluation(
        pulses=await _pulses(store, community, period, tz, config.surveys.min_group_size),
        ties_strengthened=ties.appeared + ties.grown,
        ties_appeared=ties.appeared,
        ties_grown=ties.grown,
        new_voices=tuple(
            ThemeVoices(
                theme,
                theme_names[theme],
                tuple(
                    sorted(
                        (voice_names[m] for m in voices[theme] if m in voice_names),
                        key=str.casefold,
                    )
                ),
            )
            for theme in theme_names
            if voices.get(theme)
        ),
    )
    surveys = await _impact(store, community, period, tz, config.surveys.min_group_size)
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


def _display_spellings(written: list[tuple[int, str]]) -> dict[int, str]:
    """Member id -> organisation, each written in its commonest spelling.

    The same organisation is often written with different capitals; the report shows one form."""
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for _, org in written:
        spellings[org.casefold()][org] += 1
    canonical = {key: counts.most_common(1)[0][0] for key, counts in spellings.items()}
    return {member_id: canonical[org.casefold()] for member_id, org in written}


async def _ties(
    store: Store, span: ReportSpan, organisations: dict[int, str], linked: dict[int, int]
) -> tuple[report_reads.Ties, Graph, dict[int, float], Network, dict[int, str]]:
    """The period's ties, read on a read-only connection of their own, the names of the members
    of their graph, and the maths on that graph, in the worker process (bot.worker): the
    betweenness of each member and the network chart. Linked accounts are one node, their
    person."""
    async with store.reading() as reader:
        ties = await report_reads.ties(reader, span, organisations, linked)
        names = await report_reads.names_of(
            reader, span.community, (m for tie in ties.strongest for m in (tie.a, tie.b))
        )
    # A member who opted out since the ties were read is not drawn.
    graph = tie_graph(tie for tie in ties.strongest if tie.a in names and tie.b in names)
    centrality, network = await run_in_worker(graph_figures, graph, names, organisations)
    return ties, graph, centrality, network, names


async def _first_responses(
    store: Store, period: _Period, community: str, theme_names: dict[str, str]
) -> tuple[ResponseTimes, ...]:
    """Per theme, the first responses to its questions and prompts, read on a connection of
    their own: those of the questions as the recount just before kept them."""
    async with store.reads_apart():
        return tuple(
            await first_responses(
                store, community, theme_names, period.start, period.end, kept=True
            )
        )


async def _levels(
    db: Reads, settings: Settings, span: ReportSpan, period: _Period, linked: dict[int, int]
) -> tuple[WeekLevels, ...]:
    """Each week's levels among members present that week, over the window ending with it; a
    person's linked accounts (``linked``, storage.identities) as one member, present from the
    first's arrival until the last leaves, with the days of all their accounts as one.

    Members and their weeks are read side by side in member order (``report_reads.member_spans``
    and ``member_weeks``): only one member's weeks are held at a time. A member's window sums
    change only at their own weeks, so their levels are counted in runs of weeks, and the level
    of a given tuple of sums is worked out once. Linked accounts are put aside while reading, and
    counted last, per person.
    """
    spans = report_reads.member_spans(db, span)
    window = period.window
    levels = list(Level)
    # Counts per week as lists indexed like ``levels``: hashing a Level runs Python code, and this
    # loop runs once per member and week they were busy in.
    counts = [[0] * len(levels) for _ in range(period.weeks)]
    # The level of no activity at all: per week, the quiet runs that begin there less those that
    # end there.
    quiet = levels.index(level_of(Activity(), settings.participation))
    quiet_runs = [0] * (period.weeks + 1)
    cache: dict[tuple[int, int, int], int] = {}

    def count(weeks: dict[int, report_reads.MemberWeek], arrived: int, left: int | None) -> None:
        # The weeks the member was there: from the one they arrived in to the one they left in.
        first = max(0, (arrived - period.anchor) // WEEK)
        stop = (
            period.weeks if left is None else min(period.weeks, (left - period.anchor) // WEEK + 1)
        )
        # Before the member's first week enters the window and after their last leaves it, the
        # sums are nought: those weeks are one run of a level each, counted at its ends, however
        # long (a member quiet all year costs no step per week).
        end = window - 1 + stop
        busy_from, busy_until = (min(weeks), min(end, max(weeks) + window)) if weeks else (end, end)
        for since, until in ((0, busy_from), (busy_until, end)):
            # Steps since..until-1 end the report's weeks since-window+1..until-window.
            lo, hi = max(first, since - window + 1), min(stop, until - window + 1)
            if lo < hi:
                quiet_runs[lo] += 1
                quiet_runs[hi] -= 1
        messages = reactions = days = 0
        for k in range(busy_from, busy_until):
            new = weeks.get(k)
            if new:
                messages, reactions, days = (
                    messages + new[2],
                    reactions + new[3],
                    days + new[4],
                )
            old = weeks.get(k - window)
            if old:
                messages, reactions, days = (
                    messages - old[2],
                    reactions - old[3],
                    days - old[4],
                )
            week = k - window + 1
            if week >= first:
                key = (messages, reactions, days)
                level = cache.get(key)
                if level is None:
                    activity = Activity(
                        messages=messages, reactions_given=reactions, active_days=days
                    )
                    level = cache[key] = levels.index(level_of(activity, settings.participation))
                counts[week][level] += 1

    # Per person, the arrival of their first account and the departure of their last (None
    # while one is still there).
    persons: dict[int, tuple[int, int | None]] = {}
    read = report_reads.member_weeks(db, span)
    async with aclosing(spans), aclosing(read):
        chunk: list[report_reads.MemberWeek] = []
        at = 0
        async for members in spans:
            for member_id, arrived, left in members:
                # This member's rows, each kept as it came (no tuple built per row); a member who
                # became invisible between the two reads has rows nobody asks for, passed over.
                weeks: dict[int, report_reads.MemberWeek] = {}
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
                person = linked.get(member_id)
                if person is None:
                    count(weeks, arrived, left)
                elif person in persons:
                    was_arrived, was_left = persons[person]
                    persons[person] = (
                        min(was_arrived, arrived),
                        None if was_left is None or left is None else max(was_left, left),
                    )
                else:
                    persons[person] = (arrived, left)
    if persons:
        first_week = span.first_week - (window - 1)
        together = await identities.weeks_of_persons(
            db,
            [member_id for member_id, person in linked.items() if person in persons],
            first_week,
            span.first_week + span.weeks,
        )
        for person, (arrived, left) in persons.items():
            count(together.get(person, {}), arrived, left)
    running = 0
    for week, started in enumerate(quiet_runs[:-1]):
        running += started
        counts[week][quiet] += running
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


async def _knowledge(
    store: Store, community: str, period: _Period, theme_names: dict[str, str], tz: ZoneInfo
) -> tuple[dict[str, int], tuple[KnowledgeItem, ...]]:
    """Items shared in the period, as the library shows them (storage.knowledge's privacy rule)."""
    counts = dict.fromkeys(KNOWLEDGE_KINDS, 0)
    items = []
    shared = await knowledge_items(store, community, start=period.start, end=period.end)
    for item in reversed(shared):
        # Only items with a kind are listed (one waiting for its kind is in no read but its own).
        assert item.kind is not None
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


async def _surveys_about(
    store: Store, community: str, period: _Period, kind: str, tz: ZoneInfo
) -> list[SurveyCount]:
    """The community's surveys of ``kind`` that ask about the period (``about_period``)."""
    start = datetime.fromtimestamp(period.start, tz)
    end = datetime.fromtimestamp(period.end, tz)
    return [
        survey
        for survey in await report_reads.survey_counts(store, community, kind)
        if about_period(survey.period, start, end, tz)
    ]


async def _pulses(
    store: Store,
    community: str,
    period: _Period,
    tz: ZoneInfo,
    min_group: int,
) -> tuple[PulseResult, ...]:
    results = []
    for survey in await _surveys_about(store, community, period, "pulse", tz):
        asked = datetime.fromtimestamp(survey.asked_at, tz).date()
        if survey.released < min_group:
            results.append(
                PulseResult(
                    survey.period, asked, survey.invited, survey.answers, False, None, None, ()
                )
            )
            continue
        averages = await report_reads.pulse_averages(store, survey.id)
        learned = await report_reads.learned_from(store, survey.id)
        names = await report_reads.names_of(store, community, (member for member, _ in learned))
        named = sorted(
            ((names[member], n) for member, n in learned if member in names),
            key=lambda pair: (-pair[1], pair[0].casefold()),
        )
        results.append(
            PulseResult(
                survey=survey.period,
                asked=asked,
                invited=survey.invited,
                answers=survey.answers,
                shown=True,
                satisfaction=(
                    None if averages.satisfaction is None else round(averages.satisfaction, 2)
                ),
                ownership=None if averages.ownership is None else round(averages.ownership, 2),
                learned_from=tuple(named),
            )
        )
    return tuple(results)


async def _impact(
    store: Store, community: str, period: _Period, tz: ZoneInfo, min_group: int
) -> tuple[ImpactSurvey, ...]:
    results = []
    hiding = await names_hiding(store, community)
    for survey in await _surveys_about(store, community, period, "impact", tz):
        shown = survey.released >= min_group
        stories: tuple[str, ...] = ()
        if shown:
            stories = tuple(
                hide_names(story, hiding) for story in await report_reads.stories(store, survey.id)
            )
        results.append(
            ImpactSurvey(
                survey=survey.period,
                asked=datetime.fromtimestamp(survey.asked_at, tz).date(),
                invited=survey.invited,
                answers=survey.answers,
                shown=shown,
                stories=stories,
            )
        )
    return tuple(results)
