"""Ingest and forget-me on PostgreSQL where they differ from SQLite: the plan of the answer rule's
look-up, and a forget-me that does not wait for the server's vacuums."""

from __future__ import annotations

import asyncio

import asyncpg

from storage.ingest import _ANSWER_KIND_POSTGRESQL
from storage.postgresql import PostgresStore, translate
from tests.helpers import running_app, stored_values
from tests.postgres import PASSWORD


async def test_the_answer_rule_looks_up_the_replied_message_by_its_key_among_many_questions(
    postgres,
):
    # A community with many questions: the planner once took the partial index of questions
    # (whose condition the rule repeats) and walked all of them for each named thank-you.
    store = await PostgresStore.open(await postgres.new_database())
    try:
        async with store.transaction() as tx:
            # No statistics yet, as on a store just copied or filled by a catch-up.
            await tx.execute("ALTER TABLE messages SET (autovacuum_enabled = false)")
            await tx.execute(
                "INSERT INTO members (id, community, member_key, first_seen_at) "
                "SELECT n, 'c', 'discord:' || n, 0 FROM generate_series(1, 50) AS n"
            )
            await tx.execute(
                "INSERT INTO messages (community, platform_id, member_id, channel_key, "
                "posted_at, is_question, reply_to, reply_to_member_id) "
                "SELECT 'c', 'm' || n, 1 + n % 50, 'discord:1', n, CAST(n % 3 = 0 AS INT), "
                "CASE WHEN n % 3 = 1 THEN 'm' || (n - 1) END, "
                "CASE WHEN n % 3 = 1 THEN 1 + (n - 1) % 50 END "
                "FROM generate_series(1, 30000) AS n"
            )
        async with store.pool.acquire() as connection:
            text, names = translate(f"SELECT {_ANSWER_KIND_POSTGRESQL}")
            values = {"community": "c", "receiver": 2, "giver": 1, "at": 30000}
            assert names is not None
            plan = [
                row[0]
                for row in await connection.fetch(
                    f"EXPLAIN {text}", *(values[name] for name in names)
                )
            ]
            kind = await connection.fetchval(text, *(values[name] for name in names))
    finally:
        await store.close()
    assert kind == "answer", "member 2 replied to a question of member 1's"
    assert not any("messages_questions" in step for step in plan), "\n".join(plan)
    assert any("messages_community_platform_id_key" in step for step in plan), "\n".join(plan)


async def test_forget_me_answers_while_the_server_vacuums_the_messages(tmp_path, postgresql_only):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ zoe joins as "Zoe Mamani"',
            "#water zoe: How do you map water rights, anyone?",
        )
        assert isinstance(h.store, PostgresStore)
        # What a VACUUM of messages holds while it runs (autovacuum's on a large table, minutes).
        vacuuming = await asyncpg.connect(h.store.url, password=PASSWORD)
        try:
            async with vacuuming.transaction():
                await vacuuming.execute("LOCK TABLE messages IN SHARE UPDATE EXCLUSIVE MODE")
                done = await asyncio.wait_for(h.command("zoe", "/forget-me confirm"), 20)
        finally:
            await vacuuming.close()
        assert "deleted everything" in done
        stored = await stored_values(h.store)
        assert "Zoe Mamani" not in stored and "water rights" not in stored
