"""Charts are drawn in the worker process (bot/worker.py), and the digest keeps its chart when that
process dies."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.services.digest import compose_week
from tests.helpers import running_app

WEEK_END = datetime(2026, 9, 14, 9, 0, tzinfo=ZoneInfo("America/Lima")).astimezone(UTC)


def drawing_processes() -> list[int]:
    """The pids of this process's children started by multiprocessing's spawn."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # ended while we looked
        if parent == os.getpid() and b"multiprocessing.spawn" in command:
            found.append(int(entry.name))
    return found


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
