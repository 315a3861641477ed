"""Trellis's charts: the report's (levels, theme activity, the network), drawn once for every
reader, as PNG for the report and the chat and as SVG for the dashboard and the history site; and
the digest's messages per theme.

Drawing takes a noticeable fraction of a second, all of it holding Python's lock, so callers run
these in the worker process (``bot.worker``). An SVG draws its text as paths, so it needs no font
from the browser.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import matplotlib
import networkx as nx
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from bot.i18n import Translator
from bot.monitoring.report_model import Network, ThemeWeek, WeekLevels

# Every text in a chart is drawn as written: members' names and themes are no markup, and
# matplotlib would read "$…$" in them as mathematics (and fail on "$\frac{$").
matplotlib.rcParams["text.parse_math"] = False

ChartFormat = Literal["png", "svg"]

LEVEL_COLOURS = {
    "core": "#1b5e20",
    "active": "#43a047",
    "peripheral": "#a5d6a7",
    "inactive": "#cfd8dc",
}
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#7f7f7f",
)  # fmt: skip
LABELLED_NODES = 40
"""Above this many people the network names only the most connected, so the names stay legible."""


def _drawn(figure: Figure, fmt: ChartFormat) -> bytes:
    buffer = io.BytesIO()
    if fmt == "svg":  # no date in the file: the same chart is the same bytes
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    else:
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def levels_chart(
    levels: tuple[WeekLevels, ...], t: Translator, fmt: ChartFormat, *, title: bool
) -> bytes:
    """Stacked bars: members at each level of participation, week by week."""
    figure = Figure(figsize=(9, 4))
    axes = figure.add_subplot()
    weeks = [w.week for w in levels]
    bottom = [0] * len(weeks)
    for level, label in (
        ("core", t._("Core")),
        ("active", t._("Active")),
        ("peripheral", t._("Peripheral")),
        ("inactive", t._("Inactive")),
    ):
        values = [getattr(w, level) for w in levels]
        axes.bar(weeks, values, bottom=bottom, label=label, color=LEVEL_COLOURS[level])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    if title:
        axes.set_title(t._("Levels of participation per week"))
    axes.set_ylabel(t._("Members"))
    axes.tick_params(axis="x", labelrotation=60, labelsize=7)
    axes.legend(loc="upper left", fontsize=8)
    return _drawn(figure, fmt)


def themes_chart(
    weeks: list[str], rows: Sequence[ThemeWeek], t: Translator, fmt: ChartFormat, *, title: bool
) -> bytes:
    """One line per theme: messages week by week (the rows of one theme draw that theme alone)."""
    figure = Figure(figsize=(9, 4))
    axes = figure.add_subplot()
    series: dict[str, dict[str, int]] = {}
    for row in rows:
        series.setdefault(row.theme_name, {})[row.week] = row.messages
    for n, (name, counts) in enumerate(series.items()):
        axes.plot(
            weeks, [counts.get(w, 0) for w in weeks], marker="o", markersize=3,
            label=name, color=PALETTE[n % len(PALETTE)],
        )  # fmt: skip
    if not series:
        axes.text(0.5, 0.5, t._("No messages in a theme"), ha="center", transform=axes.transAxes)
    if title:
        axes.set_title(t._("Theme activity: messages per week"))
    axes.set_ylabel(t._("Messages"))
    axes.tick_params(axis="x", labelrotation=60, labelsize=7)
    if series:
        axes.legend(loc="upper left", fontsize=8)
    return _drawn(figure, fmt)


def network_chart(network: Network, t: Translator, fmt: ChartFormat, *, title: bool) -> bytes:
    """The strongest ties, people coloured by organisation and named by display name.

    Only members who may be named are in the report at all; opted-out members are not nodes.
    """
    figure = Figure(figsize=(9, 7))
    axes = figure.add_subplot()
    axes.set_axis_off()
    if title:
        axes.set_title(t._("Interaction network (strongest ties), coloured by organisation"))
    if not network.edges:
        axes.text(0.5, 0.5, t._("No ties in this period"), ha="center", transform=axes.transAxes)
        return _drawn(figure, fmt)
    graph: nx.Graph[str] = nx.Graph()
    graph.add_nodes_from(node.key for node in network.nodes)
    graph.add_weighted_edges_from((edge.a, edge.b, edge.weight) for edge in network.edges)
    position = nx.spring_layout(graph, seed=3, weight="weight")
    heaviest = max(edge.weight for edge in network.edges)
    axes.add_collection(
        LineCollection(
            [(position[edge.a], position[edge.b]) for edge in network.edges],
            linewidths=[0.5 + 3 * edge.weight / heaviest for edge in network.edges],
            colors="#90a4ae",
            zorder=1,
        )
    )
    # The organisations with most people in the picture get their own colour; the rest share one.
    counts = Counter(node.organisation for node in network.nodes if node.organisation)
    shown = sorted((org for org, _ in counts.most_common(len(PALETTE) - 1)), key=str.casefold)
    colour = {org: PALETTE[n] for n, org in enumerate(shown)}
    groups: list[tuple[str | None, str]] = [(org, org) for org in shown]
    for org, label in [*groups, (None, t._("Other or none"))]:
        members = [
            node
            for node in network.nodes
            if (node.organisation == org if org is not None else node.organisation not in colour)
        ]
        if not members:
            continue
        axes.scatter(
            [position[node.key][0] for node in members],
            [position[node.key][1] for node in members],
            s=[60 + 15 * graph.degree(node.key) for node in members],
            color=colour.get(org or "", PALETTE[-1]),
            label=label,
            zorder=2,
            edgecolors="white",
        )
    named = sorted(network.nodes, key=lambda node: -graph.degree(node.key))[:LABELLED_NODES]
    for node in named:
        x, y = position[node.key]
        axes.annotate(node.label, (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    axes.legend(loc="lower left", fontsize=7, frameon=False)
    axes.autoscale_view()
    return _drawn(figure, fmt)


def digest_chart(
    names: list[str], before: list[int], now: list[int], labels: tuple[str, str, str]
) -> bytes:
    """Bars per theme: messages the week before and this week (``labels``: those two and the
    axis's)."""
    figure = Figure(figsize=(7, 3.2), dpi=100)
    axes = figure.subplots()
    positions = range(len(names))
    axes.bar([p - 0.2 for p in positions], before, 0.4, label=labels[0], color="#b8c4d6")
    axes.bar([p + 0.2 for p in positions], now, 0.4, label=labels[1], color="#2f6f4f")
    axes.set_xticks(list(positions), names, fontsize=8)
    axes.set_ylabel(labels[2])
    axes.legend(fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
