"""The engine: the one way chat gets into the store and commands get answered.

Adapters hand events to ``accept``, which numbers them in order. A single writer task takes them
off the queue in batches and writes each batch in one transaction. A command is handed to a task
of its own once every event numbered before it is stored, so what a command reports includes
everything said before it, and storing chat never waits for a command: the writer goes on with
the next batch while the command runs, its reads on a read-only connection of its own. Listeners
(welcome messages, for instance) run the same way, after the batch that holds their event is
committed.

Commands that take long to answer (a digest preview, statistics over a long period) run one at
a time, in a lane of their own, reading at a lower CPU priority: they cannot take the cores (or
Python's lock) away from storing chat, and quick commands never wait behind them.

An event is acknowledged (``drain`` returns) only once it is stored. When the store cannot write
(a full disk, an I/O error) the writer keeps the batch and retries it with a growing pause, and
``accept`` takes nothing more until the store writes again, so adapters stop acknowledging and
the platform keeps what it has not delivered. Only an event that the store refuses on its own
(a constraint, a programming error) is skipped, and loudly.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import sqlite3
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.events import (
    CommandInvoked,
    Event,
    MessagePosted,
    ReactionAdded,
    ThreadOpened,
)
from bot.recognition import (
    expresses_thanks,
    is_question,
    reaction_credit,
    thanked_words,
)
from storage.ingest import MemberCache, PostFacts, ReactionFacts, write_batch
from storage.sqlite import store_cannot_write, store_damaged

if TYPE_CHECKING:
    from bot.themes import ThemeMap
    from storage.contract import Store

log = logging.getLogger(__name__)

CommandHandler = Callable[[CommandInvoked], Awaitable[None]]
Listener = Callable[[Event], Awaitable[None]]
TroubleHandler = Callable[[str], Awaitable[None]]
"""Told once, in one sentence, when the store stops writing."""

_reaction_facts = functools.cache(ReactionFacts)
"""One ReactionFacts per kind of credit, shared by every reaction of that kind."""
_plain_facts = functools.cache(PostFacts)
"""One PostFacts per (theme, question) for the messages that thank nobody, most of them: a named
tuple with defaults costs more to make than the rest of a message's facts."""

_RETRY_FIRST, _RETRY_MOST = 0.05, 2.0
"""Seconds between two tries of a batch the store could not write: doubling, up to the most."""

_LONG_COMMAND = 0.2
"""Seconds after which a command counts as long: the next time, it waits for the long lane."""
_TIMES_KEPT = 5
"""A command is long when the median of its last this many answers in the quick lane is: a few
slow answers on a busy machine do not send a quick command to wait behind the long ones."""
_RECHECK_EVERY = 8
"""A long command's every this many-th answer runs in the quick lane again, to be timed there.
Answers in the long lane are not timed: read at a lower priority on a busy machine, a quick
command would be slow there, and so would stay behind the long ones for good."""

BATCH_SIZE = 20_000
"""Events written in one transaction at most, when that many are waiting (a catch-up, a busy
moment). Each commit writes every page its batch changed, and in a large store the members'
indexes spread a batch over a page per member: at a million messages, batches of 20,000 cost
the writer's thread a sixth less CPU than batches of 5,000, and hold the write lock about half
a second."""

_QUICK_AT_ONCE = 8
"""Quick commands answered at the same time, each on a read connection (a thread) of its own."""

_in_follow_up: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "trellis_in_follow_up", default=False
)
"""True inside a command or listener task: the events before it are already stored."""


def _slow(times: deque[float] | tuple[()]) -> bool:
    """Whether a command whose last answers in the quick lane took ``times`` is a long one."""
    return len(times) >= 3 and statistics.median(times) > _LONG_COMMAND


class StoreUnavailable(Exception):
    """The store could not write for longer than the engine was told to wait."""


