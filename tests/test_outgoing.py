"""Long messages are split to the platform's limit without breaking a line, a word or a mention."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.outgoing import split_markdown

words = st.one_of(
    st.from_regex(r"[a-záéíóúñ]{1,12}", fullmatch=True),
    st.from_regex(r"<@[0-9]{17,19}>", fullmatch=True),
    st.from_regex(r"@[a-z]{2,8}:example\.org", fullmatch=True),
    st.sampled_from(["**bold**", "- item", "### Heading", "🙏", "\n", "\n\n"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(words, min_size=1, max_size=400), st.integers(min_value=40, max_value=300))
def test_chunks_fit_and_keep_every_word_and_mention_whole(parts, limit):
    text = " ".join(parts)
    chunks = split_markdown(text, limit)
    assert all(len(chunk) <= limit for chunk in chunks)
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())
    mentions = re.findall(r"<@\d+>|@[a-z]+:example\.org", text)
    assert re.findall(r"<@\d+>|@[a-z]+:example\.org", "\n".join(chunks)) == mentions


def test_a_digest_splits_between_lines_for_discord():
    lines = [f"- **Member {i}**: answered a question in Water rights." for i in range(80)]
    chunks = split_markdown("\n".join(lines), 2000)
    assert len(chunks) == 3
    assert all(len(chunk) <= 2000 for chunk in chunks)
    assert [line for chunk in chunks for line in chunk.split("\n")] == lines
