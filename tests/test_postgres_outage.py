"""The PostgreSQL server drops Trellis's connections (a restart, a failover): what members write
meanwhile waits, is stored once the store answers again, and nothing is lost or doubled."""

from __future__ import annotations

import asyncpg
import pytest

from tests.helpers import running_app

pytestmark = pytest.mark.usefixtures("postgresql_only")


async def test_chat_written_while_the_servers_connections_drop_is_stored_once(postgres, tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines("~ ana joins as Ana", "#water ana: Before the drop.")
        admin = await asyncpg.connect(postgres.url("postgres"))
        try:
            dropped = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid != pg_backend_pid()",
                h.store.url.rsplit("/", 1)[1],
            )
        finally:
            await admin.close()
        assert dropped >= 1
        await h.lines(*(f"#water ana: Message {n} after the drop." for n in range(5)))
        rows = await h.store.fetch_all("SELECT text FROM messages ORDER BY posted_at, id")
        assert [row[0] for row in rows] == [
            "Before the drop.",
            *(f"Message {n} after the drop." for n in range(5)),
        ]
        assert h.app.engine.skipped == 0
        # Reads get new connections too: a command is answered.
        assert "Levels over the last" in await h.command("fran", "/stats")
