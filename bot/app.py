"""The Trellis application: wires configuration, store, engine, commands, schedules and adapters.

Everything is built here from explicit arguments (no globals): ``Trellis.open`` opens the store
(applying migrations), ``start`` connects the adapters and starts the schedules, ``stop`` undoes it
in reverse order after storing whatever is still queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from bot.clock import Clock, ManualClock
from bot.commands.router import CommandRouter
from bot.community import Community
from bot.config import CommunitySettings, ConfigError, Settings
from bot.configured_store import open_store
from bot.engine import Engine
from bot.events import ChannelRef, CommandInvoked, Event
from bot.features import FEATURES, all_commands, digest_sections
from bot.i18n import Translator
from bot.outgoing import OutgoingMessage
from bot.ports import Adapter, Bridges
from bot.scheduler import Job, Scheduler
from bot.themes import ThemeMap
from storage import activity, web
from storage.adapter_state import stored_for
from storage.contract import Store
from storage.election import Election
from storage.ingest import MemberCache
from storage.rollups import refresh_rollups

log = logging.getLogger(__name__)

ELECTION_EVERY = 5.0
"""Seconds between a process's looks at the platform connections it stands by for (and at its
hold on those it holds): a standby takes over within this, plus the time to connect, of the
holder's death."""


def settle_heap() -> None:
    """Once a service is up: what it loaded to run (libraries, config, caches) lives as long as
    the process, so it is moved out of the garbage collector's sight. Its full collections, every
    few seconds of busy chat, then walk only what chat made since; over the whole heap each one
    held the event loop for 60-130 ms, stalling every answer and every stored event meanwhile."""
    gc.collect()
    gc.freeze()


