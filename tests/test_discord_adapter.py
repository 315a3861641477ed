"""The Discord adapter driving the real discord.py client against the loopback Discord server.

Events go to a recording sink (the engine's place); command answers are given with the adapter's
own ``reply``, as the engine would.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.discord.adapter import DiscordAdapter
from bot.commands.spec import CommandSpec, Param, ParamKind, Permission
from bot.config import parse_settings
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
from bot.ports import Delivery
from storage.adapter_state import stored_for
from storage.sqlite import SqliteStore
from tests.discord_loopback import Commons, LoopbackDiscord


async def _answer(**_: object) -> str:
    return "answered"


SPECS = (
    CommandSpec(
        "kudos",
        "Thanks a member publicly for something they did; it appears in the digest.",
        _answer,
        (
            Param("member", ParamKind.MEMBER, "Who to thank"),
            Param("reason", ParamKind.TEXT, "What for"),
        ),
    ),
    CommandSpec("mydata", "What Trellis holds about you", _answer, private=True),
    CommandSpec(
        "stats",
        "Participation figures",
        _answer,
        (Param("period", ParamKind.PERIOD, "e.g. 4w or 2026-10", required=False),),
        permission=Permission.FACILITATOR,
    ),
    CommandSpec(
        "prompt add",
        "Queue a discussion prompt for a theme",
        _answer,
        (Param("text", ParamKind.TEXT, "The prompt"), Param("theme", ParamKind.THEME, "Theme")),
        permission=Permission.FACILITATOR,
    ),
    CommandSpec(
        "prompt list",
        "Prompts waiting",
        _answer,
        (Param("theme", ParamKind.THEME, "Theme", required=False),),
        permission=Permission.FACILITATOR,
    ),
    CommandSpec(
        "theme show",
        "One theme",
        _answer,
        (
            Param("theme", ParamKind.THEME, "Theme"),
            Param("where", ParamKind.CHANNEL, "A channel", required=False),
            Param("order", ParamKind.CHOICE, "Sort", required=False, choices=("name", "activity")),
        ),
    ),
    CommandSpec("theme leaders", "Set leaders", _answer, permission=Permission.ADMIN),
)


class Recorder(list[Event]):
    """The engine's place: a sink that keeps what it is given (stored at once)."""

    async def __call__(self, event: Event) -> None:
        self.append(event)

    async def drain(self) -> None:
        """Everything given is kept already."""

    async def stored(self) -> None:
        """Everything given is kept already."""


@dataclass
class World:
    server: LoopbackDiscord
    commons: Commons
    adapter: DiscordAdapter
    events: list[Event]
    present: list[Event]
    """What the adapter handed over while starting."""

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    store = await SqliteStore.open(tmp_path / "trellis.sqlite3")
    async with LoopbackDiscord.running() as server:
        commons = Commons.build(server)
        settings = parse_settings(commons.config())
        adapter = DiscordAdapter(settings, "loopback-token", guild_ready_timeout=0.05)
        server.watch(adapter.client)
        events = Recorder()
        await adapter.register_commands(SPECS)
        await adapter.start(events, stored_for(store, "discord"))
        # The members already there, handed over at start (see the test of that).
        present, events[:] = list(events), []
        try:
            yield World(server, commons, adapter, events, present)
        finally:
            await adapter.stop()
            await store.close()


async def settle(world: World, count: int) -> list[Event]:
    await world.server.wait_for(
        lambda: len(world.events) >= count, what=f"{count} events, have {world.events}"
    )
    await world.adapter.flush()
    return world.events


def ref(channel_id: str, thread_id: str | None = None) -> ChannelRef:
    return ChannelRef("discord", channel_id, thread_id=thread_id)


