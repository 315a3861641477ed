"""The SQLite store: one file, WAL, versioned migrations kept in the database itself.

All SQL lives in ``storage``. Connections are opened here and passed explicitly; nothing is global.
Writes go through ``transaction()``, which refuses to nest, so a batch is all-or-nothing.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, cast

import aiosqlite

from storage.contract import Params, Unit

log = logging.getLogger(__name__)


_STORE_DOWN = frozenset(
    {
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
    }
)
"""SQLite's primary error codes that say the store cannot write now, whatever the events are."""

_SERVER_DOWN = frozenset({"08", "53", "57", "58"})
"""PostgreSQL's classes of errors that say the server cannot take writes now: the connection
(08), resources such as a full disk (53), an operator's or a crash's shutdown (57), the system
(58); and, beside them, 25006, a server that is read-only (a standby)."""

_STORE_DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
"""Codes that say the file itself is damaged: waiting will not mend it, a backup will."""


def store_damaged(error: BaseException) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.Error) and code is not None and code & 0xFF in _STORE_DAMAGED


def store_cannot_write(error: BaseException) -> bool:
    """Whether ``error`` says the store cannot write at all (not that one event is wrong)."""
    if isinstance(error, OSError):
        return True
    sqlstate = getattr(error, "sqlstate", None)  # a PostgreSQL server's answer (asyncpg)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in _SERVER_DOWN or sqlstate == "25006"
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, sqlite3.Error) and code is not None and code & 0xFF in _STORE_DOWN


class StoreError(Exception):
    """The database cannot be used as it is; the message says why and what to do."""


CHECKPOINT_EVERY_S = 10.0
"""How often, while writing, the WAL is copied into the database file."""
CHECKPOINT_GRACE_S = 60.0
"""A file last written this soon after a checkpoint began was written by that checkpoint; one
written later (a restore) does not go with the WAL beside it."""


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


