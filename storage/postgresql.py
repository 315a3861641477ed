"""The PostgreSQL store (asyncpg): the same Store contract and migration versions as SQLite's.

For deployments that outgrow one process: a pool of connections to a server the operator runs.
SQL is written once for both backends with ``?`` or ``:name`` placeholders; each statement text
is translated to PostgreSQL's ``$n`` once and the translation kept. Writes of one process go
through ``transaction()`` one at a time, as on SQLite, so code written for one writer behaves
the same here; several processes on one database meet in the database's own locks and claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from functools import lru_cache
from importlib import resources
from typing import Any, cast
from urllib.parse import urlsplit

import asyncpg

from storage.contract import Params
from storage.sqlite import StoreError, migration_steps

log = logging.getLogger(__name__)


_MIGRATION_LOCK = 0x7472656C6C6973
"""The advisory lock key ("trellis") held while migrating, so that two processes starting at
once on a new database do not both run the same step."""


_KEEPALIVE: dict[str, Any] = {
    "server_settings": {
        "tcp_keepalives_idle": "5",
        "tcp_keepalives_interval": "2",
        "tcp_keepalives_count": "3",
        "jit": "off",
        "work_mem": "64MB",
    }
}
"""The server probes an idle connection after 5 s and drops it after three unanswered probes 2 s
apart: a process whose host vanished loses its leases and its locks within about 11 s.

No JIT: compiling a statement took 190 ms of a year report's first responses at a million
messages (PostgreSQL compiles any statement it estimates as costly), more than the statement saved.
64 MB of work memory per sort or hash: a year's ties (300,000 pairs) and theme weeks are grouped in
memory instead of spilling to temporary files in 20 batches (the default is 4 MB)."""


_CLOSE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


class AdvisoryLease:
    """A session advisory lock asked for on ``connection``: held while that session lasts."""

    def __init__(self, connection: asyncpg.Connection, held: bool) -> None:
        self._connection = connection
        self.held = held

    async def still_held(self) -> bool:
        """Whether the session holding the lock is still there (the lock lives as long)."""
        if not self.held or self._connection.is_closed():
            return False
        try:
            await asyncio.wait_for(self._connection.fetchval("SELECT 1"), 5)
        except (*_CLOSE_ERRORS, asyncpg.InternalClientError):
            return False
        return True


def where(url: str) -> str:
    """The URL as it may be shown: host, port and database, never a password."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{user}{host}{port}{parts.path}"


_TOKEN = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|::|\?\d*|:[A-Za-z_]\w*"""
    r"|[A-Za-z_][\w.]*|\s+|.",
    re.S,
)
"""Literals, quoted names, comments, casts, placeholders, words (with their dots), blanks and
single characters: what ``translate`` reads a statement as."""

_RENAMED = {"instr": "strpos", "char": "chr"}
"""SQLite's functions that PostgreSQL has under another name, with the same arguments."""


@lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """``sql`` as PostgreSQL takes it, and the names of its ``:name`` parameters in the order of
    their numbers (None for positional ones).

    Placeholders ``?``, ``?N`` and ``:name`` become ``$N``. SQLite's own spellings of things both
    databases do become PostgreSQL's, so that a statement is written once: ``INSERT OR IGNORE``
    (``ON CONFLICT DO NOTHING``), the planner hint ``INDEXED BY``, the ``temp.`` schema, the
    two-argument ``min``/``max`` (``LEAST``/``GREATEST``), ``group_concat`` (``string_agg``),
    ``json_each`` of a JSON array (``json_array_elements_text``), ``instr`` and ``char``.
    Literals, quoted names and comments are left as written.
    """
    tokens = _respell_calls(_alias_subqueries(_TOKEN.findall(sql)))
    names: list[str] = []
    positional = 0
    numbered = False
    ignore = False
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        word = token.lower()
        if token.startswith("?"):
            if len(token) > 1:
                numbered = True
                out.append(f"${token[1:]}")
            else:
                positional += 1
                out.append(f"${positional}")
        elif token.startswith(":") and len(token) > 1 and token[1] != ":":
            name = token[1:]
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
        elif word == "or" and _next_words(tokens, i, 2) == ["ignore", "into"] and ignore is False:
            ignore = True
            i = _skip_words(tokens, i, 1)  # OR IGNORE: the conflict clause goes at the end
        elif word == "is" and _compares_parameter(_next_words(tokens, i, 2)):
            # SQLite's IS compares values as equals does, a NULL equal to a NULL.
            if _next_words(tokens, i, 1) == ["not"]:
                out.append("IS DISTINCT FROM")
                i = _skip_words(tokens, i, 1)
            else:
                out.append("IS NOT DISTINCT FROM")
        elif word == "indexed" and _next_words(tokens, i, 1) == ["by"]:
            i = _skip_words(tokens, i, 2)  # INDEXED BY name: a hint to SQLite's planner
        elif word == "not" and _next_words(tokens, i, 1) == ["indexed"]:
            i = _skip_words(tokens, i, 1)  # NOT INDEXED: the same
        elif token == "+" and _unary_before_name(tokens, i):
            pass  # +column: a hint to SQLite's planner, which PostgreSQL's takes for an expression
        elif word == "without" and _next_words(tokens, i, 1) == ["rowid"]:
            i = _skip_words(tokens, i, 1)  # a table layout of SQLite's
        elif word.startswith("temp."):
            out.append("pg_temp." + token[5:])
        elif word in _RENAMED and _opens(tokens, i):
            out.append(_RENAMED[word])
        else:
            out.append(token)
        i += 1
    if sum((positional > 0, numbered, bool(names))) > 1:
        raise ValueError("a statement uses one kind of placeholder: ?, ?N or :name")
    text = "".join(out)
    if ignore:
        text = _on_conflict_do_nothing(text)
    return text, (tuple(names) if names else None)


_BEFORE_OPERAND = frozenset(
    "( , = < > <= >= != <> and or not where on when then else select by having between in".split()
)


def _unary_before_name(tokens: list[str], i: int) -> bool:
    """Whether the ``+`` at token ``i`` is a unary plus on a column (SQLite's way of keeping its
    planner off that column's indexes): an operator or keyword before it, a name after it."""
    before = next((t for t in reversed(tokens[:i]) if not t.isspace()), "").lower()
    after = _next_words(tokens, i, 1)
    return before in _BEFORE_OPERAND and bool(after) and after[0][0].isalpha()


def _compares_parameter(words: list[str]) -> bool:
    """Whether ``IS`` (or ``IS NOT``) is followed by a parameter, not NULL, TRUE or FALSE."""
    if words[:1] == ["not"]:
        words = words[1:]
    return bool(words) and words[0].startswith(("?", ":"))


def _next_words(tokens: list[str], i: int, count: int) -> list[str]:
    """The ``count`` words after token ``i``, lower case, skipping blanks."""
    words = []
    for token in tokens[i + 1 :]:
        if token.isspace():
            continue
        words.append(token.lower())
        if len(words) == count:
            break
    return words


def _skip_words(tokens: list[str], i: int, count: int) -> int:
    """The index of the ``count``-th word after token ``i``."""
    for j in range(i + 1, len(tokens)):
        if not tokens[j].isspace():
            count -= 1
            if count == 0:
                return j
    return len(tokens)


def _opens(tokens: list[str], i: int) -> bool:
    """Whether token ``i`` is a function name: an opening parenthesis follows."""
    return i + 1 < len(tokens) and tokens[i + 1] == "("


_NOT_ALIASES = frozenset(
    "where group order limit offset union except intersect join left right inner cross full "
    "on having window returning".split()
)


