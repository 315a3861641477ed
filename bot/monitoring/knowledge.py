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
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.clock import epoch, from_epoch
from bot.commands.context import CommandContext, CommandError
from bot.commands.paging import paged
from bot.commands.parsing import LANGUAGE_NAMES, excerpt, parse_language
from bot.commands.permissions import Scope, permission_of, scope_of
from bot.commands.spec import PAGE, CommandSpec, Param, ParamKind, Permission
from bot.commands.words import LANGUAGE, PROFILE_LABELS, forms, normal
from bot.community import Community
from bot.events import MessageDeleted, ReactionAdded, ReactionRemoved
from bot.monitoring.common import require_tracked
from bot.outgoing import OutgoingMessage, literal
from bot.recognition import INSIGHT_REACTIONS
from storage import activity, knowledge, members, profiles
from storage.contract import Reads

if TYPE_CHECKING:
    from bot.services.digest_section import DigestContext
    from bot.themes import Theme, ThemeMap
    from storage.members import MemberRow

EXPERTS_WINDOW = timedelta(days=90)
"""How far back activity in a theme makes someone worth asking about it."""
TITLE_CHARS = 120
KIND_REACTIONS = {"🎓": "lesson", "📋": "case", "📄": "document", "🔖": "reference"}
"""What a 💡's marker reacts with to the same message to say what kind of knowledge it is."""
KIND_WAIT = timedelta(days=1)
"""An item marked with 💡 and not given a kind goes into the library as a reference after this."""
FILING_CRON = "20 * * * *"
"""Every hour, twenty past: items that waited a day for their kind are filed."""

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
    async with ctx.transaction() as tx:
        if values:
            await profiles.set_profile(tx, ctx.member.person, values, epoch(ctx.now))
        if chosen:
            await members.set_language(tx, ctx.member.id, language)
    if chosen:
        ctx.translator = await ctx.community.translator_of(ctx.member.key)
    saved = await profiles.profile(ctx.store, ctx.member.person)
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


def _profile_lines(ctx: CommandContext, profile: profiles.Profile) -> str:
    rows = [
        (ctx._("Organisation"), profile.organisation),
        (ctx._("Expertise"), profile.expertise),
        (ctx._("Languages"), profile.languages),
        (ctx._("Prefers"), profile.prefers),
    ]
    return "\n".join(f"- {label}: {literal(value)}" for label, value in rows if value)


async def profile_show(ctx: CommandContext, member: MemberRow | None = None) -> str:
    whom = member or ctx.member
    found = await profiles.profile(ctx.store, whom.person)
    if found is None:
        if whom.id == ctx.member.id:
            return ctx._(
                "You have no profile yet; set one with "
                "profile set organisation:… expertise:… languages:… prefers:…"
            )
        return ctx._("That member has no profile to show.")
    themes = [
        ctx.themes.themes[t].name
        for t in await activity.themes_of_member(ctx.store, whom.id)
        if t in ctx.themes.themes
    ]
    text = f"**{literal(found.name)}**\n" + _profile_lines(ctx, found)
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
    store = ctx.store
    found: dict[int, Expert] = {}

    def add(member_id: int, name: str, reason: str) -> None:
        found.setdefault(member_id, Expert(name)).reasons.append(reason)

    for profile in await profiles.profiles(store, ctx.community.id):
        if mentions_topic(profile.expertise, topic):
            add(
                profile.member_id,
                profile.name,
                ctx._("profile: {expertise}", expertise=literal(profile.expertise)),
            )
    themes = matching_themes(ctx.themes, topic)
    since = epoch(ctx.now - EXPERTS_WINDOW)
    for row in await profiles.theme_activity(
        store, ctx.community.id, [t.id for t in themes], since
    ):
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
    for item in await knowledge.knowledge_items(store, ctx.community.id):
        if item.theme in theme_ids or mentions_topic(item.title, topic):
            for member_id, name in item.authors:
                add(member_id, name, ctx._("shared “{title}”", title=literal(item.title)))
    if not found:
        return ctx._(
            "Nobody is known for “{topic}” yet: no profile names it and no theme about it "
            "has been active.",
            topic=literal(topic),
        )
    ranked = sorted(found.values(), key=lambda e: (-len(e.reasons), e.name.casefold()))
    lines = [f"- **{literal(e.name)}** — {'; '.join(e.reasons)}" for e in ranked]
    return paged(ctx, [ctx._("Who to ask about “{topic}”:", topic=literal(topic))], lines, page)


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
    profiles: Iterable[profiles.Profile], active: set[int]
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
    window = timedelta(weeks=ctx.config.participation.window_weeks)
    store = ctx.store
    everyone = await profiles.profiles(store, ctx.community.id)
    active = await profiles.active_since(store, ctx.community.id, epoch(ctx.now - window))
    groups, unnamed = organisations(everyone, active)
    if not groups:
        return ctx._(
            "No member has named their organisation yet; members add it with "
            "profile set organisation:…"
        )
    lines = []
    for group in groups:
        line = f"- **{literal(group.name)}**: " + ", ".join(
            literal(n) for n, is_active in group.members if is_active
        )
        quiet = [literal(n) for n, is_active in group.members if not is_active]
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
    """The message's first line, cut at a word boundary to at most ``TITLE_CHARS`` with "…"."""
    first = " ".join(next((line for line in text.splitlines() if line.strip()), "").split())
    if len(first) <= TITLE_CHARS:
        return first
    cut = first[: TITLE_CHARS - 1]
    # Back to the last space, unless the first word alone is most of the limit (a long link).
    if first[TITLE_CHARS - 1] != " " and cut.rfind(" ") > TITLE_CHARS // 2:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:.-–—") + "…"