class Engine:
    def __init__(
        self,
        store: Store,
        themes: dict[str, ThemeMap],
        on_command: CommandHandler,
        *,
        member_cache: MemberCache,
        batch_size: int = BATCH_SIZE,
        on_trouble: TroubleHandler | None = None,
        on_refused: CommandHandler | None = None,
    ) -> None:
        self.store = store
        self.themes = themes
        self._member_cache = member_cache
        """Shared with every community's context: their writes keep it in step."""
        self.give_up_after: float | None = None
        """Seconds of a store that cannot write after which ``accept`` and ``drain`` raise
        ``StoreUnavailable`` (a script run); None waits for the store as long as it takes."""
        self.skipped = 0
        """Events the store refused on their own (never for a store that cannot write)."""
        self.damage: sqlite3.DatabaseError | None = None
        """Set when the database file turned out damaged: nothing more is stored or acknowledged,
        and the process stops (``broken``) so the operator restores a backup."""
        self.broken = asyncio.Event()
        self._on_command = on_command
        self._on_trouble = on_trouble
        self._on_refused = on_refused
        """Answers a command that comes while the store cannot write (it is not run)."""
        self._batch_size = batch_size
        self._queue: deque[tuple[int, Event]] = deque()
        """Events accepted and not yet taken by the writer, with their numbers. A plain deque and
        an event to wake the writer: asyncio.Queue's bookkeeping per item cost a tenth of
        ingest's time."""
        self._queued = asyncio.Event()
        self._accepted = 0
        """The number of the last event accepted."""
        self._written = 0
        """Every event numbered up to this one is stored (a command: handed to its task)."""
        self._follow_ups: dict[asyncio.Task[None], int] = {}
        """Command and listener tasks still running, with the number of their event."""
        self._last_of: dict[str, asyncio.Task[None]] = {}
        """Per kind of follow-up, the latest one: the next one starts after it, in order."""
        self._took: dict[str, deque[float]] = {}
        """Per command, how long its last answers in the quick lane took."""
        self._in_long_lane: dict[str, int] = {}
        """Per long command, its answers in the long lane since it was last timed."""
        self._long_lane = asyncio.Semaphore(1)
        self._quick_lane = asyncio.Semaphore(_QUICK_AT_ONCE)
        self._progress = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._down_since: float | None = None
        self._listeners: dict[type, list[Listener]] = {}
        self._writer: asyncio.Task[None] | None = None

    def listen(self, event_type: type, listener: Listener) -> None:
        """Call ``listener`` with each event of that type once it is safely stored."""
        self._listeners.setdefault(event_type, []).append(listener)

    @property
    def waiting(self) -> int:
        """Events accepted and not stored yet (the queue's depth, a batch being written included)."""
        return self._accepted - self._written

    async def accept(self, event: Event) -> None:
        """The adapters' sink. Returns as soon as the event is queued; while the store cannot
        write, waits until it can (or raises ``StoreUnavailable`` when told to give up)."""
        if event.community not in self.themes:
            log.warning("event for unknown community %r dropped", event.community)
            return
        if self.damage is not None:
            raise self.damage
        if isinstance(event, CommandInvoked) and not self._writable.is_set() and self._on_refused:
            # Answered at once, not run: it would wait behind chat that cannot be stored.
            self._follow_up(self._written, None, functools.partial(self._on_refused, event))
            return
        while not self._writable.is_set():
            await self._wait_for_progress()
        self._accepted += 1
        self._queue.append((self._accepted, event))
        self._queued.set()

    async def __call__(self, event: Event) -> None:
        """The engine is the adapters' sink (``bot.ports.EventSink``)."""
        await self.accept(event)

    async def drain(self) -> None:
        """Wait until everything accepted so far is stored and every command before it answered.

        Raises ``StoreUnavailable`` rather than return while an event is not stored, when told to
        give up. From inside a command there is nothing to wait for: every event before it is
        already stored, and waiting for the command itself would never end.
        """
        if _in_follow_up.get():
            return
        target = self._accepted
        while self._written < target or any(seq <= target for seq in self._follow_ups.values()):
            await self._wait_for_progress()

    async def _wait_for_progress(self) -> None:
        if self.damage is not None:
            raise self.damage
        progress = self._progress
        if self._down_since is not None and self.give_up_after is not None:
            left = self._down_since + self.give_up_after - time.monotonic()
            if left <= 0:
                raise StoreUnavailable(
                    f"the store could not write for {self.give_up_after:g} s; "
                    f"{self.waiting} events are not stored"
                )
            try:
                await asyncio.wait_for(progress.wait(), left)
            except TimeoutError:
                pass
            return
        await progress.wait()

    def _moved(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_forever(), name="trellis-engine")

    async def stop(self, *, patience: float = 8.0) -> None:
        """Store what is queued and answer what was asked, then stop. If the store still cannot
        write after ``patience`` seconds, stops anyway and says how many events were not stored
        (they were never acknowledged, so the platforms deliver them again)."""
        if self._writer is None:
            return
        try:
            if self.damage is None:
                await asyncio.wait_for(self.drain(), patience)
        except (TimeoutError, StoreUnavailable, sqlite3.DatabaseError):
            if self.waiting:
                log.error(
                    "stopping with %d events not stored: the store could not write them",
                    self.waiting,
                )
            else:
                log.warning("stopping before %d commands were answered", len(self._follow_ups))
        self._writer.cancel()
        for task in list(self._follow_ups):
            task.cancel()
        await asyncio.gather(self._writer, *self._follow_ups, return_exceptions=True)
        self._writer = None

    async def _write_forever(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._queued.clear()
                await self._queued.wait()
                continue
            batch = [queue.popleft() for _ in range(min(len(queue), self._batch_size))]
            pending: list[tuple[int, Event]] = []
            for seq, event in batch:
                if isinstance(event, CommandInvoked):
                    await self._store(pending)
                    pending = []
                    self._follow_up(seq, None, functools.partial(self._answer, event))
                    self._written = seq
                    self._moved()
                else:
                    pending.append((seq, event))
            await self._store(pending)

    async def _store(self, items: list[tuple[int, Event]]) -> None:
        """Store ``items`` and run their listeners; returns only once they are stored (or, for a
        single event the store refuses on its own, skipped)."""
        if not items:
            return
        events = [event for _, event in items]
        pause = _RETRY_FIRST
        while True:
            try:
                await self.ingest(events)
            except Exception as error:
                self._member_cache.clear()  # it may name rows that were rolled back
                if isinstance(error, sqlite3.DatabaseError) and store_damaged(error):
                    log.critical("the database is damaged (%s): Trellis stops storing", error)
                    self.damage = error
                    self.broken.set()
                    self._moved()
                    raise
                if store_cannot_write(error):
                    await self._store_down(error, len(items), pause)
                    pause = min(pause * 2, _RETRY_MOST)
                    continue
                if len(items) > 1:
                    log.warning("a batch of %d events failed; storing them one by one", len(items))
                    for item in items:
                        await self._store([item])
                    return
                self.skipped += 1
                log.error("could not store %r; it is skipped", events[0], exc_info=True)
            break
        self._store_up()
        for seq, event in items:
            for listener in self._listeners.get(type(event), ()):
                self._follow_up(seq, "listeners", functools.partial(self._listen, listener, event))
        self._written = items[-1][0]
        self._moved()

    async def _store_down(self, error: Exception, waiting: int, pause: float) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._writable.clear()
            log.error(
                "the store cannot write (%s): %d events wait, and Trellis takes no new events "
                "until it can; it tries again by itself",
                error,
                waiting,
            )
            if self._on_trouble is not None:
                self._follow_up(
                    self._written, "trouble", functools.partial(self._on_trouble, str(error))
                )
        self._moved()  # a drain told to give up checks its time
        await asyncio.sleep(pause)

    def _store_up(self) -> None:
        if self._down_since is None:
            return
        log.warning(
            "the store writes again after %.0f s; Trellis takes events again",
            time.monotonic() - self._down_since,
        )
        self._down_since = None
        self._writable.set()

    def _follow_up(self, seq: int, key: str | None, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` in a task of its own; with a ``key``, after the previous one with that key.

        Commands run side by side (a long digest preview does not hold up a short ``mydata``);
        calls of one listener keep the order of their events.
        """
        previous = self._last_of.get(key) if key is not None else None

        async def run() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            _in_follow_up.set(True)
            try:
                await work()
            except Exception:
                log.exception("%r failed", work)

        task = asyncio.create_task(run())
        self._follow_ups[task] = seq
        if key is not None:
            self._last_of[key] = task
        task.add_done_callback(functools.partial(self._finished, key))

    def _finished(self, key: str | None, task: asyncio.Task[None]) -> None:
        del self._follow_ups[task]
        if key is not None and self._last_of.get(key) is task:
            del self._last_of[key]
        self._moved()

    def _is_long(self, name: str) -> bool:
        """Whether the command ``name`` waits for the long lane this time."""
        if not _slow(self._took.get(name, ())):
            return False
        answered = self._in_long_lane.get(name, 0) + 1
        self._in_long_lane[name] = answered % _RECHECK_EVERY
        return answered < _RECHECK_EVERY

    async def _answer(self, command: CommandInvoked) -> None:
        long = self._is_long(command.command)
        async with self._long_lane if long else self._quick_lane:
            started = time.perf_counter()  # the time it takes, not the time it waited
            try:
                async with self.store.reads_apart(background=long):
                    await self._on_command(command)
            except Exception:
                log.exception("command %r from %s failed", command.command, command.member.key)
            finally:
                if not long:
                    took = time.perf_counter() - started
                    times = self._took.setdefault(command.command, deque(maxlen=_TIMES_KEPT))
                    if took <= _LONG_COMMAND and _slow(times):
                        times.clear()  # a long command quick again in the quick lane: afresh
                    times.append(took)

    async def _listen(self, listener: Listener, event: Event) -> None:
        async with self.store.reads_apart():
            await listener(event)

    async def ingest(self, events: list[Event]) -> None:
        """Store ``events`` in one transaction: all of them, or none and the error raised."""
        if not events:
            return
        items = [(event, self._facts(event)) for event in events]
        async with self.store.transaction() as tx:
            await write_batch(tx, self._member_cache, items)

    def _facts(self, event: Event) -> PostFacts | ReactionFacts | None:
        match event:
            case MessagePosted():
                text = event.text
                theme = self.themes[event.community].for_message(event.channel, text)
                if not expresses_thanks(text):
                    return _plain_facts(theme, is_question(text))
                named = tuple(m for m in event.mentions if m != event.author)
                return PostFacts(
                    theme=theme,
                    is_question=is_question(text),
                    thanks_to=named,
                    thanks_reply=not named and event.reply_to is not None,
                    thanks_words=() if named else thanked_words(text),
                )
            case ThreadOpened():
                theme = self.themes[event.community].for_place(event.channel)
                return PostFacts(theme=theme, is_question=False)
            case ReactionAdded():
                return _reaction_facts(reaction_credit(event.emoji))
        return None
