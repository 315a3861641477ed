"""Scheduled jobs: the schedules and every run live in our tables; APScheduler only fires.

A job is a cron expression in a timezone and a coroutine. ``run_due`` runs, for each job, the most
recent fire time that has passed and has not run yet: after a restart a missed weekly digest is
posted once, and because each (job, due time) is claimed in the database before it acts, a
posted one is never posted twice. Fire times from before the job was first known are not "missed".

A claim is a lease held by one process: if that process dies mid-run (kill -9, a crash), the next
look at that run finds it gone and runs it again, once, and the next digest preview says so.

Jobs that act once on the world or destroy something (digests, prompts, nudges, surveys, the
retention purge) wait while the clock looks wrong: ahead of the real time that passed since the
last tick it was trusted, or, at start, further ahead of the latest message and run stored than
Trellis catches up after downtime. The platforms' clock settles it: chat stored with a time
close to the clock's makes it right again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from bot.clock import Clock
from storage import jobs
from storage.contract import Reads, Store
from storage.sqlite import store_damaged

log = logging.getLogger(__name__)

_LOOKBACK = timedelta(days=35)

_MAX_STEPS = 200_000
"""A hard bound on any walk over fire times: 35 days of a job every minute is about 50,000."""

RECHECK = timedelta(seconds=15)
"""How often, besides the jobs' own times, due runs are looked at again."""

CLOCK_SLACK = timedelta(hours=1)
"""How far the clock may run ahead of the real time that passed (or of the latest chat) before
once-only jobs wait: time syncs correct by seconds, a clock set wrong by hours or days."""


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None if there is no such process:
    a pid reused by another program has another start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def this_process() -> str:
    """Names this process in the claims it holds: host, pid and start time."""
    return f"{socket.gethostname()} {os.getpid()} {_process_start(os.getpid())}"


def process_gone(owner: str) -> bool:
    """Whether the process named in a claim is gone. A claim from another host is taken as gone:
    one process at a time uses a store (the instance lock), so its holder stopped using it."""
    host, _, rest = owner.partition(" ")
    pid, _, started = rest.partition(" ")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    return _process_start(int(pid)) != started


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
    once_only: bool = False
    """It acts once on the world or destroys something: it waits while the clock looks wrong."""

    def schedule(self) -> LocalCron:
        return LocalCron(self.cron, self.timezone)

    def apscheduler_trigger(self) -> BaseTrigger:
        return _LocalCronTrigger(self.schedule())


class _LocalCronTrigger(BaseTrigger):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """APScheduler fires a job at the instants ``LocalCron`` computes (never loops on a fold)."""

    def __init__(self, schedule: LocalCron) -> None:
        self.schedule = schedule

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # As CronTrigger: the first fire after the previous one, or from now on if none.
        start = now - timedelta(microseconds=1)
        if previous_fire_time is not None:
            start = min(start, previous_fire_time)
        return self.schedule.next_after(start)


