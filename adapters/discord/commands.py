"""Slash commands for Discord, built from Trellis's command specs: one ``app_commands`` group per
first word, options typed from the parameters, names and descriptions translated from the catalogs,
facilitator commands hidden from members by default; and the link that invites the bot.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import discord
from discord import app_commands

from bot.commands.spec import CommandSpec, Param, ParamKind, Permission
from bot.commands.words import PUBLIC, PUBLIC_HELP, word
from bot.i18n import Translator, catalog_locales

Invoke = Callable[[CommandSpec, discord.Interaction], Awaitable[None]]
"""What a slash command does when used: hands the spec and the interaction to the adapter."""
Autocomplete = Callable[[discord.Interaction, str], Awaitable[list[app_commands.Choice[str]]]]

log = logging.getLogger(__name__)

_FACILITATOR_PERMISSIONS = discord.Permissions(manage_guild=True)
"""Default member permissions of facilitator and admin commands: Discord hides them from members
(server admins can re-assign them per role in Server Settings > Integrations)."""

_IN_DIRECT_MESSAGES = app_commands.AppCommandContext(
    guild=False, dm_channel=True, private_channel=False
)
_INSTALLED_IN_SERVERS = app_commands.AppInstallationType(guild=True, user=False)

DIRECT_COMMANDS = frozenset(
    {
        "pulse",
        "story",
        "nudges",
        "mydata",
        "optout",
        "optin",
        "forget-me",
        "help",
        "profile set",
        "done",
    }
)
"""The member commands that direct messages point to (a survey, a nudge, the welcome, a
commitment's reminder): also offered in a direct message with the bot."""


def command_tree_roots(
    specs: Sequence[CommandSpec],
    *,
    invoke: Invoke,
    autocomplete_theme: Autocomplete,
    direct: bool = False,
) -> list[app_commands.Command[Any, ..., Any] | app_commands.Group]:
    """The slash commands of ``specs``: for a server, or (``direct``) for direct messages."""
    roots: dict[str, app_commands.Command[Any, ..., Any] | app_commands.Group] = {}
    groups: dict[tuple[str, ...], app_commands.Group] = {}
    by_group: dict[str, list[CommandSpec]] = {}
    for spec in specs:
        by_group.setdefault(spec.words[0], []).append(spec)
    for first, specs in by_group.items():
        single = [s for s in specs if len(s.words) == 1]
        nested = [s for s in specs if len(s.words) > 1]
        # A bare command also offered as one of its group's subcommands (/library as /library
        # list) is not lost: only one offered under no other name is worth a warning.
        if single and not any(s.handler is single[0].handler for s in nested) and nested:
            log.warning(
                "/%s is both a command and a group of commands; Discord allows only one, so "
                "/%s alone is not offered as a slash command.",
                first,
                first,
            )
        if not nested:
            roots[first] = slash_command(
                single[0],
                parent=None,
                direct=direct,
                invoke=invoke,
                autocomplete_theme=autocomplete_theme,
            )
            continue
        for spec in nested:
            parent: app_commands.Group | None = None
            for depth in range(1, len(spec.words)):
                key = spec.words[:depth]
                if key not in groups:
                    members = [s for s in nested if s.words[:depth] == key]
                    group = app_commands.Group(
                        name=key[-1],
                        description=_trim(
                            f"{' '.join(key)}: " + ", ".join(s.words[depth] for s in members)
                        ),
                        parent=parent,
                        guild_only=not direct,
                        allowed_contexts=(
                            _IN_DIRECT_MESSAGES if direct and parent is None else None
                        ),
                        allowed_installs=(
                            _INSTALLED_IN_SERVERS if direct and parent is None else None
                        ),
                        default_permissions=(
                            _FACILITATOR_PERMISSIONS
                            if parent is None
                            and all(s.permission >= Permission.FACILITATOR for s in members)
                            else None
                        ),
                    )
                    if parent is None:
                        roots[key[0]] = group
                    else:
                        parent.add_command(group)
                    groups[key] = group
                parent = groups[key]
            assert parent is not None
            parent.add_command(
                slash_command(
                    spec, parent=parent, invoke=invoke, autocomplete_theme=autocomplete_theme
                )
            )
    return list(roots.values())


def slash_command(
    spec: CommandSpec,
    *,
    parent: app_commands.Group | None,
    invoke: Invoke,
    autocomplete_theme: Autocomplete,
    direct: bool = False,
) -> app_commands.Command[Any, ..., Any]:
    """The slash command of a spec: for a server, or (``direct``) for direct messages."""

    async def callback(interaction: discord.Interaction[Any], /, **_: Any) -> None:
        await invoke(spec, interaction)

    ordered = sorted(spec.params, key=lambda p: not p.required)
    parameters = [
        inspect.Parameter(
            "interaction",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=discord.Interaction,
        )
    ]
    renames: dict[str, str] = {}
    for param in ordered:
        python_name = param.name.replace("-", "_")
        if python_name != param.name:
            renames[python_name] = param.name
        parameters.append(
            inspect.Parameter(
                python_name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if param.required else None,
                annotation=_annotation(param),
            )
        )
    descriptions = {p.name.replace("-", "_"): _trim(p.help or p.name) for p in ordered}
    if not spec.private:
        # The answer is the member's alone unless they ask to show it to the channel.
        parameters.append(
            inspect.Parameter(PUBLIC, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=bool)
        )
        descriptions[PUBLIC] = PUBLIC_HELP
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    app_commands.describe(**descriptions)(callback)
    choices = {
        p.name.replace("-", "_"): [app_commands.Choice(name=c, value=c) for c in p.choices]
        for p in ordered
        if p.choices
    }
    if choices:
        app_commands.choices(**choices)(callback)
    themes: dict[str, Any] = {
        p.name.replace("-", "_"): autocomplete_theme for p in ordered if p.kind is ParamKind.THEME
    }
    if themes:
        app_commands.autocomplete(**themes)(callback)
    if renames:
        app_commands.rename(**renames)(callback)
    command: app_commands.Command[Any, ..., Any] = app_commands.Command(
        name=spec.words[-1],
        description=app_commands.locale_str(_trim(spec.help or spec.name), help=spec.help),
        callback=callback,
        parent=parent,
        allowed_contexts=_IN_DIRECT_MESSAGES if direct else None,
        allowed_installs=_INSTALLED_IN_SERVERS if direct else None,
    )
    if parent is None and not direct:
        command.guild_only = True
        if spec.permission >= Permission.FACILITATOR:
            command.default_permissions = _FACILITATOR_PERMISSIONS
    return command


def theme_choices(themes: dict[str, str], current: str) -> list[tuple[str, str]]:
    """Autocomplete for a theme option: (label, theme id) pairs matching what was typed so far."""
    typed = current.strip().lower()
    found = [
        (f"{name} ({theme_id})"[:100], theme_id)
        for theme_id, name in sorted(themes.items())
        if typed in theme_id or typed in name.lower()
    ]
    return found[:25]


def invite_url(application_id: str | int) -> str:
    """The link that adds the bot to a server with exactly the permissions it uses."""
    return discord.utils.oauth_url(
        application_id, permissions=BOT_PERMISSIONS, scopes=("bot", "applications.commands")
    )


BOT_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)
"""What Trellis needs in a server: see channels and read their history, post (with a chart file and
link previews) in channels and threads. Nothing that moderates, manages, reacts or pings:
1024 + 2048 + 16384 + 32768 + 65536 + 2**38 = 274878024704."""


