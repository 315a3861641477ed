"""Language: every message Trellis can say is in every catalog (Spanish, Brazilian Portuguese),
intact, and reaches members.

The messages are extracted from the source in-process with Babel and ``babel.cfg``, exactly as
``scripts/update_catalogs.py`` does, so a new English sentence without a translation fails here,
by name and per language, until someone translates it. To list what a language still lacks:
``python3 -m pytest -q tests/test_i18n.py -k "every_message_in_the_source and pt"``.
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

from bot.i18n import Translator, catalog_locales
from bot.recognition import expresses_thanks
from tests.helpers import config, running_app

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = sorted(catalog_locales())


@cache
def extracted() -> dict[tuple[str | None, str | tuple[str, str]], list[str]]:
    """Every message in the source by (context, message), with where it is used ("bot/app.py:12").
    Command words have the context "command"; other messages none."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, "babel.cfg")
    found: dict[tuple[str | None, str | tuple[str, str]], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        key = message if isinstance(message, str) else tuple(message)
        found.setdefault((context, key), []).append(f"{filename}:{lineno}")
    return found


def catalog_path(locale: str) -> Path:
    return ROOT / "bot" / "locale" / locale / "LC_MESSAGES" / "trellis.po"


@cache
def catalog(locale: str) -> Catalog:
    with catalog_path(locale).open("rb") as handle:
        return read_po(handle, locale=locale)


def translated_pairs(locale: str) -> list[tuple[str, str]]:
    """(English, translation) for every form of every translated message: singular, then plural."""
    pairs = []
    for message in catalog(locale):
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


def test_the_catalogs_are_spanish_and_brazilian_portuguese():
    assert CATALOGS == ["es", "pt"]


@pytest.mark.parametrize("locale", CATALOGS)
def test_the_catalog_translates_every_message_in_the_source(locale):
    translations = catalog(locale)
    missing = []
    for (context, key), places in extracted().items():
        msgid = key if isinstance(key, str) else key[0]
        message = translations.get(msgid, context=context)
        where = ", ".join(places)
        if message is None:
            missing.append(f"{where}: {key!r} is not in {catalog_path(locale).relative_to(ROOT)}")
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
    known = {key if isinstance(key, str) else key[0] for _, key in extracted()}
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


@pytest.mark.parametrize("locale", CATALOGS)
def test_translations_keep_exactly_the_placeholders_of_the_english(locale):
    wrong = [
        f"{english!r}: {sorted(fields(english))} but {text!r}: {sorted(fields(text))}"
        for english, text in translated_pairs(locale)
        if text and fields(english) != fields(text)
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("locale", CATALOGS)
def test_translations_keep_the_markdown_of_the_english(locale):
    wrong = [
        f"{english!r} -> {text!r}"
        for english, text in translated_pairs(locale)
        if text and markup(english) != markup(text)
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("locale", CATALOGS)
def test_every_plural_message_follows_the_count(locale):
    """One thing takes the first form and three take the other, in every message with a plural."""
    t = Translator(locale)
    wrong = []
    for message in catalog(locale):
        if not message.id or not message.pluralizable:
            continue
        singular, plural = message.id
        values = {
            field: f"<{field}>"
            for _, field, _, _ in string.Formatter().parse(singular + plural)
            if field and field != "n"
        }
        for n, form in ((1, message.string[0]), (3, message.string[1])):
            shown = t.n_(singular, plural, n, **values)
            if shown != form.format(n=n, **values):
                wrong.append(f"{singular!r} for {n}: {shown!r}")
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


def test_brazilian_portuguese_plurals_follow_the_count():
    t = Translator("pt")
    assert t.n_("**{n} overdue commitment**", "**{n} overdue commitments**", 1) == (
        "**1 compromisso vencido**"
    )
    assert t.n_("**{n} overdue commitment**", "**{n} overdue commitments**", 2) == (
        "**2 compromissos vencidos**"
    )
    # Zero takes the plural, as Brazilian grammar has it ("zero graus"), not CLDR's i = 0..1.
    assert t.n_("{n} person took part.", "{n} people took part.", 0) == "0 pessoas participaram."
    assert t.n_("{n} other", "{n} others", 3) == "mais 3 pessoas"


SPANISH_COMMUNITY = config(**{"communities.praxis.locale": "es"})
PORTUGUESE_COMMUNITY = config(**{"communities.praxis.locale": "pt"})


async def test_a_spanish_community_gets_help_in_spanish(tmp_path):
    async with running_app(tmp_path, SPANISH_COMMUNITY) as h:
        answer = await h.command("ana", "/help")
    assert answer.startswith("**Lo que Trellis puede hacer por ti**\n")
    assert "- `/ayuda comunidad`: temas, reconocer, perfil" in answer
    assert "Type /help" not in answer


async def test_an_english_community_still_gets_help_in_english(tmp_path):
    async with running_app(tmp_path) as h:
        answer = await h.command("ana", "/help")
    assert answer.startswith("**What Trellis can do for you**\n")


async def test_a_spanish_community_is_told_what_is_wrong_in_spanish(tmp_path):
    async with running_app(tmp_path, SPANISH_COMMUNITY) as h:
        bad_month = await h.command("fran", "/stats 2026-13")
        unknown = await h.command("ana", "/ayudame")
        not_allowed = await h.command("ana", "/stats")
    assert bad_month == (
        "“2026-13” no tiene mes 13; los meses van de 01 a 12.\nUso: /estadísticas [<tema>] [<periodo>]"
    )
    assert unknown == "“/ayudame” no es un comando de Trellis; escribe /help para verlos todos."
    assert not_allowed.startswith(
        "Solo los facilitadores pueden usar /stats; si lo necesitas, pídeselo a alguno de ellos."
    )


async def test_a_portuguese_community_gets_help_in_portuguese(tmp_path):
    async with running_app(tmp_path, PORTUGUESE_COMMUNITY) as h:
        answer = await h.command("ana", "/help")
    assert answer.startswith("**O que o Trellis pode fazer por você**\n")
    assert "- `/ajuda comunidade`: temas, reconhecer, perfil" in answer
    assert "Type /help" not in answer


async def test_a_portuguese_community_is_told_what_is_wrong_in_portuguese(tmp_path):
    async with running_app(tmp_path, PORTUGUESE_COMMUNITY) as h:
        bad_date = await h.command("ana", "/commit escrever o relatório by 2026-02-30")
        bad_month = await h.command("fran", "/stats 2026-13")
        unknown = await h.command("ana", "/ajudar")
        commitments = await h.command("ana", "/commitments")
    assert bad_date.startswith(
        "“2026-02-30” não é uma data; escreva no formato AAAA-MM-DD, por exemplo 2026-12-01.\n"
        "Uso: /compromisso <o-que> até <YYYY-MM-DD>"
    )
    assert bad_month.startswith(
        "“2026-13” não tem mês 13; os meses vão de 01 a 12.\nUso: /estatísticas"
    )
    assert unknown == "“/ajudar” não é um comando do Trellis; digite /help para ver todos."
    assert commitments.startswith("Você não tem compromissos")  # nothing was recorded


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


async def test_a_portuguese_community_gets_its_digest_in_portuguese(tmp_path):
    async with running_app(tmp_path, PORTUGUESE_COMMUNITY) as h:
        await h.lines(
            "@ 2026-09-07 10:00",
            '~ ana joins as "Ana Quispe"',
            '~ luis joins as "Luis Rojas"',
            "#water luis: Como vocês documentam as reivindicações de direito à água?",
            "#water ana: >1 Usamos um mapa compartilhado com cada reivindicação e suas provas.",
            "#water luis: >2 Muito obrigado @ana, era exatamente o que eu precisava!",
        )
        before = len(h.outbox)
        await h.advance(timedelta(days=7, hours=2))
        posts = h.sent_since(before, "post")
    assert len(posts) == 1
    digest = posts[0].text
    assert re.match(r"## Praxis Network: a semana de \d\d/09 a \d\d/09/2026\n", digest)
    for heading in (
        "### Sobre o que se conversou nos temas",
        "### Agradecimentos",
        "### Boas-vindas",
        "### A semana em números (comparada com a anterior)",
    ):
        assert f"\n{heading}\n" in digest
    assert "- **Water rights**: 3 mensagens de 2 pessoas.\n" in digest
    assert "- **Ana Quispe**: respondeu à pergunta de Luis Rojas em Water rights." in digest
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
