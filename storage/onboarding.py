"""Welcomes: each member is welcomed once, and whether the welcome reached them."""

from __future__ import annotations

from storage.contract import Unit


async def claim_welcome(tx: Unit, member_id: int, at: int) -> bool:
    """Claim the welcome of a member; False if they were welcomed before."""
    changed = await tx.execute(
        "INSERT INTO welcomes (member_id, sent_at, delivered) VALUES (?, ?, 0) "
        "ON CONFLICT DO NOTHING",
        (member_id, at),
    )
    return changed == 1


async def welcome_delivered(tx: Unit, member_id: int, *, delivered: bool) -> None:
    await tx.execute(
        "UPDATE welcomes SET delivered = ? WHERE member_id = ?", (int(delivered), member_id)
    )
