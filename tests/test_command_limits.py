"""Every command is answered within one message: hostile numbers and dates, huge input, long lists
and unexpected failures each get a short answer, and a refused command changes nothing."""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import timedelta

import pytest

from bot.events import ChannelRef, CommandInvoked, MemberRef
from tests.helpers import running_app
from tests.test_bad_input import snapshot

DISCORD_LIMIT = 2000

HOSTILE = [
    ("fran", "/prompt remove 99999999999999999999", "“99999999999999999999” is too long a number"),
    ("ana", "/done 99999999999999999999", "“99999999999999999999” is too long a number"),
    ("ana", "/done " + "9" * 4301, "That command is 4301 characters long"),
    ("ana", "/pulse " + "7" * 300 + " 3", "<satisfaction> is 300 characters long"),
    ("fran", "/stats 40000000h", "“40000000h” is longer than Trellis goes"),
    ("fran", "/stats 9999-W52", "“9999-W52” is outside the years Trellis works with"),
    ("fran", "/stats 9999-12", "“9999-12” is outside the years Trellis works with"),
    ("fran", "/stats 0000-01", "“0000-01” is outside the years Trellis works with"),
    ("fran", "/stats water 2026-Q4..2026-Q1", "“2026-Q4” is not a date"),
    ("fran", "/report 0000", "“0000” is outside the years Trellis works with"),
    ("fran", "/report 276710w", "“276710w” is longer than Trellis goes"),
    ("fran", "/report 5000w", "“5000w” is longer than Trellis goes; give at most 1098 days"),
    ("fran", "/report 2000-01-01..2099-12-31", "“2000-01-01..2099-12-31” is longer than"),
    ("ana", "/event add Party 9999-12-31 23:59", "“9999-12-31 23:59” is outside the years"),
    ("ana", "/commit write the census by 9999-12-31", "“9999-12-31” is outside the years"),
    ("ana", "/kudos @luis " + "so kind " * 80, "<reason> is 639 characters long"),
    ("ana", "/" + "x" * 10_000, "“/xxxxxxxx"),
    ("fran", "/stats " + "y" * 585_000, "That command is 585000 characters long"),
    ("fran", "/stats " + "z" * 300, "<period> is 300 characters long"),
    ("ana", "/help 7", "There is no page 7; this list has pages 1 to"),
]


@pytest.mark.parametrize(
    ("who", "line", "start"), HOSTILE, ids=[line[:40] for _, line, _ in HOSTILE]
)
async def test_hostile_input_gets_one_short_sentence_and_changes_nothing(
    tmp_path, who, line, start
):
    async with running_app(tmp_path) as h:
        await h.lines('~ ana joins as "Ana Quispe"', '~ luis joins as "Luis Rojas"', "~ fran joins")
        await h.lines("#water luis: Hello water people")
        before = snapshot(tmp_path / "trellis.sqlite3")
        answer = await h.command(who, line)
        assert snapshot(tmp_path / "trellis.sqlite3") == before
    sentence = answer.split("\n")[0]
    assert sentence.startswith(start)
    quoted = re.findall(r"“([^”]*)”", sentence)
    assert all(len(text) <= 60 for text in quoted), quoted
    assert len(answer) < 400


