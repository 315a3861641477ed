"""Linking a member's accounts into one person: by a one-time code they type on their other
account, or by a facilitator's proposal that both accounts confirm; splitting them again; and the
facilitators' list of accounts that look like one person."""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import timedelta
from itertools import combinations

from bot.commands.context import CommandContext, CommandError
from bot.commands.paging import paged
from bot.commands.spec import PAGE, CommandSpec, Param, ParamKind, Permission
from bot.commands.words import offered, usage, word
from bot.events import key_parts
from bot.i18n import N_
from bot.outgoing import OutgoingMessage, literal
from storage import identities
from storage.identities import Candidate, CodeRefusal
from storage.members import MemberRow

SUGGESTION_WINDOW = timedelta(days=90)
"""The themes two accounts wrote in are compared over this much of the recent past."""

_REFUSALS = {
    CodeRefusal.UNKNOWN: N_(
        "There is no link code “{code}”; type {link} on your other account for a new one."
    ),
    CodeRefusal.EXPIRED: N_(
        "That link code has expired: codes last 10 minutes. Type {link} on your other account "
        "for a new one."
    ),
    CodeRefusal.USED: N_(
        "That link code was already used, and each links once; type {link} on your other "
        "account for a new one."
    ),
    CodeRefusal.OTHER_COMMUNITY: N_(
        "That link code was made in another community; type {link} on your other account in "
        "this community's chat."
    ),
    CodeRefusal.SAME_PERSON: N_(
        "That link code comes from this account or one already linked to it; type it on your "
        "other account."
    ),
}
"""Why a code is refused, one sentence each (``storage.identities.refusal``)."""


def _typed_link(ctx: CommandContext, code: str | None = None) -> str:
    """How ``link`` (with ``code``, or alone for a new code) is typed on each platform Trellis
    talks through here, the platform named where there are several: ``/link code code:K7P2QX``
    (discord) or ``!trellis link K7P2QX`` (matrix). A platform of named options cannot offer
    ``link`` alone beside ``link confirm``: there it is ``link code``."""
    locale, platforms = ctx.translator.locale, sorted(ctx.community.adapters)
    ways = []
    for platform in platforms:
        named = ctx.community.named_options(platform)
        spec = next(
            spec
            for spec in ctx.commands
            if spec.handler is link and offered(spec, ctx.commands, named=named)
        )
        shown = usage(spec, locale, named=named, values={} if code is None else {"code": code})
        way = f"`{ctx.community.command_prefix(platform)}{shown}`"
        ways.append(way if len(platforms) == 1 else f"{way} ({platform})")
    if len(ways) == 1:
        return ways[0]
    return ctx._("{ways} or {last}", ways=", ".join(ways[:-1]), last=ways[-1])


def _account(member: MemberRow) -> str:
    """An account as a member recognises it: its name and its platform."""
    return f"{literal(member.name)} ({key_parts(member.key)[0]})"


async def link(ctx: CommandContext, code: str | None) -> str:
    """Alone: a new code for this account. With a code made on another account: link them."""
    now = int(ctx.now.timestamp())
    if code is None:
        made = identities.new_code()
        async with ctx.transaction() as tx:
            await identities.add_code(tx, ctx.member.id, made, now)
        return ctx._(
            "Your link code is {code}. Within 10 minutes, type {typed} from your other account "
            "and Trellis will count both as one person. The code works once; nobody else needs "
            "to see it.",
            code=made,
            typed=_typed_link(ctx, made),
        )
    async with ctx.transaction() as tx:
        found = await identities.find_code(tx, code)
        why = identities.refusal(found, ctx.member, now)
        if why is not None:
            raise CommandError(_REFUSALS[why], code=literal(code[:16]), link=_typed_link(ctx))
        assert found is not None  # refused otherwise
        await identities.use_code(tx, code, now)
        await identities.link(tx, found.owner, ctx.member)
        linked = await identities.accounts(tx, ctx.member.id)
    _forget_cached(ctx, linked)
    return ctx._(
        "Linked: Trellis counts {accounts} as one person from now on. Type {prefix}unlink from "
        "either account to split them again.",
        accounts=", ".join(_account(account) for account in linked),
        prefix=ctx.prefix,
    )


