"""Ingest throughput: synthetic chat pushed through the real Engine into SQLite, against raw sqlite3.

Run ``python3 -m bench.ingest --events 100000 --seed 1`` from the repository root. It prints the
engine's events per second, the rows per second of a plain ``sqlite3.executemany`` of the same
rows into the same tables (a fresh file, same PRAGMAs, timed in the same run), and their ratio.
Figures only: absolute times vary between machines, the ratio much less.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from bench import postgresql
from bot.config import CommunitySettings, ThemeSettings
from bot.engine import Engine
from bot.events import ChannelRef, CommandInvoked, MemberRef, MessagePosted, ReactionAdded
from bot.recognition import is_question
from bot.themes import ThemeMap
from storage.contract import Store
from storage.ingest import MemberCache
from storage.postgresql import PostgresStore
from storage.rollups import refresh_rollups
from storage.sqlite import SqliteStore

COMMUNITY = "bench"
MEMBERS = 300
# (channel id, theme owning it or None); unowned channels fall back to keyword matching.
CHANNELS = [
    ("1001", "water"),
    ("1002", "water"),
    ("1003", "health"),
    ("1004", "education"),
    ("1005", "climate"),
    ("1006", None),
    ("1007", None),
    ("1008", None),
]
THEMES = {
    "water": ThemeSettings(
        name="Water", places=["discord:1001", "discord:1002"], keywords=["irrigation"]
    ),
    "health": ThemeSettings(name="Health", places=["discord:1003"], keywords=["clinic"]),
    "education": ThemeSettings(name="Education", places=["discord:1004"], keywords=["school"]),
    "climate": ThemeSettings(name="Climate", places=["discord:1005"], keywords=["drought"]),
}
WORDS = (
    "we tried the new approach in our district and the results were mixed but promising "
    "community meeting report monitoring evaluation lesson case document training partners "
    "irrigation clinic school drought budget volunteers survey field visit follow up"
).split()
EMOJIS = ["👍", "❤️", "🎉", "👀", "🙏", "💡", "😂", "✅"]
REACTION_SHARE = 0.2
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


CACHE = Path(tempfile.gettempdir()) / "trellis-bench"
"""Stores built for benchmarks are kept here between runs (a million messages take minutes to
build); delete the folder to build them afresh."""
PRELOAD_DAYS = 365
TEXT_KEPT_DAYS = 30


def member_keys() -> list[str]:
    """The synthetic community's members, in the order ``build_events`` numbers them."""
    return [f"discord:{500_000 + i}" for i in range(MEMBERS)]


@dataclass(frozen=True, slots=True)
class Posted:
    """What the baseline needs to know about an earlier message."""

    author: int
    theme: str | None


def build_events(count: int, seed: int) -> list[MessagePosted | ReactionAdded]:
    """A deterministic mix: ~80% messages (replies, mentions, thanks), ~20% reactions."""
    rng = random.Random(seed)
    members = [
        MemberRef("discord", str(500_000 + i), display_name=f"member{i}") for i in range(MEMBERS)
    ]
    # A few voices post most of the chat, as in real communities.
    weights = [1 / (i + 1) ** 0.8 for i in range(MEMBERS)]
    channels = [ChannelRef("discord", cid, name=f"channel-{cid}") for cid, _ in CHANNELS]
    events: list[MessagePosted | ReactionAdded] = []
    posted: list[tuple[str, int]] = []  # (message id, author index)
    reacted: set[tuple[str, int, str]] = set()
    at = START
    for _ in range(count):
        at += timedelta(seconds=rng.randint(1, 20))
        if posted and rng.random() < REACTION_SHARE:
            # Mostly on recent messages; a unique (message, member, emoji) so every event is a row.
            while True:
                message_id, _author = posted[max(0, len(posted) - 1 - int(rng.expovariate(0.05)))]
                who = rng.choices(range(MEMBERS), weights)[0]
                emoji = rng.choice(EMOJIS)
                if (message_id, who, emoji) not in reacted:
                    reacted.add((message_id, who, emoji))
                    break
            events.append(
                ReactionAdded(COMMUNITY, channels[0], message_id, members[who], emoji, at)
            )
            continue
        author = rng.choices(range(MEMBERS), weights)[0]
        channel = rng.choice(channels)
        text = " ".join(rng.choices(WORDS, k=rng.randint(4, 30)))
        reply_to = reply_author = None
        mentions: tuple[MemberRef, ...] = ()
        if posted and rng.random() < 0.3:
            reply_to, replied = posted[max(0, len(posted) - 1 - int(rng.expovariate(0.1)))]
            reply_author = members[replied]
            if rng.random() < 0.2:
                text = "thanks, " + text
        if rng.random() < 0.1:
            mentions = tuple(rng.sample(members, rng.randint(1, 3)))
            if rng.random() < 0.3:
                text = f"thank you @{mentions[0].display_name} " + text
        if rng.random() < 0.15:
            text += "?"
        message_id = str(10**12 + len(posted))
        events.append(
            MessagePosted(
                COMMUNITY,
                channel,
                members[author],
                message_id,
                text,
                at,
                reply_to=reply_to,
                reply_to_author=reply_author,
                mentions=mentions,
            )
        )
        posted.append((message_id, author))
    return events


