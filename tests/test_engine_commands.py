"""Commands are answered beside the writer: storing chat never waits for an answer, and an
answer counts everything said before its command."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from adapters.console import ConsoleAdapter
from bot.engine import Engine
from bot.events import ChannelRef, CommandInvoked, MemberRef
from storage.ingest import MemberCache
from tests.helpers import running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


class SlowAnswers(ConsoleAdapter):
    """A platform that takes its time to accept an answer (a slow API call), until released."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.released = asyncio.Event()

    async def reply(self, invocation, message, *, private) -> None:
        await self.released.wait()
        await super().reply(invocation, message, private=private)


async def test_chat_is_stored_while_a_command_is_being_answered(tmp_path):
    async with running_app(tmp_path, console_class=SlowAnswers) as h:
        await h.lines("~ ana joins as Ana", "#water ana: One.", "#water ana: Two.")
        engine = h.app.engine
        await h.console.feed("#general ana: /mydata")
        for number in range(50):
            await h.console.feed(f"#water luis: message {number}")
        for _ in range(200):
            (stored,) = await h.store.fetch_one("SELECT count(*) FROM messages")
            if stored == 52:
                break
            await asyncio.sleep(0.02)
        assert stored == 52, "the 50 messages after the command are stored before it is answered"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(engine.drain(), 0.3)  # drain also waits for the answer
        h.console.released.set()
        await asyncio.wait_for(engine.drain(), 10)
        (answer,) = [sent.text for sent in h.outbox if sent.kind == "reply"]
        assert "2 messages counted" in answer, "the answer counts what was said before it"


async def test_quick_commands_never_wait_behind_a_long_one_even_after_slow_answers(tmp_path):
    async with running_app(tmp_path) as h:
        store, themes = h.store, h.app.engine.themes
        answered: list[str] = []
        slow = {"report": 3, "recap": 3, "mydata": 1}  # answers each takes 0.25 s, first ones
        held = asyncio.Event()

        async def on_command(command: CommandInvoked) -> None:
            if slow.get(command.command, 0) > 0:
                slow[command.command] -= 1
                await asyncio.sleep(0.25)
            elif command.command == "report":
                await held.wait()  # the long command now holds its lane until released
            answered.append(command.command)

        engine = Engine(store, themes, on_command, member_cache=MemberCache())
        engine.start()
        try:

            async def ask(name: str) -> None:
                place = ChannelRef("console", "general", name="general")
                member = MemberRef("console", "ana", display_name="Ana")
                await engine.accept(CommandInvoked("praxis", place, member, name, NOW))

            # Three slow answers make `report` and `recap` long; one slow answer of `mydata`
            # (a busy moment) does not.
            for name in ("report", "recap", "mydata", "report", "recap", "report", "recap"):
                await ask(name)
                await engine.drain()
            await ask("report")
            await asyncio.sleep(0.1)
            for _ in range(3):
                await ask("mydata")
            for _ in range(8):
                await ask("recap")  # quick now, but known as long: one in eight is timed again
            for _ in range(100):
                if answered.count("mydata") == 4 and answered.count("recap") == 4:
                    break
                await asyncio.sleep(0.02)
            assert answered.count("mydata") == 4, "mydata waited behind the long report"
            assert answered.count("recap") == 4, "one recap was timed in the quick lane"
            held.set()
            await asyncio.wait_for(engine.drain(), 10)
            assert answered.count("recap") == 11
            # Found quick again, recap no longer waits behind a long command.
            held.clear()
            await ask("report")
            await asyncio.sleep(0.1)
            await ask("recap")
            for _ in range(100):
                if answered.count("recap") == 12:
                    break
                await asyncio.sleep(0.02)
            assert answered.count("recap") == 12
            held.set()
        finally:
            await engine.stop()
