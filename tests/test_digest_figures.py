"""The digest's figures are right: who took part, which questions still wait and for how long."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.helpers import running_app

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
    return (await h.app.compose_digest("praxis", WEEK_END)).text


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
