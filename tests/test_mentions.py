"""How each adapter names a member in what Trellis posts: never a ping, never markup."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.console import ConsoleAdapter
from adapters.discord.adapter import DiscordAdapter
from adapters.matrix.adapter import MatrixAdapter
from bot.clock import ManualClock
from bot.config import parse_settings
from bot.events import MemberRef
from bot.outgoing import literal
from tests.helpers import START, running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

HOSTILE = "**Ana** @everyone @room"


def settings(tmp_path: Path, *, mention_credited_members: bool = False):
    return parse_settings(
        {
            "storage": {"path": str(tmp_path / "trellis.sqlite3")},
            "adapters": {
                "discord": {"enabled": True, "mention_credited_members": mention_credited_members},
                "matrix": {
                    "enabled": True,
                    "homeserver": "http://127.0.0.1:1",
                    "user_id": "@trellis:example.org",
                },
            },
            "communities": {"water": {"name": "Water network"}},
        }
    )


async def test_console_and_matrix_name_members_as_written_but_inert(tmp_path: Path) -> None:
    console = ConsoleAdapter("water", ManualClock(START))
    assert console.mention(MemberRef("console", "ana", HOSTILE)) == literal(HOSTILE)
    matrix = MatrixAdapter(settings(tmp_path))
    named = matrix.mention(MemberRef("matrix", "@ana:example.org", HOSTILE))
    assert named == literal(HOSTILE)
    assert "@everyone" not in named and "@room" not in named and "**" not in named
    assert not console.mention_credited_members and not matrix.mention_credited_members


def test_discord_names_a_member_with_a_mention_only_when_configured(tmp_path: Path) -> None:
    plain = DiscordAdapter(settings(tmp_path), "token", clock=ManualClock(START))
    assert not plain.mention_credited_members
    mentioning = DiscordAdapter(
        settings(tmp_path, mention_credited_members=True), "token", clock=ManualClock(START)
    )
    assert mentioning.mention_credited_members
    # The display name plays no part: Discord shows the member's current name for the id.
    assert mentioning.mention(MemberRef("discord", "123456789012345678", HOSTILE)) == (
        "<@123456789012345678>"
    )


def test_each_adapter_reads_only_its_own_platforms_mention_of_a_member(tmp_path: Path) -> None:
    discord = DiscordAdapter(settings(tmp_path), "token", clock=ManualClock(START))
    assert discord.member_from_mention("<@123456789012345678>") == MemberRef(
        "discord", "123456789012345678"
    )
    assert discord.member_from_mention("<@!42>") == MemberRef("discord", "42")
    for not_a_member in ("<@&42>", "<#42>", "@ana", "<@42> and more"):
        assert discord.member_from_mention(not_a_member) is None
    console = ConsoleAdapter("water", ManualClock(START))
    matrix = MatrixAdapter(settings(tmp_path))
    assert console.member_from_mention("<@42>") is None
    assert matrix.member_from_mention("<@42>") is None


class BracketConsole(ConsoleAdapter):
    """A console whose members are mentioned as [[handle]]: a platform syntax the core does not
    know."""

    def member_from_mention(self, text: str) -> MemberRef | None:
        if text.startswith("[[") and text.endswith("]]"):
            return MemberRef("console", text[2:-2])
        return None


async def test_a_command_asks_the_adapter_what_a_mention_names(tmp_path: Path) -> None:
    async with running_app(tmp_path, console_class=BracketConsole) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            "#water ana: The well log template is in the drive.",
        )
        answer = await h.command("luis", "/kudos [[ana]] for the well log template")
        assert "Ana Quispe" in answer
        unknown = await h.command("luis", "/kudos [[nobody]] for nothing")
        assert "nobody" in unknown and "Ana" not in unknown
