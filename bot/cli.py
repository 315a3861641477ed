"""The ``trellis`` command: demo, run, check-config, backfill, backup and report."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bot.clock import Clock, ManualClock, SystemClock
from bot.config import ConfigError, Settings, load_settings, valid_database_url
from storage.sqlite import StoreError, backup_database

if TYPE_CHECKING:
    from adapters.console import ConsoleAdapter
    from bot.app import Trellis
    from bot.ports import Adapter
    from web.server import Dashboard

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
    run.add_argument(
        "--verbose", action="store_true", help="also log the platform libraries' own messages"
    )

    check = commands.add_parser("check-config", help="validate a config file and nothing else")
    check.add_argument("file", type=Path)

    backfill = commands.add_parser("backfill", help="read past chat from a platform into the store")
    backfill.add_argument("platform", choices=("discord", "matrix"))
    backfill.add_argument("--since", default="90d", help="how far back, e.g. 90d or 12w")
    backfill.add_argument("--config", type=Path, default=Path("trellis.toml"))
    backfill.add_argument(
        "--verbose", action="store_true", help="also log the platform libraries' own messages"
    )

    backup = commands.add_parser(
        "backup", help="copy the database to a file, safely, even while Trellis runs"
    )
    backup.add_argument(
        "destination", type=Path, help="the new file, e.g. trellis-2026-09-07.sqlite3"
    )
    backup.add_argument("--config", type=Path, default=Path("trellis.toml"))

    store = commands.add_parser("store", help="move the community's record between databases")
    store_commands = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    copy = store_commands.add_parser(
        "copy", help="copy a SQLite database into a new, empty PostgreSQL database"
    )
    copy.add_argument("--from", dest="source", required=True, help="sqlite:PATH")
    copy.add_argument("--to", dest="target", required=True, help="postgresql://user@host/database")
    copy.add_argument(
        "--password-env",
        help="the environment variable holding the PostgreSQL user's password "
        "(default: PGPASSWORD, or none)",
    )
    copy.set_defaults(run=run_store_copy)
    site = commands.add_parser("site", help="the community's static history site")
    site_commands = site.add_subparsers(dest="site_command", required=True, metavar="ACTION")
    site_build = site_commands.add_parser("build", help="write the site into a folder")
    site_build.add_argument("--out", type=Path, required=True, help="the folder to write")
    site_build.add_argument("--config", type=Path, default=Path("trellis.toml"))

    from bot.monitoring.report_cli import add_report_command

    add_report_command(commands)

    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "verbose", False):
        for chatty in PLATFORM_LIBRARIES:
            logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        match args.command:
            case "demo":
                logging.getLogger().setLevel(logging.WARNING)
                return asyncio.run(run_demo(prepare_demo(args.dir), show_chat=args.chat))
            case "run" if args.script:
                return asyncio.run(run_script(load_settings(args.config), read_script(args.script)))
            case "run":
                terminal = sys.stdin.isatty()
                if terminal and not args.verbose:
                    # Typed conversation reads better without the scheduler's run log.
                    logging.getLogger("bot.scheduler").setLevel(logging.WARNING)
                return asyncio.run(run_bot(load_settings(args.config), terminal=terminal))
            case "check-config":
                return check_config(args.file)
            case "backfill":
                return asyncio.run(
                    run_backfill(load_settings(args.config), args.platform, args.since)
                )
            case "backup":
                return run_backup(load_settings(args.config), args.destination)
            case "site":
                settings = load_settings(args.config)
                check_site_out(settings, args.out)
                return asyncio.run(run_site_build(settings, args.out))
            case _:
                code: int = asyncio.run(args.run(args))
                return code
    except (ConfigError, StoreError) as error:
        text = str(error)
        print(f"trellis: {text}{'' if text.endswith('.') else '.'}", file=sys.stderr)
        return 2
    except sqlite3.OperationalError as error:
        # The disk refused (full, read-only, gone) after the database opened.
        print(
            f"trellis: the database {named_database(args)}could not be used ({error}); check "
            f"its disk (free space, permissions) and start Trellis again.",
            file=sys.stderr,
        )
        return 3
    except sqlite3.DatabaseError as error:
        # Damage found after the database opened (a page overwritten on disk, a failing disk).
        where = named_database(args)
        print(
            f"trellis: the database {where}is damaged ({error}); stop Trellis, keep the file "
            f"for inspection and restore the latest backup (docs/deploy.md).",
            file=sys.stderr,
        )
        return 3


def named_database(args: argparse.Namespace) -> str:
    """The database's path followed by a space, when the command names a config (for errors)."""
    try:
        return f"{load_settings(args.config).storage.path} " if hasattr(args, "config") else ""
    except ConfigError:
        return ""


