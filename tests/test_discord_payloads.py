"""The pure translation from Discord gateway payloads (recorded in tests/data/discord) to events."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.commands import command_tree_roots, invite_url, theme_choices
from adapters.discord.translate import (
    GATEWAY_EVENTS,
    Gateway,
    catch_up_start,
    command_options,
    deleted_meanwhile,
    member_event,
    message_edited,
    message_posted,
    messages_deleted,
    presence,
    reaction_event,
    thread_opened,
    translate,
)
from bot.commands.spec import CommandSpec
from bot.events import (
    ChannelRef,
    MemberJoined,
    MemberLeft,
    MemberRef,
    MessageDeleted,
    ReactionAdded,
    ReactionRemoved,
)

DATA = Path(__file__).parent / "data" / "discord"
WATER = ChannelRef("discord", "1414650000000000001", "water")
CASES = ChannelRef("discord", "1414650000000000003", "cases")
BOT_ID = "1414600000000000001"
NOW = datetime(2026, 9, 8, 16, 30, tzinfo=UTC)


def payload(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))["d"]


def test_reply_names_the_answered_member_and_the_mentioned_one() -> None:
    event = message_posted(
        payload("message_create_reply"), community="commons", channel=WATER, own_id=BOT_ID
    )
    assert event is not None
    assert event.author == MemberRef("discord", "1414600000000000012")
    assert event.author.display_name == "Ben (Cusco)"  # the server nickname wins
    assert event.reply_to == "1414653900000000000"
    assert event.reply_to_author == MemberRef("discord", "1414600000000000011")
    assert event.reply_to_author.display_name == "Ana Mamani"
    assert [m.display_name for m in event.mentions] == ["Ana Mamani"]
    assert event.occurred_at == datetime(2026, 9, 8, 14, 3, 11, 208000, tzinfo=UTC)
    assert event.text.startswith("We use test strips")


def test_webhooks_bots_and_our_own_messages_are_not_conversation() -> None:
    webhook = payload("message_create_webhook")
    assert message_posted(webhook, community="c", channel=WATER, own_id=BOT_ID) is None
    own = payload("message_create_reply") | {
        "author": {"id": BOT_ID, "username": "trellis", "bot": True}
    }
    assert message_posted(own, community="c", channel=WATER, own_id=BOT_ID) is None
    pinned_notice = payload("message_create_reply") | {"type": 6}
    assert message_posted(pinned_notice, community="c", channel=WATER, own_id=BOT_ID) is None


def test_only_a_change_of_text_is_an_edit() -> None:
    unfurl = payload("message_update_unfurl")
    assert message_edited(unfurl, community="c", channel=WATER, own_id=BOT_ID) is None
    edit = message_edited(
        payload("message_update_edit"), community="c", channel=WATER, own_id=BOT_ID
    )
    assert edit is not None
    assert (edit.message_id, edit.text) == (
        "1414654125836898365",
        "We use test strips from the ministry.",
    )
    assert edit.occurred_at == datetime(2026, 9, 8, 14, 10, 0, 500000, tzinfo=UTC)


def test_bulk_delete_deletes_every_message() -> None:
    deleted = messages_deleted(
        "MESSAGE_DELETE_BULK",
        payload("message_delete_bulk"),
        community="c",
        channel=WATER,
        occurred_at=NOW,
    )
    assert deleted == [
        MessageDeleted("c", WATER, "1414654125836898365", NOW),
        MessageDeleted("c", WATER, "1414653900000000000", NOW),
    ]


def test_reactions_unicode_and_custom() -> None:
    added = reaction_event(
        "MESSAGE_REACTION_ADD",
        payload("reaction_add"),
        community="c",
        channel=WATER,
        member_name="",
        own_id=BOT_ID,
        occurred_at=NOW,
    )
    assert isinstance(added, ReactionAdded)
    assert (added.emoji, added.member.display_name) == ("🙏", "Ana Mamani")
    removed = reaction_event(
        "MESSAGE_REACTION_REMOVE",
        payload("reaction_remove_custom"),
        community="c",
        channel=WATER,
        member_name="Ana (from the cache)",
        own_id=BOT_ID,
        occurred_at=NOW,
    )
    assert isinstance(removed, ReactionRemoved)
    assert removed.emoji == "<:wellcheck:1414600000000000777>"
    assert removed.member.display_name == "Ana (from the cache)"


def test_member_join_uses_the_join_time() -> None:
    joined = member_event("GUILD_MEMBER_ADD", payload("member_add"), community="c", occurred_at=NOW)
    assert joined == MemberJoined(
        "c",
        MemberRef("discord", "1414600000000000013"),
        datetime(2026, 9, 9, 9, 30, 0, 123000, tzinfo=UTC),
    )
    bot = payload("member_add") | {"user": {"id": "9", "username": "helper", "bot": True}}
    assert member_event("GUILD_MEMBER_ADD", bot, community="c", occurred_at=NOW) is None


def test_forum_post_opens_a_thread_of_the_forum() -> None:
    opened = thread_opened(
        payload("thread_create_forum_post"), community="c", parent=CASES, opener_name="Fede"
    )
    assert opened is not None
    assert opened.channel == ChannelRef("discord", CASES.id, thread_id="1414660000000000000")
    assert opened.title == "Case: rainwater tanks in Lima"
    assert opened.opener is not None and opened.opener.display_name == "Fede"
    joined_old = payload("thread_create_forum_post") | {"newly_created": False}
    assert thread_opened(joined_old, community="c", parent=CASES, opener_name="") is None


def test_subcommand_words_and_option_values() -> None:
    words, options = command_options(payload("interaction_prompt_add")["data"])
    assert words == "prompt add"
    assert options == (
        ("theme", "water"),
        ("text", "What failed this month, and what did you learn?"),
    )


def test_member_and_thread_options_are_resolved() -> None:
    words, options = command_options(payload("interaction_kudos")["data"])
    values = dict(options)
    assert words == "kudos"
    assert values["member"] == MemberRef("discord", "1414600000000000012")
    assert values["member"].display_name == "Ben (Cusco)"
    assert values["reason"] == "the well map"
    assert values["where"] == ChannelRef("discord", CASES.id, thread_id="1414660000000000000")


def test_theme_choices_match_id_or_name() -> None:
    themes = {"water": "Water and sanitation", "gender": "Gender and inclusion"}
    assert theme_choices(themes, "INCL") == [("Gender and inclusion (gender)", "gender")]
    assert [v for _, v in theme_choices(themes, "")] == ["gender", "water"]


def test_invite_link_asks_for_exactly_what_trellis_uses() -> None:
    url = invite_url(1414600000000000001)
    assert "client_id=1414600000000000001" in url
    assert "scope=bot+applications.commands" in url
    assert "permissions=274878024704" in url


def test_members_present_are_members_never_newcomers_and_the_gone_have_left() -> None:
    ana = MemberRef("discord", "1", "Ana")
    helper = MemberRef("discord", "2", "Helper", is_bot=True)
    long_ago = datetime(2025, 1, 5, tzinfo=UTC)
    stored = {"discord:1", "discord:3"}
    events = presence("commons", [(ana, long_ago), (helper, None)], stored, now=NOW, complete=True)
    assert events == [
        MemberJoined("commons", ana, long_ago, live=False),
        MemberLeft("commons", MemberRef("discord", "3"), NOW),
    ]
    # A member list cut short (chunks timed out) says who is there, never who has gone.
    cut = presence("commons", [(ana, None)], stored, now=NOW, complete=False)
    assert cut == [MemberJoined("commons", ana, NOW, live=False)]


@dataclass
class Stored:
    newest: datetime | None = None
    last_messages: dict[str, datetime] = field(default_factory=dict)
    messages: dict[str, frozenset[str]] = field(default_factory=dict)
    members_present: frozenset[str] = frozenset()


def test_catch_up_starts_a_day_before_each_places_newest_stored_message() -> None:
    day = timedelta(days=1)
    horizon = NOW - timedelta(days=14)
    stored = Stored(NOW - 3 * day, {"discord:10": NOW - 3 * day, "discord:11": NOW - 30 * day})
    start = {
        key: catch_up_start(key, stored, horizon=horizon, recent=day)
        for key in ("discord:10", "discord:11", "discord:12")
    }
    assert start == {
        "discord:10": NOW - 4 * day,
        "discord:11": horizon,  # never further back than catch_up.max_days
        "discord:12": NOW - 4 * day,  # a new place: from the community's newest message
    }
    # Nothing stored yet: a first start reads no history (backfill does that).
    assert catch_up_start("discord:10", Stored(), horizon=horizon, recent=day) is None


def test_a_message_stored_and_no_longer_in_the_stretch_read_again_was_deleted() -> None:
    day = timedelta(days=1)
    old, kept, gone = (str(snowflake_at(NOW - n * day)) for n in (5, 2, 1))
    # Only within the stretch read: an older message is not judged.
    assert deleted_meanwhile({old, kept, gone}, {kept}, NOW - 3 * day) == [gone]


def snowflake_at(moment: datetime) -> int:
    return (int(moment.timestamp() * 1000) - 1420070400000) << 22


def test_every_recorded_dispatch_goes_through_the_table_to_its_events() -> None:
    """The adapter's path: the dispatch type picks the factory, the cache resolves places and
    names; what Trellis does not read (slash commands arrive through discord.py) means nothing."""
    places = {WATER.id: WATER, CASES.id: CASES}
    gateway = Gateway(
        community="commons",
        own_id=BOT_ID,
        now=NOW,
        place=lambda channel_id: places.get(str(channel_id), ChannelRef("discord", channel_id)),
        member_name=lambda user_id: {"1414600000000000011": "Ana (cached)"}.get(user_id, ""),
    )
    kinds = {}
    for path in sorted(DATA.glob("*.json")):
        recorded = json.loads(path.read_text(encoding="utf-8"))
        events = translate(recorded["t"], recorded["d"], gateway)
        kinds[path.stem] = [type(event).__name__ for event in events]
        assert all(event.community == "commons" for event in events)
    assert kinds == {
        "interaction_kudos": [],
        "interaction_prompt_add": [],
        "member_add": ["MemberJoined"],
        "message_create_reply": ["MessagePosted"],
        "message_create_webhook": [],
        "message_delete_bulk": ["MessageDeleted"] * 2,
        "message_update_edit": ["MessageEdited"],
        "message_update_unfurl": [],
        "reaction_add": ["ReactionAdded"],
        "reaction_remove_custom": ["ReactionRemoved"],
        "thread_create_forum_post": ["ThreadOpened"],
    }
    assert set(GATEWAY_EVENTS) >= {"MESSAGE_CREATE", "THREAD_CREATE", "GUILD_MEMBER_REMOVE"}
    [opened] = translate("THREAD_CREATE", payload("thread_create_forum_post"), gateway)
    assert opened.channel == ChannelRef("discord", CASES.id, thread_id="1414660000000000000")
    [removed] = translate("MESSAGE_REACTION_REMOVE", payload("reaction_remove_custom"), gateway)
    assert removed.occurred_at == NOW  # Discord sends no time: it happened when it arrived


def test_a_bare_command_offered_as_a_subcommand_is_no_cause_for_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def listing(ctx: object) -> None: ...

    async def other(ctx: object) -> None: ...

    async def invoke(spec: CommandSpec, interaction: object) -> None: ...

    async def autocomplete(interaction: object, current: str) -> list:
        return []

    specs = [
        CommandSpec("library", "All items.", listing),
        CommandSpec("library list", "All items.", listing),
        CommandSpec("library edit", "Change one.", other),
        CommandSpec("map", "The map.", listing),
        CommandSpec("map show", "Another thing.", other),
    ]
    with caplog.at_level(logging.WARNING, logger="adapters.discord"):
        roots = command_tree_roots(specs, invoke=invoke, autocomplete_theme=autocomplete)
    assert sorted(root.name for root in roots) == ["library", "map"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and warnings[0].startswith("/map is both a command and a group")
