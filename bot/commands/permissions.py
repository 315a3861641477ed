"""Who may do what: permissions come from configuration, decided here and nowhere else.

A command's permission (member, theme leader, facilitator, admin) is checked by the pipeline
(``may_run``); what a command may then touch (a theme a leader leads, an item someone owns) is
decided by ``Scope``. Commands, listeners and services ask these functions; none decides itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.commands.spec import Permission
from bot.community import Community
from bot.config import CommunitySettings
from bot.events import MemberRef


def permission_from_keys(
    settings: CommunitySettings, member_key: str, keys: frozenset[str]
) -> Permission:
    """The highest permission that any of the member's keys (their own, roles, power) grants."""
    held = keys | {member_key}
    if held & set(settings.roles.admins):
        return Permission.ADMIN
    if held & set(settings.roles.facilitators):
        return Permission.FACILITATOR
    threshold = settings.roles.matrix_facilitator_power_level
    if threshold is not None and member_key.startswith("matrix:"):
        for key in held:
            if key.startswith("matrix-power:") and int(key.split(":", 1)[1]) >= threshold:
                return Permission.FACILITATOR
    if themes_led(settings, member_key):
        return Permission.THEME_LEADER
    return Permission.MEMBER


def themes_led(settings: CommunitySettings, member_key: str) -> set[str]:
    return {theme_id for theme_id, theme in settings.themes.items() if member_key in theme.leaders}


async def permission_of(
    community: Community, member: MemberRef, platform: str | None = None
) -> Permission:
    """``platform`` is where the member acts, when it differs from theirs (a bridged puppet)."""
    keys = await community.member_roles(member, platform)
    return permission_from_keys(community.settings, member.key, keys)


def may_run(held: Permission, needed: Permission) -> bool:
    """Whether a member holding ``held`` may run a command that needs ``needed``: higher
    includes lower (an admin may do what a facilitator may)."""
    return held >= needed


def runs_the_community(held: Permission) -> bool:
    """Theme leaders, facilitators and admins steer the community (often by command alone): a
    silence of theirs is not a newcomer's waiting for a welcome."""
    return held > Permission.MEMBER


@dataclass(frozen=True, slots=True)
class Scope:
    """What one member may act on: their permission, the themes they lead, who they are."""

    permission: Permission
    led: frozenset[str]
    member_id: int | None
    """None for someone Trellis has no row for: they own nothing."""

    def covers_theme(self, theme: str | None) -> bool:
        """Facilitators and admins act on every theme; a theme leader on the themes they lead."""
        if self.permission >= Permission.FACILITATOR:
            return True
        return self.permission == Permission.THEME_LEADER and theme in self.led

    def covers_item(self, owner_id: int | None) -> bool:
        """An item (a commitment, an event) is changed by the member it belongs to, or by a
        facilitator or admin."""
        if self.permission >= Permission.FACILITATOR:
            return True
        return owner_id is not None and owner_id == self.member_id

    def covers_shared(self, theme: str | None, owners: Iterable[int | None]) -> bool:
        """Shared knowledge (a library item) is changed by any of its ``owners`` (its authors,
        whoever shared or marked it), by the leaders of its theme, and by facilitators."""
        return self.covers_theme(theme) or any(self.covers_item(owner) for owner in owners)

    def covers_command(self, needed: Permission, theme: str | None) -> bool:
        """A command that needs a theme leader, given a theme, is for the leaders of that theme
        (and facilitators); any other command is not limited by its theme."""
        return needed != Permission.THEME_LEADER or theme is None or self.covers_theme(theme)

    def themes(self, every: Iterable[str]) -> list[str]:
        """The themes of ``every`` this member acts on, in their order."""
        return [theme for theme in every if self.covers_theme(theme)]


def scope_of(
    settings: CommunitySettings, member_key: str, permission: Permission, member_id: int | None
) -> Scope:
    return Scope(permission, frozenset(themes_led(settings, member_key)), member_id)
