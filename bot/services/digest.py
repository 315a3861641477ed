"""The weekly digest: what each theme discussed, who is credited for what, who joined, which
questions wait for an answer, how the prompts went, and the week in numbers against the week before.

Composing is separate from sending: ``compose`` returns the message; the scheduler or the
``digest post`` command sends it. Features add sections (``bot.services.digest_section``).
"""

from __future__ import annotations

import asyncio
import enum
import io
import logging
import statistics
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.community import Community
from bot.delivery import Outcome, PlacePosting, failures, post_each
from bot.events import MemberRef, key_parts
from bot.i18n import Translator
from bot.monitoring.common import local_time
from bot.outgoing import Attachment, OutgoingMessage, literal, split_markdown
from bot.scheduler import troubles_since
from bot.services.digest_section import DigestContext, excerpt
from storage import activity, facilitation, web
from storage.calendar import CommunityEvent, events_between
from storage.contract import Reads
from storage.privacy import names_hiding, visible_member_keys, visible_members

log = logging.getLogger(__name__)


class DigestOutcome(enum.Enum):
    POSTED = "posted"
    NOTHING = "nothing to post"
    FAILED = "could not post"
    NO_CHANNEL = "no digest channel configured"


@dataclass(frozen=True, slots=True)
class DigestPosting:
    """What became of a digest: nothing to post, no place to post it, or what became of it in
    each of its places (FAILED when it failed in one of them)."""

    outcome: DigestOutcome
    places: tuple[PlacePosting, ...] = ()

    def __str__(self) -> str:
        if not self.places:
            return str(self.outcome.value)
        return "; ".join(str(posting) for posting in self.places)


WAITING_WINDOW = timedelta(days=14)
"""How far back a question still waits: older ones are no longer listed, nor marked solved."""
WAITING_LISTED = 8


def local_week_before(end: datetime, timezone: str) -> datetime:
    """The start of the week that ends at ``end``: seven days earlier on the community's wall
    clock, so a week across a clock change has 167 or 169 hours and no hour is counted twice or
    missed (a wall time that happens twice is taken at its first occurrence)."""
    wall = end.astimezone(ZoneInfo(timezone)) - timedelta(days=7)  # aware arithmetic: wall clock
    return wall.replace(fold=0).astimezone(UTC)


async def compose_week(
    community: Community,
    end: datetime,
    *,
    brief: bool = False,
) -> OutgoingMessage:
    """The digest of the local week (seven days on the community's clock) ending at ``end``;
    ``brief``: in one message, the whole one attached."""
    await community.drain()
    start = local_week_before(end, community.settings.timezone)
    return await compose(community, start, end, brief=brief)


async def preview(community: Community, now: datetime, *, full: bool = False) -> OutgoingMessage:
    """The digest as it would be posted now (``full``: the whole one), and for the
    facilitators who asked for it, the scheduled runs of the last week that failed or were
    interrupted."""
    brief = community.settings.digest.brief and not full
    message = await compose_week(community, now + timedelta(seconds=1), brief=brief)
    troubles = await troubles_since(community.store, community.id, now - timedelta(days=7))
    if not troubles:
        return message
    t, tz = community.translator, ZoneInfo(community.settings.timezone)
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


