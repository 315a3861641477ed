"""Trellis's configuration: a TOML file loaded into typed, validated settings.

Built in ``main()`` and passed down; nothing here runs at import time. An unknown or misspelt key,
a wrong type, a missing value or a missing secret environment variable is reported as one sentence
naming the key's path and what is expected (``ConfigError``). Secrets are read from environment
variables named in the file and never printed.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails


class ConfigError(Exception):
    """A configuration problem, phrased for the person who edits the file."""


def _valid_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown timezone {name!r}; use an IANA name such as 'America/Lima'"
        ) from None
    return name


def _valid_cron(expression: str) -> str:
    try:
        CronTrigger.from_crontab(expression)
    except ValueError as exc:
        raise ValueError(
            f"{expression!r} is not a cron expression ('minute hour day month weekday', "
            f"e.g. '0 9 * * mon'): {exc}"
        ) from None
    return expression


_REF = re.compile(r"^(console|discord|matrix):.+$")


def _valid_ref(value: str) -> str:
    if not _REF.match(value):
        raise ValueError(
            f"{value!r} should be written 'platform:id', e.g. 'discord:1234', "
            f"'matrix:!room:example.org' or 'console:water'"
        )
    return value


def one_place_per_platform(places: list[str], key: str) -> list[str]:
    """``places`` as given, or a ValueError naming two of them on one platform: a post goes to
    one place per platform (a bridge relays it further)."""
    seen: dict[str, str] = {}
    for place in places:
        platform = place.partition(":")[0]
        if platform in seen:
            raise ValueError(
                f"{key} names {seen[platform]!r} and {place!r}, both on {platform}; keep one "
                f"place per platform"
            )
        seen[platform] = place
    return places


Timezone = Annotated[str, AfterValidator(_valid_timezone)]
Cron = Annotated[str, AfterValidator(_valid_cron)]
Ref = Annotated[str, AfterValidator(_valid_ref)]
Locale = Annotated[str, Field(pattern=r"^(en|es|pt)$")]


class Section(BaseModel):
    # Strict: TOML has real booleans and numbers, so "yes" or 1 for a switch is a mistake to name,
    # not a value to guess at.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def valid_database_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is not None:
        raise ValueError(
            "the password does not go in the file: put it in an environment variable and name "
            "that variable in storage.password_env"
        )
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        raise ValueError(
            f"{url!r} should be written 'postgresql://user@host/database' (or with a port: "
            f"'postgresql://user@host:5432/database')"
        )
    return url


class StorageSettings(Section):
    path: Annotated[Path, Field(strict=False)] = Path("trellis.sqlite3")
    """The SQLite file. Relative paths are relative to the config file."""
    url: Annotated[str, AfterValidator(valid_database_url)] | None = None
    """A PostgreSQL database instead of the SQLite file: 'postgresql://user@host/database'."""
    password_env: str | None = None
    """The environment variable holding the PostgreSQL user's password (none: the server lets
    the user in without one, e.g. over its unix socket)."""

    @model_validator(mode="after")
    def _one_database(self) -> StorageSettings:
        if self.url is not None and "path" in self.model_fields_set:
            raise ValueError("set path (a SQLite file) or url (a PostgreSQL database), not both")
        if self.password_env is not None and self.url is None:
            raise ValueError(
                "password_env names the password of url's PostgreSQL user; set url too, or "
                "remove password_env"
            )
        return self


class RetentionSettings(Section):
    message_text_days: int = Field(default=30, ge=0, le=3650)
    """How long message text is kept (for digest excerpts). Counts and links are kept regardless."""


class ParticipationSettings(Section):
    """Levels over the last ``window_weeks``: core > active > peripheral > inactive."""

    window_weeks: int = Field(default=4, ge=1, le=52)
    core_min_messages: int = Field(default=12, ge=1, le=10_000)
    core_min_active_days: int = Field(default=6, ge=1, le=366)
    active_min_messages: int = Field(default=3, ge=1, le=10_000)
    peripheral_min_actions: int = Field(default=1, ge=1, le=10_000)
    """Reactions given and messages together; reacting counts as taking part."""


class NudgeSettings(Section):
    enabled: bool = True
    newcomer_after_days: int = Field(default=7, ge=1, le=3650)
    """Nudge a member who joined and has not posted after this many days."""
    silent_after_weeks: int = Field(default=3, ge=1, le=520)
    """Nudge a member who took part before and has been silent this many weeks."""
    cooldown_days: int = Field(default=30, ge=1, le=3650)
    daily_cap: int = Field(default=10, ge=0, le=10_000)
    scan_cron: Cron = "0 10 * * *"


class DigestSettings(Section):
    channels: list[Ref] = Field(default_factory=list)
    """Where the weekly digest is posted, one place per platform, as 'platform:id'. Without
    any, digests are only previewed."""
    channel: Ref | None = None
    """One place to post the digest: the same as ``channels`` with one place in it."""
    cron: Cron = "0 9 * * mon"
    excerpt_chars: int = Field(default=140, ge=0, le=500)
    busiest_threads: int = Field(default=3, ge=0, le=10)
    brief: bool = True
    """Post the digest as one chat message (2,000 characters) with the whole one attached as a
    Markdown file; false posts the whole digest, split over several messages if needed."""
    quote_encrypted: bool = False
    """Quote messages of end-to-end encrypted rooms in a digest posted to a room that is not."""

    @model_validator(mode="after")
    def _one_list_of_places(self) -> DigestSettings:
        if self.channel is not None and self.channels:
            raise ValueError(
                "set channels (the digest's places, one per platform) or channel, not both"
            )
        one_place_per_platform(self.channels, "channels")
        return self

    @property
    def places(self) -> tuple[str, ...]:
        """Where the digest goes, one place per platform."""
        return (self.channel,) if self.channel is not None else tuple(self.channels)


class CatchUpSettings(Section):
    max_days: int = Field(default=14, ge=0, le=365)
    """At start, each adapter reads what happened while Trellis was down, at most this far back."""


class DormancySettings(Section):
    after_days: int = Field(default=14, ge=1, le=3650)


class ThemeSettings(Section):
    name: str
    places: list[Ref] = Field(default_factory=list)
    """Channels, rooms or threads this theme owns, as 'platform:id'."""
    keywords: list[str] = Field(default_factory=list)
    """Messages elsewhere that use one of these words also count for the theme."""
    leaders: list[Ref] = Field(default_factory=list)
    learning_goal: str = ""
    prompt_cron: Cron | None = None
    """When this theme's next queued prompt is posted; none means only when it falls dormant."""
    prompt_places: list[Ref] = Field(default_factory=list)
    """Where prompts and event reminders go, one place per platform; by default the theme's
    first place on each platform."""
    prompt_place: Ref | None = None
    """One place for prompts: the same as ``prompt_places`` with one place in it."""

    @model_validator(mode="after")
    def _one_list_of_prompt_places(self) -> ThemeSettings:
        if self.prompt_place is not None and self.prompt_places:
            raise ValueError("set prompt_places (one per platform) or prompt_place, not both")
        one_place_per_platform(self.prompt_places, "prompt_places")
        return self


