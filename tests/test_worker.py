"""Charts are drawn in the worker process (bot/worker.py), and the digest keeps its chart when that
process dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.services.digest import compose_week
from tests.helpers import processes, running_app

WEEK_END = datetime(2026, 9, 14, 9, 0, tzinfo=ZoneInfo("America/Lima")).astimezone(UTC)


def drawing_processes() -> list[int]:
    """The pids of this process's children started by multiprocessing's spawn."""
    return processes(child_of=os.getpid(), command=b"multiprocessing.spawn")


def chart_of(message) -> bytes:
    (chart,) = [a for a in message.attachments if a.mime_type == "image/png"]
    return chart.data


async def test_the_digest_chart_is_drawn_in_a_worker_process_that_is_replaced_when_it_dies(
    tmp_path,
):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-08 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ rita joins as "Rita Souza"',
            "#water ana: We rotate the irrigation turns every season.",
            "#gender rita: The assembly now has a childcare corner.",
        )
        community = h.app.community("praxis")
        first = chart_of(await compose_week(community, WEEK_END))
        assert first.startswith(b"\x89PNG\r\n\x1a\n")
        (worker,) = drawing_processes()  # drawn there, not in a thread of this process

        os.kill(worker, signal.SIGKILL)
        again = chart_of(await compose_week(community, WEEK_END))

        assert again == first
        assert drawing_processes() not in ([], [worker])


def test_the_worker_process_ends_when_trellis_is_killed(tmp_path):
    """kill -9 leaves Trellis no time to stop its worker: the worker notices by itself."""
    script = tmp_path / "draw_then_die.py"
    script.write_text(
        "import asyncio, os, signal\n"
        "from bot.monitoring.charts import digest_chart\n"
        "from bot.worker import run_in_worker\n"
        "async def main():\n"
        "    await run_in_worker(digest_chart, ['a'], [1], [2], ('x', 'y', 'z'))\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    root = Path(__file__).resolve().parents[1]
    mark = f"TRELLIS_TEST_RUN={uuid.uuid4()}"
    name, value = mark.split("=")
    # Not through pipes: the worker inherits them, and reading to their end would wait for it.
    ran = subprocess.run(
        [sys.executable, str(script)], cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), name: value},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == -signal.SIGKILL
    assert processes(environment=mark), "the worker was not started, or has already gone"
    deadline = time.monotonic() + 10
    while processes(environment=mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes(environment=mark) == []
