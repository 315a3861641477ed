"""The HTML report opened in headless Chromium: every chart must load, and the page must show.

A copy of the page gets a small script that, once the page has loaded, writes how many images
decoded and how many did not into the DOM; Chromium dumps the DOM and the test reads the count.
A screenshot of the same page must not be blank. A page with one broken image must be caught.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from bot.i18n import Translator
from bot.monitoring.render import render_html
from tests.helpers import config, running_app
from tests.test_monitoring_report import BEFORE, scripted, week37

_CHECK = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const loaded = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  const marker = document.createElement("p");
  marker.id = "chart-check";
  marker.textContent = `charts loaded=${loaded} broken=${images.length - loaded}`;
  document.body.appendChild(marker);
});
</script>
"""


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "Chromium is not installed, and the HTML report must be checked in it; "
            "run `apt-get install chromium` (Debian's package) and run the tests again."
        )
    return path


async def run_chromium(page: Path, profile: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args, page.as_uri(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode("utf-8", errors="replace")


async def chart_check(page: Path, profile: Path) -> tuple[int, int]:
    dom = await run_chromium(page, profile, "--dump-dom")
    found = re.search(r"charts loaded=(\d+) broken=(\d+)", dom)
    assert found, "the check script did not run; the page did not finish loading"
    return int(found.group(1)), int(found.group(2))


def with_check(html: str) -> str:
    return html.replace("</body>", _CHECK + "</body>", 1)


async def test_every_chart_of_the_html_report_loads_in_chromium(tmp_path):
    async with running_app(tmp_path, config(), start=BEFORE) as h:
        await scripted(h)
        html = render_html(await week37(h), Translator("en"))
    assert "<script" not in html and "http" not in html  # self-contained, nothing fetched
    page = tmp_path / "report.html"
    page.write_text(with_check(html), encoding="utf-8")
    assert await chart_check(page, tmp_path / "profile-1") == (3, 0)

    shot = tmp_path / "report.png"
    await run_chromium(
        page, tmp_path / "profile-2", f"--screenshot={shot}", "--window-size=1200,2400"
    )
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot is blank"

    broken = html.replace("base64,iVBOR", "base64,XXXXX", 1)
    page.write_text(with_check(broken), encoding="utf-8")
    assert await chart_check(page, tmp_path / "profile-3") == (2, 1)
