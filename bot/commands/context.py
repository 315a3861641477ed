"""What a command handler is given: who asked, where, when, and the application to act with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.commands.permissions import Scope, scope_of
from bot.commands.spec import Permission

if TYPE_CHECKING:
    from collections.abc import Mapping

    from bot.app import Trellis
    from bot.config import CommunitySettings
    from bot.events import CommandInvoked
    from bot.i18n import Translator
    from bot.ports import Adapter
    from bot.themes import ThemeMap
    from storage.members import MemberRow


ANSWER_LIMIT = 2000
"""The longest answer, in characters, on any platform: Discord's message limit, the smallest."""


def answer_limit(adapters: Mapping[str, Adapter], platform: str) -> int:
    """The longest answer a place on ``platform`` takes in one message."""
    adapter = adapters.get(platform)
    return min(adapter.message_limit, ANSWER_LIMIT) if adapter else ANSWER_LIMIT


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
    app: Trellis
    community: str
    settings: CommunitySettings
    invocation: CommandInvoked
    member: MemberRow
    permission: Permission
    themes: ThemeMap
    translator: Translator
    now: datetime

    @property
    def prefix(self) -> str:
        """How commands are typed where this one was ("/" or "!trellis ")."""
        return self.app.command_prefix(self.invocation.channel.platform)

    @property
    def scope(self) -> Scope:
        """What this member may act on (the themes they lead, the items they own)."""
        return scope_of(self.settings, self.invocation.member.key, self.permission, self.member.id)

    @property
    def message_limit(self) -> int:
        """The longest answer the place where the member asked takes in one message."""
        return answer_limit(self.app.adapters, self.invocation.channel.platform)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    def _(self, message: str, /, **values: object) -> str:
        return self.translator._(message, **values)

    def n_(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        return self.translator.n_(singular, plural, n, **values)
