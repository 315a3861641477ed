"""The PostgreSQL store (asyncpg): the same Store contract and migration versions as SQLite's.

For deployments that outgrow one process: a pool of connections to a server the operator runs.
SQL is written once for both backends with ``?`` or ``:name`` placeholders; each statement text
is translated to PostgreSQL's ``$n`` once and the translation kept. Writes of one process go
through ``transaction()`` one at a time, as on SQLite, so code written for one writer behaves
the same here; several processes on one database meet in the database's own locks and claims.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from storage.sqlite import StoreError, migration_steps

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]

_MIGRATION_LOCK = 0x7472656C6C6973
"""The advisory lock key ("trellis") held while migrating, so that two processes starting at
once on a new database do not both run the same step."""


_KEEPALIVE: dict[str, Any] = {
    "server_settings": {
        "tcp_keepalives_idle": "5",
        "tcp_keepalives_interval": "2",
        "tcp_keepalives_count": "3",
    }
}
"""The server probes an idle connection after 5 s and drops it after three unanswered probes 2 s
apart: a process whose host vanished loses its leases and its locks within about 11 s."""


def where(url: str) -> str:
    """The URL as it may be shown: host, port and database, never a password."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{user}{host}{port}{parts.path}"


@lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """``sql`` with ``?`` or ``:name`` placeholders written as ``$1, $2, …``, and the names in
    the order of their numbers (None for positional ``?``). Literals, quoted names, comments and
    ``::`` casts are left alone."""
    out: list[str] = []
    names: list[str] = []
    positional = 0
    i = 0
    n = len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == char:
                    if end + 1 < n and sql[end + 1] == char:  # a doubled quote inside
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end])
            i = end
        elif char == "?":
            positional += 1
            out.append(f"${positional}")
            i += 1
        elif char == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
        elif char == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            end = i + 1
            while end < n and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            name = sql[i + 1 : end]
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
            i = end
        else:
            out.append(char)
            i += 1
    if positional and names:
        raise ValueError("a statement uses either ? or :name placeholders, not both")
    return "".join(out), (tuple(names) if names else None)


def _arguments(names: tuple[str, ...] | None, params: Params) -> Sequence[Any]:
    if names is None:
        if isinstance(params, dict):
            raise TypeError("a statement with ? placeholders takes a sequence of parameters")
        return params
    if not isinstance(params, dict):
        raise TypeError("a statement with :name placeholders takes a dict of parameters")
    return [params[name] for name in names]


def _reason(error: BaseException) -> str:
    """An error's own message, without the server's hint and detail lines."""
    return str(getattr(error, "message", None) or error).splitlines()[0]


def _changed(status: str) -> int:
    """Rows changed, from a command status such as 'UPDATE 3' or 'INSERT 0 1'."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _number(text: str) -> int | float:
    """PostgreSQL's ``numeric`` (what sum() of a bigint and avg() give) as SQLite gives it: a
    whole number as an int, anything else as a float."""
    return float(text) if any(char in text for char in ".eEN") else int(text)


async def _configure(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "numeric", encoder=str, decoder=_number, schema="pg_catalog", format="text"
    )


class PostgresReads:
    """Queries on one connection: a reading connection, or the connection of a unit of work."""

    dialect = "postgresql"

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def fetch_all(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        text, names = translate(sql)
        return list(await self.connection.fetch(text, *_arguments(names, params)))

    async def fetch_one(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        text, names = translate(sql)
        row: asyncpg.Record | None = await self.connection.fetchrow(
            text, *_arguments(names, params)
        )
        return row


class PostgresUnit(PostgresReads):
    """One write transaction: everything done through it lands together or not at all."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        text, names = translate(sql)
        args = _arguments(names, params)
        if not args:
            # Without parameters asyncpg sends the text as it is (no prepared statement).
            return _changed(await self.connection.execute(text))
        return _changed(await self.connection.execute(text, *args))

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> None:
        text, names = translate(sql)
        batch = [_arguments(names, row) for row in rows]
        if batch:
            await self.connection.executemany(text, batch)

    async def insert(self, sql: str, params: Params = ()) -> int:
        text, names = translate(sql)
        value = await self.connection.fetchval(text, *_arguments(names, params))
        if value is None:
            raise RuntimeError("insert() needs a statement ending with RETURNING id")
        return int(value)


