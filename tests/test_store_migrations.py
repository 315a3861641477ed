"""The schema lives in the database: built from empty, re-run as a no-op, newer or foreign refused."""

import os
import sqlite3

import pytest

from storage.sqlite import SqliteStore, StoreError, migration_steps


def tables(path) -> list[tuple]:
    db = sqlite3.connect(path)
    rows = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    db.close()
    return rows


async def test_from_empty_every_step_is_applied_and_recorded(tmp_path):
    store = await SqliteStore.open(tmp_path / "t.sqlite3")
    assert await store.schema_version() == len(migration_steps())
    mode = await store.fetch_one("PRAGMA journal_mode")
    keys = await store.fetch_one("PRAGMA foreign_keys")
    await store.close()
    assert mode[0] == "wal" and keys[0] == 1
    names = {name for _, name, _ in tables(tmp_path / "t.sqlite3")}
    assert {"members", "messages", "reactions", "credits", "job_runs", "schema_version"} <= names


async def test_opening_again_changes_nothing(tmp_path):
    path = tmp_path / "t.sqlite3"
    store = await SqliteStore.open(path)
    await store.set_state("matrix", "sync_token", "s123")
    await store.close()
    before = tables(path)
    store = await SqliteStore.open(path)
    assert await store.get_state("matrix", "sync_token") == "s123"
    await store.close()
    assert tables(path) == before


async def test_a_database_from_a_newer_trellis_is_refused_untouched(tmp_path):
    path = tmp_path / "t.sqlite3"
    store = await SqliteStore.open(path)
    await store.close()
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    before = tables(path)
    with pytest.raises(StoreError, match="written by a newer Trellis \\(schema version 99"):
        await SqliteStore.open(path)
    assert tables(path) == before


async def test_a_file_that_is_not_a_database_is_refused_with_what_to_do(tmp_path):
    path = tmp_path / "notes.sqlite3"
    path.write_text("these are my meeting notes, not a database\n" * 100)
    with pytest.raises(
        StoreError, match=r"is not a usable Trellis database .* restore it from a backup"
    ):
        await SqliteStore.open(path)
    assert path.read_text().startswith("these are my meeting notes")


async def test_someone_elses_database_is_not_taken_over(tmp_path):
    path = tmp_path / "other.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="holds tables that are not Trellis's"):
        await SqliteStore.open(path)
    assert [name for _, name, _ in tables(path)] == ["invoices"]


async def test_a_failing_step_leaves_the_database_at_the_previous_version(tmp_path):
    path = tmp_path / "t.sqlite3"
    steps = migration_steps()
    store = await SqliteStore.open(path, steps=steps[:1])
    await store.close()
    broken = [*steps[:1], (2, "CREATE TABLE half_done (x INTEGER);\nTHIS IS NOT SQL;")]
    with pytest.raises(
        StoreError, match=r"to schema version 2 failed .* left as it was, at version 1"
    ):
        await SqliteStore.open(path, steps=broken)
    assert "half_done" not in {name for _, name, _ in tables(path)}
    store = await SqliteStore.open(path, steps=steps[:1])
    assert await store.schema_version() == 1
    await store.close()
    store = await SqliteStore.open(path)
    assert await store.schema_version() == len(steps)
    await store.close()


async def test_read_only_connections_see_commits_refuse_writes_and_are_reused(tmp_path):
    path = tmp_path / "with space & more.sqlite3"
    store = await SqliteStore.open(path)
    try:
        await store.set_state("console", "seen", "1")
        async with store.reading() as reader:
            assert (await reader.fetch_one("SELECT value FROM state"))[0] == "1"
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                await reader.db.execute("DELETE FROM state")
            async with store.reading() as other:
                assert other is not reader  # two reads at once get a connection each
        await store.set_state("console", "seen", "2")
        async with store.reading() as again:
            assert again is reader or again is other
            assert (await again.fetch_one("SELECT value FROM state"))[0] == "2"
    finally:
        await store.close()
    with pytest.raises(ValueError, match="no active connection"):
        await reader.fetch_one("SELECT 1")  # closed with the store


async def test_another_programs_database_is_refused_read_only_and_keeps_its_journal(tmp_path):
    path = tmp_path / "other.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="holds tables that are not Trellis's"):
        await SqliteStore.open(path, exclusive=True)
    assert path.read_bytes() == before  # still in rollback-journal mode, not switched to WAL
    assert not (tmp_path / "other.sqlite3-wal").exists()


async def test_a_second_exclusive_open_is_refused_naming_the_holder(tmp_path):
    path = tmp_path / "t.sqlite3"
    store = await SqliteStore.open(path, exclusive=True)
    try:
        with pytest.raises(StoreError) as caught:
            await SqliteStore.open(path, exclusive=True)
        assert f"is in use by another Trellis (pid {os.getpid()} on " in str(caught.value)
        reader = await SqliteStore.open(path)  # a report goes along with the running Trellis
        await reader.close()
    finally:
        await store.close()
    again = await SqliteStore.open(path, exclusive=True)  # released on close
    await again.close()


async def test_after_checkpoints_a_crash_leaves_a_wal_that_the_next_start_applies(
    tmp_path, monkeypatch
):
    monkeypatch.setattr("storage.sqlite.CHECKPOINT_EVERY_S", 0)  # one after every write
    path = tmp_path / "t.sqlite3"
    crashed = await SqliteStore.open(path, exclusive=True)
    for number in range(5):
        await crashed.set_state("test", f"key{number}", "value")
    if crashed._checkpointing is not None:  # a dead process runs nothing more: let it finish
        await crashed._checkpointing
    # The process dies: the kernel releases its lock, its connections never close, WAL left.
    os.close(crashed._lock.fd)
    assert (tmp_path / "t.sqlite3-wal").stat().st_size > 0
    store = await SqliteStore.open(path, exclusive=True)
    try:
        assert await store.get_state("test", "key4") == "value"
    finally:
        await store.close()
        await crashed.db.close()
        if crashed._checkpointer is not None:
            await crashed._checkpointer.close()


async def test_a_crash_after_the_log_was_emptied_for_privacy_still_starts(tmp_path):
    """forget-me and retention empty the WAL (a checkpoint of their own); the writes after it
    and a crash must still leave a WAL the next start applies, not one it refuses."""
    path = tmp_path / "t.sqlite3"
    crashed = await SqliteStore.open(path, exclusive=True)
    await crashed.set_state("test", "before", "value")
    await crashed.drop_old_pages()
    await crashed.set_state("test", "after", "value")
    os.close(crashed._lock.fd)  # the process dies: lock released, connection never closed
    assert (tmp_path / "t.sqlite3-wal").stat().st_size > 0
    store = await SqliteStore.open(path, exclusive=True)
    try:
        assert await store.get_state("test", "after") == "value"
    finally:
        await store.close()
        await crashed.db.close()
