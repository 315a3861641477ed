"""The console adapter: its script grammar, and clear errors for lines it cannot read."""

import logging

import pytest

from adapters.console import ScriptError
from tests.helpers import running_app


async def test_threads_replies_reactions_and_edits_become_tracked_events(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            "#water/Irrigation shifts luis: Who sets the irrigation turns in your valley?",
            "#water/Irrigation shifts ana: >1 The users' assembly, every March.",
            "#water/Irrigation shifts luis: +2 👍",
            "#water/Irrigation shifts ana: *2 The users' assembly, every March and September.",
            "#gender ana: A thought on irrigation and gender.",
        )
        rows = await h.store.fetch_all(
            "SELECT theme, thread_key, text, reply_to IS NOT NULL FROM messages ORDER BY id"
        )
        assert [tuple(row) for row in rows] == [
            (
                "water",
                "console:water/Irrigation shifts",
                "Who sets the irrigation turns in your valley?",
                0,
            ),
            (
                "water",
                "console:water/Irrigation shifts",
                "The users' assembly, every March and September.",
                1,
            ),
            ("gender", None, "A thought on irrigation and gender.", 0),
        ]
        threads = await h.store.fetch_all("SELECT title, theme FROM threads")
        assert [tuple(row) for row in threads] == [("Irrigation shifts", "water")]
        reactions = await h.store.fetch_all("SELECT emoji, theme FROM reactions")
        assert [tuple(row) for row in reactions] == [("👍", "water")]


@pytest.mark.parametrize(
    ("line", "sentence"),
    [
        ("hello everyone", "“hello everyone” is not understood; write '#channel name: text'"),
        ("#water ana: >7 answer", "there is no message [7] yet"),
        ("#water luis: *1 not mine", "only ana can edit message [1]"),
        ("#water luis: x1", "only ana can delete message [1]"),
        ("@ 2026-02-30 10:00", "the date is not a real date and time"),
        ("#water ana:    ", "a message needs some text"),
    ],
)
async def test_a_line_it_cannot_read_is_refused_with_how_to_write_it(tmp_path, line, sentence):
    async with running_app(tmp_path) as h:
        await h.lines("~ ana joins", "~ luis joins", "#water ana: The first message.")
        with pytest.raises(ScriptError, match=None) as caught:
            await h.console.feed(line, number=12)
        assert str(caught.value).startswith("line 12: ")
        assert sentence in str(caught.value)
        count = await h.store.fetch_one("SELECT count(*) FROM messages")
        assert count[0] == 1


async def test_the_ready_line_says_what_the_console_watches(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="bot.app"):
        async with running_app(tmp_path) as h:
            community = h.console.community
    [ready] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ready: ")]
    assert f"platforms: console (the lines typed for {community})" in ready
    assert "places watched" not in ready
