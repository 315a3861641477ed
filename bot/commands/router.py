"""The one place a command is looked up, checked, parsed and answered, for every platform."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from bot.commands.context import CommandContext, CommandError
from bot.commands.parsing import (
    QUOTE_CHARS,
    Period,
    excerpt,
    parse_date,
    parse_datetime,
    parse_duration,
    parse_integer,
    parse_period,
)
from bot.commands.permissions import may_run, permission_of
from bot.commands.spec import CommandSpec, Param, ParamKind, Permission
from bot.commands.words import TOPICS, Aliases, english_choice, split_public, usage, word
from bot.community import Community
from bot.events import ChannelRef, CommandInvoked, MemberRef, key_parts
from bot.i18n import N_, Translator
from bot.outgoing import OutgoingMessage
from bot.themes import Theme
from storage import members

log = logging.getLogger(__name__)

Converter = Callable[[str, CommandContext, Param], Awaitable[Any]]
"""Typed text (already checked for length) to a parameter's value, or a ``CommandError``."""

_WORD = re.compile(r'\s*(?:"([^"]*)"|“([^”]*)”|(\S+))')

LINE_CHARS = 4000
"""The longest command line Trellis reads; a longer one is a paste gone wrong."""

_FORGOTTEN = N_(
    "You asked Trellis to forget you, so it keeps nothing about you; "
    "type {prefix}optin if you want to take part in its records again."
)

_ROLE_NAMES = {
    Permission.THEME_LEADER: N_("theme leaders"),
    Permission.FACILITATOR: N_("facilitators"),
    Permission.ADMIN: N_("admins"),
}


