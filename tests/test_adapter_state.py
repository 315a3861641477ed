"""Adapters' own state: each adapter's rows apart from the core's and from each other's, and
forget-me deleting exactly the rows an adapter holds for the member, never rows that merely
contain the same characters."""

from __future__ import annotations

from pathlib import Path

from adapters.matrix.state import MatrixState
from adapters.matrix.translate import ReactionRecord
from bot.events import MemberRef
from bot.ports import StateKey
from storage import members
from storage.adapter_state import PlatformState
from storage.ingest import MemberCache
from storage.sqlite import SqliteStore
from tests.helpers import running_app


async def test_forget_me_of_a_member_called_ent_keeps_every_row_that_only_contains_ent(
    tmp_path: Path,
) -> None:
    async with running_app(tmp_path) as h:
        community = next(iter(h.app.settings.communities))
        # Schedules' records whose names contain "ent": commitments:<c>, events:<c>, retention.
        for job in (f"commitments:{community}", f"events:{community}", "retention"):
            await h.store.set_state("scheduler", job, "2026-09-07T09:00:00+00:00")
        # Another member's direct room and reaction, kept by the Matrix adapter.
        matrix = MatrixState(PlatformState(h.store, "matrix"))
        await matrix.save_direct_room("@vincent:example.org", "!dm-of-vincent:example.org")
        await matrix.save_reaction(
            "$reaction-by-vincent", ReactionRecord("$message-of-ent", "@vincent:example.org", "👍")
        )
        await h.lines("@ 2026-09-07 10:00", '~ ent joins as "Ent"', "#water ent: Hello there.")
        scheduler_before = await h.store.state_entries("scheduler")

        assert "deleted everything" in await h.command("ent", "/forget-me confirm")

        assert await h.store.state_entries("scheduler") == scheduler_before
        assert await matrix.direct_room("@vincent:example.org") == "!dm-of-vincent:example.org"
        assert await matrix.direct_member("!dm-of-vincent:example.org") == "@vincent:example.org"
        assert await matrix.reaction("$reaction-by-vincent") is not None
        assert await members.by_key(h.store, community, "console:ent") is None


async def test_the_matrix_adapter_names_exactly_the_rows_of_one_member(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "trellis.sqlite3")
    try:
        matrix = MatrixState(PlatformState(store, "matrix"))
        await matrix.save_direct_room("@ent:example.org", "!dm-ent:example.org")
        await matrix.save_direct_room("@vincent:example.org", "!dm-ent-vincent:example.org")
        await matrix.save_reaction("$r1", ReactionRecord("$m-of-vincent", "@ent:example.org", "🙏"))
        await matrix.save_reaction("$r2", ReactionRecord("$m-of-ent", "@vincent:example.org", "👍"))
        await matrix.save_sync_token("s72_ent")

        def key_of(user_id: str) -> str:
            return MemberRef("matrix", user_id).key

        held = await matrix.held_for("matrix:@ent:example.org", key_of)
        assert sorted(held) == [
            StateKey("direct", "@ent:example.org"),
            StateKey("direct_room", "!dm-ent:example.org"),
            StateKey("reaction", "$r1"),
        ]

        cache = MemberCache()
        async with store.transaction() as tx:
            row = await members.ensure(tx, cache, "c", "matrix:@ent:example.org", "Ent", 0)
        assert row is not None
        async with store.transaction() as tx:
            await members.forget(tx, cache, row, adapter_state={"matrix": held})
        assert await matrix.direct_room("@ent:example.org") is None
        assert await matrix.direct_member("!dm-ent:example.org") is None
        assert await matrix.reaction("$r1") is None
        assert await matrix.direct_room("@vincent:example.org") == "!dm-ent-vincent:example.org"
        assert await matrix.reaction("$r2") is not None
        assert await matrix.sync_token() == "s72_ent"
    finally:
        await store.close()


async def test_an_adapter_reads_and_writes_only_its_own_rows(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "trellis.sqlite3")
    try:
        await store.set_state("scheduler", "retention", "core")
        discord, matrix = PlatformState(store, "discord"), PlatformState(store, "matrix")
        await matrix.set("direct", "@ana:example.org", "!room")
        assert await discord.get("direct", "@ana:example.org") is None
        assert await matrix.get("", "retention") is None
        await matrix.set("", "sync_token", "s1")
        # Stored where the Matrix adapter always kept it, so an upgrade resumes from it.
        assert await store.get_state("matrix", "sync_token") == "s1"
        assert await store.get_state("matrix.direct", "@ana:example.org") == "!room"
        assert await store.get_state("scheduler", "retention") == "core"
    finally:
        await store.close()