def baseline_rows(
    events: list[MessagePosted | ReactionAdded], themes: ThemeMap, *, preloaded: int = 0
) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple]]:
    """The rows the engine's tables end up holding, computed outside the timing.

    With ``preloaded`` messages already stored (``preload``), the members are those stored
    with them, and message ids follow theirs."""
    ids: dict[str, int] = (
        {key: number for number, key in enumerate(member_keys(), 1)} if (preloaded) else {}
    )
    members: list[tuple] = []
    messages: list[tuple] = []
    mentions: list[tuple] = []
    reactions: list[tuple] = []
    posted: dict[str, Posted] = {}

    def member_id(ref: MemberRef, at: int) -> int:
        if ref.key not in ids:
            ids[ref.key] = len(ids) + 1
            members.append((ids[ref.key], COMMUNITY, ref.key, ref.display_name, 0, at))
        return ids[ref.key]

    for event in events:
        at = int(event.occurred_at.timestamp())
        if isinstance(event, MessagePosted):
            author = member_id(event.author, at)
            theme = themes.for_message(event.channel, event.text)
            replied = posted[event.reply_to].author if event.reply_to else None
            messages.append(
                (
                    preloaded + len(messages) + 1,
                    COMMUNITY,
                    event.message_id,
                    author,
                    event.channel.key,
                    event.channel.thread_key,
                    theme,
                    at,
                    event.text,
                    len(event.text),
                    int(is_question(event.text)),
                    event.reply_to,
                    replied,
                )
            )
            for ref in event.mentions:
                mentions.append((preloaded + len(messages), member_id(ref, at)))
            posted[event.message_id] = Posted(author, theme)
        else:
            target = posted[event.message_id]
            reactions.append(
                (
                    COMMUNITY,
                    event.message_id,
                    member_id(event.member, at),
                    event.emoji,
                    at,
                    target.author,
                    target.theme,
                )
            )
    return members, messages, mentions, reactions


