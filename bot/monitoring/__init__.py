"""Monitoring, evaluation and impact: knowledge map, shared knowledge, commitments, surveys, report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.monitoring import commitments, events, knowledge, onboarding, report_commands, surveys

if TYPE_CHECKING:
    from bot.app import Trellis

_FEATURES = (knowledge, commitments, events, surveys, onboarding, report_commands)

COMMANDS = tuple(spec for feature in _FEATURES for spec in feature.COMMANDS)


def install(app: Trellis) -> None:
    """Add the monitoring features' jobs, listeners and digest sections to the app."""
    for feature in _FEATURES:
        feature.install(app)
