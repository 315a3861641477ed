"""Turning what a member typed into typed values, or one clear sentence saying what is wrong."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.commands.context import CommandError

FIRST_YEAR, LAST_YEAR = 2000, 2100
"""Dates outside these years are typing mistakes (and would overflow date arithmetic)."""
MAX_PERIOD = timedelta(days=3 * 366)
"""The longest span a report or statistics covers: a report's work grows with its weeks."""
MAX_DURATION = timedelta(days=10 * 366)
MAX_DIGITS = 18
"""Whole numbers fit SQLite's 64-bit integers (and stay far from Python's digit limit)."""
QUOTE_CHARS = 60
"""How much of what a member typed an error sentence repeats."""


def excerpt(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters: what an error sentence quotes back."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def parse_integer(text: str) -> int:
    raw = text.strip()
    if not re.fullmatch(r"-?\d+", raw):
        raise CommandError("“{text}” is not a whole number.", text=excerpt(raw))
    if len(raw.lstrip("-")) > MAX_DIGITS:
        raise CommandError(
            "“{text}” is too long a number; numbers here have at most 18 digits.",
            text=excerpt(raw),
        )
    return int(raw)


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime
    label: str


_DURATION = re.compile(r"^(\d+)\s*([hdwm])$", re.I)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_duration(text: str, longest: timedelta = MAX_DURATION) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match or match.group(1).strip("0") == "":
        raise CommandError(
            "“{text}” is not a length of time; write a number and a unit, like 12h, 90d or 6w.",
            text=excerpt(text),
        )
    digits, unit = match.group(1), match.group(2).lower()
    # Compared in days before converting, so that no amount can overflow a timedelta.
    days_per_unit = {"h": 1 / 24, "d": 1, "w": 7, "m": 30}[unit]
    if len(digits.lstrip("0")) > 7 or int(digits) * days_per_unit > longest.days:
        raise CommandError(
            "“{text}” is longer than Trellis goes; give at most {days} days, like {weeks}w.",
            text=excerpt(text),
            days=longest.days,
            weeks=longest.days // 7,
        )
    amount = int(digits)
    if unit == "m":
        return timedelta(days=30 * amount)
    return amount * _UNITS[unit]


def _check_year(year: int, text: str) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise CommandError(
            "“{text}” is outside the years Trellis works with; use a year from 2000 to 2100.",
            text=excerpt(text),
        )


def parse_date(text: str) -> date:
    raw = text.strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError:
        raise CommandError(
            "“{text}” is not a date; write it as YYYY-MM-DD, like 2026-12-01.", text=excerpt(raw)
        ) from None
    _check_year(day.year, raw)
    return day


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
            text=excerpt(text),
        ) from None
    _check_year(moment.year, text)
    return moment.replace(tzinfo=tz).astimezone(UTC)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(UTC)


def parse_period(text: str, tz: ZoneInfo, now: datetime) -> Period:
    """A span of time: ``7d``/``4w`` (up to now), ``2026-W40``, ``2026-10``, ``2026-Q4``, ``2026``,
    ``2026-10-01..2026-10-31`` (both days included)."""
    raw = text.strip()
    if _DURATION.match(raw):
        span = parse_duration(raw, MAX_PERIOD)
        # Up to and including this second, so what was said just before the command counts.
        return Period(now - span, now + timedelta(seconds=1), raw)
    if match := re.fullmatch(r"(\d{4})-W(\d{1,2})", raw, re.I):
        year, week = int(match.group(1)), int(match.group(2))
        _check_year(year, raw)
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
        _check_year(year, raw)
        return Period(
            _local_midnight(date(year, 1, 1), tz), _local_midnight(date(year + 1, 1, 1), tz), raw
        )
    if match := re.fullmatch(r"(\d{4})-Q([1-4])", raw, re.I):
        year, quarter = int(match.group(1)), int(match.group(2))
        _check_year(year, raw)
        first = date(year, 3 * quarter - 2, 1)
        after = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
        return Period(_local_midnight(first, tz), _local_midnight(after, tz), f"{year}-Q{quarter}")
    if match := re.fullmatch(r"(\d{4})-(\d{2})", raw):
        year, month = int(match.group(1)), int(match.group(2))
        _check_year(year, raw)
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
                text=excerpt(raw),
            )
        if last - first >= MAX_PERIOD:
            raise CommandError(
                "“{text}” is longer than Trellis goes; a period covers at most {days} days.",
                text=excerpt(raw),
                days=MAX_PERIOD.days,
            )
        return Period(
            _local_midnight(first, tz), _local_midnight(last + timedelta(days=1), tz), raw
        )
    raise CommandError(
        "“{text}” is not a period; write 7d, 4w, 2026-W40, 2026-10, 2026-Q4, 2026 or "
        "2026-10-01..2026-10-31.",
        text=excerpt(raw),
    )


LANGUAGE_NAMES = {"en": "English", "es": "español", "pt": "português"}
"""The languages a member may choose for what Trellis says to them, each named in itself."""
_LANGUAGE_WORDS = {
    "english": "en", "ingles": "en", "spanish": "es", "espanol": "es", "castellano": "es",
    "portuguese": "pt", "portugues": "pt",
}  # fmt: skip


def parse_language(text: str) -> str | None:
    """``pt`` (or ``português``) -> "pt"; nothing -> None, to follow the community's language."""
    raw = " ".join(text.split())
    if not raw:
        return None
    folded = unicodedata.normalize("NFKD", raw.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    language = plain if plain in LANGUAGE_NAMES else _LANGUAGE_WORDS.get(plain)
    if language is None:
        raise CommandError(
            "“{text}” is not a language Trellis speaks; write language:en, language:es or "
            "language:pt, or language: alone to follow the community's.",
            text=excerpt(raw),
        )
    return language
