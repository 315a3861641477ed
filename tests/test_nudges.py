"""Nudges reach exactly the members who qualify, once per cooldown, never those who said no."""

import pytest

from tests.helpers import config, running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""


def directs(h, since: int = 0) -> dict[str, str]:
    return {sent.to: sent.text for sent in h.outbox[since:] if sent.kind == "direct"}


async def test_quiet_members_get_one_kind_nudge_per_cooldown(tmp_path):
    # Nudge scans run daily at 10:00; newcomers after 7 days, the silent after 2 weeks.
    async with running_app(tmp_path, config(**{"nudges.cooldown_days": 14})) as h:
        await h.lines(
            "@ 2026-09-07 11:00",
            '~ ana joins as "Ana Quispe"',  # posts all along: never nudged
            '~ nora joins as "Nora Quispe"',  # joins and never speaks: newcomer nudge
            '~ tito joins as "Tito Paz"',  # speaks in week 1 only: silent nudge later
            '~ olga joins as "Olga Ruiz"',  # never speaks but opts out: never nudged
            '~ nico joins as "Nico Vera"',  # never speaks but turns nudges off
            '~ bot1 joins as bot "Helper Bot"',  # a bot: never nudged
            "#general olga: /optout",
            "#general nico: /nudges off",
            "#water tito: Hello all, I work on irrigation in Cusco.",
            "#general fran: /prompt add water What is one thing your water committee does well?",
        )
        welcome_count = len(h.outbox)
        # 8 days later: only Nora is a newcomer who has not spoken for 7 days.
        await h.lines("#water ana: Morning!", "@ 2026-09-15 10:30")
        first = directs(h, welcome_count)
        assert set(first) == {"nora"}
        assert "good to have you in Praxis Network" in first["nora"]
        assert "/nudges off" in first["nora"]
        # Three weeks in, Tito has been silent for 2 weeks; Nora is within her cooldown.
        mark = len(h.outbox)
        await h.lines("#water ana: Still here.", "@ 2026-09-22 10:30")
        second = directs(h, mark)
        assert set(second) == {"tito"}
        assert "missed your voice" in second["tito"]
        # The prompt of the theme Tito took part in is offered once it has been posted.
        # After Nora's cooldown (14 days), she is nudged once more, and only once.
        mark = len(h.outbox)
        await h.lines("#water ana: And still.", "@ 2026-09-29 10:30", "@ 2026-09-30 10:30")
        third = [sent.to for sent in h.outbox[mark:] if sent.kind == "direct"]
        assert third == ["nora"]
        quiet = await h.command("fran", "/quiet")
        assert "Nora Quispe: joined 2026-09-07, has not posted yet (nudged 2026-09-29)" in quiet
        assert "Nico Vera" in quiet and "turned nudges off" in quiet
        assert "Olga" not in quiet and "Helper Bot" not in quiet


async def test_the_daily_cap_holds_back_the_rest_until_the_next_day(tmp_path):
    async with running_app(tmp_path, config(**{"nudges.daily_cap": 2})) as h:
        await h.lines("@ 2026-09-07 11:00", *(f"~ m{i} joins" for i in range(5)))
        mark = len(h.outbox)
        await h.lines("@ 2026-09-15 10:30")
        assert len(directs(h, mark)) == 2
        await h.lines("@ 2026-09-16 10:30")
        assert len(directs(h, mark)) == 4
        await h.lines("@ 2026-09-17 10:30")
        assert len(directs(h, mark)) == 5


async def test_nudges_can_be_switched_off_for_the_whole_community(tmp_path):
    async with running_app(tmp_path, config(**{"nudges.enabled": False})) as h:
        await h.lines("@ 2026-09-07 11:00", "~ nora joins", "@ 2026-09-20 10:30")
        assert directs(h, 1) == {}


async def test_those_who_run_the_community_are_not_newcomers_and_reactors_are_thanked(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 11:00",
            '~ fran joins as "Fran Facilitadora"',  # facilitator: runs commands, never posts
            '~ lena joins as "Lena Lidera"',  # leads the water theme
            '~ root joins as "Root Admin"',
            '~ rosa joins as "Rosa Mora"',  # only reacts
            '~ nora joins as "Nora Quispe"',  # says nothing at all
            "#water ana: Our committee met today.",
            "#water rosa: +1 🙏",
            "#general fran: /prompt list",
        )
        mark = len(h.outbox)
        await h.lines("#water ana: Morning!", "@ 2026-09-15 10:30")
        nudged = directs(h, mark)
        assert set(nudged) == {"rosa", "nora"}
        assert "Thank you for your reactions in Praxis Network" in nudged["rosa"]
        assert "good to have you in Praxis Network" in nudged["nora"]
        quiet = await h.command("fran", "/quiet")
        assert (
            "Rosa Mora: joined 2026-09-07, has not posted yet (reacts to others' messages;" in quiet
        )
        assert "Nora Quispe" in quiet
        assert not any(name in quiet for name in ("Fran", "Lena", "Root"))