async def test_a_command_that_fails_unexpectedly_is_answered_with_the_error_id_in_the_log(
    tmp_path, caplog
):
    async with running_app(tmp_path) as h:
        await h.lines('~ ana joins as "Ana Quispe"', '~ luis joins as "Luis Rojas"')
        # A store damaged under the running bot: the command cannot do its work.
        db = sqlite3.connect(tmp_path / "trellis.sqlite3")
        db.execute("DROP TABLE credits")
        db.commit()
        db.close()
        with caplog.at_level(logging.ERROR, logger="bot.commands.router"):
            answer = await h.command("ana", "/kudos @luis for the water map")
            after = await h.command("ana", "/themes")
    match = re.fullmatch(
        r"Something went wrong with /kudos, so it may not have been done; the problem is logged "
        r"as error ([0-9a-f]{8}): try again later, or give a facilitator that code\.",
        answer,
    )
    assert match, answer
    logged = [record for record in caplog.records if match.group(1) in record.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None and "credits" in str(logged[0].exc_info[1])
    assert after.startswith("**Themes of Praxis Network**"), "the bot keeps answering"


async def test_a_refused_command_from_someone_never_seen_leaves_no_member_row(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines('~ ana joins as "Ana Quispe"')
        refused = [
            await h.command("zed", "/done 5"),
            await h.command("zed", "/kudos @nobody for nothing"),
            await h.command("zed", "/commit something by 2001-01-01"),
            await h.command("zed", "/stats"),
        ]
        db = sqlite3.connect(tmp_path / "trellis.sqlite3")
        unseen = db.execute("SELECT count(*) FROM members WHERE member_key = 'console:zed'")
        rows_after_refusals = unseen.fetchone()[0]
        accepted = await h.command("zed", "/commit map the wells by 2026-12-01")
        seen = db.execute("SELECT count(*) FROM members WHERE member_key = 'console:zed'")
        rows_after_acceptance = seen.fetchone()[0]
        db.close()
    assert all("\nUsage: " in answer for answer in refused), refused
    assert rows_after_refusals == 0
    assert accepted.startswith("Noted: commitment 1, “map the wells”")
    assert rows_after_acceptance == 1


def _pages_of(answers: list[str]) -> list[str]:
    return [line for answer in answers for line in answer.split("\n") if line.startswith("- ")]


async def test_long_lists_page_within_one_message_and_say_how_many_more(tmp_path):
    names = [f"Member {n:02d} of the Lima water committee" for n in range(80)]
    async with running_app(tmp_path) as h:
        await h.lines(*(f'~ m{n:02d} joins as "{name}"' for n, name in enumerate(names)))
        await h.lines("~ fran joins", *(f"#water m{n:02d}: Our well is dry" for n in range(80)))
        experts = [await h.command("ana", "/experts water")]
        while match := re.search(r"on the next pages?: (/experts water \d+)$", experts[-1]):
            experts.append(await h.command("ana", match.group(1)))
        await h.advance(timedelta(weeks=3))
        await h.lines("#general fran: back from holidays")
        quiet = [await h.command("fran", "/quiet")]
        while match := re.search(r"on the next pages?: (/quiet \d+)$", quiet[-1]):
            quiet.append(await h.command("fran", match.group(1)))
    assert len(experts) > 2
    first_page = experts[0].count("\n- ")
    assert experts[0].endswith(f"\n… {80 - first_page} more on the next pages: /experts water 2")
    assert all(len(answer) <= DISCORD_LIMIT for answer in experts + quiet)
    listed = _pages_of(experts)
    assert len(listed) == len(set(listed)) == 80
    assert {re.match(r"- \*\*(.+?)\*\*", line).group(1) for line in listed} == set(names)
    assert len(quiet) >= 2
    quiet_names = {line[2:].split(":")[0] for line in _pages_of(quiet)}
    assert quiet_names == set(names)


async def test_a_topic_ending_in_a_number_is_quoted_to_tell_it_from_a_page(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines('~ ana joins as "Ana Quispe"', '~ luis joins as "Luis Rojas"')
        await h.command("luis", "/profile set expertise:agenda 2030, soils")
        quoted = await h.command("ana", '/experts "agenda 2030"')
        paged = await h.command("ana", '/experts "agenda 2030" 1')
        unquoted = await h.command("ana", "/experts agenda 2030")
    assert quoted.startswith("Who to ask about “agenda 2030”:\n- **Luis Rojas**")
    assert paged == quoted
    assert unquoted.startswith("There is no page 2030; this list has pages 1 to 1.")


async def test_a_list_asked_with_typed_options_names_its_next_page_as_options(tmp_path):
    """What Discord's slash commands send: options by name, the page one of them."""
    async with running_app(tmp_path) as h:
        await h.lines(
            *(
                f'~ m{n:02d} joins as "Member {n:02d} of the Lima water committee"'
                for n in range(60)
            )
        )
        await h.lines(*(f"#water m{n:02d}: Our well is dry" for n in range(60)))

        async def ask(*options: tuple[str, str]) -> str:
            before = len(h.outbox)
            await h.app.engine.accept(
                CommandInvoked(
                    community="praxis",
                    channel=ChannelRef("console", "general"),
                    member=MemberRef("console", "m00", "Member 00 of the Lima water committee"),
                    command="experts",
                    occurred_at=h.clock.now(),
                    options=options,
                )
            )
            await h.app.engine.drain()
            (answer,) = h.sent_since(before, "reply")
            return answer.text

        first = await ask(("topic", "water"))
        second = await ask(("topic", "water"), ("page", "2"))
    assert re.search(r"\n… \d+ more on the next pages?: /experts topic:water page:2$", first)
    assert second.startswith("Who to ask about “water”:\n- **Member")
    assert not set(second.split("\n")[1:]) & set(first.split("\n")[1:])
