"""A room's bridges, from the state events bridges send (MSC2346: ``m.bridge``, and
``uk.half-shot.bridge`` before it was settled): which Discord channel a room is relayed into."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

BRIDGE_STATE_TYPES = frozenset({"m.bridge", "uk.half-shot.bridge"})

_DISCORD_PROTOCOLS = frozenset({"discord", "discordgo"})
"""matrix-appservice-discord names its protocol 'discord', mautrix-discord 'discordgo'."""


def bridged_channel(raw: Mapping[str, Any]) -> str | None:
    """The Discord channel ('discord:<id>') a bridge state event says its room is relayed
    into; None for another event, another network, or a bridge that was removed (empty content)."""
    if raw.get("type") not in BRIDGE_STATE_TYPES or "state_key" not in raw:
        return None
    content = raw.get("content") or {}
    protocol = content.get("protocol") or {}
    channel = content.get("channel") or {}
    if not isinstance(protocol, dict) or not isinstance(channel, dict):
        return None
    if str(protocol.get("id", "")).casefold() not in _DISCORD_PROTOCOLS:
        return None
    channel_id = str(channel.get("id", ""))
    return f"discord:{channel_id}" if channel_id.isdigit() else None


def bridged_channels(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """The Discord channels that the bridge state events among ``events`` name."""
    return [channel for raw in events if (channel := bridged_channel(raw)) is not None]
