"""Time to first response: the median is the middle answered question's, or halfway between the
middle two (counted in SQL, as a facilitator reads it in `stats`); the report's, from the first
responses the rollups' recount keeps per question, follow late answers and deletions."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.commands.parsing import parse_period
from bot.monitoring.report import build_report
from bot.services.digest import first_responses
from storage import members
from tests.helpers import running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""


async def test_the_median_is_the_middle_answer_or_halfway_between_the_middle_two(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            '~ rita joins as "Rita Souza"',
            '~ eva joins as "Eva Flores"',
            '~ rosa joins as "Rosa Huaman"',
            # Water: five questions, four answered after 10, 20, 40 and 100 minutes.
            "@ 2026-09-08 10:00",
            "#water ana: How do you share the pump turns?",
            "#water luis: Who keeps the well keys?",
            "#water rita: Where is the new manual?",
            "#water eva: When is the next assembly?",
            "#water rosa: Who pays for the repairs?",
            "@ 2026-09-08 10:10",
            "#water luis: >1 By lot, every month.",
            "@ 2026-09-08 10:20",
            "#water ana: >2 The treasurer keeps them.",
            "@ 2026-09-08 10:40",
            "#water ana: >3 In the shared folder.",
            "@ 2026-09-08 11:40",
            "#water rita: >4 On the first Monday.",
            # Gender: three questions, answered after 5, 50 and 70 minutes.
            "@ 2026-09-09 10:00",
            "#gender eva: How do you run childcare at assemblies?",
            "#gender rosa: Is the census form ready?",
            "#gender ana: Who translates the minutes?",
            "@ 2026-09-09 10:05",
            "#gender rita: >10 We take turns, two people each time.",
            "@ 2026-09-09 10:50",
            "#gender luis: >11 Yes, since Monday.",
            "@ 2026-09-09 11:10",
            "#gender rita: >12 Luis does, in both languages.",
            "@ 2026-09-09 12:00",
        )
        water = await h.command("fran", "/stats water 7d")
        gender = await h.command("fran", "/stats gender 7d")
    assert water.endswith(
        "Time to first response (median):\n- Water rights: questions: 30 minutes (4 of 5 answered)"
    ), water
    assert gender.endswith(
        "Time to first response (median):\n"
        "- Gender and inclusion: questions: 50 minutes (3 of 3 answered)"
    ), gender


async def test_the_reports_first_responses_follow_late_answers_and_deletions(tmp_path):
    async with running_app(tmp_path) as h:
        period = parse_period("2026-W37", ZoneInfo("America/Lima"), h.clock.now())

        async def water() -> tuple[int, int, int | None]:
            """The report's questions, answered and median for Water rights; the same as the
            probes of `stats` and the digest find."""
            report = await build_report(h.store, h.app.settings, "praxis", period.start, period.end)
            [found] = report.monitoring.first_responses
            live = await first_responses(
                h.store, "praxis", {"water": "Water rights"}, int(period.start.timestamp()),
                int(period.end.timestamp()),
            )  # fmt: skip
            assert [found] == live
            return found.questions, found.questions_answered, found.questions_median

        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ ben joins as "Ben Ccori"',
            '~ cai joins as "Cai Flores"',
            '~ dia joins as "Dia Huaman"',
            '~ eva joins as "Eva Mendez"',
            "@ 2026-09-08 10:00",
            "#water ana: Who has the pump manual?",  # 1
            "#water/Pumps ben: Which pumps last longest at altitude?",  # 2
        )
        assert await water() == (2, 0, None)
        await h.lines(
            # A reply a day later; the asker's own post in the thread is no answer.
            "@ 2026-09-09 10:00",
            "#water cai: >1 I have it, I will scan it.",  # 3
            "#water/Pumps ben: I asked around too.",  # 4
            "@ 2026-09-10 12:00",
            "#water/Pumps dia: The hand pumps from Arequipa.",  # 5
        )
        assert await water() == (2, 2, (24 + 50) * 3600 // 2)
        # The first answer to the manual is deleted: the question waits again, until Eva replies.
        await h.lines("@ 2026-09-11 09:00", "#water cai: x3")
        assert await water() == (2, 1, 50 * 3600)
        await h.lines("@ 2026-09-12 10:00", "#water eva: >1 Ask at the municipality.")
        assert await water() == (2, 2, (96 + 50) * 3600 // 2)


async def test_a_linked_askers_other_account_is_no_answer_in_the_report(tmp_path):
    async with running_app(tmp_path) as h:
        period = parse_period("2026-W37", ZoneInfo("America/Lima"), h.clock.now())
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ ana2 joins as "Ana Quispe"',
            '~ ben joins as "Ben Ccori"',
            "@ 2026-09-08 10:00",
            "#water ana: Who has the pump manual?",  # 1
            "#water ben: When is the next assembly?",  # 2
            "@ 2026-09-08 11:00",
            "#water ana2: >1 Never mind, I found it.",  # 3
            "#water ana: >2 On Friday.",  # 4
            "@ 2026-09-08 14:00",
            "#water ben: >1 It is in the shared folder.",  # 5
        )
        # Ana's two accounts are one person (as /link leaves them): her other account's reply
        # does not answer her, Ben's four hours later does; she answered Ben in an hour.
        ids = {m.key.split(":")[1]: m.id for m in await members.all_members(h.store, "praxis")}
        async with h.store.transaction() as tx:
            await tx.execute(
                "UPDATE members SET person_id = ? WHERE id IN (?, ?)",
                (ids["ana"], ids["ana"], ids["ana2"]),
            )
        report = await build_report(h.store, h.app.settings, "praxis", period.start, period.end)
    [water] = report.monitoring.first_responses
    assert (water.questions, water.questions_answered, water.questions_median) == (
        2, 2, (4 + 1) * 3600 // 2,
    )  # fmt: skip
