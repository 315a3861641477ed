"""The knowledge map and shared knowledge, end to end on the console: profiles, experts, the map of
organisations, share, 💡 by facilitators and theme leaders, the library and the digest."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage import members
from tests.helpers import running_app
from tests.test_monitoring_storage import rows_about

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

MEMBERS = (
    '~ ana joins as "Ana Quispe"',
    '~ luis joins as "Luis Rojas"',
    '~ eva joins as "Eva Torres"',
    "~ fran joins as Fran",
    "~ lena joins as Lena",
)


async def test_profiles_experts_and_the_map(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        saved = await h.command(
            "ana",
            "/profile set organisation:CANO expertise:water rights, irrigation "
            "languages:es, qu prefers:voice calls",
        )
        assert "Your profile is saved." in saved and "Organisation: CANO" in saved
        await h.command("luis", "/profile set organisation: IMAC expertise:soils")
        await h.command("eva", "/profile set organisation:imac")
        await h.say("luis", "water", "Our irrigation committee met the mayor today")

        shown = await h.command("luis", "/profile show @ana")
        assert "**Ana Quispe**" in shown and "Languages: es, qu" in shown
        assert "Prefers: voice calls" in shown

        experts = await h.command("eva", "/experts irrigation")
        assert "**Ana Quispe** — profile: water rights, irrigation" in experts
        assert "**Luis Rojas** — 1 message in Water rights in the last 90 days" in experts
        assert "Eva" not in experts

        organisations = await h.command("fran", "/map")
        assert "**IMAC**: Luis Rojas" in organisations
        assert "Eva Torres" in organisations
        cano = next(line for line in organisations.splitlines() if "**CANO**" in line)
        assert "depends on a single contact" in cano
        assert "1 organisation depends on a single contact" in organisations

        refused = await h.command("ana", "/map")
        assert "Only facilitators can use /map" in refused


async def test_bad_profile_input_is_explained_and_changes_nothing(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.command("ana", "/profile set organisation:CANO")
        answer = await h.command("ana", "/profile set I work at CANO on water")
        assert answer.startswith("Write the profile as fields with labels, like profile set")
        assert (
            "Usage: /profile set [organisation:…] [expertise:…] [languages:…] [prefers:…] [language:en|es|pt]"
            in answer
        )
        shown = await h.command("ana", "/profile show")
        assert "Organisation: CANO" in shown and "Expertise" not in shown
        assert "has no profile" in await h.command("ana", "/profile show @luis")
        assert "Nobody is known for “beekeeping” yet" in await h.command(
            "ana", "/experts beekeeping"
        )


def kind_questions(h, before: int, to: str) -> list[str]:
    return [s.text for s in h.sent_since(before, "direct") if s.to == to and "💡" in s.text]


async def test_shared_and_marked_knowledge_is_credited_in_library_and_digest(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines("@ 2026-09-07 10:00", *MEMBERS)
        thanks = await h.command(
            "ana", "/share case Lima wells census https://example.org/wells", channel="water"
        )
        assert "“Lima wells census” is in the library under Water rights" in thanks
        lesson = await h.say(
            "luis", "water", "Rotate who chairs the meeting, it keeps voices fresh."
        )
        ignored = await h.say("eva", "gender", "Quotas alone did not change who speaks.")
        before = len(h.outbox)
        await h.lines(
            f"#water fran: +{lesson} 💡",
            f"#water eva: +{lesson} 💡",  # a second mark records nothing new
            f"#gender eva: +{ignored} 💡",  # members cannot file knowledge
            f"#gender lena: +{ignored} 💡",  # Lena leads Water rights, not this theme
        )
        # Fran is asked, in private, what kind of knowledge it is; nobody else is asked.
        [question] = kind_questions(h, before, "fran")
        assert question.startswith(
            "**What kind of knowledge is it?**\nYou marked Luis Rojas's message “Rotate who chairs "
            "the meeting, it keeps voices fresh.” with 💡. React to the message with 🎓 for a lesson"
        )
        assert "/library edit 2 kind:lesson" in question
        assert [s.to for s in h.sent_since(before, "direct")] == ["fran"]
        assert "Rotate who chairs" not in await h.command("eva", "/library")

        # Her reaction on the message answers; another member's kind reaction does nothing.
        await h.lines(f"#water eva: +{lesson} 📄")
        assert "Rotate who chairs" not in await h.command("eva", "/library")
        await h.lines(f"#water fran: +{lesson} 🎓")
        assert h.outbox[-1].text == (
            "Thank you: “Rotate who chairs the meeting, it keeps voices fresh.” is in the "
            "library as a lesson (item 2)."
        )
        library = await h.command("eva", "/library")
        assert "**Lima wells census** https://example.org/wells (case, Water rights" in library
        assert "— by Ana Quispe" in library
        assert (
            "**Rotate who chairs the meeting, it keeps voices fresh.** (lesson, Water rights, "
            "2026-09-07, item 2) — by Luis Rojas" in library
        )
        assert "Quotas" not in library
        assert "Lima wells" not in await h.command("eva", "/library gender")

        # Lena leads Water rights: she marks there, and answers with a command.
        marked_by_leader = await h.say("eva", "water", "Maps of claims convince judges.")
        before = len(h.outbox)
        await h.lines(f"#water lena: +{marked_by_leader} 💡")
        [question] = kind_questions(h, before, "lena")
        assert "/library edit 3 kind:lesson" in question
        filed = await h.command("lena", "/library edit 3 kind:case", channel="water")
        assert filed == "Item 3 is “Maps of claims convince judges.”, a case, in the library."
        assert "**Maps of claims convince judges.** (case" in await h.command("ana", "/library")

        before = len(h.outbox)
        await h.advance(timedelta(days=7))
        digest = h.sent_since(before, "post")[0].text
        assert "### Knowledge shared" in digest
        assert "Lima wells census" in digest and "by Ana Quispe" in digest
        assert "by Luis Rojas" in digest and "by Eva Torres" in digest


async def test_a_mark_left_unanswered_is_filed_as_a_reference_after_a_day(tmp_path):
    long_text = (
        "When the water board meets, we rotate who keeps the minutes and who chairs, and we "
        "send the minutes to every village the same evening, so nobody hears about decisions "
        "second hand."
    )
    async with running_app(tmp_path) as h:
        await h.lines("@ 2026-09-07 10:00", *MEMBERS)
        kept = await h.say("luis", "water", long_text)
        gone = await h.say("eva", "water", "Ask the mayor for the well census first.")
        second_thoughts = await h.say("ana", "water", "Wells dry up by August.")
        await h.lines(
            f"#water fran: +{kept} 💡",
            f"#water fran: +{gone} 💡",
            f"#water fran: +{second_thoughts} 💡",
        )
        # Eva deletes her message, and Fran takes her 💡 back, before saying what they are:
        # neither is filed.
        await h.lines(f"#water eva: x{gone}", f"#water fran: -{second_thoughts} 💡")
        await h.advance(timedelta(hours=23))
        assert "The library is empty" in await h.command("ana", "/library")
        await h.advance(timedelta(hours=2))
        library = await h.command("ana", "/library")
        # The title is the message's start, cut at a word boundary within 120 characters.
        title = (
            "When the water board meets, we rotate who keeps the minutes and who chairs, and we "
            "send the minutes to every village…"
        )
        assert f"**{title}** (reference, Water rights, 2026-09-08, item 1) — by Luis Rojas" in (
            library
        )
        assert "census" not in library and "Wells dry up" not in library
        # A kind chosen after the day changes the reference like any edit.
        assert "a lesson, in the library" in await h.command("fran", "/library edit 1 kind:lesson")
        # The message deleted on the platform takes its item along.
        await h.lines(f"#water luis: x{kept}")
        assert "The library is empty" in await h.command("ana", "/library")


async def test_authors_and_facilitators_edit_and_remove_items_and_nobody_else(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines("@ 2026-09-07 10:00", *MEMBERS)
        await h.command("ana", "/share case Pump repair in Cusco", channel="water")
        refused = await h.command("luis", "/library edit 1 title:Mine now")
        assert refused.startswith("Item 1 is not yours; its authors, whoever filed it and")
        assert "Usage: /library edit <item> <changes>" in refused
        assert (await h.command("luis", "/library remove 1")).startswith("Item 1 is not yours")
        for bad, says in (
            ("/library edit 1 kind:poem", "“poem” is not a kind of knowledge; write lesson,"),
            ("/library edit 1 title:!!!", "Give the item a title with at least one letter"),
            ("/library edit 1 Pump repair", "Say what to change with labels, like library edit"),
            (f"/library edit 1 title:{'x' * 121}", "That title is 121 characters long; keep it"),
            ("/library edit 7 kind:case", "There is no item 7 in the library; /library list shows"),
        ):
            assert (await h.command("ana", bad)).startswith(says), bad
        assert "**Pump repair in Cusco** (case" in await h.command("eva", "/library")

        edited = await h.command(
            "ana", "/library edit 1 title:Pump repair in Cusco, 2026 kind:lesson"
        )
        assert edited == "Item 1 is “Pump repair in Cusco, 2026”, a lesson, in the library."
        library = await h.command("eva", "/library list")
        assert "**Pump repair in Cusco, 2026** (lesson, Water rights, 2026-09-07, item 1)" in (
            library
        )
        removed = await h.command("fran", "/library remove 1")
        assert removed == "Item 1, “Pump repair in Cusco, 2026”, is no longer in the library."
        assert "The library is empty" in await h.command("eva", "/library")


async def test_share_outside_a_theme_is_refused_and_records_nothing(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        answer = await h.command("ana", "/share lesson Keep minutes", channel="general")
        assert answer.startswith("Share knowledge in one of the themes' channels")
        no_title = await h.command("ana", "/share lesson https://example.org", channel="water")
        assert no_title.startswith("Give the lesson a title")
        wrong_kind = await h.command("ana", "/share poem Ode to water", channel="water")
        assert "“poem” is not one of lesson | case | document" in wrong_kind
        assert "The library is empty" in await h.command("ana", "/library")


async def test_opted_out_and_forgotten_members_disappear_from_knowledge(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(*MEMBERS)
        await h.command("ana", "/profile set organisation:CANO expertise:irrigation")
        await h.command("luis", "/profile set organisation:CANO expertise:irrigation")
        await h.command("ana", "/share lesson Dig shallow wells first", channel="water")
        await h.command("luis", "/share document Irrigation guide", channel="water")
        await h.say("luis", "water", "irrigation schedules work best weekly")

        await h.command("ana", "/optout")
        assert "Ana" not in await h.command("eva", "/experts irrigation")
        assert "Ana" not in await h.command("fran", "/map")
        library = await h.command("eva", "/library")
        assert "Irrigation guide" in library
        assert "Dig shallow wells first" not in library, "her item is not the community's"
        assert "Ana" not in library
        refused = await h.command("ana", "/profile set languages:es")
        assert refused.startswith("You have opted out of tracking")

        luis = await members.by_key(h.store, "praxis", "console:luis")
        await h.command("luis", "/forget-me confirm")
        assert await rows_about(h.store, luis.id) == {}
        for command in ("/experts irrigation", "/library"):
            assert "Luis" not in await h.command("eva", command)
        assert "The library is empty" in await h.command("eva", "/library")
        assert "Luis" not in await h.command("fran", "/map")
