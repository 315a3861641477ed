"""The hot path: writing a batch of chat events in one transaction, idempotently.

Each event carries the platform's ids, and every table has a unique key on them, so a replayed
event changes nothing. Within a batch, rows are written kind by kind with ``executemany``; the
order used (members, posts, threads, edits, reactions, deletions) gives the same result as
applying the events one by one, because reactions are collapsed to their last state per
(message, member, emoji) first.

The same transaction keeps the report's rollups (migration 003) in step: increments are taken
only from rows the batch really inserted (ids above the table's largest id before the insert), and
decrements from rows it really deleted, summed per key in Python and written once per key.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import aiosqlite

from bot.events import (
    MemberJoined,
    MemberLeft,
    MemberRef,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    ThreadOpened,
)


@dataclass(frozen=True, slots=True)
class PostFacts:
    """What the engine understood of a message before it is stored."""

    theme: str | None
    is_question: bool
    thanks_to: tuple[MemberRef, ...] = ()
    """Members thanked by name in the message."""
    thanks_reply: bool = False
    """The message thanks without naming anyone and answers someone: credit that person."""


@dataclass(frozen=True, slots=True)
class ReactionFacts:
    credit_kind: str | None
    """'thanks' for 🙏, 'insight' for 💡, None for a reaction that credits nobody by itself."""


@dataclass(slots=True)
class CachedMember:
    id: int
    is_bot: bool
    tracked: bool
    display_name: str


def forgotten_hash(community: str, member_key: str) -> str:
    return hashlib.sha256(f"trellis-forgotten\0{community}\0{member_key}".encode()).hexdigest()


class MemberCache:
    """(community, member key) -> member row, so the hot path rarely asks the database."""

    def __init__(self) -> None:
        self._members: dict[tuple[str, str], CachedMember | None] = {}

    def get(self, community: str, key: str) -> CachedMember | None:
        return self._members.get((community, key))

    def knows(self, community: str, key: str) -> bool:
        return (community, key) in self._members

    def put(self, community: str, key: str, member: CachedMember | None) -> None:
        self._members[(community, key)] = member

    def forget(self, community: str, key: str) -> None:
        self._members.pop((community, key), None)


async def resolve_members(
    db: aiosqlite.Connection, cache: MemberCache, community: str, refs: Sequence[MemberRef], at: int
) -> None:
    """Make sure every ref has a member row (unless forgotten) and sits in the cache."""
    missing = {ref.key: ref for ref in refs if not cache.knows(community, ref.key)}
    if not missing:
        return
    hashes = {forgotten_hash(community, key): key for key in missing}
    placeholders = ",".join("?" * len(hashes))
    async with db.execute(
        f"SELECT key_hash FROM forgotten_members WHERE community = ? AND key_hash IN ({placeholders})",
        (community, *hashes),
    ) as cursor:
        for (key_hash,) in await cursor.fetchall():
            cache.put(community, hashes[key_hash], None)
            missing.pop(hashes[key_hash])
    if not missing:
        return
    await db.executemany(
        "INSERT OR IGNORE INTO members (community, member_key, display_name, is_bot, first_seen_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(community, ref.key, ref.display_name, int(ref.is_bot), at) for ref in missing.values()],
    )
    placeholders = ",".join("?" * len(missing))
    async with db.execute(
        "SELECT id, member_key, is_bot, opted_out_at, display_name FROM members "
        f"WHERE community = ? AND member_key IN ({placeholders})",
        (community, *missing),
    ) as cursor:
        for row in await cursor.fetchall():
            cache.put(
                community,
                row[1],
                CachedMember(row[0], bool(row[2]), row[3] is None, row[4]),
            )


def _epoch(moment) -> int:
    return int(moment.timestamp())


async def write_batch(
    db: aiosqlite.Connection,
    cache: MemberCache,
    items: Sequence[tuple[object, PostFacts | ReactionFacts | None]],
) -> None:
    """Write one batch of (event, facts) pairs. Runs inside the caller's transaction."""
    by_community: dict[str, list[MemberRef]] = {}
    first_at: dict[str, int] = {}
    for event, _ in items:
        refs = by_community.setdefault(event.community, [])
        first_at.setdefault(event.community, _epoch(event.occurred_at))
        match event:
            case MessagePosted():
                refs.append(event.author)
                refs.extend(event.mentions)
                if event.reply_to_author is not None:
                    refs.append(event.reply_to_author)
            case ReactionAdded() | ReactionRemoved():
                refs.append(event.member)
            case MemberJoined() | MemberLeft():
                refs.append(event.member)
            case ThreadOpened() if event.opener is not None:
                refs.append(event.opener)
    for community, refs in by_community.items():
        await resolve_members(db, cache, community, refs, first_at[community])

    def member(community: str, ref: MemberRef | None) -> CachedMember | None:
        return cache.get(community, ref.key) if ref is not None else None

    joins, leaves, posts, mentions, threads, edits, deletes = [], [], [], [], [], [], []
    thanks_named, thanks_reply, renames = [], [], {}
    last_post: dict[int, int] = {}
    reactions: dict[tuple[str, str, int, str], tuple[bool, object, ReactionFacts | None]] = {}
    for event, facts in items:
        community = event.community
        at = _epoch(event.occurred_at)
        match event:
            case MessagePosted():
                author = member(community, event.author)
                if author is None or not author.tracked or author.is_bot:
                    continue
                if event.author.display_name and event.author.display_name != author.display_name:
                    renames[author.id] = event.author.display_name
                    author.display_name = event.author.display_name
                replied = member(community, event.reply_to_author)
                posts.append(
                    (
                        community,
                        event.message_id,
                        author.id,
                        event.channel.key,
                        event.channel.thread_key,
                        facts.theme,
                        at,
                        event.text,
                        len(event.text),
                        int(facts.is_question),
                        event.reply_to,
                        replied.id if replied else None,
                        community,
                        event.reply_to,
                    )
                )
                last_post[author.id] = max(at, last_post.get(author.id, 0))
                for ref in event.mentions:
                    mentioned = member(community, ref)
                    if mentioned is not None:
                        mentions.append((community, event.message_id, mentioned.id))
                for ref in facts.thanks_to:
                    thanked = member(community, ref)
                    if (
                        thanked
                        and thanked.id != author.id
                        and thanked.tracked
                        and not thanked.is_bot
                    ):
                        thanks_named.append(
                            (community, thanked.id, author.id, facts.theme, at, event.message_id)
                        )
                if facts.thanks_reply and event.reply_to:
                    thanks_reply.append(
                        (
                            author.id,
                            community,
                            facts.theme,
                            event.message_id,
                            at,
                            community,
                            event.reply_to,
                        )
                    )
            case MessageEdited():
                edits.append((event.text, len(event.text), at, community, event.message_id))
            case MessageDeleted():
                deletes.append((community, event.message_id, at))
            case ReactionAdded() | ReactionRemoved():
                reactor = member(community, event.member)
                if reactor is None or not reactor.tracked or reactor.is_bot:
                    continue
                key = (community, event.message_id, reactor.id, event.emoji)
                reactions[key] = (isinstance(event, ReactionAdded), at, facts)
            case MemberJoined():
                joined = member(community, event.member)
                if joined is not None:
                    joins.append((at, at, joined.id))
            case MemberLeft():
                gone = member(community, event.member)
                if gone is not None:
                    leaves.append((at, gone.id))
            case ThreadOpened():
                opener = member(community, event.opener)
                threads.append(
                    (
                        community,
                        event.channel.thread_key,
                        event.channel.key,
                        event.title,
                        opener.id if opener and opener.tracked else None,
                        facts.theme if isinstance(facts, PostFacts) else None,
                        at,
                    )
                )

    if joins:
        await db.executemany(
            "UPDATE members SET joined_at = coalesce(min(joined_at, ?), ?), left_at = NULL WHERE id = ?",
            joins,
        )
    if leaves:
        await db.executemany("UPDATE members SET left_at = ? WHERE id = ?", leaves)
    if renames:
        await db.executemany(
            "UPDATE members SET display_name = ? WHERE id = ?",
            [(name, member_id) for member_id, name in renames.items()],
        )
    if threads:
        await db.executemany(
            "INSERT OR IGNORE INTO threads (community, thread_key, channel_key, title, "
            "opener_member_id, theme, opened_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            threads,
        )
    zones = await _zones(db)
    for community in by_community:
        await _recount_after_forget_me(db, community, zones)
    rollup = _Rollup(zones)
    if posts:
        first_new = await _max_id(db, "messages")
        cursor = await db.executemany(
            "INSERT OR IGNORE INTO messages (community, platform_id, member_id, channel_key, "
            "thread_key, theme, posted_at, text, chars, is_question, reply_to, reply_to_member_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, coalesce(?, (SELECT member_id FROM messages "
            "WHERE community = ? AND platform_id = ?)))",
            posts,
        )
        inserted = await rollup.posted(db, posts, first_new, cursor.rowcount)
        await db.executemany(
            "UPDATE members SET last_posted_at = max(coalesce(last_posted_at, 0), ?) WHERE id = ?",
            [(at, member_id) for member_id, at in last_post.items()],
        )
    # A replayed message changes nothing, its mentions included: only new messages get them.
    mentions = [m for m in mentions if (m[0], m[1]) in inserted] if posts else []
    if mentions:
        await db.executemany(
            "INSERT OR IGNORE INTO mentions (message_id, member_id) "
            "SELECT id, ? FROM messages WHERE community = ? AND platform_id = ?",
            [(member_id, community, platform_id) for community, platform_id, member_id in mentions],
        )
        rollup.mentioned(inserted, mentions)
    if thanks_named:
        await _credit_thanks_named(db, thanks_named)
    if thanks_reply:
        await _credit_thanks_reply(db, thanks_reply)
    if edits:
        await db.executemany(
            "UPDATE messages SET text = CASE WHEN text IS NULL THEN NULL ELSE ? END, chars = ?, "
            "edited_at = ? WHERE community = ? AND platform_id = ? AND deleted_at IS NULL",
            edits,
        )
    if reactions:
        await _write_reactions(db, reactions, rollup)
    if deletes:
        await rollup.deleting(db, [(c, p) for c, p, _ in deletes])
        await db.executemany(
            "UPDATE messages SET text = NULL, deleted_at = ? WHERE community = ? AND platform_id = ?",
            [(at, community, platform_id) for community, platform_id, at in deletes],
        )
        await db.executemany(
            "DELETE FROM credits WHERE community = ? AND source_platform_id = ?",
            [(community, platform_id) for community, platform_id, _ in deletes],
        )
        await db.executemany(
            "DELETE FROM mentions WHERE message_id IN "
            "(SELECT id FROM messages WHERE community = ? AND platform_id = ?)",
            [(community, platform_id) for community, platform_id, _ in deletes],
        )
    await rollup.write(db)


