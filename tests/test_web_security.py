"""The dashboard's locks: one-time links, session cookies, CSRF, hostile member text, opt-outs,
and where it listens. Everything runs against the real server on loopback, over the demo."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
import html5lib
import pytest

from bot.cli import start_dashboard
from bot.config import ConfigError, parse_settings
from storage.web import token_hash
from tests.helpers import config, running_app
from tests.web_demo import LINK, csrf_of, free_port, logged_in, served_demo
from web import site
from web.server import COOKIE, Dashboard

PAGES = (
    "/", "/themes/water", "/themes/gender", "/themes/climate", "/themes/mel", "/people",
    "/network", "/knowledge", "/commitments", "/surveys", "/report?period=2026-09&format=html",
    "/report?period=2026-09&format=md", "/report?period=2026-09&format=json",
    "/report?period=2026-09&format=csv",
)  # fmt: skip


@asynccontextmanager
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield http


@dataclass(frozen=True)
class Answer:
    status: int
    set_cookie: str
    text: str


async def log_in(http: aiohttp.ClientSession, link: str) -> Answer:
    async with http.post(link, allow_redirects=False) as response:
        return Answer(
            response.status, response.headers.get("Set-Cookie", ""), await response.text()
        )


async def test_links_work_once_within_15_minutes_and_only_where_they_were_made(
    demo_record: Path, tmp_path: Path
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        link = await served.link("maria")
        async with client() as http:
            # Opening the link only shows a button: a chat client's preview spends nothing.
            async with http.get(link) as page:
                assert page.status == 200 and "Open the dashboard" in await page.text()
            first = await log_in(http, link)
            assert first.status == 303 and first.set_cookie.startswith(COOKIE + "=")
        # Only hashes are stored, of the link and of the session.
        session = first.set_cookie.split(";")[0].split("=", 1)[1]
        spent = link.rsplit("/", 1)[1]
        dump = "\n".join(sqlite3.connect(served.app.settings.storage.path).iterdump())
        assert spent not in dump and session not in dump
        assert token_hash(spent) in dump and token_hash(session) in dump
        async with client() as http:
            again = await log_in(http, link)
            assert again.status == 403 and again.set_cookie == ""
            assert "expired or was already used" in again.text

        late = await served.link("maria")
        served.harness.clock.set(served.harness.clock.now() + timedelta(minutes=15, seconds=1))
        async with client() as http:
            assert (await log_in(http, late)).status == 403
            assert (await log_in(http, served.url + "/login/made-up-token")).status == 403
            # A session cookie that Trellis did not issue opens nothing.
            http.cookie_jar.update_cookies({COOKIE: "forged"})
            async with http.get(served.url + "/") as page:
                assert page.status == 401

        # A link made by another Trellis, for another community, opens nothing here.
        web = {"listen": f"127.0.0.1:{free_port()}", "public_url": "https://other.example"}
        (tmp_path / "other").mkdir()
        async with running_app(tmp_path / "other", config(web=web)) as other:
            answer = await other.command("fran", "/dashboard")
        foreign = LINK.pattern.replace("http://", "https://")
        token = re.search(foreign, answer)
        assert token, answer
        async with client() as http:
            foreign_link = served.url + "/login/" + token.group(1).rsplit("/", 1)[1]
            assert (await log_in(http, foreign_link)).status == 403


async def test_the_session_cookie_has_its_flags_and_secure_behind_https(
    demo_record: Path, tmp_path: Path
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        async with client() as http:
            response = await log_in(http, await served.link("maria"))
        cookie = response.set_cookie
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=43200" in cookie
        assert "Secure" not in cookie  # http://127.0.0.1: a browser would drop a Secure cookie

        port = free_port()
        assert served.app.settings.web is not None
        settings = served.app.settings.web.model_copy(
            update={"listen": f"127.0.0.1:{port}", "public_url": "https://trellis.example.org"}
        )
        behind_proxy = Dashboard(served.app, settings)
        await behind_proxy.start()
        try:
            token = (await served.link("maria")).rsplit("/", 1)[1]
            async with client() as http:
                response = await log_in(http, f"http://127.0.0.1:{port}/login/{token}")
            cookie = response.set_cookie
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        finally:
            await behind_proxy.stop()


async def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
    demo_record: Path, tmp_path: Path
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        http = await logged_in(served, "maria")
        try:
            async with http.post(served.url + "/logout", data={}) as refused:
                assert refused.status == 403
            async with http.post(served.url + "/logout", data={"csrf": "0" * 64}) as refused:
                assert refused.status == 403
            async with http.get(served.url + "/people") as still:
                assert still.status == 200  # still logged in
            token = await csrf_of(http, served.url)
            async with http.post(served.url + "/logout", data={"csrf": token}) as done:
                assert done.status == 200
            async with http.get(served.url + "/people") as gone:
                assert gone.status == 401
        finally:
            await http.close()


class _Active(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed") or (
            tag == "img" and ("src", "x") in attrs
        ):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value}>")


def active_markup(html: str) -> list[str]:
    """The elements and attributes of ``html`` that would run or fetch what a member wrote."""
    parser = _Active()
    parser.feed(html)
    return parser.found


HOSTILE = (
    "<script>alert(1)</script> [click](javascript:alert(2)) **loud** <img src=x onerror=alert(3)>"
)


async def test_hostile_member_text_shows_as_text_on_every_page_and_in_the_site(
    demo_record: Path, tmp_path: Path
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        h = served.harness
        await h.lines('~ eve joins as "<script>alert(4)</script>Eve"')
        await h.lines(f"#agua eve: {HOSTILE} irrigation")
        for command in (
            f"/share lesson {HOSTILE}",
            f"/commit {HOSTILE} by 2026-12-01",
            f"/event add {HOSTILE} 2026-12-03 18:00 <b>Casa</b>",
            f"/profile set expertise:{HOSTILE}",
            f"/kudos @ana for {HOSTILE}",
        ):
            await h.command("eve", command)
        await h.command("ana", f"/prompt add water {HOSTILE}")
        await h.command("maria", "/digest post")
        http = await logged_in(served, "maria")
        shown = 0
        named = False
        try:
            for path in PAGES:
                async with http.get(served.url + path) as response:
                    assert response.status == 200, path
                    body = await response.text()
                    html = response.content_type == "text/html"
                if not html:  # md, json, csv: not read as a page by the browser
                    assert response.content_type in (
                        "text/markdown",
                        "application/json",
                        "text/csv",
                    )
                    continue
                assert not active_markup(body), path
                html5lib.HTMLParser(strict=True).parse(body)  # valid HTML, hostile text and all
                shown += "&lt;script&gt;alert(1)" in body
                named = named or "&lt;script&gt;alert(4)&lt;/script&gt;Eve" in body
        finally:
            await http.close()
        assert shown >= 3 and named  # the library, commitments, the prompt queue; people

        out = tmp_path / "site"
        await site.build(served.app.store, served.app.settings, out, h.clock.now())
        pages = list(out.rglob("*.html"))
        texts = {page: page.read_text(encoding="utf-8") for page in pages}
        for page, text in texts.items():
            assert not active_markup(text), page
        assert sum("&lt;script&gt;alert(1)" in text for text in texts.values()) >= 2


async def test_an_opted_out_member_appears_on_no_page_and_not_in_the_site(
    demo_record: Path, tmp_path: Path
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        http = await logged_in(served, "maria")
        try:
            before = ""
            for path in PAGES[:10]:
                async with http.get(served.url + path) as response:
                    before += await response.text()
            assert "Luis Mamani" in before  # on the pages until he opts out
            await served.harness.command("luis", "/optout")
            for path in PAGES:
                async with http.get(served.url + path) as response:
                    body = await response.text()
                assert response.status == 200, path
                assert "Luis Mamani" not in body and "Mamani" not in body, path
                assert not re.search(r"\bLuis\b", body), path
        finally:
            await http.close()
        out = tmp_path / "site"
        await site.build(served.app.store, served.app.settings, out, served.harness.clock.now())
        for page in out.rglob("*.html"):
            text = page.read_text(encoding="utf-8")
            assert "Mamani" not in text and not re.search(r"\bLuis\b", text), page


async def test_the_dashboard_listens_only_where_configured(
    demo_record: Path, tmp_path: Path
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        port = int(served.url.rsplit(":", 1)[1])
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
        with pytest.raises(OSError):
            await asyncio.open_connection("::1", port)
    (tmp_path / "plain").mkdir()
    async with running_app(tmp_path / "plain") as plain:
        assert plain.app.settings.web is None
        assert await start_dashboard(plain.app) is None
    # As trellis run starts it: where [web] says; a port already taken is one sentence.
    port = free_port()
    web = {"listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}"}
    (tmp_path / "configured").mkdir()
    async with running_app(tmp_path / "configured", config(web=web)) as configured:
        dashboard = await start_dashboard(configured.app)
        assert dashboard is not None
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/") as page,
            ):
                assert page.status == 401 and "ask Trellis for a link" in await page.text()
            with pytest.raises(ConfigError, match=rf"web.listen 127.0.0.1:{port}: cannot listen"):
                await start_dashboard(configured.app)
        finally:
            await dashboard.stop()


async def test_the_dashboard_command_is_for_facilitators_and_theme_leaders(
    demo_record: Path, tmp_path: Path
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        refused = await served.harness.command("lucia", "/dashboard")
        assert refused.startswith("Only theme leaders can use /dashboard")
        assert "/login/" not in refused
        assert "/login/" in await served.harness.command("rita", "/dashboard")
    (tmp_path / "plain").mkdir()
    async with running_app(tmp_path / "plain") as plain:
        answer = await plain.command("fran", "/dashboard")
        assert answer.startswith("The dashboard is not set up here")


async def test_a_session_never_holds_more_than_the_member_holds_now(
    demo_record: Path, tmp_path: Path
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        http = await logged_in(served, "maria")
        try:
            async with http.get(served.url + "/people") as page:
                assert page.status == 200
            # The configuration no longer makes her a facilitator (say, after a restart).
            app = served.app
            praxis = app.settings.communities["praxis"]
            roles = praxis.roles.model_copy(
                update={"facilitators": ["console:diego"], "admins": []}
            )
            praxis = praxis.model_copy(update={"roles": roles})
            app.settings = app.settings.model_copy(update={"communities": {"praxis": praxis}})
            async with http.get(served.url + "/people") as page:
                assert page.status == 403
                assert "you are neither any more" in await page.text()
        finally:
            await http.close()


@pytest.mark.parametrize(
    ("web", "sentence"),
    [
        ({"public_url": "https://trellis.example.org", "listen": "8080"},
         "web.listen: '8080' should be written 'host:port', e.g. '127.0.0.1:8080'"),
        ({"public_url": "trellis.example.org"},
         "web.public_url: 'trellis.example.org' should be a web address starting with https://"),
        ({"public_url": "https://example.org/trellis"},
         "web: public_url 'https://example.org/trellis' has a path; the dashboard is served at "
         "the root of an address of its own"),
        ({"listen": "127.0.0.1:8080"}, "web.public_url is required but missing."),
    ],
)  # fmt: skip
def test_a_wrong_web_section_is_one_sentence(web: dict[str, str], sentence: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_settings(config(web=web))
    assert str(refused.value).startswith(sentence)