class PostgresStore:
    """An open Trellis database on PostgreSQL. ``await PostgresStore.open(url)``, then
    ``await store.close()``."""

    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool, url: str, password: str | None) -> None:
        self.pool = pool
        self.url = url
        self._password = password
        self._write_lock = asyncio.Lock()
        self._unit: ContextVar[tuple[asyncio.Task[Any] | None, PostgresUnit] | None] = ContextVar(
            "unit", default=None
        )
        self._apart: ContextVar[PostgresReads | None] = ContextVar("apart", default=None)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        password: str | None = None,
        steps: list[tuple[int, str]] | None = None,
        max_connections: int = 10,
    ) -> PostgresStore:
        """Connect and migrate. ``steps`` defaults to the shipped migrations, PostgreSQL's way."""
        steps = steps if steps is not None else postgresql_steps()
        try:
            pool = await asyncpg.create_pool(
                url,
                password=password,
                min_size=1,
                max_size=max_connections,
                init=_configure,
                **_KEEPALIVE,
            )
        except asyncpg.InvalidPasswordError:
            raise StoreError(
                f"{where(url)} refused the password; check the environment variable that "
                f"storage.password_env names"
            ) from None
        except asyncpg.InvalidCatalogNameError:
            raise StoreError(
                f"{where(url)}: the database does not exist; create it (createdb) or correct "
                f"storage.url"
            ) from None
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreError(
                f"cannot connect to {where(url)} ({_reason(exc)}); check storage.url and that the server "
                f"is running"
            ) from None
        store = cls(pool, url, password)
        try:
            await store._migrate(steps)
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        await self.pool.close()

    # Reads --------------------------------------------------------------------------------

    def _reads_on(self) -> PostgresReads | None:
        """The connection this task reads on: its own open unit (which sees what it wrote), or
        its connection apart; None for any connection of the pool."""
        unit = self._unit.get()
        if unit is not None and unit[0] is asyncio.current_task():
            return unit[1]
        return self._apart.get()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        reads = self._reads_on()
        if reads is not None:
            return await reads.fetch_all(sql, params)
        async with self.pool.acquire() as connection:
            return await PostgresReads(connection).fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        reads = self._reads_on()
        if reads is not None:
            return await reads.fetch_one(sql, params)
        async with self.pool.acquire() as connection:
            return await PostgresReads(connection).fetch_one(sql, params)

    @asynccontextmanager
    async def reading(self, *, background: bool = False) -> AsyncIterator[PostgresReads]:
        """A connection of the pool for this task's reads. Each statement sees what was committed
        when it began, as on SQLite. ``background`` changes nothing here: the server runs each
        connection's queries in a process of its own, beside the writers."""
        async with self.pool.acquire() as connection:
            yield PostgresReads(connection)

    @asynccontextmanager
    async def reads_apart(self, *, background: bool = False) -> AsyncIterator[None]:
        """Within it, this task's reads outside a transaction run on a connection of their own."""
        async with self.reading(background=background) as reads:
            token = self._apart.set(reads)
            try:
                yield
            finally:
                self._apart.reset(token)

    # Writes -------------------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresUnit]:
        """One write transaction; everything in it lands together or not at all."""
        current = self._unit.get()
        if current is not None and current[0] is asyncio.current_task():
            raise RuntimeError("transactions do not nest; pass the open unit down instead")
        async with self._write_lock, self.pool.acquire() as connection:
            unit = PostgresUnit(connection)
            token = self._unit.set((asyncio.current_task(), unit))
            try:
                async with connection.transaction():
                    yield unit
            finally:
                self._unit.reset(token)

    @asynccontextmanager
    async def lease(self, name: str) -> AsyncIterator[bool]:
        """Whether this process holds ``name`` among all the processes on this database, for as
        long as the block runs (a run of a job, the one connection of a bot account).

        A session advisory lock on a connection of its own: the server lets it go when the
        process ends, kill -9 included, and, through TCP keepalives, within seconds of its
        host vanishing, so a lease never outlives its holder and needs no renewing."""
        connection = await asyncpg.connect(self.url, password=self._password, **_KEEPALIVE)
        try:
            held = await connection.fetchval(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", name
            )
            yield bool(held)
        finally:
            await connection.close()  # ends the session, and with it the lock

    async def drop_old_pages(self) -> None:
        """Remove the old versions of deleted rows from the tables' files now (forget-me,
        retention): PostgreSQL keeps them until a vacuum."""
        async with self.pool.acquire() as connection:
            await connection.execute("VACUUM")

    # Schema -------------------------------------------------------------------------------

    async def schema_version(self) -> int:
        async with self.pool.acquire() as connection:
            return await _version(connection)

    async def _migrate(self, steps: list[tuple[int, str]]) -> None:
        known = len(steps)
        async with self.pool.acquire() as connection:
            await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            try:
                current = await _version(connection)
                tables = await connection.fetchval(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_schema = current_schema()"
                )
                if current == 0 and tables > 0:
                    raise StoreError(
                        f"{where(self.url)} holds tables that are not Trellis's; point "
                        f"storage.url to a new database"
                    )
                if current > known:
                    raise StoreError(
                        f"{where(self.url)} was written by a newer Trellis (schema version "
                        f"{current}, this one knows up to {known}); upgrade Trellis, or restore "
                        f"a backup made by this version"
                    )
                for version, sql in steps[current:]:
                    await self._step(connection, version, sql)
            finally:
                await connection.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)

    async def _step(self, connection: asyncpg.Connection, version: int, sql: str) -> None:
        try:
            async with connection.transaction():
                if version == 1:
                    await connection.execute(
                        "CREATE TABLE schema_version (version INTEGER NOT NULL)"
                    )
                    await connection.execute("INSERT INTO schema_version VALUES (0)")
                    # SQLite's NOCASE (the profiles' index, name look-ups) as a collation of the
                    # same name, so those statements are written once for both.
                    await connection.execute(
                        "CREATE COLLATION nocase (provider = icu, "
                        "locale = 'und-u-ks-level2', deterministic = false)"
                    )
                for statement in statements(sql):
                    await connection.execute(statement)
                await connection.execute("UPDATE schema_version SET version = $1", version)
        except asyncpg.PostgresError as exc:
            raise StoreError(
                f"upgrading {where(self.url)} to schema version {version} failed "
                f"({_reason(exc)}); it "
                f"was left as it was, at version {version - 1}: report this, and keep the database"
            ) from None
        log.info("database %s migrated to schema version %d", where(self.url), version)

    # Adapters' own state ------------------------------------------------------------------

    async def get_state(self, scope: str, key: str) -> str | None:
        row = await self.fetch_one(
            "SELECT value FROM state WHERE scope = ? AND key = ?", (scope, key)
        )
        return None if row is None else str(row[0])

    async def set_state(self, scope: str, key: str, value: str) -> None:
        async with self.transaction() as tx:
            await tx.execute(
                "INSERT INTO state (scope, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
                (scope, key, value),
            )

    async def delete_state(self, scope: str, key: str) -> None:
        async with self.transaction() as tx:
            await tx.execute("DELETE FROM state WHERE scope = ? AND key = ?", (scope, key))


