"""Surveys for evaluation and impact: a monthly pulse (satisfaction, sense of ownership, whom a
member learned from) and a quarterly story of change, asked by direct message and answered with a
command. Answers are stored without the member; results are shown only for groups large enough
that nobody can be picked out, and move only in steps of such a group (storage.surveys.answer).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.clock import epoch
from bot.commands.context import CommandContext, CommandError
from bot.commands.parsing import Period, excerpt
from bot.commands.spec import CommandSpec, Param, ParamKind, Permission
from bot.community import Community
from bot.events import key_parts
from bot.monitoring.common import about_period
from bot.outgoing import OutgoingMessage, literal
from bot.ports import Delivery
from storage import surveys
from storage.contract import Reads
from storage.privacy import visible_members

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.config import CommunitySettings, SurveySettings
    from storage.members import MemberRow

STORY_CHARS = 2000


def schedule_of(settings: CommunitySettings) -> SurveySettings:
    return settings.surveys


def pulse_cron(community: Community) -> str | None:
    """When the monthly pulse is asked; None where surveys are off."""
    schedule = schedule_of(community.settings)
    return schedule.pulse_cron if schedule.enabled else None


def impact_cron(community: Community) -> str | None:
    """When the quarterly story of change is asked; None where surveys are off."""
    schedule = schedule_of(community.settings)
    return schedule.impact_cron if schedule.enabled else None


def period_label(kind: str, due_at: datetime, tz: ZoneInfo) -> str:
    """The month (pulse) or quarter (impact) a survey asks about: the one that holds the day a
    week before it is asked, so a survey sent in the first days of a month or quarter asks about
    the one just ended."""
    day = (due_at.astimezone(tz) - timedelta(days=7)).date()
    if kind == "pulse":
        return f"{day.year}-{day.month:02d}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def invitation(
    _: Callable[..., str], kind: str, community: str, period: str, min_size: int, prefix: str
) -> str:
    if kind == "pulse":
        return _(
            "**Monthly pulse, {period}**\n"
            "How is {community} going for you? Answer with:\n"
            "{prefix}pulse <satisfaction 1-5> <ownership 1-5> [@someone you learned from this "
            "month]\n"
            "- satisfaction: how useful and welcoming the community was for you "
            "(1 = not at all, 5 = very)\n"
            "- ownership: how much you feel the community is yours too "
            "(1 = not at all, 5 = fully)\n"
            "Your answer is stored without your name, and results are shown only once at least "
            "{min} people have answered.",
            period=period,
            community=community,
            min=min_size,
            prefix=prefix,
        )
    return _(
        "**Story of change, {period}**\n"
        "Has anything changed in your work or in your organisation thanks to {community}? "
        "Tell it in a few sentences with:\n"
        "{prefix}story <your story>\n"
        "Stories are stored without your name and shared only once at least {min} people have "
        "answered.",
        period=period,
        community=community,
        min=min_size,
        prefix=prefix,
    )


async def ask(community: Community, kind: str, due_at: datetime) -> str:
    """Open the survey for the period and send it to every member Trellis may ask."""
    settings = community.settings
    tz = ZoneInfo(settings.timezone)
    period = period_label(kind, due_at, tz)
    async with community.store.transaction() as tx:
        survey = await surveys.open_survey(tx, community.id, kind, period, epoch(due_at))
    if survey is None:
        return f"{kind} {period} was already asked"
    delivered = 0
    recipients = await surveys.members_to_ask(community.store, community.id)
    for member_id, key in recipients:
        text = invitation(
            (await community.translator_of(key))._,
            kind,
            settings.name,
            period,
            schedule_of(settings).min_group_size,
            community.command_prefix(key_parts(key)[0]),
        )
        outcome = await community.direct(key, OutgoingMessage(text))
        async with community.store.transaction() as tx:
            await surveys.invite(tx, survey.id, member_id, delivered=outcome is Delivery.DELIVERED)
        delivered += outcome is Delivery.DELIVERED
    return f"{kind} {period} sent to {delivered} of {len(recipients)} members"


async def _waiting(ctx: CommandContext, db: Reads, kind: str) -> surveys.Survey:
    survey = await surveys.pending_survey(db, ctx.community.id, kind, ctx.member.id)
    if survey is not None:
        return survey
    asked = [
        s
        for s in await surveys.surveys(db, ctx.community.id, kind)
        if await surveys.has_answered(db, s.id, ctx.member.id)
    ]
    if asked:
        raise CommandError(
            "You have already answered for {period}; each member answers once. Thank you!",
            period=asked[-1].period,
        )
    if kind == "pulse":
        raise CommandError(
            "There is no pulse waiting for your answer; the next one comes by direct message."
        )
    raise CommandError(
        "There is no story of change waiting for your answer; the next request comes by "
        "direct message."
    )


def _score(value: int, name: str) -> int:
    if not 1 <= value <= 5:
        raise CommandError(
            "{name} is a number from 1 to 5, like pulse 4 3; {value} is outside that scale.",
            name=name,
            value=value,
        )
    return value


async def pulse(
    ctx: CommandContext,
    satisfaction: int,
    ownership: int,
    learned_from: MemberRow | None = None,
) -> str:
    _score(satisfaction, "satisfaction")
    _score(ownership, "ownership")
    if learned_from is not None and learned_from.person == ctx.member.person:
        raise CommandError("Name someone else you learned from this month, or leave it out.")
    async with ctx.transaction() as tx:
        survey = await _waiting(ctx, tx, "pulse")
        await surveys.answer(
            tx,
            survey.id,
            ctx.member.id,
            min_group=schedule_of(ctx.settings).min_group_size,
            satisfaction=satisfaction,
            ownership=ownership,
            learned_from=learned_from.id if learned_from else None,
        )
    return ctx._(
        "Thank you: your pulse for {period} is recorded, without your name.", period=survey.period
    )


async def story(ctx: CommandContext, text: str) -> str:
    text = " ".join(text.split())
    if len(text) > STORY_CHARS:
        raise CommandError(
            "Your story is {n} characters long; keep it under {limit}.",
            n=len(text),
            limit=STORY_CHARS,
        )
    async with ctx.transaction() as tx:
        survey = await _waiting(ctx, tx, "impact")
        await surveys.answer(
            tx,
            survey.id,
            ctx.member.id,
            min_group=schedule_of(ctx.settings).min_group_size,
            story=text,
        )
    return ctx._(
        "Thank you: your story for {period} is recorded, without your name.",
        period=survey.period,
    )


def _spread(values: tuple[int, ...]) -> str:
    return " · ".join(f"{score}: {values.count(score)}" for score in range(1, 6))


def describe_results(
    _: Callable[..., str],
    n_: Callable[..., str],
    result: surveys.SurveyAnswers,
    names: dict[int, str],
    min_size: int,
) -> str:
    """The facilitators' view of one survey; nothing but the count of those asked below
    ``min_size`` answers."""
    survey = result.survey
    if survey.kind == "pulse":
        heading = _("**Pulse, {period}**", period=survey.period)
    else:
        heading = _("**Stories of change, {period}**", period=survey.period)
    lines = [heading]
    if result.answers < min_size:
        lines.append(
            n_(
                "Fewer than {min} of the {n} member asked has answered: too few to show "
                "without risking identifying people.",
                "Fewer than {min} of the {n} members asked have answered: too few to show "
                "without risking identifying people.",
                result.invited,
                min=min_size,
            )
        )
        return "\n".join(lines)
    lines.append(
        _(
            "{answers} from {asked}.",
            answers=n_("{n} answer", "{n} answers", result.answers),
            asked=n_("{n} member asked", "{n} members asked", result.invited),
        )
    )
    if survey.kind == "pulse":
        for label, values in (
            (_("Satisfaction"), result.satisfaction),
            (_("Ownership"), result.ownership),
        ):
            average = sum(values) / len(values)
            lines.append(f"- {label}: {average:.1f} / 5 ({_spread(values)})")
        learned = sorted(
            ((count, names[m]) for m, count in result.learned_from.items() if m in names),
            key=lambda pair: (-pair[0], pair[1].casefold()),
        )
        if learned:
            lines.append(
                "- "
                + _(
                    "Learned from: {names}",
                    names=", ".join(f"{literal(name)} ({count})" for count, name in learned),
                )
            )
    else:
        lines += [f"> {literal(text)}" for text in result.stories]
    return "\n".join(lines)


async def results(ctx: CommandContext, period: Period | None = None) -> str:
    store = ctx.store
    every = await surveys.surveys(store, ctx.community.id)
    if period:
        chosen = [s for s in every if about_period(s.period, period.start, period.end, ctx.tz)]
        if not chosen:
            known = ", ".join(dict.fromkeys(s.period for s in every)) or "—"
            raise CommandError(
                "No survey was asked for “{period}”; surveys so far: {known}.",
                period=excerpt(period.label),
                known=known,
            )
    else:
        latest = {s.kind: s for s in every}
        chosen = [latest[kind] for kind in ("pulse", "impact") if kind in latest]
        if not chosen:
            return ctx._("No survey has been asked yet.")
    names = await visible_members(store, ctx.community.id)
    min_size = schedule_of(ctx.settings).min_group_size
    parts = [
        describe_results(ctx._, ctx.n_, await surveys.survey_answers(store, s), names, min_size)
        for s in chosen
    ]
    return "\n\n".join(parts)


COMMANDS = (
    CommandSpec(
        name="pulse",
        help="Answer the monthly pulse: satisfaction and ownership from 1 to 5, and whom you learned from.",
        handler=pulse,
        params=(
            Param("satisfaction", ParamKind.INTEGER, "1 (not at all) to 5 (very)"),
            Param("ownership", ParamKind.INTEGER, "1 (not at all) to 5 (fully)"),
            Param(
                "learned_from",
                ParamKind.MEMBER,
                "Someone you learned from this month",
                required=False,
            ),
        ),
        private=True,
    ),
    CommandSpec(
        name="story",
        help="Answer the quarterly survey with a story of change.",
        handler=story,
        params=(
            # Twice the story's bound: spaces are collapsed before story() measures it.
            Param(
                "text",
                ParamKind.TEXT,
                "What changed, in a few sentences",
                max_length=2 * STORY_CHARS,
            ),
        ),
        private=True,
    ),
    CommandSpec(
        name="survey results",
        help="Results of the latest pulse and story survey, or of one period (e.g. 2026-11, 2026-Q4).",
        handler=results,
        params=(
            Param(
                "period",
                ParamKind.PERIOD,
                "The month or quarter asked about, like 2026-11 or 2026-Q4",
                required=False,
            ),
        ),
        permission=Permission.FACILITATOR,
        private=True,
    ),
)


async def ask_pulse(community: Community, due: datetime) -> str:
    return await ask(community, "pulse", due)


async def ask_impact(community: Community, due: datetime) -> str:
    return await ask(community, "impact", due)
