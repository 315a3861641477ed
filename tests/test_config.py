"""Configuration mistakes are named in one sentence with the key's path and what is expected."""

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.cli import check_secrets
from bot.config import ConfigError, load_settings, parse_settings
from bot.themes import ThemeMap

ROOT = Path(__file__).resolve().parent.parent


def minimal(**community) -> dict:
    return {"communities": {"praxis": {"name": "Praxis", **community}}}


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        (
            minimal(timezon="UTC"),
            "communities.praxis.timezon is not a setting Trellis knows; check its spelling against config.example.toml.",
        ),
        (
            minimal(timezone="Mars/Olympus"),
            "communities.praxis.timezone: unknown timezone 'Mars/Olympus'; use an IANA name such as 'America/Lima'.",
        ),
        (
            minimal(digest={"cron": "every monday"}),
            "communities.praxis.digest.cron: 'every monday' is not a cron expression",
        ),
        (
            minimal(themes={"water": {"name": "Water", "places": ["water"]}}),
            "communities.praxis.themes.water.places.0: 'water' should be written 'platform:id'",
        ),
        (minimal(locale="fr"), "communities.praxis.locale: String should match pattern"),
        ({"communities": {"praxis": {}}}, "communities.praxis.name is required but missing."),
        ({}, "communities is required but missing."),
        (
            {**minimal(), "nudges": {"daily_cap": "ten"}},
            "nudges.daily_cap: Input should be a valid integer",
        ),
        (
            {**minimal(), "adapters": {"matrix": {"enabled": True}}},
            "adapters.matrix: set homeserver and user_id to enable the Matrix adapter.",
        ),
        (
            {**minimal(), "storage": {"url": "postgresql://trellis:hunter2@db/trellis"}},
            "storage.url: the password does not go in the file: put it in an environment "
            "variable and name that variable in storage.password_env.",
        ),
        (
            {**minimal(), "storage": {"url": "mysql://db/trellis"}},
            "storage.url: 'mysql://db/trellis' should be written 'postgresql://user@host/database'",
        ),
        (
            {**minimal(), "storage": {"url": "postgresql://trellis@db/x", "path": "t.sqlite3"}},
            "storage: set path (a SQLite file) or url (a PostgreSQL database), not both.",
        ),
        (
            {**minimal(), "adapters": {"discord": {"shard_ids": [0]}}},
            "adapters.discord: shard_ids needs shard_count: set shard_count to the number of "
            "shards the bot runs, e.g. shard_count = 2.",
        ),
        (
            {**minimal(), "adapters": {"discord": {"shard_count": 2, "shard_ids": [0, 2]}}},
            "adapters.discord: shard_ids names shard 2, but shards are numbered 0 to 1 "
            "(shard_count = 2).",
        ),
        (
            {**minimal(), "adapters": {"discord": {"shard_count": 2, "shard_ids": [1, 1]}}},
            "adapters.discord: shard_ids names a shard twice; name each once.",
        ),
        (
            {**minimal(), "adapters": {"discord": {"shard_count": 2, "shard_ids": []}}},
            "adapters.discord: shard_ids is empty; name the shards this process may hold (0 to "
            "1), or remove shard_ids to let it hold any.",
        ),
        (
            {**minimal(), "adapters": {"discord": {"shard_count": 0}}},
            "adapters.discord.shard_count: Input should be greater than or equal to 1.",
        ),
        (
            minimal(digest={"channels": ["discord:1", "discord:2"]}),
            "communities.praxis.digest: channels names 'discord:1' and 'discord:2', both on "
            "discord; keep one place per platform.",
        ),
        (
            minimal(digest={"channel": "discord:1", "channels": ["matrix:!a:b.org"]}),
            "communities.praxis.digest: set channels (the digest's places, one per platform) or "
            "channel, not both.",
        ),
        (
            minimal(
                themes={"w": {"name": "W", "prompt_places": ["matrix:!a:b.org", "matrix:!c:b.org"]}}
            ),
            "communities.praxis.themes.w: prompt_places names 'matrix:!a:b.org' and "
            "'matrix:!c:b.org', both on matrix; keep one place per platform.",
        ),
        (
            minimal(bridges=[{"discord": "#water", "matrix": "!a:b.org"}]),
            "communities.praxis.bridges.0: discord = '#water' should be the channel's id, digits "
            "only",
        ),
        (
            minimal(bridges=[{"discord": "123", "matrix": "#water:b.org"}]),
            "communities.praxis.bridges.0: matrix = '#water:b.org' should be the room's id",
        ),
    ],
)
def test_each_mistake_gets_one_sentence_naming_the_key(data, sentence):
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    assert str(caught.value).startswith(sentence)
    assert "\n" not in str(caught.value)


