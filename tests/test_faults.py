"""Faults an operator meets, each answered by one sentence and a non-zero exit, nothing changed:
a damaged database, a folder Trellis cannot write, a missing secret, a restored file beside a
leftover WAL; and ``trellis backup`` while Trellis runs."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import tomllib
from pathlib import Path

from tests.helpers import running_app
from tests.test_config import console_config
from tests.test_service import count, finished, trellis


def burst(path: Path, minutes: int) -> Path:
    lines = ['~ ana joins as "Ana"']
    for minute in range(minutes):
        lines.append(f"@ 2026-09-07 {10 + minute // 60 % 10:02d}:{minute % 60:02d}")
        lines += [f"#water ana: note {minute}-{part}" for part in range(3)]
    path.write_text("\n".join(lines) + "\n")
    return path


def messages(database: Path) -> int:
    return count(database, "SELECT count(*) FROM messages")[0]


async def test_a_database_damaged_after_it_opened_is_named_and_trellis_exits(tmp_path):
    database = tmp_path / "t.sqlite3"
    config = tmp_path / "trellis.toml"
    config.write_text(console_config(database))
    settings = tomllib.loads(console_config(database))
    async with running_app(tmp_path, settings, database="t.sqlite3") as community:
        await community.say("ana", "water", "hello")
    db = sqlite3.connect(database)
    (root,) = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'messages'").fetchone()
    (page,) = db.execute("PRAGMA page_size").fetchone()
    db.close()
    with database.open("r+b") as file:  # the file opens; one table's pages are garbage
        file.seek((root - 1) * page)
        file.write(b"\xde\xad" * (page // 2))
    script = tmp_path / "s.txt"
    script.write_text("@ 2026-09-07 10:00\n#water ana: hello again\n")
    code, log = await finished("run", "--config", str(config), "--script", str(script))
    assert code == 3
    assert "Traceback" not in log
    assert log.strip().splitlines()[-1] == (
        f"trellis: the database {database} is damaged (database disk image is malformed); stop "
        "Trellis, keep the file for inspection and restore the latest backup (docs/deploy.md)."
    )


async def test_a_storage_folder_trellis_cannot_write_is_named(tmp_path):
    config = tmp_path / "trellis.toml"
    config.write_text(console_config(Path("/sys/trellis.sqlite3")))
    code, log = await finished("run", "--config", str(config), "--script", "/dev/null")
    assert code == 2
    assert log.strip() == (
        "trellis: storage.path /sys/trellis.sqlite3: cannot create files in /sys (Permission "
        "denied); choose a folder Trellis may write to."
    )


async def test_a_missing_matrix_password_is_named_before_the_database_is_created(tmp_path):
    config = tmp_path / "trellis.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "t.sqlite3"}"\n'
        "[adapters.console]\nenabled = false\n"
        '[adapters.matrix]\nenabled = true\nhomeserver = "http://127.0.0.1:9"\n'
        'user_id = "@trellis:localhost"\n[communities.x]\nname = "X"\n'
    )
    code, log = await finished("run", "--config", str(config))
    assert code == 2
    assert log.strip() == (
        "trellis: adapters.matrix.password_env: the environment variable TRELLIS_MATRIX_PASSWORD "
        "is not set; export it with the secret before starting Trellis."
    )
    assert list(tmp_path.iterdir()) == [config]


async def test_backup_while_running_and_a_restore_beside_a_leftover_wal(tmp_path):
    database = tmp_path / "t.sqlite3"
    wal = tmp_path / "t.sqlite3-wal"
    config = tmp_path / "trellis.toml"
    config.write_text(console_config(database))
    script = burst(tmp_path / "burst.txt", 3000)
    one_more = tmp_path / "one.txt"
    one_more.write_text("@ 2026-09-08 10:00\n#water ana: after the restart\n")

    # A backup taken while Trellis runs (it holds the instance lock; the backup only reads).
    run = await trellis("run", "--config", str(config), "--script", str(script))
    await run.wait_for_line(r"ready: ")
    await asyncio.sleep(0.3)
    backup = tmp_path / "backup.sqlite3"
    code, log = await finished("backup", str(backup), "--config", str(config))
    assert (code, log) == (0, "")
    run.proc.send_signal(signal.SIGKILL)
    await asyncio.wait_for(run.proc.wait(), 30)
    assert count(backup, "PRAGMA integrity_check") == ("ok",)
    in_backup = messages(backup)

    # Kill -9 left a WAL; the backup is copied over the file: the leftover WAL is refused.
    assert wal.stat().st_size > 0
    crashed = {name: (tmp_path / name).read_bytes() for name in ("t.sqlite3", "t.sqlite3-wal")}
    crashed_at = database.stat().st_mtime_ns
    shutil.copyfile(backup, database)
    restored = database.read_bytes()
    code, log = await finished("run", "--config", str(config), "--script", str(one_more))
    assert code == 2
    assert log.strip() == (
        f"trellis: t.sqlite3-wal beside {database} was not left by the last Trellis on this "
        "file (the file was restored or replaced since); if t.sqlite3 is the copy you want, "
        "delete t.sqlite3-wal and t.sqlite3-shm and start again, otherwise put back the file "
        "that goes with it."
    )
    assert database.read_bytes() == restored and wal.read_bytes() == crashed["t.sqlite3-wal"]

    # The file the crash left, put back as it was: its WAL is its own and the next start
    # applies it.
    database.write_bytes(crashed["t.sqlite3"])
    os.utime(database, ns=(crashed_at, crashed_at))
    assert (await finished("run", "--config", str(config), "--script", str(one_more)))[0] == 0
    assert messages(database) > in_backup + 1

    # As docs/deploy.md says to restore: stop, remove the WAL and shared memory, copy the backup.
    shutil.copyfile(backup, database)
    assert not wal.exists() or wal.stat().st_size == 0  # the clean stop emptied it
    assert (await finished("run", "--config", str(config), "--script", str(one_more)))[0] == 0
    assert messages(database) == in_backup + 1
