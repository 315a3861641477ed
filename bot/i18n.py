"""Message catalogs: every sentence Trellis says goes through gettext, per community locale.

Catalogs are the ``.po`` files under ``bot/locale``; Babel compiles them in memory when first
needed, so a translator edits a text file and nothing else.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "trellis"


@cache
def translations(locale: str) -> gettext.NullTranslations:
    if locale == "en":
        return gettext.NullTranslations()
    po = resources.files("bot") / "locale" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


@cache
def catalog_locales() -> frozenset[str]:
    """The locales Trellis has a catalog for (English, the source, needs none)."""
    folder = resources.files("bot") / "locale"
    return frozenset(
        entry.name
        for entry in folder.iterdir()
        if (entry / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()
    )


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; it is translated where it is shown."""
    return message


class Translator:
    """``_`` and ``n_`` bound to one locale."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._t = translations(locale)

    def __reduce__(self) -> tuple[type[Translator], tuple[str]]:
        # Sent to the worker process (bot.worker) by its locale: it loads the catalog itself.
        return Translator, (self.locale,)

    def _(self, message: str, /, **values: object) -> str:
        text = self._t.gettext(message)
        return text.format(**values) if values else text

    def n_(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        return self._t.ngettext(singular, plural, n).format(n=n, **values)