# A thank-you answers a question when the thanked member replied, within 14 days, to a question
# of the thanker's. Found through messages_answers (migration 003) in one index probe: scanning
# all the receiver's recent messages per thank-you grows with the community's size.
_ANSWER_KIND = (
    "CASE WHEN EXISTS (SELECT 1 FROM messages a JOIN messages q ON q.community = a.community "
    "AND q.platform_id = a.reply_to WHERE a.community = :community AND a.member_id = :receiver "
    "AND a.reply_to_member_id = :giver AND a.posted_at BETWEEN :at - 1209600 AND :at "
    "AND q.member_id = :giver AND q.is_question = 1) THEN 'answer' ELSE 'thanks' END"
)


async def _credit_thanks_named(db: aiosqlite.Connection, rows: list[tuple]) -> None:
    await db.executemany(
        "INSERT OR IGNORE INTO credits (community, kind, receiver_id, giver_id, asker_id, theme, "
        "source_platform_id, credited_at) SELECT :community, k.kind, :receiver, :giver, "
        "CASE WHEN k.kind = 'answer' THEN :giver END, :theme, :source, :at "
        f"FROM (SELECT {_ANSWER_KIND} AS kind) k",
        [
            {
                "community": community,
                "receiver": receiver,
                "giver": giver,
                "theme": theme,
                "at": at,
                "source": source,
            }
            for community, receiver, giver, theme, at, source in rows
        ],
    )


