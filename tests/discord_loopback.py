"""A loopback Discord (gateway + REST) on 127.0.0.1 for driving the real discord.py client in tests.

``LoopbackDiscord`` keeps a small world (one bot, guilds with roles, channels, threads, members and
message history), speaks enough of the gateway (HELLO, heartbeats, IDENTIFY -> READY and
GUILD_CREATE, member chunks, RESUME with replay of missed dispatches, INVALID_SESSION) and of REST
(users, applications, gateway, messages with multipart uploads, DMs, interaction callbacks and
followups, command sync, history, reactions, archived threads) for discord.py 2.7 to run unchanged.

Every REST request is recorded (``requests``) with its parsed body, ``allowed_mentions`` and
``flags``; a request to a route the fake does not know, and any exception that discord.py would
only log (``on_error``, ``tree.on_error``, ERROR records of the ``discord`` logger), is collected
and turned into a test failure by ``check()``. ``install()`` points discord.py at the fake and
returns a function restoring the patched globals; ``running()`` does both around a block.

Messages the test "posts" as members go through ``post()`` and friends: they are stored (so that
history and backfill see them) and dispatched on the gateway. ``drop()`` cuts the gateway
connection; dispatches made while the client is away are kept and replayed when it resumes, as
Discord does. ``invalidate()`` cuts it and forgets the session, as Discord does when a session
cannot be resumed: the client's RESUME is answered INVALID_SESSION, it identifies again, and what
was dispatched meanwhile is lost (only history shows it).

Built with ``shard_count`` above 1 it speaks a sharded gateway, as Discord does for a large bot:
each IDENTIFY names its shard (``[id, count]``; a wrong one is closed with 4010, a missing one
with 4011), GET /gateway/bot says the count, and each guild's dispatches go to the session of the
shard ``(guild_id >> 22) % shard_count`` (what has no guild, a direct message, to shard 0).

As on Discord without the presences intent, GUILD_CREATE carries only the bot's own member (and
``member_count``): the client learns the others by asking for member chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
import discord.gateway
import discord.http
from aiohttp import WSMsgType, web

DISCORD_EPOCH_MS = 1420070400000
EVERYONE_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 16) | (1 << 6) | (1 << 38)
"""view_channel, send_messages, read_message_history, add_reactions, send_messages_in_threads."""
MANAGE_GUILD = 1 << 5
ADMINISTRATOR = 1 << 3

GUILD_TEXT, DM, GUILD_FORUM, PUBLIC_THREAD = 0, 1, 15, 11
_CHUNK = 1000
"""Members per GUILD_MEMBERS_CHUNK, as Discord sends them."""


def snowflake(moment: datetime, sequence: int = 0) -> int:
    """A Discord id whose timestamp part is ``moment`` (ids sort by time, as on Discord)."""
    return ((int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22) | (sequence & 0x3FFFFF)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


@dataclass
class Recorded:
    """One REST request as the fake received it."""

    method: str
    route: str
    """The route template, e.g. ``POST /channels/{channel_id}/messages``."""
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    files: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def payload(self) -> dict[str, Any]:
        """The message part of the body (an interaction callback nests it under ``data``)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("data"), dict):
            return self.body["data"]
        return self.body if isinstance(self.body, dict) else {}

    @property
    def allowed_mentions(self) -> Any:
        return self.payload.get("allowed_mentions")

    @property
    def flags(self) -> int:
        return int(self.payload.get("flags") or 0)

    @property
    def content(self) -> str:
        return self.payload.get("content") or ""


class _RouteTable:
    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], str, Callable[..., Any]]] = []

    def add(self, method: str, template: str, handler: Callable[..., Any]) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self._routes.append((method, re.compile(f"^{pattern}$"), template, handler))

    def match(
        self, method: str, path: str
    ) -> tuple[str, dict[str, str], Callable[..., Any]] | None:
        for route_method, pattern, template, handler in self._routes:
            found = pattern.match(path)
            if route_method == method and found:
                return f"{method} {template}", found.groupdict(), handler
        return None


class _ErrorCollector(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.ERROR)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self._sink.append(f"{record.name}: {record.getMessage()}")


@dataclass
class _Session:
    id: str
    sequence: int = 0
    sent: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Shard:
    """One shard of the gateway (the only one, 0, when unsharded): its session and socket."""

    session: _Session | None = None
    lost: bool = False
    """True between ``invalidate()`` and the next IDENTIFY: dispatches go nowhere."""
    ws: web.WebSocketResponse | None = None


