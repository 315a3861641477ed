"""The facilitator's routine in the store: prompt queues, nudges sent, dormant themes, job runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from storage.monitoring import hidden, names_hiding
from storage.sqlite import SqliteStore


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
    store: SqliteStore, community: str, theme: str, text: str, added_by: int | None, at: int
) -> int:
    async with store.transaction() as db:
        cursor = await db.execute(
            "INSERT INTO prompts (community, theme, text, added_by, added_at) VALUES (?, ?, ?, ?, ?)",
            (community, theme, text, added_by, at),
        )
        return cursor.lastrowid


async def prompts(
    store: SqliteStore, community: str, theme: str | None = None, *, queued_only: bool = False
) -> list[Prompt]:
    rows = await store.fetch_all(
        f"SELECT {_PROMPT} FROM prompts WHERE community = :c AND (:t IS NULL OR theme = :t) "
        "AND (:q = 0 OR posted_at IS NULL) "
        "ORDER BY posted_at IS NULL, posted_at, coalesce(queue_position, id), id",
        {"c": community, "t": theme, "q": int(queued_only)},
    )
    hiding = await names_hiding(store, community)
    return [hidden(Prompt(*row), hiding, ("text",)) for row in rows]


async def _shown(store: SqliteStore, community: str, row) -> Prompt | None:
    """A prompt as read: it may name a member who opted out since it was written."""
    if row is None:
        return None
    return hidden(Prompt(*row), await names_hiding(store, community), ("text",))


async def prompt(store: SqliteStore, community: str, prompt_id: int) -> Prompt | None:
    row = await store.fetch_one(
        f"SELECT {_PROMPT} FROM prompts WHERE community = ? AND id = ?", (community, prompt_id)
    )
    return await _shown(store, community, row)


async def remove_prompt(store: SqliteStore, community: str, prompt_id: int) -> None:
    async with store.transaction() as db:
        await db.execute(
            "DELETE FROM prompts WHERE community = ? AND id = ?", (community, prompt_id)
        )


async def edit_prompt(store: SqliteStore, community: str, prompt_id: int, text: str) -> bool:
    """Reword a queued prompt; False if it is not queued (posted prompts stay as posted)."""
    async with store.transaction() as db:
        cursor = await db.execute(
            "UPDATE prompts SET text = ? WHERE community = ? AND id = ? AND posted_at IS NULL",
            (text, community, prompt_id),
        )
        return cursor.rowcount > 0


async def move_prompt(store: SqliteStore, community: str, prompt_id: int, steps: int) -> bool:
    """Move a queued prompt ``steps`` places later in its theme's queue (negative: sooner).
    The queue keeps the same set of positions, so prompts added later still come after."""
    async with store.transaction() as db:
        async with db.execute(
            "SELECT id, coalesce(queue_position, id) FROM prompts WHERE community = ? "
            "AND posted_at IS NULL AND theme = (SELECT theme FROM prompts WHERE id = ?) "
            "ORDER BY coalesce(queue_position, id), id",
            (community, prompt_id),
        ) as cursor:
            queue = [tuple(row) for row in await cursor.fetchall()]
        order = [row[0] for row in queue]
        if prompt_id not in order:
            return False
        at = order.index(prompt_id)
        order.insert(max(0, min(len(order) - 1, at + steps)), order.pop(at))
        positions = sorted(row[1] for row in queue)
        await db.executemany(
            "UPDATE prompts SET queue_position = ? WHERE id = ?",
            list(zip(positions, order, strict=True)),
        )
        return True


async def next_prompt(store: SqliteStore, community: str, theme: str) -> Prompt | None:
    row = await store.fetch_one(
        f"SELECT {_PROMPT} FROM prompts WHERE community = ? AND theme = ? AND posted_at IS NULL "
        "ORDER BY coalesce(queue_position, id), id LIMIT 1",
        (community, theme),
    )
    return await _shown(store, community, row)


async def current_prompt(store: SqliteStore, community: str, theme: str) -> Prompt | None:
    row = await store.fetch_one(
        f"SELECT {_PROMPT} FROM prompts WHERE community = ? AND theme = ? AND posted_at IS NOT NULL "
        "ORDER BY posted_at DESC, id DESC LIMIT 1",
        (community, theme),
    )
    return await _shown(store, community, row)


async def mark_prompt_posted(
    store: SqliteStore, prompt_id: int, at: int, channel_key: str, platform_id: str | None
) -> None:
    async with store.transaction() as db:
        await db.execute(
            "UPDATE prompts SET posted_at = ?, channel_key = ?, platform_id = ? WHERE id = ?",
            (at, channel_key, platform_id, prompt_id),
        )


@dataclass(frozen=True, slots=True)
class PromptResponse:
    responders: int
    new_voices: int
    first_reply_after: int | None
    """Seconds from posting to the first answer, if any."""


async def prompt_response(
    store: SqliteStore, community: str, posted: Prompt, until: int
) -> PromptResponse:
    """Who answered a posted prompt between its posting and ``until``: replies to it and posts
    in the thread opened on it. A later post elsewhere in the theme is not an answer to it."""
    if posted.platform_id is None or posted.channel_key is None or posted.posted_at is None:
        return PromptResponse(0, 0, None)
    platform = posted.channel_key.partition(":")[0]
    rows = await store.fetch_all(
        "WITH answers AS ("
        "SELECT member_id, posted_at FROM messages INDEXED BY messages_by_reply "
        "WHERE community = :c AND reply_to = :p AND deleted_at IS NULL "
        "AND posted_at >= :s AND posted_at < :e "
        "UNION ALL SELECT member_id, posted_at FROM messages "
        "WHERE community = :c AND thread_key = :k AND deleted_at IS NULL "
        "AND posted_at >= :s AND posted_at < :e) "
        "SELECT a.member_id, min(a.posted_at), (SELECT min(e.posted_at) FROM messages e "
        "WHERE e.member_id = a.member_id AND e.theme = :t AND e.deleted_at IS NULL) "
        "FROM answers a JOIN members mb ON mb.id = a.member_id "
        "WHERE mb.is_bot = 0 AND mb.opted_out_at IS NULL GROUP BY a.member_id",
        {
            "c": community,
            "p": posted.platform_id,
            "k": f"{platform}:{posted.platform_id}",
            "t": posted.theme,
            "s": posted.posted_at,
            "e": until,
        },
    )
    firsts = [row[1] for row in rows]
    return PromptResponse(
        responders=len(rows),
        new_voices=sum(1 for row in rows if row[2] >= posted.posted_at),
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
    store: SqliteStore, community: str, *, newcomer_before: int, silent_before: int
) -> list[QuietMember]:
    """Members who joined before ``newcomer_before`` and never posted, and members whose last
    post is older than ``silent_before``. Bots, opted-out members and those who left are not
    listed."""
    rows = await store.fetch_all(
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
    return [
        QuietMember(
            row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7], bool(row[8])
        )
        for row in rows
    ]


async def record_nudge(
    store: SqliteStore, community: str, member_id: int, kind: str, at: int, *, delivered: bool
) -> None:
    """The nudge itself; whether the member is reachable was noted when it was sent
    (``Trellis.direct``, for every direct message)."""
    async with store.transaction() as db:
        await db.execute(
            "INSERT INTO nudges (community, member_id, kind, sent_at, delivered) "
            "VALUES (?, ?, ?, ?, ?)",
            (community, member_id, kind, at, int(delivered)),
        )


async def nudges_since(store: SqliteStore, community: str, since: int) -> int:
    row = await store.fetch_one(
        "SELECT count(*) FROM nudges WHERE community = ? AND sent_at >= ?", (community, since)
    )
    return row[0]


# Dormant themes -------------------------------------------------------------------------------


async def dormant_since(store: SqliteStore, community: str) -> dict[str, int]:
    rows = await store.fetch_all(
        "SELECT theme, dormant_since FROM themes_seen WHERE community = ? "
        "AND dormant_since IS NOT NULL",
        (community,),
    )
    return {row[0]: row[1] for row in rows}


async def set_dormant(store: SqliteStore, community: str, theme: str, since: int | None) -> None:
    async with store.transaction() as db:
        await db.execute(
            "INSERT INTO themes_seen (community, theme, dormant_since) VALUES (?, ?, ?) "
            "ON CONFLICT (community, theme) DO UPDATE SET dormant_since = excluded.dormant_since",
            (community, theme, since),
        )


# Job runs -------------------------------------------------------------------------------------
# A claim is a lease: while a run goes on, its row says 'running' and its detail names the process
# that runs it; a claim whose process is gone is taken over by the next one to look.


@dataclass(frozen=True, slots=True)
class Claim:
    """A run claimed by this process; ``taken_from`` names the dead process whose claim it took
    over (its run was interrupted)."""

    taken_from: str | None = None


async def claim_run(
    store: SqliteStore, job: str, due_at: int, now: int, owner: str, is_gone: Callable[[str], bool]
) -> Claim | None:
    """Claim the run of ``job`` due at ``due_at`` for ``owner``; None if it ran, or runs in a
    process that is still there (``is_gone`` tells from a claim's owner)."""
    async with store.transaction() as db:
        cursor = await db.execute(
            "INSERT OR IGNORE INTO job_runs (job, due_at, started_at, detail) VALUES (?, ?, ?, ?)",
            (job, due_at, now, owner),
        )
        if cursor.rowcount == 1:
            return Claim()
        async with db.execute(
            "SELECT outcome, detail FROM job_runs WHERE job = ? AND due_at = ?", (job, due_at)
        ) as rows:
            outcome, holder = await rows.fetchone()
        if outcome != "running" or not is_gone(holder):
            return None
        await db.execute(
            "UPDATE job_runs SET started_at = ?, detail = ? WHERE job = ? AND due_at = ?",
            (now, owner, job, due_at),
        )
        return Claim(taken_from=holder)


async def finish_run(
    store: SqliteStore, job: str, due_at: int, now: int, outcome: str, detail: str
) -> None:
    async with store.transaction() as db:
        await db.execute(
            "UPDATE job_runs SET finished_at = ?, outcome = ?, detail = ? WHERE job = ? AND due_at = ?",
            (now, outcome, detail, job, due_at),
        )


async def release_run(store: SqliteStore, job: str, due_at: int) -> None:
    """Forget a failed claim so the run is tried again at the next tick."""
    async with store.transaction() as db:
        await db.execute("DELETE FROM job_runs WHERE job = ? AND due_at = ?", (job, due_at))


async def latest_run(store: SqliteStore, jobs: Sequence[str]) -> int | None:
    """The latest due time that one of ``jobs`` ran for (finished), or None."""
    marks = ", ".join("?" * len(jobs))
    row = await store.fetch_one(
        f"SELECT max(due_at) FROM job_runs WHERE outcome = 'done' AND job IN ({marks})",
        tuple(jobs),
    )
    return row[0]


async def latest_chat(store: SqliteStore) -> int | None:
    """The platform time of the latest message stored, or None. Not member joins: the members
    present when Trellis arrived are stored with the date they joined, long before."""
    row = await store.fetch_one("SELECT max(posted_at) FROM messages")
    return row[0]


# What went wrong with a run is kept for the facilitators (the next digest preview tells them),
# one note per run, beside the adapters' state.
_TROUBLE = "job-trouble"


@dataclass(frozen=True, slots=True)
class RunTrouble:
    job: str
    due_at: int
    at: int
    what: str


async def note_run_trouble(store: SqliteStore, trouble: RunTrouble, *, keep_days: int = 35) -> None:
    """Note what went wrong with a run; notes older than ``keep_days`` are dropped meanwhile."""
    async with store.transaction() as db:
        await db.execute(
            "INSERT INTO state (scope, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
            (_TROUBLE, f"{trouble.job}@{trouble.due_at}", f"{trouble.at}\t{trouble.what}"),
        )
        await db.execute(
            "DELETE FROM state WHERE scope = ? "
            "AND CAST(substr(value, 1, instr(value, char(9)) - 1) AS INTEGER) < ?",
            (_TROUBLE, trouble.at - keep_days * 86400),
        )


async def run_troubles(store: SqliteStore, since: int) -> list[RunTrouble]:
    """Notes of runs that failed or were interrupted, noted at ``since`` or later, oldest first."""
    rows = await store.fetch_all("SELECT key, value FROM state WHERE scope = ?", (_TROUBLE,))
    troubles = []
    for key, value in rows:
        job, _, due_at = key.rpartition("@")
        at, _, what = value.partition("\t")
        if int(at) >= since:
            troubles.append(RunTrouble(job, int(due_at), int(at), what))
    return sorted(troubles, key=lambda trouble: trouble.at)
