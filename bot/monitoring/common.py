"""Small helpers the monitoring features share: local dates, survey periods, tracking checks."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import epoch, from_epoch
from bot.commands.context import CommandContext, CommandError


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def day_end(day: date, tz: ZoneInfo) -> int:
    """The epoch second the day ends in the timezone (midnight after it)."""
    return epoch(datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz))


def local_time(seconds: int, tz: ZoneInfo) -> str:
    return from_epoch(seconds).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def period_end(label: str, tz: ZoneInfo) -> datetime:
    """The instant (aware, local midnight) the month or quarter ``label`` ends: a survey is
    reported with the period that holds the last day it asks about."""
    year, rest = label.split("-", 1)
    month = 3 * int(rest[1:]) if rest.startswith("Q") else int(rest)
    after = date(int(year) + 1, 1, 1) if month == 12 else date(int(year), month + 1, 1)
    return datetime.combine(after, time(), tzinfo=tz)


def about_period(label: str, start: datetime, end: datetime, tz: ZoneInfo) -> bool:
    """Whether the survey about ``label`` belongs to [start, end): the last day it asks about
    falls in it. So September's pulse, asked on 1 October, is in September's report (and in
    the third quarter's), and each survey is in exactly one of a run of weekly, monthly or
    quarterly reports."""
    return start < period_end(label, tz) <= end


def require_tracked(ctx: CommandContext) -> None:
    """Refuse to keep records for a member who opted out: they would be hidden in every read."""
    if ctx.member.opted_out:
        raise CommandError(
            "You have opted out of tracking, so Trellis keeps nothing for you; "
            "use optin first if you want this."
        )


def names(people: tuple[tuple[int, str], ...] | list[tuple[int, str]]) -> str:
    return ", ".join(name for _, name in people)
