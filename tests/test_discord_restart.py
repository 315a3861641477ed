"""Trellis on Discord across restarts: the real app, engine and SQLite file, the real discord.py
client, the loopback Discord server kept running while Trellis is stopped (gracefully, or killed:
every task of the process stops where it is and nothing is flushed), and the world changing while
it is down. Each start is a new gateway session: what was dispatched meanwhile is lost, as on
Discord, and only the adapter's own catch-up from history brings it in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.adapter import DiscordAdapter
from bot.app import Trellis
from bot.clock import ManualClock
from bot.config import parse_settings
from tests.discord_loopback import Commons, LoopbackDiscord

START = datetime(2026, 9, 7, 10, 0, tzinfo=UTC)  # a Monday, after the 09:00 digest
DIGEST_DUE = datetime(2026, 9, 14, 9, 0, tzinfo=UTC)
LONG_AGO = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


@dataclass
class Run:
    """One life of the Trellis process."""

    app: Trellis
    adapter: DiscordAdapter


@dataclass
class World:
    server: LoopbackDiscord
    commons: Commons
    clock: ManualClock
    config: dict[str, Any]
    silvia: dict[str, Any]
    """In the server long before Trellis came, and has never written a word."""

    async def start(self) -> Run:
        settings = parse_settings(self.config)
        adapter = DiscordAdapter(
            settings, "loopback-token", clock=self.clock, guild_ready_timeout=0.05
        )
        self.server.watch(adapter.client)
        app = await Trellis.open(settings, clock=self.clock, adapters=[adapter])
        await app.start(real_time=False)
        return Run(app, adapter)

    async def settle(self, run: Run) -> None:
        """Wait until everything the server dispatched is read, stored and answered."""
        session = self.server._session
        sequence = session.sequence if session else 0
        client = run.adapter.client
        await self.server.wait_for(
            lambda: client.ws is not None and (client.ws.sequence or 0) >= sequence,
            what="the client to read every dispatch",
        )
        for _ in range(3):
            await run.adapter.flush()
            await run.app.engine.drain()

    async def kill(self, run: Run) -> None:
        """As ``kill -9``: every task of Trellis stops where it is, queued events are lost, the
        operating system closes its sockets and its database file."""
        doomed = [t for t in asyncio.all_tasks() if t.get_name().startswith("trellis-")]
        for task in doomed:
            task.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)
        # The connections go with the process (discord.py's heartbeat thread with them).
        if run.adapter.client.ws is not None:
            await run.adapter.client.ws.close(code=4000)
        await run.adapter.client.http.close()
        await self.server.drop()
        await run.app.store.close()

    async def ask(self, run: Run, user: dict[str, Any], command: str, **options: Any) -> str:
        c = self.commons
        interaction = await self.server.invoke(c.guild, c.general, user, command, options)
        await self.settle(run)
        answers = self.server.interaction_answers(interaction)
        return "\n".join(
            (a.get("data") or a.get("followup") or {}).get("content", "") for a in answers
        )


async def count(run: Run, sql: str, *params: object) -> int:
    row = await run.app.store.fetch_one(sql, params)
    assert row is not None
    return row[0]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = ManualClock(START - timedelta(days=30))  # the server's members joined a month ago
    async with LoopbackDiscord.running(now=clock.now) as server:
        commons = Commons.build(server)
        silvia = server.add_member(commons.guild, "Silvia", joined_at=LONG_AGO)
        clock.set(START)
        config = commons.config() | {"storage": {"path": str(tmp_path / "trellis.sqlite3")}}
        yield World(server, commons, clock, config, silvia)


def dms_to(server: LoopbackDiscord, user: dict[str, Any]) -> list[str]:
    return [
        m["content"]
        for channel, dm in server.dm_channels.items()
        if dm["recipients"][0]["id"] == user["id"]
        for m in server.messages[channel]
    ]


@pytest.mark.parametrize("stop", ["graceful", "killed"])
async def test_downtime_is_caught_up_and_members_present_are_members(
    world: World, stop: str
) -> None:
    server, c, clock = world.server, world.commons, world.clock
    leo = server.add_member(c.guild, "Leo", joined_at=LONG_AGO)
    first = await world.start()
    question = await server.post(c.water, c.ana, "How do you test wells?")
    reply = await server.post(
        c.water, c.ben, "With strips, call me on 555-0101", reply_to=question["id"]
    )
    strips = await server.open_thread(c.water, c.ana, "Strip brands")
    await world.settle(first)
    # A burst the process may still hold in memory when it stops.
    burst = [await server.post(c.general, c.fede, f"note {i}") for i in range(20)]
    if stop == "graceful":
        await first.app.stop()
    else:
        await world.kill(first)

    # While Trellis is down: chat (in a thread too), a reaction, a post in the forum that is
    # archived before Trellis is back, a member comes, one goes.
    clock.set(datetime(2026, 9, 12, 15, 0, tzinfo=UTC))
    downtime = [await server.post(c.water, c.ana, f"while down {i}") for i in range(5)]
    downtime.append(await server.post(strips, c.ben, "Brand X works"))
    await server.react(question["id"], c.fede, "🙏")
    post = await server.open_thread(c.cases, c.ben, "Case: Quito")
    quito = await server.post(post, c.ben, "What happened in Quito")
    await server.archive(post)
    await server.edit(question["id"], "How do you test wells cheaply?")
    await server.delete(reply["id"])  # regretted: Trellis must not keep it
    newcomer = await server.join(c.guild, "Nina")
    await server.leave(c.guild, leo)
    clock.set(DIGEST_DUE + timedelta(minutes=30))

    second = await world.start()  # the digest fell due while down: posted after catch-up
    try:
        await world.settle(second)
        said = [question, reply, *burst, *downtime, quito]
        stored = await second.app.store.fetch_all("SELECT platform_id FROM messages")
        assert sorted(row[0] for row in stored) == sorted(m["id"] for m in said)  # each once
        assert await count(second, "SELECT count(*) FROM reactions WHERE emoji = '🙏'") == 1
        texts = await second.app.store.fetch_all(
            "SELECT platform_id, text, deleted_at IS NOT NULL FROM messages WHERE platform_id IN (?, ?)",
            (question["id"], reply["id"]),
        )
        assert sorted(tuple(r) for r in texts) == sorted(
            [(question["id"], "How do you test wells cheaply?", 0), (reply["id"], None, 1)]
        )
        assert await count(second, "SELECT count(*) FROM messages WHERE text LIKE '%555%'") == 0
        assert (
            await count(
                second,
                "SELECT count(*) FROM threads WHERE thread_key = ? AND theme = 'cases'",
                f"discord:{post}",
            )
            == 1
        )

        digest = "\n".join(
            r.content
            for r in server.requests_to("POST /channels/{channel_id}/messages")
            if r.params["channel_id"] == c.digest
        )
        # The brief digest, the default: one message, the whole digest attached.
        assert f"**The week in numbers**: {len(said) - 1} messages " in digest  # but the deleted
        assert ", 2 new threads, " in digest
        assert ", 1 new member." in digest  # Nina; those there before Trellis are not new

        # Members present are members: joined when the platform says, never welcomed by a
        # catch-up, gone when gone.
        joined = await second.app.store.fetch_all(
            "SELECT member_key, joined_at, left_at FROM members WHERE member_key IN (?, ?, ?)",
            (f"discord:{world.silvia['id']}", f"discord:{newcomer['id']}", f"discord:{leo['id']}"),
        )
        dates = {key: (joined_at, left_at is not None) for key, joined_at, left_at in joined}
        assert dates == {
            f"discord:{world.silvia['id']}": (int(LONG_AGO.timestamp()), False),
            f"discord:{newcomer['id']}": (
                int(datetime(2026, 9, 12, 15, 0, tzinfo=UTC).timestamp()),
                False,
            ),
            f"discord:{leo['id']}": (int(LONG_AGO.timestamp()), True),
        }
        assert not [text for text in dms_to(server, newcomer) if "Welcome" in text]
        assert not [
            text
            for m in (c.ana, c.ben, c.fede, world.silvia)
            for text in dms_to(server, m)
            if "Welcome" in text
        ]

        quiet = await world.ask(second, c.fede, "quiet")
        assert "- Silvia: joined" in quiet
        thanked = await world.ask(second, c.ana, "kudos", member=world.silvia, reason="the map")
        assert "Silvia" in thanked
        assert (
            await count(
                second,
                "SELECT count(*) FROM credits k JOIN members m ON m.id = k.receiver_id "
                "WHERE k.kind = 'kudos' AND m.member_key = ?",
                f"discord:{world.silvia['id']}",
            )
            == 1
        )
        assert server.connections == ["identify /", "identify /"]
    finally:
        await second.app.stop()


async def test_invalid_session_mid_burst_stores_fifty_once(world: World) -> None:
    server, c = world.server, world.commons
    run = await world.start()

    async def identify_at_once(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before identifying again, for Discord's identify rate limit."""

    run.adapter.client.before_identify_hook = identify_at_once  # type: ignore[method-assign]
    try:
        for i in range(20):
            await server.post(c.water, c.ana, f"before {i}")
        await server.invalidate()
        for i in range(15):
            await server.post(c.water, c.ben, f"lost by the gateway {i}")
        await server.wait_ready()
        for i in range(15):
            await server.post(c.water, c.ana, f"after {i}")
        await world.settle(run)

        async def stored() -> int:
            await run.adapter.flush()
            await run.app.engine.drain()
            return await count(run, "SELECT count(*) FROM messages")

        # The catch-up runs beside live chat once the new session is ready.
        for _ in range(500):
            if await stored() >= 50:
                break
            await asyncio.sleep(0.01)
        assert await stored() == 50
        assert await count(run, "SELECT count(DISTINCT platform_id) FROM messages") == 50
        assert server.connections == ["identify /", "resume /resume", "identify /resume"]
    finally:
        await run.app.stop()