def test_a_missing_secret_names_the_variable_and_never_prints_a_secret(monkeypatch):
    settings = parse_settings({**minimal(), "adapters": {"discord": {"enabled": True}}})
    monkeypatch.delenv("TRELLIS_DISCORD_TOKEN", raising=False)
    with pytest.raises(
        ConfigError, match="the environment variable TRELLIS_DISCORD_TOKEN is not set"
    ):
        settings.secret(settings.adapters.discord.token_env, "adapters.discord.token_env")
    monkeypatch.setenv("TRELLIS_DISCORD_TOKEN", "very-secret-token")
    token = settings.secret(settings.adapters.discord.token_env, "adapters.discord.token_env")
    assert token.get_secret_value() == "very-secret-token"
    assert "very-secret-token" not in repr(token) and "very-secret-token" not in str(token)


def test_a_postgresql_password_comes_from_the_variable_the_config_names(monkeypatch):
    storage = {"url": "postgresql://trellis@db.example.org/trellis", "password_env": "PG_PASS"}
    settings = parse_settings({**minimal(), "storage": storage})
    monkeypatch.delenv("PG_PASS", raising=False)
    with pytest.raises(ConfigError) as missing:
        check_secrets(settings, [])
    assert str(missing.value) == (
        "storage.password_env: the environment variable PG_PASS is not set; export it with "
        "the secret before starting Trellis"
    )
    monkeypatch.setenv("PG_PASS", "s3cret")
    check_secrets(settings, [])


def test_the_example_config_is_valid_and_storage_is_relative_to_it():
    settings = load_settings(ROOT / "config.example.toml")
    assert settings.storage.path == ROOT / "trellis.sqlite3"
    assert settings.communities["example"].themes["water"].prompt_cron == "0 10 * * tue"


