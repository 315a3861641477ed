"""The store the configuration names: the SQLite file at ``storage.path`` (the default) or the
PostgreSQL database at ``storage.url``, opened and migrated."""

from __future__ import annotations

from bot.config import Settings
from storage.contract import Store
from storage.postgresql import PostgresStore
from storage.sqlite import SqliteStore


async def open_store(settings: Settings, *, exclusive: bool) -> Store:
    """The configured store, opened and migrated: the SQLite file at ``storage.path``, or the
    PostgreSQL database at ``storage.url``. With ``exclusive`` (a running Trellis) a SQLite file
    in use by another process is refused; PostgreSQL serves several processes."""
    storage = settings.storage
    if storage.url is None:
        return await SqliteStore.open(storage.path, exclusive=exclusive)
    password = None
    if storage.password_env is not None:
        password = settings.secret(storage.password_env, "storage.password_env").get_secret_value()
    return await PostgresStore.open(storage.url, password=password)