def _alias_subqueries(tokens: list[str]) -> list[str]:
    """A name after each subquery in FROM or JOIN that has none: PostgreSQL 15 wants one."""
    out = list(tokens)
    aliases = 0
    i = 0
    while i < len(out):
        previous = next((t for t in reversed(out[:i]) if not t.isspace()), "").lower()
        if out[i] == "(" and previous in ("from", "join") and _next_words(out, i, 1) == ["select"]:
            depth = 0
            for end in range(i, len(out)):
                depth += {"(": 1, ")": -1}.get(out[end], 0)
                if depth == 0:
                    break
            after = _next_words(out, end, 1)
            if not after or after[0] in _NOT_ALIASES or not after[0][0].isalpha():
                aliases += 1
                out.insert(end + 1, f" AS subquery_{aliases}")
        i += 1
    return out


def _respell_calls(tokens: list[str]) -> list[str]:
    """Calls of SQLite's ``min``/``max`` of several values, ``group_concat`` and ``json_each``
    written as PostgreSQL's, their arguments respelled in turn."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token, word = tokens[i], tokens[i].lower()
        if word not in _CALLS or not _opens(tokens, i):
            out.append(token)
            i += 1
            continue
        arguments, end = _arguments_of(tokens, i + 1)
        if word in ("min", "max") and len(arguments) > 1:
            out += ["LEAST(" if word == "min" else "GREATEST(", *_joined(arguments), ")"]
        elif word == "group_concat":
            separator = arguments[1] if len(arguments) > 1 else ["','"]
            out += ["string_agg(CAST(", *arguments[0], " AS TEXT), ", *separator, ")"]
        elif word == "json_each":
            out += ["json_array_elements_text(CAST(", *arguments[0], " AS json))"]
        else:
            out += [token, "(", *_joined(arguments), ")"]
        i = end + 1
    return out


_CALLS = frozenset({"min", "max", "group_concat", "json_each"})


def _arguments_of(tokens: list[str], opening: int) -> tuple[list[list[str]], int]:
    """The arguments (respelled) of the call whose ``(`` is token ``opening``, and the index of
    its ``)``."""
    arguments: list[list[str]] = [[]]
    depth = 0
    for j in range(opening, len(tokens)):
        token = tokens[j]
        if token == "(":
            depth += 1
            if depth == 1:
                continue
        elif token == ")":
            depth -= 1
            if depth == 0:
                return [_respell_calls(argument) for argument in arguments], j
        elif token == "," and depth == 1:
            arguments.append([])
            continue
        arguments[-1].append(token)
    raise ValueError("unbalanced parentheses in a statement")


def _joined(arguments: list[list[str]]) -> list[str]:
    out: list[str] = []
    for n, argument in enumerate(arguments):
        out += [", "] if n else []
        out += argument
    return out


def _on_conflict_do_nothing(text: str) -> str:
    """``ON CONFLICT DO NOTHING`` at the end of an insert, before a ``RETURNING`` clause."""
    match = re.search(r"\s+RETURNING\s[^()']*$", text, re.I)
    at = match.start() if match else len(text.rstrip().rstrip(";"))
    return f"{text[:at]} ON CONFLICT DO NOTHING{text[at:]}"


def _arguments(names: tuple[str, ...] | None, params: Params) -> Sequence[Any]:
    if names is None:
        if isinstance(params, Mapping):
            raise TypeError("a statement with ? placeholders takes a sequence of parameters")
        return params
    if not isinstance(params, Mapping):
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


class ServerUnreachable(ConnectionError):
    """The server dropped or broke the connection (a restart, a failover, a network cut): the
    transaction did not land, and the next one gets a new connection. An ``OSError``, as the
    store's callers take any error of the operating system's for a store that cannot write now
    and try again (bot.engine), rather than for a wrong event."""


def _broken(error: BaseException) -> bool:
    """Whether ``error`` says the connection itself is gone or unusable."""
    sqlstate = getattr(error, "sqlstate", None)
    return isinstance(error, asyncpg.InternalClientError | OSError) or (
        isinstance(sqlstate, str) and sqlstate[:2] in ("08", "57")
    )


class PostgresReads:
    """Queries on one connection: a reading connection, or the connection of a unit of work."""

    dialect = "postgresql"

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def fetch_all(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self._run(self.connection.fetch, sql, [params])
        return rows

    async def fetch_one(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._run(self.connection.fetchrow, sql, [params])
        return row

    async def fetch_tuples(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self.fetch_all(sql, params)]

    async def fetch_chunks(
        self, sql: str, params: Params, size: int
    ) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        """Through a cursor on the server, for reads too large to hold at once (the report's). A
        cursor lives in a transaction: one that reads only is opened around it where none is.

        The rows are asyncpg's records, which index and unpack as tuples do: copying each into a
        tuple was half of this process's time for the report's 83,000 member weeks of a year."""
        text, names = translate(sql)
        arguments = _arguments(names, params)
        async with contextlib.AsyncExitStack() as stack:
            if not self.connection.is_in_transaction():
                await stack.enter_async_context(self.connection.transaction(readonly=True))
            cursor = await self.connection.cursor(text, *arguments)
            while rows := await cursor.fetch(size):
                yield cast(list[tuple[Any, ...]], rows)

    async def _run(
        self, method: Any, sql: str, batches: list[Params], *, many: bool = False
    ) -> Any:
        """Run ``sql`` translated, with each of ``batches`` (one: a plain call). A parameter whose
        type PostgreSQL cannot tell from the statement (``? IS NULL``, a value only selected) is
        given the type of its Python value, and the statement so typed is kept for next time."""
        text, names = translate(sql)
        rows = [_arguments(names, params) for params in batches]
        kinds = _kinds(rows)
        typed = _TYPED.get((text, kinds), text)
        for _ in range(len(kinds) + 1):
            try:
                if (text, kinds) in _TRIED or not self.connection.is_in_transaction():
                    return await _call(method, typed, rows, many)
                # A statement that fails in a transaction fails the transaction: its first run
                # gets a savepoint, so that one retried with its parameters typed does not.
                async with self.connection.transaction():
                    result = await _call(method, typed, rows, many)
                _TRIED.add((text, kinds))
                return result
            except (
                asyncpg.AmbiguousParameterError,
                asyncpg.IndeterminateDatatypeError,
                asyncpg.DataError,  # taken as text: a value selected or compared with another
            ) as exc:
                number = _UNTYPED.search(str(exc))
                if number is None:
                    raise
                position = int(number.group(1))
                kind = kinds[position - 1]
                if isinstance(
                    exc, asyncpg.AmbiguousParameterError | asyncpg.IndeterminateDatatypeError
                ):
                    kind = await self._type_elsewhere(typed, position) or kind
                cast = f"CAST(${position} AS {kind})"
                typed = re.sub(rf"\${position}(?!\d)", cast, typed)
                _TYPED[(text, kinds)] = typed
            except asyncpg.PostgresError as exc:
                exc.add_note(f"in: {typed}")
                raise
        raise RuntimeError(f"the parameters of {text!r} cannot be typed")

    async def _type_elsewhere(self, text: str, position: int) -> str | None:
        """The type PostgreSQL gives parameter ``position`` where the statement compares it with
        a column, once its uses in ``IS NULL`` (which tell no type) are set aside; None if it
        has no such use (then the Python value's type is taken)."""
        probe = re.sub(r"\$\d+\s+IS\s+(?:NOT\s+)?NULL", "true", text, flags=re.I)
        if probe == text:
            return None
        try:
            async with contextlib.AsyncExitStack() as savepoint:
                if self.connection.is_in_transaction():
                    await savepoint.enter_async_context(self.connection.transaction())
                statement = await self.connection.prepare(probe)
        except asyncpg.PostgresError:
            return None
        return str(statement.get_parameters()[position - 1].name)


async def _call(method: Any, text: str, rows: list[Sequence[Any]], many: bool) -> Any:
    return await (method(text, rows) if many else method(text, *rows[0]))


_MULTIROW = re.compile(
    r"(?P<insert>INSERT\s+INTO\s+(?P<table>\w+)\s*\((?P<columns>[\w\s,]+)\))\s*VALUES\s*"
    r"\(\$1(?:\s*,\s*\$\d+)*\)(?P<conflict>\s+ON CONFLICT DO NOTHING)?\s*$",
    re.I,
)


def _one_row_of_placeholders(text: str) -> bool:
    """Whether ``text`` inserts one row of ``$1, $2, …`` in order, and nothing else."""
    match = _MULTIROW.match(text)
    if match is None:
        return False
    numbers = [int(n) for n in re.findall(r"\$(\d+)", text)]
    return numbers == list(range(1, len(numbers) + 1))


_INSERT_SELECT = re.compile(
    r"(?P<insert>INSERT\s+INTO\s+\w+\s*\([\w\s,]+\))\s*(?P<select>SELECT\s.*?)"
    r"(?P<conflict>\s+ON CONFLICT DO NOTHING)?\s*$",
    re.I | re.S,
)


def _each_row_selects(text: str) -> bool:
    """Whether ``text`` inserts what a SELECT of its parameters gives, conflicts doing nothing
    (an update on conflict could meet a row of the same batch)."""
    match = _INSERT_SELECT.match(text)
    return match is not None and "ON CONFLICT" not in match["select"].upper()


_STAGING: dict[tuple[str, str], str] = {}
"""The temporary table that each (table, columns) of ``_copy_in`` copies rows into, by name."""
_OVER_ARRAYS: dict[tuple[str, tuple[str, ...]], str] = {}
"""Inserts of what a SELECT of one row's parameters gives, and the same over arrays."""
_TRIED: set[tuple[str, tuple[str, ...]]] = set()
"""Statements (and the Python types of their values) that ran once: they run without a savepoint."""
_UNTYPED = re.compile(r"(?:data type of parameter|input for query argument) \$(\d+)")
_TYPED: dict[tuple[str, tuple[str, ...]], str] = {}
"""Statements whose parameters were given their types, by text and Python types of the values."""
_PG_TYPES = {int: "BIGINT", str: "TEXT", float: "DOUBLE PRECISION", bool: "BOOLEAN", bytes: "BYTEA"}


def _kinds(rows: list[Sequence[Any]]) -> tuple[str, ...]:
    """PostgreSQL's type for each parameter, from the first value that is not None."""
    if not rows:
        return ()
    kinds = []
    for column in range(len(rows[0])):
        value = next((row[column] for row in rows if row[column] is not None), None)
        kinds.append(_PG_TYPES.get(type(value), "TEXT"))
    return tuple(kinds)


class PostgresUnit(PostgresReads):
    """One write transaction: everything done through it lands together or not at all."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        status: str = await self._run(self.connection.execute, sql, [params])
        return _changed(status)

    async def execute_many(self, sql: str, rows: Iterable[Params]) -> int | None:
        """Run ``sql`` once per row. Ingest's batches go as one statement each, as a round of
        the protocol per row costs several times more on the server: an ``INSERT … VALUES`` of
        plain placeholders through COPY (``_copy_in``), an ``INSERT … SELECT`` of them over
        arrays (``_over_arrays``). Rows changed are counted for those (from the command's
        status) and not for statements run row by row."""
        batch = list(rows)
        if not batch:
            return 0
        text, names = translate(sql)
        if len(batch) > 1 and _one_row_of_placeholders(text):
            return await self._copy_in(text, [_arguments(names, row) for row in batch])
        if len(batch) > 1 and _each_row_selects(text):
            values = [_arguments(names, row) for row in batch]
            columns = list(zip(*values, strict=True))
            over = await self._over_arrays(text, _kinds(values))
            return _changed(await self.connection.execute(over, *map(list, columns)))
        await self._run(self.connection.executemany, sql, batch, many=True)
        return None

    async def _copy_in(self, text: str, values: list[Sequence[Any]]) -> int:
        """``text`` (an insert of one row of placeholders) for each of ``values``: the rows are
        copied (COPY) into a temporary table of the same columns, then inserted from it by one
        statement that empties it. COPY sends and reads rows at a fraction of the cost of
        arrays taken apart by ``unnest`` (the messages of a batch: 200 ms instead of 500 ms per
        16,000). The table lives as long as the connection and loses its rows at each commit
        or rollback, so a batch never sees another's."""
        match = _MULTIROW.match(text)
        assert match is not None  # _one_row_of_placeholders matched it
        table = match["table"]
        columns = [column.strip() for column in match["columns"].split(",")]
        listed = ", ".join(columns)
        staging = _STAGING.get((table, listed))
        if staging is None:
            staging = _STAGING[(table, listed)] = f"trellis_staging_{len(_STAGING) + 1}"
        await self.connection.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "
            f"SELECT {listed} FROM {table} WITH NO DATA"
        )
        await self.connection.copy_records_to_table(staging, records=values, columns=columns)
        status = await self.connection.execute(
            f"WITH batch AS (DELETE FROM {staging} RETURNING {listed}) "
            f"{match['insert']} SELECT {listed} FROM batch{match['conflict'] or ''}"
        )
        return _changed(status)

    async def _over_arrays(self, text: str, kinds: tuple[str, ...]) -> str:
        """``text`` (an ``INSERT … SELECT`` of one row's parameters) run on each row of arrays of
        them: ``unnest(…)``, ``LATERAL``. Its rows do not see each other's, as they would not in
        the batch either: conflicts are nothing done."""
        over = _OVER_ARRAYS.get((text, kinds))
        if over is not None:
            return over
        statement = await self.connection.prepare(_TYPED.get((text, kinds), text))
        types = [
            # A value PostgreSQL took as text (only selected) has its Python value's type.
            kind if parameter.name == "text" and kind != "TEXT" else parameter.name
            for parameter, kind in zip(statement.get_parameters(), kinds, strict=True)
        ]
        arrays = ", ".join(f"${n + 1}::{kind}[]" for n, kind in enumerate(types))
        select = _INSERT_SELECT.match(text)
        assert select is not None
        names = ", ".join(f"p{n + 1}" for n in range(len(types)))
        each = re.sub(r"\$(\d+)(?!\d)", r"v.p\1", select["select"])
        if not re.search(r"\b(?:LIMIT|OFFSET)\b", each, re.I):
            # Planned apart, for one row at a time: each row's look-ups by its own keys, as the
            # statement alone would make them, not a join of the batch to whole tables.
            each += " OFFSET 0"
        over = (
            f"{select['insert']} SELECT x.* FROM unnest({arrays}) AS v ({names}) "
            f"CROSS JOIN LATERAL ({each}) AS x{select['conflict'] or ''}"
        )
        _OVER_ARRAYS[(text, kinds)] = over
        return over

    async def insert(self, sql: str, params: Params = ()) -> int:
        value = await self._run(self.connection.fetchval, sql, [params])
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

    @asynccontextmanager
    async def _reads(self) -> AsyncIterator[PostgresReads]:
        """The connection for one read of this task: ``_reads_on``'s, or one of the pool."""
        reads = self._reads_on()
        if reads is not None:
            yield reads
            return
        async with self._pooled() as connection:
            yield PostgresReads(connection)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[asyncpg.Record]:
        async with self._reads() as reads:
            return await reads.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = ()) -> asyncpg.Record | None:
        async with self._reads() as reads:
            return await reads.fetch_one(sql, params)

    async def fetch_tuples(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        async with self._reads() as reads:
            return await reads.fetch_tuples(sql, params)

    async def fetch_chunks(
        self, sql: str, params: Params, size: int
    ) -> AsyncGenerator[list[tuple[Any, ...]], None]:
        async with self._reads() as reads:
            async for rows in reads.fetch_chunks(sql, params, size):
                yield rows

    @asynccontextmanager
    async def reading(self, *, background: bool = False) -> AsyncIterator[PostgresReads]:
        """A connection of the pool for this task's reads. Each statement sees what was committed
        when it began, as on SQLite. ``background`` changes nothing here: the server runs each
        connection's queries in a process of its own, beside the writers."""
        async with self._pooled() as connection:
            yield PostgresReads(connection)

    @asynccontextmanager
    async def _pooled(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the pool, not given back to it if the server broke it."""
        async with self.pool.acquire() as connection:
            try:
                yield connection
            except Exception as exc:
                if _broken(exc):
                    connection.terminate()
                raise

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
            except Exception as exc:
                if not _broken(exc):
                    raise
                # Not reused: the pool opens a new connection in its place.
                connection.terminate()
                raise ServerUnreachable(
                    f"the connection to {where(self.url)} broke ({_reason(exc)}); nothing of the "
                    f"transaction was written"
                ) from exc
            finally:
                self._unit.reset(token)

    @asynccontextmanager
    async def lease(self, name: str, *, shared: bool = False) -> AsyncIterator[AdvisoryLease]:
        """``name`` among all the processes on this database, held by this process or not, for
        as long as the block runs (a run of a job, the one connection of a bot account).

        A session advisory lock on a connection of its own: the server lets it go when the
        process ends, kill -9 included, and, through TCP keepalives, within seconds of its
        host vanishing, so a lease never outlives its holder and needs no renewing."""
        connection = await asyncpg.connect(self.url, password=self._password, **_KEEPALIVE)
        try:
            held = await connection.fetchval(
                f"SELECT pg_try_advisory_lock{'_shared' if shared else ''}"
                "(hashtextextended($1, 0))",
                name,
            )
            yield AdvisoryLease(connection, bool(held))
        finally:
            # Ends the session, and with it the lock; a broken one is dropped without a word.
            with contextlib.suppress(*_CLOSE_ERRORS):
                await asyncio.wait_for(connection.close(), 5)

    async def drop_old_pages(self) -> None:
        """Nothing to do on PostgreSQL. A deleted row is gone from every query and every dump
        begun after the deletion committed; what PostgreSQL keeps of it on disk, no statement
        removes: a vacuum only marks the space of old row versions for reuse (the bytes stay
        until new rows overwrite them) and the write-ahead log, its archives, replicas and base
        backups keep every row as it was written, whatever is vacuumed. A vacuum of the whole
        database after each forget-me and each nightly purge (as SQLite's checkpoint here)
        bought no more than that, read every table, and waited behind any other vacuum of
        them, autovacuum's included, before forget-me could answer. Autovacuum reuses the
        space; how long physical copies live is the operator's retention (docs/scale.md)."""

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
                    # The local day of epoch seconds in the zone the transaction set
                    # (storage.rollups): SQLite's trellis_day is a Python function instead.
                    await connection.execute(
                        "CREATE FUNCTION trellis_day(t BIGINT) RETURNS BIGINT LANGUAGE sql "
                        "STABLE AS $$ SELECT CAST(CAST((to_timestamp(t) AT TIME ZONE "
                        "current_setting('trellis.zone')) AS date) - DATE '1970-01-01' AS BIGINT) $$"
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

    async def state_entries(self, scope: str) -> dict[str, str]:
        rows = await self.fetch_all("SELECT key, value FROM state WHERE scope = ?", (scope,))
        return {row[0]: row[1] for row in rows}


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