async def _credit_thanks_reply(db: aiosqlite.Connection, rows: list[tuple]) -> None:
    """Credit the author of the message being answered, unless self, a bot, or opted out."""
    await db.executemany(
        "INSERT OR IGNORE INTO credits (community, kind, receiver_id, giver_id, asker_id, theme, "
        "source_platform_id, credited_at) "
        "SELECT ?2, CASE WHEN q.is_question = 1 AND q.member_id = ?1 THEN 'answer' ELSE 'thanks' END, "
        "m.member_id, ?1, CASE WHEN q.is_question = 1 AND q.member_id = ?1 THEN ?1 END, "
        "coalesce(?3, m.theme), ?4, ?5 "
        "FROM messages m JOIN members r ON r.id = m.member_id "
        "LEFT JOIN messages q ON q.community = m.community AND q.platform_id = m.reply_to "
        "WHERE m.community = ?6 AND m.platform_id = ?7 AND m.deleted_at IS NULL "
        "AND m.member_id != ?1 AND r.is_bot = 0 AND r.opted_out_at IS NULL",
        rows,
    )


async def _write_reactions(db: aiosqlite.Connection, reactions: dict, rollup: _Rollup) -> None:
    added, removed, credited = [], [], []
    for (community, platform_id, member_id, emoji), (is_add, at, facts) in reactions.items():
        if not is_add:
            removed.append((community, platform_id, member_id, emoji))
            continue
        added.append((community, platform_id, member_id, emoji, at, community, platform_id))
        if facts is not None and facts.credit_kind:
            credited.append((member_id, community, facts.credit_kind, platform_id, emoji, at))
    if added:
        first_new = await _max_id(db, "reactions")
        await db.executemany(
            "INSERT OR IGNORE INTO reactions (community, message_platform_id, member_id, emoji, "
            "reacted_at, target_member_id, theme) SELECT ?, ?, ?, ?, ?, m.member_id, m.theme "
            "FROM (SELECT 1) LEFT JOIN messages m ON m.community = ? AND m.platform_id = ?",
            added,
        )
        await rollup.reacted(db, first_new)
    if removed:
        await rollup.unreacting(db, removed)
        await db.executemany(
            "DELETE FROM reactions WHERE community = ? AND message_platform_id = ? "
            "AND member_id = ? AND emoji = ?",
            removed,
        )
        await db.executemany(
            "DELETE FROM credits WHERE community = ? AND source_platform_id = ? AND giver_id = ? "
            "AND kind IN ('thanks', 'insight', 'answer') AND reason = ?",
            [(c, p, m, f"reaction:{e}") for c, p, m, e in removed],
        )
    if credited:
        # A reaction credit's source is the reacted message; its reason records the emoji, so
        # removing the reaction removes exactly that credit.
        await db.executemany(
            "INSERT OR IGNORE INTO credits (community, kind, receiver_id, giver_id, asker_id, "
            "theme, reason, source_platform_id, credited_at) "
            "SELECT ?2, CASE WHEN ?3 = 'thanks' AND q.is_question = 1 AND q.member_id = ?1 "
            "THEN 'answer' ELSE ?3 END, m.member_id, ?1, "
            "CASE WHEN q.is_question = 1 AND q.member_id = ?1 THEN ?1 END, m.theme, "
            "'reaction:' || ?5, ?4, ?6 "
            "FROM messages m JOIN members r ON r.id = m.member_id "
            "LEFT JOIN messages q ON q.community = m.community AND q.platform_id = m.reply_to "
            "WHERE m.community = ?2 AND m.platform_id = ?4 AND m.deleted_at IS NULL "
            "AND m.member_id != ?1 AND r.is_bot = 0 AND r.opted_out_at IS NULL",
            credited,
        )


