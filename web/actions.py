"""What facilitators (and theme leaders, for their themes) change from the dashboard: the prompt
queue (add, reword, reorder, remove), library items (retitle, change kind, remove) and events.

Each form follows the rules of the command that does the same in chat, with its sentences: bad
input is answered with one sentence and changes nothing. A change done returns to its page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from aiohttp import web
from multidict import MultiDictProxy

from bot.clock import epoch
from bot.commands.context import CommandError
from bot.commands.spec import TEXT_CHARS
from bot.monitoring.events import checked_event
from bot.monitoring.knowledge import checked_kind, checked_title, may_change
from storage import calendar, facilitation, knowledge

if TYPE_CHECKING:
    from bot.app import Trellis
    from storage.contract import Reads
    from web.pages import Viewer


class Dashboard(Protocol):
    """What the forms need of the dashboard that serves them (web.server's ``Dashboard``)."""

    trellis: Trellis

    def viewer_of(self, request: web.Request) -> Viewer: ...

    def refusal(self, request: web.Request, sentence: str) -> web.Response: ...

    def require_facilitator(self, who: Viewer) -> None: ...

    def theme_for(self, who: Viewer, theme: str) -> str: ...


Form = MultiDictProxy[str | bytes | bytearray | web.FileField]
Action = Callable[["Dashboard", "Viewer", Mapping[str, str], Form], Awaitable[str]]
"""A change: returns the page to go back to, or raises CommandError with the sentence."""

PROMPT_CHARS = 10
"""The shortest prompt, as ``prompt add`` wants it."""


def routes(dashboard: Dashboard) -> list[web.RouteDef]:
    def handler(action: Action) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            who = dashboard.viewer_of(request)
            try:
                back = await action(dashboard, who, request.match_info, await request.post())
            except CommandError as error:
                return dashboard.refusal(request, who.t._(error.message, **error.values))
            raise web.HTTPSeeOther(back)

        return handle

    return [
        web.post("/themes/{theme}/prompts", handler(add_prompt)),
        web.post("/prompts/{id}/edit", handler(edit_prompt)),
        web.post("/prompts/{id}/move", handler(move_prompt)),
        web.post("/prompts/{id}/remove", handler(remove_prompt)),
        web.post("/library/{id}/edit", handler(edit_item)),
        web.post("/library/{id}/remove", handler(remove_item)),
        web.post("/events", handler(add_event)),
    ]


def _text(form: Form, name: str) -> str:
    value = form.get(name, "")
    return " ".join(value.split()) if isinstance(value, str) else ""


def _number(match: Mapping[str, str]) -> int | None:
    raw = match["id"]
    return int(raw) if raw.isdigit() and len(raw) <= 12 else None


def _prompt_text(text: str) -> str:
    if len(text) < PROMPT_CHARS:
        raise CommandError("A prompt needs a real question of at least 10 characters.")
    if len(text) > TEXT_CHARS:
        raise CommandError(
            "That prompt is {n} characters long; keep it to {limit}.", n=len(text), limit=TEXT_CHARS
        )
    return text


# Prompts ---------------------------------------------------------------------------------------


async def add_prompt(
    dashboard: Dashboard, who: Viewer, match: Mapping[str, str], form: Form
) -> str:
    theme = dashboard.theme_for(who, match["theme"])
    text = _prompt_text(_text(form, "text"))
    now = epoch(dashboard.trellis.clock.now())
    async with dashboard.trellis.store.transaction() as tx:
        await facilitation.add_prompt(tx, who.community, theme, text, who.member.member_id, now)
    return f"/themes/{theme}"


async def _queued(db: Reads, who: Viewer, match: Mapping[str, str]) -> facilitation.Prompt:
    prompt_id = _number(match)
    prompt = None
    if prompt_id is not None:
        prompt = await facilitation.prompt(db, who.community, prompt_id)
    if prompt is None:
        raise CommandError(
            "There is no prompt #{id}; {prefix}prompt list shows their numbers.",
            id=match["id"][:20],
            prefix="/",
        )
    if not who.scope.covers_theme(prompt.theme):
        raise CommandError("Prompt #{id} belongs to a theme you do not lead.", id=prompt.id)
    if prompt.posted_at is not None:
        raise CommandError("Prompt #{id} was already posted; it stays in the record.", id=prompt.id)
    return prompt


async def edit_prompt(
    dashboard: Dashboard, who: Viewer, match: Mapping[str, str], form: Form
) -> str:
    text = _prompt_text(_text(form, "text"))
    async with dashboard.trellis.store.transaction() as tx:
        prompt = await _queued(tx, who, match)
        await facilitation.edit_prompt(tx, who.community, prompt.id, text)
    return f"/themes/{prompt.theme}"


async def move_prompt(
    dashboard: Dashboard, who: Viewer, match: Mapping[str, str], form: Form
) -> str:
    steps = {"sooner": -1, "later": 1}.get(_text(form, "to"), 0)
    async with dashboard.trellis.store.transaction() as tx:
        prompt = await _queued(tx, who, match)
        await facilitation.move_prompt(tx, who.community, prompt.id, steps)
    return f"/themes/{prompt.theme}"


async def remove_prompt(
    dashboard: Dashboard, who: Viewer, match: Mapping[str, str], form: Form
) -> str:
    async with dashboard.trellis.store.transaction() as tx:
        prompt = await _queued(tx, who, match)
        await facilitation.remove_prompt(tx, who.community, prompt.id)
    return f"/themes/{prompt.theme}"


# The library -----------------------------------------------------------------------------------


async def _item(db: Reads, who: Viewer, match: Mapping[str, str]) -> knowledge.KnowledgeItem:
    item_id = _number(match)
    item = None
    if item_id is not None:
        item = await knowledge.knowledge_item(db, who.community, item_id=item_id)
    if item is None:
        raise CommandError(
            "There is no item {id} in the library; {prefix}library list shows each item's number.",
            id=match["id"][:20],
            prefix="/",
        )
    if not may_change(who.scope, item):
        raise CommandError(
            "Item {id} is not yours; its authors, whoever filed it and facilitators can change it.",
            id=item.id,
        )
    return item


async def edit_item(dashboard: Dashboard, who: Viewer, match: Mapping[str, str], form: Form) -> str:
    title = checked_title(_text(form, "title"))
    kind = checked_kind(_text(form, "kind"))
    now = epoch(dashboard.trellis.clock.now())
    async with dashboard.trellis.store.transaction() as tx:
        item = await _item(tx, who, match)
        await knowledge.edit_knowledge(tx, item.id, title=title, kind=kind, at=now)
    return "/knowledge"


async def remove_item(
    dashboard: Dashboard, who: Viewer, match: Mapping[str, str], form: Form
) -> str:
    async with dashboard.trellis.store.transaction() as tx:
        item = await _item(tx, who, match)
        await knowledge.remove_knowledge(tx, item.id)
    return "/knowledge"


# Events ----------------------------------------------------------------------------------------


async def add_event(dashboard: Dashboard, who: Viewer, match: Mapping[str, str], form: Form) -> str:
    dashboard.require_facilitator(who)
    now = dashboard.trellis.clock.now()
    title, starts, place = checked_event(
        _text(form, "title"), _text(form, "when"), _text(form, "place"), who.tz, now
    )
    theme = _text(form, "theme") or None
    if theme is not None:
        theme = dashboard.theme_for(who, theme)
    async with dashboard.trellis.store.transaction() as tx:
        await calendar.add_event(
            tx,
            who.community,
            title=title,
            starts_at=epoch(starts),
            place=place,
            theme=theme,
            created_by=who.member.member_id,
            at=epoch(now),
        )
    return "/commitments"