async def post_week(community: Community, end: datetime) -> DigestPosting:
    """Post the digest of the week ending at ``end`` to each of the community's digest places
    (one per platform), each rendered for its platform; a place where this week's digest was
    posted already is not posted to again."""
    places = community.settings.digest.places
    if not places:
        return DigestPosting(DigestOutcome.NO_CHANNEL)
    await community.drain()
    start = local_week_before(end, community.settings.timezone)
    begin, finish = int(start.timestamp()), int(end.timestamp())
    this_week = await activity.totals(community.store, community.id, begin, finish)
    if not (this_week.messages or this_week.reactions or this_week.new_members):
        return DigestPosting(DigestOutcome.NOTHING)
    rendered: dict[str, OutgoingMessage] = {}

    async def render(place: str) -> OutgoingMessage:
        message = await compose(
            community,
            start,
            end,
            sealed=await community.sealed_from(place),
            brief=community.settings.digest.brief,
            place=place,
        )
        rendered[place] = message
        return message

    postings = await post_each(community, f"digest:{finish}", places, render)
    posted = [p.place for p in postings if p.outcome is Outcome.POSTED]
    if posted:
        # The history site keeps it as posted, named as people read names (not as mentions).
        named = [p for p in posted if not community.mentions_credited(key_parts(p)[0])]
        async with community.store.transaction() as tx:
            await web.archive_digest(
                tx,
                community.id,
                finish,
                int(community.clock.now().timestamp()),
                posted_text(rendered[(named or posted)[0]]),
            )
    outcome = DigestOutcome.FAILED if failures(postings) else DigestOutcome.POSTED
    return DigestPosting(outcome, tuple(postings))


async def weekly(community: Community, due: datetime) -> str:
    """The weekly digest job: a digest that could not be posted is a failed run, told in the
    next preview."""
    posting = await post_week(community, due)
    if posting.outcome is DigestOutcome.FAILED:
        raise RuntimeError(str(posting))
    return str(posting)


async def compose(
    community: Community,
    start: datetime,
    end: datetime,
    *,
    sealed: frozenset[str] = frozenset(),
    brief: bool = False,
    place: str | None = None,
) -> OutgoingMessage:
    """The digest of [start, end). Nothing said in the ``sealed`` places is quoted. ``brief``:
    the digest in one chat message (``BRIEF_CHARS``), with the whole one attached as a Markdown
    file. ``place`` is where it goes ('platform:id'; by default the first digest place): members
    are named as that platform shows them."""
    store, cid = community.store, community.id
    begin, finish = int(start.timestamp()), int(end.timestamp())
    this_week = await activity.totals(store, cid, begin, finish)
    settings = community.settings
    earlier = int(local_week_before(start, settings.timezone).timestamp())
    week_before = await activity.totals(store, cid, earlier, begin)
    t = community.translator
    visible = await visible_members(store, cid)
    names = {member_id: literal(name) for member_id, name in visible.items()}
    platform = key_parts(place or next(iter(settings.digest.places), ""))[0]
    if community.mentions_credited(platform):
        for member_id, key in (await visible_member_keys(store, cid)).items():
            member_platform, platform_id = key_parts(key)
            if member_platform == platform:
                member = MemberRef(platform, platform_id, visible.get(member_id, ""))
                names[member_id] = community.mention(member)
    hiding = await names_hiding(store, cid)
    ctx = DigestContext(
        store,
        cid,
        community.themes,
        settings,
        start,
        end,
        names,
        t,
        this_week,
        week_before,
        hiding,
        sealed,
    )
    week = await _read_week(ctx, brief=brief)
    features = [await section(ctx) for section in community.digest_sections]
    parts = await asyncio.to_thread(_write, ctx, week, features)
    chart = await _chart(ctx)
    whole = OutgoingMessage("\n\n".join(parts), attachments=(chart,) if chart else ())
    if not brief:
        return whole
    last_day = (end - timedelta(seconds=1)).astimezone(ctx.tz)
    attached = whole_digest_file(t, f"digest-{last_day:%Y-%m-%d}.md", whole.text)
    text = await asyncio.to_thread(_brief, ctx, week, parts[0], attached.filename)
    return OutgoingMessage(text, attachments=(*whole.attachments, attached))


@dataclass(frozen=True, slots=True)
class _Week:
    """What a week's digest says, read once, for the whole digest and the brief one alike. It is
    read on the caller's connection and written out in a worker thread: a busy week's thousands
    of credits and questions, turned into text on the event loop, would hold up every other
    command's answer meanwhile."""

    threads: list[activity.ThreadSummary]
    """The busiest threads, busiest first: as many as the whole digest, or the brief one, looks at."""
    quotes: list[activity.Excerpt]
    people: dict[str, activity.ThemePeople]
    credits: list[activity.Credit]
    joined: list[int]
    waiting: activity.Waiting
    prompts: list[tuple[facilitation.Prompt, facilitation.PromptResponse]]
    """The prompts posted in the week, each with how it was answered."""
    responses: list[ResponseTimes]
    events: list[CommunityEvent]
    """The events of the next two weeks, for the brief digest (the whole one has the events
    feature's section)."""