def _forget_cached(ctx: CommandContext, accounts: list[MemberRow]) -> None:
    """The ingest cache reads these accounts again: a link may have opted some out."""
    for account in accounts:
        ctx.community.member_cache.forget(account.community, account.key)


async def link_confirm(ctx: CommandContext) -> str:
    async with ctx.transaction() as tx:
        waiting = [
            merge
            for merge in await identities.waiting_merges(tx, ctx.member.id)
            if not (
                merge.first_confirmed if merge.first_id == ctx.member.id else merge.second_confirmed
            )
        ]
        if not waiting:
            raise CommandError(
                "No facilitator has proposed linking this account with another, or you have "
                "confirmed already; type {link} for a code to link your accounts yourself.",
                link=_typed_link(ctx),
            )
        merge = waiting[0]
        other_id = merge.second_id if merge.first_id == ctx.member.id else merge.first_id
        other = await identities.accounts(tx, other_id)
        both = await identities.confirm(tx, merge, ctx.member.id, int(ctx.now.timestamp()))
        if both:
            first = next(account for account in other if account.id == other_id)
            await identities.link(tx, first, ctx.member)
            linked = await identities.accounts(tx, ctx.member.id)
    name = _account(next(account for account in other if account.id == other_id))
    if not both:
        return ctx._(
            "Confirmed: Trellis links this account with {other} once that account confirms too.",
            other=name,
        )
    _forget_cached(ctx, linked)
    return ctx._(
        "Both accounts confirmed: Trellis counts {accounts} as one person from now on. Type "
        "{prefix}unlink from either account to split them again.",
        accounts=", ".join(_account(account) for account in linked),
        prefix=ctx.prefix,
    )


async def unlink(ctx: CommandContext) -> str:
    async with ctx.transaction() as tx:
        others = await identities.unlink(tx, ctx.member)
        if not others:
            raise CommandError(
                "This account is not linked with another; {link} links it with your other account.",
                link=_typed_link(ctx),
            )
    _forget_cached(ctx, [ctx.member, *others])
    return ctx._(
        "Unlinked: this account is a person of its own again, and keeps what it wrote; "
        "{others} keep theirs.",
        others=", ".join(_account(account) for account in others),
    )


async def merge(ctx: CommandContext, member: MemberRow, other: MemberRow) -> str:
    if member.person == other.person:
        raise CommandError(
            "{first} and {second} are already one person.",
            first=_account(member),
            second=_account(other),
        )
    if member.is_bot or other.is_bot:
        raise CommandError("Bots are not people; Trellis links only people's accounts.")
    async with ctx.transaction() as tx:
        await identities.propose(
            tx, ctx.community.id, member.id, other.id, ctx.member.id, int(ctx.now.timestamp())
        )
    for account, partner in ((member, other), (other, member)):
        translator = await ctx.community.translator_of(account.key)
        prefix = ctx.community.command_prefix(key_parts(account.key)[0])
        text = translator._(
            "A facilitator of {community} thinks this account and {other} belong to one "
            "person: you. If so, type {prefix}{link} {confirm} here, and Trellis counts them as "
            "one once both accounts have confirmed. If not, ignore this message.",
            community=ctx.settings.name,
            other=_account(partner),
            prefix=prefix,
            link=word(translator.locale, "link"),
            confirm=word(translator.locale, "confirm"),
        )
        await ctx.community.direct(account.key, OutgoingMessage(text))
    return ctx._(
        "Proposed: Trellis links {first} and {second} once both accounts confirm with "
        "{link} {confirm}; it has asked each of them.",
        first=_account(member),
        second=_account(other),
        link=word(ctx.translator.locale, "link"),
        confirm=word(ctx.translator.locale, "confirm"),
    )


