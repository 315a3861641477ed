"""``trellis report``: write the M&E report of a period to a file, from the command line."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.clock import SystemClock
from bot.commands.context import CommandError
from bot.commands.parsing import parse_period
from bot.config import ConfigError, load_settings
from bot.configured_store import open_store
from bot.i18n import Translator
from bot.monitoring.render import FORMATS, render
from bot.monitoring.report import build_report
from storage.sqlite import StoreError


def add_report_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report", help="write the monitoring, evaluation and impact report of a period to a file"
    )
    parser.add_argument(
        "--period",
        required=True,
        help="2026-Q4, 2026-10, 2026-W40, 90d, or 2026-10-01..2026-12-31 (community's timezone)",
    )
    parser.add_argument("--format", choices=FORMATS, default="html")
    parser.add_argument("--community", help="the community's id (default: the first configured)")
    parser.add_argument("--output", type=Path, help="the file to write (default: named after it)")
    parser.add_argument("--config", type=Path, default=Path("trellis.toml"))
    parser.set_defaults(run=run_report)


async def run_report(args: argparse.Namespace) -> int:
    """Build the report, write it, and say where. Bad input gets one sentence and exit status 2."""
    settings = load_settings(args.config)
    community = args.community or next(iter(settings.communities))
    if community not in settings.communities:
        raise ConfigError(
            f"--community {community!r} is not configured; choose one of "
            f"{', '.join(settings.communities)}"
        )
    config = settings.communities[community]
    try:
        period = parse_period(args.period, ZoneInfo(config.timezone), SystemClock().now())
    except CommandError as error:
        print(f"trellis report: --period: {error}", file=sys.stderr)
        return 2
    path = settings.storage.path
    if settings.storage.url is None and not path.exists():
        # Opening would create an empty database, and the report would be all zeros.
        raise StoreError(
            f"there is no database at {path}; check storage.path in {args.config} "
            "or run Trellis first"
        )
    store = await open_store(settings, exclusive=False)
    try:
        report = await build_report(
            store, settings, community, period.start, period.end, label=period.label
        )
    finally:
        await store.close()
    safe_label = re.sub(r"[^\w.-]+", "_", period.label)
    output = args.output or Path(f"trellis-report-{community}-{safe_label}.{args.format}")
    output.write_bytes(render(report, args.format, Translator(config.locale)))
    print(f"Report for {config.name}, {period.label} ({args.format}) written to {output}")
    return 0
