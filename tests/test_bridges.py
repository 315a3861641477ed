"""One community on Discord and Matrix at once, bridged by a stand-in for mautrix-discord: a real
Synapse, the loopback Discord server, the real app with both adapters. A week played across the
bridge is counted, credited and digested exactly as the same week in one room; the digest and a
prompt go to one place per platform in one run, each rendered for its platform, pinging nobody."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nio
import pytest

from adapters.discord.adapter import DiscordAdapter
from adapters.matrix.adapter import MatrixAdapter
from bot.app import Trellis
from bot.clock import ManualClock
from bot.config import parse_settings
from bot.ports import Adapter
from bot.services import prompts
from bot.services.digest import DigestOutcome, compose_week, post_week
from storage import facilitation
from tests.bridge_standin import Bridge, OneRoom, play_week
from tests.discord_loopback import LoopbackDiscord, Recorded
from tests.synapse import Member, Synapse, synapse  # noqa: F401  (the fixture)

PASSWORD_ENV = "TRELLIS_TEST_BRIDGE_PASSWORD"


@dataclass(frozen=True)
class Record:
    """What a week left in the store, by people's names (their keys differ between platforms)."""

    messages: dict[str, int]
    reactions: dict[str, int]
    received: dict[str, int]
    replies_to: dict[str, int]
    credits: list[tuple[str, str, str]]
    texts: list[str]


async def record(app: Trellis) -> Record:
    store = app.store

    async def by_name(sql: str) -> dict[str, int]:
        return {row[0]: row[1] for row in await store.fetch_all(sql, ("water",))}

    live = "x.community = ? AND x.deleted_at IS NULL"
    credits = await store.fetch_all(
        "SELECT c.kind, r.display_name, g.display_name FROM credits c "
        "JOIN members r ON r.id = c.receiver_id JOIN members g ON g.id = c.giver_id "
        "WHERE c.community = ? ORDER BY 1, 2, 3",
        ("water",),
    )
    texts = await store.fetch_all(
        f"SELECT x.text FROM messages x WHERE {live} ORDER BY x.posted_at, x.id", ("water",)
    )
    return Record(
        messages=await by_name(
            "SELECT m.display_name, count(*) FROM messages x JOIN members m ON m.id = x.member_id "
            f"WHERE {live} GROUP BY 1"
        ),
        reactions=await by_name(
            "SELECT m.display_name, count(*) FROM reactions x JOIN members m ON m.id = x.member_id "
            "WHERE x.community = ? GROUP BY 1"
        ),
        received=await by_name(
            "SELECT m.display_name, count(*) FROM reactions x "
            "JOIN members m ON m.id = x.target_member_id WHERE x.community = ? GROUP BY 1"
        ),
        replies_to=await by_name(
            "SELECT m.display_name, count(*) FROM messages x "
            f"JOIN members m ON m.id = x.reply_to_member_id WHERE {live} GROUP BY 1"
        ),
        credits=[(row[0], row[1], row[2]) for row in credits],
        texts=[row[0] for row in texts],
    )


async def until_stored(app: Trellis, last_text: str, within: float = 20) -> None:
    """Wait until the week's last message is stored: Matrix delivers a room's events in order."""
    deadline = time.monotonic() + within
    while True:
        await app.engine.drain()
        row = await app.store.fetch_one(
            "SELECT count(*) FROM messages WHERE community = ? AND text = ?", ("water", last_text)
        )
        if row is not None and row[0]:
            return
        assert time.monotonic() < deadline, f"{last_text!r} was never stored"
        await asyncio.sleep(0.05)


def _body(event: dict[str, Any]) -> str:
    return str((event.get("content") or {}).get("body", ""))


def posts_to(discord: LoopbackDiscord, channel_id: str) -> list[Recorded]:
    return [
        r
        for r in discord.requests_to("POST /channels/{channel_id}/messages")
        if r.params["channel_id"] == channel_id
    ]


async def person(server: Synapse, localpart: str, name: str) -> Member:
    member = await Member.login(server, await server.register(localpart))
    await member.client.set_displayname(name)
    return member


def settings_for(
    tmp_path: Path, server: Synapse, bot_id: str, community: dict[str, Any], **adapters: Any
) -> Any:
    return parse_settings(
        {
            "storage": {"path": str(tmp_path / "trellis.sqlite3")},
            "adapters": {
                "console": {"enabled": False},
                "matrix": {
                    "enabled": True,
                    "homeserver": server.url,
                    "user_id": bot_id,
                    "password_env": PASSWORD_ENV,
                    "encryption": False,
                    **adapters.pop("matrix", {}),
                },
                **adapters,
            },
            "communities": {"water": {"name": "Water network"} | community},
        }
    )