PLATFORM_LIBRARIES = ("discord", "nio", "apscheduler", "aiohttp", "peewee")
"""Loggers of the libraries under the adapters: their INFO lines are shown only with --verbose."""


def check_config(path: Path) -> int:
    """Everything ``run`` checks before it touches the database, without touching it."""
    settings = load_settings(path)
    platforms = enabled_platforms(settings)
    if not platforms:
        raise ConfigError(NO_ADAPTER)
    if "console" in platforms:
        console_community(settings)
    check_storage_path(settings)
    print(
        f"{path} is valid: {len(settings.communities)} community(ies), "
        f"adapters: {', '.join(platforms)}."
    )
    for warning in config_warnings(settings, platforms):
        print(f"warning: {warning}")
    try:
        check_secrets(settings, platforms)
    except ConfigError as error:
        print(f"warning: {error} (here, in the shell that runs check-config).")
    return 0


def config_warnings(settings: Settings, platforms: list[str]) -> list[str]:
    warnings = []
    if "console" in platforms and len(platforms) > 1:
        warnings.append(
            "adapters.console is on beside "
            f"{' and '.join(p for p in platforms if p != 'console')}; as a service it reads "
            "nothing and prints to the log: set adapters.console.enabled = false."
        )
    return warnings


def check_storage_path(settings: Settings) -> None:
    if settings.storage.url is not None:
        return  # a PostgreSQL database: the server says at start whether it can be used
    path = settings.storage.path
    if path.is_dir():
        raise ConfigError(
            f"storage.path {path} is a folder; point it to a file such as trellis.sqlite3"
        )
    if not path.parent.is_dir():
        raise ConfigError(
            f"storage.path {path}: the folder {path.parent} does not exist; create it or "
            f"choose another path"
        )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"storage.path {path}: Trellis may not write in {path.parent}; choose a folder "
            f"it may write to, or give it the right"
        )


def check_secrets(settings: Settings, platforms: list[str]) -> None:
    """The secrets the enabled platforms need, checked before the database is created or
    migrated, so that a missing one changes nothing."""
    if settings.storage.password_env is not None:
        settings.secret(settings.storage.password_env, "storage.password_env")
    if "discord" in platforms:
        settings.secret(settings.adapters.discord.token_env, "adapters.discord.token_env")
    if "matrix" in platforms:
        matrix = settings.adapters.matrix
        if matrix.access_token_env:
            settings.secret(matrix.access_token_env, "adapters.matrix.access_token_env")
        elif not settings.storage.path.exists():
            # The password is needed for the first login only; later the stored one is used.
            settings.secret(matrix.password_env, "adapters.matrix.password_env")


NO_ADAPTER = "adapters: no adapter is enabled; set adapters.console.enabled = true to try Trellis."


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


async def open_app(settings: Settings, clock: Clock, platforms: list[str]) -> Trellis:
    """The app with the adapters named in ``platforms``, each built here alike before the store
    opens; the app hands each its stored state when it starts it."""
    from bot.app import Trellis

    check_secrets(settings, platforms)
    return await Trellis.open(
        settings, clock=clock, adapters=build_adapters(settings, clock, platforms)
    )


def console_of(app: Trellis) -> ConsoleAdapter:
    """The app's console adapter, for what only the console does (reading a terminal, a script)."""
    from adapters.console import ConsoleAdapter

    console = app.adapters["console"]
    assert isinstance(console, ConsoleAdapter)
    return console


def build_adapters(settings: Settings, clock: Clock, platforms: list[str]) -> list[Adapter]:
    """The adapters of ``platforms``, from the configuration (the composition root: the one place
    that names them)."""
    adapters: list[Adapter] = []
    if "console" in platforms:
        from adapters.console import ConsoleAdapter

        community = console_community(settings)
        adapters.append(
            ConsoleAdapter(community, clock, timezone=settings.communities[community].timezone)
        )
    if "discord" in platforms:
        from adapters.discord.adapter import DiscordAdapter

        token = settings.secret(settings.adapters.discord.token_env, "adapters.discord.token_env")
        adapters.append(DiscordAdapter(settings, token.get_secret_value(), clock=clock))
    if "matrix" in platforms:
        from adapters.matrix.adapter import MatrixAdapter

        adapters.append(MatrixAdapter(settings))
    return adapters


