"""Surveys end to end on the console: the monthly pulse and the quarterly story of change asked by
direct message, one anonymous answer per member, results only from five answers, privacy."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.commands.parsing import parse_period
from bot.monitoring.render import render_markdown
from bot.monitoring.report import build_report
from bot.outgoing import unescape
from storage import members
from tests.helpers import running_app
from tests.test_monitoring_storage import rows_about

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

PEOPLE = ("ana", "luis", "eva", "rosa", "tito", "pia")
MEMBERS = (
    *(f"~ {handle} joins as {handle.capitalize()}" for handle in PEOPLE),
    "~ fran joins as Fran",
    '~ helper joins as bot "Helper"',
)
LIMA = ZoneInfo("America/Lima")
PULSE_DAY = datetime(2026, 10, 1, 10, 5, tzinfo=LIMA).astimezone(UTC)
IMPACT_DAY = datetime(2026, 10, 2, 10, 5, tzinfo=LIMA).astimezone(UTC)


async def answers_in_store(h) -> int:
    (count,) = await h.store.fetch_one("SELECT count(*) FROM survey_answers")
    return count


async def test_the_monthly_pulse_is_asked_by_direct_message_of_every_tracked_member(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.command("pia", "/optout")
        early = await h.command("ana", "/pulse 4 4")
        assert early.startswith("There is no pulse waiting for your answer")
        before = len(h.outbox)
        await h.set_time(PULSE_DAY)
        asked = [s for s in h.sent_since(before, "direct") if "Monthly pulse, 2026-09" in s.text]
        assert sorted(s.to for s in asked) == ["ana", "eva", "fran", "luis", "rosa", "tito"]
        assert "/pulse <satisfaction 1-5> <ownership 1-5>" in asked[0].text
        assert "stored without your name" in asked[0].text
        await h.set_time(IMPACT_DAY)
        stories = [
            s for s in h.sent_since(before, "direct") if "Story of change, 2026-Q3" in s.text
        ]
        assert len(stories) == 6


async def test_results_appear_only_from_five_answers_and_name_no_answerer(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.set_time(PULSE_DAY)
        scores = {"ana": "5 4 @luis", "luis": "4 4 @ana", "eva": "3 2 @luis", "rosa": "4 5"}
        for handle, answer in scores.items():
            reply = await h.command(handle, f"/pulse {answer}")
            assert reply == "Thank you: your pulse for 2026-09 is recorded, without your name."

        few = await h.command("fran", "/survey results")
        assert few == (
            "**Pulse, 2026-09**\nFewer than 5 of the 7 members asked have answered: too few to "
            "show without risking identifying people."
        )
        await h.command("tito", "/pulse 2 3 @luis")
        shown = await h.command("fran", "/survey results 2026-09")
        assert shown.splitlines() == [
            "**Pulse, 2026-09**",
            "5 answers from 7 members asked.",
            "- Satisfaction: 3.6 / 5 (1: 0 · 2: 1 · 3: 1 · 4: 2 · 5: 1)",
            "- Ownership: 3.6 / 5 (1: 0 · 2: 1 · 3: 1 · 4: 2 · 5: 1)",
            "- Learned from: Luis (3), Ana (1)",
        ]
        for handle in ("ana", "eva", "rosa", "tito"):
            assert handle.capitalize() not in shown.replace("Luis (3)", "").replace("Ana (1)", "")
        assert "Only facilitators can use /survey results" in await h.command(
            "ana", "/survey results"
        )
        unknown = await h.command("fran", "/survey results 2025-01")
        assert unknown.startswith("No survey was asked for “2025-01”; surveys so far: 2026-09")


async def test_one_answer_per_member_and_bad_answers_change_nothing(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.set_time(PULSE_DAY)
        out_of_scale = await h.command("ana", "/pulse 6 3")
        assert out_of_scale.startswith("satisfaction is a number from 1 to 5")
        assert "Usage: /pulse <satisfaction> <ownership> [<learned_from>]" in out_of_scale
        assert (await h.command("ana", "/pulse 4")).startswith("/pulse is missing <ownership>.")
        assert "“four” is not a whole number" in await h.command("ana", "/pulse four 3")
        myself = await h.command("ana", "/pulse 4 4 @ana")
        assert myself.startswith("Name someone else you learned from")
        assert "I don't know a member “@zoe” here" in await h.command("ana", "/pulse 4 4 @zoe")
        assert await answers_in_store(h) == 0

        assert "recorded" in await h.command("ana", "/pulse 4 4")
        again = await h.command("ana", "/pulse 1 1")
        assert again.startswith("You have already answered for 2026-09; each member answers once.")
        assert await answers_in_store(h) == 1

        await h.set_time(IMPACT_DAY)
        long_story = "word " * 500
        assert "keep it under 2000" in await h.command("ana", f"/story {long_story}")
        assert await answers_in_store(h) == 1


async def test_stories_of_change_are_shown_only_from_five(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.set_time(IMPACT_DAY)
        for number, handle in enumerate(("ana", "luis", "eva", "rosa"), start=1):
            reply = await h.command(handle, f"/story Our team changed practice number {number}.")
            assert reply == "Thank you: your story for 2026-Q3 is recorded, without your name."
        assert "Fewer than 5" in await h.command("fran", "/survey results 2026-Q3")
        await h.command("tito", "/story We now share minutes with the mayor.")
        shown = await h.command("fran", "/survey results 2026-Q3")
        # The quarter's results hold its months' pulses (September's, unanswered) and its story.
        assert shown.split("\n\n")[-1].splitlines()[:2] == [
            "**Stories of change, 2026-Q3**",
            "5 answers from 7 members asked.",
        ]
        assert "> We now share minutes with the mayor." in shown
        assert "Tito" not in shown


async def test_forget_me_and_opt_out_after_answering(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.set_time(PULSE_DAY)
        for handle in ("ana", "eva", "rosa", "tito"):
            await h.command(handle, "/pulse 4 4 @luis")
        await h.command("luis", "/pulse 5 5 @ana")
        luis = await members.by_key(h.store, "praxis", "console:luis")
        await h.command("luis", "/forget-me confirm")
        assert await rows_about(h.store, luis.id) == {}
        await h.command("ana", "/optout")
        shown = await h.command("fran", "/survey results")
        # The answers stay, anonymous; the people learned from are no longer named.
        assert "5 answers from 5 members asked." in shown
        assert "Learned from" not in shown and "Luis" not in shown and "Ana" not in shown


async def test_a_story_naming_a_member_who_opts_out_or_is_forgotten_no_longer_names_them(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.set_time(IMPACT_DAY)
        await h.command("ana", "/story After @rosa's visit, Luis and Pia mapped Rosario's wells.")
        for handle in ("eva", "tito", "rosa", "fran"):
            await h.command(handle, "/story We now share minutes with the mayor.")
        await h.command("rosa", "/optout")
        # Her name goes, in any case and as a whole word only: Rosario stays.
        hidden = "After […]'s visit, Luis and Pia mapped Rosario's wells."
        assert f"> {hidden}" in unescape(await h.command("fran", "/survey results 2026-Q3"))
        q3 = parse_period("2026-Q3", LIMA, IMPACT_DAY)
        report = await build_report(h.store, h.app.settings, "praxis", q3.start, q3.end)
        assert [s for s in report.impact.surveys[0].stories if "wells" in s] == [hidden]
        # Opting back in shows the story as written; a forget-me takes the name out for good.
        await h.command("rosa", "/optin")
        assert "After @rosa's visit" in await h.command("fran", "/survey results 2026-Q3")
        await h.command("luis", "/forget-me confirm")
        stored = [s for (s,) in await h.store.fetch_all("SELECT story FROM survey_answers")]
        assert "After @rosa's visit, […] and Pia mapped Rosario's wells." in stored
        assert not [s for s in stored if "Luis" in s]


async def test_a_sixth_answer_after_five_tells_nothing_about_itself(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.set_time(PULSE_DAY)
        for handle, answer in (("ana", "5 4 @luis"), ("luis", "4 4 @ana"), ("eva", "3 2 @luis"),
                               ("rosa", "4 5"), ("tito", "2 3 @ana")):  # fmt: skip
            await h.command(handle, f"/pulse {answer}")

        async def everything_shown() -> tuple:
            september = parse_period("2026-09", LIMA, PULSE_DAY)
            report = await build_report(
                h.store, h.app.settings, "praxis", september.start, september.end
            )
            [pulse] = report.evaluation.pulses
            return (
                await h.command("fran", "/survey results 2026-09"),
                (pulse.shown, pulse.satisfaction, pulse.ownership, pulse.learned_from),
            )

        at_five = await everything_shown()
        assert "5 answers from 7 members asked" in at_five[0]
        assert at_five[1] == (True, 3.6, 3.6, (("Ana", 2), ("Luis", 2)))
        # A sixth answer, as far from the others as it can be and naming someone new.
        await h.command("pia", "/pulse 1 1 @fran")
        assert await everything_shown() == at_five
        assert await answers_in_store(h) == 6, "the answer is kept, to be released with others"


async def test_a_survey_is_reported_with_the_month_or_quarter_it_asks_about(tmp_path):
    """The demo's timeline: September's pulse goes out on 1 October and the third quarter's
    story on 2 October; both belong to September's report, not to October's."""
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.set_time(PULSE_DAY)
        for handle in ("ana", "luis", "eva", "rosa", "tito"):
            await h.command(handle, "/pulse 4 3")
        await h.set_time(IMPACT_DAY)
        await h.command("ana", "/story We share minutes with the mayor now.")

        async def report_of(label: str):
            period = parse_period(label, LIMA, h.clock.now())
            return await build_report(
                h.store, h.app.settings, "praxis", period.start, period.end, label=label
            )

        september = await report_of("2026-09")
        assert [(p.survey, p.answers, p.satisfaction) for p in september.evaluation.pulses] == [
            ("2026-09", 5, 4.0)
        ]
        assert [(s.survey, s.answers) for s in september.impact.surveys] == [("2026-Q3", 1)]
        # The week that holds 30 September has them too; the week before does not.
        assert [p.survey for p in (await report_of("2026-W40")).evaluation.pulses] == ["2026-09"]
        assert (await report_of("2026-W39")).evaluation.pulses == ()
        october = await report_of("2026-10")
        assert (october.evaluation.pulses, october.impact.surveys) == ((), ())
        markdown = render_markdown(october, h.app.community("praxis").translator)
        assert "No pulse survey was asked about this period." in markdown

        assert (await h.command("fran", "/survey results 2026-09")).startswith(
            "**Pulse, 2026-09**\n5 answers from 7 members asked."
        )
        quarter = await h.command("fran", "/survey results 2026-Q3")
        assert "**Pulse, 2026-09**" in quarter and "**Stories of change, 2026-Q3**" in quarter
        october_results = await h.command("fran", "/survey results 2026-10")
        assert october_results.startswith("No survey was asked for “2026-10”")
