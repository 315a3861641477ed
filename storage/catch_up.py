"""Where an adapter's catch-up after downtime starts: when the newest message stored from a
platform in a community was posted, and in each of its places since a time, which messages are
stored there since that time (to tell those deleted meanwhile), and which members are stored as
present."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from storage.contract import Reads


@dataclass(frozen=True, slots=True)
class StoredPositions:
    newest: datetime | None
    """When the newest message stored from the platform was posted; None on a first start."""
    last_messages: dict[str, datetime]
    """Place key (a thread's key for a thread, else the channel's) -> its newest stored message's
    time, for the places with a message since the time asked."""
    messages: dict[str, frozenset[str]]
    """Place key -> platform ids of its messages stored (and not deleted) since the time asked."""
    members_present: frozenset[str]
    """Keys of the people stored as members who have not left."""


async def stored_positions(
    db: Reads, community: str, platform: str, since: datetime
) -> StoredPositions:
    prefix = f"{platform}:%"
    # Newest first along the index on (community, posted_at): stops at the platform's newest.
    newest = await db.fetch_one(
        "SELECT posted_at FROM messages WHERE community = ? AND channel_key LIKE ? "
        "ORDER BY posted_at DESC LIMIT 1",
        (community, prefix),
    )
    recent = await db.fetch_all(
        "SELECT coalesce(thread_key, channel_key), platform_id, posted_at, deleted_at IS NULL "
        "FROM messages WHERE community = ? AND posted_at >= ? AND channel_key LIKE ?",
        (community, int(since.timestamp()), prefix),
    )
    last: dict[str, int] = {}
    messages: dict[str, set[str]] = {}
    for place, platform_id, posted_at, kept in recent:
        last[place] = max(posted_at, last.get(place, posted_at))
        if kept:
            messages.setdefault(place, set()).add(platform_id)
    present = await db.fetch_all(
        "SELECT member_key FROM members WHERE community = ? AND member_key LIKE ? "
        "AND is_bot = 0 AND left_at IS NULL",
        (community, prefix),
    )
    return StoredPositions(
        newest=datetime.fromtimestamp(newest[0], UTC) if newest else None,
        last_messages={place: datetime.fromtimestamp(at, UTC) for place, at in last.items()},
        messages={place: frozenset(ids) for place, ids in messages.items()},
        members_present=frozenset(row[0] for row in present),
    )