async def test_commands_are_synced_per_guild_with_typed_options(world: World) -> None:
    synced = {c["name"]: c for c in world.server.synced_commands[world.commons.guild]}
    assert set(synced) == {"kudos", "mydata", "stats", "prompt", "theme"}

    # Descriptions in the languages Trellis has catalogs for, as each member's client shows them.
    spanish = "Agradece en público a alguien por algo que hizo; aparece en el resumen semanal."
    portuguese = "Agradece publicamente a alguém por algo que fez; aparece no resumo semanal."
    assert synced["kudos"]["description_localizations"] == {
        "es-ES": spanish,
        "es-419": spanish,
        "pt-BR": portuguese,
    }
    assert not synced["mydata"].get("description_localizations")  # not in the catalogs
    kudos = {o["name"]: o for o in synced["kudos"]["options"]}
    assert kudos["member"]["type"] == 6 and kudos["member"]["required"]
    assert kudos["reason"]["type"] == 3
    # Facilitator commands are hidden from members (manage_guild); member commands are not.
    assert synced["stats"]["default_member_permissions"] == "32"
    assert synced["prompt"]["default_member_permissions"] == "32"
    assert synced["kudos"]["default_member_permissions"] is None
    assert synced["theme"]["default_member_permissions"] is None  # "theme show" is for everyone

    add = next(o for o in synced["prompt"]["options"] if o["name"] == "add")
    assert [o["name"] for o in add["options"]] == ["text", "theme", "public"]
    assert next(o for o in add["options"] if o["name"] == "theme")["autocomplete"] is True
    show = next(o for o in synced["theme"]["options"] if o["name"] == "show")
    options = {o["name"]: o for o in show["options"]}
    assert options["where"]["type"] == 7 and not options["where"]["required"]
    assert [c["value"] for c in options["order"]["choices"]] == ["name", "activity"]


async def test_commands_carry_their_names_in_spanish_and_portuguese(world: World) -> None:
    """Discord shows each member the command words of their client's language (the loopback
    refuses a sync with a name Discord would refuse) and sends Trellis the English ones."""
    synced = {c["name"]: c for c in world.server.synced_commands[world.commons.guild]}

    def names(spanish: str, portuguese: str) -> dict[str, str]:
        return {"es-ES": spanish, "es-419": spanish, "pt-BR": portuguese}

    assert synced["kudos"]["name_localizations"] == names("reconocer", "reconhecer")
    assert synced["mydata"]["name_localizations"] == names("misdatos", "meusdados")
    assert synced["prompt"]["name_localizations"] == names("pregunta", "pergunta")
    add = next(o for o in synced["prompt"]["options"] if o["name"] == "add")
    assert add["name_localizations"] == names("agregar", "adicionar")
    options = {o["name"]: o for o in add["options"]}
    assert options["theme"]["name_localizations"] == names("tema", "tema")
    kudos = {o["name"]: o for o in synced["kudos"]["options"]}
    assert kudos["member"]["description_localizations"] == names(
        "A quién agradecer", "A quem agradecer"
    )
    # Every answer but one that concerns the member alone can be shown to the channel.
    assert options["public"]["type"] == 5 and not options["public"]["required"]
    assert options["public"]["name_localizations"] == names("público", "público")
    assert "public" not in {o["name"] for o in synced["mydata"].get("options", [])}