async def started(settings: Any, clock: ManualClock, adapters: list[Adapter]) -> Trellis:
    app = await Trellis.open(settings, clock=clock, adapters=adapters)
    await app.start(real_time=False)
    return app


@dataclass
class Worlds:
    server: Synapse
    tag: str
    bot_id: str


@pytest.fixture
async def worlds(
    synapse: Synapse,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Worlds]:
    tag = f"{time.monotonic_ns() % 10**8:08d}"
    bot = await synapse.register(f"trellis{tag}")
    monkeypatch.setenv(PASSWORD_ENV, bot.password)
    yield Worlds(synapse, tag, bot.user_id)


async def week_in_one_room(worlds: Worlds, tmp_path: Path) -> tuple[Record, str]:
    """The week with everyone in one Matrix room: what it left, and its digest."""
    server, tag = worlds.server, worlds.tag
    people = {name: await person(server, f"{name.lower()}{tag}", name) for name in ("Ana", "Ben")}
    people["Fede"] = await person(server, f"fede{tag}", "Fede")
    created = await people["Ana"].client.room_create(
        name="Water", invite=[worlds.bot_id, people["Ben"].user_id, people["Fede"].user_id]
    )
    room_id = created.room_id
    for name in ("Ben", "Fede"):
        await people[name].client.join(room_id)
    community = {
        "matrix_rooms": [room_id],
        "themes": {"water": {"name": "Water", "places": [f"matrix:{room_id}"]}},
    }
    settings = settings_for(tmp_path / "one", server, worlds.bot_id, community)
    (tmp_path / "one").mkdir()
    clock = ManualClock(datetime.now(UTC))
    app = await started(settings, clock, [MatrixAdapter(settings, poll_timeout_ms=200)])
    try:
        await play_week(OneRoom(room_id, people))
        await until_stored(app, "Which lab do you use, Fede?")
        digest = await compose_week(
            app.community("water"), datetime.now(UTC) + timedelta(minutes=1)
        )
        assert digest is not None
        return await record(app), digest.text
    finally:
        await app.stop()
        for member in people.values():
            await member.close()


def _welcome_unordered(digest: str) -> str:
    """The digest with its welcome's names sorted: the welcome is in order of joining, and the
    two worlds' members join within the same second in no fixed order (Discord members join the
    server, Matrix ones the room), so only who is welcomed is the same week's."""
    return re.sub(
        r"A warm welcome to (.*)!",
        lambda m: "A warm welcome to " + ", ".join(sorted(m.group(1).split(", "))) + "!",
        digest,
    )


