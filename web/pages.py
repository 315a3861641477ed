"""What each dashboard page shows, read through the services and storage reads the commands use.

Every function returns plain values for a template; none writes. Names come from the reads that
already leave out bots, opted-out and forgotten members, and free text others wrote is shown with
an opted-out member's name hidden, as everywhere else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.commands.parsing import parse_period
from bot.commands.permissions import Scope, permission_of, scope_of
from bot.commands.spec import Permission
from bot.events import MemberRef
from bot.i18n import Translator
from bot.monitoring import charts
from bot.monitoring.knowledge import kind_label, organisations
from bot.monitoring.report import build_report
from bot.monitoring.report_model import Network, Report
from bot.monitoring.responses import duration
from bot.services import nudges, participation
from bot.worker import run_in_worker
from storage import activity, calendar, commitments, facilitation, privacy, web
from storage.knowledge import KNOWLEDGE_KINDS, knowledge_items
from storage.profiles import active_since
from storage.profiles import profiles as member_profiles
from storage.web import WebMember

if TYPE_CHECKING:
    from bot.app import Trellis

TREND_PERIOD = "12w"
"""The span of the dashboard's figures over time (levels, theme activity, network)."""
REPORT_FRESH_S = 300.0
"""How long a built report serves pages before it is built again: many facilitators looking at
once cost one report, and the figures move by the hour, not the second."""
NEWCOMER_DAYS = 30


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking, in which community, what they may see, and in which language."""

    member: WebMember
    scope: Scope
    t: Translator
    tz: ZoneInfo

    @property
    def community(self) -> str:
        return self.member.community

    @property
    def facilitator(self) -> bool:
        return self.scope.permission >= Permission.FACILITATOR

    @property
    def allowed(self) -> bool:
        """Facilitators and theme leaders use the dashboard; nobody else."""
        return self.scope.permission >= Permission.THEME_LEADER


async def viewer(app: Trellis, member: WebMember) -> Viewer:
    """Who is looking, with the permission their link gave them, or less if they have lost some
    since (a role taken away, the configuration changed): never more."""
    community = app.community(member.community)
    settings = community.settings
    platform, _, platform_id = member.member_key.partition(":")
    now_held = await permission_of(community, MemberRef(platform, platform_id))
    held = min(Permission(member.permission), now_held)
    scope = scope_of(settings, member.member_key, held, member.member_id)
    t = await community.translator_of(member.member_key)
    return Viewer(member, scope, t, ZoneInfo(settings.timezone))


def day(epoch: int | None, tz: ZoneInfo) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).astimezone(tz).strftime("%Y-%m-%d")


@dataclass(slots=True)
class Reports:
    """Recently built trend reports per community, shared by every session. One is built again
    after ``REPORT_FRESH_S``, and at once when someone opted out or in or was forgotten."""

    built: dict[str, tuple[float, tuple[int, ...], Report]] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    drawn: dict[tuple[str, ...], tuple[Report, bytes]] = field(default_factory=dict)
    """Charts drawn from a report, by community, chart and language: drawn again only when the
    report is built again."""

    async def chart(
        self, app: Trellis, community: str, key: tuple[str, ...], draw: Callable[[Report], bytes]
    ) -> bytes:
        """The chart ``draw`` makes of the community's trend report; ``draw`` is one of this
        module's ``*_svg`` (with its other arguments bound), as it runs in the worker process."""
        report = await self.trend(app, community)
        found = self.drawn.get((community, *key))
        if found is not None and found[0] is report:
            return found[1]
        data = await run_in_worker(draw, report)
        self.drawn[(community, *key)] = (report, data)
        return data

    async def trend(self, app: Trellis, community: str) -> Report:
        lock = self.locks.setdefault(community, asyncio.Lock())
        async with lock:
            mark = await web.privacy_mark(app.store, community)
            found = self.built.get(community)
            if found is not None and found[1] == mark:
                if time.monotonic() - found[0] < REPORT_FRESH_S:
                    return found[2]
            tz = ZoneInfo(app.community(community).settings.timezone)
            period = parse_period(TREND_PERIOD, tz, app.clock.now())
            # Labelled by its dates ("2026-07-27..2026-10-19"), clearer on a page than "12w".
            report = await build_report(
                app.store, app.settings, community, period.start, period.end
            )
            self.built[community] = (time.monotonic(), mark, report)
            return report


def levels_svg(report: Report, t: Translator) -> bytes:
    return charts.levels_chart(report.monitoring.levels, t, "svg", title=False)


def themes_svg(report: Report, wanted: list[str], t: Translator) -> bytes:
    rows = [row for row in report.monitoring.theme_activity if row.theme in wanted]
    return charts.themes_chart(weeks_of(report), rows, t, "svg", title=False)


def network_svg(report: Report, t: Translator) -> bytes:
    return charts.network_chart(report.monitoring.network, t, "svg", title=False)


