"""The election of the process that holds each platform connection that must be unique (the
Matrix sync of one bot account, each Discord shard of one bot) among every process on one
database: the process holding a connection's lease holds the connection; the others stand by
and take the lease when the database lets it go, which it does when its holder dies.

Every process of one bot also gives alike the settings that decide what its connections are
(Discord's shard count: processes counting differently would each hold "shard 0" of another
split of the servers): ``agree``.

On PostgreSQL a lease is a session advisory lock (``Store.lease``), let go by the server as soon
as the holder's session ends (kill -9 included); on SQLite the file's instance lock admits one
process, which holds every connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from contextlib import AsyncExitStack

from storage.contract import Lease, Store

AGREED = "agreed settings"
"""The state scope that records, per setting of a bot, the value its processes agreed on."""
TURN_EVERY = 0.2
"""Seconds between a process's asks for its turn to agree on a setting (another is agreeing)."""


class Election:
    """This process's leases of the connections ``names``: held, or waited for."""

    def __init__(self, store: Store, names: Iterable[str]) -> None:
        self._store = store
        self.names = tuple(dict.fromkeys(names))
        self._held: dict[str, tuple[Lease, AsyncExitStack]] = {}
        self._agreed = AsyncExitStack()

    @property
    def held(self) -> list[str]:
        return [name for name in self.names if name in self._held]

    @property
    def waiting(self) -> list[str]:
        """The connections another process holds, which this one stands by for."""
        return [name for name in self.names if name not in self._held]

    async def agree(self, setting: str, value: str) -> str | None:
        """Hold ``value`` of ``setting`` (named with its bot: ``adapters.discord.shard_count of
        discord bot 123``) beside every live process that gives the same, until ``close``; or,
        when a live process of the bot gives another value, hold nothing and return that value.

        The value agreed on is recorded; each process that gives it holds a shared lease on it,
        so that the lease taken alone tells whether any of them still runs. Processes agree one
        at a time, so that two starting together with different values cannot both go on."""
        async with await self._turn(f"agreeing on {setting}"):
            agreed = await self._store.get_state(AGREED, setting)
            if agreed is not None and agreed != value:
                async with self._store.lease(f"{setting}: {agreed}") as alone:
                    if not alone.held:
                        return agreed
            await self._agreed.enter_async_context(
                self._store.lease(f"{setting}: {value}", shared=True)
            )
            await self._store.set_state(AGREED, setting, value)
        return None

    async def _turn(self, name: str) -> AsyncExitStack:
        """The lease ``name``, waited for: held by each process for a moment."""
        while True:
            stack = AsyncExitStack()
            lease = await stack.enter_async_context(self._store.lease(name))
            if lease.held:
                return stack
            await stack.aclose()
            await asyncio.sleep(TURN_EVERY)

    async def look(self) -> list[str]:
        """Ask for the lease of each connection not held; those won now."""
        won = []
        for name in self.waiting:
            stack = AsyncExitStack()
            lease = await stack.enter_async_context(self._store.lease(name))
            if lease.held:
                self._held[name] = (lease, stack)
                won.append(name)
            else:
                await stack.aclose()
        return won

    async def lost(self) -> list[str]:
        """The held connections whose lease the database let go (this process's session with it
        broke), given up: another process may hold them now."""
        gone = [name for name, (lease, _) in self._held.items() if not await lease.still_held()]
        for name in gone:
            _, stack = self._held.pop(name)
            await stack.aclose()
        return gone

    async def let_go(self, names: Iterable[str]) -> None:
        """Give up the leases of ``names`` (a connection this process could not open)."""
        for name in names:
            if name in self._held:
                _, stack = self._held.pop(name)
                await stack.aclose()

    async def close(self) -> None:
        """Let every lease go (after the connections they guard are closed)."""
        while self._held:
            _, (_, stack) = self._held.popitem()
            await stack.aclose()
        await self._agreed.aclose()
