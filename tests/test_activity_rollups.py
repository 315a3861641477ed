"""`stats` and `theme show` read whole local days from activity_days: the same figures as counting
the chat tables, whatever happened.

The real engine writes five weeks of a generated community to a real SQLite file (posts in themes
and threads, replies, reactions, threads opened, edits, deletions, reaction removals, a bot, then
opt-outs and an opt-in). At each step, activity() for several periods and themes must give what
counting the chat tables over the same period gives (its answer before the rollups).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.events import (
    ChannelRef,
    MemberRef,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    ThreadOpened,
)
from storage import activity, members
from storage.rollups import refresh_rollups
from tests.helpers import config, running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

LIMA = ZoneInfo("America/Lima")
LIMA_OFFSET = -5 * 3600
START = datetime(2026, 8, 3, 7, 0, tzinfo=LIMA).astimezone(UTC)
NOW = START + timedelta(days=35, hours=5, minutes=17)
PLACES = [
    ChannelRef("console", "water", name="water"),
    ChannelRef("console", "water", name="water", thread_id="pumps"),
    ChannelRef("console", "gender", name="gender"),
    ChannelRef("console", "gender", name="gender", thread_id="voices"),
    ChannelRef("console", "random", name="random"),
]
PEOPLE = [MemberRef("console", f"m{i}", display_name=f"M{i}") for i in range(12)]
BOT = MemberRef("console", "helper", display_name="Helper", is_bot=True)


def generated_chat(seed: int, first: int, count: int, since: datetime) -> list:
    """``count`` messages from message number ``first`` on, spread over the days after ``since``,
    with replies, reactions, threads opened, edits and deletions among them."""
    rng = random.Random(seed)
    events: list = []
    posted: list[tuple[str, MemberRef, ChannelRef]] = []
    at = since
    for n in range(first, first + count):
        at += timedelta(minutes=rng.randint(1, 170))
        author = BOT if rng.random() < 0.05 else rng.choice(PEOPLE)
        place = rng.choice(PLACES)
        reply = rng.choice(posted) if posted and rng.random() < 0.4 else None
        if place.thread_id and rng.random() < 0.1:
            events.append(ThreadOpened("praxis", place, f"thread {n}", author, at))
        events.append(
            MessagePosted(
                "praxis", place, author, str(n), "x" * rng.randint(1, 300), at,
                reply_to=reply[0] if reply else None,
                reply_to_author=reply[1] if reply else None,
            )
        )  # fmt: skip
        posted.append((str(n), author, place))
        for _ in range(rng.choice((0, 0, 1, 2))):
            target = rng.choice(posted)
            who = rng.choice([*PEOPLE, BOT])
            moment = at + timedelta(minutes=rng.randint(0, 600))
            events.append(ReactionAdded("praxis", target[2], target[0], who, "👍", moment))
            if rng.random() < 0.1:
                events.append(ReactionRemoved("praxis", target[2], target[0], who, "👍", moment))
        if rng.random() < 0.05:
            target = rng.choice(posted)
            events.append(
                MessageEdited("praxis", target[2], target[0], "y" * rng.randint(1, 50), at)
            )
        if rng.random() < 0.04:
            target = rng.choice(posted)
            events.append(MessageDeleted("praxis", target[2], target[0], at))
    return events


async def ingest(h, events) -> None:
    for event in events:
        await h.app.engine.accept(event)
    await h.app.engine.drain()


def periods(now: datetime) -> list[tuple[int, int, int]]:
    """(start, end, day offset) as stats, theme show and the digest ask for them."""
    end = int(now.timestamp()) + 1
    monday = int(datetime(2026, 8, 31, tzinfo=LIMA).timestamp())
    return [
        # A week first: days changed before it stay noted until a longer period reads them.
        (end - 7 * 86400, end, LIMA_OFFSET),
        (end - 28 * 86400, end, LIMA_OFFSET),  # stats: the last four weeks
        (end - 7 * 86400, end, 0),  # theme show: a day offset not the community's
        (monday - 7 * 86400, monday, LIMA_OFFSET),  # whole local days, no edge
        (monday - 3600, monday + 7200, LIMA_OFFSET),  # no whole day
        (monday - 86400 - 60, monday + 86400 + 60, LIMA_OFFSET),
        (int(START.timestamp()) - 86400, end + 86400, LIMA_OFFSET),
        (0, end + 86400, LIMA_OFFSET),  # Lima moved its clocks in the 1990s: all counted
    ]


async def read_activity(
    store, community: str, start: int, end: int, *, theme: str | None = None, day_offset: int
) -> dict[int, activity.Activity]:
    """activity() as stats and theme show read it: the period's rollups brought up to date first."""
    async with store.transaction() as tx:
        await activity.refresh_activity(tx, community, start, end, day_offset=day_offset)
    return await activity.activity(store, community, start, end, theme=theme, day_offset=day_offset)


async def assert_same_figures(h, now: datetime) -> int:
    """Every period and theme: activity() equals the count from the chat tables. Returns how
    many members had some activity in the last four weeks."""
    for start, end, offset in periods(now):
        for theme in (None, "water", "gender", "nothing"):
            counted = await activity._counted(h.store, "praxis", start, end, theme, offset)
            read = await read_activity(
                h.store, "praxis", start, end, theme=theme, day_offset=offset
            )
            assert read == counted, (start, end, offset, theme)
    start, end, offset = periods(now)[1]
    return len(await read_activity(h.store, "praxis", start, end, day_offset=offset))


