"""Scheduled jobs: the schedules and every run live in our tables; APScheduler only fires.

A job is a cron expression in a timezone and a coroutine. ``run_due`` runs, for each job, the most
recent fire time that has passed and has not run yet: after a restart a missed weekly digest is
posted once, and because each (job, due time) is claimed in the database before it acts, a
posted one is never posted twice. Fire times from before the job was first known are not "missed".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.clock import Clock
from storage import facilitation
from storage.sqlite import SqliteStore

log = logging.getLogger(__name__)

_LOOKBACK = timedelta(days=35)


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    cron: str
    timezone: str
    run: Callable[[datetime], Awaitable[str]]
    """Called with the due time (aware UTC); returns a line for the run log."""

    def trigger(self) -> CronTrigger:
        return CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(self.timezone))


def last_fire_time(trigger: CronTrigger, since: datetime, now: datetime) -> datetime | None:
    """The latest fire time in (since, now], or None."""
    latest = None
    moment = trigger.get_next_fire_time(None, since + timedelta(seconds=1))
    while moment is not None and moment <= now:
        latest = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return latest


class Scheduler:
    def __init__(self, store: SqliteStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.jobs: dict[str, Job] = {}
        self._lock = asyncio.Lock()
        self._aps: AsyncIOScheduler | None = None
        self._triggers: dict[str, CronTrigger] = {}
        self._checked_until: dict[str, datetime] = {}
        """Per job, the time up to which fire times were already looked at in this process."""

    def add(self, job: Job) -> None:
        if job.name in self.jobs:
            raise ValueError(f"a job named {job.name!r} is already scheduled")
        self.jobs[job.name] = job
        self._triggers[job.name] = job.trigger()

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
                due = last_fire_time(self._triggers[job.name], since, now)
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
                self.run_due, job.trigger(), id=job.name, coalesce=True, misfire_grace_time=3600
            )
        self._aps.start()

    def stop(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
