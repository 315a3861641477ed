"""The console adapter: Trellis in a terminal, no account needed.

Lines are typed interactively or read from a script (the demo replays one). The grammar:

    # a comment                       (blank lines too are ignored)
    @ 2026-09-07 09:15                move the simulated clock (community timezone); jobs due run
    ~ ana joins as "Ana Quispe"       a member joins (``as bot "Name"`` for a bot); ``~ ana leaves``
    #water ana: text                  ana posts in #water; every post gets a number: [1], [2], …
    #water/Irrigation tips ana: text  a post in a thread of #water (the first post opens it)
    #water ana: >12 text              a reply to message 12 (>T3: to Trellis's post [T3])
    #water ana: +12 🙏                a reaction (``-12 🙏`` removes it)
    #water ana: *12 new text          an edit;  ``x12`` deletes
    #water ana: /kudos @luis for …    a command
    ana> text                         interactive shorthand: post in the current channel

Mentions are ``@handle``. What Trellis sends is printed and kept in ``outbox``.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.commands.spec import CommandSpec, match_command
from bot.events import (
    ChannelRef,
    CommandInvoked,
    Event,
    MemberJoined,
    MemberLeft,
    MemberRef,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    ThreadOpened,
)
from bot.outgoing import OutgoingMessage, literal, unescape
from bot.ports import Adapter, Delivery, EventSink, SentMessage, Stored

TRELLIS = MemberRef("console", "trellis", "Trellis", is_bot=True)
"""Trellis itself, as the author of its posts."""
_CLOCK = re.compile(r"^@\s*(\d{4}-\d{2}-\d{2})(?:[ T](\d{1,2}:\d{2}))?\s*$")
_MEMBERSHIP = re.compile(
    r"^~\s*(?P<handle>[\w.-]+)\s+(?P<verb>joins|leaves)"
    r'(?:\s+as\s+(?P<bot>bot\s+)?(?:"(?P<name>[^"]*)"|(?P<bare>\S+)))?\s*$'
)
_POST = re.compile(
    r"^#(?P<channel>[\w-]+)(?:/(?P<thread>[^:]+?))?\s+(?P<handle>[\w.-]+):\s?(?P<body>.*)$"
)
_SHORT = re.compile(r"^(?P<handle>[\w.-]+)>\s?(?P<body>.*)$")
_REPLY = re.compile(r"^>(T?\d+)\s+(.+)$", re.S)
_REACT = re.compile(r"^([+-])(\d+)\s+(\S+)\s*$")
_EDIT = re.compile(r"^\*(\d+)\s+(.+)$", re.S)
_DELETE = re.compile(r"^x(\d+)\s*$")
_MENTION = re.compile(r"(?<![\w@])@([\w-]+(?:\.[\w-]+)*)")


def clock_line(line: str, timezone: str) -> datetime | None:
    """The time a '@ YYYY-MM-DD HH:MM' line moves the clock to, or None for any other line."""
    match = _CLOCK.match(line.strip())
    if not match:
        return None
    try:
        moment = datetime.fromisoformat(f"{match.group(1)} {match.group(2) or '00:00'}")
    except ValueError:
        return None
    return moment.replace(tzinfo=ZoneInfo(timezone))


class ScriptError(ValueError):
    """A line that does not follow the console grammar; says which line and how to write it."""


@dataclass(frozen=True, slots=True)
class Sent:
    """Something Trellis said on the console: to a channel, to one member, or as a reply."""

    kind: str
    to: str
    text: str
    attachments: tuple[str, ...] = ()


@dataclass(slots=True)
class _Posted:
    message_id: str
    author: MemberRef
    channel: ChannelRef


@dataclass(slots=True)
class ConsoleState:
    members: dict[str, MemberRef] = field(default_factory=dict)
    posts: dict[int, _Posted] = field(default_factory=dict)
    own_posts: dict[str, _Posted] = field(default_factory=dict)
    """Trellis's own posts by label (``T1``), which members may reply to (``>T1 text``)."""
    threads: set[str] = field(default_factory=set)
    count: int = 0


