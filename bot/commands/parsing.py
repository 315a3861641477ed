"""Turning what a member typed into typed values, or one clear sentence saying what is wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.commands.context import CommandError


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime
    label: str


_DURATION = re.compile(r"^(\d+)\s*([hdwm])$", re.I)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise CommandError(
            "“{text}” is not a length of time; write a number and a unit, like 12h, 90d or 6w.",
            text=text,
        )
    amount, unit = int(match.group(1)), match.group(2).lower()
    if unit == "m":
        return timedelta(days=30 * amount)
    return amount * _UNITS[unit]


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(
            "“{text}” is not a date; write it as YYYY-MM-DD, like 2026-12-01.", text=text
        ) from None


def parse_datetime(text: str, tz: ZoneInfo) -> datetime:
    """``YYYY-MM-DD`` (09:00) or ``YYYY-MM-DD HH:MM`` in the community's timezone, as UTC."""
    text = text.strip().replace("T", " ")
    try:
        if len(text) <= 10:
            moment = datetime.combine(date.fromisoformat(text), time(9, 0))
        else:
            moment = datetime.strptime(text, "%Y-%m-%d %H:%M")  # noqa: DTZ007 - zone set below
    except ValueError:
        raise CommandError(
            "“{text}” is not a date and time; write YYYY-MM-DD or YYYY-MM-DD HH:MM, "
            "like 2026-12-01 18:30.",
            text=text,
        ) from None
    return moment.replace(tzinfo=tz).astimezone(UTC)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(UTC)


def parse_period(text: str, tz: ZoneInfo, now: datetime) -> Period:
    """A span of time: ``7d``/``4w`` (up to now), ``2026-W40``, ``2026-10``, ``2026-Q4``, ``2026``,
    ``2026-10-01..2026-10-31`` (both days included)."""
    raw = text.strip()
    if _DURATION.match(raw):
        span = parse_duration(raw)
        # Up to and including this second, so what was said just before the command counts.
        return Period(now - span, now + timedelta(seconds=1), raw)
    if match := re.fullmatch(r"(\d{4})-W(\d{1,2})", raw, re.I):
        year, week = int(match.group(1)), int(match.group(2))
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise CommandError(
                "{year} has no week {week}; weeks run from W01 to W52 or W53.", year=year, week=week
            ) from None
        return Period(
            _local_midnight(monday, tz),
            _local_midnight(monday + timedelta(days=7), tz),
            f"{year}-W{week:02d}",
        )
    if re.fullmatch(r"\d{4}", raw):
        year = int(raw)
        return Period(
            _local_midnight(date(year, 1, 1), tz), _local_midnight(date(year + 1, 1, 1), tz), raw
        )
    if match := re.fullmatch(r"(\d{4})-Q([1-4])", raw, re.I):
        year, quarter = int(match.group(1)), int(match.group(2))
        first = date(year, 3 * quarter - 2, 1)
        after = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
        return Period(_local_midnight(first, tz), _local_midnight(after, tz), f"{year}-Q{quarter}")
    if match := re.fullmatch(r"(\d{4})-(\d{2})", raw):
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12:
            raise CommandError(
                "“{text}” has no month {month}; months run from 01 to 12.", text=raw, month=month
            )
        first = date(year, month, 1)
        after = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return Period(_local_midnight(first, tz), _local_midnight(after, tz), raw)
    if ".." in raw:
        left, right = raw.split("..", 1)
        first, last = parse_date(left), parse_date(right)
        if last < first:
            raise CommandError(
                "In “{text}” the end comes before the start; write the earlier date first.",
                text=raw,
            )
        return Period(
            _local_midnight(first, tz), _local_midnight(last + timedelta(days=1), tz), raw
        )
    raise CommandError(
        "“{text}” is not a period; write 7d, 4w, 2026-W40, 2026-10, 2026-Q4, 2026 or "
        "2026-10-01..2026-10-31.",
        text=raw,
    )
