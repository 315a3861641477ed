"""Trellis end to end on Matrix: the real app, store and adapter against a real Synapse."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.matrix.adapter import MatrixAdapter
from bot.app import Trellis
from bot.clock import SystemClock
from bot.config import Settings
from storage.activity import totals
from storage.sqlite import SqliteStore
from tests.synapse import Synapse, synapse  # noqa: F401  (the fixture)
from tests.test_matrix_adapter import World


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


class AppWorld(World):
    """A World whose bot is the whole Trellis app."""

    def app_settings(self) -> Settings:
        settings = self.settings()
        community = settings.communities["water"]
        digest = community.digest.model_copy(update={"channel": f"matrix:{self.room_id}"})
        community = community.model_copy(update={"digest": digest})
        return settings.model_copy(update={"communities": {"water": community}})

    async def app(self) -> Trellis:
        settings = self.app_settings()
        store = await SqliteStore.open(settings.storage.path)
        app = Trellis(settings, store, SystemClock(), [MatrixAdapter(settings)])
        await app.start(real_time=False)
        return app

    async def week(self, app: Trellis):
        now = datetime.now(UTC)
        start = int((now - timedelta(days=1)).timestamp())
        return await totals(app.store, "water", start, int(now.timestamp()) + 60)


@pytest.fixture
async def world(synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    world = AppWorld(synapse, tmp_path, monkeypatch)
    await world.setup()
    yield world
    await world.close()


async def test_chat_is_counted_per_theme_and_commands_respect_power_levels(world: AppWorld) -> None:
    app = await world.app()
    try:
        question = await world.ben.send(world.room_id, "How do you keep irrigation records?")
        await world.ana.send(
            world.room_id,
            "In a shared notebook",
            **{"m.relates_to": {"m.in_reply_to": {"event_id": question}}},
        )
        thread = {"rel_type": "m.thread", "event_id": question, "is_falling_back": True}
        await world.ben.send(world.room_id, "Thanks, we will try it", **{"m.relates_to": thread})
        await world.ana.send_event(
            world.room_id,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": question, "key": "👍"}},
        )

        async def counted() -> bool:
            await app.engine.drain()
            week = await world.week(app)
            return week.messages == 3 and week.reactions == 1

        await eventually(counted)
        week = await world.week(app)
        assert week.by_theme == {"rights": 3}
        assert (week.replies, week.threads) == (1, 1)

        # Ben is a member: stats is for facilitators, and he is told so in a direct room.
        await world.ben.send(world.room_id, "!trellis stats")
        refusal_room = await world.ben.wait_for_invite()
        await world.ben.client.join(refusal_room)
        refusal = await world.ben.wait_for(
            refusal_room, lambda e: e.get("content", {}).get("msgtype") == "m.notice"
        )
        assert refusal["content"]["body"].startswith("Only facilitators can use !trellis stats")

        # Ana created the room (power beyond 50): she is a facilitator and gets her numbers.
        await world.ana.send(world.room_id, "!trellis stats")
        stats_room = await world.ana.wait_for_invite()
        await world.ana.client.join(stats_room)
        stats = await world.ana.wait_for(
            stats_room, lambda e: e.get("content", {}).get("msgtype") == "m.notice"
        )
        assert stats["content"]["body"].startswith("**Participation in the whole community")
    finally:
        await app.stop()


async def test_redaction_removes_the_stored_text(world: AppWorld) -> None:
    app = await world.app()
    try:
        secret = "my phone number is 555-0100"
        event_id = await world.ben.send(world.room_id, secret)

        async def stored(text: str | None) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                await app.engine.drain()
                row = await app.store.fetch_one(
                    "SELECT text FROM messages WHERE platform_id = ?", (event_id,)
                )
                return row is not None and row[0] == text

            return check

        await eventually(await stored(secret))
        await world.ben.client.room_redact(world.room_id, event_id)

        async def gone() -> bool:
            await app.engine.drain()
            rows = await app.store.fetch_all("SELECT text FROM messages WHERE text LIKE '%555%'")
            return not rows

        await eventually(gone)
        assert (await world.week(app)).messages == 0
    finally:
        await app.stop()


async def test_digest_escapes_member_html_and_never_pings_the_room(world: AppWorld) -> None:
    app = await world.app()
    try:
        await world.ben.send(world.room_id, "<b>Water</b> @room: our irrigation lesson <script>")

        async def counted() -> bool:
            await app.engine.drain()
            return (await world.week(app)).messages == 1

        await eventually(counted)
        await app.post_digest("water", datetime.now(UTC) + timedelta(minutes=1))
        digest = await world.ana.wait_for(
            world.room_id,
            lambda e: e["sender"] == world.bot_user.user_id and e["type"] == "m.room.message",
        )
        content = digest["content"]
        assert "<b>Water" not in content["formatted_body"]
        assert "<script>" not in content["formatted_body"]
        assert not re.search("@room", content["body"] + content["formatted_body"], re.I)
        assert content["m.mentions"] == {}
    finally:
        await app.stop()


async def test_restart_counts_what_came_meanwhile_exactly_once(world: AppWorld) -> None:
    app = await world.app()
    await world.ana.send(world.room_id, "before the restart")

    async def count(expected: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            await app.engine.drain()
            return (await world.week(app)).messages == expected

        return check

    await eventually(await count(1))
    await app.stop()
    for i in range(3):
        await world.ben.send(world.room_id, f"while Trellis was down {i}")
    app = await world.app()
    try:
        await world.ana.send(world.room_id, "after the restart")
        await eventually(await count(5))
        await asyncio.sleep(0.3)
        await app.engine.drain()
        assert (await world.week(app)).messages == 5
    finally:
        await app.stop()


async def test_backfill_twice_adds_nothing_the_second_time(world: AppWorld) -> None:
    for text in ("an old lesson", "an old question?"):
        await world.ana.send(world.room_id, text)
    app = await world.app()  # joins; the backlog is not live chat
    adapter = app.adapters["matrix"]
    since = datetime.now(UTC) - timedelta(days=90)
    try:
        stored = []
        for _ in range(2):
            for channel in await adapter.channels("water"):
                async for event in adapter.history(channel, since):
                    await app.engine.accept(event)
            await app.engine.drain()
            row = await app.store.fetch_one("SELECT count(*) FROM messages")
            stored.append(row[0])
        assert stored == [2, 2]
    finally:
        await app.stop()


async def test_replies_name_the_room_as_members_see_it(world: AppWorld) -> None:
    app = await world.app()
    try:
        await world.ana.send(world.room_id, "!trellis theme show rights")
        room = await world.ana.wait_for_invite()
        await world.ana.client.join(room)
        shown = await world.ana.wait_for(
            room, lambda e: e.get("content", {}).get("msgtype") == "m.notice"
        )
        assert "Places: Water\n" in shown["content"]["body"]
        assert world.room_id not in shown["content"]["body"]
        # A room Trellis cannot see is named by its id rather than not at all.
        assert await app.place_name("matrix:!nowhere:localhost") == "!nowhere:localhost"
    finally:
        await app.stop()
