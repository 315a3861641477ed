"""The report's network maths: the graph of the strongest ties, its brokers and the chart's edges.

Pure functions, no I/O. ``graph_figures`` is the CPU work (betweenness takes a good part of a
second at a few hundred members, all of it holding Python's lock): the report runs it in the
worker process (``bot.worker``), so that neither the event loop nor storing chat waits on it.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from bot.monitoring.report_model import Broker, Network, NetworkEdge, NetworkNode
from storage.report_reads import Tie

EXACT_BETWEENNESS_NODES = 400
"""Up to this many members, betweenness is exact; above it, it is estimated from sampled sources."""
BETWEENNESS_SAMPLES = 48
BROKERS = 5
NETWORK_TIES = 150
"""The network chart draws the strongest ties only; the figures count them all."""

Graph = dict[int, dict[int, int]]
"""Member -> neighbour -> weight of their tie, both ways."""


class MemberThemes:
    """The themes each member spoke in during the period, as one bit per theme: only the brokers'
    are ever named, and a set of names per member would take tens of MB at 100,000 members."""

    def __init__(self) -> None:
        self._bits: dict[str, int] = {}
        self._of: dict[int, int] = {}

    def add(self, member: int, theme: str) -> None:
        bit = self._bits.setdefault(theme, 1 << len(self._bits))
        self._of[member] = self._of.get(member, 0) | bit

    def of(self, member: int) -> list[str]:
        mask = self._of.get(member, 0)
        return [theme for theme, bit in self._bits.items() if mask & bit]


def tie_graph(strongest: Iterable[Tie]) -> Graph:
    """The graph of the strongest ties (strongest first).

    Only the strongest ties make the graph: in a large, busy community most pairs exchanged a
    reaction or two, and paths over those say little about who carries knowledge across.
    """
    graph: Graph = {}
    for weight, a, b in strongest:
        # Nodes and neighbours in the order networkx's add_edge would keep them: the sampled
        # sources and the chart's order among equal ties depend on it.
        graph.setdefault(a, {})[b] = weight
        graph.setdefault(b, {})[a] = weight
    return graph


def graph_figures(
    graph: Graph, names: dict[int, str], organisations: dict[int, str]
) -> tuple[dict[int, float], Network]:
    """Every member's betweenness and the network chart's nodes and edges: run it off the loop."""
    return betweenness(graph) if len(graph) >= 3 else {}, network(graph, names, organisations)


def brokers(
    graph: Graph,
    centrality: dict[int, float],
    names: dict[int, str],
    organisations: dict[int, str],
    member_themes: MemberThemes,
    theme_names: dict[str, str],
) -> tuple[Broker, ...]:
    """Members through whom most shortest paths run: they carry what one group knows to another."""
    ranked = sorted(
        ((score, member) for member, score in centrality.items() if score > 0),
        key=lambda pair: (-pair[0], names[pair[1]].casefold()),
    )[:BROKERS]
    found = []
    for score, member in ranked:
        reached = {organisations[m].casefold() for m in graph[member] if m in organisations}
        if member in organisations:
            reached.add(organisations[member].casefold())
        found.append(
            Broker(
                name=names[member],
                organisation=organisations.get(member, ""),
                betweenness=round(score, 4),
                organisations_reached=len(reached),
                themes=tuple(sorted(theme_names.get(t, t) for t in member_themes.of(member))),
            )
        )
    return tuple(found)


def betweenness(graph: Graph) -> dict[int, float]:
    """Normalised betweenness (networkx): exact up to EXACT_BETWEENNESS_NODES members, else from
    BETWEENNESS_SAMPLES sampled sources."""
    nx_graph: nx.Graph[int] = nx.Graph()
    nx_graph.add_weighted_edges_from(
        (a, b, weight) for a, neighbours in graph.items() for b, weight in neighbours.items()
    )
    if nx_graph.number_of_nodes() <= EXACT_BETWEENNESS_NODES:
        result: dict[int, float] = nx.betweenness_centrality(nx_graph)
        return result
    # A fixed seed keeps the same community's report stable from one run to the next.
    sampled: dict[int, float] = nx.betweenness_centrality(nx_graph, k=BETWEENNESS_SAMPLES, seed=7)
    return sampled


def network(graph: Graph, names: dict[int, str], organisations: dict[int, str]) -> Network:
    """The strongest NETWORK_TIES ties, each end labelled by an opaque key."""
    # Each edge once, from the end seen first, as networkx lists a graph's edges.
    edges: list[tuple[int, int, int]] = []
    seen: set[int] = set()
    for a, neighbours in graph.items():
        edges.extend((a, b, weight) for b, weight in neighbours.items() if b not in seen)
        seen.add(a)
    strongest = sorted(
        edges,
        key=lambda edge: (-edge[2], names[edge[0]].casefold(), names[edge[1]].casefold()),
    )[:NETWORK_TIES]
    keys: dict[int, str] = {}
    for a, b, _ in strongest:
        for member in (a, b):
            keys.setdefault(member, f"n{len(keys) + 1}")
    return Network(
        nodes=tuple(
            NetworkNode(key, names[member], organisations.get(member, ""))
            for member, key in keys.items()
        ),
        edges=tuple(NetworkEdge(keys[a], keys[b], weight) for a, b, weight in strongest),
    )
