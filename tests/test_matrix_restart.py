"""Trellis on Matrix across restarts: the whole app against a real Synapse, stopped cleanly (as
SIGTERM does) with the world changing while it is down, and ``trellis run`` killed with SIGKILL
and stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nio
import pytest

from adapters.discord.adapter import DiscordAdapter
from adapters.matrix.adapter import MatrixAdapter
from bot.app import Trellis
from bot.config import Settings, parse_settings
from bot.delivery import Outcome
from bot.services import nudges
from bot.services.digest import post_week
from storage.sqlite import SqliteStore
from tests.discord_loopback import LoopbackDiscord
from tests.synapse import REPO, Member, Synapse, synapse  # noqa: F401  (the fixture)
from tests.test_matrix_adapter import PASSWORD_ENV, World


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def notice(body_start: str) -> Callable[[dict], bool]:
    return lambda e: e.get("content", {}).get("body", "").startswith(body_start)


def from_bot(world: World, but: str = "") -> Callable[[dict], bool]:
    return lambda e: (
        e["sender"] == world.bot_user.user_id
        and e["type"] in ("m.room.message", "m.room.encrypted")
        and e["event_id"] != but
    )


class AheadClock:
    """Real time, put ahead by the test to make a job fall due. Synapse stamps what is said with
    real time, so the app's clock moves with it: a clock standing still at the test's start
    would fall behind those stamps for as long as the test runs."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    def elapsed(self) -> float:
        return time.monotonic() + self.ahead.total_seconds()

    def advance(self, delta: timedelta) -> None:
        self.ahead += delta


class RestartWorld(World):
    """A community room, a quiet digest room, and the whole app on real time, which the test
    can put ahead."""

    async def setup(self, *, encrypted: bool = False) -> None:
        await super().setup(encrypted=encrypted)
        digest = await self.ana.client.room_create(name="Digest", invite=[self.bot_user.user_id])
        self.digest_room = digest.room_id
        self.clock = AheadClock()
        self.options: dict[str, Any] = {}
        # Posted whole: these tests read its quotes (the brief digest has none).
        self.digest_options: dict[str, Any] = {"brief": False}
        self.more_rooms: list[str] = []
        self.directs: dict[str, str] = {}

    def app_settings(self) -> Settings:
        settings = self.settings(**self.options)
        community = settings.communities["water"]
        digest = community.digest.model_copy(
            update={"channel": f"matrix:{self.digest_room}", "cron": "0 * * * *"}
            | self.digest_options
        )
        rooms = [*community.matrix_rooms, *self.more_rooms]
        community = community.model_copy(update={"digest": digest, "matrix_rooms": rooms})
        nudges = settings.nudges.model_copy(update={"enabled": False})
        return settings.model_copy(update={"communities": {"water": community}, "nudges": nudges})

    async def app(self) -> Trellis:
        settings = self.app_settings()
        store = await SqliteStore.open(settings.storage.path)
        app = Trellis(settings, store, self.clock, [MatrixAdapter(settings)])
        await app.start(real_time=False)
        return app

    async def join(self, localpart: str) -> Member:
        member = await self.member(f"{localpart}{self.tag}")
        await self.ana.client.room_invite(self.room_id, member.user_id)
        await member.client.join(self.room_id)
        return member

    async def ask(self, member: Member, command: str, answer_starts: str) -> dict:
        """Type a command in the community room; the private answer, from the direct room."""
        await member.send(self.room_id, f"!trellis {command}")
        room = await self.direct_room(member)
        return await member.wait_for(room, notice(answer_starts))

    async def direct_room(self, member: Member) -> str:
        """The member's direct room with Trellis, joined when it first invites them."""
        if member.user_id not in self.directs:
            room = await member.wait_for_invite()
            await member.client.join(room)
            await member.sync()
            self.directs[member.user_id] = room
        return self.directs[member.user_id]


async def messages(app: Trellis) -> int:
    await app.engine.drain()
    row = await app.store.fetch_one("SELECT count(*) FROM messages WHERE community = 'water'")
    return row[0]


