"""The monitoring aggregates of storage/ (profiles, knowledge, commitments, calendar, surveys,
onboarding) on a real SQLite file built by the real migrations: what each read
returns, what opt-out hides, and that forget-me leaves no row about the member in these tables."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from storage import calendar, commitments, knowledge, members, onboarding, profiles, surveys
from storage.contract import Store
from storage.ingest import MemberCache
from storage.sqlite import SqliteStore, migration_steps

T = TypeVar("T")

C = "praxis"
T0 = 1_790_000_000

MONITORING_TABLES = {
    "profiles": "member_id",
    "knowledge_authors": "member_id",
    "knowledge_items": "created_by",
    "commitments": "member_id",
    "events": "created_by",
    "survey_invitations": "member_id",
    "survey_answers": "learned_from_member_id",
    "welcomes": "member_id",
}


@pytest.fixture
async def store(tmp_path):
    store = await SqliteStore.open(tmp_path / "trellis.sqlite3")
    yield store
    await store.close()


async def add_member(store: Store, name: str, *, bot: bool = False) -> int:
    async with store.transaction() as tx:
        return await tx.insert(
            "INSERT INTO members (community, member_key, display_name, is_bot, first_seen_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (C, f"console:{name}", name.capitalize(), int(bot), T0),
        )


async def write(store: Store, action: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """One storage write in a unit of work of its own, as a command makes it."""
    async with store.transaction() as tx:
        return await action(tx, *args, **kwargs)


async def rows_about(store: Store, member_id: int) -> dict[str, int]:
    found = {}
    for table, column in MONITORING_TABLES.items():
        (count,) = await store.fetch_one(
            f"SELECT count(*) FROM {table} WHERE {column} = ?", (member_id,)
        )
        if count:
            found[table] = count
    return found


async def test_profiles_update_only_given_fields_and_hide_opted_out_members(store):
    ana = await add_member(store, "ana")
    luis = await add_member(store, "luis")
    await write(
        store, profiles.set_profile, ana, {"organisation": "CANO", "expertise": "water, soils"}, T0
    )
    await write(store, profiles.set_profile, ana, {"languages": "es, en"}, T0 + 60)
    await write(store, profiles.set_profile, luis, {"organisation": "CANO"}, T0)

    mine = await profiles.profile(store, ana)
    assert (mine.organisation, mine.expertise, mine.languages) == ("CANO", "water, soils", "es, en")
    assert mine.updated_at == T0 + 60

    row = await members.by_id(store, luis)
    await write(store, members.set_opted_out, MemberCache(), row, T0 + 100)
    assert [p.name for p in await profiles.profiles(store, C)] == ["Ana"]
    assert await profiles.profile(store, luis) is None


async def test_a_marked_message_is_recorded_once_and_credits_visible_authors(store):
    ana = await add_member(store, "ana")
    eva = await add_member(store, "eva")
    first = await write(store, knowledge.add_knowledge,
         C, kind="lesson", title="Rotate the chairs", link=None, theme="water",
        channel_key="console:water", source_platform_id="m1", created_by=eva,
        authors=[ana, ana], at=T0,
    )  # fmt: skip
    again = await write(store, knowledge.add_knowledge,
         C, kind="lesson", title="Rotate the chairs", link=None, theme="water",
        channel_key="console:water", source_platform_id="m1", created_by=ana,
        authors=[ana], at=T0 + 5,
    )  # fmt: skip
    await write(store, knowledge.add_knowledge,
         C, kind="case", title="Lima wells", link="https://example.org/wells",
        theme="soils", channel_key=None, source_platform_id=None, created_by=eva,
        authors=[eva, ana], at=T0 + 10,
    )  # fmt: skip

    assert first is not None and again is None
    items = await knowledge.knowledge_items(store, C)
    assert [(i.title, [n for _, n in i.authors]) for i in items] == [
        ("Lima wells", ["Ana", "Eva"]),
        ("Rotate the chairs", ["Ana"]),
    ]
    assert [i.title for i in await knowledge.knowledge_items(store, C, theme="water")] == [
        "Rotate the chairs"
    ]
    assert await knowledge.knowledge_items(store, C, start=T0 + 1, end=T0 + 10) == []


async def test_commitments_overdue_and_reminders(store):
    ana = await add_member(store, "ana")
    late = await write(
        store, commitments.add_commitment, C, ana, "write the case", "2026-11-20", T0
    )
    soon = await write(store, commitments.add_commitment, C, ana, "book the room", "2026-11-29", T0)
    done = await write(store, commitments.add_commitment, C, ana, "share minutes", "2026-11-21", T0)
    await write(store, commitments.mark_done, done, T0 + 50)

    assert [c.id for c in await commitments.overdue(store, C, "2026-11-28")] == [late]
    assert [c.id for c in await commitments.to_remind(store, C, "2026-11-28", "2026-11-29")] == [
        soon
    ]
    await write(store, commitments.mark_reminded, soon, T0 + 60)
    assert await commitments.to_remind(store, C, "2026-11-28", "2026-11-29") == []
    assert [c.id for c in await commitments.commitments(store, C, member_id=ana)] == [
        late,
        soon,
        done,
    ]
    result = await commitments.fulfilment(
        store, C, "2026-11-01", "2026-11-30", {"2026-11-21": T0 + 40}
    )
    assert (result.due, result.done, result.on_time) == (3, 1, 0)


async def test_survey_answers_carry_no_identity_and_one_answer_per_member(store):
    people = [await add_member(store, name) for name in ("ana", "luis", "eva")]
    survey = await write(store, surveys.open_survey, C, "pulse", "2026-11", T0)
    assert await write(store, surveys.open_survey, C, "pulse", "2026-11", T0 + 1) is None
    for member_id in people:
        await write(store, surveys.invite, survey.id, member_id, delivered=True)

    assert await write(
        store, surveys.answer, survey.id, people[0], min_group=1, satisfaction=4, ownership=3
    )
    assert not await write(
        store, surveys.answer, survey.id, people[0], min_group=1, satisfaction=1, ownership=1
    )
    assert await write(
        store,
        surveys.answer,
        survey.id,
        people[1],
        min_group=1,
        satisfaction=5,
        ownership=4,
        learned_from=people[0],
    )
    assert await surveys.pending_survey(store, C, "pulse", people[2]) == survey
    assert await surveys.pending_survey(store, C, "pulse", people[0]) is None

    columns = [row[1] for row in await store.fetch_all("PRAGMA table_info(survey_answers)")]
    assert "member_id" not in columns
    result = await surveys.survey_answers(store, survey)
    assert (result.invited, result.answered, result.answers) == (3, 2, 2)
    assert sorted(result.satisfaction) == [4, 5]
    assert result.learned_from == {people[0]: 1}


async def test_survey_answers_are_released_in_steps_of_the_minimum_group(store):
    people = [await add_member(store, f"m{n}") for n in range(12)]
    survey = await write(store, surveys.open_survey, C, "pulse", "2026-11", T0)
    shown = []
    for score, member_id in enumerate(people):
        await write(store, surveys.invite, survey.id, member_id, delivered=True)
        await write(
            store,
            surveys.answer,
            survey.id,
            member_id,
            min_group=5,
            satisfaction=score % 5 + 1,
            ownership=3,
        )
        result = await surveys.survey_answers(store, survey)
        shown.append((result.answered, result.answers))
    assert shown == [
        (1, 0), (2, 0), (3, 0), (4, 0), (5, 5), (6, 5), (7, 5), (8, 5), (9, 5), (10, 10),
        (11, 10), (12, 10),
    ]  # fmt: skip


def steps_before(marker: str) -> list[tuple[int, str]]:
    """The migrations before the one whose SQL holds ``marker``: a database as it was then,
    whatever number the step ends up with."""
    steps = migration_steps()
    return steps[: next(n for n, (_, sql) in enumerate(steps) if marker in sql)]


async def test_an_upgraded_database_keeps_which_answers_are_held(tmp_path):
    """Before the held column, a held answer's key started with 'held:'; the upgrade moves that
    into the column and leaves the results what they were."""
    path = tmp_path / "old.sqlite3"
    old = await SqliteStore.open(path, steps=steps_before("ADD COLUMN held"))
    people = [await add_member(old, f"m{n}") for n in range(7)]
    survey = await write(old, surveys.open_survey, C, "pulse", "2026-11", T0)
    async with old.transaction() as db:
        for number, member_id in enumerate(people):
            await db.execute(
                "INSERT INTO survey_invitations (survey_id, member_id, answered) VALUES (?, ?, 1)",
                (survey.id, member_id),
            )
            key = ("held:" if number >= 5 else "") + f"{number:032x}"
            await db.execute(
                "INSERT INTO survey_answers (id, survey_id, satisfaction, ownership) "
                "VALUES (?, ?, ?, 3)",
                (key, survey.id, 5 if number >= 5 else 2),
            )
    await old.close()

    store = await SqliteStore.open(path)
    try:
        rows = await store.fetch_all("SELECT id, held FROM survey_answers ORDER BY id")
        assert [held for _, held in rows] == [0, 0, 0, 0, 0, 1, 1]
        assert not [key for key, _ in rows if key.startswith("held:")]
        result = await surveys.survey_answers(store, survey)
        assert (result.answered, result.satisfaction) == (7, (2, 2, 2, 2, 2))
        # Three more answers make a group of five held ones: all five are released together.
        for member_id in [await add_member(store, f"n{n}") for n in range(3)]:
            await write(store, surveys.invite, survey.id, member_id, delivered=True)
            await write(
                store,
                surveys.answer,
                survey.id,
                member_id,
                min_group=5,
                satisfaction=1,
                ownership=1,
            )
        result = await surveys.survey_answers(store, survey)
        assert result.satisfaction == (1, 1, 1, 2, 2, 2, 2, 2, 5, 5)
    finally:
        await store.close()


async def test_an_upgraded_database_keeps_its_knowledge_and_takes_the_new_kind(tmp_path):
    """The step for references rebuilds knowledge_items for the new kind and for items waiting
    for theirs: items and authors come through, and an item still takes its authors with it."""
    path = tmp_path / "old.sqlite3"
    old = await SqliteStore.open(path, steps=steps_before("CREATE TABLE knowledge_items_new"))
    ana = await add_member(old, "ana")
    await write(old, knowledge.add_knowledge,
         C, kind="case", title="Guide", link="https://example.org/g", theme="water",
        channel_key="console:water", source_platform_id="m1", created_by=ana, authors=[ana], at=T0,
    )  # fmt: skip
    await old.close()

    store = await SqliteStore.open(path)
    try:
        [item] = await knowledge.knowledge_items(store, C)
        assert (item.kind, item.title, item.link, item.authors) == (
            "case", "Guide", "https://example.org/g", ((ana, "Ana"),),
        )  # fmt: skip
        waiting = await write(store, knowledge.add_knowledge,
             C, kind=None, title="Wells", link=None, theme="water", channel_key=None,
            source_platform_id="m2", created_by=ana, authors=[ana], at=T0 + 60,
        )  # fmt: skip
        assert [i.id for i in await knowledge.knowledge_items(store, C)] == [item.id]
        await write(
            store, knowledge.edit_knowledge, waiting, title=None, kind="reference", at=T0 + 90
        )
        listed = await knowledge.knowledge_items(store, C)
        assert [(i.kind, i.created_at) for i in listed] == [("reference", T0 + 90), ("case", T0)]
        await write(store, knowledge.remove_knowledge, item.id)
        assert (
            await store.fetch_all("SELECT * FROM knowledge_authors WHERE item_id = ?", (item.id,))
            == []
        )
    finally:
        await store.close()


async def test_forget_me_leaves_no_row_about_the_member(store):
    ana = await add_member(store, "ana")
    eva = await add_member(store, "eva")
    await write(store, profiles.set_profile, ana, {"organisation": "CANO"}, T0)
    await write(store, knowledge.add_knowledge,
         C, kind="document", title="Guide", link=None, theme=None, channel_key=None,
        source_platform_id=None, created_by=ana, authors=[ana, eva], at=T0,
    )  # fmt: skip
    await write(store, commitments.add_commitment, C, ana, "draft", "2026-12-01", T0)
    await write(store, calendar.add_event,
         C, title="Meetup", starts_at=T0 + 9000, place="Lima", theme=None,
        created_by=ana, at=T0,
    )  # fmt: skip
    survey = await write(store, surveys.open_survey, C, "pulse", "2026-11", T0)
    await write(store, surveys.invite, survey.id, ana, delivered=True)
    await write(store, surveys.invite, survey.id, eva, delivered=True)
    await write(
        store,
        surveys.answer,
        survey.id,
        eva,
        min_group=1,
        satisfaction=5,
        ownership=5,
        learned_from=ana,
    )
    await write(store, onboarding.claim_welcome, ana, T0)
    assert len(await rows_about(store, ana)) == 8

    await write(
        store, members.forget, MemberCache(), await members.by_id(store, ana), adapter_state={}
    )

    assert await rows_about(store, ana) == {}
    items = await knowledge.knowledge_items(store, C)
    assert [[n for _, n in i.authors] for i in items] == [["Eva"]]
    result = await surveys.survey_answers(store, survey)
    assert (result.invited, result.answers, result.learned_from) == (1, 1, {})


async def test_bots_are_never_listed(store):
    bot = await add_member(store, "helper", bot=True)
    await write(store, profiles.set_profile, bot, {"expertise": "everything"}, T0)
    await write(store, commitments.add_commitment, C, bot, "spam", "2026-11-01", T0)
    assert await profiles.profiles(store, C) == []
    assert await commitments.overdue(store, C, "2026-11-28") == []
