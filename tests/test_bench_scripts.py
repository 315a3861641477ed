"""The benchmarks still run: each is a whole program over the real app, so a change to a port or
a storage function that a benchmark uses breaks it where no other test looks. A short run of the
two that drive the engine and the commands shows they start, measure and print their figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_bench(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize(
    ("args", "figure"),
    [
        (("bench.ingest", "--events", "2000"), "ratio engine/baseline"),
        (("bench.commands", "--seconds", "2", "--preload", "0"), "event loop lag"),
    ],
)
def test_the_benchmark_runs_and_prints_its_figures(args: tuple[str, ...], figure: str) -> None:
    assert figure in run_bench(*args)