# --- Rollups (migration 003) ------------------------------------------------------------------

_MONDAY = 4
"""Day 4 since 1970-01-01 (a Thursday) is the first Monday: local weeks are (day - 4) // 7."""


MAX_THREAD_PARTICIPANTS = 12
"""Sharing a thread ties its participants only up to this size: in a crowd, being in the same
thread says little about a relationship, and the pairs would grow with the square of the crowd."""


def week_of(day: int) -> int:
    return (day - _MONDAY) // 7


class LocalDays:
    """Local day numbers (days since 1970-01-01 in ``zone``) of UTC epoch seconds.

    Offsets are looked up once per quarter hour, the finest step at which any timezone changes.
    """

    def __init__(self, zone: ZoneInfo | None) -> None:
        self._zone = zone
        self._offsets: dict[int, int] = {}
        self._last = self._last_offset = 0

    def __call__(self, at: int) -> int:
        if self._zone is None:
            return at // 86400
        quarter = at // 900
        if quarter == self._last:
            return (at + self._last_offset) // 86400
        offset = self._offsets.get(quarter)
        if offset is None:
            moment = datetime.fromtimestamp(quarter * 900, UTC).astimezone(self._zone)
            offset = self._offsets[quarter] = int(moment.utcoffset().total_seconds())
        self._last, self._last_offset = quarter, offset
        return (at + offset) // 86400


