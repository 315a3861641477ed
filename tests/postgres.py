"""A throwaway PostgreSQL cluster for the test session: initdb and pg_ctl in a temporary folder.

The server listens on a free port of 127.0.0.1 only (its unix socket stays in the folder), and
runs as the unprivileged ``postgres`` system user when the tests run as root, since PostgreSQL
refuses to run as root. Each test gets a fresh database, copied from a template the real
migrations built once: ``CREATE DATABASE … TEMPLATE`` is a file copy, far faster than migrating.

The server never outlives the session that started it: a watchdog process holds the read end of a
pipe whose write end only the session holds, and stops the server and removes its folder when
that pipe closes, which the kernel does however the session ends (kill -9 included). A cluster
left by a session whose watchdog died too (a reboot, a kill of both) is removed by the next start.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg


def bin_folders() -> list[Path]:
    """Where Debian's postgresql-N puts initdb and pg_ctl (the newest first), and links to them."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0,
        reverse=True,
    )
    return [*versions, Path("/usr/local/bin"), Path("/usr/bin")]


SUPERUSER = "trellis"
PASSWORD = "trellis-test-password"
TEMPLATE = "trellis_template"


def binary(name: str) -> str:
    for folder in bin_folders():
        path = folder / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed: run ./scripts/test, which installs Debian's "
            f"postgresql, or 'apt-get install postgresql'"
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_WATCHDOG = """
import shutil, subprocess, sys
sys.stdin.buffer.read()  # returns at end of file: the session that started the server is over
subprocess.run(sys.argv[2:], capture_output=True, check=False)
shutil.rmtree(sys.argv[1], ignore_errors=True)
"""
"""Run as ``python -c _WATCHDOG FOLDER STOP-COMMAND…`` with the session's pipe as standard input."""

_OWNERS = "owners"
"""The file in a cluster's folder naming the process ids of its session and its watchdog."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_command(data: Path) -> list[str]:
    """The command stopping the server of the data folder ``data`` at once (as its owner)."""
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return [*as_user, binary("pg_ctl"), "--pgdata", str(data), "--mode", "immediate", "stop"]


def remove_stale_clusters() -> list[Path]:
    """Stop and remove the clusters whose session and watchdog are both gone; the folders
    removed. Folders without an owners file are left alone: they may be a running session's,
    started by an older copy of this module."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob("trellis-pg-*"):
        try:
            owners = [int(pid) for pid in (folder / _OWNERS).read_text().split()]
        except (OSError, ValueError):
            continue
        if any(_alive(pid) for pid in owners):
            continue
        subprocess.run(stop_command(folder / "data"), capture_output=True, check=False)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


class PostgresCluster:
    """A running server in ``folder``; ``stop()`` ends it and removes the folder."""

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        """Flush to disk as a production server does (benchmarks); tests go without."""
        self.folder = Path(tempfile.mkdtemp(prefix="trellis-pg-"))
        self.data = self.folder / "data"
        self.port = 0
        self._as_user: list[str] = []
        self._databases = itertools.count(1)
        self._watchdog: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            # PostgreSQL will not run as root: the folder goes to the postgres system user.
            account = pwd.getpwnam("postgres")
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *command: str) -> None:
        result = subprocess.run(
            [*self._as_user, *command], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stderr or result.stdout}")

    def start(self) -> None:
        remove_stale_clusters()
        self._watch()
        password_file = self.folder / "password"
        password_file.write_text(PASSWORD)
        if self._as_user:
            shutil.chown(password_file, "postgres")
        self._run(
            binary("initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            SUPERUSER,
            "--pwfile",
            str(password_file),
            "--auth-local",
            "trust",
            "--auth-host",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
        )
        password_file.unlink()
        for attempt in range(5):
            self.port = free_port()
            # Durability is not what the tests measure: without fsync a fresh database per test
            # costs milliseconds.
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.folder} -c max_connections=200"
            )
            if not self.durable:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            try:
                self._run(
                    binary("pg_ctl"),
                    "--pgdata",
                    str(self.data),
                    "--log",
                    str(self.folder / "server.log"),
                    "--options",
                    options,
                    "--wait",
                    "start",
                )
                return
            except RuntimeError:
                if attempt == 4:
                    log = (self.folder / "server.log").read_text(errors="replace")
                    raise RuntimeError(f"PostgreSQL did not start:\n{log[-2000:]}") from None

    def url(self, database: str, *, with_password: bool = True) -> str:
        credentials = f"{SUPERUSER}:{PASSWORD}" if with_password else SUPERUSER
        return f"postgresql://{credentials}@127.0.0.1:{self.port}/{database}"

    async def create_template(self) -> None:
        """The template every test database is copied from: migrated to the latest version."""
        from storage.postgresql import PostgresStore

        await self.execute(f"CREATE DATABASE {TEMPLATE}")
        store = await PostgresStore.open(self.url(TEMPLATE))
        await store.close()

    async def new_database(self, *, migrated: bool = True) -> str:
        """A fresh database's URL: migrated (a copy of the template) or empty."""
        name = f"test_{os.getpid()}_{next(self._databases)}"
        template = TEMPLATE if migrated else "template0"
        await self.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        return self.url(name)

    async def execute(self, sql: str) -> None:
        connection = await asyncpg.connect(self.url("postgres"))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    def _watch(self) -> None:
        """Start the watchdog that stops the server and removes the folder once this process
        ends or calls ``stop()``, before there is a server to leave behind."""
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self.folder), *stop_command(self.data)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the session's process group spares it
        )
        (self.folder / _OWNERS).write_text(f"{os.getpid()} {self._watchdog.pid}")

    def stop(self) -> None:
        """Stop the server and remove the folder: the watchdog's work, started now."""
        if self._watchdog is None:
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        assert self._watchdog.stdin is not None
        self._watchdog.stdin.close()
        self._watchdog.wait()
