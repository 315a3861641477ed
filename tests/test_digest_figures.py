"""The digest's figures are right: who took part, which questions still wait and for how long."""

from __future__ import annotations

import io
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.console import ConsoleAdapter
from bot.app import Trellis
from bot.clock import ManualClock
from bot.config import parse_settings
from bot.demo import build_sample_community
from bot.monitoring import render
from bot.monitoring.report import build_report
from bot.services import prompts
from bot.services.digest import compose_week
from tests.helpers import Harness, running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "bot" / "demo" / "config.toml"

WEEK_END = datetime(2026, 9, 14, 9, 0, tzinfo=ZoneInfo("America/Lima")).astimezone(UTC)

MEMBERS = (
    "@ 2026-09-07 10:00",
    '~ ana joins as "Ana Quispe"',
    '~ luis joins as "Luis Rojas"',
    '~ rita joins as "Rita Souza"',
    '~ eva joins as "Eva Flores"',
    '~ rosa joins as "Rosa Huaman"',
)


async def digest(h) -> str:
    return (await compose_week(h.app.community("praxis"), WEEK_END)).text


async def test_people_who_only_reacted_are_counted_apart_from_those_who_wrote(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            *MEMBERS,
            "#water ana: We rotate the irrigation turns every season.",
            "#water luis: >1 So do we, by lottery.",
            "#water eva: +1 👍",
            "#water rosa: +2 👍",
            "#water ana: +2 👍",
            "#gender rita: The assembly now has a childcare corner.",
        )
        text = await digest(h)
        assert "- **Water rights**: 2 messages from 2 people (2 more reacted).\n" in text
        assert "- **Gender and inclusion**: 1 message from 1 person.\n" in text


async def test_each_theme_quotes_its_most_reacted_to_and_replied_to_message(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            *MEMBERS,
            "#water ana: We rotate the irrigation turns every season.",
            "#water luis: Our cooperative shares one pump between twelve farms.",
            "#water eva: >1 Thanks, we will try rotating the turns too.",
            "#water rita: +2 👍",
            "#water rosa: +2 🎉",
            "#water ana: +2 👍",
            "#gender rita: The assembly now has a childcare corner.",
        )
        quotes = [line for line in (await digest(h)).splitlines() if line.startswith("  > ")]
        # Three reactions beat one reply; a message nobody reacted or replied to is not quoted.
        assert len(quotes) == 1
        assert "Our cooperative shares one pump" in quotes[0] and "Luis Rojas" in quotes[0]


def waiting(text: str) -> list[str]:
    """The digest's questions still waiting, in its order."""
    if "### Questions waiting for an answer" not in text:
        return []
    section = text.split("### Questions waiting for an answer\n", 1)[1].split("\n\n", 1)[0]
    return section.splitlines()


async def test_questions_wait_until_answered_and_the_newest_come_first(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            *MEMBERS,
            # Not questions: an address's query, code.
            "#water ana: The recording: https://meet.example.org/rec?id=42",
            "#water ana: In the sheet use `=IF(A1>0?1:0)` for the turns",
            # Answered by a reply, in its thread, by the asker's ✅, or said solved.
            "#water luis: Who sets the irrigation turns in your valley?",
            "#water ana: >3 The users' assembly.",
            "#water/Frost rita: Who keeps the frost calendar?",
            "#water/Frost ana: My grandmother does.",
            "#water eva: ¿Alguien tiene el mapa de los pozos?",
            "#water rosa: Aquí está, en la carpeta común.",
            "#water eva: +7 ✅",
            "@ 2026-09-09 10:00",
            "#gender rosa: How do you run childcare at assemblies?",
            "@ 2026-09-09 11:00",
            "#gender rosa: Anyone?",
            "#gender rita: We take turns, two people each time.",
            "@ 2026-09-11 10:00",
            "#water luis: Does anyone measure the wells in dry season?",
            # A reply by the asker themself, or a ✅ by someone else, answers nothing.
            "#water luis: >12 Anyone at all?",
            "#water ana: +12 ✅",
            "@ 2026-09-13 18:00",
            "#gender eva: Is the census form ready?",
        )
        before = await digest(h)
        assert waiting(before) == [
            "- Eva Flores in Gender and inclusion, waiting for 15 hours: “Is the census form ready?”",
            "- Luis Rojas in Water rights, waiting for 2 days: “Anyone at all?”",
            "- Luis Rojas in Water rights, waiting for 2 days: “Does anyone measure the wells in "
            "dry season?”",
            "- Rosa Huaman in Gender and inclusion, waiting for 4 days: “Anyone?”",
            "- Rosa Huaman in Gender and inclusion, waiting for 4 days: “How do you run childcare "
            "at assemblies?”",
        ]
        # Rosa got her answer from the plain next message: she says so, once per question.
        answer = await h.command("rosa", "/solved", channel="gender")
        assert answer == "Thank you: “Anyone?” no longer waits for an answer."
        await h.command("rosa", "/solved", channel="gender")
        refused = await h.command("rosa", "/solved", channel="gender")
        assert refused.startswith("No question of Rosa Huaman waits for an answer here")
        # Only the asker, or whoever leads the theme, says another's question is solved.
        assert "Only the one who asked" in await h.command("ana", "/solved @luis", channel="water")
        await h.command("lena", "/solved @luis", channel="water")
        assert [line[:40] for line in waiting(await digest(h))] == [
            "- Eva Flores in Gender and inclusion, wa",
            "- Luis Rojas in Water rights, waiting fo",
        ]