async def test_a_refused_welcome_holds_back_nudges(world: World) -> None:
    server, c, clock = world.server, world.commons, world.clock
    run = await world.start()
    try:
        closed = await server.join(c.guild, "Olga", dms_closed=True)
        await world.settle(run)
        key = f"discord:{closed['id']}"
        assert (
            await count(
                run,
                "SELECT count(*) FROM members WHERE member_key = ? AND unreachable_at IS NOT NULL",
                key,
            )
            == 1
        )
        dm = next(
            ch for ch, d in server.dm_channels.items() if d["recipients"][0]["id"] == closed["id"]
        )
        attempts = len(
            [
                r
                for r in server.requests_to("POST /channels/{channel_id}/messages")
                if r.params["channel_id"] == dm
            ]
        )
        assert attempts == 1  # the welcome

        clock.set(START + timedelta(days=9))  # a newcomer by then, and the daily scan runs
        await run.app.run_due_jobs()
        await world.settle(run)
        assert (
            len(
                [
                    r
                    for r in server.requests_to("POST /channels/{channel_id}/messages")
                    if r.params["channel_id"] == dm
                ]
            )
            == 1
        )
        assert "- Olga: joined" in (quiet := await world.ask(run, c.fede, "quiet"))
        assert "does not accept direct messages" in quiet.split("- Olga:")[1].split("\n")[0]
    finally:
        await run.app.stop()