def preload(path: Path, count: int, seed: int) -> None:
    """Store ``count`` messages of the year before START, and a quarter as many reactions, into
    ``path`` (its schema already there), as an aged store holds them: the same members and
    channels, replies and mentions, text kept only for the last month. Plain ``executemany`` in
    chunks, so that memory stays flat."""
    rng = random.Random(seed + 1)
    weights = list(itertools.accumulate(1 / (i + 1) ** 0.8 for i in range(MEMBERS)))
    start = int(START.timestamp()) - PRELOAD_DAYS * 86400
    text_from = int(START.timestamp()) - TEXT_KEPT_DAYS * 86400
    recent: deque[tuple[int, int]] = deque(maxlen=200)  # (message number, author id)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO members (id, community, member_key, display_name, is_bot, first_seen_at) "
        "VALUES (?, ?, ?, ?, 0, ?)",
        [(i, COMMUNITY, key, f"member{i - 1}", start) for i, key in enumerate(member_keys(), 1)],
    )
    for first in range(1, count + 1, 50_000):
        messages, mentions, reactions = [], [], []
        for n in range(first, min(count, first + 49_999) + 1):
            at = start + (PRELOAD_DAYS * 86400 * n) // (count + 1)
            author = rng.choices(range(1, MEMBERS + 1), cum_weights=weights)[0]
            cid, theme = CHANNELS[rng.randrange(len(CHANNELS))]
            platform_id = str(2 * 10**12 + n)
            reply_to = replied = None
            if recent and rng.random() < 0.3:
                target, replied = recent[-1 - min(len(recent) - 1, int(rng.expovariate(0.1)))]
                reply_to = str(2 * 10**12 + target)
            if rng.random() < 0.1:
                mentions.append((n, rng.randrange(1, MEMBERS + 1)))
            if rng.random() < 0.25:
                reactions.append(
                    (COMMUNITY, platform_id, rng.randrange(1, MEMBERS + 1), author,
                     rng.choice(EMOJIS), theme, at + rng.randrange(3600))
                )  # fmt: skip
            chars = rng.randint(20, 200)
            recent.append((n, author))
            messages.append(
                (n, COMMUNITY, platform_id, author, f"discord:{cid}", None, theme, at,
                 "x" * chars if at >= text_from else None, chars, int(rng.random() < 0.15),
                 reply_to, replied)
            )  # fmt: skip
        db.executemany(
            "INSERT INTO messages (id, community, platform_id, member_id, channel_key, "
            "thread_key, theme, posted_at, text, chars, is_question, reply_to, "
            "reply_to_member_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            messages,
        )
        db.executemany(
            "INSERT OR IGNORE INTO mentions (message_id, member_id) VALUES (?, ?)", mentions
        )
        db.executemany(
            "INSERT OR IGNORE INTO reactions (community, message_platform_id, member_id, "
            "target_member_id, emoji, theme, reacted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            reactions,
        )
    db.execute("COMMIT")
    db.close()


def preloaded_copies(folder: Path, count: int, seed: int) -> tuple[Path, Path]:
    """Copies in ``folder`` of an engine store (every migration, rollups counted) and a baseline
    file (the core schema) each holding the same ``count`` preloaded messages; built once into
    CACHE."""
    CACHE.mkdir(exist_ok=True)
    engine = CACHE / f"ingest-engine-{count}-{seed}.sqlite3"
    baseline = CACHE / f"ingest-baseline-{count}-{seed}.sqlite3"
    if not engine.exists():
        building = engine.with_suffix(".building")
        building.unlink(missing_ok=True)

        async def migrate_and_count(first: bool) -> None:
            store = await SqliteStore.open(building)
            try:
                if not first:
                    async with store.transaction() as db:
                        await refresh_rollups(db, COMMUNITY, "UTC")
            finally:
                await store.close()

        asyncio.run(migrate_and_count(True))
        preload(building, count, seed)
        asyncio.run(migrate_and_count(False))
        building.rename(engine)
    if not baseline.exists():
        building = baseline.with_suffix(".building")
        building.unlink(missing_ok=True)
        baseline_schema(building)
        preload(building, count, seed)
        building.rename(baseline)
    copies = folder / "bench.sqlite3", folder / "baseline.sqlite3"
    shutil.copyfile(engine, copies[0])
    shutil.copyfile(baseline, copies[1])
    return copies


