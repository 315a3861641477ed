"""The history site built from the demo community: every posted digest archived as posted, every
link resolving inside the folder, valid HTML; a forgotten member's name gone from the archive;
the welcome message pointing newcomers to it."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import html5lib
import pytest

from bot.cli import main, schedule_site
from tests.helpers import config, running_app
from tests.web_demo import copy_record, served_demo
from web import site


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.targets.append(value)
            if name == "id" and value:
                self.ids.add(value)


def parsed(page: Path) -> _Links:
    links = _Links()
    links.feed(page.read_text(encoding="utf-8"))
    return links


def broken_links(folder: Path) -> list[str]:
    """Every relative link or source of the site's pages that names no file (or no anchor) in
    ``folder``; links to the web are the library's, and are left alone."""
    broken = []
    for page in sorted(folder.rglob("*.html")):
        for target in parsed(page).targets:
            parts = urlsplit(target)
            if parts.scheme in ("http", "https"):
                continue
            if parts.scheme or parts.netloc or target.startswith("/"):
                broken.append(f"{page.relative_to(folder)}: {target} leaves the folder")
                continue
            found = (page.parent / parts.path).resolve() if parts.path else page
            if not found.is_file() or folder.resolve() not in found.parents:
                broken.append(f"{page.relative_to(folder)}: {target}")
            elif parts.fragment and parts.fragment not in parsed(found).ids:
                broken.append(f"{page.relative_to(folder)}: {target} (no such anchor)")
    return broken


def test_the_site_of_the_demo_archives_every_digest_and_its_links_resolve(
    demo_record: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = copy_record(demo_record, tmp_path / "demo")
    out = tmp_path / "site"
    assert main(["site", "build", "--out", str(out), "--config", str(config_path)]) == 0
    assert f"The history site is in {out}" in capsys.readouterr().out

    database = sqlite3.connect(config_path.parent / "trellis-demo.sqlite3")
    posted = database.execute(
        "SELECT count(*) FROM job_runs WHERE job = 'digest:praxis' AND detail LIKE 'posted to %'"
    ).fetchone()[0]
    archived = [row[0] for row in database.execute("SELECT text FROM digest_archive")]
    assert posted == len(archived) == 7  # the demo's six weeks and the one that closes them
    months = "".join(page.read_text(encoding="utf-8") for page in out.rglob("months/*.html"))
    for text in archived:
        heading = text.splitlines()[0].removeprefix("## ")
        assert heading in months

    pages = sorted(out.rglob("*.html"))
    names = {page.relative_to(out).as_posix() for page in pages}
    assert {
        "index.html", "praxis/index.html", "praxis/digests.html", "praxis/library.html",
        "praxis/events.html", "praxis/timeline.html", "praxis/themes/water.html",
        "praxis/months/2026-09.html", "praxis/months/2026-10.html",
    } <= names  # fmt: skip
    assert broken_links(out) == []
    strict = html5lib.HTMLParser(strict=True)
    for page in pages:
        strict.parse(page.read_text(encoding="utf-8"))  # raises at the first error

    home = (out / "praxis" / "index.html").read_text(encoding="utf-8")
    assert "Red de Aprendizaje Praxis is a community of practice" in home
    water = (out / "praxis" / "themes" / "water.html").read_text(encoding="utf-8")
    assert "Led by Ana Quispe, Juan Choque." in water
    timeline = (out / "praxis" / "timeline.html").read_text(encoding="utf-8")
    assert "The theme Water &amp; land rights started." in timeline
    assert "Meeting: Encuentro virtual de la red" in timeline


def test_the_link_checker_finds_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text('<a href="b.html">b</a><a href="a.html#x">x</a>')
    assert broken_links(tmp_path) == ["a.html: b.html", "a.html: a.html#x (no such anchor)"]


async def test_a_forgotten_member_is_taken_out_of_the_archived_digests(
    demo_record: Path, tmp_path: Path
) -> None:
    async with served_demo(demo_record, tmp_path) as served:
        store = served.app.store
        texts = [row[0] for row in await store.fetch_all("SELECT text FROM digest_archive")]
        assert any("Ana Quispe" in text for text in texts)
        await served.harness.command("ana", "/forget-me confirm")
        texts = [row[0] for row in await store.fetch_all("SELECT text FROM digest_archive")]
        assert len(texts) == 7 and not any("Ana Quispe" in text for text in texts)
        out = tmp_path / "site"
        await site.build(store, served.app.settings, out, served.harness.clock.now())
        for page in out.rglob("*.html"):
            assert "Ana Quispe" not in page.read_text(encoding="utf-8"), page


async def test_the_welcome_links_to_the_history_site_when_it_is_published(tmp_path: Path) -> None:
    data = config(site={"public_url": "https://history.example.org/"})
    async with running_app(tmp_path, data) as h:
        await h.lines('~ nina joins as "Nina"')
        (welcome,) = h.sent_since(0, "direct")
        assert "<https://history.example.org/praxis/index.html>" in welcome.text


async def test_a_schedule_keeps_the_site_current_in_the_community_language(tmp_path: Path) -> None:
    out = tmp_path / "site"
    data = config(
        site={"out": str(out), "cron": "0 5 * * *"}, **{"communities.praxis.locale": "es"}
    )
    async with running_app(tmp_path, data) as h:
        schedule_site(h.app)  # as trellis run does before it starts, from when it is known:
        await h.app.run_due_jobs()
        await h.lines("#water lena: Cómo medimos el caudal en época seca?")
        log = await h.advance(timedelta(days=1))
        assert any("history site" in line for line in log), log
        home = (out / "praxis" / "index.html").read_text(encoding="utf-8")
        assert '<html lang="es">' in home and "Biblioteca" in home and "Temas" in home
        theme = (out / "praxis" / "themes" / "water.html").read_text(encoding="utf-8")
        assert "Objetivo de aprendizaje: Share how communities defend their water." in theme
        timeline = (out / "praxis" / "timeline.html").read_text(encoding="utf-8")
        assert "Comenzó el tema Water rights." in timeline


async def test_quoted_messages_leave_the_archive_with_the_retention_of_message_text(
    tmp_path: Path,
) -> None:
    async with running_app(tmp_path, config(**{"retention.message_text_days": 10})) as h:
        await h.advance(timedelta(hours=2))
        said = await h.say("lena", "water", "Our committee rebuilt the canal with the town")
        await h.lines(f"#water fran: +{said} 🙏", f"#water ana: >{said} How long did it take?")
        await h.advance(timedelta(days=7))  # the Monday digest quotes it
        (text,) = [row[0] for row in await h.store.fetch_all("SELECT text FROM digest_archive")]
        assert "> Our committee rebuilt the canal" in text
        await h.advance(timedelta(days=12))
        (kept,) = [row[0] for row in await h.store.fetch_all("SELECT text FROM digest_archive")]
        assert "canal" not in kept and kept.splitlines()[0] == text.splitlines()[0]
        assert "Water rights" in kept  # the rest of the digest stays, as posted


def test_the_site_never_replaces_a_folder_that_is_not_one(
    demo_record: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = copy_record(demo_record, tmp_path / "demo")
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    code = main(["site", "build", "--out", str(home), "--config", str(config_path)])
    assert code == 2 and (home / "notes.txt").read_text() == "mine"
    assert "holds files that are not a Trellis site" in capsys.readouterr().err
    out = tmp_path / "site"
    for _ in range(2):  # a site is replaced by the next build
        assert main(["site", "build", "--out", str(out), "--config", str(config_path)]) == 0
    assert (out / "praxis" / "index.html").is_file() and not (tmp_path / "site.old").exists()
