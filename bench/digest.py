"""The weekly digest at scale: composing it on a store of a million messages, against one full scan.

Run ``python3 -m bench.digest --members 2000 --messages 1000000 --seed 1`` from the repository
root. The community is bench.report's (a year of chat, cached under /tmp/trellis-bench), with
what the digest's other sections read added once: credits for the 🙏 reactions, and a prompt
posted in each theme during the week. It times, in the same run and on the same warm database,
one full scan of the messages table (the baseline) and ``compose`` for the year's last whole
week with every section (themes, thanks, welcome, questions waiting, prompts, the features'
sections, the numbers and the chart), and prints each (median of ``--repeat`` runs), their
ratio, then the storage reads behind ``stats`` and ``mydata``, the write transaction that corrects
``stats``'s rollups after an opt-out and an opt-in (and the recount of every day it replaces),
and the process's peak memory.
Figures only: absolute times vary, the ratio much less.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.report import COMMUNITY, LIMA, THEMES, built_store, count_rows, peak_rss_mb, settings
from bot.app import Trellis
from bot.clock import ManualClock
from bot.services import digest
from storage import activity, members
from storage.contract import Store
from storage.ingest import MemberCache
from storage.rollups import refresh_rollups
from storage.sqlite import SqliteStore

WEEK_START = datetime(2026, 12, 21, tzinfo=LIMA)
"""The year's last whole week (Monday to Monday) in the community's timezone."""
WEEK_END = WEEK_START + timedelta(days=7)
SCAN = "SELECT count(*), sum(chars) FROM messages NOT INDEXED"


async def add_digest_material(store: Store) -> None:
    """Credits and posted prompts, which bench.report's community has none of (once per store)."""
    if await store.fetch_one("SELECT 1 FROM credits LIMIT 1"):
        return
    start = int(WEEK_START.timestamp())
    async with store.transaction() as db:
        await db.execute(
            "INSERT OR IGNORE INTO credits (community, kind, receiver_id, giver_id, theme, reason, "
            "source_platform_id, credited_at) SELECT community, 'thanks', target_member_id, "
            "member_id, theme, 'reaction:🙏', message_platform_id, reacted_at FROM reactions "
            "WHERE emoji = '🙏' AND target_member_id != member_id"
        )
        await db.execute_many(
            "INSERT INTO prompts (community, theme, text, added_at, posted_at, channel_key, "
            "platform_id) VALUES (?, ?, ?, ?, ?, NULL, NULL)",
            [
                (COMMUNITY, theme, f"What did {name.lower()} teach you this year?", start,
                 start + 86400 * (n + 1))
                for n, (theme, name) in enumerate(THEMES.items())
            ],
        )  # fmt: skip


async def measure(path: Path, repeat: int) -> tuple[float, float, str]:
    """Median seconds of one full scan of messages and of composing the week's digest, and the
    digest's text (to check that every section is there)."""
    store = await SqliteStore.open(path)
    try:
        await add_digest_material(store)
        app = Trellis(settings(), store, ManualClock(WEEK_END), ())
        await store.fetch_one(SCAN)
        message = await digest.compose(
            app.community(COMMUNITY), WEEK_START, WEEK_END
        )  # warm: imports
        scans, composes = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            await store.fetch_one(SCAN)
            scans.append(time.perf_counter() - started)
            started = time.perf_counter()
            message = await digest.compose(app.community(COMMUNITY), WEEK_START, WEEK_END)
            composes.append(time.perf_counter() - started)
        return statistics.median(scans), statistics.median(composes), message.text
    finally:
        await store.close()


