"""A bot's Discord gateway in two shards held by two ``trellis run`` processes on one PostgreSQL
database (the loopback Discord speaking a sharded gateway): each server's events are stored once,
and a command is answered by the process holding that server's shard; a process counting the
shards otherwise is refused."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from storage.election import Election
from storage.postgresql import PostgresStore
from tests.discord_loopback import MANAGE_GUILD, LoopbackDiscord
from tests.helpers import storage_config
from tests.postgres import PASSWORD
from tests.test_elected_connections import Processes
from tests.test_matrix_restart import toml

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("postgresql_only")

TOKEN = "MTIzNDU2Nzg5MA.x.y"
"""A token of Discord's form: its first part is the bot's id (1234567890) in base64."""


class Server:
    """A Discord server on the given shard: a facilitator role, #general, Ana and Fede."""

    def __init__(self, discord: LoopbackDiscord, name: str, shard: int) -> None:
        self.guild = discord.add_guild(name, shard=shard)
        self.facilitators = discord.add_role(self.guild, "Facilitators", permissions=MANAGE_GUILD)
        self.general = discord.add_channel(self.guild, "general")
        self.ana = discord.add_member(self.guild, "Ana")
        self.fede = discord.add_member(self.guild, "Fede", roles=(self.facilitators,))

    def community(self, name: str) -> dict:
        return {
            "name": name,
            "discord_guild_id": self.guild,
            "roles": {"facilitators": [f"discord-role:{self.facilitators}"]},
        }


