"""Commands are answered beside the writer: storing chat never waits for an answer, and an
answer counts everything said before its command."""

from __future__ import annotations

import asyncio

import pytest

from adapters.console import ConsoleAdapter
from tests.helpers import running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""


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
