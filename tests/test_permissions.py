"""Who may do what, decided in one place: the permission configuration grants and the scopes of
theme leaders and item owners, as tables."""

from __future__ import annotations

import pytest

from bot.commands.permissions import Scope, permission_from_keys, scope_of
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
