"""The core's import boundaries: bot/ and storage/ talk to no platform, storage/ to no service.

Adapters implement the port ``bot/ports.py``; the core never imports them, so a platform can be
added or replaced without touching the core, and the core runs with no platform library at all.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PLATFORMS = ("adapters", "discord", "nio", "web", "aiohttp")
"""Nothing in bot/ or storage/ imports these (web/ reads the core, never the other way)."""

ABOVE_STORAGE = ("bot.services", "bot.commands")
"""What storage/ serves: it may use the core's values (events, recognition rules), not its users."""

COMPOSITION_ROOT = {"bot/cli.py": ("adapters", "web")}
"""bot/cli.py builds the configured adapters (and the dashboard) and hands them to the app: the
one place that must name them (it imports them inside the commands that run a service, so importing the CLI loads
none). The platform libraries themselves stay out of it too."""


def imported_modules(source: str) -> list[str]:
    """Every module ``source`` imports absolutely, at any depth: inside functions and
    ``TYPE_CHECKING`` blocks too. A relative import stays inside its own top-level package (bot/
    or storage/), which never crosses a boundary checked here."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.append(node.module)
    return names


def is_under(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def boundary_crossings(relative: str, source: str) -> list[str]:
    """``relative`` (a path like ``storage/ingest.py``) imports that cross the core's boundaries."""
    forbidden = PLATFORMS + (ABOVE_STORAGE if relative.startswith("storage/") else ())
    allowed = COMPOSITION_ROOT.get(relative, ())
    return [
        f"{relative} imports {name}"
        for name in imported_modules(source)
        if is_under(name, forbidden) and not is_under(name, allowed)
    ]


def test_the_core_imports_no_adapter_no_platform_library_and_storage_no_service() -> None:
    modules = sorted((ROOT / "bot").rglob("*.py")) + sorted((ROOT / "storage").rglob("*.py"))
    assert len(modules) > 40  # the walk found the packages
    crossings = [
        crossing
        for path in modules
        for crossing in boundary_crossings(
            path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")
        )
    ]
    assert crossings == []


def test_every_kind_of_crossing_is_caught() -> None:
    source = """
from typing import TYPE_CHECKING
import nio
if TYPE_CHECKING:
    from adapters.discord import DiscordAdapter
def later():
    import discord.ext
    from bot.services import digest
    from bot.commands.router import CommandRouter
from bot.events import MemberRef
from bot.recognition import name_words
"""
    assert boundary_crossings("storage/ingest.py", source) == [
        "storage/ingest.py imports nio",
        "storage/ingest.py imports adapters.discord",
        "storage/ingest.py imports discord.ext",
        "storage/ingest.py imports bot.services",
        "storage/ingest.py imports bot.commands.router",
    ]
    assert boundary_crossings("bot/services/digest.py", source) == [
        "bot/services/digest.py imports nio",
        "bot/services/digest.py imports adapters.discord",
        "bot/services/digest.py imports discord.ext",
    ]
    assert boundary_crossings("bot/cli.py", source) == [
        "bot/cli.py imports nio",
        "bot/cli.py imports discord.ext",
    ]


SQL = re.compile(
    r"\bSELECT\b.*\bFROM\b|\bINSERT\s+(?:OR\s+[A-Z]+\s+)?INTO\b|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b|\bCREATE\s+(?:TABLE|(?:UNIQUE\s+)?INDEX|VIEW|TRIGGER)\b"
    r"|\bPRAGMA\s+\w+|\bEXPLAIN\s+QUERY\s+PLAN\b",
    re.S,
)
"""Statements as SQL spells them (keywords in capitals, as everywhere in storage/)."""


def sql_in(relative: str, source: str) -> list[str]:
    """The string literals of ``source`` that hold SQL (an f-string's fixed parts read as one,
    each placeholder a single word)."""
    found = []
    tree = ast.parse(source)
    parts = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    for node in ast.walk(tree):
        if id(node) in parts:
            continue
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                part.value if isinstance(part, ast.Constant) else "x" for part in node.values
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if SQL.search(text):
            found.append(f"{relative}:{node.lineno}: {' '.join(text.split())[:80]}")
    return found


def test_bot_contains_no_sql() -> None:
    """Every statement lives in storage/, behind functions a second backend implements too."""
    modules = sorted((ROOT / "bot").rglob("*.py"))
    assert len(modules) > 30
    statements = [
        found
        for path in modules
        for found in sql_in(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8"))
    ]
    assert statements == []


def test_every_kind_of_statement_is_caught() -> None:
    source = """
a = "SELECT id FROM members WHERE community = ?"
b = (
    "SELECT count(*) "
    "FROM messages"
)
c = f"INSERT OR IGNORE INTO {table} (a) VALUES (?)"
d = "UPDATE members SET left_at = ?"
e = f"DELETE FROM credits WHERE giver_id IN {ids}"
f = "CREATE UNIQUE INDEX x ON y (z)"
g = "PRAGMA journal_mode = WAL"
h = "Select the theme you want from the list, then update your profile."
"""
    assert [line.split(": ", 1)[0] for line in sql_in("bot/x.py", source)] == [
        "bot/x.py:2",
        "bot/x.py:4",
        "bot/x.py:7",
        "bot/x.py:8",
        "bot/x.py:9",
        "bot/x.py:10",
        "bot/x.py:11",
    ]
