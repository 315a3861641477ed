"""The Matrix adapter against a real Synapse, with independent matrix-nio clients as members."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.matrix.adapter import MatrixAdapter
from adapters.matrix.rooms import CREATOR_POWER_LEVEL
from adapters.matrix.session import MatrixError
from bot.commands.spec import CommandSpec
from bot.config import ConfigError, Settings, parse_settings
from bot.events import (
    ChannelRef,
    CommandInvoked,
    Event,
    MemberJoined,
    MemberLeft,
    MemberRef,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    ThreadOpened,
)
from bot.outgoing import Attachment, OutgoingMessage
from bot.ports import Delivery, StateKey
from storage.adapter_state import stored_for
from storage.sqlite import SqliteStore
from tests.synapse import Member, Synapse, User, synapse  # noqa: F401  (the fixture)

PASSWORD_ENV = "TRELLIS_TEST_MATRIX_PASSWORD"
ENCRYPTED = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}
# The smallest valid PNG: 1x1, for the chart upload.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


async def nothing(*_: Any) -> str:
    return ""


SPECS = [CommandSpec(name, "", nothing) for name in ("stats", "prompt add", "mydata", "help")]


class Recorder:
    """A sink that keeps what the adapter delivers, and waits for conditions on it."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)

    async def drain(self) -> None:
        """Events are kept as they arrive: there is never anything left to store."""

    async def stored(self) -> None:
        """Events are kept as they arrive: there is never anything left to store."""

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    async def until(self, condition: Callable[[], bool], within: float = 10) -> None:
        deadline = time.monotonic() + within
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met; delivered: {self.events}")
            await asyncio.sleep(0.02)