async def test_a_bridged_week_counts_as_one_room_and_posts_on_both_platforms(
    worlds: Worlds, tmp_path: Path
) -> None:
    alone, alone_digest = await week_in_one_room(worlds, tmp_path)
    # The week itself, so that comparing with it proves something.
    assert alone.messages == {"Ana": 2, "Ben": 2, "Fede": 1}
    assert alone.reactions == {"Ben": 1, "Ana": 1}
    assert alone.received == {"Ana": 1, "Fede": 1}
    assert alone.replies_to == {"Ana": 1, "Ben": 1, "Fede": 1}
    assert alone.credits == [("answer", "Ben", "Ana"), ("thanks", "Ana", "Ben")]

    server, tag = worlds.server, worlds.tag
    clock = ManualClock(datetime.now(UTC))
    async with LoopbackDiscord.running(now=clock.now) as discord:
        guild = discord.add_guild("Water network")
        channel = discord.add_channel(guild, "water")
        digest_channel = discord.add_channel(guild, "digest")
        discord_people = {name: discord.add_member(guild, name) for name in ("Ben", "Fede")}
        bridge_bot = discord.add_member(guild, "Bridge", bot=True)
        ana = await person(server, f"ana{tag}b", "Ana")
        relay = await person(server, f"discordbot{tag}", "Discord bridge")
        created = await ana.client.room_create(
            name="Water",
            invite=[worlds.bot_id, relay.user_id],
            power_level_override={"users": {relay.user_id: 100}},
        )
        assert isinstance(created, nio.RoomCreateResponse), created
        room_id = created.room_id
        await relay.client.join(room_id)
        news = await ana.client.room_create(name="News", invite=[worlds.bot_id])
        bridge = await Bridge.open(
            server,
            discord,
            channel_id=channel,
            guild_id=guild,
            bridge_bot=bridge_bot,
            bridge_matrix_bot=relay,
            room_id=room_id,
            matrix_people={"Ana": ana},
            discord_people=discord_people,
        )
        community = {
            "discord_guild_id": guild,
            "matrix_rooms": [room_id],
            "themes": {
                "water": {
                    "name": "Water",
                    "places": [f"discord:{channel}", f"matrix:{room_id}"],
                }
            },
            "digest": {"channels": [f"matrix:{news.room_id}", f"discord:{digest_channel}"]},
        }
        settings = settings_for(
            tmp_path,
            server,
            worlds.bot_id,
            community,
            matrix={"ignore_senders": [relay.user_id]},
            discord={"enabled": True, "mention_credited_members": True},
        )
        discord_adapter = DiscordAdapter(
            settings, "loopback", clock=clock, guild_ready_timeout=0.05
        )
        discord.watch(discord_adapter.client)
        matrix_adapter = MatrixAdapter(settings, poll_timeout_ms=200)
        app = await started(settings, clock, [discord_adapter, matrix_adapter])
        try:
            await play_week(bridge)
            await until_stored(app, "Which lab do you use, Fede?")
            sequence = discord._session.sequence if discord._session else 0
            await discord.wait_for(
                lambda: (discord_adapter.client.ws.sequence or 0) >= sequence,
                what="the client to read every dispatch",
            )
            await discord_adapter.flush()
            await app.engine.drain()

            bridged = await record(app)
            assert bridged == alone
            water = app.community("water")
            end = datetime.now(UTC) + timedelta(minutes=1)
            digest = await compose_week(water, end)
            assert digest is not None and _welcome_unordered(digest.text) == _welcome_unordered(
                alone_digest
            )

            # The digest goes to one place per platform, each as its platform names people.
            clock.set(datetime.now(UTC))
            posting = await post_week(water, end)
            assert posting.outcome is DigestOutcome.POSTED, str(posting)
            assert [p.place for p in posting.places] == settings.communities[
                "water"
            ].digest.channels
            ben_id = discord_people["Ben"]["id"]
            [on_discord] = posts_to(discord, digest_channel)
            assert f"<@{ben_id}>" in on_discord.content, "credited Ben by a mention there"
            assert on_discord.allowed_mentions == {"parse": []}, "that pings nobody"
            on_matrix = await ana.wait_for(
                news.room_id, lambda e: e.get("type") == "m.room.message"
            )
            assert (
                "Ben" in on_matrix["content"]["body"] and "<@" not in on_matrix["content"]["body"]
            )
            assert on_matrix["content"]["m.mentions"] == {}
            again = await post_week(water, end)
            assert {p.outcome.value for p in again.places} == {"posted before"}
            assert len(posts_to(discord, digest_channel)) == 1

            # A prompt goes to the theme's place on each platform in the same run.
            async with app.store.transaction() as tx:
                await facilitation.add_prompt(
                    tx, "water", "water", "Who has tested @everyone's wells?", None, 0
                )
            told = await prompts.post_next(water, "water", clock.now())
            assert "posted to discord" in told and "posted to matrix" in told, told
            [prompt] = posts_to(discord, channel)
            assert "Who has tested" in prompt.content
            assert prompt.allowed_mentions == {"parse": []}
            # The bridge relays Trellis's own Discord post into the room, and a Discord bot's:
            # neither is chat.
            helper = discord.add_member(guild, "Helper", bot=True)
            notice = await discord.post(channel, helper, "Daily reminder: drink water")
            for message in (discord.messages[channel][-2], notice):
                await bridge.relay_to_matrix(server, message)
            await ana.send(room_id, "Good prompt")
            await until_stored(app, "Good prompt")
            assert (await record(app)).messages == {"Ana": 3, "Ben": 2, "Fede": 1}
            in_room = await ana.wait_for(
                room_id,
                lambda e: "Who has tested" in (e.get("content") or {}).get("body", ""),
            )
            assert in_room["content"]["m.mentions"] == {}
            assert "@everyone" not in in_room["content"]["body"]

            # A command works the same from either side: an event added on Matrix is listed
            # alike on Discord and on Matrix.
            day = (datetime.now(UTC) + timedelta(days=20)).strftime("%Y-%m-%d")
            add = await ana.send(room_id, f"!trellis event add Well testing day {day} 10:00")
            # Answers go to Ana's direct room, and 📬 on the command says so.
            await ana.wait_for(
                room_id,
                lambda e: (e.get("content") or {}).get("m.relates_to", {}).get("event_id") == add,
            )
            await ana.send(room_id, "!trellis event list")
            direct = await ana.wait_for_invite()
            await ana.client.join(direct)
            listed = await ana.wait_for(direct, lambda e: "Upcoming events" in _body(e))
            asked = await discord.invoke(guild, channel, discord_people["Ben"], "event list")
            answers = await discord.wait_for(
                lambda: discord.interaction_answers(asked), what="the answer on Discord"
            )
            on_discord_list = answers[0]["data"]["content"]
            assert "Well testing day" in on_discord_list
            assert on_discord_list == _body(listed)
        finally:
            await app.stop()
            await bridge.close()
            for member in (ana, relay):
                await member.close()