class LoopbackDiscord:
    """The fake Discord. Build the world with ``add_*``, start it, point discord.py at it."""

    def __init__(self, *, now: Callable[[], datetime] | None = None, shard_count: int = 1) -> None:
        self.now = now or (lambda: datetime.now(UTC))
        self.shard_count = shard_count
        self._ids = itertools.count(1)
        self.bot = self._user_payload(self._new_id(), "Trellis", bot=True)
        self.application_id = self.bot["id"]
        self.guilds: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.dm_channels: dict[str, dict[str, Any]] = {}
        self.strangers: list[dict[str, Any]] = []
        """Users in none of the guilds (who can still open a direct message with the bot)."""
        self.closed_dms: set[str] = set()
        """User ids whose direct messages answer 403 (code 50007), as when a member closed DMs."""
        self.synced_commands: dict[str, list[dict[str, Any]]] = {}
        self.global_commands: list[dict[str, Any]] = []
        self.callbacks: dict[str, list[dict[str, Any]]] = {}
        self._invokers: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self.errors: list[str] = []
        self.connections: list[str] = []
        """``identify`` or ``resume`` per gateway connection, with the path it used (and, on a
        sharded gateway, the shard: ``identify / shard 1``)."""
        self.rate_limited: dict[str, int] = {}
        """Route template -> how many more requests to answer with 429 before serving."""
        self._shards = [_Shard() for _ in range(shard_count)]
        self._send_lock = asyncio.Lock()
        self._ready = asyncio.Event()
        self._resumed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._routes = _RouteTable()
        self._declare_routes()

    # ------------------------------------------------------------------ world building

    def _new_id(self, moment: datetime | None = None) -> str:
        return str(snowflake(moment or self.now(), next(self._ids)))

    @staticmethod
    def _user_payload(user_id: str, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": user_id,
            "username": name.lower().replace(" ", "_"),
            "global_name": name,
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
        }

    def add_guild(
        self,
        name: str = "Practice Commons",
        *,
        guild_id: str | None = None,
        shard: int | None = None,
    ) -> str:
        """A guild (with the bot as its member); its id is chosen on ``shard`` when given."""
        if guild_id is None and shard is not None:
            moment = self.now()
            while self.shard_of(snowflake(moment)) != shard:
                moment += timedelta(milliseconds=1)
            guild_id = str(snowflake(moment, next(self._ids)))
        guild_id = guild_id or self._new_id()
        everyone = {
            "id": guild_id,
            "name": "@everyone",
            "color": 0,
            "hoist": False,
            "position": 0,
            "permissions": str(EVERYONE_PERMISSIONS),
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }
        self.guilds[guild_id] = {
            "id": guild_id,
            "name": name,
            "icon": None,
            "owner_id": self.bot["id"],
            "roles": [everyone],
            "emojis": [],
            "stickers": [],
            "features": [],
            "members": [],
            "channels": [],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "large": False,
            "unavailable": False,
            "joined_at": iso(self.now()),
            "mfa_level": 0,
            "verification_level": 0,
            "explicit_content_filter": 0,
            "default_message_notifications": 0,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": None,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
        }
        self._add_member_payload(guild_id, self.bot, roles=[])
        return guild_id

    def add_role(self, guild_id: str, name: str, *, permissions: int = 0) -> str:
        role_id = self._new_id()
        roles = self.guilds[guild_id]["roles"]
        roles.append(
            {
                "id": role_id,
                "name": name,
                "color": 0,
                "hoist": False,
                "position": len(roles),
                "permissions": str(permissions),
                "managed": False,
                "mentionable": True,
                "flags": 0,
            }
        )
        return role_id

    def add_channel(self, guild_id: str, name: str, *, kind: int = GUILD_TEXT) -> str:
        channel_id = self._new_id()
        channel: dict[str, Any] = {
            "id": channel_id,
            "type": kind,
            "guild_id": guild_id,
            "name": name,
            "position": len(self.guilds[guild_id]["channels"]),
            "permission_overwrites": [],
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if kind == GUILD_FORUM:
            channel |= {
                "available_tags": [],
                "default_reaction_emoji": None,
                "default_sort_order": None,
            }
        self.guilds[guild_id]["channels"].append(channel)
        self.channels[channel_id] = channel
        self.messages[channel_id] = []
        return channel_id

    def add_member(
        self,
        guild_id: str,
        name: str,
        *,
        roles: tuple[str, ...] = (),
        bot: bool = False,
        joined_at: datetime | None = None,
    ) -> dict[str, Any]:
        """A member of the guild (present from the start, since ``joined_at`` if given). Returns
        the user payload."""
        user = self._user_payload(self._new_id(), name, bot=bot)
        self._add_member_payload(guild_id, user, roles=list(roles), joined_at=joined_at)
        return user

    def _add_member_payload(
        self,
        guild_id: str,
        user: dict[str, Any],
        *,
        roles: list[str],
        joined_at: datetime | None = None,
    ) -> None:
        self.guilds[guild_id]["members"].append(self._member_payload(user, roles, joined_at))

    def _member_payload(
        self, user: dict[str, Any], roles: list[str], joined_at: datetime | None = None
    ) -> dict[str, Any]:
        return {
            "user": user,
            "nick": None,
            "roles": roles,
            "joined_at": iso(joined_at or self.now()),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "avatar": None,
        }

    def add_stranger(self, name: str) -> dict[str, Any]:
        """A Discord user in none of the guilds. Returns the user payload."""
        user = self._user_payload(self._new_id(), name)
        self.strangers.append(user)
        return user

    def member(self, guild_id: str, user_id: str) -> dict[str, Any]:
        for member in self.guilds[guild_id]["members"]:
            if member["user"]["id"] == user_id:
                return member
        raise KeyError(f"no member {user_id} in guild {guild_id}")

    def _permissions(self, guild_id: str, user_id: str) -> int:
        guild = self.guilds[guild_id]
        role_ids = set(self.member(guild_id, user_id)["roles"]) | {guild_id}
        value = 0
        for role in guild["roles"]:
            if role["id"] in role_ids:
                value |= int(role["permissions"])
        return value

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._gateway)
        app.router.add_get("/resume", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        for shard in self._shards:
            if shard.ws is not None and not shard.ws.closed:
                await shard.ws.close(code=1000)
        if self._runner is not None:
            await self._runner.cleanup()

    def install(self) -> Callable[[], None]:
        """Point discord.py at this server and collect what it would only log; returns the undo."""
        saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = f"http://127.0.0.1:{self.port}/api/v10"
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = discord.gateway.yarl.URL(
            f"ws://127.0.0.1:{self.port}/"
        )
        collector = _ErrorCollector(self.errors)
        watched = [logging.getLogger(name) for name in ("discord", "adapters.discord")]
        for logger in watched:
            logger.addHandler(collector)

        def restore() -> None:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
            for logger in watched:
                logger.removeHandler(collector)

        return restore

    def watch(self, client: discord.Client) -> None:
        """Collect exceptions raised in the client's event handlers and app-command callbacks."""
        import sys
        import traceback

        async def on_error(event: str, *args: Any, **kwargs: Any) -> None:
            self.errors.append(
                f"in {event}: {''.join(traceback.format_exception(*sys.exc_info()))}"
            )

        async def on_tree_error(
            interaction: discord.Interaction, error: discord.app_commands.AppCommandError
        ) -> None:
            trace = "".join(traceback.format_exception(error))
            self.errors.append(f"in command {interaction.command}: {trace}")

        client.on_error = on_error  # type: ignore[method-assign]
        tree = getattr(client, "tree", None)
        if tree is not None:
            tree.on_error = on_tree_error

    def check(self) -> None:
        """Fail if discord.py met an error or asked for a route this fake does not know."""
        if self.errors:
            raise AssertionError("errors during the test:\n" + "\n".join(self.errors))

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, **kwargs: Any) -> AsyncIterator[LoopbackDiscord]:
        server = cls(**kwargs)
        await server.start()
        restore = server.install()
        try:
            yield server
        finally:
            await server.close()
            restore()
        server.check()

    # ------------------------------------------------------------------ gateway

    @property
    def _session(self) -> _Session | None:
        """The session of shard 0, the only one of an unsharded gateway."""
        return self._shards[0].session

    def shard_of(self, guild_id: str | int | None) -> int:
        """The shard whose session gets a guild's dispatches (0 for what has no guild)."""
        return (int(guild_id) >> 22) % self.shard_count if guild_id is not None else 0

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        serving: list[int] = []
        """The shard this connection identified or resumed as, once it has."""
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                await self._gateway_op(ws, request.path, json.loads(frame.data), serving)
        finally:
            for number in serving:
                if self._shards[number].ws is ws:
                    self._shards[number].ws = None
        return ws

    async def _gateway_op(
        self, ws: web.WebSocketResponse, path: str, msg: dict[str, Any], serving: list[int]
    ) -> None:
        op, data = msg["op"], msg.get("d")
        if op == 1:
            await ws.send_str(json.dumps({"op": 11, "d": None}))
        elif op == 2:
            number, count = data.get("shard") or (0, 1)
            if count != self.shard_count or not 0 <= number < count:
                sharded = "shard" in data or self.shard_count == 1
                await ws.close(
                    code=4010 if sharded else 4011,
                    message=b"Invalid shard" if sharded else b"Sharding required",
                )
                return
            self.connections.append(
                f"identify {path}" + (f" shard {number}" if self.shard_count > 1 else "")
            )
            serving[:] = [number]
            shard = self._shards[number]
            shard.session = _Session(id=f"session-{next(self._ids)}")
            shard.lost = False
            async with self._send_lock:
                shard.ws = ws
            guilds = [g for gid, g in self.guilds.items() if self.shard_of(gid) == number]
            ready = {
                "v": 10,
                "user": self.bot,
                "guilds": [{"id": guild["id"], "unavailable": True} for guild in guilds],
                "session_id": shard.session.id,
                "resume_gateway_url": f"ws://127.0.0.1:{self.port}/resume",
                "application": {"id": self.application_id, "flags": 0},
                "private_channels": [],
                "relationships": [],
            }
            if self.shard_count > 1:
                ready["shard"] = [number, count]
            await self.dispatch("READY", ready, shard=number)
            for guild in guilds:
                own = [m for m in guild["members"] if m["user"]["id"] == self.bot["id"]]
                created = guild | {"members": own, "member_count": len(guild["members"])}
                await self.dispatch("GUILD_CREATE", created, shard=number)
            if all(s.session is not None and not s.lost for s in self._shards):
                self._ready.set()
        elif op == 6:
            self.connections.append(f"resume {path}")
            found = [
                number
                for number, shard in enumerate(self._shards)
                if shard.session is not None and shard.session.id == data["session_id"]
            ]
            if not found or self._shards[found[0]].lost:
                await ws.send_str(json.dumps({"op": 9, "d": False}))
                return
            serving[:] = found
            shard = self._shards[found[0]]
            assert shard.session is not None
            async with self._send_lock:
                for seq, text in shard.session.sent:
                    if seq > (data.get("seq") or 0):
                        await ws.send_str(text)
                shard.ws = ws
            await self.dispatch("RESUMED", {}, shard=found[0])
            self._resumed.set()
        elif op == 8:
            # REQUEST_GUILD_MEMBERS with an empty query: every member, in chunks of 1,000.
            guild = self.guilds[str(data["guild_id"])]
            members = guild["members"]
            pieces = [members[i : i + _CHUNK] for i in range(0, len(members), _CHUNK)] or [[]]
            for index, piece in enumerate(pieces):
                chunk = {
                    "guild_id": guild["id"],
                    "members": piece,
                    "chunk_index": index,
                    "chunk_count": len(pieces),
                    "nonce": data.get("nonce"),
                }
                await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    async def dispatch(self, event: str, data: dict[str, Any], *, shard: int | None = None) -> None:
        """Send a dispatch on the session of its guild's shard (or of ``shard``), or keep it for
        the resume if the client is away."""
        target = self._shards[self.shard_of(data.get("guild_id")) if shard is None else shard]
        session = target.session
        if session is None:
            raise AssertionError("no gateway session: start the client before dispatching")
        if target.lost:
            return
        async with self._send_lock:
            session.sequence += 1
            text = json.dumps({"op": 0, "t": event, "s": session.sequence, "d": data})
            session.sent.append((session.sequence, text))
            if target.ws is not None and not target.ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await target.ws.send_str(text)

    async def drop(self, shard: int = 0) -> None:
        """Cut a shard's gateway connection as a network failure would; the client should
        resume."""
        self._resumed.clear()
        async with self._send_lock:
            ws, self._shards[shard].ws = self._shards[shard].ws, None
        if ws is not None:
            await ws.close(code=4000, message=b"loopback drop")

    async def invalidate(self, shard: int = 0) -> None:
        """Cut a shard's gateway connection and forget its session: the client's RESUME gets
        INVALID_SESSION, it identifies again, and what is dispatched until then is lost."""
        self._shards[shard].lost = True
        self._ready.clear()
        await self.drop(shard)

    async def wait_ready(self, within: float = 5) -> None:
        await asyncio.wait_for(self._ready.wait(), within)

    async def wait_resumed(self, within: float = 5) -> None:
        await asyncio.wait_for(self._resumed.wait(), within)

    # ------------------------------------------------------------------ what members do

    def _message_payload(
        self,
        channel_id: str,
        author: dict[str, Any],
        content: str,
        *,
        at: datetime | None = None,
        reply_to: str | None = None,
        mentions: tuple[dict[str, Any], ...] = (),
        webhook: bool = False,
    ) -> dict[str, Any]:
        moment = at or self.now()
        channel = self.channels.get(channel_id) or self.dm_channels[channel_id]
        guild_id = channel.get("guild_id")
        message: dict[str, Any] = {
            "id": self._new_id(moment),
            "channel_id": channel_id,
            "author": author,
            "content": content,
            "timestamp": iso(moment),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [
                user | {"member": self._member_fields(guild_id, user["id"])} for user in mentions
            ],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "reactions": [],
            "pinned": False,
            "type": 19 if reply_to else 0,
            "flags": 0,
            "components": [],
        }
        if guild_id is not None:
            message["guild_id"] = guild_id
            if not webhook:
                message["member"] = self._member_fields(guild_id, author["id"])
        if webhook:
            message["webhook_id"] = self._new_id()
        if reply_to is not None:
            original = self.find_message(reply_to)
            message["message_reference"] = {
                "type": 0,
                "message_id": reply_to,
                "channel_id": original["channel_id"],
                "guild_id": guild_id,
            }
            message["referenced_message"] = {
                k: v for k, v in original.items() if k not in ("member", "reactions")
            }
        return message

    def _member_fields(self, guild_id: str | None, user_id: str) -> dict[str, Any] | None:
        if guild_id is None:
            return None
        with contextlib.suppress(KeyError):
            return {k: v for k, v in self.member(guild_id, user_id).items() if k != "user"}
        return None

    def find_message(self, message_id: str) -> dict[str, Any]:
        for messages in self.messages.values():
            for message in messages:
                if message["id"] == message_id:
                    return message
        raise KeyError(f"no message {message_id}")

    def record_history(
        self, channel_id: str, author: dict[str, Any], content: str, **kwargs: Any
    ) -> dict[str, Any]:
        """A message that was posted before the bot came (history only, no dispatch)."""
        message = self._message_payload(channel_id, author, content, **kwargs)
        self.messages[channel_id].append(message)
        return message

    async def post(
        self, channel_id: str, author: dict[str, Any], content: str, **kwargs: Any
    ) -> dict[str, Any]:
        """A member posts: stored in history and dispatched as MESSAGE_CREATE."""
        message = self.record_history(channel_id, author, content, **kwargs)
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    async def edit(self, message_id: str, content: str) -> None:
        message = self.find_message(message_id)
        message["content"] = content
        message["edited_timestamp"] = iso(self.now())
        await self.dispatch("MESSAGE_UPDATE", message)

    async def delete(self, message_id: str) -> None:
        message = self.find_message(message_id)
        self.messages[message["channel_id"]].remove(message)
        payload = {"id": message_id, "channel_id": message["channel_id"]}
        if "guild_id" in message:
            payload["guild_id"] = message["guild_id"]
        await self.dispatch("MESSAGE_DELETE", payload)

    async def react(self, message_id: str, user: dict[str, Any], emoji: str) -> None:
        message = self.find_message(message_id)
        guild_id = message["guild_id"]
        reactions = message["reactions"]
        entry = next((r for r in reactions if r["emoji"]["name"] == emoji), None)
        if entry is None:
            entry = {"emoji": {"id": None, "name": emoji}, "count": 0, "me": False, "users": []}
            reactions.append(entry)
        entry["count"] += 1
        entry["users"].append(user)
        await self.dispatch(
            "MESSAGE_REACTION_ADD",
            {
                "user_id": user["id"],
                "channel_id": message["channel_id"],
                "message_id": message_id,
                "guild_id": guild_id,
                "member": self.member(guild_id, user["id"]),
                "emoji": {"id": None, "name": emoji},
                "message_author_id": message["author"]["id"],
                "burst": False,
                "burst_colors": [],
                "type": 0,
            },
        )

    async def unreact(self, message_id: str, user: dict[str, Any], emoji: str) -> None:
        message = self.find_message(message_id)
        entry = next(r for r in message["reactions"] if r["emoji"]["name"] == emoji)
        entry["users"] = [u for u in entry["users"] if u["id"] != user["id"]]
        entry["count"] -= 1
        if not entry["count"]:
            message["reactions"].remove(entry)
        await self.dispatch(
            "MESSAGE_REACTION_REMOVE",
            {
                "user_id": user["id"],
                "channel_id": message["channel_id"],
                "message_id": message_id,
                "guild_id": message["guild_id"],
                "emoji": {"id": None, "name": emoji},
                "burst": False,
                "type": 0,
            },
        )

    async def join(self, guild_id: str, name: str, *, dms_closed: bool = False) -> dict[str, Any]:
        """A new member joins; with ``dms_closed`` they refuse direct messages from the start."""
        user = self._user_payload(self._new_id(), name)
        if dms_closed:
            self.closed_dms.add(user["id"])
        member = self._member_payload(user, [])
        self.guilds[guild_id]["members"].append(member)
        await self.dispatch("GUILD_MEMBER_ADD", member | {"guild_id": guild_id})
        return user

    async def leave(self, guild_id: str, user: dict[str, Any]) -> None:
        members = self.guilds[guild_id]["members"]
        members.remove(self.member(guild_id, user["id"]))
        await self.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": guild_id, "user": user})

    def _thread_payload(self, parent_id: str, owner: dict[str, Any], name: str) -> dict[str, Any]:
        moment = self.now()
        parent = self.channels[parent_id]
        return {
            "id": self._new_id(moment),
            "type": PUBLIC_THREAD,
            "guild_id": parent["guild_id"],
            "parent_id": parent_id,
            "owner_id": owner["id"],
            "name": name,
            "message_count": 0,
            "member_count": 1,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
            "applied_tags": [],
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": iso(moment),
                "locked": False,
                "create_timestamp": iso(moment),
            },
        }

    async def open_thread(self, parent_id: str, owner: dict[str, Any], name: str) -> str:
        """A member opens a thread (in a text channel, or a post in a forum)."""
        thread = self._thread_payload(parent_id, owner, name)
        self.channels[thread["id"]] = thread
        self.messages[thread["id"]] = []
        self.guilds[thread["guild_id"]]["threads"].append(thread)
        await self.dispatch("THREAD_CREATE", thread | {"newly_created": True})
        return thread["id"]

    async def archive(self, thread_id: str) -> None:
        """A thread is archived: it leaves the guild's active threads (THREAD_UPDATE)."""
        thread = self.channels[thread_id]
        thread["thread_metadata"] |= {"archived": True, "archive_timestamp": iso(self.now())}
        guild = self.guilds[thread["guild_id"]]
        guild["threads"] = [t for t in guild["threads"] if t["id"] != thread_id]
        await self.dispatch("THREAD_UPDATE", thread)

    def archived_thread(self, parent_id: str, owner: dict[str, Any], name: str) -> str:
        """A thread archived before the bot came: only REST (archived threads, history) shows it."""
        thread = self._thread_payload(parent_id, owner, name)
        thread["thread_metadata"]["archived"] = True
        self.channels[thread["id"]] = thread
        self.messages[thread["id"]] = []
        return thread["id"]

    async def invoke(
        self,
        guild_id: str,
        channel_id: str,
        user: dict[str, Any],
        command: str,
        options: dict[str, Any] | None = None,
        *,
        autocomplete: str | None = None,
    ) -> str:
        """A member runs a slash command (``"prompt add"``) with option values; returns its id.

        Member options are given as user payloads, channel options as channel ids. With
        ``autocomplete`` set to an option name, sends an autocomplete request for that option.
        """
        synced = {c["name"]: c for c in self.synced_commands.get(guild_id, [])}
        words = command.split()
        if words[0] not in synced:
            raise AssertionError(f"/{words[0]} was not synced to guild {guild_id}")
        return await self._interaction(
            synced[words[0]],
            words,
            options,
            autocomplete=autocomplete,
            guild_id=guild_id,
            channel=self.channels[channel_id],
            user=user,
        )

    async def invoke_direct(
        self, user: dict[str, Any], command: str, options: dict[str, Any] | None = None
    ) -> str:
        """A member runs a slash command in their direct message with the bot; returns its id.

        As on Discord, only global commands whose contexts include direct messages (1) exist there.
        """
        synced = {c["name"]: c for c in self.global_commands if 1 in (c.get("contexts") or [])}
        words = command.split()
        if words[0] not in synced:
            raise AssertionError(f"/{words[0]} is not offered in direct messages")
        bot_dm = self._dm_channel(user["id"])
        return await self._interaction(
            synced[words[0]], words, options, guild_id=None, channel=bot_dm, user=user
        )

    async def _interaction(
        self,
        top: dict[str, Any],
        words: list[str],
        options: dict[str, Any] | None,
        *,
        guild_id: str | None,
        channel: dict[str, Any],
        user: dict[str, Any],
        autocomplete: str | None = None,
    ) -> str:
        definition, leaf_options = top, None
        nested: list[dict[str, Any]] = []
        container = nested
        for word in words[1:]:
            sub = next(o for o in definition.get("options", []) if o["name"] == word)
            entry: dict[str, Any] = {"name": word, "type": sub["type"], "options": []}
            container.append(entry)
            container = entry["options"]
            definition = sub
        leaf_options = container
        resolved: dict[str, dict[str, Any]] = {}
        for option in definition.get("options", []):
            name = option["name"]
            if name not in (options or {}):
                continue
            value = (options or {})[name]
            if option["type"] == 6:
                resolved.setdefault("users", {})[value["id"]] = value
                member = self._member_fields(guild_id, value["id"])
                if member is not None and guild_id is not None:
                    resolved.setdefault("members", {})[value["id"]] = member | {
                        "permissions": str(self._permissions(guild_id, value["id"]))
                    }
                value = value["id"]
            elif option["type"] == 7:
                resolved.setdefault("channels", {})[value] = {
                    **{k: self.channels[value][k] for k in ("id", "type", "name")},
                    "permissions": str(EVERYONE_PERMISSIONS),
                    **({"parent_id": p} if (p := self.channels[value].get("parent_id")) else {}),
                    **(
                        {"thread_metadata": self.channels[value]["thread_metadata"]}
                        if "thread_metadata" in self.channels[value]
                        else {}
                    ),
                }
            entry = {"name": name, "type": option["type"], "value": value}
            if autocomplete == name:
                entry["focused"] = True
            leaf_options.append(entry)
        interaction_id = self._new_id()
        payload: dict[str, Any] = {
            "id": interaction_id,
            "application_id": self.application_id,
            "type": 4 if autocomplete else 2,
            "data": {
                "id": top["id"],
                "name": words[0],
                "type": 1,
                "options": nested or leaf_options,
                "resolved": resolved,
            },
            "channel_id": channel["id"],
            "channel": {k: v for k, v in channel.items() if k != "permission_overwrites"},
            "token": f"token-{interaction_id}",
            "version": 1,
            "app_permissions": str(EVERYONE_PERMISSIONS),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if guild_id is not None:
            # In a server: the member with their permissions; the app is installed there.
            member = self.member(guild_id, user["id"])
            payload |= {
                "guild_id": guild_id,
                "member": member | {"permissions": str(self._permissions(guild_id, user["id"]))},
                "guild_locale": "en-US",
                "authorizing_integration_owners": {"0": guild_id},
                "context": 0,
            }
            payload["data"]["guild_id"] = guild_id
        else:
            # In the bot's direct message: the user alone (context 1, BOT_DM).
            payload |= {"user": user, "authorizing_integration_owners": {"0": "0"}, "context": 1}
        self.callbacks[interaction_id] = []
        self._invokers[interaction_id] = user
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction_id

    async def wait_for(
        self, condition: Callable[[], Any], *, within: float = 5, what: str = "condition"
    ) -> Any:
        """Poll until ``condition()`` is truthy (the client works concurrently with the test)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            value = condition()
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                self.check()
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)

    def requests_to(self, route: str) -> list[Recorded]:
        return [r for r in self.requests if r.route == route]

    # ------------------------------------------------------------------ REST

    def _declare_routes(self) -> None:
        add = self._routes.add
        add("GET", "/users/@me", lambda r: self.bot)
        add("GET", "/oauth2/applications/@me", self._application)
        add("GET", "/gateway", lambda r: {"url": f"ws://127.0.0.1:{self.port}/"})
        add("GET", "/gateway/bot", self._gateway_bot)
        add("GET", "/channels/{channel_id}", self._get_channel)
        add("POST", "/channels/{channel_id}/messages", self._create_message)
        add("GET", "/channels/{channel_id}/messages", self._history)
        add(
            "GET",
            "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}",
            self._reaction_users,
        )
        add("GET", "/channels/{channel_id}/threads/archived/public", self._archived_threads)
        add("POST", "/users/@me/channels", self._create_dm)
        add("POST", "/interactions/{interaction_id}/{token}/callback", self._callback)
        add("POST", "/webhooks/{application_id}/{token}", self._followup)
        add("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self._sync)
        add("PUT", "/applications/{application_id}/commands", self._sync)
        add("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self._commands)

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        matched = self._routes.match(request.method, path)
        if matched is None:
            self.errors.append(f"unknown route {request.method} {path}")
            return self._json({"message": "404: Not Found", "code": 0}, status=404)
        route, params, handler = matched
        body, files = await self._read_body(request)
        record = Recorded(request.method, route, path, params, dict(request.query), body, files)
        self.requests.append(record)
        if self.rate_limited.get(route):
            self.rate_limited[route] -= 1
            return self._json(
                {"message": "You are being rate limited.", "retry_after": 0.05, "global": False},
                status=429,
                # discord.py takes a 429 without Discord's proxy header for a Cloudflare ban.
                headers={"Retry-After": "0.05", "X-RateLimit-Scope": "user", "Via": "1.1 google"},
            )
        try:
            result = handler(record)
            if asyncio.iscoroutine(result):
                result = await result
        except _HttpError as error:
            return self._json(error.body, status=error.status)
        except Exception as error:
            self.errors.append(f"the loopback server failed on {route}: {error!r}")
            return self._json({"message": "loopback failure", "code": 0}, status=400)
        status = 204 if result is None else 200
        return self._json(result, status=status)

    @staticmethod
    async def _read_body(request: web.Request) -> tuple[Any, list[tuple[str, bytes]]]:
        if request.content_type.startswith("multipart/"):
            body: Any = None
            files: list[tuple[str, bytes]] = []
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    body = json.loads(data)
                else:
                    files.append((part.filename or "", bytes(data)))  # type: ignore[union-attr]
            return body, files
        text = await request.text()
        return (json.loads(text) if text else None), []

    @staticmethod
    def _json(
        data: Any, *, status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        # discord.py decodes JSON only when the content type is exactly application/json.
        all_headers = {
            "Content-Type": "application/json",
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "4",
            "X-RateLimit-Reset-After": "0.05",
            "X-RateLimit-Bucket": "loopback",
        } | (headers or {})
        text = "" if status == 204 else json.dumps(data)
        return web.Response(body=text.encode(), status=status, headers=all_headers)

    def _application(self, record: Recorded) -> dict[str, Any]:
        return {
            "id": self.application_id,
            "name": "Trellis",
            "description": "",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": self._user_payload("1", "Owner"),
            "verify_key": "00",
            "flags": 0,
            "team": None,
            "summary": "",
        }

    def _gateway_bot(self, record: Recorded) -> dict[str, Any]:
        return {
            "url": f"ws://127.0.0.1:{self.port}/",
            "shards": self.shard_count,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }

    def _get_channel(self, record: Recorded) -> dict[str, Any]:
        channel_id = record.params["channel_id"]
        if channel_id in self.channels:
            return self.channels[channel_id]
        raise _HttpError(404, {"message": "Unknown Channel", "code": 10003})

    def _create_message(self, record: Recorded) -> Any:
        channel_id = record.params["channel_id"]
        if channel_id in self.dm_channels:
            recipient = self.dm_channels[channel_id]["recipients"][0]
            if recipient["id"] in self.closed_dms:
                raise _HttpError(
                    403, {"message": "Cannot send messages to this user", "code": 50007}
                )
        elif channel_id not in self.channels:
            raise _HttpError(404, {"message": "Unknown Channel", "code": 10003})
        body = record.body or {}
        message = self._message_payload(channel_id, self.bot, body.get("content") or "")
        message["attachments"] = [
            {
                "id": self._new_id(),
                "filename": name,
                "size": len(data),
                "url": f"http://127.0.0.1:{self.port}/files/{name}",
                "proxy_url": f"http://127.0.0.1:{self.port}/files/{name}",
            }
            for name, data in record.files
        ]
        self.messages[channel_id].append(message)
        # Discord echoes the bot's own messages on the gateway; the adapter must ignore them.
        return self._echo(message)

    async def _echo(self, message: dict[str, Any]) -> dict[str, Any]:
        shard = self._shards[self.shard_of(message.get("guild_id"))]
        if shard.session is not None and message["channel_id"] in self.channels:
            await self.dispatch("MESSAGE_CREATE", message)
        return message

    def _history(self, record: Recorded) -> list[dict[str, Any]]:
        channel_id = record.params["channel_id"]
        query = record.query
        limit = int(query.get("limit", 50))
        messages = sorted(self.messages.get(channel_id, []), key=lambda m: int(m["id"]))
        if "after" in query:
            page = [m for m in messages if int(m["id"]) > int(query["after"])][:limit]
        elif "before" in query:
            page = [m for m in messages if int(m["id"]) < int(query["before"])][-limit:]
        else:
            page = messages[-limit:]
        # Discord answers newest first whatever the direction.
        return [self._public(m) for m in reversed(page)]

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        public = dict(message)
        public["reactions"] = [
            {"emoji": r["emoji"], "count": r["count"], "me": False} for r in message["reactions"]
        ]
        return public

    def _reaction_users(self, record: Recorded) -> list[dict[str, Any]]:
        message = self.find_message(record.params["message_id"])
        emoji = record.params["emoji"]
        from urllib.parse import unquote

        emoji = unquote(emoji)
        entry = next((r for r in message["reactions"] if r["emoji"]["name"] == emoji), None)
        users = sorted(entry["users"] if entry else [], key=lambda u: int(u["id"]))
        after = int(record.query.get("after", 0))
        limit = int(record.query.get("limit", 25))
        return [u for u in users if int(u["id"]) > after][:limit]

    def _archived_threads(self, record: Recorded) -> dict[str, Any]:
        """Newest archived first, those archived before ``before`` (ISO time), ``limit`` a page."""
        parent_id = record.params["channel_id"]
        threads = sorted(
            (
                c
                for c in self.channels.values()
                if c.get("parent_id") == parent_id and c.get("thread_metadata", {}).get("archived")
            ),
            key=lambda c: c["thread_metadata"]["archive_timestamp"],
            reverse=True,
        )
        if "before" in record.query:
            before = datetime.fromisoformat(record.query["before"])
            threads = [
                t
                for t in threads
                if datetime.fromisoformat(t["thread_metadata"]["archive_timestamp"]) < before
            ]
        limit = int(record.query.get("limit", 50))
        return {"threads": threads[:limit], "members": [], "has_more": len(threads) > limit}

    def _create_dm(self, record: Recorded) -> dict[str, Any]:
        return self._dm_channel(str(record.body["recipient_id"]))

    def _dm_channel(self, user_id: str) -> dict[str, Any]:
        for channel in self.dm_channels.values():
            if channel["recipients"][0]["id"] == user_id:
                return channel
        members = [m["user"] for g in self.guilds.values() for m in g["members"]]
        user = next(u for u in [*members, *self.strangers] if u["id"] == user_id)
        channel = {"id": self._new_id(), "type": DM, "recipients": [user], "last_message_id": None}
        self.dm_channels[channel["id"]] = channel
        self.messages[channel["id"]] = []
        return channel

    def _interaction_message(self, interaction_id: str, data: dict[str, Any]) -> dict[str, Any]:
        message = self._message_payload_for_webhook(data)
        message["interaction_metadata"] = {
            "id": interaction_id,
            "type": 2,
            "user": self._invokers[interaction_id],
            "authorizing_integration_owners": {},
        }
        return message

    def _message_payload_for_webhook(self, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self._new_id(),
            "channel_id": "0",
            "author": self.bot,
            "content": data.get("content") or "",
            "timestamp": iso(self.now()),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 20,
            "flags": int(data.get("flags") or 0),
            "components": [],
        }

    def _callback(self, record: Recorded) -> dict[str, Any] | None:
        interaction_id = record.params["interaction_id"]
        if interaction_id not in self.callbacks:
            raise _HttpError(404, {"message": "Unknown interaction", "code": 10062})
        if self.callbacks[interaction_id]:
            raise _HttpError(
                400, {"message": "Interaction has already been acknowledged.", "code": 40060}
            )
        body = record.body
        self.callbacks[interaction_id].append(body)
        kind = body["type"]
        data = body.get("data") or {}
        answer: dict[str, Any] = {
            "interaction": {
                "id": interaction_id,
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & 64),
            },
            "resource": {"type": kind},
        }
        if kind in (4, 5):
            message = self._interaction_message(interaction_id, data)
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"]["message"] = message
        return answer

    def _followup(self, record: Recorded) -> dict[str, Any]:
        token = record.params["token"]
        interaction_id = token.removeprefix("token-")
        if interaction_id not in self.callbacks or not self.callbacks[interaction_id]:
            raise _HttpError(404, {"message": "Unknown Webhook", "code": 10015})
        self.callbacks[interaction_id].append({"followup": record.body})
        return self._interaction_message(interaction_id, record.body or {})

    def _sync(self, record: Recorded) -> list[dict[str, Any]]:
        guild_id = record.params.get("guild_id")
        wrong = [name for command in record.body for name in _wrong_names(command)]
        if wrong:
            # As Discord does: the whole sync is refused, naming what is wrong.
            raise _HttpError(400, {"message": f"Invalid Form Body: names {wrong}", "code": 50035})
        commands = [
            command
            | {
                "id": self._new_id(),
                "application_id": self.application_id,
                "guild_id": guild_id,
                "version": self._new_id(),
                # Discord answers permissions as a string, whatever type was sent.
                "default_member_permissions": (
                    None
                    if command.get("default_member_permissions") is None
                    else str(command["default_member_permissions"])
                ),
                "nsfw": command.get("nsfw", False),
            }
            for command in record.body
        ]
        if guild_id is None:
            self.global_commands = commands
        else:
            self.synced_commands[guild_id] = commands
        return commands

    def _commands(self, record: Recorded) -> list[dict[str, Any]]:
        return self.synced_commands.get(record.params["guild_id"], [])

    def interaction_answers(self, interaction_id: str) -> list[dict[str, Any]]:
        """The callback and followups the bot sent for an interaction, in order."""
        return self.callbacks.get(interaction_id, [])


def _wrong_names(definition: dict[str, Any]) -> list[str]:
    """Names of a command, its options and their localizations that Discord refuses: a name is 1
    to 32 letters, digits, ``-`` or ``_``, lower case where the script has case; a choice's name
    is 1 to 100 characters."""
    names = [definition["name"], *(definition.get("name_localizations") or {}).values()]
    wrong = [
        name
        for name in names
        if not (
            0 < len(name) <= 32
            and all(c.isalnum() or c in "-_" for c in name)
            and name == name.lower()
        )
    ]
    for choice in definition.get("choices") or []:
        shown = [choice["name"], *(choice.get("name_localizations") or {}).values()]
        wrong += [name for name in shown if not 0 < len(name) <= 100]
    for option in definition.get("options") or []:
        wrong += _wrong_names(option)
    return wrong


class _HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body["message"])
        self.status = status
        self.body = body


@dataclass
class Commons:
    """A small community of practice on the loopback server, and its Trellis configuration.

    One guild with a facilitator role, channels ``general``, ``water`` (theme "water"), a forum
    ``cases`` (theme "cases"), ``digest``; members Ana, Ben and Fede (facilitator), and a bot.
    """

    server: LoopbackDiscord
    guild: str
    facilitator_role: str
    general: str
    water: str
    cases: str
    digest: str
    ana: dict[str, Any]
    ben: dict[str, Any]
    fede: dict[str, Any]
    other_bot: dict[str, Any]

    @classmethod
    def build(cls, server: LoopbackDiscord) -> Commons:
        guild = server.add_guild("Practice Commons")
        facilitator_role = server.add_role(guild, "Facilitators", permissions=MANAGE_GUILD)
        return cls(
            server=server,
            guild=guild,
            facilitator_role=facilitator_role,
            general=server.add_channel(guild, "general"),
            water=server.add_channel(guild, "water"),
            cases=server.add_channel(guild, "cases", kind=GUILD_FORUM),
            digest=server.add_channel(guild, "digest"),
            ana=server.add_member(guild, "Ana"),
            ben=server.add_member(guild, "Ben"),
            fede=server.add_member(guild, "Fede", roles=(facilitator_role,)),
            other_bot=server.add_member(guild, "Helper Bot", bot=True),
        )

    def config(self, **extra: Any) -> dict[str, Any]:
        """Trellis settings (as parsed TOML) for this community, id ``commons``."""
        community = {
            "name": "Practice Commons",
            "discord_guild_id": self.guild,
            "themes": {
                "water": {"name": "Water and sanitation", "places": [f"discord:{self.water}"]},
                "cases": {"name": "Case studies", "places": [f"discord:{self.cases}"]},
            },
            "roles": {"facilitators": [f"discord-role:{self.facilitator_role}"]},
            "digest": {"channel": f"discord:{self.digest}"},
        } | extra
        return {
            "adapters": {"console": {"enabled": False}, "discord": {"enabled": True}},
            "communities": {"commons": community},
        }
