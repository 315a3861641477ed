"""Trellis end to end on Discord: the real app, engine and SQLite store, the real discord.py client,
the loopback Discord server, and a manual clock that both the app and the server follow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.discord.adapter import DiscordAdapter
from bot.app import Trellis
from bot.clock import ManualClock
from bot.config import parse_settings
from bot.events import ChannelRef
from tests.discord_loopback import Commons, LoopbackDiscord

START = datetime(2026, 9, 7, 8, 0, tzinfo=UTC)  # a Monday


@dataclass
class Live:
    server: LoopbackDiscord
    commons: Commons
    app: Trellis
    adapter: DiscordAdapter
    clock: ManualClock

    async def settle(self) -> None:
        """Wait until everything the server dispatched is stored and every command answered."""
        sequence = self.server._session.sequence if self.server._session else 0
        await self.server.wait_for(
            lambda: (
                self.adapter.client.ws is not None
                and (self.adapter.client.ws.sequence or 0) >= sequence
            ),
            what="the client to read every dispatch",
        )
        for _ in range(3):
            await self.adapter.flush()
            await self.app.engine.drain()

    async def count(self, sql: str, *params: object) -> int:
        row = await self.app.store.fetch_one(sql, params)
        assert row is not None
        return row[0]


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    clock = ManualClock(START)
    async with LoopbackDiscord.running(now=clock.now) as server:
        commons = Commons.build(server)
        config = commons.config() | {"storage": {"path": str(tmp_path / "trellis.sqlite3")}}
        settings = parse_settings(config)
        adapter = DiscordAdapter(settings, "loopback-token", clock=clock, guild_ready_timeout=0.05)
        server.watch(adapter.client)
        app = await Trellis.open(settings, clock=clock, adapters=[adapter])
        await app.start(real_time=False)
        try:
            yield Live(server, commons, app, adapter, clock)
        finally:
            await app.stop()


async def test_conversation_is_tracked_per_theme(live: Live) -> None:
    server, c = live.server, live.commons
    question = await server.post(c.water, c.ana, "How do you test wells?")
    await server.post(c.water, c.ben, "With strips", reply_to=question["id"])
    thread = await server.open_thread(c.water, c.ben, "Strip brands")
    await server.post(thread, c.ana, "Which brand?")
    post = await server.open_thread(c.cases, c.fede, "Case: Lima")
    await server.post(post, c.fede, "What happened in Lima")
    await server.post(c.general, c.ana, "Hello all")
    await server.react(question["id"], c.fede, "👍")
    await live.settle()

    rows = await live.app.store.fetch_all(
        "SELECT theme, count(*) FROM messages GROUP BY theme ORDER BY theme"
    )
    assert [tuple(r) for r in rows] == [(None, 1), ("cases", 1), ("water", 3)]
    assert await live.count("SELECT count(*) FROM messages WHERE reply_to = ?", question["id"]) == 1
    threads = await live.app.store.fetch_all("SELECT thread_key, theme FROM threads ORDER BY id")
    assert [tuple(r) for r in threads] == [
        (f"discord:{thread}", "water"),
        (f"discord:{post}", "cases"),
    ]
    assert await live.count("SELECT count(*) FROM reactions WHERE theme = 'water'") == 1


async def test_slash_commands_from_member_and_facilitator(live: Live) -> None:
    server, c = live.server, live.commons
    await server.post(c.water, c.ben, "Here is the map of the wells")
    await live.settle()

    kudos = await server.invoke(
        c.guild, c.water, c.ana, "kudos", {"member": c.ben, "reason": "the map"}
    )
    refused = await server.invoke(c.guild, c.general, c.ana, "stats")
    allowed = await server.invoke(c.guild, c.general, c.fede, "stats")
    await live.settle()

    for interaction in (kudos, refused, allowed):
        (answer,) = server.interaction_answers(interaction)
        assert answer["type"] == 4
        assert answer["data"]["flags"] == 64  # all three answers concern one person
        assert answer["data"]["allowed_mentions"] == {"parse": []}
    text = {
        i: server.interaction_answers(i)[0]["data"]["content"] for i in (kudos, refused, allowed)
    }
    assert text[refused].startswith("Only facilitators can use /stats; ask one of them")
    assert "Only facilitators" not in text[allowed]
    assert "Ben" in text[kudos]
    assert await live.count("SELECT count(*) FROM credits WHERE kind = 'kudos'") == 1


async def test_every_command_is_offered_in_spanish_and_portuguese(live: Live) -> None:
    synced = {c["name"]: c for c in live.server.synced_commands[live.commons.guild]}
    assert len(synced) == len({spec.words[0] for spec in live.app.commands})  # none refused
    share = synced["share"]
    assert share["name_localizations"] == {
        "es-ES": "compartir",
        "es-419": "compartir",
        "pt-BR": "compartilhar",
    }
    kind = next(o for o in share["options"] if o["name"] == "kind")
    lesson = next(c for c in kind["choices"] if c["value"] == "lesson")
    assert lesson["name_localizations"] == {
        "es-ES": "lección",
        "es-419": "lección",
        "pt-BR": "lição",
    }


async def test_a_listing_is_shown_to_the_channel_only_when_asked(live: Live) -> None:
    server, c = live.server, live.commons
    private = await server.invoke(c.guild, c.general, c.ana, "themes")
    public = await server.invoke(c.guild, c.general, c.ana, "themes", {"public": True})
    await live.settle()
    (mine,) = server.interaction_answers(private)
    (everyone,) = server.interaction_answers(public)
    assert mine["data"]["flags"] == 64
    assert not everyone["data"].get("flags")
    assert mine["data"]["content"] == everyone["data"]["content"]
    assert "Themes of" in everyone["data"]["content"]


async def test_replies_name_channels_as_members_see_them(live: Live) -> None:
    server, c = live.server, live.commons
    shown = await server.invoke(c.guild, c.general, c.fede, "theme show", {"theme": "water"})
    await live.settle()
    (answer,) = server.interaction_answers(shown)
    # A channel mention: each client shows it as #the-channel's-name, and it pings nobody.
    assert f"\nPlaces: <#{c.water}>\n" in answer["data"]["content"]


async def test_edit_and_delete_are_honoured(live: Live) -> None:
    server, c = live.server, live.commons
    kept = await server.post(c.water, c.ana, "first draft")
    gone = await server.post(c.water, c.ben, "my phone number is 555-0101")
    await live.settle()
    await server.edit(kept["id"], "final text")
    await server.delete(gone["id"])
    await live.settle()

    texts = await live.app.store.fetch_all("SELECT platform_id, text FROM messages ORDER BY id")
    assert [tuple(r) for r in texts] == [(kept["id"], "final text"), (gone["id"], None)]
    assert await live.count("SELECT count(*) FROM messages WHERE text LIKE '%555%'") == 0


async def test_digest_posted_without_pings_and_nudges_by_dm(live: Live) -> None:
    server, c = live.server, live.commons
    ana = await server.join(c.guild, "Ana Newcomer")
    ben = await server.join(c.guild, "Ben Newcomer", dms_closed=True)
    for day in range(3):
        await server.post(c.water, c.fede, f"@everyone day {day}: what did you learn?")
        live.clock.advance(timedelta(days=1))
    await live.settle()

    live.clock.set(datetime(2026, 9, 15, 10, 5, tzinfo=UTC))
    await live.app.run_due_jobs()
    await live.settle()

    digests = [
        r for r in server.requests_to("POST /channels/{channel_id}/messages")
        if r.params["channel_id"] == c.digest
    ]  # fmt: skip
    assert digests, "no digest was posted"
    assert all(r.allowed_mentions == {"parse": []} for r in digests)
    assert all(len(r.content) <= 2000 for r in digests)
    assert any("Water and sanitation" in r.content for r in digests)

    dm_to = {
        server.dm_channels[r.params["channel_id"]]["recipients"][0]["id"]
        for r in server.requests_to("POST /channels/{channel_id}/messages")
        if r.params["channel_id"] in server.dm_channels
    }
    # The newcomers, and the members who were there before Trellis and never spoke.
    assert dm_to == {ana["id"], ben["id"], c.ana["id"], c.ben["id"]}
    delivered = [m for ch in server.dm_channels for m in server.messages[ch]]
    assert {m["channel_id"] for m in delivered} == {
        ch for ch, d in server.dm_channels.items() if d["recipients"][0]["id"] != ben["id"]
    }
    unreachable = await live.app.store.fetch_all(
        "SELECT member_key FROM members WHERE unreachable_at IS NOT NULL"
    )
    assert [r[0] for r in unreachable] == [f"discord:{ben['id']}"]
    (ben_dm,) = [
        ch for ch, d in server.dm_channels.items() if d["recipients"][0]["id"] == ben["id"]
    ]
    attempts = [
        r for r in server.requests_to("POST /channels/{channel_id}/messages")
        if r.params["channel_id"] == ben_dm
    ]  # fmt: skip
    live.clock.advance(timedelta(days=1))
    await live.app.run_due_jobs()
    await live.settle()
    assert [
        r for r in server.requests_to("POST /channels/{channel_id}/messages")
        if r.params["channel_id"] == ben_dm
    ] == attempts  # fmt: skip  # not retried the next day


async def test_resume_mid_burst_stores_each_message_once(live: Live) -> None:
    server, c = live.server, live.commons
    for i in range(15):
        await server.post(c.water, c.ana, f"before {i}")
    await server.drop()
    for i in range(15):
        await server.post(c.water, c.ben, f"while away {i}")
    await server.wait_resumed()
    for i in range(15):
        await server.post(c.water, c.ana, f"after {i}")
    await live.settle()
    assert await live.count("SELECT count(*) FROM messages") == 45
    assert await live.count("SELECT count(DISTINCT platform_id) FROM messages") == 45
    assert server.connections == ["identify /", "resume /resume"]


async def test_backfill_twice_adds_nothing_the_second_time(live: Live) -> None:
    server, c = live.server, live.commons
    for day in range(1, 40):
        at = START - timedelta(days=day)
        question = server.record_history(c.water, c.ana, f"question {day}?", at=at)
        server.record_history(
            c.water, c.ben, f"answer {day}", at=at + timedelta(hours=1), reply_to=question["id"]
        )
        question["reactions"].append(
            {"emoji": {"id": None, "name": "🙏"}, "count": 1, "me": False, "users": [c.fede]}
        )
    archived = server.archived_thread(c.cases, c.fede, "Case: Quito")
    server.record_history(archived, c.fede, "Quito notes", at=START - timedelta(days=5))

    since = START - timedelta(days=90)
    seen: list[ChannelRef] = []

    def progress(places, **_):
        seen.extend(places)
        return places

    assert await live.app.backfill("discord", since, progress=progress) == 79
    counts = [
        await live.count("SELECT count(*) FROM messages"),
        await live.count("SELECT count(*) FROM reactions"),
        await live.count("SELECT count(*) FROM messages WHERE reply_to IS NOT NULL"),
    ]
    assert counts == [79, 39, 39]
    assert await live.app.backfill("discord", since) == 0
    assert [
        await live.count("SELECT count(*) FROM messages"),
        await live.count("SELECT count(*) FROM reactions"),
        await live.count("SELECT count(*) FROM messages WHERE reply_to IS NOT NULL"),
    ] == counts
    assert ChannelRef("discord", c.cases, thread_id=archived) in seen


async def test_credits_can_be_mentions_that_never_ping(tmp_path: Path) -> None:
    clock = ManualClock(START)
    async with LoopbackDiscord.running(now=clock.now) as server:
        commons = Commons.build(server)
        config = commons.config()
        config["adapters"]["discord"]["mention_credited_members"] = True
        config["storage"] = {"path": str(tmp_path / "trellis.sqlite3")}
        settings = parse_settings(config)
        adapter = DiscordAdapter(settings, "loopback-token", clock=clock, guild_ready_timeout=0.05)
        server.watch(adapter.client)
        app = await Trellis.open(settings, clock=clock, adapters=[adapter])
        await app.start(real_time=False)
        live = Live(server, commons, app, adapter, clock)
        try:
            c = commons
            clock.advance(timedelta(hours=2))  # after Monday's 09:00 digest: this week's chat
            question = await server.post(c.water, c.ana, "Who can lend a water testing kit?")
            answer = await server.post(c.water, c.ben, "I can, this week", reply_to=question["id"])
            await server.post(c.water, c.ana, "Thank you!", reply_to=answer["id"])
            await live.settle()
            clock.set(datetime(2026, 9, 15, 10, 5, tzinfo=UTC))
            await app.run_due_jobs()
            await live.settle()
            digests = [
                r
                for r in server.requests_to("POST /channels/{channel_id}/messages")
                if r.params["channel_id"] == c.digest
            ]
            text = "\n".join(r.content for r in digests)
            # The brief digest (the default) names who is thanked; the attached one says for what.
            assert f"- Thanked for answers, ideas and help: <@{c.ben['id']}>." in text
            assert all(r.allowed_mentions == {"parse": []} for r in digests)
        finally:
            await app.stop()


async def test_the_library_is_listed_by_the_name_discord_offers(live: Live) -> None:
    server, c = live.server, live.commons
    synced = {cmd["name"]: cmd for cmd in server.synced_commands[c.guild]}
    assert "list" in {sub["name"] for sub in synced["library"]["options"]}
    missing = await server.invoke(
        c.guild, c.general, c.ana, "library edit", {"item": 999, "changes": "title:Wells"}
    )
    listed = await server.invoke(c.guild, c.general, c.ana, "library list")
    await live.settle()
    (answer,) = server.interaction_answers(missing)
    assert "/library list shows each item's number" in answer["data"]["content"]
    (shown,) = server.interaction_answers(listed)
    assert "library" in shown["data"]["content"].lower()


async def test_a_discord_member_gets_a_link_code_from_the_command_discord_offers(
    live: Live,
) -> None:
    server, c = live.server, live.commons
    synced = {cmd["name"]: cmd for cmd in server.synced_commands[c.guild]}
    # /link alone cannot sit beside /link confirm on Discord: the code comes from /link code.
    assert {"code", "confirm"} <= {sub["name"] for sub in synced["link"]["options"]}
    asked = await server.invoke(c.guild, c.general, c.ana, "link code")
    await live.settle()
    (answer,) = server.interaction_answers(asked)
    given = answer["data"]["content"]
    assert given.startswith("Your link code is ")
    assert answer["data"].get("flags", 0) & 64, "the code is shown to the member alone"
    # The code is typed back as Discord takes it: as the option of /link code.
    code = given.split()[4].rstrip(".")
    assert f"type `/link code code:{code}` from your other account" in given


async def test_help_names_the_options_as_the_slash_commands_take_them(live: Live) -> None:
    server, c = live.server, live.commons
    asked = await server.invoke(c.guild, c.general, c.ana, "help")
    await live.settle()
    (answer,) = server.interaction_answers(asked)
    shown = answer["data"]["content"]
    assert "add public:True to a list to show it to everyone" in shown
    assert (
        "Type /help command:<topic> for a topic's commands, or /help command:<command> for" in shown
    )
    assert "\n- `/help command:privacy`: mydata, nudges" in shown


async def test_help_shows_each_command_as_the_slash_command_takes_it(live: Live) -> None:
    server, c = live.server, live.commons
    asked = await server.invoke(c.guild, c.general, c.ana, "help", {"command": "library"})
    event = await server.invoke(c.guild, c.general, c.ana, "help", {"command": "event"})
    typo = await server.invoke(
        c.guild, c.general, c.ana, "library edit", {"item": 1, "changes": ""}
    )
    await live.settle()
    (answer,) = server.interaction_answers(asked)
    library = answer["data"]["content"]
    # Discord offers /library list, with the theme as an option; /library alone it cannot offer.
    assert "- `/library list [theme:<theme>]`: The lessons, cases" in library
    assert "- `/library edit item:<item> changes:<changes>`: Change an item's title" in library
    assert "`/library [" not in library
    (answer,) = server.interaction_answers(event)
    assert (
        "- `/event add details:<title> <YYYY-MM-DD> <HH:MM> [where]`:" in answer["data"]["content"]
    )
    assert "- `/event list`: Upcoming community events." in answer["data"]["content"]
    (answer,) = server.interaction_answers(typo)
    assert answer["data"]["content"].endswith("Usage: /library edit item:<item> changes:<changes>")


async def test_commands_asked_as_trellis_stops_are_answered_before_it_disconnects(
    tmp_path: Path,
) -> None:
    clock = ManualClock(START)
    async with LoopbackDiscord.running(now=clock.now) as server:
        c = Commons.build(server)
        settings = parse_settings(
            c.config() | {"storage": {"path": str(tmp_path / "trellis.sqlite3")}}
        )
        adapter = DiscordAdapter(settings, "loopback-token", clock=clock, guild_ready_timeout=0.05)
        server.watch(adapter.client)
        app = await Trellis.open(settings, clock=clock, adapters=[adapter])
        await app.start(real_time=False)
        for number in range(30):
            await server.post(c.water, c.ben, f"Here is well number {number}")
        asked = [await server.invoke(c.guild, c.general, c.fede, "stats") for _ in range(8)]
        sequence = server._session.sequence if server._session else 0
        await server.wait_for(
            lambda: adapter.client.ws is not None and (adapter.client.ws.sequence or 0) >= sequence,
            what="the client to read the commands",
        )
        # A service manager's SIGTERM now: the commands were received, not all answered yet.
        await app.stop()

        answered = [server.interaction_answers(interaction) for interaction in asked]
        assert all(answered), f"{sum(not a for a in answered)} of 8 commands never answered"
