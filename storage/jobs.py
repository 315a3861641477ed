"""Scheduled runs in the store: each run of a job claimed as a lease, finished or released, and
what went wrong with runs, kept for the facilitators."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from storage.contract import Reads, Unit

# A claim is a lease: while a run goes on, its row says 'running' and its detail names the process
# that runs it; a claim whose process is gone is taken over by the next one to look.


@dataclass(frozen=True, slots=True)
class Claim:
    """A run claimed by this process; ``taken_from`` names the dead process whose claim it took
    over (its run was interrupted)."""

    taken_from: str | None = None


async def claim_run(
    tx: Unit, job: str, due_at: int, now: int, owner: str, is_gone: Callable[[str], bool]
) -> Claim | None:
    """Claim the run of ``job`` due at ``due_at`` for ``owner``; None if it ran, or runs in a
    process that is still there (``is_gone`` tells from a claim's owner)."""
    changed = await tx.execute(
        "INSERT INTO job_runs (job, due_at, started_at, detail) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        (job, due_at, now, owner),
    )
    if changed == 1:
        return Claim()
    row = await tx.fetch_one(
        "SELECT outcome, detail FROM job_runs WHERE job = ? AND due_at = ?", (job, due_at)
    )
    assert row is not None  # the insert above was refused by this very row
    outcome, holder = row[0], row[1]
    if outcome != "running" or not is_gone(holder):
        return None
    await tx.execute(
        "UPDATE job_runs SET started_at = ?, detail = ? WHERE job = ? AND due_at = ?",
        (now, owner, job, due_at),
    )
    return Claim(taken_from=holder)


async def finish_run(tx: Unit, job: str, due_at: int, now: int, outcome: str, detail: str) -> None:
    await tx.execute(
        "UPDATE job_runs SET finished_at = ?, outcome = ?, detail = ? WHERE job = ? AND due_at = ?",
        (now, outcome, detail, job, due_at),
    )


async def release_run(tx: Unit, job: str, due_at: int) -> None:
    """Forget a failed claim so the run is tried again at the next tick."""
    await tx.execute("DELETE FROM job_runs WHERE job = ? AND due_at = ?", (job, due_at))


async def latest_run(db: Reads, jobs: Sequence[str]) -> int | None:
    """The latest due time that one of ``jobs`` ran for (finished), or None."""
    marks = ", ".join("?" * len(jobs))
    row = await db.fetch_one(
        f"SELECT max(due_at) FROM job_runs WHERE outcome = 'done' AND job IN ({marks})",
        tuple(jobs),
    )
    return row[0] if row else None


async def latest_chat(db: Reads) -> int | None:
    """The platform time of the latest message stored, or None. Not member joins: the members
    present when Trellis arrived are stored with the date they joined, long before."""
    row = await db.fetch_one("SELECT max(posted_at) FROM messages")
    return row[0] if row else None


# What went wrong with a run is kept for the facilitators (the next digest preview tells them),
# one note per run, beside the adapters' state.
_TROUBLE = "job-trouble"


@dataclass(frozen=True, slots=True)
class RunTrouble:
    job: str
    due_at: int
    at: int
    what: str


async def note_run_trouble(tx: Unit, trouble: RunTrouble, *, keep_days: int = 35) -> None:
    """Note what went wrong with a run; notes older than ``keep_days`` are dropped meanwhile."""
    await tx.execute(
        "INSERT INTO state (scope, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
        (_TROUBLE, f"{trouble.job}@{trouble.due_at}", f"{trouble.at}\t{trouble.what}"),
    )
    await tx.execute(
        "DELETE FROM state WHERE scope = ? "
        "AND CAST(substr(value, 1, instr(value, char(9)) - 1) AS INTEGER) < ?",
        (_TROUBLE, trouble.at - keep_days * 86400),
    )


async def run_troubles(db: Reads, since: int) -> list[RunTrouble]:
    """Notes of runs that failed or were interrupted, noted at ``since`` or later, oldest first."""
    rows = await db.fetch_all("SELECT key, value FROM state WHERE scope = ?", (_TROUBLE,))
    troubles = []
    for key, value in rows:
        job, _, due_at = key.rpartition("@")
        at, _, what = value.partition("\t")
        if int(at) >= since:
            troubles.append(RunTrouble(job, int(due_at), int(at), what))
    return sorted(troubles, key=lambda trouble: trouble.at)
