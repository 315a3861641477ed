"""Community events end to end on the console: adding and listing, reminders a day and an hour
before in the theme's place (or the digest channel), the digest, removal, bad input, privacy."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from storage import members
from tests.helpers import config, running_app
from tests.test_monitoring_storage import rows_about

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

MEMBERS = ('~ ana joins as "Ana Quispe"', '~ luis joins as "Luis Rojas"', "~ fran joins as Fran")
LIMA = ZoneInfo("America/Lima")


def lima(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LIMA).astimezone(UTC)


async def test_an_event_is_listed_and_reminded_a_day_and_an_hour_before(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        added = await h.command(
            "ana", "/event add Water census review 2026-09-10 18:30 Casa Comunal", channel="water"
        )
        assert added.startswith(
            "Event 1 added: **Water census review**, 2026-09-10 18:30, Casa Comunal (Water rights)."
        )
        online = await h.command("luis", "/event add Open call 2026-09-12 https://meet.example.org")
        assert "**Open call**, 2026-09-12 09:00, https://meet.example.org" in online
        listed = await h.command("luis", "/event list")
        assert listed.splitlines()[1:] == [
            "- 1. **Water census review**, 2026-09-10 18:30, Casa Comunal (Water rights)",
            "- 2. **Open call**, 2026-09-12 09:00, https://meet.example.org",
        ]

        await h.set_time(lima("2026-09-08 10:00"))  # after Monday's digest
        before = len(h.outbox)
        await h.set_time(lima("2026-09-09 12:00"))
        assert h.sent_since(before, "post") == []
        await h.set_time(lima("2026-09-09 19:00"))
        day = h.sent_since(before, "post")
        assert [(p.to, p.text) for p in day] == [
            (
                "#water",
                "📅 Coming up within a day: **Water census review**, 2026-09-10 18:30, "
                "Casa Comunal (Water rights)",
            )
        ]
        await h.set_time(lima("2026-09-10 17:45"))
        hour = h.sent_since(before + 1, "post")
        assert [p.to for p in hour] == ["#water"]
        assert hour[0].text.startswith("⏰ Starting within the hour: **Water census review**")
        await h.set_time(lima("2026-09-11 10:00"))
        unthemed = h.sent_since(before + 2, "post")
        assert [p.to for p in unthemed] == ["#general"]
        assert unthemed[0].text.startswith("📅 Coming up within a day: **Open call**")
        assert (await h.command("ana", "/event list")).splitlines()[1:] == [
            "- 2. **Open call**, 2026-09-12 09:00, https://meet.example.org"
        ]


async def test_upcoming_events_appear_in_the_digest(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.command("ana", "/event add Gender forum 2026-09-18 10:00 Cusco", channel="gender")
        await h.command("ana", "/event add Far away 2026-11-30 10:00")
        await h.set_time(lima("2026-09-08 10:00"))
        await h.say("luis", "gender", "Looking forward to the forum")
        before = len(h.outbox)
        await h.set_time(lima("2026-09-14 09:05"))
        digest = h.sent_since(before, "post")[0].text
        assert "### Upcoming events\n- **Gender forum**, 2026-09-18 10:00, Cusco" in digest
        assert "Far away" not in digest


async def test_bad_input_is_explained_and_nothing_is_added(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        no_date = await h.command("ana", "/event add Census review next friday")
        assert no_date.startswith("Write the event's title, then when it starts")
        assert "Usage: /event add <title> <YYYY-MM-DD> <HH:MM> [where]" in no_date
        no_title = await h.command("ana", "/event add 2026-09-10 18:30 Lima")
        assert no_title.startswith("Give the event a title before its date")
        past = await h.command("ana", "/event add Census 2026-09-01 10:00")
        assert past.startswith("2026-09-01 10:00 has already passed")
        not_a_day = await h.command("ana", "/event add Census 2026-02-30 10:00")
        assert not_a_day.startswith("“2026-02-30 10:00” is not a date and time")
        # The same checks as the dashboard's event form: a title and a place of at most 120.
        long_title = await h.command("ana", "/event add " + "Census " * 20 + "2026-09-10 10:00")
        assert long_title.startswith("That title is 139 characters long; keep it to 120.")
        far_away = await h.command("ana", "/event add Census 2026-09-10 10:00 " + "Lima " * 30)
        assert far_away.startswith("That place is 149 characters long; keep it to 120.")
        assert "No events in the next 90 days" in await h.command("ana", "/event list")


async def test_only_the_author_or_a_facilitator_removes_an_event(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.command("ana", "/event add Census 2026-09-10 10:00")
        await h.command("ana", "/event add Forum 2026-09-11 10:00")
        refused = await h.command("luis", "/event remove 1")
        assert refused.startswith("Only the member who added event 1 or a facilitator")
        assert "There is no upcoming event 9" in await h.command("ana", "/event remove 9")
        assert await h.command("ana", "/event remove 1") == "Event 1, “Census”, is removed."
        assert await h.command("fran", "/event remove 2") == "Event 2, “Forum”, is removed."
        assert "No events" in await h.command("luis", "/event list")


async def test_a_forgotten_authors_events_go_with_her(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.command("ana", "/event add Census 2026-09-10 10:00")
        await h.command("fran", "/event add Forum 2026-09-11 10:00")
        await h.command("luis", "/optout")
        assert "opted out of tracking" in await h.command("luis", "/event add Fair 2026-09-20")
        ana = await members.by_key(h.store, "praxis", "console:ana")
        await h.command("ana", "/forget-me confirm")
        assert await rows_about(h.store, ana.id) == {}
        listed = await h.command("fran", "/event list")
        assert "**Forum**" in listed
        assert "Census" not in listed and "Ana" not in listed and "Fair" not in listed


async def test_a_reminder_goes_to_each_platforms_place_once(tmp_path):
    both = config(
        **{
            "communities.praxis.themes.water.prompt_places": [
                "console:water",
                "matrix:!w:example.org",
            ]
        }
    )
    async with running_app(tmp_path, both) as h:
        await h.lines(*MEMBERS)
        await h.command("ana", "/event add Water census review 2026-09-10 18:30", channel="water")
        await h.set_time(lima("2026-09-08 10:00"))
        before = len(h.outbox)
        await h.set_time(lima("2026-09-09 19:00"))
        await h.set_time(lima("2026-09-09 19:30"))  # later looks do not remind again
        day = h.sent_since(before, "post")
        assert [p.to for p in day] == ["#water"], "the Matrix room's adapter is not connected"
        assert day[0].text.startswith("📅 Coming up within a day: **Water census review**")
