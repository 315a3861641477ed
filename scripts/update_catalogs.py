"""Refresh Trellis's message template from the source and merge it into every language's catalog.

Run from anywhere: ``python3 scripts/update_catalogs.py``. It extracts with ``babel.cfg`` into
``bot/locale/trellis.pot``, then updates each ``bot/locale/<locale>/LC_MESSAGES/trellis.po``:
new messages arrive untranslated, reworded ones arrive marked fuzzy (a guess to review), and
messages no longer in the source are dropped. ``--new pt`` starts a catalog for another language.
``tests/test_i18n.py`` then names every message still to translate.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from babel.messages.frontend import CommandLineInterface

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "bot" / "locale"
TEMPLATE = LOCALE_DIR / "trellis.pot"
DOMAIN = "trellis"
# babel.cfg's extractor of command words (bot.commands.catalog) is imported from the project.
sys.path.insert(0, str(ROOT))


def pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "--quiet", *args])


def extract() -> None:
    pybabel(
        "extract",
        f"--mapping-file={ROOT / 'babel.cfg'}",
        f"--output-file={TEMPLATE}",
        "--project=Trellis",
        "--copyright-holder=Trellis contributors",
        # File names without line numbers, so that moving code does not churn every catalog.
        "--add-location=file",
        "--sort-by-file",
        ".",
    )


def update() -> list[str]:
    locales = sorted(
        path.parent.parent.name for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")
    )
    for locale in locales:
        pybabel(
            "update",
            f"--input-file={TEMPLATE}",
            f"--output-dir={LOCALE_DIR}",
            f"--domain={DOMAIN}",
            f"--locale={locale}",
            "--ignore-obsolete",
        )
    return locales


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", metavar="LOCALE", help="start a catalog for this language")
    args = parser.parse_args()
    # Babel writes locations relative to where it runs: run at the root for "bot/app.py".
    os.chdir(ROOT)
    extract()
    if args.new:
        pybabel(
            "init",
            f"--input-file={TEMPLATE}",
            f"--output-dir={LOCALE_DIR}",
            f"--domain={DOMAIN}",
            f"--locale={args.new}",
        )
    locales = update()
    print(f"{TEMPLATE.relative_to(ROOT)} refreshed; catalogs updated: {', '.join(locales)}")


if __name__ == "__main__":
    main()
