"""Scheduled jobs: the schedules and every run live in our tables; APScheduler only fires.

A job is a cron expression in a timezone and a coroutine. ``run_due`` runs, for each job, the most
recent fire time that has passed and has not run yet: after a restart a missed weekly digest is
posted once, and because each (job, due time) is claimed in the database before it acts, a
posted one is never posted twice. Fire times from before the job was first known are not "missed".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from bot.clock import Clock
from storage import facilitation
from storage.sqlite import SqliteStore

log = logging.getLogger(__name__)

_LOOKBACK = timedelta(days=35)

_MAX_STEPS = 200_000
"""A hard bound on any walk over fire times: 35 days of a job every minute is about 50,000."""


class LocalCron:
    """A cron expression read as wall-clock times in a timezone, turned into UTC instants.

    The arithmetic is done on naive wall-clock times (a ``CronTrigger`` in UTC, where no hour is
    skipped or repeated), and each wall time is then placed on the timeline of the zone:
    - a wall time that happens twice (the autumn change) fires once, at its first occurrence;
    - a wall time that does not exist (the spring change) fires at the first instant after it,
      once even if several skipped wall times fall in the same gap.
    So fire instants only move forward, and every loop below ends.
    """

    __slots__ = ("_wall", "zone")

    def __init__(self, cron: str, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self._wall = CronTrigger.from_crontab(cron, timezone=UTC)

    def fires(self, since: datetime, until: datetime) -> Iterator[datetime]:
        """The fire instants (aware UTC) in (since, until], ascending, each once."""
        since, until = since.astimezone(UTC), until.astimezone(UTC)
        # A wall time a little before since's may land after since when the clock went back.
        shift = abs(self._offset(since) - self._offset(until))
        cursor = self._wall_of(since) - timedelta(hours=2) - shift
        last = None
        for _ in range(_MAX_STEPS):
            wall = self._wall.get_next_fire_time(None, cursor.replace(tzinfo=UTC))
            if wall is None:
                return
            instant = self._instant(wall.replace(tzinfo=None))
            if instant > until:
                return
            if instant > since and instant != last:
                last = instant
                yield instant
            cursor = wall.replace(tzinfo=None) + timedelta(seconds=1)
        raise RuntimeError(f"more than {_MAX_STEPS} fire times between {since} and {until}")

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire instant after ``moment`` (within a year and a day), or None."""
        return next(self.fires(moment, moment + timedelta(days=366)), None)

    def last_between(self, since: datetime, now: datetime) -> datetime | None:
        """The latest fire instant in (since, now], or None: looks at the last hours first, so a
        job every few minutes does not walk every fire time of a long downtime."""
        for span in (timedelta(hours=3), timedelta(days=3), now - since):
            latest = None
            for latest in self.fires(max(since, now - span), now):  # noqa: B007
                pass
            if latest is not None:
                return latest
        return None

    def _offset(self, moment: datetime) -> timedelta:
        return moment.astimezone(self.zone).utcoffset() or timedelta(0)

    def _wall_of(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def _instant(self, wall: datetime) -> datetime:
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        if self._wall_of(first) == wall:
            return first  # exists; fold=0 is its first occurrence when it happens twice
        # In a gap: the first instant whose wall clock reads ``wall`` or later. Both readings of
        # the wall time bracket the change; bisect between them to the second.
        low, high = sorted((first, wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)))
        while high - low > timedelta(seconds=1):
            middle = low + (high - low) / 2
            if self._wall_of(middle) >= wall:
                high = middle
            else:
                low = middle
        return high.replace(microsecond=0)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    cron: str
    timezone: str
    run: Callable[[datetime], Awaitable[str]]
    """Called with the due time (aware UTC); returns a line for the run log."""

    def schedule(self) -> LocalCron:
        return LocalCron(self.cron, self.timezone)


class _LocalCronTrigger(BaseTrigger):
    """APScheduler fires a job at the instants ``LocalCron`` computes (never loops on a fold)."""

    def __init__(self, schedule: LocalCron) -> None:
        self.schedule = schedule

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is not None:
            return self.schedule.next_after(max(previous_fire_time, now - timedelta(seconds=1)))
        return self.schedule.next_after(now - timedelta(seconds=1))


class Scheduler:
    def __init__(self, store: SqliteStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.jobs: dict[str, Job] = {}
        self._lock = asyncio.Lock()
        self._aps: AsyncIOScheduler | None = None
        self._schedules: dict[str, LocalCron] = {}
        self._checked_until: dict[str, datetime] = {}
        """Per job, the time up to which fire times were already looked at in this process."""

    def add(self, job: Job) -> None:
        if job.name in self.jobs:
            raise ValueError(f"a job named {job.name!r} is already scheduled")
        self.jobs[job.name] = job
        self._schedules[job.name] = job.schedule()

    async def _known_since(self, job: Job, now: datetime) -> datetime:
        stored = await self.store.get_state("scheduler", job.name)
        if stored is None:
            await self.store.set_state("scheduler", job.name, now.isoformat())
            return now
        return datetime.fromisoformat(stored)

    async def run_due(self) -> list[str]:
        """Run every job whose latest fire time has passed without a run. Returns the run log."""
        async with self._lock:
            log_lines = []
            for job in list(self.jobs.values()):
                now = self.clock.now()
                since = self._checked_until.get(job.name)
                if since is None:
                    since = max(await self._known_since(job, now), now - _LOOKBACK)
                due = self._schedules[job.name].last_between(since, now)
                self._checked_until[job.name] = now
                if due is None:
                    continue
                due_at = int(due.timestamp())
                if not await facilitation.claim_run(
                    self.store, job.name, due_at, int(now.timestamp())
                ):
                    continue
                try:
                    detail = await job.run(due.astimezone(UTC))
                except Exception as exc:
                    log.exception("job %s due %s failed; it will be tried again", job.name, due)
                    await facilitation.release_run(self.store, job.name, due_at)
                    self._checked_until[job.name] = since
                    log_lines.append(f"{job.name}: failed ({exc})")
                    continue
                finished = int(self.clock.now().timestamp())
                await facilitation.finish_run(
                    self.store, job.name, due_at, finished, "done", detail
                )
                log_lines.append(f"{job.name}: {detail}")
            return log_lines

    def start(self) -> None:
        """Fire ``run_due`` from APScheduler at each job's times (real time only)."""
        self._aps = AsyncIOScheduler(timezone=UTC)
        for job in self.jobs.values():
            self._aps.add_job(
                self.run_due,
                _LocalCronTrigger(self._schedules[job.name]),
                id=job.name,
                coalesce=True,
                misfire_grace_time=3600,
            )
        self._aps.start()

    async def finish(self) -> None:
        """Return once no job is running (after ``stop``, none starts again)."""
        async with self._lock:
            pass

    def stop(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
