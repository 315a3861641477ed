"""A real Synapse homeserver for the Matrix tests, started on 127.0.0.1 once per test session.

Synapse is installed into its own virtual environment under the repository's git-ignored
``.cache/synapse-venv`` (about 15 s, once; reused afterwards), never into the project's environment.
Each session gets a fresh SQLite database, a free loopback port, every ``rc_*`` rate limit raised
(otherwise matrix-nio silently waits out 429s and a 40-message test takes minutes), no federation,
no presence, no URL previews and no phoning home. Users are registered through the shared-secret
admin API. Import the ``synapse`` fixture into a test module to use it.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import nio
import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache"
VENV = CACHE / "synapse-venv"
REQUIREMENT = "matrix-synapse==1.163.2"
SERVER_NAME = "trellis.test"
_MARKER = VENV / ".trellis-installed"
_GENEROUS = {"per_second": 10000, "burst_count": 100000}


def synapse_python() -> Path:
    """The interpreter of the Synapse venv, installing Synapse first if it is not there yet."""
    python = VENV / "bin" / "python"
    if _MARKER.exists() and _MARKER.read_text().split("\n")[0] == REQUIREMENT:
        return python
    CACHE.mkdir(exist_ok=True)
    # A lock, because two test runs (a developer's and CI's) may share the checkout.
    with open(CACHE / "synapse-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _MARKER.exists() and _MARKER.read_text().split("\n")[0] == REQUIREMENT:
            return python
        shutil.rmtree(VENV, ignore_errors=True)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        result = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", REQUIREMENT],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            shutil.rmtree(VENV, ignore_errors=True)
            raise RuntimeError(
                f"Installing {REQUIREMENT} into {VENV} failed (pip exit {result.returncode}); "
                f"the Matrix tests need it and PyPI access. pip said:\n{result.stderr[-3000:]}"
            )
        seconds = time.monotonic() - started
        _MARKER.write_text(f"{REQUIREMENT}\ninstalled in {seconds:.1f} s\n")
        print(f"\nInstalled {REQUIREMENT} into {VENV} in {seconds:.1f} s", file=sys.stderr)
    return python


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(directory: Path, port: int, shared_secret: str) -> dict:
    rate_limits = {
        name: _GENEROUS
        for name in (
            "rc_message",
            "rc_registration",
            "rc_registration_token_validity",
            "rc_admin_redaction",
            "rc_joins_per_room",
            "rc_key_requests",
            "rc_3pid_validation",
            "rc_third_party_invite",
            "rc_media_create",
            "rc_delayed_event_mgmt",
            "rc_room_creation",
            "rc_reports",
            "rc_user_directory",
            "rc_profile",
        )
    }
    rate_limits["rc_login"] = {
        "address": _GENEROUS,
        "account": _GENEROUS,
        "failed_attempts": _GENEROUS,
    }
    rate_limits["rc_joins"] = {"local": _GENEROUS, "remote": _GENEROUS}
    rate_limits["rc_invites"] = {
        "per_room": _GENEROUS,
        "per_user": _GENEROUS,
        "per_issuer": _GENEROUS,
    }
    rate_limits["rc_presence"] = {"per_user": _GENEROUS}
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(directory / "homeserver.pid"),
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(directory / "homeserver.db")}},
        "log_config": str(directory / "log.config"),
        "media_store_path": str(directory / "media"),
        "signing_key_path": str(directory / "signing.key"),
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        "registration_shared_secret": shared_secret,
        "enable_registration": False,
        "bcrypt_rounds": 4,
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "url_preview_enabled": False,
        "federation_domain_whitelist": [],
        "presence": {"enabled": False},
        "enable_metrics": False,
        "serve_server_wellknown": False,
        **rate_limits,
    }


def _log_config(directory: Path) -> dict:
    return {
        "version": 1,
        "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
        "handlers": {
            "file": {
                "class": "logging.FileHandler",
                "filename": str(directory / "homeserver.log"),
                "formatter": "plain",
            }
        },
        "root": {"level": "WARNING", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    password: str
    access_token: str
    device_id: str


class Synapse:
    """A running homeserver: its URL, and registration through the shared-secret admin API."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server_name = SERVER_NAME
        self._secret = secrets.token_hex(16)
        self._process: subprocess.Popen | None = None
        self.started_in: float = 0.0

    def start(self, python: Path) -> None:
        directory = self.directory
        (directory / "media").mkdir()
        # JSON is YAML, so no YAML library is needed on this side.
        (directory / "homeserver.yaml").write_text(
            json.dumps(_config(directory, self.port, self._secret))
        )
        (directory / "log.config").write_text(json.dumps(_log_config(directory)))
        seed = b64encode(os.urandom(32)).decode().rstrip("=")
        (directory / "signing.key").write_text(f"ed25519 a_test {seed}\n")
        started = time.monotonic()
        with open(directory / "stdout.log", "w") as out:
            self._process = subprocess.Popen(
                [str(python), "-m", "synapse.app.homeserver", "-c", "homeserver.yaml"],
                cwd=directory,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = started + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"Synapse exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"Synapse did not listen within 60 s:\n{self.log_tail()}")
        self.started_in = time.monotonic() - started

    def log_tail(self) -> str:
        parts = []
        for name in ("stdout.log", "homeserver.log"):
            path = self.directory / name
            if path.exists():
                parts.append(path.read_text()[-3000:])
        return "\n".join(parts)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    async def register(self, localpart: str, *, admin: bool = False) -> User:
        """Create a user through ``/_synapse/admin/v1/register`` (HMAC over the nonce)."""
        password = secrets.token_hex(8)
        url = f"{self.url}/_synapse/admin/v1/register"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:
                nonce = (await response.json())["nonce"]
            kind = "admin" if admin else "notadmin"
            mac = hmac.new(
                self._secret.encode(),
                b"\x00".join(part.encode() for part in (nonce, localpart, password, kind)),
                hashlib.sha1,
            )
            body = {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            }
            async with http.post(url, json=body) as response:
                data = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"registering {localpart} failed: {data}")
        return User(data["user_id"], password, data["access_token"], data["device_id"])

    async def request(self, user: User, method: str, path: str, body: dict | None = None) -> dict:
        """A client-server or admin API request as ``user``."""
        async with aiohttp.ClientSession() as http:
            async with http.request(
                method,
                f"{self.url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {user.access_token}"},
            ) as response:
                data = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"{method} {path} failed: {data}")
                return data


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory):
    python = synapse_python()
    server = Synapse(tmp_path_factory.mktemp("synapse"))
    server.start(python)
    yield server
    server.stop()