class World:
    """Fresh users and a room on the session's Synapse, and bots configured for that room."""

    def __init__(self, server: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.tag = uuid.uuid4().hex[:6]
        self.members: list[Member] = []
        self.bots: list[MatrixAdapter] = []
        self.stores: list[SqliteStore] = []
        self.room_id = ""

    async def setup(self, *, encrypted: bool = False) -> None:
        self.bot_user: User = await self.server.register(f"trellis{self.tag}")
        self.monkeypatch.setenv(PASSWORD_ENV, self.bot_user.password)
        self.ana = await self.member(f"ana{self.tag}")
        self.ben = await self.member(f"ben{self.tag}")
        created = await self.ana.client.room_create(
            name="Water",
            invite=[self.bot_user.user_id, self.ben.user_id],
            initial_state=[ENCRYPTED] if encrypted else [],
        )
        self.room_id = created.room_id
        await self.ben.client.join(self.room_id)

    async def member(self, localpart: str) -> Member:
        """A member whose client reads encrypted rooms, as Element does (direct rooms are)."""
        key_dir = self.tmp_path / f"{localpart}-keys"
        key_dir.mkdir()
        member = await Member.login(
            self.server, await self.server.register(localpart), key_dir=key_dir
        )
        self.members.append(member)
        return member

    def settings(self, *, locale: str = "en", **matrix: Any) -> Settings:
        return parse_settings(
            {
                "storage": {"path": str(self.tmp_path / "trellis.sqlite3")},
                "adapters": {
                    "matrix": {
                        "enabled": True,
                        "homeserver": self.server.url,
                        "user_id": self.bot_user.user_id,
                        "password_env": PASSWORD_ENV,
                        **matrix,
                    }
                },
                "communities": {
                    "water": {
                        "name": "Water network",
                        "locale": locale,
                        "matrix_rooms": [self.room_id],
                        "themes": {
                            "rights": {"name": "Water rights", "places": [f"matrix:{self.room_id}"]}
                        },
                    }
                },
            }
        )

    async def bot(
        self, sink: Recorder, *, settings: Settings | None = None, **options: Any
    ) -> MatrixAdapter:
        settings = settings or self.settings()
        store = await SqliteStore.open(settings.storage.path)
        self.stores.append(store)
        adapter = MatrixAdapter(settings, **options)
        await adapter.register_commands(SPECS)
        await adapter.start(sink, stored_for(store, "matrix"))
        self.bots.append(adapter)
        return adapter

    async def stop_bot(self, adapter: MatrixAdapter) -> None:
        await adapter.stop()
        self.bots.remove(adapter)
        await self.stores.pop().close()

    async def close(self) -> None:
        for adapter in self.bots:
            await adapter.stop()
        for store in self.stores:
            await store.close()
        for member in self.members:
            await member.close()


@pytest.fixture
async def world(synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    world = World(synapse, tmp_path, monkeypatch)
    await world.setup()
    yield world
    await world.close()


def posted(sink: Recorder) -> list[str]:
    return [e.text for e in sink.of(MessagePosted)]


async def test_live_chat_is_delivered_and_backlog_is_not(world: World) -> None:
    await world.ana.send(world.room_id, "said before Trellis arrived")
    sink = Recorder()
    await world.bot(sink)
    carla = await world.member(f"carla{world.tag}")
    await world.ana.client.room_invite(world.room_id, carla.user_id)
    await carla.client.join(world.room_id)
    root = await world.ana.send(world.room_id, "How do you document a case study?")
    reply = await world.ben.send(
        world.room_id,
        "With the template, thanks @ana",
        **{"m.relates_to": {"m.in_reply_to": {"event_id": root}}},
    )
    thread = {
        "rel_type": "m.thread",
        "event_id": root,
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": root},
    }
    await world.ben.send(world.room_id, "In the thread", **{"m.relates_to": thread})
    reaction = await world.ben.send_event(
        world.room_id,
        "m.reaction",
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": "🙏"}},
    )
    await world.ben.client.room_redact(world.room_id, reaction)
    await world.ana.send(
        world.room_id,
        "* How do you document a case?",
        **{
            "m.new_content": {"msgtype": "m.text", "body": "How do you document a case?"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": root},
        },
    )
    await world.ben.client.room_redact(world.room_id, reply)
    await carla.client.room_leave(world.room_id)
    await sink.until(lambda: sink.of(MemberLeft))

    assert posted(sink) == [
        "How do you document a case study?",
        "With the template, thanks @ana",
        "In the thread",
    ]
    _, answer, in_thread = sink.of(MessagePosted)
    assert answer.reply_to == root and answer.reply_to_author == MemberRef(
        "matrix", world.ana.user_id
    )
    assert in_thread.channel.thread_id == root
    [opened] = sink.of(ThreadOpened)
    assert opened.channel.thread_id == root and opened.opener.id == world.ana.user_id
    [added] = sink.of(ReactionAdded)
    [removed] = sink.of(ReactionRemoved)
    assert (added.message_id, added.emoji) == (removed.message_id, removed.emoji) == (root, "🙏")
    assert [e.text for e in sink.of(MessageEdited)] == ["How do you document a case?"]
    assert [e.message_id for e in sink.of(MessageDeleted)] == [reply]
    present = {e.member.id for e in sink.of(MemberJoined) if not e.live}
    assert present == {world.ana.user_id, world.ben.user_id}
    assert [e.member.id for e in sink.of(MemberJoined) if e.live] == [carla.user_id]
    assert [e.member.id for e in sink.of(MemberLeft)] == [carla.user_id]
    assert {e.community for e in sink.events} == {"water"}


async def test_commands_answer_in_the_room_as_a_notice_and_privately_in_a_direct_room(
    world: World,
) -> None:
    sink = Recorder()
    bot = await world.bot(sink)
    await world.ben.send(world.room_id, "!trellis stats 7d")
    await world.ben.send(world.room_id, "!Trellis   prompt   add rights What worked?")
    await world.ben.send(world.room_id, "!trellisstats is not a command")
    await sink.until(lambda: len(sink.of(CommandInvoked)) == 2 and sink.of(MessagePosted))
    stats, prompt = sink.of(CommandInvoked)
    assert (stats.command, stats.text, stats.member.id) == ("stats", "7d", world.ben.user_id)
    assert (prompt.command, prompt.text) == ("prompt add", "rights What worked?")
    assert posted(sink) == ["!trellisstats is not a command"]

    await bot.reply(stats, OutgoingMessage("**3** messages this week"), private=False)
    answer = await world.ben.wait_for(
        world.room_id,
        lambda e: e["sender"] == world.bot_user.user_id and e["type"] == "m.room.message",
    )
    assert answer["content"]["msgtype"] == "m.notice"
    assert answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == stats.invocation_id
    assert "<strong>3</strong>" in answer["content"]["formatted_body"]

    await bot.reply(stats, OutgoingMessage("What we hold on you: 3 messages"), private=True)
    direct = await world.ben.wait_for_invite()
    await world.ben.client.join(direct)
    secret = await world.ben.wait_for(
        direct, lambda e: e.get("content", {}).get("msgtype") == "m.notice"
    )
    assert secret["content"]["body"] == "What we hold on you: 3 messages"
    mark = await world.ben.wait_for(world.room_id, lambda e: e["type"] == "m.reaction")
    assert mark["content"]["m.relates_to"]["event_id"] == stats.invocation_id
    assert not [
        e
        for e in sink.events
        if getattr(e, "author", None) and e.author.id == world.bot_user.user_id
    ]


async def test_power_levels_become_permission_keys(world: World) -> None:
    bot = await world.bot(Recorder())
    # Synapse 1.163 makes version 12 rooms: their creator outranks every level.
    assert await bot.power_level(world.room_id, world.ana.user_id) == CREATOR_POWER_LEVEL
    assert await bot.power_level(world.room_id, world.ben.user_id) == 0
    await world.ana.client.room_put_state(
        world.room_id,
        "m.room.power_levels",
        {"users": {world.ben.user_id: 50}},
    )
    deadline = time.monotonic() + 5  # until the bot's sync brings the new levels
    while await bot.power_level(world.room_id, world.ben.user_id) != 50:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert await bot.member_roles("water", MemberRef("matrix", world.ben.user_id)) == {
        "matrix-power:50"
    }
    carla = MemberRef("matrix", "@carla:trellis.test")
    assert await bot.member_roles("water", carla) == {"matrix-power:0"}


async def test_outgoing_escapes_member_html_never_pings_the_room_and_uploads_charts(
    world: World,
) -> None:
    bot = await world.bot(Recorder())
    text = "## Digest\n\n**Ben** wrote: <img src=x onerror=alert(1)> thanks @room!"
    chart = Attachment("week.png", PNG, "image/png", "Messages per theme")
    sent = await bot.send(ChannelRef("matrix", world.room_id), OutgoingMessage(text, (chart,)))
    assert len(sent.message_ids) == 2
    digest = await world.ana.wait_for(world.room_id, lambda e: e["event_id"] == sent.message_ids[0])
    content = digest["content"]
    assert "<h2>Digest</h2>" in content["formatted_body"]
    assert "<img" not in content["formatted_body"] and "&lt;img" in content["formatted_body"]
    assert not re.search("@room", content["body"] + content["formatted_body"], re.I)
    assert content["m.mentions"] == {}
    image = await world.ana.wait_for(world.room_id, lambda e: e["event_id"] == sent.message_ids[1])
    assert image["content"]["msgtype"] == "m.image"
    assert image["content"]["info"] == {"mimetype": "image/png", "size": len(PNG), "w": 1, "h": 1}
    downloaded = await world.ana.client.download(mxc=image["content"]["url"])
    assert downloaded.body == PNG


async def test_long_messages_arrive_in_order_in_several_notices(world: World) -> None:
    bot = await world.bot(Recorder())
    paragraphs = [f"Theme {i}: " + "lorem ipsum " * 150 for i in range(20)]
    sent = await bot.send(
        ChannelRef("matrix", world.room_id), OutgoingMessage("\n\n".join(paragraphs))
    )
    assert len(sent.message_ids) == 3
    last = await world.ana.wait_for(world.room_id, lambda e: e["event_id"] == sent.message_ids[-1])
    assert last["content"]["body"].startswith("Theme 1")


async def test_nudges_use_one_direct_room_recorded_in_m_direct(world: World) -> None:
    bot = await world.bot(Recorder())
    ben = MemberRef("matrix", world.ben.user_id)
    assert (
        await bot.send_direct(ben, OutgoingMessage("We miss your voice in *Water rights*"))
        is Delivery.DELIVERED
    )
    room = await world.ben.wait_for_invite()
    await world.ben.client.join(room)
    assert await bot.send_direct(ben, OutgoingMessage("A new prompt is up")) is Delivery.DELIVERED
    second = await world.ben.wait_for(
        room, lambda e: e.get("content", {}).get("body") == "A new prompt is up"
    )
    assert second["sender"] == world.bot_user.user_id
    assert await bot.direct_room(world.ben.user_id) == room
    account = await world.server.request(
        world.bot_user,
        "GET",
        f"/_matrix/client/v3/user/{world.bot_user.user_id}/account_data/m.direct",
    )
    assert account == {world.ben.user_id: [room]}

    await world.ben.client.room_leave(room)
    assert await bot.send_direct(ben, OutgoingMessage("Still there?")) is Delivery.UNREACHABLE
    assert (
        await bot.send_direct(MemberRef("discord", "1"), OutgoingMessage("x"))
        is Delivery.UNREACHABLE
    )


async def test_forgetting_a_member_names_their_direct_room_and_drops_it_from_m_direct(
    world: World,
) -> None:
    bot = await world.bot(Recorder())
    ben = MemberRef("matrix", world.ben.user_id)
    assert await bot.send_direct(ben, OutgoingMessage("Welcome")) is Delivery.DELIVERED
    room = await world.ben.wait_for_invite()
    ana = MemberRef("matrix", world.ana.user_id)
    assert await bot.forget_member(ana) == []
    held = await bot.forget_member(ben)
    assert sorted(held) == [
        StateKey("direct", world.ben.user_id),
        StateKey("direct_room", room),
    ]
    account = await world.server.request(
        world.bot_user,
        "GET",
        f"/_matrix/client/v3/user/{world.bot_user.user_id}/account_data/m.direct",
    )
    assert world.ben.user_id not in account


async def test_restart_neither_logs_in_again_nor_replays_nor_drops(world: World) -> None:
    sink = Recorder()
    bot = await world.bot(sink, sync_timeline_limit=4)
    await world.ana.send(world.room_id, "live 1")
    await sink.until(lambda: posted(sink) == ["live 1"])
    await world.stop_bot(bot)

    while_down = [f"while down {i}" for i in range(10)]
    for text in while_down:
        await world.ben.send(world.room_id, text)
    await world.ben.send(world.room_id, "!trellis stats")

    bot = await world.bot(sink, sync_timeline_limit=4)
    await world.ana.send(world.room_id, "live 2")
    await sink.until(lambda: "live 2" in posted(sink))
    assert posted(sink) == ["live 1", *while_down, "live 2"]
    assert [c.command for c in sink.of(CommandInvoked)] == ["stats"]
    devices = await world.server.request(world.bot_user, "GET", "/_matrix/client/v3/devices")
    # One device from the shared-secret registration, one from our single password login.
    assert len(devices["devices"]) == 2


async def test_rate_limits_are_waited_out(world: World) -> None:
    admin = await world.server.register(f"admin{world.tag}", admin=True)
    await world.server.request(
        admin,
        "POST",
        f"/_synapse/admin/v1/users/{world.bot_user.user_id}/override_ratelimit",
        {"messages_per_second": 4, "burst_count": 1},
    )
    bot = await world.bot(Recorder())
    started = time.monotonic()
    sent = [
        await bot.send(ChannelRef("matrix", world.room_id), OutgoingMessage(f"n{i}"))
        for i in range(4)
    ]
    elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 10
    last = await world.ana.wait_for(
        world.room_id, lambda e: e["event_id"] == sent[-1].message_ids[0]
    )
    assert last["content"]["body"] == "n3"


async def test_ignored_senders_and_bridge_puppets(world: World) -> None:
    sink = Recorder()
    settings = world.settings(
        ignore_senders=[f"@ben{world.tag}:"],
        puppet_patterns={rf"@(ana){world.tag}:.*": "discord"},
    )
    await world.bot(sink, settings=settings)
    await world.ben.send(world.room_id, "from the bridge bot")
    await world.ana.send(world.room_id, "bridged from Discord")
    await sink.until(lambda: sink.of(MessagePosted))
    await asyncio.sleep(0.2)
    [message] = sink.of(MessagePosted)
    assert message.author == MemberRef("discord", "ana")


async def test_encrypted_room_is_read_and_answered_encrypted(
    synapse: Synapse,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = World(synapse, tmp_path, monkeypatch)
    await world.setup(encrypted=True)
    try:
        sink = Recorder()
        bot = await world.bot(sink)
        await world.ana.sync()
        await world.ana.send(world.room_id, "A lesson from the Andes")
        await world.ana.send(world.room_id, "!trellis stats")
        await sink.until(lambda: sink.of(CommandInvoked))
        assert posted(sink) == ["A lesson from the Andes"]
        await bot.reply(sink.of(CommandInvoked)[0], OutgoingMessage("**1** message"), private=False)
        answer = await world.ana.wait_for(
            world.room_id,
            lambda e: e["sender"] == world.bot_user.user_id and e["type"] == "m.room.message",
        )
        assert answer["content"]["body"] == "**1** message"
        raw = await world.server.request(
            world.ana.user,
            "GET",
            f"/_matrix/client/v3/rooms/{world.room_id}/event/{answer['event_id']}",
        )
        assert raw["type"] == "m.room.encrypted"
        assert bot.key_dir == world.tmp_path / "trellis.sqlite3.matrix-keys"
        assert any(bot.key_dir.iterdir())
    finally:
        await world.close()


@pytest.mark.parametrize(
    ("locale", "says"),
    [("en", "it is end-to-end encrypted"), ("es", "está cifrada de extremo a extremo")],
)
async def test_without_encryption_the_bot_says_so_once_in_the_community_s_language(
    synapse: Synapse,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    locale: str,
    says: str,
) -> None:
    world = World(synapse, tmp_path, monkeypatch)
    await world.setup(encrypted=True)
    try:
        settings = world.settings(locale=locale, encryption=False)
        bot = await world.bot(Recorder(), settings=settings)
        await world.stop_bot(bot)
        await world.bot(Recorder(), settings=settings)
        await world.ben.sync()
        await world.ben.sync()
        warnings = [
            e
            for e in world.ben.seen.get(world.room_id, [])
            if e["sender"] == world.bot_user.user_id and e["type"] == "m.room.message"
        ]
        assert len(warnings) == 1
        assert says in warnings[0]["content"]["body"]
        assert "adapters.matrix.encryption" in warnings[0]["content"]["body"]
    finally:
        await world.close()


async def test_channels_and_history_oldest_first(world: World) -> None:
    for text in ("first", "second", "third"):
        await world.ana.send(world.room_id, text)
    await world.ben.send(world.room_id, "!trellis stats")
    await world.stop_bot(await world.bot(Recorder()))  # it joins the room, as it would have
    settings = world.settings()
    store = await SqliteStore.open(settings.storage.path)
    bot = MatrixAdapter(settings)
    try:
        await bot.start(Recorder(), stored_for(store, "matrix"))
        [channel] = await bot.channels("water")
        assert channel == ChannelRef("matrix", world.room_id) and channel.name == "Water"
        since = datetime.now(UTC) - timedelta(hours=1)
        events = [e async for e in bot.history(channel, since)]
        assert [e.text for e in events if isinstance(e, MessagePosted)] == [
            "first",
            "second",
            "third",
        ]
        assert not [e for e in events if isinstance(e, CommandInvoked)]
        joins = [e for e in events if isinstance(e, MemberJoined)]
        assert {e.member.id for e in joins} >= {world.ben.user_id}
        assert not [e for e in joins if e.live]  # history is never a newcomer to welcome
    finally:
        await bot.stop()
        await store.close()


async def test_a_space_makes_its_child_rooms_the_community(world: World) -> None:
    space = await world.ana.client.room_create(
        name="Water network", space=True, invite=[world.bot_user.user_id]
    )
    await world.ana.client.room_put_state(
        space.room_id, "m.space.child", {"via": [world.server.server_name]}, world.room_id
    )
    settings = world.settings()
    community = settings.communities["water"].model_copy(
        update={"matrix_rooms": [], "matrix_space": space.room_id}
    )
    settings = settings.model_copy(update={"communities": {"water": community}})
    sink = Recorder()
    bot = await world.bot(sink, settings=settings)
    assert [c.id for c in await bot.channels("water")] == [world.room_id]
    await world.ben.send(world.room_id, "hello from a room of the space")
    await sink.until(lambda: posted(sink) == ["hello from a room of the space"])
    assert sink.events[-1].community == "water"


async def test_a_wrong_password_or_pattern_is_one_clear_sentence(world: World) -> None:
    world.monkeypatch.setenv(PASSWORD_ENV, "not the password")
    settings = world.settings()
    store = await SqliteStore.open(settings.storage.path)
    try:
        with pytest.raises(MatrixError, match=r"^Logging in to .* failed \(.*\); check adapters"):
            await MatrixAdapter(settings).start(Recorder(), stored_for(store, "matrix"))
        with pytest.raises(ConfigError, match="ignore_senders: '\\(' is not a regular expression"):
            MatrixAdapter(world.settings(ignore_senders=["("]))
        world.monkeypatch.delenv(PASSWORD_ENV)
        with pytest.raises(ConfigError, match=f"{PASSWORD_ENV} is not set"):
            await MatrixAdapter(settings).start(Recorder(), stored_for(store, "matrix"))
    finally:
        await store.close()


async def test_a_direct_room_from_before_encryption_is_encrypted_before_the_next_message(
    world: World,
) -> None:
    ben = MemberRef("matrix", world.ben.user_id)
    plain = world.settings(encryption=False)
    bot = await world.bot(Recorder(), settings=plain)
    assert await bot.send_direct(ben, OutgoingMessage("Said in the clear")) is Delivery.DELIVERED
    room = await world.ben.wait_for_invite()
    await world.ben.client.join(room)
    await world.stop_bot(bot)

    bot = await world.bot(Recorder())
    assert await bot.send_direct(ben, OutgoingMessage("Said in private")) is Delivery.DELIVERED
    said = await world.ben.wait_for(
        room, lambda e: e.get("content", {}).get("body") == "Said in private"
    )
    raw = await world.server.request(
        world.ben.user, "GET", f"/_matrix/client/v3/rooms/{room}/event/{said['event_id']}"
    )
    assert raw["type"] == "m.room.encrypted"


async def test_catching_up_reads_no_further_back_than_catch_up_max_days(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    sink = Recorder()
    bot = await world.bot(sink, sync_timeline_limit=4)
    await world.stop_bot(bot)
    for i in range(8):
        await world.ben.send(world.room_id, f"while down {i}")
    settings = world.settings()
    # Nothing may be read back: only the newest messages, which the sync itself brings, arrive.
    settings = settings.model_copy(
        update={"catch_up": settings.catch_up.model_copy(update={"max_days": 0})}
    )
    await world.bot(sink, settings=settings, sync_timeline_limit=4)
    assert posted(sink) == [f"while down {i}" for i in range(4, 8)]
    assert "left to `trellis backfill` (catch_up.max_days)" in caplog.text
