"""Discord's gateway payloads (plain JSON dicts) as ``bot.events``: pure functions, tested from
recorded payloads (tests/data/discord).

``GATEWAY_EVENTS`` maps each dispatch type Trellis reads to its factory, a pure function of the
payload and a ``Gateway`` (what the adapter resolved from the client's cache: the community,
places, names, the time); the functions below them also read history and catch-up pages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import discord

from bot.events import (
    ChannelRef,
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
from bot.ports import StoredPositions

PLATFORM = "discord"

_CHAT_MESSAGE_TYPES = {0, 19}
"""Default messages and replies; joins, pins, thread notices and the like are not conversation."""


def parse_time(value: str) -> datetime:
    """Discord's ISO 8601 timestamps, as aware UTC datetimes."""
    return discord.utils.parse_time(value)


def id_time(snowflake: str | int) -> datetime:
    """When a Discord id was minted (ids embed their creation time)."""
    return discord.utils.snowflake_time(int(snowflake))


def member_ref(user: dict[str, Any], member: dict[str, Any] | None = None) -> MemberRef:
    """A MemberRef named as the guild shows the person: nickname, then display name, then username."""
    name = (member or {}).get("nick") or user.get("global_name") or user.get("username") or ""
    return MemberRef(PLATFORM, str(user["id"]), name, bool(user.get("bot")))


def thread_place(parent: ChannelRef, thread_id: str) -> ChannelRef:
    return ChannelRef(PLATFORM, parent.id, parent.name, thread_id)


def emoji_text(emoji: dict[str, Any]) -> str:
    """A unicode emoji as itself; a custom one in Discord's own ``<:name:id>`` form."""
    if emoji.get("id"):
        prefix = "a" if emoji.get("animated") else ""
        return f"<{prefix}:{emoji.get('name') or '_'}:{emoji['id']}>"
    return emoji.get("name") or ""


def is_from_people(message: dict[str, Any], own_id: str) -> bool:
    """False for our own messages, other bots', webhooks' and system messages."""
    author = message.get("author") or {}
    return (
        str(author.get("id")) != own_id
        and not author.get("bot")
        and not author.get("system")
        and "webhook_id" not in message
        and message.get("type", 0) in _CHAT_MESSAGE_TYPES
    )


RELAYED = "relayed:"
"""Before the name of a person a bridge relays from Matrix by webhook: it names them, nothing more
(their Matrix id stays on the other side)."""


def relayed_author(message: dict[str, Any]) -> MemberRef | None:
    """The person a bridge's relay webhook posts for (mautrix-discord and
    matrix-appservice-discord name the webhook's message after its Matrix author), as a Matrix
    member known by that name; None for any other message."""
    author = message.get("author") or {}
    name = author.get("global_name") or author.get("username") or ""
    if "webhook_id" not in message or not name or message.get("type", 0) not in _CHAT_MESSAGE_TYPES:
        return None
    return MemberRef("matrix", RELAYED + name, name)


def message_posted(
    data: dict[str, Any],
    *,
    community: str,
    channel: ChannelRef,
    own_id: str,
    relayed: bool = False,
) -> MessagePosted | None:
    """MESSAGE_CREATE (or a message from history) as MessagePosted; None when it is not people's.
    In a ``relayed`` channel (a bridge's, whose other side Trellis does not watch), what the
    bridge's webhook posts is its Matrix author's."""
    author = relayed_author(data) if relayed else None
    if author is None and not is_from_people(data, own_id):
        return None
    reply_to = reply_author = None
    reference = data.get("message_reference")
    if reference and reference.get("type", 0) == 0 and reference.get("message_id"):
        reply_to = str(reference["message_id"])
        original = data.get("referenced_message")
        if original and original.get("author"):
            reply_author = _replied_author(original, relayed=relayed)
    mentions = tuple(
        member_ref(user, user.get("member"))
        for user in data.get("mentions", [])
        if str(user["id"]) != str(data["author"]["id"])
    )
    return MessagePosted(
        community=community,
        channel=channel,
        author=author or member_ref(data["author"], data.get("member")),
        message_id=str(data["id"]),
        text=data.get("content") or "",
        occurred_at=parse_time(data["timestamp"]),
        reply_to=reply_to,
        reply_to_author=reply_author,
        mentions=mentions,
    )


def _replied_author(original: dict[str, Any], *, relayed: bool) -> MemberRef | None:
    """Who wrote the message a reply answers: in a ``relayed`` channel a bridge's webhook posts
    for its Matrix author; anywhere else a webhook (an integration's notices) is nobody, whose
    replies would make a member of it."""
    if "webhook_id" in original:
        return relayed_author(original) if relayed else None
    return member_ref(original["author"], original.get("member"))


def message_edited(
    data: dict[str, Any],
    *,
    community: str,
    channel: ChannelRef,
    own_id: str,
    relayed: bool = False,
) -> MessageEdited | None:
    """MESSAGE_UPDATE as MessageEdited, only for a person changing the text.

    Discord also sends updates when it unfurls a link or pins a message; those carry no
    ``edited_timestamp`` and are not edits.
    """
    if "content" not in data or not data.get("edited_timestamp"):
        return None
    if "author" in data and not is_from_people(data, own_id):
        if not (relayed and relayed_author(data)):
            return None
    return MessageEdited(
        community=community,
        channel=channel,
        message_id=str(data["id"]),
        text=data["content"],
        occurred_at=parse_time(data["edited_timestamp"]),
    )


