"""The facilitators' dashboard: an aiohttp server inside ``trellis run``.

Login without passwords: the ``dashboard`` command sends a one-time link; opening it shows a
button (so that a chat client fetching the link for a preview does not spend it), and pressing it
opens a session of ``SESSION_HOURS``. The session cookie is HttpOnly, SameSite=Strict, and Secure
when the public address is https. Every POST of a logged-in page carries a CSRF token derived
from the session; tokens and sessions are stored hashed (``storage.web``).

Pages are rendered on the server (Jinja2, autoescaped) and work without JavaScript; charts are
SVG drawn off the event loop; styles are served from ``web/static`` (no CDN).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.commands.context import CommandError
from bot.commands.parsing import parse_period
from bot.i18n import N_
from bot.monitoring.render import FORMATS, render
from bot.monitoring.report import build_report
from bot.worker import run_in_worker
from storage import web as web_store
from web import actions, pages
from web.pages import Reports, Viewer
from web.templating import templates

if TYPE_CHECKING:
    from bot.app import Trellis
    from bot.config import WebSettings
    from bot.i18n import Translator

log = logging.getLogger(__name__)

COOKIE = "trellis_session"
SESSION_HOURS = 12
CSRF_FIELD = "csrf"
PAGES_AT_ONCE = 2
"""Pages built at the same time; more requests wait their turn (see ``_session``)."""

VIEWER_KEY = web.RequestKey("viewer", Viewer)
TOKEN_KEY = web.RequestKey("session_token", str)

_SECURITY_HEADERS = {
    # Only what Trellis serves, no inline script or style, never inside a frame.
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # A login link must not leave in a Referer header.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def csrf_token(session_token: str) -> str:
    """The form token of a session: derived from it, so it is never stored, and useless alone."""
    return hmac.new(session_token.encode(), b"trellis-csrf", hashlib.sha256).hexdigest()


class Dashboard:
    """The aiohttp application and what its handlers share."""

    def __init__(self, trellis: Trellis, settings: WebSettings) -> None:
        self.trellis = trellis
        self.settings = settings
        self.secure = settings.public_url.startswith("https://")
        self.env = templates()
        self.reports = Reports()
        self._building = asyncio.Semaphore(PAGES_AT_ONCE)
        self.app = web.Application(middlewares=[self._headers, self._session])
        self.app.add_routes(
            [
                web.get("/login/{token}", self.login_page),
                web.post("/login/{token}", self.login),
                web.post("/logout", self.logout),
                web.get("/", self.overview),
                web.get("/themes/{theme}", self.theme),
                web.get("/people", self.people),
                web.get("/network", self.network),
                web.get("/knowledge", self.knowledge),
                web.get("/commitments", self.commitments),
                web.get("/surveys", self.surveys),
                web.get("/report", self.report),
                web.get("/charts/levels.svg", self.levels_chart),
                web.get("/charts/themes.svg", self.themes_chart),
                web.get("/charts/themes/{theme}.svg", self.themes_chart),
                web.get("/charts/network.svg", self.network_chart),
                web.static("/static", Path(str(resources.files("web") / "static"))),
                *actions.routes(self),
            ]
        )
        self._runner: web.AppRunner | None = None

    # Serving -------------------------------------------------------------------------------

    async def start(self) -> None:
        host, _, port = self.settings.listen.rpartition(":")
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host.strip("[]"), int(port))
        await site.start()
        log.info("dashboard listening on %s (%s)", self.settings.listen, self.settings.public_url)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # Middlewares ---------------------------------------------------------------------------

    @web.middleware
    async def _headers(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as error:
            response = error
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if isinstance(response, web.HTTPException):
            raise response
        return response

    @web.middleware
    async def _session(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith(("/login/", "/static/")):
            return await handler(request)
        token = request.cookies.get(COOKIE, "")
        now = int(self.trellis.clock.now().timestamp())
        member = await web_store.session(self.trellis.store, token, now) if token else None
        if member is None:
            return self.message(None, 401, _LOGIN_TITLE, _LOGGED_OUT)
        who = await pages.viewer(self.trellis, member)
        if not who.allowed:
            return self.message(None, 403, _REFUSED_TITLE, _NO_LONGER)
        request[VIEWER_KEY] = who
        request[TOKEN_KEY] = token
        if request.method == "POST":
            form = await request.post()
            sent = str(form.get(CSRF_FIELD, ""))
            if not hmac.compare_digest(sent, csrf_token(token)):
                return self.message(request[VIEWER_KEY], 403, _REFUSED_TITLE, _NO_CSRF)
            return await handler(request)
        # A page reads on a connection of its own, at a lower priority, and only a few pages
        # are built at once: storing chat and answering commands, on the same event loop,
        # never wait behind a crowd of facilitators' pages.
        async with self._building, self.trellis.store.reads_apart(background=True):
            return await handler(request)

    # Rendering -----------------------------------------------------------------------------

    def page(
        self, request: web.Request, template: str, title: str, status: int = 200, **values: Any
    ) -> web.Response:
        who = request[VIEWER_KEY]
        text = self.env.get_template(template).render(
            _=who.t._,
            n_=who.t.n_,
            lang=who.t.locale,
            title=title,
            who=who,
            nav=self.nav(who),
            csrf=csrf_token(request[TOKEN_KEY]),
            community=self.trellis.community(who.community).settings.name,
            **values,
        )
        return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")

    def nav(self, who: Viewer) -> list[tuple[str, str]]:
        t = who.t
        links = [("/", t._("Community"))]
        themes = self.trellis.themes[who.community].themes
        links += [
            (f"/themes/{theme_id}", themes[theme_id].name) for theme_id in who.scope.themes(themes)
        ]
        if who.facilitator:
            links += [
                ("/people", t._("People")),
                ("/network", t._("Network")),
                ("/knowledge", t._("Knowledge")),
                ("/commitments", t._("Commitments and events")),
                ("/surveys", t._("Surveys")),
                ("/report", t._("Report")),
            ]
        return links

    def message(
        self,
        who: Viewer | None,
        status: int,
        title: str,
        text: str,
    ) -> web.Response:
        """A page of one sentence (a refusal, a logout), in the viewer's language when known."""
        t = who.t if who is not None else self._first_translator()
        body = self.env.get_template("message.html").render(
            _=t._,
            lang=t.locale,
            title=t._(title),
            text=t._(text),
            who=who,
            nav=self.nav(who) if who is not None else [],
            csrf="",
            community="Trellis",
        )
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")

    def _first_translator(self) -> Translator:
        """Before login the member is unknown: the (first) community's language."""
        return self.trellis.community(next(iter(self.trellis.settings.communities))).translator

    def refusal(self, request: web.Request, sentence: str) -> web.Response:
        """Bad input on a form: its one sentence (already in the viewer's language)."""
        who = request[VIEWER_KEY]
        body = self.env.get_template("message.html").render(
            _=who.t._,
            lang=who.t.locale,
            title=who.t._("Nothing was changed"),
            text=sentence,
            who=who,
            nav=self.nav(who),
            csrf=csrf_token(request[TOKEN_KEY]),
            community=self.trellis.community(who.community).settings.name,
        )
        return web.Response(text=body, status=400, content_type="text/html", charset="utf-8")

    @staticmethod
    def viewer_of(request: web.Request) -> Viewer:
        return request[VIEWER_KEY]

    def require_facilitator(self, who: Viewer) -> None:
        if not who.facilitator:
            raise CommandError(_FACILITATORS_ONLY)

    def theme_for(self, who: Viewer, theme: str) -> str:
        """``theme`` if it is one the viewer acts on (every theme for facilitators)."""
        if theme not in self.trellis.themes[who.community].themes or not who.scope.covers_theme(
            theme
        ):
            raise CommandError(_NO_THEME)
        return theme

    def _require_facilitator(self, request: web.Request) -> Viewer:
        who = request[VIEWER_KEY]
        if not who.facilitator:
            raise _refusal(self.message(who, 403, _REFUSED_TITLE, _FACILITATORS_ONLY))
        return who

    def _theme_of(self, request: web.Request) -> str:
        who = request[VIEWER_KEY]
        try:
            return self.theme_for(who, request.match_info["theme"])
        except CommandError:
            raise _refusal(self.message(who, 404, _NOT_FOUND_TITLE, _NO_THEME)) from None

    # Login and logout ------------------------------------------------------------------------

    async def login_page(self, request: web.Request) -> web.Response:
        t = self._first_translator()
        body = self.env.get_template("login.html").render(
            _=t._, lang=t.locale, title=t._("Open the dashboard"), who=None, nav=[], csrf="",
            community="Trellis", token=request.match_info["token"],
        )  # fmt: skip
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    async def login(self, request: web.Request) -> web.StreamResponse:
        now = self.trellis.clock.now()
        token = secrets.token_urlsafe(32)
        async with self.trellis.store.transaction() as db:
            member = await web_store.use_link(db, request.match_info["token"], int(now.timestamp()))
            if member is not None:
                expires = int((now + timedelta(hours=SESSION_HOURS)).timestamp())
                await web_store.add_session(db, token, member, expires)
        if member is None:
            return self.message(None, 403, _REFUSED_TITLE, _BAD_LINK)
        response = web.HTTPSeeOther("/")  # raised: aiohttp wants redirects raised
        response.set_cookie(
            COOKIE,
            token,
            max_age=SESSION_HOURS * 3600,
            path="/",
            httponly=True,
            secure=self.secure,
            samesite="Strict",
        )
        raise response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        async with self.trellis.store.transaction() as db:
            await web_store.end_session(db, request[TOKEN_KEY])
        response = self.message(None, 200, _LOGGED_OUT_TITLE, _LOGGED_OUT_TEXT)
        response.del_cookie(COOKIE, path="/")
        return response

    # Pages -----------------------------------------------------------------------------------

    async def overview(self, request: web.Request) -> web.Response:
        who = request[VIEWER_KEY]
        values = await pages.overview(self.trellis, who, self.reports)
        return self.page(request, "overview.html", who.t._("The community at a glance"), **values)

    async def theme(self, request: web.Request) -> web.Response:
        who = request[VIEWER_KEY]
        theme = self._theme_of(request)
        values = await pages.theme_page(self.trellis, who, self.reports, theme)
        return self.page(request, "theme.html", values["name"], theme=values)

    async def people(self, request: web.Request) -> web.Response:
        who = self._require_facilitator(request)
        values = await pages.people(self.trellis, who)
        return self.page(request, "people.html", who.t._("People"), **values)

    async def network(self, request: web.Request) -> web.Response:
        who = self._require_facilitator(request)
        values = await pages.network(self.trellis, who, self.reports)
        return self.page(request, "network.html", who.t._("Network"), **values)

    async def knowledge(self, request: web.Request) -> web.Response:
        who = self._require_facilitator(request)
        values = await pages.knowledge(self.trellis, who)
        return self.page(request, "knowledge.html", who.t._("Knowledge"), **values)

    async def commitments(self, request: web.Request) -> web.Response:
        who = self._require_facilitator(request)
        values = await pages.commitments_and_events(self.trellis, who)
        themes = self.trellis.themes[who.community].themes
        return self.page(
            request, "commitments.html", who.t._("Commitments and events"),
            themes=[(theme_id, theme.name) for theme_id, theme in themes.items()], **values,
        )  # fmt: skip

    async def surveys(self, request: web.Request) -> web.Response:
        who = self._require_facilitator(request)
        values = await pages.surveys(self.trellis, who, self.reports)
        return self.page(request, "surveys.html", who.t._("Surveys"), **values)

    async def report(self, request: web.Request) -> web.StreamResponse:
        who = self._require_facilitator(request)
        asked = request.query.get("period", "").strip()
        fmt = request.query.get("format", "")
        if not asked:
            return self.page(request, "report.html", who.t._("Report"), error=None, period="4w")
        try:
            period = parse_period(asked[:60], who.tz, self.trellis.clock.now())
        except CommandError as error:
            return self.page(
                request, "report.html", who.t._("Report"), status=400,
                error=who.t._(error.message, **error.values), period=asked[:60],
            )  # fmt: skip
        if fmt not in FORMATS:
            fmt = "html"
        report = await build_report(
            self.trellis.store, self.trellis.settings, who.community, period.start, period.end,
            label=period.label,
        )  # fmt: skip
        data = await run_in_worker(render, report, fmt, who.t)
        name = re.sub(r"[^\w.-]+", "_", f"trellis-report-{who.community}-{period.label}")
        types = {
            "html": "text/html",
            "md": "text/markdown",
            "json": "application/json",
            "csv": "text/csv",
        }
        headers = {}
        if request.query.get("download"):
            headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        response = web.Response(
            body=data, headers=headers, content_type=types[fmt], charset="utf-8"
        )
        if fmt == "html":
            # The report page styles itself inline and embeds its charts: allow exactly that.
            response.headers["Content-Security-Policy"] = (
                "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'"
            )
        return response

    # Charts ----------------------------------------------------------------------------------

    def _svg(self, data: bytes) -> web.Response:
        return web.Response(body=data, content_type="image/svg+xml")

    async def levels_chart(self, request: web.Request) -> web.Response:
        who = request[VIEWER_KEY]
        draw = functools.partial(pages.levels_svg, t=who.t)
        key = ("levels", who.t.locale)
        return self._svg(await self.reports.chart(self.trellis, who.community, key, draw))

    async def themes_chart(self, request: web.Request) -> web.Response:
        who = request[VIEWER_KEY]
        if "theme" in request.match_info:
            wanted = [self._theme_of(request)]
        else:
            wanted = who.scope.themes(self.trellis.themes[who.community].themes)
        draw = functools.partial(pages.themes_svg, wanted=wanted, t=who.t)
        key = ("themes", who.t.locale, *wanted)
        return self._svg(await self.reports.chart(self.trellis, who.community, key, draw))

    async def network_chart(self, request: web.Request) -> web.Response:
        who = self._require_facilitator(request)
        draw = functools.partial(pages.network_svg, t=who.t)
        key = ("network", who.t.locale)
        return self._svg(await self.reports.chart(self.trellis, who.community, key, draw))


def _refusal(response: web.Response) -> web.HTTPException:
    """A rendered refusal page, raised from deep in a handler."""
    kind = web.HTTPNotFound if response.status == 404 else web.HTTPForbidden
    return kind(text=response.text, content_type="text/html")


_LOGIN_TITLE = N_("Please log in")
_REFUSED_TITLE = N_("Not allowed")
_NOT_FOUND_TITLE = N_("Not found")
_LOGGED_OUT_TITLE = N_("Logged out")
_LOGGED_OUT = N_(
    "You are not logged in to the dashboard: ask Trellis for a link with the dashboard command "
    "in chat."
)
_BAD_LINK = N_(
    "This link has expired or was already used: ask Trellis for a new one with the dashboard "
    "command in chat."
)
_LOGGED_OUT_TEXT = N_("You are logged out. The dashboard command in chat sends a new link.")
_NO_CSRF = N_("This form has expired: go back, reload the page and send it again.")
_FACILITATORS_ONLY = N_("This page is for facilitators; theme leaders see their themes.")
_NO_LONGER = N_(
    "The dashboard is for facilitators and theme leaders, and you are neither any more."
)
_NO_THEME = N_("There is no such theme among those you lead.")