async def test_a_member_answers_the_pulse_in_the_direct_message(world: World) -> None:
    server, c, clock = world.server, world.commons, world.clock
    run = await world.start()
    try:
        clock.set(datetime(2026, 10, 1, 10, 5, tzinfo=UTC))  # the monthly pulse is sent
        await run.app.run_due_jobs()
        await world.settle(run)
        (invitation,) = [t for t in dms_to(server, c.ana) if "pulse" in t]
        assert "/pulse" in invitation

        offered = {command["name"] for command in server.global_commands}
        assert offered == {
            "pulse",
            "story",
            "nudges",
            "mydata",
            "optout",
            "optin",
            "forget-me",
            "help",
            "profile",
            "done",
        }
        assert all(command["contexts"] == [1] for command in server.global_commands)
        (profile,) = [command for command in server.global_commands if command["name"] == "profile"]
        assert [sub["name"] for sub in profile["options"]] == ["set"]  # as the welcome says

        interaction = await server.invoke_direct(
            c.ana, "pulse", {"satisfaction": 4, "ownership": 5}
        )
        await world.settle(run)
        (answer,) = server.interaction_answers(interaction)
        assert answer["type"] == 4 and "Thank" in answer["data"]["content"]
        assert (
            await count(
                run, "SELECT count(*) FROM survey_answers WHERE satisfaction = 4 AND ownership = 5"
            )
            == 1
        )
    finally:
        await run.app.stop()
