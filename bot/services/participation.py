"""Participation: who takes part, how much and where, and their level (core to inactive).

Levels follow Wenger's core / active / peripheral / inactive. Reacting is taking part: a member
who only reacts is peripheral, not inactive.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from bot.config import ParticipationSettings
from bot.i18n import Translator
from storage import activity as activity_store
from storage import identities
from storage.activity import Activity
from storage.contract import Store
from storage.privacy import visible_members


class Level(enum.StrEnum):
    CORE = "core"
    ACTIVE = "active"
    PERIPHERAL = "peripheral"
    INACTIVE = "inactive"


def level_of(activity: Activity | None, settings: ParticipationSettings) -> Level:
    """The level for activity measured over ``settings.window_weeks``."""
    if activity is None:
        return Level.INACTIVE
    if (
        activity.messages >= settings.core_min_messages
        and activity.active_days >= settings.core_min_active_days
    ):
        return Level.CORE
    if activity.messages >= settings.active_min_messages:
        return Level.ACTIVE
    if activity.messages + activity.reactions_given >= settings.peripheral_min_actions:
        return Level.PERIPHERAL
    return Level.INACTIVE


async def stats(
    store: Store,
    community: str,
    settings: ParticipationSettings,
    start: datetime,
    end: datetime,
    *,
    theme: str | None,
    day_offset: int,
) -> tuple[dict[int, Activity], dict[Level, int], int]:
    """Activity per person in the period, levels over the window ending with the period, and
    how many persons may be named (linked accounts are one person: storage.identities)."""
    period = (int(start.timestamp()), int(end.timestamp()))
    levels_window = (int((end - timedelta(weeks=settings.window_weeks)).timestamp()), period[1])
    async with store.transaction() as tx:  # the rollups both reads need, brought up to date
        for first, last in (period, levels_window):
            await activity_store.refresh_activity(tx, community, first, last, day_offset=day_offset)
    per_member = await activity_store.activity(
        store, community, *period, theme=theme, day_offset=day_offset
    )
    window = await activity_store.activity(
        store, community, *levels_window, theme=theme, day_offset=day_offset
    )
    people = identities.people(
        await visible_members(store, community), await identities.persons(store, community)
    )
    levels = {level: 0 for level in Level}
    for person in people:
        levels[level_of(window.get(person), settings)] += 1
    return per_member, levels, len(people)


def render_stats(
    t: Translator,
    label: str,
    theme_name: str | None,
    per_member: dict[int, Activity],
    levels: dict[Level, int],
    names: dict[int, str],
    window_weeks: int,
) -> str:
    where = theme_name or t._("the whole community")
    total = sum(a.messages for a in per_member.values())
    lines = [
        t._("**Participation in {where}, {period}**", where=where, period=label),
        " ".join(
            (
                t.n_("{n} message,", "{n} messages,", total),
                t.n_(
                    "{n} reply,", "{n} replies,", sum(a.replies_given for a in per_member.values())
                ),
                t.n_(
                    "{n} reaction,",
                    "{n} reactions,",
                    sum(a.reactions_given for a in per_member.values()),
                ),
                t.n_(
                    "{n} new thread;",
                    "{n} new threads;",
                    sum(a.threads_started for a in per_member.values()),
                ),
                t.n_(
                    "{n} person took part.",
                    "{n} people took part.",
                    sum(1 for a in per_member.values() if a.messages or a.reactions_given),
                ),
            )
        ),
        t.n_(
            "Levels over the last week: {core} core, {active} active, "
            "{peripheral} peripheral, {inactive} inactive.",
            "Levels over the last {n} weeks: {core} core, {active} active, "
            "{peripheral} peripheral, {inactive} inactive.",
            window_weeks,
            core=levels[Level.CORE],
            active=levels[Level.ACTIVE],
            peripheral=levels[Level.PERIPHERAL],
            inactive=levels[Level.INACTIVE],
        ),
    ]
    ranked = sorted(
        (
            (a.messages, a.replies_received, member_id)
            for member_id, a in per_member.items()
            if a.messages
        ),
        reverse=True,
    )[:5]
    if ranked:
        lines.append(t._("Most involved in conversation:"))
        for messages, replies_received, member_id in ranked:
            lines.append(
                "- "
                + t.n_(
                    "{name}: {n} message",
                    "{name}: {n} messages",
                    messages,
                    name=names.get(member_id, "?"),
                )
                + t.n_(", {n} reply received", ", {n} replies received", replies_received)
            )
    return "\n".join(lines)