async def _zones(db: aiosqlite.Connection) -> dict[str, ZoneInfo]:
    async with db.execute(
        "SELECT community, timezone FROM rollup_zones WHERE timezone IS NOT NULL"
    ) as cursor:
        return {community: ZoneInfo(zone) for community, zone in await cursor.fetchall()}


async def _forgotten_digest(db: aiosqlite.Connection, community: str) -> str:
    async with db.execute(
        "SELECT group_concat(key_hash, '') FROM (SELECT key_hash FROM forgotten_members "
        "WHERE community = ? ORDER BY key_hash)",
        (community,),
    ) as cursor:
        joined = (await cursor.fetchone())[0] or ""
    return hashlib.sha256(joined.encode()).hexdigest()


async def _recount_after_forget_me(
    db: aiosqlite.Connection, community: str, zones: dict[str, ZoneInfo]
) -> None:
    """Rebuild the community's rollups if someone was forgotten (or remembered) since the last batch.

    A forget-me deletes by cascade the reactions others gave to the forgotten member and their
    place in threads, which can make a crowded thread small again: rare enough to recount all.
    """
    digest = await _forgotten_digest(db, community)
    async with db.execute(
        "SELECT forgotten FROM rollup_zones WHERE community = ?", (community,)
    ) as cursor:
        row = await cursor.fetchone()
    if row is not None and row[0] == digest:
        return
    zone = zones.get(community)
    await _rebuild(db, community, zone)
    await db.execute(
        "INSERT INTO rollup_zones (community, timezone, forgotten) VALUES (:c, :z, :d) "
        "ON CONFLICT (community) DO UPDATE SET forgotten = excluded.forgotten",
        {"c": community, "z": zone.key if zone else None, "d": digest},
    )


async def _max_id(db: aiosqlite.Connection, table: str) -> int:
    async with db.execute(f"SELECT coalesce(max(id), 0) FROM {table}") as cursor:
        return (await cursor.fetchone())[0]


