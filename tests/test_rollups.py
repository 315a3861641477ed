"""The M&E report's rollups, once refreshed, equal a recount from the chat tables, whatever happens.

The real engine writes a scripted community to a real SQLite file: posts in themes and threads,
replies, mentions, reactions, replays of all of it, edits, deletions, reaction removals, an
opt-out and a forget-me. After each step, refreshing the rollups (what the report does first)
must leave exactly what counting the stored messages and reactions again gives, in the
community's local days. The recount here is written independently, in Python.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
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
)
from storage import members
from storage.rollups import refresh_rollups
from tests.helpers import running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

LIMA = ZoneInfo("America/Lima")
EPOCH = date(1970, 1, 1).toordinal()
# Sunday 6 September 2026, 22:00 in Lima: already Monday in UTC, so local and UTC days differ.
T0 = datetime(2026, 9, 6, 22, 0, tzinfo=LIMA).astimezone(UTC)
WATER = ChannelRef("console", "water", name="water")
PUMPS = ChannelRef("console", "water", name="water", thread_id="pumps")
OTHER = ChannelRef("console", "random", name="random")
ANA, BEN, CAI, DIA = (
    MemberRef("console", h, display_name=h.title()) for h in ("ana", "ben", "cai", "dia")
)


def local_day(at: int, zone: ZoneInfo) -> int:
    return datetime.fromtimestamp(at, zone).date().toordinal() - EPOCH


async def recount(store, zone: ZoneInfo) -> tuple[Counter, Counter, Counter]:
    """The rollups as they should be, counted afresh from messages, mentions and reactions."""
    days: Counter = Counter()
    for member_id, at, theme, reply in await store.fetch_all(
        "SELECT member_id, posted_at, coalesce(theme, ''), reply_to IS NOT NULL FROM messages "
        "WHERE deleted_at IS NULL"
    ):
        day = local_day(at, zone)
        days[(member_id, (day - 4) // 7, day, "messages")] += 1
        days[(member_id, (day - 4) // 7, day, "replies")] += reply
        if theme:
            days[(member_id, theme, day, "theme")] += 1
    for member_id, at in await store.fetch_all("SELECT member_id, reacted_at FROM reactions"):
        day = local_day(at, zone)
        days[(member_id, (day - 4) // 7, day, "reactions")] += 1
    ties: Counter = Counter()
    pairs = await store.fetch_all(
        "SELECT member_id, reply_to_member_id, posted_at FROM messages WHERE deleted_at IS NULL "
        "AND reply_to_member_id IS NOT NULL "
        "UNION ALL SELECT m.member_id, n.member_id, m.posted_at FROM mentions n "
        "JOIN messages m ON m.id = n.message_id WHERE m.deleted_at IS NULL "
        "UNION ALL SELECT member_id, target_member_id, reacted_at FROM reactions "
        "WHERE target_member_id IS NOT NULL"
    )
    for x, y, at in pairs:
        if x != y:
            ties[(min(x, y), max(x, y), local_day(at, zone))] += 1
    threads: Counter = Counter()
    firsts: dict = {}
    for thread_key, member_id, at in await store.fetch_all(
        "SELECT thread_key, member_id, posted_at FROM messages "
        "WHERE thread_key IS NOT NULL AND deleted_at IS NULL"
    ):
        threads[(thread_key, member_id, "messages")] += 1
        firsts[(thread_key, member_id)] = min(at, firsts.get((thread_key, member_id), at))
    for (thread_key, member_id), at in firsts.items():
        threads[(thread_key, member_id, "first")] = at
    # A thread of 2 to 12 participants ties each pair once, on the day the later one arrived.
    by_thread: dict = {}
    for (thread_key, member_id), at in firsts.items():
        by_thread.setdefault(thread_key, {})[member_id] = at
    for people in by_thread.values():
        if 2 <= len(people) <= 12:
            for x, first_x in people.items():
                for y, first_y in people.items():
                    if x < y:
                        ties[(x, y, local_day(max(first_x, first_y), zone))] += 1
    return +days, +ties, +threads


async def rollups(store) -> tuple[Counter, Counter, Counter]:
    days: Counter = Counter()
    for member_id, week, day, *counts in await store.fetch_all(
        "SELECT member_id, week, day, messages, replies, reactions FROM member_days"
    ):
        assert any(counts), "a row of zeros should have been deleted"
        for name, count in zip(("messages", "replies", "reactions"), counts, strict=True):
            days[(member_id, week, day, name)] = count
    for theme, member_id, day, count in await store.fetch_all("SELECT * FROM theme_days"):
        assert count, "a row of zeros should have been deleted"
        days[(member_id, theme, day, "theme")] = count
    ties = Counter(
        {(a, b, day): w for a, b, day, w in await store.fetch_all("SELECT * FROM tie_days")}
    )
    threads: Counter = Counter()
    for thread_key, member_id, first, count in await store.fetch_all(
        "SELECT thread_key, member_id, first_at, messages FROM thread_members"
    ):
        threads[(thread_key, member_id, "messages")] = count
        threads[(thread_key, member_id, "first")] = first
    return +days, +ties, +threads


def post(n: int, author: MemberRef, minutes: int, channel=WATER, **kwargs) -> MessagePosted:
    text = kwargs.pop("text", f"message {n} about irrigation")
    return MessagePosted(
        "praxis", channel, author, str(n), text, T0 + timedelta(minutes=minutes), **kwargs
    )


def react(n: int, who: MemberRef, emoji: str, minutes: int, *, add: bool = True):
    kind = ReactionAdded if add else ReactionRemoved
    return kind("praxis", WATER, str(n), who, emoji, T0 + timedelta(minutes=minutes))


CHAT = [
    post(1, ANA, 0, text="How do you share water turns?"),
    post(2, BEN, 30, reply_to="1", reply_to_author=ANA),  # still Sunday in Lima
    post(3, CAI, 150, mentions=(ANA, BEN), channel=OTHER),  # Monday in Lima
    post(4, ANA, 160, channel=PUMPS),
    post(5, CAI, 170, channel=PUMPS, reply_to="4", reply_to_author=ANA),
    post(6, ANA, 180, channel=PUMPS),
    post(7, DIA, 190, channel=PUMPS, mentions=(DIA,)),  # a self-mention ties nobody
    react(1, BEN, "👍", 200),
    react(2, ANA, "🙏", 210),
    react(4, ANA, "👀", 215),  # on one's own message: activity, no tie
    post(8, BEN, 60 * 24 * 3, reply_to="3"),  # the replied author found by the store
]


async def ingest(h, events) -> None:
    for event in events:
        await h.app.engine.accept(event)
    await h.app.engine.drain()


async def assert_rollups_match(h, zone: ZoneInfo = LIMA) -> tuple[Counter, Counter, Counter]:
    async with h.store.transaction() as db:
        await refresh_rollups(db, "praxis", zone.key)
    expected = await recount(h.store, zone)
    assert await rollups(h.store) == expected
    # The levels' weeks: each member's week's messages and reactions, and the days of either.
    weeks: Counter = Counter()
    active = set()
    for key, count in expected[0].items():
        if key[3] in ("messages", "reactions"):
            member_id, week, day, name = key
            weeks[(member_id, week, name)] += count
            active.add((member_id, week, day))
    for member_id, week, _ in active:
        weeks[(member_id, week, "days")] += 1
    stored: Counter = Counter()
    for member_id, week, *counts in await h.store.fetch_all(
        "SELECT member_id, week, messages, reactions, days FROM member_weeks"
    ):
        for name, count in zip(("messages", "reactions", "days"), counts, strict=True):
            stored[(member_id, week, name)] = count
    assert +stored == weeks
    return expected


async def test_rollups_equal_a_recount_through_replays_deletions_and_forget_me(tmp_path):
    async with running_app(tmp_path, start=T0) as h:
        async with h.store.transaction() as db:
            await refresh_rollups(db, "praxis", "America/Lima")
        await ingest(h, CHAT)
        days, ties, threads = await assert_rollups_match(h)
        ana, ben, cai = [
            (await members.by_key(h.store, "praxis", ref.key)).id for ref in (ANA, BEN, CAI)
        ]
        sunday, monday = (
            local_day(int(T0.timestamp()), LIMA),
            local_day(int(T0.timestamp()), LIMA) + 1,
        )
        assert days[(ana, "water", sunday, "theme")] == 1
        assert days[(ben, (sunday - 4) // 7, sunday, "replies")] == 1
        assert ties[(min(ana, ben), max(ana, ben), sunday)] == 1  # Ben's reply
        assert ties[(min(ana, ben), max(ana, ben), monday)] == 2  # Ben's 👍, Ana's 🙏
        # Cai's mention and reply, and sharing the Pumps thread.
        assert ties[(min(ana, cai), max(ana, cai), monday)] == 3
        assert not any(a == b for a, b, _ in ties)
        assert threads[("console:pumps", ana, "messages")] == 2

        # Replayed events (the whole chat again, and a reaction twice) count nothing twice.
        await ingest(h, [*CHAT, react(1, BEN, "👍", 300)])
        assert await assert_rollups_match(h) == (days, ties, threads)

        # An edit changes no count; a deletion uncounts the message, its reply and mentions.
        await ingest(h, [MessageEdited("praxis", WATER, "2", "edited", T0 + timedelta(hours=9))])
        assert await assert_rollups_match(h) == (days, ties, threads)
        gone = lambda n, hours: MessageDeleted("praxis", WATER, str(n), T0 + timedelta(hours=hours))  # noqa: E731
        await ingest(h, [gone(3, 10), gone(4, 10), gone(3, 11)])
        days, ties, threads = await assert_rollups_match(h)
        assert (cai, (monday - 4) // 7, monday, "", "messages") not in days
        assert ("console:pumps", ana, "first") in threads  # now Ana's second message
        assert threads[("console:pumps", ana, "messages")] == 1

        # Reactions removed (and one removed that never was) uncount; re-added, count again.
        await ingest(h, [react(1, BEN, "👍", 400, add=False), react(2, CAI, "🎉", 401, add=False)])
        _, ties, _ = await assert_rollups_match(h)
        assert ties[(min(ana, ben), max(ana, ben), monday)] == 1
        await ingest(h, [react(1, BEN, "👍", 402), react(1, BEN, "👍", 403, add=False)])
        await assert_rollups_match(h)

        # A post and its deletion in one batch, a replay of a deleted message: nothing left.
        await ingest(
            h, [post(9, DIA, 500, reply_to="1", reply_to_author=ANA), gone(9, 9), post(4, ANA, 160)]
        )
        await assert_rollups_match(h)

        # Forget-me leaves no rollup row about the member; the others' rows are untouched.
        before = await rollups(h.store)
        row = await members.by_id(h.store, ben)
        async with h.store.transaction() as tx:
            await members.forget(tx, h.app.community("praxis").member_cache, row, adapter_state={})
        # Others' reactions to Ben's messages went with him: the next refresh recounts them all.
        await ingest(h, [post(11, CAI, 700, channel=OTHER)])
        days, ties, threads = await assert_rollups_match(h)
        assert not [key for key in days if key[0] == ben]
        assert not [key for key in ties if ben in key[:2]]
        assert days[(ana, (monday - 4) // 7, monday, "reactions")] == 1  # 👀 left, 🙏 gone
        assert {k: v for k, v in before[0].items() if k[0] not in (ben, ana, cai)} == {
            k: v for k, v in days.items() if k[0] not in (ben, ana, cai)
        }

        # A new timezone rebuilds the rollups in its own local days.
        async with h.store.transaction() as db:
            assert await refresh_rollups(db, "praxis", "Asia/Tokyo")
            assert not await refresh_rollups(db, "praxis", "Asia/Tokyo")
        await assert_rollups_match(h, ZoneInfo("Asia/Tokyo"))
        await ingest(h, [post(10, CAI, 600, reply_to="6", reply_to_author=ANA)])
        await assert_rollups_match(h, ZoneInfo("Asia/Tokyo"))


async def test_ingest_counts_nothing_but_notes_the_local_days_a_refresh_recounts(tmp_path):
    # The app records the community's timezone when it opens, so ingest notes local days.
    async with running_app(tmp_path, start=T0) as h:
        await ingest(h, CHAT[:3])
        sunday = local_day(int(T0.timestamp()), LIMA)
        noted = await h.store.fetch_all("SELECT community, day FROM rollup_changed_days")
        # Posts 1 and 2 on Sunday evening in Lima, post 3 after midnight: all Monday in UTC.
        assert [tuple(row) for row in noted] == [("praxis", sunday), ("praxis", sunday + 1)]
        assert not await h.store.fetch_all("SELECT * FROM member_days")
        async with h.store.transaction() as db:
            assert not await refresh_rollups(db, "praxis", "America/Lima")  # those days only
        assert not await h.store.fetch_all("SELECT * FROM rollup_changed_days")
        await assert_rollups_match(h, LIMA)


async def test_a_thread_ties_its_participants_until_its_thirteenth_arrives(tmp_path):
    crowd = [MemberRef("console", f"m{i:02d}", display_name=f"M{i}") for i in range(13)]
    async with running_app(tmp_path, start=T0) as h:
        async with h.store.transaction() as db:
            await refresh_rollups(db, "praxis", "America/Lima")
        await ingest(h, [post(100 + i, who, i, channel=PUMPS) for i, who in enumerate(crowd[:12])])
        _, ties, _ = await assert_rollups_match(h)
        assert len(ties) == 12 * 11 // 2
        # Twelve at once, then the thirteenth in a batch of its own: every pair goes.
        await ingest(h, [post(200, crowd[12], 30, channel=PUMPS)])
        _, ties, _ = await assert_rollups_match(h)
        assert not ties
        # Its only message deleted, the thread is small again and its pairs come back.
        await ingest(h, [MessageDeleted("praxis", PUMPS, "200", T0 + timedelta(hours=1))])
        _, ties, _ = await assert_rollups_match(h)
        assert len(ties) == 12 * 11 // 2


async def test_every_hour_the_days_that_changed_are_recounted_before_any_report(tmp_path):
    async with running_app(tmp_path, start=T0) as h:
        await ingest(h, CHAT[:7])
        assert await h.store.fetch_all("SELECT * FROM rollup_changed_days")
        # The last post is at 01:10 on Monday in Lima; the recount runs at five past each hour.
        log = await h.app.advance_to(datetime(2026, 9, 7, 2, 6, tzinfo=LIMA).astimezone(UTC))
        assert "rollups of the days that changed recounted" in "\n".join(log)
        assert not await h.store.fetch_all("SELECT * FROM rollup_changed_days")
        expected = await recount(h.store, LIMA)
        assert await rollups(h.store) == expected
        assert expected[0] and expected[1]  # members' days and ties were counted
