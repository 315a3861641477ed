"""The engine: the one way chat gets into the store and commands get answered.

Adapters hand events to ``accept``. A single writer task takes them off the queue in batches and
writes each batch in one transaction; a command is answered only after every event before it is
stored, so what a command reports includes everything said before it. Listeners (welcome
messages, for instance) run after the batch that holds their event is committed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.events import (
    CommandInvoked,
    Event,
    MessagePosted,
    ReactionAdded,
    ThreadOpened,
)
from bot.services.recognition import expresses_thanks, is_question, reaction_credit
from storage.ingest import MemberCache, PostFacts, ReactionFacts, write_batch

if TYPE_CHECKING:
    from bot.themes import ThemeMap
    from storage.sqlite import SqliteStore

log = logging.getLogger(__name__)

CommandHandler = Callable[[CommandInvoked], Awaitable[None]]
Listener = Callable[[Event], Awaitable[None]]

_reaction_facts = functools.cache(ReactionFacts)
"""One ReactionFacts per kind of credit, shared by every reaction of that kind."""


class Engine:
    def __init__(
        self,
        store: SqliteStore,
        themes: dict[str, ThemeMap],
        on_command: CommandHandler,
        *,
        batch_size: int = 5000,
    ) -> None:
        self.store = store
        self.themes = themes
        self.members = MemberCache()
        self._on_command = on_command
        self._batch_size = batch_size
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._listeners: dict[type, list[Listener]] = {}
        self._writer: asyncio.Task | None = None

    def listen(self, event_type: type, listener: Listener) -> None:
        """Call ``listener`` with each event of that type once it is safely stored."""
        self._listeners.setdefault(event_type, []).append(listener)

    async def accept(self, event: Event) -> None:
        """The adapters' sink. Returns as soon as the event is queued."""
        if event.community not in self.themes:
            log.warning("event for unknown community %r dropped", event.community)
            return
        await self._queue.put(event)

    async def __call__(self, event: Event) -> None:
        """The engine is the adapters' sink (``adapters.base.EventSink``)."""
        await self.accept(event)

    async def drain(self) -> None:
        """Wait until everything accepted so far is stored and every command answered.

        From inside a command (the writer task itself) there is nothing to wait for: every event
        before the command is already stored, and waiting for the command would never end.
        """
        if asyncio.current_task() is self._writer:
            return
        await self._queue.join()

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever(), name="trellis-engine")

    async def stop(self) -> None:
        """Store what is queued, then stop."""
        if self._writer is None:
            return
        await self.drain()
        self._writer.cancel()
        try:
            await self._writer
        except asyncio.CancelledError:
            pass
        self._writer = None

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._handle(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _handle(self, batch: list[Event]) -> None:
        pending: list[Event] = []
        for event in batch:
            if isinstance(event, CommandInvoked):
                await self.ingest(pending)
                pending = []
                await self._answer(event)
            else:
                pending.append(event)
        await self.ingest(pending)

    async def _answer(self, command: CommandInvoked) -> None:
        try:
            await self._on_command(command)
        except Exception:
            log.exception("command %r from %s failed", command.command, command.member.key)

    async def ingest(self, events: list[Event]) -> None:
        """Store ``events`` in one transaction (isolating a bad one rather than losing the rest)."""
        if not events:
            return
        items = [(event, self._facts(event)) for event in events]
        try:
            async with self.store.transaction() as db:
                await write_batch(db, self.members, items)
        except Exception:
            if len(events) == 1:
                log.exception("could not store %r; it is skipped", events[0])
                return
            log.warning("a batch of %d events failed; storing them one by one", len(events))
            self.members = MemberCache()
            for event in events:
                await self.ingest([event])
            return
        for event in events:
            for listener in self._listeners.get(type(event), ()):
                try:
                    await listener(event)
                except Exception:
                    log.exception("listener %r failed on %r", listener, event)

    def _facts(self, event: Event) -> PostFacts | ReactionFacts | None:
        match event:
            case MessagePosted():
                theme = self.themes[event.community].for_message(event.channel, event.text)
                thanks = expresses_thanks(event.text)
                named = tuple(m for m in event.mentions if m != event.author) if thanks else ()
                return PostFacts(
                    theme=theme,
                    is_question=is_question(event.text),
                    thanks_to=named,
                    thanks_reply=thanks and not named and event.reply_to is not None,
                )
            case ThreadOpened():
                theme = self.themes[event.community].for_place(event.channel)
                return PostFacts(theme=theme, is_question=False)
            case ReactionAdded():
                return _reaction_facts(reaction_credit(event.emoji))
        return None
