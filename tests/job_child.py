"""A Trellis process for the kill -9 tests (``python3 -m tests.job_child SPEC.json``): the real app
on the test's SQLite file starts at the given time (running the jobs that fell due), with a
console that appends what it delivers to a file and hangs while delivering one message, as a
platform call that never returns, to be killed there."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from adapters.console import ConsoleAdapter
from bot.app import Trellis
from bot.clock import ManualClock
from bot.config import parse_settings
from tests.helpers import config


class RecordingConsole(ConsoleAdapter):
    def __init__(self, *args, record: Path, hang: list | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.record = record
        self.hang = hang
        """[kind, n]: the n-th message of that kind ("post", "direct") in this run hangs."""
        self.counts = {"post": 0, "direct": 0}

    async def send(self, channel, message):
        await self._deliver("post", channel.id, message.text)
        return await super().send(channel, message)

    async def send_direct(self, member, message):
        await self._deliver("direct", member.id, message.text)
        return await super().send_direct(member, message)

    async def _deliver(self, kind: str, to: str, text: str) -> None:
        self.counts[kind] += 1
        if self.hang == [kind, self.counts[kind]]:
            (self.record.parent / "hanging").write_text(to)
            await asyncio.Event().wait()  # the platform never answers; the test kills us here
        with self.record.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"kind": kind, "to": to, "text": text}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


async def main(spec: dict) -> None:
    data = config(**spec.get("config", {}))
    data["storage"] = {"path": spec["database"]}
    settings = parse_settings(data)
    clock = ManualClock(datetime.fromisoformat(spec["at"]))
    console = RecordingConsole(
        "praxis",
        clock,
        timezone="America/Lima",
        echo_chat=False,
        out=io.StringIO(),
        record=Path(spec["record"]),
        hang=spec.get("hang"),
    )
    app = await Trellis.open(settings, clock=clock, adapters=[console])
    try:
        await app.start(real_time=False)
    finally:
        await app.stop()


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
