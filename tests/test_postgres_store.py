"""The PostgreSQL store on a real server: migrations, refusals, units of work, placeholders."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import asyncpg
import pytest

from storage.postgresql import PostgresStore, postgresql_steps, translate
from storage.sqlite import SqliteStore, StoreError, migration_steps

ROOT = Path(__file__).resolve().parent.parent


async def test_a_new_database_is_migrated_to_the_latest_version_with_sqlites_tables(
    postgres, tmp_path
):
    store = await PostgresStore.open(await postgres.new_database(migrated=False))
    try:
        assert await store.schema_version() == len(migration_steps())
        columns = await store.fetch_all(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        )
    finally:
        await store.close()
    on_postgres = {(row["table_name"], row["column_name"]) for row in columns}

    sqlite = await SqliteStore.open(tmp_path / "t.sqlite3")
    try:
        tables = await sqlite.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
        on_sqlite = set()
        for (table,) in tables:
            for column in await sqlite.fetch_all(f"PRAGMA table_info({table})"):
                on_sqlite.add((table, column["name"]))
    finally:
        await sqlite.close()
    assert on_postgres == on_sqlite


async def test_a_database_from_a_newer_trellis_is_refused_and_left_as_it_was(postgres):
    url = await postgres.new_database()
    known = len(postgresql_steps())
    store = await PostgresStore.open(url)
    async with store.transaction() as tx:
        await tx.execute("UPDATE schema_version SET version = ?", (known + 1,))
    await store.close()

    with pytest.raises(StoreError) as refused:
        await PostgresStore.open(url)
    assert str(refused.value) == (
        f"postgresql://trellis@127.0.0.1:{postgres.port}/{url.rsplit('/', 1)[1]} was written by "
        f"a newer Trellis (schema version {known + 1}, this one knows up to {known}); upgrade "
        f"Trellis, or restore a backup made by this version"
    )
    assert "trellis-test-password" not in str(refused.value)
    connection = await asyncpg.connect(url)
    assert await connection.fetchval("SELECT version FROM schema_version") == known + 1
    await connection.close()


async def test_an_older_database_is_upgraded_step_by_step(postgres):
    url = await postgres.new_database(migrated=False)
    steps = postgresql_steps()
    old = await PostgresStore.open(url, steps=steps[:6])
    async with old.transaction() as tx:
        await tx.execute(
            "INSERT INTO knowledge_items (community, kind, title, created_at) "
            "VALUES ('praxis', 'lesson', 'Seed banks', 1)"
        )
    await old.close()

    store = await PostgresStore.open(url)
    try:
        assert await store.schema_version() == len(steps)
        async with store.transaction() as tx:
            # 007 lets an item wait for its kind, and adds the kind 'reference'.
            await tx.execute(
                "INSERT INTO knowledge_items (community, title, created_at) "
                "VALUES ('praxis', 'Waiting', 2)"
            )
            await tx.execute(
                "UPDATE knowledge_items SET kind = 'reference' WHERE title = 'Waiting'"
            )
        titles = await store.fetch_all("SELECT kind, title FROM knowledge_items ORDER BY id")
        assert [tuple(row) for row in titles] == [
            ("lesson", "Seed banks"),
            ("reference", "Waiting"),
        ]
    finally:
        await store.close()


async def test_a_failing_step_leaves_the_database_at_the_version_before(postgres):
    url = await postgres.new_database(migrated=False)
    steps = postgresql_steps()
    broken = [*steps[:2], (3, "CREATE TABLE half (x BIGINT); SELECT no_such_function()")]
    with pytest.raises(StoreError, match=r"to schema version 3 failed .* at version 2"):
        await PostgresStore.open(url, steps=broken)
    store = await PostgresStore.open(url, steps=steps[:2])
    try:
        assert await store.schema_version() == 2
        assert await store.fetch_one("SELECT to_regclass('half') AS t") == (None,)
    finally:
        await store.close()


async def test_a_database_holding_other_tables_is_refused(postgres):
    url = await postgres.new_database(migrated=False)
    connection = await asyncpg.connect(url)
    await connection.execute("CREATE TABLE accounts (id BIGINT)")
    await connection.close()
    with pytest.raises(StoreError, match="holds tables that are not Trellis's"):
        await PostgresStore.open(url)


async def test_a_wrong_password_or_a_missing_database_is_one_sentence(postgres):
    with pytest.raises(StoreError) as wrong:
        await PostgresStore.open(postgres.url("postgres", with_password=False), password="nope")
    assert "refused the password" in str(wrong.value)
    assert "nope" not in str(wrong.value)
    with pytest.raises(StoreError, match="the database does not exist; create it"):
        await PostgresStore.open(postgres.url("no_such_database"))


async def test_a_unit_of_work_lands_whole_or_not_at_all(postgres):
    store = await PostgresStore.open(await postgres.new_database())
    try:
        async with store.transaction() as tx:
            member = await tx.insert(
                "INSERT INTO members (community, member_key, first_seen_at) "
                "VALUES (:c, :k, :t) RETURNING id",
                {"c": "praxis", "k": "console:ana", "t": 100},
            )
            await tx.execute_many(
                "INSERT INTO messages (community, platform_id, member_id, channel_key, posted_at) "
                "VALUES (?, ?, ?, 'console:water', ?)",
                [("praxis", f"m{i}", member, 100 + i) for i in range(3)],
            )
            # The unit reads what it wrote; so does the store, within this task's unit.
            assert (await store.fetch_one("SELECT count(*) FROM messages"))[0] == 3
        with pytest.raises(ZeroDivisionError):
            async with store.transaction() as tx:
                changed = await tx.execute("DELETE FROM messages WHERE member_id = ?", (member,))
                assert changed == 3
                raise ZeroDivisionError
        with pytest.raises(RuntimeError, match="do not nest"):
            async with store.transaction(), store.transaction():
                pass
        row = await store.fetch_one(
            "SELECT count(*) AS n, sum(posted_at) AS total, avg(posted_at) AS mean "
            "FROM messages WHERE member_id = ?",
            (member,),
        )
        # As SQLite gives them: a count and a sum as whole numbers, an average as a float.
        assert (row["n"], row["total"], row["mean"]) == (3, 303, 101.0)
        assert type(row["total"]) is int
        assert await store.get_state("matrix", "since") is None
        await store.set_state("matrix", "since", "s1")
        await store.set_state("matrix", "since", "s2")
        assert await store.get_state("matrix", "since") == "s2"
    finally:
        await store.close()


def test_placeholders_become_numbered_and_literals_stay_as_written():
    assert translate("SELECT * FROM t WHERE a = ? AND b = '?' AND c = ?") == (
        "SELECT * FROM t WHERE a = $1 AND b = '?' AND c = $2",
        None,
    )
    assert translate("SELECT :b, :a::text, ':a', \"x:y\" -- :c\nFROM t WHERE z = :b") == (
        "SELECT $1, $2::text, ':a', \"x:y\" -- :c\nFROM t WHERE z = $1",
        ("b", "a"),
    )
    assert translate("SELECT 'it''s ?', ?") == ("SELECT 'it''s ?', $1", None)
    assert translate("UPDATE t SET a = ?2 WHERE b = ?1 OR c = ?2")[0] == (
        "UPDATE t SET a = $2 WHERE b = $1 OR c = $2"
    )


@pytest.mark.parametrize(
    ("sqlite", "postgresql"),
    [
        (
            "INSERT OR IGNORE INTO state (scope, key, value) VALUES (?, ?, ?)",
            "INSERT  INTO state (scope, key, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        ),
        (
            "INSERT OR IGNORE INTO prompts (text) VALUES (?) RETURNING id",
            "INSERT  INTO prompts (text) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id",
        ),
        (
            "SELECT min(a, max(b, ?)), max(c) FROM messages INDEXED BY messages_by_time",
            "SELECT LEAST(a,  GREATEST(b,  $1)), max(c) FROM messages ",
        ),
        (
            "SELECT group_concat(id, ','), instr(key, char(9)) FROM temp.counted",
            "SELECT string_agg(CAST(id AS TEXT),  ','), strpos(key, chr(9)) FROM pg_temp.counted",
        ),
        (
            "SELECT 1 WHERE x IN (SELECT value FROM json_each(:keys))",
            "SELECT 1 WHERE x IN (SELECT value FROM json_array_elements_text(CAST($1 AS json)))",
        ),
        ("CREATE TEMP TABLE t (a INTEGER) WITHOUT ROWID", "CREATE TEMP TABLE t (a INTEGER) "),
        (
            "SELECT 1 WHERE a IS :t AND b IS NOT :u AND c IS NULL AND d IS NOT NULL",
            "SELECT 1 WHERE a IS NOT DISTINCT FROM $1 AND b IS DISTINCT FROM $2 "
            "AND c IS NULL AND d IS NOT NULL",
        ),
        (
            "SELECT a + b, -c FROM t WHERE +d > 1 AND (+e) IN (SELECT 1) AND x.id = +f",
            "SELECT a + b, -c FROM t WHERE d > 1 AND (e) IN (SELECT 1) AND x.id = f",
        ),
        (
            "SELECT n FROM (SELECT count(*) AS n FROM t) JOIN (SELECT 1) ON true",
            "SELECT n FROM (SELECT count(*) AS n FROM t) AS subquery_1 "
            "JOIN (SELECT 1) AS subquery_2 ON true",
        ),
    ],
)
def test_sqlites_spellings_become_postgresqls(sqlite, postgresql):
    assert translate(sqlite)[0] == postgresql


async def test_a_parameter_postgresql_cannot_type_takes_the_type_of_its_value(postgres):
    store = await PostgresStore.open(await postgres.new_database())
    try:
        async with store.transaction() as tx:
            await tx.execute(
                "INSERT INTO prompts (community, theme, text, added_at) VALUES ('p', 'w', 'Q', 1)"
            )
        query = "SELECT count(*) FROM prompts WHERE (:t IS NULL OR theme = :t) AND :n + 1 > 0"
        assert (await store.fetch_one(query, {"t": None, "n": 1}))[0] == 1
        assert (await store.fetch_one(query, {"t": "gender", "n": 1}))[0] == 0
        assert (await store.fetch_one("SELECT ?, ?", (None, 7))) == (None, 7)
        since = (
            "SELECT count(*) FROM prompts WHERE (:t IS NULL OR theme = :t) "
            "AND (:s IS NULL OR added_at >= :s) AND (:e IS NULL OR added_at < :e)"
        )
        assert (await store.fetch_one(since, {"t": None, "s": None, "e": None}))[0] == 1
        assert (await store.fetch_one(since, {"t": None, "s": 2, "e": None}))[0] == 0
        async with store.transaction() as tx:  # the transaction goes on after the retry
            changed = await tx.execute(
                "UPDATE prompts SET text = 'R' WHERE (:t IS NULL OR theme = :t) AND :at > 0",
                {"t": None, "at": 5},
            )
            assert changed == 1
        assert (await store.fetch_one("SELECT text FROM prompts"))[0] == "R"
    finally:
        await store.close()


HOLDER = """
import asyncio, sys
from storage.postgresql import PostgresStore

async def main():
    store = await PostgresStore.open(sys.argv[1])
    async with store.lease("job:digest:praxis@1") as lease:
        print("held" if lease.held else "refused", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_lease_has_one_holder_and_is_free_again_when_its_process_is_killed(postgres):
    url = await postgres.new_database()
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, url, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert (await holder.stdout.readline()).strip() == b"held"
        store = await PostgresStore.open(url)
        try:
            async with store.lease("job:digest:praxis@1") as lease:
                assert lease.held is False
            async with store.lease("job:digest:praxis@2") as lease:
                assert lease.held is True  # another run is another lease
            holder.send_signal(signal.SIGKILL)
            await holder.wait()
            deadline = time.monotonic() + 10
            while True:
                async with store.lease("job:digest:praxis@1") as lease:
                    if lease.held:
                        break
                assert time.monotonic() < deadline, "the killed process's lease was never freed"
                await asyncio.sleep(0.1)
            # Let go at the end of the block: the next one to ask holds it.
            async with store.lease("job:digest:praxis@1") as lease:
                assert lease.held is True
        finally:
            await store.close()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
