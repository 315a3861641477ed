"""Moving a community from its SQLite file to PostgreSQL: every table copied, every count checked.

The SQLite file is only read, inside one read transaction, so it may be copied while a Trellis
runs on it and the copy is one consistent moment. The target is migrated to the same version
first and must hold no data; everything lands in one PostgreSQL transaction, so a failure or a
count that does not match leaves the target as empty as it was.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from storage.postgresql import PostgresStore, where
from storage.sqlite import StoreError, migration_steps

BATCH = 20_000
"""Rows read from SQLite and sent with one COPY at a time: memory stays small for any size."""


@dataclass(frozen=True, slots=True)
class Copied:
    """What a copy moved: rows per table, in the order the tables were written."""

    tables: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


async def copy_store(source: Path, target: str, *, password: str | None = None) -> Copied:
    """Copy the Trellis database in ``source`` into the PostgreSQL database at ``target``."""
    reader = _open_source(source)
    try:
        tables = await asyncio.to_thread(_tables_in_order, reader)
        store = await PostgresStore.open(target, password=password)
        try:
            async with store.pool.acquire() as connection, connection.transaction():
                await _refuse_data(connection, target, tables)
                copied = {}
                for table in tables:
                    copied[table] = await _copy_table(reader, connection, table)
                await _check_counts(reader, connection, copied)
                await _continue_numbering(connection, tables)
        finally:
            await store.close()
    finally:
        reader.close()
    return Copied(copied)


def _open_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreError(f"there is no SQLite database at {path}; check the path after sqlite:")
    reader = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
    )
    try:
        reader.execute("PRAGMA busy_timeout = 5000")
        # One read transaction for the whole copy: a consistent moment, whatever is written now.
        reader.execute("BEGIN")
        names = {row[0] for row in reader.execute("SELECT name FROM sqlite_master")}
        version = (
            reader.execute("SELECT version FROM schema_version").fetchone()[0]
            if "schema_version" in names
            else 0
        )
    except sqlite3.DatabaseError as exc:
        reader.close()
        raise StoreError(f"{path} is not a usable Trellis database ({exc})") from None
    known = len(migration_steps())
    if version != known:
        reader.close()
        raise StoreError(
            f"{path} is at schema version {version} and this Trellis copies version {known}: "
            f"start this Trellis once on it (or on a backup of it) so it is upgraded, then copy"
            if 0 < version < known
            else f"{path} is not a Trellis database of this version (schema version {version}, "
            f"this Trellis knows {known}); copy it with the Trellis that wrote it"
        )
    return reader


def _tables_in_order(reader: sqlite3.Connection) -> list[str]:
    """Trellis's tables, each after the tables it references, so every key finds its row."""
    names = [
        row[0]
        for row in reader.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name != 'schema_version' ORDER BY name"
        )
    ]
    needs = {
        name: {row[2] for row in reader.execute(f"PRAGMA foreign_key_list({name})")} - {name}
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [name for name in names if name not in ordered and needs[name] <= set(ordered)]
        if not ready:
            raise StoreError("the tables' references go round in a circle; report this")
        ordered.extend(ready)
    return ordered


async def _refuse_data(connection: asyncpg.Connection, target: str, tables: list[str]) -> None:
    for table in tables:
        if await connection.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
            raise StoreError(
                f"{where(target)} already holds data (table {table}); copy into a new, empty "
                f"database: nothing was written"
            )


async def _copy_table(
    reader: sqlite3.Connection, connection: asyncpg.Connection, table: str
) -> int:
    types = {
        row["column_name"]: row["data_type"]
        for row in await connection.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1",
            table,
        )
    }
    cursor = reader.execute(f"SELECT * FROM {table}")
    columns = [description[0] for description in cursor.description]
    missing = [column for column in columns if column not in types]
    if missing:
        raise StoreError(f"{table}.{missing[0]} has no column to go to in PostgreSQL; report this")
    convert = [_converter(types[column]) for column in columns]
    count = 0
    while rows := await asyncio.to_thread(cursor.fetchmany, BATCH):
        records = [tuple(c(value) for c, value in zip(convert, row, strict=True)) for row in rows]
        await connection.copy_records_to_table(table, records=records, columns=columns)
        count += len(records)
    return count


def _converter(data_type: str) -> Any:
    """SQLite keeps a value as it was written; PostgreSQL's COPY wants the column's own type."""
    if data_type == "text":
        return lambda value: value if value is None or isinstance(value, str) else str(value)
    if data_type == "bigint":
        return lambda value: value if value is None or isinstance(value, int) else int(value)
    return lambda value: value


async def _check_counts(
    reader: sqlite3.Connection, connection: asyncpg.Connection, copied: dict[str, int]
) -> None:
    for table, rows in copied.items():
        source_rows = await asyncio.to_thread(_count, reader, table)
        target_rows = await connection.fetchval(f"SELECT count(*) FROM {table}")
        if not source_rows == rows == target_rows:
            raise StoreError(
                f"table {table}: {source_rows} rows in SQLite but {target_rows} in PostgreSQL; "
                f"nothing was written: report this"
            )


def _count(reader: sqlite3.Connection, table: str) -> int:
    return int(reader.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def _continue_numbering(connection: asyncpg.Connection, tables: Sequence[str]) -> None:
    """Rows added after the copy are numbered after the copied ones."""
    for table in tables:
        sequence = await connection.fetchval(
            "SELECT pg_get_serial_sequence($1, 'id') "
            "WHERE EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = $1 "
            "AND column_name = 'id' AND table_schema = current_schema())",
            table,
        )
        if sequence is not None:
            await connection.execute(
                f"SELECT setval($1, max(id)) FROM {table} HAVING count(*) > 0", sequence
            )
