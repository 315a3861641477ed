"""The Store contract (storage/contract.py), held by every backend: the same checks run on each one
the ``store`` fixture opens (a backend is added by adding its name to ``BACKENDS``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from storage.contract import Reads, Store, Unit
from storage.postgresql import PostgresStore
from storage.sqlite import SqliteStore

BACKENDS = ["sqlite", "postgresql"]

MEMBER = (
    "INSERT INTO members (community, member_key, display_name, first_seen_at) "
    "VALUES (?, ?, ?, ?) RETURNING id"
)


@pytest.fixture(params=BACKENDS)
async def store(request, tmp_path):
    match request.param:
        case "sqlite":
            opened: Store = await SqliteStore.open(tmp_path / "trellis.sqlite3")
        case "postgresql":
            cluster = request.getfixturevalue("postgres")
            opened = await PostgresStore.open(await cluster.new_database())
    yield opened
    await opened.close()


async def names(db: Reads) -> list[str]:
    rows = await db.fetch_all("SELECT display_name FROM members ORDER BY id")
    return [row["display_name"] for row in rows]


class Refused(Exception):
    pass


async def test_the_store_its_units_and_its_read_connections_have_the_contracts_shape(store):
    assert isinstance(store, Store)
    assert store.dialect in ("sqlite", "postgresql")
    async with store.transaction() as tx:
        assert isinstance(tx, Unit)
        assert tx.dialect == store.dialect
    async with store.reading() as reader:
        assert isinstance(reader, Reads)
        assert reader.dialect == store.dialect
    assert await store.schema_version() > 0


async def test_insert_returns_each_new_rows_id(store):
    async with store.transaction() as tx:
        ana = await tx.insert(MEMBER, ("praxis", "console:ana", "Ana", 1))
        luis = await tx.insert(MEMBER, ("praxis", "console:luis", "Luis", 1))
    assert ana != luis
    row = await store.fetch_one("SELECT display_name FROM members WHERE id = ?", (luis,))
    assert row["display_name"] == "Luis" and row[0] == "Luis"


async def test_a_units_writes_land_together_or_not_at_all(store):
    with pytest.raises(Refused):
        async with store.transaction() as tx:
            await tx.insert(MEMBER, ("praxis", "console:ana", "Ana", 1))
            await tx.execute_many(
                "INSERT INTO members (community, member_key, display_name, first_seen_at) "
                "VALUES (:c, :k, :n, 1)",
                [{"c": "praxis", "k": "console:luis", "n": "Luis"}],
            )
            assert await names(tx) == ["Ana", "Luis"]  # the unit sees its own writes
            raise Refused
    assert await names(store) == []
    async with store.transaction() as tx:
        await tx.insert(MEMBER, ("praxis", "console:ana", "Ana", 1))
        await tx.insert(MEMBER, ("praxis", "console:luis", "Luis", 1))
    assert await names(store) == ["Ana", "Luis"]


async def test_execute_says_how_many_rows_it_changed(store):
    async with store.transaction() as tx:
        await tx.execute_many(MEMBER.removesuffix(" RETURNING id"), [
            ("praxis", "console:ana", "Ana", 1),
            ("praxis", "console:luis", "Luis", 1),
            ("other", "console:rui", "Rui", 1),
        ])  # fmt: skip
        changed = await tx.execute(
            "UPDATE members SET nudges_off = 1 WHERE community = :c", {"c": "praxis"}
        )
        unchanged = await tx.execute("DELETE FROM members WHERE community = ?", ("nowhere",))
    assert (changed, unchanged) == (2, 0)


async def test_a_read_connection_sees_committed_data_only(store):
    async with store.reading() as reader:
        async with store.transaction() as tx:
            await tx.insert(MEMBER, ("praxis", "console:ana", "Ana", 1))
            assert await names(reader) == []
        assert await names(reader) == ["Ana"]


async def test_transactions_do_not_nest(store):
    async with store.transaction() as tx:
        await tx.insert(MEMBER, ("praxis", "console:ana", "Ana", 1))
        with pytest.raises(RuntimeError, match="do not nest"):
            async with store.transaction():
                pass
    assert await names(store) == ["Ana"]


CONVENTION_EXEMPT = {
    "sqlite.py",
    "postgresql.py",
    "postgresql_copy.py",
    "contract.py",
    "__init__.py",
}
"""The backends and the contract themselves (and moving a store from one backend to the other);
every other module of storage/ is an aggregate."""


def test_every_storage_function_takes_the_callers_unit_of_work():
    """Reads take ``db: Reads``, writes ``tx: Unit``; none opens a transaction of its own, so a
    command's writes land together (the PostgreSQL backend runs the same functions)."""
    folder = Path(__file__).parent.parent / "storage"
    wrong = []
    for path in sorted(folder.glob("*.py")):
        if path.name in CONVENTION_EXEMPT:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr == "transaction":
                wrong.append(f"{path.name}:{node.lineno} opens a transaction")
            if isinstance(node, ast.Name) and node.id in ("SqliteStore", "aiosqlite"):
                if path.name not in ("ingest.py", "rollups.py"):  # SQLite's hot paths
                    wrong.append(f"{path.name}:{node.lineno} names {node.id}")
        for node in tree.body:
            if not isinstance(node, ast.AsyncFunctionDef) or node.name.startswith("_"):
                continue
            first = node.args.args[0] if node.args.args else None
            shape = first and (first.arg, ast.unparse(first.annotation or ast.Constant(None)))
            if shape not in (("db", "Reads"), ("tx", "Unit")):
                wrong.append(f"{path.name}: {node.name} takes {shape}")
    assert wrong == []
