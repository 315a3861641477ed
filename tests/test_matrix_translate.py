"""Matrix JSON -> Trellis events, and Markdown -> Matrix messages, from payloads recorded on Synapse."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from adapters.matrix.render import chunk_contents, render_content
from adapters.matrix.translate import (
    EVENT_TYPES,
    Known,
    ReactionRecord,
    RoomContext,
    SeenEvent,
    references,
    strip_reply_fallback,
    translate,
)
from bot.events import (
    CommandInvoked,
    MemberJoined,
    MemberLeft,
    MemberRef,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
    ThreadOpened,
)

DATA = Path(__file__).parent / "data" / "matrix"
ANA = "@ana:trellis.test"
BEN = "@ben:trellis.test"


def recorded(name: str) -> list[dict]:
    return json.loads((DATA / name).read_text())


def room_of(events: list[dict], **overrides) -> RoomContext:
    settings = {
        "community": "water",
        "room_id": "!water:trellis.test",
        "room_name": "Water",
        "bot_user_id": "@trellis:trellis.test",
        "command_names": ("prompt add", "prompt list", "help"),
        "display_names": {ANA: "Ana", BEN: "Ben"},
    }
    settings.update(overrides)
    return RoomContext(**settings)


def by_body(events: list[dict], start: str) -> dict:
    return next(e for e in events if e["content"].get("body", "").startswith(start))


def test_plain_message_is_posted_with_author_time_and_room() -> None:
    events = recorded("live.json")
    raw = by_body(events, "How do you document")
    [posted] = translate(raw, room_of(events))
    assert isinstance(posted, MessagePosted)
    assert posted.author == MemberRef("matrix", ANA)
    assert posted.author.display_name == "Ana"
    assert posted.channel.id == "!water:trellis.test" and posted.channel.thread_id is None
    assert posted.message_id == raw["event_id"]
    assert posted.text == "How do you document a case study?"
    assert posted.occurred_at == datetime.fromtimestamp(raw["origin_server_ts"] / 1000, UTC)


def test_reply_names_target_and_author_strips_the_quote_and_keeps_mentions() -> None:
    events = recorded("live.json")
    root = by_body(events, "How do you document")
    raw = by_body(events, "> <@ana")
    [posted] = translate(raw, room_of(events))
    assert posted.reply_to == root["event_id"]
    assert posted.reply_to_author == MemberRef("matrix", ANA)
    assert posted.text == "With the template, thanks @ana"
    assert posted.mentions == (MemberRef("matrix", ANA),)


def test_reply_author_comes_from_what_we_saw_when_there_is_no_quote() -> None:
    events = recorded("live.json")
    raw = json.loads(json.dumps(by_body(events, "> <@ana")))
    raw["content"]["body"] = "With the template"
    target = raw["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
    assert references(raw).events == (target,)
    [posted] = translate(raw, room_of(events), Known(events={target: SeenEvent(BEN)}))
    assert posted.reply_to_author == MemberRef("matrix", BEN)


def test_thread_message_belongs_to_the_thread_and_opens_it_once() -> None:
    events = recorded("live.json")
    root = by_body(events, "How do you document")
    raw = by_body(events, "In the thread")
    assert references(raw).thread_root == root["event_id"]
    known = Known(events={root["event_id"]: SeenEvent(ANA, root["content"]["body"])})
    opened, posted = translate(raw, room_of(events), known)
    assert isinstance(opened, ThreadOpened)
    assert opened.channel.thread_id == root["event_id"]
    assert opened.title == "How do you document a case study?"
    assert opened.opener == MemberRef("matrix", ANA)
    assert posted.channel.thread_id == root["event_id"]
    assert posted.reply_to is None  # the fallback reply is not a reply
    again = translate(raw, room_of(events), Known(open_threads={root["event_id"]}))
    assert [type(e) for e in again] == [MessagePosted]


def test_emote_counts_and_notice_marks_its_author_as_automated() -> None:
    events = recorded("live.json")
    [emote] = translate(by_body(events, "waves"), room_of(events))
    assert emote.text == "waves" and not emote.author.is_bot
    [notice] = translate(by_body(events, "automated notice"), room_of(events))
    assert notice.author.is_bot


def test_reaction_added_then_its_redaction_removes_it() -> None:
    events = recorded("live.json")
    reaction = next(e for e in events if e["type"] == "m.reaction")
    [added] = translate(reaction, room_of(events))
    assert isinstance(added, ReactionAdded)
    assert added.emoji == "🙏" and added.member == MemberRef("matrix", BEN)
    assert added.message_id == reaction["content"]["m.relates_to"]["event_id"]
    redaction = next(
        e
        for e in events
        if e["type"] == "m.room.redaction" and e["redacts"] == reaction["event_id"]
    )
    record = ReactionRecord(added.message_id, BEN, "🙏")
    [removed] = translate(
        redaction, room_of(events), Known(reactions={reaction["event_id"]: record})
    )
    assert removed == ReactionRemoved(
        "water", added.channel, added.message_id, added.member, "🙏", removed.occurred_at
    )


def test_redaction_of_a_message_deletes_it() -> None:
    events = recorded("live.json")
    reply = by_body(events, "> <@ana")
    redaction = next(
        e for e in events if e["type"] == "m.room.redaction" and e["redacts"] == reply["event_id"]
    )
    [deleted] = translate(redaction, room_of(events))
    assert isinstance(deleted, MessageDeleted) and deleted.message_id == reply["event_id"]


def test_edit_is_an_edit_not_a_new_message() -> None:
    events = recorded("live.json")
    root = by_body(events, "How do you document")
    [edited] = translate(by_body(events, "* How do you"), room_of(events))
    assert edited == MessageEdited(
        "water", edited.channel, root["event_id"], "How do you document a case?", edited.occurred_at
    )


def test_command_uses_the_prefix_and_the_longest_registered_name() -> None:
    events = recorded("live.json")
    raw = by_body(events, "!trellis")
    [command] = translate(raw, room_of(events))
    assert isinstance(command, CommandInvoked)
    assert (command.command, command.text) == ("prompt add", "water What worked?")
    assert command.invocation_id == raw["event_id"]
    other_prefix = translate(raw, room_of(events, command_prefix="!cop"))
    assert [type(e) for e in other_prefix] == [MessagePosted]


def test_bare_prefix_asks_for_help_and_prefix_must_be_a_whole_word() -> None:
    events = recorded("live.json")
    raw = json.loads(json.dumps(by_body(events, "!trellis")))
    raw["content"]["body"] = "!trellis"
    [command] = translate(raw, room_of(events))
    assert command.command == "help"
    raw["content"]["body"] = "!trellisx stats"
    assert [type(e) for e in translate(raw, room_of(events))] == [MessagePosted]


def test_membership_join_and_leave() -> None:
    events = recorded("live.json")
    joined, left = (e for e in events if e["type"] == "m.room.member")
    assert translate(joined, room_of(events)) == [
        MemberJoined(
            "water", MemberRef("matrix", BEN), translate(joined, room_of(events))[0].occurred_at
        )
    ]
    [gone] = translate(left, room_of(events))
    assert isinstance(gone, MemberLeft) and gone.member.id == BEN
    renamed = json.loads(json.dumps(joined))
    renamed["unsigned"]["prev_content"]["membership"] = "join"
    assert translate(renamed, room_of(events)) == []


def test_bot_ignored_senders_and_puppets() -> None:
    events = recorded("live.json")
    raw = by_body(events, "How do you document")
    assert translate(raw, room_of(events, bot_user_id=ANA)) == []
    assert translate(raw, room_of(events, ignore_senders=(re.compile("@an"),))) == []
    puppet = (re.compile(r"@(ana):trellis\.test"), "discord")
    [posted] = translate(raw, room_of(events, puppet_patterns=(puppet,)))
    assert posted.author == MemberRef("discord", "ana")


def test_catch_up_after_redactions_never_delivers_redacted_text() -> None:
    events = recorded("catchup_after_redactions.json")
    room = room_of(events)
    delivered = [e for raw in events for e in translate(raw, room)]
    texts = [e.text for e in delivered if isinstance(e, MessagePosted)]
    assert "With the template, thanks @ana" not in texts
    assert not any(isinstance(e, ReactionAdded) for e in delivered)


def test_decrypted_message_translates_like_a_plain_one() -> None:
    events = recorded("encrypted_decrypted.json")
    [posted] = translate(events[0], room_of(events))
    assert posted.text == "a secret lesson" and posted.author.id == ANA


def test_strip_reply_fallback_keeps_text_without_quote() -> None:
    assert strip_reply_fallback("> <@a:x> hi\n> more\n\nanswer") == "answer"
    assert strip_reply_fallback("no quote") == "no quote"


def test_rendering_escapes_member_html_and_never_pings_the_room() -> None:
    content = render_content("**Digest**\n\nAna wrote <script>alert(1)</script> @room and @ROOM")
    assert "<strong>Digest</strong>" in content["formatted_body"]
    assert "<script>" not in content["formatted_body"]
    assert "&lt;script&gt;" in content["formatted_body"]
    assert not re.search("@room", content["body"], re.I)
    assert not re.search("@room", content["formatted_body"], re.I)
    assert content["m.mentions"] == {}
    assert content["msgtype"] == "m.notice"


def test_long_text_is_split_and_every_chunk_fits_an_event() -> None:
    text = "\n\n".join(f"Paragraph {i}: " + "palabra " * 200 for i in range(40))
    contents = chunk_contents(text, 16_000)
    assert len(contents) > 1
    assert all(len(c["body"]) <= 16_000 for c in contents)
    assert "".join(c["body"] for c in contents).replace("\n", "") == text.replace("\n", "")
    wide = "😀 " * 15_000
    assert all(len(json.dumps(c).encode()) <= 60_000 for c in chunk_contents(wide, 16_000))


def test_the_event_type_picks_the_factory_and_other_types_mean_nothing() -> None:
    events = recorded("live.json")
    room = room_of(events)
    kinds = [[type(e).__name__ for e in translate(raw, room)] for raw in events]
    assert {raw["type"] for raw in events} <= set(EVENT_TYPES)
    assert kinds[0] == ["MemberJoined"] and kinds[-1] == ["MemberLeft"]
    assert ["ReactionAdded"] in kinds and ["MessageDeleted"] in kinds
    assert sum(k == ["MessagePosted"] for k in kinds) >= 4
    topic = {**events[1], "type": "m.room.topic", "content": {"topic": "Water rights"}}
    assert translate(topic, room) == []
