"""The real ``trellis`` process run as a service manager runs it: stdin from /dev/null, stopped by
SIGTERM, one instance per database, against the loopback Discord (or the console for a script)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import pty
import re
import select
import signal
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from adapters.console import ConsoleAdapter
from bot.app import Trellis
from bot.clock import ManualClock
from bot.config import parse_settings
from bot.scheduler import Job
from tests.discord_loopback import Commons, LoopbackDiscord
from tests.helpers import START, config, processes
from tests.test_config import console_config

ROOT = Path(__file__).resolve().parent.parent
ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TRELLIS_DISCORD_TOKEN": "loopback-token"}


def toml(data: dict[str, Any], prefix: str = "") -> str:
    """A TOML file for plain nested settings (tables, strings, booleans, numbers, lists)."""
    plain = {k: v for k, v in data.items() if not isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and plain else []
    lines += [f"{key} = {json.dumps(value)}" for key, value in plain.items()]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(toml(value, f"{prefix}.{key}" if prefix else key))
    return "\n".join(lines) + "\n"


class Process:
    """A running ``trellis`` whose log lines (stderr) are collected as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.log: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.log.append(line.decode())

    async def wait_for_line(self, pattern: str, within: float = 20) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for line in self.log:
                if re.search(pattern, line):
                    return line
            if self.proc.returncode is not None and self._reader.done():
                break
            await asyncio.sleep(0.02)
        raise AssertionError(f"no log line matching {pattern!r}:\n{''.join(self.log)}")

    async def stop(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        """Send ``sig``; the exit code and how many seconds the process took to exit."""
        began = time.monotonic()
        self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), 30)
        await asyncio.wait_for(self._reader, 30)
        return code, time.monotonic() - began


async def trellis(*args: str, port: int | None = None, mark: str = "") -> Process:
    """``trellis *args``; ``mark`` (NAME=value) is put in its environment, which the processes it
    starts inherit."""
    program = (
        [str(ROOT / "tests" / "loopback_trellis.py"), str(port)] if port else ["-m", "bot.cli"]
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *program,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=ENV | dict([mark.split("=", 1)] if mark else []),
    )
    return Process(proc)


async def finished(*args: str, port: int | None = None) -> tuple[int, str]:
    run = await trellis(*args, port=port)
    code = await asyncio.wait_for(run.proc.wait(), 60)
    await asyncio.wait_for(run._reader, 30)
    return code, "".join(run.log)


def count(database: Path, sql: str) -> tuple:
    db = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchone()
    finally:
        db.close()


@asynccontextmanager
async def discord_service(tmp_path: Path) -> AsyncIterator[tuple[LoopbackDiscord, Commons, Path]]:
    async with LoopbackDiscord.running() as server:
        commons = Commons.build(server)
        config = commons.config() | {"storage": {"path": str(tmp_path / "trellis.sqlite3")}}
        path = tmp_path / "trellis.toml"
        path.write_text(toml(config))
        yield server, commons, path


