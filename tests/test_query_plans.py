"""Every statement the digest, the report and the member commands run finds its messages and
reactions through an index: none scans either table, which at a million messages is what makes a
command or a digest wait for seconds (issue 12)."""

import re

from storage import activity
from tests.helpers import running_app

_TABLE = re.compile(
    r"\b(?:FROM|JOIN)\s+(?:main\.)?(messages|reactions)\b(?:\s+(?:AS\s+)?(?!(?:WHERE|JOIN|ON|LEFT|"
    r"INNER|CROSS|NOT|GROUP|ORDER|LIMIT|UNION|INDEXED|WINDOW|HAVING|USING|SET)\b)(\w+))?",
    re.I,
)


# A search bounded by the community alone reads every row of it: a scan by another name.
_PASS = re.compile(r"(?:SCAN (\w+)|SEARCH (\w+) USING (?:COVERING )?INDEX \w+ \(community=\?\)$)")


def full_scans(sql: str, plan: list[str]) -> list[str]:
    """The plan's steps that read all of messages or reactions (under any alias the statement
    gives them)."""
    names = {"messages", "reactions"}
    for table, alias in _TABLE.findall(sql):
        names.add((alias or table).lower())
    return [step for step in plan if (m := _PASS.match(step)) and (m[1] or m[2]).lower() in names]


async def test_no_statement_of_the_digest_report_or_member_commands_scans_messages_or_reactions(
    tmp_path,
):
    async with running_app(tmp_path) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            '~ rita joins as "Rita Souza"',
            "#water/Irrigation shifts luis: Who sets the irrigation turns in your valley?",
            "#water/Irrigation shifts ana: >1 The users' assembly, every March.",
            "#water/Irrigation shifts luis: +2 🙏",
            "#water luis: ¿Cómo documentan los derechos de agua?",
            "#water ana: >3 Con un mapa compartido de cada reclamo.",
            "#water luis: >4 ¡Muchas gracias!",
            "#gender rita: Who keeps the frost calendar in your village?",
            "#gender rita: +6 💡",
            "#general luis: /kudos @rita for the frost calendar",
            "#general rita: I will bring the minutes to the next meeting.",
            "@ 2026-09-10 10:00",
        )
        await h.command("fran", "/prompt add water What does your water committee do best?")
        statements: list[str] = []
        readers = []
        # A command reads on a read-only connection of the store, and the report on three more
        # at once (its ties, its first responses, the rest): open them now, so that what they
        # run is recorded too.
        async with (
            h.store.reading() as first,
            h.store.reading() as second,
            h.store.reading() as third,
            h.store.reading() as fourth,
        ):
            readers = [first, second, third, fourth]
        for connection in (h.store.db, *(reader.db for reader in readers)):
            await connection.set_trace_callback(statements.append)
        answers = [
            await h.command("ana", "/mydata"),
            await h.command("fran", "/stats"),
            await h.command("fran", "/stats water 7d"),
            await h.command("fran", "/theme show water"),
            await h.command("fran", "/quiet"),
            await h.command("fran", "/digest preview"),
            await h.command("fran", "/report 2026-W37"),
        ]
        # The daily dormancy check and the dashboard's theme page: when each theme last spoke.
        last = await activity.theme_last_activity(h.store, h.console.community)
        for connection in (h.store.db, *(reader.db for reader in readers)):
            await connection.set_trace_callback(None)
        # The commands did their work (a failing one would have run little SQL).
        assert "Questions waiting for an answer" in answers[5]
        assert "frost calendar" in answers[5]
        assert set(last) == {"water", "gender"}
        reads = [
            sql
            for sql in dict.fromkeys(statements)
            if re.search(r"\b(messages|reactions)\b", sql, re.I)
            and re.match(r"\s*(SELECT|WITH|INSERT|UPDATE|DELETE)\b", sql, re.I)
        ]
        assert len(reads) >= 20
        scanning = {}
        for sql in reads:
            plan = [row[3] for row in await h.store.fetch_all("EXPLAIN QUERY PLAN " + sql)]
            if scans := full_scans(sql, plan):
                scanning[sql] = scans
        assert not scanning, "\n\n".join(f"{sql}\n  {steps}" for sql, steps in scanning.items())
        # The period's questions (the digest's and the report's first responses, the questions
        # waiting) are found among questions alone, not by looking up every message of the period.
        asking = [sql for sql in reads if "q.is_question = 1" in sql]
        assert len(asking) >= 2
        for sql in asking:
            plan = [row[3] for row in await h.store.fetch_all("EXPLAIN QUERY PLAN " + sql)]
            assert any("INDEX messages_questions " in step for step in plan), (sql, plan)
        # /mydata counts a person's credits from the index alone, however many they hold.
        (holdings,) = [sql for sql in statements if "FROM credits WHERE receiver_id IN" in sql]
        plan = [row[3] for row in await h.store.fetch_all("EXPLAIN QUERY PLAN " + holdings)]
        assert any("COVERING INDEX credits_by_receiver " in step for step in plan), plan
        assert any("COVERING INDEX credits_by_giver " in step for step in plan), plan
