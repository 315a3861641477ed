"""The community's language: command words typed in Spanish or Portuguese, help by topic with each
command's full syntax, and answers private unless the member adds ``public``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers import config, running_app

pytestmark = pytest.mark.usefixtures("backend")
"""On SQLite and on PostgreSQL (tests/conftest.py)."""

SPANISH = config(**{"communities.praxis.locale": "es"})
PORTUGUESE = config(**{"communities.praxis.locale": "pt"})


async def test_a_spanish_community_types_its_commands_in_spanish(tmp_path):
    async with running_app(tmp_path, SPANISH) as h:
        await h.lines('~ ana joins as "Ana Quispe"', "#water ana: Hola a todos")
        noted = await h.command("ana", "/compromiso escribir el caso para la red para 2026-11-20")
        shared = await h.command("ana", "/compartir Lección Riego por goteo", channel="water")
        also = await h.command("ana", "/compartir leccion Cosecha de agua", channel="water")
        listed = await h.command("ana", "/compromisos")
        library = await h.command("ana", "/biblioteca")
        nudges = await h.command("ana", "/avisos no")
        english = await h.command("ana", "/nudges on")
        asked = await h.command("fran", "/pregunta agregar water ¿Cómo cuidan sus fuentes de agua?")
        await h.lines('~ rosa joins as "Rosa"', "#general rosa: Hola")
        forgotten = await h.command("rosa", "/olvidarme CONFIRMAR")
    assert noted.startswith(
        "Anotado: compromiso 1, “escribir el caso para la red”, para el 2026-11-20."
    )
    assert listed.endswith("\n- 1. escribir el caso para la red — para el 2026-11-20")
    assert "Riego por goteo" in shared and "Cosecha de agua" in also
    assert "Riego por goteo" in library and "Cosecha de agua" in library
    assert nudges.startswith("Los avisos están desactivados")
    assert english.startswith("Los avisos están activados")
    assert asked.startswith("Pregunta disparadora 1 en cola para Water rights")
    assert forgotten.startswith("Listo: Trellis borró todo lo que guardaba sobre ti")


async def test_command_words_are_whole_tokens_in_every_language(tmp_path):
    async with running_app(tmp_path, SPANISH) as h:
        unknown = await h.command("ana", "/ayudas")
        not_a_choice = await h.command("ana", "/avisos quizas")
    assert unknown.startswith("“/ayudas” no es un comando de Trellis")
    assert not_a_choice == "“quizas” no es ninguna de estas opciones: sí | no.\nUso: /avisos sí|no"


async def test_a_portuguese_community_types_its_commands_in_portuguese(tmp_path):
    async with running_app(tmp_path, PORTUGUESE) as h:
        noted = await h.command("ana", "/compromisso escrever o relatório até 2026-11-20")
        done = await h.command("ana", "/cumprido 1")
        shared = await h.command("ana", "/compartilhar caso Mutirão da água", channel="water")
    assert noted.startswith("Anotado: compromisso 1, “escrever o relatório”")
    assert "compromisso 1" in done
    assert "Mutirão da água" in shared


async def test_help_alone_lists_the_topics_in_one_message(tmp_path):
    async with running_app(tmp_path) as h:
        member = await h.command("ana", "/help")
        facilitator = await h.command("fran", "/help")
    assert len(facilitator) <= 2000
    assert "- `/help knowledge`: experts, share, library" in member
    assert "- `/help commitments`: commit, done, commitments\n" in member  # overdue: facilitators
    assert "/help facilitation" not in member
    assert (
        "- `/help facilitation`: stats, quiet, prompt, digest, theme, dashboard, merge, report"
        in facilitator
    )
    assert "- `/help privacy`: mydata, nudges, optout, optin, forget-me, link, unlink" in member
    assert "prompt add" not in facilitator  # the syntax is one topic away


async def test_help_shows_a_topic_or_a_command_in_full_syntax(tmp_path):
    async with running_app(tmp_path, SPANISH) as h:
        commit = await h.command("ana", "/help commit")
        topic = await h.command("ana", "/ayuda conocimiento")
        event = await h.command("ana", "/ayuda evento")
    assert commit.startswith("- `/compromiso <qué> para <YYYY-MM-DD>`: Asume una responsabilidad")
    assert commit.endswith("\n  - `<qué>`: A qué te comprometes, luego para AAAA-MM-DD")
    assert "- `/compartir lección|caso|documento <título>`:" in topic
    assert "- `/biblioteca [<tema>]`:" in topic
    assert "- `/evento agregar <título> <YYYY-MM-DD> <HH:MM> [dónde]`:" in event


async def test_answers_are_private_unless_the_member_adds_public(tmp_path):
    async with running_app(tmp_path) as h:
        before = len(h.outbox)
        await h.command("ana", "/themes")
        await h.command("ana", "/themes public")
        await h.command("ana", "/event list")
        await h.command("fran", "/theme list PUBLIC")
        refused = await h.command("ana", "/mydata public")
        replies = h.sent_since(before, "reply")
    assert [sent.to for sent in replies] == ["ana", "#general", "ana", "#general", "ana"]
    assert replies[0].text == replies[1].text
    assert refused.startswith("“public” is more than /mydata takes.")


async def test_public_is_typed_in_the_community_language(tmp_path):
    async with running_app(tmp_path, PORTUGUESE) as h:
        before = len(h.outbox)
        await h.command("ana", "/temas público")
        await h.command("ana", "/biblioteca publico")
    assert [sent.to for sent in h.sent_since(before, "reply")] == ["#general", "#general"]


async def test_a_member_chooses_the_language_trellis_writes_to_them_in(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines('~ ana joins as "Ana Quispe"', '~ luis joins as "Luis Rojas"')
        chosen = await h.command("ana", "/profile set language:pt")
        mine = await h.command("ana", "/mydata")
        wrong = await h.command("ana", "/stats")
        public = await h.command("ana", "/themes public")
        await h.command("ana", "/commit escrever o relatório até 2026-09-10")
        await h.command("luis", "/commit write the report by 2026-09-10")
        before = len(h.outbox)
        await h.advance(timedelta(days=2, hours=2))  # Wednesday 10:00, the day before
        reminders = {sent.to: sent.text for sent in h.sent_since(before, "direct")}
        back = await h.command("ana", "/profile set language:")
    assert chosen == "Seu perfil foi salvo.\nO Trellis escreve para você em português."
    assert "- O Trellis escreve para você em português" in mine
    assert wrong.startswith("Só facilitadores podem usar /stats;")
    assert public.startswith("**Themes of Praxis Network**")  # the channel reads the community's
    assert reminders["ana"].startswith("Um lembrete: seu compromisso 1, “escrever o relatório”")
    assert reminders["luis"].startswith("A reminder: your commitment 2, “write the report”")
    assert back == "Your profile is saved.\nTrellis writes to you in English."


async def test_an_unknown_language_is_refused_and_nothing_is_saved(tmp_path):
    async with running_app(tmp_path, SPANISH) as h:
        refused = await h.command("ana", "/perfil definir organisation:CANO language:klingon")
        shown = await h.command("ana", "/perfil ver")
    assert refused.startswith("“klingon” no es un idioma que Trellis hable;")
    assert shown.startswith("Todavía no tienes perfil")


async def test_replies_name_places_as_members_see_them(tmp_path):
    async with running_app(tmp_path) as h:
        await h.lines("#water luis: Hello water people")
        posted = await h.command("fran", "/digest post")
        shown = await h.command("fran", "/theme show water")
    assert posted == "Digest posted to #general."
    assert "\nPlaces: #water\n" in shown
    assert "console:" not in posted + shown


async def test_profile_labels_are_typed_in_the_community_language(tmp_path):
    async with running_app(tmp_path, SPANISH) as h:
        saved = await h.command(
            "ana", "/perfil definir organización:CANO experiencia:riego idioma:pt"
        )
        usage = await h.command("luis", "/ayuda perfil")
    assert saved.startswith("Seu perfil foi salvo.\n")  # she now reads Portuguese
    assert "CANO" in saved and "riego" in saved
    assert "[organización:…] [experiencia:…] [idiomas:…] [prefiere:…] [idioma:en|es|pt]" in usage
