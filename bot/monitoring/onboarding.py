"""Onboarding: a welcome direct message to each new member with the community's charter, its
themes and their learning goals, and how to set a profile so the others know whom to ask.

The PraxisNote: a record of the community's purpose and history "made it easier to integrate new
members". Facilitators learn of newcomers in the digest's welcome section (the core's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.clock import epoch
from bot.events import MemberJoined
from bot.outgoing import OutgoingMessage, literal
from bot.ports import Delivery
from storage import members, onboarding

if TYPE_CHECKING:
    from bot.app import Trellis
    from bot.config import CommunitySettings
    from bot.i18n import Translator

COMMANDS = ()


def welcome_text(
    translator: Translator,
    settings: CommunitySettings,
    name: str,
    prefix: str,
    history: str | None = None,
) -> str:
    """The welcome; ``history`` is the address of the community's history site, if it has one."""
    _ = translator._
    parts = [_("**Welcome to {community}, {name}!**", community=settings.name, name=name)]
    if settings.charter.strip():
        parts.append(settings.charter.strip())
    if settings.themes:
        lines = [_("**Our themes**")]
        for theme in settings.themes.values():
            goal = f": {theme.learning_goal}" if theme.learning_goal else ""
            lines.append(f"- **{theme.name}**{goal}")
        parts.append("\n".join(lines))
    if history:
        parts.append(
            _(
                "What the community has done so far, its digests and its library: <{link}>",
                link=history,
            )
        )
    parts.append(
        _(
            "Tell the others who you are, so they know whom to ask about what:\n"
            "{prefix}profile set organisation:… expertise:… languages:… prefers:…",
            prefix=prefix,
        )
    )
    parts.append(
        _(
            "Trellis keeps a record of who takes part, to credit contributors and summarise the "
            "week; {prefix}mydata shows what it holds about you and {prefix}optout stops it.",
            prefix=prefix,
        )
    )
    return "\n\n".join(parts)


async def welcome(app: Trellis, event: MemberJoined) -> None:
    """Welcome a member once, however often their join is seen (replays, rejoins); members who
    were already there when Trellis looked (``live`` false) are not newcomers."""
    if event.member.is_bot or not event.live:
        return
    row = await members.by_key(app.store, event.community, event.member.key)
    if row is None or row.is_bot or row.opted_out:
        return
    async with app.store.transaction() as tx:
        claimed = await onboarding.claim_welcome(tx, row.id, epoch(event.occurred_at))
    if not claimed:
        return
    text = welcome_text(
        await app.translator_of(event.community, row.key),
        app.community(event.community),
        literal(row.name),
        app.command_prefix(event.member.platform),
        _history_link(app, event.community),
    )
    outcome = await app.direct(event.community, row.key, OutgoingMessage(text))
    async with app.store.transaction() as tx:
        await onboarding.welcome_delivered(tx, row.id, delivered=outcome is Delivery.DELIVERED)


def _history_link(app: Trellis, community: str) -> str | None:
    """The community's page on the history site (``site.public_url``), which has a folder per
    community."""
    base = app.settings.site.public_url
    return f"{base}/{community}/index.html" if base else None


def install(app: Trellis) -> None:
    async def listener(event: MemberJoined) -> None:
        await welcome(app, event)

    app.engine.listen(MemberJoined, listener)