async def _version(connection: asyncpg.Connection) -> int:
    exists = await connection.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    if not exists:
        return 0
    version = await connection.fetchval("SELECT version FROM schema_version")
    return int(version or 0)


def postgresql_steps() -> list[tuple[int, str]]:
    """The shipped migrations for PostgreSQL: a version's own file in migrations/postgresql/
    where its SQLite statements are not portable, otherwise the SQLite file with its column types
    written as PostgreSQL spells them (``postgresql_types``)."""
    variants = resources.files("storage") / "migrations" / "postgresql"
    own = {
        int(entry.name.split("_", 1)[0]): entry.read_text(encoding="utf-8")
        for entry in variants.iterdir()
        if entry.name.endswith(".sql")
    }
    return [
        (version, own[version] if version in own else postgresql_types(sql))
        for version, sql in migration_steps()
    ]


_ROWID_ALIAS = re.compile(r"\bid INTEGER PRIMARY KEY\b")
_INTEGER = re.compile(r"\bINTEGER\b")
_WITHOUT_ROWID = re.compile(r"\)\s*WITHOUT ROWID")


def postgresql_types(sql: str) -> str:
    """A SQLite migration's column types as PostgreSQL writes them: an ``id INTEGER PRIMARY KEY``
    (SQLite's row id, numbered by the database) becomes an identity column, every INTEGER a
    BIGINT (SQLite's integers are 64-bit: epoch seconds and ids fit either way), and ``WITHOUT
    ROWID`` (a storage layout PostgreSQL does not have) goes."""
    sql = _ROWID_ALIAS.sub("id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql)
    sql = _INTEGER.sub("BIGINT", sql)
    return _WITHOUT_ROWID.sub(")", sql)


def statements(sql: str) -> list[str]:
    """Split a migration file into statements (they contain no semicolons inside literals)."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
