"""The SQLite store: one file, WAL, versioned migrations kept in the database itself.

All SQL lives in ``storage``. Connections are opened here and passed explicitly; nothing is global.
Writes go through ``transaction()``, which refuses to nest, so a batch is all-or-nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from importlib import resources
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The database cannot be used as it is; the message says why and what to do."""


def migration_steps() -> list[tuple[int, str]]:
    """The ordered schema steps shipped with this Trellis: (version, SQL)."""
    folder = resources.files("storage") / "migrations"
    steps = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            steps.append((version, entry.read_text(encoding="utf-8")))
    steps.sort()
    if [version for version, _ in steps] != list(range(1, len(steps) + 1)):
        raise RuntimeError("storage/migrations must be numbered 001, 002, … without gaps")
    return steps


class Reads:
    """Queries on ``self.db``, shared by the store and its read-only connection."""

    db: aiosqlite.Connection

    async def fetch_all(self, sql: str, params: tuple | dict = ()) -> list[aiosqlite.Row]:
        async with self.db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetch_one(self, sql: str, params: tuple | dict = ()) -> aiosqlite.Row | None:
        async with self.db.execute(sql, params) as cursor:
            return await cursor.fetchone()


class ReadOnlyConnection(Reads):
    """Another connection to the store's file, for long reads run beside the main connection.

    SQLite runs a query without holding Python's lock, so a query on a connection of its own uses
    another core while the rest of the program goes on. With WAL it sees the last committed state,
    and neither blocks the writer nor waits for it.
    """

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db


