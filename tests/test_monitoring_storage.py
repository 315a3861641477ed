"""storage/monitoring.py on a real SQLite file built by the real migrations: what each read
returns, what opt-out hides, and that forget-me leaves no row about the member in these tables."""

from __future__ import annotations

import pytest

from storage import members, monitoring
from storage.ingest import MemberCache
from storage.sqlite import SqliteStore, migration_steps

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


async def add_member(store: SqliteStore, name: str, *, bot: bool = False) -> int:
    async with store.transaction() as db:
        cursor = await db.execute(
            "INSERT INTO members (community, member_key, display_name, is_bot, first_seen_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (C, f"console:{name}", name.capitalize(), int(bot), T0),
        )
        return cursor.lastrowid


async def rows_about(store: SqliteStore, member_id: int) -> dict[str, int]:
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
    await monitoring.set_profile(
        store, ana, {"organisation": "CANO", "expertise": "water, soils"}, T0
    )
    await monitoring.set_profile(store, ana, {"languages": "es, en"}, T0 + 60)
    await monitoring.set_profile(store, luis, {"organisation": "CANO"}, T0)

    mine = await monitoring.profile(store, ana)
    assert (mine.organisation, mine.expertise, mine.languages) == ("CANO", "water, soils", "es, en")
    assert mine.updated_at == T0 + 60

    row = await members.by_id(store, luis)
    await members.set_opted_out(store, MemberCache(), row, T0 + 100)
    assert [p.name for p in await monitoring.profiles(store, C)] == ["Ana"]
    assert await monitoring.profile(store, luis) is None


async def test_a_marked_message_is_recorded_once_and_credits_visible_authors(store):
    ana = await add_member(store, "ana")
    eva = await add_member(store, "eva")
    first = await monitoring.add_knowledge(
        store, C, kind="lesson", title="Rotate the chairs", link=None, theme="water",
        channel_key="console:water", source_platform_id="m1", created_by=eva,
        authors=[ana, ana], at=T0,
    )  # fmt: skip
    again = await monitoring.add_knowledge(
        store, C, kind="lesson", title="Rotate the chairs", link=None, theme="water",
        channel_key="console:water", source_platform_id="m1", created_by=ana,
        authors=[ana], at=T0 + 5,
    )  # fmt: skip
    await monitoring.add_knowledge(
        store, C, kind="case", title="Lima wells", link="https://example.org/wells",
        theme="soils", channel_key=None, source_platform_id=None, created_by=eva,
        authors=[eva, ana], at=T0 + 10,
    )  # fmt: skip

    assert first is not None and again is None
    items = await monitoring.knowledge_items(store, C)
    assert [(i.title, [n for _, n in i.authors]) for i in items] == [
        ("Lima wells", ["Ana", "Eva"]),
        ("Rotate the chairs", ["Ana"]),
    ]
    assert [i.title for i in await monitoring.knowledge_items(store, C, theme="water")] == [
        "Rotate the chairs"
    ]
    assert await monitoring.knowledge_items(store, C, start=T0 + 1, end=T0 + 10) == []


async def test_commitments_overdue_and_reminders(store):
    ana = await add_member(store, "ana")
    late = await monitoring.add_commitment(store, C, ana, "write the case", "2026-11-20", T0)
    soon = await monitoring.add_commitment(store, C, ana, "book the room", "2026-11-29", T0)
    done = await monitoring.add_commitment(store, C, ana, "share minutes", "2026-11-21", T0)
    await monitoring.mark_done(store, done, T0 + 50)

    assert [c.id for c in await monitoring.overdue(store, C, "2026-11-28")] == [late]
    assert [c.id for c in await monitoring.to_remind(store, C, "2026-11-28", "2026-11-29")] == [
        soon
    ]
    await monitoring.mark_reminded(store, soon, T0 + 60)
    assert await monitoring.to_remind(store, C, "2026-11-28", "2026-11-29") == []
    assert [c.id for c in await monitoring.commitments(store, C, member_id=ana)] == [
        late,
        soon,
        done,
    ]
    result = await monitoring.fulfilment(
        store, C, "2026-11-01", "2026-11-30", {"2026-11-21": T0 + 40}
    )
    assert (result.due, result.done, result.on_time) == (3, 1, 0)


async def test_survey_answers_carry_no_identity_and_one_answer_per_member(store):
    people = [await add_member(store, name) for name in ("ana", "luis", "eva")]
    survey = await monitoring.open_survey(store, C, "pulse", "2026-11", T0)
    assert await monitoring.open_survey(store, C, "pulse", "2026-11", T0 + 1) is None
    for member_id in people:
        await monitoring.invite(store, survey.id, member_id, delivered=True)

    assert await monitoring.answer(
        store, survey.id, people[0], min_group=1, satisfaction=4, ownership=3
    )
    assert not await monitoring.answer(
        store, survey.id, people[0], min_group=1, satisfaction=1, ownership=1
    )
    assert await monitoring.answer(
        store,
        survey.id,
        people[1],
        min_group=1,
        satisfaction=5,
        ownership=4,
        learned_from=people[0],
    )
    assert await monitoring.pending_survey(store, C, "pulse", people[2]) == survey
    assert await monitoring.pending_survey(store, C, "pulse", people[0]) is None

    columns = [row[1] for row in await store.fetch_all("PRAGMA table_info(survey_answers)")]
    assert "member_id" not in columns
    result = await monitoring.survey_answers(store, survey)
    assert (result.invited, result.answered, result.answers) == (3, 2, 2)
    assert sorted(result.satisfaction) == [4, 5]
    assert result.learned_from == {people[0]: 1}


