"""Nudges: one kind direct message to members who joined and never spoke, or went quiet.

At most one per member per cooldown, never to opted-out members or those who turned nudges
off, a cap per day, and members whose direct messages are closed are not retried every day.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.commands.permissions import permission_of
from bot.commands.spec import Permission
from bot.events import MemberRef, key_parts
from bot.outgoing import OutgoingMessage, literal
from bot.ports import Delivery
from storage import activity, facilitation

if TYPE_CHECKING:
    from bot.app import Trellis

log = logging.getLogger(__name__)


async def quiet_list(app: Trellis, community: str, now: datetime) -> list[facilitation.QuietMember]:
    """Who has gone quiet. Facilitators, theme leaders and admins who never posted are not
    newcomers waiting for a welcome: they run the community, often by command alone."""
    settings = app.settings.nudges
    found = await facilitation.quiet_members(
        app.store,
        community,
        newcomer_before=int((now - timedelta(days=settings.newcomer_after_days)).timestamp()),
        silent_before=int((now - timedelta(weeks=settings.silent_after_weeks)).timestamp()),
    )
    return [
        member
        for member in found
        if member.kind != "newcomer" or not await _runs_the_community(app, community, member.key)
    ]


async def _runs_the_community(app: Trellis, community: str, member_key: str) -> bool:
    permission = await permission_of(app, community, MemberRef(*key_parts(member_key)))
    return permission is not Permission.MEMBER


def due_for_nudge(member: facilitation.QuietMember, now: int, cooldown: int) -> bool:
    if member.nudges_off:
        return False
    if member.last_nudged_at is not None and now - member.last_nudged_at < cooldown:
        return False
    return not (member.unreachable_at is not None and now - member.unreachable_at < cooldown)


async def nudge_text(app: Trellis, community: str, member: facilitation.QuietMember) -> str:
    t = await app.translator_of(community, member.key)
    settings = app.community(community)
    themes = app.themes[community]
    prefix = app.command_prefix(key_parts(member.key)[0])
    prompt = None
    for theme_id in await activity.themes_of_member(app.store, member.member_id) or list(
        themes.themes
    ):
        prompt = await facilitation.current_prompt(app.store, community, theme_id)
        if prompt is not None:
            break
    if member.reacted:
        opening = t._(
            "Hello {name}! Thank you for your reactions in {community}: they tell people their "
            "words landed. Whenever you feel like it, we'd love to read a few words of yours too.",
            name=literal(member.name),
            community=settings.name,
        )
    elif member.kind == "newcomer":
        opening = t._(
            "Hello {name}! It's good to have you in {community}. Whenever you're ready, "
            "the conversation would be richer with your experience.",
            name=literal(member.name),
            community=settings.name,
        )
    else:
        opening = t._(
            "Hello {name}, we've missed your voice in {community} lately. No pressure: "
            "if something here speaks to you, we'd love to hear from you.",
            name=literal(member.name),
            community=settings.name,
        )
    lines = [opening]
    if prompt is not None:
        theme = themes.themes.get(prompt.theme)
        lines.append(
            t._(
                "This week in {theme} we're asking: “{text}”",
                theme=theme.name if theme else prompt.theme,
                text=literal(prompt.text),
            )
        )
    lines.append(
        t._(
            "If you'd rather not get these messages, answer {prefix}nudges off.",
            prefix=prefix,
        )
    )
    return "\n\n".join(lines)


async def send_nudges(app: Trellis, community: str, now: datetime) -> str:
    """The daily scan: nudge who is due, within the daily cap. Returns a summary for the run log."""
    settings = app.settings.nudges
    if not settings.enabled:
        return "nudges disabled"
    at = int(now.timestamp())
    tz = ZoneInfo(app.community(community).timezone)
    local = now.astimezone(tz)
    day_start = int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
    budget = settings.daily_cap - await facilitation.nudges_since(app.store, community, day_start)
    sent = unreachable = 0
    for member in await quiet_list(app, community, now):
        if budget <= 0:
            break
        if not due_for_nudge(member, at, settings.cooldown_days * 86400):
            continue
        message = OutgoingMessage(await nudge_text(app, community, member))
        delivery = await app.direct(community, member.key, message)
        delivered = delivery is Delivery.DELIVERED
        async with app.store.transaction() as tx:
            await facilitation.record_nudge(
                tx, community, member.member_id, member.kind, at, delivered=delivered
            )
        budget -= 1
        sent += delivered
        unreachable += not delivered
    return f"{sent} nudged, {unreachable} unreachable"
