"""Linked identities (issue 15): a member's Discord and Matrix accounts linked by a one-time code
or by a facilitator's proposal both confirm, then counted as one person everywhere; unlinked
again; forgotten together.

The community runs on the real engine and store with two console adapters standing in for the
two platforms (their member keys are ``discord:…`` and ``matrix:…``); the real Synapse and the
loopback Discord server meet in the bridge tests."""

from __future__ import annotations

import copy
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.console import ConsoleAdapter
from bot.app import Trellis
from bot.clock import ManualClock
from bot.config import parse_settings
from bot.monitoring.report import build_report
from bot.services import prompts
from bot.services.digest import compose_week
from storage import activity, identities, members, surveys
from tests.helpers import BASE_CONFIG, START, member_references, storage_config
from tests.test_query_plans import full_scans

on_both_backends = pytest.mark.usefixtures("backend")


class DiscordConsole(ConsoleAdapter):
    platform = "discord"


class SlashDiscordConsole(DiscordConsole):
    """Names commands in its answers as Discord's slash commands take them."""

    named_options = True


class MatrixConsole(ConsoleAdapter):
    """Commands are typed on it with / as on any console; Trellis's answers name them as Matrix
    types them."""

    platform = "matrix"
    command_prefix = "/"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.state.count = 1000  # its message ids are not Discord's, as on the real platforms


def _config() -> dict:
    data = copy.deepcopy(BASE_CONFIG)
    praxis = data["communities"]["praxis"]
    praxis["digest"]["channel"] = "discord:general"
    praxis["roles"] = {"facilitators": ["discord:fran"], "admins": []}
    praxis["themes"]["water"]["places"] = ["discord:water", "matrix:water"]
    praxis["themes"]["water"]["leaders"] = []
    praxis["themes"]["gender"]["places"] = ["discord:gender", "matrix:gender"]
    return data


class Community:
    """The test community on both stand-in platforms."""

    def __init__(self, app: Trellis, discord: ConsoleAdapter, matrix: ConsoleAdapter) -> None:
        self.app, self.clock = app, app.clock
        self.on = {"discord": discord, "matrix": matrix}

    @property
    def store(self):
        return self.app.store

    async def lines(self, platform: str, *lines: str) -> None:
        for line in lines:
            moment = await self.on[platform].feed(line)
            if moment is not None:
                await self.app.advance_to(moment)
        await self.app.engine.drain()

    async def command(self, platform: str, handle: str, text: str) -> str:
        outbox = self.on[platform].outbox
        before = len(outbox)
        await self.lines(platform, f"#general {handle}: {text}")
        answers = [sent for sent in outbox[before:] if sent.kind == "reply"]
        assert len(answers) == 1, f"expected one answer to {text!r}, got {answers}"
        return answers[0].text

    async def link(self, first: tuple[str, str], second: tuple[str, str]) -> str:
        given = await self.command(*first, "/link")
        code = re.search(r"link code is (\w+)", given)
        assert code is not None, given
        return await self.command(*second, f"/link {code[1]}")

    def directs(self, platform: str, handle: str) -> list[str]:
        return [
            sent.text
            for sent in self.on[platform].outbox
            if sent.kind == "direct" and sent.to == handle
        ]


@asynccontextmanager
async def community(
    tmp_path: Path, discord: type[ConsoleAdapter] = DiscordConsole
) -> AsyncIterator[Community]:
    data = _config()
    data["storage"] = await storage_config(tmp_path / "trellis.sqlite3")
    settings = parse_settings(data)
    clock = ManualClock(START)
    made = [
        kind("praxis", clock, timezone="America/Lima", echo_chat=False, out=io.StringIO())
        for kind in (discord, MatrixConsole)
    ]
    app = await Trellis.open(settings, clock=clock, adapters=made)
    await app.start(real_time=False)
    try:
        yield Community(app, *made)
    finally:
        await app.stop()


WEEK = (
    "@ 2026-09-08 10:00",
    '~ ana joins as "Ana Quispe"',
    '~ luis joins as "Luis Rojas"',
    "#water ana: Who sets the irrigation turns in your valley?",
    "#water luis: >1 The users' assembly, every March.",
)
MATRIX_WEEK = (
    '~ ana joins as "Ana Quispe"',
    "#water ana: We keep the turns in a shared spreadsheet, updated every Sunday.",
    "#water ana: And the assembly minutes go into the same folder for everyone.",
)


