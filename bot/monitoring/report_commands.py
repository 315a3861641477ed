"""``report [period]`` for facilitators: the summary and a chart in chat, the full HTML attached.

Every hour the report's rollups are brought up to date, so that a report has at most an hour's
chat left to count (``storage.rollups``).
"""

from __future__ import annotations

import re
from datetime import datetime

from bot.commands.context import CommandContext
from bot.commands.parsing import Period, parse_period
from bot.commands.spec import CommandSpec, Param, ParamKind, Permission
from bot.community import Community
from bot.i18n import Translator
from bot.monitoring.charts import levels_chart
from bot.monitoring.render import render_html, summary_markdown
from bot.monitoring.report import build_report
from bot.monitoring.report_model import Report
from bot.outgoing import Attachment, OutgoingMessage
from bot.worker import run_in_worker
from storage.rollups import refresh_rollups

DEFAULT_PERIOD = "4w"
ROLLUPS_CRON = "5 * * * *"
"""Every hour, five minutes past."""


def _files(report: Report, t: Translator) -> tuple[bytes, bytes]:
    chart = levels_chart(report.monitoring.levels, t, "png", title=True)
    return chart, render_html(report, t).encode("utf-8")


async def report(ctx: CommandContext, period: Period | None = None) -> OutgoingMessage:
    chosen = period or parse_period(DEFAULT_PERIOD, ctx.tz, ctx.now)
    result = await build_report(
        ctx.store, ctx.config, ctx.community.id, chosen.start, chosen.end, label=chosen.label
    )
    chart, page = await run_in_worker(_files, result, ctx.translator)
    name = re.sub(r"[^\w.-]+", "_", f"trellis-report-{ctx.community.id}-{chosen.label}")
    return OutgoingMessage(
        summary_markdown(result, ctx.translator),
        attachments=(
            Attachment(
                f"{name}-levels.png",
                chart,
                "image/png",
                ctx._("Levels of participation per week"),
            ),
            Attachment(f"{name}.html", page, "text/html", ctx._("The full report")),
        ),
    )


COMMANDS = (
    CommandSpec(
        name="report",
        help="Monitoring, evaluation and impact report of a period (default: the last 4 weeks).",
        handler=report,
        params=(
            Param(
                "period",
                ParamKind.PERIOD,
                "2026-Q4, 2026-10, 2026-W40, 30d or 2026-10-01..2026-10-31",
                required=False,
            ),
        ),
        permission=Permission.FACILITATOR,
        private=True,
    ),
)


async def recount(community: Community, due: datetime) -> str:
    """The hourly job that brings the rollups up to date (in full after a change of zone)."""
    async with community.store.transaction() as tx:
        whole = await refresh_rollups(tx, community.id, community.settings.timezone)
    return "rollups recounted in full" if whole else "rollups of the days that changed recounted"
