"""The knowledge map and shared knowledge: profiles, who knows about what, which organisations
take part through whom, and the lessons, cases and documents the community generates.

From the PraxisNote: know who the members are and their preferred means of communication
(mapping); have more than one member from each organisation (network of relationships); record
and disseminate lessons and cases, and identify their contributors (information systems).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.commands.context import CommandContext, CommandError
from bot.commands.paging import paged
from bot.commands.parsing import LANGUAGE_NAMES, parse_language
from bot.commands.permissions import permission_of, scope_of
from bot.commands.spec import PAGE, CommandSpec, Param, ParamKind, Permission
from bot.commands.words import LANGUAGE, PROFILE_LABELS, forms, normal
from bot.events import ReactionAdded
from bot.monitoring.common import epoch, from_epoch, require_tracked
from bot.services.recognition import INSIGHT_REACTIONS
from storage import activity, members, monitoring

if TYPE_CHECKING:
    from bot.app import Trellis
    from bot.services.digest import DigestContext
    from bot.themes import Theme, ThemeMap
    from storage.members import MemberRow

EXPERTS_WINDOW = timedelta(days=90)
"""How far back activity in a theme makes someone worth asking about it."""
TITLE_CHARS = 120

# Profiles ----------------------------------------------------------------------------------------

_FIELD_ALIASES = {"organization": "organisation", "org": "organisation"}
_LABEL = re.compile(r"(?:^|\s)([^\W\d_]+):")


def _field(label: str) -> str | None:
    """The field a label names, in any language Trellis speaks (``organización:``)."""
    label = _FIELD_ALIASES.get(label.lower(), label)
    return next((name for name in PROFILE_LABELS if normal(label) in forms(name)), None)


def parse_profile_fields(text: str) -> dict[str, str]:
    """``organisation:CANO expertise:water, soils`` -> {"organisation": "CANO", "expertise": …}.

    A value runs until the next known label; an empty value clears the field.
    """
    labels = []
    for match in _LABEL.finditer(text):
        name = _field(match.group(1))
        if name is not None:
            labels.append((name, match.start(1), match.end()))
    if not labels or text[: labels[0][1]].strip():
        raise CommandError(
            "Write the profile as fields with labels, like "
            "profile set organisation:CANO expertise:water, soils languages:es, en prefers:calls."
        )
    fields = {}
    for index, (name, _, value_start) in enumerate(labels):
        value_end = labels[index + 1][1] if index + 1 < len(labels) else len(text)
        fields[name] = " ".join(text[value_start:value_end].split())
    return fields


async def profile_set(ctx: CommandContext, fields: str) -> str:
    require_tracked(ctx)
    values = parse_profile_fields(fields)
    chosen = LANGUAGE in values
    language = parse_language(values.pop(LANGUAGE, ""))  # checked before anything is saved
    if values:
        await monitoring.set_profile(ctx.app.store, ctx.member.id, values, epoch(ctx.now))
    if chosen:
        await members.set_language(ctx.app.store, ctx.member.id, language)
        ctx.translator = await ctx.app.translator_of(ctx.community, ctx.member.key)
    saved = await monitoring.profile(ctx.app.store, ctx.member.id)
    lines = [ctx._("Your profile is saved.")]
    if saved is not None:
        lines.append(_profile_lines(ctx, saved))
    if chosen:
        lines.append(
            ctx._(
                "Trellis writes to you in {language}.",
                language=LANGUAGE_NAMES[ctx.translator.locale],
            )
        )
    return "\n".join(line for line in lines if line)


def _profile_lines(ctx: CommandContext, profile: monitoring.Profile) -> str:
    rows = [
        (ctx._("Organisation"), profile.organisation),
        (ctx._("Expertise"), profile.expertise),
        (ctx._("Languages"), profile.languages),
        (ctx._("Prefers"), profile.prefers),
    ]
    return "\n".join(f"- {label}: {value}" for label, value in rows if value)


async def profile_show(ctx: CommandContext, member: MemberRow | None = None) -> str:
    whom = member or ctx.member
    found = await monitoring.profile(ctx.app.store, whom.id)
    if found is None:
        if whom.id == ctx.member.id:
            return ctx._(
                "You have no profile yet; set one with "
                "profile set organisation:… expertise:… languages:… prefers:…"
            )
        return ctx._("That member has no profile to show.")
    themes = [
        ctx.themes.themes[t].name
        for t in await activity.themes_of_member(ctx.app.store, whom.id)
        if t in ctx.themes.themes
    ]
    text = f"**{found.name}**\n" + _profile_lines(ctx, found)
    if themes:
        text += "\n- " + ctx._("Takes part in: {themes}", themes=", ".join(themes))
    return text


# Experts -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Expert:
    name: str
    reasons: list[str] = field(default_factory=list)


def matching_themes(themes: ThemeMap, topic: str) -> list[Theme]:
    """Themes the topic names: by id, by a word of their name, or by one of their keywords."""
    word = topic.casefold().strip()
    found = []
    for theme in themes.themes.values():
        names = {theme.id, theme.name.casefold(), *theme.name.casefold().split()}
        keywords = {k.casefold() for k in theme.settings.keywords}
        if word in names or word in keywords:
            found.append(theme)
    return found


def mentions_topic(text: str, topic: str) -> bool:
    return re.search(r"\b" + re.escape(topic.strip()) + r"\b", text, re.I) is not None


async def experts(ctx: CommandContext, topic: str, page: int | None = None) -> str:
    topic = " ".join(topic.split())
    if len(topic) < 2:
        raise CommandError("Name a topic of at least two letters, like experts water.")
    store = ctx.app.store
    found: dict[int, Expert] = {}

    def add(member_id: int, name: str, reason: str) -> None:
        found.setdefault(member_id, Expert(name)).reasons.append(reason)

    for profile in await monitoring.profiles(store, ctx.community):
        if mentions_topic(profile.expertise, topic):
            add(
                profile.member_id,
                profile.name,
                ctx._("profile: {expertise}", expertise=profile.expertise),
            )
    themes = matching_themes(ctx.themes, topic)
    since = epoch(ctx.now - EXPERTS_WINDOW)
    for row in await monitoring.theme_activity(store, ctx.community, [t.id for t in themes], since):
        add(
            row.member_id,
            row.name,
            ctx.n_(
                "{n} message in {theme} in the last 90 days",
                "{n} messages in {theme} in the last 90 days",
                row.messages,
                theme=ctx.themes.themes[row.theme].name,
            ),
        )
    theme_ids = {t.id for t in themes}
    for item in await monitoring.knowledge_items(store, ctx.community):
        if item.theme in theme_ids or mentions_topic(item.title, topic):
            for member_id, name in item.authors:
                add(member_id, name, ctx._("shared “{title}”", title=item.title))
    if not found:
        return ctx._(
            "Nobody is known for “{topic}” yet: no profile names it and no theme about it "
            "has been active.",
            topic=topic,
        )
    ranked = sorted(found.values(), key=lambda e: (-len(e.reasons), e.name.casefold()))
    lines = [f"- **{e.name}** — {'; '.join(e.reasons)}" for e in ranked]
    return paged(ctx, [ctx._("Who to ask about “{topic}”:", topic=topic)], lines, page)


# The map of organisations ------------------------------------------------------------------------


@dataclass(slots=True)
class Organisation:
    name: str
    members: list[tuple[str, bool]] = field(default_factory=list)
    """(member name, active in the participation window)."""

    @property
    def active(self) -> int:
        return sum(1 for _, is_active in self.members if is_active)


def organisations(
    profiles: Iterable[monitoring.Profile], active: set[int]
) -> tuple[list[Organisation], int]:
    """Organisations named in profiles (grouped ignoring case and spacing), with their members,
    and how many profiles name no organisation."""
    groups: dict[str, Organisation] = {}
    spellings: dict[str, Counter[str]] = {}
    unnamed = 0
    for profile in profiles:
        name = " ".join(profile.organisation.split())
        if not name:
            unnamed += 1
            continue
        group = groups.setdefault(name.casefold(), Organisation(name))
        group.members.append((profile.name, profile.member_id in active))
        spellings.setdefault(name.casefold(), Counter())[name] += 1
    for folded, group in groups.items():
        # The spelling most members use; on a tie, one with capitals (an acronym, a proper name).
        group.name = max(spellings[folded].items(), key=lambda s: (s[1], s[0] != s[0].lower()))[0]
    ordered = sorted(groups.values(), key=lambda o: (-len(o.members), o.name.casefold()))
    return ordered, unnamed


async def knowledge_map(ctx: CommandContext, page: int | None = None) -> str:
    window = timedelta(weeks=ctx.app.settings.participation.window_weeks)
    store = ctx.app.store
    profiles = await monitoring.profiles(store, ctx.community)
    active = await monitoring.active_since(store, ctx.community, epoch(ctx.now - window))
    groups, unnamed = organisations(profiles, active)
    if not groups:
        return ctx._(
            "No member has named their organisation yet; members add it with "
            "profile set organisation:…"
        )
    lines = []
    for group in groups:
        line = f"- **{group.name}**: " + ", ".join(n for n, is_active in group.members if is_active)
        quiet = [n for n, is_active in group.members if not is_active]
        if quiet:
            line += (" — " if group.active else "") + ctx._(
                "not active lately: {names}", names=", ".join(quiet)
            )
        if len(group.members) == 1:
            line += " — ⚠ " + ctx._("depends on a single contact")
        elif group.active == 0:
            line += " — ⚠ " + ctx._("no active member")
        lines.append(line)
    summary = []
    single = sum(1 for group in groups if len(group.members) == 1)
    if single:
        summary.append(
            ctx.n_(
                "{n} organisation depends on a single contact: better to have more than one "
                "member from each organisation.",
                "{n} organisations depend on a single contact: better to have more than one "
                "member from each organisation.",
                single,
            )
        )
    if unnamed:
        summary.append(
            ctx.n_(
                "{n} member with a profile has not named an organisation.",
                "{n} members with a profile have not named an organisation.",
                unnamed,
            )
        )
    return paged(ctx, [ctx._("**Organisations in the community**")], lines, page, summary)


# Shared knowledge --------------------------------------------------------------------------------

_URL = re.compile(r"^<?(https?://\S+?)>?$")


def split_title_and_link(text: str) -> tuple[str, str | None]:
    """``Lima wells https://…`` -> ("Lima wells", "https://…"): a trailing web address is the link."""
    words = text.split()
    if words and (match := _URL.match(words[-1])):
        return " ".join(words[:-1]), match.group(1)
    return " ".join(words), None