class ShardProcesses(Processes):
    """``trellis run`` on the loopback Discord at ``port``, one config per process."""

    def __init__(self, folder: Path, port: int) -> None:
        super().__init__(folder / "unused.toml")
        self.port = port

    def start(self, name: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, str(ROOT / "tests" / "loopback_trellis.py"), str(self.port)]
        config = self.config.parent / f"{name}.toml"
        with self.log(name).open("ab") as out:
            self.running[name] = subprocess.Popen(
                [*command, "run", "--config", str(config)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={
                    **os.environ,
                    "PYTHONPATH": str(ROOT),
                    "TRELLIS_DISCORD_TOKEN": TOKEN,
                },
            )
        return self.running[name]


async def stored(url: str, sql: str) -> list[tuple]:
    connection = await asyncpg.connect(url, password=PASSWORD)
    try:
        return [tuple(row) for row in await connection.fetch(sql)]
    finally:
        await connection.close()


async def until(condition, what: str, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def test_two_shard_processes_store_each_servers_events_once_and_answer_its_commands(
    tmp_path: Path,
) -> None:
    storage = await storage_config(tmp_path / "trellis.sqlite3")
    url = storage["url"]
    async with LoopbackDiscord.running(shard_count=2) as discord:
        north, south = Server(discord, "North", shard=0), Server(discord, "South", shard=1)
        processes = ShardProcesses(tmp_path, discord.port)
        # The first process may hold shard 0 and shard 1; the second only shard 1, and starts
        # first, so the first holds shard 0 and stands by for shard 1.
        for name, shards in (("first", [0, 1]), ("second", [1])):
            config = {
                "storage": storage,
                "adapters": {
                    "console": {"enabled": False},
                    "discord": {"enabled": True, "shard_count": 2, "shard_ids": shards},
                },
                "communities": {
                    "north": north.community("North"),
                    "south": south.community("South"),
                },
            }
            (tmp_path / f"{name}.toml").write_text(toml(config))
        messages = "SELECT community, text FROM messages ORDER BY community, posted_at, id"
        try:
            second = processes.start("second")
            await processes.until_logged("second", "holds discord shard 1 of 2")
            processes.start("first")
            await processes.until_logged(
                "first", "holds discord shard 0 of 2, bot 1234567890; stands by for discord shard 1"
            )
            await discord.wait_ready()
            # Each shard has one session, so a server's dispatches reach one process: its holder.
            assert discord.connections == ["identify / shard 1", "identify / shard 0"]

            await discord.post(north.general, north.ana, "From the north")
            await discord.post(south.general, south.ana, "From the south")
            await discord.join(north.guild, "Nora")
            await discord.join(south.guild, "Sol")
            joined = (
                "SELECT community, display_name FROM members "
                "WHERE display_name IN ('Nora', 'Sol') ORDER BY community"
            )
            await until(lambda: _count(url, messages, 2), "the messages were not stored")
            await until(lambda: _count(url, joined, 2), "the joins were not stored")
            await asyncio.sleep(1)  # nothing comes twice, however long we wait
            assert await stored(url, messages) == [
                ("north", "From the north"),
                ("south", "From the south"),
            ]
            assert await stored(url, joined) == [("north", "Nora"), ("south", "Sol")]

            asked = [
                await discord.invoke(server.guild, server.general, server.fede, "stats")
                for server in (north, south)
            ]
            for interaction in asked:
                await discord.wait_for(lambda i=interaction: discord.interaction_answers(i))
            await asyncio.sleep(0.5)
            for interaction in asked:
                (answer,) = discord.interaction_answers(interaction)
                assert "1 message" in answer["data"]["content"], answer

            # Shard 1's holder dies: the first process takes shard 1 over beside shard 0, and
            # reads what was said in the south while nobody held it.
            second.kill()
            second.wait()
            await discord.post(south.general, south.ana, "Said while shard 1 had no holder")
            await processes.until_logged("first", "took over discord shard 1 of 2")
            await discord.wait_ready()
            await discord.post(south.general, south.ana, "After the takeover")
            await until(lambda: _count(url, messages, 4), "the south's messages were not stored")
            await asyncio.sleep(1)
            assert await stored(url, messages) == [
                ("north", "From the north"),
                ("south", "From the south"),
                ("south", "Said while shard 1 had no holder"),
                ("south", "After the takeover"),
            ]
        finally:
            processes.stop_all()


async def _count(url: str, sql: str, count: int) -> bool:
    return len(await stored(url, sql)) >= count


async def test_a_process_counting_the_bots_shards_otherwise_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    storage = await storage_config(tmp_path / "trellis.sqlite3")
    async with LoopbackDiscord.running(shard_count=2) as discord:
        north = Server(discord, "North", shard=0)
        processes = ShardProcesses(tmp_path, discord.port)
        for name, count in (("two", 2), ("three", 3)):
            config = {
                "storage": storage,
                "adapters": {
                    "console": {"enabled": False},
                    "discord": {"enabled": True, "shard_count": count},
                },
                "communities": {"north": north.community("North")},
            }
            (tmp_path / f"{name}.toml").write_text(toml(config))
        try:
            processes.start("two")
            await processes.until_logged("two", "discord shard 1 of 2, bot 1234567890")
            await discord.wait_ready()
            three = processes.start("three")
            assert three.wait(timeout=30) == 2
            assert (
                "trellis: Another process of discord bot 1234567890 on this database runs with "
                "adapters.discord.shard_count = 2, and this one has 3: give every process of the "
                "bot the same adapters.discord.shard_count (to change it, stop them all, then "
                "start them with the new one)." in processes.log("three").read_text()
            )
            # It never reached Discord: the bot's shards are still the first process's alone.
            assert sorted(discord.connections) == ["identify / shard 0", "identify / shard 1"]
        finally:
            processes.stop_all()


async def test_once_every_process_of_a_shard_count_stopped_another_count_is_agreed(
    postgres, tmp_path: Path
) -> None:
    url = await postgres.new_database()
    setting = "adapters.discord.shard_count of discord bot 1234567890"
    first, second = await PostgresStore.open(url), await PostgresStore.open(url)
    try:
        two, alike, three = Election(first, []), Election(first, []), Election(second, [])
        assert await two.agree(setting, "2") is None
        assert await alike.agree(setting, "2") is None  # every process of the count runs
        assert await three.agree(setting, "3") == "2"
        await two.close()
        assert await three.agree(setting, "3") == "2"  # one process of 2 is left
        await alike.close()
        assert await three.agree(setting, "3") is None
        assert await Election(first, []).agree(setting, "2") == "3"
        await three.close()
    finally:
        await first.close()
        await second.close()
