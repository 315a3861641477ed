"""Posts to the community's places (a digest, a prompt, an event reminder in one place), each
claimed as a run of its own in ``job_runs`` before it is sent, as a lease (``storage.jobs``): a
run tried again after a failure on another platform never posts twice to one place; a post
whose process died before it finished is made by the next try; a post the platform refused is
released so that the next try makes it."""

from __future__ import annotations

from collections.abc import Callable

from storage import jobs
from storage.contract import Reads, Unit

_ONCE = 0
"""A post is claimed once, not once per due time: its name says which post it is."""


def _job(community: str, what: str, place: str) -> str:
    return f"post {community} {what} in {place}"


async def claim(
    tx: Unit,
    community: str,
    what: str,
    place: str,
    at: int,
    owner: str,
    is_gone: Callable[[str], bool],
) -> bool:
    """Claim posting ``what`` (e.g. 'digest:1767225600') to ``place`` for ``owner``; False when
    it was posted there already, or is being posted by a process still there."""
    job = _job(community, what, place)
    return await jobs.claim_run(tx, job, _ONCE, at, owner, is_gone) is not None


async def delivered(
    tx: Unit, community: str, what: str, place: str, at: int, message_id: str | None
) -> None:
    job = _job(community, what, place)
    await jobs.finish_run(tx, job, _ONCE, at, "done", message_id or "")


async def release(tx: Unit, community: str, what: str, place: str) -> None:
    """Forget a claim whose post the platform refused, so the next try posts it."""
    await jobs.release_run(tx, _job(community, what, place), _ONCE)


async def posted_message(db: Reads, community: str, what: str, place: str) -> str | None:
    """The id of the message that posted ``what`` to ``place`` (None: not known)."""
    row = await db.fetch_one(
        "SELECT detail FROM job_runs WHERE job = ? AND due_at = ? AND outcome = 'done'",
        (_job(community, what, place), _ONCE),
    )
    return (row[0] or None) if row else None
