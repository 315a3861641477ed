"""Members as the store knows them: lookups, preferences, opt-out and being forgotten."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.events import key_parts
from storage.adapter_state import stored_scope
from storage.contract import Reads, Row, Unit
from storage.ingest import MemberCache, forgotten_hash
from storage.privacy import hide_names, names_pattern
from storage.profiles import PROFILE_FIELDS


@dataclass(frozen=True, slots=True)
class MemberRow:
    id: int
    community: str
    key: str
    display_name: str
    is_bot: bool
    first_seen_at: int
    joined_at: int | None
    left_at: int | None
    last_posted_at: int | None
    opted_out: bool
    nudges_off: bool
    unreachable_at: int | None
    language: str | None = None
    """The language the member chose for what Trellis says to them alone; None: the community's."""
    person: int = 0
    """The person the account belongs to (storage.identities): its own id until linked."""

    @property
    def name(self) -> str:
        return self.display_name or key_parts(self.key)[1]


COLUMNS = (
    "id, community, member_key, display_name, is_bot, first_seen_at, joined_at, left_at, "
    "last_posted_at, opted_out_at IS NOT NULL, nudges_off, unreachable_at, language, "
    "coalesce(person_id, id)"
)


def member_row(row: Row) -> MemberRow:
    """A row of ``COLUMNS`` as a MemberRow."""
    return MemberRow(
        row[0], row[1], row[2], row[3], bool(row[4]), row[5], row[6], row[7], row[8],
        bool(row[9]), bool(row[10]), row[11], row[12], row[13],
    )  # fmt: skip


async def by_key(db: Reads, community: str, key: str) -> MemberRow | None:
    row = await db.fetch_one(
        f"SELECT {COLUMNS} FROM members WHERE community = ? AND member_key = ?", (community, key)
    )
    return member_row(row) if row else None


async def by_id(db: Reads, member_id: int) -> MemberRow | None:
    row = await db.fetch_one(f"SELECT {COLUMNS} FROM members WHERE id = ?", (member_id,))
    return member_row(row) if row else None


async def by_display_name(db: Reads, community: str, name: str) -> list[MemberRow]:
    rows = await db.fetch_all(
        f"SELECT {COLUMNS} FROM members WHERE community = ? AND display_name = ? COLLATE NOCASE",
        (community, name),
    )
    return [member_row(row) for row in rows]


async def all_members(db: Reads, community: str) -> list[MemberRow]:
    rows = await db.fetch_all(
        f"SELECT {COLUMNS} FROM members WHERE community = ? ORDER BY id", (community,)
    )
    return [member_row(row) for row in rows]


async def ensure(
    tx: Unit, cache: MemberCache, community: str, key: str, name: str, at: int
) -> MemberRow | None:
    """The member's row, created if Trellis has not seen them yet (None if they were forgotten)."""
    row = await by_key(tx, community, key)
    if row is not None:
        return row
    if await is_forgotten(tx, community, key):
        return None
    await tx.execute(
        "INSERT INTO members (community, member_key, display_name, first_seen_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (community, key, name, at),
    )
    cache.forget(community, key)
    return await by_key(tx, community, key)


async def discard_new(tx: Unit, cache: MemberCache, member: MemberRow) -> None:
    """Remove the row ``ensure`` just created for a command that was then refused, so that a
    refused command leaves no trace of a member Trellis had not seen."""
    await tx.execute("DELETE FROM members WHERE id = ?", (member.id,))
    cache.forget(member.community, member.key)


async def is_forgotten(db: Reads, community: str, key: str) -> bool:
    row = await db.fetch_one(
        "SELECT 1 FROM forgotten_members WHERE community = ? AND key_hash = ?",
        (community, forgotten_hash(community, key)),
    )
    return row is not None


async def language_of(db: Reads, community: str, key: str) -> str | None:
    """The language the member chose, if they did (and Trellis knows them)."""
    row = await db.fetch_one(
        "SELECT language FROM members WHERE community = ? AND member_key = ?", (community, key)
    )
    return row[0] if row else None


async def set_language(tx: Unit, member_id: int, language: str | None) -> None:
    await tx.execute("UPDATE members SET language = ? WHERE id = ?", (language, member_id))


async def set_nudges(tx: Unit, member_id: int, *, on: bool) -> None:
    await tx.execute("UPDATE members SET nudges_off = ? WHERE id = ?", (int(not on), member_id))


async def set_reachable(tx: Unit, community: str, key: str, at: int, *, reachable: bool) -> None:
    """Note whether the member's direct messages reached them: a refusal at ``at`` keeps nudges
    from retrying within the cooldown (and ``quiet`` says so); a delivery clears it."""
    await tx.execute(
        "UPDATE members SET unreachable_at = ? WHERE community = ? AND member_key = ?",
        (None if reachable else at, community, key),
    )


async def set_opted_out(tx: Unit, cache: MemberCache, member: MemberRow, at: int | None) -> None:
    """Opt a member out of tracking (``at``) or back in (None). Their credits stop counting too.

    The cache drops the member, so that the next batch reads them as committed (a transaction
    rolled back leaves the cache right)."""
    await tx.execute("UPDATE members SET opted_out_at = ? WHERE id = ?", (at, member.id))
    cache.forget(member.community, member.key)