async def test_survey_answers_are_released_in_steps_of_the_minimum_group(store):
    people = [await add_member(store, f"m{n}") for n in range(12)]
    survey = await monitoring.open_survey(store, C, "pulse", "2026-11", T0)
    shown = []
    for score, member_id in enumerate(people):
        await monitoring.invite(store, survey.id, member_id, delivered=True)
        await monitoring.answer(
            store, survey.id, member_id, min_group=5, satisfaction=score % 5 + 1, ownership=3
        )
        result = await monitoring.survey_answers(store, survey)
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
    survey = await monitoring.open_survey(old, C, "pulse", "2026-11", T0)
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
        result = await monitoring.survey_answers(store, survey)
        assert (result.answered, result.satisfaction) == (7, (2, 2, 2, 2, 2))
        # Three more answers make a group of five held ones: all five are released together.
        for member_id in [await add_member(store, f"n{n}") for n in range(3)]:
            await monitoring.invite(store, survey.id, member_id, delivered=True)
            await monitoring.answer(
                store, survey.id, member_id, min_group=5, satisfaction=1, ownership=1
            )
        result = await monitoring.survey_answers(store, survey)
        assert result.satisfaction == (1, 1, 1, 2, 2, 2, 2, 2, 5, 5)
    finally:
        await store.close()


async def test_an_upgraded_database_keeps_its_knowledge_and_takes_the_new_kind(tmp_path):
    """The step for references rebuilds knowledge_items for the new kind and for items waiting
    for theirs: items and authors come through, and an item still takes its authors with it."""
    path = tmp_path / "old.sqlite3"
    old = await SqliteStore.open(path, steps=steps_before("CREATE TABLE knowledge_items_new"))
    ana = await add_member(old, "ana")
    await monitoring.add_knowledge(
        old, C, kind="case", title="Guide", link="https://example.org/g", theme="water",
        channel_key="console:water", source_platform_id="m1", created_by=ana, authors=[ana], at=T0,
    )  # fmt: skip
    await old.close()

    store = await SqliteStore.open(path)
    try:
        [item] = await monitoring.knowledge_items(store, C)
        assert (item.kind, item.title, item.link, item.authors) == (
            "case", "Guide", "https://example.org/g", ((ana, "Ana"),),
        )  # fmt: skip
        waiting = await monitoring.add_knowledge(
            store, C, kind=None, title="Wells", link=None, theme="water", channel_key=None,
            source_platform_id="m2", created_by=ana, authors=[ana], at=T0 + 60,
        )  # fmt: skip
        assert [i.id for i in await monitoring.knowledge_items(store, C)] == [item.id]
        await monitoring.edit_knowledge(store, waiting, title=None, kind="reference", at=T0 + 90)
        listed = await monitoring.knowledge_items(store, C)
        assert [(i.kind, i.created_at) for i in listed] == [("reference", T0 + 90), ("case", T0)]
        await monitoring.remove_knowledge(store, item.id)
        assert (
            await store.fetch_all("SELECT * FROM knowledge_authors WHERE item_id = ?", (item.id,))
            == []
        )
    finally:
        await store.close()


async def test_forget_me_leaves_no_row_about_the_member(store):
    ana = await add_member(store, "ana")
    eva = await add_member(store, "eva")
    await monitoring.set_profile(store, ana, {"organisation": "CANO"}, T0)
    await monitoring.add_knowledge(
        store, C, kind="document", title="Guide", link=None, theme=None, channel_key=None,
        source_platform_id=None, created_by=ana, authors=[ana, eva], at=T0,
    )  # fmt: skip
    await monitoring.add_commitment(store, C, ana, "draft", "2026-12-01", T0)
    await monitoring.add_event(
        store, C, title="Meetup", starts_at=T0 + 9000, place="Lima", theme=None,
        created_by=ana, at=T0,
    )  # fmt: skip
    survey = await monitoring.open_survey(store, C, "pulse", "2026-11", T0)
    await monitoring.invite(store, survey.id, ana, delivered=True)
    await monitoring.invite(store, survey.id, eva, delivered=True)
    await monitoring.answer(
        store, survey.id, eva, min_group=1, satisfaction=5, ownership=5, learned_from=ana
    )
    await monitoring.claim_welcome(store, ana, T0)
    assert len(await rows_about(store, ana)) == 8

    await members.forget(store, MemberCache(), await members.by_id(store, ana), adapter_state={})

    assert await rows_about(store, ana) == {}
    items = await monitoring.knowledge_items(store, C)
    assert [[n for _, n in i.authors] for i in items] == [["Eva"]]
    result = await monitoring.survey_answers(store, survey)
    assert (result.invited, result.answers, result.learned_from) == (1, 1, {})


async def test_bots_are_never_listed(store):
    bot = await add_member(store, "helper", bot=True)
    await monitoring.set_profile(store, bot, {"expertise": "everything"}, T0)
    await monitoring.add_commitment(store, C, bot, "spam", "2026-11-01", T0)
    assert await monitoring.profiles(store, C) == []
    assert await monitoring.overdue(store, C, "2026-11-28") == []
