"""The engine's member cache is bounded, and what it drops changes nothing a member would notice:
every message is stored under its author, an opted-out or forgotten member stays untracked."""

import pytest

from storage import members
from tests.helpers import running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""


async def test_members_dropped_from_a_bounded_cache_are_read_back_and_nothing_is_lost(tmp_path):
    async with running_app(tmp_path) as h:
        h.app.community("praxis").member_cache.limit = 4
        handles = [f"m{i}" for i in range(10)]
        await h.lines("@ 2026-09-07 10:00", *(f"~ {who} joins" for who in handles))
        await h.command("m0", "/optout")
        await h.command("m1", "/forget-me")
        await h.command("m1", "/forget-me confirm")
        # Three rounds: every member speaks again after the cache dropped them.
        for round_ in range(3):
            await h.lines(*(f"#water {who}: Round {round_} from {who}." for who in handles))
            assert len(h.app.community("praxis").member_cache.of("praxis")) <= 4 + len(handles)
        rows = await h.store.fetch_all(
            "SELECT m.member_key, count(*) FROM messages s JOIN members m ON m.id = s.member_id "
            "GROUP BY m.member_key ORDER BY m.member_key"
        )
        assert {key: count for key, count in rows} == {f"console:m{i}": 3 for i in range(2, 10)}
        forgotten = await h.store.fetch_one(
            "SELECT count(*) FROM members WHERE member_key = 'console:m1'"
        )
        assert forgotten[0] == 0


async def test_an_opt_out_whose_command_failed_leaves_the_member_counted(tmp_path):
    """The cache follows what was committed: an opt-out rolled back with the rest of its unit of
    work does not stop counting the member."""
    async with running_app(tmp_path) as h:
        await h.lines("@ 2026-09-07 10:00", "#water ana: First words from ana.")
        ana = await members.by_key(h.store, "praxis", "console:ana")
        with pytest.raises(RuntimeError):
            async with h.store.transaction() as tx:
                await members.set_opted_out(
                    tx, h.app.community("praxis").member_cache, ana, 1_790_000_000
                )
                raise RuntimeError("the command failed after opting out")
        await h.lines("#water ana: Still here, and still counted.")
        row = await h.store.fetch_one(
            "SELECT count(*), max(opted_out_at) FROM messages s JOIN members m "
            "ON m.id = s.member_id WHERE m.member_key = 'console:ana'"
        )
        assert tuple(row) == (2, None)