@dataclass
class DiscordOnly:
    """A Discord server with a channel bridged to a Matrix room Trellis does not watch, another
    channel, and Ben; Trellis watching Discord alone."""

    discord: LoopbackDiscord
    bridged: str
    other: str
    ben: dict[str, Any]
    adapter: DiscordAdapter
    app: Trellis

    async def settle(self) -> None:
        """Wait until every dispatch so far is stored."""
        discord = self.discord
        sequence = discord._session.sequence if discord._session else 0
        await discord.wait_for(
            lambda: (self.adapter.client.ws.sequence or 0) >= sequence, what="every dispatch"
        )
        await self.adapter.flush()
        await self.app.engine.drain()


@asynccontextmanager
async def discord_only(tmp_path: Path) -> AsyncIterator[DiscordOnly]:
    clock = ManualClock(datetime.now(UTC))
    async with LoopbackDiscord.running(now=clock.now) as discord:
        guild = discord.add_guild("Water network")
        bridged = discord.add_channel(guild, "water")
        other = discord.add_channel(guild, "general")
        ben = discord.add_member(guild, "Ben")
        settings = parse_settings(
            {
                "storage": {"path": str(tmp_path / "trellis.sqlite3")},
                "adapters": {"console": {"enabled": False}, "discord": {"enabled": True}},
                "communities": {
                    "water": {
                        "name": "Water network",
                        "discord_guild_id": guild,
                        "bridges": [{"discord": bridged, "matrix": "!far:example.org"}],
                    }
                },
            }
        )
        adapter = DiscordAdapter(settings, "loopback", clock=clock, guild_ready_timeout=0.05)
        discord.watch(adapter.client)
        app = await started(settings, clock, [adapter])
        try:
            yield DiscordOnly(discord, bridged, other, ben, adapter, app)
        finally:
            await app.stop()


async def test_a_reply_to_a_webhook_in_an_unbridged_channel_makes_no_member_of_it(
    tmp_path: Path,
) -> None:
    async with discord_only(tmp_path) as world:
        discord, other, ben, app = world.discord, world.other, world.ben, world.app
        # An integration's webhook (Discord names its posts' author after it, as a bot).
        tracker = discord._user_payload(discord._new_id(), "Tracker", bot=True)
        notice = await discord.post(other, tracker, "New issue on the tracker", webhook=True)
        await discord.post(other, ben, "I'll take that one", reply_to=notice["id"])
        await world.settle()
        week = await record(app)
        assert week.messages == {"Ben": 1} and week.texts == ["I'll take that one"]
        assert week.replies_to == {} and week.received == {}, "a webhook receives no reply"
        names = await app.store.fetch_all("SELECT display_name FROM members ORDER BY 1")
        assert [row[0] for row in names] == ["Ben"], "the webhook is nobody's account"


async def test_with_only_discord_watched_a_relay_webhook_counts_for_its_matrix_author(
    tmp_path: Path,
) -> None:
    async with discord_only(tmp_path) as world:
        discord, bridged, other, ben, app = (
            world.discord, world.bridged, world.other, world.ben, world.app,
        )  # fmt: skip
        ana = discord._user_payload(discord._new_id(), "Ana")
        relayed = await discord.post(bridged, ana, "From the Matrix side", webhook=True)
        await discord.post(other, ana, "An integration's notice", webhook=True)
        await discord.post(bridged, ben, "Welcome, Ana", reply_to=relayed["id"])
        await discord.react(relayed["id"], ben, "🙏")
        await discord.edit(relayed["id"], "From the Matrix side, edited")
        await world.settle()
        week = await record(app)
        assert week.messages == {"Ana": 1, "Ben": 1}, "the notice elsewhere is no one's"
        assert week.texts == ["From the Matrix side, edited", "Welcome, Ana"]
        assert week.replies_to == {"Ana": 1} and week.received == {"Ana": 1}
        [key] = await app.store.fetch_all(
            "SELECT member_key FROM members WHERE display_name = 'Ana'"
        )
        assert key[0] == "matrix:relayed:Ana"
