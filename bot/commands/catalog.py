"""Every command Trellis knows, gathered from the modules that declare them."""

from __future__ import annotations

from bot import monitoring
from bot.commands import facilitator, member
from bot.commands.spec import CommandSpec
from bot.services import questions


def all_commands() -> tuple[CommandSpec, ...]:
    specs = (
        *member.COMMANDS,
        *facilitator.COMMANDS,
        *monitoring.COMMANDS,
        *questions.COMMANDS,
    )
    names = [spec.name for spec in specs]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise RuntimeError(f"commands declared twice: {sorted(duplicates)}")
    return specs
