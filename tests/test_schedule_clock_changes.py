"""Schedules through clock changes: every zone, the project's cron shapes, each fire exactly once.

The reference below knows nothing of APScheduler: it walks a window minute by minute in UTC and
keeps the highest wall-clock reading seen so far. A cron wall time fires at the first minute whose
reading reaches it, so a time skipped in spring fires once right after the change and a time that
comes round twice in autumn fires once, the first time.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.clock import ManualClock
from bot.scheduler import Job, LocalCron, Scheduler
from storage.sqlite import SqliteStore

# Every cron shape the project schedules (config defaults, features, examples), plus the hours a
# change skips or repeats somewhere: 00:xx (Santiago), 01:xx (New York), 02:xx (Madrid).
SHAPES = (
    "*/15 * * * *",
    "5 * * * *",
    "0 * * * *",
    "30 2 * * *",
    "30 1 * * *",
    "0 0 * * *",
    "30 3 * * *",
    "0 10 * * *",
    "0 9 * * mon",
    "0 10 1 * *",
    "0 10 2 1,4,7,10 *",
)
MINUTE = timedelta(minutes=1)
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        if part == "*":
            values.update(range(low, high + 1))
        elif part.startswith("*/"):
            values.update(range(low, high + 1, int(part[2:])))
        else:
            values.add(names[part] if names and part in names else int(part))
    return frozenset(values)


@functools.cache
def _matcher(cron: str):
    minute, hour, day, month, weekday = cron.split()
    fields = (
        _field(minute, 0, 59),
        _field(hour, 0, 23),
        _field(day, 1, 31),
        _field(month, 1, 12),
        _field(weekday, 0, 6, _DAYS),
    )

    def matches(wall: datetime) -> bool:
        return (
            wall.minute in fields[0]
            and wall.hour in fields[1]
            and wall.day in fields[2]
            and wall.month in fields[3]
            and wall.weekday() in fields[4]
        )

    return matches


@functools.cache
def _steps(zone_name: str, start: datetime, end: datetime) -> tuple[tuple[datetime, tuple], ...]:
    """Per UTC minute in (start, end]: the minute and the wall times its reading newly reaches."""
    zone = ZoneInfo(zone_name)
    steps = []
    highest = start.astimezone(zone).replace(tzinfo=None)
    moment = start + MINUTE
    while moment <= end:
        wall = moment.astimezone(zone).replace(tzinfo=None)
        reached = []
        while highest < wall:
            highest += MINUTE
            reached.append(highest)
        steps.append((moment, tuple(reached)))
        moment += MINUTE
    return tuple(steps)


def reference_fires(cron: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    matches = _matcher(cron)
    return [
        moment
        for moment, reached in _steps(zone, start, end)
        if any(matches(wall) for wall in reached)
    ]


def _offset(zone: ZoneInfo, moment: datetime) -> timedelta:
    return moment.astimezone(zone).utcoffset() or timedelta(0)


def _changes(zone_name: str, year: int) -> tuple[datetime, ...]:
    """The UTC minutes at which the zone's offset changes during ``year``."""
    zone = ZoneInfo(zone_name)
    day = datetime(year, 1, 1, tzinfo=UTC)
    changes = []
    while day.year == year:
        following = day + timedelta(days=1)
        if _offset(zone, day) != _offset(zone, following):
            low, high = day, following
            while high - low > MINUTE:
                middle = low + (high - low) / 2
                if _offset(zone, middle) == _offset(zone, day):
                    low = middle
                else:
                    high = middle
            changes.append(high.replace(second=0, microsecond=0))
        day = following
    return tuple(changes)


def _distinct_calendars(year: int) -> dict[tuple, str]:
    """One zone per distinct (offset, changes) calendar: zones that agree on both behave alike."""
    calendars: dict[tuple, str] = {}
    for name in sorted(available_timezones()):
        zone = ZoneInfo(name)
        changes = _changes(name, year)
        key = (
            _offset(zone, datetime(year, 1, 1, tzinfo=UTC)),
            tuple((change, _offset(zone, change)) for change in changes),
        )
        calendars.setdefault(key, name)
    return calendars


CHANGING_ZONES = sorted(
    name for key, name in _distinct_calendars(2026).items() if key[1]
)  # zones with at least one change in 2026, one per calendar


