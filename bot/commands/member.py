"""Commands every member has: help, themes, kudos, and control over their own data."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.commands.context import CommandContext, CommandError
from bot.commands.paging import paged
from bot.commands.parsing import LANGUAGE_NAMES
from bot.commands.permissions import may_run
from bot.commands.spec import PAGE, CommandSpec, Param, ParamKind, Permission
from bot.commands.words import TOPICS, offered, public_flag, usage, word
from bot.events import MemberRef, key_parts
from bot.outgoing import literal
from storage import activity, identities, members
from storage.members import MemberRow


def _date(ctx: CommandContext, epoch: int | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, UTC).astimezone(ctx.tz).strftime("%Y-%m-%d")


TOPIC_OF = {
    "themes": "community", "kudos": "community", "profile": "community",
    "share": "knowledge", "library": "knowledge", "experts": "knowledge", "map": "knowledge",
    "commit": "commitments", "done": "commitments", "commitments": "commitments",
    "overdue": "commitments",
    "event": "events",
    "pulse": "surveys", "story": "surveys", "survey": "surveys",
    "stats": "facilitation", "quiet": "facilitation", "prompt": "facilitation",
    "digest": "facilitation", "theme": "facilitation", "report": "facilitation",
    "dashboard": "facilitation",
    "mydata": "privacy", "nudges": "privacy", "optout": "privacy", "optin": "privacy",
    "forget-me": "privacy", "link": "privacy", "unlink": "privacy",
    "merge": "facilitation",
}  # fmt: skip
"""The help topic of each command, by its first word; ``help`` itself heads every overview."""


def topic_of(spec: CommandSpec) -> str:
    return TOPIC_OF.get(spec.words[0], "community")


async def help_(ctx: CommandContext, command: str | None, page: int | None = None) -> str:
    """Alone: the topics, each with its commands, in one message. With a topic: that topic's
    commands in full syntax. With a command: its full syntax."""
    prefix, locale, named = ctx.prefix, ctx.translator.locale, ctx.named_options
    usable = [
        spec
        for spec in ctx.commands
        if may_run(ctx.permission, spec.permission)
        and spec.name != "help"
        and offered(spec, ctx.commands, named=named)
    ]
    if command is None:
        help_spec = next(spec for spec in ctx.commands if spec.name == "help")

        def asking(what: str) -> str:
            shown = f"<{word(locale, what)}>"
            return prefix + usage(help_spec, locale, named=named, values={"command": shown})

        heading = [
            ctx._("**What Trellis can do for you**"),
            ctx._(
                "Type {for_topic} for a topic's commands, or {for_command} for one; add {public} "
                "to a list to show it to everyone.",
                for_topic=asking("topic"),
                for_command=asking("command"),
                public=public_flag(locale, named=named),
            ),
        ]
        lines = []
        for topic in TOPICS:
            names = dict.fromkeys(
                word(locale, spec.words[0]) for spec in usable if topic_of(spec) == topic
            )
            if names:
                shown = usage(
                    help_spec, locale, named=named, values={"command": word(locale, topic)}
                )
                title = f"{prefix}{shown}"
                lines.append(f"- `{title}`: {', '.join(names)}")
        return paged(ctx, heading, lines, page)
    is_topic = command in TOPICS
    if is_topic:
        wanted = [spec for spec in usable if topic_of(spec) == command]
        heading = [f"**{word(locale, command)}**"]
    else:
        wanted = [spec for spec in usable if command in (spec.name, spec.words[0])]
        heading = []
    if not wanted:
        raise CommandError(
            "There is no command “{command}” you can use; type {prefix}help for the list.",
            command=word(locale, command),
            prefix=prefix,
        )
    lines = []
    for spec in wanted:
        lines.append(f"- `{prefix}{usage(spec, locale, named=named)}`: {ctx._(spec.help)}")
        if not is_topic:  # one command: what each of its values is
            lines += [
                f"  - `<{word(locale, param.name)}>`: {ctx._(param.help)}"
                for param in spec.params
                if param is not PAGE and param.help
            ]
    return paged(ctx, heading, lines, page)


async def themes_(ctx: CommandContext, page: int | None = None) -> str:
    if not ctx.themes.themes:
        return ctx._(
            "This community has no themes yet; facilitators define them in the configuration."
        )
    lines = []
    for theme in ctx.themes.themes.values():
        line = f"- **{theme.name}** (`{theme.id}`)"
        if theme.settings.learning_goal:
            line += ": " + theme.settings.learning_goal
        lines.append(line)
    heading = [ctx._("**Themes of {community}**", community=ctx.settings.name)]
    return paged(ctx, heading, lines, page)


def _refuse_credit(ctx: CommandContext, receiver: MemberRow) -> None:
    if receiver.person == ctx.member.person:  # their own account, or one linked with it
        raise CommandError("Kudos are for someone else; thank a person who helped you.")
    if receiver.is_bot:
        raise CommandError("{name} is a bot; kudos are for people.", name=literal(receiver.name))
    if receiver.opted_out:
        raise CommandError(
            "{name} has opted out of Trellis's records, so it cannot credit them; "
            "thank them in the chat instead.",
            name=receiver.name,
        )


async def kudos(ctx: CommandContext, member: MemberRow, reason: str) -> str:
    _refuse_credit(ctx, member)
    reason = " ".join(reason.split())
    if not any(ch.isalnum() for ch in reason):
        raise CommandError(
            "Say what the kudos are for, in words, like kudos @ana for the well measurements."
        )
    if ctx.member.opted_out:
        raise CommandError(
            "You have opted out of Trellis's records, so it cannot record kudos from you; "
            "type {prefix}optin first if you want to.",
            prefix=ctx.prefix,
        )
    theme = ctx.themes.for_place(ctx.invocation.channel)
    source = ctx.invocation.invocation_id or f"kudos:{ctx.member.id}:{ctx.now.timestamp()}"
    async with ctx.transaction() as tx:
        await activity.add_credit(
            tx,
            ctx.community.id,
            kind="kudos",
            receiver_id=member.id,
            giver_id=ctx.member.id,
            theme=theme,
            reason=reason,
            source=source,
            at=int(ctx.now.timestamp()),
        )
    return ctx._(
        "Kudos to {name} recorded: “{reason}”. It will be in the next digest.",
        name=literal(member.name),
        reason=literal(reason),
    )


async def mydata(ctx: CommandContext) -> str:
    me = ctx.member
    linked = await identities.accounts(ctx.store, me.id)
    counts = await members.holdings(ctx.store, [account.id for account in linked])
    prefix = ctx.prefix
    lines = [
        ctx._("**What Trellis holds about you in {community}**", community=ctx.settings.name),
        *(
            [
                ctx._(
                    "- Your linked accounts, counted as one person: {accounts}",
                    accounts=", ".join(
                        f"{literal(account.name)} (`{literal(account.key)}`)" for account in linked
                    ),
                )
            ]
            if len(linked) > 1
            else []
        ),
        ctx._(
            "- Name: {name}; first seen {first}; joined {joined}",
            name=literal(me.name),
            first=_date(ctx, me.first_seen_at),
            joined=_date(ctx, me.joined_at),
        ),
        ctx.n_(
            "- {n} message counted; the text of {texts} of them is kept ({deleted})",
            "- {n} messages counted; the text of {texts} of them is kept ({deleted})",
            counts[0],
            texts=counts[1],
            deleted=ctx.n_(
                "text is deleted after {n} day",
                "text is deleted after {n} days",
                ctx.config.retention.message_text_days,
            ),
        ),
        ctx.n_("- {n} reaction given", "- {n} reactions given", counts[2]),
        ctx._("- Credits: {received} received, {given} given", received=counts[3], given=counts[4]),
        ctx._(
            "- Nudges received: {nudges}; nudges are {state}",
            nudges=counts[5],
            state=ctx._("off") if me.nudges_off else ctx._("on"),
        ),
        ctx._("- Tracking: {state}", state=ctx._("opted out") if me.opted_out else ctx._("on")),
        ctx._(
            "- Trellis writes to you in {language}",
            language=LANGUAGE_NAMES[me.language or ctx.settings.locale],
        ),
        ctx._(
            "You can type {prefix}nudges off, {prefix}optout, or {prefix}forget-me to delete "
            "everything about you.",
            prefix=prefix,
        ),
    ]
    return "\n".join(lines)


async def nudges_(ctx: CommandContext, state: str) -> str:
    async with ctx.transaction() as tx:
        for account in await identities.accounts(tx, ctx.member.id):
            await members.set_nudges(tx, account.id, on=state == "on")
    if state == "on":
        return ctx._("Nudges are on: Trellis may write to you now and then when things are quiet.")
    return ctx._("Nudges are off: Trellis will not write to you about being quiet.")


async def optout(ctx: CommandContext) -> str:
    async with ctx.transaction() as tx:
        for account in await identities.accounts(tx, ctx.member.id):
            await members.set_opted_out(
                tx, ctx.community.member_cache, account, int(ctx.now.timestamp())
            )
    return ctx._(
        "You have opted out: from now on Trellis does not count what you write, and you will not "
        "appear in digests, statistics or reports. Type {prefix}optin to come back.",
        prefix=ctx.prefix,
    )


async def optin(ctx: CommandContext) -> str:
    key = ctx.invocation.member.key
    cache = ctx.community.member_cache
    async with ctx.transaction() as tx:
        await members.remember_again(tx, cache, ctx.community.id, key)
        row = await members.ensure(
            tx, cache, ctx.community.id, key,
            ctx.invocation.member.display_name, int(ctx.now.timestamp()),
        )  # fmt: skip
        if row is not None:
            for account in await identities.accounts(tx, row.id):
                await members.set_opted_out(tx, cache, account, None)
    return ctx._("Welcome back: Trellis counts your participation again from now on.")


async def forget_me(ctx: CommandContext, confirm: str | None) -> str:
    prefix = ctx.prefix
    if confirm != "confirm":
        return ctx._(
            "This deletes everything Trellis holds about you in {community}: your counts, credits "
            "and kept message text, for good. To go ahead, type {prefix}forget-me confirm",
            community=ctx.settings.name,
            prefix=prefix,
        )
    # Every linked account goes: they are one person, who asked to be forgotten.
    linked = await identities.accounts(ctx.store, ctx.member.id)
    held = [
        await ctx.community.forget_on_platforms(MemberRef(*key_parts(account.key), account.name))
        for account in linked
    ]
    async with ctx.transaction() as tx:
        for account, state in zip(linked, held, strict=True):
            await members.forget(tx, ctx.community.member_cache, account, adapter_state=state)
    await ctx.store.drop_old_pages()
    return ctx._(
        "Done: Trellis has deleted everything it held about you and will not track you. "
        "Type {prefix}optin if you ever want to take part in its records again.",
        prefix=prefix,
    )


COMMANDS = (
    CommandSpec(
        "help",
        "Lists the commands you can use by topic, or explains a topic or a command.",
        help_,
        (
            Param("command", ParamKind.COMMAND, "A topic or a command to explain", required=False),
            PAGE,
        ),
        private=True,
    ),
    CommandSpec(
        "themes", "Lists the community's themes and their learning goals.", themes_, (PAGE,)
    ),
    CommandSpec(
        "kudos",
        "Thanks a member publicly for something they did; it appears in the digest.",
        kudos,
        (
            Param("member", ParamKind.MEMBER, "Who to thank"),
            Param("reason", ParamKind.TEXT, "What for"),
        ),
        private=True,
    ),
    CommandSpec("mydata", "Shows what Trellis holds about you.", mydata, private=True),
    CommandSpec(
        "nudges",
        "Turns Trellis's occasional messages to you on or off.",
        nudges_,
        (Param("state", ParamKind.CHOICE, "on or off", choices=("on", "off")),),
        private=True,
    ),
    CommandSpec(
        "optout", "Stops Trellis counting you or naming you anywhere.", optout, private=True
    ),
    CommandSpec("optin", "Lets Trellis count your participation again.", optin, private=True),
    CommandSpec(
        "forget-me",
        "Deletes everything Trellis holds about you (asks you to confirm).",
        forget_me,
        (Param("confirm", ParamKind.CHOICE, "confirm", required=False, choices=("confirm",)),),
        permission=Permission.MEMBER,
        private=True,
    ),
)