@on_both_backends
async def test_a_code_from_discord_typed_on_matrix_makes_one_person_of_both(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK)
        before = await c.command("discord", "fran", "/stats 7d")
        assert "3 people took part" in before
        given = await c.command("discord", "ana", "/link")
        code = re.search(r"link code is (\w+)", given)
        assert code is not None and "10 minutes" in given
        assert c.on["discord"].outbox[-1].to == "ana"  # for her eyes only, not #general
        # Only the hash is stored: the code itself is nowhere in the database.
        rows = await c.store.fetch_all("SELECT code_hash FROM link_codes")
        assert len(rows) == 1 and code[1] not in rows[0][0]
        linked = await c.command("matrix", "ana", f"/link {code[1]}")
        assert "Linked" in linked and "(discord)" in linked and "(matrix)" in linked
        after = await c.command("discord", "fran", "/stats 7d")
        assert "2 people took part" in after
        # Ana's three messages on both platforms are one person's.
        assert "Ana Quispe: 3 messages" in after
        mine = await c.command("matrix", "ana", "/mydata")
        assert "`discord:ana`" in mine and "`matrix:ana`" in mine
        assert "3 messages counted" in mine


@on_both_backends
async def test_expired_reused_and_own_codes_are_refused_with_one_sentence_each(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK, '~ rosa joins as "Rosa"', "#water rosa: Hola")
        given = await c.command("discord", "ana", "/link")
        code = re.search(r"link code is (\w+)", given)[1]
        own = await c.command("discord", "ana", f"/link {code}")
        assert "comes from this account" in own
        await c.app.advance_to(c.clock.now() + timedelta(minutes=11))
        expired = await c.command("matrix", "ana", f"/link {code}")
        assert "expired" in expired and "10 minutes" in expired
        code = re.search(r"link code is (\w+)", await c.command("discord", "ana", "/link"))[1]
        assert "Linked" in await c.command("matrix", "ana", f"/link {code.lower()}")
        reused = await c.command("matrix", "rosa", f"/link {code}")
        assert "already used" in reused
        unknown = await c.command("matrix", "rosa", "/link ZZZZ2222")
        assert "no link code" in unknown
        # None of the refusals linked anyone.
        rosa = await members.by_key(c.store, "praxis", "matrix:rosa")
        assert [a.key for a in await identities.accounts(c.store, rosa.id)] == ["matrix:rosa"]


async def test_the_code_is_shown_as_each_platform_types_it(tmp_path):
    async with community(tmp_path, discord=SlashDiscordConsole) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK)
        given = await c.command("discord", "ana", "/link code")
        code = re.search(r"link code is (\w+)", given)[1]
        # Discord takes the code as the option of /link code; Matrix after the command's word.
        assert (
            f"type `/link code code:{code}` (discord) or `/link {code}` (matrix) from your other "
            "account" in given
        )
        unknown = await c.command("matrix", "ana", "/link ZZZZ2222")
        assert "type `/link code` (discord) or `/link` (matrix) on your other account" in unknown
        alone = await c.command("discord", "ana", "/unlink")
        assert "`/link code` (discord) or `/link` (matrix) links it" in alone


