"""Member text is never markup and never a ping: whatever a member wrote reads as written."""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.matrix.render import render_content
from bot.monitoring import render
from bot.monitoring.report import build_report
from bot.outgoing import literal, unescape
from bot.services.digest import compose_week
from storage import activity, members, surveys
from tests.helpers import running_app

HOSTILE_SAMPLES = (
    "@everyone",
    "@here",
    "@room",
    "@Room",
    "<@&123456789012345678>",
    "<@123456789012345678>",
    "<#123456789012345678>",
    "[prize](https://evil.example)",
    "![x](mxc://evil.example/evil2)",
    "<a href='https://evil.example'>phish</a>",
    "<script>alert(1)</script>",
    "<https://evil.example>",
    "**bold**",
    "__under__",
    "*em*",
    "`code`",
    "```block```",
    "~~strike~~",
    "||spoiler||",
    "# Heading",
    "-# subtext",
    "> quote",
    "- item",
    "1. item",
    "| a | b |",
    "&amp; &copy;",
    "\\",
    "\\*",
    "\n",
    "https://meet.example.org/rec?id=42",
    "$\\frac{$ and $x^2$",
)
HOSTILE = st.sampled_from(HOSTILE_SAMPLES)
MEMBER_TEXT = st.lists(st.one_of(HOSTILE, st.text(max_size=12)), max_size=12).map("".join)