def messages_deleted(
    kind: str, data: dict[str, Any], *, community: str, channel: ChannelRef, occurred_at: datetime
) -> list[MessageDeleted]:
    """MESSAGE_DELETE or MESSAGE_DELETE_BULK. Discord sends no time, so the caller's clock says."""
    ids = data["ids"] if kind == "MESSAGE_DELETE_BULK" else [data["id"]]
    return [MessageDeleted(community, channel, str(mid), occurred_at) for mid in ids]


def reaction_event(
    kind: str,
    data: dict[str, Any],
    *,
    community: str,
    channel: ChannelRef,
    member_name: str,
    own_id: str,
    occurred_at: datetime,
) -> ReactionAdded | ReactionRemoved | None:
    """MESSAGE_REACTION_ADD/REMOVE; ``member_name`` names the reactor when the payload does not."""
    member = data.get("member")
    if member and member.get("user"):
        who = member_ref(member["user"], member)
    else:
        who = MemberRef(PLATFORM, str(data["user_id"]), member_name)
    if who.id == own_id or who.is_bot:
        return None
    factory = ReactionAdded if kind == "MESSAGE_REACTION_ADD" else ReactionRemoved
    return factory(
        community=community,
        channel=channel,
        message_id=str(data["message_id"]),
        member=who,
        emoji=emoji_text(data["emoji"]),
        occurred_at=occurred_at,
    )


def member_event(
    kind: str, data: dict[str, Any], *, community: str, occurred_at: datetime
) -> MemberJoined | MemberLeft | None:
    """GUILD_MEMBER_ADD/REMOVE; bots coming and going are not members of the community."""
    who = member_ref(data["user"], data if kind == "GUILD_MEMBER_ADD" else None)
    if who.is_bot:
        return None
    if kind == "GUILD_MEMBER_ADD":
        joined = parse_time(data["joined_at"]) if data.get("joined_at") else occurred_at
        return MemberJoined(community, who, joined)
    return MemberLeft(community, who, occurred_at)


def presence(
    community: str,
    present: Sequence[tuple[MemberRef, datetime | None]],
    stored: Set[str],
    *,
    now: datetime,
    complete: bool,
) -> list[MemberJoined | MemberLeft]:
    """The guild's people (with their join dates) as members already there, and the stored
    members no longer in it as gone; bots are not members. Leaves are told only from a
    ``complete`` member list: a list cut short must not make anyone leave."""
    people = [(who, joined) for who, joined in present if not who.is_bot]
    events: list[MemberJoined | MemberLeft] = [
        MemberJoined(community, who, joined or now, live=False) for who, joined in people
    ]
    if complete:
        here = {who.key for who, _ in people}
        events += [
            MemberLeft(community, MemberRef(PLATFORM, key.partition(":")[2]), now)
            for key in sorted(stored - here)
        ]
    return events


def catch_up_start(
    place_key: str | None, positions: StoredPositions, *, horizon: datetime, recent: timedelta
) -> datetime | None:
    """Where a place's catch-up reads from: a little before its newest stored message (so that
    what happened meanwhile to recent messages counts: reactions, edits, deletions), or before
    the platform's newest one for a place with none since ``horizon`` (``place_key`` None: where
    such a place starts); never before ``horizon``. None on a first start (nothing stored):
    older history is what ``trellis backfill`` is for."""
    if positions.newest is None:
        return None
    newest = positions.last_messages.get(place_key or "") or positions.newest
    return max(horizon, newest - recent)


def deleted_meanwhile(stored: Set[str], there: Set[str], since: datetime) -> list[str]:
    """Ids of the messages stored from a place that its history since ``since``, read whole,
    no longer has: deleted while Trellis was away."""
    return sorted(m for m in stored - there if id_time(m) >= since)


def thread_opened(
    data: dict[str, Any], *, community: str, parent: ChannelRef, opener_name: str
) -> ThreadOpened | None:
    """THREAD_CREATE for a new thread or forum post (Discord also sends it when we are added)."""
    if not data.get("newly_created"):
        return None
    opener = (
        MemberRef(PLATFORM, str(data["owner_id"]), opener_name) if data.get("owner_id") else None
    )
    return ThreadOpened(
        community=community,
        channel=thread_place(parent, str(data["id"])),
        title=data.get("name") or "",
        opener=opener,
        occurred_at=id_time(data["id"]),
    )


