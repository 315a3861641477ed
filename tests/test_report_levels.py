"""The report's weekly levels on a generated community, against a count written independently here.

The levels are read from member_weeks a few thousand member-weeks at a time, beside the members in
id order (so that 100,000 members fit in memory): this community has more member-weeks than one
such read holds, members who arrive and leave during the period, bots and an opted-out member,
and the levels must be exactly those counted afresh from the stored messages.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import parse_settings
from bot.monitoring.report import build_report
from bot.services.participation import Level, level_of
from storage.activity import Activity
from storage.sqlite import SqliteStore
from tests.helpers import config

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

DAY = 86400
WEEK = 7 * DAY
# Monday 7 September 2026, UTC midnight: the community counts in UTC, so weeks are UTC weeks.
PERIOD_START = datetime(2026, 9, 7, tzinfo=UTC)
PERIOD_WEEKS = 16
MEMBERS = 800


async def generated(store: SqliteStore, window: int) -> tuple[dict, set[int]]:
    """Members posting on random days from ``window - 1`` weeks before the period to its end;
    returns (member id -> (arrived, left)) of the visible ones, and their (member, day) posts."""
    rng = random.Random(12)
    first = int(PERIOD_START.timestamp()) - (window - 1) * WEEK
    last = int(PERIOD_START.timestamp()) + PERIOD_WEEKS * WEEK
    spans: dict[int, tuple[int, int | None]] = {}
    posts: list[tuple[int, int]] = []
    rows = []
    for n in range(MEMBERS):
        arrived = first + rng.randrange(0, last - first - DAY) if n % 3 == 0 else first - WEEK
        left = arrived + rng.randrange(DAY, 10 * WEEK) if n % 7 == 0 else None
        is_bot, opted_out = n % 50 == 1, (arrived if n % 50 == 2 else None)
        rows.append((n + 1, f"console:m{n}", is_bot, arrived, left, opted_out))
        if not is_bot and opted_out is None:
            spans[n + 1] = (arrived, left)
        # Busy, ordinary and rare voices, so that every level is reached.
        for _ in range(rng.choice((0, 2, 6, 30, 90))):
            at = rng.randrange(max(arrived, first), last)
            posts.append((n + 1, at))
    await store.db.executemany(
        "INSERT INTO members (id, community, member_key, is_bot, first_seen_at, joined_at, "
        "left_at, opted_out_at) VALUES (?, 'praxis', ?, ?, ?, ?, ?, ?)",
        [(i, key, bot, arrived, arrived, left, out) for i, key, bot, arrived, left, out in rows],
    )
    await store.db.executemany(
        "INSERT INTO messages (community, platform_id, member_id, channel_key, posted_at) "
        "VALUES ('praxis', ?, ?, 'console:random', ?)",
        [(str(k), member_id, at) for k, (member_id, at) in enumerate(posts)],
    )
    await store.db.commit()
    return spans, {(m, at) for m, at in posts if m in spans}


def expected_levels(settings, spans: dict, posts: set) -> list[tuple[int, int, int, int]]:
    """Per week of the period: (core, active, peripheral, inactive) among members present."""
    window = settings.participation.window_weeks
    start = int(PERIOD_START.timestamp())
    messages: dict[tuple[int, int], int] = defaultdict(int)
    days: dict[tuple[int, int], set[int]] = defaultdict(set)
    for member_id, at in posts:
        week = (at - start) // WEEK
        messages[(member_id, week)] += 1
        days[(member_id, week)].add(at // DAY)
    result = []
    for week in range(PERIOD_WEEKS):
        counts = dict.fromkeys(Level, 0)
        for member_id, (arrived, left) in spans.items():
            if (arrived - start) // WEEK > week or (
                left is not None and left < start + week * WEEK
            ):
                continue
            span = range(week - window + 1, week + 1)
            activity = Activity(
                messages=sum(messages[(member_id, k)] for k in span),
                active_days=sum(len(days[(member_id, k)]) for k in span),
            )
            counts[level_of(activity, settings.participation)] += 1
        result.append(tuple(counts[level] for level in Level))
    return result


async def test_levels_read_in_parts_equal_a_fresh_count(tmp_path):
    settings = parse_settings(
        config(**{"communities.praxis.timezone": "UTC", "storage.path": str(tmp_path / "t.db")})
    )
    store = await SqliteStore.open(tmp_path / "t.db")
    try:
        window = settings.participation.window_weeks
        spans, posts = await generated(store, window)
        end = PERIOD_START + timedelta(weeks=PERIOD_WEEKS)
        report = await build_report(store, settings, "praxis", PERIOD_START, end)
        member_weeks = await store.fetch_one("SELECT count(*) FROM member_weeks")
    finally:
        await store.close()
    # More member-weeks than one read of them holds, so the reads' seams are crossed.
    assert member_weeks[0] > 5000
    got = [(w.core, w.active, w.peripheral, w.inactive) for w in report.monitoring.levels]
    assert got == expected_levels(settings, spans, posts)
    # Every level is reached somewhere, so the comparison says something about each.
    assert all(any(week[i] for week in got) for i in range(4))