async def share(ctx: CommandContext, kind: str, title: str) -> str:
    require_tracked(ctx)
    theme_id = ctx.themes.for_place(ctx.invocation.channel)
    if theme_id is None:
        raise CommandError(
            "Share knowledge in one of the themes' channels, so it is filed under that theme; "
            "this channel belongs to no theme."
        )
    title, link = split_title_and_link(title)
    if not any(ch.isalnum() for ch in title):
        raise CommandError(
            "Give the {kind} a title, like share {kind} How we ran the water census "
            "https://example.org/census.",
            kind=kind,
        )
    async with ctx.transaction() as tx:
        item_id = await knowledge.add_knowledge(
            tx,
            ctx.community.id,
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
        title=literal(title),
        theme=ctx.themes.themes[theme_id].name,
        id=item_id,
    )


def kind_label(_: Callable[..., str], kind: str) -> str:
    labels = {
        "lesson": _("lesson"),
        "case": _("case"),
        "document": _("document"),
        "reference": _("reference"),
    }
    return labels[kind]


async def library(ctx: CommandContext, theme: Theme | None = None, page: int | None = None) -> str:
    items = await knowledge.knowledge_items(
        ctx.store, ctx.community.id, theme=theme.id if theme else None
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
    lines = [
        _item_line(
            ctx._,
            ctx.themes,
            item,
            {m: literal(n) for m, n in item.authors},
            ctx.tz,
            numbered=True,
        )
        for item in items
    ]
    return paged(ctx, [heading], lines, page)


def _item_line(
    _: Callable[..., str],
    themes: ThemeMap,
    item: knowledge.KnowledgeItem,
    names: dict[int, str],
    tz: ZoneInfo,
    *,
    numbered: bool = False,
) -> str:
    """One item as the library (``numbered``, for library edit and remove) and the digest show it."""
    # The link as a plain address after the title: a member's text is never a masked link.
    link = f" {literal(item.link)}" if item.link else ""
    details = [kind_label(_, item.kind)] if item.kind else []  # listed items are all filed
    if item.theme in themes.themes:
        details.append(themes.themes[item.theme].name)
    details.append(from_epoch(item.created_at).astimezone(tz).date().isoformat())
    if numbered:
        details.append(_("item {id}", id=item.id))
    credited = [names[m] for m, _n in item.authors if m in names]
    by = " — " + _("by {names}", names=", ".join(credited)) if credited else ""
    return f"- **{literal(item.title)}**{link} ({', '.join(details)}){by}"


def may_change(scope: Scope, item: knowledge.KnowledgeItem) -> bool:
    """Whether ``scope`` may change the item (choose its kind, edit or remove it): its owners
    are its authors and whoever shared or marked it."""
    owners = [item.created_by, *(member_id for member_id, _ in item.authors)]
    return scope.covers_shared(item.theme, owners)


async def _reactor_scope(community: Community, event: ReactionAdded) -> Scope:
    permission = await permission_of(community, event.member)
    reactor = await members.by_key(community.store, event.community, event.member.key)
    return scope_of(
        community.settings,
        event.member.key,
        permission,
        reactor.id if reactor else None,
    )


def kind_question(_: Callable[..., str], prefix: str, item_id: int, author: str, title: str) -> str:
    return _(
        "**What kind of knowledge is it?**\n"
        "You marked {author}'s message “{title}” with 💡. React to the message with 🎓 for a "
        "lesson, 📋 a case, 📄 a document or 🔖 a reference, or answer "
        "{prefix}library edit {id} kind:lesson (or case, document, reference). Without an "
        "answer within a day it goes into the library as a reference.",
        author=literal(author),
        title=literal(title),
        prefix=prefix,
        id=item_id,
    )


async def on_reaction(community: Community, event: ReactionAdded) -> None:
    """A 💡 from a facilitator, or from a leader of the message's theme, records the message,
    credited to its author, and asks whoever marked it, in private, what kind of knowledge it
    is; their reaction with one of ``KIND_REACTIONS`` answers, and the item enters the library."""
    if event.member.is_bot:
        return
    if event.emoji in INSIGHT_REACTIONS:
        await _mark(community, event)
    elif event.emoji in KIND_REACTIONS:
        await _choose_kind(community, event, KIND_REACTIONS[event.emoji])


async def _mark(community: Community, event: ReactionAdded) -> None:
    store = community.store
    source = await knowledge.source_message(store, event.community, event.message_id)
    if source is None or not source.text:
        return
    scope = await _reactor_scope(community, event)
    if not scope.covers_theme(source.theme):
        return
    title = title_from_message(source.text)
    async with store.transaction() as tx:
        item_id = await knowledge.add_knowledge(
            tx,
            event.community,
            kind=None,
            title=title,
            link=None,
            theme=source.theme,
            channel_key=source.channel_key,
            source_platform_id=event.message_id,
            created_by=scope.member_id,
            authors=[source.author_id],
            at=epoch(event.occurred_at),
        )
    if item_id is None:
        return
    author = await members.by_id(store, source.author_id)
    question = kind_question(
        community.translator._,
        community.command_prefix(event.member.platform),
        item_id,
        author.name if author else "",
        title,
    )
    await community.direct(event.member.key, OutgoingMessage(question))


async def _choose_kind(community: Community, event: ReactionAdded, kind: str) -> None:
    item = await knowledge.knowledge_item(community.store, event.community, source=event.message_id)
    if item is None or item.kind is not None:
        return
    if not may_change(await _reactor_scope(community, event), item):
        return
    async with community.store.transaction() as tx:
        await knowledge.edit_knowledge(
            tx, item.id, title=None, kind=kind, at=epoch(event.occurred_at)
        )
    _ = community.translator._
    filed = _(
        "Thank you: “{title}” is in the library as a {kind} (item {id}).",
        title=literal(item.title),
        kind=kind_label(_, kind),
        id=item.id,
    )
    await community.direct(event.member.key, OutgoingMessage(filed))


async def on_reaction_removed(community: Community, event: ReactionRemoved) -> None:
    """A 💡 taken back by the one who marked it, before saying what it is, files nothing."""
    if event.emoji not in INSIGHT_REACTIONS:
        return
    item = await knowledge.knowledge_item(community.store, event.community, source=event.message_id)
    if item is None or item.kind is not None:
        return
    reactor = await members.by_key(community.store, event.community, event.member.key)
    if reactor is not None and reactor.id == item.created_by:
        async with community.store.transaction() as tx:
            await knowledge.remove_knowledge(tx, item.id)


async def on_message_deleted(community: Community, event: MessageDeleted) -> None:
    """A message deleted on the platform takes the item filed from it along: its title is the
    message's own text, and its author did not share it themselves."""
    item = await knowledge.knowledge_item(community.store, event.community, source=event.message_id)
    if item is not None:
        async with community.store.transaction() as tx:
            await knowledge.remove_knowledge(tx, item.id)


_EDIT_LABEL = re.compile(r"(?:^|\s)(title|kind):", re.IGNORECASE)


def parse_item_changes(text: str) -> tuple[str | None, str | None]:
    """``title:Pump repair kind:case`` -> ("Pump repair", "case"); either may be left out."""
    labels = [(m.group(1).lower(), m.start(1), m.end()) for m in _EDIT_LABEL.finditer(text)]
    if not labels or text[: labels[0][1]].strip():
        raise CommandError(
            "Say what to change with labels, like library edit 12 title:Pump repair in Cusco "
            "kind:case."
        )
    values: dict[str, str] = {}
    for index, (name, _, start) in enumerate(labels):
        end = labels[index + 1][1] if index + 1 < len(labels) else len(text)
        values[name] = " ".join(text[start:end].split())
    title, kind = values.get("title"), values.get("kind")
    return (
        None if title is None else checked_title(title),
        None if kind is None else checked_kind(kind),
    )


def checked_title(title: str) -> str:
    """A library item's new title, or the sentence saying what is wrong with it (the command and
    the dashboard's form ask the same)."""
    if not any(ch.isalnum() for ch in title):
        raise CommandError("Give the item a title with at least one letter or digit.")
    if len(title) > TITLE_CHARS:
        raise CommandError(
            "That title is {n} characters long; keep it to {limit}.",
            n=len(title),
            limit=TITLE_CHARS,
        )
    return title


def checked_kind(kind: str) -> str:
    """A library item's kind, lower-cased, or the sentence naming the kinds there are."""
    kind = kind.lower()
    if kind not in knowledge.KNOWLEDGE_KINDS:
        raise CommandError(
            "“{kind}” is not a kind of knowledge; write lesson, case, document or reference.",
            kind=excerpt(kind),
        )
    return kind


async def _changeable(ctx: CommandContext, db: Reads, item_id: int) -> knowledge.KnowledgeItem:
    item = await knowledge.knowledge_item(db, ctx.community.id, item_id=item_id)
    if item is None:
        raise CommandError(
            "There is no item {id} in the library; {prefix}library list shows each item's number.",
            id=item_id,
            prefix=ctx.prefix,
        )
    if not may_change(ctx.scope, item):
        raise CommandError(
            "Item {id} is not yours; its authors, whoever filed it and facilitators can change it.",
            id=item_id,
        )
    return item


async def library_edit(ctx: CommandContext, item: int, changes: str) -> str:
    title, kind = parse_item_changes(changes)
    async with ctx.transaction() as tx:
        found = await _changeable(ctx, tx, item)
        await knowledge.edit_knowledge(tx, found.id, title=title, kind=kind, at=epoch(ctx.now))
    chosen = kind or found.kind
    if chosen is None:
        return ctx._(
            "Item {id} is now “{title}”; it goes into the library once it has a kind.",
            id=found.id,
            title=literal(title or found.title),
        )
    return ctx._(
        "Item {id} is “{title}”, a {kind}, in the library.",
        id=found.id,
        title=literal(title or found.title),
        kind=kind_label(ctx._, chosen),
    )


async def library_remove(ctx: CommandContext, item: int) -> str:
    async with ctx.transaction() as tx:
        found = await _changeable(ctx, tx, item)
        await knowledge.remove_knowledge(tx, found.id)
    return ctx._(
        "Item {id}, “{title}”, is no longer in the library.",
        id=found.id,
        title=literal(found.title),
    )


async def digest_section(ctx: DigestContext) -> str | None:
    """New knowledge items of the digest week, with their authors credited."""
    items = await knowledge.knowledge_items(
        ctx.store, ctx.community, start=epoch(ctx.start), end=epoch(ctx.end)
    )
    if not items:
        return None
    themes = ctx.themes
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
        help="The lessons, cases, documents and references shared, in one theme or all.",
        handler=library,
        params=(Param("theme", ParamKind.THEME, "Only this theme", required=False), PAGE),
    ),
    # Discord cannot offer /library beside /library edit: there, the list is /library list.
    CommandSpec(
        name="library list",
        help="The lessons, cases, documents and references shared, in one theme or all.",
        handler=library,
        params=(Param("theme", ParamKind.THEME, "Only this theme", required=False), PAGE),
    ),
    CommandSpec(
        name="library edit",
        help="Change an item's title or kind (its authors, whoever filed it, facilitators).",
        handler=library_edit,
        params=(
            Param("item", ParamKind.INTEGER, "The item's number, as the library shows it"),
            Param("changes", ParamKind.TEXT, "title:… kind:lesson|case|document|reference"),
        ),
        private=True,
    ),
    CommandSpec(
        name="library remove",
        help="Take an item out of the library (its authors, whoever filed it, facilitators).",
        handler=library_remove,
        params=(Param("item", ParamKind.INTEGER, "The item's number, as the library shows it"),),
        private=True,
    ),
)


async def file_waiting(community: Community, due: datetime) -> str:
    """The job that files as references the items marked 💡 whose kind nobody chose in time."""
    async with community.store.transaction() as tx:
        filed = await knowledge.file_waiting(tx, community.id, epoch(due - KIND_WAIT), epoch(due))
    return f"{filed} items marked with 💡 filed as references"
