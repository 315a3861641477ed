"""The core's import boundaries: bot/ and storage/ talk to no platform, storage/ to no service,
and bot/'s modules import each other one way: no circle, and nothing but the command line reaches
for the application (services, features and commands get a per-community context instead).

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


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Per module of ``sources`` (name -> text), the modules of ``sources`` it imports, at any
    depth (``TYPE_CHECKING`` blocks and functions too). ``from bot.services import digest``
    imports the module ``bot.services.digest``; ``from bot.events import MemberRef`` imports
    ``bot.events``."""
    graph: dict[str, set[str]] = {}
    for name, source in sources.items():
        named: set[str] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                named.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                submodules = {f"{node.module}.{alias.name}" for alias in node.names}
                found = submodules & sources.keys()
                named.update(found or {node.module})
        graph[name] = {other for other in named if other in sources and other != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other in a loop (strongly connected components of
    more than one module), each sorted (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def type_checking_imports(source: str) -> list[str]:
    """The modules imported inside ``if TYPE_CHECKING:`` blocks."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                names.extend(imported_modules(ast.unparse(inner)))
    return names


def bot_sources() -> dict[str, str]:
    return {
        module_name(path): path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "bot").rglob("*.py"))
    }


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


def test_bot_modules_import_each_other_one_way() -> None:
    graph = import_graph(bot_sources())
    assert len(graph) > 40 and "bot.community" in graph["bot.services.digest"]
    assert circles(graph) == []


def test_only_the_command_line_reaches_for_the_application() -> None:
    """The command line builds the app (it imports it inside the commands that run it, so that
    ``trellis --help`` stays quick, and names its type for them); no other module needs it, not
    even for a type: what they are given is a ``Community``."""
    sources = bot_sources()
    importers = sorted(
        name for name, source in sources.items() if "bot.app" in imported_modules(source)
    )
    assert importers == ["bot.cli"]
    typed_only = sorted(
        name for name, source in sources.items() if "bot.app" in type_checking_imports(source)
    )
    assert typed_only in ([], ["bot.cli"])


def test_a_circle_is_found_through_any_kind_of_import() -> None:
    sources = {
        "bot.app": "from bot.features import FEATURES",
        "bot.features": "from bot.monitoring import knowledge",
        "bot.monitoring": "",
        "bot.monitoring.knowledge": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.app import Trellis"
        ),
        "bot.events": "",
        "bot.engine": "from bot.events import Event",
    }
    graph = import_graph(sources)
    assert graph["bot.features"] == {"bot.monitoring.knowledge"}
    assert circles(graph) == [["bot.app", "bot.features", "bot.monitoring.knowledge"]]
    assert type_checking_imports(sources["bot.monitoring.knowledge"]) == ["bot.app"]


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
