"""The dashboard under load: 50 sessions reading pages for 30 s, and the bot's commands meanwhile.

Run ``python3 -m bench.web`` from the repository root (``--sessions 20 --seconds 10`` for a
shorter run). It replays the demo community into a temporary folder, runs the real app with the
dashboard on a loopback port, logs in ``--sessions`` times through links asked for in chat, and
starts a second process that keeps every session reading the dashboard's pages and charts (one
request after another per session, over aiohttp's client) for ``--seconds``. Meanwhile a
facilitator asks ``stats`` and ``quiet`` every half second in the first process, where the bot
and the dashboard share one event loop, as in ``trellis run``.

It prints the page times (p50, p99, max, pages per second) and the command answer times during
the load against the same commands before it (the baseline), as p50/p99 and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from yarl import URL

from bench.ingest import peak_rss_mb

PAGES = (
    "/", "/themes/water", "/themes/climate", "/people", "/network", "/knowledge",
    "/commitments", "/surveys", "/charts/levels.svg", "/charts/themes.svg",
    "/charts/network.svg",
)  # fmt: skip
COMMANDS = ("/stats", "/quiet")

if TYPE_CHECKING:
    from tests.web_demo import Served


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


async def read_pages(url: str, cookies: list[str], seconds: float) -> dict[str, object]:
    """The load: each session reads the pages in turn until the time is up."""
    times: list[float] = []
    by_page: dict[str, list[float]] = {page: [] for page in PAGES}
    failures = 0

    async def session(cookie: str, offset: int) -> None:
        nonlocal failures
        jar = aiohttp.CookieJar(unsafe=True)
        jar.update_cookies({"trellis_session": cookie}, URL(url))
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            n = offset
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                began = time.perf_counter()
                page = PAGES[n % len(PAGES)]
                async with http.get(url + page) as response:
                    await response.read()
                    failures += response.status != 200
                times.append(time.perf_counter() - began)
                by_page[page].append(times[-1])
                n += 1

    began = time.perf_counter()
    await asyncio.gather(*(session(cookie, n) for n, cookie in enumerate(cookies)))
    return {
        "times": times,
        "by_page": {page: percentile(found, 0.5) for page, found in by_page.items()},
        "failures": failures,
        "elapsed": time.perf_counter() - began,
    }


async def ask_commands(served: Served, timed: list[float], until: float) -> None:
    """A facilitator's command every half second until ``until``; each answer time in ``timed``."""
    n = 0
    while time.perf_counter() < until:
        began = time.perf_counter()
        await served.harness.command("maria", COMMANDS[n % len(COMMANDS)])
        timed.append(time.perf_counter() - began)
        n += 1
        await asyncio.sleep(0.5)


async def run(sessions: int, seconds: float) -> None:
    from bot.cli import prepare_demo, run_demo
    from tests.web_demo import served_demo

    with tempfile.TemporaryDirectory() as folder:
        record = Path(folder) / "demo"
        print("replaying the demo community…", flush=True)
        with contextlib.redirect_stdout(io.StringIO()):
            await run_demo(prepare_demo(record), show_chat=False)
        async with served_demo(record, Path(folder) / "served") as served:
            cookies = []
            for _ in range(sessions):
                async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                    link = await served.link("maria")
                    async with http.post(link, allow_redirects=False) as response:
                        cookies.append(response.cookies["trellis_session"].value)
            # The shared report and charts are built by the first visitor (every 5 minutes, or
            # after an opt-out): built once here, so the figures are of pages served.
            async with aiohttp.ClientSession(cookies={"trellis_session": cookies[0]}) as http:
                for page in PAGES:
                    async with http.get(served.url + page) as response:
                        await response.read()

            baseline: list[float] = []
            await ask_commands(served, baseline, time.perf_counter() + min(seconds, 10))

            cookie_file = Path(folder) / "cookies.json"
            cookie_file.write_text(json.dumps(cookies))
            load = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.web", "--load", served.url, str(cookie_file),
                "--seconds", str(seconds), stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            during: list[float] = []
            await ask_commands(served, during, time.perf_counter() + seconds)
            output, _ = await load.communicate()
    result = json.loads(output)
    pages: list[float] = result["times"]
    print(
        f"dashboard: {sessions} sessions for {seconds:.0f} s: {len(pages)} pages "
        f"({len(pages) / result['elapsed']:.0f}/s), {result['failures']} not 200; page time "
        f"p50 {percentile(pages, 0.5) * 1000:.0f} ms, p99 {percentile(pages, 0.99) * 1000:.0f} ms, "
        f"max {max(pages) * 1000:.0f} ms"
    )
    slowest = sorted(result["by_page"].items(), key=lambda kv: -kv[1])[:3]
    print("slowest pages (p50): " + ", ".join(f"{p} {t * 1000:.0f} ms" for p, t in slowest))
    for label, share in (("p50", 0.5), ("p99", 0.99)):
        alone, loaded = percentile(baseline, share), percentile(during, share)
        print(
            f"commands ({', '.join(COMMANDS)}), {label}: {alone * 1000:.0f} ms alone, "
            f"{loaded * 1000:.0f} ms during the load: {loaded / alone:.1f}x"
        )
    print(f"commands answered: {len(baseline)} alone, {len(during)} during the load")
    print(f"peak RSS (the bot and the dashboard) {peak_rss_mb():.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--load", nargs=2, metavar=("URL", "COOKIES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        url, cookie_file = args.load
        cookies = json.loads(Path(cookie_file).read_text())
        print(json.dumps(asyncio.run(read_pages(url, cookies, args.seconds))))
        return
    asyncio.run(run(args.sessions, args.seconds))


if __name__ == "__main__":
    main()