async def test_conversation_becomes_events_per_place(world: World) -> None:
    server, c = world.server, world.commons
    first = await server.post(c.water, c.ana, "How do you test wells?")
    reply = await server.post(
        c.water,
        c.ben,
        "We use strips, <@" + c.ana["id"] + ">",
        reply_to=first["id"],
        mentions=(c.ana,),
    )
    await server.post(c.water, c.other_bot, "beep")
    await server.post(c.water, c.ana, "from a webhook", webhook=True)
    await world.adapter.send(ref(c.general), OutgoingMessage("our own message"))
    thread = await server.open_thread(c.water, c.ben, "Strip brands")
    in_thread = await server.post(thread, c.ana, "Which brand?")
    post = await server.open_thread(c.cases, c.fede, "Case: Lima")
    await server.post(post, c.fede, "What happened in Lima")
    await server.react(first["id"], c.ben, "🙏")
    await server.unreact(first["id"], c.ben, "🙏")
    await server.edit(in_thread["id"], "Which brand do you trust?")
    await server.delete(reply["id"])
    newcomer = await server.join(c.guild, "Carla")
    await server.leave(c.guild, newcomer)

    events = await settle(world, 12)
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "MessagePosted",
        "MessagePosted",
        "ThreadOpened",
        "MessagePosted",
        "ThreadOpened",
        "MessagePosted",
        "ReactionAdded",
        "ReactionRemoved",
        "MessageEdited",
        "MessageDeleted",
        "MemberJoined",
        "MemberLeft",
    ]
    assert all(e.community == "commons" for e in events)
    posted = world.of(MessagePosted)
    assert posted[0].channel == ref(c.water) and posted[0].channel.name == "water"
    assert posted[0].author == MemberRef("discord", c.ana["id"]) and posted[0].author.name == "Ana"
    assert posted[1].reply_to == first["id"]
    assert posted[1].reply_to_author == MemberRef("discord", c.ana["id"])
    assert posted[1].mentions == (MemberRef("discord", c.ana["id"]),)
    assert posted[2].channel == ref(c.water, thread)
    assert posted[3].channel == ref(c.cases, post)
    opened = world.of(ThreadOpened)
    assert [(o.channel, o.title, o.opener) for o in opened] == [
        (ref(c.water, thread), "Strip brands", MemberRef("discord", c.ben["id"])),
        (ref(c.cases, post), "Case: Lima", MemberRef("discord", c.fede["id"])),
    ]
    added, removed = world.of(ReactionAdded)[0], world.of(ReactionRemoved)[0]
    assert (added.message_id, added.member.id, added.emoji) == (first["id"], c.ben["id"], "🙏")
    assert (removed.message_id, removed.member.name) == (first["id"], "Ben")
    edited = world.of(MessageEdited)[0]
    assert (edited.message_id, edited.text, edited.channel) == (
        in_thread["id"],
        "Which brand do you trust?",
        ref(c.water, thread),
    )
    assert world.of(MessageDeleted)[0].message_id == reply["id"]
    assert world.of(MemberJoined)[0].member.name == "Carla"
    assert world.of(MemberLeft)[0].member.id == newcomer["id"]


async def test_member_command_answered_privately_without_pings(world: World) -> None:
    server, c = world.server, world.commons
    interaction = await server.invoke(
        c.guild, c.general, c.ana, "kudos", {"member": c.ben, "reason": "the well map"}
    )
    (event,) = await settle(world, 1)
    assert isinstance(event, CommandInvoked)
    assert (event.command, event.member.id, event.channel) == ("kudos", c.ana["id"], ref(c.general))
    assert event.options == (
        ("member", MemberRef("discord", c.ben["id"])),
        ("reason", "the well map"),
    )
    assert dict(event.options)["member"].name == "Ben"

    await world.adapter.reply(event, OutgoingMessage("Thanks sent to @everyone"), private=True)
    (callback,) = server.interaction_answers(interaction)
    assert callback["type"] == 4
    assert callback["data"]["flags"] == 64
    assert callback["data"]["allowed_mentions"] == {"parse": []}


async def test_subcommand_options_and_facilitator_roles(world: World) -> None:
    server, c = world.server, world.commons
    await server.invoke(
        c.guild, c.water, c.fede, "prompt add", {"text": "Share a failure", "theme": "water"}
    )
    (event,) = await settle(world, 1)
    assert event.command == "prompt add"
    assert event.options == (("text", "Share a failure"), ("theme", "water"))
    roles = world.adapter.member_roles
    assert await roles("commons", event.member) == {f"discord-role:{c.facilitator_role}"}
    assert await roles("commons", MemberRef("discord", c.ana["id"])) == frozenset()


async def test_slow_answer_is_deferred_then_followed_up(world: World) -> None:
    server, c = world.server, world.commons
    world.adapter.defer_after = 0.01
    interaction = await server.invoke(c.guild, c.general, c.ana, "mydata")
    (event,) = await settle(world, 1)
    await server.wait_for(lambda: server.interaction_answers(interaction), what="the deferral")
    await world.adapter.reply(event, OutgoingMessage("x" * 2500), private=True)
    deferral, first, second = server.interaction_answers(interaction)
    assert deferral == {"type": 5, "data": {"flags": 64}}
    assert first["followup"]["flags"] == 64 and len(first["followup"]["content"]) <= 2000
    assert len(first["followup"]["content"] + second["followup"]["content"]) == 2500