async def test_a_headless_service_keeps_running_is_alone_on_its_database_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    database = tmp_path / "trellis.sqlite3"
    async with discord_service(tmp_path) as (server, c, config):
        mark = f"TRELLIS_TEST_RUN={uuid.uuid4()}"
        service = await trellis("run", "--config", str(config), port=server.port, mark=mark)
        ready = await service.wait_for_line(r"ready: ")
        assert "1 community(ies) (commons), platforms: discord" in ready
        assert re.search(r"\d+ places watched", ready)
        assert not [line for line in service.log if " INFO discord" in line]  # no library chatter
        await asyncio.sleep(0.5)  # stdin is /dev/null: a console reading it would have ended
        assert service.proc.returncode is None
        # Once up, it has its chart worker started, so that a first chart does not wait for it.
        assert [pid for pid in processes(environment=mark) if pid != service.proc.pid]

        # A second instance and a backfill on the same database refuse, naming the first.
        pid = service.proc.pid
        for args in (("run",), ("backfill", "discord", "--since", "7d")):
            code, log = await finished(*args, "--config", str(config), port=server.port)
            assert code == 2
            assert re.search(
                rf"trellis: {re.escape(str(database))} is in use by another Trellis \(pid {pid} "
                rf"on [^,]+, since \d{{4}}-\d\d-\d\dT[\d:]+\+00:00\); stop it first",
                log,
            ), log
        assert [c for c in server.connections if c.startswith("identify")] == ["identify /"]

        # SIGTERM mid-burst: what was received is stored once, the process exits 0 within 10 s.
        for number in range(40):
            await server.post(c.water, c.ana if number % 2 else c.ben, f"message {number}")
        code, seconds = await service.stop(signal.SIGTERM)
        assert code == 0, "".join(service.log)
        assert seconds < 10
        assert processes(environment=mark) == []  # the chart worker went with it
        stopped = await service.wait_for_line(r"stopped: \d+ events accepted")
        assert "Traceback" not in "".join(service.log)
        assert not database.with_name(database.name + "-wal").exists()  # closed cleanly
        stored, distinct = count(
            database, "SELECT count(*), count(DISTINCT platform_id) FROM messages"
        )
        assert stored == distinct == 40, stopped

        # The lock went with the process: the next start runs, and a second signal stops at once.
        again = await trellis("run", "--config", str(config), port=server.port)
        await again.wait_for_line(r"ready: ")
        again.proc.send_signal(signal.SIGINT)
        code, _ = await again.stop(signal.SIGINT)
        assert code in (0, 128 + signal.SIGINT)
        assert count(database, "PRAGMA integrity_check") == ("ok",)


async def test_sigterm_during_a_script_stores_every_line_read_before_it(tmp_path: Path) -> None:
    config = tmp_path / "trellis.toml"
    config.write_text(console_config(tmp_path / "t.sqlite3"))
    lines = ['~ ana joins as "Ana"']
    for minute in range(3000):
        lines.append(f"@ 2026-09-07 {10 + minute // 60 % 10:02d}:{minute % 60:02d}")
        lines += [f"#water ana: note {minute}-{part}" for part in range(3)]
    script = tmp_path / "burst.txt"
    script.write_text("\n".join(lines) + "\n")
    run = await trellis("run", "--config", str(config), "--script", str(script))
    await run.wait_for_line(r"ready: ")
    await asyncio.sleep(0.5)
    code, seconds = await run.stop(signal.SIGTERM)
    assert code == 0 and seconds < 10
    said = await run.wait_for_line(r"stopped after line \d+ of \d+")
    read = int(re.search(r"after line (\d+)", said)[1])  # type: ignore[index]
    assert 0 < read < len(lines), "the script should still have been running"
    expected = sum(1 for line in lines[:read] if line.startswith("#water"))
    assert count(tmp_path / "t.sqlite3", "SELECT count(*) FROM messages") == (expected,)


async def test_the_console_alone_without_a_terminal_says_what_to_do(tmp_path: Path) -> None:
    config = tmp_path / "trellis.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "t.sqlite3"}"\n[communities.x]\nname = "X"\n'
    )
    code, log = await finished("run", "--config", str(config))
    assert code == 2
    assert log.strip() == (
        "trellis: adapters.console is the only adapter and standard input is not a terminal, "
        "so nobody can type to it: run trellis in a terminal, replay a file with --script, or "
        "enable adapters.discord or adapters.matrix to run it as a service."
    )
    assert not (tmp_path / "t.sqlite3").exists()


