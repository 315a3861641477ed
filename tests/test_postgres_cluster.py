"""The test session's throwaway PostgreSQL server dies with the session, however it ends: a
session killed with kill -9 leaves no server running and no folder behind."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.postgres import remove_stale_clusters

ROOT = Path(__file__).resolve().parents[1]

SESSION = """
import sys, time
from tests.postgres import PostgresCluster
cluster = PostgresCluster()
cluster.start()
print(cluster.folder, cluster.port, flush=True)
time.sleep(120)
"""


def answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_session_killed_with_kill_9_leaves_no_server_behind():
    session = subprocess.Popen(
        [sys.executable, "-c", SESSION], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert session.stdout is not None
        folder_text, port_text = session.stdout.readline().split()
        folder, port = Path(folder_text), int(port_text)
        assert answers(port) and folder.is_dir()
    finally:
        session.send_signal(signal.SIGKILL)
        session.wait()
    deadline = time.monotonic() + 15
    while answers(port) or folder.exists():
        assert time.monotonic() < deadline, "the server outlived the session that started it"
        time.sleep(0.1)


def test_a_cluster_whose_session_and_watchdog_are_gone_is_removed_at_the_next_start():
    stale = Path(tempfile.mkdtemp(prefix="trellis-pg-"))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (stale / "owners").write_text(f"{gone.stdout.strip()} {gone.stdout.strip()}")
    unowned = Path(tempfile.mkdtemp(prefix="trellis-pg-"))  # may be a running older session's
    mine = Path(tempfile.mkdtemp(prefix="trellis-pg-"))
    (mine / "owners").write_text(f"{os.getpid()} {os.getpid()}")
    try:
        removed = remove_stale_clusters()
        assert stale in removed and not stale.exists()
        assert unowned.is_dir() and mine.is_dir()
    finally:
        for folder in (stale, unowned, mine):
            shutil.rmtree(folder, ignore_errors=True)