class ConsoleAdapter(Adapter):
    platform = "console"
    message_limit = 4000
    command_prefix = "/"

    def __init__(
        self,
        community: str,
        clock: Clock,
        *,
        timezone: str = "UTC",
        out: TextIO | None = None,
        echo_chat: bool = True,
        brief_repeats: bool = False,
    ) -> None:
        self.community = community
        self.clock = clock
        self.timezone = ZoneInfo(timezone)
        self.out = out if out is not None else sys.stdout
        self.echo_chat = echo_chat
        self.brief_repeats = brief_repeats
        """Print a direct message in full only the first time its kind is sent (the demo's 40
        welcomes would otherwise fill the screen); ``outbox`` always keeps every message whole."""
        self._kinds_shown: set[str] = set()
        self.outbox: list[Sent] = []
        self.state = ConsoleState()
        self._sink: EventSink | None = None
        self._command_names: list[str] = []
        self._current_channel = "general"
        self._own_posts = 0
        self._reader: asyncio.Task[None] | None = None

    # The Adapter contract ------------------------------------------------------------------

    async def start(self, sink: EventSink, stored: Stored) -> None:
        # Nothing to catch up: what is typed while Trellis is stopped is never read.
        self._sink = sink

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        self._sink = None

    async def register_commands(self, specs: Sequence[CommandSpec]) -> None:
        self._command_names = [spec.name for spec in specs]

    async def send(self, channel: ChannelRef, message: OutgoingMessage) -> SentMessage:
        self._own_posts += 1
        label = f"T{self._own_posts}"
        self.state.own_posts[label] = _Posted(label, TRELLIS, channel)
        where = f"#{channel.id}" + (f"/{channel.thread_id}" if channel.thread_id else "")
        self._show(
            Sent("post", where, message.text, _names(message)), f"[{label}] Trellis → {where}"
        )
        return SentMessage(channel, (label,))

    def mention(self, member: MemberRef) -> str:
        return literal(member.name)

    async def place_name(self, place: ChannelRef) -> str:
        """Console channels are their names: ``#general``, ``#water/wells`` for a thread."""
        return "#" + (place.thread_id or place.id)

    async def send_direct(self, member: MemberRef, message: OutgoingMessage) -> Delivery:
        sent = Sent("direct", member.id, message.text, _names(message))
        heading = f"Trellis → {member.id} (direct message)"
        known = self.state.members.get(member.id)
        first_line = unescape(message.text.split("\n", 1)[0])
        kind = first_line.replace(known.name, "…") if known else first_line
        if self.brief_repeats and kind in self._kinds_shown:
            self.outbox.append(sent)
            print(f"── {heading}: {first_line} (as above) ──", file=self.out, flush=True)
        else:
            self._kinds_shown.add(kind)
            self._show(sent, heading)
        return Delivery.DELIVERED

    async def reply(
        self, invocation: CommandInvoked, message: OutgoingMessage, *, private: bool
    ) -> None:
        who = invocation.member.id
        # A private answer is to the member; a public one to the channel, for all to read.
        to = who if private else f"#{invocation.channel.id}"
        heading = f"Trellis → {who} (only {who} sees this)" if private else f"Trellis → {to}"
        self._show(Sent("reply", to, message.text, _names(message)), heading)

    async def channels(self, community: str) -> list[ChannelRef]:
        return []

    def watched(self, places: int) -> str:
        # Console channels exist once someone types in them: it reads the lines, wherever.
        return f"the lines typed for {self.community}"

    async def history(self, channel: ChannelRef, since: datetime) -> AsyncIterator[Event]:
        """The console keeps no history of its own: there is nothing to backfill."""
        nothing: tuple[Event, ...] = ()
        for event in nothing:
            yield event

    # Reading lines -------------------------------------------------------------------------

    async def feed(self, line: str, *, number: int = 0) -> datetime | None:
        """Turn one line into events for the sink. Returns the new time for a clock line."""
        line = line.rstrip("\n")
        if (
            not line.strip()
            or line.lstrip().startswith("#!")
            or line.startswith("# ")
            or line == "#"
        ):
            return None
        if _CLOCK.match(line):
            moment = clock_line(line, self.timezone.key)
            if moment is None:
                raise self._error(number, line, "the date is not a real date and time")
            return moment
        if match := _MEMBERSHIP.match(line):
            await self._membership(match)
            return None
        if match := _POST.match(line):
            channel, thread = match.group("channel"), match.group("thread")
            self._current_channel = channel
            await self._post(
                number, line, match.group("handle"), channel, thread, match.group("body")
            )
            return None
        if match := _SHORT.match(line):
            await self._post(
                number,
                line,
                match.group("handle"),
                self._current_channel,
                None,
                match.group("body"),
            )
            return None
        raise self._error(
            number,
            line,
            "write '#channel name: text', 'name> text', '~ name joins' or '@ YYYY-MM-DD HH:MM'",
        )

    async def play(
        self, lines: Iterable[str], on_clock: Callable[[datetime], Awaitable[None]]
    ) -> None:
        """Replay a script; ``on_clock`` moves the clock (and runs due jobs) at each '@' line."""
        for number, line in enumerate(lines, start=1):
            moment = await self.feed(line, number=number)
            if moment is not None:
                await on_clock(moment)

    def read_stdin(
        self, on_clock: Callable[[datetime], Awaitable[None]] | None = None
    ) -> asyncio.Task[None]:
        """Read lines typed on standard input until it closes; errors are shown, not raised."""

        lines: asyncio.Queue[str] = asyncio.Queue()
        running = asyncio.get_running_loop()

        def read_lines() -> None:
            # A daemon thread, not the loop's executor: a stop (Ctrl-C) while it waits for a line
            # must not wait for one more line before the process can end.
            try:
                for line in iter(sys.stdin.readline, ""):
                    running.call_soon_threadsafe(lines.put_nowait, line)
                running.call_soon_threadsafe(lines.put_nowait, "")
            except RuntimeError:
                return  # the loop closed: Trellis has stopped

        threading.Thread(target=read_lines, name="console-stdin", daemon=True).start()

        async def loop() -> None:
            number = 0
            while True:
                line = await lines.get()
                if not line:
                    return
                number += 1
                try:
                    moment = await self.feed(line, number=number)
                except ScriptError as error:
                    print(error, file=self.out, flush=True)
                    continue
                if moment is not None and on_clock is not None:
                    await on_clock(moment)

        self._reader = asyncio.create_task(loop(), name="console-stdin")
        return self._reader

    # Internals -----------------------------------------------------------------------------

    def _error(self, number: int, line: str, how: str) -> ScriptError:
        where = f"line {number}: " if number else ""
        return ScriptError(f"{where}“{line.strip()}” is not understood; {how}.")

    def _member(self, handle: str) -> MemberRef:
        return self.state.members.get(handle) or MemberRef(self.platform, handle, handle)

    async def _emit(self, event: Event) -> None:
        if self._sink is None:
            raise RuntimeError("the console adapter is not started")
        await self._sink(event)

    async def _membership(self, match: re.Match[str]) -> None:
        handle = match.group("handle")
        now = self.clock.now()
        if match.group("verb") == "leaves":
            await self._emit(MemberLeft(self.community, self._member(handle), now))
            return
        name = match.group("name") or match.group("bare") or handle
        member = MemberRef(self.platform, handle, name, is_bot=bool(match.group("bot")))
        self.state.members[handle] = member
        await self._emit(MemberJoined(self.community, member, now))

    def _posted(self, number: int, line: str, ref: str) -> _Posted:
        posted = self.state.own_posts.get(ref) if ref[0] == "T" else self.state.posts.get(int(ref))
        if posted is None:
            raise self._error(number, line, f"there is no message [{ref}] yet")
        return posted

    async def _post(
        self, number: int, line: str, handle: str, channel_name: str, thread: str | None, body: str
    ) -> None:
        author = self.state.members.setdefault(handle, self._member(handle))
        now = self.clock.now()
        thread_id = f"{channel_name}/{thread.strip()}" if thread else None
        channel = ChannelRef(self.platform, channel_name, channel_name, thread_id)
        if body.startswith("/"):
            command, rest = match_command(self._command_names, body[1:])
            await self._emit(
                CommandInvoked(
                    self.community,
                    channel,
                    author,
                    command,
                    now,
                    text=rest,
                    invocation_id=f"console:{number}:{now.timestamp()}",
                )
            )
            return
        if match := _REACT.match(body):
            target = self._posted(number, line, match.group(2))
            kind = ReactionAdded if match.group(1) == "+" else ReactionRemoved
            if not author.is_bot:
                await self._emit(
                    kind(
                        self.community,
                        target.channel,
                        target.message_id,
                        author,
                        match.group(3),
                        now,
                    )
                )
            return
        if match := _EDIT.match(body):
            target = self._posted(number, line, match.group(1))
            if target.author != author:
                raise self._error(
                    number, line, f"only {target.author.id} can edit message [{match.group(1)}]"
                )
            await self._emit(
                MessageEdited(
                    self.community, target.channel, target.message_id, match.group(2), now
                )
            )
            return
        if match := _DELETE.match(body):
            target = self._posted(number, line, match.group(1))
            if target.author != author:
                raise self._error(
                    number, line, f"only {target.author.id} can delete message [{match.group(1)}]"
                )
            await self._emit(MessageDeleted(self.community, target.channel, target.message_id, now))
            return
        reply_to = None
        if match := _REPLY.match(body):
            reply_to = self._posted(number, line, match.group(1))
            body = match.group(2)
        if not body.strip():
            raise self._error(number, line, "a message needs some text")
        self.state.count += 1
        # Unique across restarts (numbering starts again), yet the same when a script is replayed.
        message_id = f"{int(now.timestamp())}.{self.state.count}"
        self.state.posts[self.state.count] = _Posted(message_id, author, channel)
        if self.echo_chat:
            where = f"#{channel_name}" + (f"/{thread.strip()}" if thread else "")
            print(f"[{self.state.count}] {where} {author.name}: {body}", file=self.out, flush=True)
        if author.is_bot:
            return  # other bots' chat is shown but never counted or credited
        if thread and thread_id and thread_id not in self.state.threads:
            self.state.threads.add(thread_id)
            await self._emit(ThreadOpened(self.community, channel, thread.strip(), author, now))
        # Only members the console has seen join can be mentioned; other @words are just text.
        mentions = tuple(
            dict.fromkeys(
                self.state.members[h] for h in _MENTION.findall(body) if h in self.state.members
            )
        )
        await self._emit(
            MessagePosted(
                self.community,
                channel,
                author,
                message_id,
                body,
                now,
                reply_to=reply_to.message_id if reply_to else None,
                reply_to_author=reply_to.author if reply_to else None,
                mentions=mentions,
            )
        )

    def _show(self, sent: Sent, heading: str) -> None:
        self.outbox.append(sent)
        files = "".join(f"\n  (attached: {name})" for name in sent.attachments)
        # A terminal shows Markdown as typed: member text reads without its escapes.
        print(f"\n── {heading} ──\n{unescape(sent.text)}{files}\n", file=self.out, flush=True)


def _names(message: OutgoingMessage) -> tuple[str, ...]:
    return tuple(attachment.filename for attachment in message.attachments)
