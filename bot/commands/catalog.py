"""Babel's extractor of command words (``babel.cfg`` names it): what every feature's commands
say beside their help, for ``update_catalogs.py`` to put in every catalog for translators."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bot.commands.words import CONTEXT, PUBLIC_HELP, vocabulary
from bot.features import all_commands


def extract(
    fileobj: Any, keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[Any, ...]]:
    """Babel's extractor (``babel.cfg``) for what the specs say beside their help: each command
    word as ``pgettext("command", …)``, and each parameter's description."""
    for english in vocabulary(all_commands()):
        yield 0, "pgettext", (CONTEXT, english), []
    helps = dict.fromkeys(
        param.help for spec in all_commands() for param in spec.params if param.help
    )
    for help_ in (*helps, PUBLIC_HELP):
        yield 0, "gettext", help_, []
