"""Command words in every language Trellis speaks: ``/ayuda``, ``compromiso … para 2026-11-20``.

Every word a member types to Trellis (a command's words, a choice such as ``lesson``, a keyword such
as commit's ``by`` or ``public``, a help topic, a parameter's name) is an English word in the source
and has its aliases in the catalogs, as a message with the context ``command``. A member may type
the English word or its alias in any catalog's language, in any case and with or without accents
(``leccion`` is ``lección``); what reaches a handler is always the English word.

``bot.commands.catalog.extract`` hands these words to Babel (``babel.cfg`` names it), so that
``update_catalogs.py`` puts them in every catalog for translators like any other message.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from bot.commands.spec import PAGE
from bot.i18n import catalog_locales, translations
from storage.profiles import PROFILE_FIELDS

if TYPE_CHECKING:
    from bot.commands.spec import CommandSpec
    from bot.events import CommandInvoked

CONTEXT = "command"
"""The catalogs' context of command words: ``done`` the command is not ``done`` the state."""

PUBLIC = "public"
"""The word (on Discord, the option) that shows a command's answer to everyone."""
PUBLIC_HELP = "Show the answer to everyone in the channel"
"""What the ``public`` option does, as Discord describes it."""

LANGUAGE = "language"
"""The profile label of the language Trellis writes to a member in (not a profile field:
``languages`` are those they speak)."""

PROFILE_LABELS = (*PROFILE_FIELDS, LANGUAGE)
"""What ``profile set`` takes: ``organisation:CANO language:pt``."""

KEYWORDS = ("by", PUBLIC, *PROFILE_LABELS)
"""Words typed inside a command's text, beside the command words and choices of the specs."""

TOPICS = ("community", "knowledge", "commitments", "events", "surveys", "facilitation", "privacy")
"""The topics ``help`` groups commands by, in the order it lists them."""


def normal(word: str) -> str:
    """How typed words are compared: case and accents ignored (``Lección`` is ``leccion``)."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def word(locale: str, english: str) -> str:
    """``english``'s alias in ``locale`` (the English word itself where there is none)."""
    return translations(locale).pgettext(CONTEXT, english)


def forms(english: str) -> frozenset[str]:
    """Every way ``english`` may be typed, compared with ``normal``."""
    return frozenset(normal(word(locale, english)) for locale in ("en", *sorted(catalog_locales())))


def vocabulary(specs: Iterable[CommandSpec]) -> list[str]:
    """The English words of ``specs`` with aliases in the catalogs, each once, in a stable order."""
    found: dict[str, None] = {}
    for spec in specs:
        found.update(dict.fromkeys(spec.words))
        for param in spec.params:
            found[param.name] = None
            found.update(dict.fromkeys(param.choices))
            placeholders = (w.strip("<>[]") for w in param.syntax.split())
            found.update(dict.fromkeys(w for w in placeholders if re.fullmatch(r"[a-z_]+", w)))
    found.update(dict.fromkeys(KEYWORDS))
    found.update(dict.fromkeys(TOPICS))
    return list(found)


