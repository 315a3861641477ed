"""The Trellis application: wires configuration, store, engine, commands, schedules and adapters.

Everything is built here from explicit arguments (no globals): ``Trellis.open`` opens the store
(applying migrations), ``start`` connects the adapters and starts the schedules, ``stop`` undoes it
in reverse order after storing whatever is still queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.commands.catalog import all_commands
from bot.commands.router import CommandRouter
from bot.config import CommunitySettings, Settings
from bot.engine import Engine
from bot.events import ChannelRef, CommandInvoked, Event, MemberRef
from bot.features import install_features
from bot.i18n import Translator
from bot.outgoing import OutgoingMessage, literal
from bot.ports import Adapter, Delivery, SentMessage, StateKey
from bot.scheduler import Job, Scheduler
from bot.services import digest, nudges, prompts
from bot.services.digest import DigestOutcome, DigestPosting, DigestSection
from bot.themes import ThemeMap
from storage import activity, members, web
from storage.adapter_state import stored_for
from storage.contract import Store
from storage.postgresql import PostgresStore
from storage.rollups import refresh_rollups
from storage.sqlite import SqliteStore

log = logging.getLogger(__name__)


async def open_store(settings: Settings, *, exclusive: bool) -> Store:
    """The configured store, opened and migrated: the SQLite file at ``storage.path``, or the
    PostgreSQL database at ``storage.url``. With ``exclusive`` (a running Trellis) a SQLite file
    in use by another process is refused; PostgreSQL serves several processes."""
    storage = settings.storage
    if storage.url is None:
        return await SqliteStore.open(storage.path, exclusive=exclusive)
    password = None
    if storage.password_env is not None:
        password = settings.secret(storage.password_env, "storage.password_env").get_secret_value()
    return await PostgresStore.open(storage.url, password=password)


class Trellis:
    def __init__(
        self, settings: Settings, store: Store, clock: Clock, adapters: Sequence[Adapter]
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.adapters: dict[str, Adapter] = {adapter.platform: adapter for adapter in adapters}
        self.themes = {cid: ThemeMap(community) for cid, community in settings.communities.items()}
        self.commands = all_commands()
        self.router = CommandRouter(self, self.commands)
        self.engine = Engine(
            store,
            self.themes,
            self.router.handle,
            on_trouble=self._tell_store_trouble,
            on_refused=self._refuse_while_store_down,
        )
        self.intake = Intake(self.engine)
        self.scheduler = Scheduler(
            store, clock, longest_downtime=timedelta(days=settings.catch_up.max_days)
        )
        self.digest_sections: list[DigestSection] = []
        self._translators = {
            cid: Translator(community.locale) for cid, community in settings.communities.items()
        }
        self._running: list[Adapter] = []
        self._schedule_core_jobs()
        install_features(self)

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
        for platform, adapter in self.adapters.items():
            await adapter.register_commands(self.commands)
            # Counted as running before it connects: a stop during a slow connect disconnects it.
            self._running.append(adapter)
            await adapter.start(self.intake, stored_for(self.store, platform))
        await self.engine.drain()
        after = await self._message_counts()
        caught_up = {cid: after[cid] - before[cid] for cid in after if after[cid] > before[cid]}
        log.info("caught up: %s", describe_catch_up(caught_up))
        await self.run_due_jobs()
        if real_time:
            self.scheduler.start()
        log.info("ready: %s", await self._readiness())

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
        try:
            while self._running:
                await self._running.pop().stop()
            await self.engine.stop()
        finally:
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
        """One line: communities, platforms and what each watches, and configured places not
        seen."""
        watching: list[str] = []
        missing: list[str] = []
        for platform, adapter in self.adapters.items():
            watched = 0
            for cid, community in self.settings.communities.items():
                places = await adapter.channels(cid)
                watched += len(places)
                if platform == "console":
                    continue  # console places exist once someone types in them
                seen = {place.key for place in places} | {
                    place.thread_key for place in places if place.thread_key
                }
                missing += [
                    ref for ref in configured_places(community, platform) if ref not in seen
                ]
            watching.append(f"{platform} ({adapter.watched(watched)})")
        line = (
            f"{len(self.settings.communities)} community(ies) ({', '.join(self.settings.communities)}), "
            f"platforms: {', '.join(watching) or 'none'}"
        )
        if missing:
            line += f"; configured but not readable or missing: {', '.join(sorted(set(missing)))}"
        return line

    async def run_due_jobs(self) -> list[str]:
        await self.engine.drain()
        return await self.scheduler.run_due()

    async def advance_to(self, moment: datetime) -> list[str]:
        """Move a manual clock (demo, tests): what was said before is stored at its own time
        first, then the jobs that fell due run. Returns their run log."""
        await self.engine.drain()
        self.clock.set(moment)
        return await self.run_due_jobs()

    # What services use ---------------------------------------------------------------------

    def community(self, community: str) -> CommunitySettings:
        return self.settings.communities[community]

    def translator(self, community: str) -> Translator:
        """For what the community reads: posts, public answers."""
        return self._translators[community]

    async def translator_of(self, community: str, member_key: str) -> Translator:
        """For what one member reads alone (direct messages, private answers): the language
        they chose (``profile set language:pt``), else the community's."""
        language = await members.language_of(self.store, community, member_key)
        return Translator(language) if language else self._translators[community]

    def command_prefix(self, platform: str) -> str:
        """How commands are typed on ``platform`` (members of a bridged platform type them here)."""
        adapter = self.adapters.get(platform)
        return adapter.command_prefix if adapter is not None else "/"

    async def place_name(self, place: str) -> str:
        """A configured place ('platform:id') as members see it (#general, the room's name);
        as configured when its adapter is off."""
        platform, _, place_id = place.partition(":")
        adapter = self.adapters.get(platform)
        if adapter is None:
            return literal(place)
        return await adapter.place_name(ChannelRef(platform, place_id))

    async def adapter_state_of(self, member: MemberRef) -> dict[str, list[StateKey]]:
        """Per platform, the rows its adapter keeps about ``member`` (for forget-me)."""
        return {
            platform: await adapter.forget_member(member)
            for platform, adapter in self.adapters.items()
        }

    async def post(
        self, community: str, place: str, message: OutgoingMessage
    ) -> SentMessage | None:
        """Post to a configured place ('platform:id'); logs and returns None if its adapter is off."""
        platform, _, place_id = place.partition(":")
        adapter = self.adapters.get(platform)
        if adapter is None:
            log.warning("cannot post to %s: the %s adapter is not enabled", place, platform)
            return None
        return await adapter.send(ChannelRef(platform, place_id), message)

    async def direct(self, community: str, member_key: str, message: OutgoingMessage) -> Delivery:
        platform, _, member_id = member_key.partition(":")
        adapter = self.adapters.get(platform)
        if adapter is None:
            delivery = Delivery.UNREACHABLE
        else:
            delivery = await adapter.send_direct(MemberRef(platform, member_id), message)
        # Any refused direct message (a welcome, a survey, a nudge) holds back nudges for the
        # cooldown; one that arrives clears it.
        reachable = delivery is Delivery.DELIVERED
        at = int(self.clock.now().timestamp())
        async with self.store.transaction() as tx:
            await members.set_reachable(tx, community, member_key, at, reachable=reachable)
        return delivery

    async def reply(
        self, invocation: CommandInvoked, message: OutgoingMessage, *, private: bool
    ) -> None:
        # The place's platform answers: a bridged puppet is attributed to another platform.
        adapter = self.adapters.get(invocation.channel.platform)
        if adapter is None:
            log.warning("no adapter to answer %s", invocation.member.key)
            return
        await adapter.reply(invocation, message, private=private)

    # Facilitation --------------------------------------------------------------------------

    async def compose_digest(
        self,
        community: str,
        end: datetime,
        *,
        skip_empty: bool = False,
        sealed: frozenset[str] = frozenset(),
        brief: bool = False,
    ) -> OutgoingMessage | None:
        """The digest of the local week (seven days on the community's clock) ending at ``end``;
        ``brief``: in one message, the whole one attached."""
        await self.engine.drain()
        start = digest.local_week_before(end, self.community(community).timezone)
        return await digest.compose(
            self, community, start, end, skip_empty=skip_empty, sealed=sealed, brief=brief
        )

    async def sealed_from(self, community: str, place: str) -> frozenset[str]:
        """The community's end-to-end encrypted places, whose messages may not be quoted in
        ``place`` ('platform:id'): none when it is encrypted too or ``digest.quote_encrypted``."""
        if self.community(community).digest.quote_encrypted:
            return frozenset()
        sealed = frozenset().union(
            *[await adapter.encrypted_places(community) for adapter in self.adapters.values()]
        )
        return frozenset() if place in sealed else sealed

    async def preview_digest(
        self, community: str, now: datetime, *, full: bool = False
    ) -> OutgoingMessage:
        """The digest as it would be posted now (``full``: the whole one), and for the
        facilitators who asked for it, the scheduled runs of the last week that failed or were
        interrupted."""
        brief = self.community(community).digest.brief and not full
        message = await self.compose_digest(community, now + timedelta(seconds=1), brief=brief)
        troubles = await self.scheduler.troubles(community, now - timedelta(days=7))
        if not troubles:
            return message
        t, tz = self.translator(community), ZoneInfo(self.community(community).timezone)
        lines = [t._("**Scheduled runs that went wrong this week** (only you see this)")]
        for trouble in troubles:
            due = datetime.fromtimestamp(trouble.due_at, tz)
            lines.append(
                t._(
                    "- {job}, due {due}: {what}",
                    job=trouble.job,
                    due=due.strftime("%d/%m %H:%M"),
                    what=trouble.what,
                )
            )
        return replace(message, text=message.text + "\n\n" + "\n".join(lines))

    async def post_digest(self, community: str, end: datetime) -> DigestPosting:
        place = self.community(community).digest.channel
        if place is None:
            return DigestPosting(DigestOutcome.NO_CHANNEL)
        sealed = await self.sealed_from(community, place)
        message = await self.compose_digest(
            community,
            end,
            skip_empty=True,
            sealed=sealed,
            brief=self.community(community).digest.brief,
        )
        if message is None:
            return DigestPosting(DigestOutcome.NOTHING, place)
        try:
            sent = await self.post(community, place, message)
        except Exception as error:  # each platform has its own errors (a missing permission…)
            log.warning("could not post the digest in %s: %s", place, error)
            return DigestPosting(DigestOutcome.FAILED, place, str(error) or type(error).__name__)
        if sent is None:
            platform = place.partition(":")[0]
            return DigestPosting(
                DigestOutcome.FAILED, place, f"the {platform} adapter is not enabled"
            )
        async with self.store.transaction() as db:  # for the history site, as posted
            await web.archive_digest(
                db,
                community,
                int(end.timestamp()),
                int(self.clock.now().timestamp()),
                digest.posted_text(message),
            )
        return DigestPosting(DigestOutcome.POSTED, place)

    async def _refuse_while_store_down(self, invocation: CommandInvoked) -> None:
        text = self.translator(invocation.community)._(
            "Trellis cannot store anything right now, so it did not run your command; "
            "try again in a while. The facilitators have been told."
        )
        await self.reply(invocation, OutgoingMessage(text), private=True)

    async def _tell_store_trouble(self, error: str) -> None:
        """Tell each community's facilitators (those named by member key) that chat is not
        being stored; it is what they would otherwise learn only from missing counts."""
        for cid, community in self.settings.communities.items():
            text = self.translator(cid)._(
                "Trellis cannot store chat right now ({error}). It keeps what it has not stored, "
                "takes nothing new until it can, and tries again by itself; freeing disk space "
                "on its server usually fixes this.",
                error=error,
            )
            for key in community.roles.facilitators:
                if key.partition(":")[0] not in self.adapters:
                    continue  # a role or power level, not a member
                try:
                    await self.direct(cid, key, OutgoingMessage(text))
                except Exception:  # each platform has its own errors; the log has said it all
                    log.warning("could not tell %s that the store cannot write", key)

    async def backfill(
        self, platform: str, since: datetime, *, progress: Callable[..., Iterable] | None = None
    ) -> int:
        """Read the platform's history since ``since`` into the store; returns the messages
        added. Ingestion is idempotent, so running it twice adds nothing the second time.
        ``progress`` wraps each community's list of places (a tqdm bar on the command line)."""
        adapter = self.adapters[platform]
        added = 0
        for community in self.settings.communities:
            before = await activity.message_count(self.store, community)
            places = await adapter.channels(community)
            if progress is not None:
                places = progress(places, desc=f"{community}: channels", unit="channel")
            for channel in places:
                async for event in adapter.history(channel, since):
                    await self.engine.accept(event)
            await self.engine.drain()
            added += await activity.message_count(self.store, community) - before
        return added

    def _schedule_core_jobs(self) -> None:
        for cid, community in self.settings.communities.items():
            tz = community.timezone

            async def weekly_digest(due: datetime, cid: str = cid) -> str:
                posting = await self.post_digest(cid, due)
                if posting.outcome is DigestOutcome.FAILED:
                    raise RuntimeError(str(posting))  # a failed run, told in the next preview
                return str(posting)

            async def nudge_scan(due: datetime, cid: str = cid) -> str:
                revived = await prompts.revive_dormant(self, cid, self.clock.now())
                sent = await nudges.send_nudges(self, cid, self.clock.now())
                return f"{sent}; {revived}"

            self.scheduler.add(
                Job(f"digest:{cid}", community.digest.cron, tz, weekly_digest, once_only=True)
            )
            self.scheduler.add(
                Job(f"nudges:{cid}", self.settings.nudges.scan_cron, tz, nudge_scan, once_only=True)
            )
            for theme_id, theme in community.themes.items():
                if theme.prompt_cron:

                    async def post_prompt(
                        due: datetime, cid: str = cid, theme_id: str = theme_id
                    ) -> str:
                        return await prompts.post_next(self, cid, theme_id, self.clock.now())

                    self.scheduler.add(
                        Job(
                            f"prompt:{cid}:{theme_id}",
                            theme.prompt_cron,
                            tz,
                            post_prompt,
                            once_only=True,
                        )
                    )

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
    """The adapters' event sink: the engine, counting what it was handed (for the stop line)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.accepted = 0

    async def __call__(self, event: Event) -> None:
        self.accepted += 1
        await self.engine.accept(event)

    async def drain(self) -> None:
        await self.engine.drain()


def configured_places(community: CommunitySettings, platform: str) -> list[str]:
    """The places on ``platform`` that the community's configuration names."""
    refs = [community.digest.channel] if community.digest.channel else []
    for theme in community.themes.values():
        refs += [*theme.places, *([theme.prompt_place] if theme.prompt_place else [])]
    return [ref for ref in refs if ref.startswith(f"{platform}:")]


def describe_catch_up(new_messages: dict[str, int]) -> str:
    if not new_messages:
        return "nothing new while Trellis was down"
    return ", ".join(f"{count} new messages in {cid}" for cid, count in new_messages.items())
