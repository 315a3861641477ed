"""What a digest section is given (the week, how members are named, the week's counts) and
what it gives back: a paragraph of the digest, or None to leave it out. Features add sections."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import CommunitySettings
from bot.i18n import Translator
from bot.outgoing import literal
from bot.themes import ThemeMap
from storage import activity
from storage.contract import Reads
from storage.privacy import hide_names


def excerpt(text: str, limit: int) -> str:
    """A short quotation on one line, cut between words."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"


@dataclass(slots=True)
class DigestContext:
    store: Reads
    community: str
    themes: ThemeMap
    settings: CommunitySettings
    start: datetime
    end: datetime
    names: dict[int, str]
    """Members as the digest names them: display names made literal, or Discord mentions."""
    translator: Translator
    this_week: activity.Totals
    week_before: activity.Totals
    """Counted once per digest: the themes, the numbers and the chart all read them."""
    hiding: re.Pattern[str] | None
    """Names of members who opted out, hidden in every text others wrote that the digest quotes."""
    sealed: frozenset[str] = frozenset()
    """Places (channel keys) whose messages this digest must not quote: encrypted ones, when
    the digest goes somewhere that is not."""

    def _(self, message: str, /, **values: object) -> str:
        return self.translator._(message, **values)

    def n_(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        return self.translator.n_(singular, plural, n, **values)

    def quote(self, text: str, limit: int = 0) -> str:
        """What a member wrote, with opted-out names hidden (before it is cut, so no part of a
        name is left), cut to ``limit`` characters if given, as literal text."""
        hidden = hide_names(text, self.hiding)
        return literal(excerpt(hidden, limit) if limit else hidden)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.timezone)

    @property
    def span(self) -> tuple[int, int]:
        return int(self.start.timestamp()), int(self.end.timestamp())


DigestSection = Callable[[DigestContext], Awaitable[str | None]]