def weeks_of(report: Report) -> list[str]:
    return [w.week for w in report.monitoring.levels]


async def overview(app: Trellis, who: Viewer, reports: Reports) -> dict[str, Any]:
    now = app.clock.now()
    week = int(timedelta(days=7).total_seconds())
    end = int(now.timestamp()) + 1
    this_week = await activity.totals(app.store, who.community, end - week, end)
    last_week = await activity.totals(app.store, who.community, end - 2 * week, end - week)
    report = await reports.trend(app, who.community)
    themes = app.themes[who.community].themes
    figures = [
        (who.t._("Messages"), this_week.messages, last_week.messages),
        (who.t._("Members taking part"), this_week.active_members, last_week.active_members),
        (who.t._("Replies"), this_week.replies, last_week.replies),
        (who.t._("Reactions"), this_week.reactions, last_week.reactions),
        (who.t._("New members"), this_week.new_members, last_week.new_members),
    ]
    dormant = await facilitation.dormant_since(app.store, who.community)
    return {
        "figures": figures,
        "themes": [
            {
                "id": theme_id,
                "name": themes[theme_id].name,
                "this_week": this_week.by_theme.get(theme_id, 0),
                "last_week": last_week.by_theme.get(theme_id, 0),
                "dormant": theme_id in dormant,
            }
            for theme_id in who.scope.themes(themes)
        ],
        "period": report.label,
        "levels": report.monitoring.levels,
    }


async def theme_page(app: Trellis, who: Viewer, reports: Reports, theme_id: str) -> dict[str, Any]:
    theme = app.themes[who.community].themes[theme_id]
    settings = app.community(who.community).settings.themes[theme_id]
    report = await reports.trend(app, who.community)
    now = int(app.clock.now().timestamp())
    last = (await activity.theme_last_activity(app.store, who.community)).get(theme_id)
    dormant = (await facilitation.dormant_since(app.store, who.community)).get(theme_id)
    prompts = []
    for prompt in await facilitation.prompts(app.store, who.community, theme_id):
        response = None
        if prompt.posted_at is not None:
            found = await facilitation.prompt_response(app.store, who.community, prompt, now)
            response = {
                "responders": found.responders,
                "new_voices": found.new_voices,
                "first": duration(who.t, found.first_reply_after)
                if found.first_reply_after is not None
                else "—",
            }
        prompts.append(
            {
                "id": prompt.id,
                "text": prompt.text,
                "posted": day(prompt.posted_at, who.tz) if prompt.posted_at else None,
                "response": response,
            }
        )
    weeks = [row for row in report.monitoring.theme_activity if row.theme == theme_id]
    return {
        "id": theme_id,
        "name": theme.name,
        "goal": settings.learning_goal,
        "weeks": weeks,
        "last_activity": day(last, who.tz),
        "dormant_since": day(dormant, who.tz) if dormant else None,
        "prompts": prompts,
        "queued": [p for p in prompts if p["posted"] is None],
        "posted": [p for p in prompts if p["posted"] is not None],
        "period": report.label,
    }


async def people(app: Trellis, who: Viewer) -> dict[str, Any]:
    now = app.clock.now()
    settings = app.settings.participation
    offset = now.astimezone(who.tz).utcoffset() or timedelta()
    per_member, levels, _ = await participation.stats(
        app.store,
        who.community,
        settings,
        now - timedelta(weeks=settings.window_weeks),
        now + timedelta(seconds=1),
        theme=None,
        day_offset=int(offset.total_seconds()),
    )
    names = await privacy.visible_members(app.store, who.community)
    labels = {
        participation.Level.CORE: who.t._("Core"),
        participation.Level.ACTIVE: who.t._("Active"),
        participation.Level.PERIPHERAL: who.t._("Peripheral"),
        participation.Level.INACTIVE: who.t._("Inactive"),
    }
    order = list(participation.Level)
    # The period is the levels' window, so its activity gives each member's level.
    found = [
        (
            participation.level_of(per_member.get(member_id), settings),
            per_member[member_id] if member_id in per_member else activity.Activity(),
            name,
        )
        for member_id, name in names.items()
    ]
    found.sort(key=lambda m: (order.index(m[0]), -m[1].messages, m[2].casefold()))
    members = [
        {
            "name": name,
            "level": labels[level],
            "messages": done.messages,
            "reactions": done.reactions_given,
        }
        for level, done, name in found
    ]
    quiet = []
    for member in await nudges.quiet_list(app.community(who.community), now):
        if member.kind == "newcomer":
            why = [who.t._("joined {date}, has not posted yet", date=day(member.since, who.tz))]
        else:
            why = [who.t._("last posted {date}", date=day(member.since, who.tz))]
        if member.reacted:
            why.append(who.t._("reacts to others' messages"))
        if member.last_nudged_at:
            why.append(who.t._("nudged {date}", date=day(member.last_nudged_at, who.tz)))
        if member.unreachable_at:
            why.append(who.t._("does not accept direct messages"))
        if member.nudges_off:
            why.append(who.t._("turned nudges off"))
        quiet.append({"name": member.name, "why": "; ".join(why)})
    end = int(now.timestamp()) + 1
    newcomers = [
        names[member_id]
        for member_id in await activity.joined_between(
            app.store, who.community, end - NEWCOMER_DAYS * 86400, end
        )
        if member_id in names
    ]
    return {
        "levels": [(labels[level], levels[level]) for level in order],
        "members": members,
        "quiet": quiet,
        "newcomers": newcomers,
        "newcomer_days": NEWCOMER_DAYS,
        "window_weeks": settings.window_weeks,
    }


