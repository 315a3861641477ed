"""Commitments end to end on the console: taking one on, the reminder the day before, marking it
done, the overdue list for facilitators, bad input, opt-out and forget-me."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage import members
from tests.helpers import running_app
from tests.test_monitoring_storage import rows_about

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

# The harness starts on Monday 2026-09-07 08:00 in Lima.
MEMBERS = ('~ ana joins as "Ana Quispe"', '~ luis joins as "Luis Rojas"', "~ fran joins as Fran")


async def test_a_commitment_is_reminded_the_day_before_and_fulfilled(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        noted = await h.command("ana", "/commit write the Lima wells case by 2026-09-10")
        assert noted.startswith("Noted: commitment 1, “write the Lima wells case”, due 2026-09-10")

        before = len(h.outbox)
        await h.set_time(h.clock.now() + timedelta(days=1, hours=2))  # Tuesday 10:00
        assert h.sent_since(before, "direct") == []
        await h.advance(timedelta(days=1))  # Wednesday 10:00, the day before
        reminders = h.sent_since(before, "direct")
        assert [(r.to, r.text) for r in reminders] == [
            (
                "ana",
                "A reminder: your commitment 1, “write the Lima wells case”, is due tomorrow "
                "(2026-09-10). Write /done 1 when it is fulfilled.",
            )
        ]
        await h.advance(timedelta(days=1))
        assert len(h.sent_since(before, "direct")) == 1  # one reminder, never daily

        listed = await h.command("luis", "/commitments @ana")
        assert "**Ana Quispe**: 0 of 1 commitment fulfilled" in listed
        assert "1. write the Lima wells case — due 2026-09-10" in listed
        assert "Well done" in await h.command("ana", "/done 1")
        assert "1 of 1 commitment fulfilled" in await h.command("ana", "/commitments")
        assert "— done" in await h.command("ana", "/commitments")


async def test_facilitators_see_overdue_commitments_members_cannot(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.command("ana", "/commit share the survey form by 2026-09-08")
        await h.command("luis", "/commit book the hall by 2026-09-20")
        assert await h.command("fran", "/overdue") == "No commitment is overdue."
        await h.advance(timedelta(days=3))
        overdue = await h.command("fran", "/overdue")
        assert "**1 overdue commitment**" in overdue
        assert "1. **Ana Quispe**: share the survey form — overdue since 2026-09-08" in overdue
        assert "Luis" not in overdue
        assert "Only facilitators can use /overdue" in await h.command("ana", "/overdue")


async def test_bad_input_is_explained_and_nothing_is_recorded(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        no_date = await h.command("ana", "/commit write the case soon")
        assert no_date.startswith("Write what you commit to and its due date, like commit")
        bad_date = await h.command("ana", "/commit write the case by 2026-13-01")
        assert bad_date.startswith("“2026-13-01” is not a date; write it as YYYY-MM-DD")
        past = await h.command("ana", "/commit write the case by 2026-09-01")
        assert past.startswith("2026-09-01 has already passed")
        assert "You have no commitments" in await h.command("ana", "/commitments")

        await h.command("luis", "/commit book the hall by 2026-09-20")
        assert "There is no commitment 7" in await h.command("ana", "/done 7")
        assert "is someone else's" in await h.command("ana", "/done 1")
        assert "0 of 1" in await h.command("luis", "/commitments")
        assert "Well done" in await h.command("fran", "/done 1")  # facilitators may close it
        assert "already marked done" in await h.command("luis", "/done 1")


async def test_opted_out_and_forgotten_members_leave_no_commitments_behind(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.command("ana", "/commit share the form by 2026-09-08")
        await h.command("luis", "/commit book the hall by 2026-09-08")
        await h.command("ana", "/optout")
        assert "opted out of tracking" in await h.command("ana", "/commit more by 2026-09-30")
        before = len(h.outbox)
        await h.advance(timedelta(hours=2))  # 09:00, the day before both are due
        assert [r.to for r in h.sent_since(before, "direct") if "reminder" in r.text] == ["luis"]
        await h.advance(timedelta(days=3))
        overdue = await h.command("fran", "/overdue")
        assert "Ana" not in overdue and "Luis Rojas" in overdue

        luis = await members.by_key(h.store, "praxis", "console:luis")
        await h.command("luis", "/forget-me confirm")
        assert await rows_about(h.store, luis.id) == {}
        assert await h.command("fran", "/overdue") == "No commitment is overdue."
