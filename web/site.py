"""The community's history site: static pages for everyone, newcomers first.

``build`` writes, per community, its charter, its themes with their learning goals and leaders,
the archive of every posted digest (as posted, a page per month), the knowledge library by theme
with its authors, upcoming and past events, and a timeline of milestones. Only what was already
posted publicly is used; opted-out members' names are hidden and forgotten members are gone from
the store (their names were taken out of archived digests when they were forgotten). No message
is quoted beyond what the posted digests quoted.

The pages link to each other with relative addresses, so the folder can be served from anywhere
or opened from the disk. It is written beside the old one and swapped in when complete.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from markdown_it import MarkdownIt

from bot.i18n import Translator
from bot.monitoring.knowledge import kind_label
from storage import calendar, knowledge, privacy
from storage import web as web_store
from storage.privacy import hide_names, names_hiding
from web.templating import templates

if TYPE_CHECKING:
    from bot.config import CommunitySettings, Settings
    from storage.contract import Reads

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False})
"""Digests are Markdown built from escaped member text; raw HTML in them is shown as text."""


def markdown_html(text: str) -> str:
    """Posted Markdown as HTML: no raw HTML passes, and markdown-it drops ``javascript:`` and
    other unsafe link targets."""
    return str(_MARKDOWN.render(text))


@dataclass(frozen=True, slots=True)
class SiteTheme:
    id: str
    name: str
    goal: str
    leaders: list[str]


@dataclass(frozen=True, slots=True)
class SiteItem:
    kind: str
    title: str
    link: str | None
    theme: str | None
    authors: str
    created: str
    month: str
    at: int
    case: bool


@dataclass(frozen=True, slots=True)
class SiteEvent:
    title: str
    place: str
    when: str
    month: str
    theme: str | None
    """The theme's name."""
    at: int


@dataclass(slots=True)
class Milestone:
    at: int
    what: str


@dataclass(slots=True)
class Month:
    key: str
    """``2026-09``: the page's name."""
    digests: list[str] = field(default_factory=list)
    """Each digest of the month, as HTML."""
    items: list[SiteItem] = field(default_factory=list)
    events: list[SiteEvent] = field(default_factory=list)


def _local(epoch: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).astimezone(tz)


@dataclass(frozen=True, slots=True)
class SitePage:
    path: str
    """Relative to the site's folder: ``praxis/months/2026-09.html``."""
    template: str
    locale: str
    values: dict[str, Any]


async def build(store: Reads, settings: Settings, out: Path, now: datetime) -> list[Path]:
    """Write the site of every community into ``out`` (replacing what was there); returns the
    pages written. The store is read first; the files are written off the event loop."""
    site: list[SitePage] = []
    communities = []
    for community_id, community in settings.communities.items():
        site += await _community(store, community_id, community, now)
        communities.append((community_id, community.name))
    first = next(iter(settings.communities.values())).locale
    values = {"css": "trellis.css", "communities": communities, "title": "Trellis"}
    site.append(SitePage("index.html", "site/root.html", first, values))
    return await asyncio.to_thread(write_site, site, out)


MARK = ".trellis-site"
"""A file in every site folder Trellis writes: a folder without it is not replaced."""


class SiteError(Exception):
    """The site cannot be written there; the message says why and what to do."""


def foreign_folder(out: Path) -> str | None:
    """Why ``out`` may not receive the site (it is replaced whole), or None when it may."""
    if out.exists() and not out.is_dir():
        return f"{out} is a file; give a folder for the site"
    if out.is_dir() and any(out.iterdir()) and not (out / MARK).exists():
        return (
            f"{out} holds files that are not a Trellis site, and the site replaces the whole "
            f"folder; give a new or empty folder"
        )
    return None


