"""Member profiles, the knowledge map: who works where, knows what, speaks which languages,
and who was active in which themes."""

from __future__ import annotations

from dataclasses import dataclass

from storage.contract import Reads, Unit
from storage.privacy import hidden, names_hiding, shown_name, visible

PROFILE_FIELDS = ("organisation", "expertise", "languages", "prefers")


@dataclass(frozen=True, slots=True)
class Profile:
    member_id: int
    key: str
    name: str
    organisation: str
    expertise: str
    languages: str
    prefers: str
    updated_at: int
    last_posted_at: int | None


_PROFILE = (
    f"p.member_id, m.member_key, {shown_name('m')}, p.organisation, p.expertise, p.languages, "
    "p.prefers, p.updated_at, m.last_posted_at"
)


async def set_profile(tx: Unit, member_id: int, fields: dict[str, str], at: int) -> None:
    """Create or update a person's profile (``member_id``: the person, ``MemberRow.person``);
    fields not given keep their value."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    columns = ", ".join(fields)
    marks = ", ".join("?" for _ in fields)
    updates = "".join(f", {name} = excluded.{name}" for name in fields)
    await tx.execute(
        f"INSERT INTO profiles (member_id, updated_at{', ' if fields else ''}{columns}) "
        f"VALUES (?, ?{', ' if fields else ''}{marks}) "
        f"ON CONFLICT (member_id) DO UPDATE SET updated_at = excluded.updated_at{updates}",
        (member_id, at, *fields.values()),
    )


async def profile(db: Reads, member_id: int) -> Profile | None:
    """The profile of the person ``member_id`` (``MemberRow.person``)."""
    row = await db.fetch_one(
        f"SELECT {_PROFILE}, m.community FROM profiles p JOIN members m ON m.id = p.member_id "
        f"WHERE p.member_id = ? AND {visible('m')}",
        (member_id,),
    )
    if row is None:
        return None
    hiding = await names_hiding(db, row[-1])
    return hidden(Profile(*row[:-1]), hiding, PROFILE_FIELDS)


async def profiles(db: Reads, community: str) -> list[Profile]:
    """Every visible member's profile, of members still in the community."""
    rows = await db.fetch_all(
        f"SELECT {_PROFILE} FROM profiles p JOIN members m ON m.id = p.member_id "
        f"WHERE m.community = ? AND m.left_at IS NULL AND {visible('m')} ORDER BY {shown_name('m')}",
        (community,),
    )
    hiding = await names_hiding(db, community)
    return [hidden(Profile(*row), hiding, PROFILE_FIELDS) for row in rows]


@dataclass(frozen=True, slots=True)
class ThemeActivity:
    member_id: int
    name: str
    theme: str
    messages: int


async def theme_activity(
    db: Reads, community: str, themes: list[str], since: int
) -> list[ThemeActivity]:
    """Visible members' messages in the given themes since ``since``, busiest first."""
    if not themes:
        return []
    marks = ", ".join("?" for _ in themes)
    # Per person (storage.identities): the messages of every account, under the representative.
    rows = await db.fetch_all(
        f"SELECT m.id, {shown_name('m')}, g.theme, count(*) FROM messages g "
        "JOIN members a ON a.id = g.member_id JOIN members m ON m.id = coalesce(a.person_id, a.id) "
        f"WHERE g.community = ? AND g.theme IN ({marks}) "
        f"AND g.posted_at >= ? AND g.deleted_at IS NULL AND a.left_at IS NULL AND {visible('m')} "
        "GROUP BY m.id, g.theme ORDER BY count(*) DESC, m.id",
        (community, *themes, since),
    )
    return [ThemeActivity(*row) for row in rows]


async def active_since(db: Reads, community: str, since: int) -> set[int]:
    """Visible persons (storage.identities) who posted or reacted since ``since``."""
    rows = await db.fetch_all(
        f"SELECT DISTINCT coalesce(m.person_id, m.id) FROM members m WHERE m.community = :c AND {visible('m')} AND ("
        "m.last_posted_at >= :s OR EXISTS (SELECT 1 FROM reactions r WHERE r.member_id = m.id "
        "AND r.reacted_at >= :s))",
        {"c": community, "s": since},
    )
    return {row[0] for row in rows}
