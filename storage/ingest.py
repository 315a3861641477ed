"""The hot path: writing a batch of chat events in one transaction, idempotently.

Each event carries the platform's ids, and every table has a unique key on them, so a replayed
event changes nothing. Within a batch, rows are written kind by kind with ``executemany``; the
order used (members, posts, threads, edits, reactions, deletions) gives the same result as
applying the events one by one, because reactions are collapsed to their last state per
(message, member, emoji) first.

The report's rollups are not counted here: the batch notes which local days it changed (and who
posted in which thread), and ``storage.rollups`` recounts those days before a report reads them.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from bot.clock import epoch
from bot.events import (
    Event,
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
from bot.recognition import name_words
from storage.contract import Reads, Unit
from storage.rollups import Changes, zones


class PostFacts(NamedTuple):
    """What the engine understood of a message before it is stored.

    A named tuple, like ReactionFacts: one is made per event, and a frozen dataclass costs three
    times as much to make."""

    theme: str | None
    is_question: bool
    thanks_to: tuple[MemberRef, ...] = ()
    """Members thanked by name in the message."""
    thanks_reply: bool = False
    """The message thanks without naming anyone and answers someone: credit that person."""
    thanks_words: tuple[str, ...] = ()
    """Words after a thank-you with no mention that may name whom it thanks, folded
    (``recognition.thanked_words``): credit the one member of the conversation they name."""


class ReactionFacts(NamedTuple):
    credit_kind: str | None
    """'thanks' for 🙏, 'insight' for 💡, None for a reaction that credits nobody by itself."""


Reactions = dict[tuple[str, str, int, str], tuple[bool, int, "ReactionFacts | None"]]
"""A batch's last word on each (community, message, member, emoji): added or not, when, credit."""


@dataclass(slots=True)
class CachedMember:
    id: int
    is_bot: bool
    tracked: bool
    display_name: str


def forgotten_hash(community: str, member_key: str) -> str:
    return hashlib.sha256(f"trellis-forgotten\0{community}\0{member_key}".encode()).hexdigest()


