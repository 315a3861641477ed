"""Shared test setup: every test gets its own SQLite file under tmp_path; nothing leaves 127.0.0.1."""

import asyncio
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo community's six weeks, replayed once per session (its digests posted and
    archived): the folder holding its config and database. Tests copy it before writing."""
    from bot.cli import prepare_demo, run_demo

    folder = tmp_path_factory.mktemp("demo")
    asyncio.run(run_demo(prepare_demo(folder), show_chat=False))
    return folder