def _as_read(text: str) -> str:
    """What a reader should see: the text on one line, bulk pings broken by a zero-width joiner."""
    one_line = " ".join(re.split(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]", text))
    one_line = re.sub(r"[\x00-\x08\x0e-\x1b\x7f]", "", one_line).strip()
    return re.sub(r"@(everyone|here|room)", "@\u200d\\1", one_line, flags=re.IGNORECASE)


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


@settings(max_examples=250, deadline=None)
@given(MEMBER_TEXT)
def test_member_text_reads_as_written_in_plain_text(text):
    assert unescape(literal(text)) == _as_read(text)
    assert not re.search(r"@(everyone|here|room)", literal(text), re.IGNORECASE)


@settings(max_examples=250, deadline=None)
@given(MEMBER_TEXT)
def test_member_text_is_no_markup_on_discord(text):
    """Discord reads backslash escapes: with each escaped pair taken out, no markup is left."""
    bare = re.sub(r"\\.", "", literal(text), flags=re.DOTALL)
    assert not re.search(r"[*_~`|<>\[\]#\\&]", bare)
    assert not re.match(r"\s*([-+>]|\d+[.)])", literal(text))


@settings(max_examples=250, deadline=None)
@given(MEMBER_TEXT)
def test_member_text_is_no_markup_on_matrix(text):
    content = render_content(f"Kudos from Ana: “{literal(text)}”")
    html = _Html()
    html.feed(content["formatted_body"])
    assert set(html.tags) <= {"p"}, content["formatted_body"]
    shown = "".join(html.text)
    assert shown == f"Kudos from Ana: “{_as_read(text)}”".strip()
    assert content["m.mentions"] == {}


# Every output, on the console harness --------------------------------------------------------

WEEK_END = datetime(2026, 9, 14, 9, 30, tzinfo=ZoneInfo("America/Lima")).astimezone(UTC)


def _community_script(text: str) -> tuple[str, ...]:
    """A week in which ``text`` is everything members can write: a display name, a thread
    title, messages and questions, a kudos reason, profile fields, a shared title and link, an
    event, a commitment, a prompt."""
    name = text.replace('"', "")
    title = text.replace(":", "")
    return (
        "@ 2026-09-07 10:00",
        '~ ana joins as "Ana Quispe"',
        f'~ bob joins as "{name}"',
        f'~ qui joins as "{name}"',
        '~ eva joins as "Eva Flores"',
        '~ rosa joins as "Rosa Huaman"',
        '~ fran joins as "Fran Ortiz"',
        f"#water bob: {text}",
        "#water ana: >1 thanks @bob",
        f"#water/{title} bob: {text} ?",
        f"#water/{title} ana: +2 🙏",
        f"#general ana: /kudos @bob for {text}",
        f"#general bob: /profile set organisation:{text} expertise:irrigation {text}",
        f"#water bob: /share case {text} https://example.org/{title.replace(' ', '')}",
        f"#general bob: /event add {text} 2026-09-19 10:00 {text}",
        f"#general bob: /commit {text} by 2026-09-09",
        f"#general fran: /prompt add water {text} what do you think?",
    )


async def _outputs(folder: Path, text: str, database: str) -> dict[str, str]:
    """The Markdown of every output that repeats member text, and the report's HTML page."""
    async with running_app(folder, database=database) as h:
        await h.lines(*_community_script(text))
        now = int(h.clock.now().timestamp())
        async with h.store.transaction() as tx:
            survey = await surveys.open_survey(tx, "praxis", "impact", "2026-Q3", now)
            for member in await members.all_members(tx, "praxis"):
                await surveys.invite(tx, survey.id, member.id, delivered=True)
        for handle in ("bob", "ana", "eva", "rosa", "fran"):
            await h.command(handle, f"/story {text} changed our work")
        await h.lines("@ 2026-09-14 10:30")  # qui has been quiet a week; the digest is out
        shown = {}
        for handle, command in (
            ("eva", "/experts irrigation"),
            ("fran", "/map"),
            ("eva", "/library"),
            ("fran", "/commitments @bob"),
            ("fran", "/overdue"),
            ("eva", "/event list"),
            ("eva", "/profile show @bob"),
            ("fran", "/prompt list"),
            ("fran", "/quiet"),
            ("fran", "/survey results 2026-Q3"),
            ("fran", "/stats"),
            ("eva", f"/kudos @bob for {text}"),
        ):
            shown[command.split(" for ")[0]] = await h.command(handle, command)
        # And everything said so far: welcomes, answers to the commands above, reminders.
        # (Commands are answered concurrently: named by whom and how they begin, not by order.)
        for sent in h.outbox:
            key = f"{sent.kind} to {sent.to}: {_benign(unescape(sent.text))[:12]}"
            shown[key + "+" * sum(k.startswith(key) for k in shown)] = sent.text
        shown["digest"] = (await compose_week(h.app.community("praxis"), WEEK_END)).text
        report = await build_report(
            h.store, h.app.settings, "praxis", WEEK_END - timedelta(days=7), WEEK_END
        )
        t = h.app.community("praxis").translator
        shown["report.md"] = render.render_markdown(report, t)
        page = render.render_html(report, t)
        shown["report.html"] = re.sub(r"data:image/png;base64,[\w+/=]+", "", page)
        return shown


def _tags(html: str) -> Counter[str]:
    parser = _Html()
    parser.feed(html)
    return Counter(parser.tags)


def _benign(text: str) -> str:
    """The same text with every character but spaces a letter: same length, same word breaks
    (a bulk ping's zero-width joiner left out)."""
    return re.sub(r"\S", "x", text.replace("\u200d", ""))


def _assert_only_template_markup(hostile: dict[str, str], benign: dict[str, str]) -> None:
    for output, markdown in hostile.items():
        assert not re.search(r"@(everyone|here|room)", markdown, re.IGNORECASE), output
        assert not re.search(r"(?<!\\)<[@#]", markdown), output
        if output == "report.html":
            assert _tags(markdown) == _tags(benign[output]), output
            continue
        # On Matrix: the HTML built from it has exactly the tags of the same output with plain text.
        content = render_content(markdown)
        assert content["m.mentions"] == {}
        assert _tags(content["formatted_body"]) == _tags(
            render_content(benign[output])["formatted_body"]
        ), (output, markdown)
        # On Discord: the Markdown with its escaped pairs taken out has the plain output's markup.
        assert _markup(markdown) == _markup(benign[output]), (output, markdown)


def _markup(markdown: str) -> Counter[str]:
    bare = re.sub(r"\\.", "", markdown, flags=re.DOTALL)
    return Counter(re.findall(r"\*\*|__|~~|\|\||`|\[|\]\(|<|>|^#+ |^\s*[-+*] ", bare, re.M))


def _groups(limit: int = 240) -> list[str]:
    """The one-line hostile samples, joined into texts short enough for every command's field."""
    groups = [""]
    for sample in (sample for sample in HOSTILE_SAMPLES if "\n" not in sample):
        if len(groups[-1]) + len(sample) > limit:
            groups.append("")
        groups[-1] = f"{groups[-1]} {sample}".strip()
    return groups


@pytest.mark.parametrize("text", _groups(), ids=lambda text: text[:20])
async def test_hostile_text_is_no_markup_in_any_output(tmp_path, text):
    text = f"w {text} z"
    hostile = await _outputs(tmp_path, text, "hostile.sqlite3")
    benign = await _outputs(tmp_path, _benign(text), "benign.sqlite3")
    assert len(hostile) > 30
    _assert_only_template_markup(hostile, benign)
    # The console prints what a reader sees: the text as written, without the escapes.
    assert unescape(literal(text)) in unescape(hostile["/profile show @bob"])
    assert unescape(literal(text)) in unescape(hostile["digest"])


ONE_LINE = st.lists(
    st.one_of(
        HOSTILE.filter(lambda s: "\n" not in s),
        st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=8),
    ),
    min_size=1,
    max_size=6,
).map(" ".join)


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font:UserWarning")  # names in charts
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ONE_LINE)
async def test_random_hostile_text_is_no_markup_in_any_output(text):
    text = " ".join(f"w {text} z".split())
    with tempfile.TemporaryDirectory() as folder:
        hostile = await _outputs(Path(folder), text, "hostile.sqlite3")
        benign = await _outputs(Path(folder), _benign(text), "benign.sqlite3")
    _assert_only_template_markup(hostile, benign)


async def test_a_reason_or_title_without_a_letter_or_digit_is_refused_and_nothing_is_kept(
    tmp_path,
):
    async with running_app(tmp_path) as h:
        await h.lines('~ ana joins as "Ana Quispe"', '~ luis joins as "Luis Rojas"')
        for line, refusal in (
            ("/kudos @luis   !!! ", "Say what the kudos are for, in words"),
            ("/event add *** 2026-10-02 18:30", "Give the event a title before its date"),
            ("/commit --- by 2026-12-01", "Write what you commit to and its due date"),
        ):
            assert (await h.command("ana", line)).startswith(refusal), line
        assert (await h.command("ana", "/share case ~~ https://example.org", "water")).startswith(
            "Give the case a title"
        )
        assert await activity.credits(h.store, "praxis", 0, 2**31) == []
        assert "No events" in await h.command("ana", "/event list")
        assert "no commitments" in await h.command("ana", "/commitments")
        assert "library is empty" in await h.command("ana", "/library")
