"""Shared test setup: every test gets its own SQLite file under tmp_path, and, where it asks for
one, its own database on the session's throwaway PostgreSQL server; nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.postgres import PASSWORD, PostgresCluster


@pytest.fixture(scope="session")
def demo_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo community's six weeks, replayed once per session (its digests posted and
    archived): the folder holding its config and database. Tests copy it before writing."""
    from bot.cli import prepare_demo, run_demo

    folder = tmp_path_factory.mktemp("demo")
    asyncio.run(run_demo(prepare_demo(folder), show_chat=False))
    return folder


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL server, started on first use, with a migrated template."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        # In a thread of its own: the first test to ask may be inside a running event loop.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, cluster.create_template()).result()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, monkeypatch) -> Iterator[str]:
    """Run the test on SQLite, then on PostgreSQL (modules opt in with
    ``pytestmark = pytest.mark.usefixtures("backend")``)."""
    from tests import helpers

    if request.param == "postgresql":
        cluster = request.getfixturevalue("postgres")
        monkeypatch.setenv("TRELLIS_TEST_PG", PASSWORD)
        helpers.POSTGRES.append(cluster)
    try:
        yield request.param
    finally:
        helpers.POSTGRES.clear()
        helpers._DATABASES.clear()


@pytest.fixture
def postgresql_only(postgres, monkeypatch) -> Iterator[None]:
    """Run the test on PostgreSQL alone (what SQLite does not do: several processes, a server)."""
    from tests import helpers

    monkeypatch.setenv("TRELLIS_TEST_PG", PASSWORD)
    helpers.POSTGRES.append(postgres)
    try:
        yield
    finally:
        helpers.POSTGRES.clear()
        helpers._DATABASES.clear()
