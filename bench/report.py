"""M&E report at scale: a year of a large community, the report's build time against one full scan.

Run ``python3 -m bench.report --members 2000 --messages 500000 --seed 1`` from the repository root.
It writes a synthetic community straight into the real schema (bulk ``executemany``, then the
report's rollups counted with ``refresh_rollups``: the setup is not what is measured; the store is
kept under /tmp/trellis-bench for the next run), then times,
in the same run and on the same warm database, one full scan of the messages table (``count(*)``
and ``sum(chars)`` over every row, no index) and ``build_report`` for 2026-Q4 (the issue's
example) and for the whole of 2026, both in the community's calendar as ``trellis report
--period`` reads them, and prints each (median of ``--repeat`` runs) and its ratio.

Ingest only notes the days it changed, and the rollups are recounted every hour and before a
report. The last lines time that recount for the year's last day and last seven days, as if all
their chat had come in since the last recount: more than a report ever has left to recount. Figures only: absolute times vary between machines, the ratio much less.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import random
import sqlite3
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from bench import postgresql
from bench.ingest import CACHE, CHANNELS, peak_rss_mb
from bot.commands.parsing import parse_period
from bot.config import Settings, parse_settings
from bot.monitoring.report import build_report
from storage.contract import Store
from storage.postgresql import PostgresStore
from storage.postgresql_copy import copy_store
from storage.rollups import refresh_rollups
from storage.sqlite import SqliteStore

COMMUNITY = "bench"
PERIODS = ("2026-Q4", "2026")
"""The issue's example quarter (with a year of history before it) and the whole year."""
LIMA = ZoneInfo("America/Lima")
START = datetime(2026, 1, 1, tzinfo=LIMA)
END = datetime(2027, 1, 1, tzinfo=LIMA)
"""The community's year of chat, in its own timezone."""
THEMES = {"water": "Water", "health": "Health", "education": "Education", "climate": "Climate"}
ORGANISATIONS = 150
REACTION_SHARE = 0.2
THREAD_SHARE = 0.25
TEXT_KEPT_DAYS = 30
"""As with the default retention: only the last month of messages still has its text."""


def settings() -> Settings:
    return parse_settings(
        {
            "communities": {
                COMMUNITY: {
                    "name": "Bench community",
                    "timezone": "America/Lima",
                    "themes": {
                        theme: {
                            "name": name,
                            "places": [f"discord:{cid}" for cid, t in CHANNELS if t == theme],
                        }
                        for theme, name in THEMES.items()
                    },
                }
            }
        }
    )