def write_site(site: list[SitePage], out: Path) -> list[Path]:
    """Render the pages into a folder beside ``out``, then put it in ``out``'s place."""
    problem = foreign_folder(out)
    if problem is not None:
        raise SiteError(problem)
    env = templates()
    staging = out.with_name(out.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    for page in site:
        t = Translator(page.locale)
        path = staging / page.path
        path.parent.mkdir(parents=True, exist_ok=True)
        html = env.get_template(page.template).render(_=t._, n_=t.n_, lang=t.locale, **page.values)
        path.write_text(html, encoding="utf-8")
    shutil.copy(Path(str(resources.files("web") / "static" / "trellis.css")), staging)
    (staging / MARK).write_text("Written by trellis site build; replaced whole at each build.\n")
    if out.exists():
        old = out.with_name(out.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old)
    else:
        staging.rename(out)
    return [out / page.path for page in site]


async def _community(
    store: Reads, community_id: str, settings: CommunitySettings, now: datetime
) -> list[SitePage]:
    t = Translator(settings.locale)
    tz = ZoneInfo(settings.timezone)
    hiding = await names_hiding(store, community_id)
    names = await privacy.visible_members(store, community_id)
    keys = await privacy.visible_member_keys(store, community_id)
    name_of_key = {key: names[member_id] for member_id, key in keys.items() if member_id in names}
    stamp = int(now.timestamp())

    themes = [
        SiteTheme(
            theme_id,
            theme.name,
            theme.learning_goal,
            [name_of_key[key] for key in theme.leaders if key in name_of_key],
        )
        for theme_id, theme in settings.themes.items()
    ]
    theme_names = {theme.id: theme.name for theme in themes}
    items = [
        SiteItem(
            kind=kind_label(t._, item.kind or "reference"),
            title=item.title,
            link=item.link if item.link and item.link.startswith(("https://", "http://")) else None,
            theme=item.theme if item.theme in theme_names else None,
            authors=", ".join(name for _, name in item.authors),
            created=_local(item.created_at, tz).strftime("%Y-%m-%d"),
            month=_local(item.created_at, tz).strftime("%Y-%m"),
            at=item.created_at,
            case=item.kind == "case",
        )
        for item in await knowledge.knowledge_items(store, community_id)
    ]
    events = [
        SiteEvent(
            title=event.title,
            place=event.place,
            when=_local(event.starts_at, tz).strftime("%Y-%m-%d %H:%M"),
            month=_local(event.starts_at, tz).strftime("%Y-%m"),
            theme=theme_names.get(event.theme or ""),
            at=event.starts_at,
        )
        for event in await calendar.events_between(store, community_id, 0, 2**62)
    ]
    months: dict[str, Month] = {}
    for digest in await web_store.archived_digests(store, community_id):
        key = _local(digest.week_end - 1, tz).strftime("%Y-%m")
        month = months.setdefault(key, Month(key))
        month.digests.append(markdown_html(hide_names(digest.text, hiding)))
    for item in items:
        months.setdefault(item.month, Month(item.month)).items.append(item)
    for event in events:
        if event.at < stamp:
            months.setdefault(event.month, Month(event.month)).events.append(event)
    ordered = [months[key] for key in sorted(months)]

    milestones = [
        Milestone(at, t._("The theme {theme} started.", theme=theme_names[theme]))
        for theme, at in (await web_store.theme_beginnings(store, community_id)).items()
        if theme in theme_names
    ]
    milestones += [
        Milestone(item.at, t._("Case published: {title}", title=item.title))
        for item in items
        if item.case
    ]
    milestones += [
        Milestone(event.at, t._("Meeting: {title}", title=event.title))
        for event in events
        if event.at < stamp
    ]
    timeline = [
        (_local(m.at, tz).strftime("%Y-%m-%d"), m.what)
        for m in sorted(milestones, key=lambda m: m.at)
    ]
    common = {
        "community": settings.name,
        "themes": themes,
        "months": [month.key for month in ordered],
    }

    def page(path: str, template: str, **values: Any) -> SitePage:
        depth = path.count("/")
        up = "/".join([".."] * depth) if depth else "."
        return SitePage(
            f"{community_id}/{path}",
            template,
            settings.locale,
            {"css": f"{up}/../trellis.css", "root": up, **common, **values},
        )

    pages = [
        page(
            "index.html",
            "site/index.html",
            title=settings.name,
            charter=_paragraphs(settings.charter),
        ),
        page(
            "library.html",
            "site/library.html",
            title=t._("Library"),
            by_theme=_by_theme(items, themes),
        ),
        page(
            "events.html",
            "site/events.html",
            title=t._("Events"),
            upcoming=[e for e in events if e.at >= stamp],
            past=[e for e in reversed(events) if e.at < stamp],
        ),
        page("timeline.html", "site/timeline.html", title=t._("Timeline"), timeline=timeline),
        page("digests.html", "site/digests.html", title=t._("Digests")),
    ]
    pages += [
        page(
            f"themes/{theme.id}.html",
            "site/theme.html",
            title=theme.name,
            theme=theme,
            items=[item for item in items if item.theme == theme.id],
            events=[e for e in events if e.theme == theme.name],
        )
        for theme in themes
    ]
    pages += [
        page(f"months/{month.key}.html", "site/month.html", title=month.key, month=month)
        for month in ordered
    ]
    return pages


def _paragraphs(text: str) -> list[str]:
    return [" ".join(part.split()) for part in text.strip().split("\n\n") if part.strip()]


def _by_theme(items: list[SiteItem], themes: list[SiteTheme]) -> list[tuple[str, list[SiteItem]]]:
    grouped = [(theme.name, [i for i in items if i.theme == theme.id]) for theme in themes]
    rest = [i for i in items if i.theme is None]
    return [(name, found) for name, found in grouped if found] + ([("", rest)] if rest else [])
