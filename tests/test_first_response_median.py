"""The median time to first response is the middle answered question's, or halfway between the
middle two: counted in SQL, on both backends, as a facilitator reads it in `stats`."""

from __future__ import annotations

import pytest

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