def command_options(
    data: dict[str, Any],
) -> tuple[str, tuple[tuple[str, str | MemberRef | ChannelRef], ...]]:
    """An application command's ``data`` as (command words, options with resolved values).

    Subcommand groups and subcommands are nested options on Discord; their names join into the
    command's words (``/prompt add`` -> ``"prompt add"``). User options become MemberRefs named as
    the guild shows them, channel options ChannelRefs (a thread's ref names its parent channel).
    """
    words = [data["name"]]
    options = data.get("options") or []
    while len(options) == 1 and options[0]["type"] in (1, 2):
        words.append(options[0]["name"])
        options = options[0].get("options") or []
    resolved = data.get("resolved") or {}
    values: list[tuple[str, str | MemberRef | ChannelRef]] = []
    for option in options:
        value = option.get("value")
        if option["type"] == 6:
            user = resolved.get("users", {}).get(str(value), {"id": str(value)})
            member = resolved.get("members", {}).get(str(value))
            values.append((option["name"], member_ref(user, member)))
        elif option["type"] == 7:
            channel = resolved.get("channels", {}).get(str(value), {"id": str(value)})
            if channel.get("parent_id") and "thread_metadata" in channel:
                parent = ChannelRef(PLATFORM, str(channel["parent_id"]))
                values.append((option["name"], thread_place(parent, str(channel["id"]))))
            else:
                values.append(
                    (
                        option["name"],
                        ChannelRef(PLATFORM, str(channel["id"]), channel.get("name", "")),
                    )
                )
        else:
            values.append((option["name"], str(value)))
    return " ".join(words), tuple(values)


@dataclass(frozen=True, slots=True)
class Gateway:
    """What translating one dispatch needs besides its payload, resolved by the adapter from the
    client's cache."""

    community: str
    own_id: str
    """The bot's user id: what it said itself is not the community's chat."""
    now: datetime
    """Discord sends no time with deletions and reactions: they happened when they arrived."""
    place: Callable[[str], ChannelRef]
    """A channel id as a place (a thread named by its parent channel and its own id)."""
    member_name: Callable[[str], str]
    """A user id as the guild names the person ('' when unknown)."""
    relayed: Callable[[ChannelRef], bool] = lambda place: False
    """Whether a bridge relays this place from Matrix, whose side Trellis does not watch: its
    webhook's messages are people's."""


Factory = Callable[[dict[str, Any], Gateway], list[Event]]


def _posted(data: dict[str, Any], gateway: Gateway) -> list[Event]:
    channel = gateway.place(data["channel_id"])
    event = message_posted(
        data,
        community=gateway.community,
        channel=channel,
        own_id=gateway.own_id,
        relayed=gateway.relayed(channel),
    )
    return [event] if event else []


def _edited(data: dict[str, Any], gateway: Gateway) -> list[Event]:
    channel = gateway.place(data["channel_id"])
    edit = message_edited(
        data,
        community=gateway.community,
        channel=channel,
        own_id=gateway.own_id,
        relayed=gateway.relayed(channel),
    )
    return [edit] if edit else []


def _deleted(kind: str) -> Factory:
    def factory(data: dict[str, Any], gateway: Gateway) -> list[Event]:
        channel = gateway.place(data["channel_id"])
        return list(
            messages_deleted(
                kind, data, community=gateway.community, channel=channel, occurred_at=gateway.now
            )
        )

    return factory


def _reaction(kind: str) -> Factory:
    def factory(data: dict[str, Any], gateway: Gateway) -> list[Event]:
        reaction = reaction_event(
            kind,
            data,
            community=gateway.community,
            channel=gateway.place(data["channel_id"]),
            member_name=gateway.member_name(data["user_id"]),
            own_id=gateway.own_id,
            occurred_at=gateway.now,
        )
        return [reaction] if reaction else []

    return factory


def _membership(kind: str) -> Factory:
    def factory(data: dict[str, Any], gateway: Gateway) -> list[Event]:
        change = member_event(kind, data, community=gateway.community, occurred_at=gateway.now)
        return [change] if change else []

    return factory


def _thread(data: dict[str, Any], gateway: Gateway) -> list[Event]:
    opened = thread_opened(
        data,
        community=gateway.community,
        parent=gateway.place(data["parent_id"]),
        opener_name=gateway.member_name(data.get("owner_id") or "0"),
    )
    return [opened] if opened else []


GATEWAY_EVENTS: Mapping[str, Factory] = {
    "MESSAGE_CREATE": _posted,
    "MESSAGE_UPDATE": _edited,
    "MESSAGE_DELETE": _deleted("MESSAGE_DELETE"),
    "MESSAGE_DELETE_BULK": _deleted("MESSAGE_DELETE_BULK"),
    "MESSAGE_REACTION_ADD": _reaction("MESSAGE_REACTION_ADD"),
    "MESSAGE_REACTION_REMOVE": _reaction("MESSAGE_REACTION_REMOVE"),
    "GUILD_MEMBER_ADD": _membership("GUILD_MEMBER_ADD"),
    "GUILD_MEMBER_REMOVE": _membership("GUILD_MEMBER_REMOVE"),
    "THREAD_CREATE": _thread,
}
"""The gateway dispatches Trellis reads, each with its factory; every other type is ignored."""


def translate(kind: str, data: dict[str, Any], gateway: Gateway) -> list[Event]:
    """The events one gateway dispatch means (none for a type Trellis does not read)."""
    factory = GATEWAY_EVENTS.get(kind)
    return factory(data, gateway) if factory is not None else []
