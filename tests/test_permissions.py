"""Who may do what, decided in one place: the permission configuration grants and the scopes of
theme leaders and item owners, as tables."""

from __future__ import annotations

import pytest

from bot.commands.permissions import (
    Scope,
    may_run,
    permission_from_keys,
    runs_the_community,
    scope_of,
)
from bot.commands.spec import Permission
from bot.config import parse_settings
from tests.helpers import config

SETTINGS = parse_settings(
    config(
        **{
            "communities.praxis.roles.matrix_facilitator_power_level": 50,
            "communities.praxis.roles.facilitators": ["console:fran", "discord-role:77"],
        }
    )
).communities["praxis"]

M, L, F, A = (
    Permission.MEMBER,
    Permission.THEME_LEADER,
    Permission.FACILITATOR,
    Permission.ADMIN,
)


@pytest.mark.parametrize(
    ("key", "held", "expected"),
    [
        ("console:ana", set(), M),
        ("console:lena", set(), L),  # leads water
        ("console:fran", set(), F),
        ("console:root", set(), A),
        ("discord:5", {"discord-role:77"}, F),
        ("discord:5", {"discord-role:78"}, M),
        ("matrix:@ana:example.org", {"matrix-power:50"}, F),
        ("matrix:@ana:example.org", {"matrix-power:49"}, M),
        ("discord:5", {"matrix-power:100"}, M),  # a power level means something on Matrix only
        ("console:ana", {"console:root"}, A),  # a key held (a role) grants what it names
    ],
)
def test_configuration_grants_each_permission(key, held, expected):
    assert permission_from_keys(SETTINGS, key, frozenset(held)) is expected


@pytest.mark.parametrize(
    ("permission", "led", "theme", "covered"),
    [
        (M, set(), "water", False),
        (M, set(), None, False),
        (L, {"water"}, "water", True),
        (L, {"water"}, "gender", False),
        (L, {"water"}, None, False),  # a message in no theme is no leader's
        (F, set(), "gender", True),
        (F, set(), None, True),
        (A, set(), "water", True),
    ],
)
def test_theme_scope(permission, led, theme, covered):
    assert Scope(permission, frozenset(led), 7).covers_theme(theme) is covered


@pytest.mark.parametrize(
    ("permission", "member_id", "owner_id", "covered"),
    [
        (M, 7, 7, True),  # one's own commitment or event
        (M, 7, 8, False),
        (L, 7, 8, False),  # leading a theme gives no say over members' items
        (M, 7, None, False),  # an item whose creator was forgotten
        (M, None, None, False),  # someone without a row owns nothing
        (F, 7, 8, True),
        (A, None, None, True),
    ],
)
def test_item_scope(permission, member_id, owner_id, covered):
    assert Scope(permission, frozenset(), member_id).covers_item(owner_id) is covered


def test_a_leader_sees_the_themes_they_lead_and_a_facilitator_all():
    every = list(SETTINGS.themes)
    assert scope_of(SETTINGS, "console:lena", L, 3).themes(every) == ["water"]
    assert scope_of(SETTINGS, "console:fran", F, 4).themes(every) == ["water", "gender"]
    assert scope_of(SETTINGS, "console:ana", M, 5).themes(every) == []


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        (M, M, True),
        (M, L, False),
        (L, L, True),
        (L, F, False),
        (F, L, True),  # higher includes lower
        (F, A, False),
        (A, F, True),
        (A, A, True),
    ],
)
def test_who_may_run_a_command(held, needed, allowed):
    assert may_run(held, needed) is allowed


@pytest.mark.parametrize(
    ("permission", "led", "needed", "theme", "allowed"),
    [
        # A command for theme leaders, given a theme: only that theme's leaders (and above).
        (L, {"water"}, L, "water", True),
        (L, {"water"}, L, "gender", False),
        (F, set(), L, "gender", True),
        (A, set(), L, "water", True),
        # Without a theme, the command decides what the leader's scope shows.
        (L, {"water"}, L, None, True),
        # A command for members or facilitators is not limited by the theme it names.
        (M, set(), M, "water", True),
        (L, {"water"}, M, "gender", True),
        (F, set(), F, "water", True),
    ],
)
def test_a_theme_leaders_command_on_a_theme(permission, led, needed, theme, allowed):
    assert Scope(permission, frozenset(led), 7).covers_command(needed, theme) is allowed


@pytest.mark.parametrize(
    ("permission", "led", "member_id", "theme", "owners", "allowed"),
    [
        (M, set(), 7, "water", (7,), True),  # an author of the item
        (M, set(), 7, "water", (8, 7), True),  # one of several
        (M, set(), 7, "water", (8,), False),
        (M, set(), 7, None, (None,), False),  # whoever filed it was forgotten
        (L, {"water"}, 7, "water", (8,), True),  # the leader of its theme
        (L, {"water"}, 7, "gender", (8,), False),
        (L, {"water"}, 7, None, (8,), False),
        (F, set(), 7, "gender", (8,), True),
        (A, set(), None, None, (None,), True),
    ],
)
def test_who_may_change_shared_knowledge(permission, led, member_id, theme, owners, allowed):
    assert Scope(permission, frozenset(led), member_id).covers_shared(theme, owners) is allowed


@pytest.mark.parametrize(("held", "steers"), [(M, False), (L, True), (F, True), (A, True)])
def test_who_runs_the_community_and_is_no_waiting_newcomer(held, steers):
    assert runs_the_community(held) is steers