class CommandRouter:
    def __init__(
        self, communities: Mapping[str, Community], specs: tuple[CommandSpec, ...]
    ) -> None:
        self.communities = communities
        self.commands = specs
        self.specs = {spec.name: spec for spec in specs}
        self.aliases = Aliases(self.specs)
        self.topics = Aliases(TOPICS)
        self.groups = Aliases({spec.words[0] for spec in specs})
        self._converters: dict[ParamKind, Converter] = {
            ParamKind.MEMBER: self._member_from_text,
            ParamKind.CHANNEL: self._channel,
            ParamKind.THEME: self._theme,
            ParamKind.PERIOD: self._period,
            ParamKind.DURATION: self._duration,
            ParamKind.DATE: self._date,
            ParamKind.DATETIME: self._datetime,
            ParamKind.INTEGER: self._integer,
            ParamKind.CHOICE: self._choice,
            ParamKind.TEXT: self._text,
            ParamKind.WORD: self._text,
            ParamKind.COMMAND: self._command,
        }
        """How typed text becomes each kind of parameter's value."""

    async def handle(self, invocation: CommandInvoked) -> None:
        """The engine's command handler: answers every invocation, failures included.

        Bad input is answered with what is wrong; an unexpected failure (a bug, a store that
        cannot be read) with one sentence and an error id that the log carries with the
        traceback, so that the member is never left without an answer."""
        community = self.communities[invocation.community]
        translator = community.translator
        try:
            own = await community.translator_of(invocation.member.key)
            message, private, translator = await self._answer(community, invocation, own)
        except Exception:
            message, private = self._failure(community, invocation, translator), True
        limit = community.message_limit(invocation.channel.platform)
        try:
            await community.reply(invocation, fit(message, limit, translator), private=private)
        except Exception:
            # The answer itself could not be delivered (a refused upload, a platform error).
            failure = self._failure(community, invocation, translator)
            await community.reply(invocation, failure, private=True)

    def _failure(
        self, community: Community, invocation: CommandInvoked, translator: Translator
    ) -> OutgoingMessage:
        """Log the exception being handled under a short id and say so in one sentence."""
        error_id = secrets.token_hex(4)
        prefix = community.command_prefix(invocation.channel.platform)
        log.exception(
            "error %s: %s%s from %s failed",
            error_id,
            prefix,
            excerpt(invocation.command),
            invocation.member.key,
        )
        return OutgoingMessage(
            translator._(
                "Something went wrong with {prefix}{command}, so it may not have been done; the "
                "problem is logged as error {error}: try again later, or give a facilitator that "
                "code.",
                prefix=prefix,
                command=excerpt(invocation.command),
                error=error_id,
            )
        )

    async def _answer(
        self, community: Community, invocation: CommandInvoked, own: Translator
    ) -> tuple[OutgoingMessage, bool, Translator]:
        """The answer to give, whether only the member sees it, and in whose language: a
        private answer in the member's own (``own``), a public one in the community's."""
        translator = own
        prefix = community.command_prefix(invocation.channel.platform)
        if invocation.options is None:
            # Typed: the command's words may be in the community's language (``/ayuda``).
            name, rest = self.aliases.resolve(f"{invocation.command} {invocation.text}")
            if name is not None:
                invocation = replace(invocation, command=name, text=rest)
        spec = self.specs.get(invocation.command)
        if spec is None:
            text = translator._(
                "“{prefix}{command}” is not a Trellis command; type {prefix}help to see them all.",
                prefix=prefix,
                command=excerpt(invocation.command, QUOTE_CHARS - len(prefix)),
            )
            return OutgoingMessage(text), True, translator
        invocation, public = split_public(spec, invocation)
        if public:
            translator = community.translator
        try:
            reply = await self._run(community, spec, invocation, translator)
        except CommandError as error:
            # Bad input is told to the member alone, so in their own language.
            text = own._(error.message, **error.values)
            named = community.named_options(invocation.channel.platform)
            how = own._("Usage: {usage}", usage=prefix + usage(spec, own.locale, named=named))
            return OutgoingMessage(f"{text}\n{how}"), True, own
        if isinstance(reply, str):
            reply = OutgoingMessage(reply)
        return reply, not public, translator

    async def _run(
        self,
        community: Community,
        spec: CommandSpec,
        invocation: CommandInvoked,
        translator: Translator,
    ) -> OutgoingMessage | str:
        """Check, parse and run the command; a member Trellis has not seen gets a row only once
        their command is accepted, and whatever fails leaves the store as it was."""
        prefix = community.command_prefix(invocation.channel.platform)
        held = await permission_of(community, invocation.member, invocation.channel.platform)
        if not may_run(held, spec.permission):
            raise CommandError(
                "Only {role} can use {prefix}{command}; ask one of them if you need it.",
                role=translator._(_ROLE_NAMES[spec.permission]),
                prefix=prefix,
                command=spec.name,
            )
        now = invocation.occurred_at  # when the member asked, even if answered a moment later
        key = invocation.member.key
        member = await community.member(key)
        unseen = member is None
        if unseen and await members.is_forgotten(community.store, community.id, key):
            if spec.name != "optin":
                raise CommandError(_FORGOTTEN, prefix=prefix)
            unseen = False  # optin itself brings them back
        if member is None:
            member = members.MemberRow(
                0, community.id, key, invocation.member.display_name,
                False, 0, None, None, None, True, False, None,
            )  # fmt: skip
        ctx = CommandContext(community, invocation, member, held, translator, now, self.commands)
        arguments = await self._arguments(spec, ctx)
        theme = arguments.get("theme")
        scope = ctx.scope
        if theme is not None and not scope.covers_command(spec.permission, theme.id):
            raise CommandError(
                "You lead {led}, not {theme}; ask a facilitator to do this for {theme}.",
                led=", ".join(sorted(scope.led)),
                theme=theme.id,
            )
        if not unseen:
            return await spec.handler(ctx, **arguments)
        async with community.store.transaction() as tx:
            created = await members.ensure(
                tx, community.member_cache, community.id, key,
                invocation.member.display_name, int(now.timestamp()),
            )  # fmt: skip
        if created is None:  # forgotten meanwhile, by a forget-me of theirs just answered
            raise CommandError(_FORGOTTEN, prefix=prefix)
        ctx.member = created
        try:
            return await spec.handler(ctx, **arguments)
        except BaseException:
            async with community.store.transaction() as tx:
                await members.discard_new(tx, community.member_cache, created)
            raise

    async def _arguments(self, spec: CommandSpec, ctx: CommandContext) -> dict[str, Any]:
        invocation = ctx.invocation
        if invocation.options is not None:
            given = dict(invocation.options)
            unknown = set(given) - {param.name for param in spec.params}
            if unknown:
                raise CommandError(
                    "{name} is not an option of this command.", name=excerpt(sorted(unknown)[0])
                )
            values: dict[str, Any] = {}
            for param in spec.params:
                raw = given.get(param.name)
                if raw is None or raw == "":
                    if param.required:
                        raise CommandError(
                            "{prefix}{command} is missing <{name}>.",
                            prefix=ctx.prefix,
                            command=spec.name,
                            name=param.name,
                        )
                    values[param.name] = None
                else:
                    values[param.name] = await self._convert(param.kind, raw, ctx, param)
            return values
        if len(invocation.text) > LINE_CHARS:
            raise CommandError(
                "That command is {n} characters long; Trellis reads commands of at most "
                "{limit} characters.",
                n=len(invocation.text),
                limit=LINE_CHARS,
            )
        return await self._from_text(spec, invocation.text, ctx)

    async def _from_text(self, spec: CommandSpec, text: str, ctx: CommandContext) -> dict[str, Any]:
        """Fill parameters left to right; a word that does not fit an optional parameter is
        offered to the next one (``/stats 4w`` skips the theme)."""
        values: dict[str, Any] = {param.name: None for param in spec.params}
        rest = text.strip()
        params = list(spec.params)
        for index, param in enumerate(params):
            if not rest:
                if param.required:
                    raise CommandError(
                        "{prefix}{command} is missing <{name}>.",
                        prefix=ctx.prefix,
                        command=spec.name,
                        name=param.name,
                    )
                continue
            if param.kind == ParamKind.TEXT and index == len(params) - 1:
                values[param.name] = self._checked_length(rest, param)
                return values
            if param.kind == ParamKind.TEXT and _only_page_after(params, index):
                # "experts soil health 2": the text runs to the end, but for a page number.
                text, page = _page_at_end(rest)
                values[param.name] = self._checked_length(text, param)
                if page is not None:
                    values[params[-1].name] = await self._convert(
                        params[-1].kind, page, ctx, params[-1]
                    )
                return values
            word, remainder = _take_word(rest)
            try:
                values[param.name] = await self._convert(param.kind, word, ctx, param)
            except CommandError as error:
                following = params[index + 1] if index + 1 < len(params) else None
                if param.required or following is None:
                    raise
                try:
                    await self._convert(following.kind, word, ctx, following)
                except CommandError as second:
                    raise _clearer(error, second, param, word, ctx) from None
                continue  # the word belongs to the next parameter
            rest = remainder
        if rest:
            raise CommandError(
                "“{extra}” is more than {prefix}{command} takes.",
                extra=excerpt(rest),
                prefix=ctx.prefix,
                command=spec.name,
            )
        return values

    @staticmethod
    def _checked_length(text: str, param: Param) -> str:
        if len(text) > param.longest:
            raise CommandError(
                "<{name}> is {n} characters long; Trellis takes at most {limit} there.",
                name=param.name,
                n=len(text),
                limit=param.longest,
            )
        return text

    async def _convert(self, kind: ParamKind, raw: Any, ctx: CommandContext, param: Param) -> Any:
        """``raw`` (typed text, or a platform's typed option) as the value a handler takes."""
        if isinstance(raw, MemberRef):
            return await self._member(ctx, raw.key, raw.display_name)
        if isinstance(raw, ChannelRef):
            return raw
        text = self._checked_length(str(raw).strip(), param)
        return await self._converters[kind](text, ctx, param)

    async def _text(self, raw: str, ctx: CommandContext, param: Param) -> str:
        return raw

    async def _theme(self, raw: str, ctx: CommandContext, param: Param) -> Theme:
        theme = ctx.themes.find(raw)
        if theme is None:
            raise CommandError(
                "There is no theme “{name}”; the themes are: {themes}.",
                name=excerpt(raw),
                themes=", ".join(ctx.themes.themes) or "—",
            )
        return theme

    async def _period(self, raw: str, ctx: CommandContext, param: Param) -> Period:
        return parse_period(raw, ctx.tz, ctx.now)

    async def _duration(self, raw: str, ctx: CommandContext, param: Param) -> timedelta:
        return parse_duration(raw)

    async def _date(self, raw: str, ctx: CommandContext, param: Param) -> date:
        return parse_date(raw)

    async def _datetime(self, raw: str, ctx: CommandContext, param: Param) -> datetime:
        return parse_datetime(raw, ctx.tz)

    async def _integer(self, raw: str, ctx: CommandContext, param: Param) -> int:
        return parse_integer(raw)

    async def _command(self, raw: str, ctx: CommandContext, param: Param) -> str:
        """A help topic, a command, or a command's first word, in any language."""
        topic, rest = self.topics.resolve(raw)
        if topic is not None and not rest:
            return topic
        name, rest = self.aliases.resolve(raw)
        if name is not None and not rest:
            return name
        group, rest = self.groups.resolve(raw)
        if group is None or rest:
            raise CommandError(
                "There is no command “{command}”; type {prefix}help for the list.",
                command=excerpt(raw),
                prefix=ctx.prefix,
            )
        return group

    async def _choice(self, raw: str, ctx: CommandContext, param: Param) -> str:
        choice = english_choice(param.choices, raw)
        if choice is None:
            raise CommandError(
                "“{text}” is not one of {choices}.",
                text=excerpt(raw),
                choices=" | ".join(word(ctx.translator.locale, c) for c in param.choices),
            )
        return choice

    async def _channel(self, raw: str, ctx: CommandContext, param: Param) -> ChannelRef:
        return ChannelRef(invocation_platform(ctx), raw.lstrip("#"))

    async def _member(self, ctx: CommandContext, key: str, name: str) -> members.MemberRow:
        row = await ctx.community.member(key)
        if row is None:
            raise CommandError(
                "Trellis has not seen {name} take part here yet, so it cannot do that for them.",
                name=excerpt(name or key_parts(key)[1]),
            )
        return row

    async def _member_from_text(
        self, raw: str, ctx: CommandContext, param: Param
    ) -> members.MemberRow:
        platform = invocation_platform(ctx)
        keys = [f"{platform}:{raw}"]
        # The platform's own mention syntax (Discord's <@id>) is the adapter's to read.
        mentioned = ctx.community.member_from_mention(ctx.invocation.channel.platform, raw)
        if mentioned is not None:
            keys.insert(0, mentioned.key)
        if raw.startswith("@"):
            keys.append(f"{platform}:{raw[1:]}")
        if raw.split(":", 1)[0] in ctx.community.adapters:
            keys.insert(0, raw)  # a whole key names an account on any platform: discord:123
        for key in keys:
            row = await ctx.community.member(key)
            if row is not None:
                return row
        named = await ctx.community.members_named(raw.lstrip("@"))
        if len(named) == 1:
            return named[0]
        if len(named) > 1:
            raise CommandError(
                "More than one member is called “{name}”; mention the one you mean with @.",
                name=excerpt(raw.lstrip("@")),
            )
        raise CommandError(
            "I don't know a member “{name}” here; mention them with @ as you would in chat.",
            name=excerpt(raw),
        )


