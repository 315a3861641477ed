"""Command answers under load: a facilitator's commands while the engine ingests a steady stream.

Run ``python3 -m bench.commands`` from the repository root (``--seconds 10`` for a shorter run,
``--preload 100000`` to store that many events first: stored once by the engine into
``/tmp/trellis-bench`` and copied for each run; before timing, its rollups are recounted as the
hourly job keeps them, and the heap settled and the chart worker started as ``trellis run``
does). The real app (store, engine, router,
services) runs on a temporary SQLite file; chat from ``bench.ingest``'s builder arrives at
``--rate`` events per second while a facilitator asks one command every ``--every`` seconds,
cycling through ``stats``, ``quiet``, ``digest preview``, ``mydata`` and ``kudos``. It prints, per
command, the answer time (from the command reaching the engine to its answer) p50/p95/p99/max;
the engine's queue depth (events accepted and not yet stored) at the start, the end and its
maximum; how many events were stored per second against the rate asked; and the event loop's
lag (how late a 10 ms timer fires), the figure that shows whether anything blocks the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from bench.ingest import CACHE, CHANNELS, COMMUNITY, THEMES, build_events
from bot.app import Trellis, settle_heap
from bot.clock import ManualClock
from bot.config import parse_settings
from bot.events import ChannelRef, CommandInvoked, Event, MemberRef
from bot.monitoring.report_commands import recount
from bot.outgoing import OutgoingMessage, literal
from bot.ports import Adapter, Delivery, EventSink, SentMessage, Stored
from bot.worker import prepare_worker

FACILITATOR = MemberRef("discord", "500000", display_name="member0")
"""The builder's busiest voice, so that ``mydata`` has a lot to say."""
PLACE = ChannelRef("discord", CHANNELS[-1][0], name="general")
COMMANDS = (
    ("stats", ""),
    ("quiet", ""),
    ("digest preview", ""),
    ("mydata", ""),
    ("kudos", "@member1 for the map of the district"),
)


class AnswerClock(Adapter):
    """Stands in for the platform: notes when each command is answered, sends nothing."""

    platform = "discord"
    message_limit = 2000

    def __init__(self) -> None:
        self.answered: dict[str, float] = {}

    async def start(self, sink: EventSink, stored: Stored) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def register_commands(self, specs: Sequence) -> None:
        return None

    async def send(self, channel: ChannelRef, message: OutgoingMessage) -> SentMessage:
        return SentMessage(channel, ("1",))

    def mention(self, member: MemberRef) -> str:
        return literal(member.name)

    async def send_direct(self, member: MemberRef, message: OutgoingMessage) -> Delivery:
        return Delivery.DELIVERED

    async def reply(
        self, invocation: CommandInvoked, message: OutgoingMessage, *, private: bool
    ) -> None:
        self.answered[invocation.invocation_id] = time.perf_counter()

    async def channels(self, community: str) -> list[ChannelRef]:
        return []

    async def history(self, channel: ChannelRef, since: datetime) -> AsyncIterator[Event]:
        for event in ():
            yield event


def settings(path: Path):
    return parse_settings(
        {
            "storage": {"path": str(path)},
            "communities": {
                COMMUNITY: {
                    "name": "Bench community",
                    "timezone": "America/Lima",
                    "digest": {"channel": PLACE.key},
                    "roles": {"facilitators": [FACILITATOR.key]},
                    "themes": {
                        theme: {"name": t.name, "places": t.places, "keywords": t.keywords}
                        for theme, t in THEMES.items()
                    },
                }
            },
        }
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.01)
        samples.append(time.perf_counter() - started - 0.01)


async def store_events(path: Path, events: list[Event], clock: ManualClock) -> None:
    """Store ``events`` into a new store at ``path`` through the engine."""
    app = await Trellis.open(settings(path), clock=clock, adapters=[AnswerClock()])
    await app.start(real_time=False)
    try:
        started = time.perf_counter()
        for event in events:
            await app.engine.accept(event)
        await app.engine.drain()
        print(f"preloaded {len(events):,} events in {time.perf_counter() - started:.1f} s")
    finally:
        await app.stop()


def preloaded(path: Path, preload: list[Event], clock: ManualClock, cached: Path) -> None:
    """``path``: a store holding ``preload``, stored by the engine once into ``cached`` (a
    million events take minutes), then copied."""
    if not cached.exists():
        CACHE.mkdir(exist_ok=True)
        building = cached.with_suffix(".building")
        building.unlink(missing_ok=True)
        asyncio.run(store_events(building, preload, clock))
        building.rename(cached)
    shutil.copyfile(cached, path)


