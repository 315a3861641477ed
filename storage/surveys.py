"""Anonymous surveys: who was asked, answers without the member, released in groups."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from storage.contract import Reads, Unit, fetch_aggregate
from storage.identities import accounts_of, most_used
from storage.privacy import hide_names, names_hiding, visible


@dataclass(frozen=True, slots=True)
class Survey:
    id: int
    community: str
    kind: str
    period: str
    asked_at: int


async def open_survey(tx: Unit, community: str, kind: str, period: str, at: int) -> Survey | None:
    """Create the survey of ``kind`` for ``period``; None if it was already asked."""
    added = await tx.fetch_one(
        "INSERT INTO surveys (community, kind, period, asked_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING RETURNING id",
        (community, kind, period, at),
    )
    if added is None:
        return None
    return Survey(added[0], community, kind, period, at)


async def members_to_ask(db: Reads, community: str) -> list[tuple[int, str]]:
    """(id, member key) of every visible person still in the community, once: a person with
    linked accounts is asked on the one they write with most (storage.identities)."""
    rows = await db.fetch_all(
        f"SELECT m.id, m.member_key, m.person_id FROM members m WHERE m.community = ? "
        f"AND m.left_at IS NULL AND {visible('m')} ORDER BY m.id",
        (community,),
    )
    chosen = set((await most_used(db, [row[0] for row in rows if row[2] is not None])).values())
    return [(row[0], row[1]) for row in rows if row[2] is None or row[0] in chosen]


async def invite(tx: Unit, survey_id: int, member_id: int, *, delivered: bool) -> None:
    await tx.execute(
        "INSERT INTO survey_invitations (survey_id, member_id, delivered) "
        "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (survey_id, member_id, int(delivered)),
    )


async def surveys(db: Reads, community: str, kind: str | None = None) -> list[Survey]:
    rows = await db.fetch_all(
        "SELECT id, community, kind, period, asked_at FROM surveys WHERE community = :c "
        "AND (:k IS NULL OR kind = :k) ORDER BY asked_at, id",
        {"c": community, "k": kind},
    )
    return [Survey(*row) for row in rows]


async def pending_survey(db: Reads, community: str, kind: str, member_id: int) -> Survey | None:
    """The most recent survey of ``kind`` the member's person was asked (on any of its linked
    accounts) and has not answered (on any)."""
    row = await db.fetch_one(
        "SELECT s.id, s.community, s.kind, s.period, s.asked_at FROM surveys s "
        "JOIN survey_invitations i "
        f"ON i.survey_id = s.id WHERE s.community = :c AND s.kind = :k "
        f"AND i.member_id IN {accounts_of(':m')} AND i.answered = 0 AND NOT EXISTS (SELECT 1 "
        "FROM survey_invitations j WHERE j.survey_id = s.id AND j.answered = 1 "
        f"AND j.member_id IN {accounts_of(':m')}) ORDER BY s.asked_at DESC, s.id DESC LIMIT 1",
        {"c": community, "k": kind, "m": member_id},
    )
    return Survey(*row) if row else None


async def has_answered(db: Reads, survey_id: int, member_id: int) -> bool:
    """Whether the member's person answered the survey, on any of its accounts."""
    row = await db.fetch_one(
        "SELECT max(answered) FROM survey_invitations WHERE survey_id = :s "
        f"AND member_id IN {accounts_of(':m')}",
        {"s": survey_id, "m": member_id},
    )
    return bool(row and row[0])


def released(alias: str = "") -> str:
    """SQL: the survey_answers row (of table ``alias``) is released, so it may count in results."""
    return f"{alias + '.' if alias else ''}held = 0"


async def answer(
    tx: Unit,
    survey_id: int,
    member_id: int,
    *,
    min_group: int,
    satisfaction: int | None = None,
    ownership: int | None = None,
    learned_from: int | None = None,
    story: str | None = None,
) -> bool:
    """Record one answer, without the member: the invitation is marked answered and the answer
    written with a random key, in one transaction. False if they were not asked or already
    answered (nothing is written then). A person answers once, whichever of its linked accounts
    was asked and answers: every invitation of theirs is marked answered.

    Results move only in steps of ``min_group`` answers: an answer is held until ``min_group``
    answers are held, then they are released together. A result that changed with each answer
    would tell, by difference, what the latest one said (and whom they learned from)."""
    if await has_answered(tx, survey_id, member_id):
        return False
    changed = await tx.execute(
        "UPDATE survey_invitations SET answered = 1 WHERE survey_id = :s "
        f"AND member_id IN {accounts_of(':m')} AND answered = 0",
        {"s": survey_id, "m": member_id},
    )
    if changed == 0:
        return False
    await tx.execute(
        "INSERT INTO survey_answers (id, survey_id, satisfaction, ownership, "
        "learned_from_member_id, story, held) VALUES (?, ?, ?, ?, ?, ?, 1)",
        (
            secrets.token_hex(16),
            survey_id,
            satisfaction,
            ownership,
            learned_from,
            story,
        ),
    )
    held = await tx.fetch_one(
        "SELECT count(*) FROM survey_answers WHERE survey_id = ? AND held = 1", (survey_id,)
    )
    if held is not None and held[0] >= min_group:
        await tx.execute(
            "UPDATE survey_answers SET held = 0 WHERE survey_id = ? AND held = 1", (survey_id,)
        )
    return True


@dataclass(frozen=True, slots=True)
class SurveyAnswers:
    survey: Survey
    invited: int
    """Visible members asked."""
    answered: int
    """Visible members who answered (answers of members who opted out since stay anonymous)."""
    satisfaction: tuple[int, ...]
    ownership: tuple[int, ...]
    stories: tuple[str, ...]
    learned_from: dict[int, int]
    """Visible member id -> how many answers said they learned from them."""

    @property
    def answers(self) -> int:
        return max(len(self.satisfaction), len(self.stories))


async def survey_answers(db: Reads, survey: Survey) -> SurveyAnswers:
    """Everything answered to one survey, in an order that says nothing about who answered.

    Stories name no member who opted out (``names_hiding``)."""
    invited, answered = await fetch_aggregate(
        db,
        "SELECT count(*), coalesce(sum(i.answered), 0) FROM survey_invitations i "
        f"JOIN members m ON m.id = i.member_id WHERE i.survey_id = ? AND {visible('m')}",
        (survey.id,),
    )
    rows = await db.fetch_all(
        "SELECT satisfaction, ownership, story FROM survey_answers WHERE survey_id = ? "
        f"AND {released()} ORDER BY satisfaction, ownership, story",
        (survey.id,),
    )
    hiding = await names_hiding(db, survey.community)
    learned = await db.fetch_all(
        "SELECT a.learned_from_member_id, count(*) FROM survey_answers a "
        "JOIN members m ON m.id = a.learned_from_member_id WHERE a.survey_id = ? "
        f"AND {released('a')} AND {visible('m')} GROUP BY a.learned_from_member_id",
        (survey.id,),
    )
    return SurveyAnswers(
        survey=survey,
        invited=invited,
        answered=answered,
        satisfaction=tuple(row[0] for row in rows if row[0] is not None),
        ownership=tuple(row[1] for row in rows if row[1] is not None),
        stories=tuple(sorted(hide_names(row[2], hiding) for row in rows if row[2])),
        learned_from={row[0]: row[1] for row in learned},
    )