class Trellis:
    def __init__(
        self, settings: Settings, store: Store, clock: Clock, adapters: Sequence[Adapter]
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        # The adapters that read bridges' state start first: the others' catch-up then leaves
        # bridged places to them from the start.
        ordered = sorted(adapters, key=lambda adapter: not adapter.reads_bridges)
        self.adapters: dict[str, Adapter] = {adapter.platform: adapter for adapter in ordered}
        self.bridges = Bridges()
        for adapter in ordered:
            adapter.bridges = self.bridges
        self.themes = {cid: ThemeMap(community) for cid, community in settings.communities.items()}
        self.commands = all_commands()
        member_cache = MemberCache()
        self.communities: dict[str, Community] = {}
        self.router = CommandRouter(self.communities, self.commands)
        self.engine = Engine(
            store,
            self.themes,
            self.router.handle,
            member_cache=member_cache,
            on_trouble=self._tell_store_trouble,
            on_refused=self._refuse_while_store_down,
        )
        sections = digest_sections()
        for cid, community in settings.communities.items():
            self.communities[cid] = Community(
                id=cid,
                config=settings,
                store=store,
                clock=clock,
                themes=self.themes[cid],
                translator=Translator(community.locale),
                member_cache=member_cache,
                adapters=self.adapters,
                drain=self.engine.drain,
                digest_sections=sections,
            )
        self.intake = Intake(self.engine)
        self.scheduler = Scheduler(
            store, clock, longest_downtime=timedelta(days=settings.catch_up.max_days)
        )
        self._running: list[Adapter] = []
        self.election = Election(
            store, [name for adapter in self.adapters.values() for name in adapter.connections()]
        )
        self._watching: asyncio.Task[None] | None = None
        self.scheduler.waits_for = self._standing_by
        self._install_features()
        self._schedule_retention()

    @classmethod
    async def open(
        cls, settings: Settings, *, clock: Clock, adapters: Sequence[Adapter] = ()
    ) -> Trellis:
        store = await open_store(settings, exclusive=True)
        try:
            # Rollups count local days: recorded now, ingest notes the days it changes in the
            # community's timezone (a new or changed zone recounts them all).
            async with store.transaction() as tx:
                for community_id, community in settings.communities.items():
                    await refresh_rollups(tx, community_id, community.timezone)
            return cls(settings, store, clock, adapters)
        except BaseException:
            await store.close()
            raise

    # Lifecycle -----------------------------------------------------------------------------

    async def start(self, *, real_time: bool = True) -> None:
        """Connect the adapters, store what they caught up, then run what fell due meanwhile.

        Each adapter's ``start`` returns with its platform state loaded and the events of the
        downtime handed to the engine, so a digest due while Trellis was down counts them. With
        ``real_time`` APScheduler fires the jobs; without it (demo, tests) the caller moves the
        clock and calls ``run_due_jobs``.
        """
        self.engine.start()
        before = await self._message_counts()
        await self._agree()
        await self.election.look()
        # A command asked while Trellis was down is answered once every platform's catch-up is
        # stored: the first adapter's catch-up would otherwise answer it from a store that
        # lacks what the others bring (said before it, on another platform or in another room).
        async with self.intake.holding_commands():
            for adapter in self.adapters.values():
                await adapter.register_commands(self.commands)
                if self._elected(adapter):
                    await self._start_adapter(adapter)
            await self.engine.drain()
        after = await self._message_counts()
        caught_up = {cid: after[cid] - before[cid] for cid in after if after[cid] > before[cid]}
        log.info("caught up: %s", describe_catch_up(caught_up))
        await self.run_due_jobs()
        if real_time:
            self.scheduler.start()
        if self.election.names:
            self._watching = asyncio.create_task(self._watch_connections(), name="trellis-election")
        log.info("ready: %s", await self._readiness())

    async def _agree(self) -> None:
        """Hold the adapters' agreed settings beside the other processes of their bots, or
        refuse to start where one of those runs with another value."""
        for adapter in self.adapters.values():
            for setting in adapter.agreed_settings():
                theirs = await self.election.agree(
                    f"{setting.name} of {setting.account}", setting.value
                )
                if theirs is not None:
                    operator = next(iter(self.communities.values())).translator
                    raise ConfigError(
                        operator._(
                            "Another process of {account} on this database runs with {setting} "
                            "= {theirs}, and this one has {ours}: give every process of the bot "
                            "the same {setting} (to change it, stop them all, then start them "
                            "with the new one).",
                            account=setting.account,
                            setting=setting.name,
                            theirs=theirs,
                            ours=setting.value,
                        )
                    )

    def _elected(self, adapter: Adapter) -> bool:
        """Whether this process runs ``adapter``: it needs no unique connection, or holds at
        least one of its connections."""
        mine = adapter.connections()
        held = [name for name in mine if name in self.election.held]
        adapter.use_connections(held)
        return not mine or bool(held)

    async def _start_adapter(self, adapter: Adapter) -> None:
        # Counted as running before it connects: a stop during a slow connect disconnects it.
        self._running.append(adapter)
        await adapter.start(self.intake, stored_for(self.store, adapter.platform))

    async def _stop_adapter(self, adapter: Adapter) -> None:
        """Stop one adapter and store what it handed over (its sync position with it)."""
        if adapter in self._running:
            self._running.remove(adapter)
            await adapter.stop()
            await self.engine.drain()

    async def _watch_connections(self) -> None:
        """Every few seconds: give up the connections whose lease the database let go, and
        take over those whose holder died (an adapter that gains or loses a connection is
        restarted with the ones it holds now)."""
        while True:
            await asyncio.sleep(ELECTION_EVERY)
            try:
                lost = await self.election.lost()
                if lost:
                    log.error(
                        "lost the lease of %s (the connection to the database broke): "
                        "stopped until this process is elected again",
                        ", ".join(lost),
                    )
                won = await self.election.look()
                changed = set(lost) | set(won)
                for adapter in self.adapters.values():
                    if not changed.isdisjoint(adapter.connections()):
                        await self._restart(adapter)
                won = [name for name in won if name in self.election.held]
                if won:
                    log.info("took over %s; %s", ", ".join(won), self._holdings())
                    await self.scheduler.run_due()  # what fell due while nobody could post it
            except Exception:  # the database or a platform is away: the next look tries again
                log.exception("could not look at the platform connections' leases")

    async def _restart(self, adapter: Adapter) -> None:
        """Restart ``adapter`` with the connections held now. One that cannot connect lets its
        connections go, so that another process may hold them (this one asks again later)."""
        await self._stop_adapter(adapter)
        if not self._elected(adapter):
            return
        try:
            await self._start_adapter(adapter)
            await self.engine.drain()
        except Exception:
            log.exception("could not connect %s; letting it go", ", ".join(adapter.connections()))
            await self._stop_adapter(adapter)
            await self.election.let_go(adapter.connections())

    def _standing_by(self) -> str | None:
        """The platforms whose every connection another process holds: the jobs, which post
        there, are left to the processes holding them until this one takes one over."""
        idle = [
            platform
            for platform, adapter in self.adapters.items()
            if adapter.connections() and adapter not in self._running
        ]
        return f"standing by for {', '.join(idle)}" if idle else None

    def _holdings(self) -> str:
        held, waiting = self.election.held, self.election.waiting
        line = f"holds {', '.join(held) or 'no platform connection'}"
        if waiting:
            line += f"; stands by for {', '.join(waiting)}"
        if self._standing_by() is not None:
            line += " (the jobs are left to the processes holding them until then)"
        return line

    async def stop(self, *, job_grace: float = 5.0) -> None:
        """Stop what was started (also after a start that failed half-way), in the order that
        loses nothing: no new jobs, then let a running job finish (a job still running after
        ``job_grace`` seconds keeps its claim, which lapses as a lease), then the adapters stop
        taking events and hand over what they hold, everything accepted is stored (and sync
        positions saved), and the database is closed."""
        self.scheduler.stop()
        try:
            await asyncio.wait_for(self.scheduler.finish(), job_grace)
        except TimeoutError:
            log.warning(
                "a job was still running after %.0f s; it is left to the next start", job_grace
            )
        if self._watching is not None:
            self._watching.cancel()
            await asyncio.gather(self._watching, return_exceptions=True)
        try:
            while self._running:
                await self._running.pop().stop()
            await self.engine.stop()
        finally:
            # Let go of the connections only now that they are closed and their positions stored.
            await self.election.close()
            await self.store.close()
        log.info(
            "stopped: %d events accepted from the platforms, stored; %s closed",
            self.intake.accepted,
            self.settings.storage.path.name,
        )

    async def _message_counts(self) -> dict[str, int]:
        return {
            cid: await activity.message_count(self.store, cid) for cid in self.settings.communities
        }

    async def _readiness(self) -> str:
        """One line: communities, platforms and what each watches, and the configured places
        that cannot be read (a theme's) or posted in (the digest's, a theme's prompts')."""
        watching: list[str] = []
        unread: list[str] = []
        unposted: list[str] = []
        for platform, adapter in self.adapters.items():
            if adapter not in self._running:
                watching.append(f"{platform} (standing by)")
                continue
            watched = 0
            for cid, community in self.settings.communities.items():
                if not adapter.serves(cid):
                    continue  # another process holds its connection
                places = await adapter.channels(cid)
                watched += len(places)
                if platform == "console":
                    continue  # console places exist once someone types in them
                seen = {place.key for place in places} | {
                    place.thread_key for place in places if place.thread_key
                }
                reached = seen | await adapter.posts_in(cid)
                read, posted = configured_places(community, platform)
                unread += [ref for ref in read if ref not in seen]
                unposted += [ref for ref in posted if ref not in reached]
            watching.append(f"{platform} ({adapter.watched(watched)})")
        line = (
            f"{len(self.settings.communities)} community(ies) ({', '.join(self.settings.communities)}), "
            f"platforms: {', '.join(watching) or 'none'}"
        )
        if self.election.names:
            line += f"; {self._holdings()}"
        if unread:
            line += f"; configured but not readable or missing: {', '.join(sorted(set(unread)))}"
        if unposted:
            line += f"; configured to post in but out of reach: {', '.join(sorted(set(unposted)))}"
        return line

    async def run_due_jobs(self) -> list[str]:
        await self.engine.drain()
        return await self.scheduler.run_due()

    async def advance_to(self, moment: datetime) -> list[str]:
        """Move a manual clock (demo, tests): what was said before is stored at its own time
        first, then the jobs that fell due run. Returns their run log."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("only a manual clock (the demo's, a test's) is moved by hand")
        await self.engine.drain()
        self.clock.set(moment)
        return await self.run_due_jobs()

    def community(self, community: str) -> Community:
        return self.communities[community]

    async def _refuse_while_store_down(self, invocation: CommandInvoked) -> None:
        community = self.communities[invocation.community]
        text = community.translator._(
            "Trellis cannot store anything right now, so it did not run your command; "
            "try again in a while. The facilitators have been told."
        )
        await community.reply(invocation, OutgoingMessage(text), private=True)

    async def _tell_store_trouble(self, error: str) -> None:
        """Tell each community's facilitators (those named by member key) that chat is not
        being stored; it is what they would otherwise learn only from missing counts."""
        for community in self.communities.values():
            text = community.translator._(
                "Trellis cannot store chat right now ({error}). It keeps what it has not stored, "
                "takes nothing new until it can, and tries again by itself; freeing disk space "
                "on its server usually fixes this.",
                error=error,
            )
            for key in community.settings.roles.facilitators:
                if key.partition(":")[0] not in self.adapters:
                    continue  # a role or power level, not a member
                try:
                    await community.direct(key, OutgoingMessage(text))
                except Exception:  # each platform has its own errors; the log has said it all
                    log.warning("could not tell %s that the store cannot write", key)

    async def backfill(
        self,
        platform: str,
        since: datetime,
        *,
        progress: Callable[..., Iterable[ChannelRef]] | None = None,
    ) -> int:
        """Read the platform's history since ``since`` into the store; returns the messages
        added. Ingestion is idempotent, so running it twice adds nothing the second time.
        ``progress`` wraps each community's list of places (a tqdm bar on the command line)."""
        adapter = self.adapters[platform]
        if adapter not in self._running:
            raise ConfigError(
                f"another Trellis process on this database holds "
                f"{', '.join(adapter.connections())}, which the backfill reads through; stop that "
                f"process for the backfill, then start it again"
            )
        added = 0
        for community in self.settings.communities:
            before = await activity.message_count(self.store, community)
            places: Iterable[ChannelRef] = await adapter.channels(community)
            if progress is not None:
                places = progress(places, desc=f"{community}: channels", unit="channel")
            for channel in places:
                async for event in adapter.history(channel, since):
                    await self.engine.accept(event)
            await self.engine.drain()
            added += await activity.message_count(self.store, community) - before
        return added

    def _install_features(self) -> None:
        """Schedule every feature's jobs in every community and let its listeners hear the
        events of their community (``bot.features`` is the one table of them)."""
        for feature in FEATURES:
            for community in self.communities.values():
                tz = community.settings.timezone
                for job in feature.jobs:
                    cron = job.cron(community)
                    if cron is not None:
                        run = partial(job.run, community)
                        name = f"{job.name}:{community.id}"
                        self.scheduler.add(Job(name, cron, tz, run, once_only=job.once_only))
                for theme_job in feature.theme_jobs:
                    for theme_id, theme in community.settings.themes.items():
                        cron = theme_job.cron(theme)
                        if cron is not None:
                            run = partial(theme_job.run, community, theme_id)
                            name = f"{theme_job.name}:{community.id}:{theme_id}"
                            once_only = theme_job.once_only
                            self.scheduler.add(Job(name, cron, tz, run, once_only=once_only))
            for event_type, listener in feature.listeners.items():
                self.engine.listen(event_type, partial(self._hear, listener))

    async def _hear(self, listener: Callable[[Community, Any], Any], event: Event) -> None:
        await listener(self.communities[event.community], event)

    def _schedule_retention(self) -> None:
        async def purge(due: datetime) -> str:
            days = self.settings.retention.message_text_days
            before = int((self.clock.now() - timedelta(days=days)).timestamp())
            async with self.store.transaction() as tx:
                purged = await activity.purge_text(tx, before)
                await web.drop_quotes(tx, before)  # the digests archived for the site too
            await self.store.drop_old_pages()  # nor left in the log's old copies of pages
            return f"{purged} message texts purged"

        self.scheduler.add(Job("retention", "30 3 * * *", "UTC", purge, once_only=True))


class Intake:
    """The adapters' event sink: the engine, counting what it was handed (for the stop line),
    and holding back the commands handed over while the adapters catch up."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.accepted = 0
        self._held: list[CommandInvoked] = []
        self._released = asyncio.Event()
        self._released.set()

    async def __call__(self, event: Event) -> None:
        self.accepted += 1
        if isinstance(event, CommandInvoked) and not self._released.is_set():
            self._held.append(event)
            return
        await self.engine.accept(event)

    @contextlib.asynccontextmanager
    async def holding_commands(self) -> AsyncIterator[None]:
        """Keep the commands handed over meanwhile, and hand them to the engine in their order
        at the end, after everything else handed over meanwhile."""
        self._released.clear()
        try:
            yield
        finally:
            held, self._held = self._held, []
            try:
                for command in held:
                    await self.engine.accept(command)
            finally:
                self._released.set()

    async def drain(self) -> None:
        """Every event handed over so far stored, and every command answered (a held one once
        it is let go): where an adapter's sync position may be saved."""
        await self._released.wait()
        await self.engine.drain()

    async def stored(self) -> None:
        """Every event handed over so far stored, without waiting for the commands held back."""
        await self.engine.drain()


def configured_places(community: CommunitySettings, platform: str) -> tuple[list[str], list[str]]:
    """The places on ``platform`` that the community's configuration names: those read (the
    themes' places) and those only posted in (the digest's, the prompts')."""
    read: list[str] = []
    posted = list(community.digest.places)
    for theme in community.themes.values():
        read += theme.places
        posted += [*theme.prompt_places, *([theme.prompt_place] if theme.prompt_place else [])]
    on_platform = f"{platform}:"
    return (
        [ref for ref in read if ref.startswith(on_platform)],
        [ref for ref in posted if ref.startswith(on_platform)],
    )


def describe_catch_up(new_messages: dict[str, int]) -> str:
    if not new_messages:
        return "nothing new while Trellis was down"
    return ", ".join(f"{count} new messages in {cid}" for cid, count in new_messages.items())
