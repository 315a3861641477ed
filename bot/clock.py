"""Where Trellis gets the time: the system clock in production, a manual clock in tests and the demo."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


def epoch(moment: datetime) -> int:
    """A moment as the store keeps it: whole seconds since 1970, UTC."""
    return int(moment.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def elapsed(self) -> float:
        """Seconds of real time since a fixed moment: how much time really passed between two
        readings, whatever a time sync did to ``now`` in between."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def elapsed(self) -> float:
        # Boot time goes on while the machine sleeps, as the wall clock does; plain monotonic not.
        return time.clock_gettime(getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC))


class ManualClock:
    """A clock that moves only when told to; time never goes backwards, though ``step`` can put
    the clock wrong as a bad time sync does."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start.astimezone(UTC)
        self._elapsed = 0.0

    def now(self) -> datetime:
        return self._now

    def elapsed(self) -> float:
        return self._elapsed

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock does not go backwards")
        self._now += delta
        self._elapsed += delta.total_seconds()
        return self._now

    def step(self, delta: timedelta) -> datetime:
        """Put the clock ``delta`` off (either way) with no real time passing."""
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> datetime:
        moment = moment.astimezone(UTC)
        if moment < self._now:
            raise ValueError(
                f"a clock does not go backwards (it is {self._now:%Y-%m-%d %H:%M} UTC)"
            )
        self._elapsed += (moment - self._now).total_seconds()
        self._now = moment
        return self._now