async def run(
    path: Path, stream: list[Event], clock: ManualClock, args: argparse.Namespace
) -> None:
    platform = AnswerClock()
    app = await Trellis.open(settings(path), clock=clock, adapters=[platform])
    await app.start(real_time=False)
    # The store as a running Trellis keeps it: its rollups recounted within the hour (untimed).
    await recount(app.community(COMMUNITY), clock.now())
    settle_heap()  # as `trellis run` does once it is up
    prepare_worker()
    engine = app.engine
    try:
        asked: dict[str, tuple[str, float]] = {}
        depths: list[int] = []
        lags: list[float] = []
        stop = asyncio.Event()
        lagging = asyncio.create_task(loop_lag(lags, stop))

        async def chat() -> None:
            begun, sent = time.perf_counter(), 0
            while sent < len(stream):
                due = min(len(stream), int((time.perf_counter() - begun) * args.rate) + 1)
                while sent < due:
                    await engine.accept(stream[sent])
                    sent += 1
                await asyncio.sleep(0.005)

        async def facilitator() -> None:
            number = 0
            while not stop.is_set():
                command, text = COMMANDS[number % len(COMMANDS)]
                invocation_id = f"bench:{number}"
                asked[invocation_id] = (command, time.perf_counter())
                await engine.accept(
                    CommandInvoked(
                        COMMUNITY,
                        PLACE,
                        FACILITATOR,
                        command,
                        clock.now(),
                        text=text,
                        invocation_id=invocation_id,
                    )
                )
                depths.append(engine.waiting)
                number += 1
                try:
                    await asyncio.wait_for(stop.wait(), args.every)
                except TimeoutError:
                    pass

        depth_at_start = engine.waiting
        started = time.perf_counter()
        chatting = asyncio.create_task(chat())
        asking = asyncio.create_task(facilitator())
        await chatting
        depth_at_end = engine.waiting
        chat_seconds = time.perf_counter() - started
        stop.set()
        await asking
        await engine.drain()
        stored_seconds = time.perf_counter() - started
        await lagging
    finally:
        await app.stop()

    print(
        f"\n{len(stream):,} events streamed at {args.rate:,.0f}/s for {chat_seconds:.1f} s, "
        f"all stored {stored_seconds - chat_seconds:.2f} s after the last; "
        f"{len(asked)} commands, one every {args.every * 1000:.0f} ms"
    )
    print(
        f"queue depth (events waiting): start {depth_at_start}, end {depth_at_end}, "
        f"max {max(depths, default=0)}, median {statistics.median(depths or [0]):.0f}"
    )
    print(
        f"event loop lag: p50 {percentile(lags, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(lags, 0.99) * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms"
    )
    print(f"\n{'command':<16}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for command, _ in COMMANDS:
        times = [
            (platform.answered[key] - at) * 1000
            for key, (name, at) in asked.items()
            if name == command and key in platform.answered
        ]
        unanswered = sum(1 for key, (name, _) in asked.items() if name == command) - len(times)
        if not times:
            print(f"{command:<16}{0:>5}   no answer")
            continue
        print(
            f"{command:<16}{len(times):>5}{percentile(times, 0.5):>9.1f}"
            f"{percentile(times, 0.95):>9.1f}{percentile(times, 0.99):>9.1f}{max(times):>9.1f}"
            + (f"  ({unanswered} unanswered)" if unanswered else "")
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.commands", description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long chat streams in")
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--every", type=float, default=0.1, help="seconds between two commands")
    parser.add_argument("--preload", type=int, default=0, help="events stored before timing")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    streamed = int(args.rate * args.seconds)
    print(f"building {args.preload + streamed:,} events…", flush=True)
    events = build_events(args.preload + streamed, args.seed)
    clock = ManualClock(events[-1].occurred_at + timedelta(minutes=1))
    preload, stream = events[: args.preload], events[args.preload :]
    with tempfile.TemporaryDirectory(prefix="trellis-bench-") as folder:
        path = Path(folder) / "bench.sqlite3"
        if preload:
            cached = CACHE / f"commands-{len(preload)}-{len(stream)}-{args.seed}.sqlite3"
            preloaded(path, preload, clock, cached)
        # A running Trellis holds no million events: a collection walking them would stall the
        # loop for a second and more, which is the benchmark's, not Trellis's.
        del events, preload
        gc.collect()
        asyncio.run(run(path, stream, clock, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
