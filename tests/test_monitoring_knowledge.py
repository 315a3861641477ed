"""The knowledge map and shared knowledge, end to end on the console: profiles, experts, the map of
organisations, share, 💡 by facilitators and theme leaders, the library and the digest."""

from __future__ import annotations

from datetime import timedelta

from storage import members
from tests.helpers import running_app
from tests.test_monitoring_storage import rows_about

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
        await h.lines(
            f"#water fran: +{lesson} 💡",
            f"#water eva: +{lesson} 💡",  # a second mark records nothing new
            f"#gender eva: +{ignored} 💡",  # members cannot file knowledge
            f"#gender lena: +{ignored} 💡",  # Lena leads Water rights, not this theme
        )

        library = await h.command("eva", "/library")
        assert "[Lima wells census](https://example.org/wells)** (case, Water rights" in library
        assert "— by Ana Quispe" in library
        assert (
            "**Rotate who chairs the meeting, it keeps voices fresh.** (lesson, Water rights"
            in library
        )
        assert "— by Luis Rojas" in library
        assert "Quotas" not in library
        assert "Lima wells" not in await h.command("eva", "/library gender")

        marked_by_leader = await h.say("eva", "water", "Maps of claims convince judges.")
        await h.lines(f"#water lena: +{marked_by_leader} 💡")
        assert "Maps of claims convince judges." in await h.command("ana", "/library water")

        before = len(h.outbox)
        await h.advance(timedelta(days=7))
        digest = h.sent_since(before, "post")[0].text
        assert "### Knowledge shared" in digest
        assert "Lima wells census" in digest and "by Ana Quispe" in digest
        assert "by Luis Rojas" in digest and "by Eva Torres" in digest


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
