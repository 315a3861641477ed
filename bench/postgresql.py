"""The benchmarks' PostgreSQL side: scratch databases on the server ``--store`` names, and the raw
baseline that ingest on PostgreSQL is measured against.

``--store postgresql://user@host/database`` names a server and a database to connect to; the
benchmarks create their own scratch databases beside it (the user needs CREATEDB) and drop them
afterwards. The password comes from PGPASSWORD, as for any PostgreSQL client.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.postgresql import PostgresStore, postgresql_types, statements

if TYPE_CHECKING:
    from bench.ingest import EngineRun


def database_url(url: str, name: str) -> str:
    """``url`` with its database replaced by ``name``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@asynccontextmanager
async def scratch_database(url: str, name: str) -> AsyncIterator[str]:
    """A new, empty database called ``name`` on ``url``'s server, dropped afterwards."""
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.execute(f"CREATE DATABASE {name}")
        try:
            yield database_url(url, name)
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


def server_cpu_seconds(backend: int) -> float | None:
    """CPU seconds used so far by every process of the PostgreSQL server that runs the backend
    ``backend`` (``pg_backend_pid()``), the postmaster's children, when the server runs on this
    machine; None when it does not. A backend that exits takes its share with it: read this while
    the connections measured are open."""
    try:
        postmaster = _process(backend)[1]
        if _process(postmaster)[0] != "postgres":
            return None  # the number is another machine's process
    except OSError:
        return None
    return children_cpu_seconds(postmaster)


def children_cpu_seconds(parent: int) -> float:
    """CPU seconds (user and system) used so far by the live children of process ``parent``."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            _, their_parent, used = _process(int(stat.parent.name))
        except OSError:
            continue  # ended meanwhile
        if their_parent == parent:
            ticks += used
    return ticks / os.sysconf("SC_CLK_TCK")


def _process(pid: int) -> tuple[str, int, int]:
    """A process's name, parent and CPU ticks (user and system), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return name, int(fields[1]), int(fields[11]) + int(fields[12])


class RawCopy(NamedTuple):
    seconds: float
    cpu_seconds: float
    """This process's and the server's (None: the server is not on this machine)."""
    server_cpu_seconds: float | None


async def run_raw_copy(url: str, rows: tuple[list[tuple[Any, ...]], ...]) -> RawCopy:
    """Seconds for asyncpg's ``copy_records_to_table`` to write the same rows into the core schema
    (the same migration file as the engine's, as PostgreSQL spells its types), in one
    transaction: PostgreSQL's fastest way in, none of the engine's work."""
    members, messages, mentions, reactions = rows
    schema = (resources.files("storage") / "migrations" / "001_core.sql").read_text("utf-8")
    connection = await asyncpg.connect(url)
    try:
        for statement in statements(postgresql_types(schema)):
            await connection.execute(statement)
        server = server_cpu_seconds(connection.get_server_pid())
        started, cpu = time.perf_counter(), time.process_time()
        async with connection.transaction():
            await connection.copy_records_to_table(
                "members",
                records=members,
                columns=[
                    "id",
                    "community",
                    "member_key",
                    "display_name",
                    "is_bot",
                    "first_seen_at",
                ],
            )
            await connection.copy_records_to_table(
                "messages",
                records=messages,
                columns=[
                    "id",
                    "community",
                    "platform_id",
                    "member_id",
                    "channel_key",
                    "thread_key",
                    "theme",
                    "posted_at",
                    "text",
                    "chars",
                    "is_question",
                    "reply_to",
                    "reply_to_member_id",
                ],
            )
            await connection.copy_records_to_table(
                "mentions", records=sorted(set(mentions)), columns=["message_id", "member_id"]
            )
            await connection.copy_records_to_table(
                "reactions",
                records=reactions,
                columns=[
                    "community",
                    "message_platform_id",
                    "member_id",
                    "emoji",
                    "reacted_at",
                    "target_member_id",
                    "theme",
                ],
            )
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        server_after = server_cpu_seconds(connection.get_server_pid())
        stored = await connection.fetchval(
            "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM reactions)"
        )
        if stored != len(messages) + len(reactions):
            raise RuntimeError(
                "the baseline did not store every row; the comparison would be wrong"
            )
        used = None if server is None or server_after is None else server_after - server
        return RawCopy(seconds, cpu, used)
    finally:
        await connection.close()


async def ingest(
    url: str,
    run_engine: Callable[..., Coroutine[Any, Any, EngineRun]],
    events: list[Any],
    themes: dict[str, Any],
    rows: tuple[list[tuple[Any, ...]], ...],
) -> tuple[EngineRun, RawCopy]:
    """``run_engine``'s figures on a scratch PostgreSQL database (migrated by the store), and the
    raw copy's of the same rows into another."""
    async with scratch_database(url, "trellis_bench_engine") as engine_url:
        run = await run_engine(engine_url, events, themes)
    async with scratch_database(url, "trellis_bench_baseline") as baseline_url:
        baseline = await run_raw_copy(baseline_url, rows)
    return run, baseline


def ingest_in_processes(
    url: str,
    run_engine: Callable[..., Coroutine[Any, Any, EngineRun]],
    events: list[Any],
    themes: dict[str, Any],
    processes: int,
) -> float:
    """Seconds for ``processes`` processes, started together on one scratch database, to ingest
    ``events`` each (each as a community of its own, as Trellis processes sharing a database
    serve different communities or shards): the slowest one's, so every event is stored then."""
    (community,) = themes
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:

        async def migrated() -> str:
            async with scratch_database(url, "trellis_bench_processes") as database:
                await (await PostgresStore.open(database)).close()
                jobs = [
                    (run_engine, database, events, community, themes[community], f"{community}{n}")
                    for n in range(processes)
                ]
                results = await asyncio.to_thread(pool.starmap, _ingest_as, jobs)
                return str(max(results))

        return float(asyncio.run(migrated()))


def _ingest_as(
    run_engine: Callable[..., Coroutine[Any, Any, EngineRun]],
    database: str,
    events: list[Any],
    community: str,
    themes: Any,
    name: str,
) -> float:
    own = [dataclasses.replace(event, community=name) for event in events]
    return asyncio.run(run_engine(database, own, {name: themes})).seconds


async def vacuum_analyze(url: str) -> None:
    """Vacuum the database at ``url`` and take the planner's statistics, as autovacuum does on a
    database that grew over time rather than in one copy. A vacuum also marks the copied pages
    all-visible: until then an index-only scan reads every row's page as well (the report's ties
    read tie_days' key 1.05M times at a million messages), which a live database does only for
    the pages written since autovacuum last passed."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("VACUUM (ANALYZE)")
    finally:
        await connection.close()