def baseline_schema(path: Path) -> None:
    """The baseline's file: the core schema (the same migration file), nothing of the engine's."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    schema = (resources.files("storage") / "migrations" / "001_core.sql").read_text("utf-8")
    db.executescript(schema)
    db.close()


def run_baseline(path: Path, rows: tuple[list[tuple], ...]) -> tuple[float, float]:
    """Seconds (wall and CPU) for plain sqlite3 to write the same rows into the same schema, in
    one transaction. Its COMMIT copies the WAL into the file (SQLite's automatic checkpoint).

    ``path`` is created with the core schema, unless it exists (a preloaded copy)."""
    members, messages, mentions, reactions = rows
    if not path.exists():
        baseline_schema(path)
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("busy_timeout = 5000", "foreign_keys = ON", "journal_mode = WAL"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("PRAGMA synchronous = NORMAL")
    before = db.execute(
        "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM reactions)"
    ).fetchone()[0]
    started, cpu = time.perf_counter(), time.process_time()
    db.execute("BEGIN IMMEDIATE")
    db.executemany(
        "INSERT INTO members (id, community, member_key, display_name, is_bot, first_seen_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        members,
    )
    db.executemany(
        "INSERT OR IGNORE INTO messages (id, community, platform_id, member_id, channel_key, "
        "thread_key, theme, posted_at, text, chars, is_question, reply_to, reply_to_member_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        messages,
    )
    db.executemany("INSERT OR IGNORE INTO mentions (message_id, member_id) VALUES (?, ?)", mentions)
    db.executemany(
        "INSERT OR IGNORE INTO reactions (community, message_platform_id, member_id, emoji, "
        "reacted_at, target_member_id, theme) VALUES (?, ?, ?, ?, ?, ?, ?)",
        reactions,
    )
    db.execute("COMMIT")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    stored = db.execute("SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM reactions)")
    if stored.fetchone()[0] != before + len(messages) + len(reactions):
        raise RuntimeError("the baseline did not store every row; the comparison would be wrong")
    db.close()
    return seconds, cpu


class EngineRun(NamedTuple):
    """What one timed run of the engine gives."""

    seconds: float
    """From the first accept to every event stored."""
    cpu_seconds: float
    """This process's CPU time over the same span (every thread: the writer's SQLite thread too;
    on PostgreSQL, not the server's)."""
    server_cpu_seconds: float | None
    """On PostgreSQL, the server's processes' CPU time over the same span, when the server runs
    on this machine (``bench.postgresql.server_cpu_seconds``); None otherwise."""
    stored: int
    """Messages and reactions found stored afterwards."""
    close_seconds: float
    """Closing the store afterwards: on SQLite, copying the WAL into the file, as a running
    Trellis does every 10 s of writing (the baseline's COMMIT does it, on its clock)."""
    recount_seconds: float
    """Recounting the report's rollups for the days the events changed, afterwards."""


async def run_engine(path: Path | str, events: list, themes: dict[str, ThemeMap]) -> EngineRun:
    """The engine's figures on a store: ``path`` is a SQLite file, or the URL of a PostgreSQL
    database."""

    async def no_command(command: CommandInvoked) -> None:
        return None

    async def open_store() -> Store:
        return await (
            SqliteStore.open(path) if isinstance(path, Path) else PostgresStore.open(path)
        )

    store = await open_store()
    try:
        async with store.transaction() as db:  # records the zone, as Trellis.open does
            for community in themes:
                await refresh_rollups(db, community, "UTC")
    finally:
        # Closing copies what the migrations and this first recount wrote from SQLite's WAL into
        # the file: the first checkpoint of the timed run would otherwise copy it too, on the
        # engine's clock (a third of a second at a million messages).
        await store.close()
    store = await open_store()
    try:
        engine = Engine(store, themes, on_command=no_command, member_cache=MemberCache())
        engine.start()
        backend = None
        if isinstance(store, PostgresStore):
            row = await store.fetch_one("SELECT pg_backend_pid()")
            backend = row[0] if row else None
        server = None if backend is None else postgresql.server_cpu_seconds(backend)
        started, cpu = time.perf_counter(), time.process_time()
        for event in events:
            await engine.accept(event)
        await engine.drain()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if server is not None and backend is not None:
            after = postgresql.server_cpu_seconds(backend)
            server = None if after is None else after - server
        await engine.stop()
    finally:
        closing = time.perf_counter()
        await store.close()
    closed = time.perf_counter() - closing
    store = await open_store()
    try:
        row = await store.fetch_one(
            "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM reactions)"
        )
        started = time.perf_counter()
        async with store.transaction() as db:
            for community in themes:
                await refresh_rollups(db, community, "UTC")
        return EngineRun(seconds, cpu, server, row[0], closed, time.perf_counter() - started)
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="events to ingest")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic chat")
    parser.add_argument(
        "--preload",
        type=int,
        nargs="+",
        default=[0],
        metavar="N",
        help="messages already stored before the timed run (several: one run for each)",
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help="also on PostgreSQL: postgresql://user@host/database, where scratch databases are "
        "made (password from PGPASSWORD); its baseline is asyncpg's copy_records_to_table",
    )
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="with --store: also N processes ingesting at once, each its own community",
    )
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error(f"--events must be a positive number of events, not {args.events}")
    if any(n < 0 for n in args.preload):
        parser.error("--preload takes numbers of messages, 0 or more")

    settings = CommunitySettings(name="Bench", themes=THEMES)
    themes = {COMMUNITY: ThemeMap(settings)}
    events = build_events(args.events, args.seed)
    for preloaded in args.preload:
        rows = baseline_rows(events, themes[COMMUNITY], preloaded=preloaded)
        with tempfile.TemporaryDirectory(prefix="trellis-bench-") as tmp:
            if preloaded:
                engine_path, baseline_path = preloaded_copies(Path(tmp), preloaded, args.seed)
            else:
                engine_path, baseline_path = (
                    Path(tmp) / "bench.sqlite3",
                    Path(tmp) / "baseline.sqlite3",
                )
            stored_before = chat_rows(engine_path) if preloaded else 0
            run = asyncio.run(run_engine(engine_path, events, themes))
            baseline_seconds, baseline_cpu = run_baseline(baseline_path, rows)
        baseline_count = len(rows[1]) + len(rows[3])
        engine_rate = len(events) / run.seconds
        baseline_rate = baseline_count / baseline_seconds
        print(f"preloaded messages      {preloaded}")
        print(f"events                  {len(events)}")
        print(f"  messages / reactions  {len(rows[1])} / {len(rows[3])}")
        print(f"stored (count(*))       {run.stored - stored_before}")
        print(f"engine seconds          {run.seconds:.3f}")
        print(f"engine events/s         {engine_rate:,.0f}")
        print(f"baseline seconds        {baseline_seconds:.3f}")
        print(f"baseline rows/s         {baseline_rate:,.0f}")
        print(f"ratio engine/baseline   {engine_rate / baseline_rate:.3f}")
        print(
            f"  in CPU time           engine {run.cpu_seconds:.3f} s, baseline "
            f"{baseline_cpu:.3f} s, ratio {baseline_cpu / baseline_count * len(events) / run.cpu_seconds:.3f}"
        )
        print(f"WAL into the file after {run.close_seconds:.3f} s (every 10 s of writing)")
        print(f"rollups recount after   {run.recount_seconds:.3f} s (hourly, and before a report)")
        print(f"peak RSS                {peak_rss_mb():.1f} MB")
        sys.stdout.flush()
        if args.store and not preloaded:
            run, copy = asyncio.run(postgresql.ingest(args.store, run_engine, events, themes, rows))
            engine_rate = len(events) / run.seconds
            baseline_rate = baseline_count / copy.seconds
            print(f"postgresql: stored      {run.stored}")
            print(f"  engine seconds        {run.seconds:.3f}")
            print(f"  engine events/s       {engine_rate:,.0f}")
            print(f"  copy baseline seconds {copy.seconds:.3f}")
            print(f"  copy baseline rows/s  {baseline_rate:,.0f}")
            print(f"  ratio engine/baseline {engine_rate / baseline_rate:.3f}")
            if run.server_cpu_seconds is not None and copy.server_cpu_seconds is not None:
                engine_cpu = run.cpu_seconds + run.server_cpu_seconds
                copy_cpu = copy.cpu_seconds + copy.server_cpu_seconds
                print(
                    f"  in CPU time           engine {engine_cpu:.3f} s, baseline "
                    f"{copy_cpu:.3f} s, ratio "
                    f"{copy_cpu / baseline_count * len(events) / engine_cpu:.3f} "
                    f"(this process and the server's)"
                )
            print(f"  rollups recount after {run.recount_seconds:.3f} s")
            sys.stdout.flush()
    for processes in args.processes if args.store else []:
        seconds = postgresql.ingest_in_processes(args.store, run_engine, events, themes, processes)
        print(
            f"postgresql, {processes} processes at once: {processes * len(events)} events in "
            f"{seconds:.3f} s, {processes * len(events) / seconds:,.0f} events/s in total"
        )
        sys.stdout.flush()


def chat_rows(path: Path) -> int:
    """Messages and reactions stored in ``path``."""
    db = sqlite3.connect(path)
    try:
        return db.execute(
            "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM reactions)"
        ).fetchone()[0]
    finally:
        db.close()


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