class _Rollup:
    """One batch's changes to the rollups, summed per key before they are written."""

    def __init__(self, zones: dict[str, ZoneInfo]) -> None:
        self._zones = zones
        self._days: dict[str, LocalDays] = {}
        # (member, day) -> [messages, replies, reactions]
        self.members: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
        # (theme, member, day) -> messages
        self.themes: dict[tuple[str, int, int], int] = defaultdict(int)
        self.ties: dict[tuple[int, int, int], int] = defaultdict(int)
        # (community, thread key, member) -> [first posted, messages]
        self.threads: dict[tuple[str, str, int], list[int]] = {}
        self.threads_recount: set[tuple[str, str, int]] = set()

    def day(self, community: str, at: int) -> int:
        days = self._days.get(community)
        if days is None:
            days = self._days[community] = LocalDays(self._zones.get(community))
        return days(at)

    def tie(self, one: int, other: int | None, day: int, delta: int) -> None:
        if other is not None and other != one:
            self.ties[(one, other, day) if one < other else (other, one, day)] += delta

    def post(self, row: tuple, delta: int) -> int:
        """Count (or uncount) one message row; returns its day."""
        community, member_id, at, theme, reply, replied, thread_key = row
        day = self.day(community, at)
        entry = self.members[(member_id, day)]
        entry[0] += delta
        entry[1] += reply * delta
        if theme:
            self.themes[(theme, member_id, day)] += delta
        self.tie(member_id, replied, day, delta)
        if thread_key is not None:
            key = (community, thread_key, member_id)
            if delta < 0:
                self.threads_recount.add(key)
            else:
                thread = self.threads.setdefault(key, [at, 0])
                thread[0] = min(thread[0], at)
                thread[1] += 1
        return day

    async def posted(
        self, db: aiosqlite.Connection, posts: list[tuple], first_new: int, stored: int
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """Count the messages this batch inserted: (community, platform id) -> (author, day).

        ``posts`` are the rows given to the insert and ``stored`` how many it inserted; when some
        were already there (a replay), the new ones are those with an id above ``first_new``.
        """
        new = posts
        if stored != len(posts):
            async with db.execute(
                "SELECT community, platform_id FROM messages WHERE id > ?", (first_new,)
            ) as cursor:
                fresh = {tuple(row) for row in await cursor.fetchall()}
            new = []
            for post in posts:
                if (post[0], post[1]) in fresh:
                    fresh.discard((post[0], post[1]))  # a second copy in the batch was ignored
                    new.append(post)
        inserted = {}
        for (
            community,
            platform_id,
            author,
            _,
            thread_key,
            theme,
            at,
            *_,
            reply_to,
            replied,
            _,
            _,
        ) in new:
            if replied is None and reply_to is not None:
                # The replied-to author came from the database at insert time: read it back.
                async with db.execute(
                    "SELECT reply_to_member_id FROM messages WHERE community = ? AND platform_id = ?",
                    (community, platform_id),
                ) as cursor:
                    replied = (await cursor.fetchone())[0]
            row = (community, author, at, theme or "", reply_to is not None, replied, thread_key)
            inserted[(community, platform_id)] = (author, self.post(row, 1))
        return inserted

    def mentioned(self, inserted: dict, mentions: list[tuple[str, str, int]]) -> None:
        seen = set()
        for community, platform_id, member_id in mentions:
            author, day = inserted[(community, platform_id)]
            if (community, platform_id, member_id) not in seen:
                seen.add((community, platform_id, member_id))
                self.tie(author, member_id, day, 1)

    def reaction(self, community: str, member_id: int, target: int | None, at: int, delta: int):
        day = self.day(community, at)
        self.members[(member_id, day)][2] += delta
        self.tie(member_id, target, day, delta)

    async def reacted(self, db: aiosqlite.Connection, first_new: int) -> None:
        async with db.execute(
            "SELECT community, member_id, target_member_id, reacted_at FROM reactions WHERE id > ?",
            (first_new,),
        ) as cursor:
            for row in await cursor.fetchall():
                self.reaction(*row, 1)

    async def unreacting(self, db: aiosqlite.Connection, removed: list[tuple]) -> None:
        """Uncount reactions about to be removed (those that exist)."""
        for key in removed:
            async with db.execute(
                "SELECT community, member_id, target_member_id, reacted_at FROM reactions "
                "WHERE community = ? AND message_platform_id = ? AND member_id = ? AND emoji = ?",
                key,
            ) as cursor:
                for row in await cursor.fetchall():
                    self.reaction(*row, -1)

    async def deleting(self, db: aiosqlite.Connection, keys: list[tuple[str, str]]) -> None:
        """Uncount messages about to be marked deleted (those not deleted yet), mentions too."""
        for key in dict.fromkeys(keys):
            async with db.execute(
                "SELECT id, community, member_id, posted_at, coalesce(theme, ''), "
                "reply_to IS NOT NULL, reply_to_member_id, thread_key FROM messages "
                "WHERE community = ? AND platform_id = ? AND deleted_at IS NULL",
                key,
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                continue
            day = self.post(tuple(row[1:]), -1)
            async with db.execute(
                "SELECT member_id FROM mentions WHERE message_id = ?", (row[0],)
            ) as cursor:
                for (mentioned,) in await cursor.fetchall():
                    self.tie(row[2], mentioned, day, -1)

    async def write(self, db: aiosqlite.Connection) -> None:
        await self._write_threads(db)
        if self.members:
            await db.executemany(
                "INSERT INTO member_days (member_id, week, day, messages, replies, reactions) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (member_id, week, day) "
                "DO UPDATE SET messages = messages + excluded.messages, "
                "replies = replies + excluded.replies, reactions = reactions + excluded.reactions",
                [
                    (member_id, week_of(day), day, *counts)
                    for (member_id, day), counts in self.members.items()
                    if any(counts)
                ],
            )
            await db.executemany(
                "DELETE FROM member_days WHERE member_id = ? AND week = ? AND day = ? "
                "AND messages = 0 AND reactions = 0",
                [
                    (member_id, week_of(day), day)
                    for (member_id, day), counts in self.members.items()
                    if min(counts) < 0
                ],
            )
        if self.themes:
            await db.executemany(
                "INSERT INTO theme_days (theme, member_id, day, messages) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (theme, member_id, day) DO UPDATE SET messages = messages + "
                "excluded.messages",
                [(*key, count) for key, count in self.themes.items() if count],
            )
            await db.executemany(
                "DELETE FROM theme_days WHERE theme = ? AND member_id = ? AND day = ? "
                "AND messages = 0",
                [key for key, count in self.themes.items() if count < 0],
            )
        if self.ties:
            await db.executemany(
                "INSERT INTO tie_days (a, b, day, weight) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (a, b, day) DO UPDATE SET weight = weight + excluded.weight",
                [(*key, weight) for key, weight in self.ties.items() if weight],
            )
            await db.executemany(
                "DELETE FROM tie_days WHERE a = ? AND b = ? AND day = ? AND weight = 0",
                [key for key, weight in self.ties.items() if weight < 0],
            )

    async def _participants(
        self, db: aiosqlite.Connection, threads: set[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[int, int]]:
        """(community, thread key) -> {member: first posted} as stored, for the given threads."""
        found: dict[tuple[str, str], dict[int, int]] = {key: {} for key in threads}
        by_community: dict[str, list[str]] = defaultdict(list)
        for community, thread_key in threads:
            by_community[community].append(thread_key)
        for community, keys in by_community.items():
            async with db.execute(
                "SELECT thread_key, member_id, first_at FROM thread_members WHERE community = ? "
                "AND thread_key IN (SELECT value FROM json_each(?))",
                (community, json.dumps(keys)),
            ) as cursor:
                for thread_key, member_id, first in await cursor.fetchall():
                    found[(community, thread_key)][member_id] = first
        return found

    def _thread_ties(self, community: str, participants: dict[int, int], delta: int) -> None:
        """Count (or uncount) the ties sharing a thread makes, if it is small enough to make any."""
        if not 2 <= len(participants) <= MAX_THREAD_PARTICIPANTS:
            return
        people = sorted(participants.items())
        for i, (a, first_a) in enumerate(people):
            for b, first_b in people[i + 1 :]:
                self.ties[(a, b, self.day(community, max(first_a, first_b)))] += delta

    async def _write_threads(self, db: aiosqlite.Connection) -> None:
        """Write thread participants; a thread whose participants changed changes its ties."""
        touched = {(c, t) for c, t, _ in self.threads} | {
            (c, t) for c, t, _ in self.threads_recount
        }
        if not touched:
            return
        before = await self._participants(db, touched)
        after = {key: dict(people) for key, people in before.items()}
        for (community, thread_key, member_id), (first, _) in self.threads.items():
            people = after[(community, thread_key)]
            people[member_id] = min(first, people.get(member_id, first))
        if self.threads:
            await db.executemany(
                "INSERT INTO thread_members (community, thread_key, member_id, first_at, messages) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (community, thread_key, member_id) "
                "DO UPDATE SET first_at = min(first_at, excluded.first_at), "
                "messages = messages + excluded.messages",
                [(*key, first, count) for key, (first, count) in self.threads.items()],
            )
        # A deleted message may have been someone's first in its thread, or their only one.
        for community, thread_key, member_id in self.threads_recount:
            params = (community, thread_key, member_id)
            await db.execute(
                "DELETE FROM thread_members WHERE community = ? AND thread_key = ? AND member_id = ?",
                params,
            )
            await db.execute(
                "INSERT INTO thread_members (community, thread_key, member_id, first_at, messages) "
                "SELECT ?1, ?2, ?3, min(posted_at), count(*) FROM messages WHERE member_id = ?3 "
                "AND community = ?1 AND thread_key = ?2 AND deleted_at IS NULL HAVING count(*) > 0",
                params,
            )
        if self.threads_recount:
            after.update(await self._participants(db, {(c, t) for c, t, _ in self.threads_recount}))
        for key, people in after.items():
            if people != before[key]:
                self._thread_ties(key[0], before[key], -1)
                self._thread_ties(key[0], people, 1)


async def _rebuild(db: aiosqlite.Connection, community: str, zone: ZoneInfo | None) -> None:
    """Count ``community``'s rollups afresh from the base tables, in local days of ``zone``."""
    await db.create_function("trellis_day", 1, LocalDays(zone), deterministic=True)
    members = "(SELECT id FROM members WHERE community = :c)"
    p = {"c": community, "most": MAX_THREAD_PARTICIPANTS}
    await db.execute(f"DELETE FROM member_days WHERE member_id IN {members}", p)
    await db.execute(f"DELETE FROM theme_days WHERE member_id IN {members}", p)
    await db.execute(f"DELETE FROM tie_days WHERE a IN {members} OR b IN {members}", p)
    await db.execute("DELETE FROM thread_members WHERE community = :c", p)
    await db.execute(
        "INSERT INTO member_days (member_id, week, day, messages, replies, reactions) "
        "SELECT member_id, (d - 4) / 7, d, sum(n), sum(r), sum(x) FROM ("
        "SELECT member_id, trellis_day(posted_at) AS d, 1 AS n, reply_to IS NOT NULL AS r, "
        "0 AS x FROM messages WHERE community = :c AND deleted_at IS NULL "
        "UNION ALL SELECT member_id, trellis_day(reacted_at), 0, 0, 1 FROM reactions "
        "WHERE community = :c) GROUP BY member_id, d",
        p,
    )
    await db.execute(
        "INSERT INTO theme_days (theme, member_id, day, messages) "
        "SELECT theme, member_id, trellis_day(posted_at) AS d, count(*) FROM messages "
        "WHERE community = :c AND deleted_at IS NULL AND theme IS NOT NULL AND theme != '' "
        "GROUP BY theme, member_id, d",
        p,
    )
    await db.execute(
        "INSERT INTO thread_members (community, thread_key, member_id, first_at, messages) "
        "SELECT community, thread_key, member_id, min(posted_at), count(*) FROM messages "
        "WHERE community = :c AND thread_key IS NOT NULL AND deleted_at IS NULL GROUP BY 2, 3",
        p,
    )
    await db.execute(
        "INSERT INTO tie_days (a, b, day, weight) "
        "SELECT min(x, y), max(x, y), trellis_day(t) AS d, count(*) FROM ("
        "SELECT member_id AS x, reply_to_member_id AS y, posted_at AS t FROM messages "
        "WHERE community = :c AND deleted_at IS NULL AND reply_to_member_id != member_id "
        "UNION ALL SELECT m.member_id, n.member_id, m.posted_at FROM mentions n "
        "JOIN messages m ON m.id = n.message_id WHERE m.community = :c AND m.deleted_at IS NULL "
        "AND n.member_id != m.member_id "
        "UNION ALL SELECT member_id, target_member_id, reacted_at FROM reactions "
        "WHERE community = :c AND target_member_id != member_id "
        "UNION ALL SELECT x.member_id, y.member_id, max(x.first_at, y.first_at) "
        "FROM thread_members x JOIN thread_members y ON y.community = x.community "
        "AND y.thread_key = x.thread_key AND y.member_id > x.member_id "
        "WHERE x.community = :c AND x.thread_key IN (SELECT thread_key FROM thread_members "
        "WHERE community = :c GROUP BY thread_key HAVING count(*) BETWEEN 2 AND :most)"
        ") GROUP BY 1, 2, 3",
        p,
    )


async def record_zone(db: aiosqlite.Connection, community: str, timezone: str) -> bool:
    """Count ``community``'s rollups in local days of ``timezone``; rebuild them if they were not.

    Runs inside the caller's transaction. Returns whether a rebuild was needed: the first time
    (the rollups of a database upgraded to migration 003 start empty) or after the community's
    timezone changed.
    """
    async with db.execute(
        "SELECT timezone FROM rollup_zones WHERE community = ?", (community,)
    ) as cursor:
        row = await cursor.fetchone()
    if row is not None and row[0] == timezone:
        await _recount_after_forget_me(db, community, {community: ZoneInfo(timezone)})
        return False
    await _rebuild(db, community, ZoneInfo(timezone))
    p = {"c": community}
    await db.execute(
        "INSERT INTO rollup_zones (community, timezone, forgotten) VALUES (:c, :z, :f) "
        "ON CONFLICT (community) DO UPDATE SET timezone = :z, forgotten = :f",
        {**p, "z": timezone, "f": await _forgotten_digest(db, community)},
    )
    return True