def build(path: Path, members: int, messages: int, seed: int) -> dict[str, int]:
    """Write the community into ``path`` (already migrated) and return row counts."""
    rng = random.Random(seed)
    start, span = int(START.timestamp()), int((END - START).total_seconds())
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("BEGIN")
    member_rows = []
    for i in range(1, members + 1):
        # Most members are there from the start; the rest join during the year.
        joined = start - 86400 if rng.random() < 0.6 else start + rng.randrange(span)
        opted_out = start + span // 2 if i % 200 == 0 else None
        member_rows.append(
            (i, COMMUNITY, f"discord:{700_000 + i}", f"member{i}", int(i % 400 == 7), joined,
             joined, opted_out)
        )  # fmt: skip
    db.executemany(
        "INSERT INTO members (id, community, member_key, display_name, is_bot, first_seen_at, "
        "joined_at, opted_out_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        member_rows,
    )
    db.executemany(
        "INSERT INTO profiles (member_id, organisation, updated_at) VALUES (?, ?, ?)",
        [(i, f"Organisation {rng.randrange(ORGANISATIONS)}", start)
         for i in range(1, members + 1) if rng.random() < 0.8],
    )  # fmt: skip
    humans = [row[0] for row in member_rows if not row[4]]
    joined_at = {row[0]: row[5] for row in member_rows}
    # A few voices post most of the chat, as in real communities.
    weights = list(itertools.accumulate(1 / (rank + 1) ** 0.8 for rank in range(len(humans))))
    times = sorted(start + rng.randrange(span) for _ in range(messages))
    authors = rng.choices(humans, cum_weights=weights, k=messages)
    reactors = rng.choices(humans, cum_weights=weights, k=int(messages * REACTION_SHARE))
    text_from = start + span - TEXT_KEPT_DAYS * 86400
    # Each member keeps to two channels; a reply, mention or reaction goes to someone recently
    # active in the same channel, as conversations do (not to anyone in the community at random).
    home = {m: rng.sample(range(len(CHANNELS)), 2) for m in humans}
    rows, mentions, threads = [], [], []
    recent_posts: list[list[int]] = [[] for _ in CHANNELS]
    open_threads: list[list[str]] = [[] for _ in CHANNELS]
    for n, (at, author) in enumerate(zip(times, authors, strict=True), start=1):
        author = author if joined_at[author] <= at else humans[n % 50]
        channel = rng.choice(home[author])
        cid, theme = CHANNELS[channel]
        thread_key = None
        if rng.random() < THREAD_SHARE:
            recent = open_threads[channel]
            if not recent or rng.random() < 0.08:
                thread_key = f"discord:{9_000_000 + len(threads)}"
                threads.append((COMMUNITY, thread_key, f"discord:{cid}", f"thread {len(threads)}",
                                author, theme, at))  # fmt: skip
                recent.append(thread_key)
                del recent[:-20]
            else:
                thread_key = rng.choice(recent)
        posts = recent_posts[channel]
        reply_to = reply_author = None
        if posts and rng.random() < 0.3:
            target = posts[max(0, len(posts) - 1 - int(rng.expovariate(0.1)))]
            reply_to, reply_author = str(10**12 + target), rows[target - 1][3]
        chars = rng.randint(20, 400)
        rows.append(
            (n, COMMUNITY, str(10**12 + n), author, f"discord:{cid}", thread_key, theme, at,
             "x" * chars if at >= text_from else None, chars, int(rng.random() < 0.15), reply_to,
             reply_author)
        )  # fmt: skip
        if posts and rng.random() < 0.1:
            for target in {posts[-1 - rng.randrange(min(len(posts), 30))] for _ in range(2)}:
                mentions.append((n, rows[target - 1][3]))
        posts.append(n)
        del posts[:-200]
    db.executemany(
        "INSERT INTO threads (community, thread_key, channel_key, title, opener_member_id, theme, "
        "opened_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        threads,
    )
    db.executemany(
        "INSERT INTO messages (id, community, platform_id, member_id, channel_key, thread_key, "
        "theme, posted_at, text, chars, is_question, reply_to, reply_to_member_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    own: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        own[row[3]].append(row[0])
    db.executemany("INSERT OR IGNORE INTO mentions (message_id, member_id) VALUES (?, ?)", mentions)
    reactions = {}
    for reactor in reactors:
        # Mostly on a message near one the reactor wrote: what they were reading at the time.
        near = (
            rows[rng.choice(own[reactor]) - 1]
            if own.get(reactor)
            else rows[rng.randrange(len(rows))]
        )
        target = rows[min(len(rows), max(1, near[0] + int(rng.gauss(0, 30)))) - 1]
        emoji = rng.choice("👍❤🎉👀🙏💡✅")
        reactions[(target[2], reactor, emoji)] = (
            COMMUNITY, target[2], reactor, target[3], emoji, target[6],
            min(target[7] + rng.randrange(86400), start + span - 1),
        )  # fmt: skip
    db.executemany(
        "INSERT INTO reactions (community, message_platform_id, member_id, target_member_id, "
        "emoji, theme, reacted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        list(reactions.values()),
    )
    db.execute("COMMIT")
    db.close()
    return count_rows(path)


def count_rows(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        return {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("members", "messages", "reactions", "mentions", "threads")
        }
    finally:
        db.close()


def _build_and_count(path: Path, members: int, messages: int, seed: int) -> None:
    """Build a migrated store at ``path`` and count its rollups, as the first recount does."""

    async def run() -> None:
        store = await SqliteStore.open(path)
        await store.close()
        build(path, members, messages, seed)
        store = await SqliteStore.open(path)
        try:
            async with store.transaction() as db:
                await refresh_rollups(db, COMMUNITY, settings().communities[COMMUNITY].timezone)
        finally:
            await store.close()

    asyncio.run(run())


def built_store(members: int, messages: int, seed: int) -> Path:
    """The path of this community's store under CACHE, built the first time.

    The build runs in a process of its own, so that the peak memory a benchmark reports is its
    own. Opening the store later applies any newer migration to it in place."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"report-{members}-{messages}-{seed}.sqlite3"
    if not path.exists():
        partial = path.with_suffix(".building")
        for leftover in CACHE.glob(partial.name + "*"):
            leftover.unlink()
        process = multiprocessing.get_context("spawn").Process(
            target=_build_and_count, args=(partial, members, messages, seed)
        )
        process.start()
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"building the benchmark store failed (exit {process.exitcode})")
        partial.rename(path)
    return path


async def measure(
    path: Path | str, repeat: int, period: str, server: Callable[[], float] | None = None
) -> tuple[float, float, float, float]:
    """Median seconds of one full scan of messages, and of building the period's report; then
    the same in CPU seconds of the whole process (every thread: the report reads on three
    connections at once, so its wall time also depends on how many cores are free) and of its
    worker process, plus, on
    PostgreSQL (the URL ``path``), the server's as ``server`` counts it.

    The period is read as ``trellis report --period`` reads it: in the community's timezone."""
    store: Store = await (
        SqliteStore.open(path) if isinstance(path, Path) else PostgresStore.open(path)
    )
    config = settings()
    span = parse_period(period, ZoneInfo(config.communities[COMMUNITY].timezone), END)

    # The server's clock reads /proc, which takes this process's CPU: read outside the interval.
    def cpu_start() -> float:
        before = server() if server else 0.0
        return before + _own_cpu()

    def cpu_end() -> float:
        own = _own_cpu()
        return own + (server() if server else 0.0)

    try:
        # Counted before the clock starts, as the hourly recount keeps them: a store written by
        # an older Trellis may have everything to recount once (migration 015 asks for it).
        async with store.transaction() as db:
            await refresh_rollups(db, COMMUNITY, config.communities[COMMUNITY].timezone)
        await store.fetch_one("SELECT count(*), sum(chars) FROM messages NOT INDEXED")
        scans, reports, scans_cpu, reports_cpu = [], [], [], []
        for _ in range(repeat):
            cpu, started = cpu_start(), time.perf_counter()
            await store.fetch_one("SELECT count(*), sum(chars) FROM messages NOT INDEXED")
            scans.append(time.perf_counter() - started)
            scans_cpu.append(cpu_end() - cpu)
            cpu, started = cpu_start(), time.perf_counter()
            report = await build_report(
                store, config, COMMUNITY, span.start, span.end, label=span.label
            )
            reports.append(time.perf_counter() - started)
            reports_cpu.append(cpu_end() - cpu)
        if report.monitoring.messages == 0:
            raise RuntimeError("the report counted no messages; the comparison would be wrong")
        median = statistics.median
        return median(scans), median(reports), median(scans_cpu), median(reports_cpu)
    finally:
        await store.close()


async def server_cpu(url: str) -> Callable[[], float] | None:
    """A clock of the CPU seconds the PostgreSQL server at ``url`` has used (its postmaster, the
    children it reaped, such as parallel workers, and the live ones: every connection's
    backend), when the server runs on this machine and its data folder can be read; else None.
    On a shared machine the CPU time of a report says more than its wall time."""
    connection = await asyncpg.connect(url)
    try:
        folder = Path(await connection.fetchval("SHOW data_directory"))
    finally:
        await connection.close()
    return _server_clock(folder)


def _server_clock(folder: Path) -> Callable[[], float] | None:
    """``server_cpu``'s clock for the server whose data folder is ``folder``."""
    try:
        postmaster = int((folder / "postmaster.pid").read_text().split()[0])
        Path(f"/proc/{postmaster}/stat").read_text()
    except (OSError, ValueError, IndexError):
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def seconds() -> float:
        # After the command's name in parentheses: utime is the 12th field, then stime, and
        # cutime and cstime, the children it reaped (parallel workers).
        own = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(value) for value in own[11:15]) / tick + postgresql.children_cpu_seconds(
            postmaster
        )

    return seconds


def _own_cpu() -> float:
    """This process's CPU seconds (every thread), and its worker's: the report's network figures
    are worked out in the worker process (bot.worker)."""
    return time.process_time() + postgresql.children_cpu_seconds(os.getpid())


async def measure_refresh(path: Path, repeat: int, days: int) -> float:
    """Median seconds of recounting the rollups of the year's last ``days`` local days, as if all
    their chat had arrived since the last recount (their rollup rows removed first)."""
    store = await SqliteStore.open(path)
    timezone = settings().communities[COMMUNITY].timezone
    last = (END - timedelta(days=1)).date().toordinal() - date(1970, 1, 1).toordinal()
    first = last - days + 1
    try:
        seconds = []
        for _ in range(repeat):
            async with store.transaction() as db:
                for table in ("member_days", "theme_days", "tie_days"):
                    await db.execute(
                        f"DELETE FROM {table} WHERE day BETWEEN ? AND ?", (first, last)
                    )
                await db.execute_many(
                    "INSERT OR IGNORE INTO rollup_changed_days (community, day) VALUES (?, ?)",
                    [(COMMUNITY, day) for day in range(first, last + 1)],
                )
            started = time.perf_counter()
            async with store.transaction() as db:
                if await refresh_rollups(db, COMMUNITY, timezone):
                    raise RuntimeError(
                        "the refresh recounted everything; the figure would be wrong"
                    )
            seconds.append(time.perf_counter() - started)
        return statistics.median(seconds)
    finally:
        await store.close()


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=500_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--store",
        metavar="URL",
        help="also on PostgreSQL: postgresql://user@host/database, where a scratch database "
        "receives a copy of the store (trellis store copy); password from PGPASSWORD",
    )
    args = parser.parse_args(argv)
    path = built_store(args.members, args.messages, args.seed)
    counts = count_rows(path)
    figures = [(period, *await measure(path, args.repeat, period)) for period in PERIODS]
    recounts = [(days, await measure_refresh(path, args.repeat, days)) for days in (1, 7)]
    print(
        f"rows: {counts['members']} members, {counts['messages']} messages, "
        f"{counts['reactions']} reactions, {counts['mentions']} mentions, {counts['threads']} threads"
    )
    for period, scan, report, scan_cpu, report_cpu in figures:
        print(
            f"report for {period:<8} {report * 1000:7.1f} ms   full scan of messages "
            f"{scan * 1000:5.1f} ms   ratio report/scan {report / scan:5.1f}"
        )
        print(
            f"  in CPU time {report_cpu * 1000:7.1f} ms   full scan of messages "
            f"{scan_cpu * 1000:5.1f} ms   ratio report/scan {report_cpu / scan_cpu:5.1f}"
        )
    for days, seconds in recounts:
        print(f"recount of {days} changed day{'s' if days > 1 else ' '}   {seconds * 1000:7.1f} ms")
    if args.store:
        async with postgresql.scratch_database(args.store, "trellis_bench_report") as url:
            await copy_store(path, url)
            await postgresql.vacuum_analyze(url)
            server = await server_cpu(url)
            for period in PERIODS:
                scan, report, scan_cpu, report_cpu = await measure(url, args.repeat, period, server)
                print(
                    f"postgresql: report for {period:<8} {report * 1000:7.1f} ms   full scan "
                    f"of messages {scan * 1000:5.1f} ms   ratio report/scan {report / scan:5.1f}"
                )
                if server is not None:
                    print(
                        f"  in CPU time (with the server's) {report_cpu * 1000:7.1f} ms   full "
                        f"scan of messages {scan_cpu * 1000:5.1f} ms   ratio report/scan "
                        f"{report_cpu / scan_cpu:5.1f}"
                    )
    print(f"peak RSS                 {peak_rss_mb():7.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