async def run_bot(settings: Settings, *, terminal: bool) -> int:
    """Run until SIGTERM or SIGINT (or, console alone in a terminal, until Ctrl-D).

    Standard input is read only when the console is the only adapter and ``terminal`` (stdin is
    a TTY): under a service manager stdin is /dev/null and the platforms keep Trellis busy.
    """
    platforms = enabled_platforms(settings)
    if not platforms:
        raise ConfigError(NO_ADAPTER)
    interactive = platforms == ["console"]
    if interactive and not terminal:
        raise ConfigError(
            "adapters.console is the only adapter and standard input is not a terminal, so "
            "nobody can type to it: run trellis in a terminal, replay a file with --script, "
            "or enable adapters.discord or adapters.matrix to run it as a service."
        )
    for warning in config_warnings(settings, platforms):
        log.warning(warning)
    stopping = asyncio.Event()
    simulated = interactive and settings.adapters.console.clock == "simulated"
    clock = ManualClock(SIMULATION_FLOOR) if simulated else SystemClock()
    with stop_signals(stopping):
        app = await open_app(settings, clock, platforms)
        dashboard = None
        try:
            if isinstance(clock, ManualClock):  # simulated
                clock.set(await record_ends(app))
            schedule_site(app)
            if not await until_stopped(app.start(), stopping):
                return 0
            dashboard = await start_dashboard(app)
            from bot.app import settle_heap
            from bot.worker import prepare_worker

            settle_heap()
            prepare_worker()
            if interactive:
                print(
                    "Trellis is listening. Type 'name> text' to chat, 'name> /help' for "
                    "commands, Ctrl-D to stop.",
                    flush=True,
                )
                if simulated:
                    print(
                        f"The clock is the record's: {clock.now():%Y-%m-%d %H:%M} UTC; "
                        "'@ YYYY-MM-DD HH:MM' moves it.",
                        flush=True,
                    )

                async def move_clock(moment: datetime) -> None:
                    await app.advance_to(max(moment, clock.now()))

                reading = console_of(app).read_stdin(move_clock if simulated else None)
                await until_stopped(reading, stopping)
            else:
                await until_stopped(app.engine.broken.wait(), stopping)
            if app.engine.damage is not None:
                raise app.engine.damage
        finally:
            if dashboard is not None:
                await dashboard.stop()
            await app.stop()
    return 0


async def start_dashboard(app: Trellis) -> Dashboard | None:
    """The web dashboard, listening where ``[web]`` says; None when it is not configured."""
    if app.settings.web is None:
        return None
    from web.server import Dashboard

    dashboard = Dashboard(app, app.settings.web)
    try:
        await dashboard.start()
    except OSError as error:
        await dashboard.stop()
        raise ConfigError(
            f"web.listen {app.settings.web.listen}: cannot listen there ({error.strerror}); "
            f"choose a free port or an address of this machine"
        ) from None
    return dashboard


def schedule_site(app: Trellis) -> None:
    """Keep the history site in ``site.out`` current on ``site.cron``, when it is set."""
    out = app.settings.site.out
    if out is None:
        return
    from bot.scheduler import Job
    from web import site

    async def build_site(due: datetime) -> str:
        pages = await site.build(app.store, app.settings, out, app.clock.now())
        return f"history site: {len(pages)} pages written to {out}"

    app.scheduler.add(Job("site", app.settings.site.cron, "UTC", build_site))


def check_site_out(settings: Settings, out: Path) -> None:
    if not settings.storage.path.is_file():
        raise StoreError(f"there is no database at {settings.storage.path}; check storage.path")
    if not out.resolve().parent.is_dir():
        raise ConfigError(f"--out: the folder {out.parent} does not exist; create it first")
    from web.site import foreign_folder

    problem = foreign_folder(out)
    if problem is not None:
        raise ConfigError(f"--out: {problem}")


async def run_site_build(settings: Settings, out: Path) -> int:
    """Write the history site from the database, beside a running Trellis or not."""
    from storage.sqlite import SqliteStore
    from web import site

    store = await SqliteStore.open(settings.storage.path)
    try:
        pages = await site.build(store, settings, out, datetime.now(UTC))
    finally:
        await store.close()
    print(f"The history site is in {out}: {len(pages)} pages; open {out / 'index.html'}.")
    return 0


SIMULATION_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)
"""Where a simulated clock waits until the record says where it ends."""


