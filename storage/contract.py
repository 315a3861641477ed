"""The Store contract: what every backend (SQLite, PostgreSQL) gives the storage functions.

One convention: the caller opens the unit of work and storage functions take it. A read takes
``db: Reads`` (the store itself, a ``reading()`` connection, or an open unit, which sees its own
writes); a write takes ``tx: Unit``, and no storage function opens a transaction of its own, so a
command or a job writes everything it changes in one transaction, or nothing.

SQL is written once, with ``?`` positional or ``:name`` placeholders (the PostgreSQL backend
translates them to ``$n``); a function branches on ``db.dialect`` only where the dialects differ.
Each aggregate (members, activity, facilitation, knowledge, surveys, jobs, …) is a module of such
functions: their signatures, typed against these protocols, are that aggregate's contract.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeAlias, runtime_checkable

Params: TypeAlias = Sequence[Any] | Mapping[str, Any]
"""Positional values for ``?`` placeholders, or named ones for ``:name``."""

Row: TypeAlias = Any
"""A result row, indexable by position and by column name (aiosqlite.Row, asyncpg.Record)."""


@runtime_checkable
class Reads(Protocol):
    """Something to read from: the store, a read connection, or an open unit of work."""

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql': for the few statements the dialects spell differently."""
        ...

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetch_tuples(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        """The rows as plain tuples: for reads of many rows, where named rows cost twice as much."""
        ...

    def fetch_chunks(
        self, sql: str, params: Params, size: int
    ) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        """The rows, ``size`` at a time: for reads too large to hold at once. Each row indexes
        and unpacks as a tuple (on PostgreSQL it is asyncpg's record, not copied into one)."""
        ...


@runtime_checkable
class Unit(Reads, Protocol):
    """One write transaction: everything written through it lands together or not at all."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; how many rows it changed."""
        ...

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> int | None:
        """Run one statement for each of ``rows``; how many rows they changed in all, or None
        where the database does not say (PostgreSQL, for statements it runs row by row)."""
        ...

    async def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT that ends with ``RETURNING id``; the new row's id."""
        ...


class Lease(Protocol):
    """A lease asked for among every process on the database (see ``Store.lease``)."""

    @property
    def held(self) -> bool:
        """Whether this process got it."""
        ...

    async def still_held(self) -> bool:
        """Whether this process holds it still: False once the database let it go (the
        connection that holds it broke), when another process may hold it now."""
        ...


@runtime_checkable
class Store(Reads, Protocol):
    """An open Trellis database. Its reads outside a transaction see committed data."""

    def transaction(self) -> AbstractAsyncContextManager[Unit]:
        """The one write transaction of a command, a job or a batch; transactions do not nest."""
        ...

    def reading(self, *, background: bool = False) -> AbstractAsyncContextManager[Reads]:
        """A connection of its own for a long read, seeing the last committed state."""
        ...

    def reads_apart(self, *, background: bool = False) -> AbstractAsyncContextManager[None]:
        """Within it, this task's reads outside a transaction run on a connection of their own."""
        ...

    async def get_state(self, scope: str, key: str) -> str | None: ...

    async def set_state(self, scope: str, key: str, value: str) -> None: ...

    async def delete_state(self, scope: str, key: str) -> None: ...

    async def state_entries(self, scope: str) -> dict[str, str]: ...

    async def drop_old_pages(self) -> None:
        """Leave no copy of deleted rows in the backend's logs or free space, where the backend
        can (SQLite: its file and WAL; PostgreSQL cannot, see ``PostgresStore``)."""
        ...

    def lease(self, name: str, *, shared: bool = False) -> AbstractAsyncContextManager[Lease]:
        """``name`` among every process on the database, held by this process or not, while the
        block runs (a run of a job, a platform connection): one holder at a time, let go when the
        holder dies. ``shared``: held by any number of processes at once, and by none while one
        holds it alone (so a lease taken alone tells whether any process holds it shared)."""
        ...

    async def schema_version(self) -> int: ...

    async def close(self) -> None: ...


async def fetch_aggregate(db: Reads, sql: str, params: Params = ()) -> Row:
    """The one row of a statement that always gives one (an aggregate without GROUP BY)."""
    row = await db.fetch_one(sql, params)
    if row is None:
        raise RuntimeError(f"no row from {sql!r}")
    return row
