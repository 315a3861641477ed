"""Shared knowledge: lessons, cases, documents and references, with the members who wrote them.

An item is shown only while one of its authors may be named; its title names no member who opted
out."""

from __future__ import annotations

from dataclasses import dataclass

from storage.contract import Reads, Unit
from storage.privacy import hidden, names_hiding, shown_name, visible

KNOWLEDGE_KINDS = ("lesson", "case", "document", "reference")


@dataclass(frozen=True, slots=True)
class KnowledgeItem:
    id: int
    kind: str | None
    """None while the item waits for its kind (a 💡): then it is in no read but ``knowledge_item``."""
    title: str
    link: str | None
    theme: str | None
    created_at: int
    authors: tuple[tuple[int, str], ...]
    """(member id, name) of the visible authors, in the order they were credited."""
    created_by: int | None = None
    """Who shared it or marked it (filled by ``knowledge_item`` only)."""


async def add_knowledge(
    tx: Unit,
    community: str,
    *,
    kind: str | None,
    title: str,
    link: str | None,
    theme: str | None,
    channel_key: str | None,
    source_platform_id: str | None,
    created_by: int | None,
    authors: list[int],
    at: int,
) -> int | None:
    """Record a knowledge item and its authors (``kind`` None: waiting for its kind). None if
    this message was already recorded."""
    added = await tx.fetch_one(
        "INSERT INTO knowledge_items (community, kind, title, link, theme, "
        "channel_key, source_platform_id, created_at, created_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
        (community, kind, title, link, theme, channel_key, source_platform_id, at, created_by),
    )
    if added is None:
        return None
    item_id: int = added[0]
    await tx.execute_many(
        "INSERT INTO knowledge_authors (item_id, member_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(item_id, author) for author in dict.fromkeys(authors)],
    )
    return item_id


async def knowledge_items(
    db: Reads,
    community: str,
    *,
    theme: str | None = None,
    start: int | None = None,
    end: int | None = None,
) -> list[KnowledgeItem]:
    """Knowledge items, newest first, with their visible authors.

    An item is shown only while one of its authors may be named: one whose every author opted
    out is theirs, not the community's, so it is never shown uncredited."""
    p = {"c": community, "t": theme, "s": start, "e": end}
    rows = await db.fetch_all(
        "SELECT id, kind, title, link, theme, created_at FROM knowledge_items "
        "WHERE community = :c AND kind IS NOT NULL AND (:t IS NULL OR theme = :t) "
        "AND (:s IS NULL OR created_at >= :s) "
        "AND (:e IS NULL OR created_at < :e) ORDER BY created_at DESC, id DESC",
        p,
    )
    if not rows:
        return []
    authors: dict[int, list[tuple[int, str]]] = {}
    for item_id, member_id, name in await db.fetch_all(
        f"SELECT a.item_id, m.id, {shown_name('m')} FROM knowledge_authors a "
        "JOIN knowledge_items k ON k.id = a.item_id JOIN members m ON m.id = a.member_id "
        "WHERE k.community = :c AND k.kind IS NOT NULL AND (:t IS NULL OR k.theme = :t) "
        "AND (:s IS NULL OR k.created_at >= :s) AND (:e IS NULL OR k.created_at < :e) "
        f"AND {visible('m')} ORDER BY a.item_id, {shown_name('m')}",
        p,
    ):
        authors.setdefault(item_id, []).append((member_id, name))
    hiding = await names_hiding(db, community)
    return [
        hidden(
            KnowledgeItem(row[0], row[1], row[2], row[3], row[4], row[5], tuple(authors[row[0]])),
            hiding,
            ("title",),
        )
        for row in rows
        if row[0] in authors
    ]


async def knowledge_item(
    db: Reads, community: str, *, item_id: int | None = None, source: str | None = None
) -> KnowledgeItem | None:
    """One item by its id, or the item filed from the message ``source`` (a platform id),
    waiting for its kind or not, with its visible authors; None if there is none, or if every
    author opted out (as ``knowledge_items`` hides it)."""
    row = await db.fetch_one(
        "SELECT id, kind, title, link, theme, created_at, created_by FROM knowledge_items "
        "WHERE community = :c AND (id = :i OR source_platform_id = :s)",
        {"c": community, "i": item_id, "s": source},
    )
    if row is None:
        return None
    authors = await db.fetch_all(
        f"SELECT m.id, {shown_name('m')} FROM knowledge_authors a JOIN members m ON m.id = a.member_id "
        f"WHERE a.item_id = ? AND {visible('m')} ORDER BY {shown_name('m')}",
        (row[0],),
    )
    if not authors:
        return None
    item = KnowledgeItem(
        row[0], row[1], row[2], row[3], row[4], row[5],
        authors=tuple((a[0], a[1]) for a in authors), created_by=row[6],
    )  # fmt: skip
    return hidden(item, await names_hiding(db, community), ("title",))


async def edit_knowledge(
    tx: Unit, item_id: int, *, title: str | None, kind: str | None, at: int
) -> None:
    """Change an item's title or kind (None: unchanged). An item waiting for its kind that gets
    one enters the library now: it is counted from ``at``, not from when it was marked."""
    if kind is not None and kind not in KNOWLEDGE_KINDS:
        raise ValueError(f"not a kind of knowledge: {kind!r}")
    await tx.execute(
        "UPDATE knowledge_items SET title = coalesce(:t, title), "
        "created_at = CASE WHEN kind IS NULL AND :k IS NOT NULL THEN :at ELSE created_at END, "
        "kind = coalesce(:k, kind) WHERE id = :i",
        {"t": title, "k": kind, "at": at, "i": item_id},
    )


async def remove_knowledge(tx: Unit, item_id: int) -> None:
    await tx.execute("DELETE FROM knowledge_items WHERE id = ?", (item_id,))


async def file_waiting(tx: Unit, community: str, marked_before: int, at: int) -> int:
    """Items marked before ``marked_before`` and still waiting for their kind go into the library
    as references. How many were filed."""
    changed = await tx.execute(
        "UPDATE knowledge_items SET kind = 'reference', created_at = :at "
        "WHERE community = :c AND kind IS NULL AND created_at < :b",
        {"c": community, "b": marked_before, "at": at},
    )
    return changed


@dataclass(frozen=True, slots=True)
class SourceMessage:
    author_id: int
    text: str | None
    theme: str | None
    channel_key: str


async def source_message(db: Reads, community: str, platform_id: str) -> SourceMessage | None:
    """The stored message a 💡 points at, if it exists and its author may be credited."""
    row = await db.fetch_one(
        "SELECT g.member_id, g.text, g.theme, g.channel_key FROM messages g "
        "JOIN members m ON m.id = g.member_id WHERE g.community = ? AND g.platform_id = ? "
        f"AND g.deleted_at IS NULL AND {visible('m')}",
        (community, platform_id),
    )
    return SourceMessage(*row) if row else None
