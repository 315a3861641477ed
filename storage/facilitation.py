"""The facilitator's routine in the store: prompt queues, nudges sent, dormant themes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from bot.events import key_parts
from storage import identities
from storage.contract import Reads, Row, Unit, fetch_aggregate
from storage.privacy import hidden, names_hiding


@dataclass(frozen=True, slots=True)
class Prompt:
    id: int
    theme: str
    text: str
    added_at: int
    posted_at: int | None
    channel_key: str | None
    platform_id: str | None


_PROMPT = "id, theme, text, added_at, posted_at, channel_key, platform_id"


async def add_prompt(
    tx: Unit, community: str, theme: str, text: str, added_by: int | None, at: int
) -> int:
    return await tx.insert(
        "INSERT INTO prompts (community, theme, text, added_by, added_at) VALUES (?, ?, ?, ?, ?) "
        "RETURNING id",
        (community, theme, text, added_by, at),
    )


async def prompts(
    db: Reads, community: str, theme: str | None = None, *, queued_only: bool = False
) -> list[Prompt]:
    rows = await db.fetch_all(
        f"SELECT {_PROMPT} FROM prompts WHERE community = :c AND (:t IS NULL OR theme = :t) "
        "AND (:q = 0 OR posted_at IS NULL) "
        "ORDER BY posted_at IS NULL, posted_at, coalesce(queue_position, id), id",
        {"c": community, "t": theme, "q": int(queued_only)},
    )
    hiding = await names_hiding(db, community)
    return [hidden(Prompt(*row), hiding, ("text",)) for row in rows]


async def _shown(db: Reads, community: str, row: Row | None) -> Prompt | None:
    """A prompt as read: it may name a member who opted out since it was written."""
    if row is None:
        return None
    return hidden(Prompt(*row), await names_hiding(db, community), ("text",))


async def prompt(db: Reads, community: str, prompt_id: int) -> Prompt | None:
    row = await db.fetch_one(
        f"SELECT {_PROMPT} FROM prompts WHERE community = ? AND id = ?", (community, prompt_id)
    )
    return await _shown(db, community, row)


async def remove_prompt(tx: Unit, community: str, prompt_id: int) -> None:
    await tx.execute("DELETE FROM prompts WHERE community = ? AND id = ?", (community, prompt_id))


async def edit_prompt(tx: Unit, community: str, prompt_id: int, text: str) -> bool:
    """Reword a queued prompt; False if it is not queued (posted prompts stay as posted)."""
    changed = await tx.execute(
        "UPDATE prompts SET text = ? WHERE community = ? AND id = ? AND posted_at IS NULL",
        (text, community, prompt_id),
    )
    return changed > 0


async def move_prompt(tx: Unit, community: str, prompt_id: int, steps: int) -> bool:
    """Move a queued prompt ``steps`` places later in its theme's queue (negative: sooner).
    The queue keeps the same set of positions, so prompts added later still come after."""
    queue = [
        (row[0], row[1])
        for row in await tx.fetch_all(
            "SELECT id, coalesce(queue_position, id) FROM prompts WHERE community = ? "
            "AND posted_at IS NULL AND theme = (SELECT theme FROM prompts WHERE id = ?) "
            "ORDER BY coalesce(queue_position, id), id",
            (community, prompt_id),
        )
    ]
    order = [row[0] for row in queue]
    if prompt_id not in order:
        return False
    at = order.index(prompt_id)
    order.insert(max(0, min(len(order) - 1, at + steps)), order.pop(at))
    positions = sorted(row[1] for row in queue)
    await tx.execute_many(
        "UPDATE prompts SET queue_position = ? WHERE id = ?",
        list(zip(positions, order, strict=True)),
    )
    return True


async def next_prompt(db: Reads, community: str, theme: str) -> Prompt | None:
    row = await db.fetch_one(
        f"SELECT {_PROMPT} FROM prompts WHERE community = ? AND theme = ? AND posted_at IS NULL "
        "ORDER BY coalesce(queue_position, id), id LIMIT 1",
        (community, theme),
    )
    return await _shown(db, community, row)


async def current_prompt(db: Reads, community: str, theme: str) -> Prompt | None:
    row = await db.fetch_one(
        f"SELECT {_PROMPT} FROM prompts WHERE community = ? AND theme = ? AND posted_at IS NOT NULL "
        "ORDER BY posted_at DESC, id DESC LIMIT 1",
        (community, theme),
    )
    return await _shown(db, community, row)


async def mark_prompt_posted(
    tx: Unit, prompt_id: int, at: int, channel_key: str, platform_id: str | None
) -> None:
    await tx.execute(
        "UPDATE prompts SET posted_at = ?, channel_key = ?, platform_id = ? WHERE id = ?",
        (at, channel_key, platform_id, prompt_id),
    )


@dataclass(frozen=True, slots=True)
class PromptResponse:
    responders: int
    new_voices: int
    first_reply_after: int | None
    """Seconds from posting to the first answer, if any."""


async def prompt_response(db: Reads, community: str, posted: Prompt, until: int) -> PromptResponse:
    """Who answered a posted prompt between its posting and ``until``: replies to it and posts
    in the thread opened on it, each person once (storage.identities), a new voice if none of
    their accounts wrote in the theme before. A later post elsewhere in the theme is not an
    answer to it."""
    if posted.platform_id is None or posted.channel_key is None or posted.posted_at is None:
        return PromptResponse(0, 0, None)
    platform = key_parts(posted.channel_key)[0]
    rows = await db.fetch_all(
        "WITH answers AS (SELECT coalesce(mb.person_id, mb.id) AS person, a.posted_at FROM ("
        "SELECT member_id, posted_at FROM messages INDEXED BY messages_by_reply "
        "WHERE community = :c AND reply_to = :p AND deleted_at IS NULL "
        "AND posted_at >= :s AND posted_at < :e "
        "UNION ALL SELECT member_id, posted_at FROM messages "
        "WHERE community = :c AND thread_key = :k AND deleted_at IS NULL "
        "AND posted_at >= :s AND posted_at < :e) AS a JOIN members mb ON mb.id = a.member_id "
        "WHERE mb.is_bot = 0 AND mb.opted_out_at IS NULL) "
        "SELECT min(a.posted_at), (SELECT min(e.posted_at) FROM messages e "
        f"WHERE e.member_id IN {identities.accounts_of('a.person')} AND e.theme = :t "
        "AND e.deleted_at IS NULL) FROM answers a GROUP BY a.person",
        {
            "c": community,
            "p": posted.platform_id,
            "k": f"{platform}:{posted.platform_id}",
            "t": posted.theme,
            "s": posted.posted_at,
            "e": until,
        },
    )
    firsts = [row[0] for row in rows]
    return PromptResponse(
        responders=len(rows),
        new_voices=sum(1 for row in rows if row[1] >= posted.posted_at),
        first_reply_after=(min(firsts) - posted.posted_at) if firsts else None,
    )


# Nudges ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuietMember:
    member_id: int
    key: str
    name: str
    kind: str
    """'newcomer' (joined, never posted) or 'silent' (posted before, silent since)."""
    since: int
    nudges_off: bool
    unreachable_at: int | None
    last_nudged_at: int | None
    reacted: bool
    """Reacted to others' messages since ``since``: taking part, though without words."""


