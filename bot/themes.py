"""Thematic groups: which theme a place or a message belongs to, from the configuration."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.config import CommunitySettings, ThemeSettings
from bot.events import ChannelRef

PLACES_CACHED = 10_000
"""Channels and threads whose theme is remembered; the cache starts afresh past this many."""


@dataclass(frozen=True, slots=True)
class Theme:
    id: str
    settings: ThemeSettings

    @property
    def name(self) -> str:
        return self.settings.name


class ThemeMap:
    """Resolves a place (thread first, then channel) or keywords in a message to a theme id."""

    def __init__(self, community: CommunitySettings) -> None:
        self.themes = {
            theme_id: Theme(theme_id, theme) for theme_id, theme in community.themes.items()
        }
        self._places: dict[str, str] = {}
        for theme in self.themes.values():
            for place in theme.settings.places:
                self._places.setdefault(place, theme.id)
        # One pattern for all themes: a message is scanned once, and the first keyword in it wins.
        alternatives = [
            f"(?P<t{index}>" + "|".join(map(re.escape, theme.settings.keywords)) + ")"
            for index, theme in enumerate(self.themes.values())
            if theme.settings.keywords
        ]
        self._keywords = (
            re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.I) if alternatives else None
        )
        self._group_theme = {
            f"t{index}": theme.id for index, theme in enumerate(self.themes.values())
        }
        self._place_cache: dict[ChannelRef, str | None] = {}

    def for_place(self, channel: ChannelRef) -> str | None:
        try:
            return self._place_cache[channel]
        except KeyError:
            pass
        theme: str | None
        if channel.thread_key and channel.thread_key in self._places:
            theme = self._places[channel.thread_key]
        else:
            theme = self._places.get(channel.key)
        if len(self._place_cache) >= PLACES_CACHED:
            self._place_cache.clear()  # threads come and go: the cache must not grow with them
        self._place_cache[channel] = theme
        return theme

    def for_message(self, channel: ChannelRef, text: str) -> str | None:
        theme = self.for_place(channel)
        if theme is not None or self._keywords is None:
            return theme
        match = self._keywords.search(text)
        # Every alternative of the pattern is a named group, so a match always has a lastgroup.
        return self._group_theme[match.lastgroup] if match and match.lastgroup else None

    def find(self, word: str) -> Theme | None:
        """A theme by id, or by its name ignoring case."""
        word = word.strip().lstrip("#").casefold()
        for theme in self.themes.values():
            if word in (theme.id, theme.name.casefold()):
                return theme
        return None

    def prompt_places(self, theme: Theme) -> tuple[str, ...]:
        """Where the theme's prompts go, one place per platform: as configured, else its first
        place on each platform."""
        settings = theme.settings
        if settings.prompt_place is not None:
            return (settings.prompt_place,)
        if settings.prompt_places:
            return tuple(settings.prompt_places)
        first: dict[str, str] = {}
        for place in settings.places:
            first.setdefault(place.partition(":")[0], place)
        return tuple(first.values())
