"""Prompts: posting each theme's next queued question, and reviving themes that fell silent."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.community import Community
from bot.delivery import Outcome, failures, post_each
from bot.events import key_parts
from bot.outgoing import OutgoingMessage, literal
from storage import activity, facilitation


async def post_next(community: Community, theme_id: str, now: datetime) -> str:
    """Post the theme's next queued prompt to its places (one per platform). Returns what
    happened, for the run log; a run that could not post everywhere fails, and its next try
    posts only where the prompt is not yet."""
    themes = community.themes
    theme = themes.themes[theme_id]
    places = themes.prompt_places(theme)
    if not places:
        return f"{theme_id}: no place to post"
    queued = await facilitation.next_prompt(community.store, community.id, theme_id)
    if queued is None:
        return f"{theme_id}: queue empty"
    t = community.translator
    text = t._("**Prompt for {theme}:** {text}", theme=theme.name, text=literal(queued.text))

    async def render(place: str) -> OutgoingMessage:
        return OutgoingMessage(text)

    postings = await post_each(community, f"prompt:{queued.id}", places, render)
    told = "; ".join(str(posting) for posting in postings)
    if failures(postings, off=False):
        # Kept queued: the run's next try posts it where the platform refused it, and only there.
        raise RuntimeError(f"{theme_id}: prompt {queued.id}: {told}")
    # Its responses are measured from the first place it reached (or where it was meant to go).
    first = next((p for p in postings if p.outcome is not Outcome.OFF), postings[0])
    async with community.store.transaction() as tx:
        await facilitation.mark_prompt_posted(
            tx, queued.id, int(now.timestamp()), first.place, first.message_id
        )
    return f"{theme_id}: prompt {queued.id} {told}"


async def revive_dormant(community: Community, now: datetime) -> str:
    """Mark themes silent for ``dormancy.after_days`` as dormant and revive each once: with its
    next queued prompt, or, when the queue is empty, with a gentle built-in one; the theme's
    leaders and the facilitators are then told privately that its queue needs them."""
    after = timedelta(days=community.config.dormancy.after_days)
    last = await activity.theme_last_activity(community.store, community.id)
    dormant = await facilitation.dormant_since(community.store, community.id)
    outcomes = []
    for theme_id in community.themes.themes:
        quiet_since = last.get(theme_id)
        if quiet_since is None:
            continue  # never active since Trellis arrived: nothing to revive yet
        is_dormant = now.timestamp() - quiet_since >= after.total_seconds()
        if is_dormant and theme_id not in dormant:
            async with community.store.transaction() as tx:
                await facilitation.set_dormant(tx, community.id, theme_id, int(now.timestamp()))
                builtin = await facilitation.next_prompt(tx, community.id, theme_id) is None
                if builtin:
                    text = builtin_prompt(community, theme_id)
                    at = int(now.timestamp())
                    await facilitation.add_prompt(tx, community.id, theme_id, text, None, at)
            posted = await post_next(community, theme_id, now)
            if builtin:
                told = await _tell_stewards_the_queue_is_empty(community, theme_id)
                posted = f"{posted} (built-in; {told} told the queue is empty)"
            outcomes.append(posted)
        elif not is_dormant and theme_id in dormant:
            async with community.store.transaction() as tx:
                await facilitation.set_dormant(tx, community.id, theme_id, None)
    return "; ".join(outcomes) or "no theme newly dormant"


def builtin_prompt(community: Community, theme_id: str) -> str:
    """The question that revives a quiet theme whose queue is empty, in the community's language."""
    t = community.translator
    theme = community.settings.themes[theme_id]
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


async def _tell_stewards_the_queue_is_empty(community: Community, theme_id: str) -> int:
    """DM the theme's leaders and the facilitators named by member key (not by role or power)."""
    settings = community.settings
    theme = settings.themes[theme_id]
    told = 0
    for key in dict.fromkeys([*theme.leaders, *settings.roles.facilitators]):
        platform = key_parts(key)[0]
        if not community.on(platform):
            continue  # a role or power level, or a platform that is not connected
        prefix = community.command_prefix(platform)
        t = await community.translator_of(key)
        text = t.n_(
            "{theme} has been quiet for {n} day and its prompt queue was empty, so I asked a "
            "general question there. A question of your own would do better: "
            "{prefix}prompt add {theme_id} <your question>",
            "{theme} has been quiet for {n} days and its prompt queue was empty, so I asked a "
            "general question there. A question of your own would do better: "
            "{prefix}prompt add {theme_id} <your question>",
            community.config.dormancy.after_days,
            theme=theme.name,
            prefix=prefix,
            theme_id=theme_id,
        )
        await community.direct(key, OutgoingMessage(text))
        told += 1
    return told