def _annotation(param: Param) -> Any:
    if param.kind is ParamKind.MEMBER:
        return discord.User
    if param.kind is ParamKind.CHANNEL:
        return discord.TextChannel | discord.Thread | discord.ForumChannel
    if param.kind is ParamKind.INTEGER:
        return int
    return str


_NAMES = (
    app_commands.TranslationContextLocation.command_name,
    app_commands.TranslationContextLocation.group_name,
    app_commands.TranslationContextLocation.parameter_name,
)


class CatalogTranslator(app_commands.Translator):
    """Commands in every language Trellis has a catalog for (es-ES and es-419, pt-BR): Discord
    shows each person the names, choices and descriptions of their own client's language, and
    sends Trellis the English ones."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        language = locale.value.split("-")[0]
        if language not in catalog_locales():
            return None
        if context.location in _NAMES:
            name = word(language, string.message)
            return name if name != string.message and discord_name(name) else None
        if context.location is app_commands.TranslationContextLocation.choice_name:
            choice = word(language, string.message)
            return choice[:100] if choice != string.message else None
        if context.location is app_commands.TranslationContextLocation.parameter_description:
            text = Translator(language)._(string.message)
            return _trim(text) if text != string.message else None
        if context.location is not app_commands.TranslationContextLocation.command_description:
            return None
        help_ = string.extras.get("help")
        if not help_:
            return None
        text = Translator(language)._(help_)
        return _trim(text) if text != help_ else None


def discord_name(name: str) -> bool:
    """Whether Discord takes ``name`` for a command, group or option: 1 to 32 letters, digits,
    ``-`` or ``_``, in lower case where the script has case."""
    return (
        0 < len(name) <= 32 and all(c.isalnum() or c in "-_" for c in name) and name == name.lower()
    )


def _trim(text: str, limit: int = 100) -> str:
    """Discord's descriptions are 1 to 100 characters."""
    text = " ".join(text.split()) or "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"
