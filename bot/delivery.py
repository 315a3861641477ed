"""Posting one thing (a digest, a prompt, an event reminder) to one place per platform, each
rendered for its platform, each post claimed in the store so that a run tried again never posts
twice to one place, and each place's outcome told honestly."""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.community import Community
from bot.events import key_parts
from bot.outgoing import OutgoingMessage
from bot.scheduler import process_gone, this_process
from storage import deliveries

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    POSTED = "posted"
    ALREADY = "posted before"
    """Claimed by an earlier try of the same run: not posted again."""
    FAILED = "could not post"
    OFF = "not posted"
    """The place's platform is not connected here (its adapter is not enabled)."""


@dataclass(frozen=True, slots=True)
class PlacePosting:
    """What became of one post in one place."""

    place: str
    outcome: Outcome
    reason: str = ""
    message_id: str | None = None

    def __str__(self) -> str:
        match self.outcome:
            case Outcome.POSTED:
                return f"posted to {self.place}"
            case Outcome.ALREADY:
                return f"posted to {self.place} before"
        return f"{self.outcome.value} in {self.place}: {self.reason}"


async def post_each(
    community: Community,
    what: str,
    places: Sequence[str],
    message_for: Callable[[str], Awaitable[OutgoingMessage]],
) -> list[PlacePosting]:
    """Post ``what`` to each of ``places`` (one per platform) with the message ``message_for``
    renders for that place. A place is claimed before its post goes out and released when the
    platform refuses it: a later try posts only where it has not been posted."""
    outcomes = []
    for place in places:
        # Rendered before the claim: what fails here (the store) leaves no claim behind.
        message = await message_for(place)
        at = int(community.clock.now().timestamp())
        async with community.store.transaction() as tx:
            claimed = await deliveries.claim(
                tx, community.id, what, place, at, this_process(), process_gone
            )
        if not claimed:
            earlier = await deliveries.posted_message(community.store, community.id, what, place)
            outcomes.append(PlacePosting(place, Outcome.ALREADY, message_id=earlier))
            continue
        try:
            sent = await community.post(place, message)
        except Exception as error:  # each platform has its own errors (a missing permission…)
            log.warning("could not post %s in %s: %s", what, place, error)
            async with community.store.transaction() as tx:
                await deliveries.release(tx, community.id, what, place)
            reason = str(error) or type(error).__name__
            outcomes.append(PlacePosting(place, Outcome.FAILED, reason))
            continue
        if sent is None:
            async with community.store.transaction() as tx:
                await deliveries.release(tx, community.id, what, place)
            reason = f"the {key_parts(place)[0]} adapter is not enabled"
            outcomes.append(PlacePosting(place, Outcome.OFF, reason))
            continue
        first = sent.message_ids[0] if sent.message_ids else None
        done = int(community.clock.now().timestamp())
        async with community.store.transaction() as tx:
            await deliveries.delivered(tx, community.id, what, place, done, first)
        outcomes.append(PlacePosting(place, Outcome.POSTED, message_id=first))
    return outcomes


def failures(postings: Sequence[PlacePosting], *, off: bool = True) -> list[PlacePosting]:
    """The places not posted to: refused by the platform, or (``off``) not connected here."""
    missed = (Outcome.FAILED, Outcome.OFF) if off else (Outcome.FAILED,)
    return [posting for posting in postings if posting.outcome in missed]
