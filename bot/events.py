"""The events Trellis understands: plain, frozen data produced by adapters and consumed by the engine.

Every event names its community (the configured community id) and carries the platform's own ids,
so that ingesting the same event twice changes nothing. Datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


def key_parts(key: str) -> tuple[str, str]:
    """A member's or a place's key ('discord:1234', 'matrix:@ana:example.org') as its platform
    and the platform's own id."""
    platform, _, platform_id = key.partition(":")
    return platform, platform_id


@dataclass(frozen=True, slots=True)
class MemberRef:
    """A person (or bot) on one platform. ``key`` is the one string used for permission matching."""

    platform: str
    id: str
    display_name: str = field(default="", compare=False)
    is_bot: bool = field(default=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"

    @property
    def name(self) -> str:
        return self.display_name or self.id


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """A place where messages are posted: a Discord channel, a Matrix room, a console channel.

    ``thread_id`` is set when the place is a thread inside that channel (a Discord thread's channel
    id, a Matrix thread's root event id). Themes can own either the channel or a single thread.
    """

    platform: str
    id: str
    name: str = field(default="", compare=False)
    thread_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"

    @property
    def thread_key(self) -> str | None:
        return f"{self.platform}:{self.thread_id}" if self.thread_id else None


@dataclass(frozen=True, slots=True)
class MessagePosted:
    community: str
    channel: ChannelRef
    author: MemberRef
    message_id: str
    text: str
    occurred_at: datetime
    reply_to: str | None = None
    """The platform id of the message this one answers, if any."""
    reply_to_author: MemberRef | None = None
    """Who wrote the message this one answers, when the platform tells us (it may predate Trellis)."""
    mentions: tuple[MemberRef, ...] = ()


@dataclass(frozen=True, slots=True)
class MessageEdited:
    community: str
    channel: ChannelRef
    message_id: str
    text: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class MessageDeleted:
    community: str
    channel: ChannelRef
    message_id: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ReactionAdded:
    community: str
    channel: ChannelRef
    message_id: str
    member: MemberRef
    emoji: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ReactionRemoved:
    community: str
    channel: ChannelRef
    message_id: str
    member: MemberRef
    emoji: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class MemberJoined:
    community: str
    member: MemberRef
    occurred_at: datetime
    """When the member joined, by the platform's record where it has one."""
    live: bool = True
    """False when the adapter learned of a member already there (the member list at start, a
    catch-up, a backfill): stored with its join date, never welcomed as a newcomer."""


@dataclass(frozen=True, slots=True)
class MemberLeft:
    community: str
    member: MemberRef
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ThreadOpened:
    """A thread was created. ``channel.thread_id`` is the thread; ``opener`` may be unknown."""

    community: str
    channel: ChannelRef
    title: str
    opener: MemberRef | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class CommandInvoked:
    """A member asked Trellis to do something.

    ``command`` is the command's words as typed (``"prompt add"``); ``text`` is the rest of the line,
    for platforms where commands are typed. Platforms with typed options (Discord slash commands)
    fill ``options`` instead, keyed by parameter name, with the values as strings or MemberRefs.
    ``invocation_id`` is an opaque handle the adapter uses to answer this very invocation.
    """

    community: str
    channel: ChannelRef
    member: MemberRef
    command: str
    occurred_at: datetime
    text: str = ""
    options: tuple[tuple[str, str | MemberRef | ChannelRef], ...] | None = None
    invocation_id: str = ""


Event = (
    MessagePosted
    | MessageEdited
    | MessageDeleted
    | ReactionAdded
    | ReactionRemoved
    | MemberJoined
    | MemberLeft
    | ThreadOpened
    | CommandInvoked
)
