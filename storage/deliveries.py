"""Posts to the community's places (a digest, a prompt, an event reminder in one place), each
claimed as a run of its own in ``job_runs`` before it is sent: a run tried again (after a failure
on another platform, or a restart) never posts twice to one place, and a post the platform
refused is released so that the next try makes it."""

from __future__ import annotations

from storage.contract import Reads, Unit

_ONCE = 0
"""A post is claimed once, not once per due time: its name says which post it is."""


def _job(community: str, what: str, place: str) -> str:
    return f"post {community} {what} in {place}"


async def claim(tx: Unit, community: str, what: str, place: str, at: int) -> bool:
    """Claim posting ``what`` (e.g. 'digest:1767225600') to ``place``; False when it was
    posted there already (or is being posted)."""
    changed = await tx.execute(
        "INSERT INTO job_runs (job, due_at, started_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (_job(community, what, place), _ONCE, at),
    )
    return changed == 1


async def delivered(
    tx: Unit, community: str, what: str, place: str, at: int, message_id: str | None
) -> None:
    await tx.execute(
        "UPDATE job_runs SET finished_at = ?, outcome = 'done', detail = ? "
        "WHERE job = ? AND due_at = ?",
        (at, message_id or "", _job(community, what, place), _ONCE),
    )


async def release(tx: Unit, community: str, what: str, place: str) -> None:
    """Forget a claim whose post the platform refused, so the next try posts it."""
    await tx.execute(
        "DELETE FROM job_runs WHERE job = ? AND due_at = ?", (_job(community, what, place), _ONCE)
    )


async def posted_message(db: Reads, community: str, what: str, place: str) -> str | None:
    """The id of the message that posted ``what`` to ``place`` (None: not known)."""
    row = await db.fetch_one(
        "SELECT detail FROM job_runs WHERE job = ? AND due_at = ? AND outcome = 'done'",
        (_job(community, what, place), _ONCE),
    )
    return row[0] or None if row else None
