"""The Matrix rooms Trellis serves and their state: which community each room belongs to (named in
the configuration or listed by a space), digest and direct rooms, who is a member of a community
across its rooms, power levels, names and encryption.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import nio

from adapters.matrix.session import MatrixError
from adapters.matrix.translate import PLATFORM
from bot.config import Settings
from bot.events import ChannelRef, Event, MemberJoined, MemberLeft, MemberRef
from bot.outgoing import literal
from bot.ports import Bridges

log = logging.getLogger(__name__)

CREATOR_POWER_LEVEL = 1_000_000
"""From room version 12 the room's creators outrank every power level (and are not listed)."""
_LEGACY_ROOM_VERSIONS = frozenset(str(v) for v in range(1, 12))


class Rooms:
    """What the adapter knows of the rooms it serves, kept for as long as the adapter lives."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.community: dict[str, str] = {}
        """Room id -> the community it belongs to (configured, or listed by its space)."""
        self.spaces: dict[str, str] = {}
        self.digest_rooms: set[str] = set()
        """Rooms named as a digest channel: joined to post there, never read for the record."""
        self.direct: dict[str, str] = {}
        """Direct room id -> the member's user id."""
        self.members: dict[str, set[str]] = {}
        """Per community, the Matrix users handed to the sink as its members (in any of its rooms)."""
        self._creators: dict[str, frozenset[str]] = {}

    async def resolve(self, client: nio.AsyncClient, bridges: Bridges | None) -> None:
        """Learn the communities' rooms (aliases resolved, spaces joined and read), their digest
        rooms, and the bridges the configuration names."""
        for community_id, community in self.settings.communities.items():
            for room in community.matrix_rooms:
                room_id = await self._room_id(client, room)
                self.community[room_id] = community_id
            if community.matrix_space:
                space_id = await self._room_id(client, community.matrix_space)
                self.spaces[space_id] = community_id
                await client.join(space_id)
                await self.load_space(client, space_id)
            for digest_place in community.digest.places:
                platform, _, place = digest_place.partition(":")
                if platform == PLATFORM and place not in self.community:
                    self.digest_rooms.add(place)
        for community in self.settings.communities.values():
            for bridge in community.bridges:
                if bridges is not None and bridge.matrix in self.community:
                    bridges.counted_in(f"discord:{bridge.discord}", f"{PLATFORM}:{bridge.matrix}")

    async def _room_id(self, client: nio.AsyncClient, room: str) -> str:
        if not room.startswith("#"):
            return room
        response = await client.room_resolve_alias(room)
        if not isinstance(response, nio.RoomResolveAliasResponse):
            raise MatrixError(
                f"The room alias {room} in communities.*.matrix_rooms does not exist "
                f"({response.message}); use the room's id or an alias that resolves."
            )
        return str(response.room_id)

    async def load_space(self, client: nio.AsyncClient, space_id: str) -> None:
        response = await client.room_get_state(space_id)
        if not isinstance(response, nio.RoomGetStateResponse):
            log.warning("cannot read the space %s: %s", space_id, response)
            return
        for event in response.events:
            if event.get("type") == "m.space.child" and event.get("content", {}).get("via"):
                self.community.setdefault(event["state_key"], self.spaces[space_id])

    async def join_missing(self, client: nio.AsyncClient) -> bool:
        """Join the community's rooms (and digest rooms) we are not in yet; whether we joined any."""
        joined = False
        for room_id in (*self.community, *self.digest_rooms):
            if room_id not in client.rooms:
                response = await client.join(room_id)
                joined = joined or isinstance(response, nio.JoinResponse)
                if not isinstance(response, nio.JoinResponse):
                    log.warning(
                        "cannot join %s (%s); invite %s to it",
                        room_id,
                        response.message,
                        self.settings.adapters.matrix.user_id,
                    )
        return joined

    def served(self, room_id: str) -> bool:
        """Whether an invitation to ``room_id`` is one to accept."""
        return room_id in self.community or room_id in self.spaces or room_id in self.digest_rooms

    # -- membership --------------------------------------------------------------------------

    def community_of_member(self, client: nio.AsyncClient | None, user_id: str) -> str | None:
        """The community a direct room's commands speak for: the first the member is part of."""
        for room_id, community in self.community.items():
            room = client.rooms.get(room_id) if client else None
            if room is not None and user_id in room.users:
                return community
        return next(iter(self.settings.communities), None)

    def membership(
        self,
        client: nio.AsyncClient,
        room_id: str,
        user_id: str,
        events: list[Event],
        live: bool,
    ) -> list[Event]:
        """Joins and leaves of a room as the community sees them: joining one more of its rooms is
        no join, leaving one while still in another is no leave. A join found while catching up
        (``live`` false) is stored with its date and never welcomed."""
        community = self.community[room_id]
        members = self.members.setdefault(community, set())
        kept: list[Event] = []
        for event in events:
            if isinstance(event, MemberJoined):
                if user_id in members:
                    continue
                members.add(user_id)
                event = replace(event, live=live)
            elif isinstance(event, MemberLeft):
                if self._joined_elsewhere(client, room_id, community, user_id):
                    continue
                members.discard(user_id)
            kept.append(event)
        return kept

    def _joined_elsewhere(
        self, client: nio.AsyncClient, room_id: str, community: str, user_id: str
    ) -> bool:
        """Whether the user is joined (not merely invited) to another room of the community."""
        for other, owner in self.community.items():
            room = client.rooms.get(other)
            if other == room_id or owner != community or room is None:
                continue
            if user_id in room.users and user_id not in room.invited_users:
                return True
        return False

    async def members_elsewhere(
        self, client: nio.AsyncClient, room_id: str, community: str
    ) -> set[str]:
        """Who is joined to the community's other rooms now (asked of the server: a backfill
        runs without the sync that would tell nio)."""
        present: set[str] = set()
        for other, owner in self.community.items():
            if other == room_id or owner != community:
                continue
            response = await client.joined_members(other)
            if isinstance(response, nio.JoinedMembersResponse):
                present.update(m.user_id for m in response.members)
        return present

    # -- room state --------------------------------------------------------------------------

    async def channels(self, client: nio.AsyncClient, community: str) -> list[ChannelRef]:
        places = []
        for room_id, owner in self.community.items():
            if owner != community:
                continue
            room = client.rooms.get(room_id)
            name = room.display_name if room else ""
            if not name:
                response = await client.room_get_state_event(room_id, "m.room.name", "")
                if isinstance(response, nio.RoomGetStateEventResponse):
                    name = response.content.get("name", "")
            places.append(ChannelRef(PLATFORM, room_id, name))
        return places

    def encrypted_places(self, client: nio.AsyncClient, community: str) -> frozenset[str]:
        """The community's encrypted rooms and its digest room if encrypted (as nio knows them
        from the full-state sync; a room it does not know counts as not encrypted)."""
        rooms = [room_id for room_id, owner in self.community.items() if owner == community]
        for place in self.settings.communities[community].digest.places:
            platform, _, digest_room = place.partition(":")
            if platform == PLATFORM:
                rooms.append(digest_room)
        return frozenset(
            f"{PLATFORM}:{room_id}"
            for room_id in rooms
            if room_id in client.rooms and client.rooms[room_id].encrypted
        )

    async def place_name(self, client: nio.AsyncClient | None, place: ChannelRef) -> str:
        """The room's name from its state (``m.room.name``), else its main alias, else its id."""
        room = client.rooms.get(place.id) if client is not None else None
        name = (room.name or room.canonical_alias or "") if room is not None else ""
        if not name and client is not None:
            response = await client.room_get_state_event(place.id, "m.room.name", "")
            if isinstance(response, nio.RoomGetStateEventResponse):
                name = response.content.get("name", "")
        return literal(name or place.id)

    async def member_roles(
        self, client: nio.AsyncClient, community: str, member: MemberRef
    ) -> frozenset[str]:
        """``matrix-power:<level>``: the member's highest power level in the community's rooms."""
        levels = [
            await self.power_level(client, room_id, member.id)
            for room_id, owner in self.community.items()
            if owner == community
        ]
        return frozenset({f"matrix-power:{max(levels)}"}) if levels else frozenset()

    async def power_level(self, client: nio.AsyncClient, room_id: str, user_id: str) -> int:
        """The user's power level in the room (0 when we do not know the room).

        A creator of a room of version 12 or later gets ``CREATOR_POWER_LEVEL``.
        """
        room = client.rooms.get(room_id)
        if room is None:
            return 0
        if room.room_version not in _LEGACY_ROOM_VERSIONS:
            if room_id not in self._creators:
                self._creators[room_id] = await _room_creators(client, room_id)
            if user_id in self._creators[room_id]:
                return CREATOR_POWER_LEVEL
        return int(room.power_levels.get_user_level(user_id))


async def _room_creators(client: nio.AsyncClient, room_id: str) -> frozenset[str]:
    response = await client.room_get_state(room_id)
    if not isinstance(response, nio.RoomGetStateResponse):
        return frozenset()
    for event in response.events:
        if event.get("type") == "m.room.create":
            extra = event.get("content", {}).get("additional_creators", [])
            return frozenset([event["sender"], *extra])
    return frozenset()
