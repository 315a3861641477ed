"""The welcome message on join: the charter, the themes with their learning goals, how to set a
profile; sent once, never to bots, and never to members who were forgotten."""

from __future__ import annotations

import pytest

from tests.helpers import config, running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

CHARTER = "We learn together about water and inclusion. Be kind; share what works and what fails."


async def test_a_newcomer_is_welcomed_once_with_charter_themes_and_profile_help(tmp_path):
    async with running_app(tmp_path, config(**{"communities.praxis.charter": CHARTER})) as h:
        await h.lines('~ ana joins as "Ana Quispe"', '~ helper joins as bot "Helper"')
        welcomes = h.sent_since(0, "direct")
        assert [w.to for w in welcomes] == ["ana"]
        text = welcomes[0].text
        assert text.startswith("**Welcome to Praxis Network, Ana Quispe!**\n\n" + CHARTER)
        assert "- **Water rights**: Share how communities defend their water." in text
        assert "- **Gender and inclusion**: Make participation fairer." in text
        assert "/profile set organisation:… expertise:… languages:… prefers:…" in text
        assert "/mydata" in text and "/optout" in text

        await h.lines("~ ana leaves", '~ ana joins as "Ana Quispe"')
        assert len(h.sent_since(0, "direct")) == 1


async def test_a_forgotten_member_who_rejoins_is_not_welcomed_or_recorded(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines("~ luis joins as Luis")
        await h.command("luis", "/forget-me confirm")
        before = len(h.outbox)
        await h.lines("~ luis leaves", "~ luis joins as Luis")
        assert h.sent_since(before, "direct") == []
        (welcomes,) = await h.store.fetch_one("SELECT count(*) FROM welcomes")
        assert welcomes == 0
