"""`trellis store copy`: the demo community moved from its SQLite file into PostgreSQL, whole."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.postgres import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo_copy(demo_record: Path, tmp_path: Path) -> Path:
    """The demo's SQLite record (tests/conftest.py), in a copy of its folder of this test's own."""
    folder = shutil.copytree(demo_record, tmp_path / "demo")
    return folder / "trellis-demo.sqlite3"


def trellis(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
    )


def sqlite_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    db = sqlite3.connect(path)
    try:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {table: sorted(db.execute(f"SELECT * FROM {table}"), key=repr) for table in tables}
    finally:
        db.close()


async def postgres_rows(url: str, tables) -> dict[str, list[tuple[object, ...]]]:
    connection = await asyncpg.connect(url)
    try:
        return {
            table: sorted(
                (tuple(row) for row in await connection.fetch(f"SELECT * FROM {table}")), key=repr
            )
            for table in tables
        }
    finally:
        await connection.close()


async def test_the_demo_is_copied_row_for_row_and_a_second_copy_is_refused(postgres, demo_copy):
    target = await postgres.new_database(migrated=False)
    without_password = target.replace(f":{PASSWORD}@", "@")
    copied = trellis(
        "store",
        "copy",
        "--from",
        f"sqlite:{demo_copy}",
        "--to",
        without_password,
        "--password-env",
        "PG_PASS",
        PG_PASS=PASSWORD,
    )
    assert copied.returncode == 0, copied.stderr
    source = sqlite_rows(demo_copy)
    assert copied.stdout.splitlines()[-1] == (
        f"Copied {sum(len(rows) for table, rows in source.items() if table != 'schema_version')} "
        f"rows in {len(source) - 1} tables from {demo_copy} to {without_password}; every "
        f"table's count matches."
    )
    assert sum(len(rows) for rows in source.values()) > 5000  # the demo's six weeks of chat
    assert await postgres_rows(target, source) == source

    again = trellis(
        "store",
        "copy",
        "--from",
        f"sqlite:{demo_copy}",
        "--to",
        without_password,
        "--password-env",
        "PG_PASS",
        PG_PASS=PASSWORD,
    )
    assert again.returncode == 2
    assert again.stderr.startswith(f"trellis: {without_password} already holds data (table ")
    assert again.stderr.strip().endswith("copy into a new, empty database: nothing was written.")
    assert await postgres_rows(target, source) == source


async def test_a_copied_store_numbers_new_rows_after_the_copied_ones(postgres, demo_copy):
    target = await postgres.new_database(migrated=False)
    inline = trellis("store", "copy", "--from", f"sqlite:{demo_copy}", "--to", target)
    assert inline.returncode == 2
    assert "leave the password out of the URL" in inline.stderr
    assert PASSWORD not in inline.stderr
    copied = trellis(
        "store",
        "copy",
        "--from",
        f"sqlite:{demo_copy}",
        "--to",
        target.replace(f":{PASSWORD}@", "@"),
        PGPASSWORD=PASSWORD,
    )
    assert copied.returncode == 0, copied.stderr
    connection = await asyncpg.connect(target)
    try:
        highest = await connection.fetchval("SELECT max(id) FROM members")
        added = await connection.fetchval(
            "INSERT INTO members (community, member_key, first_seen_at) "
            "VALUES ('praxis', 'console:new', 1) RETURNING id"
        )
    finally:
        await connection.close()
    assert added == highest + 1


async def test_the_report_of_the_copy_equals_the_report_of_the_original(
    postgres, demo_copy, tmp_path
):
    target = await postgres.new_database(migrated=False)
    without_password = target.replace(f":{PASSWORD}@", "@")
    copied = trellis(
        "store", "copy", "--from", f"sqlite:{demo_copy}", "--to", without_password,
        PGPASSWORD=PASSWORD,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    original = demo_copy.parent / "config.toml"
    on_postgresql = tmp_path / "postgresql.toml"
    on_postgresql.write_text(
        original.read_text(encoding="utf-8").replace(
            'path = "trellis-demo.sqlite3"',
            f'url = "{without_password}"\npassword_env = "PG_PASS"',
        ),
        encoding="utf-8",
    )
    # A month, and two weeks given by their dates.
    for period in ("2026-09", "2026-10-05..2026-10-18"):
        reports = []
        for config in (original, on_postgresql):
            output = tmp_path / f"{config.stem}-{period}.json"
            written = trellis(
                "report", "--config", str(config), "--period", period, "--format", "json",
                "--output", str(output), PG_PASS=PASSWORD,
            )  # fmt: skip
            assert written.returncode == 0, written.stderr
            reports.append(json.loads(output.read_text(encoding="utf-8")))
        assert reports[0]["monitoring"]["participants"] > 10, period
        assert reports[1] == reports[0], period