async def test_stats_from_rollups_equal_a_count_of_the_chat_tables(tmp_path):
    async with running_app(tmp_path, start=NOW) as h:
        await ingest(h, generated_chat(1, 1, 580, START))
        # Days changed since the last recount are counted from the chat tables, under no lock;
        # after the hourly recount, from the rollups.
        assert await assert_same_figures(h, NOW) >= 10
        async with h.store.transaction() as db:
            await refresh_rollups(db, "praxis", "America/Lima")
        await assert_same_figures(h, NOW)
        rows = await h.store.fetch_one("SELECT count(*) FROM activity_days")
        assert rows[0] > 100  # the whole days were read from the rollups

        # An edit changes a past day's characters; a thread reported late, its threads started.
        late = ChannelRef("console", "water", name="water", thread_id="late")
        await ingest(
            h,
            [
                *(
                    MessageEdited("praxis", PLACES[0], str(n), "z" * 500, NOW)
                    for n in range(300, 304)
                ),
                ThreadOpened("praxis", late, "late", PEOPLE[3], NOW - timedelta(days=20)),
            ],
        )
        await assert_same_figures(h, NOW)

        # More chat, today's and on past days (late edits, deletions, reactions): the changed
        # days are recounted before the next read.
        await ingest(h, generated_chat(2, 1000, 60, NOW - timedelta(days=9)))
        await assert_same_figures(h, NOW + timedelta(hours=3))

        # An opt-out takes the member's replies and reactions out of others' counts too; so
        # does the bot flag; opting back in brings them back.
        quiet = await members.by_key(h.store, "praxis", PEOPLE[0].key)
        loud = await members.by_key(h.store, "praxis", PEOPLE[1].key)
        cache = h.app.community("praxis").member_cache
        async with h.store.transaction() as tx:
            await members.set_opted_out(tx, cache, quiet, int(NOW.timestamp()))
            await members.set_opted_out(tx, cache, loud, int(NOW.timestamp()))
        await assert_same_figures(h, NOW)
        async with h.store.transaction() as tx:
            await members.set_opted_out(tx, cache, quiet, None)
        await assert_same_figures(h, NOW)

        # A forget-me deletes the member's rows; nobody else's figures drift.
        forgotten = await members.by_key(h.store, "praxis", PEOPLE[2].key)
        async with h.store.transaction() as tx:
            await members.forget(tx, cache, forgotten, adapter_state={})
        await assert_same_figures(h, NOW)


async def test_a_period_across_a_clock_change_gives_the_same_figures(tmp_path):
    # Santiago moves its clocks on 6 September 2026: those weeks are not one offset's days, so
    # they are counted from the chat tables; the weeks after are read from the rollups again.
    zone = ZoneInfo("America/Santiago")
    data = config(**{"communities.praxis.timezone": zone.key})
    now = datetime(2026, 9, 20, 15, 0, tzinfo=zone).astimezone(UTC)
    async with running_app(tmp_path, data, start=now) as h:
        await ingest(h, generated_chat(3, 1, 250, now - timedelta(days=16)))
        end = int(now.timestamp()) + 1
        for days in (28, 7):
            start = end - days * 86400
            offset = int(now.astimezone(zone).utcoffset().total_seconds())
            counted = await activity._counted(h.store, "praxis", start, end, None, offset)
            assert counted
            read = await read_activity(h.store, "praxis", start, end, day_offset=offset)
            assert read == counted
            across = activity.whole_days(zone, start, end, offset)
            assert (across is None) == (days == 28)


async def test_an_opt_out_corrects_activity_days_to_exactly_what_a_recount_gives(tmp_path):
    async with running_app(tmp_path, start=NOW) as h:
        await ingest(h, generated_chat(4, 1, 400, START))
        await assert_same_figures(h, NOW)  # counted everywhere once, with who was hidden
        cache = h.app.community("praxis").member_cache
        people = [await members.by_key(h.store, "praxis", ref.key) for ref in PEOPLE[:4]]

        async def rows() -> list[tuple]:
            return [
                tuple(row)
                for row in await h.store.fetch_all(
                    "SELECT * FROM activity_days ORDER BY theme, member_id, day"
                )
            ]

        async def corrected_then_recounted() -> None:
            async with h.store.transaction() as db:
                assert not await refresh_rollups(db, "praxis", "America/Lima")
            corrected = await rows()
            # What a recount of every day gives, when the hidden members counted are not known.
            async with h.store.transaction() as db:
                await db.execute("UPDATE rollup_zones SET hidden = ''")
                await refresh_rollups(db, "praxis", "America/Lima")
            assert corrected == await rows()

        # Two opt out; then one of them opts back in while a third opts out and a fourth is
        # found to be a bot: each time only the counts they touch are corrected.
        async with h.store.transaction() as tx:
            await members.set_opted_out(tx, cache, people[0], int(NOW.timestamp()))
            await members.set_opted_out(tx, cache, people[1], int(NOW.timestamp()))
        before = await rows()
        await corrected_then_recounted()
        assert not any(row[1] in (people[0].id, people[1].id) for row in await rows())
        assert await rows() != before
        async with h.store.transaction() as db:
            await members.set_opted_out(db, cache, people[0], None)
            await members.set_opted_out(db, cache, people[2], int(NOW.timestamp()))
            await db.execute("UPDATE members SET is_bot = 1 WHERE id = ?", (people[3].id,))
        await corrected_then_recounted()
        assert any(row[1] == people[0].id for row in await rows())
        await assert_same_figures(h, NOW)