def single_contact_organisations(network: Network) -> list[tuple[str, str]]:
    """Organisations whose ties to other organisations all go through one member: (organisation,
    that member). If they leave, the organisation is cut off from the network."""
    organisation = {node.key: node.organisation for node in network.nodes}
    label = {node.key: node.label for node in network.nodes}
    bridges: dict[str, set[str]] = {}
    for edge in network.edges:
        a, b = organisation.get(edge.a, ""), organisation.get(edge.b, "")
        if a and b and a != b:
            bridges.setdefault(a, set()).add(edge.a)
            bridges.setdefault(b, set()).add(edge.b)
    return sorted(
        ((org, label[next(iter(keys))]) for org, keys in bridges.items() if len(keys) == 1),
        key=lambda pair: pair[0].casefold(),
    )


async def network(app: Trellis, who: Viewer, reports: Reports) -> dict[str, Any]:
    report = await reports.trend(app, who.community)
    watched = report.monitoring
    return {
        "period": report.label,
        "ties": watched.ties,
        "cross": watched.cross_organisation_ties,
        "organisations": watched.organisations,
        "links": watched.organisation_links,
        "brokers": watched.brokers,
        "single": single_contact_organisations(watched.network),
    }


async def knowledge(app: Trellis, who: Viewer) -> dict[str, Any]:
    themes = app.themes[who.community].themes
    items = await knowledge_items(app.store, who.community)
    profiles = await member_profiles(app.store, who.community)
    since = int(
        (app.clock.now() - timedelta(weeks=app.settings.participation.window_weeks)).timestamp()
    )
    active = await active_since(app.store, who.community, since)
    groups, unnamed = organisations(profiles, active)
    return {
        "items": [
            {
                "id": item.id,
                "kind": kind_label(who.t._, item.kind or "reference"),
                "kind_id": item.kind,
                "title": item.title,
                "link": item.link
                if item.link and item.link.startswith(("https://", "http://"))
                else None,
                "theme": themes[item.theme].name if item.theme in themes else "",
                "authors": ", ".join(name for _, name in item.authors),
                "created": day(item.created_at, who.tz),
            }
            for item in items
        ],
        "kinds": [(kind, kind_label(who.t._, kind)) for kind in KNOWLEDGE_KINDS],
        "experts": [p for p in profiles if p.expertise],
        "organisations": groups,
        "unnamed": unnamed,
    }


async def commitments_and_events(app: Trellis, who: Viewer) -> dict[str, Any]:
    now = app.clock.now()
    today = now.astimezone(who.tz).date().isoformat()
    found = await commitments.commitments(app.store, who.community)
    start = int((now - timedelta(days=90)).timestamp())
    end = int((now + timedelta(days=366)).timestamp())
    events = await calendar.events_between(app.store, who.community, start, end)
    themes = app.themes[who.community].themes
    stamp = int(now.timestamp())
    return {
        "commitments": [
            {
                "name": c.name,
                "what": c.what,
                "due": c.due_date,
                "done": day(c.done_at, who.tz) if c.done_at else None,
                "overdue": c.done_at is None and c.due_date < today,
            }
            for c in found
        ],
        "upcoming": [_event(e, who, themes) for e in events if e.starts_at >= stamp],
        "past": [_event(e, who, themes) for e in reversed(events) if e.starts_at < stamp],
    }


def _event(event: calendar.CommunityEvent, who: Viewer, themes: dict[str, Any]) -> dict[str, Any]:
    starts = datetime.fromtimestamp(event.starts_at, UTC).astimezone(who.tz)
    return {
        "id": event.id,
        "title": event.title,
        "when": starts.strftime("%Y-%m-%d %H:%M"),
        "place": event.place,
        "theme": themes[event.theme].name if event.theme in themes else "",
    }


async def surveys(app: Trellis, who: Viewer, reports: Reports) -> dict[str, Any]:
    report = await reports.trend(app, who.community)
    return {
        "period": report.label,
        "pulses": report.evaluation.pulses,
        "impact": report.impact.surveys,
        "min_group": report.min_group_size,
    }
