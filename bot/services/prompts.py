"""Prompts: posting each theme's next queued question, and reviving themes that fell silent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.events import key_parts
from bot.outgoing import OutgoingMessage, literal
from storage import activity, facilitation

if TYPE_CHECKING:
    from bot.app import Trellis


async def post_next(app: Trellis, community: str, theme_id: str, now: datetime) -> str:
    """Post the theme's next queued prompt to its place. Returns what happened, for the run log."""
    themes = app.themes[community]
    theme = themes.themes[theme_id]
    place = themes.prompt_place(theme)
    if place is None:
        return f"{theme_id}: no place to post"
    queued = await facilitation.next_prompt(app.store, community, theme_id)
    if queued is None:
        return f"{theme_id}: queue empty"
    t = app.translator(community)
    text = t._("**Prompt for {theme}:** {text}", theme=theme.name, text=literal(queued.text))
    sent = await app.post(community, place, OutgoingMessage(text))
    async with app.store.transaction() as tx:
        await facilitation.mark_prompt_posted(
            tx,
            queued.id,
            int(now.timestamp()),
            place,
            sent.message_ids[0] if sent and sent.message_ids else None,
        )
    return f"{theme_id}: prompt {queued.id} posted"


async def revive_dormant(app: Trellis, community: str, now: datetime) -> str:
    """Mark themes silent for ``dormancy.after_days`` as dormant and revive each once: with its
    next queued prompt, or, when the queue is empty, with a gentle built-in one; the theme's
    leaders and the facilitators are then told privately that its queue needs them."""
    after = timedelta(days=app.settings.dormancy.after_days)
    last = await activity.theme_last_activity(app.store, community)
    dormant = await facilitation.dormant_since(app.store, community)
    outcomes = []
    for theme_id in app.themes[community].themes:
        quiet_since = last.get(theme_id)
        if quiet_since is None:
            continue  # never active since Trellis arrived: nothing to revive yet
        is_dormant = now.timestamp() - quiet_since >= after.total_seconds()
        if is_dormant and theme_id not in dormant:
            async with app.store.transaction() as tx:
                await facilitation.set_dormant(tx, community, theme_id, int(now.timestamp()))
                builtin = await facilitation.next_prompt(tx, community, theme_id) is None
                if builtin:
                    text = builtin_prompt(app, community, theme_id)
                    at = int(now.timestamp())
                    await facilitation.add_prompt(tx, community, theme_id, text, None, at)
            posted = await post_next(app, community, theme_id, now)
            if builtin:
                told = await _tell_stewards_the_queue_is_empty(app, community, theme_id)
                posted = f"{posted} (built-in; {told} told the queue is empty)"
            outcomes.append(posted)
        elif not is_dormant and theme_id in dormant:
            async with app.store.transaction() as tx:
                await facilitation.set_dormant(tx, community, theme_id, None)
    return "; ".join(outcomes) or "no theme newly dormant"


def builtin_prompt(app: Trellis, community: str, theme_id: str) -> str:
    """The question that revives a quiet theme whose queue is empty, in the community's language."""
    t = app.translator(community)
    theme = app.community(community).themes[theme_id]
    if theme.learning_goal:
        return t._(
            "It has been quiet here for a while. Our goal in this theme is: “{goal}” "
            "What is one thing you tried, saw or wondered about lately that brings us closer "
            "to it?",
            goal=literal(theme.learning_goal),
        )
    return t._(
        "It has been quiet here for a while. What is one thing from your work lately, big or "
        "small, that others here could learn from?"
    )


async def _tell_stewards_the_queue_is_empty(app: Trellis, community: str, theme_id: str) -> int:
    """DM the theme's leaders and the facilitators named by member key (not by role or power)."""
    settings = app.community(community)
    theme = settings.themes[theme_id]
    told = 0
    for key in dict.fromkeys([*theme.leaders, *settings.roles.facilitators]):
        platform = key_parts(key)[0]
        if platform not in app.adapters:
            continue  # a role or power level, or a platform that is not connected
        prefix = app.command_prefix(platform)
        t = await app.translator_of(community, key)
        text = t.n_(
            "{theme} has been quiet for {n} day and its prompt queue was empty, so I asked a "
            "general question there. A question of your own would do better: "
            "{prefix}prompt add {theme_id} <your question>",
            "{theme} has been quiet for {n} days and its prompt queue was empty, so I asked a "
            "general question there. A question of your own would do better: "
            "{prefix}prompt add {theme_id} <your question>",
            app.settings.dormancy.after_days,
            theme=theme.name,
            prefix=prefix,
            theme_id=theme_id,
        )
        await app.direct(community, key, OutgoingMessage(text))
        told += 1
    return told
