"""A clock set wrong for a while (a bad time sync) destroys nothing and sends nothing early."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.helpers import running_app

LIMA = ZoneInfo("America/Lima")


def lima(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LIMA).astimezone(UTC)


async def test_a_clock_72_days_ahead_for_one_step_purges_and_sends_nothing(tmp_path, caplog):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            "~ ana joins as Ana",
            "~ luis joins as Luis",
            "#water ana: Remember this sentence about irrigation.",
        )
        await h.set_time(lima(9, 8, 12))
        before = len(h.outbox)
        h.clock.step(timedelta(days=72))  # 19 November, without the time really passing
        with caplog.at_level(logging.ERROR, logger="bot.scheduler"):
            log = await h.app.run_due_jobs()
        assert "digest:praxis: waits, the clock looks wrong" in log
        assert "the clock moved 72 days more than the time that really passed" in caplog.text
        assert h.sent_since(before) == [], "no digest, prompt, nudge or survey on a wrong clock"
        (texts,) = await h.store.fetch_one("SELECT count(text) FROM messages")
        assert texts == 1, "the retention purge did not run"

        h.clock.step(timedelta(days=-72))  # corrected
        await h.app.run_due_jobs()
        assert h.sent_since(before) == []
        await h.set_time(lima(9, 14, 9, 5))
        digests = [s for s in h.sent_since(before, "post") if s.to == "#general"]
        assert len(digests) == 1 and "1 message from 1 person" in digests[0].text
        await h.set_time(lima(10, 1, 10, 5))
        pulses = [s for s in h.sent_since(before, "direct") if "Monthly pulse, 2026-09" in s.text]
        assert sorted(s.to for s in pulses) == ["ana", "luis"]
        (runs,) = await h.store.fetch_one(
            "SELECT count(*) FROM job_runs WHERE job = 'pulse:praxis'"
        )
        assert runs == 1


async def test_at_start_a_clock_far_past_the_stored_chat_waits_for_the_platforms(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines("~ ana joins as Ana", "#water ana: Remember this sentence.")
    later = running_app(tmp_path, start=lima(9, 7, 8) + timedelta(days=72))
    async with later as h:
        (texts,) = await h.store.fetch_one("SELECT count(text) FROM messages")
        assert texts == 1 and h.outbox == []
        # Chat arrives with the platform's time, which agrees with the clock: it was right.
        await h.lines("#water ana: Back after a long break.")
        await h.app.run_due_jobs()
        (texts,) = await h.store.fetch_one("SELECT count(text) FROM messages")
        assert texts == 1, "the old text was purged once the clock was confirmed"
