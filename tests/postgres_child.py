"""One of several Trellis processes on one PostgreSQL database, for the several-process tests
(``python3 -m tests.postgres_child SPEC.json``): the real app at a fixed time, looking at its due
jobs every few tenths of a second, with a console that appends what it delivers to its own file
and may hang while delivering one message (to be killed there). It writes ``started`` beside its
record once its first look at the jobs is done, and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path

from bot.app import Trellis
from bot.clock import ManualClock
from bot.config import parse_settings
from tests.helpers import config
from tests.job_child import RecordingConsole


async def main(spec: dict) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    data = config(**spec.get("config", {}))
    data["storage"] = spec["storage"]
    settings = parse_settings(data)
    clock = ManualClock(datetime.fromisoformat(spec["at"]))
    record = Path(spec["record"])
    console = RecordingConsole(
        "praxis",
        clock,
        timezone="America/Lima",
        echo_chat=False,
        out=io.StringIO(),
        record=record,
        hang=spec.get("hang"),
    )
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    app = await Trellis.open(settings, clock=clock, adapters=[console])
    try:
        await app.start(real_time=False)
        record.with_suffix(".started").write_text("started")
        while not stopping.is_set():
            await app.run_due_jobs()
            await asyncio.sleep(0.3)
    finally:
        await app.stop()


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text())))