def trellis(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def console_config(database: Path) -> str:
    """A one-community config for the console alone (scripts), like the example's community."""
    return f"""
[storage]
path = "{database}"
[adapters.console]
enabled = true
[communities.example]
name = "Example Community of Practice"
timezone = "America/Lima"
[communities.example.roles]
facilitators = ["console:fran"]
[communities.example.digest]
channel = "console:general"
[communities.example.themes.water]
name = "Water rights"
places = ["console:water"]
"""


def test_check_config_says_valid_or_says_what_is_wrong(tmp_path):
    good = trellis("check-config", str(ROOT / "config.example.toml"), cwd=tmp_path)
    assert good.returncode == 0
    assert good.stdout.splitlines() == [
        f"{ROOT / 'config.example.toml'} is valid: 1 community(ies), adapters: discord.",
        "warning: adapters.discord.token_env: the environment variable TRELLIS_DISCORD_TOKEN is "
        "not set; export it with the secret before starting Trellis (here, in the shell that "
        "runs check-config).",
    ]
    broken = tmp_path / "trellis.toml"
    broken.write_text('[communities.x]\nname = "X"\n[nudge]\nenabled = false\n')
    bad = trellis("check-config", str(broken), cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "trellis: nudge is not a setting Trellis knows; check its spelling against config.example.toml."
    )
    broken.write_text("[communities.x\n")
    assert "is not valid TOML" in trellis("check-config", str(broken), cwd=tmp_path).stderr


def test_check_config_checks_what_run_checks(tmp_path):
    config = tmp_path / "trellis.toml"
    config.write_text('[adapters.console]\ncommunity = "praxis"\n[communities.x]\nname = "X"\n')
    wrong = trellis("check-config", str(config), cwd=tmp_path)
    assert (wrong.returncode, wrong.stderr.strip()) == (
        2,
        "trellis: adapters.console.community: there is no community 'praxis'.",
    )
    config.write_text(
        '[adapters.discord]\nenabled = true\n[communities.x]\nname = "X"\n'
        '[storage]\npath = "missing/t.sqlite3"\n'
    )
    folder = trellis("check-config", str(config), cwd=tmp_path)
    assert folder.returncode == 2
    assert folder.stderr.strip() == (
        f"trellis: storage.path {tmp_path / 'missing' / 't.sqlite3'}: the folder "
        f"{tmp_path / 'missing'} does not exist; create it or choose another path."
    )
    config.write_text('[adapters.discord]\nenabled = true\n[communities.x]\nname = "X"\n')
    both = trellis("check-config", str(config), cwd=tmp_path)
    assert both.returncode == 0
    assert (
        "warning: adapters.console is on beside discord; as a service it reads nothing and "
        "prints to the log: set adapters.console.enabled = false."
    ) in both.stdout.splitlines()


def test_the_demo_replays_six_weeks_and_leaves_its_record(tmp_path):
    run = trellis("demo", "--dir", str(tmp_path / "demo"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("## Red de Aprendizaje Praxis: the week of") >= 6
    assert "**Prompt for Water & land rights:**" in run.stdout
    assert "(direct message)" in run.stdout and "(only maria sees this)" in run.stdout
    assert "The demo replayed" in run.stdout
    # Every command family a network uses is in the replay, with its answer.
    for answer in (
        "Event 1 added: **Encuentro virtual de la red**",  # events
        "is in the library under Water & land rights",  # share
        "Who to ask about “riego”:",  # experts
        "**Organisations in the community**",  # map
        "Well done: commitment 1",  # commit and done
        "**1 overdue commitment**",  # overdue
        "10 answers from 38 members asked.",  # pulse answers, survey results
        "**Stories of change, 2026-Q3**",  # story answers
        "**M&E report for Red de Aprendizaje Praxis, 2026-09**",  # report
    ):
        assert answer in run.stdout, answer
    record = tmp_path / "demo" / "trellis-demo.sqlite3"
    assert record.exists()
    # The record can be used afterwards, e.g. for a report.
    report = trellis(
        "report",
        "--config",
        str(tmp_path / "demo" / "config.toml"),
        "--period",
        "2026-09",
        "--format",
        "md",
        "--output",
        str(tmp_path / "report.md"),
        cwd=tmp_path,
    )
    assert report.returncode == 0, report.stderr
    assert "Monitoring" in (tmp_path / "report.md").read_text()
    # The README's next step: run on the record, which goes on at the demo's own time.
    seen = typed_in_a_terminal(
        ["run", "--config", str(tmp_path / "demo" / "config.toml")],
        [("maria> /stats 2026-09", b"Levels over the last")],
    )
    assert "The clock is the record's: 2026-10-20" in seen
    assert "(direct message)" not in seen  # no weeks of nudges and surveys caught up at start
    assert "INFO bot.scheduler" not in seen


def typed_in_a_terminal(args: list[str], exchanges: list[tuple[str, bytes]]) -> str:
    """Run trellis with a terminal as stdin, type each line and wait for its answer, then Ctrl-C."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: trellis as someone trying it out types to it
        os.environ.clear()
        os.environ.update({"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
        os.execv(sys.executable, [sys.executable, "-m", "bot.cli", *args])
    seen = b""

    def read_until(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while text not in seen and time.monotonic() < deadline:
            if select.select([terminal], [], [], 0.2)[0]:
                seen += os.read(terminal, 65536)
        assert text in seen, seen.decode()

    read_until(b"Trellis is listening.")
    for line, answer in exchanges:
        os.write(terminal, line.encode() + b"\n")
        read_until(answer)
    os.kill(pid, signal.SIGINT)
    began = time.monotonic()
    while not (done := os.waitpid(pid, os.WNOHANG))[0] and time.monotonic() - began < 10:
        if select.select([terminal], [], [], 0.2)[0]:
            with contextlib.suppress(OSError):
                seen += os.read(terminal, 65536)
    assert done[0], "Ctrl-C did not stop Trellis within 10 s"
    return seen.decode(errors="replace")


def test_run_replays_a_console_script_on_its_own_clock(tmp_path):
    config = tmp_path / "trellis.toml"
    config.write_text(console_config(tmp_path / "trellis.sqlite3"))
    script = tmp_path / "week.txt"
    script.write_text(
        "@ 2026-09-07 10:00\n"
        '~ ana joins as "Ana Quispe"\n'
        "#water ana: How do you share irrigation turns?\n"
        "@ 2026-09-14 10:00\n"
        "#general fran: /stats 2026-09\n"
    )
    run = trellis("run", "--config", str(config), "--script", str(script), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "## Example Community of Practice: the week of 07/09 to 14/09/2026" in run.stdout
    assert "1 message, 0 replies, 0 reactions, 0 new threads; 1 person took part." in run.stdout
    script.write_text("@ 2026-09-07 10:00\nana says hello\n")
    bad = trellis("run", "--config", str(config), "--script", str(script), cwd=tmp_path)
    assert bad.returncode == 2
    assert "line 2: “ana says hello” is not understood" in bad.stderr


def test_backfill_refuses_a_wrong_span_or_a_missing_token_before_touching_anything(tmp_path):
    example = str(ROOT / "config.example.toml")
    wrong = trellis("backfill", "discord", "--since", "soon", "--config", example, cwd=tmp_path)
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        "trellis: --since: “soon” is not a length of time; write a number and a unit, "
        "like 12h, 90d or 6w."
    )
    no_token = trellis("backfill", "discord", "--since", "90d", "--config", example, cwd=tmp_path)
    assert no_token.returncode == 2
    assert "the environment variable TRELLIS_DISCORD_TOKEN is not set" in no_token.stderr
    assert not (ROOT / "trellis.sqlite3").exists()


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        (
            {**minimal(), "nudges": {"enabled": "yes"}},
            "nudges.enabled: Input should be a valid boolean; write true or false, without quotes.",
        ),
        (
            {**minimal(), "adapters": {"discord": {"enabled": 1}}},
            "adapters.discord.enabled: Input should be a valid boolean; write true or false",
        ),
        (
            {**minimal(), "nudges": {"daily_cap": 10**30}},
            "nudges.daily_cap: Input should be less than or equal to 10000.",
        ),
        (
            {**minimal(), "retention": {"message_text_days": "30"}},
            "retention.message_text_days: Input should be a valid integer; write a whole number",
        ),
    ],
)
def test_types_are_strict_and_numbers_bounded(data, sentence):
    with pytest.raises(ConfigError) as caught:
        parse_settings(data)
    assert str(caught.value).startswith(sentence)


@pytest.mark.parametrize(
    ("encoding", "sentence"),
    [
        ("latin-1", "is not UTF-8 (byte 0xf3 on line 2, perhaps Latin-1); save it as UTF-8"),
        ("utf-16", "is saved as UTF-16; save it as UTF-8 (TOML files are UTF-8)"),
    ],
)
def test_a_config_in_another_encoding_is_named(tmp_path, encoding, sentence):
    path = tmp_path / "trellis.toml"
    path.write_bytes('[communities.x]\nname = "Educación"\n'.encode(encoding))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value) == f"{path} {sentence}"


def test_a_config_path_that_is_a_folder_is_named(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path} is a folder; give the path of the config file, e.g. {tmp_path / 'trellis.toml'}"
    )


def test_backup_of_a_postgresql_database_points_to_the_servers_tools(tmp_path):
    config = tmp_path / "trellis.toml"
    config.write_text(
        '[storage]\nurl = "postgresql://trellis@db.example.org/trellis"\n'
        '[communities.x]\nname = "X"\n'
    )
    done = trellis("backup", str(tmp_path / "copy.sqlite3"), "--config", str(config), cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "trellis: storage.url is a PostgreSQL database: back it up with the server's tools, "
        "e.g. pg_dump -Fc (docs/scale.md); trellis backup copies a SQLite file.",
    )
    assert not (tmp_path / "copy.sqlite3").exists()


def test_the_older_single_places_still_work_and_several_places_go_one_per_platform():
    older = parse_settings(
        minimal(
            digest={"channel": "discord:1"},
            themes={"w": {"name": "W", "places": ["discord:5"], "prompt_place": "discord:6"}},
        )
    ).communities["praxis"]
    assert older.digest.places == ("discord:1",)
    assert ThemeMap(older).prompt_places(ThemeMap(older).themes["w"]) == ("discord:6",)
    several = parse_settings(
        minimal(
            digest={"channels": ["discord:1", "matrix:!news:b.org"]},
            themes={"w": {"name": "W", "places": ["discord:5", "discord:7", "matrix:!w:b.org"]}},
        )
    ).communities["praxis"]
    assert several.digest.places == ("discord:1", "matrix:!news:b.org")
    themes = ThemeMap(several)
    assert themes.prompt_places(themes.themes["w"]) == ("discord:5", "matrix:!w:b.org")