@on_both_backends
async def test_a_code_from_another_community_is_refused(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        ana = await members.by_key(c.store, "praxis", "discord:ana")
        async with c.store.transaction() as tx:
            await tx.execute(
                "INSERT INTO members (community, member_key, display_name, first_seen_at) "
                "VALUES ('other', 'matrix:ana', 'Ana', 0)"
            )
            await identities.add_code(tx, ana.id, "ABCD2345", 1000)
        stranger = await members.by_key(c.store, "other", "matrix:ana")
        found = await identities.find_code(c.store, "abcd-2345")
        assert identities.refusal(found, stranger, 1001) is identities.CodeRefusal.OTHER_COMMUNITY
        assert identities.refusal(found, stranger, 1600) is identities.CodeRefusal.EXPIRED


@on_both_backends
async def test_a_facilitators_merge_waits_for_both_accounts_to_confirm(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK)
        proposed = await c.command("discord", "fran", "/merge discord:ana matrix:ana")
        assert "once both accounts confirm" in proposed
        # Each account is asked, on its own platform, with that platform's way of typing it.
        assert "/link confirm" in c.directs("discord", "ana")[-1]
        assert "/link confirm" in c.directs("matrix", "ana")[-1]
        refused = await c.command("discord", "ana", "/merge discord:ana matrix:ana")
        assert "Only facilitators" in refused
        first = await c.command("discord", "ana", "/link confirm")
        assert "once that account confirms too" in first
        again = await c.command("discord", "ana", "/link confirm")
        assert "confirmed already" in again
        assert "3 people took part" in await c.command("discord", "fran", "/stats 7d")
        second = await c.command("matrix", "ana", "/link confirm")
        assert "Both accounts confirmed" in second
        assert "2 people took part" in await c.command("discord", "fran", "/stats 7d")
        assert "already one person" in await c.command(
            "discord", "fran", "/merge discord:ana matrix:ana"
        )


@on_both_backends
async def test_forget_me_from_one_side_leaves_no_row_of_either_account(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK)
        await c.command("discord", "luis", "/kudos @ana for the assembly calendar")
        await c.command("matrix", "ana", "/profile set organisation:CANO")
        await c.link(("discord", "ana"), ("matrix", "ana"))
        ids = [
            (await members.by_key(c.store, "praxis", key)).id
            for key in ("discord:ana", "matrix:ana")
        ]
        done = await c.command("matrix", "ana", "/forget-me confirm")
        assert "deleted everything" in done
        for table, column in await member_references(c.store):
            marks = ", ".join(str(i) for i in ids)
            left = await c.store.fetch_all(f"SELECT 1 FROM {table} WHERE {column} IN ({marks})")
            assert left == [], f"{table}.{column} still holds a row of Ana"
        assert await members.is_forgotten(c.store, "praxis", "discord:ana")
        assert await members.is_forgotten(c.store, "praxis", "matrix:ana")
        # What she writes next on either platform is not tracked.
        await c.lines("discord", "#water ana: still here?")
        assert await members.by_key(c.store, "praxis", "discord:ana") is None


@on_both_backends
async def test_a_linked_person_answers_a_survey_once(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK)
        discord_ana = await members.by_key(c.store, "praxis", "discord:ana")
        matrix_ana = await members.by_key(c.store, "praxis", "matrix:ana")
        async with c.store.transaction() as tx:  # asked on both accounts, before they linked
            survey = await surveys.open_survey(tx, "praxis", "pulse", "2026-09", 1)
            for account in (discord_ana, matrix_ana):
                await surveys.invite(tx, survey.id, account.id, delivered=True)
        await c.link(("matrix", "ana"), ("discord", "ana"))
        assert "recorded" in await c.command("discord", "ana", "/pulse 4 3")
        again = await c.command("matrix", "ana", "/pulse 2 2")
        assert "already answered" in again
        async with c.store.transaction() as tx:
            assert not await surveys.answer(tx, survey.id, matrix_ana.id, min_group=1, ownership=1)
        answers = await c.store.fetch_all("SELECT count(*) FROM survey_answers")
        assert answers[0][0] == 1
        # The next survey asks the person once.
        asked = await surveys.members_to_ask(c.store, "praxis")
        assert [key for _, key in asked].count("discord:ana") + [key for _, key in asked].count(
            "matrix:ana"
        ) == 1


@on_both_backends
async def test_the_digest_levels_and_quiet_count_a_linked_person_once(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK)
        await c.link(("discord", "ana"), ("matrix", "ana"))
        preview = await c.command("discord", "fran", "/digest preview")
        assert "People taking part: 2" in preview and "New members: 2" in preview
        assert "from 2 people" in preview  # the water theme's writers
        # Kudos between one person's accounts are refused as self-credit.
        refused = await c.command("matrix", "ana", "/kudos discord:ana for the turns")
        assert "for someone else" in refused
        # Three weeks on, Ana's Discord account is silent but she writes on Matrix: not quiet.
        await c.lines(
            "matrix",
            "@ 2026-09-29 10:00",
            "#water ana: The October assembly moved to the 12th.",
        )
        quiet = await c.command("discord", "fran", "/quiet")
        assert "Luis Rojas" in quiet and "Ana" not in quiet
        stats = await c.command("discord", "fran", "/stats 4w")
        assert "3 peripheral" not in stats and "2 people took part" in stats
        # Silent on both, she is listed once, and nudged once, on Matrix, where she writes most.
        before = {platform: len(c.directs(platform, "ana")) for platform in c.on}
        await c.app.advance_to(c.clock.now() + timedelta(weeks=3))
        quiet = await c.command("discord", "fran", "/quiet")
        assert quiet.count("Ana Quispe") == 1
        # (Nothing reaches her Discord account: the month's surveys, too, ask her on Matrix.)
        assert len(c.directs("discord", "ana")) == before["discord"]
        written = c.directs("matrix", "ana")[before["matrix"] :]
        assert len([text for text in written if "missed your voice" in text]) == 1


@on_both_backends
async def test_unlink_splits_the_person_and_each_account_keeps_its_history(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK)
        await c.link(("discord", "ana"), ("matrix", "ana"))
        split = await c.command("matrix", "ana", "/unlink")
        assert "person of its own again" in split and "(discord)" in split
        stats = await c.command("discord", "fran", "/stats 7d")
        assert "3 people took part" in stats
        assert "Ana Quispe: 2 messages" in stats and "Ana Quispe: 1 message" in stats
        assert "not linked" in await c.command("matrix", "ana", "/unlink")


@on_both_backends
async def test_suggestions_list_likely_pairs_and_link_nobody(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK)
        found = await c.command("discord", "fran", "/link suggestions")
        assert "`discord:ana`" in found and "`matrix:ana`" in found and "the same name" in found
        assert "luis" not in found
        ana = await members.by_key(c.store, "praxis", "discord:ana")
        assert len(await identities.accounts(c.store, ana.id)) == 1
        refused = await c.command("discord", "ana", "/link suggestions")
        assert "Only facilitators" in refused


@on_both_backends
async def test_the_report_counts_a_linked_person_once_and_draws_them_as_one_node(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)  # Luis replies to Ana on Discord
        await c.lines(
            "matrix",
            '~ rosa joins as "Rosa Lima"',
            "#water rosa: Our valley votes the turns.",
            *MATRIX_WEEK[:2],
            "#water ana: >1001 Same in ours, by raised hands.",  # Ana replies to Rosa on Matrix
        )
        before = await c.command("discord", "fran", "/report 2026-W37")
        assert "4 of 5 members took part" in before
        await c.link(("discord", "ana"), ("matrix", "ana"))
        after = await c.command("discord", "fran", "/report 2026-W37")
        assert "3 of 4 members took part" in after
        report = await build_report(
            c.store, c.app.settings, "praxis", START - timedelta(days=1), START + timedelta(days=6)
        )
        # Ana, one node, is the only path between Luis and Rosa: the network's broker.
        assert [broker.name for broker in report.monitoring.brokers] == ["Ana Quispe"]


@on_both_backends
async def test_a_linked_persons_profile_commitments_and_optout_cover_every_account(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK)
        await c.command("matrix", "ana", "/profile set organisation:CANO expertise:irrigation")
        await c.command("matrix", "ana", "/commit write the assembly minutes by 2026-09-20")
        await c.link(("discord", "ana"), ("matrix", "ana"))
        # The profile written on Matrix is the person's, seen from Discord too, and listed once.
        shown = await c.command("discord", "luis", "/profile show discord:ana")
        assert "CANO" in shown
        assert (await c.command("discord", "fran", "/experts irrigation")).count("Ana Quispe") == 1
        # A commitment taken on Matrix is hers on Discord: listed, and hers to mark done.
        assert "assembly minutes" in await c.command("discord", "ana", "/commitments")
        number = re.search(r"- (\d+)\.", await c.command("discord", "ana", "/commitments"))[1]
        assert "Well done" in await c.command("discord", "ana", f"/done {number}")
        # Opting out on Discord opts out the Matrix account too.
        await c.command("discord", "ana", "/optout")
        for key in ("discord:ana", "matrix:ana"):
            assert (await members.by_key(c.store, "praxis", key)).opted_out
        await c.lines("matrix", "#water ana: This is not counted any more.")
        stats = await c.command("discord", "fran", "/stats 7d")
        assert "Ana" not in stats and "1 person took part" in stats
        await c.command("matrix", "ana", "/optin")
        for key in ("discord:ana", "matrix:ana"):
            assert not (await members.by_key(c.store, "praxis", key)).opted_out


@on_both_backends
async def test_linking_with_an_opted_out_account_keeps_the_person_opted_out(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK)
        await c.command("matrix", "ana", "/optout")
        await c.command("discord", "ana", "/nudges off")
        await c.link(("discord", "ana"), ("matrix", "ana"))
        for key in ("discord:ana", "matrix:ana"):
            account = await members.by_key(c.store, "praxis", key)
            assert account.opted_out and account.nudges_off


async def test_a_linked_persons_reads_find_their_rows_through_indexes(tmp_path):
    """On SQLite, where the plans are read: what counting per person adds (the persons' days,
    the account they write with most, their invitations) scans neither messages nor reactions."""
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK)
        await c.link(("discord", "ana"), ("matrix", "ana"))
        async with c.store.transaction() as tx:
            survey = await surveys.open_survey(tx, "praxis", "pulse", "2026-09", 1)
            ana = await members.by_key(tx, "praxis", "discord:ana")
            await surveys.invite(tx, survey.id, ana.id, delivered=True)
        statements: list[str] = []
        # Commands read on read-only connections of the store too: open them now, to record them.
        async with c.store.reading() as first, c.store.reading() as second:
            connections = [c.store.db, first.db, second.db]
        for connection in connections:
            await connection.set_trace_callback(statements.append)
        answers = [
            await c.command("discord", "fran", "/stats 7d"),
            await c.command("discord", "fran", "/quiet"),
            await c.command("discord", "fran", "/digest preview"),
            await c.command("matrix", "ana", "/mydata"),
            await c.command("matrix", "ana", "/pulse 4 4"),
            await c.command("discord", "fran", "/link suggestions"),
        ]
        for connection in connections:
            await connection.set_trace_callback(None)
        assert "2 people took part" in answers[0] and "recorded" in answers[4]
        assert len([sql for sql in statements if "person_id" in sql]) >= 8
        scanning = {}
        for sql in dict.fromkeys(statements):
            if re.search(r"\b(messages|reactions)\b", sql) and re.match(r"\s*(SELECT|WITH)", sql):
                plan = [row[3] for row in await c.store.fetch_all("EXPLAIN QUERY PLAN " + sql)]
                if scans := full_scans(sql, plan):
                    scanning[sql] = scans
        assert not scanning, "\n\n".join(f"{sql}\n  {steps}" for sql, steps in scanning.items())