@dataclass(frozen=True, slots=True)
class Suggestion:
    first: Candidate
    second: Candidate
    same_name: bool
    same_organisation: bool
    shared_themes: frozenset[str]


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def suggest(candidates: list[Candidate]) -> list[Suggestion]:
    """Pairs of accounts of different persons that are probably one person: the same name (case
    and accents aside), or the same profile organisation and writing in mostly the same themes.
    The strongest first (most reasons, then the oldest accounts)."""
    groups: defaultdict[tuple[str, str], list[Candidate]] = defaultdict(list)
    for candidate in candidates:
        if _folded(candidate.name):
            groups["name", _folded(candidate.name)].append(candidate)
        if _folded(candidate.organisation) and candidate.themes:
            groups["organisation", _folded(candidate.organisation)].append(candidate)
    found: dict[tuple[int, int], Suggestion] = {}
    for group in groups.values():
        for first, second in combinations(group, 2):
            if first.person == second.person or (first.id, second.id) in found:
                continue
            same_name = _folded(first.name) == _folded(second.name)
            same_organisation = bool(_folded(first.organisation)) and _folded(
                first.organisation
            ) == _folded(second.organisation)
            shared = first.themes & second.themes
            alike = len(shared) * 2 >= len(first.themes | second.themes) > 0
            if same_name or (same_organisation and alike):
                found[first.id, second.id] = Suggestion(
                    first, second, same_name, same_organisation, frozenset(shared)
                )
    return sorted(
        found.values(),
        key=lambda s: (
            -(s.same_name + s.same_organisation + bool(s.shared_themes)),
            s.first.id,
            s.second.id,
        ),
    )


async def link_suggestions(ctx: CommandContext, page: int | None = None) -> str:
    since = int((ctx.now - SUGGESTION_WINDOW).timestamp())
    found = suggest(await identities.candidates(ctx.store, ctx.community.id, since))
    if not found:
        return ctx._("Trellis sees no accounts that look like one person.")
    lines = []
    for suggestion in found:
        reasons = []
        if suggestion.same_name:
            reasons.append(ctx._("the same name"))
        if suggestion.same_organisation:
            reasons.append(ctx._("the same organisation"))
        if suggestion.shared_themes:
            reasons.append(
                ctx._("writing in {themes}", themes=", ".join(sorted(suggestion.shared_themes)))
            )
        lines.append(
            f"- {_account_key(suggestion.first)} · {_account_key(suggestion.second)}: "
            + "; ".join(reasons)
        )
    heading = [
        ctx._("**Accounts that may be one person**"),
        ctx._(
            "Trellis links none of them by itself: propose a pair with {prefix}{merge} <member> "
            "<other>, and it links them once both accounts confirm.",
            prefix=ctx.prefix,
            merge=word(ctx.translator.locale, "merge"),
        ),
    ]
    return paged(ctx, heading, lines, page)


def _account_key(candidate: Candidate) -> str:
    """An account, with the key ``merge`` takes for it (``discord:123``)."""
    return f"{literal(candidate.name)} (`{literal(candidate.key)}`)"


_LINK = CommandSpec(
    "link",
    "Without a code: gives you a one-time code (10 minutes). With the code, typed from your "
    "other account: Trellis counts both accounts as one person.",
    link,
    (Param("code", ParamKind.WORD, "The code your other account was given", required=False),),
    private=True,
)

COMMANDS = (
    _LINK,
    # Discord cannot offer /link beside /link confirm: there, getting and typing a code is
    # /link code, the same command under the words Discord can offer.
    replace(_LINK, name="link code"),
    CommandSpec(
        "link confirm",
        "Agrees to a facilitator's proposal that this account and another are one person; "
        "Trellis links them once both have confirmed.",
        link_confirm,
        private=True,
    ),
    CommandSpec(
        "link suggestions",
        "Accounts that look like one person (same name, or same organisation and themes); "
        "Trellis never links them without both accounts' confirmation.",
        link_suggestions,
        (PAGE,),
        permission=Permission.FACILITATOR,
    ),
    CommandSpec(
        "unlink",
        "Splits this account from the accounts it is linked with; each keeps what it wrote.",
        unlink,
        private=True,
    ),
    CommandSpec(
        "merge",
        "Proposes that two accounts are one person; they are linked once both confirm with "
        "link confirm.",
        merge,
        (
            Param("member", ParamKind.MEMBER, "One account (a mention, or discord:… / matrix:…)"),
            Param("other", ParamKind.MEMBER, "The other account"),
        ),
        permission=Permission.FACILITATOR,
    ),
)
