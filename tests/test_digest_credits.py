"""Several weeks of chat: the digest credits exactly the right people for the right things."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.services.digest import compose_week
from storage import postgresql
from tests.helpers import running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""


def thank_you_lines(digest: str) -> dict[str, str]:
    """Receiver name -> what the digest credits them for."""
    section = (
        digest.split("### Thank you", 1)[1].split("###", 1)[0] if "### Thank you" in digest else ""
    )
    return dict(re.findall(r"^- \*\*(.+?)\*\*: (.+)$", section, re.M))


async def digests(h) -> list[str]:
    return [sent.text for sent in h.outbox if sent.kind == "post" and sent.to == "#general"]


async def test_three_weeks_of_credits_name_exactly_who_helped_and_how(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            '~ rita joins as "Rita Souza"',
            '~ sofia joins as "Sofía Hernández"',
            '~ digestbot joins as bot "Digest Bot"',
            # week 1: an answered question, thanked in Spanish without a name (reply)
            "#water luis: ¿Cómo documentan los derechos de agua?",
            "#water ana: >1 Con un mapa compartido de cada reclamo.",
            "#water luis: >2 ¡Muchas gracias!",
            # a 🙏 from rita on ana's answer, and thanks to the bot (never credited)
            "#water rita: +2 🙏",
            "#water digestbot: Reminder: the digest comes on Monday",
            "#water rita: thanks @digestbot",
            # self-thanks never credits
            "#water ana: thanks @ana for nothing",
            "@ 2026-09-14 10:00",
            # week 2: kudos, a 💡, and sofia opts out and is then thanked and given kudos
            "#general luis: /kudos @rita for the frost calendar",
            "#gender rita: The frost calendar works best when women keep it.",
            "#gender luis: +7 💡",
            "#general sofia: /optout",
            "#gender sofia: I keep posting after opting out.",
            "#gender luis: thanks @sofia",
            "#general luis: /kudos @sofia for the translation",
            "@ 2026-09-21 10:00",
            # week 3: obrigada in Portuguese to rita, by name
            "#gender ana: Obrigada @rita pela ajuda!",
            "@ 2026-09-28 10:00",
        )
        posted = await digests(h)
    # Digests were posted on 14, 21 and 28 September (the empty week before is skipped).
    assert len(posted) == 3
    week1, week2, week3 = (thank_you_lines(text) for text in posted)
    assert week1 == {
        "Ana Quispe": "answered Luis Rojas's question in Water rights; "
        "thanked by Rita Souza in Water rights."
    }
    assert week2 == {
        "Rita Souza": "kudos from Luis Rojas: “for the frost calendar”; "
        "an idea in Gender and inclusion marked 💡 by Luis Rojas."
    }
    assert week3 == {"Rita Souza": "thanked by Ana Quispe in Gender and inclusion."}
    everything = "\n".join(posted)
    assert "Sofía" not in posted[1] and "Sofía" not in posted[2]
    assert "Digest Bot" not in everything


async def test_kudos_refuses_self_bots_and_opted_out_members_and_changes_nothing(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            '~ ana joins as "Ana Quispe"',
            '~ sofia joins as "Sofía Hernández"',
            '~ digestbot joins as bot "Digest Bot"',
            "#general sofia: /optout",
        )
        assert "Kudos are for someone else" in await h.command("ana", "/kudos @ana for me")
        assert "is a bot" in await h.command("ana", "/kudos @digestbot for the reminders")
        assert "opted out" in await h.command("ana", "/kudos @sofia for the translation")
        row = await h.store.fetch_one("SELECT count(*) FROM credits")
        assert row[0] == 0
        await h.advance(timedelta(days=8))
        assert not any("Thank you" in sent.text for sent in h.outbox if sent.kind == "post")


async def test_thanks_by_name_in_plain_text_credit_the_one_member_of_the_conversation(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ ana2 joins as "Ana Flores"',
            '~ luis joins as "Luis Rojas"',
            '~ rita joins as "Rita Souza"',
            '~ joao joins as "João Pereira"',
            "#water rita: We could map the springs with the schools.",
            "#water luis: Thank you Rita for the idea, let's do it.",
            "#water/Census joao: The census form is ready for review.",
            "#water/Census luis: obrigado Joao!",
            # Two Anas in the conversation: the thanks names nobody for sure.
            "#gender ana: The childcare corner worked.",
            "#gender ana2: So did ours.",
            "#gender luis: gracias Ana",
            # A name of someone who did not take part: nobody.
            "#gender rita: thanks Joao for the census form",
        )
        text = (
            await compose_week(h.app.community("praxis"), h.clock.now() + timedelta(days=1))
        ).text
        credited = thank_you_lines(text)
        assert credited == {
            "Rita Souza": "thanked by Luis Rojas in Water rights.",
            "João Pereira": "thanked by Luis Rojas in Water rights.",
        }


async def test_thanks_by_name_before_and_after_2038_are_both_credited(tmp_path):
    # Past 19 January 2038 an epoch second no longer fits 32 bits: the statement that credited
    # a thanks by name before must take one after as it is, without being retyped on the way.
    async with running_app(tmp_path, start=datetime(2037, 3, 2, 9, 0, tzinfo=UTC)) as h:
        await h.lines(
            "@ 2037-03-02 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            "#water ana: Here is the map of the wells.",
            "#water luis: thanks @ana for the map",
            "@ 2037-03-09 10:00",
            "@ 2040-03-05 10:00",
            "#water ana: And here are the 2039 rainfall figures.",
            "#water luis: thanks @ana for the figures",
            "@ 2040-03-12 10:00",
        )
        posted = await digests(h)
        dialect = h.app.store.dialect
    assert [text.splitlines()[0] for text in posted] == [
        "## Praxis Network: the week of 02/03 to 09/03/2037",
        "## Praxis Network: the week of 05/03 to 12/03/2040",
    ]
    for text in posted:
        assert thank_you_lines(text) == {"Ana Quispe": "thanked by Luis Rojas in Water rights."}
    if dialect == "postgresql":
        # A statement whose value overflows its inferred type fails, and is then sent again
        # with its parameters cast (storage.postgresql's fallback): the credit's never is.
        assert not [text for text, _ in postgresql._TYPED if "INTO credits" in text]