def invocation_platform(ctx: CommandContext) -> str:
    return ctx.invocation.member.platform


def _clearer(
    first: CommandError, second: CommandError, param: Param, word: str, ctx: CommandContext
) -> CommandError:
    """The error to show for a word that fits neither an optional parameter nor the next one:
    the next one's when it is specific (“2026-13” has no month 13), else one naming both."""
    if not second.message.startswith("“{text}” is not"):
        return second
    if param.kind == ParamKind.THEME:
        return CommandError(
            "“{name}” is neither a theme nor a period; the themes are: {themes}.",
            name=excerpt(word),
            themes=", ".join(ctx.themes.themes) or "—",
        )
    return first


def _take_word(text: str) -> tuple[str, str]:
    """The first word of ``text`` (or "a quoted phrase") and the rest."""
    closing = {'"': '"', "“": "”"}.get(text[0])
    if closing and closing not in text[1:]:
        raise CommandError('A quote is not closed; put a matching " at the end of the phrase.')
    match = _WORD.match(text)
    assert match is not None  # every text not blank starts with a word
    word = next(group for group in match.groups() if group is not None)
    return word, text[match.end() :].strip()


def _only_page_after(params: list[Param], index: int) -> bool:
    """Whether the parameters after ``index`` are just an optional page number."""
    after = params[index + 1 :]
    return len(after) == 1 and after[0].kind == ParamKind.INTEGER and not after[0].required