class _Queries:
    """Reads on ``self.db``, shared by the store, its read-only connections and its units."""

    dialect = "sqlite"

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def fetch_all(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        async with self.db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetch_one(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        async with self.db.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetch_tuples(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        async with self.db.execute(sql, params) as cursor:
            cursor.row_factory = None
            return cast(list[tuple[Any, ...]], await cursor.fetchall())

    async def fetch_chunks(
        self, sql: str, params: Params, size: int
    ) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        async with self.db.execute(sql, params) as cursor:
            cursor.row_factory = None
            while rows := await cursor.fetchmany(size):
                yield cast(list[tuple[Any, ...]], rows)


class ReadOnlyConnection(_Queries):
    """Another connection to the store's file, for long reads run beside the main connection.

    SQLite runs a query without holding Python's lock, so a query on a connection of its own uses
    another core while the rest of the program goes on. With WAL it sees the last committed state,
    and neither blocks the writer nor waits for it.
    """


class SqliteUnit(_Queries):
    """The open write transaction of a ``SqliteStore`` (the contract's ``Unit``)."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.db.execute(sql, params) as cursor:
            return cursor.rowcount

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> int:
        cursor = await self.db.executemany(sql, rows)
        return cursor.rowcount

    async def insert(self, sql: str, params: Params = ()) -> int:
        row = await self.fetch_one(sql, params)
        if row is None:
            raise RuntimeError(f"no row inserted by {sql!r}")
        return int(row[0])


def sqlite_connection(tx: Unit) -> aiosqlite.Connection:
    """The aiosqlite connection under a SQLite unit, for the hot paths written for SQLite alone
    (ingest's batches, the rollups' recount with its registered day function)."""
    if not isinstance(tx, SqliteUnit):
        raise TypeError(f"a SQLite unit of work is needed here, not {type(tx).__name__}")
    return tx.db


class SqliteStore(_Queries):
    """An open Trellis database. Use ``await SqliteStore.open(path)`` and ``await store.close()``."""

    def __init__(self, db: aiosqlite.Connection, path: Path, lock: InstanceLock | None) -> None:
        super().__init__(db)
        self._own_reads = _Queries(db)
        """Reads on the store's own connection (it also writes)."""
        self.path = path
        self._lock = lock
        self._write_lock = asyncio.Lock()
        self._in_transaction = False
        self._readers: list[ReadOnlyConnection] = []
        self._idle_readers: dict[bool, list[ReadOnlyConnection]] = {False: [], True: []}
        """Idle read connections, apart by whether they run in the background."""
        self._apart: ContextVar[ReadOnlyConnection | None] = ContextVar("apart", default=None)
        self._checkpointed = time.monotonic()
        self._checkpoints = asyncio.Lock()
        """One checkpoint at a time: each notes its own start and end in the lock record."""
        self._checkpointer: aiosqlite.Connection | None = None
        """The connection the regular checkpoints run on, opened at the first one."""
        self._checkpointing: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        path: Path | str,
        *,
        steps: list[tuple[int, str]] | None = None,
        exclusive: bool = False,
    ) -> SqliteStore:
        """Open (creating if needed) and migrate. ``steps`` defaults to the shipped migrations.

        With ``exclusive`` (a running Trellis, a backfill) a database already used by another
        process is refused; without it (a report) the store goes along with the running one.
        A file that is not Trellis's is looked at read-only and left exactly as it was.
        """
        path = Path(path)
        if path.exists() and path.is_dir():
            raise StoreError(
                f"storage.path {path} is a folder; point it to a file such as trellis.sqlite3"
            )
        if not path.parent.exists():
            raise StoreError(
                f"storage.path {path}: the folder {path.parent} does not exist; create it or choose another path"
            )
        lock = InstanceLock.take(path, required=exclusive)
        try:
            if lock is not None:
                lock.check_wal()
            steps = steps if steps is not None else migration_steps()
            if path.exists() and path.stat().st_size > 0:
                await asyncio.to_thread(_inspect_read_only, path, len(steps))
            return await cls._connect(path, steps, lock)
        except BaseException:
            if lock is not None:
                lock.release(clean=False)
            raise

    @classmethod
    async def _connect(
        cls, path: Path, steps: list[tuple[int, str]], lock: InstanceLock | None
    ) -> SqliteStore:
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(
                f"storage.path {path} cannot be opened ({exc}); check that Trellis may write "
                f"in {path.parent}"
            ) from None
        db.row_factory = aiosqlite.Row
        store = cls(db, path, lock)
        try:
            await store._configure()
            await store._migrate(steps)
        except sqlite3.DatabaseError as exc:
            await db.close()
            raise StoreError(
                f"{path} is not a usable Trellis database ({exc}); restore it from a backup "
                f"or point storage.path to a new file"
            ) from None
        except BaseException:
            await db.close()
            raise
        if lock is not None:
            lock.record_database()
        return store

    async def close(self) -> None:
        """Close every connection, even if one fails (a damaged file), and release the lock.

        An unclosed connection's thread would keep the process alive after an error."""
        failed = False
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])
        others = [reader.db for reader in self._readers]
        if self._checkpointer is not None:
            others.append(self._checkpointer)
            self._checkpointer = None
        for connection in [*others, self.db]:
            try:
                if connection is self.db and self._lock is not None:
                    # The readers are closed: copy the WAL into the file now, so a clean stop
                    # leaves one file (and the lock record its fingerprint).
                    await connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                await connection.close()
            except sqlite3.Error as exc:
                log.error("closing %s: %s", self.path, exc)
                failed = True
        self._readers.clear()
        for idle in self._idle_readers.values():
            idle.clear()
        if self._lock is not None:
            self._lock.release(clean=not failed)
            self._lock = None

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

    def _reads_on(self) -> _Queries:
        reader = self._apart.get()
        if reader is None or (self._in_transaction and self._owner is asyncio.current_task()):
            return self._own_reads
        return reader

    async def fetch_all(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        return await self._reads_on().fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        return await self._reads_on().fetch_one(sql, params)

    async def fetch_tuples(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return await self._reads_on().fetch_tuples(sql, params)

    async def fetch_chunks(
        self, sql: str, params: Params, size: int
    ) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        async for rows in self._reads_on().fetch_chunks(sql, params, size):
            yield rows

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
        if self._lock is not None:
            # Checkpoints are ours, so the lock record knows the database file after each one
            # (see InstanceLock.check_wal).
            await self.db.execute("PRAGMA wal_autocheckpoint = 0")

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
            row = await cursor.fetchone()
        assert row is not None  # count(*) always answers one row
        objects = row[0]
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
    async def transaction(self) -> AsyncIterator[Unit]:
        """One write transaction; everything in it lands together or not at all."""
        if self._in_transaction and self._owner is asyncio.current_task():
            raise RuntimeError("transactions do not nest; pass the open connection down instead")
        async with self._write_lock:
            self._in_transaction = True
            self._owner = asyncio.current_task()
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteUnit(self.db)
            except BaseException:
                if self.db.in_transaction:  # a full disk or I/O error rolls back by itself
                    await self.db.execute("ROLLBACK")
                raise
            else:
                await self.db.execute("COMMIT")
                await self._checkpoint_now_and_then()
            finally:
                self._in_transaction = False
                self._owner = None

    async def _checkpoint_now_and_then(self) -> None:
        """Every few seconds of writing, start copying the WAL into the database (SQLite's own
        automatic checkpoint is off when we hold the lock). The copy runs on a connection of its
        own and the writer goes on meanwhile: a checkpoint writes and syncs the database file,
        which takes a tenth of a second and more, and storing chat must not wait for it."""
        if (
            self._lock is None
            or self._checkpointing is not None
            or time.monotonic() - self._checkpointed < CHECKPOINT_EVERY_S
        ):
            return
        self._checkpointing = asyncio.create_task(self._checkpoint_apart())

    async def _checkpoint_apart(self) -> None:
        try:
            if self._checkpointer is None:
                self._checkpointer = await aiosqlite.connect(self.path, isolation_level=None)
            await self._checkpoint("PASSIVE", self._checkpointer)
        except sqlite3.Error as exc:
            # What was committed stands; the WAL is copied at the next try.
            log.warning("checkpoint of %s failed: %s", self.path.name, exc)
        finally:
            self._checkpointing = None

    async def _checkpoint(
        self, mode: str, connection: aiosqlite.Connection | None = None
    ) -> tuple[int, int, int]:
        """Every checkpoint goes through here: it writes the database file, so the lock record
        notes the file it leaves (``InstanceLock.check_wal`` compares it after a crash)."""
        async with self._checkpoints:
            if self._lock is not None:
                self._lock.record["checkpoint_began"] = time.time()
                self._lock.note("checkpointing")
            try:
                async with (connection or self.db).execute(
                    f"PRAGMA wal_checkpoint({mode})"
                ) as cursor:
                    row = await cursor.fetchone()
                assert row is not None  # the pragma always answers (busy, log frames, checkpointed)
                busy, log_frames, checkpointed = row
                return busy, log_frames, checkpointed
            finally:
                if self._lock is not None:
                    self._lock.record_database()
                self._checkpointed = time.monotonic()

    _owner: asyncio.Task[object] | None = None

    @asynccontextmanager
    async def lease(self, name: str, *, shared: bool = False) -> AsyncIterator[OwnLease]:
        """Always held: one process at a time runs on a SQLite file (its instance lock)."""
        yield OwnLease()

    async def drop_old_pages(self) -> None:
        """Move the write-ahead log into the database and empty it, so that what was just deleted
        is on disk nowhere: the log keeps old copies of pages until it is emptied."""
        async with self._write_lock:
            busy, _, _ = await self._checkpoint("TRUNCATE")
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

    async def state_entries(self, scope: str) -> dict[str, str]:
        rows = await self.fetch_all("SELECT key, value FROM state WHERE scope = ?", (scope,))
        return {row[0]: row[1] for row in rows}


async def _lower_priority(db: aiosqlite.Connection) -> None:
    """Lower the nice value of the thread that runs ``db``'s queries (Linux gives each thread
    its own), by running a function inside one of its queries."""

    def lower() -> int:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _BACKGROUND_NICE)
        return 0

    await db.create_function("trellis_lower_priority", 0, lower)
    await db.execute("SELECT trellis_lower_priority()")


_BACKGROUND_NICE = 10


LockRecord = dict[str, Any]
"""The lock file's JSON object (pid, host, since, state, database fingerprint, checkpoint_began):
read back as any JSON, since an older Trellis or a crash may have left other keys or none."""


class OwnLease:
    """A lease of the one process on the file: held for as long as the process runs."""

    held = True

    async def still_held(self) -> bool:
        return True


class InstanceLock:
    """One process per database: an OS lock on ``<database>.lock``, which also records who holds
    it (pid, host, since when) and what the database file looked like after the last checkpoint.

    The kernel releases the lock when the process ends, kill -9 included, so a crash never leaves
    the database locked. The record lets ``check_wal`` tell a WAL left by a crash (to be applied)
    from one left beside a file that was restored or replaced since (applying it would silently
    overwrite the restored data).
    """

    def __init__(self, path: Path, fd: int, previous: LockRecord) -> None:
        self.path = path
        self.fd = fd
        self.previous = previous
        self.record: LockRecord = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "state": "opening",
            "database": previous.get("database"),
        }

    @classmethod
    def take(cls, database: Path, *, required: bool) -> InstanceLock | None:
        """The lock, or None when another process holds it and ``required`` is false."""
        lock_path = database.with_name(database.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(
                f"storage.path {database}: cannot create files in {database.parent} "
                f"({exc.strerror}); choose a folder Trellis may write to"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_record(fd)
            os.close(fd)
            if not required:
                return None
            raise StoreError(
                f"{database} is in use by another Trellis (pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')}, since {holder.get('since', '?')}); stop it first: "
                f"one database serves one Trellis at a time."
            ) from None
        lock = cls(database, fd, _read_record(fd))
        lock.note("opening")
        return lock

    def check_wal(self) -> None:
        """Refuse a WAL that does not belong to the database file beside it."""
        wal = self.path.with_name(self.path.name + "-wal")
        if not wal.exists() or wal.stat().st_size == 0 or not self.path.exists():
            return
        state = self.previous.get("state")
        began = self.previous.get("checkpoint_began", 0)
        if state == "checkpointing" and self.path.stat().st_mtime - began < CHECKPOINT_GRACE_S:
            return  # died during a checkpoint: the file was written then, the WAL holds it all
        if self.previous.get("database") == _fingerprint(self.path):
            return  # left by the last Trellis on this very file (a crash): SQLite applies it
        raise StoreError(
            f"{wal.name} beside {self.path} was not left by the last Trellis on this file (the "
            f"file was restored or replaced since); if {self.path.name} is the copy you want, "
            f"delete {wal.name} and {self.path.name}-shm and start again, otherwise put back "
            f"the file that goes with it"
        )

    def record_database(self) -> None:
        self.record["database"] = _fingerprint(self.path)
        self.note("running")

    def note(self, state: str) -> None:
        self.record["state"] = state
        data = json.dumps(self.record).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def release(self, *, clean: bool) -> None:
        if clean:
            self.record["database"] = _fingerprint(self.path)
            self.note("closed")
        os.close(self.fd)  # releases the lock


def _read_record(fd: int) -> LockRecord:
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _fingerprint(path: Path) -> list[int] | None:
    """What changes when the file is replaced or written outside Trellis: inode, size, mtime."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns]


def _inspect_read_only(path: Path, known: int) -> None:
    """Refuse, without changing a byte, a file that is not a Trellis database or is too new."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"{path} cannot be opened ({exc}); check its permissions") from None
    try:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        version = (
            db.execute("SELECT version FROM schema_version").fetchone()[0]
            if "schema_version" in names
            else 0
        )
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{path} is not a usable Trellis database ({exc}); restore it from a backup "
            f"or point storage.path to a new file"
        ) from None
    finally:
        db.close()
    if names and version == 0:
        raise StoreError(
            f"{path} holds tables that are not Trellis's; point storage.path to a new file"
        )
    if version > known:
        raise StoreError(
            f"{path} was written by a newer Trellis (schema version {version}, this one "
            f"knows up to {known}); upgrade Trellis, or restore a backup made by this version"
        )


def backup_database(source: Path, destination: Path) -> None:
    """Copy a Trellis database with SQLite's online backup API, reading it only.

    It needs no instance lock, so it runs beside a running Trellis: the copy is made in one step
    inside one read transaction, a consistent moment however much Trellis writes meanwhile. The
    copy is written beside ``destination`` and renamed into place once complete. It is not
    migrated: a backup taken before an upgrade restores with the Trellis that made it.
    """
    _inspect_read_only(source, len(migration_steps()))
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    reader = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        reader.execute("PRAGMA busy_timeout = 5000")
        copy = sqlite3.connect(partial)
        try:
            reader.backup(copy)
            # A restored file should not need its WAL: the copy is a single self-contained file.
            copy.execute("PRAGMA journal_mode = DELETE")
            (check,) = copy.execute("PRAGMA quick_check").fetchone()
        finally:
            copy.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(f"backing up {source} failed ({exc}); nothing was written") from None
    finally:
        reader.close()
    if check != "ok":
        partial.unlink(missing_ok=True)
        raise StoreError(
            f"{source} is damaged ({check}); the backup was not written: keep the file and "
            f"restore the latest good backup"
        )
    partial.rename(destination)


def _statements(sql: str) -> list[str]:
    """Split a migration file into statements (they contain no semicolons inside literals)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