class RoleSettings(Section):
    """Who holds which permission: member keys ('discord:123', 'matrix:@ana:example.org'),
    Discord role ids ('discord-role:456') or a minimum Matrix power level."""

    admins: list[str] = Field(default_factory=list)
    facilitators: list[str] = Field(default_factory=list)
    matrix_facilitator_power_level: int | None = Field(default=50, ge=0, le=100)


class SurveySettings(Section):
    """The monthly pulse and the quarterly story of change, asked by direct message."""

    enabled: bool = True
    pulse_cron: Cron = "0 10 1 * *"
    """Sent in a month's first week, the pulse asks about the month just ended."""
    impact_cron: Cron = "0 10 2 1,4,7,10 *"
    min_group_size: int = Field(default=5, ge=5, le=100)
    """Results are shown only from this many answers, so nobody can be picked out."""


_DISCORD_ID = re.compile(r"^\d{1,20}$")
_MATRIX_ROOM_ID = re.compile(r"^![^:\s]+:\S+$")


class BridgeSettings(Section):
    """A Discord channel and a Matrix room that a bridge relays into each other, for bridges
    whose room state does not say so (MSC2346's ``m.bridge`` event)."""

    discord: str
    """The Discord channel's id (Developer Mode: right-click the channel, Copy Channel ID)."""
    matrix: str
    """The Matrix room's id ('!abc:example.org', Room settings → Advanced), not an alias."""

    @model_validator(mode="after")
    def _ids(self) -> BridgeSettings:
        if not _DISCORD_ID.match(self.discord):
            raise ValueError(
                f"discord = {self.discord!r} should be the channel's id, digits only, e.g. "
                f"'123456789012345678'"
            )
        if not _MATRIX_ROOM_ID.match(self.matrix):
            raise ValueError(
                f"matrix = {self.matrix!r} should be the room's id, e.g. '!abc:example.org' "
                f"(Room settings → Advanced), not an alias"
            )
        return self


