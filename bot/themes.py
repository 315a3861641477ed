"""Thematic groups: which theme a place or a message belongs to, from the configuration."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.config import CommunitySettings, ThemeSettings
from bot.events import ChannelRef


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
        self._keywords = [
            (
                theme.id,
                re.compile(
                    r"\b(?:" + "|".join(map(re.escape, theme.settings.keywords)) + r")\b", re.I
                ),
            )
            for theme in self.themes.values()
            if theme.settings.keywords
        ]

    def for_place(self, channel: ChannelRef) -> str | None:
        if channel.thread_key and channel.thread_key in self._places:
            return self._places[channel.thread_key]
        return self._places.get(channel.key)

    def for_message(self, channel: ChannelRef, text: str) -> str | None:
        theme = self.for_place(channel)
        if theme is not None:
            return theme
        for theme_id, pattern in self._keywords:
            if pattern.search(text):
                return theme_id
        return None

    def find(self, word: str) -> Theme | None:
        """A theme by id, or by its name ignoring case."""
        word = word.strip().lstrip("#").casefold()
        for theme in self.themes.values():
            if word in (theme.id, theme.name.casefold()):
                return theme
        return None

    def prompt_place(self, theme: Theme) -> str | None:
        return theme.settings.prompt_place or (
            theme.settings.places[0] if theme.settings.places else None
        )
