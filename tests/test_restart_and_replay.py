"""Restarts and replays: nothing is skipped, nothing is doubled."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.clock import ManualClock
from bot.events import ChannelRef, MemberRef, MessagePosted, ReactionAdded
from tests.helpers import running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

LIMA = ZoneInfo("America/Lima")


def lima(day: int, hour: int, month: int = 9) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=LIMA).astimezone(UTC)


def digests(h) -> list[str]:
    return [sent.text for sent in h.outbox if sent.kind == "post" and sent.to == "#general"]


async def counts(store) -> tuple:
    row = await store.fetch_one(
        "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM reactions), "
        "(SELECT count(*) FROM credits), (SELECT count(*) FROM members), "
        "(SELECT count(*) FROM mentions), (SELECT count(*) FROM threads)"
    )
    return tuple(row)


async def test_a_restart_mid_week_neither_skips_nor_doubles_the_digest(tmp_path):
    clock = ManualClock(lima(7, 10))
    async with running_app(tmp_path, clock=clock) as h:
        await h.lines('~ ana joins as "Ana Quispe"', "#water ana: First week, first words.")
    # Down from Thursday to the next Tuesday: Monday's digest was missed while down.
    clock.set(lima(10, 12))
    async with running_app(tmp_path, clock=clock) as h:
        await h.lines("#water ana: Thursday thoughts.")
    clock.set(lima(15, 8))
    async with running_app(tmp_path, clock=clock) as h:
        posted = digests(h)
        assert len(posted) == 1, "the missed Monday digest is posted once on restart"
        assert "2 messages from 1 person" in posted[0]
    # Restarted again the same day: the digest is not posted a second time.
    clock.set(lima(15, 9))
    async with running_app(tmp_path, clock=clock) as h:
        await h.lines("@ 2026-09-15 18:00")
        assert digests(h) == []
    # And the next Monday's digest comes as usual, once.
    async with running_app(tmp_path, clock=clock) as h:
        await h.lines("#water ana: New week.", "@ 2026-09-21 09:30", "@ 2026-09-21 12:00")
        assert len(digests(h)) == 1


async def test_replaying_the_same_events_changes_no_count(tmp_path):
    ana = MemberRef("console", "ana", "Ana Quispe")
    luis = MemberRef("console", "luis", "Luis Rojas")
    water = ChannelRef("console", "water", "water")
    events = [
        MessagePosted("praxis", water, luis, "m1", "Who has a water rights map?", lima(7, 11)),
        MessagePosted(
            "praxis",
            water,
            ana,
            "m2",
            "I do, @luis",
            lima(7, 12),
            reply_to="m1",
            reply_to_author=luis,
            mentions=(luis,),
        ),
        MessagePosted(
            "praxis",
            water,
            luis,
            "m3",
            "Thanks @ana!",
            lima(7, 13),
            reply_to="m2",
            reply_to_author=ana,
            mentions=(ana,),
        ),
        ReactionAdded("praxis", water, "m2", luis, "🙏", lima(7, 14)),
    ]
    async with running_app(tmp_path, clock=ManualClock(lima(7, 10))) as h:
        for event in events:
            await h.app.engine.accept(event)
        await h.app.engine.drain()
        once = await counts(h.store)
        assert once == (3, 1, 2, 2, 2, 0)
        for event in events + events:
            await h.app.engine.accept(event)
        await h.app.engine.drain()
        assert await counts(h.store) == once