async def measure_reads(path: Path, repeat: int) -> dict[str, float]:
    """Median seconds of the storage reads behind ``stats`` (activity over four weeks, every
    member: as it is, and when chat came in on a past day since the last recount, which counts
    that day from the chat tables) and ``mydata`` (the holdings of the member with the most messages,
    and of the median one), on the same store. The first, untimed read of each counts whatever
    the rollups lack."""
    store = await SqliteStore.open(path)
    try:
        # As the stats command asks: four weeks up to a moment of the day, in the community's
        # day offset (whole days from the rollups, the two part-days from the chat tables).
        end = int(WEEK_END.timestamp()) - 86400 + 13 * 3600 + 1
        offset = int(WEEK_END.utcoffset().total_seconds())
        ranked = await store.fetch_all(
            "SELECT member_id FROM messages GROUP BY member_id ORDER BY count(*) DESC"
        )
        reads = {
            "stats: activity over 4 weeks": lambda: four_weeks(store, end, offset),
            "stats, a past day changed": lambda: stats_after_chat(store, end, offset),
            "mydata: busiest member": lambda: members.holdings(store, [ranked[0][0]]),
            "mydata: median member": lambda: members.holdings(store, [ranked[len(ranked) // 2][0]]),
        }
        figures = {}
        for label, read in reads.items():
            await read()
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                await read()
                times.append(time.perf_counter() - started)
            figures[label] = statistics.median(times)
        busiest = await members.by_id(store, ranked[0][0])
        assert busiest is not None
        figures.update(await measure_hiding(store, busiest, repeat))
        return figures
    finally:
        await store.close()


async def stats_after_chat(store: Store, end: int, offset: int) -> None:
    """``stats`` when chat came in on the day before the last since the last recount (a late
    reaction, an edit): that day is counted from the chat tables, as the period's part-days are,
    and recounted by the next hourly recount, not by ``stats``."""
    async with store.transaction() as db:
        await db.execute(
            "INSERT OR IGNORE INTO rollup_changed_days (community, day) VALUES (?, ?)",
            (COMMUNITY, (end + offset) // 86400 - 1),
        )
    await four_weeks(store, end, offset)


async def four_weeks(store: Store, end: int, offset: int) -> None:
    """Activity over four weeks as ``stats`` reads it: the rollups brought up to date, then read."""
    start = end - 28 * 86400
    async with store.transaction() as tx:
        await activity.refresh_activity(tx, COMMUNITY, start, end, day_offset=offset)
    await activity.activity(store, COMMUNITY, start, end, day_offset=offset)


async def measure_hiding(store: Store, member: members.MemberRow, repeat: int) -> dict[str, float]:
    """Median seconds of the write transaction (ingest waits for it) that follows ``member``
    opting out, and opting back in: activity_days corrected for the new set of hidden members;
    and of what an opt-out cost before, every day of activity_days recounted (now done once,
    when the hidden members it was counted without are not known). The store is left as it was."""
    timezone = settings().communities[COMMUNITY].timezone
    times: dict[str, list[float]] = {
        "opt-out: activity corrected": [],
        "opt-in: activity corrected": [],
        "activity recounted everywhere": [],
    }
    for _ in range(repeat):
        for label, opted_out in zip(times, (int(WEEK_END.timestamp()), None, None), strict=True):
            async with store.transaction() as db:
                await members.set_opted_out(db, MemberCache(), member, opted_out)
                if label == "activity recounted everywhere":
                    await db.execute(
                        "UPDATE rollup_zones SET hidden = '' WHERE community = ?", (COMMUNITY,)
                    )
                started = time.perf_counter()
                await refresh_rollups(db, COMMUNITY, timezone)
                times[label].append(time.perf_counter() - started)
    return {label: statistics.median(seconds) for label, seconds in times.items()}


SECTIONS = (
    "### What the themes discussed",
    "### Thank you",
    "### Welcome",
    "### Questions waiting for an answer",
    "### This week's prompts",
    "### The week in numbers",
)


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    path = built_store(args.members, args.messages, args.seed)
    counts = count_rows(path)
    scan, compose, text = await measure(path, args.repeat)
    missing = [section for section in SECTIONS if section not in text]
    if missing:
        raise RuntimeError(f"the digest lacks {missing}; the comparison would be wrong")
    print(
        f"rows: {counts['members']} members, {counts['messages']} messages, "
        f"{counts['reactions']} reactions, {counts['threads']} threads"
    )
    print(
        f"digest of {WEEK_START:%Y-%m-%d}  {compose * 1000:8.1f} ms   full scan of messages "
        f"{scan * 1000:6.1f} ms   ratio digest/scan {compose / scan:5.1f}"
    )
    for label, seconds in (await measure_reads(path, args.repeat)).items():
        print(f"{label:<30} {seconds * 1000:8.1f} ms")
    print(f"peak RSS               {peak_rss_mb():8.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
