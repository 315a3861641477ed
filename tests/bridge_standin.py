"""A stand-in for mautrix-discord between the loopback Discord server and a real Synapse, and a
script of one week that can be played on it or on one platform alone.

Like mautrix-discord, the stand-in relays a Discord channel and a Matrix room into each other:
a Discord member's message, reaction, edit and deletion reach the room as the member's puppet
(``@discord_<id>:server``, registered on Synapse through the admin API), replies pointing at
the copy of what they answer; a Matrix user's message reaches the channel through a relay
webhook named after them, their reaction as the bridge bot's, their edit and redaction as the
webhook message's edit and deletion. The room carries the bridge's MSC2346 state event naming
the channel. Each action is played on its own side and relayed at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.discord_loopback import LoopbackDiscord
from tests.synapse import Member, Synapse


@dataclass
class Said:
    """One message as it exists on each side: its id in the channel and in the room."""

    discord: str | None = None
    matrix: str | None = None


def _reply(event_id: str | None) -> dict[str, Any]:
    return {"m.relates_to": {"m.in_reply_to": {"event_id": event_id}}} if event_id else {}


async def _react(member: Member, room_id: str, event_id: str, emoji: str) -> str:
    relation = {"rel_type": "m.annotation", "event_id": event_id, "key": emoji}
    return await member.send_event(room_id, "m.reaction", {"m.relates_to": relation})


async def _edit(member: Member, room_id: str, event_id: str, text: str) -> None:
    await member.send_event(
        room_id,
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": f"* {text}",
            "m.new_content": {"msgtype": "m.text", "body": text},
            "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
        },
    )


class Side(Protocol):
    """Where the week is played: who says, reacts, edits and deletes, by their name."""

    async def say(self, who: str, text: str, *, reply_to: Said | None = None) -> Said: ...
    async def react(self, who: str, said: Said, emoji: str) -> None: ...
    async def edit(self, said: Said, text: str) -> None: ...
    async def delete(self, said: Said) -> None: ...


@dataclass
class OneRoom:
    """Everyone in one Matrix room, no bridge: the week as it is on one platform."""

    room_id: str
    people: dict[str, Member]
    authors: dict[str, str] = field(default_factory=dict)

    async def say(self, who: str, text: str, *, reply_to: Said | None = None) -> Said:
        target = reply_to.matrix if reply_to else None
        event_id = await self.people[who].send(self.room_id, text, **_reply(target))
        self.authors[event_id] = who
        return Said(matrix=event_id)

    async def react(self, who: str, said: Said, emoji: str) -> None:
        assert said.matrix is not None
        await _react(self.people[who], self.room_id, said.matrix, emoji)

    async def edit(self, said: Said, text: str) -> None:
        assert said.matrix is not None
        await _edit(self.people[self.authors[said.matrix]], self.room_id, said.matrix, text)

    async def delete(self, said: Said) -> None:
        assert said.matrix is not None
        who = self.people[self.authors[said.matrix]]
        await who.client.room_redact(self.room_id, said.matrix)


@dataclass
class Bridge:
    """A Discord channel and a Matrix room relayed into each other, as mautrix-discord does.

    ``matrix_people`` write in the room; ``discord_people`` (user payloads of the loopback
    guild) write in the channel and appear in the room as their puppets."""

    discord: LoopbackDiscord
    channel_id: str
    bridge_bot: dict[str, Any]
    """The bridge's Discord bot account: it reacts for Matrix users."""
    bridge_matrix_bot: Member
    room_id: str
    matrix_people: dict[str, Member]
    discord_people: dict[str, dict[str, Any]]
    puppets: dict[str, Member]
    """By the name of a person in the script, or the id of another Discord account."""
    authors: dict[str, str] = field(default_factory=dict)
    """Who wrote each message, by the id of its original (on its own side)."""

    @classmethod
    async def open(
        cls,
        server: Synapse,
        discord: LoopbackDiscord,
        *,
        channel_id: str,
        guild_id: str,
        bridge_bot: dict[str, Any],
        bridge_matrix_bot: Member,
        room_id: str,
        matrix_people: dict[str, Member],
        discord_people: dict[str, dict[str, Any]],
    ) -> Bridge:
        """Register each Discord member's puppet, bring it into the room with the member's
        name, and say in the room's state which channel it is bridged to (MSC2346)."""
        puppets = {}
        for name, user in discord_people.items():
            puppet = await Member.login(server, await server.register(f"discord_{user['id']}"))
            await puppet.client.set_displayname(name)
            await bridge_matrix_bot.client.room_invite(room_id, puppet.user_id)
            await puppet.client.join(room_id)
            puppets[name] = puppet
        content = {
            "bridgebot": bridge_matrix_bot.user_id,
            "protocol": {"id": "discordgo", "displayname": "Discord"},
            "network": {"id": guild_id},
            "channel": {"id": channel_id, "displayname": "water"},
        }
        state_key = f"fi.mau.discord://discord/{guild_id}/{channel_id}"
        response = await bridge_matrix_bot.client.room_put_state(
            room_id, "m.bridge", content, state_key=state_key
        )
        assert not hasattr(response, "status_code") or response.status_code is None, response
        return cls(
            discord,
            channel_id,
            bridge_bot,
            bridge_matrix_bot,
            room_id,
            matrix_people,
            discord_people,
            puppets,
        )

    async def say(self, who: str, text: str, *, reply_to: Said | None = None) -> Said:
        if who in self.discord_people:
            message = await self.discord.post(
                self.channel_id,
                self.discord_people[who],
                text,
                reply_to=reply_to.discord if reply_to else None,
            )
            copy = await self.puppets[who].send(
                self.room_id, text, **_reply(reply_to.matrix if reply_to else None)
            )
            self.authors[message["id"]] = who
            return Said(discord=message["id"], matrix=copy)
        event_id = await self.matrix_people[who].send(
            self.room_id, text, **_reply(reply_to.matrix if reply_to else None)
        )
        relay = self.discord._user_payload(self.discord._new_id(), who)
        copy = await self.discord.post(
            self.channel_id,
            relay,
            text,
            reply_to=reply_to.discord if reply_to else None,
            webhook=True,
        )
        self.authors[event_id] = who
        return Said(discord=copy["id"], matrix=event_id)

    async def relay_to_matrix(self, server: Synapse, message: dict[str, Any]) -> str:
        """Relay a message posted on Discord by someone who is not in the script (a bot,
        Trellis itself) as mautrix-discord does: through a puppet of its author."""
        author = message["author"]
        puppet = self.puppets.get(author["id"])
        if puppet is None:
            puppet = await Member.login(server, await server.register(f"discord_{author['id']}"))
            await puppet.client.set_displayname(author["global_name"])
            await self.bridge_matrix_bot.client.room_invite(self.room_id, puppet.user_id)
            await puppet.client.join(self.room_id)
            self.puppets[author["id"]] = puppet
        return await puppet.send(self.room_id, message["content"])

    async def react(self, who: str, said: Said, emoji: str) -> None:
        assert said.discord is not None and said.matrix is not None
        if who in self.discord_people:
            await self.discord.react(said.discord, self.discord_people[who], emoji)
            await _react(self.puppets[who], self.room_id, said.matrix, emoji)
        else:
            await _react(self.matrix_people[who], self.room_id, said.matrix, emoji)
            await self.discord.react(said.discord, self.bridge_bot, emoji)

    async def edit(self, said: Said, text: str) -> None:
        assert said.discord is not None and said.matrix is not None
        who = self.authors.get(said.discord) or self.authors[said.matrix]
        if who in self.discord_people:
            await self.discord.edit(said.discord, text)
            await _edit(self.puppets[who], self.room_id, said.matrix, text)
        else:
            await _edit(self.matrix_people[who], self.room_id, said.matrix, text)
            await self.discord.edit(said.discord, text)

    async def delete(self, said: Said) -> None:
        assert said.discord is not None and said.matrix is not None
        who = self.authors.get(said.discord) or self.authors[said.matrix]
        if who in self.discord_people:
            await self.discord.delete(said.discord)
            await self.puppets[who].client.room_redact(self.room_id, said.matrix)
        else:
            await self.matrix_people[who].client.room_redact(self.room_id, said.matrix)
            await self.discord.delete(said.discord)

    async def close(self) -> None:
        for puppet in self.puppets.values():
            await puppet.close()


async def play_week(side: Side) -> None:
    """A week of a small water network: a question from Matrix answered from Discord, thanks
    both ways (a reply and a 🙏), a correction edited, two slips deleted, reactions across."""
    question = await side.say("Ana", "How do you test wells for arsenic?")
    answer = await side.say("Ben", "We use field strips from the clinic.", reply_to=question)
    await side.say("Ana", "Thanks, that helps a lot!", reply_to=answer)
    await side.react("Ben", question, "🙏")
    caveat = await side.say("Fede", "Strips can be unreliable below 10 ppb.")
    await side.edit(caveat, "Strips are unreliable below 10 ppb; send a sample to the lab.")
    await side.react("Ana", caveat, "👍")
    slip = await side.say("Fede", "oops, wrong channel")
    await side.delete(slip)
    typo = await side.say("Ana", "Noted for the census")
    await side.delete(typo)
    await side.say("Ben", "Which lab do you use, Fede?", reply_to=caveat)