BRIEF_THREADS = 100
"""Threads the brief digest looks through for each active theme's busiest one with a title."""


async def _read_week(ctx: DigestContext, *, brief: bool) -> _Week:
    start, end = ctx.span
    store, cid, options = ctx.store, ctx.community, ctx.settings.digest
    threads = options.busiest_threads * 4
    posted = [
        prompt
        for prompt in await facilitation.prompts(store, cid)
        if prompt.posted_at is not None and start <= prompt.posted_at < end
    ]
    theme_names = {i: theme.name for i, theme in ctx.themes.themes.items()}
    return _Week(
        threads=await activity.busiest_threads(
            store, cid, start, end, max(threads, BRIEF_THREADS) if brief else threads
        ),
        quotes=(
            await activity.highlights(store, cid, start, end, per_theme=1)
            if options.excerpt_chars
            else []
        ),
        people=await activity.people_by_theme(store, cid, start, end),
        credits=await activity.credits(store, cid, start, end),
        joined=await activity.joined_between(store, cid, start, end),
        waiting=await activity.unanswered_questions(
            store, cid, int((ctx.end - WAITING_WINDOW).timestamp()), end, WAITING_LISTED
        ),
        prompts=[
            (prompt, await facilitation.prompt_response(store, cid, prompt, end))
            for prompt in posted
        ],
        responses=await first_responses(store, cid, theme_names, start, end),
        events=await events_between(store, cid, end, end + 14 * 86400) if brief else [],
    )


def _write(ctx: DigestContext, week: _Week, features: list[str | None]) -> list[str]:
    """The whole digest's heading and sections, in order, leaving out the empty ones."""
    start, end = ctx.start, ctx.end
    last_day = (end - timedelta(seconds=1)).astimezone(ctx.tz)
    heading = ctx._(
        "## {community}: the week of {start} to {end}",
        community=ctx.settings.name,
        start=start.astimezone(ctx.tz).strftime("%d/%m"),
        end=last_day.strftime("%d/%m/%Y"),
    )
    sections = (
        _themes(ctx, week),
        _credits(ctx, week.credits),
        _welcome(ctx, week.joined),
        _questions(ctx, week.waiting),
        _prompts(ctx, week.prompts),
        _first_responses(ctx, week.responses),
        *features,
        _numbers(ctx),
    )
    return [heading, *(text for text in sections if text)]


def _themes(ctx: DigestContext, week: _Week) -> str | None:
    themes = ctx.themes
    limit = ctx.settings.digest.excerpt_chars
    per_theme = ctx.this_week
    threads = week.threads[: ctx.settings.digest.busiest_threads * 4]
    quotes = week.quotes
    people_by_theme = week.people
    lines = [ctx._("### What the themes discussed")]
    for theme in themes.themes.values():
        count = per_theme.by_theme.get(theme.id, 0)
        if not count:
            lines.append(ctx._("- **{theme}**: quiet this week.", theme=theme.name))
            continue
        people = people_by_theme.get(theme.id, activity.ThemePeople(0, 0))
        if people.only_reacted:
            whom = ctx.n_(" from {n} person", " from {n} people", people.posted) + ctx.n_(
                " ({n} more reacted).", " ({n} more reacted).", people.only_reacted
            )
        else:
            whom = ctx.n_(" from {n} person.", " from {n} people.", people.posted)
        lines.append(
            "- "
            + ctx.n_(
                "**{theme}**: {n} message", "**{theme}**: {n} messages", count, theme=theme.name
            )
            + whom
        )
        shown = [thread for thread in threads if thread.theme == theme.id]
        for thread in shown[: ctx.settings.digest.busiest_threads]:
            lines.append(
                "  - "
                + ctx.n_(
                    "“{title}”: {n} message, {people}",
                    "“{title}”: {n} messages, {people}",
                    thread.messages,
                    title=ctx.quote(thread.title) or ctx._("a thread"),
                    people=ctx.n_("{n} person", "{n} people", thread.participants),
                )
            )
        for quote in (q for q in quotes if q.theme == theme.id and q.channel_key not in ctx.sealed):
            text = ctx.quote(quote.text, limit)
            lines.append(f"  > {text} — {ctx.names.get(quote.member_id, '')}")
    return "\n".join(lines) if themes.themes else None


