"""Counts of one read as one: every sentence with a count takes the singular for 1, in what a
member (mydata) and a facilitator (stats, theme show, survey results, the report) see, and in the
digest. A community where one of each thing happened is rendered, and no "1 <plural>" is left."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.commands.parsing import parse_period
from bot.monitoring.render import render_markdown, summary_markdown
from bot.monitoring.report import build_report
from bot.services.digest import compose_week
from tests.helpers import config, running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

ONE_OF_EACH = config(
    **{
        "retention.message_text_days": 1,
        "participation.window_weeks": 1,
        "communities.praxis.surveys.impact_cron": "0 10 * * *",
    }
)
PLURAL_AFTER_ONE = re.compile(
    r"(?<![\d.,])1 (?:new |pulse |impact |knowledge )?(?:messages|reactions|replies|lessons|cases|"
    r"documents|references|threads|surveys|answers|stories|members|people|persons|days|weeks|"
    r"ties|organisations|items|voices|relationships|commitments)\b"
)


async def test_a_count_of_one_is_said_in_the_singular_everywhere(tmp_path):
    async with running_app(tmp_path, ONE_OF_EACH) as h:
        await h.lines(
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            "~ fran joins as Fran",
        )
        await h.say("ana", "water/Pumps", "Which pumps last longest at altitude?")
        other = await h.say("luis", "gender", "Our committee now leads the water board.")
        await h.lines(f"#gender ana: +{other} 👍", f"#gender fran: +{other} 💡")
        await h.lines(f"#gender fran: +{other} 🔖")
        await h.command("ana", "/share lesson Rotate who chairs meetings", channel="water")
        await h.command("ana", "/share case Pump repair in Cusco", channel="water")
        await h.command("ana", "/commit write the pump case by 2026-09-09")
        await h.advance(timedelta(hours=3))  # the impact survey goes out at 10:00
        await h.command("ana", "/story We share minutes with the mayor now.")
        now = h.clock.now()

        seen = {
            "mydata": await h.command("ana", "/mydata"),
            "stats": await h.command("fran", "/stats water 7d"),
            "theme show": await h.command("fran", "/theme show water"),
            "survey results": await h.command("fran", "/survey results"),
            "digest": (
                await compose_week(h.app.community("praxis"), now + timedelta(minutes=1))
            ).text,
        }
        quarter = parse_period("2026-Q3", ZoneInfo("America/Lima"), now)
        report = await build_report(h.store, h.app.settings, "praxis", quarter.start, quarter.end)
        t = h.app.community("praxis").translator
        seen["report"] = render_markdown(report, t)
        seen["report summary"] = summary_markdown(report, t)

        for output, text in seen.items():
            assert not PLURAL_AFTER_ONE.findall(text), f"{output}:\n{text}"
        assert "- 1 message counted" in seen["mydata"]
        assert "text is deleted after 1 day" in seen["mydata"]
        assert "- 1 reaction given" in seen["mydata"]
        assert "1 message," in seen["stats"] and "Levels over the last week" in seen["stats"]
        assert "This week: 1 message from 1 person." in seen["theme show"]
        assert "1 lesson, 1 case, 0 documents, 1 reference." in seen["report"]
        assert "1 new thread." in seen["report"]
        assert "1 impact survey, 1 answer, 0 stories of change." in seen["report"]
        assert "1 answer, fewer than 5, so none is shown." in seen["report"]
        assert "3 knowledge items" in seen["report summary"]
