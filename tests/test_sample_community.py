"""The demo's sample community: deterministic, well-formed for the console, and true to its facts.

The script is parsed here with a small regex set written from the console grammar, independently of
the generator, so a line the console adapter could not read fails these tests.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import load_settings
from bot.demo.sample import THANKS_WORDS, Persona, SampleCommunity, build_sample_community

CONFIG = Path(__file__).resolve().parents[1] / "bot" / "demo" / "config.toml"
LIMA = ZoneInfo("America/Lima")

CLOCK = re.compile(r"^@ (\d{4}-\d{2}-\d{2} \d{2}:\d{2})$")
JOIN = re.compile(r'^~ ([a-z]+) joins(?: as (bot )?"([^"]+)")?$')
LEAVE = re.compile(r"^~ ([a-z]+) leaves$")
SAY = re.compile(r"^#([a-z]+)(?:/([^:@#/]+))? ([a-z]+): (.+)$")
REPLY = re.compile(r"^>(\d+) (.+)$")
REACT = re.compile(r"^([+-])(\d+) (👍|❤️|🙏|💡)$")
EDIT = re.compile(r"^\*(\d+) (.+)$")
DELETE = re.compile(r"^x(\d+)$")
COMMAND = re.compile(r"^/([a-z-]+)(?: (.+))?$")
MENTION = re.compile(r"@([a-z]+)")


@dataclass
class Line:
    at: datetime
    kind: str  # join, leave, post, react, unreact, edit, delete, command
    who: str
    channel: str | None = None
    thread: str | None = None
    number: int | None = None  # the new message's number (post) or the referenced one
    reply_to: int | None = None
    text: str = ""
    emoji: str = ""


def parse(lines: list[str]) -> list[Line]:
    """Every line of the script as one event, checking the grammar line by line."""
    events: list[Line] = []
    clock: datetime | None = None
    posted = 0
    for raw in lines:
        if not raw or raw.startswith("# ") or raw == "#":
            continue
        if match := CLOCK.match(raw):
            clock = datetime.strptime(match[1], "%Y-%m-%d %H:%M").replace(tzinfo=LIMA)
            events.append(Line(clock, "clock", ""))
            continue
        assert clock is not None, f"an event comes before the first clock line: {raw!r}"
        if match := JOIN.match(raw):
            events.append(Line(clock, "join", match[1], text=match[3] or "", emoji=match[2] or ""))
            continue
        if match := LEAVE.match(raw):
            events.append(Line(clock, "leave", match[1]))
            continue
        match = SAY.match(raw)
        assert match, f"not a script line: {raw!r}"
        channel, thread, who, body = match.groups()
        base = {"at": clock, "who": who, "channel": channel, "thread": thread}
        if m := REACT.match(body):
            kind = "react" if m[1] == "+" else "unreact"
            events.append(Line(**base, kind=kind, number=int(m[2]), emoji=m[3]))
        elif m := EDIT.match(body):
            events.append(Line(**base, kind="edit", number=int(m[1]), text=m[2]))
        elif m := DELETE.match(body):
            events.append(Line(**base, kind="delete", number=int(m[1])))
        elif m := COMMAND.match(body):
            events.append(Line(**base, kind="command", text=body))
        else:
            posted += 1
            reply = REPLY.match(body)
            assert not body.startswith((">", "+", "-", "*", "/")) or reply, raw
            events.append(
                Line(
                    **base,
                    kind="post",
                    number=posted,
                    reply_to=int(reply[1]) if reply else None,
                    text=reply[2] if reply else body,
                )
            )
    return [e for e in events if e.kind != "clock"]


@pytest.fixture(scope="module")
def community() -> SampleCommunity:
    return build_sample_community()


@pytest.fixture(scope="module")
def events(community: SampleCommunity) -> list[Line]:
    return parse(community.script_lines())


def posts(events: list[Line]) -> dict[int, Line]:
    return {e.number: e for e in events if e.kind == "post"}


def test_same_seed_same_community_and_another_seed_another_script() -> None:
    first, again = build_sample_community(2026), build_sample_community(2026)
    assert first == again
    assert first.script_lines() == again.script_lines()
    other = build_sample_community(7)
    assert other.script_lines() != first.script_lines()
    assert [m.handle for m in other.roster] == [m.handle for m in first.roster]


def test_roster_themes_and_calendar_have_the_promised_shape(community: SampleCommunity) -> None:
    assert 36 <= len(community.roster) <= 44
    assert len({m.handle for m in community.roster}) == len(community.roster)
    assert len(community.organisations) == 8
    assert {p for p in Persona if p is not Persona.BOT} == {m.persona for m in community.roster}
    assert community.bot.is_bot and not any(m.is_bot for m in community.roster)
    assert len(community.themes) == 4 and community.weeks == 6
    assert community.start == datetime(2026, 9, 7, 8, 0, tzinfo=LIMA)
    assert community.start.weekday() == 0 and community.start.utcoffset() is not None
    theme_ids = {t.id for t in community.themes}
    for member in community.roster:
        assert member.languages and set(member.themes) <= theme_ids
        assert member.organisation and member.country
    for theme in community.themes:
        assert set(theme.leaders) <= {m.handle for m in community.roster}


def test_script_size_is_a_six_week_community(
    community: SampleCommunity, events: list[Line]
) -> None:
    assert 600 <= len(events) <= 1500
    weeks = Counter(community.week_of(e.at) for e in events if e.kind == "post")
    assert sorted(weeks) == [1, 2, 3, 4, 5, 6]
    assert min(weeks.values()) >= 50
    assert all(e.at.minute >= 0 for e in events)


def test_clock_never_goes_backwards_and_stays_in_the_six_weeks(
    community: SampleCommunity,
) -> None:
    stamps = [line for line in community.script_lines() if line.startswith("@ ")]
    assert stamps == sorted(stamps)
    end = community.start + timedelta(weeks=community.weeks)
    for stamp in stamps:
        at = datetime.strptime(stamp[2:], "%Y-%m-%d %H:%M").replace(tzinfo=LIMA)
        assert community.start <= at < end


def test_every_reference_is_to_an_earlier_live_message_in_the_same_place(
    events: list[Line],
) -> None:
    seen: dict[int, Line] = {}
    deleted: set[int] = set()
    for event in events:
        if event.kind == "post":
            if event.reply_to is not None:
                target = seen[event.reply_to]
                assert event.reply_to not in deleted
                assert (event.channel, event.thread) == (target.channel, target.thread)
            seen[event.number] = event
        elif event.kind in ("react", "unreact", "edit", "delete"):
            assert event.number in seen, f"{event.kind} of message {event.number} before it exists"
            assert event.number not in deleted
            target = seen[event.number]
            assert (event.channel, event.thread) == (target.channel, target.thread)
            if event.kind in ("edit", "delete"):
                assert event.who == target.who, "only the author edits or deletes a message"
            if event.kind == "delete":
                deleted.add(event.number)
            if event.kind in ("react", "unreact"):
                assert event.who != target.who, "nobody reacts to their own message"
    assert len(deleted) == 1


def test_nobody_acts_before_joining_or_after_leaving(
    community: SampleCommunity, events: list[Line]
) -> None:
    joined: dict[str, datetime] = {}
    left: dict[str, datetime] = {}
    for event in events:
        if event.kind == "join":
            assert event.who not in joined
            joined[event.who] = event.at
            assert (event.emoji == "bot ") == (event.who == community.bot.handle)
        elif event.kind == "leave":
            left[event.who] = event.at
        else:
            assert event.who in joined, f"{event.who} acts before joining"
            assert event.who not in left, f"{event.who} acts after leaving"
        for handle in MENTION.findall(event.text):
            assert handle in joined, f"@{handle} is mentioned before joining"
    assert set(joined) == {m.handle for m in (*community.roster, community.bot)}
    assert {h: t.astimezone(LIMA) for h, t in community.expected.joined.items()} == joined


def test_silent_joiners_never_act_and_are_exactly_who_never_posted(
    community: SampleCommunity, events: list[Line]
) -> None:
    silent = {m.handle for m in community.with_persona(Persona.SILENT_JOINER)}
    assert silent
    assert not [e for e in events if e.who in silent and e.kind not in ("join", "leave")]
    authors = {e.who for e in events if e.kind == "post"}
    everyone = {m.handle for m in community.roster}
    assert set(community.expected.never_posted) == everyone - authors == silent


def test_members_who_go_quiet_took_part_in_weeks_one_and_two_and_not_after(
    community: SampleCommunity, events: list[Line]
) -> None:
    quiet = community.expected.went_quiet
    assert set(quiet) == {m.handle for m in community.with_persona(Persona.GOES_QUIET)}
    for handle, last in quiet.items():
        theirs = [e for e in events if e.who == handle and e.kind != "join"]
        weeks = {community.week_of(e.at) for e in theirs if e.kind == "post"}
        assert {1, 2} <= weeks
        assert max(e.at for e in theirs) == last
        assert community.week_of(last) == 2


def test_the_opted_out_member_keeps_posting_after_optout(
    community: SampleCommunity, events: list[Line]
) -> None:
    expected = community.expected
    optouts = [e for e in events if e.kind == "command" and e.text == "/optout"]
    assert [(e.who, e.at) for e in optouts] == [(expected.opted_out, expected.optout_at)]
    later = [
        e.number
        for e in events
        if e.kind == "post" and e.who == expected.opted_out and e.at > expected.optout_at
    ]
    assert later and tuple(later) == expected.posts_after_optout
    assert any(
        t.thanked == expected.opted_out and t.at > expected.optout_at for t in expected.thanks
    )
    assert any(
        k.receiver == expected.opted_out and k.at > expected.optout_at for k in expected.kudos
    )


def test_thanks_name_someone_else_and_every_thanks_is_recorded(
    community: SampleCommunity, events: list[Line]
) -> None:
    expected = community.expected
    by_number = posts(events)
    recorded = {(t.kind, t.message, t.thanker): t for t in (*expected.thanks, *expected.bot_thanks)}
    for event in events:
        if event.kind == "post" and THANKS_WORDS.search(event.text):
            fact = recorded.pop(("text", event.number, event.who))
            assert fact.thanker == event.who
            assert MENTION.findall(event.text) == [fact.thanked]
            assert community.week_of(event.at) == fact.week
        if event.kind == "react" and event.emoji == "🙏":
            fact = recorded.pop(("reaction", event.number, event.who))
            assert fact.thanked == by_number[event.number].who
    assert not recorded, "a recorded thanks is not in the script"
    assert all(t.thanker != t.thanked for t in expected.thanks)
    assert all(t.thanked != expected.bot for t in expected.thanks)
    assert {t.thanked for t in expected.bot_thanks} == {expected.bot}
    texts = [by_number[t.message].text.lower() for t in expected.thanks if t.kind == "text"]
    for word in ("thank", "gracias", "obrigad"):
        assert any(word in text for text in texts), f"no thanks written with {word!r}"
    assert {t.week for t in expected.thanks} == set(range(1, 7))


def test_commands_of_facilitators_and_members_appear(
    community: SampleCommunity, events: list[Line]
) -> None:
    commands = [e for e in events if e.kind == "command"]
    facilitators = set(community.expected.facilitators)
    for word in ("/prompt add", "/stats", "/quiet", "/kudos", "/digest preview"):
        assert any(e.text.startswith(word) and e.who in facilitators for e in commands), word
    for word in ("/themes", "/mydata", "/nudges off", "/optout"):
        assert any(e.text.startswith(word) and e.who not in facilitators for e in commands), word
    theme_ids = {t.id for t in community.themes}
    for event in commands:
        if event.text.startswith("/prompt add"):
            assert event.text.split()[2] in theme_ids
    nudges_off = [e.who for e in commands if e.text == "/nudges off"]
    assert nudges_off == [community.expected.nudges_off]


def test_edits_and_the_deletion_match_the_facts(
    community: SampleCommunity, events: list[Line]
) -> None:
    edits = [e.number for e in events if e.kind == "edit"]
    deletes = [e.number for e in events if e.kind == "delete"]
    assert len(edits) >= 3 and tuple(sorted(edits)) == community.expected.edited
    assert tuple(deletes) == community.expected.deleted


def test_facts_agree_with_the_script(community: SampleCommunity, events: list[Line]) -> None:
    by_number = posts(events)
    facts = community.expected.messages
    assert [f.number for f in facts] == sorted(by_number)
    channel_theme = {t.channel: t.id for t in community.themes}
    for fact in facts:
        line = by_number[fact.number]
        assert (fact.author, fact.channel, fact.thread) == (line.who, line.channel, line.thread)
        assert fact.theme == channel_theme.get(line.channel)
        assert fact.at == line.at and fact.reply_to == line.reply_to
    replied = {e.reply_to for e in events if e.kind == "post"}
    for number in community.expected.unanswered_questions:
        assert number not in replied and "?" in by_number[number].text
    for number in community.expected.shared:
        assert "https://" in by_number[number].text


def test_the_quiet_theme_is_silent_for_more_than_two_weeks_then_revived(
    community: SampleCommunity, events: list[Line]
) -> None:
    expected = community.expected
    theme = community.theme(expected.quiet_theme)
    last, revived = expected.quiet_theme_last_message, expected.quiet_theme_revived_at
    assert revived - last > timedelta(days=14)
    in_gap = [e for e in events if e.kind == "post" and last < e.at < revived]
    assert in_gap
    for event in in_gap:
        assert event.channel != theme.channel
        assert not any(word in event.text.lower() for word in theme.keywords), event.text
    assert any(w == community.week_of(revived) and t == theme.id for w, t, _ in expected.prompts)


def test_demo_config_validates_and_matches_the_sample(community: SampleCommunity) -> None:
    settings = load_settings(CONFIG)
    praxis = settings.communities[community.community_id]
    assert praxis.name == community.name and praxis.timezone == community.timezone
    assert praxis.locale == "en"
    assert praxis.digest.channel == "console:general"
    assert settings.retention.message_text_days == 90
    assert settings.storage.path.name == "trellis-demo.sqlite3"
    assert set(praxis.roles.facilitators) == {
        f"console:{h}" for h in community.expected.facilitators
    }
    assert set(praxis.themes) == {t.id for t in community.themes}
    for theme in community.themes:
        configured = praxis.themes[theme.id]
        assert configured.name == theme.name
        assert configured.places == [theme.place]
        assert configured.keywords == list(theme.keywords)
        assert configured.leaders == [community.member(h).key for h in theme.leaders]
        assert configured.learning_goal == theme.learning_goal
        assert configured.prompt_cron == theme.prompt_cron
    assert "optout" in praxis.charter
