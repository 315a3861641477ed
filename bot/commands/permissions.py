"""Who may do what: permissions come from configuration, checked here and nowhere else."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands.spec import Permission
from bot.config import CommunitySettings

if TYPE_CHECKING:
    from bot.app import Trellis
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
    app: Trellis, community: str, member: MemberRef, platform: str | None = None
) -> Permission:
    """``platform`` is where the member acts, when it differs from theirs (a bridged puppet)."""
    adapter = app.adapters.get(platform or member.platform)
    keys = await adapter.member_roles(community, member) if adapter is not None else frozenset()
    return permission_from_keys(app.community(community), member.key, keys)