def title_from_message(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1].rstrip() + "…"


async def share(ctx: CommandContext, kind: str, title: str) -> str:
    require_tracked(ctx)
    theme_id = ctx.themes.for_place(ctx.invocation.channel)
    if theme_id is None:
        raise CommandError(
            "Share knowledge in one of the themes' channels, so it is filed under that theme; "
            "this channel belongs to no theme."
        )
    title, link = split_title_and_link(title)
    if not title:
        raise CommandError(
            "Give the {kind} a title, like share {kind} How we ran the water census "
            "https://example.org/census.",
            kind=kind,
        )
    item_id = await monitoring.add_knowledge(
        ctx.app.store,
        ctx.community,
        kind=kind,
        title=title,
        link=link,
        theme=theme_id,
        channel_key=ctx.invocation.channel.key,
        source_platform_id=None,
        created_by=ctx.member.id,
        authors=[ctx.member.id],
        at=epoch(ctx.now),
    )
    return ctx._(
        "Thank you: “{title}” is in the library under {theme} (item {id}), credited to you.",
        title=title,
        theme=ctx.themes.themes[theme_id].name,
        id=item_id,
    )


def _kind_label(_: Callable[..., str], kind: str) -> str:
    labels = {"lesson": _("lesson"), "case": _("case"), "document": _("document")}
    return labels[kind]


