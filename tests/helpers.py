"""A test community: the real app on a real SQLite file, the console adapter, a manual clock."""

from __future__ import annotations

import copy
import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from adapters.console import ConsoleAdapter, Sent
from bot.app import Trellis
from bot.clock import ManualClock
from bot.config import parse_settings

# Monday 7 September 2026, 08:00 in Lima.
START = datetime(2026, 9, 7, 8, 0, tzinfo=ZoneInfo("America/Lima")).astimezone(UTC)

BASE_CONFIG: dict[str, Any] = {
    "retention": {"message_text_days": 60},
    "nudges": {
        "newcomer_after_days": 7,
        "silent_after_weeks": 2,
        "cooldown_days": 14,
        "daily_cap": 10,
    },
    "communities": {
        "praxis": {
            "name": "Praxis Network",
            "timezone": "America/Lima",
            # Posted whole: the tests read every section as posted (the brief digest, the
            # default, has its own tests in test_digest_figures.py).
            "digest": {"channel": "console:general", "cron": "0 9 * * mon", "brief": False},
            "roles": {"facilitators": ["console:fran"], "admins": ["console:root"]},
            "themes": {
                "water": {
                    "name": "Water rights",
                    "places": ["console:water"],
                    "keywords": ["irrigation"],
                    "leaders": ["console:lena"],
                    "learning_goal": "Share how communities defend their water.",
                },
                "gender": {
                    "name": "Gender and inclusion",
                    "places": ["console:gender"],
                    "learning_goal": "Make participation fairer.",
                },
            },
        }
    },
}


def config(**overrides: Any) -> dict[str, Any]:
    """BASE_CONFIG with nested overrides given as dotted paths: config(**{"nudges.daily_cap": 1})."""
    data = copy.deepcopy(BASE_CONFIG)
    for path, value in overrides.items():
        node = data
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return data


class Harness:
    def __init__(self, app: Trellis, console: ConsoleAdapter, clock: ManualClock) -> None:
        self.app = app
        self.console = console
        self.clock = clock

    @property
    def store(self):
        return self.app.store

    @property
    def outbox(self) -> list[Sent]:
        return self.console.outbox

    async def lines(self, *lines: str) -> None:
        """Feed console-grammar lines, moving the clock on '@' lines; then wait until stored."""
        for line in lines:
            moment = await self.console.feed(line)
            if moment is not None:
                await self.set_time(moment)
        await self.app.engine.drain()

    async def say(self, handle: str, channel: str, text: str) -> str:
        """Post and return the message number the console gave it."""
        await self.lines(f"#{channel} {handle}: {text}")
        return str(self.console.state.count)

    async def command(self, handle: str, text: str, channel: str = "general") -> str:
        """Run a command and return the text of Trellis's answer."""
        before = len(self.outbox)
        await self.lines(f"#{channel} {handle}: {text}")
        answers = [sent for sent in self.outbox[before:] if sent.kind == "reply"]
        assert len(answers) == 1, f"expected one answer to {text!r}, got {answers}"
        return answers[0].text

    async def set_time(self, moment: datetime) -> list[str]:
        return await self.app.advance_to(moment)

    async def advance(self, delta: timedelta) -> list[str]:
        return await self.set_time(self.clock.now() + delta)

    def sent_since(self, index: int, kind: str | None = None) -> list[Sent]:
        return [sent for sent in self.outbox[index:] if kind is None or sent.kind == kind]


POSTGRES: list[Any] = []
"""The session's PostgreSQL cluster while a test runs on PostgreSQL (the ``backend`` fixture)."""
_DATABASES: dict[Path, str] = {}


async def storage_config(path: Path) -> dict[str, str]:
    """The [storage] of a test's database: the SQLite file ``path``, or, on PostgreSQL, a database
    of its own for that path (the same one each time the test opens it)."""
    if not POSTGRES:
        return {"path": str(path)}
    if path not in _DATABASES:
        _DATABASES[path] = await POSTGRES[0].new_database()
    url = _DATABASES[path]
    return {"url": url.replace(":trellis-test-password@", "@"), "password_env": "TRELLIS_TEST_PG"}


@asynccontextmanager
async def running_app(
    tmp_path: Path,
    data: dict[str, Any] | None = None,
    *,
    start: datetime = START,
    database: str = "trellis.sqlite3",
    clock: ManualClock | None = None,
    console_class: Callable[..., ConsoleAdapter] = ConsoleAdapter,
) -> AsyncIterator[Harness]:
    data = copy.deepcopy(data if data is not None else BASE_CONFIG)
    data["storage"] = await storage_config(tmp_path / database)
    settings = parse_settings(data)
    clock = clock or ManualClock(start)
    community = next(iter(settings.communities))
    console = console_class(
        community,
        clock,
        timezone=settings.communities[community].timezone,
        echo_chat=False,
        out=io.StringIO(),
    )
    app = await Trellis.open(settings, clock=clock, adapters=[console])
    await app.start(real_time=False)
    try:
        yield Harness(app, console, clock)
    finally:
        await app.stop()


async def table_names(db: Any) -> list[str]:
    """The tables of the store ``db``, on either backend."""
    if db.dialect == "sqlite":
        rows = await db.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await db.fetch_all(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    return sorted(row[0] for row in rows)


async def stored_values(db: Any) -> str:
    """Every value in every table of the store, one per line."""
    values = []
    for table in await table_names(db):
        for row in await db.fetch_all(f"SELECT * FROM {table}"):
            values.extend(str(value) for value in row if value is not None)
    return "\n".join(values)


async def member_references(db: Any) -> list[tuple[str, str]]:
    """Every (table, column) of the schema that references members (id), and members' own id."""
    if db.dialect == "sqlite":
        found = [
            (table, key[3])
            for table in await table_names(db)
            for key in await db.fetch_all(f"PRAGMA foreign_key_list({table})")
            if key[2] == "members"
        ]
    else:
        rows = await db.fetch_all(
            "SELECT k.table_name, k.column_name FROM information_schema.referential_constraints r "
            "JOIN information_schema.key_column_usage k ON k.constraint_name = r.constraint_name "
            "JOIN information_schema.constraint_column_usage u "
            "ON u.constraint_name = r.unique_constraint_name WHERE u.table_name = 'members'"
        )
        found = [(row[0], row[1]) for row in rows]
    return sorted({*found, ("members", "id")})


def processes(
    *, child_of: int | None = None, command: bytes = b"", environment: str = ""
) -> list[int]:
    """The pids of the live processes (not zombies) that are children of ``child_of``, whose
    command line holds ``command`` and whose environment holds ``environment`` (NAME=value: a
    killed parent's children are reparented, so they are found by what they inherited)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            line = (entry / "cmdline").read_bytes()
            inherited = (entry / "environ").read_bytes().split(b"\0") if environment else []
        except (OSError, ValueError):
            continue  # ended while we looked
        if (
            state != "Z"
            and (child_of is None or int(parent) == child_of)
            and command in line
            and (not environment or environment.encode() in inherited)
        ):
            found.append(int(entry.name))
    return found
