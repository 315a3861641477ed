"""Several Trellis processes on one PostgreSQL database: each scheduled run happens once across
all of them, and a run whose process dies (kill -9) is finished by another."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import running_app, storage_config
from tests.postgres import PASSWORD

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("postgresql_only")


async def start_child(folder: Path, name: str, storage: dict, at: str, hang=None):
    spec = folder / f"{name}.json"
    spec.write_text(
        json.dumps(
            {"storage": storage, "record": str(folder / f"{name}.jsonl"), "at": at, "hang": hang}
        )
    )
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.postgres_child",
        str(spec),
        cwd=ROOT,
        env={**os.environ, "TRELLIS_TEST_PG": PASSWORD},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=(folder / f"{name}.log").open("wb"),
    )


async def until(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what if isinstance(what, str) else what()
        await asyncio.sleep(0.1)


def delivered(folder: Path) -> list[dict]:
    return [
        json.loads(line)
        for record in sorted(folder.glob("*.jsonl"))
        for line in record.read_text(encoding="utf-8").splitlines()
    ]


async def test_three_processes_post_the_digest_once_when_its_poster_is_killed(tmp_path):
    async with running_app(tmp_path, start=at("2026-09-07T10:00-05:00")) as h:
        await h.lines(
            *(f"~ {who} joins as {who}" for who in ("ana", "luis", "rosa")),
            "#water ana: Notes on irrigation.",
        )
    storage = await storage_config(tmp_path / "trellis.sqlite3")
    # Monday after 10:00 in Lima: the weekly digest (09:00) and the nudge round (10:00) are due;
    # ana, luis and rosa joined a week ago and luis and rosa never spoke.
    moment = "2026-09-14T10:05-05:00"
    first = await start_child(tmp_path, "first", storage, moment, hang=["post", 1])
    children = [first]
    try:
        await until(
            lambda: (tmp_path / "hanging").exists(),
            lambda: "the first never began posting: " + (tmp_path / "first.log").read_text(),
        )
        for name in ("second", "third"):
            children.append(await start_child(tmp_path, name, storage, moment))
        await until(
            lambda: all((tmp_path / f"{n}.started").exists() for n in ("second", "third")),
            "the other two never started",
        )
        assert [d for d in delivered(tmp_path) if d["kind"] == "post"] == []
        first.send_signal(signal.SIGKILL)
        await first.wait()
        await until(
            lambda: any(d["kind"] == "post" for d in delivered(tmp_path)),
            "nobody took over the digest of the killed process",
        )
        await asyncio.sleep(2)  # every process looks at its jobs a few times more
    finally:
        for child in children:
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            await asyncio.wait_for(child.wait(), 30)
    sent = delivered(tmp_path)
    digests = [d for d in sent if d["kind"] == "post"]
    assert len(digests) == 1 and "1 message from 1 person" in digests[0]["text"]
    nudged = sorted(d["to"] for d in sent if d["kind"] == "direct")
    assert nudged == ["luis", "rosa"]


def at(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)
