"""The event loop keeps its beat while the heavy answers are built: charts and graph metrics are
drawn in worker threads, reads run on connections of their own, so chat and quick commands never
wait behind a digest or a year's report (issue 11).

A ticker wakes every 5 ms and notes, for each beat, how late it woke and how much CPU the loop's
own thread used meanwhile. A stall is the loop busy running something: the lateness the loop's
thread spent on the CPU. (Lateness alone also counts the moments the machine gave the thread no
core, which no code of ours decides: on the shared 2-core machine, at a load average of 5, an
idle loop wakes up to 100 ms late.)"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.report import COMMUNITY, END, LIMA, build, settings
from bot.app import Trellis
from bot.clock import ManualClock
from bot.i18n import Translator
from bot.monitoring.charts import levels_chart, network_chart
from bot.monitoring.render import render_html
from bot.monitoring.report import build_report
from bot.services import digest
from storage.rollups import refresh_rollups
from storage.sqlite import SqliteStore

TICK_S = 0.005
STALL_S = 0.050


async def test_a_digest_with_its_chart_and_a_year_report_never_stall_the_loop(
    tmp_path: Path,
) -> None:
    # A community of realistic size for a test: 300 members, 20,000 messages over a year.
    path = tmp_path / "trellis.sqlite3"
    store = await SqliteStore.open(path)
    await store.close()
    build(path, 300, 20_000, 3)
    config = settings()
    store = await SqliteStore.open(path)
    try:
        async with store.transaction() as db:
            await refresh_rollups(db, COMMUNITY, config.communities[COMMUNITY].timezone)
        app = Trellis(config, store, ManualClock(END), ())
        week_end = END - timedelta(days=4)  # 2026-12-28, a Monday in Lima
        year = (datetime(2026, 1, 1, tzinfo=LIMA), END)
        t = Translator("en")
        # Imports and the first read of each table happen once in a running Trellis: not here.
        await digest.compose(app, COMMUNITY, week_end - timedelta(days=7), week_end)

        stalls: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last, busy = time.perf_counter(), time.thread_time()
            while not done.is_set():
                await asyncio.sleep(TICK_S)
                now, used = time.perf_counter(), time.thread_time()
                stalls.append(min(now - last - TICK_S, used - busy))
                last, busy = now, used

        beat = asyncio.create_task(ticker())
        await asyncio.sleep(0.05)
        message = await digest.compose(app, COMMUNITY, week_end - timedelta(days=7), week_end)
        report = await build_report(store, config, COMMUNITY, *year, label="2026")
        # As the report command does: the charts and the page drawn in a worker thread.
        chart, network, page = await asyncio.to_thread(
            lambda: (
                levels_chart(report.monitoring.levels, t, "png", title=True),
                network_chart(report.monitoring.network, t, "png", title=True),
                render_html(report, t),
            )
        )
        done.set()
        await beat
    finally:
        await store.close()

    # What was built is the real thing: a digest with its chart, a year with its network.
    assert message is not None and message.attachments[0].data.startswith(b"\x89PNG")
    assert report.monitoring.messages > 15_000 and len(report.monitoring.levels) == 53
    assert len(report.monitoring.brokers) == 5 and report.monitoring.network.edges
    assert chart.startswith(b"\x89PNG") and network.startswith(b"\x89PNG") and "<html" in page
    assert len(stalls) > 20
    assert max(stalls) < STALL_S, f"the loop was held {max(stalls) * 1000:.0f} ms"