def test_the_autumn_change_returns_and_fires_each_hour_once():
    madrid = LocalCron("5 * * * *", "Europe/Madrid")
    since = datetime(2026, 10, 24, 23, tzinfo=UTC)
    until = datetime(2026, 10, 25, 4, tzinfo=UTC)
    # 01:05 and 02:05 summer time, the repeated 02:05 not again, then 03:05 and 04:05 winter time.
    assert list(madrid.fires(since, until)) == [
        datetime(2026, 10, 24, 23, 5, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 5, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 5, tzinfo=UTC),
        datetime(2026, 10, 25, 3, 5, tzinfo=UTC),
    ]
    assert madrid.last_between(since, until) == datetime(2026, 10, 25, 3, 5, tzinfo=UTC)


def test_apscheduler_walks_the_autumn_change_forward():
    """APScheduler asks for the next fire after each run until it passes now; it must advance."""
    trigger = Job("hourly", "5 * * * *", "Europe/Madrid", _never).apscheduler_trigger()
    now = datetime(2026, 10, 25, 4, tzinfo=UTC)
    fire = trigger.get_next_fire_time(None, datetime(2026, 10, 24, 23, tzinfo=UTC))
    walked = []
    while fire is not None and fire <= now:
        walked.append(fire)
        fire = trigger.get_next_fire_time(fire, now)
    assert walked == list(LocalCron("5 * * * *", "Europe/Madrid").fires(walked[0] - MINUTE, now))
    assert fire == datetime(2026, 10, 25, 4, 5, tzinfo=UTC)


async def _never(due: datetime) -> str:
    raise AssertionError("not run")


@pytest.mark.parametrize("zone", CHANGING_ZONES)
def test_every_changing_zone_fires_each_shape_once_around_its_changes(zone):
    for change in _changes(zone, 2026):
        start, end = change - timedelta(days=1), change + timedelta(days=2)
        for shape in SHAPES:
            assert list(LocalCron(shape, zone).fires(start, end)) == reference_fires(
                shape, zone, start, end
            ), (zone, shape, change)


@st.composite
def _zone_and_day(draw) -> tuple[str, datetime]:
    """Any zone on any day of the year, or a changing zone on the day before one of its changes."""
    if draw(st.booleans()):
        zone = draw(st.sampled_from(CHANGING_ZONES))
        change = draw(st.sampled_from(_changes(zone, 2026)))
        return zone, change.replace(hour=0, minute=0) - timedelta(days=1)
    zone = draw(st.sampled_from(sorted(available_timezones())))
    return zone, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 364)))


@settings(max_examples=80, deadline=None)
@given(
    zone_and_day=_zone_and_day(),
    shape=st.sampled_from(SHAPES),
    step_minutes=st.integers(min_value=5, max_value=600),
)
def test_stepping_through_any_day_of_the_year_runs_each_fire_once(
    zone_and_day, shape, step_minutes
):
    """As the scheduler does: each step asks for the latest fire since the previous step."""
    zone, start = zone_and_day
    end = start + timedelta(days=2)
    schedule = LocalCron(shape, zone)
    seen, moment = [], start
    while moment < end:
        following = min(moment + timedelta(minutes=step_minutes), end)
        fired = list(schedule.fires(moment, following))
        assert schedule.last_between(moment, following) == (fired[-1] if fired else None)
        seen.extend(fired)
        moment = following
    assert seen == reference_fires(shape, zone, start, end)
    assert len(seen) == len(set(seen))


async def test_a_daily_job_at_0230_in_madrid_runs_once_each_day_across_both_changes(tmp_path):
    """02:30 does not exist on 29 March and happens twice on 25 October."""
    store = await SqliteStore.open(tmp_path / "trellis.sqlite3")
    clock = ManualClock(datetime(2026, 3, 27, 12, tzinfo=UTC))
    scheduler = Scheduler(store, clock)
    runs: list[datetime] = []

    async def run(due: datetime) -> str:
        runs.append(due)
        return "ran"

    scheduler.add(Job("daily", "30 2 * * *", "Europe/Madrid", run))
    try:
        await scheduler.run_due()
        for start in (
            datetime(2026, 3, 27, 12, tzinfo=UTC),
            datetime(2026, 10, 23, 12, tzinfo=UTC),
        ):
            clock.set(start)
            await scheduler.run_due()
            runs.clear()
            while clock.now() < start + timedelta(days=4):
                clock.advance(timedelta(minutes=10))
                await scheduler.run_due()
            local = [due.astimezone(ZoneInfo("Europe/Madrid")) for due in runs]
            assert [moment.date() for moment in local] == [
                (start + timedelta(days=n)).date() for n in (1, 2, 3, 4)
            ]
            spring_or_autumn = local[1]
            expected = "03:00" if start.month == 3 else "02:30"
            assert f"{spring_or_autumn:%H:%M}" == expected
    finally:
        await store.close()
