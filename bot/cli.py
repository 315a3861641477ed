"""The ``trellis`` command: demo, run, check-config, backfill and report."""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sys
from datetime import timedelta
from importlib import resources
from pathlib import Path

from bot.clock import ManualClock, SystemClock
from bot.config import ConfigError, Settings, load_settings
from storage.sqlite import StoreError

log = logging.getLogger("trellis")

SCRIPT_STORE_PATIENCE = 2.0
"""Seconds a script replay waits for a store that cannot write before it gives up and exits
non-zero; a running service waits as long as it takes."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="trellis", description="A facilitation assistant for communities of practice."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", help="replay a sample community through the console")
    demo.add_argument(
        "--dir",
        type=Path,
        default=Path("trellis-demo"),
        help="where the demo's config and database are written (default: trellis-demo)",
    )
    demo.add_argument("--chat", action="store_true", help="also print the members' chat")

    run = commands.add_parser("run", help="run the bot with the adapters the config enables")
    run.add_argument("--config", type=Path, default=Path("trellis.toml"))
    run.add_argument(
        "--script", type=Path, help="replay a console script on a simulated clock, then stop"
    )

    check = commands.add_parser("check-config", help="validate a config file and nothing else")
    check.add_argument("file", type=Path)

    backfill = commands.add_parser("backfill", help="read past chat from a platform into the store")
    backfill.add_argument("platform", choices=("discord", "matrix"))
    backfill.add_argument("--since", default="90d", help="how far back, e.g. 90d or 12w")
    backfill.add_argument("--config", type=Path, default=Path("trellis.toml"))

    from bot.monitoring.report_cli import add_report_command

    add_report_command(commands)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        match args.command:
            case "demo":
                logging.getLogger().setLevel(logging.WARNING)
                return asyncio.run(run_demo(prepare_demo(args.dir), show_chat=args.chat))
            case "run" if args.script:
                return asyncio.run(run_script(load_settings(args.config), read_script(args.script)))
            case "run":
                return asyncio.run(run_bot(load_settings(args.config)))
            case "check-config":
                settings = load_settings(args.file)
                print(
                    f"{args.file} is valid: {len(settings.communities)} community(ies), "
                    f"adapters: {', '.join(enabled_platforms(settings))}."
                )
                return 0
            case "backfill":
                return asyncio.run(
                    run_backfill(load_settings(args.config), args.platform, args.since)
                )
            case _:
                return asyncio.run(args.run(args))
    except (ConfigError, StoreError) as error:
        print(f"trellis: {error}", file=sys.stderr)
        return 2


def enabled_platforms(settings: Settings) -> list[str]:
    adapters = settings.adapters
    return [
        name
        for name, section in (
            ("console", adapters.console),
            ("discord", adapters.discord),
            ("matrix", adapters.matrix),
        )
        if section.enabled
    ]


def console_community(settings: Settings) -> str:
    chosen = settings.adapters.console.community or next(iter(settings.communities))
    if chosen not in settings.communities:
        raise ConfigError(f"adapters.console.community: there is no community {chosen!r}.")
    return chosen


async def open_app(settings: Settings, clock, platforms: list[str]):
    """The app with the adapters named in ``platforms`` (those needing the store come after it)."""
    from adapters.console import ConsoleAdapter
    from bot.app import Trellis

    adapters = []
    if "console" in platforms:
        community = console_community(settings)
        adapters.append(
            ConsoleAdapter(community, clock, timezone=settings.communities[community].timezone)
        )
    if "discord" in platforms:
        from adapters.discord import DiscordAdapter

        # Secrets are checked before the database is opened: a missing one changes nothing.
        token = settings.secret(settings.adapters.discord.token_env, "adapters.discord.token_env")
        adapters.append(DiscordAdapter(settings, token.get_secret_value(), clock=clock))
    app = await Trellis.open(settings, clock=clock, adapters=adapters)
    if "matrix" in platforms:
        from adapters.matrix import MatrixAdapter

        try:
            app.add_adapter(MatrixAdapter(settings, app.store))
        except BaseException:
            await app.stop()
            raise
    return app


async def run_bot(settings: Settings) -> int:
    platforms = enabled_platforms(settings)
    if not platforms:
        raise ConfigError(
            "adapters: no adapter is enabled; set adapters.console.enabled = true to try Trellis."
        )
    app = await open_app(settings, SystemClock(), platforms)
    try:
        await app.start()
        console = app.adapters.get("console")
        if console is not None:
            print(
                "Trellis is listening. Type 'name> text' to chat, 'name> /help' for commands, "
                "Ctrl-D to stop.",
                flush=True,
            )
            await console.read_stdin()
            await app.engine.drain()
        else:
            await asyncio.Event().wait()
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    finally:
        await app.stop()
    return 0


def prepare_demo(folder: Path) -> Path:
    """Write the demo's config into ``folder`` and remove an earlier demo's database."""
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.toml"
    source = resources.files("bot") / "demo" / "config.toml"
    with source.open("rb") as handle, config_path.open("wb") as target:
        shutil.copyfileobj(handle, target)
    settings = load_settings(config_path)
    for stale in folder.glob(settings.storage.path.name + "*"):
        stale.unlink()
    return config_path


def read_script(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ConfigError(f"--script: cannot read {path} ({error.strerror}).") from None


async def run_script(settings: Settings, lines: list[str]) -> int:
    """Replay a console script: the clock starts at its first '@' line and moves with the rest."""
    from adapters.console import ScriptError, clock_line
    from bot.engine import StoreUnavailable

    if not settings.adapters.console.enabled:
        raise ConfigError("adapters.console.enabled must be true to replay a script.")
    community = console_community(settings)
    tz = settings.communities[community].timezone
    first = next((moment for line in lines if (moment := clock_line(line, tz))), None)
    clock = ManualClock(first or SystemClock().now())
    app = await open_app(settings, clock, ["console"])
    app.engine.give_up_after = SCRIPT_STORE_PATIENCE
    try:
        await app.start(real_time=False)
        await app.adapters["console"].play(
            lines, lambda moment: app.advance_to(max(moment, clock.now()))
        )
        await app.engine.drain()
    except ScriptError as error:
        print(f"trellis: {error}", file=sys.stderr)
        return 2
    except StoreUnavailable as error:
        print(f"trellis: not everything was stored: {error}", file=sys.stderr)
        return 1
    finally:
        await app.stop()
    return 0


async def run_demo(config_path: Path, *, show_chat: bool) -> int:
    from adapters.console import ConsoleAdapter
    from bot.app import Trellis
    from bot.demo import build_sample_community

    sample = build_sample_community()
    settings = load_settings(config_path)
    clock = ManualClock(sample.start)
    community = console_community(settings)
    console = ConsoleAdapter(
        community,
        clock,
        timezone=settings.communities[community].timezone,
        echo_chat=show_chat,
        brief_repeats=True,
    )
    app = await Trellis.open(settings, clock=clock, adapters=[console])
    await app.start(real_time=False)

    async def move_clock(moment) -> None:
        await app.advance_to(max(moment, clock.now()))

    try:
        lines = sample.script_lines()
        await console.play(lines, move_clock)
        # Let the last week close, so its digest is posted too.
        await move_clock(clock.now() + timedelta(days=7 - clock.now().weekday(), hours=12))
        await app.engine.drain()
    finally:
        await app.stop()
    posts = sum(1 for sent in console.outbox if sent.kind == "post")
    directs = sum(1 for sent in console.outbox if sent.kind == "direct")
    print(
        f"\nThe demo replayed {len(lines)} lines of {len(sample.roster)} members over "
        f"{sample.weeks} weeks: Trellis posted {posts} messages and sent {directs} direct messages.\n"
        f"The community's record is in {settings.storage.path}. Try, for example:\n"
        f"  trellis report --config {config_path} --period 2026-09 --format md\n"
        f"  trellis run --config {config_path}   (then type: maria> /stats 2026-09)"
    )
    return 0


async def run_backfill(settings: Settings, platform: str, since_text: str) -> int:
    from tqdm import tqdm

    from bot.commands.context import CommandError
    from bot.commands.parsing import parse_duration

    try:
        span = parse_duration(since_text)
    except CommandError as error:
        raise ConfigError(f"--since: {error}") from None
    clock = SystemClock()
    app = await open_app(settings, clock, [platform])
    since = clock.now() - span
    try:
        await app.start(real_time=False)
        added = await app.backfill(platform, since, progress=tqdm)
    finally:
        await app.stop()
    print(f"Backfill from {platform} since {since:%Y-%m-%d}: {added} new messages stored.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