class Aliases:
    """Command names as typed in any language -> the English command name, longest first."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names: dict[tuple[str, ...], str] = {}
        for name in names:
            for typed in itertools.product(*(sorted(forms(w)) for w in name.split())):
                other = self._names.setdefault(typed, name)
                if other != name:
                    raise RuntimeError(f"“{' '.join(typed)}” would mean both {other} and {name}")
        self._longest = max((len(words) for words in self._names), default=1)

    def resolve(self, line: str) -> tuple[str | None, str]:
        """(English command name, the rest of the line as typed), or (None, line) if unknown."""
        tokens = line.split()
        for size in range(min(self._longest, len(tokens)), 0, -1):
            name = self._names.get(tuple(normal(t) for t in tokens[:size]))
            if name is not None:
                rest = line.strip()
                for _ in range(size):
                    parts = rest.split(None, 1)
                    rest = parts[1] if len(parts) > 1 else ""
                return name, rest.strip()
        return None, line.strip()


def english_choice(choices: Iterable[str], typed: str) -> str | None:
    """The English choice that ``typed`` is, in any language (None if it is none of them)."""
    wanted = normal(typed)
    return next((choice for choice in choices if wanted in forms(choice)), None)


def split_public(spec: CommandSpec, invocation: CommandInvoked) -> tuple[CommandInvoked, bool]:
    """The invocation without its ``public`` flag, and whether the member gave it.

    A member's answer is private unless they add ``public`` (the last word typed, or Discord's
    ``public`` option): ``/themes public`` shows the themes to everyone in the channel. A command
    whose answer concerns one person (``spec.private``) takes no such flag."""
    if spec.private:
        return invocation, False
    if invocation.options is not None:
        given = dict(invocation.options)
        if PUBLIC not in given:
            return invocation, False
        public = normal(str(given.pop(PUBLIC))) in ("true", *forms(PUBLIC))
        return replace(invocation, options=tuple(given.items())), public
    words = invocation.text.rsplit(None, 1)
    if words and normal(words[-1]) in forms(PUBLIC):
        return replace(invocation, text=words[0] if len(words) > 1 else ""), True
    return invocation, False


def usage(
    spec: CommandSpec,
    locale: str,
    *,
    named: bool = False,
    values: Mapping[str, str] | None = None,
) -> str:
    """How ``spec`` is typed, in ``locale``'s words: ``compromiso <qué> para <AAAA-MM-DD>``;
    ``named``: as the platform's named options, the required ones first, as Discord offers them
    (``library list [theme:<theme>]``); ``values``: with these parameters' values filled in and
    the others left out (``link code code:K7P2QX``).

    The page number is left out: every long answer names the command for its next page."""
    parts = [word(locale, w) for w in spec.words]
    params = [param for param in spec.params if param is not PAGE]
    if values is not None:
        params = [param for param in params if param.name in values]
    if named:
        params.sort(key=lambda param: not param.required)
    for param in params:
        if values is not None:
            label = values[param.name]
            parts.append(f"{word(locale, param.name)}:{label}" if named else label)
            continue
        if param.choices:
            label = "|".join(word(locale, choice) for choice in param.choices)
        elif param.syntax:
            label = " ".join(_syntax_word(locale, w) for w in param.syntax.split())
        else:
            label = f"<{word(locale, param.name)}>"
        if named:
            label = f"{word(locale, param.name)}:{label}"
        parts.append(label if param.required else f"[{label}]")
    return " ".join(parts)


def public_flag(locale: str, *, named: bool = False) -> str:
    """What a member adds to a command to show its answer to everyone: the word ``public``, or
    (``named``) the platform's option set to true (``public:True``)."""
    return f"{word(locale, PUBLIC)}:True" if named else word(locale, PUBLIC)


def offered(spec: CommandSpec, specs: Sequence[CommandSpec], *, named: bool = False) -> bool:
    """Whether ``spec`` can be typed on a platform (``named``: one of named options, where a
    command word that heads subcommands is only their group, so ``library`` alone is not one)."""
    if not named or len(spec.words) > 1:
        return True
    return not any(len(s.words) > 1 and s.words[0] == spec.words[0] for s in specs)


def _syntax_word(locale: str, token: str) -> str:
    """One word of a ``Param.syntax``: a keyword, a ``<placeholder>`` or a ``label:…`` named by
    a keyword is shown in ``locale``; anything else (``YYYY-MM-DD``) as written."""
    inner = token.strip("<>[]")
    if not inner:
        return token
    start = token[: len(token) - len(token.lstrip("<["))]
    end = token[len(token.rstrip(">]")) :]
    label, colon, value = inner.partition(":")
    return f"{start}{word(locale, label)}{colon}{value}{end}"
