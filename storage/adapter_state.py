"""Each adapter's own rows of the ``state`` table, scoped to its platform, and what is handed to it
at start (``stored_for``).

An adapter names its rows by (scope, key) in its own terms; they are stored under the scope
``<platform>`` (its scope "") or ``<platform>.<scope>``, so no adapter reads or deletes the core's
rows (the schedules' records) or another adapter's.
"""

from __future__ import annotations

from datetime import datetime

from bot.ports import Stored, StoredPositions
from storage.catch_up import stored_positions
from storage.contract import Store


def stored_scope(platform: str, scope: str) -> str:
    """The ``state.scope`` under which ``platform``'s adapter keeps its rows of ``scope``."""
    if not platform or "." in platform:
        raise ValueError(f"an adapter's platform is one word, not {platform!r}")
    return f"{platform}.{scope}" if scope else platform


class PlatformState:
    """The ``AdapterState`` of one platform: its rows, and no others."""

    def __init__(self, store: Store, platform: str) -> None:
        self._store = store
        self._platform = platform

    async def get(self, scope: str, key: str) -> str | None:
        return await self._store.get_state(stored_scope(self._platform, scope), key)

    async def set(self, scope: str, key: str, value: str) -> None:
        await self._store.set_state(stored_scope(self._platform, scope), key, value)

    async def delete(self, scope: str, key: str) -> None:
        await self._store.delete_state(stored_scope(self._platform, scope), key)

    async def entries(self, scope: str) -> dict[str, str]:
        return await self._store.state_entries(stored_scope(self._platform, scope))


def stored_for(store: Store, platform: str) -> Stored:
    """What the store holds for ``platform``'s adapter: its state and its catch-up positions."""

    async def positions(community: str, since: datetime) -> StoredPositions:
        return await stored_positions(store, community, platform, since)

    return Stored(PlatformState(store, platform), positions)