async def test_theme_autocomplete_offers_the_communitys_themes(world: World) -> None:
    server, c = world.server, world.commons
    interaction = await server.invoke(
        c.guild, c.general, c.ana, "theme show", {"theme": "wat"}, autocomplete="theme"
    )
    await server.wait_for(lambda: server.interaction_answers(interaction), what="choices")
    (answer,) = server.interaction_answers(interaction)
    assert answer["type"] == 8
    assert answer["data"]["choices"] == [{"name": "Water and sanitation (water)", "value": "water"}]


async def test_send_splits_attaches_and_never_pings(world: World) -> None:
    server, c = world.server, world.commons
    text = "@everyone look\n\n" + "\n\n".join(f"Paragraph {i} " + "word " * 80 for i in range(12))
    chart = Attachment("week.png", b"\x89PNG chart", "image/png", "Messages per theme")
    sent = await world.adapter.send(ref(c.digest), OutgoingMessage(text, (chart,)))

    posts = server.requests_to("POST /channels/{channel_id}/messages")
    assert len(posts) == len(sent.message_ids) >= 3
    assert all(len(p.content) <= 2000 for p in posts)
    assert all(p.allowed_mentions == {"parse": []} for p in posts)
    assert [p.files for p in posts[:-1]] == [[]] * (len(posts) - 1)
    assert posts[-1].files == [("week.png", b"\x89PNG chart")]
    assert sent.message_ids == tuple(m["id"] for m in server.messages[c.digest])
    assert not world.events  # our own echoed messages are not conversation


async def test_direct_message_refused_is_unreachable(world: World) -> None:
    server, c = world.server, world.commons
    server.closed_dms.add(c.ben["id"])
    nudge = OutgoingMessage("We miss you in #water. Reply `optout` to stop these.")
    ana = await world.adapter.send_direct(MemberRef("discord", c.ana["id"]), nudge)
    ben = await world.adapter.send_direct(MemberRef("discord", c.ben["id"]), nudge)
    assert (ana, ben) == (Delivery.DELIVERED, Delivery.UNREACHABLE)
    dms = [m for ch in server.dm_channels for m in server.messages[ch]]
    assert [m["content"] for m in dms] == [nudge.text]


async def test_disconnect_mid_burst_loses_and_doubles_nothing(world: World) -> None:
    server, c = world.server, world.commons
    sent = [await server.post(c.water, c.ana, f"burst {i}") for i in range(10)]
    await server.drop()
    sent += [await server.post(c.water, c.ben, f"burst {i}") for i in range(10, 20)]
    await server.wait_resumed()
    sent += [await server.post(c.water, c.ana, f"burst {i}") for i in range(20, 30)]
    events = await settle(world, 30)
    assert [e.message_id for e in events] == [m["id"] for m in sent]
    assert server.connections == ["identify /", "resume /resume"]


async def test_history_reads_each_message_once_oldest_first(world: World) -> None:
    server, c = world.server, world.commons
    start = datetime.now(UTC) - timedelta(days=100)
    old = server.record_history(c.water, c.ana, "too old", at=start)
    kept = [
        server.record_history(
            c.water, c.ana if i % 2 else c.ben, f"m{i}", at=start + timedelta(days=20, hours=i)
        )
        for i in range(230)
    ]
    server.record_history(c.water, c.other_bot, "bot noise", at=start + timedelta(days=30))
    archived = world.server.archived_thread(c.cases, c.fede, "Case: Quito")
    in_archive = server.record_history(
        archived, c.fede, "Quito notes", at=start + timedelta(days=40)
    )
    in_archive["reactions"].append(
        {"emoji": {"id": None, "name": "👍"}, "count": 2, "me": False, "users": [c.ana, c.ben]}
    )
    server.rate_limited["GET /channels/{channel_id}/messages"] = 1

    places = await world.adapter.channels("commons")
    assert ref(c.water) in places and ref(c.cases, archived) in places
    assert ref(c.cases) not in places  # a forum holds posts (threads), not messages

    since = datetime.now(UTC) - timedelta(days=90)
    first = [e async for e in world.adapter.history(ref(c.water), since)]
    again = [e async for e in world.adapter.history(ref(c.water), since)]
    assert [e.message_id for e in first] == [m["id"] for m in kept]
    assert first == again and old["id"] not in {e.message_id for e in first}
    assert [e.occurred_at for e in first] == sorted(e.occurred_at for e in first)

    thread_events = [e async for e in world.adapter.history(ref(c.cases, archived), since)]
    assert [type(e).__name__ for e in thread_events] == [
        "MessagePosted",
        "ReactionAdded",
        "ReactionAdded",
    ]
    assert {e.member.name for e in thread_events[1:]} == {"Ana", "Ben"}
    assert thread_events[0].channel == ref(c.cases, archived)
    assert len(server.requests_to("GET /channels/{channel_id}/messages")) >= 7  # 3 pages x2, +429


