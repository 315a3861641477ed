"""End to end on the console: members chat, thank each other, and the digest credits them."""

from datetime import timedelta

import pytest

from tests.helpers import running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""


async def test_a_week_of_chat_becomes_a_digest_that_credits_the_helper(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            "#water luis: How do you document water rights claims?",
            "#water ana: >1 We use a shared map with each claim and its evidence.",
            "#water luis: >2 Thanks @ana, that's exactly what I needed",
        )
        before = len(h.outbox)
        await h.advance(timedelta(days=7, hours=2))
        posts = h.sent_since(before, "post")
        assert len(posts) == 1 and posts[0].to == "#general"
        assert "- **Ana Quispe**: answered Luis Rojas's question in Water rights." in posts[0].text
