"""The M&E report as plain data: the figures of monitoring, evaluation and impact of a period.

``bot.monitoring.report`` builds it; ``bot.monitoring.render`` turns it into markdown, HTML, JSON
or CSV. Nothing here names a member id or a platform id: members appear by display name only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.monitoring.responses import ResponseTimes


@dataclass(frozen=True, slots=True)
class WeekLevels:
    week: str
    """ISO week label, ``2026-W40``; weeks start on Monday in the community's timezone."""
    starts: date
    core: int
    active: int
    peripheral: int
    inactive: int


@dataclass(frozen=True, slots=True)
class ThemeWeek:
    week: str
    theme: str
    theme_name: str
    messages: int
    participants: int


@dataclass(frozen=True, slots=True)
class OrganisationLink:
    a: str
    b: str
    ties: int


@dataclass(frozen=True, slots=True)
class Broker:
    name: str
    organisation: str
    betweenness: float
    organisations_reached: int
    """Distinct organisations among the member's ties, their own included."""
    themes: tuple[str, ...]
    """Names of the themes they took part in during the period."""


@dataclass(frozen=True, slots=True)
class NetworkNode:
    key: str
    """An opaque label for the chart's edges; never a member id or a platform id."""
    label: str
    organisation: str


@dataclass(frozen=True, slots=True)
class NetworkEdge:
    a: str
    b: str
    weight: int


@dataclass(frozen=True, slots=True)
class Network:
    nodes: tuple[NetworkNode, ...]
    edges: tuple[NetworkEdge, ...]


@dataclass(frozen=True, slots=True)
class KnowledgeItem:
    kind: str
    title: str
    link: str | None
    theme_name: str | None
    authors: tuple[str, ...]
    created: date


@dataclass(frozen=True, slots=True)
class Monitoring:
    members: int
    participants: int
    new_members: int
    messages: int
    replies: int
    reactions: int
    threads: int
    levels: tuple[WeekLevels, ...]
    theme_activity: tuple[ThemeWeek, ...]
    ties: int
    new_ties: int
    cross_organisation_ties: int
    organisations: int
    """Organisations named in the profiles of members who took part in the period."""
    organisation_links: tuple[OrganisationLink, ...]
    brokers: tuple[Broker, ...]
    knowledge: dict[str, int]
    """Knowledge items shared in the period, per kind: lesson, case, document."""
    knowledge_items: tuple[KnowledgeItem, ...]
    commitments_due: int
    commitments_fulfilled: int
    fulfilled_ratio: float | None
    network: Network
    first_responses: tuple[ResponseTimes, ...] = ()
    """Per theme, the median time to first response of its questions and prompts (CHAOSS)."""


@dataclass(frozen=True, slots=True)
class PulseResult:
    survey: str
    asked: date
    invited: int
    answers: int
    shown: bool
    """False when fewer than the community's min_group_size answered: then no average and no name is given."""
    satisfaction: float | None
    ownership: float | None
    learned_from: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ThemeVoices:
    theme: str
    theme_name: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Evaluation:
    pulses: tuple[PulseResult, ...]
    ties_strengthened: int
    ties_appeared: int
    """Ties of the period with no interaction in the previous period of the same length."""
    ties_grown: int
    """Ties with more interactions than in the previous period (and some in it)."""
    new_voices: tuple[ThemeVoices, ...]


@dataclass(frozen=True, slots=True)
class ImpactSurvey:
    survey: str
    asked: date
    invited: int
    answers: int
    shown: bool
    stories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Impact:
    surveys: tuple[ImpactSurvey, ...]
    answers: int
    stories: int


@dataclass(frozen=True, slots=True)
class Report:
    community: str
    community_name: str
    label: str
    start: datetime
    end: datetime
    timezone: str
    monitoring: Monitoring
    evaluation: Evaluation
    impact: Impact
    min_group_size: int
    """Survey results are shown from this many answers (``surveys.min_group_size``)."""