async def test_missing_places_and_roles_are_named_at_start(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    store = await SqliteStore.open(tmp_path / "trellis.sqlite3")
    async with LoopbackDiscord.running() as server:
        commons = Commons.build(server)
        config = commons.config(
            roles={
                "facilitators": ["discord-role:999", f"discord-role:{commons.facilitator_role}"]
            },
            digest={"channel": "discord:12345"},
        )
        config["communities"]["commons"]["themes"]["water"]["places"].append("discord:777")
        adapter = DiscordAdapter(parse_settings(config), "t", guild_ready_timeout=0.05)
        server.watch(adapter.client)

        with caplog.at_level(logging.WARNING, logger="adapters.discord"):
            await adapter.start(Recorder(), stored_for(store, "discord"))
            await adapter.stop()
    await store.close()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("adapters.discord")]
    assert len(lines) == 3
    assert "communities.commons.themes.water.places names discord:777" in lines[0]
    assert "communities.commons.digest.channel names discord:12345" in lines[1]
    assert "communities.commons.roles.facilitators names discord-role:999" in lines[2]


async def test_members_present_are_handed_over_at_start_never_as_newcomers(world: World) -> None:
    c = world.commons
    joined = {e.member.id: e for e in world.present if isinstance(e, MemberJoined)}
    assert set(joined) == {c.ana["id"], c.ben["id"], c.fede["id"]}  # no bot, not Trellis
    assert not any(e.live for e in joined.values())
    since = world.server.member(c.guild, c.ana["id"])["joined_at"]
    assert joined[c.ana["id"]].occurred_at == datetime.fromisoformat(since)
    # Discord sent them in member chunks, not in GUILD_CREATE.
    assert world.adapter.client.get_guild(int(c.guild)).chunked


async def test_a_command_the_engine_never_answers_is_answered_anyway(world: World) -> None:
    server, c = world.server, world.commons
    world.adapter.defer_after = 0.01
    world.adapter.give_up_after = 0.05
    interaction = await server.invoke(c.guild, c.general, c.ana, "mydata")
    await settle(world, 1)  # the engine got it, and (failing) never answers
    await server.wait_for(
        lambda: len(server.interaction_answers(interaction)) == 2, what="the last-resort answer"
    )
    deferral, answer = server.interaction_answers(interaction)
    assert deferral == {"type": 5, "data": {"flags": 64}}
    assert answer["followup"]["content"].startswith("Trellis could not answer this command")
    assert answer["followup"]["flags"] == 64


async def test_a_command_in_a_direct_message_is_for_the_members_community(world: World) -> None:
    server, c = world.server, world.commons
    direct = {command["name"]: command for command in server.global_commands}
    assert set(direct) == {"mydata"}  # of these specs, the one a direct message points to
    assert direct["mydata"]["contexts"] == [1]
    assert "mydata" in {command["name"] for command in server.synced_commands[c.guild]}

    await server.invoke_direct(c.ben, "mydata")
    (event,) = await settle(world, 1)
    assert (event.community, event.command, event.member.id) == ("commons", "mydata", c.ben["id"])

    stranger = server.add_stranger("Stranger")
    refused = await server.invoke_direct(stranger, "mydata")
    await server.wait_for(lambda: server.interaction_answers(refused), what="the refusal")
    (answer,) = server.interaction_answers(refused)
    assert answer["data"]["content"].startswith("You are not in a server Trellis serves")
    assert len(world.events) == 1
