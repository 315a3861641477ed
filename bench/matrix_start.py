"""How fast a Matrix restart learns its rooms' state: a full-state sync against persisted state.

Run ``python3 -m bench.matrix_start --rooms 50 --members 10 --repeat 5`` from the repository root.
It starts the tests' Synapse (``tests/synapse.py``, installed once into ``.cache``) in a temporary
folder, makes a bot user and members, and 50 rooms (every other one encrypted, a moderator at
power level 50 in each) that the bot and the members join. After a first sync, a little traffic
arrives in a few rooms, as while a bot is down. Then, from the same stored sync token, each way of
restarting runs on a fresh matrix-nio client (``--repeat`` times, median; each run's filter differs
by its timeline limit so that Synapse's sync response cache never answers):

- **incremental** (the baseline): an incremental sync. The quiet rooms are absent from it, so nio
  knows neither their members, power levels nor encryption: what restarts did before.
- **full state**: the same sync with ``full_state=True``, as ``MatrixAdapter.start`` does.
- **persisted**: the incremental sync, then every room's state events read back from SQLite (one
  JSON row per room, written after the previous run) and applied to nio's rooms.

Printed: the seconds of each (median) and its ratio to the baseline, and the time to write the
persisted state once (which that design pays at every save). Figures only: absolute times vary
between machines and with the load, the ratios much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nio

from tests.synapse import Synapse, User, synapse_python

ENCRYPTED = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


def client(server: Synapse, user: User) -> nio.AsyncClient:
    made = nio.AsyncClient(
        server.url, user.user_id, config=nio.AsyncClientConfig(store_sync_tokens=False)
    )
    made.restore_login(user.user_id, user.device_id, user.access_token)
    return made


def sync_filter(limit: int) -> dict:
    return {"room": {"timeline": {"limit": limit}}, "presence": {"not_types": ["*"]}}


async def build(server: Synapse, rooms: int, members: int) -> tuple[User, list[str], str]:
    """The bot, its rooms, and the sync token of its last sync before the 'downtime'."""
    bot = await server.register("bot")
    people = [await server.register(f"member{i}") for i in range(members)]
    owner, moderator = people[0], people[1]
    clients = {user.user_id: client(server, user) for user in people}
    room_ids = []
    try:
        for index in range(rooms):
            created = await clients[owner.user_id].room_create(
                name=f"Room {index}",
                invite=[bot.user_id, *(p.user_id for p in people[1:])],
                initial_state=[ENCRYPTED] if index % 2 else [],
                power_level_override={"users": {moderator.user_id: 50}},
            )
            assert isinstance(created, nio.RoomCreateResponse), created
            room_ids.append(created.room_id)
            for person in people[1:]:
                await clients[person.user_id].join(created.room_id)
        bot_client = client(server, bot)
        for room_id in room_ids:
            await bot_client.join(room_id)
        first = await bot_client.sync(timeout=0, full_state=True, sync_filter=sync_filter(10))
        assert isinstance(first, nio.SyncResponse), first
        await bot_client.close()
        for room_id in room_ids[:5]:  # a few rooms talk while the bot is down
            for n in range(3):
                await clients[owner.user_id].room_send(
                    room_id, "m.room.message", {"msgtype": "m.text", "body": f"while down {n}"}
                )
    finally:
        for made in clients.values():
            await made.close()
    return bot, room_ids, first.next_batch


async def restart(server: Synapse, bot: User, token: str, limit: int, *, full_state: bool):
    made = client(server, bot)
    started = time.perf_counter()
    response = await made.sync(
        timeout=0, since=token, full_state=full_state, sync_filter=sync_filter(limit)
    )
    elapsed = time.perf_counter() - started
    assert isinstance(response, nio.SyncResponse), response
    return made, response, elapsed


def persist(path: Path, made: nio.AsyncClient, response: nio.SyncResponse) -> float:
    """Write each room's state events as one JSON row; the seconds it took."""
    started = time.perf_counter()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS room_state (room_id TEXT PRIMARY KEY, events TEXT)")
        db.executemany(
            "INSERT OR REPLACE INTO room_state VALUES (?, ?)",
            [
                (
                    room_id,
                    json.dumps(
                        [
                            e.source
                            for e in (*info.state, *info.timeline.events)
                            if "state_key" in e.source
                        ]
                    ),
                )
                for room_id, info in response.rooms.join.items()
            ],
        )
    return time.perf_counter() - started


def load(path: Path, made: nio.AsyncClient) -> None:
    """Rebuild nio's rooms from the persisted rows, as a persisted-state restart would."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT room_id, events FROM room_state").fetchall()
    for room_id, events in rows:
        room = made.rooms.get(room_id) or nio.MatrixRoom(room_id, made.user_id)
        for raw in json.loads(events):
            event = nio.Event.parse_event(raw)
            if isinstance(event, nio.RoomMemberEvent):
                room.handle_membership(event)
            elif isinstance(event, nio.Event):
                room.handle_event(event)
        made.rooms[room_id] = room


def known(made: nio.AsyncClient, room_ids: list[str]) -> int:
    """Rooms whose power levels and members nio knows (a moderator at 50 shows it)."""
    return sum(
        1 for r in room_ids if r in made.rooms and 50 in made.rooms[r].power_levels.users.values()
    )


async def measure(rooms: int, members: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        server = Synapse(Path(folder))
        server.start(synapse_python())
        try:
            bot, room_ids, token = await build(server, rooms, members)
            state_file = Path(folder) / "state.sqlite3"
            made, full, _ = await restart(server, bot, token, 9, full_state=True)
            write = persist(state_file, made, full)
            await made.close()
            times: dict[str, list[float]] = {"incremental": [], "full state": [], "persisted": []}
            rooms_known: dict[str, int] = {}
            for run in range(repeat):
                limit = 20 + run * 3
                made, _, elapsed = await restart(server, bot, token, limit, full_state=False)
                times["incremental"].append(elapsed)
                rooms_known["incremental"] = known(made, room_ids)
                await made.close()
                made, _, elapsed = await restart(server, bot, token, limit + 1, full_state=True)
                times["full state"].append(elapsed)
                rooms_known["full state"] = known(made, room_ids)
                await made.close()
                made, _, elapsed = await restart(server, bot, token, limit + 2, full_state=False)
                started = time.perf_counter()
                load(state_file, made)
                times["persisted"].append(elapsed + time.perf_counter() - started)
                rooms_known["persisted"] = known(made, room_ids)
                await made.close()
        finally:
            server.stop()
    baseline = statistics.median(times["incremental"])
    print(f"{rooms} rooms, {members} members each, every other room encrypted; median of {repeat}")
    for name, values in times.items():
        seconds = statistics.median(values)
        print(
            f"{name:>12}: {seconds:7.3f} s  ratio {seconds / baseline:5.2f}  "
            f"rooms with their state known: {rooms_known[name]}/{rooms}"
        )
    print(f"writing the persisted state once: {write:.3f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rooms", type=int, default=50)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    asyncio.run(measure(args.rooms, args.members, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
