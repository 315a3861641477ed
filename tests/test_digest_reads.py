"""What posting the weekly digest reads, on SQLite (where the statements run can be traced)."""

from __future__ import annotations

from tests.helpers import running_app

WEEK_IN_NUMBERS = "count(reply_to)"
"""A fragment of the one statement that counts a period's messages (storage.activity.totals)."""


async def test_a_posted_digest_reads_the_weeks_numbers_once(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            '~ ana joins as "Ana Quispe"',
            "#water ana: Who sets the irrigation turns in your valley?",
        )
        statements: list[str] = []
        # A command reads on read-only connections of the store too: open them now, to trace them.
        async with h.store.reading() as first, h.store.reading() as second:
            connections = [h.store.db, first.db, second.db]
        for connection in connections:
            await connection.set_trace_callback(statements.append)
        answer = await h.command("fran", "/digest post")
        for connection in connections:
            await connection.set_trace_callback(None)
    assert answer == "Digest posted to #general."
    # This week's numbers, which also tell that the week was not quiet, and the week before's,
    # to compare with: each read once, not again to write the digest.
    assert len([sql for sql in statements if WEEK_IN_NUMBERS in sql]) == 2
