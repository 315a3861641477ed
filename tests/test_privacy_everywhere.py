"""forget-me and optout checked against every table of the schema and every output.

Tables are enumerated from sqlite_master and the columns that point at a member from the schema's
foreign keys, so a table added later is covered without touching this test. The outputs are every
command that shows what the community wrote, the digest and the M&E report.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.monitoring import render
from bot.monitoring.report import build_report
from bot.outgoing import unescape
from bot.services import prompts
from bot.services.digest import compose_week
from storage import members, surveys
from tests.helpers import member_references, running_app, stored_values

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

LIMA = ZoneInfo("America/Lima")
DIGEST_DAY = datetime(2026, 9, 14, 9, 30, tzinfo=LIMA).astimezone(UTC)

# What Zoe wrote herself: it goes with a forget-me and is shown nowhere after an optout.
HER_OWN = (
    "Mulch keeps the soil wet",
    "Drip irrigation handbook",
    "example.org/drip",
    "Seed fair",
    "Wells of Chuquibamba",
    "Agua Viva",
    "map the springs",
)

SCRIPT = (
    "@ 2026-09-07 10:00",
    '~ ana joins as "Ana Quispe"',
    '~ luis joins as "Luis Rojas"',
    '~ zoe joins as "Zoe Mamani"',
    '~ eva joins as "Eva Flores"',
    '~ rosa joins as "Rosa Huaman"',
    '~ fran joins as "Fran Ortiz"',
    # Zoe's own content: a message filed as a lesson, a shared document, an event, a thread.
    "#water zoe: Mulch keeps the soil wet through the dry season, we tried it in three plots.",
    "#water fran: +1 💡",
    "#water zoe: /share document Drip irrigation handbook https://example.org/drip",
    "#general zoe: /event add Seed fair 2026-09-19 10:00 Plaza de Armas",
    "#water/Wells of Chuquibamba zoe: The wells are drying, who has measured them?",
    "#water/Wells of Chuquibamba ana: >2 We measured two of them last spring, it is bad.",
    "#general zoe: /profile set organisation:Agua Viva expertise:springs, mulch",
    "#general zoe: /commit map the springs by 2026-09-09",
    "#general zoe: /kudos @ana for the measurements",
    "#general ana: /kudos @zoe for the mulch trial",
    # What others wrote about her.
    "#general ana: /kudos @luis for finishing the spring map Zoe Mamani started",
    "#general ana: /profile set organisation:CANO expertise:springs, learned from @zoe",
    "#general ana: /commit send Zoe the well data by 2026-09-09",
    "#water ana: /share lesson Springs as zoe taught us",
    "#general ana: /event add Walk with Zoe Mamani to the springs 2026-09-20 09:00",
    "#general ana: /event add Springs meetup 2026-09-21 09:00",
    "#general fran: /prompt add water What did you learn from Zoe's spring map?",
    "#water/Springs walk luis: Starting a thread about Zoe's springs, please join.",
    "#water/Springs walk ana: >4 Joined, the springs map helps a lot.",
    "#water luis: Thanks @zoe, your mulch idea saved our beans this month!",
    "#water ana: +6 👍",
    "#water eva: Where do we keep the springs data for the whole network?",
)


async def rows_pointing_at(db, member_id: int) -> dict[str, int]:
    """Per table and column that references members (id) in the schema: rows holding the id."""
    found = {}
    for table, column in await member_references(db):
        row = await db.fetch_one(f"SELECT count(*) FROM {table} WHERE {column} = ?", (member_id,))
        if row[0]:
            found[f"{table}.{column}"] = row[0]
    return found


async def every_output(h) -> str:
    """What members and facilitators can read: commands, the digest, the report (Markdown as a
    reader sees it, without the escapes that keep member text literal)."""
    answers = []
    for handle, command in (
        ("ana", "/library"),
        ("ana", "/library water"),
        ("ana", "/experts springs"),
        ("ana", "/experts water"),
        ("ana", "/experts mulch"),
        ("ana", "/commitments"),
        ("ana", "/profile show"),
        ("eva", "/profile show @ana"),
        ("eva", "/event list"),
        ("fran", "/commitments @ana"),
        ("fran", "/overdue"),
        ("fran", "/prompt list"),
        ("fran", "/map"),
        ("fran", "/stats"),
        ("fran", "/quiet"),
        ("fran", "/survey results 2026-Q3"),
        ("fran", "/theme show water"),
        ("fran", "/digest preview"),
        ("fran", "/report 2026-W37"),
    ):
        answers.append(await h.command(handle, command))
    digest = await compose_week(h.app.community("praxis"), DIGEST_DAY)
    report = await build_report(
        h.store, h.app.settings, "praxis", DIGEST_DAY - timedelta(days=7), DIGEST_DAY
    )
    t = h.app.community("praxis").translator
    # The charts' pixels are left out of the HTML: base64 spells any word now and then.
    html = re.sub(r"data:image/png;base64,[\w+/=]+", "", render.render_html(report, t))
    files = (unescape(render.render_markdown(report, t)), html)
    files += (render.render_json(report), render.render_csv(report))
    return "\n".join((*map(unescape, answers), unescape(digest.text), *files))


async def community_with_zoe(h) -> int:
    await h.lines(*SCRIPT)
    # A story of change naming her, among enough others to be shown.
    now = int(h.clock.now().timestamp())
    async with h.store.transaction() as tx:
        survey = await surveys.open_survey(tx, "praxis", "impact", "2026-Q3", now)
        people = {m.key.split(":")[1]: m.id for m in await members.all_members(tx, "praxis")}
        for member_id in people.values():
            await surveys.invite(tx, survey.id, member_id, delivered=True)
    await h.command("ana", "/story After Zoe Mamani's visit we mapped every spring.")
    for handle in ("luis", "eva", "rosa", "fran"):
        await h.command(handle, "/story We now share the well data with the municipality.")
    await h.lines("@ 2026-09-11 12:00")
    return people["zoe"]


async def test_what_zoe_wrote_and_others_wrote_about_her_is_visible_before(tmp_path):
    """The scenario really puts her and her content in the tables and outputs checked below."""
    async with running_app(tmp_path) as h:
        zoe = await community_with_zoe(h)
        shown = await every_output(h)
        for text in (*HER_OWN, "Zoe", "Springs as zoe taught us", "Zoe's spring map"):
            assert text in shown, text
        assert len(await rows_pointing_at(h.store, zoe)) >= 10
        digest = (await compose_week(h.app.community("praxis"), DIGEST_DAY)).text
        assert "Drip irrigation handbook" in digest and "Mulch keeps the soil wet" in digest


async def test_forget_me_leaves_her_in_no_table_and_no_output(tmp_path):
    async with running_app(tmp_path) as h:
        zoe = await community_with_zoe(h)
        await h.command("zoe", "/forget-me confirm")
        await h.lines("#water luis: Thanks again @zoe, the mulch works wonders for us.")

        assert await rows_pointing_at(h.store, zoe) == {}
        # Nor in the file's free space or write-ahead log, while Trellis runs on (SQLite; on
        # PostgreSQL the server's files are the operator's: docs/scale.md).
        for file in tmp_path.iterdir():
            raw = file.read_bytes()
            for text in ("Zoe Mamani", "console:zoe", *HER_OWN[:4], "Agua Viva"):
                assert text.encode() not in raw, (file.name, text)
        stored = (await stored_values(h.store)).casefold()
        assert "zoe" not in stored
        for text in HER_OWN:
            if text != "Wells of Chuquibamba":  # the console names a thread by its title
                assert text.casefold() not in stored, text
        (title,) = await h.store.fetch_one(
            "SELECT title FROM threads WHERE thread_key LIKE '%Chuquibamba'"
        )
        assert title == "", "the thread stays (Ana wrote in it), her title goes"

        shown = await every_output(h)
        assert "zoe" not in shown.casefold()
        for text in HER_OWN:
            assert text not in shown, text
        # Others' content stays, without her name.
        for text in (
            "Springs as […] taught us",
            "Walk with […] to the springs",
            "What did you learn from […]'s spring map?",
            "send […] the well data",
            "finishing the spring map […] started",
            "After […]'s visit we mapped every spring.",
            "Springs meetup",
        ):
            assert text in shown, text
        # The next week's digest, posted on schedule, does not bring her back either.
        mark = len(h.outbox)
        await h.set_time(DIGEST_DAY)
        posted = "\n".join(sent.text for sent in h.outbox[mark:])
        assert "Ana Quispe" in posted and "zoe" not in posted.casefold()


async def test_optout_hides_her_everywhere_and_records_nothing_new(tmp_path):
    async with running_app(tmp_path) as h:
        zoe = await community_with_zoe(h)
        await h.command("zoe", "/optout")
        before = await rows_pointing_at(h.store, zoe)

        # She keeps taking part: nothing of it is recorded, in any table.
        await h.lines(
            "#water zoe: Pumps need a spare valve, always carry one to the field.",
            "#water zoe: +6 🙏",
            "#water/Valves zoe: A new thread about valves.",
            "#general zoe: /kudos @ana for the valve tip",
        )
        assert await rows_pointing_at(h.store, zoe) == before
        stored = (await stored_values(h.store)).casefold()
        assert "spare valve" not in stored and "valve tip" not in stored
        assert "a new thread about valves" not in stored
        (title,) = await h.store.fetch_one(
            "SELECT title FROM threads WHERE thread_key LIKE '%Valves'"
        )
        assert title == "", "the thread is known (others may join it), her title is not kept"

        shown = await every_output(h)
        assert "zoe" not in shown.casefold()
        for text in HER_OWN:
            assert text not in shown, text
        assert "Springs as […] taught us" in shown
        assert "Walk with […] to the springs" in shown
        digest = (await compose_week(h.app.community("praxis"), DIGEST_DAY)).text
        assert "### Knowledge shared" in digest and "Drip irrigation" not in digest
        # A prompt queued before she opted out is posted without her name.
        mark = len(h.outbox)
        await prompts.post_next(h.app.community("praxis"), "water", h.clock.now())
        [posted] = h.sent_since(mark, "post")
        assert "What did you learn from […]'s spring map?" in unescape(posted.text)

        # Opting back in shows what others wrote as they wrote it (nothing was changed).
        await h.command("zoe", "/optin")
        assert "Springs as zoe taught us" in await h.command("ana", "/library")