async def test_the_demo_s_busiest_week_is_posted_in_one_discord_message(tmp_path):
    """The demo's six weeks, with the demo's configuration (the brief digest is the default)."""
    sample = build_sample_community()
    data = tomllib.loads(DEMO_CONFIG.read_text(encoding="utf-8"))
    data["storage"]["path"] = str(tmp_path / "demo.sqlite3")
    settings = parse_settings(data)
    clock = ManualClock(sample.start)
    console = ConsoleAdapter(
        "praxis", clock, timezone=sample.timezone, echo_chat=False, out=io.StringIO()
    )
    app = await Trellis.open(settings, clock=clock, adapters=[console])
    await app.start(real_time=False)
    try:
        h = Harness(app, console, clock)
        await console.play(sample.script_lines(), lambda at: app.advance_to(max(at, clock.now())))
        await h.advance(timedelta(days=7 - clock.now().weekday(), hours=12))
        digests = [sent for sent in h.outbox if sent.kind == "post" and sent.text.startswith("## ")]
        assert len(digests) == 7
        busiest = max(digests, key=lambda sent: int(re.search(r"(\d+) messages", sent.text)[1]))
        assert len(busiest.text) <= 2000, busiest.text
        assert all(len(sent.text) <= 2000 for sent in digests)
        text = busiest.text
        assert re.search(r"\*\*The week in numbers\*\*: \d+ messages \([−+=]", text)
        assert re.search(r"^- \*\*Gender & inclusion\*\*: \d+ messages from \d+ people", text, re.M)
        assert "; busiest thread: “" in text
        assert "### Thank you\n- **" in text and "kudos from" in text
        assert re.search(r"### \d+ questions waiting for an answer\n- .+, waiting for", text)
        assert "### Upcoming events\n- **" in text
        # The whole digest goes along as a file, and facilitators can read it whole.
        assert re.fullmatch(r"digest-2026-\d\d-\d\d\.md", busiest.attachments[-1])
        whole = await h.command("maria", "/digest preview full")
        assert "### What the themes discussed\n" in whole and "\n  > " in whole  # quotes
        assert "digest-preview-praxis.md" in h.outbox[-1].attachments
        brief = await h.command("maria", "/digest preview")
        assert len(brief) <= 2000 and "### Knowledge shared" not in brief
    finally:
        await app.stop()


async def test_time_to_first_response_per_theme_in_the_digest_and_stats(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.command("fran", "/prompt add water What does your water committee do best?")
        await h.lines("@ 2026-09-08 10:00")
        await prompts.post_next(h.app.community("praxis"), "water", h.clock.now())
        [posted] = h.sent_since(0, "post")
        assert posted.text.startswith("**Prompt for Water rights:**")
        await h.lines(
            # A later post in the theme is not an answer to the prompt; a reply to it is.
            "@ 2026-09-08 10:20",
            "#water ana: Who has the new pump manual?",
            "@ 2026-09-08 12:00",
            "#water luis: >T1 Ours shares the turns fairly.",
            "#water rita: >1 I do, I will post it.",
            "@ 2026-09-09 10:00",
            "#gender eva: How do you run childcare at assemblies?",
            "#gender rosa: Is the census form ready?",
            "@ 2026-09-09 10:45",
            "#gender rita: >4 We take turns, two people each time.",
        )
        text = await digest(h)
        assert (
            "### Time to first response (median)\n"
            "- Water rights: questions: 2 hours (1 of 1 answered); prompts: 2 hours (1 of 1 "
            "answered)\n"
            "- Gender and inclusion: questions: 45 minutes (1 of 2 answered)"
        ) in text
        report = await build_report(
            h.store, h.app.settings, "praxis", WEEK_END - timedelta(days=7), WEEK_END
        )
        assert (
            "### Time to first response (median)\n\n"
            "- Water rights: questions: 2 hours (1 of 1 answered); prompts: 2 hours (1 of 1 "
            "answered)\n"
        ) in render.render_markdown(report, h.app.community("praxis").translator)
        stats = await h.command("fran", "/stats gender 7d")
        assert stats.endswith(
            "Time to first response (median):\n"
            "- Gender and inclusion: questions: 45 minutes (1 of 2 answered)"
        )