def _page_at_end(text: str) -> tuple[str, str | None]:
    """``soil health 2`` -> ("soil health", "2"). A lone number is the text itself, and so is a
    quoted phrase: ``"agenda 2030"`` -> ("agenda 2030", None), ``"agenda 2030" 2`` -> (…, "2")."""
    if text[0] in '"“':
        phrase, rest = _take_word(text)
        if not rest or re.fullmatch(r"\d+", rest):
            return phrase, rest or None
    words = text.rsplit(None, 1)
    if len(words) == 2 and re.fullmatch(r"\d+", words[1]):
        return words[0], words[1]
    return text, None


def fit(message: OutgoingMessage, limit: int, translator: Translator) -> OutgoingMessage:
    """The message cut to ``limit`` characters at a line break, saying how much was left out.

    Lists page themselves; this is the guard for any answer that still outgrows one message."""
    text = message.text
    if len(text) <= limit:
        return message
    lines = text.split("\n")
    kept: list[str] = []
    size = 0
    budget = limit - 120  # room for the line saying what was left out
    for line in lines:
        if size + len(line) + 1 > budget:
            if not kept:
                kept.append(line[: budget - 1] + "…")
            break
        kept.append(line)
        size += len(line) + 1
    left = len(lines) - len(kept)
    note = translator.n_(
        "… {n} more line not shown: the answer is longer than one message.",
        "… {n} more lines not shown: the answer is longer than one message.",
        max(left, 1),
    )
    return replace(message, text="\n".join([*kept, note]))
