"""Shared test setup: every test gets its own SQLite file under tmp_path, and, where it asks for
one, its own database on the session's throwaway PostgreSQL server; nothing leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.postgres import PostgresCluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL server, started on first use, with a migrated template."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        asyncio.run(cluster.create_template())
        yield cluster
    finally:
        cluster.stop()
