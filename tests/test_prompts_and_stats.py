"""Prompts posted on schedule and on dormancy, their response measured; participation levels."""

import pytest

from tests.helpers import config, running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""


async def test_a_queued_prompt_is_posted_on_its_schedule_and_its_response_counted(tmp_path):
    data = config(**{"communities.praxis.themes.water.prompt_cron": "0 10 * * tue"})
    async with running_app(tmp_path, data) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            "~ lena joins",
            "#water ana: Earlier words in water.",
        )
        answer = await h.command(
            "lena", "/prompt add water What does your water committee do best?"
        )
        assert answer == "Prompt 1 queued for Water rights (1 in line)."
        mark = len(h.outbox)
        await h.lines("@ 2026-09-08 10:30")
        posts = h.sent_since(mark, "post")
        assert [(p.to, p.text) for p in posts] == [
            ("#water", "**Prompt for Water rights:** What does your water committee do best?")
        ]
        await h.lines(
            "#water luis: >T1 We keep the turns fair.",  # Luis's first words in water: new voice
            "#water ana: >T1 We fix the canal together.",
            "#water lena: Unrelated news from the valley.",  # in the theme, not an answer
            "@ 2026-09-09 10:30",
        )
        assert "posted 2026-09-08" in await h.command("fran", "/prompt list water")
        assert "already posted" in await h.command("fran", "/prompt remove 1")
        await h.lines("@ 2026-09-14 09:30")
        digest = h.sent_since(mark, "post")[-1].text
        assert (
            "- Water rights: “What does your water committee do best?”: 2 answered, "
            "1 of them for the first time there." in digest
        )


async def test_a_theme_silent_for_two_weeks_is_marked_dormant_and_revived_once(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00", "~ ana joins", "#gender ana: Last words here for a while."
        )
        await h.command("fran", "/prompt add gender Who decides in your organisation, and how?")
        await h.command("fran", "/prompt add gender A second question, kept for later?")
        mark = len(h.outbox)
        await h.lines("@ 2026-09-22 10:30", "@ 2026-09-23 10:30", "@ 2026-09-24 10:30")
        revived = [p.text for p in h.sent_since(mark, "post") if p.to == "#gender"]
        assert revived == [
            "**Prompt for Gender and inclusion:** Who decides in your organisation, and how?"
        ]
        assert "`gender` Gender and inclusion (dormant)" in await h.command("fran", "/theme list")
        await h.lines("#gender ana: Back again.", "@ 2026-09-25 10:30")
        assert "(dormant)" not in await h.command("fran", "/theme list")


async def test_a_theme_whose_last_words_were_deleted_is_quiet_since_the_words_before(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00", "~ ana joins", "#gender ana: Last words here for a while."
        )
        await h.lines("@ 2026-09-16 10:00", "#gender ana: Sorry, wrong room.", "#gender ana: x2")
        mark = len(h.outbox)
        # 15 days after the words that stay, 6 after the deleted ones.
        await h.lines("@ 2026-09-22 10:30")
        assert "`gender` Gender and inclusion (dormant)" in await h.command("fran", "/theme list")
        assert [p.to for p in h.sent_since(mark, "post")] == ["#gender"]


async def test_a_dormant_theme_with_an_empty_queue_gets_a_gentle_prompt_and_its_stewards_a_dm(
    tmp_path,
):
    async with running_app(tmp_path) as h:
        await h.lines("@ 2026-09-07 10:00", "~ ana joins", "#water ana: Our committee met today.")
        mark = len(h.outbox)
        await h.lines("@ 2026-09-22 10:30", "@ 2026-09-23 10:30")
        revived = [p.text for p in h.sent_since(mark, "post") if p.to == "#water"]
        assert revived == [
            "**Prompt for Water rights:** It has been quiet here for a while. Our goal in this "
            "theme is: “Share how communities defend their water.” What is one thing you tried, "
            "saw or wondered about lately that brings us closer to it?"
        ]
        told = {sent.to: sent.text for sent in h.sent_since(mark, "direct") if "queue" in sent.text}
        assert set(told) == {"lena", "fran"}  # the theme's leader and the facilitator
        assert "Water rights has been quiet for 14 days" in told["lena"]
        assert "/prompt add water <your question>" in told["lena"]
        # The built-in question is a prompt like any other: listed as posted, answered, measured.
        assert "It has been quiet here for a while." in await h.command("fran", "/prompt list")


async def test_a_spanish_community_is_revived_in_spanish(tmp_path):
    async with running_app(tmp_path, config(**{"communities.praxis.locale": "es"})) as h:
        await h.lines("@ 2026-09-07 10:00", "~ ana joins", "#gender ana: Hasta pronto.")
        mark = len(h.outbox)
        await h.lines("@ 2026-09-22 10:30", "@ 2026-09-23 10:30")
        (revived,) = [p.text for p in h.sent_since(mark, "post") if p.to == "#gender"]
        assert "Ha estado tranquilo por aquí" in revived


async def test_stats_levels_count_reactions_as_peripheral_participation(tmp_path):
    data = config(
        **{
            "participation.core_min_messages": 4,
            "participation.core_min_active_days": 3,
            "participation.active_min_messages": 2,
        }
    )
    async with running_app(tmp_path, data) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            '~ rita joins as "Rita Souza"',
            '~ nora joins as "Nora Paz"',
            "#water ana: Day one.",
            "#water luis: Hello.",
            "@ 2026-09-08 10:00",
            "#water ana: Day two.",
            "#water luis: >3 Hello again.",
            "@ 2026-09-09 10:00",
            "#water ana: Day three.",
            "#water ana: And more.",
            "#water rita: +1 ❤️",
        )
        stats = await h.command("fran", "/stats water 7d")
        assert "**Participation in Water rights, 7d**" in stats
        assert "6 messages, 1 reply, 1 reaction, 0 new threads; 3 people took part." in stats
        # ana: core (4 messages on 3 days); luis: active; rita: peripheral (reacted);
        # nora and fran (the facilitator asking) inactive
        assert "1 core, 1 active, 1 peripheral, 2 inactive" in stats
        assert "- Ana Quispe: 4 messages, 1 reply received" in stats
        gender = await h.command("fran", "/stats gender 2026-09")
        assert "0 messages" in gender


async def test_theme_show_counts_the_people_who_wrote_and_those_who_only_reacted_apart(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            "~ ana joins",
            "~ rosa joins",
            "#water ana: Our committee met today.",
            "#water rosa: +1 🙏",
            "@ 2026-09-07 11:00",
        )
        shown = await h.command("fran", "/theme show water")
        assert "This week: 1 message from 1 person (1 more reacted)." in shown