async def library(ctx: CommandContext, theme: Theme | None = None, page: int | None = None) -> str:
    items = await monitoring.knowledge_items(
        ctx.app.store, ctx.community, theme=theme.id if theme else None
    )
    if not items:
        if theme:
            return ctx._(
                "Nothing has been shared in {theme} yet; share a lesson, case or document with "
                "share lesson|case|document <title> [link] in its channel.",
                theme=theme.name,
            )
        return ctx._(
            "The library is empty; share a lesson, case or document with "
            "share lesson|case|document <title> [link] in a theme's channel."
        )
    heading = ctx._("**Library: {theme}**", theme=theme.name) if theme else ctx._("**Library**")
    lines = [_item_line(ctx._, ctx.themes, item, dict(item.authors), ctx.tz) for item in items]
    return paged(ctx, [heading], lines, page)


def _item_line(
    _: Callable[..., str],
    themes: ThemeMap,
    item: monitoring.KnowledgeItem,
    names: dict[int, str],
    tz: ZoneInfo,
) -> str:
    title = f"[{item.title}]({item.link})" if item.link else item.title
    details = [_kind_label(_, item.kind)]
    if item.theme in themes.themes:
        details.append(themes.themes[item.theme].name)
    details.append(from_epoch(item.created_at).astimezone(tz).date().isoformat())
    credited = [names[m] for m, _n in item.authors if m in names]
    by = " — " + _("by {names}", names=", ".join(credited)) if credited else ""
    return f"- **{title}** ({', '.join(details)}){by}"