# Free text that others write and that may name a member: (table, key column, text columns, the
# rows of one community). forget-me takes the member's names out of each, as whole words.
_FREE_TEXT = (
    ("credits", "id", ("reason",), "community = :c"),
    ("commitments", "id", ("what",), "community = :c"),
    ("prompts", "id", ("text",), "community = :c"),
    ("events", "id", ("title", "place"), "community = :c"),
    ("knowledge_items", "id", ("title",), "community = :c"),
    ("threads", "id", ("title",), "community = :c"),
    ("digest_archive", "id", ("text",), "community = :c"),
    (
        "profiles",
        "member_id",
        PROFILE_FIELDS,
        "member_id IN (SELECT id FROM members WHERE community = :c)",
    ),
    (
        "survey_answers",
        "id",
        ("story",),
        "survey_id IN (SELECT id FROM surveys WHERE community = :c)",
    ),
)


async def forget(
    tx: Unit,
    cache: MemberCache,
    member: MemberRow,
    *,
    adapter_state: Mapping[str, Sequence[tuple[str, str]]],
) -> None:
    """Delete every row about the member and everything they wrote, and take their names out of
    what others wrote: the text of messages that mention them, and their name wherever it appears
    in others' free text (a kudos reason, a profile, a commitment, a prompt, a story, a title).
    ``adapter_state``: per platform, the (scope, key) of each row its adapter keeps about the
    member (``Adapter.forget_member``), deleted exactly: no other row, whatever its text.

    Only a salted hash of their key remains, so that what they write from now on is not tracked.
    Once the transaction is committed, the caller has the store drop its old pages
    (``Store.drop_old_pages``), so nothing of the rest stays in its free space or its log either.
    """
    platform_id = key_parts(member.key)[1]
    named = names_pattern((member.display_name, platform_id))
    # Their own content goes with them: the events they announced, the titles of the
    # threads they opened (the thread stays, as others wrote in it), and below, the items
    # they shared or that were filed from their messages.
    await tx.execute("DELETE FROM events WHERE created_by = ?", (member.id,))
    await tx.execute("UPDATE threads SET title = '' WHERE opener_member_id = ?", (member.id,))
    await tx.execute(
        "UPDATE messages SET text = NULL WHERE id IN (SELECT message_id FROM mentions "
        "WHERE member_id = ?)",
        (member.id,),
    )
    # Messages that name them, as whole words in any case (found by SQL, checked here).
    candidates = await tx.fetch_all(
        "SELECT id, text FROM messages WHERE community = ? AND text IS NOT NULL "
        "AND (instr(lower(text), lower(?)) > 0 "
        "OR (? != '' AND instr(lower(text), lower(?)) > 0))",
        (member.community, platform_id, member.display_name, member.display_name),
    )
    naming = [(row[0],) for row in candidates if named and named.search(row[1])]
    await tx.execute_many("UPDATE messages SET text = NULL WHERE id = ?", naming)
    # Others' text stays, without the name.
    for table, key, columns, scope in _FREE_TEXT:
        rows = await tx.fetch_all(
            f"SELECT {key}, {', '.join(columns)} FROM {table} WHERE {scope}",
            {"c": member.community},
        )
        changed = []
        for row_key, *texts in rows:
            scrubbed = [hide_names(text, named) if text else text for text in texts]
            if scrubbed != texts:
                changed.append((*scrubbed, row_key))
        sets = ", ".join(f"{column} = ?" for column in columns)
        await tx.execute_many(f"UPDATE {table} SET {sets} WHERE {key} = ?", changed)
    await tx.execute("UPDATE prompts SET added_by = NULL WHERE added_by = ?", (member.id,))
    await tx.execute("DELETE FROM members WHERE id = ?", (member.id,))
    # Their authorship went by cascade: an item left with no author was theirs alone.
    await tx.execute(
        "DELETE FROM knowledge_items WHERE community = ? AND NOT EXISTS "
        "(SELECT 1 FROM knowledge_authors a WHERE a.item_id = knowledge_items.id)",
        (member.community,),
    )
    await tx.execute_many(
        "DELETE FROM state WHERE scope = ? AND key = ?",
        [
            (stored_scope(platform, scope), key)
            for platform, held in adapter_state.items()
            for scope, key in held
        ],
    )
    await tx.execute(
        "INSERT INTO forgotten_members (community, key_hash) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (member.community, forgotten_hash(member.community, member.key)),
    )
    cache.forget(member.community, member.key)  # the next batch reads them as forgotten


async def remember_again(tx: Unit, cache: MemberCache, community: str, key: str) -> bool:
    """Lift a forget-me, when the member asks to be tracked again. True if they were forgotten."""
    changed = await tx.execute(
        "DELETE FROM forgotten_members WHERE community = ? AND key_hash = ?",
        (community, forgotten_hash(community, key)),
    )
    cache.forget(community, key)
    return changed > 0


async def holdings(db: Reads, member_ids: Sequence[int]) -> tuple[int, int, int, int, int, int]:
    """Counts for /mydata, over the person's accounts: messages, kept texts, reactions, credits
    received, given (a credit between two of them counts for neither), nudges."""
    ids = ", ".join(str(int(member_id)) for member_id in member_ids)
    row = await db.fetch_one(
        f"SELECT (SELECT count(*) FROM messages WHERE member_id IN ({ids}) AND deleted_at IS NULL), "
        f"(SELECT count(*) FROM messages WHERE member_id IN ({ids}) AND text IS NOT NULL), "
        f"(SELECT count(*) FROM reactions WHERE member_id IN ({ids})), "
        f"(SELECT count(*) FROM credits WHERE receiver_id IN ({ids}) "
        f"AND (giver_id IS NULL OR giver_id NOT IN ({ids}))), "
        f"(SELECT count(*) FROM credits WHERE giver_id IN ({ids}) AND receiver_id NOT IN ({ids})), "
        f"(SELECT count(*) FROM nudges WHERE member_id IN ({ids}))"
    )
    assert row is not None  # an aggregate always gives a row
    return (row[0], row[1], row[2], row[3], row[4], row[5])
