"""One command pipeline: a command's writes land in one unit of work, so a command that fails
half-way changes nothing, and whatever went wrong is answered (with an error id the log keeps)."""

from __future__ import annotations

import logging
import re

import pytest

from bot.commands.context import CommandContext, CommandError
from bot.commands.router import CommandRouter
from bot.commands.spec import CommandSpec, Param, ParamKind
from bot.events import ChannelRef, CommandInvoked, MemberRef
from storage import facilitation, members
from tests.helpers import running_app


async def _queue_then_fail(ctx: CommandContext, text: str) -> str:
    async with ctx.transaction() as tx:
        await facilitation.add_prompt(tx, ctx.community.id, "water", text, ctx.member.id, 1)
        await members.set_nudges(tx, ctx.member.id, on=False)
        if text == "bad":
            raise CommandError("“{text}” cannot be queued.", text=text)
        raise OSError("the disk is gone")  # anything unexpected, after the first writes


async def _two_units(ctx: CommandContext, text: str) -> str:
    async with ctx.transaction() as tx:
        await members.set_nudges(tx, ctx.member.id, on=False)
    async with ctx.transaction() as tx:
        await facilitation.add_prompt(tx, ctx.community.id, "water", text, ctx.member.id, 1)
    return "queued"


SPECS = (
    CommandSpec(
        "halfway", "Writes, then fails.", _queue_then_fail, (Param("text", ParamKind.TEXT, "…"),)
    ),
    CommandSpec("twice", "Opens two units.", _two_units, (Param("text", ParamKind.TEXT, "…"),)),
)


async def _run(h, router: CommandRouter, handle: str, line: str) -> str:
    command, _, text = line.partition(" ")
    before = len(h.outbox)
    await router.handle(
        CommandInvoked(
            "praxis",
            ChannelRef("console", "general"),
            MemberRef("console", handle, handle.title()),
            command,
            h.clock.now(),
            text,
        )
    )
    (answer,) = [sent.text for sent in h.outbox[before:] if sent.kind == "reply"]
    return answer


@pytest.mark.parametrize("handle", ["ana", "newcomer"])  # a member Trellis knows, one it does not
async def test_a_command_that_fails_after_its_first_write_leaves_the_store_unchanged(
    tmp_path, caplog, handle
):
    async with running_app(tmp_path) as h:
        await h.say("ana", "water", "hello")
        router = CommandRouter(h.app.communities, SPECS)
        before = await members.by_key(h.store, "praxis", f"console:{handle}")

        with caplog.at_level(logging.ERROR):
            answer = await _run(h, router, handle, "halfway soil")
        error_id = re.search(r"as error ([0-9a-f]{8})", answer).group(1)
        assert "Something went wrong with /halfway" in answer
        assert any(error_id in record.getMessage() for record in caplog.records)

        refused = await _run(h, router, handle, "halfway bad")
        assert refused.startswith("“bad” cannot be queued.\nUsage: /halfway")

        assert await facilitation.prompts(h.store, "praxis", "water") == []
        assert await members.by_key(h.store, "praxis", f"console:{handle}") == before


async def test_a_command_has_one_unit_of_work(tmp_path, caplog):
    async with running_app(tmp_path) as h:
        await h.say("ana", "water", "hello")
        router = CommandRouter(h.app.communities, SPECS)
        with caplog.at_level(logging.ERROR):
            answer = await _run(h, router, "ana", "twice soil")
        assert "Something went wrong with /twice" in answer
        assert any(
            "opened a second unit of work" in r.exc_text for r in caplog.records if r.exc_text
        )
        assert await facilitation.prompts(h.store, "praxis", "water") == []
