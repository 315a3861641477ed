"""Prompts: posting each theme's next queued question, and reviving themes that fell silent."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.outgoing import OutgoingMessage
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
    text = t._("**Prompt for {theme}:** {text}", theme=theme.name, text=queued.text)
    sent = await app.post(community, place, OutgoingMessage(text))
    await facilitation.mark_prompt_posted(
        app.store,
        queued.id,
        int(now.timestamp()),
        place,
        sent.message_ids[0] if sent and sent.message_ids else None,
    )
    return f"{theme_id}: prompt {queued.id} posted"


async def revive_dormant(app: Trellis, community: str, now: datetime) -> str:
    """Mark themes silent for ``dormancy.after_days`` as dormant and post a revival prompt once."""
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
            await facilitation.set_dormant(app.store, community, theme_id, int(now.timestamp()))
            outcomes.append(await post_next(app, community, theme_id, now))
        elif not is_dormant and theme_id in dormant:
            await facilitation.set_dormant(app.store, community, theme_id, None)
    return "; ".join(outcomes) or "no theme newly dormant"