class Member:
    """An independent matrix-nio client acting as a community member (optionally with e2e)."""

    def __init__(self, client: nio.AsyncClient, user: User) -> None:
        self.client = client
        self.user = user
        self.user_id = user.user_id
        self.seen: dict[str, list[dict]] = {}
        self._undecrypted: list[tuple[str, int, nio.MegolmEvent]] = []

    @classmethod
    async def login(cls, server: Synapse, user: User, *, key_dir: Path | None = None) -> Member:
        client = nio.AsyncClient(
            server.url,
            user.user_id,
            device_id=user.device_id,
            store_path=str(key_dir) if key_dir else "",
            config=nio.AsyncClientConfig(
                encryption_enabled=key_dir is not None, store_sync_tokens=False
            ),
        )
        client.restore_login(user.user_id, user.device_id, user.access_token)
        member = cls(client, user)
        await member.sync(0)
        return member

    async def sync(self, wait_ms: int = 300) -> None:
        # A long poll (not timeout=0): Synapse caches identical timeout=0 syncs for two minutes.
        response = await self.client.sync(
            timeout=wait_ms or None, full_state=not self.client.next_batch
        )
        assert isinstance(response, nio.SyncResponse), response
        if self.client.olm:
            if self.client.should_upload_keys:
                await self.client.keys_upload()
            if self.client.should_query_keys:
                await self.client.keys_query()
        for room_id, info in response.rooms.join.items():
            for event in info.timeline.events:
                self.seen.setdefault(room_id, []).append(event.source)
                if isinstance(event, nio.MegolmEvent):
                    self._undecrypted.append((room_id, len(self.seen[room_id]) - 1, event))
        # As Element does: a message whose key came after it is read once the key is here.
        waiting = []
        for room_id, index, event in self._undecrypted:
            try:
                self.seen[room_id][index] = self.client.decrypt_event(event).source
            except nio.EncryptionError:
                waiting.append((room_id, index, event))
        self._undecrypted = waiting

    async def send(self, room_id: str, body: str, **content: object) -> str:
        return await self.send_event(
            room_id, "m.room.message", {"msgtype": "m.text", "body": body, **content}
        )

    async def send_event(self, room_id: str, kind: str, content: dict) -> str:
        # An encrypting client must know the room (is it encrypted? who reads it?) before sending.
        deadline = time.monotonic() + 10
        while self.client.olm and room_id not in self.client.rooms:
            assert time.monotonic() < deadline, f"{self.user_id} never synced {room_id}"
            await self.sync()
        response = await self.client.room_send(
            room_id, kind, content, ignore_unverified_devices=True
        )
        assert isinstance(response, nio.RoomSendResponse), response
        return response.event_id

    async def wait_for(self, room_id: str, matches, within: float = 30) -> dict:
        """The first event in the room that ``matches`` (waiting for it to arrive)."""
        deadline = time.monotonic() + within
        while True:
            for event in self.seen.get(room_id, []):
                if matches(event):
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.user_id} saw no matching event in {room_id}: {self.seen.get(room_id)}"
                )
            await self.sync()

    async def wait_for_invite(self, within: float = 30) -> str:
        """The id of a room we are invited to (waiting for the invitation)."""
        deadline = time.monotonic() + within
        while not self.client.invited_rooms:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user_id} received no invitation")
            await self.sync()
        return next(iter(self.client.invited_rooms))

    async def close(self) -> None:
        await self.client.close()