class CommunitySettings(Section):
    name: str
    locale: Locale = "en"
    timezone: Timezone = "UTC"
    themes: dict[str, ThemeSettings] = Field(default_factory=dict)
    roles: RoleSettings = RoleSettings()
    digest: DigestSettings = DigestSettings()
    discord_guild_id: str | None = None
    matrix_rooms: list[str] = Field(default_factory=list)
    matrix_space: str | None = None
    charter: str = ""
    """Purpose and rules of participation, sent to newcomers."""
    surveys: SurveySettings = SurveySettings()
    bridges: list[BridgeSettings] = Field(default_factory=list)
    """Discord channels and Matrix rooms relayed into each other by a bridge that does not say
    so in the room's state: what is said there is counted once."""

    @model_validator(mode="after")
    def _theme_ids_are_words(self) -> CommunitySettings:
        for theme_id in self.themes:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", theme_id):
                raise ValueError(
                    f"theme id {theme_id!r} must be lower-case letters, digits, '-' or '_'"
                )
        return self


class ConsoleSettings(Section):
    enabled: bool = True
    community: str | None = None
    """Which community the console speaks for; defaults to the only (or first) one."""
    clock: Literal["system", "simulated"] = "system"
    """``simulated``: time starts where the store's record ends and moves only with typed
    '@ YYYY-MM-DD HH:MM' lines (the demo's record goes on from its last week)."""


class DiscordSettings(Section):
    enabled: bool = False
    token_env: str = "TRELLIS_DISCORD_TOKEN"
    mention_credited_members: bool = False
    """Write credits as mentions (which never ping) instead of display names."""
    shard_count: int | None = Field(default=None, ge=1, le=10_000)
    """How many shards the bot's gateway connection is split into (Discord requires one per
    2,500 servers); unset: one connection, no shards."""
    shard_ids: list[int] | None = None
    """The shards this process may hold, each elected among the processes on the database;
    unset with shard_count: any of them."""

    @model_validator(mode="after")
    def _shards_of_the_count(self) -> DiscordSettings:
        ids = self.shard_ids
        if ids is None:
            return self
        if self.shard_count is None:
            raise ValueError(
                "shard_ids needs shard_count: set shard_count to the number of shards the bot "
                "runs, e.g. shard_count = 2"
            )
        last = self.shard_count - 1
        if not ids:
            raise ValueError(
                "shard_ids is empty; name the shards this process may hold (0 to "
                f"{last}), or remove shard_ids to let it hold any"
            )
        wrong = [shard for shard in ids if not 0 <= shard <= last]
        if wrong:
            raise ValueError(
                f"shard_ids names shard {wrong[0]}, but shards are numbered 0 to {last} "
                f"(shard_count = {self.shard_count})"
            )
        if len(set(ids)) != len(ids):
            raise ValueError("shard_ids names a shard twice; name each once")
        return self


class MatrixSettings(Section):
    enabled: bool = False
    homeserver: str = ""
    user_id: str = ""
    password_env: str | None = "TRELLIS_MATRIX_PASSWORD"
    access_token_env: str | None = None
    device_name: str = "Trellis"
    command_prefix: str = "!trellis"
    encryption: bool = True
    ignore_senders: list[str] = Field(default_factory=list)
    """Regular expressions of senders to ignore (e.g. bridge bots)."""
    puppet_patterns: dict[str, str] = Field(
        default_factory=lambda: {r"@_?discord_(\d+):.*": "discord"}
    )
    """Bridged puppets to attribute to a platform: regex -> platform; its first group is the
    member's id there. The default knows mautrix-discord's '@discord_<id>:server' and
    matrix-appservice-discord's '@_discord_<id>:server'."""

    @model_validator(mode="after")
    def _needs_account_when_enabled(self) -> MatrixSettings:
        if self.enabled and not (self.homeserver and self.user_id):
            raise ValueError("set homeserver and user_id to enable the Matrix adapter")
        return self


class AdapterSettings(Section):
    console: ConsoleSettings = ConsoleSettings()
    discord: DiscordSettings = DiscordSettings()
    matrix: MatrixSettings = MatrixSettings()


