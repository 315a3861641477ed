"""How a command is declared: its words, its typed parameters, who may use it, whose eyes it is for.

Adapters turn these specs into their platform's form (Discord slash commands with typed options,
``!trellis`` words on Matrix, ``/words`` on the console); the engine parses and checks them here,
in one place, for every platform.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.outgoing import OutgoingMessage


class Permission(enum.IntEnum):
    """Who may run a command. Higher includes lower: an admin may do what a facilitator may."""

    MEMBER = 0
    THEME_LEADER = 1
    FACILITATOR = 2
    ADMIN = 3


class ParamKind(enum.Enum):
    MEMBER = "member"
    """A member of the community: a mention, a platform id, or an exact display name."""
    CHANNEL = "channel"
    THEME = "theme"
    """A configured theme's id (autocompleted where the platform can)."""
    PERIOD = "period"
    """A span of time: ``7d``, ``4w``, ``2026-W40``, ``2026-10``, ``2026-Q4``, ``2026-10-01..2026-10-31``."""
    DURATION = "duration"
    """A length of time: ``90d``, ``6w``, ``12h``."""
    DATE = "date"
    """A calendar date, ``YYYY-MM-DD``."""
    DATETIME = "datetime"
    """A date with an optional time, ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM`` (community's timezone)."""
    INTEGER = "integer"
    CHOICE = "choice"
    TEXT = "text"
    """Free text. As the last parameter it takes the rest of the line."""
    WORD = "word"
    """One token of free text."""
    COMMAND = "command"
    """A command's name, or the first word of several (``prompt``)."""


TEXT_CHARS = 500
"""The longest free text a parameter takes unless it says otherwise (a reason, a title, a prompt)."""
WORD_CHARS = 256
"""The longest single token (a date, a theme id, a name or Matrix id): anything longer is not one."""


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: ParamKind
    help: str
    required: bool = True
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    """Characters at most; by default ``TEXT_CHARS`` for text, ``WORD_CHARS`` for the rest."""
    syntax: str = ""
    """How a value of several parts is written, in command words and ``<placeholders>``
    (``<what> by <YYYY-MM-DD>``): usage lines show it instead of ``<name>``."""

    @property
    def longest(self) -> int:
        if self.max_length is not None:
            return self.max_length
        return TEXT_CHARS if self.kind is ParamKind.TEXT else WORD_CHARS


PAGE = Param("page", ParamKind.INTEGER, "Which page of a long list (1 by default)", required=False)
"""The optional last parameter of every command that answers a list. Usage lines leave it out:
every long answer names the command for its next page."""

Handler = Callable[..., Awaitable["OutgoingMessage | str"]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command. ``name`` is its words (``"prompt add"``); ``group`` the first word for nesting."""

    name: str
    help: str
    handler: Handler
    params: tuple[Param, ...] = ()
    permission: Permission = Permission.MEMBER
    private: bool = False
    """The answer concerns the invoker alone (their data, what they just did): only they see it
    (Discord ephemeral; on Matrix and console a direct answer). Any other answer is private too
    unless the member adds ``public`` (``bot.commands.words.split_public``)."""

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.name.split())


def match_command(names: list[str] | tuple[str, ...], line: str) -> tuple[str, str]:
    """Split a typed command line into (command words, rest), preferring the longest known command.

    Words are matched whole (``"prompts"`` never matches ``"prompt"``). An unknown command comes back
    as its first word, so that the engine can say it is unknown.
    """
    tokens = line.strip().split(None)
    best = ""
    for name in names:
        words = name.split()
        if [t.lower() for t in tokens[: len(words)]] == words and len(name) > len(best):
            best = name
    command = best or (tokens[0].lower() if tokens else "")
    rest = line.strip()
    for _ in range(len(command.split())):
        rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
    return command, rest.strip()
