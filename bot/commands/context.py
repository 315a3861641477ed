"""What a command handler is given: who asked, where, when, and the community to act in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.commands.permissions import Scope, scope_of
from bot.commands.spec import CommandSpec, Permission
from bot.community import Community
from bot.config import CommunitySettings, Settings
from bot.events import CommandInvoked
from bot.i18n import Translator
from bot.themes import ThemeMap
from storage.contract import Store, Unit
from storage.members import MemberRow


class CommandError(Exception):
    """Bad input: one sentence (an English catalog message with ``{placeholders}``) for the member.

    The router translates it into the community's language and fills in ``values``.
    """

    def __init__(self, message: str, /, **values: object) -> None:
        super().__init__(message.format(**values) if values else message)
        self.message = message
        self.values = values


@dataclass(slots=True)
class CommandContext:
    community: Community
    invocation: CommandInvoked
    member: MemberRow
    permission: Permission
    translator: Translator
    now: datetime
    commands: tuple[CommandSpec, ...]
    """Every command Trellis knows (``help`` lists those the member may use)."""
    wrote: bool = False
    """Whether the command opened its unit of work (it has one at most)."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Unit]:
        """The command's one unit of work: everything it writes lands together, or nothing
        does when it fails half-way."""
        if self.wrote:
            raise RuntimeError(f"{self.invocation.command} opened a second unit of work")
        self.wrote = True
        async with self.community.store.transaction() as tx:
            yield tx

    @property
    def store(self) -> Store:
        return self.community.store

    @property
    def config(self) -> Settings:
        return self.community.config

    @property
    def settings(self) -> CommunitySettings:
        return self.community.settings

    @property
    def themes(self) -> ThemeMap:
        return self.community.themes

    @property
    def prefix(self) -> str:
        """How commands are typed where this one was ("/" or "!trellis ")."""
        return self.community.command_prefix(self.invocation.channel.platform)

    @property
    def named_options(self) -> bool:
        """Whether commands take their values as named options where this one was (Discord)."""
        return self.community.named_options(self.invocation.channel.platform)

    @property
    def scope(self) -> Scope:
        """What this member may act on (the themes they lead, the items they own)."""
        return scope_of(self.settings, self.invocation.member.key, self.permission, self.member.id)

    @property
    def message_limit(self) -> int:
        """The longest answer the place where the member asked takes in one message."""
        return self.community.message_limit(self.invocation.channel.platform)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    @property
    def day_offset(self) -> int:
        """Seconds the community's clock is ahead of UTC now: the rollups count its local days."""
        offset = self.now.astimezone(self.tz).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    def _(self, message: str, /, **values: object) -> str:
        return self.translator._(message, **values)

    def n_(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        return self.translator.n_(singular, plural, n, **values)