def test_the_console_in_a_terminal_answers_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    config = tmp_path / "trellis.toml"
    config.write_text(console_config(tmp_path / "t.sqlite3"))
    pid, terminal = pty.fork()
    if pid == 0:  # the child: trellis with a terminal as stdin, as someone trying it out
        os.environ.update(ENV)
        os.execv(sys.executable, [sys.executable, "-m", "bot.cli", "run", "--config", str(config)])
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while text not in seen and time.monotonic() < deadline:
            if select.select([terminal], [], [], 0.2)[0]:
                seen += os.read(terminal, 4096)
        assert text in seen, seen.decode()

    read_until(b"Trellis is listening.")
    os.write(terminal, b"#water ana: hello from a terminal\n#general ana: /themes\n")
    read_until(b"Water rights")  # the answer, given once the message before it is stored
    os.kill(pid, signal.SIGINT)
    began = time.monotonic()
    while not (done := os.waitpid(pid, os.WNOHANG))[0] and time.monotonic() - began < 10:
        if select.select([terminal], [], [], 0.2)[0]:
            with contextlib.suppress(OSError):
                seen += os.read(terminal, 4096)
    assert done[0], "Ctrl-C did not stop Trellis within 10 s"
    assert os.waitstatus_to_exitcode(done[1]) == 0
    assert count(tmp_path / "t.sqlite3", "SELECT count(*) FROM messages") == (1,)


async def test_stop_lets_a_running_job_finish_then_stores_what_was_accepted(tmp_path: Path) -> None:
    settings = parse_settings(config(**{"storage.path": str(tmp_path / "t.sqlite3")}))
    clock = ManualClock(START)
    console = ConsoleAdapter("praxis", clock, echo_chat=False, out=io.StringIO())
    app = await Trellis.open(settings, clock=clock, adapters=[console])
    await app.start(real_time=False)
    working = asyncio.Event()

    async def slow_job(due: datetime) -> str:
        working.set()
        await asyncio.sleep(0.5)
        return "finished its work"

    app.scheduler.add(Job("slow", "* * * * *", "UTC", slow_job))
    await app.run_due_jobs()  # the job is known from now on
    clock.set(START + timedelta(minutes=2))
    running = asyncio.create_task(app.scheduler.run_due())
    await working.wait()
    await console.feed("#water ana: said while the job runs")
    await app.stop()
    assert running.done() and "slow: finished its work" in running.result()
    db = sqlite3.connect(tmp_path / "t.sqlite3")
    outcome = db.execute("SELECT outcome, detail FROM job_runs WHERE job = 'slow'").fetchall()
    stored = db.execute("SELECT text FROM messages").fetchall()
    db.close()
    assert outcome == [("done", "finished its work")]
    assert stored == [("said while the job runs",)]


class CatchingUpConsole(ConsoleAdapter):
    """The console, handing over at start what was said while Trellis was down, at the times it
    was said (on the platform's own clock), as a platform adapter's catch-up does."""

    def __init__(self, now: datetime, downtime: list[tuple[datetime, str]]) -> None:
        super().__init__(
            "praxis",
            ManualClock(min([now, *(m for m, _ in downtime)])),
            echo_chat=False,
            out=io.StringIO(),
        )
        self.now = now
        self.downtime = downtime

    async def start(self, sink, stored) -> None:
        await super().start(sink, stored)
        for moment, line in self.downtime:
            self.clock.set(moment)
            await self.feed(line)
        self.clock.set(self.now)


async def test_a_digest_due_while_down_is_posted_after_the_catch_up_and_counts_it(
    tmp_path: Path,
) -> None:
    settings = parse_settings(config(**{"storage.path": str(tmp_path / "t.sqlite3")}))
    clock = ManualClock(START)  # Monday 7 September, 08:00 in Lima; the digest is Mondays at 9
    first = await Trellis.open(settings, clock=clock, adapters=[CatchingUpConsole(START, [])])
    await first.start(real_time=False)
    await first.stop()

    said = [
        (START + timedelta(days=2, hours=hour), f"#water ana: note {hour}") for hour in range(7)
    ]
    clock.set(START + timedelta(days=7, hours=2))  # back on Monday 14th, after the digest's time
    console = CatchingUpConsole(clock.now(), said)
    second = await Trellis.open(settings, clock=clock, adapters=[console])
    await second.start(real_time=False)
    await second.stop()
    digests = [
        sent.text for sent in console.outbox if sent.kind == "post" and "the week of" in sent.text
    ]
    assert len(digests) == 1
    assert "- **Water rights**: 7 messages" in digests[0]
