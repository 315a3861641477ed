"""The M&E report as files: markdown, JSON, CSV and one self-contained HTML page with its charts.

Charts are drawn with matplotlib's object API on the Agg canvas (no pyplot, so no global figure
state and no display needed) and embedded in the HTML as base64 PNG, so the page is a single file
that can be mailed or attached. Every sentence goes through the community's translator.

The CSV is ONE file of per-week figures (levels of participation and messages per theme), because
the week is the only unit the report has a series for; the period's single figures (ties, brokers,
knowledge, surveys) are in the markdown, JSON and HTML versions. One file opens directly in any
spreadsheet, where a zip of several would need unpacking first.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import io
import json
from datetime import date, datetime

from markdown_it import MarkdownIt

from bot.i18n import Translator
from bot.monitoring.charts import levels_chart, network_chart, themes_chart
from bot.monitoring.knowledge import kind_label
from bot.monitoring.report_model import Report
from bot.monitoring.responses import first_response_lines
from bot.outgoing import literal

FORMATS = ("html", "md", "json", "csv")


def render(report: Report, fmt: str, t: Translator) -> bytes:
    """The report in ``fmt`` (one of FORMATS), as the bytes of the file to write or attach."""
    match fmt:
        case "html":
            return render_html(report, t).encode("utf-8")
        case "md":
            return render_markdown(report, t).encode("utf-8")
        case "json":
            return render_json(report).encode("utf-8")
        case "csv":
            return render_csv(report).encode("utf-8")
    raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")


# JSON and CSV -----------------------------------------------------------------------------------


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def render_json(report: Report) -> str:
    return json.dumps(dataclasses.asdict(report), default=_plain, ensure_ascii=False, indent=2)


def render_csv(report: Report) -> str:
    """One row per week: levels of participation, then messages and people per theme."""
    themes: dict[str, str] = {}
    per_week: dict[tuple[str, str], tuple[int, int]] = {}
    for row in report.monitoring.theme_activity:
        themes.setdefault(row.theme, row.theme_name)
        per_week[(row.week, row.theme)] = (row.messages, row.participants)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["week", "starts", "core", "active", "peripheral", "inactive"]
    for theme in themes:
        header += [f"{theme}_messages", f"{theme}_people"]
    writer.writerow(header)
    for week in report.monitoring.levels:
        cells: list[object] = [
            week.week, week.starts.isoformat(), week.core, week.active, week.peripheral,
            week.inactive,
        ]  # fmt: skip
        for theme in themes:
            cells += per_week.get((week.week, theme), (0, 0))
        writer.writerow(cells)
    return out.getvalue()


# Markdown ---------------------------------------------------------------------------------------


def _percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio * 100:.0f}%"


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


# Counts said in several sentences, each with its plural.


def _messages(t: Translator, n: int) -> str:
    return t.n_("{n} message", "{n} messages", n)


def _reactions(t: Translator, n: int) -> str:
    return t.n_("{n} reaction", "{n} reactions", n)


def _ties(t: Translator, n: int) -> str:
    return t.n_("{n} tie", "{n} ties", n)


def _organisations(t: Translator, n: int) -> str:
    return t.n_("{n} organisation", "{n} organisations", n)


def _answers(t: Translator, n: int) -> str:
    return t.n_("{n} answer", "{n} answers", n)


def _stories(t: Translator, n: int) -> str:
    return t.n_("{n} story of change", "{n} stories of change", n)


def summary_markdown(report: Report, t: Translator) -> str:
    """A few lines for chat: the headline figures of the three levels."""
    m, e, i = report.monitoring, report.evaluation, report.impact
    last = m.levels[-1] if m.levels else None
    lines = [
        t._("**M&E report for {name}, {period}**", name=report.community_name, period=report.label),
        "- "
        + t._(
            "Monitoring: {took_part} ({messages}, {reactions}); {ties}, {new} new, {cross} across "
            "organisations; {items}; commitments fulfilled: {ratio}.",
            took_part=t.n_(
                "{people} of {n} member took part",
                "{people} of {n} members took part",
                m.members,
                people=m.participants,
            ),
            messages=_messages(t, m.messages),
            reactions=_reactions(t, m.reactions),
            ties=_ties(t, m.ties),
            new=m.new_ties,
            cross=m.cross_organisation_ties,
            items=t.n_("{n} knowledge item", "{n} knowledge items", sum(m.knowledge.values())),
            ratio=_percent(m.fulfilled_ratio),
        ),
    ]
    if last is not None:
        lines.append(
            "- "
            + t._(
                "Last week ({week}): {core} core, {active} active, {peripheral} peripheral, "
                "{inactive} inactive.",
                week=last.week,
                core=last.core,
                active=last.active,
                peripheral=last.peripheral,
                inactive=last.inactive,
            )
        )
    lines.append(
        "- "
        + t._(
            "Evaluation: {strengthened}; {voices}; {pulses}.",
            strengthened=t.n_(
                "{n} relationship strengthened",
                "{n} relationships strengthened",
                e.ties_strengthened,
            ),
            voices=t.n_(
                "{n} new voice in the themes",
                "{n} new voices in the themes",
                sum(len(v.names) for v in e.new_voices),
            ),
            pulses=t.n_("{n} pulse survey", "{n} pulse surveys", len(e.pulses)),
        )
    )
    lines.append(
        "- "
        + t._(
            "Impact: {answers} to impact surveys, {stories}.",
            answers=_answers(t, i.answers),
            stories=_stories(t, i.stories),
        )
    )
    return "\n".join(lines)


def render_markdown(report: Report, t: Translator) -> str:
    m, e, i = report.monitoring, report.evaluation, report.impact
    out = [
        "# "
        + t._(
            "{name}: monitoring, evaluation and impact, {period}",
            name=report.community_name,
            period=report.label,
        ),
        "",
        "## " + t._("Monitoring"),
        "",
        "- "
        + t._("Members: {n}, of whom {new} joined in the period.", n=m.members, new=m.new_members),
        "- " + t.n_("Took part: {n} member.", "Took part: {n} members.", m.participants),
        "- "
        + ", ".join(
            (
                _messages(t, m.messages),
                t.n_("{n} reply", "{n} replies", m.replies),
                _reactions(t, m.reactions),
                t.n_("{n} new thread", "{n} new threads", m.threads),
            )
        )
        + ".",
        "",
        "### " + t._("Levels of participation per week"),
        "",
    ]
    out += _table(
        [t._("Week"), t._("Core"), t._("Active"), t._("Peripheral"), t._("Inactive")],
        [[w.week, w.core, w.active, w.peripheral, w.inactive] for w in m.levels],
    )
    if m.theme_activity:
        themes = list(dict.fromkeys(row.theme_name for row in m.theme_activity))
        cells = {(row.week, row.theme_name): row.messages for row in m.theme_activity}
        out += ["", "### " + t._("Messages per theme and week"), ""]
        out += _table(
            [t._("Week"), *themes],
            [[w.week, *(cells.get((w.week, name), 0) for name in themes)] for w in m.levels],
        )
    out += [
        "",
        "### " + t._("Flow of information"),
        "",
        "- "
        + t.n_(
            "{n} tie between members (replies, mentions, reactions, shared threads), "
            "{new} of them new.",
            "{n} ties between members (replies, mentions, reactions, shared threads), "
            "{new} of them new.",
            m.ties,
            new=m.new_ties,
        ),
        "- "
        + t._(
            "{cross} across organisations; {orgs} took part.",
            cross=_ties(t, m.cross_organisation_ties),
            orgs=_organisations(t, m.organisations),
        ),
    ]
    if m.organisation_links:
        out += ["", t._("Organisations most linked to each other:")]
        out += [
            "- "
            + t.n_(
                "{a} – {b}: {n} tie",
                "{a} – {b}: {n} ties",
                link.ties,
                a=literal(link.a),
                b=literal(link.b),
            )
            for link in m.organisation_links
        ]
    if m.brokers:
        out += ["", t._("Brokers, who connect people of different themes and organisations:")]
        for broker in m.brokers:
            out.append(
                "- "
                + t._(
                    "{name} ({organisation}): betweenness {score}, ties to {orgs}, themes: {themes}",
                    name=literal(broker.name),
                    organisation=literal(broker.organisation) or t._("no organisation given"),
                    score=f"{broker.betweenness:.3f}",
                    orgs=_organisations(t, broker.organisations_reached),
                    themes=", ".join(broker.themes) or "—",
                )
            )
    out += [
        "",
        "### " + t._("Knowledge shared"),
        "",
        "- "
        + ", ".join(
            (
                t.n_("{n} lesson", "{n} lessons", m.knowledge.get("lesson", 0)),
                t.n_("{n} case", "{n} cases", m.knowledge.get("case", 0)),
                t.n_("{n} document", "{n} documents", m.knowledge.get("document", 0)),
                t.n_("{n} reference", "{n} references", m.knowledge.get("reference", 0)),
            )
        )
        + ".",
    ]
    for item in m.knowledge_items:
        by = ", ".join(literal(author) for author in item.authors) or t._("the community")
        kind = kind_label(t._, item.kind)
        out.append(f"- {literal(item.title)} ({kind}, {item.theme_name or '—'}) — {by}")
    if m.first_responses:
        out += ["", t._("### Time to first response (median)"), ""]
        out += first_response_lines(t, list(m.first_responses))
    out += [
        "",
        "### " + t._("Responsibilities fulfilled"),
        "",
        "- "
        + t.n_(
            "{done} of {n} commitment due in the period was fulfilled ({ratio}).",
            "{done} of {n} commitments due in the period were fulfilled ({ratio}).",
            m.commitments_due,
            done=m.commitments_fulfilled,
            ratio=_percent(m.fulfilled_ratio),
        ),
        "",
        "## " + t._("Evaluation"),
        "",
        "### " + t._("Pulse surveys"),
        "",
    ]
    if e.pulses:
        too_few = t._("fewer than {min} answers", min=report.min_group_size)
        out += _table(
            [t._("Survey"), t._("Answers"), t._("Satisfaction (1–5)"), t._("Ownership (1–5)")],
            [
                [
                    p.survey,
                    f"{p.answers}/{p.invited}",
                    p.satisfaction if p.shown else too_few,
                    p.ownership if p.shown else too_few,
                ]
                for p in e.pulses
            ],
        )
        for pulse in e.pulses:
            if pulse.learned_from:
                named = ", ".join(f"{literal(name)} ({n})" for name, n in pulse.learned_from)
                out.append("")
                out.append(
                    t._("Learned from in {survey}: {names}", survey=pulse.survey, names=named)
                )
    else:
        out.append(t._("No pulse survey was asked about this period."))
    out += [
        "",
        "### " + t._("Relationships strengthened"),
        "",
        "- "
        + t.n_(
            "{n} tie is stronger than in the previous period of the same length: {appeared} "
            "appeared, {grown} grew.",
            "{n} ties are stronger than in the previous period of the same length: {appeared} "
            "appeared, {grown} grew.",
            e.ties_strengthened,
            appeared=e.ties_appeared,
            grown=e.ties_grown,
        ),
        "",
        "### " + t._("New voices per theme"),
        "",
    ]
    if e.new_voices:
        out += [
            "- "
            + f"{voices.theme_name}: {len(voices.names)} — "
            + ", ".join(literal(name) for name in voices.names)
            for voices in e.new_voices
        ]
    else:
        out.append(t._("Nobody spoke in a theme for the first time in this period."))
    out += [
        "",
        "## " + t._("Impact"),
        "",
        "- "
        + ", ".join(
            (
                t.n_("{n} impact survey", "{n} impact surveys", len(i.surveys)),
                _answers(t, i.answers),
                _stories(t, i.stories),
            )
        )
        + ".",
    ]
    for survey in i.surveys:
        if not survey.shown:
            out.append(
                "- "
                + t.n_(
                    "{survey}: {n} answer, fewer than {min}, so none is shown.",
                    "{survey}: {n} answers, fewer than {min}, so none is shown.",
                    survey.answers,
                    survey=survey.survey,
                    min=report.min_group_size,
                )
            )
        for story in survey.stories:
            out += ["", "> " + literal(story)]
    return "\n".join(out) + "\n"


# HTML -----------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #263238; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #cfd8dc; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #cfd8dc; padding: .2rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; display: block; margin: 1rem 0; }
blockquote { border-left: 4px solid #90a4ae; margin: .8rem 0; padding: .2rem 1rem; color: #455a64; }
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def render_html(report: Report, t: Translator) -> str:
    """One self-contained page: the markdown report's content with the three charts inline."""
    # The markdown is built from escaped text: member-chosen names and titles must not become
    # markup, so html is off in the parser and every table cell is rendered by it too.
    body = (
        MarkdownIt("commonmark", {"html": False}).enable("table").render(render_markdown(report, t))
    )
    charts = {
        "<h2>" + html.escape(t._("Monitoring")) + "</h2>": _img(
            levels_chart(report.monitoring.levels, t, "png", title=True),
            t._("Levels of participation per week"),
        )
        + _img(
            themes_chart(
                [w.week for w in report.monitoring.levels],
                report.monitoring.theme_activity,
                t,
                "png",
                title=True,
            ),
            t._("Theme activity: messages per week"),
        )
        + _img(
            network_chart(report.monitoring.network, t, "png", title=True),
            t._("Interaction network"),
        ),
    }
    for heading, images in charts.items():
        body = body.replace(heading, heading + "\n" + images, 1)
    title = t._(
        "{name}: monitoring, evaluation and impact, {period}",
        name=report.community_name,
        period=report.label,
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(t.locale)}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"{body}</body>\n</html>\n"
    )
