"""Nudges: one kind direct message to members who joined and never spoke, or went quiet.

At most one per member per cooldown, never to opted-out members or those who turned nudges
off, a cap per day, and members whose direct messages are closed are not retried every day.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.commands.permissions import permission_of, runs_the_community
from bot.community import Community
from bot.events import MemberRef, key_parts
from bot.outgoing import OutgoingMessage, literal
from bot.ports import Delivery
from storage import activity, facilitation

log = logging.getLogger(__name__)


async def quiet_list(community: Community, now: datetime) -> list[facilitation.QuietMember]:
    """Who has gone quiet. Facilitators, theme leaders and admins who never posted are not
    newcomers waiting for a welcome: they run the community, often by command alone."""
    settings = community.config.nudges
    found = await facilitation.quiet_members(
        community.store,
        community.id,
        newcomer_before=int((now - timedelta(days=settings.newcomer_after_days)).timestamp()),
        silent_before=int((now - timedelta(weeks=settings.silent_after_weeks)).timestamp()),
    )
    return [
        member
        for member in found
        if member.kind != "newcomer" or not await _runs_the_community(community, member.key)
    ]


async def _runs_the_community(community: Community, member_key: str) -> bool:
    return runs_the_community(await permission_of(community, MemberRef(*key_parts(member_key))))


def due_for_nudge(member: facilitation.QuietMember, now: int, cooldown: int) -> bool:
    if member.nudges_off:
        return False
    if member.last_nudged_at is not None and now - member.last_nudged_at < cooldown:
        return False
    return not (member.unreachable_at is not None and now - member.unreachable_at < cooldown)


async def nudge_text(community: Community, member: facilitation.QuietMember) -> str:
    t = await community.translator_of(member.key)
    settings = community.settings
    themes = community.themes
    prefix = community.command_prefix(key_parts(member.key)[0])
    prompt = None
    for theme_id in await activity.themes_of_member(community.store, member.member_id) or list(
        themes.themes
    ):
        prompt = await facilitation.current_prompt(community.store, community.id, theme_id)
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


async def send_nudges(community: Community, now: datetime) -> str:
    """The daily scan: nudge who is due, within the daily cap. Returns a summary for the run log."""
    settings = community.config.nudges
    if not settings.enabled:
        return "nudges disabled"
    at = int(now.timestamp())
    tz = ZoneInfo(community.settings.timezone)
    local = now.astimezone(tz)
    day_start = int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
    budget = settings.daily_cap - await facilitation.nudges_since(
        community.store, community.id, day_start
    )
    sent = unreachable = 0
    for member in await quiet_list(community, now):
        if budget <= 0:
            break
        if not due_for_nudge(member, at, settings.cooldown_days * 86400):
            continue
        message = OutgoingMessage(await nudge_text(community, member))
        delivery = await community.direct(member.key, message)
        delivered = delivery is Delivery.DELIVERED
        async with community.store.transaction() as tx:
            await facilitation.record_nudge(
                tx, community.id, member.member_id, member.kind, at, delivered=delivered
            )
        budget -= 1
        sent += delivered
        unreachable += not delivered
    return f"{sent} nudged, {unreachable} unreachable"