def _valid_listen(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"{value!r} should be written 'host:port', e.g. '127.0.0.1:8080' (behind a reverse "
            f"proxy for TLS)"
        )
    return value


def _valid_url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        raise ValueError(
            f"{value!r} should be a web address starting with https:// (or http://), "
            f"e.g. 'https://trellis.example.org'"
        )
    return value.rstrip("/")


Listen = Annotated[str, AfterValidator(_valid_listen)]
Url = Annotated[str, AfterValidator(_valid_url)]


class WebSettings(Section):
    """The facilitators' dashboard, served by ``trellis run`` when this section is present."""

    listen: Listen = "127.0.0.1:8080"
    """Where the dashboard listens; put a reverse proxy in front of it for TLS."""
    public_url: Url
    """The address members' browsers use (the proxy's), for the links the dashboard command sends."""

    @model_validator(mode="after")
    def _served_at_the_root(self) -> WebSettings:
        if self.public_url.count("/") > 2:
            raise ValueError(
                f"public_url {self.public_url!r} has a path; the dashboard is served at the root "
                f"of an address of its own, e.g. 'https://trellis.example.org'"
            )
        return self


class SiteSettings(Section):
    """The community's static history site (``trellis site build``)."""

    out: Annotated[Path, Field(strict=False)] | None = None
    """Where ``trellis run`` keeps the site current on ``cron``; relative to the config file."""
    cron: Cron = "15 4 * * *"
    public_url: Url | None = None
    """Where the site is published; the welcome message links to it."""


class Settings(Section):
    storage: StorageSettings = StorageSettings()
    retention: RetentionSettings = RetentionSettings()
    participation: ParticipationSettings = ParticipationSettings()
    nudges: NudgeSettings = NudgeSettings()
    dormancy: DormancySettings = DormancySettings()
    catch_up: CatchUpSettings = CatchUpSettings()
    adapters: AdapterSettings = AdapterSettings()
    web: WebSettings | None = None
    site: SiteSettings = SiteSettings()
    communities: dict[str, CommunitySettings]

    @model_validator(mode="after")
    def _at_least_one_community(self) -> Settings:
        if not self.communities:
            raise ValueError("add at least one [communities.<id>] table")
        return self

    def secret(self, env_name: str | None, path: str) -> SecretStr:
        """The secret held by environment variable ``env_name``; ``path`` names the config key."""
        if not env_name:
            raise ConfigError(
                f"{path} is not set: name the environment variable holding the secret"
            )
        value = os.environ.get(env_name)
        if not value:
            raise ConfigError(
                f"{path}: the environment variable {env_name} is not set; "
                f"export it with the secret before starting Trellis"
            )
        return SecretStr(value)


_HINTS = {
    "bool_type": "; write true or false, without quotes",
    "int_type": "; write a whole number, without quotes",
    "string_type": "; write it in quotes",
}


def _explain(error: ErrorDetails) -> str:
    path = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
    kind = error["type"]
    if kind == "extra_forbidden":
        return (
            f"{path} is not a setting Trellis knows; check its spelling against config.example.toml"
        )
    if kind == "missing":
        return f"{path} is required but missing"
    message = error["msg"].removeprefix("Value error, ") + _HINTS.get(kind, "")
    if not path:
        return message[0].upper() + message[1:]
    return f"{path}: {message}"


def parse_settings(data: dict[str, Any], *, base_dir: Path | None = None) -> Settings:
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc.errors()[0]) + ".") from None
    if base_dir is not None and not settings.storage.path.is_absolute():
        storage = settings.storage.model_copy(update={"path": base_dir / settings.storage.path})
        settings = settings.model_copy(update={"storage": storage})
    if (
        base_dir is not None
        and settings.site.out is not None
        and not settings.site.out.is_absolute()
    ):
        site = settings.site.model_copy(update={"out": base_dir / settings.site.out})
        settings = settings.model_copy(update={"site": site})
    return settings


def read_config_text(path: Path) -> str:
    """The config file's text, or a ConfigError saying why it cannot be read as UTF-8 TOML."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist; copy config.example.toml to it and edit it"
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{path} is a folder; give the path of the config file, e.g. {path / 'trellis.toml'}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror})") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{path} is saved as UTF-16; save it as UTF-8 (TOML files are UTF-8)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} is not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}, perhaps Latin-1); "
            f"save it as UTF-8"
        ) from None


def load_settings(path: Path) -> Settings:
    try:
        data = tomllib.loads(read_config_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_settings(data, base_dir=path.resolve().parent)
