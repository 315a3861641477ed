"""A store that cannot write (a full disk): nothing acknowledged is lost, and storing resumes."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import running_app

ROOT = Path(__file__).resolve().parents[1]

# SQLite's own limit on the file's pages stands in for a full disk in-process: the same
# SQLITE_FULL as a full disk, and it can be lifted again while the app runs, which a real full
# disk (or a file-size limit, used below for the CLI) cannot do from inside the test.


async def count(store, sql: str) -> int:
    return (await store.fetch_one(sql))[0]


async def test_a_full_store_keeps_every_event_waits_and_resumes_by_itself(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines("#general fran: good morning")
        engine = h.app.engine
        pages = await count(h.store, "PRAGMA page_count")
        await h.store.db.execute(f"PRAGMA max_page_count = {pages + 1}")
        before = len(h.outbox)
        long = "irrigation report from the field " * 30

        async def chat() -> None:
            for number in range(300):
                await h.console.feed(f"#water ana: {number} {long}")

        await chat()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(engine.drain(), 1.0)
        assert engine.waiting == 300
        later = asyncio.create_task(h.console.feed("#water ana: still there?"))
        await asyncio.sleep(0.3)
        assert not later.done(), "a store that cannot write takes no more events"
        told = [s for s in h.sent_since(before, "direct") if "cannot store chat" in s.text]
        assert [s.to for s in told] == ["fran"]
        await h.console.feed("#general luis: /kudos @ana for the report")
        await asyncio.sleep(0.1)
        (answer,) = h.sent_since(before, "reply")
        assert answer.to == "luis"
        assert answer.text.startswith("Trellis cannot store anything right now")

        await h.store.db.execute("PRAGMA max_page_count = 1073741823")  # space again
        await asyncio.wait_for(later, 20)
        await asyncio.wait_for(engine.drain(), 20)
        assert await count(h.store, "SELECT count(*) FROM messages") == 302
        assert engine.skipped == 0 and engine.waiting == 0


def trellis_script(config: Path, script: Path, *, file_limit: int | None):
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, no kill
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, resource.RLIM_INFINITY))

    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--config", str(config), "--script", str(script)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def test_a_script_on_a_full_disk_exits_non_zero_and_a_rerun_stores_everything(tmp_path):
    config = tmp_path / "trellis.toml"
    config.write_text(
        '[storage]\npath = "trellis.sqlite3"\n[adapters.console]\nenabled = true\n'
        '[communities.praxis]\nname = "Praxis"\ntimezone = "America/Lima"\n'
        '[communities.praxis.roles]\nfacilitators = ["console:fran"]\n'
    )
    first = tmp_path / "first.txt"
    first.write_text("@ 2026-09-07 08:00\n#general fran: hello\n")
    assert trellis_script(config, first, file_limit=None).returncode == 0
    database = tmp_path / "trellis.sqlite3"
    size = max(p.stat().st_size for p in tmp_path.glob("trellis.sqlite3*"))

    posts = tmp_path / "posts.txt"
    text = "we tried the new approach in our district " * 5
    posts.write_text(
        "@ 2026-09-07 09:00\n" + "".join(f"#general ana: {n} {text}\n" for n in range(2000))
    )
    full = trellis_script(config, posts, file_limit=size + 200_000)
    assert full.returncode == 1, full.stderr
    assert "not everything was stored" in full.stderr
    assert "the store cannot write" in full.stderr
    with sqlite3.connect(database) as db:
        stored = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert 1 <= stored < 2001

    again = trellis_script(config, posts, file_limit=None)
    assert again.returncode == 0, again.stderr
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 2001


async def test_only_an_event_the_store_refuses_on_its_own_is_skipped_and_loudly(tmp_path, caplog):
    async with running_app(tmp_path) as h:
        with caplog.at_level(logging.ERROR, logger="bot.engine"):
            await h.lines(
                "#water ana: Before.",
                "#water ana: A broken character \ud800 no database can hold.",
                "#water ana: After.",
            )
        (stored,) = await h.store.fetch_one("SELECT count(*) FROM messages")
        assert stored == 2 and h.app.engine.skipped == 1
        assert "could not store MessagePosted" in caplog.text and "it is skipped" in caplog.text
