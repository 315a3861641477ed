"""One process holds each platform connection that must be unique, elected through PostgreSQL:
the real ``trellis run`` twice on one database and one bot account, the holder killed with
kill -9, the standby taking over and storing what was said meanwhile, once; a holder cut from
the database giving its connection up; a backfill beside the holder refusing."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from adapters.matrix.adapter import MatrixAdapter
from bot.app import Trellis
from bot.clock import SystemClock
from bot.config import ConfigError, parse_settings
from storage.election import Election
from storage.postgresql import PostgresStore
from tests.helpers import storage_config
from tests.postgres import PASSWORD
from tests.synapse import REPO, Synapse, synapse  # noqa: F401  (the fixture)
from tests.test_matrix_adapter import World
from tests.test_matrix_restart import run_config

pytestmark = pytest.mark.usefixtures("postgresql_only")


@pytest.fixture
async def world(synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    world = World(synapse, tmp_path, monkeypatch)
    await world.setup()
    yield world
    await world.close()


class Processes:
    """``trellis run`` processes with one config, each logging to a file of its own."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> subprocess.Popen[bytes]:
        with self.log(name).open("ab") as out:
            self.running[name] = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run", "--config", str(self.config)],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self.running[name]

    def log(self, name: str) -> Path:
        return self.config.parent / f"{name}.log"

    async def until_logged(self, name: str, text: str, within: float = 30) -> float:
        """Seconds until ``name``'s log says ``text``."""
        began = time.monotonic()
        while text not in self.log(name).read_text(errors="replace"):
            process = self.running[name]
            assert process.poll() is None, f"{name} ended: {self.log(name).read_text()}"
            assert time.monotonic() - began < within, (
                f"{name} never logged {text!r}: "
                + (self.log(name).read_text(errors="replace")[-3000:])
            )
            await asyncio.sleep(0.1)
        return time.monotonic() - began

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.terminate()
        for process in self.running.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def stored_texts(url: str) -> list[str]:
    connection = await asyncpg.connect(url, password=PASSWORD)
    try:
        rows = await connection.fetch("SELECT text FROM messages ORDER BY posted_at, id")
    finally:
        await connection.close()
    return [row["text"] for row in rows]


async def until_stored(url: str, count: int, within: float = 30) -> list[str]:
    deadline = time.monotonic() + within
    while len(texts := await stored_texts(url)) < count:
        assert time.monotonic() < deadline, f"only {len(texts)} of {count} stored: {texts}"
        await asyncio.sleep(0.1)
    return texts


async def test_the_standby_takes_over_the_matrix_sync_of_a_killed_holder(world: World) -> None:
    storage = await storage_config(world.tmp_path / "trellis.sqlite3")
    url = storage["url"]
    config = world.tmp_path / "trellis.toml"
    config.write_text(run_config(world, storage))
    sync = f"matrix sync of {world.bot_user.user_id}"
    processes = Processes(config)
    try:
        holder = processes.start("holder")
        await processes.until_logged("holder", f"holds {sync}")
        processes.start("standby")
        await processes.until_logged(
            "standby",
            f"platforms: matrix (standing by); holds no platform connection; stands by for "
            f"{sync} (the jobs are left to the processes holding them until then)",
        )
        for text in ("one", "two"):
            await world.ana.send(world.room_id, text)
        await until_stored(url, 2)
        holder.kill()  # kill -9: its database session ends, and with it the lease
        holder.wait()
        killed = time.monotonic()
        meanwhile = [f"said while nobody synced {n}" for n in range(3)]
        for text in meanwhile:
            await world.ana.send(world.room_id, text)
        await processes.until_logged("standby", f"took over {sync}")
        taken_over = time.monotonic() - killed
        await world.ana.send(world.room_id, "after the takeover")
        texts = await until_stored(url, 6)
        await asyncio.sleep(1)  # nothing is stored twice, however long we wait
        assert await stored_texts(url) == texts == ["one", "two", *meanwhile, "after the takeover"]
        assert taken_over < 30, f"the standby took {taken_over:.1f} s to take over"
    finally:
        processes.stop_all()


async def test_one_holder_at_a_time_and_a_holder_cut_from_the_database_gives_up(postgres):
    url = await postgres.new_database()
    first, second = await PostgresStore.open(url), await PostgresStore.open(url)
    sync, shard = "matrix sync of @trellis:example.org", "discord shard 0 of 2, bot 1"
    holder, standby = Election(first, [sync]), Election(second, [sync, shard])
    try:
        assert await holder.look() == [sync]
        assert await standby.look() == [shard]
        assert standby.waiting == [sync] and await standby.look() == []
        # The server ends the holder's lease session, as when its connection breaks.
        connection = await asyncpg.connect(url)
        try:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND pid IN "
                "(SELECT pid FROM pg_stat_activity WHERE datname = current_database()) "
                "AND objid = (hashtextextended($1, 0) & 4294967295)::oid",
                sync,
            )
        finally:
            await connection.close()
        deadline = time.monotonic() + 10  # the server lets the lock go as the session ends
        while not await standby.look():
            assert time.monotonic() < deadline, "the cut holder's lease was never let go"
            await asyncio.sleep(0.05)
        assert standby.held == [sync, shard]
        assert await holder.lost() == [sync] and holder.held == []
        assert await holder.look() == []  # the standby holds it now
    finally:
        for election, store in ((holder, first), (standby, second)):
            await election.close()
            await store.close()


async def test_a_backfill_beside_the_holder_of_its_connection_refuses_in_one_sentence(
    postgres, monkeypatch, caplog
):
    url = await postgres.new_database()
    settings = parse_settings(
        {
            "storage": {"url": url.replace(f":{PASSWORD}@", "@"), "password_env": "PG_PASSWORD"},
            "adapters": {
                "console": {"enabled": False},
                "matrix": {
                    "enabled": True,
                    "homeserver": "http://127.0.0.1:9",  # never asked: the adapter stands by
                    "user_id": "@trellis:example.org",
                },
            },
            "communities": {"water": {"name": "Water network"}},
        }
    )
    holder_store = await PostgresStore.open(url)
    holder = Election(holder_store, ["matrix sync of @trellis:example.org"])
    monkeypatch.setenv("PG_PASSWORD", PASSWORD)
    try:
        assert await holder.look()
        caplog.set_level(logging.INFO, logger="bot.app")
        app = await Trellis.open(settings, clock=SystemClock(), adapters=[MatrixAdapter(settings)])
        try:
            await app.start(real_time=False)
            with pytest.raises(ConfigError) as refused:
                await app.backfill("matrix", datetime.now(UTC) - timedelta(days=1))
        finally:
            await app.stop()
        assert str(refused.value) == (
            "another Trellis process on this database holds matrix sync of @trellis:example.org, "
            "which the backfill reads through; stop that process for the backfill, then start it "
            "again"
        )
        assert any("stands by for matrix sync of" in r.getMessage() for r in caplog.records)
    finally:
        await holder.close()
        await holder_store.close()