async def quiet_members(
    db: Reads, community: str, *, newcomer_before: int, silent_before: int
) -> list[QuietMember]:
    """Members who joined before ``newcomer_before`` and never posted, and members whose last
    post is older than ``silent_before``. Bots, opted-out members and those who left are not
    listed."""
    rows = await db.fetch_all(
        "SELECT m.id, m.member_key, coalesce(nullif(m.display_name, ''), m.member_key), "
        "CASE WHEN m.last_posted_at IS NULL THEN 'newcomer' ELSE 'silent' END, "
        "coalesce(m.last_posted_at, m.joined_at), m.nudges_off, m.unreachable_at, "
        "(SELECT max(n.sent_at) FROM nudges n WHERE n.member_id = m.id), "
        "EXISTS (SELECT 1 FROM reactions r WHERE r.member_id = m.id "
        "AND r.reacted_at >= coalesce(m.last_posted_at, m.joined_at, 0)) "
        "FROM members m WHERE m.community = :c AND m.is_bot = 0 AND m.opted_out_at IS NULL "
        "AND m.left_at IS NULL AND ((m.last_posted_at IS NULL AND m.joined_at IS NOT NULL "
        "AND m.joined_at < :n) OR m.last_posted_at < :s) "
        "ORDER BY coalesce(m.last_posted_at, m.joined_at)",
        {"c": community, "n": newcomer_before, "s": silent_before},
    )
    found = [
        QuietMember(
            row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7], bool(row[8])
        )
        for row in rows
    ]
    linked = await identities.persons(db, community)
    if not linked:
        return found
    present = await db.fetch_all(
        "SELECT id, person_id FROM members WHERE person_id IS NOT NULL AND community = ? "
        "AND left_at IS NULL AND is_bot = 0 AND opted_out_at IS NULL",
        (community,),
    )
    chosen = await identities.most_used(db, [row[0] for row in present])
    return quiet_persons(found, linked, {row[0] for row in present}, chosen)


