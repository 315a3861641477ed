"""Members' control over their data: mydata, opt-out, and forget-me leaving no trace."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.events import ChannelRef, MemberRef, MessageEdited, MessagePosted, ReactionAdded
from bot.services.digest import compose_week
from tests.helpers import running_app, stored_values

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""


async def test_forget_me_leaves_no_row_and_no_output_mentioning_the_member(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ zoe joins as "Zoe Mamani"',
            "#water zoe: How do you map water rights, anyone?",
            "#water ana: >1 With a shared map, @zoe",
            "#water zoe: >2 Thanks @ana!",
            "#water ana: +3 👍",
            "#general ana: /kudos @zoe for the question that started it all",
            "#general zoe: /profile set organisation:Agua Viva expertise:mapping",
        )
        confirm = await h.command("zoe", "/forget-me")
        assert "forget-me confirm" in confirm
        assert "Zoe Mamani" in await stored_values(h.store), "asking alone deletes nothing"
        done = await h.command("zoe", "/forget-me confirm")
        assert "deleted everything" in done
        mark = len(h.outbox)
        # Zoe keeps chatting after being forgotten: still nothing is recorded about her.
        await h.lines("#water zoe: I am still here, but untracked.")
        await h.advance(timedelta(days=8))
        stored = await stored_values(h.store)
        assert "zoe" not in stored.lower() and "Zoe Mamani" not in stored
        assert "Agua Viva" not in stored
        later = "\n".join(sent.text for sent in h.outbox[mark:])
        assert "Zoe" not in later and "zoe" not in later
        assert "Ana Quispe" in later, "the digest still credits the others"
        stats = await h.command("fran", "/stats")
        assert "Zoe" not in stats
        # Forgotten members who come back by choice are welcome again.
        assert "Welcome back" in await h.command("zoe", "/optin")


async def test_mydata_shows_what_is_kept_and_optout_removes_from_counts(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            "#water ana: A first message.",
            "#water ana: A second message.",
        )
        mine = await h.command("ana", "/mydata")
        assert (
            "2 messages counted; the text of 2 of them is kept (text is deleted after 60 days)"
            in mine
        )
        assert "Tracking: on" in mine
        assert "opted out" in await h.command("ana", "/optout")
        await h.lines("#water ana: This one is not counted.")
        assert "2 messages counted" in await h.command("ana", "/mydata")
        stats = await h.command("fran", "/stats")
        assert "Ana" not in stats and "0 people took part" in stats


async def test_message_text_is_purged_after_retention_but_counts_stay(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines("@ 2026-09-07 10:00", "~ ana joins", "#water ana: Remember this sentence.")
        await h.advance(timedelta(days=61))
        stored = await stored_values(h.store)
        assert "Remember this sentence" not in stored
        for file in tmp_path.iterdir():  # the database, its free space and its log
            assert b"Remember this sentence" not in file.read_bytes(), file.name
        assert "1 message counted; the text of 0 of them is kept" in await h.command(
            "ana", "/mydata"
        )


async def test_a_message_deleted_on_the_platform_leaves_the_store(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            "~ ana joins",
            "#water ana: Oops, my phone number is 555-0100",
            "#water ana: *1 Oops, wrong channel (edited)",
        )
        assert "555-0100" not in await stored_values(h.store)
        await h.lines("#water ana: x1")
        stored = await stored_values(h.store)
        assert "wrong channel" not in stored
        assert "0 messages counted" in await h.command("ana", "/mydata")


async def test_an_older_edit_replayed_after_a_newer_one_does_not_bring_back_the_old_text(tmp_path):
    lima = ZoneInfo("America/Lima")

    def at(minute: int) -> datetime:
        return datetime(2026, 9, 8, 10, minute, tzinfo=lima).astimezone(UTC)

    ana = MemberRef("console", "ana", "Ana Quispe")
    luis = MemberRef("console", "luis", "Luis Rojas")
    water = ChannelRef("console", "water", "water")
    older = MessageEdited("praxis", water, "m1", "Call me on 555-0100 about the wells", at(5))
    newer = MessageEdited("praxis", water, "m1", "Write to me about the wells, please", at(10))
    async with running_app(tmp_path) as h:
        for event in (
            MessagePosted("praxis", water, ana, "m1", "Ask me about the wells, anyone", at(0)),
            ReactionAdded("praxis", water, "m1", luis, "👍", at(1)),
            newer,
            older,  # the same batch, out of order
        ):
            await h.app.engine.accept(event)
        await h.app.engine.drain()
        await h.app.engine.accept(older)  # replayed later, alone (a catch-up, a redelivery)
        await h.app.engine.drain()
        assert "555-0100" not in await stored_values(h.store)
        digest = await compose_week(h.app.community("praxis"), at(0) + timedelta(days=6))
        assert "> Write to me about the wells, please — Ana Quispe" in digest.text


async def test_forget_me_takes_out_texts_naming_the_member_as_a_whole_word_only(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            "#water luis: ANA knows the wells best.",
            "#water luis: Bananas grow well with drip irrigation.",
            "#water luis: Ask ana about it.",
        )
        await h.command("ana", "/forget-me confirm")
        stored = await stored_values(h.store)
        assert "Bananas grow well" in stored
        assert "knows the wells" not in stored and "Ask ana" not in stored
