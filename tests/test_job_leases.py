"""kill -9 while a scheduled job talks to the platform (a real Trellis process); the next start
does that run once, and the next digest preview tells the facilitators."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from storage.jobs import RunTrouble, note_run_trouble, run_troubles
from tests.helpers import config, running_app

ROOT = Path(__file__).resolve().parents[1]


def killed_while_delivering(folder: Path, at: str, kind: str, nth: int, **overrides) -> list:
    """Run Trellis (tests/job_child.py) from ``at`` on the test's database, kill -9 it while the
    ``nth`` message of ``kind`` is being sent, and return what it delivered before."""
    record, marker, spec = folder / "delivered.jsonl", folder / "hanging", folder / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "database": str(folder / "trellis.sqlite3"),
                "record": str(record),
                "at": at,
                "hang": [kind, nth],
                "config": overrides,
            }
        )
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.job_child", str(spec)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the job never started sending"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    process.stderr.close()
    lines = record.read_text(encoding="utf-8").splitlines() if record.exists() else []
    return [json.loads(line) for line in lines]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a_digest_killed_while_posting_is_posted_once_and_the_preview_says_so(tmp_path):
    async with running_app(tmp_path, start=at("2026-09-07T10:00-05:00")) as h:
        await h.lines("~ ana joins as Ana", "#water ana: Notes on irrigation.")
    before = killed_while_delivering(tmp_path, "2026-09-14T09:05-05:00", "post", 1)
    assert before == []
    async with running_app(tmp_path, start=at("2026-09-14T09:30-05:00")) as h:
        digests = h.sent_since(0, "post")
        assert len(digests) == 1 and "1 message from 1 person" in digests[0].text
        preview = await h.command("fran", "/digest preview")
        assert "Scheduled runs that went wrong this week" in preview
        assert "digest:praxis, due 14/09 09:00: interrupted (Trellis stopped during it)" in preview
    async with running_app(tmp_path, start=at("2026-09-14T10:00-05:00")) as h:
        assert h.sent_since(0, "post") == [], "posted once, not again at the next start"


async def test_a_prompt_killed_while_posting_is_posted_once(tmp_path):
    weekly = config(**{"communities.praxis.themes.water.prompt_cron": "0 10 * * tue"})
    async with running_app(tmp_path, weekly, start=at("2026-09-07T10:00-05:00")) as h:
        await h.command("lena", "/prompt add water What works for you?")
    killed_while_delivering(
        tmp_path,
        "2026-09-08T10:05-05:00",
        "post",
        1,
        **{"communities.praxis.themes.water.prompt_cron": "0 10 * * tue"},
    )
    async with running_app(tmp_path, weekly, start=at("2026-09-08T10:30-05:00")) as h:
        await h.set_time(at("2026-09-15T09:00-05:00"))
        prompts = [s for s in h.sent_since(0, "post") if "What works for you?" in s.text]
        assert [s.to for s in prompts] == ["#water"]


async def test_a_nudge_round_killed_mid_way_nudges_each_member_once(tmp_path):
    async with running_app(tmp_path, start=at("2026-09-07T10:00-05:00")) as h:
        await h.lines(*(f"~ {who} joins as {who}" for who in ("ana", "luis", "rosa")))
    sent = killed_while_delivering(tmp_path, "2026-09-14T10:05-05:00", "direct", 2)
    before = [entry for entry in sent if entry["kind"] == "direct"]
    assert len(before) == 1, "one member was nudged before the kill"
    async with running_app(tmp_path, start=at("2026-09-14T10:30-05:00")) as h:
        await h.set_time(at("2026-09-15T11:00-05:00"))
        nudged = [before[0]["to"], *(s.to for s in h.sent_since(0, "direct"))]
    assert sorted(nudged) == ["ana", "luis", "rosa"]


async def test_notes_of_troubled_runs_are_kept_five_weeks(tmp_path):
    async with running_app(tmp_path) as h:
        first = RunTrouble("digest:praxis", 1_000, 2_000, "failed (boom)")
        async with h.store.transaction() as tx:
            await note_run_trouble(tx, first)
        later = RunTrouble("nudges:praxis", 90_000, 2_000 + 36 * 86400, "interrupted")
        async with h.store.transaction() as tx:
            await note_run_trouble(tx, later)
        assert await run_troubles(h.store, 0) == [later]