async def raw_type(world: World, member: Member, room_id: str, event_id: str) -> str:
    """The event's type as the server keeps it (``m.room.encrypted`` when it cannot read it)."""
    raw = await world.server.request(
        member.user, "GET", f"/_matrix/client/v3/rooms/{room_id}/event/{event_id}"
    )
    return raw["type"]


@pytest.fixture
async def world(synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    world = RestartWorld(synapse, tmp_path, monkeypatch)
    await world.setup()
    yield world
    await world.close()


async def test_after_a_stop_while_the_world_changed_everything_works_at_once(
    world: RestartWorld,
) -> None:
    carla = await world.join("carla")  # there before Trellis, and never says a word
    app = await world.app()
    try:
        row = await app.store.fetch_one(
            "SELECT joined_at FROM members WHERE member_key = ?", (f"matrix:{carla.user_id}",)
        )
        assert row is not None and time.time() - 60 < row[0] <= time.time()
        question = await world.ana.send(
            world.room_id, "Before the restart: how do you share water?"
        )
        await world.ask(world.ben, "mydata", "")
        await eventually(lambda: _equals(messages(app), 1))
    finally:
        await app.stop()  # SIGTERM

    for i in range(3):
        await world.ana.send(world.room_id, f"While Trellis was down {i}")
    thread = {"rel_type": "m.thread", "event_id": question, "is_falling_back": True}
    await world.ben.send(world.room_id, "We take turns, by the moon", **{"m.relates_to": thread})
    dave = await world.join("dave")
    # Version 12 rooms list no creator in "users": Ana outranks everyone without it.
    levels = {"users": {world.ben.user_id: 50}}
    changed = await world.ana.client.room_put_state(world.room_id, "m.room.power_levels", levels)
    assert isinstance(changed, nio.RoomPutStateResponse), changed
    world.clock.advance(timedelta(hours=2))  # the hourly digest fell due

    app = await world.app()
    try:
        assert await messages(app) == 5
        threads = await app.store.fetch_one("SELECT count(*) FROM threads")
        assert threads[0] == 1
        # The digest that fell due while down went to a room nobody has written in since.
        digest = await world.ana.wait_for(world.digest_room, from_bot(world))
        assert "**Water rights**: 5 messages from 2 people." in digest["content"]["body"]
        # Ben became a moderator (50, not listed anywhere) while Trellis was down.
        stats = await world.ask(world.ben, "stats", "**Participation")
        direct = await world.direct_room(world.ben)
        assert await raw_type(world, world.ben, direct, stats["event_id"]) == "m.room.encrypted"
        await world.ben.send(world.room_id, "!trellis digest post")
        await world.ana.wait_for(world.digest_room, from_bot(world, but=digest["event_id"]))
        rows = await app.store.fetch_all(
            "SELECT member_key, joined_at FROM members WHERE member_key IN (?, ?)",
            (f"matrix:{carla.user_id}", f"matrix:{dave.user_id}"),
        )
        assert {key for key, joined in rows if joined} == {
            f"matrix:{carla.user_id}",
            f"matrix:{dave.user_id}",
        }
        # A week on, the silent member who was there before Trellis is on the outreach list
        # (the list `quiet` shows; asked through the service, as chat carries the real time)...
        week_on = world.clock.now() + timedelta(days=8)
        quiet = await nudges.quiet_list(app.community("water"), week_on)
        assert f"matrix:{carla.user_id}" in {member.key for member in quiet}
        # ...and can be thanked.
        await world.ask(world.ana, f"kudos {carla.user_id} for the map", "Kudos to carla")
        credited = await app.store.fetch_one(
            "SELECT count(*) FROM credits c JOIN members m ON m.id = c.receiver_id "
            "WHERE m.member_key = ?",
            (f"matrix:{carla.user_id}",),
        )
        assert credited[0] == 1
    finally:
        await app.stop()


async def test_the_ready_line_names_the_places_trellis_cannot_post_in_not_a_quiet_digest_room(
    world: RestartWorld, caplog: pytest.LogCaptureFixture
) -> None:
    closed = await world.ana.client.room_create(name="Closed")  # Trellis is not invited
    settings = world.app_settings()
    community = settings.communities["water"]
    rights = community.themes["rights"].model_copy(
        update={"prompt_places": [f"matrix:{closed.room_id}"]}
    )
    community = community.model_copy(update={"themes": {"rights": rights}})
    settings = settings.model_copy(update={"communities": {"water": community}})
    caplog.set_level(logging.INFO, logger="bot.app")
    store = await SqliteStore.open(settings.storage.path)
    app = Trellis(settings, store, world.clock, [MatrixAdapter(settings)])
    await app.start(real_time=False)
    try:
        [ready] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ready: ")]
        # Nobody writes in the digest room and Trellis never reads it, but it posts there.
        assert world.digest_room not in ready
        assert f"configured to post in but out of reach: matrix:{closed.room_id}" in ready
        assert "not readable or missing" not in ready
        posting = await post_week(app.community("water"), datetime.now(UTC) + timedelta(minutes=1))
        assert [p.outcome for p in posting.places] == [Outcome.POSTED]
    finally:
        await app.stop()


async def test_a_command_caught_up_on_matrix_counts_what_discord_caught_up(
    world: RestartWorld,
) -> None:
    async with LoopbackDiscord.running(now=world.clock.now) as discord:
        guild = discord.add_guild("Water network")
        channel = discord.add_channel(guild, "water")
        fede = discord.add_member(guild, "Fede")
        data = matrix_only(world, {"path": str(world.tmp_path / "both.sqlite3")})
        data["adapters"]["discord"] = {"enabled": True}
        water = data["communities"]["water"]
        water["discord_guild_id"] = guild
        water["themes"]["rights"]["places"].append(f"discord:{channel}")
        water["digest"] = {"channel": f"matrix:{world.digest_room}", "brief": False}
        settings = parse_settings(data)

        async def started() -> Trellis:
            on_discord = DiscordAdapter(
                settings, "loopback", clock=world.clock, guild_ready_timeout=0.05
            )
            discord.watch(on_discord.client)
            adapters = [on_discord, MatrixAdapter(settings)]
            app = await Trellis.open(settings, clock=world.clock, adapters=adapters)
            await app.start(real_time=False)
            return app

        app = await started()
        try:
            await discord.post(channel, fede, "Said on Discord before the stop")
            await eventually(lambda: _equals(messages(app), 1))
        finally:
            await app.stop()
        # While Trellis is down: a word on Discord, then a facilitator's question on Matrix.
        await discord.post(channel, fede, "Said on Discord while Trellis was down")
        await world.ana.send(world.room_id, "!trellis digest preview")
        app = await started()
        try:
            room = await world.direct_room(world.ana)
            preview = await world.ana.wait_for(room, notice("## Water network"))
            # Matrix starts first and hands over the question before Discord has caught up.
            assert "**Water rights**: 2 messages from 1 person." in preview["content"]["body"]
        finally:
            await app.stop()


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def joined_at(app: Trellis, *members: Member) -> dict[str, int]:
    await app.engine.drain()
    rows = await app.store.fetch_all(
        f"SELECT member_key, joined_at FROM members WHERE member_key IN ({','.join('?' * len(members))})",
        tuple(f"matrix:{m.user_id}" for m in members),
    )
    return dict(rows)


async def welcomed(app: Trellis) -> set[str]:
    rows = await app.store.fetch_all(
        "SELECT m.member_key FROM welcomes w JOIN members m ON m.id = w.member_id"
    )
    return {row[0] for row in rows}


async def test_joining_two_rooms_is_one_welcome_and_backfill_welcomes_nobody(
    world: RestartWorld,
) -> None:
    second = await world.ana.client.room_create(
        name="Sanitation", invite=[world.bot_user.user_id, world.ben.user_id]
    )
    world.more_rooms = [second.room_id]
    carla = await world.join("carla")  # there before Trellis
    await world.ana.send(world.room_id, "An old lesson about terraces, before Trellis came")
    app = await world.app()
    try:
        before = await joined_at(app, carla)
        assert before[f"matrix:{carla.user_id}"] is not None
        dave = await world.member(f"dave{world.tag}")
        for room_id in (world.room_id, second.room_id):
            await world.ana.client.room_invite(room_id, dave.user_id)
        for room_id in (world.room_id, second.room_id):
            await dave.client.join(room_id)
        welcome = await world.direct_room(dave)
        await dave.wait_for(welcome, notice("**Welcome to Water network"))

        async def dave_welcomed() -> bool:
            return await welcomed(app) == {f"matrix:{dave.user_id}"}

        await eventually(dave_welcomed)
        dates = await joined_at(app, carla, dave)
        assert dates[f"matrix:{dave.user_id}"] is not None

        # Carla looks into the second room and leaves it: she is still in the first.
        await world.ana.client.room_invite(second.room_id, carla.user_id)
        await carla.client.join(second.room_id)
        await carla.client.room_leave(second.room_id)

        added = await app.backfill("matrix", datetime.now(UTC) - timedelta(hours=1))
        assert added == 1  # the old lesson; the joins in the window change nothing
        assert await joined_at(app, carla, dave) == dates
        still_here = await app.store.fetch_one(
            "SELECT left_at IS NULL FROM members WHERE member_key = ?", (f"matrix:{carla.user_id}",)
        )
        assert still_here[0] == 1
        assert await welcomed(app) == {f"matrix:{dave.user_id}"}
        await dave.sync()
        assert len(dave.client.rooms) == 3  # two community rooms and one welcome
        await carla.sync()
        assert not carla.client.invited_rooms
    finally:
        await app.stop()


async def test_an_encrypted_community_stays_encrypted(
    synapse: Synapse,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = RestartWorld(synapse, tmp_path, monkeypatch)
    await world.setup(encrypted=True)
    try:
        await world.ana.send(world.room_id, "Said before Trellis came, with keys it never got")
        app = await world.app()
        try:
            for member in (world.ana, world.ben):
                await member.sync()  # they learn the bot's device, to share their keys with it
            lesson = await world.ana.send(
                world.room_id, "Our lesson: terraces keep the water where the roots are"
            )
            await world.ben.send(
                world.room_id,
                "So true",
                **{"m.relates_to": {"m.in_reply_to": {"event_id": lesson}}},
            )
            await eventually(lambda: _equals(messages(app), 2))
            # The preview goes to a direct room, encrypted like the room it quotes.
            preview = await world.ask(world.ana, "digest preview", "## Water network")
            assert "terraces keep the water" in preview["content"]["body"]
            direct = await world.direct_room(world.ana)
            assert await raw_type(world, world.ana, direct, preview["event_id"]) == (
                "m.room.encrypted"
            )
            # The digest room is not encrypted: counted, never quoted.
            await world.ana.send(world.room_id, "!trellis digest post")
            digest = await world.ana.wait_for(world.digest_room, notice("## Water network"))
            assert "**Water rights**: 2 messages from 2 people." in digest["content"]["body"]
            assert "terraces" not in digest["content"]["body"]
            # History read back where this device holds the keys; one line for the rest.
            caplog.clear()
            channel = (await app.adapters["matrix"].channels("water"))[0]
            since = datetime.now(UTC) - timedelta(hours=1)
            texts = [
                e.text
                async for e in app.adapters["matrix"].history(channel, since)
                if hasattr(e, "text") and e.text
            ]
            assert texts[:2] == [
                "Our lesson: terraces keep the water where the roots are",
                "So true",
            ]
            [skipped] = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
            assert "skipped 1 encrypted events" in skipped
        finally:
            await app.stop()

        world.digest_options = {"brief": False, "quote_encrypted": True}
        app = await world.app()
        try:
            # Asked at once, often in the same second as the first post: still a post of its own.
            await world.ana.send(world.room_id, "!trellis digest post")
            quoted = await world.ana.wait_for(
                world.digest_room,
                lambda e: notice("## Water network")(e) and e["event_id"] != digest["event_id"],
            )
            assert "terraces keep the water" in quoted["content"]["body"]
        finally:
            await app.stop()

        # Encryption turned off on an existing install: the room says why it goes unread.
        world.options = {"encryption": False}
        app = await world.app()
        try:
            warning = await world.ben.wait_for(world.room_id, notice("I cannot read this room"))
            assert "adapters.matrix.encryption" in warning["content"]["body"]
        finally:
            await app.stop()
    finally:
        await world.close()


def toml(table: dict, name: str = "") -> str:
    """A TOML file from nested tables of strings, booleans and lists (JSON's forms are TOML's)."""
    values = [
        f"{key} = {json.dumps(value)}"
        for key, value in table.items()
        if not isinstance(value, dict)
    ]
    text = "\n".join(([f"[{name}]"] if name and values else []) + values) + "\n"
    for key, value in table.items():
        if isinstance(value, dict):
            text += toml(value, f"{name}.{key}" if name else key)
    return text


def run_config(world: World, storage: dict) -> str:
    """The configuration file of ``trellis run`` for the world's community on Matrix alone,
    its store as ``storage`` says (a SQLite path or a PostgreSQL url)."""
    return toml(matrix_only(world, storage))


def matrix_only(world: World, storage: dict) -> dict[str, Any]:
    """The configuration of Trellis for the world's community on Matrix alone, its store as
    ``storage`` says."""
    return {
        "storage": storage,
        "adapters": {
            "console": {"enabled": False},
            "matrix": {
                "enabled": True,
                "homeserver": world.server.url,
                "user_id": world.bot_user.user_id,
                "password_env": PASSWORD_ENV,
            },
        },
        "communities": {
            "water": {
                "name": "Water network",
                "matrix_rooms": [world.room_id],
                "themes": {
                    "rights": {"name": "Water rights", "places": [f"matrix:{world.room_id}"]}
                },
            }
        },
    }


def stored(database: Path, query: str) -> object:
    """One value from the running bot's database, read as another process would."""
    if not database.exists():
        return None
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        try:
            row = db.execute(query).fetchone()
        except sqlite3.OperationalError:
            return None  # tables not made yet
    return row[0] if row else None


async def until_stored(database: Path, query: str, expected: object, bot: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while stored(database, query) != expected:
        assert bot.poll() is None, f"trellis run exited with {bot.returncode}"
        assert time.monotonic() < deadline, f"{query} never gave {expected!r}"
        await asyncio.sleep(0.1)


async def test_trellis_run_killed_or_terminated_loses_nothing(world: RestartWorld) -> None:
    config = world.tmp_path / "trellis.toml"
    database = world.tmp_path / "trellis.sqlite3"
    config.write_text(run_config(world, {"path": str(database)}))
    log = world.tmp_path / "trellis-run.log"

    def run() -> subprocess.Popen:
        """``trellis run`` in a process of its own, its output kept in ``log``."""
        with log.open("a") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run", "--config", str(config)],
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    count = "SELECT count(*) FROM messages"
    bot = run()
    try:
        await until_stored(
            database,
            "SELECT count(*) FROM state WHERE scope = 'matrix' AND key = 'sync_token'",
            1,
            bot,
        )
        for text in ("one", "two"):
            await world.ana.send(world.room_id, text)
        await until_stored(database, count, 2, bot)
        bot.kill()  # kill -9: no clean stop, whatever was queued or unsaved is gone
        bot.wait()
        await world.ana.send(world.room_id, "said while it was dead")
        bot = run()
        await until_stored(database, count, 3, bot)
        await world.ana.send(world.room_id, "after it came back")
        await until_stored(database, count, 4, bot)
        bot.terminate()  # SIGTERM, as systemd stops it
        assert bot.wait(timeout=20) is not None
        await world.ana.send(world.room_id, "said while it was stopped")
        bot = run()
        await until_stored(database, count, 5, bot)
        await asyncio.sleep(0.5)
        assert stored(database, count) == 5
    finally:
        bot.kill()
        bot.wait()
