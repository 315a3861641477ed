"""Bad input gets one clear sentence saying what is wrong and how to write it, and changes nothing."""

import sqlite3

import pytest

from tests.helpers import running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""


def snapshot(path) -> dict[str, list]:
    db = sqlite3.connect(path)
    tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    data = {table: sorted(map(repr, db.execute(f"SELECT * FROM {table}"))) for table in tables}
    db.close()
    return data


CASES = [
    ("ana", "/stast", "“/stast” is not a Trellis command; type /help to see them all."),
    ("ana", "/stats", "Only facilitators can use /stats; ask one of them if you need it."),
    (
        "lena",
        "/prompt add gender Why?  Tell us more please",
        "You lead water, not gender; ask a facilitator to do this for gender.",
    ),
    ("fran", "/stats 2026-13", "“2026-13” has no month 13; months run from 01 to 12."),
    (
        "fran",
        "/stats lastweek",
        "“lastweek” is neither a theme nor a period; the themes are: water, gender.",
    ),
    ("fran", "/stats water 2026-W60", "2026 has no week 60; weeks run from W01 to W52 or W53."),
    ("fran", "/stats water 4w extra", "“extra” is more than /stats takes."),
    ("fran", "/prompt add", "/prompt add is missing <theme>."),
    (
        "fran",
        "/prompt add oceans What do you see rising?",
        "There is no theme “oceans”; the themes are: water, gender.",
    ),
    ("fran", "/prompt add water Why?", "A prompt needs a real question of at least 10 characters."),
    ("fran", "/prompt remove seven", "“seven” is not a whole number."),
    ("fran", "/prompt remove 99", "There is no prompt #99; /prompt list shows their numbers."),
    (
        "ana",
        "/kudos @nobody for the map",
        "I don't know a member “@nobody” here; mention them with @ as you would in chat.",
    ),
    ("ana", "/kudos", "/kudos is missing <member>."),
    ("ana", "/nudges maybe", "“maybe” is not one of on | off."),
    ("ana", '/kudos "@luis for the map', "A quote is not closed"),
]


@pytest.mark.parametrize(("who", "line", "sentence"), CASES, ids=[case[1] for case in CASES])
async def test_bad_input_answers_with_one_clear_sentence_and_changes_nothing(
    tmp_path, who, line, sentence
):
    async with running_app(tmp_path) as h:
        await h.lines('~ ana joins as "Ana Quispe"', '~ luis joins as "Luis Rojas"', "~ lena joins")
        await h.lines("#water luis: Hello water people", "~ fran joins")
        before = snapshot(tmp_path / "trellis.sqlite3")
        answer = await h.command(who, line)
        assert answer.startswith(sentence)
        first_line = answer.split("\n")[0]
        assert first_line.count(". ") == 0 or "“" in first_line, "one sentence"
        assert snapshot(tmp_path / "trellis.sqlite3") == before
        private = [sent for sent in h.outbox if sent.kind == "reply"]
        assert private and private[-1].to == who
