"""Commitments: responsibilities members take on, a reminder the day before they are due, and the
overdue list for facilitators. "To what extent people have fulfilled the responsibilities they
assumed" is one of the PraxisNote's monitoring indicators; the report reads the same table.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.clock import epoch
from bot.commands.context import CommandContext, CommandError
from bot.commands.paging import paged
from bot.commands.parsing import parse_date
from bot.commands.spec import PAGE, CommandSpec, Param, ParamKind, Permission
from bot.commands.words import forms, normal
from bot.community import Community
from bot.events import key_parts
from bot.monitoring.common import local_day, require_tracked
from bot.outgoing import OutgoingMessage, literal
from bot.ports import Delivery
from storage import commitments, identities

if TYPE_CHECKING:
    from storage.members import MemberRow

REMINDER_CRON = "0 9 * * *"
"""Daily, in the community's timezone: commitments due tomorrow (or today, if added late) are
reminded once."""


def parse_commitment(text: str, today: date) -> tuple[str, date]:
    """``write the case study by 2026-12-01`` -> ("write the case study", date(2026, 12, 1)).

    ``by`` may be typed in any language Trellis speaks (``para``, ``até``)."""
    words = text.split()
    if (
        len(words) < 3
        or normal(words[-2]) not in forms("by")
        or not any(ch.isalnum() for ch in "".join(words[:-2]))
    ):
        raise CommandError(
            "Write what you commit to and its due date, like commit write the case study by "
            "2026-12-01."
        )
    due = parse_date(words[-1])
    if due < today:
        raise CommandError(
            "{due} has already passed; give a due date from today on.", due=due.isoformat()
        )
    return " ".join(words[:-2]), due


async def commit(ctx: CommandContext, what: str) -> str:
    require_tracked(ctx)
    today = local_day(ctx.now, ctx.tz)
    text, due = parse_commitment(what, today)
    async with ctx.transaction() as tx:
        commitment_id = await commitments.add_commitment(
            tx, ctx.community.id, ctx.member.id, text, due.isoformat(), epoch(ctx.now)
        )
    return ctx._(
        "Noted: commitment {id}, “{what}”, due {due}. I will remind you the day before; "
        "write {prefix}done {id} when it is fulfilled.",
        prefix=ctx.prefix,
        id=commitment_id,
        what=literal(text),
        due=due.isoformat(),
    )


async def done(ctx: CommandContext, id: int) -> str:
    async with ctx.transaction() as tx:
        found = await commitments.commitment(tx, ctx.community.id, id)
        if found is None:
            raise CommandError(
                "There is no commitment {id}; commitments lists yours with their numbers.", id=id
            )
        mine = {account.id for account in await identities.accounts(tx, ctx.member.id)}
        if found.member_id not in mine and not ctx.scope.covers_item(found.member_id):
            raise CommandError(
                "Commitment {id} is someone else's; only they or a facilitator can mark it done.",
                id=id,
            )
        if found.done_at is not None:
            raise CommandError("Commitment {id} is already marked done.", id=id)
        await commitments.mark_done(tx, id, epoch(ctx.now))
    return ctx._(
        "Well done: commitment {id}, “{what}”, is fulfilled.", id=id, what=literal(found.what)
    )


def _line(ctx: CommandContext, item: commitments.Commitment, today: str, *, owner: bool) -> str:
    who = f"**{literal(item.name)}**: " if owner else ""
    if item.done_at is not None:
        state = ctx._("done")
    elif item.due_date < today:
        state = ctx._("overdue since {due}", due=item.due_date)
    else:
        state = ctx._("due {due}", due=item.due_date)
    return f"- {item.id}. {who}{literal(item.what)} — {state}"


async def list_commitments(
    ctx: CommandContext, member: MemberRow | None = None, page: int | None = None
) -> str:
    whom = member or ctx.member
    items = await commitments.commitments(ctx.store, ctx.community.id, member_id=whom.id)
    if not items:
        if whom.person == ctx.member.person:
            return ctx._("You have no commitments; take one on with commit <what> by <YYYY-MM-DD>.")
        return ctx._("That member has no commitments to show.")
    today = local_day(ctx.now, ctx.tz).isoformat()
    fulfilled = sum(1 for item in items if item.done_at is not None)
    heading = ctx.n_(
        "**{name}**: {done} of {n} commitment fulfilled",
        "**{name}**: {done} of {n} commitments fulfilled",
        len(items),
        name=literal(items[0].name),
        done=fulfilled,
    )
    lines = [_line(ctx, item, today, owner=False) for item in items]
    return paged(ctx, [heading], lines, page)


async def overdue(ctx: CommandContext, page: int | None = None) -> str:
    today = local_day(ctx.now, ctx.tz).isoformat()
    items = await commitments.overdue(ctx.store, ctx.community.id, today)
    if not items:
        return ctx._("No commitment is overdue.")
    heading = ctx.n_("**{n} overdue commitment**", "**{n} overdue commitments**", len(items))
    lines = [_line(ctx, item, today, owner=True) for item in items]
    return paged(ctx, [heading], lines, page)


async def send_reminders(community: Community, due_at: datetime) -> str:
    """DM each member whose commitment is due tomorrow (or today) and was not reminded yet."""
    tz = ZoneInfo(community.settings.timezone)
    today = local_day(due_at, tz)
    tomorrow = today + timedelta(days=1)
    items = await commitments.to_remind(
        community.store, community.id, today.isoformat(), tomorrow.isoformat()
    )
    delivered = 0
    for item in items:
        prefix = community.command_prefix(key_parts(item.key)[0])
        translator = await community.translator_of(item.key)
        if item.due_date == today.isoformat():
            text = translator._(
                "A reminder: your commitment {id}, “{what}”, is due today. Write "
                "{prefix}done {id} when it is fulfilled.",
                prefix=prefix,
                id=item.id,
                what=literal(item.what),
            )
        else:
            text = translator._(
                "A reminder: your commitment {id}, “{what}”, is due tomorrow ({due}). Write "
                "{prefix}done {id} when it is fulfilled.",
                prefix=prefix,
                id=item.id,
                what=literal(item.what),
                due=item.due_date,
            )
        outcome = await community.direct(item.key, OutgoingMessage(text))
        delivered += outcome is Delivery.DELIVERED
        # Marked even when undeliverable: one reminder per commitment, never a daily repeat.
        async with community.store.transaction() as tx:
            await commitments.mark_reminded(tx, item.id, epoch(due_at))
    return f"{delivered} of {len(items)} reminders delivered"


COMMANDS = (
    CommandSpec(
        name="commit",
        help="Take on a responsibility with a due date; you are reminded the day before.",
        handler=commit,
        params=(
            Param(
                "what",
                ParamKind.TEXT,
                "What you commit to, then by YYYY-MM-DD",
                syntax="<what> by <YYYY-MM-DD>",
            ),
        ),
        private=True,
    ),
    CommandSpec(
        name="done",
        help="Mark one of your commitments as fulfilled.",
        handler=done,
        params=(Param("id", ParamKind.INTEGER, "The commitment's number"),),
        private=True,
    ),
    CommandSpec(
        name="commitments",
        help="Your commitments, or a member's, and how many are fulfilled.",
        handler=list_commitments,
        params=(Param("member", ParamKind.MEMBER, "Whose commitments", required=False), PAGE),
        private=True,
    ),
    CommandSpec(
        name="overdue",
        help="Commitments past their due date, for personal follow-up.",
        handler=overdue,
        params=(PAGE,),
        permission=Permission.FACILITATOR,
        private=True,
    ),
)
