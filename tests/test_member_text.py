"""Member text is never markup and never a ping: whatever a member wrote reads as written."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.matrix import render_content
from bot.outgoing import literal, unescape

HOSTILE = st.sampled_from(
    [
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
    ]
)
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