@on_both_backends
async def test_linking_is_typed_in_spanish_or_portuguese_too(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", *MATRIX_WEEK)
        given = await c.command("discord", "ana", "/vincular")
        code = re.search(r"link code is (\w+)", given)[1]
        assert "Linked" in await c.command("matrix", "ana", f"/vincular {code}")
        assert "person of its own again" in await c.command("matrix", "ana", "/desvincular")


# A reply or a reaction names a post of its own platform: Ana's second account here is a second
# Discord account of hers (her phone's), linked like any other.
ASKED = (
    "@ 2026-09-08 10:00",
    '~ ana joins as "Ana Quispe"',
    '~ luis joins as "Luis Rojas"',
    '~ ana.phone joins as "Ana Q."',
    "#water ana: Who keeps the minutes of the assembly?",
    "#water luis: Does anyone have the 2025 rainfall figures?",
    "@ 2026-09-08 11:00",
    "#water ana.phone: >1 I do, they are in the shared folder.",  # Ana answers herself
    "#water ana.phone: >2 Yes, the station sent them in June.",  # and Luis
)
DIGEST_END = START + timedelta(days=7)


@on_both_backends
async def test_an_answer_from_ones_own_linked_account_is_no_answer(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *ASKED)
        apart = await c.command("discord", "fran", "/stats water 7d")
        assert "questions: 1 hour (2 of 2 answered)" in apart
        assert (
            "Questions waiting"
            not in (await compose_week(c.app.community("praxis"), DIGEST_END)).text
        )
        await c.link(("discord", "ana"), ("discord", "ana.phone"))
        text = (await compose_week(c.app.community("praxis"), DIGEST_END)).text
        waiting = text.split("### Questions waiting for an answer\n")[1].split("###")[0]
        assert "Who keeps the minutes" in waiting and "rainfall" not in waiting
        stats = await c.command("discord", "fran", "/stats water 7d")
        assert "questions: 1 hour (1 of 2 answered)" in stats
        # Her ✅ from the other account says her question is answered, as from the one that asked.
        await c.lines("discord", "#water ana.phone: +1 ✅")
        text = (await compose_week(c.app.community("praxis"), DIGEST_END)).text
        assert "Questions waiting" not in text


@on_both_backends
async def test_with_many_linked_accounts_an_answer_from_ones_own_is_still_no_answer(
    tmp_path, monkeypatch
):
    """Where a community has linked more accounts than are written into the statements, their
    persons are looked up in the members instead: the same questions wait."""
    monkeypatch.setattr(identities, "INLINE_PERSONS", 1)
    async with community(tmp_path) as c:
        await c.lines("discord", *ASKED)
        await c.link(("discord", "ana"), ("discord", "ana.phone"))
        text = (await compose_week(c.app.community("praxis"), DIGEST_END)).text
        waiting = text.split("### Questions waiting for an answer\n")[1].split("###")[0]
        assert "Who keeps the minutes" in waiting and "rainfall" not in waiting
        assert "questions: 1 hour (1 of 2 answered)" in await c.command(
            "discord", "fran", "/stats water 7d"
        )


@on_both_backends
async def test_a_prompt_answered_from_both_of_ones_accounts_has_one_responder(tmp_path):
    async with community(tmp_path) as c:
        await c.lines("discord", *WEEK)
        await c.lines("matrix", '~ ana joins as "Ana Quispe"')
        await c.command(
            "discord", "fran", "/prompt add water What does your water committee do best?"
        )
        await c.lines("discord", "@ 2026-09-08 12:00")
        await prompts.post_next(c.app.community("praxis"), "water", c.clock.now())
        await c.lines(
            "discord", "#water luis: >T1 It keeps the turns fair.", "#water ana: >T1 Ours too."
        )
        await c.lines("matrix", "#water ana: >T1 And it repairs the canal every May.")
        apart = (await compose_week(c.app.community("praxis"), DIGEST_END)).text
        assert "3 answered, 1 of them for the first time there." in apart
        await c.link(("discord", "ana"), ("matrix", "ana"))
        text = (await compose_week(c.app.community("praxis"), DIGEST_END)).text
        # Two persons answered, and Ana, who wrote in the theme before, is no new voice there
        # though her Matrix account never had.
        assert "2 answered, 0 of them for the first time there." in text


@on_both_backends
async def test_replies_and_reactions_between_ones_accounts_are_not_received(tmp_path):
    async with community(tmp_path) as c:
        await c.lines(
            "discord",
            *WEEK,
            '~ ana.phone joins as "Ana Q."',
            "#water ana.phone: >1 Adding to my own question: and who settles disputes?",
            "#water ana.phone: +1 👍",
            "#water luis: +3 👍",
        )

        async def ties() -> int:
            report = await build_report(c.store, c.app.settings, "praxis", START, DIGEST_END)
            return report.monitoring.ties

        assert await ties() == 3  # Luis and each of Ana's accounts, and her accounts together
        await c.link(("discord", "ana"), ("discord", "ana.phone"))
        assert await ties() == 1  # Luis and Ana
        ana = await members.by_key(c.store, "praxis", "discord:ana")
        figures = await activity.activity(
            c.store, "praxis", int(START.timestamp()), int(DIGEST_END.timestamp())
        )
        # Luis's reply and reaction are received; what she gave herself from her phone is not.
        assert figures[ana.person].replies_received == 1
        assert figures[ana.person].reactions_received == 1
        assert figures[ana.person].messages == 2 and figures[ana.person].replies_given == 1
        stats = await c.command("discord", "fran", "/stats 7d")
        assert "Ana Quispe: 2 messages, 1 reply received" in stats


@on_both_backends
async def test_the_reports_weekly_levels_count_a_linked_person_once_with_their_days_as_one(
    tmp_path,
):
    async with community(tmp_path) as c:
        # Ana writes six messages on each platform over the same four days: twelve messages, as
        # many as a core member writes, but on four days, not the six a core member is active on.
        for day in (8, 9, 10, 11):
            await c.lines("discord", f"@ 2026-09-{day:02} 10:00")
            if day == 8:
                await c.lines("discord", *WEEK[1:3])
                await c.lines("matrix", '~ ana joins as "Ana Quispe"')
            count = 2 if day < 10 else 1
            for n in range(count):
                await c.lines("discord", f"#water ana: Turn notes, day {day}, part {n}.")
                await c.lines("matrix", f"#water ana: Canal notes, day {day}, part {n}.")
        await c.lines("discord", "#water luis: Thanks for the notes.")
        start, end = START - timedelta(days=1), START + timedelta(days=6)

        async def week() -> tuple[int, int, int, int]:
            report = await build_report(c.store, c.app.settings, "praxis", start, end)
            last = report.monitoring.levels[-1]
            return last.core, last.active, last.peripheral, last.inactive

        apart = await week()
        assert apart[:3] == (0, 2, 1)  # each account active, Luis peripheral
        await c.link(("discord", "ana"), ("matrix", "ana"))
        together = await week()
        # One member less in the week, Ana active once; her days are four, not eight: not core.
        assert together[:3] == (0, 1, 1) and sum(together) == sum(apart) - 1
