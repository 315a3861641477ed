"""Matrix events (their JSON, as Synapse sends it) as ``bot.events``: pure functions, tested from
payloads recorded on Synapse (tests/data/matrix).

``EVENT_TYPES`` maps each Matrix event type Trellis reads to its factory, a pure function of the
event, its room (``RoomContext``) and what the adapter remembers of earlier events it points at
(``Known``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from bot.commands.spec import match_command
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

PLATFORM = "matrix"


@dataclass(frozen=True, slots=True)
class RoomContext:
    """What translating an event of one room needs to know about the room and the configuration."""

    community: str
    room_id: str
    room_name: str = ""
    bot_user_id: str = ""
    command_prefix: str = "!trellis"
    command_names: tuple[str, ...] = ()
    ignore_senders: tuple[re.Pattern[str], ...] = ()
    puppet_patterns: tuple[tuple[re.Pattern[str], str], ...] = ()
    display_names: Mapping[str, str] = field(default_factory=dict)
    not_people: Container[str] = frozenset()
    """Keys of accounts of other platforms that are bots (Trellis's own among them): what a
    bridge's puppet of one relays is not chat."""

    def ignores(self, user_id: str) -> bool:
        return (
            user_id == self.bot_user_id
            or any(p.match(user_id) for p in self.ignore_senders)
            or (self.is_puppet(user_id) and self.member(user_id).key in self.not_people)
        )

    def is_puppet(self, user_id: str) -> bool:
        """Whether ``user_id`` is a bridge's puppet of an account on another platform."""
        return any(pattern.match(user_id) for pattern, _ in self.puppet_patterns)

    def member(self, user_id: str, *, is_bot: bool = False) -> MemberRef:
        """A Matrix user, or the platform account a bridge puppet stands for."""
        name = self.display_names.get(user_id, "")
        for pattern, platform in self.puppet_patterns:
            found = pattern.match(user_id)
            if found:
                puppet_id = found.group(1) if pattern.groups else user_id
                return MemberRef(platform, puppet_id, name, is_bot)
        return MemberRef(PLATFORM, user_id, name, is_bot)

    def channel(self, thread_id: str | None = None) -> ChannelRef:
        return ChannelRef(PLATFORM, self.room_id, self.room_name, thread_id)


@dataclass(frozen=True, slots=True)
class SeenEvent:
    sender: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class ReactionRecord:
    """A reaction we delivered, kept so that its later redaction can name what it undoes."""

    message_id: str
    sender: str
    key: str


@dataclass(frozen=True, slots=True)
class Known:
    """What the adapter remembers about earlier events that a new event only points at."""

    events: Mapping[str, SeenEvent] = field(default_factory=dict)
    reactions: Mapping[str, ReactionRecord] = field(default_factory=dict)
    open_threads: Container[str] = frozenset()


@dataclass(frozen=True, slots=True)
class References:
    """The earlier events an event points at, so the adapter can look them up before translating."""

    events: tuple[str, ...] = ()
    redacted: str | None = None
    thread_root: str | None = None


_PILL = re.compile(r"https://matrix\.to/#/(@[^\"'<>?/\s]+)")
_FALLBACK_AUTHOR = re.compile(r"^> <(@[^>]+)>")


def occurred_at(raw: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(raw.get("origin_server_ts", 0) / 1000, tz=UTC)


def _relation(content: Mapping[str, Any]) -> Mapping[str, Any]:
    relation = content.get("m.relates_to")
    return relation if isinstance(relation, dict) else {}


def _reply_target(relation: Mapping[str, Any]) -> str | None:
    if relation.get("rel_type") == "m.thread" and relation.get("is_falling_back"):
        return None
    target = relation.get("m.in_reply_to")
    return target.get("event_id") if isinstance(target, dict) else None


def references(raw: Mapping[str, Any]) -> References:
    content = raw.get("content") or {}
    if raw.get("type") == "m.room.redaction":
        return References(redacted=content.get("redacts") or raw.get("redacts"))
    if raw.get("type") != "m.room.message":
        return References()
    relation = _relation(content)
    root = relation.get("event_id") if relation.get("rel_type") == "m.thread" else None
    wanted = tuple(i for i in (_reply_target(relation), root) if i)
    return References(events=wanted, thread_root=root)


def strip_reply_fallback(body: str) -> str:
    """Drop the quoted ``> <@who> ...`` lines clients put before a reply's own text."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and lines[index] == "":
        index += 1
    return "\n".join(lines[index:])


def _mentions(content: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    intentional = content.get("m.mentions")
    if isinstance(intentional, dict):
        found.extend(u for u in intentional.get("user_ids", ()) if isinstance(u, str))
    if content.get("format") == "org.matrix.custom.html":
        html = re.sub(
            r"<mx-reply>.*?</mx-reply>", "", content.get("formatted_body", ""), flags=re.S
        )
        found.extend(unquote(m) for m in _PILL.findall(html))
    return list(dict.fromkeys(found))


Factory = Callable[[Mapping[str, Any], RoomContext, Known, datetime], list[Event]]


def translate(raw: Mapping[str, Any], room: RoomContext, known: Known = Known()) -> list[Event]:
    """The Trellis events one Matrix event means (usually one, sometimes none or two)."""
    if room.ignores(raw.get("sender", "")) and raw.get("type") != "m.room.redaction":
        return []  # a message removed is removed, whoever removed it (a bridge, a moderator)
    factory = EVENT_TYPES.get(raw.get("type", ""))
    return factory(raw, room, known, occurred_at(raw)) if factory is not None else []


def _reaction(
    raw: Mapping[str, Any], room: RoomContext, known: Known, when: datetime
) -> list[Event]:
    relation = _relation(raw.get("content") or {})
    if relation.get("rel_type") != "m.annotation" or not relation.get("event_id"):
        return []
    return [
        ReactionAdded(
            room.community,
            room.channel(),
            relation["event_id"],
            room.member(raw.get("sender", "")),
            str(relation.get("key", "")),
            when,
        )
    ]


def _redaction(
    raw: Mapping[str, Any], room: RoomContext, known: Known, when: datetime
) -> list[Event]:
    target = (raw.get("content") or {}).get("redacts") or raw.get("redacts")
    if not target:
        return []
    reaction = known.reactions.get(target)
    if reaction is not None:
        return [
            ReactionRemoved(
                room.community,
                room.channel(),
                reaction.message_id,
                room.member(reaction.sender),
                reaction.key,
                when,
            )
        ]
    return [MessageDeleted(room.community, room.channel(), target, when)]


def _membership(
    raw: Mapping[str, Any], room: RoomContext, known: Known, when: datetime
) -> list[Event]:
    user_id = raw.get("state_key", "")
    if not user_id or room.ignores(user_id) or room.is_puppet(user_id):
        return []  # a puppet joins when the bridge needs it: the person joined elsewhere
    now = (raw.get("content") or {}).get("membership")
    before = ((raw.get("unsigned") or {}).get("prev_content") or {}).get("membership")
    member = room.member(user_id)
    if now == "join" and before != "join":
        return [MemberJoined(room.community, member, when)]
    if now in ("leave", "ban") and before == "join":
        return [MemberLeft(room.community, member, when)]
    return []


def _message(
    raw: Mapping[str, Any], room: RoomContext, known: Known, when: datetime
) -> list[Event]:
    content = raw.get("content") or {}
    if not isinstance(content.get("body"), str):
        return []  # a message whose content a redaction already removed
    sender = raw["sender"]
    event_id = raw.get("event_id", "")
    relation = _relation(content)
    if relation.get("rel_type") == "m.replace":
        new = content.get("m.new_content")
        if not isinstance(new, dict) or not isinstance(new.get("body"), str):
            return []
        return [
            MessageEdited(room.community, room.channel(), relation["event_id"], new["body"], when)
        ]
    thread_root = relation.get("event_id") if relation.get("rel_type") == "m.thread" else None
    channel = room.channel(thread_root)
    reply_to = _reply_target(relation)
    body = content["body"]
    if reply_to:
        body = strip_reply_fallback(body)
    is_notice = content.get("msgtype") == "m.notice"
    tokens = body.split(None, 1)
    if tokens and tokens[0].casefold() == room.command_prefix.casefold():
        if is_notice or room.is_puppet(sender):
            return []  # another bot talking about us, or a bridge's copy: never a command
        command, rest = match_command(room.command_names, tokens[1] if len(tokens) > 1 else "")
        return [
            CommandInvoked(
                room.community,
                channel,
                room.member(sender),
                command or "help",
                when,
                text=rest,
                invocation_id=event_id,
            )
        ]
    events: list[Event] = []
    if thread_root and thread_root not in known.open_threads:
        root = known.events.get(thread_root)
        events.append(
            ThreadOpened(
                room.community,
                channel,
                (root.text.split("\n", 1)[0][:80] if root else ""),
                room.member(root.sender) if root else None,
                when,
            )
        )
    reply_author = None
    if reply_to:
        seen = known.events.get(reply_to)
        fallback = _FALLBACK_AUTHOR.match(content["body"])
        author_id = seen.sender if seen else (fallback.group(1) if fallback else None)
        reply_author = room.member(author_id) if author_id else None
    mentions = tuple(room.member(u) for u in _mentions(content) if u != sender)
    events.append(
        MessagePosted(
            room.community,
            channel,
            room.member(sender, is_bot=is_notice),
            event_id,
            body,
            when,
            reply_to=reply_to,
            reply_to_author=reply_author,
            mentions=mentions,
        )
    )
    return events


def is_own_join(raw: Mapping[str, Any], user_id: str) -> bool:
    return (
        raw.get("type") == "m.room.member"
        and raw.get("state_key") == user_id
        and (raw.get("content") or {}).get("membership") == "join"
        and ((raw.get("unsigned") or {}).get("prev_content") or {}).get("membership") != "join"
    )


EVENT_TYPES: Mapping[str, Factory] = {
    "m.room.member": _membership,
    "m.reaction": _reaction,
    "m.room.redaction": _redaction,
    "m.room.message": _message,
}
"""The Matrix event types Trellis reads, each with its factory; every other type is ignored."""