async def on_reaction(app: Trellis, event: ReactionAdded) -> None:
    """A 💡 from a facilitator, or from a leader of the message's theme, files the message as a
    lesson credited to its author."""
    if event.emoji not in INSIGHT_REACTIONS or event.member.is_bot:
        return
    store = app.store
    source = await monitoring.source_message(store, event.community, event.message_id)
    if source is None or not source.text:
        return
    permission = await permission_of(app, event.community, event.member)
    reactor = await members.by_key(store, event.community, event.member.key)
    scope = scope_of(
        app.community(event.community),
        event.member.key,
        permission,
        reactor.id if reactor else None,
    )
    if not scope.covers_theme(source.theme):
        return
    await monitoring.add_knowledge(
        store,
        event.community,
        kind="lesson",
        title=title_from_message(source.text),
        link=None,
        theme=source.theme,
        channel_key=source.channel_key,
        source_platform_id=event.message_id,
        created_by=reactor.id if reactor else None,
        authors=[source.author_id],
        at=epoch(event.occurred_at),
    )


async def digest_section(ctx: DigestContext) -> str | None:
    """New knowledge items of the digest week, with their authors credited."""
    items = await monitoring.knowledge_items(
        ctx.app.store, ctx.community, start=epoch(ctx.start), end=epoch(ctx.end)
    )
    if not items:
        return None
    themes = ctx.app.themes[ctx.community]
    tz = ZoneInfo(ctx.settings.timezone)
    lines = ["### " + ctx._("Knowledge shared")]
    lines += [_item_line(ctx._, themes, item, ctx.names, tz) for item in reversed(items)]
    return "\n".join(lines)


COMMANDS = (
    CommandSpec(
        name="profile set",
        help="Tell the community who you are: organisation, expertise, languages, how you prefer to be reached.",
        handler=profile_set,
        params=(
            Param(
                "fields",
                ParamKind.TEXT,
                "organisation:… expertise:… languages:… prefers:… language:… (any of them)",
                syntax="[organisation:…] [expertise:…] [languages:…] [prefers:…] [language:en|es|pt]",
            ),
        ),
        private=True,
    ),
    CommandSpec(
        name="profile show",
        help="Show your profile, or another member's.",
        handler=profile_show,
        params=(Param("member", ParamKind.MEMBER, "Whose profile", required=False),),
        private=True,
    ),
    CommandSpec(
        name="experts",
        help="Who knows about a topic: from profiles, activity in its theme, and knowledge shared.",
        handler=experts,
        params=(Param("topic", ParamKind.TEXT, "A topic, theme or keyword"), PAGE),
        private=True,
    ),
    CommandSpec(
        name="map",
        help="Organisations in the community, their active members, and those with a single contact.",
        handler=knowledge_map,
        params=(PAGE,),
        permission=Permission.FACILITATOR,
        private=True,
    ),
    CommandSpec(
        name="share",
        help="Record a lesson, case or document in this theme's library, credited to you.",
        handler=share,
        params=(
            Param("kind", ParamKind.CHOICE, "What it is", choices=("lesson", "case", "document")),
            Param("title", ParamKind.TEXT, "Its title, and a link at the end if there is one"),
        ),
        private=True,
    ),
    CommandSpec(
        name="library",
        help="The lessons, cases and documents shared, in one theme or all.",
        handler=library,
        params=(Param("theme", ParamKind.THEME, "Only this theme", required=False), PAGE),
    ),
)


def install(app: Trellis) -> None:
    async def listener(event: ReactionAdded) -> None:
        await on_reaction(app, event)

    app.engine.listen(ReactionAdded, listener)
    app.digest_sections.append(digest_section)
