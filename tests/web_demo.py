"""The demo community served by the real dashboard: the app on a copy of the demo's database,
the console adapter to ask for links in chat, and the dashboard on a free loopback port."""

from __future__ import annotations

import io
import re
import shutil
import socket
import tomllib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from adapters.console import ConsoleAdapter
from bot.app import Trellis
from bot.cli import SIMULATION_FLOOR, record_ends
from bot.clock import ManualClock
from bot.config import parse_settings
from tests.helpers import Harness
from web.server import Dashboard

LINK = re.compile(r"<(http://[^>]+/login/[A-Za-z0-9_-]+)>")


def copy_record(record: Path, into: Path) -> Path:
    """A private copy of the demo's folder (``demo_record``); returns its config's path."""
    shutil.copytree(record, into, dirs_exist_ok=True)
    return into / "config.toml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Served:
    harness: Harness
    dashboard: Dashboard
    url: str

    @property
    def app(self) -> Trellis:
        return self.harness.app

    async def link(self, handle: str) -> str:
        """Ask for a dashboard link in chat, as ``handle``, and return it."""
        answer = await self.harness.command(handle, "/dashboard")
        found = LINK.search(answer)
        assert found, answer
        return found.group(1)


def demo_settings(config: Path, port: int, **extra: Any) -> Any:
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    data["storage"]["path"] = str(config.parent / data["storage"]["path"])
    data["adapters"]["console"]["clock"] = "system"
    data["web"] = {"listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}"}
    data.update(extra)
    return parse_settings(data)


@asynccontextmanager
async def served_demo(record: Path, tmp_path: Path, **extra: Any) -> AsyncIterator[Served]:
    config = copy_record(record, tmp_path / "demo")
    port = free_port()
    settings = demo_settings(config, port, **extra)
    clock = ManualClock(SIMULATION_FLOOR)
    console = ConsoleAdapter(
        "praxis", clock, timezone="America/Lima", echo_chat=False, out=io.StringIO()
    )
    app = await Trellis.open(settings, clock=clock, adapters=[console])
    clock.set(await record_ends(app))
    await app.start(real_time=False)
    assert settings.web is not None
    dashboard = Dashboard(app, settings.web)
    await dashboard.start()
    try:
        yield Served(Harness(app, console, clock), dashboard, f"http://127.0.0.1:{port}")
    finally:
        await dashboard.stop()
        await app.stop()


async def logged_in(served: Served, handle: str) -> aiohttp.ClientSession:
    """An HTTP client holding the session of ``handle``, logged in through a link from chat."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(await served.link(handle), allow_redirects=False) as response:
        assert response.status == 303
    return http


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url + "/") as response:
        found = re.search(r'name="csrf" value="([0-9a-f]+)"', await response.text())
    assert found
    return found.group(1)