class MemberCache:
    """Per community, member key -> member row (None: forgotten), so the hot path rarely asks the
    database.

    Bounded: past ``limit`` members in a community, the half cached longest ago is dropped before
    a batch is resolved (and read back from the database when they next appear), so that memory
    does not grow with the size of the community.
    """

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._members: dict[str, dict[str, CachedMember | None]] = {}
        self._name_words: dict[str, set[str]] = {}

    async def name_words(self, db: Reads, community: str) -> set[str]:
        """Every word of every member's name in the community, folded, read once and then kept
        up to date by the batches: a thank-you whose words name nobody costs no query. (Words of
        names no longer used stay: this only decides whether to look.)"""
        if community not in self._name_words:
            words: set[str] = set()
            for (name,) in await db.fetch_all(
                "SELECT display_name FROM members WHERE community = ?", (community,)
            ):
                words.update(name_words(name or ""))
            self._name_words[community] = words
        return self._name_words[community]

    def named(self, community: str, name: str) -> None:
        """A member's (new) name, for ``name_words`` once it has been read."""
        if community in self._name_words:
            self._name_words[community].update(name_words(name))

    def of(self, community: str) -> dict[str, CachedMember | None]:
        """The community's members by key, for the hot path to look up directly."""
        return self._members.setdefault(community, {})

    def get(self, community: str, key: str) -> CachedMember | None:
        return self.of(community).get(key)

    def knows(self, community: str, key: str) -> bool:
        return key in self.of(community)

    def put(self, community: str, key: str, member: CachedMember | None) -> None:
        self.of(community)[key] = member

    def forget(self, community: str, key: str) -> None:
        self.of(community).pop(key, None)

    def clear(self) -> None:
        """Forget every member (after a batch rolled back: the cache may name its rows)."""
        self._members.clear()
        self._name_words.clear()

    def trim(self, community: str) -> None:
        """Drop the older half of the community's members if there are more than ``limit``."""
        known = self.of(community)
        if len(known) > self.limit:
            for key in list(itertools.islice(known, len(known) - self.limit // 2)):
                del known[key]


async def resolve_members(
    tx: Unit, cache: MemberCache, community: str, refs: Sequence[MemberRef], at: int
) -> None:
    """Make sure every ref has a member row (unless forgotten) and sits in the cache."""
    cache.trim(community)
    known = cache.of(community)
    missing = {}
    for ref in refs:
        key = ref.key
        if key not in known:
            missing[key] = ref
    if not missing:
        return
    hashes = {forgotten_hash(community, key): key for key in missing}
    placeholders = ",".join("?" * len(hashes))
    for (key_hash,) in await tx.fetch_all(
        f"SELECT key_hash FROM forgotten_members WHERE community = ? AND key_hash IN ({placeholders})",
        (community, *hashes),
    ):
        cache.put(community, hashes[key_hash], None)
        missing.pop(hashes[key_hash])
    if not missing:
        return
    await tx.execute_many(
        "INSERT OR IGNORE INTO members (community, member_key, display_name, is_bot, first_seen_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [(community, ref.key, ref.display_name, int(ref.is_bot), at) for ref in missing.values()],
    )
    for ref in missing.values():
        cache.named(community, ref.display_name)
    placeholders = ",".join("?" * len(missing))
    for row in await tx.fetch_all(
        "SELECT id, member_key, is_bot, opted_out_at, display_name FROM members "
        f"WHERE community = ? AND member_key IN ({placeholders})",
        (community, *missing),
    ):
        cache.put(community, row[1], CachedMember(row[0], bool(row[2]), row[3] is None, row[4]))


async def write_batch(
    tx: Unit,
    cache: MemberCache,
    items: Sequence[tuple[Event, PostFacts | ReactionFacts | None]],
) -> None:
    """Write one batch of (event, facts) pairs. Runs inside the caller's transaction.

    Written for SQLite (its upserts, ``INDEXED BY``, numbered parameters), on its connection."""
    db = tx
    by_community: dict[str, list[MemberRef]] = {}
    first_at: dict[str, int] = {}
    for event, _ in items:
        refs = by_community.setdefault(event.community, [])
        if event.community not in first_at:
            first_at[event.community] = epoch(event.occurred_at)
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
        await resolve_members(tx, cache, community, refs, first_at[community])

    known = {community: cache.of(community) for community in by_community}

    joins, leaves, posts, mentions, threads, edits, deletes = [], [], [], [], [], [], []
    thanks_named, thanks_reply, thanks_plain, renames = [], [], [], {}
    last_post: dict[int, int] = {}
    reactions: Reactions = {}
    for event, facts in items:
        community = event.community
        members = known[community]
        at = epoch(event.occurred_at)
        match event:
            case MessagePosted():
                assert isinstance(facts, PostFacts)  # the engine reads every message so
                author = members.get(event.author.key)
                if author is None or not author.tracked or author.is_bot:
                    continue
                if event.author.display_name and event.author.display_name != author.display_name:
                    renames[author.id] = event.author.display_name
                    author.display_name = event.author.display_name
                    cache.named(community, event.author.display_name)
                replied = event.reply_to_author and members.get(event.reply_to_author.key)
                # Every mention is resolved above: None is a forgotten member, whose mentions
                # cost the text, as forget-me did to the text already stored.
                names_forgotten = bool(event.mentions) and any(
                    members.get(ref.key) is None for ref in event.mentions
                )
                posts.append(
                    (
                        community,
                        event.message_id,
                        author.id,
                        event.channel.key,
                        event.channel.thread_key,
                        facts.theme,
                        at,
                        None if names_forgotten else event.text,
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
                    mentioned = members.get(ref.key)
                    if mentioned is not None:
                        mentions.append((community, event.message_id, mentioned.id))
                for ref in facts.thanks_to:
                    thanked = members.get(ref.key)
                    if (
                        thanked
                        and thanked.id != author.id
                        and thanked.tracked
                        and not thanked.is_bot
                    ):
                        thanks_named.append(
                            (community, thanked.id, author.id, facts.theme, at, event.message_id)
                        )
                reply_credit = None
                if facts.thanks_reply and event.reply_to:
                    reply_credit = (
                        author.id,
                        community,
                        facts.theme,
                        event.message_id,
                        at,
                        community,
                        event.reply_to,
                    )
                if facts.thanks_words:
                    thanks_plain.append(
                        (
                            (community, author.id, facts.theme, at, event.message_id),
                            (event.channel.key, event.channel.thread_key, facts.thanks_words),
                            reply_credit,
                        )
                    )
                elif reply_credit is not None:
                    thanks_reply.append(reply_credit)
            case MessageEdited():
                edits.append((event.text, len(event.text), at, community, event.message_id))
            case MessageDeleted():
                deletes.append((community, event.message_id, at))
            case ReactionAdded() | ReactionRemoved():
                reactor = members.get(event.member.key)
                if reactor is None or not reactor.tracked or reactor.is_bot:
                    continue
                key = (community, event.message_id, reactor.id, event.emoji)
                credit = facts if isinstance(facts, ReactionFacts) else None
                reactions[key] = (isinstance(event, ReactionAdded), at, credit)
            case MemberJoined():
                joined = members.get(event.member.key)
                if joined is not None:
                    joins.append((at, at, joined.id))
            case MemberLeft():
                gone = members.get(event.member.key)
                if gone is not None:
                    leaves.append((at, gone.id))
            case ThreadOpened():
                opener = members.get(event.opener.key) if event.opener is not None else None
                tracked = opener is not None and opener.tracked
                threads.append(
                    (
                        community,
                        event.channel.thread_key,
                        event.channel.key,
                        # The title is the opener's words: not kept from one who opted out or
                        # was forgotten (the thread itself is kept, others may write in it).
                        event.title if tracked or event.opener is None else "",
                        opener.id if opener is not None and tracked else None,
                        facts.theme if isinstance(facts, PostFacts) else None,
                        at,
                    )
                )

    if joins:
        await db.execute_many(
            "UPDATE members SET joined_at = coalesce(min(joined_at, ?), ?), left_at = NULL WHERE id = ?",
            joins,
        )
    if leaves:
        await db.execute_many("UPDATE members SET left_at = ? WHERE id = ?", leaves)
    if renames:
        await db.execute_many(
            "UPDATE members SET display_name = ? WHERE id = ?",
            [(name, member_id) for member_id, name in renames.items()],
        )
    if threads:
        await db.execute_many(
            "INSERT OR IGNORE INTO threads (community, thread_key, channel_key, title, "
            "opener_member_id, theme, opened_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            threads,
        )
    changes = Changes(await zones(tx))
    for community, *_, opened_at in threads:
        changes.touch(community, opened_at)  # activity_days counts threads started
    new = []
    if posts:
        first_new = await _max_id(db, "messages")
        stored = await _insert_posts(db, posts, first_new)
        new = await _inserted(db, posts, first_new, stored)
        for community, _, author, _, thread_key, _, at, *_ in new:
            changes.posted(community, author, at, thread_key)
        await db.execute_many(
            "UPDATE members SET last_posted_at = max(coalesce(last_posted_at, 0), ?) WHERE id = ?",
            [(at, member_id) for member_id, at in last_post.items()],
        )
    # A replayed message changes nothing, its mentions included: only new messages get them.
    if mentions and len(new) != len(posts):
        fresh = {(post[0], post[1]) for post in new}
        mentions = [m for m in mentions if (m[0], m[1]) in fresh]
    if mentions:
        await db.execute_many(
            "INSERT OR IGNORE INTO mentions (message_id, member_id) "
            "SELECT id, ? FROM messages WHERE community = ? AND platform_id = ?",
            [(member_id, community, platform_id) for community, platform_id, member_id in mentions],
        )
    for (community, giver, theme, at, source), conversation, reply_credit in thanks_plain:
        words = conversation[2]
        named_id = None
        if words[0] in await cache.name_words(db, community):
            named_id = await _named_in_conversation(db, community, giver, at, source, *conversation)
        if named_id is not None:
            thanks_named.append((community, named_id, giver, theme, at, source))
        elif reply_credit is not None:
            thanks_reply.append(reply_credit)
    if thanks_named:
        await _credit_thanks_named(db, thanks_named)
    if thanks_reply:
        await _credit_thanks_reply(db, thanks_reply)
    if edits:
        # Edits apply in the order of their platform time, not of arrival: an older edit replayed
        # after a newer one (catch-up, a redelivery) must not bring back the older text.
        await db.execute_many(
            "UPDATE messages SET text = CASE WHEN text IS NULL THEN NULL ELSE ?1 END, chars = ?2, "
            "edited_at = ?3 WHERE community = ?4 AND platform_id = ?5 AND deleted_at IS NULL "
            "AND (edited_at IS NULL OR edited_at <= ?3)",
            edits,
        )
        # activity_days counts characters: the edited messages' days change.
        for *_, community, platform_id in edits:
            row = await db.fetch_one(
                "SELECT posted_at FROM messages WHERE community = ? AND platform_id = ? "
                "AND deleted_at IS NULL",
                (community, platform_id),
            )
            if row is not None:
                changes.touch(community, row[0])
    if reactions:
        await _write_reactions(db, reactions, changes)
    if deletes:
        await _deleting(db, [(c, p) for c, p, _ in deletes], changes)
        await db.execute_many(
            "UPDATE messages SET text = NULL, deleted_at = ? WHERE community = ? AND platform_id = ?",
            [(at, community, platform_id) for community, platform_id, at in deletes],
        )
        # The credit follows its source (bot.recognition's credit rules).
        await db.execute_many(
            "DELETE FROM credits WHERE community = ? AND source_platform_id = ?",
            [(community, platform_id) for community, platform_id, _ in deletes],
        )
        await db.execute_many(
            "DELETE FROM mentions WHERE message_id IN "
            "(SELECT id FROM messages WHERE community = ? AND platform_id = ?)",
            [(community, platform_id) for community, platform_id, _ in deletes],
        )
    await changes.write(db)


# The answer rule for named thanks (bot.recognition's credit rules): a thank-you answers a
# question when the thanked member replied, within 14 days, to a question of the thanker's. Found
# through messages_answers (migration 003) in one index probe: scanning all the receiver's recent
# messages per thank-you grows with the community's size. Named with INDEXED BY, as SQLite would
# otherwise walk the fortnight's messages on the covering time index.
_ANSWER_KIND = (
    "CASE WHEN EXISTS (SELECT 1 FROM messages a INDEXED BY messages_answers "
    "JOIN messages q ON q.community = a.community "
    "AND q.platform_id = a.reply_to WHERE a.community = :community AND a.member_id = :receiver "
    "AND a.reply_to_member_id = :giver AND a.posted_at BETWEEN :at - 1209600 AND :at "
    "AND q.member_id = :giver AND q.is_question = 1) THEN 'answer' ELSE 'thanks' END"
)
# PostgreSQL has no INDEXED BY: the probe of messages_answers is a subquery it plans on its own
# (OFFSET 0 keeps it apart), as otherwise it walks all the thanker's messages for questions; so
# is the look-up of each replied message by its key, as otherwise it walks the community's
# questions (messages_questions, whose condition is_question = 1 the join repeats) per thank-you:
# a millisecond each at 100,000 messages, a fifth of ingest's time. Its time is cast to 64 bits
# (_AT_POSTGRESQL): from ``:at - 1209600`` PostgreSQL would infer int4, which ends in 2038.
_AT_POSTGRESQL = "CAST(:at AS BIGINT)"
_ANSWER_KIND_POSTGRESQL = (
    "CASE WHEN EXISTS (SELECT 1 FROM (SELECT a.community, a.reply_to FROM messages a "
    "WHERE a.community = :community AND a.member_id = :receiver "
    f"AND a.reply_to_member_id = :giver AND a.posted_at BETWEEN {_AT_POSTGRESQL} - 1209600 "
    f"AND {_AT_POSTGRESQL} OFFSET 0) a "
    "CROSS JOIN LATERAL (SELECT q.member_id, q.is_question FROM messages q "
    "WHERE q.community = a.community AND q.platform_id = a.reply_to OFFSET 0) q "
    "WHERE q.member_id = :giver AND q.is_question = 1) THEN 'answer' ELSE 'thanks' END"
)


CONVERSATION_MESSAGES = 20
"""A flat channel's conversation: its last this many messages."""


async def _named_in_conversation(
    db: Reads,
    community: str,
    giver: int,
    at: int,
    source: str,
    channel_key: str,
    thread_key: str | None,
    words: tuple[str, ...],
) -> int | None:
    """The one member who took part in the conversation (the thread, or the channel's last
    ``CONVERSATION_MESSAGES`` messages) whose name ``words`` give; None when nobody or several
    are. Asked only of thank-yous without a mention that have words after the thanks."""
    if thread_key is not None:
        sql = (
            "SELECT DISTINCT m.member_id FROM messages m WHERE m.community = ? "
            "AND m.thread_key = ? AND m.posted_at <= ? AND m.platform_id != ?"
        )
        params: tuple[Any, ...] = (community, thread_key, at, source)
    else:
        # Back through the community's time index, at most a week: an index on channels would
        # cost every message stored, for the rare thank-you that names someone without a mention.
        sql = (
            "SELECT m.member_id FROM messages m INDEXED BY messages_by_time "
            "WHERE m.community = ? AND m.posted_at BETWEEN ? - 604800 AND ? "
            "AND m.channel_key = ? AND m.thread_key IS NULL AND m.platform_id != ? "
            "ORDER BY m.posted_at DESC LIMIT ?"
        )
        params = (community, at, at, channel_key, source, CONVERSATION_MESSAGES)
    rows = await db.fetch_all(
        f"SELECT id, display_name FROM members WHERE id IN ({sql}) AND id != ? AND is_bot = 0 "
        "AND opted_out_at IS NULL",
        (*params, giver),
    )
    taking_part = [(row[0], name_words(row[1] or "")) for row in rows]
    named = [member_id for member_id, name in taking_part if words[0] in name]
    if len(named) > 1 and len(words) > 1:
        named = [m for m, name in taking_part if m in named and words[1] in name]
    return named[0] if len(named) == 1 else None


async def _credit_thanks_named(db: Unit, rows: list[tuple[Any, ...]]) -> None:
    """The named thanks rule, with the answer rule (bot.recognition's credit rules); the rows
    already keep to no self-credit and only visible receivers."""
    sqlite = db.dialect == "sqlite"
    # On PostgreSQL OFFSET 0 also keeps the kind computed once, not once per use of k.kind.
    answer_kind = _ANSWER_KIND if sqlite else f"{_ANSWER_KIND_POSTGRESQL} AS kind OFFSET 0"
    await db.execute_many(
        "INSERT OR IGNORE INTO credits (community, kind, receiver_id, giver_id, asker_id, theme, "
        "source_platform_id, credited_at) SELECT :community, k.kind, :receiver, :giver, "
        "CASE WHEN k.kind = 'answer' THEN :giver END, :theme, :source, "
        f"{':at' if sqlite else _AT_POSTGRESQL} "
        f"FROM (SELECT {answer_kind + ' AS kind' if sqlite else answer_kind}) k",
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


async def _credit_thanks_reply(db: Unit, rows: list[tuple[Any, ...]]) -> None:
    """Credit the author of the message being answered, unless self, a bot, or opted out: the
    reply thanks rule, with the answer, no self-credit and only visible receivers rules
    (bot.recognition's credit rules)."""
    await db.execute_many(
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


async def _write_reactions(db: Unit, reactions: Reactions, changes: Changes) -> None:
    added, removed, credited = [], [], []
    for (community, platform_id, member_id, emoji), (is_add, at, facts) in reactions.items():
        if not is_add:
            removed.append((community, platform_id, member_id, emoji))
            continue
        added.append((community, platform_id, member_id, emoji, at, community, platform_id))
        changes.touch(
            community, at
        )  # a replayed reaction counts nothing: its day recounts the same
        if facts is not None and facts.credit_kind:
            credited.append((member_id, community, facts.credit_kind, platform_id, emoji, at))
    if added:
        await db.execute_many(
            "INSERT OR IGNORE INTO reactions (community, message_platform_id, member_id, emoji, "
            "reacted_at, target_member_id, theme) SELECT ?, ?, ?, ?, ?, m.member_id, m.theme "
            "FROM (SELECT 1) AS one LEFT JOIN messages m ON m.community = ? AND m.platform_id = ?",
            added,
        )
    if removed:
        for key in removed:
            for (at,) in await db.fetch_all(
                "SELECT reacted_at FROM reactions WHERE community = ? AND message_platform_id = ? "
                "AND member_id = ? AND emoji = ?",
                key,
            ):
                changes.touch(key[0], at)
        await db.execute_many(
            "DELETE FROM reactions WHERE community = ? AND message_platform_id = ? "
            "AND member_id = ? AND emoji = ?",
            removed,
        )
        await db.execute_many(
            "DELETE FROM credits WHERE community = ? AND source_platform_id = ? AND giver_id = ? "
            "AND kind IN ('thanks', 'insight', 'answer') AND reason = ?",
            [(c, p, m, f"reaction:{e}") for c, p, m, e in removed],
        )
    if credited:
        # The reaction credit rule, with the answer, no self-credit and only visible receivers
        # rules (bot.recognition's credit rules). A reaction credit's source is the reacted
        # message; its reason records the emoji, so removing the reaction removes exactly that
        # credit (the credit follows its source).
        await db.execute_many(
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


async def _max_id(db: Reads, table: str) -> int:
    row = await db.fetch_one(f"SELECT coalesce(max(id), 0) FROM {table}")
    return int(row[0]) if row else 0


_POSTS = (
    "INSERT OR IGNORE INTO messages (community, platform_id, member_id, channel_key, "
    "thread_key, theme, posted_at, text, chars, is_question, reply_to, reply_to_member_id) "
)


async def _insert_posts(tx: Unit, posts: list[tuple[Any, ...]], first_new: int) -> int | None:
    """Insert the batch's messages: how many were new (None: not counted, and the caller reads
    them back).

    A reply whose event does not name the author replied to takes the author of the stored
    message: on SQLite looked up row by row in the insert; on PostgreSQL, where the batch goes
    in one COPY (``PostgresUnit.execute_many``) that looks nothing up, by one update of the
    batch's new rows afterwards."""
    if tx.dialect == "sqlite":
        return await tx.execute_many(
            f"{_POSTS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, coalesce(?, (SELECT member_id "
            "FROM messages WHERE community = ? AND platform_id = ?)))",
            posts,
        )
    stored = await tx.execute_many(
        f"{_POSTS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [post[:12] for post in posts]
    )
    await tx.execute(
        "UPDATE messages SET reply_to_member_id = r.member_id FROM messages r "
        "WHERE messages.id > ? AND messages.reply_to_member_id IS NULL "
        "AND messages.reply_to IS NOT NULL AND r.community = messages.community "
        "AND r.platform_id = messages.reply_to",
        (first_new,),
    )
    return stored


async def _inserted(
    db: Reads, posts: list[tuple[Any, ...]], first_new: int, stored: int | None
) -> list[tuple[Any, ...]]:
    """The posts the insert stored: all of them, unless some were already there (a replay).

    ``stored`` is how many it inserted (None: not counted); the new ones are then those with an
    id above ``first_new``, the table's largest id before the insert.
    """
    if stored == len(posts):
        return posts
    rows = await db.fetch_all(
        "SELECT community, platform_id FROM messages WHERE id > ?", (first_new,)
    )
    fresh = {tuple(row) for row in rows}
    new = []
    for post in posts:
        if (post[0], post[1]) in fresh:
            fresh.discard((post[0], post[1]))  # a second copy in the batch was ignored
            new.append(post)
    return new


async def _deleting(db: Reads, keys: list[tuple[str, str]], changes: Changes) -> None:
    """Note the days (and threads) of messages about to be marked deleted, if not deleted yet."""
    for key in dict.fromkeys(keys):
        row = await db.fetch_one(
            "SELECT community, member_id, posted_at, thread_key FROM messages "
            "WHERE community = ? AND platform_id = ? AND deleted_at IS NULL",
            key,
        )
        if row is not None:
            changes.unposted(*row)
