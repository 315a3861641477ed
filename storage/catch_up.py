"""Where an adapter's catch-up after downtime starts: when the newest message stored in each place
of a community on one platform was posted, which messages are stored there since a time (to tell
those deleted meanwhile), and which members are stored as present there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from storage.sqlite import SqliteStore


@dataclass(frozen=True, slots=True)
class CatchUpFrom:
    last_messages: dict[str, datetime]
    """Place key (a thread's key for a thread, else the channel's) -> its newest stored message's
    time. Empty when nothing was ever stored from the platform: a first start."""
    messages: dict[str, frozenset[str]]
    """Place key -> platform ids of its messages stored (and not deleted) since the time asked."""
    members_present: frozenset[str]
    """Keys of the people stored as members who have not left."""


async def catch_up_from(
    store: SqliteStore, community: str, platform: str, since: datetime
) -> CatchUpFrom:
    prefix = f"{platform}:%"
    rows = await store.fetch_all(
        "SELECT coalesce(thread_key, channel_key), max(posted_at) FROM messages "
        "WHERE community = ? AND channel_key LIKE ? GROUP BY coalesce(thread_key, channel_key)",
        (community, prefix),
    )
    recent = await store.fetch_all(
        "SELECT coalesce(thread_key, channel_key), platform_id FROM messages "
        "WHERE community = ? AND posted_at >= ? AND channel_key LIKE ? AND deleted_at IS NULL",
        (community, int(since.timestamp()), prefix),
    )
    messages: dict[str, set[str]] = {}
    for place, platform_id in recent:
        messages.setdefault(place, set()).add(platform_id)
    present = await store.fetch_all(
        "SELECT member_key FROM members WHERE community = ? AND member_key LIKE ? "
        "AND is_bot = 0 AND left_at IS NULL",
        (community, prefix),
    )
    return CatchUpFrom(
        last_messages={row[0]: datetime.fromtimestamp(row[1], UTC) for row in rows},
        messages={place: frozenset(ids) for place, ids in messages.items()},
        members_present=frozenset(row[0] for row in present),
    )
