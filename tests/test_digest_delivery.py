"""The weekly digest: local weeks across clock changes, replies that say what happened, and a
digest that fell due while Trellis was down."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from adapters.console import ConsoleAdapter
from bot.clock import ManualClock
from bot.events import ChannelRef, CommandInvoked, Event, MemberRef, MessagePosted
from bot.services.digest import local_week_before
from tests.helpers import config, running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

MADRID = ZoneInfo("Europe/Madrid")
LIMA = ZoneInfo("America/Lima")


def madrid(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MADRID).astimezone(UTC)


def digests(h, since: int = 0) -> list[str]:
    return [sent.text for sent in h.sent_since(since, "post") if sent.to == "#general"]


def test_a_digest_week_is_seven_days_on_the_community_clock():
    autumn = local_week_before(madrid(10, 26, 9), "Europe/Madrid")
    assert autumn == madrid(10, 19, 9)
    assert (madrid(10, 26, 9) - autumn).total_seconds() == 169 * 3600
    spring = local_week_before(madrid(4, 2, 9), "Europe/Madrid")
    assert spring == madrid(3, 26, 9)
    assert (madrid(4, 2, 9) - spring).total_seconds() == 167 * 3600


async def test_the_digest_after_the_autumn_change_counts_the_first_hour_of_its_week(tmp_path):
    data = config(**{"communities.praxis.timezone": "Europe/Madrid"})
    clock = ManualClock(madrid(10, 19, 9, 10))
    async with running_app(tmp_path, data, clock=clock) as h:
        # 09:30 on Monday 19 October is inside the week posted on Monday 26 at 09:00, though
        # that week has 169 hours: a fixed 7×24 h would have started it at 10:00.
        await h.lines("#water ana: Monday morning notes on irrigation.")
        mark = len(h.outbox)
        await h.set_time(madrid(10, 26, 9, 5))
        posted = digests(h, mark)
        assert len(posted) == 1
        assert "1 message from 1 person" in posted[0]


async def test_digest_post_says_posted_nothing_to_post_or_why_it_could_not(tmp_path):
    async with running_app(tmp_path) as h:
        quiet = await h.command("fran", "/digest post")
        assert quiet.startswith("Nothing to post this week")
        assert digests(h) == []
        await h.lines("#water ana: A first word on irrigation.")
        assert await h.command("fran", "/digest post") == "Digest posted to #general."
        assert len(digests(h)) == 1
    elsewhere = config(**{"communities.praxis.digest.channel": "matrix:!digest:example.org"})
    async with running_app(tmp_path, elsewhere, database="other.sqlite3") as h:
        await h.lines("#water ana: A first word on irrigation.")
        answer = await h.command("fran", "/digest post")
        assert answer == (
            "Could not post in matrix:!digest:example.org: the matrix adapter is not enabled"
        )


async def test_two_digest_posts_in_one_second_both_post_and_one_delivered_twice_posts_once(
    tmp_path,
):
    async with running_app(tmp_path) as h:
        await h.lines("#water ana: A first word on irrigation.")
        general = ChannelRef("console", "general", "general")
        fran = MemberRef("console", "fran", "fran")

        def asked(invocation_id: str) -> CommandInvoked:
            # The clock stands still: all are asked in the same second, as when a facilitator
            # posts again right after a restart (with a setting changed).
            return CommandInvoked(
                "praxis", general, fran, "digest post", h.clock.now(), invocation_id=invocation_id
            )

        # The second is delivered twice (its position was not saved before a crash).
        for invocation in (asked("first"), asked("second"), asked("second")):
            await h.app.engine.accept(invocation)
        await h.app.engine.drain()
        # Commands are answered side by side: the repeated one may be told before the first ends.
        assert sorted(sent.text for sent in h.sent_since(0, "reply")) == [
            "Digest posted to #general.",
            "Digest posted to #general.",
            "This digest was already posted to #general.",
        ]
        assert len(digests(h)) == 2


async def test_a_digest_run_tried_again_posts_only_where_it_did_not(tmp_path):
    both = config(
        **{
            "communities.praxis.digest.channel": None,
            "communities.praxis.digest.channels": [
                "console:general",
                "matrix:!digest:example.org",
            ],
        }
    )
    async with running_app(tmp_path, both, start=madrid(9, 7, 10)) as h:
        await h.lines("#water ana: A first word on irrigation.")
        await h.set_time(madrid(9, 14, 9, 5))
        assert len(digests(h)) == 1, "posted where it could be"
        await h.set_time(madrid(9, 14, 9, 35))  # the failed run is tried again
        assert len(digests(h)) == 1, "and not again when its run was tried again"
        preview = await h.command("fran", "/digest preview")
        assert "not posted in matrix:!digest:example.org: the matrix adapter is not enabled" in (
            preview
        ), "the facilitators are told where it did not go"


class CatchingUpConsole(ConsoleAdapter):
    """A console that, like a platform adapter, hands what was said while Trellis was down to
    the sink before ``start`` returns."""

    def __init__(self, *args, backlog: list[Event], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.backlog = backlog

    async def start(self, sink, stored) -> None:
        await super().start(sink, stored)
        for event in self.backlog:
            await sink(event)


async def test_a_digest_due_while_down_is_posted_after_the_catch_up_and_counts_it(tmp_path):
    def lima(day: int, hour: int) -> datetime:
        return datetime(2026, 9, day, hour, tzinfo=LIMA).astimezone(UTC)

    clock = ManualClock(lima(8, 10))
    async with running_app(tmp_path, clock=clock) as h:
        await h.lines("#water ana: Before going down.")
    water = ChannelRef("console", "water", "water")
    said_while_down = [
        MessagePosted("praxis", water, MemberRef("console", who, who), f"d{n}", "Notes.", at)
        for n, (who, at) in enumerate(
            [("luis", lima(10, 9)), ("ana", lima(11, 15)), ("rosa", lima(13, 20))]
        )
    ]
    clock.set(lima(14, 12))  # Monday's 09:00 digest fell due while down
    console = functools.partial(CatchingUpConsole, backlog=said_while_down)
    async with running_app(tmp_path, clock=clock, console_class=console) as h:
        posted = digests(h)
        assert len(posted) == 1
        assert "4 messages from 3 people" in posted[0]


class NoWriteInGeneral(ConsoleAdapter):
    """A platform where the bot may not write in #general (Discord answers 403, Missing Access)."""

    async def send(self, channel, message):
        if channel.id == "general":
            raise PermissionError("403 Forbidden: Missing Permissions")
        return await super().send(channel, message)


async def test_a_digest_the_bot_may_not_post_is_answered_so_and_shown_in_the_preview(tmp_path):
    async with running_app(tmp_path, console_class=NoWriteInGeneral) as h:
        await h.lines("@ 2026-09-07 10:00", "#water ana: A first word on irrigation.")
        answer = await h.command("fran", "/digest post")
        assert answer == "Could not post in #general: 403 Forbidden: Missing Permissions"
        log = await h.set_time(datetime(2026, 9, 14, 9, 5, tzinfo=LIMA))
        assert log[0].startswith("digest:praxis: failed (could not post in console:general")
        preview = await h.command("fran", "/digest preview")
        assert (
            "digest:praxis, due 14/09 09:00: failed (could not post in console:general" in preview
        )
