"""Commands for facilitators and theme leaders: statistics, outreach, prompts, digests, themes."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.commands.context import CommandContext, CommandError
from bot.commands.paging import paged
from bot.commands.parsing import Period
from bot.commands.spec import PAGE, CommandSpec, Param, ParamKind, Permission
from bot.delivery import Outcome
from bot.events import key_parts
from bot.monitoring.responses import first_response_lines, first_responses
from bot.outgoing import OutgoingMessage, literal
from bot.services import digest, nudges, participation
from bot.services.digest import DigestOutcome, whole_digest_file
from bot.themes import Theme
from storage import activity, facilitation, members, privacy, web

LINK_VALID = timedelta(minutes=15)
"""How long a dashboard link sent in chat opens the dashboard (once)."""


def _day(ctx: CommandContext, epoch: int | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).astimezone(ctx.tz).strftime("%Y-%m-%d")


async def stats(ctx: CommandContext, theme: Theme | None, period: Period | None) -> str:
    if period is None:
        period = Period(
            ctx.now - timedelta(weeks=4), ctx.now + timedelta(seconds=1), ctx._("the last 4 weeks")
        )
    offset = ctx.day_offset
    settings = ctx.config.participation
    per_member, levels, _ = await participation.stats(
        ctx.store,
        ctx.community.id,
        settings,
        period.start,
        period.end,
        theme=theme.id if theme else None,
        day_offset=offset,
    )
    names = await privacy.visible_members(ctx.store, ctx.community.id)
    found = await first_responses(
        ctx.store,
        ctx.community.id,
        {theme_id: known.name for theme_id, known in ctx.themes.themes.items()},
        int(period.start.timestamp()),
        int(period.end.timestamp()),
        theme.id if theme else None,
    )
    responses = first_response_lines(ctx.translator, found)
    text = participation.render_stats(
        ctx.translator,
        period.label,
        theme.name if theme else None,
        per_member,
        levels,
        {member_id: literal(name) for member_id, name in names.items()},
        settings.window_weeks,
    )
    if responses:
        text += "\n" + ctx._("Time to first response (median):") + "\n" + "\n".join(responses)
    return text


async def quiet(ctx: CommandContext, page: int | None = None) -> str:
    found = await nudges.quiet_list(ctx.community, ctx.now)
    if not found:
        return ctx._("Nobody is quiet right now: everyone has taken part recently.")
    lines = []
    for member in found:
        if member.kind == "newcomer":
            what = ctx._("joined {date}, has not posted yet", date=_day(ctx, member.since))
        else:
            what = ctx._("last posted {date}", date=_day(ctx, member.since))
        notes = []
        if member.reacted:
            notes.append(ctx._("reacts to others' messages"))
        if member.last_nudged_at:
            notes.append(ctx._("nudged {date}", date=_day(ctx, member.last_nudged_at)))
        if member.unreachable_at:
            notes.append(ctx._("does not accept direct messages"))
        if member.nudges_off:
            notes.append(ctx._("turned nudges off"))
        suffix = f" ({'; '.join(notes)})" if notes else ""
        lines.append(f"- {literal(member.name)}: {what}{suffix}")
    return paged(ctx, [ctx._("**Members you might reach out to personally**")], lines, page)


async def prompt_add(ctx: CommandContext, theme: Theme, text: str) -> str:
    text = text.strip()
    if len(text) < 10:
        raise CommandError("A prompt needs a real question of at least 10 characters.")
    async with ctx.transaction() as tx:
        prompt_id = await facilitation.add_prompt(
            tx, ctx.community.id, theme.id, text, ctx.member.id, int(ctx.now.timestamp())
        )
        queued = await facilitation.prompts(tx, ctx.community.id, theme.id, queued_only=True)
    return ctx._(
        "Prompt {id} queued for {theme} ({position} in line).",
        id=prompt_id,
        theme=theme.name,
        position=len(queued),
    )


async def prompt_list(ctx: CommandContext, theme: Theme | None, page: int | None = None) -> str:
    theme_ids = [theme.id] if theme else ctx.scope.themes(ctx.themes.themes)
    lines = []
    for theme_id in theme_ids:
        for prompt in await facilitation.prompts(ctx.store, ctx.community.id, theme_id):
            state = (
                ctx._("posted {date}", date=_day(ctx, prompt.posted_at))
                if prompt.posted_at
                else ctx._("queued")
            )
            lines.append(
                f"- #{prompt.id} [{ctx.themes.themes[theme_id].name}, {state}] {literal(prompt.text)}"
            )
    if not lines:
        return ctx._(
            "No prompts yet; add one with {prefix}prompt add <theme> <text>.",
            prefix=ctx.prefix,
        )
    return paged(ctx, [ctx._("**Prompts**")], lines, page)


async def prompt_remove(ctx: CommandContext, id: int) -> str:
    async with ctx.transaction() as tx:
        prompt = await facilitation.prompt(tx, ctx.community.id, id)
        if prompt is None:
            raise CommandError(
                "There is no prompt #{id}; {prefix}prompt list shows their numbers.",
                id=id,
                prefix=ctx.prefix,
            )
        if not ctx.scope.covers_theme(prompt.theme):
            raise CommandError("Prompt #{id} belongs to a theme you do not lead.", id=id)
        if prompt.posted_at is not None:
            raise CommandError("Prompt #{id} was already posted; it stays in the record.", id=id)
        await facilitation.remove_prompt(tx, ctx.community.id, id)
    return ctx._("Prompt #{id} removed.", id=id)


async def digest_preview(ctx: CommandContext, full: str | None = None) -> OutgoingMessage:
    preview = await digest.preview(ctx.community, ctx.now, full=full is not None)
    if len(preview.text) <= ctx.message_limit:
        return preview
    # Longer than one message: the answer shows its start, the file the whole of it.
    whole = whole_digest_file(ctx.translator, f"digest-preview-{ctx.community.id}.md", preview.text)
    return replace(preview, attachments=(*preview.attachments, whole))


async def digest_post(ctx: CommandContext) -> str:
    if not ctx.settings.digest.places:
        raise CommandError(
            "No digest channel is configured; set digest.channel for this community first."
        )
    end = ctx.now + timedelta(seconds=1)  # as previewed
    posting = await digest.post_week(ctx.community, end, request=ctx.invocation.invocation_id)
    if posting.outcome is DigestOutcome.NOTHING:
        return ctx._("Nothing to post this week: nobody wrote, reacted or joined in 7 days.")
    lines = []
    for place in posting.places:
        shown = await ctx.community.place_name(place.place)
        if place.outcome in (Outcome.FAILED, Outcome.OFF):
            lines.append(
                ctx._("Could not post in {place}: {reason}", place=shown, reason=place.reason)
            )
        elif place.outcome is Outcome.ALREADY:
            lines.append(ctx._("This digest was already posted to {place}.", place=shown))
        else:
            lines.append(ctx._("Digest posted to {place}.", place=shown))
    return "\n".join(lines)


async def theme_list(ctx: CommandContext, page: int | None = None) -> str:
    dormant = await facilitation.dormant_since(ctx.store, ctx.community.id)
    lines = []
    for theme in ctx.themes.themes.values():
        flag = " (" + ctx._("dormant") + ")" if theme.id in dormant else ""
        lines.append(f"- `{theme.id}` {theme.name}{flag}")
    return paged(ctx, [ctx._("**Themes**")], lines, page)


async def theme_show(ctx: CommandContext, theme: Theme) -> str:
    end = int(ctx.now.timestamp())
    # In the community's day offset, as stats asks: the week's whole days come from the rollups.
    offset = ctx.day_offset
    start = end - 7 * 86400
    async with ctx.transaction() as tx:
        await activity.refresh_activity(tx, ctx.community.id, start, end, day_offset=offset)
    week = await activity.activity(
        ctx.store, ctx.community.id, start, end, theme=theme.id, day_offset=offset
    )
    queued = await facilitation.prompts(ctx.store, ctx.community.id, theme.id, queued_only=True)
    dormant = await facilitation.dormant_since(ctx.store, ctx.community.id)
    places = [await ctx.community.place_name(place) for place in theme.settings.places]
    writers = [member for member, done in week.items() if done.messages]
    reactors = sum(1 for done in week.values() if not done.messages and done.reactions_given)
    lines = [
        f"**{theme.name}** (`{theme.id}`)",
        ctx._("Learning goal: {goal}", goal=theme.settings.learning_goal or "—"),
        ctx._("Places: {places}", places=", ".join(places) or "—"),
        ctx.n_(
            "This week: {n} message from {people}.",
            "This week: {n} messages from {people}.",
            sum(a.messages for a in week.values()),
            people=ctx.n_("{n} person", "{n} people", len(writers))
            + (ctx.n_(" ({n} more reacted)", " ({n} more reacted)", reactors) if reactors else ""),
        ),
        ctx._("Prompts queued: {count}", count=len(queued)),
    ]
    if theme.id in dormant:
        lines.append(ctx._("Dormant since {date}.", date=_day(ctx, dormant[theme.id])))
    return "\n".join(lines)


async def theme_leaders(ctx: CommandContext, theme: Theme) -> str:
    names = []
    for key in theme.settings.leaders:
        row = await members.by_key(ctx.store, ctx.community.id, key)
        names.append(literal(row.name) if row else key_parts(key)[1])
    if not names:
        return ctx._("{theme} has no leaders yet.", theme=theme.name)
    return ctx._("{theme} is led by {names}.", theme=theme.name, names=", ".join(names))


_THEME = Param("theme", ParamKind.THEME, "A theme")


async def dashboard(ctx: CommandContext) -> str:
    """A one-time link to the web dashboard, for the member who asked alone."""
    settings = ctx.config.web
    if settings is None:
        raise CommandError(
            "The dashboard is not set up here: whoever runs Trellis can add a [web] section "
            "to its configuration."
        )
    token = secrets.token_urlsafe(32)
    expires = int((ctx.now + LINK_VALID).timestamp())
    async with ctx.transaction() as db:
        await web.add_link(db, token, ctx.member.id, int(ctx.permission), expires)
    link = settings.public_url + "/login/" + token
    return ctx._(
        "Your link to the dashboard, for you alone: <{link}> (it opens it once, within 15 "
        "minutes; ask again for a new one).",
        link=link,
    )


COMMANDS = (
    CommandSpec(
        "stats",
        "Participation for the community or a theme over a period (default: 4 weeks).",
        stats,
        (
            Param("theme", ParamKind.THEME, "A theme", required=False),
            Param("period", ParamKind.PERIOD, "7d, 4w, 2026-W40, 2026-10, 2026-Q4", required=False),
        ),
        permission=Permission.FACILITATOR,
        private=True,
    ),
    CommandSpec(
        "quiet",
        "Members who joined and never spoke, or went quiet: your outreach list.",
        quiet,
        (PAGE,),
        permission=Permission.FACILITATOR,
        private=True,
    ),
    CommandSpec(
        "prompt add",
        "Queues a discussion prompt for a theme.",
        prompt_add,
        (_THEME, Param("text", ParamKind.TEXT, "The question to ask")),
        permission=Permission.THEME_LEADER,
        private=True,
    ),
    CommandSpec(
        "prompt list",
        "Lists queued and posted prompts.",
        prompt_list,
        (Param("theme", ParamKind.THEME, "A theme", required=False), PAGE),
        permission=Permission.THEME_LEADER,
        private=True,
    ),
    CommandSpec(
        "prompt remove",
        "Removes a queued prompt.",
        prompt_remove,
        (Param("id", ParamKind.INTEGER, "The prompt's number"),),
        permission=Permission.THEME_LEADER,
        private=True,
    ),
    CommandSpec(
        "digest preview",
        "Shows the digest as it would be posted now, only to you.",
        digest_preview,
        (
            Param(
                "full",
                ParamKind.CHOICE,
                "full: the whole digest, not the one-message version",
                choices=("full",),
                required=False,
            ),
        ),
        permission=Permission.FACILITATOR,
        private=True,
    ),
    CommandSpec(
        "digest post",
        "Posts the digest of the last 7 days to the digest channel now.",
        digest_post,
        permission=Permission.FACILITATOR,
        private=True,
    ),
    CommandSpec(
        "theme list",
        "Lists themes, marking dormant ones.",
        theme_list,
        (PAGE,),
        permission=Permission.FACILITATOR,
    ),
    CommandSpec(
        "theme show",
        "Shows a theme's goal, places, week and prompt queue.",
        theme_show,
        (_THEME,),
        permission=Permission.FACILITATOR,
    ),
    CommandSpec(
        "dashboard",
        "Sends you a one-time link to the web dashboard.",
        dashboard,
        permission=Permission.THEME_LEADER,
        private=True,
    ),
    CommandSpec(
        "theme leaders",
        "Shows who leads a theme.",
        theme_leaders,
        (_THEME,),
        permission=Permission.FACILITATOR,
    ),
)