def _givers(ctx: DigestContext, givers: list[int | None]) -> str:
    """Named givers, then how many others (opted-out givers are counted, never named)."""
    named = list(dict.fromkeys(ctx.names[g] for g in givers if g in ctx.names))
    others = len(givers) - len([g for g in givers if g in ctx.names])
    if others:
        named.append(ctx.n_("{n} other", "{n} others", others))
    return ", ".join(named)


def credit_fragment(
    ctx: DigestContext, kind: str, where: str, credits: list[activity.Credit]
) -> str:
    """What one person did of one kind in one theme, with who credited them."""
    givers = [credit.giver_id for credit in credits]
    match kind:
        case "answer":
            askers = list(
                dict.fromkeys(ctx.names[c.asker_id] for c in credits if c.asker_id in ctx.names)
            )
            if askers:
                return ctx.n_(
                    "answered {askers}'s question in {where}",
                    "answered questions from {askers} in {where}",
                    len(askers),
                    askers=", ".join(askers),
                    where=where,
                )
            return ctx.n_(
                "answered a question in {where}",
                "answered {n} questions in {where}",
                len(credits),
                where=where,
            )
        case "kudos":
            reasons = "; ".join(
                dict.fromkeys(f"“{ctx.quote(c.reason)}”" for c in credits if c.reason)
            )
            return ctx._(
                "kudos from {givers}: {reasons}", givers=_givers(ctx, givers), reasons=reasons
            )
        case "insight":
            return ctx.n_(
                "an idea in {where} marked 💡 by {givers}",
                "{n} ideas in {where} marked 💡 by {givers}",
                len(credits),
                where=where,
                givers=_givers(ctx, givers),
            )
        case _:
            return ctx._("thanked by {givers} in {where}", givers=_givers(ctx, givers), where=where)


def _credits(ctx: DigestContext, found: list[activity.Credit]) -> str | None:
    """Who is thanked for what: one line per person, alphabetical (recognition, not a ranking)."""
    if not found:
        return None
    themes = ctx.themes.themes
    by_person: dict[int, dict[tuple[str, str], list[activity.Credit]]] = {}
    for credit in found:
        if credit.receiver_id not in ctx.names:
            continue  # joined after the digest read who may be named: in the next one
        theme = themes.get(credit.theme) if credit.theme else None
        where = theme.name if theme else ctx._("the community")
        by_person.setdefault(credit.receiver_id, {}).setdefault((credit.kind, where), []).append(
            credit
        )
    if not by_person:
        return None
    order = ("answer", "kudos", "thanks", "insight")
    lines = [ctx._("### Thank you")]
    for receiver_id in sorted(by_person, key=lambda member_id: ctx.names[member_id].casefold()):
        groups = sorted(by_person[receiver_id].items(), key=lambda item: order.index(item[0][0]))
        fragments = [
            credit_fragment(ctx, kind, where, credits) for (kind, where), credits in groups
        ]
        lines.append(f"- **{ctx.names[receiver_id]}**: " + "; ".join(fragments) + ".")
    return "\n".join(lines)


def _welcome(ctx: DigestContext, joined: list[int]) -> str | None:
    if not joined:
        return None
    names = ", ".join(ctx.names[member_id] for member_id in joined if member_id in ctx.names)
    return ctx._("### Welcome") + "\n" + ctx._("A warm welcome to {names}!", names=names)


