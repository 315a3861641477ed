"""Questions waiting for an answer: how long the digest looks back for them, and ``solved``, with
which an asker (or whoever leads the theme) says a question no longer waits."""

from __future__ import annotations

from bot.commands.context import CommandContext, CommandError
from bot.commands.spec import CommandSpec, Param, ParamKind
from bot.outgoing import literal
from bot.services.digest import WAITING_WINDOW, excerpt
from storage import activity
from storage.members import MemberRow


async def solved(ctx: CommandContext, member: MemberRow | None = None) -> str:
    asker = member or ctx.member
    channel = ctx.invocation.channel
    if asker.id != ctx.member.id and not ctx.scope.covers_theme(ctx.themes.for_place(channel)):
        raise CommandError(
            "Only the one who asked, the theme's leaders and facilitators can say a question "
            "is solved."
        )
    async with ctx.app.store.transaction() as tx:
        question = await activity.mark_solved(
            tx,
            ctx.community,
            asker.id,
            channel.key,
            channel.thread_key,
            int((ctx.now - WAITING_WINDOW).timestamp()),
            int(ctx.now.timestamp()),
        )
    if question is None:
        raise CommandError(
            "No question of {name} waits for an answer here; write solved in the channel or "
            "thread where it was asked.",
            name=literal(asker.name),
        )
    if not question.text:
        return ctx._("Thank you: the question no longer waits for an answer.")
    return ctx._(
        "Thank you: “{text}” no longer waits for an answer.",
        text=literal(excerpt(question.text, 100)),
    )


COMMANDS = (
    CommandSpec(
        "solved",
        "Says that your latest question here is answered (or a member's, for theme leaders and "
        "facilitators), so the digest no longer lists it as waiting.",
        solved,
        (Param("member", ParamKind.MEMBER, "Whose question, if not yours", required=False),),
        private=True,
    ),
)