class SqliteStore(Reads):
    """An open Trellis database. Use ``await SqliteStore.open(path)`` and ``await store.close()``."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self.db = db
        self.path = path
        self._write_lock = asyncio.Lock()
        self._in_transaction = False
        self._readers: list[ReadOnlyConnection] = []
        self._idle_readers: dict[bool, list[ReadOnlyConnection]] = {False: [], True: []}
        """Idle read connections, apart by whether they run in the background."""
        self._apart: ContextVar[ReadOnlyConnection | None] = ContextVar("apart", default=None)

    @classmethod
    async def open(
        cls, path: Path | str, *, steps: list[tuple[int, str]] | None = None
    ) -> SqliteStore:
        """Open (creating if needed) and migrate. ``steps`` defaults to the shipped migrations."""
        path = Path(path)
        if path.exists() and path.is_dir():
            raise StoreError(
                f"storage.path {path} is a folder; point it to a file such as trellis.sqlite3"
            )
        if not path.parent.exists():
            raise StoreError(
                f"storage.path {path}: the folder {path.parent} does not exist; create it or choose another path"
            )
        db = await aiosqlite.connect(path, isolation_level=None)
        db.row_factory = aiosqlite.Row
        store = cls(db, path)
        try:
            await store._configure()
            await store._migrate(steps if steps is not None else migration_steps())
        except sqlite3.DatabaseError as exc:
            await db.close()
            raise StoreError(
                f"{path} is not a usable Trellis database ({exc}); restore it from a backup "
                f"or point storage.path to a new file"
            ) from None
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        for reader in self._readers:
            await reader.db.close()
        self._readers.clear()
        for idle in self._idle_readers.values():
            idle.clear()
        await self.db.close()

    @asynccontextmanager
    async def reading(self, *, background: bool = False) -> AsyncIterator[ReadOnlyConnection]:
        """A read-only connection for this task alone: an idle one, or one opened now.

        Connections opened here are kept for the next read and closed with the store, so a report
        that reads on two of them at once opens two the first time and none after. A
        ``background`` one runs its thread at a lower CPU priority (on Linux), so that a long
        read leaves the cores to storing chat and to short answers.
        """
        idle = self._idle_readers[background]
        if idle:
            reader = idle.pop()
        else:
            db = await aiosqlite.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None
            )
            await db.execute("PRAGMA busy_timeout = 5000")
            await db.execute("PRAGMA query_only = ON")
            if background and sys.platform == "linux":
                await _lower_priority(db)
            db.row_factory = aiosqlite.Row
            reader = ReadOnlyConnection(db)
            self._readers.append(reader)
        try:
            yield reader
        finally:
            idle.append(reader)

    @asynccontextmanager
    async def reads_apart(self, *, background: bool = False) -> AsyncIterator[None]:
        """Within it, this task's reads outside a transaction run on a read-only connection of
        their own (the engine answers commands so: a long read never holds up storing chat)."""
        async with self.reading(background=background) as reader:
            token = self._apart.set(reader)
            try:
                yield
            finally:
                self._apart.reset(token)

    def _reads_on(self) -> Reads:
        reader = self._apart.get()
        if reader is None or (self._in_transaction and self._owner is asyncio.current_task()):
            return super()
        return reader

    async def fetch_all(self, sql: str, params: tuple | dict = ()) -> list[aiosqlite.Row]:
        return await self._reads_on().fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: tuple | dict = ()) -> aiosqlite.Row | None:
        return await self._reads_on().fetch_one(sql, params)

    async def _configure(self) -> None:
        await self.db.execute("PRAGMA busy_timeout = 5000")
        await self.db.execute("PRAGMA foreign_keys = ON")
        await self.db.execute("PRAGMA journal_mode = WAL")
        await self.db.execute("PRAGMA synchronous = NORMAL")
        # Deleted rows are overwritten with zeros, not left in free space (forget-me, retention).
        await self.db.execute("PRAGMA secure_delete = ON")
        # Ingest writes into a dozen indexes at once; at a million messages their pages being
        # written no longer fit SQLite's default 2 MB cache, and each batch read and spilled them
        # again (half the ingest rate). 32 MB holds them; it fills only as pages are used.
        await self.db.execute("PRAGMA cache_size = -32768")

    async def schema_version(self) -> int:
        async with self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ) as cursor:
            if await cursor.fetchone() is None:
                return 0
        async with self.db.execute("SELECT version FROM schema_version") as cursor:
            row = await cursor.fetchone()
        return row[0] if row else 0

    async def _migrate(self, steps: list[tuple[int, str]]) -> None:
        known = len(steps)
        async with self.db.execute("SELECT count(*) FROM sqlite_master") as cursor:
            (objects,) = await cursor.fetchone()
        current = await self.schema_version()
        if current == 0 and objects > 0:
            raise StoreError(
                f"{self.path} holds tables that are not Trellis's; point storage.path to a new file"
            )
        if current > known:
            raise StoreError(
                f"{self.path} was written by a newer Trellis (schema version {current}, this one "
                f"knows up to {known}); upgrade Trellis, or restore a backup made by this version"
            )
        for version, sql in steps[current:]:
            try:
                async with self.transaction() as db:
                    if version == 1:
                        await db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                        await db.execute("INSERT INTO schema_version VALUES (0)")
                    for statement in _statements(sql):
                        await db.execute(statement)
                    await db.execute("UPDATE schema_version SET version = ?", (version,))
            except sqlite3.Error as exc:
                raise StoreError(
                    f"upgrading {self.path} to schema version {version} failed ({exc}); it was "
                    f"left as it was, at version {version - 1}: report this, and keep the file"
                ) from None
            log.info("database %s migrated to schema version %d", self.path.name, version)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; everything in it lands together or not at all."""
        if self._in_transaction and self._owner is asyncio.current_task():
            raise RuntimeError("transactions do not nest; pass the open connection down instead")
        async with self._write_lock:
            self._in_transaction = True
            self._owner = asyncio.current_task()
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if self.db.in_transaction:  # a full disk or I/O error rolls back by itself
                    await self.db.execute("ROLLBACK")
                raise
            else:
                await self.db.execute("COMMIT")
            finally:
                self._in_transaction = False
                self._owner = None

    _owner: asyncio.Task | None = None

    async def drop_old_pages(self) -> None:
        """Move the write-ahead log into the database and empty it, so that what was just deleted
        is on disk nowhere: the log keeps old copies of pages until it is emptied."""
        async with self._write_lock:
            async with self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
                busy, _, _ = await cursor.fetchone()
        if busy:
            log.warning(
                "%s: a reader kept the write-ahead log from being emptied; what was deleted "
                "leaves it at the next retention run",
                self.path.name,
            )

    # Adapters' own state -------------------------------------------------------------------

    async def get_state(self, scope: str, key: str) -> str | None:
        row = await self.fetch_one(
            "SELECT value FROM state WHERE scope = ? AND key = ?", (scope, key)
        )
        return row[0] if row else None

    async def set_state(self, scope: str, key: str, value: str) -> None:
        async with self.transaction() as db:
            await db.execute(
                "INSERT INTO state (scope, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
                (scope, key, value),
            )

    async def delete_state(self, scope: str, key: str) -> None:
        async with self.transaction() as db:
            await db.execute("DELETE FROM state WHERE scope = ? AND key = ?", (scope, key))


async def _lower_priority(db: aiosqlite.Connection) -> None:
    """Lower the nice value of the thread that runs ``db``'s queries (Linux gives each thread
    its own), by running a function inside one of its queries."""

    def lower() -> int:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _BACKGROUND_NICE)
        return 0

    await db.create_function("trellis_lower_priority", 0, lower)
    await db.execute("SELECT trellis_lower_priority()")


_BACKGROUND_NICE = 10


def _statements(sql: str) -> list[str]:
    """Split a migration file into statements (they contain no semicolons inside literals)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
