"""Language: every message Trellis can say is in the Spanish catalog, intact, and reaches members.

The messages are extracted from the source in-process with Babel and ``babel.cfg``, exactly as
``scripts/update_catalogs.py`` does, so a new English sentence without a Spanish translation fails
here, by name, until someone translates it.
"""

from __future__ import annotations

import ast
import re
import string
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from bot.i18n import Translator
from bot.services.recognition import expresses_thanks
from tests.helpers import config, running_app

ROOT = Path(__file__).resolve().parent.parent
SPANISH = ROOT / "bot" / "locale" / "es" / "LC_MESSAGES" / "trellis.po"


@cache
def extracted() -> dict[str | tuple[str, str], list[str]]:
    """Every message in the source, with where it is used ("bot/app.py:12")."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, "babel.cfg")
    found: dict[str | tuple[str, str], list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        key = message if isinstance(message, str) else tuple(message)
        found.setdefault(key, []).append(f"{filename}:{lineno}")
    return found


@cache
def spanish() -> Catalog:
    with SPANISH.open("rb") as handle:
        return read_po(handle, locale="es")


def translated_pairs() -> list[tuple[str, str]]:
    """(English, Spanish) for every form of every translated message: singular, then plural."""
    pairs = []
    for message in spanish():
        if not message.id:
            continue
        if message.pluralizable:
            singular, plural = message.id
            pairs.append((singular, message.string[0]))
            pairs.extend((plural, form) for form in message.string[1:])
        else:
            pairs.append((message.id, message.string))
    return pairs


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def markup(text: str) -> tuple[object, ...]:
    """The markdown a translation must keep: line starts, bold, code, headings, line breaks."""
    lines = text.split("\n")
    starts = tuple(re.match(r"(#+ |- |\s*)", line).group(1) for line in lines)
    return starts, text.count("**"), text.count("`"), text.count("\n")


def test_the_spanish_catalog_translates_every_message_in_the_source():
    catalog = spanish()
    missing = []
    for key, places in extracted().items():
        msgid = key if isinstance(key, str) else key[0]
        message = catalog.get(msgid)
        where = ", ".join(places)
        if message is None:
            missing.append(f"{where}: {key!r} is not in {SPANISH.relative_to(ROOT)}")
        elif message.fuzzy:
            missing.append(f"{where}: {key!r} is marked fuzzy: check its translation")
        elif isinstance(key, tuple) and (
            not message.pluralizable or message.id[1] != key[1] or not all(message.string)
        ):
            missing.append(f"{where}: {key!r} needs both plural forms translated")
        elif isinstance(key, str) and (message.pluralizable or not message.string):
            missing.append(f"{where}: {key!r} has no translation")
    assert not missing, "Run python3 scripts/update_catalogs.py, then translate:\n" + "\n".join(
        missing
    )


def test_every_message_given_to_the_catalog_can_be_extracted():
    """A message built with an f-string, or passed where Babel does not look, is never translated."""
    positions = {"_": 0, "n_": 0, "N_": 0, "CommandError": 0, "CommandSpec": 1}
    known = {key if isinstance(key, str) else key[0] for key in extracted()}
    problems = []
    for path in sorted(
        [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("adapters").rglob("*.py")]
    ):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name not in positions:
                continue
            index = positions[name]
            if index < len(node.args):
                message = node.args[index]
            else:
                message = next(
                    (k.value for k in node.keywords if k.arg in ("help", "message")), None
                )
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if isinstance(message, ast.JoinedStr):
                problems.append(f"{where}: an f-string given to {name}(); pass {{names}} as values")
            elif isinstance(message, ast.Constant) and message.value not in known:
                problems.append(f"{where}: {message.value!r} is not extracted (check babel.cfg)")
    assert not problems, "\n".join(problems)


def test_spanish_keeps_exactly_the_placeholders_of_the_english():
    wrong = [
        f"{english!r}: {sorted(fields(english))} but {spanish_text!r}: {sorted(fields(spanish_text))}"
        for english, spanish_text in translated_pairs()
        if spanish_text and fields(english) != fields(spanish_text)
    ]
    assert not wrong, "\n".join(wrong)


def test_spanish_keeps_the_markdown_of_the_english():
    wrong = [
        f"{english!r} -> {spanish_text!r}"
        for english, spanish_text in translated_pairs()
        if spanish_text and markup(english) != markup(spanish_text)
    ]
    assert not wrong, "\n".join(wrong)


def test_spanish_plurals_follow_the_count():
    t = Translator("es")
    assert t.n_("**{n} overdue commitment**", "**{n} overdue commitments**", 1) == (
        "**1 compromiso vencido**"
    )
    assert t.n_("**{n} overdue commitment**", "**{n} overdue commitments**", 0) == (
        "**0 compromisos vencidos**"
    )
    assert t.n_("{n} other", "{n} others", 3) == "3 personas más"


SPANISH_COMMUNITY = config(**{"communities.praxis.locale": "es"})


async def test_a_spanish_community_gets_help_in_spanish(tmp_path):
    async with running_app(tmp_path, SPANISH_COMMUNITY) as h:
        answer = await h.command("ana", "/help")
    assert answer.startswith("**Lo que Trellis puede hacer por ti**\n")
    assert (
        "- `/themes`: Muestra los temas de la comunidad y sus objetivos de aprendizaje." in answer
    )
    assert "Lists the community's themes" not in answer


async def test_an_english_community_still_gets_help_in_english(tmp_path):
    async with running_app(tmp_path) as h:
        answer = await h.command("ana", "/help")
    assert answer.startswith("**What Trellis can do for you**\n")


async def test_a_spanish_community_is_told_what_is_wrong_in_spanish(tmp_path):
    async with running_app(tmp_path, SPANISH_COMMUNITY) as h:
        bad_month = await h.command("fran", "/stats 2026-13")
        unknown = await h.command("ana", "/ayuda")
        not_allowed = await h.command("ana", "/stats")
    assert bad_month.startswith("“2026-13” no tiene mes 13; los meses van de 01 a 12.\nUso: /stats")
    assert unknown == "“/ayuda” no es un comando de Trellis; escribe /help para verlos todos."
    assert not_allowed.startswith(
        "Solo los facilitadores pueden usar /stats; si lo necesitas, pídeselo a alguno de ellos."
    )


async def test_a_spanish_community_gets_its_digest_in_spanish(tmp_path):
    async with running_app(tmp_path, SPANISH_COMMUNITY) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            "#water luis: ¿Cómo documentan los reclamos por derechos de agua?",
            "#water ana: >1 Usamos un mapa compartido con cada reclamo y su evidencia.",
            "#water luis: >2 ¡Muchas gracias @ana, justo lo que necesitaba!",
        )
        before = len(h.outbox)
        await h.advance(timedelta(days=7, hours=2))
        posts = h.sent_since(before, "post")
    assert len(posts) == 1
    digest = posts[0].text
    assert re.match(r"## Praxis Network: la semana del \d\d/09 al \d\d/09/2026\n", digest)
    for heading in (
        "### De qué se habló en los temas",
        "### Gracias",
        "### Bienvenida",
        "### La semana en números (comparada con la anterior)",
    ):
        assert f"\n{heading}\n" in digest
    assert "- **Ana Quispe**: respondió la pregunta de Luis Rojas en Water rights." in digest
    assert "### What the themes discussed" not in digest


@pytest.mark.parametrize(
    "text",
    [
        # English
        "Thanks @ana, that's exactly what I needed",
        "thank you so much!",
        "Many thanks for the map",
        "thx, it works now",
        "Much appreciated, Luis.",
        # Spanish
        "¡Muchas gracias, Ana!",
        "Mil gracias por compartirlo",
        "Te agradezco mucho la ayuda",
        "Quedo muy agradecida con el equipo",
        "GRACIAS!!",
        # Portuguese
        "Obrigada pela ajuda!",
        "Muito obrigado, Luis",
        "Valeu, gente!",
        "Agradeço muito o material",
    ],
)
def test_thanks_is_recognised_in_english_spanish_and_portuguese(text):
    assert expresses_thanks(text)


@pytest.mark.parametrize(
    "text",
    [
        "no thanks, I already have it",
        "No thank you, I'm fine",
        "No, thanks. I found it.",
        "No, gracias, ya lo tengo",
        "Não, obrigado",
        "Happy Thanksgiving everyone",
        "We met at the thanksgiving dinner",
        "The tyre shop is closed",
        "Graciela shared the census map",
        "O formulário é obrigatório",
        "How do you document water rights claims?",
    ],
)
def test_declining_and_lookalike_words_are_not_thanks(text):
    assert not expresses_thanks(text)