class Scheduler:
    def __init__(
        self, store: Store, clock: Clock, *, longest_downtime: timedelta = timedelta(days=14)
    ) -> None:
        self.store = store
        self.clock = clock
        self.longest_downtime = longest_downtime
        """At start, how far past the latest chat and run stored the clock may be (downtime)."""
        self.jobs: dict[str, Job] = {}
        self.owner = this_process()
        self._lock = asyncio.Lock()
        self._aps: AsyncIOScheduler | None = None
        self._schedules: dict[str, LocalCron] = {}
        self._checked_until: dict[str, datetime] = {}
        """Per job, the time up to which fire times were already looked at in this process."""
        self._trusted: tuple[datetime, float] | None = None
        """The clock's reading and real elapsed time at the last tick the clock was trusted."""
        self._doubt: str | None = None
        self.waits_for: Callable[[], str | None] = lambda: None
        """Why this process leaves every job to the other processes now, or None: it runs them."""

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

    async def _clock_doubt(self, now: datetime) -> str | None:
        """Why the clock cannot be trusted for once-only jobs now, or None."""
        ahead = None
        if self._trusted is not None:
            wall, real = self._trusted
            ahead = now - wall - timedelta(seconds=self.clock.elapsed() - real)
            if ahead <= CLOCK_SLACK:
                return None
        chat = await jobs.latest_chat(self.store)
        if chat is not None and now.timestamp() - chat <= CLOCK_SLACK.total_seconds():
            return None  # the platforms' clock agrees
        if ahead is not None:
            return f"the clock moved {_span(ahead)} more than the time that really passed"
        once_only = [job.name for job in self.jobs.values() if job.once_only]
        ran = await jobs.latest_run(self.store, once_only) if once_only else None
        known = max((moment for moment in (chat, ran) if moment), default=None)
        if known is None or now.timestamp() - known <= self.longest_downtime.total_seconds():
            return None
        return (
            f"the clock reads {now:%Y-%m-%d %H:%M} UTC, {_span(now - _utc(known))} after the "
            f"latest chat and run stored, longer than the downtime Trellis catches up"
        )

    async def run_due(self) -> list[str]:
        """Run every job whose latest fire time has passed without a run. Returns the run log."""
        async with self._lock:
            if self.waits_for() is not None:
                return []
            now = self.clock.now()
            doubt = await self._clock_doubt(now)
            if doubt is None:
                self._trusted = (now, self.clock.elapsed())
                if self._doubt is not None:
                    log.warning("the clock looks right again; once-only jobs run again")
            elif self._doubt is None:  # said once, when the clock starts to look wrong
                log.error(
                    "%s: jobs that act once or delete (digests, prompts, nudges, surveys, "
                    "retention) wait until it looks right again",
                    doubt,
                )
            self._doubt = doubt
            log_lines = []
            for job in list(self.jobs.values()):
                now = self.clock.now()
                since = self._checked_until.get(job.name)
                if since is None:
                    since = max(await self._known_since(job, now), now - _LOOKBACK)
                since = min(since, now)  # the clock went back: look on from now
                due = self._schedules[job.name].last_between(since, now)
                if due is not None and job.once_only and doubt is not None:
                    log_lines.append(f"{job.name}: waits, the clock looks wrong")
                    continue  # looked at again once the clock is right
                self._checked_until[job.name] = now
                if due is not None:
                    log_lines.append(await self._run(job, due, since))
            return [line for line in log_lines if line]

    async def _run(self, job: Job, due: datetime, since: datetime) -> str:
        async with self.store.lease(f"job {job.name} {int(due.timestamp())}") as lease:
            if lease.held:
                return await self._run_held(job, due, since)
        # Another process runs it now (several on one PostgreSQL): looked at again at the next
        # tick, and taken over if that process died meanwhile.
        self._checked_until[job.name] = since
        return ""

    async def _run_held(self, job: Job, due: datetime, since: datetime) -> str:
        due_at, started = int(due.timestamp()), int(self.clock.now().timestamp())
        async with self.store.transaction() as tx:
            claim = await jobs.claim_run(tx, job.name, due_at, started, self.owner, process_gone)
            if claim is not None and claim.taken_from is not None:
                await jobs.note_run_trouble(
                    tx,
                    jobs.RunTrouble(
                        job.name,
                        due_at,
                        started,
                        "interrupted (Trellis stopped during it); run again",
                    ),
                )
        if claim is None:
            return ""
        if claim.taken_from is not None:
            log.warning(
                "job %s due %s was left unfinished by a process that is gone (%s); running it again",
                job.name,
                due,
                claim.taken_from,
            )
        try:
            detail = await job.run(due.astimezone(UTC))
        except asyncio.CancelledError:
            async with self.store.transaction() as tx:
                await jobs.release_run(tx, job.name, due_at)
            raise
        except Exception as exc:
            if store_damaged(exc):
                # Nothing to retry or note in a damaged file: the process stops at the next
                # write (the engine), and the claim lapses with it.
                log.error(
                    "job %s due %s could not run: the database is damaged (%s)", job.name, due, exc
                )
                return f"{job.name}: failed ({exc})"
            log.exception("job %s due %s failed; it will be tried again", job.name, due)
            async with self.store.transaction() as tx:
                await jobs.release_run(tx, job.name, due_at)
                await jobs.note_run_trouble(
                    tx,
                    jobs.RunTrouble(
                        job.name, due_at, started, f"failed ({exc}); tried again at the next tick"
                    ),
                )
            self._checked_until[job.name] = since
            return f"{job.name}: failed ({exc})"
        finished = int(self.clock.now().timestamp())
        async with self.store.transaction() as tx:
            await jobs.finish_run(tx, job.name, due_at, finished, "done", detail)
        return f"{job.name}: {detail}"

    def start(self) -> None:
        """Fire ``run_due`` from APScheduler at each job's times (real time only), and every
        ``RECHECK`` besides: a run that another process on the same PostgreSQL held when it
        fell due is looked at again, and taken over if that process died."""
        self._aps = AsyncIOScheduler(timezone=UTC)
        for job in self.jobs.values():
            self._aps.add_job(
                self.run_due,
                job.apscheduler_trigger(),
                id=job.name,
                coalesce=True,
                misfire_grace_time=3600,
            )
        self._aps.add_job(
            self.run_due, "interval", seconds=RECHECK.total_seconds(), id="recheck", coalesce=True
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


def _utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.0f} days" if hours >= 48 else f"{hours:.1f} hours"


async def troubles_since(store: Reads, community: str, since: datetime) -> list[jobs.RunTrouble]:
    """Runs of this community's jobs (and the shared ones) that failed or were interrupted
    since ``since``."""
    return [
        trouble
        for trouble in await jobs.run_troubles(store, int(since.timestamp()))
        if ":" not in trouble.job or trouble.job.split(":")[1] == community
    ]
