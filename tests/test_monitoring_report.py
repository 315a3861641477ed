"""The M&E report checked against a scripted community whose right answers are known.

Two weeks of chat go through the real console adapter and engine: a week before the period (so
that some ties already exist) and the period itself, 2026-W37. Every figure asserted below can be
counted by hand from the script.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.cli import main
from bot.commands.parsing import parse_period
from bot.i18n import Translator
from bot.monitoring.render import render
from bot.monitoring.report import build_report
from storage import members, surveys
from tests.helpers import config, running_app, storage_config

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

LIMA = ZoneInfo("America/Lima")
# Monday 31 August 2026, the week before the period.
BEFORE = datetime(2026, 8, 31, 9, 0, tzinfo=LIMA).astimezone(UTC)

SCRIPT = (
    '~ ana joins as "Ana Quispe"',
    '~ ben joins as "Ben Ccori"',
    '~ cai joins as "Cai Flores"',
    '~ dia joins as "Dia Huamán"',
    '~ eva joins as "Eva Mendez"',
    '~ fay joins as "Fay Soto"',
    '~ robo joins as bot "Robo"',
    # The week before the period: Ana and Ben already talk in #water.
    "#water ana: How do you share water turns between villages?",  # 1
    "#water ben: >1 We rotate by the moon calendar.",  # 2
    # The period, 2026-W37.
    "@ 2026-09-08 10:00",
    "#water ana: The pump in Cusco broke again.",  # 3
    "#water ben: >3 Who repaired it last time?",  # 4
    "#water ben: >3 I can send the manual.",  # 5
    "#water ben: @cai knows the supplier, I think.",  # 6
    "#gender cai: Our women's committee now leads the water board.",  # 7
    "#gender dia: >7 How did you get there?",  # 8
    "#gender dia: +7 👍",
    "#water/Pumps ana: Which pumps last longest at altitude?",  # 9
    "#water/Pumps cai: The hand pumps from Arequipa.",  # 10
    # Eva talks to everyone, then opts out: none of it may show.
    "#water eva: >3 Eva Mendez here, we had the same trouble.",  # 11
    "#water eva: @ben @cai let us meet.",  # 12
    "#water ana: >11 Thanks Eva!",  # 13
    "#water ben: +11 🙏",
    "#water robo: Automatic reminder.",
)


async def scripted(h) -> None:
    await h.lines(*SCRIPT)
    for handle, org in (("ana", "CANO"), ("ben", "CANO"), ("cai", "Sinergia"), ("dia", "Redes"),
                        ("eva", "CANO")):  # fmt: skip
        await h.command(handle, f"/profile set organisation:{org}")
    await h.command("ana", "/commit write the pump case by 2026-09-10")
    await h.command("ben", "/commit send the manual by 2026-09-12")
    await h.command("eva", "/commit host the visit by 2026-09-11")
    await h.command("ana", "/done 1")
    await h.command("ana", "/share case Pump repair in Cusco", channel="water")
    await h.command("eva", "/share lesson What Eva learned", channel="water")
    await h.lines("@ 2026-09-10 10:00")
    ids = {m.key.split(":")[1]: m.id for m in await members.all_members(h.store, "praxis")}
    at = int(h.clock.now().timestamp())
    async with h.store.transaction() as tx:
        pulse = await surveys.open_survey(tx, "praxis", "pulse", "2026-09", at)
        impact = await surveys.open_survey(tx, "praxis", "impact", "2026-Q3", at)
        for handle in ("ana", "ben", "cai", "dia", "fay", "eva"):
            await surveys.invite(tx, pulse.id, ids[handle], delivered=True)
            await surveys.invite(tx, impact.id, ids[handle], delivered=True)
        learned = {"ana": "cai", "ben": "cai", "cai": "eva", "dia": "ana", "fay": None}
        for n, (handle, teacher) in enumerate(learned.items()):
            await surveys.answer(
                tx, pulse.id, ids[handle], min_group=5, satisfaction=3 + n % 3,
                ownership=2 + n % 2, learned_from=ids[teacher] if teacher else None,
            )  # fmt: skip
        for handle in ("ana", "ben", "cai"):
            await surveys.answer(tx, impact.id, ids[handle], min_group=5, story=f"{handle} story")
    await h.command("eva", "/optout")


async def week37(h):
    period = parse_period("2026-W37", LIMA, h.clock.now())
    report = await build_report(
        h.store, h.app.settings, "praxis", period.start, period.end, label=period.label
    )
    return report


async def test_monitoring_figures_match_the_script(tmp_path):
    async with running_app(tmp_path, config(), start=BEFORE) as h:
        await scripted(h)
        m = (await week37(h)).monitoring

        # Ana, Ben, Cai, Dia took part; Eva opted out, Fay only joined, Robo is a bot.
        assert m.members == 5
        assert m.participants == 4
        # Ben's 🙏 on Eva's message is Ben's doing, so it counts (Eva's part in it does not).
        assert (m.messages, m.replies, m.reactions, m.threads) == (9, 4, 2, 1)
        # Over the four weeks to W37: Ana 4 messages and Ben 5 are active; Cai (2) and Dia (1
        # message, 1 reaction) peripheral; Fay inactive.
        [week] = m.levels
        assert (week.week, week.core, week.active, week.peripheral, week.inactive) == (
            "2026-W37", 0, 2, 2, 1,
        )  # fmt: skip
        assert {(r.theme, r.messages, r.participants) for r in m.theme_activity} == {
            ("water", 7, 3),
            ("gender", 2, 2),
        }
        # Ties: Ana–Ben (replies, both weeks), Ben–Cai (mention), Cai–Dia (reply and reaction),
        # Ana–Cai (the Pumps thread). All but Ana–Ben are new; all but Ana–Ben cross organisations.
        assert (m.ties, m.new_ties, m.cross_organisation_ties, m.organisations) == (4, 3, 3, 3)
        assert [(link.a, link.b, link.ties) for link in m.organisation_links] == [
            ("CANO", "Sinergia", 2),
            ("Redes", "Sinergia", 1),
        ]
        # Dia reaches the others only through Cai: Cai is the one broker.
        [broker] = m.brokers
        assert (broker.name, broker.organisation, broker.organisations_reached) == (
            "Cai Flores", "Sinergia", 3,
        )  # fmt: skip
        assert broker.betweenness == round(2 / 3, 4)
        assert broker.themes == ("Gender and inclusion", "Water rights")
        assert m.knowledge == {"lesson": 0, "case": 1, "document": 0, "reference": 0}
        assert [(i.title, i.authors) for i in m.knowledge_items] == [
            ("Pump repair in Cusco", ("Ana Quispe",))
        ]
        assert (m.commitments_due, m.commitments_fulfilled, m.fulfilled_ratio) == (2, 1, 0.5)
        assert {node.label for node in m.network.nodes} == {
            "Ana Quispe", "Ben Ccori", "Cai Flores", "Dia Huamán",
        }  # fmt: skip


async def test_evaluation_and_impact_match_the_script(tmp_path):
    async with running_app(tmp_path, config(), start=BEFORE) as h:
        await scripted(h)
        e = (await week37(h)).evaluation
        # The surveys ask about September and the third quarter: September's report has them.
        september = parse_period("2026-09", LIMA, h.clock.now())
        report = await build_report(
            h.store, h.app.settings, "praxis", september.start, september.end
        )
        i = report.impact

        # Versus W36: Ana–Ben grew from 1 interaction to 2; three ties appeared.
        assert (e.ties_strengthened, e.ties_appeared, e.ties_grown) == (4, 3, 1)
        # Ana and Ben had spoken in Water rights before; Cai and Dia are new voices.
        assert [(v.theme, v.names) for v in e.new_voices] == [
            ("water", ("Cai Flores",)),
            ("gender", ("Cai Flores", "Dia Huamán")),
        ]
        assert e.pulses == ()
        [pulse] = report.evaluation.pulses
        assert (pulse.survey, pulse.invited, pulse.answers, pulse.shown) == ("2026-09", 5, 5, True)
        assert (pulse.satisfaction, pulse.ownership) == (3.8, 2.4)
        # Eva was named once, but she opted out: her name is not given.
        assert pulse.learned_from == (("Cai Flores", 2), ("Ana Quispe", 1))
        # Three impact answers are fewer than five: counted, never shown.
        [survey] = i.surveys
        assert (survey.answers, survey.shown, survey.stories) == (3, False, ())
        assert (i.answers, i.stories) == (3, 0)


async def test_an_opted_out_member_appears_in_no_format(tmp_path):
    async with running_app(tmp_path, config(), start=BEFORE) as h:
        await scripted(h)
        report = await week37(h)
        t = Translator("en")
        for fmt in ("md", "json", "csv", "html"):
            text = render(report, fmt, t).decode("utf-8")
            assert "Eva Mendez" not in text and "Mendez" not in text, fmt
            assert "What Eva learned" not in text, fmt
            assert "Robo" not in text, fmt
        assert "Cai Flores" in render(report, "md", t).decode("utf-8")
        figures = json.loads(render(report, "json", t))
        assert figures["monitoring"]["brokers"][0]["name"] == "Cai Flores"
        rows = render(report, "csv", t).decode("utf-8").splitlines()
        assert rows[0].startswith("week,starts,core,active,peripheral,inactive")
        assert rows[1].startswith("2026-W37,2026-09-07,0,2,2,1")


async def test_facilitators_get_the_report_in_chat_with_the_html_attached(tmp_path):
    async with running_app(tmp_path, config(), start=BEFORE) as h:
        await scripted(h)
        refused = await h.command("ana", "/report 2026-W37")
        assert "facilitators" in refused
        before = len(h.outbox)
        answer = await h.command("fran", "/report 2026-W37")
        assert answer.startswith("**M&E report for Praxis Network, 2026-W37**")
        assert "4 of 6 members took part" in answer  # Fran counts from her first command
        [sent] = [s for s in h.outbox[before:] if s.kind == "reply"]
        # The console keeps the names of attached files; the page itself is opened in Chromium
        # by test_monitoring_report_html.py.
        assert sent.attachments == (
            "trellis-report-praxis-2026-W37-levels.png",
            "trellis-report-praxis-2026-W37.html",
        )
        bad = await h.command("fran", "/report 2026-Q7")
        assert "is not a period" in bad


def test_trellis_report_writes_the_file_and_explains_a_bad_period(tmp_path, capsys):
    async def record() -> dict[str, str]:
        async with running_app(tmp_path, config(), start=BEFORE) as h:
            await scripted(h)
        return await storage_config(tmp_path / "trellis.sqlite3")

    storage = asyncio.run(record())
    (tmp_path / "trellis.toml").write_text(
        "[storage]\n"
        + "".join(f'{key} = "{value}"\n' for key, value in storage.items())
        + '[communities.praxis]\nname = "Praxis Network"\ntimezone = "America/Lima"\n'
        '[communities.praxis.themes.water]\nname = "Water rights"\nplaces = ["console:water"]\n',
        encoding="utf-8",
    )
    output = tmp_path / "w37.json"
    arguments = ["report", "--config", str(tmp_path / "trellis.toml"), "--format", "json"]
    assert main([*arguments, "--period", "2026-W37", "--output", str(output)]) == 0
    assert f"written to {output}" in capsys.readouterr().out
    figures = json.loads(output.read_text(encoding="utf-8"))
    assert (figures["label"], figures["monitoring"]["participants"]) == ("2026-W37", 4)

    assert main([*arguments, "--period", "last week"]) == 2
    assert "“last week” is not a period" in capsys.readouterr().err


async def test_another_communitys_ties_in_the_same_database_do_not_count(tmp_path):
    async with running_app(tmp_path, config(), start=BEFORE) as h:
        await scripted(h)
        # Two members of another community join the database, then Gus joins this one: their
        # ids lie among this community's, and their tie falls in the period.
        at = int(h.clock.now().timestamp())
        async with h.store.transaction() as tx:
            for handle in ("x1", "x2"):
                await tx.execute(
                    "INSERT INTO members (community, member_key, display_name, first_seen_at) "
                    "VALUES ('other', ?, ?, ?)",
                    (f"console:{handle}", handle.upper(), at),
                )
        await h.lines('~ gus joins as "Gus Ramos"', "#water gus: >3 We fixed ours with a kit.")
        others = [m.id for m in await members.all_members(h.store, "other")]
        gus = next(
            m.id for m in await members.all_members(h.store, "praxis") if m.key.endswith(":gus")
        )
        assert max(others) < gus
        day = date(2026, 9, 9).toordinal() - date(1970, 1, 1).toordinal()
        async with h.store.transaction() as tx:
            await tx.execute(
                "INSERT INTO tie_days (a, b, day, weight) VALUES (?, ?, ?, 3)", (*others, day)
            )
        m = (await week37(h)).monitoring
    # The script's four ties and Gus's reply to Ana; nothing of the other community's pair.
    assert (m.ties, m.new_ties, m.cross_organisation_ties) == (5, 4, 3)
    assert {node.label for node in m.network.nodes} == {
        "Ana Quispe", "Ben Ccori", "Cai Flores", "Dia Huamán", "Gus Ramos",
    }  # fmt: skip
