"""The dashboard in a real browser: Debian's Chromium driven by Playwright (no browser download).

A facilitator asks for a link in chat, opens it, and visits every page: each chart loads, the
console shows no error, and the keyboard alone reaches every link. A theme leader sees only the
themes they lead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.web_demo import Served, served_demo

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        await browser.close()


async def log_in(browser: Browser, served: Served, handle: str) -> tuple[Page, list[str]]:
    """A new browser page logged in through the link ``handle`` got in chat, and the list its
    console errors and failed requests are collected into."""
    page = await browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    # A request cut short by the next navigation (a favicon) is not a failure of the page.
    page.on(
        "requestfailed",
        lambda r: None if r.failure == "net::ERR_ABORTED" else errors.append(f"failed: {r.url}"),
    )
    await page.goto(await served.link(handle))
    await page.get_by_role("button").click()
    await page.wait_for_url(served.url + "/")
    return page, errors


async def nav_links(page: Page) -> list[str]:
    links: list[str] = await page.eval_on_selector_all(
        "nav a", "links => links.map(a => a.pathname)"
    )
    return links


async def test_a_facilitator_logs_in_from_chat_and_every_page_and_chart_loads(
    demo_record: Path, tmp_path: Path, browser: Browser
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        page, errors = await log_in(browser, served, "maria")
        links = await nav_links(page)
        assert links == [
            "/", "/themes/water", "/themes/gender", "/themes/climate", "/themes/mel",
            "/people", "/network", "/knowledge", "/commitments", "/surveys", "/report",
        ]  # fmt: skip
        charts = 0
        for path in links:
            response = await page.goto(served.url + path)
            assert response is not None and response.status == 200, path
            await page.wait_for_load_state("load")
            assert await page.locator("h1").count() == 1
            images = await page.eval_on_selector_all(
                "img",
                "imgs => imgs.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth])",
            )
            assert all(width for _, width in images), (path, images)
            charts += len(images)
            await page.screenshot(
                path=tmp_path / f"{path.strip('/').replace('/', '-') or 'home'}.png"
            )
        assert charts == 7  # levels and themes at home, one per theme, the network
        assert (tmp_path / "home.png").stat().st_size > 10_000
        assert errors == []

        # The report of a month, in each format, from the form.
        await page.goto(served.url + "/report")
        await page.fill("#period", "2026-09")
        await page.select_option("#format", "md")
        await page.get_by_role("button", name="Show the report").click()
        assert "2026-09" in await page.inner_text("body")
        for fmt in ("html", "md", "json", "csv"):
            download = await page.request.get(
                f"{served.url}/report?period=2026-09&format={fmt}&download=1"
            )
            assert download.status == 200
            assert download.headers["content-disposition"] == (
                f'attachment; filename="trellis-report-praxis-2026-09.{fmt}"'
            )

        # Logging out ends the session.
        await page.goto(served.url + "/")
        await page.get_by_role("button", name="Log out").click()
        response = await page.goto(served.url + "/people")
        assert response is not None and response.status == 401


async def test_the_keyboard_alone_reaches_every_link(
    demo_record: Path, tmp_path: Path, browser: Browser
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        page, _ = await log_in(browser, served, "maria")
        # Every page of the menu; of the themes' pages, which share one template, the first.
        paths = [p for p in await nav_links(page) if not p.startswith("/themes/")]
        for path in [*paths, "/themes/water"]:
            await page.goto(served.url + path)
            wanted = set(
                await page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
            )
            focusable = await page.eval_on_selector_all(
                "a[href], button, input:not([type=hidden]), select, textarea",
                "found => found.length",
            )
            # Every element the keyboard focuses is noted by the page itself, so each Tab is
            # one key press and the list is read once.
            await page.evaluate(
                "window.reached = []; document.addEventListener('focusin', "
                "e => e.target.href && window.reached.push(e.target.href))"
            )
            for _ in range(focusable + 2):
                await page.keyboard.press("Tab")
            reached = set(await page.evaluate("window.reached"))
            assert wanted <= reached, wanted - reached
        # The first Tab reaches the link that skips to the content.
        await page.goto(served.url + "/")
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.getAttribute('href')") == "#main"


async def test_a_theme_leader_sees_only_their_themes(
    demo_record: Path, tmp_path: Path, browser: Browser
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        page, errors = await log_in(browser, served, "rita")  # leads Climate adaptation
        assert await nav_links(page) == ["/", "/themes/climate"]
        themes = await page.locator("#themes").inner_text()
        assert "Climate adaptation" in themes
        assert "Water" not in themes and "Gender" not in themes
        response = await page.goto(served.url + "/themes/climate")
        assert response is not None and response.status == 200
        for path in ("/themes/water", "/people", "/network", "/report?period=2026-09"):
            response = await page.goto(served.url + path)
            assert response is not None and response.status in (403, 404), path
        assert "Water & land rights" not in await page.content()
        assert [e for e in errors if "403" not in e and "404" not in e] == []
