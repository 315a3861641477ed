"""Community events, face to face or online: added by members, listed, reminded a day and an hour
before in the theme's place (or the digest channel), and announced in the digest."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clock import epoch
from bot.commands.context import CommandContext, CommandError
from bot.commands.paging import paged
from bot.commands.parsing import excerpt, parse_datetime
from bot.commands.spec import PAGE, CommandSpec, Param, ParamKind
from bot.community import Community
from bot.delivery import Outcome, failures, post_each
from bot.monitoring.common import local_time, require_tracked
from bot.monitoring.knowledge import TITLE_CHARS
from bot.outgoing import OutgoingMessage, literal
from bot.services.digest_section import DigestContext
from bot.themes import ThemeMap
from storage import calendar

REMINDER_CRON = "*/15 * * * *"
"""How often reminders are looked for; the hour-before reminder goes out 45 to 60 minutes ahead."""
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
LIST_AHEAD = timedelta(days=90)
DIGEST_AHEAD = timedelta(days=14)

_WHEN = re.compile(r"(?<!\S)(\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2})?)(?!\S)")


def parse_event(text: str) -> tuple[str, str, str]:
    """``"Water census review" 2026-10-02 18:30 Casa Comunal`` -> (title, when, where)."""
    match = _WHEN.search(text)
    if not match:
        raise CommandError(
            "Write the event's title, then when it starts, then optionally where, like "
            "event add Water census review 2026-10-02 18:30 Casa Comunal."
        )
    title = text[: match.start()].strip().strip('"“”').strip()
    where = " ".join(text[match.end() :].split())
    return title, match.group(1), where


def checked_event(
    title: str, when: str, where: str, tz: ZoneInfo, now: datetime
) -> tuple[str, datetime, str]:
    """An event's title, start (in UTC) and place, or the sentence saying what is wrong with them
    (the command and the dashboard's form ask the same)."""
    if not any(ch.isalnum() for ch in title):
        raise CommandError(
            "Give the event a title before its date, like event add Water census review "
            "2026-10-02 18:30."
        )
    if len(title) > TITLE_CHARS:
        raise CommandError(
            "That title is {n} characters long; keep it to {limit}.",
            n=len(title),
            limit=TITLE_CHARS,
        )
    if len(where) > TITLE_CHARS:
        raise CommandError(
            "That place is {n} characters long; keep it to {limit}.",
            n=len(where),
            limit=TITLE_CHARS,
        )
    starts = parse_datetime(when, tz)
    if starts <= now:
        raise CommandError(
            "{when} has already passed; give a date and time still to come.", when=excerpt(when)
        )
    return title, starts, where


async def event_add(ctx: CommandContext, details: str) -> str:
    require_tracked(ctx)
    title, starts, where = checked_event(*parse_event(details), ctx.tz, ctx.now)
    theme = ctx.themes.for_place(ctx.invocation.channel)
    async with ctx.transaction() as tx:
        event_id = await calendar.add_event(
            tx,
            ctx.community.id,
            title=title,
            starts_at=epoch(starts),
            place=where,
            theme=theme,
            created_by=ctx.member.id,
            at=epoch(ctx.now),
        )
    return ctx._(
        "Event {id} added: {event}. Reminders go out a day and an hour before.",
        id=event_id,
        event=_describe(ctx.themes, ctx.tz, _added(event_id, title, starts, where, theme)),
    )


def _added(
    event_id: int, title: str, starts: datetime, where: str, theme: str | None
) -> calendar.CommunityEvent:
    return calendar.CommunityEvent(event_id, title, epoch(starts), where, theme, None, None, None)


def _describe(themes: ThemeMap, tz: ZoneInfo, event: calendar.CommunityEvent) -> str:
    text = f"**{literal(event.title)}**, {local_time(event.starts_at, tz)}"
    if event.place:
        text += f", {literal(event.place)}"
    if event.theme in themes.themes:
        text += f" ({themes.themes[event.theme].name})"
    return text


async def event_list(ctx: CommandContext, page: int | None = None) -> str:
    upcoming = await calendar.events_between(
        ctx.store, ctx.community.id, epoch(ctx.now), epoch(ctx.now + LIST_AHEAD)
    )
    if not upcoming:
        return ctx._(
            "No events in the next 90 days; add one with event add <title> <YYYY-MM-DD HH:MM> "
            "[where]."
        )
    lines = [f"- {event.id}. {_describe(ctx.themes, ctx.tz, event)}" for event in upcoming]
    return paged(ctx, [ctx._("**Upcoming events**")], lines, page)


async def event_remove(ctx: CommandContext, id: int) -> str:
    async with ctx.transaction() as tx:
        found = await calendar.event(tx, ctx.community.id, id)
        if found is None or found.starts_at <= epoch(ctx.now):
            raise CommandError(
                "There is no upcoming event {id}; event list shows them with their numbers.", id=id
            )
        if not ctx.scope.covers_item(found.created_by):
            raise CommandError(
                "Only the member who added event {id} or a facilitator can remove it.", id=id
            )
        await calendar.remove_event(tx, ctx.community.id, id)
    return ctx._("Event {id}, “{title}”, is removed.", id=id, title=literal(found.title))


def reminder_places(community: Community, theme: str | None) -> tuple[str, ...]:
    """Where an event's reminders go, one place per platform: its theme's prompt places, else
    the digest's."""
    themes = community.themes
    if theme in themes.themes:
        places = themes.prompt_places(themes.themes[theme])
        if places:
            return places
    return community.settings.digest.places


async def remind(community: Community, due: datetime) -> str:
    """The reminders job: what is due by the clock now (a run caught up after downtime does not
    remind of events that already began)."""
    return await send_reminders(community, community.clock.now())


async def send_reminders(community: Community, now: datetime) -> str:
    """Post the hour-before reminders, then the day-before ones, each at most once per event."""
    store = community.store
    translator = community.translator
    sent = 0
    at = epoch(now)
    soon = await calendar.events_to_remind(
        store, community.id, at, ahead=int(HOUR.total_seconds()), column="hour_reminded_at"
    )
    for event in soon:
        text = "⏰ " + translator._(
            "Starting within the hour: {event}",
            event=_describe(community.themes, ZoneInfo(community.settings.timezone), event),
        )
        if await _post(community, event, "hour", text):
            async with store.transaction() as tx:
                await calendar.mark_event_reminded(tx, event.id, "hour_reminded_at", at)
                # Within the hour, a day-before reminder would only repeat this one.
                await calendar.mark_event_reminded(tx, event.id, "day_reminded_at", at)
            sent += 1
    tomorrow = await calendar.events_to_remind(
        store, community.id, at, ahead=int(DAY.total_seconds()), column="day_reminded_at"
    )
    for event in tomorrow:
        text = "📅 " + translator._(
            "Coming up within a day: {event}",
            event=_describe(community.themes, ZoneInfo(community.settings.timezone), event),
        )
        if await _post(community, event, "day", text):
            async with store.transaction() as tx:
                await calendar.mark_event_reminded(tx, event.id, "day_reminded_at", at)
            sent += 1
    return f"{sent} event reminders posted"


async def _post(
    community: Community, event: calendar.CommunityEvent, which: str, text: str
) -> bool:
    """Post one reminder to each of its places; True once it reached every place it can (a
    place the platform refused is tried again at the next look, and only that place)."""

    async def render(place: str) -> OutgoingMessage:
        return OutgoingMessage(text)

    places = reminder_places(community, event.theme)
    postings = await post_each(community, f"event-{which}:{event.id}", places, render)
    reached = [p for p in postings if p.outcome in (Outcome.POSTED, Outcome.ALREADY)]
    return bool(reached) and not failures(postings, off=False)


async def digest_section(ctx: DigestContext) -> str | None:
    upcoming = await calendar.events_between(
        ctx.store, ctx.community, epoch(ctx.end), epoch(ctx.end + DIGEST_AHEAD)
    )
    if not upcoming:
        return None
    lines = ["### " + ctx._("Upcoming events")]
    lines += [f"- {_describe(ctx.themes, ctx.tz, event)}" for event in upcoming]
    return "\n".join(lines)


COMMANDS = (
    CommandSpec(
        name="event add",
        help="Add a community event, face to face or online; reminders go out before it.",
        handler=event_add,
        params=(
            Param(
                "details",
                ParamKind.TEXT,
                "Title, then YYYY-MM-DD HH:MM, then where (optional)",
                syntax="<title> <YYYY-MM-DD> <HH:MM> [where]",
            ),
        ),
        private=True,
    ),
    CommandSpec(
        name="event list",
        help="Upcoming community events.",
        handler=event_list,
        params=(PAGE,),
    ),
    CommandSpec(
        name="event remove",
        help="Remove an upcoming event you added (facilitators: any event).",
        handler=event_remove,
        params=(Param("id", ParamKind.INTEGER, "The event's number"),),
        private=True,
    ),
)
