"""Optional feature modules plug in here: each adds its jobs, listeners and digest sections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import monitoring

if TYPE_CHECKING:
    from bot.app import Trellis


def install_features(app: Trellis) -> None:
    """Install every feature module that extends the core (monitoring & evaluation, onboarding)."""
    monitoring.install(app)