def waited(ctx: DigestContext, seconds: int) -> str:
    """How long a question has waited, in the unit a reader would use."""
    hours = seconds // 3600
    if hours < 1:
        return ctx._("for under an hour")
    if hours < 48:
        return ctx.n_("for {n} hour", "for {n} hours", hours)
    return ctx.n_("for {n} day", "for {n} days", hours // 24)


def _questions(ctx: DigestContext, waiting: activity.Waiting) -> str | None:
    """The questions still waiting, the newest first (the oldest are the first to go when there
    are more than the digest lists), each with how long it has waited."""
    if not waiting.count:
        return None
    end = int(ctx.end.timestamp())
    themes = ctx.themes.themes
    lines = [ctx._("### Questions waiting for an answer")]
    for question in waiting.newest[:WAITING_LISTED]:
        theme = themes.get(question.theme) if question.theme else None
        where = theme.name if theme else ctx._("the community")
        quotable = question.channel_key not in ctx.sealed
        text = (
            ctx.quote(question.text, ctx.settings.digest.excerpt_chars)
            if question.text and quotable
            else ""
        )
        asker = ctx.names.get(question.member_id, "")
        how_long = waited(ctx, end - question.posted_at)
        if text:
            lines.append(
                "- "
                + ctx._(
                    "{asker} in {where}, waiting {waited}: “{text}”",
                    asker=asker,
                    where=where,
                    waited=how_long,
                    text=text,
                )
            )
        else:
            lines.append(
                "- "
                + ctx._(
                    "{asker} asked in {where}, waiting {waited}.",
                    asker=asker,
                    where=where,
                    waited=how_long,
                )
            )
    if waiting.count > WAITING_LISTED:
        more = waiting.count - WAITING_LISTED
        lines.append(ctx.n_("And {n} more question.", "And {n} more questions.", more))
    return "\n".join(lines)


def whole_digest_file(t: Translator, filename: str, text: str) -> Attachment:
    """The whole digest as a Markdown file, for where one message shows only its start."""
    return Attachment(filename, text.encode("utf-8"), "text/markdown", t._("The whole digest"))


def posted_text(message: OutgoingMessage) -> str:
    """The whole digest of a posted message: its attached Markdown file, or its text."""
    whole = [a for a in message.attachments if a.mime_type == "text/markdown"]
    return whole[0].data.decode("utf-8") if whole else message.text


def _prompts(
    ctx: DigestContext, posted: list[tuple[facilitation.Prompt, facilitation.PromptResponse]]
) -> str | None:
    if not posted:
        return None
    themes = ctx.themes.themes
    lines = [ctx._("### This week's prompts")]
    for prompt, response in posted:
        theme = themes.get(prompt.theme)
        lines.append(
            "- "
            + ctx._(
                "{theme}: “{text}”: {responders} answered, {new} of them for the first time there.",
                theme=theme.name if theme else prompt.theme,
                text=literal(excerpt(prompt.text, 100)),
                responders=response.responders,
                new=response.new_voices,
            )
        )
    return "\n".join(lines)


# Time to first response (CHAOSS) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseTimes:
    """One theme's time to first response over a period: of its questions and of its prompts,
    how many there were, how many were answered, and the median seconds to the first answer."""

    theme: str
    questions: int
    questions_answered: int
    questions_median: int | None
    prompts: int
    prompts_answered: int
    prompts_median: int | None


async def first_responses(
    store: Reads,
    community: str,
    theme_names: dict[str, str],
    start: int,
    end: int,
    theme: str | None = None,
    *,
    kept: bool = False,
) -> list[ResponseTimes]:
    """Questions asked and prompts posted in [start, end), per theme (in ``theme_names``'
    order), in ``theme`` or every theme; themes with neither are left out. With ``kept``, the
    questions' first responses are those the rollups' last recount kept (the report's, after
    recounting: storage.activity.question_first_responses)."""
    questions = await activity.question_first_responses(store, community, start, end, kept=kept)
    prompts: dict[str, list[int | None]] = {}
    for prompt in await facilitation.prompts(store, community, theme):
        if prompt.posted_at is None or not start <= prompt.posted_at < end:
            continue
        after = None
        if prompt.platform_id and prompt.channel_key:
            platform = key_parts(prompt.channel_key)[0]
            after = await activity.prompt_first_response(
                store,
                community,
                prompt.platform_id,
                f"{platform}:{prompt.platform_id}",
                prompt.posted_at,
            )
        prompts.setdefault(prompt.theme, []).append(after)
    found = []
    none_asked = activity.QuestionResponses(0, 0, None)
    for theme_id, name in theme_names.items():
        asked, posted = questions.get(theme_id, none_asked), prompts.get(theme_id, [])
        if (theme is not None and theme_id != theme) or not (asked.asked or posted):
            continue
        p = [after for after in posted if after is not None]
        found.append(
            ResponseTimes(
                name,
                asked.asked,
                asked.answered,
                None if asked.median is None else round(asked.median),
                len(posted),
                len(p),
                round(statistics.median(p)) if p else None,
            )
        )
    return found


def duration(t: Translator, seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return t.n_("{n} minute", "{n} minutes", minutes)
    hours = round(seconds / 3600)
    if hours < 48:
        return t.n_("{n} hour", "{n} hours", hours)
    return t.n_("{n} day", "{n} days", round(seconds / 86400))


def first_response_lines(t: Translator, found: list[ResponseTimes]) -> list[str]:
    """One line per theme: the median time to first response of its questions and prompts
    that were answered, and how many were."""
    lines = []
    for row in found:
        parts = []
        for label, n, answered, median in (
            (t._("questions"), row.questions, row.questions_answered, row.questions_median),
            (t._("prompts"), row.prompts, row.prompts_answered, row.prompts_median),
        ):
            if median is not None:
                parts.append(
                    t._(
                        "{what}: {median} ({answered} of {n} answered)",
                        what=label,
                        median=duration(t, median),
                        answered=answered,
                        n=n,
                    )
                )
            elif n:
                parts.append(t._("{what}: none answered of {n}", what=label, n=n))
        lines.append(f"- {row.theme}: " + "; ".join(parts))
    return lines


def _first_responses(ctx: DigestContext, found: list[ResponseTimes]) -> str | None:
    if not found:
        return None
    return "\n".join(
        [ctx._("### Time to first response (median)"), *first_response_lines(ctx.translator, found)]
    )


def _change(now: int, before: int) -> str:
    if now == before:
        return "="
    return f"{'+' if now > before else '−'}{abs(now - before)}"


def _numbers(ctx: DigestContext) -> str:
    this, last = ctx.this_week, ctx.week_before
    rows = [
        (ctx._("Messages"), this.messages, last.messages),
        (ctx._("People taking part"), this.active_members, last.active_members),
        (ctx._("Replies"), this.replies, last.replies),
        (ctx._("Reactions"), this.reactions, last.reactions),
        (ctx._("New threads"), this.threads, last.threads),
        (ctx._("New members"), this.new_members, last.new_members),
    ]
    lines = [ctx._("### The week in numbers (against the week before)")]
    lines += [f"- {label}: {now} ({_change(now, before)})" for label, now, before in rows]
    return "\n".join(lines)


# The brief digest -------------------------------------------------------------------------------

BRIEF_CHARS = 2000
"""One Discord message; Matrix and the console show it whole too."""


@dataclass(frozen=True, slots=True)
class _Detail:
    """How much the brief digest shows; each level after the first shows less."""

    threads: bool
    questions: int
    kudos_chars: int
    """Kudos shown with their reason cut to this length; 0 lists their receivers with the others."""
    names: int
    """At most this many names in the list of people thanked."""


_DETAILS = (
    _Detail(threads=True, questions=3, kudos_chars=80, names=40),
    _Detail(threads=True, questions=1, kudos_chars=40, names=30),
    _Detail(threads=False, questions=0, kudos_chars=0, names=20),
    _Detail(threads=False, questions=0, kudos_chars=0, names=8),
)


def _brief(ctx: DigestContext, week: _Week, heading: str, attached: str) -> str:
    """The week in numbers, one line per active theme with its busiest thread, who is thanked,
    who joined, the questions waiting, the events ahead, and where the whole digest is; at the
    first level of detail that fits ``BRIEF_CHARS``."""
    footer = ctx._(
        "The whole digest, with what each person did, the prompts and the knowledge shared, "
        "is attached ({file}).",
        file=attached,
    )
    for detail in _DETAILS:
        text = "\n\n".join([heading, *_brief_sections(ctx, week, detail), footer])
        if len(text) <= BRIEF_CHARS:
            return text
    # Many themes: whole lines up to the limit, and the attachment has the rest.
    return split_markdown(text[: BRIEF_CHARS - len(footer) - 3], BRIEF_CHARS)[0] + "\n…\n" + footer


def _brief_sections(ctx: DigestContext, facts: _Week, detail: _Detail) -> list[str]:
    this, last = ctx.this_week, ctx.week_before
    sections = [
        ctx._(
            "**The week in numbers**: {messages} ({messages_change}), {people} ({people_change}), "
            "{replies}, {reactions}, {threads}, {members}.",
            messages=ctx.n_("{n} message", "{n} messages", this.messages),
            messages_change=_change(this.messages, last.messages),
            people=ctx.n_("{n} person taking part", "{n} people taking part", this.active_members),
            people_change=_change(this.active_members, last.active_members),
            replies=ctx.n_("{n} reply", "{n} replies", this.replies),
            reactions=ctx.n_("{n} reaction", "{n} reactions", this.reactions),
            threads=ctx.n_("{n} new thread", "{n} new threads", this.threads),
            members=ctx.n_("{n} new member", "{n} new members", this.new_members),
        )
    ]
    themes = ctx.themes.themes
    lines = []
    for theme in themes.values():
        count = this.by_theme.get(theme.id, 0)
        if not count:
            continue
        people = facts.people.get(theme.id, activity.ThemePeople(0, 0))
        line = "- " + ctx.n_(
            "**{theme}**: {n} message", "**{theme}**: {n} messages", count, theme=theme.name
        )
        line += ctx.n_(" from {n} person", " from {n} people", people.posted)
        if people.only_reacted:
            line += ctx.n_(" ({n} more reacted)", " ({n} more reacted)", people.only_reacted)
        busiest = next(
            (t for t in facts.threads[:BRIEF_THREADS] if t.theme == theme.id and t.title), None
        )
        if detail.threads and busiest is not None:
            line += ctx._("; busiest thread: “{title}”", title=ctx.quote(busiest.title, 60))
        lines.append(line + ".")
    quiet = [theme.name for theme in themes.values() if not this.by_theme.get(theme.id)]
    if quiet:
        lines.append("- " + ctx._("Quiet this week: {themes}.", themes=", ".join(quiet)))
    if themes:
        sections.append("\n".join([ctx._("### What the themes discussed"), *lines]))
    # A receiver who joined after the digest read who may be named is in the next one.
    credited = [credit for credit in facts.credits if credit.receiver_id in ctx.names]
    if credited:
        sections.append(_brief_credits(ctx, credited, detail))
    welcome = [ctx.names[member_id] for member_id in facts.joined if member_id in ctx.names]
    if welcome:
        sections.append(ctx._("A warm welcome to {names}!", names=", ".join(welcome)))
    if facts.waiting.count:
        lines = [
            ctx.n_(
                "### {n} question waiting for an answer",
                "### {n} questions waiting for an answer",
                facts.waiting.count,
            )
        ]
        end = int(ctx.end.timestamp())
        for question in facts.waiting.newest[: detail.questions]:
            asked_in = themes.get(question.theme) if question.theme else None
            values = {
                "asker": ctx.names.get(question.member_id, ""),
                "where": asked_in.name if asked_in else ctx._("the community"),
                "waited": waited(ctx, end - question.posted_at),
            }
            if question.text and question.channel_key not in ctx.sealed:
                line = ctx._(
                    "{asker} in {where}, waiting {waited}: “{text}”",
                    text=ctx.quote(question.text, 80),
                    **values,
                )
            else:
                line = ctx._("{asker} asked in {where}, waiting {waited}.", **values)
            lines.append("- " + line)
        sections.append("\n".join(lines))
    if facts.events:
        tz = ZoneInfo(ctx.settings.timezone)
        lines = ["### " + ctx._("Upcoming events")]
        lines += [
            f"- **{literal(event.title)}**, {local_time(event.starts_at, tz)}"
            for event in facts.events[:3]
        ]
        sections.append("\n".join(lines))
    return sections


def _brief_credits(ctx: DigestContext, found: list[activity.Credit], detail: _Detail) -> str:
    """Kudos with their reasons (they were given in words), then everyone else thanked, by name
    and alphabetically: recognition, not a ranking."""
    lines = [ctx._("### Thank you")]
    with_kudos: set[int] = set()
    if detail.kudos_chars:
        kudos: dict[int, list[activity.Credit]] = {}
        for credit in found:
            if credit.kind == "kudos" and credit.reason:
                kudos.setdefault(credit.receiver_id, []).append(credit)
        for receiver_id in sorted(kudos, key=lambda member_id: ctx.names[member_id].casefold()):
            given = kudos[receiver_id]
            reasons = "; ".join(
                dict.fromkeys(f"“{ctx.quote(c.reason, detail.kudos_chars)}”" for c in given)
            )
            givers = _givers(ctx, [c.giver_id for c in given])
            lines.append(
                f"- **{ctx.names[receiver_id]}**: "
                + ctx._("kudos from {givers}: {reasons}", givers=givers, reasons=reasons)
            )
            with_kudos.add(receiver_id)
    others = sorted(
        {c.receiver_id for c in found} - with_kudos,
        key=lambda member_id: ctx.names[member_id].casefold(),
    )
    if others:
        named = [ctx.names[member_id] for member_id in others[: detail.names]]
        if len(others) > detail.names:
            named.append(ctx.n_("{n} other", "{n} others", len(others) - detail.names))
        lines.append(
            "- " + ctx._("Thanked for answers, ideas and help: {names}.", names=", ".join(named))
        )
    return "\n".join(lines)


async def _chart(ctx: DigestContext) -> Attachment | None:
    """Messages per theme, this week against the week before, as a PNG (drawn in a thread: it
    takes long enough to hold up chat and commands if drawn on the event loop)."""
    this, last = ctx.this_week, ctx.week_before
    themes = list(ctx.themes.themes.values())
    if not themes or not (this.messages or last.messages):
        return None
    png = await asyncio.to_thread(
        _draw_chart,
        [t.name for t in themes],
        [last.by_theme.get(t.id, 0) for t in themes],
        [this.by_theme.get(t.id, 0) for t in themes],
        (ctx._("week before"), ctx._("this week"), ctx._("messages")),
    )
    return Attachment(
        "digest.png",
        png,
        "image/png",
        ctx._("Messages per theme, this week and the week before"),
    )


def _draw_chart(
    names: list[str], before: list[int], now: list[int], labels: tuple[str, str, str]
) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.2), dpi=100)
    axes = figure.subplots()
    positions = range(len(names))
    axes.bar([p - 0.2 for p in positions], before, 0.4, label=labels[0], color="#b8c4d6")
    axes.bar([p + 0.2 for p in positions], now, 0.4, label=labels[1], color="#2f6f4f")
    axes.set_xticks(list(positions), names, fontsize=8)
    axes.set_ylabel(labels[2])
    axes.legend(fontsize=8)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
