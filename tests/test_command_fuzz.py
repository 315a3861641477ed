"""Generated command lines, sane and hostile, through the real router in every role.

Each line must be answered exactly once, never with the unexpected-failure sentence, within
Discord's 2,000 characters; a refused line (a usage answer or an unknown command) must leave the
store exactly as it was. Hypothesis draws the lines; the community is set up once per module and
keeps what accepted commands add, as a real one would.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import string
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands.parsing import QUOTE_CHARS
from bot.commands.spec import CommandSpec, Param, ParamKind
from bot.features import all_commands
from tests.helpers import Harness, running_app
from tests.test_bad_input import snapshot

DISCORD_LIMIT = 2000
LINES_PER_EXAMPLE = 4
EXAMPLES = 520
"""520 examples of 4 lines (one per role, and a never-seen member now and then): over 2,000
command lines per run, in about half a minute."""

ROLES = ("ana", "lena", "fran", "root")
"""A member, the water theme's leader, a facilitator, an admin (tests/helpers.py's config)."""

SPECS = all_commands()

SANE = {
    ParamKind.MEMBER: ["@ana", "@luis", "luis", '"Luis Rojas"', "@lena", "@nobody", "<@123>"],
    ParamKind.THEME: ["water", "gender", "WATER", "oceans"],
    ParamKind.PERIOD: ["4w", "7d", "12h", "3m", "2026-W37", "2026-09", "2026-Q3", "2026",
                       "2026-09-01..2026-09-30"],
    ParamKind.INTEGER: ["1", "2", "3", "5", "0", "-1"],
    ParamKind.TEXT: ["What changed in your watershed this season?", "the well map by 2026-12-01",
                     "Census review 2026-10-02 18:30 Casa Comunal", "for the map",
                     "organisation:CANO expertise:water, soils languages:es",
                     "How we ran the census https://example.org/census", "water"],
    ParamKind.WORD: ["2026-09", "2026-Q3", "pulse"],
    ParamKind.COMMAND: ["stats", "prompt", "help", "experts"],
    ParamKind.CHANNEL: ["#general", "#water"],
    ParamKind.DATE: ["2026-12-01"],
    ParamKind.DATETIME: ["2026-10-02 18:30"],
}  # fmt: skip
"""Values a member might really type, per kind of parameter."""

_printable = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
"""Any character a chat line can carry (the console reads one line per command)."""


def _year_forms(year: int, number: int) -> list[str]:
    return [
        f"{year:04d}",
        f"{year:04d}-{number % 100:02d}",
        f"{year:04d}-W{number % 100:02d}",
        f"{year:04d}-Q{number % 10}",
        f"{year:04d}-{number % 100:02d}-{number % 40:02d}",
        f"{year:04d}-01-01..{(year + number) % 10000:04d}-12-31",
        f"{year:04d}-12-31 {number % 30:02d}:59",
    ]


hostile_numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(min_value=19, max_value=5000).map(lambda n: "9" * n),
    st.tuples(st.integers(0, 10**12), st.sampled_from("hdwmHDWM")).map(lambda p: f"{p[0]}{p[1]}"),
)
hostile_dates = st.tuples(st.integers(0, 9999), st.integers(0, 10**6)).flatmap(
    lambda p: st.sampled_from(_year_forms(*p))
)
hostile_text = st.one_of(
    st.text(_printable, min_size=1, max_size=40),
    st.tuples(st.text(_printable, min_size=1, max_size=8), st.integers(1, 1200)).map(
        lambda p: p[0] * p[1]
    ),
    st.text(string.punctuation, min_size=1, max_size=6),
)
hostile = st.one_of(hostile_numbers, hostile_dates, hostile_text)
any_sane = st.sampled_from(sorted({value for values in SANE.values() for value in values}))


def _value(param: Param) -> st.SearchStrategy[str]:
    sane = st.sampled_from(list(param.choices) or SANE[param.kind])
    return st.one_of(sane, sane, sane, hostile, any_sane)


def _line_for(spec: CommandSpec) -> st.SearchStrategy[str]:
    """Mostly the command's own parameters, each sane or hostile, sometimes left out; then,
    now and then, words too many."""
    values = [
        _value(param) if param.required else st.one_of(st.just(""), _value(param))
        for param in spec.params
    ]
    extra = st.one_of(st.just([]), st.just([]), st.lists(st.one_of(any_sane, hostile), max_size=2))
    return st.tuples(st.tuples(*values), extra).map(
        lambda p: " ".join(["/" + spec.name, *(v for v in (*p[0], *p[1]) if v)])
    )


line_strategy = st.one_of(
    *(_line_for(spec) for spec in SPECS),
    st.tuples(
        st.sampled_from(["stast", "prompts", "digest", "theme", "event"]),
        st.lists(st.one_of(any_sane, hostile), max_size=4),
    ).map(lambda p: " ".join(["/" + p[0], *p[1]])),
)
channel_strategy = st.sampled_from(["general", "water", "gender"])

_unseen = itertools.count()


class Community:
    """The running community and the last snapshot of its store, retaken only after a commit."""

    def __init__(self, harness: Harness, path: Path) -> None:
        self.h = harness
        self.path = path
        self.watch = sqlite3.connect(path)
        self.version = -1
        self.tables: dict[str, list] = {}

    async def bring_back(self) -> None:
        """Roles that ran optout or forget-me take part again, so that later lines test more
        than the refusal that follows."""
        keys = [f"console:{role}" for role in ROLES]
        present = {
            key
            for (key,) in self.watch.execute(
                "SELECT member_key FROM members WHERE opted_out_at IS NULL AND member_key IN "
                f"({', '.join('?' * len(keys))})",
                keys,
            )
        }
        for role, key in zip(ROLES, keys, strict=True):
            if key not in present:
                await self.h.command(role, "/optin")

    def _data_version(self) -> int:
        return self.watch.execute("PRAGMA data_version").fetchone()[0]

    def before(self) -> dict[str, list]:
        version = self._data_version()
        if version != self.version:
            self.tables, self.version = snapshot(self.path), version
        return self.tables

    def unchanged_since(self, tables: dict[str, list]) -> bool:
        return self._data_version() == self.version or snapshot(self.path) == tables


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def community(tmp_path_factory) -> AsyncIterator[Community]:
    path = tmp_path_factory.mktemp("fuzz")
    async with running_app(path) as h:
        await h.lines(
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            "~ lena joins",
            "~ fran joins",
            "~ root joins",
            "#water luis: How do you document water claims?",
            "#water ana: >1 With a shared map of every claim and its evidence.",
            "#water luis: >2 Thanks @ana, exactly what I needed!",
            "#gender lena: Who takes notes at our meetings?",
        )
        for who, line, channel in (
            ("fran", "/prompt add water What changed in your watershed this year?", "general"),
            ("ana", "/commit map the wells by 2026-12-01", "general"),
            ("ana", "/event add Water census review 2026-10-02 18:30 Casa Comunal", "water"),
            ("ana", "/share lesson Claims need evidence https://example.org/claims", "water"),
            ("luis", "/profile set organisation:CANO expertise:water, soils", "general"),
        ):
            await h.command(who, line, channel)
        yield Community(h, path / "trellis.sqlite3")
        await h.app.engine.drain()


def refused(answer: str) -> bool:
    return "\nUsage: " in answer or "is not a Trellis command" in answer


@pytest.mark.asyncio(loop_scope="module")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    lines=st.lists(
        st.tuples(line_strategy, channel_strategy),
        min_size=LINES_PER_EXAMPLE,
        max_size=LINES_PER_EXAMPLE,
    ),
    newcomer=st.booleans(),
)
async def test_every_generated_command_is_answered_once_within_the_limit(
    community, lines, newcomer
):
    roles = list(ROLES)
    if newcomer:
        roles[0] = f"new{next(_unseen)}"  # never seen before: a refusal must not create them
    for who, (line, channel) in zip(roles, lines, strict=True):
        before = community.before()
        answer = await community.h.command(who, line, channel)
        assert "Something went wrong" not in answer, (who, line, answer)
        assert len(answer) <= DISCORD_LIMIT, (who, line[:200], len(answer))
        if refused(answer):
            assert community.unchanged_since(before), (who, line[:200], answer)
            quoted = re.findall(r"“([^”]*)”", answer.split("\n")[0])
            assert all(len(text) <= QUOTE_CHARS for text in quoted), (who, line[:200], answer)
    await community.bring_back()