async def record_ends(app: Trellis) -> datetime:
    """The latest moment the store holds (a message or a job's run): a simulated clock goes on
    from there, so the demo's record is not caught up as weeks of missed jobs."""
    from storage import jobs

    moments = [
        moment
        for moment in (
            await jobs.latest_chat(app.store),
            await jobs.latest_run(app.store, list(app.scheduler.jobs)),
        )
        if moment is not None
    ]
    if not moments:
        return datetime.now(UTC)
    return datetime.fromtimestamp(max(moments), UTC)


async def until_stopped(work: Awaitable[object], stopping: asyncio.Event) -> bool:
    """Run ``work`` until it ends (True) or a stop is asked for first (False: it is cancelled)."""
    task = asyncio.ensure_future(work)
    stop = asyncio.create_task(stopping.wait())
    await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return False


@contextlib.contextmanager
def stop_signals(stopping: asyncio.Event) -> Iterator[None]:
    """SIGTERM or SIGINT asks for a graceful stop; a second one ends the process at once.

    Ending at once is safe for the database: SQLite commits are atomic and the kernel releases
    the instance lock, so the next start goes on from the last committed transaction."""
    loop = asyncio.get_running_loop()

    def on_signal(number: int) -> None:
        name = signal.Signals(number).name
        if stopping.is_set():
            log.warning("%s again: stopping at once", name)
            logging.shutdown()
            os._exit(128 + number)
        log.info("%s: stopping; storing what was accepted (send it again to stop at once)", name)
        stopping.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, on_signal, number)
    try:
        yield
    finally:
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(number)


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
    stopping = asyncio.Event()
    done = 0

    def until_stop_asked() -> Iterator[str]:
        nonlocal done
        for line in lines:
            if stopping.is_set():
                return
            yield line
            done += 1

    with stop_signals(stopping):
        app = await open_app(settings, clock, ["console"])
        app.engine.give_up_after = SCRIPT_STORE_PATIENCE
        try:
            await app.start(real_time=False)

            async def move_clock(moment: datetime) -> None:
                await app.advance_to(max(moment, clock.now()))

            await console_of(app).play(until_stop_asked(), move_clock)
            await app.engine.drain()
        except ScriptError as error:
            print(f"trellis: {error}", file=sys.stderr)
            return 2
        except StoreUnavailable as error:
            print(f"trellis: not everything was stored: {error}", file=sys.stderr)
            return 1
        finally:
            await app.stop()
    if stopping.is_set():
        print(
            f"trellis: stopped after line {done} of {len(lines)}; every line before it is stored.",
            file=sys.stderr,
        )
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

    async def move_clock(moment: datetime) -> None:
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


def run_backup(settings: Settings, destination: Path) -> int:
    """Copy the database (see ``storage.sqlite.backup_database``); it works while Trellis runs."""
    if settings.storage.url is not None:
        raise ConfigError(
            "storage.url is a PostgreSQL database: back it up with the server's tools, e.g. "
            "pg_dump -Fc (docs/scale.md); trellis backup copies a SQLite file"
        )
    source = settings.storage.path
    if not source.is_file():
        raise StoreError(f"there is no database at {source}; check storage.path")
    if destination.exists():
        raise ConfigError(f"{destination} already exists; choose a new file name for the backup")
    if not destination.parent.is_dir():
        raise ConfigError(f"the folder {destination.parent} does not exist; create it first")
    backup_database(source, destination)
    print(f"Backed up {source} to {destination}.")
    return 0


async def run_store_copy(args: argparse.Namespace) -> int:
    """``trellis store copy``: see ``storage.postgresql_copy``."""
    from storage.postgresql import where
    from storage.postgresql_copy import copy_store

    if not args.source.startswith("sqlite:"):
        raise ConfigError(
            f"--from {args.source}: write it as sqlite:PATH, e.g. sqlite:trellis.sqlite3"
        )
    source = Path(args.source.removeprefix("sqlite:"))
    if urlsplit(args.target).password is not None:
        raise ConfigError(
            "--to: leave the password out of the URL (others can see a command line): put it "
            "in an environment variable and name it with --password-env"
        )
    try:
        target = valid_database_url(args.target)
    except ValueError as error:
        raise ConfigError(f"--to: {error}") from None
    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            raise ConfigError(
                f"--password-env: the environment variable {args.password_env} is not set; "
                f"export it with the password first"
            )
    copied = await copy_store(source, target, password=password)
    for table, rows in copied.tables.items():
        print(f"  {table}: {rows} rows")
    print(
        f"Copied {copied.rows} rows in {len(copied.tables)} tables from {source} to "
        f"{where(target)}; every table's count matches."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