def quiet_persons(
    found: list[QuietMember],
    persons: Mapping[int, int],
    present: set[int],
    chosen: Mapping[int, int],
) -> list[QuietMember]:
    """The quiet list with linked accounts as one person (storage.identities): a person is quiet
    when every account of theirs still present is, and is listed once, as the account they
    write with most (``chosen``, where a nudge reaches them), with what holds for the person:
    silent since their last post anywhere, nudged when any account was, reacting on any."""
    quiet = {member.member_id for member in found}
    accounts: dict[int, list[QuietMember]] = {}
    for member in found:
        accounts.setdefault(persons.get(member.member_id, member.member_id), []).append(member)
    listed = []
    for member in found:
        person = persons.get(member.member_id, member.member_id)
        if member.member_id not in persons:
            listed.append(member)
            continue
        if any(
            persons.get(other) == person and other not in quiet for other in present
        ) or member.member_id != chosen.get(person, accounts[person][0].member_id):
            continue
        theirs = accounts[person]
        silent = [one for one in theirs if one.kind == "silent"]
        nudged = [one.last_nudged_at for one in theirs if one.last_nudged_at is not None]
        unreachable = [one.unreachable_at for one in theirs if one.unreachable_at is not None]
        listed.append(
            replace(
                member,
                kind="silent" if silent else "newcomer",
                since=max(one.since for one in (silent or theirs)),
                nudges_off=any(one.nudges_off for one in theirs),
                unreachable_at=max(unreachable) if unreachable else None,
                last_nudged_at=max(nudged) if nudged else None,
                reacted=any(one.reacted for one in theirs),
            )
        )
    return listed


async def record_nudge(
    tx: Unit, community: str, member_id: int, kind: str, at: int, *, delivered: bool
) -> None:
    """The nudge itself; whether the member is reachable was noted when it was sent
    (``Trellis.direct``, for every direct message)."""
    await tx.execute(
        "INSERT INTO nudges (community, member_id, kind, sent_at, delivered) "
        "VALUES (?, ?, ?, ?, ?)",
        (community, member_id, kind, at, int(delivered)),
    )


async def nudges_since(db: Reads, community: str, since: int) -> int:
    row = await fetch_aggregate(
        db, "SELECT count(*) FROM nudges WHERE community = ? AND sent_at >= ?", (community, since)
    )
    return int(row[0])


# Dormant themes -------------------------------------------------------------------------------


async def dormant_since(db: Reads, community: str) -> dict[str, int]:
    rows = await db.fetch_all(
        "SELECT theme, dormant_since FROM themes_seen WHERE community = ? "
        "AND dormant_since IS NOT NULL",
        (community,),
    )
    return {row[0]: row[1] for row in rows}


async def set_dormant(tx: Unit, community: str, theme: str, since: int | None) -> None:
    await tx.execute(
        "INSERT INTO themes_seen (community, theme, dormant_since) VALUES (?, ?, ?) "
        "ON CONFLICT (community, theme) DO UPDATE SET dormant_since = excluded.dormant_since",
        (community, theme, since),
    )
