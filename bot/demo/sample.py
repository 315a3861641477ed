"""The sample community `trellis demo` replays: six weeks of a Latin American learning network.

``build_sample_community(seed)`` returns the roster (40 people from 8 organisations and one bot),
the four thematic groups, and a console script in the grammar the console adapter reads: joins,
questions and answers, threads, reactions, thanks in English, Spanish and Portuguese, edits, one
deletion, facilitator and member commands, and a clock line before every change of minute. It also
returns ``expected``: the facts the script was written to contain (who opted out, who never posted,
who went quiet, who thanked whom, which theme fell silent), so tests can check what Trellis makes
of the replay against what really happened in it. The same seed always gives the same community.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

COMMUNITY_ID = "praxis"
COMMUNITY_NAME = "Red de Aprendizaje Praxis"
TIMEZONE = "America/Lima"
GENERAL = "general"
WEEKS = 6
THANKS_EMOJI = "🙏"

THANKS_WORDS = re.compile(
    r"\b(thanks|thank you|thx|gracias|agradec\w*|obrigad[oa]s?|valeu)\b", re.IGNORECASE
)
"""Words a thanks detector reacts to. The script uses them only in thanks it records."""


class Persona(StrEnum):
    FACILITATOR = "facilitator"
    CORE = "core"
    ACTIVE = "active"
    PERIPHERAL = "peripheral"
    """Mostly reacts; posts an introduction and the odd short line."""
    GOES_QUIET = "goes-quiet"
    """Active in weeks 1-2, silent afterwards."""
    SILENT_JOINER = "silent-joiner"
    """Joins and never posts, reacts or runs a command."""
    BOT = "bot"


_FILLS_PROFILE = frozenset({Persona.FACILITATOR, Persona.CORE, Persona.ACTIVE, Persona.GOES_QUIET})
"""Those who set a profile soon after joining; peripheral members and silent joiners do not."""


@dataclass(frozen=True, slots=True)
class Member:
    handle: str
    name: str
    organisation: str
    country: str
    languages: tuple[str, ...]
    expertise: tuple[str, ...]
    themes: tuple[str, ...]
    persona: Persona

    @property
    def key(self) -> str:
        """The console adapter's member key, as used in config (leaders, facilitators)."""
        return f"console:{self.handle}"

    @property
    def is_bot(self) -> bool:
        return self.persona is Persona.BOT

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


@dataclass(frozen=True, slots=True)
class Theme:
    id: str
    name: str
    channel: str
    keywords: tuple[str, ...]
    learning_goal: str
    leaders: tuple[str, ...]
    prompt_cron: str

    @property
    def place(self) -> str:
        return f"console:{self.channel}"


@dataclass(frozen=True, slots=True)
class Thanks:
    """One person thanking another, as written in the script.

    ``kind`` is ``"text"`` (a message naming the thanked person with @) or ``"reaction"`` (🙏 on
    the thanked person's message). ``message`` is the message number carrying the thanks text, or
    the number of the message that got the 🙏. ``theme`` is None in #general.
    """

    week: int
    thanker: str
    thanked: str
    theme: str | None
    kind: str
    message: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Kudos:
    week: int
    giver: str
    receiver: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class MessageFact:
    """A message as the script posts it (its final text after any edit)."""

    number: int
    author: str
    channel: str
    thread: str | None
    theme: str | None
    week: int
    at: datetime
    text: str
    reply_to: int | None
    kind: str
    """question, answer, thanks, share, thread, prompt-response, intro, welcome, chat, notice."""
    edited: bool = False
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class ReactionFact:
    message: int
    member: str
    emoji: str
    at: datetime
    removed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Expected:
    """What the script contains, for tests. Datetimes are aware UTC; weeks count from 1."""

    facilitators: tuple[str, ...]
    bot: str
    opted_out: str
    optout_at: datetime
    posts_after_optout: tuple[int, ...]
    nudges_off: str
    never_posted: tuple[str, ...]
    went_quiet: dict[str, datetime]
    """Goes-quiet members and the time of their last action."""
    joined: dict[str, datetime]
    left: dict[str, datetime]
    thanks: tuple[Thanks, ...]
    """Every thanks between people, including those naming the opted-out member."""
    bot_thanks: tuple[Thanks, ...]
    """Thanks addressed to the bot, which must never become a credit."""
    kudos: tuple[Kudos, ...]
    edited: tuple[int, ...]
    deleted: tuple[int, ...]
    unanswered_questions: tuple[int, ...]
    shared: tuple[int, ...]
    """Messages sharing a document or case (with a link)."""
    quiet_theme: str
    quiet_theme_last_message: datetime
    quiet_theme_revived_at: datetime
    prompts: tuple[tuple[int, str, str], ...]
    """(week, theme, text) of every `/prompt add`."""
    messages: tuple[MessageFact, ...]
    reactions: tuple[ReactionFact, ...]

    def thanks_in_week(self, week: int, *, kind: str | None = None) -> tuple[Thanks, ...]:
        return tuple(t for t in self.thanks if t.week == week and (kind is None or t.kind == kind))


@dataclass(frozen=True, slots=True)
class SampleCommunity:
    community_id: str
    name: str
    timezone: str
    roster: tuple[Member, ...]
    """The 40 people; the bot is ``bot``."""
    bot: Member
    themes: tuple[Theme, ...]
    start: datetime
    """Monday 08:00 of week 1, aware, in the community's timezone."""
    weeks: int
    expected: Expected
    lines: tuple[str, ...] = field(repr=False)

    def script_lines(self) -> list[str]:
        return list(self.lines)

    def member(self, handle: str) -> Member:
        for member in (*self.roster, self.bot):
            if member.handle == handle:
                return member
        raise KeyError(f"no member {handle!r} in the sample community")

    def theme(self, theme_id: str) -> Theme:
        for theme in self.themes:
            if theme.id == theme_id:
                return theme
        raise KeyError(f"no theme {theme_id!r} in the sample community")

    @property
    def organisations(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.organisation for m in self.roster))

    def with_persona(self, persona: Persona) -> tuple[Member, ...]:
        return tuple(m for m in self.roster if m.persona is persona)

    def week_of(self, moment: datetime) -> int:
        """Week 1 is the week of ``start``; weeks run Monday to Sunday in the community's timezone."""
        local = moment.astimezone(self.start.tzinfo).date()
        return (local - self.start.date()).days // 7 + 1


# ---------------------------------------------------------------------------------------------
# Who is in the network

_ORGS = {
    "praxis": ("Secretaría Praxis", "Peru"),
    "cedal": ("CEDAL Cusco", "Peru"),
    "rha": ("Red Hídrica Andina", "Bolivia"),
    "tv": ("Fundación Tierra Viva", "Colombia"),
    "tv2": ("Colectiva Tejiendo Voces", "Mexico"),
    "isv": ("Instituto Sertão Vivo", "Brazil"),
    "ea": ("EvalAndes", "Peru"),
    "acc": ("Alianza Clima Centroamérica", "Guatemala"),
}

_P = Persona
_PEOPLE: tuple[tuple[str, str, str, str, tuple[str, ...], tuple[str, ...], Persona], ...] = (
    # handle, name, org, languages, expertise, themes, persona
    (
        "maria",
        "María Condori",
        "praxis",
        "es en qu",
        ("facilitación", "knowledge management"),
        ("water", "gender", "climate", "mel"),
        _P.FACILITATOR,
    ),
    (
        "diego",
        "Diego Salazar",
        "praxis",
        "es en",
        ("outcome harvesting", "sistematización"),
        ("mel", "climate"),
        _P.FACILITATOR,
    ),
    (
        "lucia",
        "Lucía Paredes",
        "praxis",
        "es en",
        ("boletines", "comunicación para el cambio"),
        ("gender", "mel"),
        _P.CORE,
    ),
    (
        "hector",
        "Héctor Ramos",
        "praxis",
        "es",
        ("biblioteca digital", "documentación"),
        ("mel",),
        _P.PERIPHERAL,
    ),
    (
        "silvia",
        "Silvia Torres",
        "praxis",
        "es",
        ("gestión financiera",),
        ("mel",),
        _P.SILENT_JOINER,
    ),
    (
        "ana",
        "Ana Quispe",
        "cedal",
        "es qu en",
        ("juntas de usuarios de agua", "GIS mapping"),
        ("water", "climate"),
        _P.CORE,
    ),
    (
        "luis",
        "Luis Mamani",
        "cedal",
        "es qu",
        ("turnos de riego", "tarifas comunitarias"),
        ("water",),
        _P.ACTIVE,
    ),
    (
        "rosa",
        "Rosa Huamán",
        "cedal",
        "es",
        ("presupuestos sensibles al género", "liderazgo"),
        ("gender", "water"),
        _P.ACTIVE,
    ),
    (
        "cesar",
        "César Flores",
        "cedal",
        "es",
        ("titulación de tierras", "catastro comunal"),
        ("water",),
        _P.GOES_QUIET,
    ),
    ("elena", "Elena Vargas", "cedal", "es", ("extensión agraria",), ("water",), _P.SILENT_JOINER),
    (
        "juan",
        "Juan Choque",
        "rha",
        "es ay",
        ("derecho de aguas", "mediación de conflictos"),
        ("water",),
        _P.CORE,
    ),
    (
        "wilma",
        "Wilma Apaza",
        "rha",
        "es ay",
        ("comités de agua", "organización comunal"),
        ("water", "gender"),
        _P.ACTIVE,
    ),
    (
        "marco",
        "Marco Gutiérrez",
        "rha",
        "es",
        ("aguas subterráneas",),
        ("water", "climate"),
        _P.PERIPHERAL,
    ),
    (
        "paola",
        "Paola Rivera",
        "rha",
        "es en",
        ("incidencia política", "consulta previa"),
        ("water",),
        _P.GOES_QUIET,
    ),
    ("raul", "Raúl Mendoza", "rha", "es", ("hidrología",), ("water",), _P.SILENT_JOINER),
    (
        "camila",
        "Camila Rojas",
        "tv",
        "es en",
        ("restitución de tierras", "mapeo participativo"),
        ("water", "gender"),
        _P.CORE,
    ),
    (
        "andres",
        "Andrés Gómez",
        "tv",
        "es",
        ("agroecología", "adaptación basada en ecosistemas"),
        ("climate",),
        _P.ACTIVE,
    ),
    (
        "natalia",
        "Natalia Ospina",
        "tv",
        "es en",
        ("líneas de base", "encuestas móviles"),
        ("mel",),
        _P.ACTIVE,
    ),
    ("felipe", "Felipe Castro", "tv", "es", ("tierras colectivas",), ("water",), _P.PERIPHERAL),
    (
        "laura",
        "Laura Cárdenas",
        "tv",
        "es",
        ("cartografía social",),
        ("water", "gender"),
        _P.PERIPHERAL,
    ),
    (
        "valeria",
        "Valeria Núñez",
        "tv2",
        "es en",
        ("análisis de género", "interseccionalidad"),
        ("gender",),
        _P.CORE,
    ),
    (
        "itzel",
        "Itzel Martínez",
        "tv2",
        "es zap",
        ("participación de mujeres indígenas",),
        ("gender", "climate"),
        _P.ACTIVE,
    ),
    (
        "sofia",
        "Sofía Hernández",
        "tv2",
        "es en",
        ("salvaguarda", "consentimiento informado"),
        ("gender", "mel"),
        _P.ACTIVE,
    ),
    (
        "guadalupe",
        "Guadalupe Ruiz",
        "tv2",
        "es",
        ("radio comunitaria",),
        ("gender",),
        _P.PERIPHERAL,
    ),
    ("carmen", "Carmen López", "tv2", "es", ("educación popular",), ("gender",), _P.SILENT_JOINER),
    (
        "rita",
        "Rita Souza",
        "isv",
        "pt es en",
        ("cisternas de placas", "captação de água de chuva"),
        ("climate", "water"),
        _P.CORE,
    ),
    (
        "joao",
        "João Pereira",
        "isv",
        "pt es",
        ("bancos de sementes", "convivência com a seca"),
        ("climate",),
        _P.ACTIVE,
    ),
    (
        "tiago",
        "Tiago Lima",
        "isv",
        "pt es en",
        ("data dashboards", "KoboToolbox"),
        ("mel", "climate"),
        _P.GOES_QUIET,
    ),
    (
        "francisca",
        "Francisca Alves",
        "isv",
        "pt es",
        ("grupos de agricultoras",),
        ("gender", "climate"),
        _P.PERIPHERAL,
    ),
    (
        "bruno",
        "Bruno Costa",
        "isv",
        "pt es",
        ("tecnologias sociais",),
        ("climate",),
        _P.SILENT_JOINER,
    ),
    (
        "jorge",
        "Jorge Huerta",
        "ea",
        "es en",
        ("teoría de cambio", "diseño de evaluaciones"),
        ("mel",),
        _P.ACTIVE,
    ),
    (
        "patricia",
        "Patricia Vega",
        "ea",
        "es en",
        ("evaluación participativa", "rúbricas"),
        ("mel", "gender"),
        _P.CORE,
    ),
    (
        "gabriel",
        "Gabriel Ortiz",
        "ea",
        "es en",
        ("most significant change", "outcome harvesting"),
        ("mel",),
        _P.ACTIVE,
    ),
    (
        "isabel",
        "Isabel Cano",
        "ea",
        "es",
        ("métodos cualitativos",),
        ("mel", "gender"),
        _P.PERIPHERAL,
    ),
    (
        "ruth",
        "Ruth Delgado",
        "ea",
        "es en",
        ("diseño de encuestas", "muestreo"),
        ("mel",),
        _P.GOES_QUIET,
    ),
    (
        "pedro",
        "Pedro Ajú",
        "acc",
        "es quc",
        ("alerta temprana", "mapas de riesgo comunitarios"),
        ("climate",),
        _P.ACTIVE,
    ),
    (
        "marta",
        "Marta Xicará",
        "acc",
        "es",
        ("grupos de ahorro", "resiliencia"),
        ("climate", "gender"),
        _P.ACTIVE,
    ),
    (
        "oscar",
        "Óscar Morales",
        "acc",
        "es",
        ("roya del café", "agroforestería"),
        ("climate",),
        _P.PERIPHERAL,
    ),
    (
        "ingrid",
        "Ingrid Batz",
        "acc",
        "es quc",
        ("participación juvenil",),
        ("climate", "gender"),
        _P.PERIPHERAL,
    ),
    (
        "kevin",
        "Kevin Pérez",
        "acc",
        "es en",
        ("finanzas climáticas",),
        ("climate",),
        _P.SILENT_JOINER,
    ),
)

_BOT = Member(
    handle="digestbot",
    name="Digest Bot",
    organisation="Secretaría Praxis",
    country="Peru",
    languages=("es", "en"),
    expertise=(),
    themes=(),
    persona=Persona.BOT,
)

# Portuguese thanks agree with the speaker: obrigado / obrigada.
_FEMININE = frozenset({"rita", "francisca"})

_THEMES: tuple[Theme, ...] = (
    Theme(
        id="water",
        name="Water & land rights",
        channel="agua",
        keywords=(
            "water",
            "agua",
            "riego",
            "irrigation",
            "cuenca",
            "watershed",
            "titulación",
            "land titling",
            "consulta previa",
        ),
        learning_goal=(
            "Document how community water committees and land titling processes defend "
            "collective rights, and turn three member cases into a shared guide."
        ),
        leaders=("ana", "juan"),
        prompt_cron="0 10 * * tue",
    ),
    Theme(
        id="gender",
        name="Gender & inclusion",
        channel="genero",
        keywords=(
            "gender",
            "género",
            "women",
            "mujeres",
            "inclusion",
            "inclusión",
            "interseccional",
            "intersectional",
        ),
        learning_goal=(
            "Learn how member organisations make women's and indigenous voices count in "
            "decisions, and agree on a minimum set of inclusion practices."
        ),
        leaders=("valeria", "rosa"),
        prompt_cron="0 10 * * wed",
    ),
    Theme(
        id="climate",
        name="Climate adaptation",
        channel="clima",
        keywords=(
            "climate",
            "clima",
            "drought",
            "sequía",
            "seca",
            "adaptation",
            "adaptación",
            "early warning",
            "alerta temprana",
            "resiliencia",
        ),
        learning_goal=(
            "Compare community-based adaptation across the Andes, the Sertão and Central "
            "America, and learn what makes practices last after a project ends."
        ),
        leaders=("rita", "pedro"),
        prompt_cron="0 10 * * thu",
    ),
    Theme(
        id="mel",
        name="M&E methods",
        channel="monitoreo",
        keywords=(
            "indicator",
            "indicador",
            "evaluation",
            "evaluación",
            "baseline",
            "línea de base",
            "outcome harvesting",
            "theory of change",
            "teoría de cambio",
            "monitoreo",
        ),
        learning_goal=(
            "Build a shared toolbox of light, participatory M&E methods, from baselines to "
            "outcome harvesting, that small NGOs can actually run."
        ),
        leaders=("diego", "patricia"),
        prompt_cron="0 10 * * fri",
    ),
)

_FOUNDERS = (
    "maria",
    "diego",
    "lucia",
    "ana",
    "juan",
    "camila",
    "valeria",
    "rita",
    "patricia",
    "luis",
    "rosa",
    "wilma",
    "andres",
    "jorge",
    "gabriel",
    "pedro",
    "sofia",
    "cesar",
    "paola",
    "tiago",
    "ruth",
    "hector",
    "marco",
    "felipe",
    "isabel",
    "silvia",
    "elena",
)
# Later joiners: (day index from start, local time).
_LATER_JOINS = {
    "natalia": (2, "09:40"),
    "itzel": (3, "10:15"),
    "raul": (4, "16:20"),
    "joao": (7, "09:30"),
    "marta": (8, "11:00"),
    "laura": (9, "08:50"),
    "guadalupe": (9, "14:30"),
    "oscar": (10, "10:05"),
    "francisca": (15, "09:20"),
    "carmen": (16, "12:00"),
    "ingrid": (17, "10:40"),
    "bruno": (22, "15:00"),
    "kevin": (29, "09:10"),
}
_LEAVES = {"laura": (31, "18:00")}
_OPTOUT = ("sofia", 15, "11:10")
_NUDGES_OFF = ("guadalupe", 10, "09:00")
_QUIET_THEME = "gender"
_LULL_DAYS = range(17, 37)  # the gender theme is silent from day 17 until its prompt on day 37
_PROMPT_WEEKS = {
    1: ("water", "mel"),
    2: ("climate", "gender"),
    3: ("water", "mel"),
    4: ("climate",),
    5: ("water", "mel"),
    6: ("gender", "climate"),
}
_PROMPT_WEEKDAY = {"water": 1, "gender": 2, "climate": 3, "mel": 4}

# ---------------------------------------------------------------------------------------------
# What they talk about. Templates are (language, text); slots are filled from the theme's bank.

_Art = tuple[str, str, str]  # (English "the x", Spanish "la x", Portuguese "pela x")
_GENERIC_HELP: _Art = ("the explanation", "la explicación", "pela explicação")
_CASE: _Art = ("the case study", "el estudio de caso", "pelo estudo de caso")

_BANK: dict[str, dict[str, list]] = {
    "water": {
        "places": [
            "Cusco",
            "Cochabamba",
            "Puno",
            "Apurímac",
            "Cajamarca",
            "Tiquipaya",
            "Jauja",
            "Chuquisaca",
        ],
        "artifacts": [
            ("the tariff table", "la tabla de tarifas", "pela tabela de tarifas"),
            (
                "the irrigation-shift template",
                "el formato de turnos de riego",
                "pelo modelo de turnos de irrigação",
            ),
            ("the watershed map", "el mapa de la cuenca", "pelo mapa da bacia"),
            ("the model assembly minutes", "el modelo de acta de asamblea", "pelo modelo de ata"),
            (
                "the titling checklist",
                "la lista de chequeo de titulación",
                "pela lista de titulação",
            ),
            (
                "the consulta previa timeline",
                "la cronología de la consulta previa",
                "pela cronologia da consulta",
            ),
        ],
        # (question language, question, [(answer language, answer, artifact index or None)])
        "qa": [
            (
                "es",
                "¿Cómo están calculando la tarifa del agua potable en comunidades de menos de "
                "{n}0 familias?",
                [
                    (
                        "es",
                        "En {place} la tarifa se fija en asamblea por familia y se revisa cada "
                        "año; te paso {a_es}: {url}",
                        0,
                    ),
                    (
                        "es",
                        "Nosotros separamos la cuota de operación de la de reposición; si no, "
                        "nunca alcanza para cambiar tuberías.",
                        None,
                    ),
                    (
                        "en",
                        "We charge per tap plus one faena day a month; here is {a_en}: {url}",
                        0,
                    ),
                ],
            ),
            (
                "es",
                "¿Alguien tiene un formato de turnos de riego que funcione en época seca?",
                [
                    (
                        "es",
                        "Sí, en {place} los turnos se acortan a la mitad desde julio; acá está "
                        "{a_es}: {url}",
                        1,
                    ),
                    (
                        "es",
                        "Nosotros dejamos los turnos en acta firmada por todos los sectores, si "
                        "no, el siguiente directorio los cambia.",
                        None,
                    ),
                    (
                        "qu",
                        "En {place} el juez de aguas reparte por mita, y la comunidad lo elige "
                        "cada año; eso da legitimidad.",
                        None,
                    ),
                ],
            ),
            (
                "en",
                "Has anyone mapped overlapping mining concessions and community water "
                "sources? We need it for {place}.",
                [
                    (
                        "en",
                        "We overlaid the concession cadastre on the spring inventory in QGIS; "
                        "here is {a_en}: {url}",
                        2,
                    ),
                    (
                        "es",
                        "En {place} lo hicimos con los comuneros y GPS de celular; lo importante "
                        "es registrar el uso de cada ojo de agua.",
                        None,
                    ),
                ],
            ),
            (
                "es",
                "¿Cuánto les tomó la titulación comunal en {place}? Nosotros vamos {n} años.",
                [
                    (
                        "es",
                        "En {place} tomó {n} años; el cuello de botella fue el saneamiento de "
                        "linderos. Te comparto {a_es}: {url}",
                        4,
                    ),
                    (
                        "es",
                        "Ojo con las colindancias: si no hay acta con cada comunidad vecina, el "
                        "expediente vuelve.",
                        None,
                    ),
                ],
            ),
            (
                "en",
                "How do you document customary water rights so that the authority accepts them?",
                [
                    (
                        "en",
                        "Record the rotation and the fee in the same minutes; the authority "
                        "accepts them much faster that way. Model: {url}",
                        3,
                    ),
                    (
                        "es",
                        "Lo que nos funcionó fue invitar a la autoridad local del agua a la "
                        "asamblea desde el inicio.",
                        None,
                    ),
                    (
                        "es",
                        "Sumamos testimonios de los mayores grabados en quechua, con traducción; "
                        "en {place} los aceptaron como prueba.",
                        None,
                    ),
                ],
            ),
            (
                "es",
                "¿Alguien ha acompañado una consulta previa sobre un proyecto de represa?",
                [
                    (
                        "es",
                        "Sí, en {place} la consulta duró {n} meses y la comunidad pidió "
                        "traductores desde el día uno. Te paso {a_es}: {url}",
                        5,
                    ),
                    (
                        "es",
                        "Te recomiendo hablar con la defensoría; en {place} acompañaron todo el "
                        "proceso.",
                        None,
                    ),
                ],
            ),
            (
                "es",
                "¿Qué hacen cuando la junta de usuarios no reconoce a las comunidades de la "
                "parte alta de la cuenca?",
                [
                    (
                        "es",
                        "En {place} se resolvió con una mesa de diálogo de cuenca, con la "
                        "autoridad del agua como testigo.",
                        None,
                    ),
                    (
                        "en",
                        "We mapped who uses which source first; the map ended the argument. "
                        "Here is {a_en}: {url}",
                        2,
                    ),
                ],
            ),
        ],
        "threads": [
            (
                "Tarifas comunitarias",
                "es",
                "Abro hilo para juntar cómo calcula cada organización la tarifa del agua.",
                [
                    ("es", "En {place} la tarifa no cubre el mantenimiento del reservorio."),
                    (
                        "es",
                        "Nosotros sumamos una cuota extraordinaria en faenas, no solo en dinero.",
                    ),
                    (
                        "es",
                        "Aporto un dato: {n} de cada 10 juntas que visitamos no tienen padrón "
                        "actualizado.",
                    ),
                    (
                        "en",
                        "We publish the accounts on the community board every month; arrears "
                        "dropped.",
                    ),
                ],
            ),
            (
                "Irrigation shifts in dry season",
                "en",
                "Opening a thread on irrigation shifts when the river drops: what rules hold up?",
                [
                    (
                        "en",
                        "Same in {place}: the rules held as long as the water judge was elected "
                        "locally.",
                    ),
                    ("es", "Clave el padrón; sin eso no hay turno que se respete."),
                    ("es", "En {place} priorizan consumo humano y animales, después riego."),
                ],
            ),
            (
                "Catastro y titulación",
                "es",
                "Hilo para compartir experiencias de catastro comunal antes de titular.",
                [
                    ("es", "En {place} usamos drones prestados por la universidad; bajó el costo."),
                    ("es", "¿Alguien tiene la ordenanza de {place}? Podría servir de modelo."),
                    (
                        "en",
                        "Walking the boundaries with both communities took {n} days but saved "
                        "years.",
                    ),
                ],
            ),
            (
                "Water committees after the project",
                "en",
                "What keeps a water committee running three years after the NGO leaves?",
                [
                    ("en", "Rotating the treasurer every year reduced conflicts a lot."),
                    ("es", "Que el comité tenga personería; en {place} eso lo cambió todo."),
                    ("es", "Un fondo de reposición, aunque sea pequeño, desde el primer año."),
                ],
            ),
        ],
        "reflections": [
            (
                "es",
                "lo que más pesó ante la autoridad fue el padrón de usuarios al día, con firmas.",
            ),
            (
                "es",
                "en {place} la comunidad sostuvo los turnos porque el juez de aguas rinde cuentas cada mes.",
            ),
            (
                "pt",
                "aqui a associação guardou todas as atas desde o início; isso convenceu o órgão gestor.",
            ),
            (
                "es",
                "en {place} el acuerdo que duró fue el que se escribió en asamblea y se leyó "
                "en quechua.",
            ),
            (
                "es",
                "la titulación se trabó por linderos con la comunidad vecina; aprendimos a "
                "empezar por las actas de colindancia.",
            ),
            ("en", "the authority only moved when we showed {n} years of fee records."),
            ("es", "reducir turnos en época seca funcionó cuando todos los sectores ceden igual."),
        ],
        "shares": [
            (
                "es",
                "Compartimos el caso de la junta de usuarios de {place}: cómo recuperaron "
                "sus turnos de riego. {url}",
            ),
            ("en", "New case study from {place} on community water tariffs, 8 pages: {url}"),
            ("es", "Les dejo {a_es} que armamos con las comunidades de {place}: {url}"),
        ],
        "prompts": [
            "¿Qué acuerdo de turnos de riego les ha funcionado mejor en época seca, y por qué?",
            "What evidence convinced a water authority to recognise a community's customary "
            "rights?",
            "¿Qué aprendieron de un proceso de titulación que se trabó? Un caso concreto, "
            "por favor.",
        ],
    },
    "gender": {
        "places": ["Oaxaca", "Ayacucho", "Chiapas", "El Alto", "Popayán", "Huancavelica"],
        "artifacts": [
            ("the facilitation guide", "la guía de facilitación", "pelo guia de facilitação"),
            ("the inclusion checklist", "la lista de inclusión", "pela lista de inclusão"),
            ("the budget tracking sheet", "la matriz de presupuesto", "pela planilha de orçamento"),
            ("the radio script", "el guion de radio", "pelo roteiro de rádio"),
            ("the consent form", "el formato de consentimiento", "pelo termo de consentimento"),
        ],
        "qa": [
            (
                "es",
                "¿Cómo logran que las mujeres hablen en asambleas mixtas sin exponerlas?",
                [
                    (
                        "es",
                        "En {place} hacemos primero un espacio solo de mujeres y luego llevan sus "
                        "acuerdos a la asamblea. Te paso {a_es}: {url}",
                        0,
                    ),
                    (
                        "es",
                        "Rotamos la moderación entre lideresas; cambia quién se siente con "
                        "permiso de hablar.",
                        None,
                    ),
                ],
            ),
            (
                "en",
                "Any tips for running a gender analysis with a team that has never done one?",
                [
                    (
                        "en",
                        "Start with a short activity profile (who does what, when); here is "
                        "{a_en}: {url}",
                        1,
                    ),
                    (
                        "es",
                        "Empiecen por los datos que ya tienen, desagregados; el equipo ve las "
                        "brechas solo.",
                        None,
                    ),
                ],
            ),
            (
                "es",
                "¿Alguien ha hecho seguimiento a presupuestos municipales sensibles al "
                "género en {place}?",
                [
                    (
                        "es",
                        "Nosotras lo seguimos en {place} por {n} años; la clave fue el acceso a "
                        "las actas. Acá {a_es}: {url}",
                        2,
                    ),
                    (
                        "es",
                        "Sí, con la defensoría; pedimos la información por transparencia.",
                        None,
                    ),
                ],
            ),
            (
                "es",
                "¿Cómo adaptan los talleres para mujeres que hablan quechua o mixteco y no "
                "castellano?",
                [
                    (
                        "es",
                        "Trabajamos con promotoras bilingües de la misma comunidad; cambia todo.",
                        None,
                    ),
                    (
                        "es",
                        "En {place} hicimos cápsulas de radio en mixteco; acá está {a_es}: {url}",
                        3,
                    ),
                ],
            ),
            (
                "en",
                "How do you handle consent when recording testimonies from young women?",
                [
                    (
                        "en",
                        "We use a two-step consent: before recording and again before "
                        "publishing. Template: {url}",
                        4,
                    ),
                    (
                        "es",
                        "Y siempre con la opción de retirar el testimonio después, por escrito.",
                        None,
                    ),
                ],
            ),
            (
                "es",
                "¿Qué horarios les funcionan para reuniones con mujeres productoras?",
                [
                    (
                        "es",
                        "A media mañana y con cuidado infantil; en {place} la asistencia subió "
                        "mucho.",
                        None,
                    ),
                    (
                        "es",
                        "Preguntarles a ellas primero; en {place} prefirieron los domingos "
                        "después del mercado.",
                        None,
                    ),
                ],
            ),
        ],
        "threads": [
            (
                "Voces de mujeres en asambleas",
                "es",
                "Hilo para juntar prácticas que ayudan a que las mujeres tomen la palabra.",
                [
                    ("es", "En {place} funcionó rotar la moderación entre lideresas."),
                    ("es", "Importante que los hombres también escuchen las conclusiones."),
                    (
                        "en",
                        "We track who speaks in each meeting with a simple tally; it opened "
                        "good conversations.",
                    ),
                ],
            ),
            (
                "Intersectional analysis in practice",
                "en",
                "How do you actually apply an intersectional lens in a small project?",
                [
                    (
                        "en",
                        "We ask three questions at design: who is missing, why, and who decides.",
                    ),
                    (
                        "es",
                        "En {place} cruzamos edad, idioma y tenencia de tierra; salieron las "
                        "jóvenes sin tierra.",
                    ),
                    ("es", "¿Cómo documentan estas prácticas sin volverlo un formulario más?"),
                ],
            ),
            (
                "Radio comunitaria y género",
                "es",
                "Experiencias de programas de radio hechos por mujeres en sus idiomas.",
                [
                    ("es", "La radio en {place} llegó a comunidades que nunca venían a talleres."),
                    ("es", "Nosotras grabamos con celular y editamos en la radio local."),
                    ("en", "Call-in shows worked better than recorded spots for us."),
                ],
            ),
        ],
        "reflections": [
            (
                "es",
                "en {place} las promotoras comunitarias lograron lo que los talleres no: visitas casa por casa.",
            ),
            (
                "es",
                "cuando las mujeres manejaron la caja de ahorro, empezaron a hablar en la asamblea.",
            ),
            ("pt", "as agricultoras só vieram quando a reunião foi na roça, não na cidade."),
            (
                "es",
                "en {place} más mujeres participaron cuando las reuniones tuvieron cuidado "
                "infantil y horario pactado con ellas.",
            ),
            (
                "es",
                "escuchar a las jóvenes cambió el diseño: pidieron formación en oficios, no "
                "más talleres.",
            ),
            (
                "en",
                "a women-only space before the assembly doubled the proposals that reached "
                "the vote.",
            ),
        ],
        "shares": [
            ("es", "Compartimos la sistematización de escuelas de lideresas en {place}: {url}"),
            ("en", "Short case from {place} on women's water committees: {url}"),
            ("es", "Les dejo {a_es}, revisada con las compañeras de {place}: {url}"),
        ],
        "prompts": [
            "¿Qué práctica concreta hizo que más mujeres participaran en sus decisiones?",
            "What changed in your project after you listened to people who rarely speak up?",
        ],
    },
    "climate": {
        "places": [
            "Jocotán",
            "Huehuetenango",
            "Petrolina",
            "Pajeú",
            "Chimborazo",
            "Quetzaltenango",
            "Apurímac",
        ],
        "artifacts": [
            ("the risk map", "el mapa de riesgo", "pelo mapa de risco"),
            ("the cistern manual", "el manual de cisternas", "pelo manual das cisternas"),
            (
                "the seed bank registry",
                "el registro del banco de semillas",
                "pelo registro do banco de sementes",
            ),
            (
                "the early warning protocol",
                "el protocolo de alerta temprana",
                "pelo protocolo de alerta",
            ),
            ("the frost calendar", "el calendario de heladas", "pelo calendário de geadas"),
        ],
        "qa": [
            (
                "es",
                "¿Alguien tiene experiencia con bancos de semillas nativas después de una "
                "sequía larga?",
                [
                    (
                        "es",
                        "En {place} aguantaron porque cada familia devuelve el doble de lo que "
                        "recibe. Te paso {a_es}: {url}",
                        2,
                    ),
                    (
                        "pt",
                        "No {place} os bancos de sementes da paixão resistiram melhor que as "
                        "sementes de fora.",
                        None,
                    ),
                ],
            ),
            (
                "en",
                "How do you keep a community early warning system running when the project ends?",
                [
                    (
                        "en",
                        "Ours in {place} survives because the municipality pays the radio "
                        "operators. Protocol: {url}",
                        3,
                    ),
                    (
                        "es",
                        "Nosotros perdimos la red cuando se fue el técnico; ahora formamos a "
                        "dos jóvenes por comunidad.",
                        None,
                    ),
                ],
            ),
            (
                "es",
                "¿Qué indicadores usan para saber si una práctica de adaptación se sostiene?",
                [
                    (
                        "en",
                        "We count households still using the practice two seasons later; that is "
                        "our best sustainability indicator.",
                        None,
                    ),
                    (
                        "es",
                        "Además del uso, si la comunidad invierte algo propio; en {place} eso "
                        "predijo bien.",
                        None,
                    ),
                ],
            ),
            (
                "es",
                "En {place} las heladas llegan cada vez más tarde, ¿cómo están ajustando "
                "el calendario agrícola?",
                [
                    (
                        "es",
                        "Cambiamos a variedades de ciclo corto; la pérdida bajó a la mitad. Acá "
                        "{a_es}: {url}",
                        4,
                    ),
                    (
                        "es",
                        "Combinamos las señales de los abuelos (floración, aves) con la estación "
                        "de {place}; coinciden más de lo que uno cree.",
                        None,
                    ),
                ],
            ),
            (
                "en",
                "Has anyone costed rainwater cisterns per family? We are budgeting for "
                "{n}0 families.",
                [
                    (
                        "pt",
                        "No {place} cada cisterna de placas custa uns {n} mil reais; segue o "
                        "manual: {url}",
                        1,
                    ),
                    (
                        "es",
                        "Sumen la capacitación de albañiles locales; es lo que la hace durar.",
                        None,
                    ),
                ],
            ),
            (
                "es",
                "¿Cómo hacen mapas de riesgo con las comunidades sin que quede en el papel?",
                [
                    (
                        "es",
                        "Lo hicimos con las propias comunidades y lo pintamos en la escuela; acá "
                        "está {a_es}: {url}",
                        0,
                    ),
                    (
                        "en",
                        "We update it every rainy season with the local emergency committee.",
                        None,
                    ),
                ],
            ),
        ],
        "threads": [
            (
                "Bancos de semillas",
                "es",
                "Hilo para comparar cómo funcionan los bancos de semillas comunitarios.",
                [
                    ("es", "Las semillas criollas de {place} resistieron mejor que las mejoradas."),
                    ("pt", "Aqui cada família guarda uma parte em casa, por segurança."),
                    ("es", "¿Cómo controlan la humedad? Perdimos un lote entero en {place}."),
                ],
            ),
            (
                "Early warning that lasts",
                "en",
                "What makes a community early warning system survive the second year?",
                [
                    ("en", "We pair each rain gauge with a local observer; {n} villages so far."),
                    ("es", "Que la municipalidad lo tenga en su presupuesto, aunque sea poco."),
                    ("pt", "Sem a prefeitura o sistema não se sustenta."),
                ],
            ),
            (
                "Cisternas y lluvia",
                "es",
                "Abro hilo sobre cisternas: costos, mantenimiento y quién las cuida.",
                [
                    (
                        "pt",
                        "Aqui no Sertão a cisterna mudou a vida das famílias, menos horas "
                        "buscando água.",
                    ),
                    (
                        "es",
                        "En {place} el problema es el mantenimiento: nadie limpia el techo "
                        "colector.",
                    ),
                    ("es", "Nosotros pagamos a un albañil de la comunidad por revisión anual."),
                ],
            ),
            (
                "Heladas y calendario agrícola",
                "es",
                "¿Cómo están cambiando las fechas de siembra con las heladas tardías?",
                [
                    ("es", "En {place} sembramos {n} semanas más tarde que hace diez años."),
                    ("en", "Our farmers now split the planting in two dates to spread the risk."),
                ],
            ),
        ],
        "reflections": [
            (
                "es",
                "en {place} siguió el calendario de siembra escalonada; no cuesta nada y reduce la pérdida.",
            ),
            (
                "es",
                "los reservorios familiares duraron más que los comunales, porque cada familia cuida el suyo.",
            ),
            ("en", "we record elders' signs in a notebook per village; the school keeps it."),
            (
                "es",
                "en {place} lo que siguió funcionando fue el banco de semillas, porque lo "
                "maneja la comunidad y no el proyecto.",
            ),
            ("pt", "no {place} as cisternas continuam porque as famílias aprenderam a consertar."),
            (
                "en",
                "the early warning radios kept going only where the municipality took over "
                "the costs.",
            ),
        ],
        "shares": [
            ("es", "Compartimos el estudio de caso de adaptación en {place}: {url}"),
            (
                "en",
                "Sharing our lessons note on seed banks after the 2025 drought in {place}: {url}",
            ),
            ("pt", "Compartilho o manual de cisternas que usamos no {place}: {url}"),
        ],
        "prompts": [
            "¿Qué práctica de adaptación siguió funcionando después de que terminó el "
            "proyecto? ¿Por qué?",
            "Which local climate signals do elders in your area trust, and how do you record them?",
            "¿Cómo deciden entre infraestructura (reservorios, cisternas) y prácticas "
            "(semillas, calendarios)?",
        ],
    },
    "mel": {
        "places": ["Lima", "Cochabamba", "Bogotá", "Recife", "Oaxaca", "Guatemala"],
        "artifacts": [
            (
                "the outcome harvesting guide",
                "la guía de outcome harvesting",
                "pelo guia de colheita de resultados",
            ),
            (
                "the baseline questionnaire",
                "el cuestionario de línea de base",
                "pelo questionário de linha de base",
            ),
            ("the indicator sheet", "la ficha de indicadores", "pela ficha de indicadores"),
            (
                "the theory of change template",
                "la plantilla de teoría de cambio",
                "pelo modelo de teoria da mudança",
            ),
            (
                "the KoboToolbox form",
                "el formulario de KoboToolbox",
                "pelo formulário do KoboToolbox",
            ),
            ("the rubric", "la rúbrica", "pela rubrica"),
        ],
        "qa": [
            (
                "es",
                "¿Alguien ha usado outcome harvesting con organizaciones de base? ¿Cuánto "
                "tiempo les tomó?",
                [
                    (
                        "es",
                        "Lo usamos en {place} con {n} organizaciones; tomó dos meses. Te paso "
                        "{a_es}: {url}",
                        0,
                    ),
                    (
                        "en",
                        "Budget time for substantiation: verifying outcomes with third parties "
                        "took us longer than harvesting.",
                        None,
                    ),
                ],
            ),
            (
                "en",
                "What is the smallest baseline that still lets you say something at the end?",
                [
                    (
                        "en",
                        "Keep it to {n} questions you will really reuse; here is {a_en}: {url}",
                        1,
                    ),
                    (
                        "es",
                        "En {place} hicimos la línea de base con {n} preguntas y fotos; "
                        "suficiente para comparar.",
                        None,
                    ),
                ],
            ),
            (
                "es",
                "¿Cómo miden cambios en capacidades sin caer en encuestas de satisfacción?",
                [
                    (
                        "es",
                        "Usamos rúbricas construidas con el equipo, al inicio y al final. Acá "
                        "{a_es}: {url}",
                        5,
                    ),
                    (
                        "es",
                        "Observación de una tarea real, antes y después; nada de autopercepción.",
                        None,
                    ),
                ],
            ),
            (
                "es",
                "¿Qué herramienta usan para encuestas sin señal? ¿Kobo, ODK, papel?",
                [
                    (
                        "es",
                        "Kobo sin conexión funciona bien; sincronizamos en la oficina cada "
                        "viernes. Te paso {a_es}: {url}",
                        4,
                    ),
                    ("en", "ODK on cheap phones, with a paper backup for the first round.", None),
                ],
            ),
            (
                "en",
                "How do you present a theory of change to a community assembly without the jargon?",
                [
                    (
                        "en",
                        "Draw it as a path with the assembly: where we are, where we want to be, "
                        "what has to change on the way. Template: {url}",
                        3,
                    ),
                    (
                        "es",
                        "En {place} lo contamos como una historia con dibujos, y la gente "
                        "corrigió los supuestos.",
                        None,
                    ),
                ],
            ),
            (
                "en",
                "Has anyone combined most significant change with indicators for a donor report?",
                [
                    (
                        "es",
                        "Sí: historias de cambio en el cuerpo y dos o tres indicadores duros en "
                        "anexo; el donante quedó contento. Ficha: {url}",
                        2,
                    ),
                    (
                        "en",
                        "We let the panel choose the stories, then checked them against the "
                        "indicator data.",
                        None,
                    ),
                ],
            ),
        ],
        "threads": [
            (
                "Outcome harvesting en la práctica",
                "es",
                "Abro hilo para compartir experiencias reales de outcome harvesting.",
                [
                    ("es", "En {place} lo difícil fue verificar los resultados con terceros."),
                    ("en", "Worth adding: pay people for their time in the harvesting workshops."),
                    ("es", "¿Alguien tiene un ejemplo de informe así? Me ayudaría mucho."),
                ],
            ),
            (
                "Light baselines",
                "en",
                "How light can a baseline be? Share your shortest one that worked.",
                [
                    ("en", "We trimmed ours to {n} questions and response rates went up."),
                    ("es", "Fotos georreferenciadas + {n} preguntas; suficiente."),
                ],
            ),
            (
                "Rúbricas participativas",
                "es",
                "Hilo sobre rúbricas hechas con los participantes, no para ellos.",
                [
                    (
                        "es",
                        "Coincido, la rúbrica hecha con el equipo se usa; la impuesta se olvida.",
                    ),
                    ("en", "Three levels are enough; five and nobody agrees."),
                ],
            ),
            (
                "Reporting to donors",
                "en",
                "How do you reconcile donor indicators with what the community wants to learn?",
                [
                    (
                        "es",
                        "Para donantes armamos un anexo con indicadores y el cuerpo con historias.",
                    ),
                    ("en", "We negotiate one learning question of our own in every log frame."),
                ],
            ),
        ],
        "reflections": [
            ("es", "una línea de base con fotos y cinco preguntas, repetida al año; nada más."),
            ("es", "dejamos de contar talleres y empezamos a contar acuerdos que se cumplieron."),
            (
                "pt",
                "devolvemos os resultados num programa de rádio; a comunidade ligou para corrigir.",
            ),
            (
                "es",
                "para una organización pequeña, una rúbrica de tres niveles y una reunión de "
                "reflexión trimestral.",
            ),
            ("en", "we dropped 'number of people trained'; it said nothing about change."),
            (
                "es",
                "en {place} devolvimos los resultados en asamblea con afiches; la gente "
                "corrigió dos conclusiones.",
            ),
        ],
        "shares": [
            ("es", "Compartimos la ficha de indicadores de la red, versión {n}: {url}"),
            ("en", "Our outcome harvesting report from {place} is public now: {url}"),
            ("es", "Les dejo {a_es} que usamos en la última evaluación: {url}"),
        ],
        "prompts": [
            "¿Qué método de M&E liviano recomendarían a una organización de cinco personas?",
            "Share one indicator you stopped using, and why.",
            "¿Cómo devuelven los resultados de una evaluación a las comunidades?",
        ],
    },
}

_INTROS = [
    ("es", "Hola a todas y todos, soy {first} de {org} ({country}). Trabajo en {exp}."),
    ("es", "¡Hola! {first} desde {org}. Me interesa aprender sobre {theme_words}."),
    ("en", "Hi all, {first} here from {org} in {country}. I work on {exp}."),
    ("pt", "Oi pessoal! Sou {first}, do {org}. Trabalho com {exp}."),
    ("es", "Buenos días, soy {first} ({org}). Llego con ganas de intercambiar sobre {exp}."),
]
_WELCOMES = [
    ("es", "¡Bienvenida/o @{h}! Escribe /themes para ver los grupos temáticos."),
    ("es", "Qué bueno tenerte aquí, @{h}. En #{channel} te va a interesar lo de esta semana."),
    ("en", "Welcome @{h}! Have a look at #{channel}, it is busy this week."),
]
_THANKS = {
    "es": [
        "¡gracias @{h} por {a_es}!",
        "Muchas gracias @{h}, justo lo que necesitábamos.",
        "gracias @{h} por {a_es}, lo llevo al equipo.",
        "¡Mil gracias @{h}!",
    ],
    "en": [
        "thanks @{h} for {a_en}!",
        "Thank you @{h}, this is exactly what I needed.",
        "thanks @{h}, {a_en} helps a lot.",
    ],
    "pt": ["{obrigado} @{h} {a_pt}!", "Muito {obrigado} @{h}, vou usar isso aqui."],
}
_QUESTION_OPENERS = {
    "es": ["", "", "Consulta para la red: ", "Una duda: ", "Hola a todos, "],
    "en": ["", "", "Question for the network: ", "Quick one: "],
}
_THEME_WORDS = {
    "water": "agua y tierra",
    "gender": "género",
    "climate": "adaptación al clima",
    "mel": "monitoreo y evaluación",
}
_FOLLOWUP_QUESTIONS = [
    ("es", "¿Y eso funcionó también en comunidades grandes?"),
    ("es", "¿Cuánto costó más o menos?"),
    ("en", "Did the municipality get involved at some point?"),
    ("es", "¿Tienen el documento en versión corta?"),
    ("en", "How many people did that take on your side?"),
]
_SHORT = [
    ("es", "Muy útil, lo guardo."),
    ("es", "Me sumo a la pregunta."),
    ("es", "Lo comparto con mi equipo."),
    ("en", "Following this one."),
    ("en", "Useful, saving it."),
    ("pt", "Muito bom!"),
    ("pt", "Vou compartilhar com a equipe."),
    ("es", "Interesante, en mi zona pasa algo parecido."),
    ("es", "¿Esto está en la biblioteca?"),
]
_PROMPT_OPENERS = {
    "es": "Sobre la pregunta de la semana: ",
    "en": "On this week's question: ",
    "pt": "Sobre a pergunta da semana: ",
}
# (language, opening line in #general, [(language, reply)])
_GENERAL_CHAT = [
    (
        "es",
        "¿Alguien va al encuentro regional de evaluación en Lima en noviembre?",
        [
            ("es", "Sí, yo voy; podemos armar una mesa de la red."),
            ("en", "I will be there on the second day, happy to meet."),
            ("es", "Este año no llego, pero mandamos a una colega."),
        ],
    ),
    (
        "en",
        "Is the recording of last week's session online somewhere?",
        [
            ("es", "Sí, está en la biblioteca, carpeta de sesiones."),
            ("en", "Yes, in the library under sessions, with the slides."),
        ],
    ),
    (
        "es",
        "Les cuento que en {org} abrimos convocatoria para una pasantía de campo.",
        [
            ("es", "Anotado, lo difundo en mi organización."),
            ("es", "¿Hasta cuándo se puede postular?"),
            ("en", "Sharing it with our volunteers network."),
        ],
    ),
    (
        "es",
        "¿La biblioteca de la red acepta documentos en portugués?",
        [
            ("es", "Claro que sí, en cualquier idioma de la red."),
            ("pt", "Sim! Já subimos dois manuais em português."),
        ],
    ),
    (
        "en",
        "Reminder: case studies for the shared guide are due at the end of the month.",
        [
            ("es", "El nuestro va en camino, lo mando la próxima semana."),
            ("en", "Ours is drafted; could someone from another theme review it?"),
        ],
    ),
    (
        "es",
        "¿Alguien conoce fondos pequeños para sistematizar experiencias?",
        [
            ("es", "Algunas fundaciones locales tienen ventanillas de menos de 5 mil dólares."),
            ("en", "Try the regional learning funds; they like network proposals."),
        ],
    ),
    (
        "es",
        "Se cae la señal en la sierra esta semana, respondo el lunes.",
        [
            ("es", "Buen viaje, aquí seguimos."),
        ],
    ),
]
_BOT_NOTICES = [
    "📅 Reminder: monthly network session this Thursday 17:00 (Lima). Link: {url}",
    "📄 New in the library: {doc}. {url}",
    "📅 This week: open clinic on case writing, Wednesday 16:00 (Lima). {url}",
]
_LIBRARY_DOCS = [
    "Guía de sistematización de experiencias",
    "Case study: water committees in Chuquisaca",
    "Manual de cisternas (PT/ES)",
    "Glossary of M&E terms in Spanish and Quechua",
    "Reflexiones del encuentro de Cusco",
    "Toolkit on participatory mapping",
]
_EDIT_NOTES = [
    " (corrijo: eran {n} familias)",
    " (edit: link fixed)",
    " — editado: agrego la fuente",
    " (edit: typo)",
]

_WEIGHTS = {
    Persona.FACILITATOR: 1.2,
    Persona.CORE: 4.0,
    Persona.ACTIVE: 2.2,
    Persona.GOES_QUIET: 2.2,
    Persona.PERIPHERAL: 0.2,
    Persona.SILENT_JOINER: 0.0,
    Persona.BOT: 0.0,
}


# ---------------------------------------------------------------------------------------------
# The generator


@dataclass(eq=False)
class _Msg:
    author: str
    channel: str
    thread: str | None
    text: str
    at: datetime
    kind: str
    reply_to: _Msg | None = None
    number: int = 0
    edited: bool = False
    deleted: bool = False


@dataclass(eq=False)
class _Act:
    at: datetime
    seq: int
    actor: str
    verb: str
    text: str = ""
    channel: str = GENERAL
    thread: str | None = None
    msg: _Msg | None = None
    emoji: str = ""
    removed_at: datetime | None = None


class _Writer:
    """Writes six weeks of the community as timed actions, then renders them as script lines."""

    def __init__(self, rng: random.Random, roster: tuple[Member, ...], start: datetime) -> None:
        self.rng = rng
        self.roster = roster
        self.members = {m.handle: m for m in (*roster, _BOT)}
        self.start = start
        self.themes = {t.id: t for t in _THEMES}
        self.channel_theme = {t.channel: t.id for t in _THEMES}
        self.acts: list[_Act] = []
        self.msgs: list[_Msg] = []
        self.reacted: dict[tuple[str, int, str], _Act] = {}
        self.thanks: list[tuple[str, str, str, _Msg, datetime]] = []  # kind, thanker, thanked
        self.kudos: list[tuple[str, str, str, datetime]] = []
        self.prompts: list[tuple[int, str, str]] = []
        self.questions: list[_Msg] = []
        self.answers: list[_Msg] = []
        self.credit: dict[int, _Art] = {}
        """What an answer or share gave, by ``id()`` of its message, for thanks and kudos."""
        self.shared: list[_Msg] = []
        self.join_at: dict[str, datetime] = {}
        self.leave_at: dict[str, datetime] = {}
        self.used_threads: set[str] = set()
        self.asked: dict[tuple[str, int], int] = {}
        self.optout_at = self._at(_OPTOUT[1], _OPTOUT[2])

    # time and availability ---------------------------------------------------------------------

    def _at(self, day: int, hhmm: str) -> datetime:
        hour, minute = (int(part) for part in hhmm.split(":"))
        base = self.start.date() + timedelta(days=day)
        return datetime.combine(base, time(hour, minute), tzinfo=self.start.tzinfo)

    def _week(self, moment: datetime) -> int:
        return (moment.date() - self.start.date()).days // 7 + 1

    def _minutes(self, low: int, high: int) -> timedelta:
        return timedelta(minutes=self.rng.randint(low, high))

    def available(self, handle: str, day: int) -> bool:
        """Whether ``handle`` may act (post, react, run a command) during ``day``."""
        member = self.members[handle]
        if member.persona in (Persona.SILENT_JOINER, Persona.BOT):
            return False
        joined = self.join_at.get(handle)
        if joined is None or joined > self._at(day, "08:15"):
            return False
        left = self.leave_at.get(handle)
        if left is not None and left.date() <= self._at(day, "00:00").date():
            return False
        return not (member.persona is Persona.GOES_QUIET and day >= 14)

    def pick(
        self,
        day: int,
        theme: str | None,
        *,
        exclude: Sequence[str] = (),
        prefer: Sequence[str] = (),
        weights: dict[Persona, float] | None = None,
    ) -> str | None:
        table = weights or _WEIGHTS
        names, scores = [], []
        for member in self.roster:
            if member.handle in exclude or not self.available(member.handle, day):
                continue
            score = table[member.persona]
            if theme is not None and theme not in member.themes:
                score *= 0.08
            if member.handle in prefer:
                score *= 3
            if score > 0:
                names.append(member.handle)
                scores.append(score)
        if not names:
            return None
        return self.rng.choices(names, scores)[0]

    def lang(self, handle: str, options: Sequence[tuple]) -> tuple:
        speaks = self.members[handle].languages
        usable = [o for o in options if o[0] in speaks]
        weights = [1.3 if o[0] == "pt" else 0.8 if o[0] == "en" else 1.0 for o in usable]
        return self.rng.choices(usable, weights)[0]

    def in_lull(self, moment: datetime) -> bool:
        return (moment.date() - self.start.date()).days in _LULL_DAYS

    def compose(self, moment: datetime, channel: str, make: Callable[[], str]) -> str:
        """Text from ``make`` that respects the quiet theme's silence: while it is silent, nothing
        posted elsewhere may use its keywords (they would count as activity in the theme)."""
        for _ in range(40):
            text = make()
            if not self._breaks_lull(moment, channel, text):
                return text
        raise RuntimeError(f"could not write a message for #{channel} avoiding the quiet theme")

    def _breaks_lull(self, moment: datetime, channel: str, text: str) -> bool:
        if not self.in_lull(moment):
            return False
        lowered = text.lower()
        return any(word in lowered for word in self.themes[_QUIET_THEME].keywords)

    # actions -----------------------------------------------------------------------------------

    def _act(self, at: datetime, actor: str, verb: str, **fields) -> _Act:
        act = _Act(at=at, seq=len(self.acts), actor=actor, verb=verb, **fields)
        self.acts.append(act)
        return act

    def join(self, at: datetime, handle: str) -> None:
        self.join_at[handle] = at
        self._act(at, handle, "join")
        member = self.members[handle]
        if member.persona in _FILLS_PROFILE:
            # As the welcome message asks: who they are, so others know whom to ask about what.
            self.command(
                at + timedelta(minutes=20),
                handle,
                f"/profile set organisation:{member.organisation} "
                f"expertise:{', '.join(member.expertise)} languages:{', '.join(member.languages)}",
            )

    def leave(self, at: datetime, handle: str) -> None:
        self.leave_at[handle] = at
        self._act(at, handle, "leave")

    def post(
        self,
        at: datetime,
        who: str,
        channel: str,
        text: str,
        *,
        kind: str = "chat",
        thread: str | None = None,
        reply_to: _Msg | None = None,
    ) -> _Msg:
        if reply_to is not None:
            channel, thread = reply_to.channel, reply_to.thread
            if reply_to.at >= at or reply_to.deleted:
                raise RuntimeError("a reply must follow the message it answers")
        if bool(THANKS_WORDS.search(text)) != (kind == "thanks"):
            raise RuntimeError(f"thanks words outside a recorded thanks: {text!r}")
        if self._breaks_lull(at, channel, text) and self.channel_theme.get(channel) != _QUIET_THEME:
            raise RuntimeError(f"{text!r} would break the quiet theme's silence")
        msg = _Msg(
            author=who,
            channel=channel,
            thread=thread,
            text=text,
            at=at,
            kind=kind,
            reply_to=reply_to,
        )
        self.msgs.append(msg)
        self._act(at, who, "post", channel=channel, thread=thread, msg=msg, text=text)
        return msg

    def react(self, at: datetime, who: str, msg: _Msg, emoji: str) -> bool:
        key = (who, id(msg), emoji)
        if who == msg.author or msg.deleted or msg.at >= at or key in self.reacted:
            return False
        self.reacted[key] = self._act(
            at, who, "react", channel=msg.channel, thread=msg.thread, msg=msg, emoji=emoji
        )
        if emoji == THANKS_EMOJI:
            self.thanks.append(("reaction", who, msg.author, msg, at))
        return True

    def unreact(self, at: datetime, who: str, msg: _Msg, emoji: str) -> None:
        self.reacted[(who, id(msg), emoji)].removed_at = at
        self._act(at, who, "unreact", channel=msg.channel, thread=msg.thread, msg=msg, emoji=emoji)

    def edit(self, at: datetime, msg: _Msg, text: str) -> None:
        msg.text, msg.edited = text, True
        self._act(
            at, msg.author, "edit", channel=msg.channel, thread=msg.thread, msg=msg, text=text
        )

    def delete(self, at: datetime, msg: _Msg) -> None:
        msg.deleted = True
        self._act(at, msg.author, "delete", channel=msg.channel, thread=msg.thread, msg=msg)

    def command(self, at: datetime, who: str, text: str, channel: str = GENERAL) -> None:
        self._act(at, who, "command", channel=channel, text=text)

    def thank(self, at: datetime, who: str, target: _Msg, art: _Art, *, reply: bool = True) -> _Msg:
        """``who`` thanks the author of ``target`` in text that names them."""
        thanked = target.author
        template = self._thanks_template(who)
        text = template.format(
            h=thanked,
            a_en=art[0],
            a_es=art[1],
            a_pt=art[2],
            obrigado="obrigada" if who in _FEMININE else "obrigado",
        )
        if reply:
            msg = self.post(at, who, target.channel, text, kind="thanks", reply_to=target)
        else:
            msg = self.post(at, who, target.channel, text, kind="thanks", thread=target.thread)
        self.thanks.append(("text", who, thanked, msg, at))
        return msg

    def _thanks_template(self, who: str) -> str:
        speaks = self.members[who].languages
        langs = [lang for lang in ("pt", "es", "en") if lang in speaks]
        lang = "pt" if "pt" in langs and self.rng.random() < 0.7 else self.rng.choice(langs)
        return self.rng.choice(_THANKS[lang])

    # content helpers ---------------------------------------------------------------------------

    def fill(self, template: str, theme: str | None, who: str, art: _Art | None = None) -> str:
        bank = _BANK[theme] if theme else _BANK["water"]
        member = self.members[who]
        place = self.rng.choice(bank["places"])
        about = art or self.rng.choice(bank["artifacts"])
        named = art is not None or "{a_" in template
        words = unicodedata.normalize("NFKD", about[0] if named else f"case {place}")
        slug = re.sub(r"[^a-z0-9]+", "-", words.encode("ascii", "ignore").decode().lower())
        slug = slug.removeprefix("the-").strip("-")
        return template.format(
            place=place,
            n=self.rng.randint(2, 9),
            a_en=about[0],
            a_es=about[1],
            a_pt=about[2],
            url=f"https://praxis.example.org/biblioteca/{slug}-{self.rng.randint(10, 99)}",
            org=_ORGS[_org_key(member.organisation)][0],
            first=member.first_name,
            country=member.country,
        )

    def theme_for_day(self, day: int) -> str:
        choices = [t for t in self.themes if not (t == _QUIET_THEME and day in _LULL_DAYS)]
        weights = {"water": 1.3, "gender": 0.9, "climate": 1.1, "mel": 1.2}
        return self.rng.choices(choices, [weights[t] for t in choices])[0]

    def react_some(
        self,
        day: int,
        msg: _Msg,
        theme: str | None,
        count: int,
        emojis: Sequence[str] = ("👍", "💡", "❤️"),
    ) -> None:
        moment = msg.at
        for _ in range(count):
            who = self.pick(day, theme, exclude=(msg.author,))
            if who is None:
                return
            moment = moment + self._minutes(2, 40)
            self.react(moment, who, msg, self.rng.choice(emojis))

    # episodes ----------------------------------------------------------------------------------

    def question_episode(
        self,
        day: int,
        t0: datetime,
        theme: str,
        *,
        answerer: str | None = None,
        unanswered: bool | None = None,
    ) -> datetime:
        channel = self.themes[theme].channel
        bank = _BANK[theme]
        asker = self.pick(day, theme, exclude=(answerer,) if answerer else ())
        if asker is None:
            return t0
        speaks = self.members[asker].languages
        options = [i for i, qa in enumerate(bank["qa"]) if qa[0] in speaks]
        fewest = min(self.asked.get((theme, i), 0) for i in options)
        index = self.rng.choice([i for i in options if self.asked.get((theme, i), 0) == fewest])
        self.asked[(theme, index)] = fewest + 1
        q_lang, q_text, answers = bank["qa"][index]
        expert = answerer
        if expert is None and self.rng.random() < 0.3:
            experts = [
                h for h in self.themes[theme].leaders if h != asker and self.available(h, day)
            ]
            expert = self.rng.choice(experts) if experts else None

        def make_question() -> str:
            text = self.fill(q_text, theme, asker)
            return (
                f"@{expert} {text}" if expert else self.rng.choice(_QUESTION_OPENERS[q_lang]) + text
            )

        text = self.compose(t0, channel, make_question)
        question = self.post(t0, asker, channel, text, kind="question")
        self.questions.append(question)
        if unanswered is None:
            unanswered = self.rng.random() < 0.1
        if unanswered:
            self.react_some(day, question, theme, self.rng.randint(0, 2), ("👍",))
            return t0
        helpers = [expert] if expert else []
        for _ in range(self.rng.randint(1, 3) - len(helpers)):
            extra = self.pick(day, theme, exclude=(asker, *helpers))
            if extra:
                helpers.append(extra)
        moment, replies, given = t0, [], set()
        for helper in helpers:
            usable = [
                a for a in answers if a[0] in self.members[helper].languages and a[1] not in given
            ]
            if not usable:
                continue
            _, template, art_index = self.rng.choice(usable)
            given.add(template)
            art = _GENERIC_HELP if art_index is None else bank["artifacts"][art_index]
            moment += self._minutes(6, 80)
            text = self.compose(
                moment,
                channel,
                lambda t=template, h=helper, a=art: self.fill(
                    t, theme, h, a if a is not _GENERIC_HELP else None
                ),
            )
            answer = self.post(moment, helper, channel, text, kind="answer", reply_to=question)
            self.credit[id(answer)] = art
            self.answers.append(answer)
            replies.append(answer)
        if not replies:
            self.questions.remove(question)
            question.kind = "chat"
            return moment
        if self.rng.random() < 0.25:
            moment += self._minutes(5, 40)
            follow = self.lang(asker, _FOLLOWUP_QUESTIONS)[1]
            self.post(moment, asker, channel, follow, kind="chat", reply_to=replies[0])
        best = replies[0] if answerer else self.rng.choice(replies)
        moment += self._minutes(5, 60)
        roll = self.rng.random()
        if roll < 0.6 or answerer:
            self.thank(moment, asker, best, self.credit[id(best)])
        elif roll < 0.85:
            self.react(moment, asker, best, THANKS_EMOJI)
        if self.rng.random() < 0.15:
            other = self.pick(day, theme, exclude=(asker, best.author))
            if other:
                moment += self._minutes(10, 90)
                self.thank(moment, other, best, self.credit[id(best)], reply=False)
        for answer in replies:
            self.react_some(day, answer, theme, self.rng.randint(0, 1))
        return moment

    def thread_episode(self, day: int, t0: datetime, theme: str) -> datetime:
        channel = self.themes[theme].channel
        bank = _BANK[theme]
        fresh = [t for t in bank["threads"] if t[0] not in self.used_threads]
        opener = self.pick(day, theme)
        if not fresh or opener is None:
            return self.share_episode(day, t0, theme)
        title, _, text, followups = self.rng.choice(fresh)
        self.used_threads.add(title)
        first = self.post(t0, opener, channel, text, kind="thread", thread=title)
        posts, moment, left = [first], t0, list(followups)
        while left:
            who = self.pick(day, theme, exclude=(posts[-1].author,))
            usable = [f for f in left if who and f[0] in self.members[who].languages]
            if not usable:
                break
            lang_text = self.rng.choice(usable)
            left.remove(lang_text)
            moment += self._minutes(4, 70)
            body = self.compose(
                moment, channel, lambda w=who, t=lang_text[1]: self.fill(t, theme, w)
            )
            target = self.rng.choice(posts) if self.rng.random() < 0.3 else None
            if target is not None and target.author != who:
                posts.append(self.post(moment, who, channel, body, kind="thread", reply_to=target))
            else:
                posts.append(self.post(moment, who, channel, body, kind="thread", thread=title))
        for post in posts:
            if self.rng.random() < 0.5:
                self.react_some(day, post, theme, 1)
        if self.rng.random() < 0.3 and len(posts) > 1 and posts[1].author != opener:
            moment += self._minutes(10, 60)
            self.thank(moment, opener, posts[1], _GENERIC_HELP, reply=False)
        return moment

    def share_episode(self, day: int, t0: datetime, theme: str, who: str | None = None) -> datetime:
        channel = self.themes[theme].channel
        bank = _BANK[theme]
        sharer = who or self.pick(day, theme)
        if sharer is None:
            return t0
        template = self.lang(sharer, bank["shares"])[1]
        # A share that names a document is credited for it; the others share a case.
        art = self.rng.choice(bank["artifacts"]) if "{a_" in template else _CASE
        text = self.compose(
            t0, channel, lambda: self.fill(template, theme, sharer, None if art is _CASE else art)
        )
        msg = self.post(t0, sharer, channel, text, kind="share")
        self.shared.append(msg)
        self.credit[id(msg)] = art
        self.react_some(day, msg, theme, self.rng.randint(1, 3), ("💡", "❤️", "👍", THANKS_EMOJI))
        moment = t0 + self._minutes(20, 120)
        if self.rng.random() < 0.4:
            thanker = self.pick(day, theme, exclude=(sharer,))
            if thanker:
                self.thank(moment, thanker, msg, art)
        return moment

    def general_episode(self, day: int, t0: datetime) -> datetime:
        who = self.pick(day, None)
        if who is None:
            return t0
        _, template, replies = self.lang(who, _GENERAL_CHAT)
        msg = self.post(t0, who, GENERAL, self.fill(template, None, who), kind="chat")
        moment, left = t0, list(replies)
        for _ in range(self.rng.randint(0, 2)):
            other = self.pick(day, None, exclude=(who,))
            usable = [r for r in left if other and r[0] in self.members[other].languages]
            if not usable:
                break
            reply = self.rng.choice(usable)
            left.remove(reply)
            moment += self._minutes(5, 90)
            self.post(moment, other, GENERAL, reply[1], kind="chat", reply_to=msg)
        self.react_some(day, msg, None, self.rng.randint(0, 2), ("👍",))
        return moment

    def short_comment(self, day: int, t0: datetime) -> None:
        """A peripheral member's occasional line under something posted that day."""
        who = self.pick(
            day,
            None,
            weights={
                **_WEIGHTS,
                Persona.PERIPHERAL: 3.0,
                Persona.CORE: 0.3,
                Persona.FACILITATOR: 0.0,
            },
        )
        today = [
            m
            for m in self.msgs
            if m.at.date() == t0.date()
            and not m.deleted
            and m.author != who
            and m.channel != GENERAL
            and m.at < t0
        ]
        if who is None or not today:
            return
        target = self.rng.choice(today)
        text = self.lang(who, _SHORT)[1]
        self.post(t0, who, target.channel, text, kind="chat", reply_to=target)

    def intro(self, at: datetime, who: str) -> _Msg:
        return self.post(
            at, who, GENERAL, self.compose(at, GENERAL, lambda: self._intro_text(who)), kind="intro"
        )

    def _intro_text(self, who: str) -> str:
        member = self.members[who]
        template = self.lang(who, _INTROS)[1]
        filled = template.replace("{exp}", " y ".join(member.expertise)).replace(
            "{theme_words}", " y ".join(_THEME_WORDS[t] for t in member.themes[:2])
        )
        return self.fill(filled, None, who)

    def welcome(self, at: datetime, host: str, newcomer: str, intro: _Msg | None) -> None:
        channel = self.themes[self.members[newcomer].themes[0]].channel

        def make() -> str:
            template = self.lang(host, _WELCOMES)[1]
            return template.format(h=newcomer, channel=channel)

        text = self.compose(at, GENERAL, make)
        if intro is not None:
            self.post(at, host, GENERAL, text, kind="welcome", reply_to=intro)
        else:
            self.post(at, host, GENERAL, text, kind="welcome")


def _org_key(name: str) -> str:
    for key, (org, _) in _ORGS.items():
        if org == name:
            return key
    raise KeyError(name)


def _build_roster() -> tuple[Member, ...]:
    return tuple(
        Member(
            handle=handle,
            name=name,
            organisation=_ORGS[org][0],
            country=_ORGS[org][1],
            languages=tuple(languages.split()),
            expertise=expertise,
            themes=themes,
            persona=persona,
        )
        for handle, name, org, languages, expertise, themes, persona in _PEOPLE
    )


# ---------------------------------------------------------------------------------------------
# Six weeks, day by day


def _write_community(w: _Writer) -> None:
    rng = w.rng
    opening = w._at(0, "08:00")
    w.join(opening, _BOT.handle)
    for index, handle in enumerate(_FOUNDERS):
        w.join(opening + timedelta(minutes=1 + index // 7), handle)

    for day in range(WEEKS * 7):
        weekday, week = day % 7, day // 7 + 1
        if day == 0:
            _opening_day(w)
        _newcomers(w, day)
        _scheduled(w, day, week, weekday)
        if weekday < 5:
            count = 2 if day == 0 else rng.randint(4, 6)
            kinds, weights = ("question", "thread", "share", "general"), (50, 18, 17, 15)
        else:
            count = rng.randint(0, 2) if weekday == 5 else rng.choice((0, 0, 1))
            kinds, weights = ("question", "share", "general"), (20, 50, 30)
        earliest = "13:00" if day == 0 else "08:30"
        starts = sorted(
            w._at(day, earliest) + w._minutes(0, 8 * 60 - (270 if day == 0 else 0))
            for _ in range(count)
        )
        for t0 in starts:
            kind = rng.choices(kinds, weights)[0]
            theme = w.theme_for_day(day)
            if kind == "question":
                w.question_episode(day, t0, theme)
            elif kind == "thread":
                w.thread_episode(day, t0, theme)
            elif kind == "share":
                w.share_episode(day, t0, theme)
            else:
                w.general_episode(day, t0)
        _prompt_responses(w, day, week, weekday)
        if weekday < 5:
            for _ in range(rng.randint(1, 2)):
                w.short_comment(day, w._at(day, "12:00") + w._minutes(0, 7 * 60))
        _specials(w, day)
        _lurkers(w, day)


def _opening_day(w: _Writer) -> None:
    w.post(
        w._at(0, "08:20"),
        "maria",
        GENERAL,
        "¡Bienvenidas y bienvenidos a la Red de Aprendizaje Praxis! Preséntense aquí: "
        "quiénes son, dónde trabajan y qué quieren aprender.",
        kind="chat",
    )
    w.post(
        w._at(0, "08:35"),
        "diego",
        GENERAL,
        "Tenemos cuatro grupos temáticos: #agua, #genero, #clima y #monitoreo. Cada uno "
        "tiene líderes y una pregunta semanal. Escriban /themes para ver el detalle.",
        kind="chat",
    )
    speakers = [h for h in _FOUNDERS if h not in ("maria", "diego") and w.available(h, 0)]
    for handle in speakers:
        day = 0 if w.rng.random() < 0.7 else 1
        at = w._at(day, "09:00") + w._minutes(0, 9 * 60)
        intro = w.intro(at, handle)
        if w.rng.random() < 0.35:
            w.welcome(at + w._minutes(3, 50), w.rng.choice(("maria", "diego")), handle, intro)
    for handle in w.rng.sample(speakers, 3):
        w.command(w._at(0, "09:00") + w._minutes(0, 8 * 60), handle, "/themes")


def _newcomers(w: _Writer, day: int) -> None:
    """Joins of the day, and leaves (recorded first so the leaver is absent all that day)."""
    for handle, (leave_day, hhmm) in _LEAVES.items():
        if leave_day == day:
            w.leave(w._at(day, hhmm), handle)
    for handle, (join_day, hhmm) in sorted(_LATER_JOINS.items()):
        if join_day != day:
            continue
        at = w._at(day, hhmm)
        w.join(at, handle)
        if w.members[handle].persona is Persona.SILENT_JOINER:
            # A facilitator still greets them; they never answer.
            if w.rng.random() < 0.6:
                w.welcome(at + w._minutes(20, 90), "maria", handle, None)
            continue
        intro = w.intro(at + w._minutes(10, 60), handle)
        w.welcome(intro.at + w._minutes(5, 40), w.rng.choice(("maria", "diego")), handle, intro)
        if w.rng.random() < 0.6:
            w.command(intro.at + w._minutes(45, 70), handle, "/themes")
        if handle == "joao":
            w.command(intro.at + w._minutes(75, 90), handle, "/help")


def _scheduled(w: _Writer, day: int, week: int, weekday: int) -> None:
    rng = w.rng
    if weekday == 0:
        notice = rng.choice(_BOT_NOTICES[0::2])
        w.post(
            w._at(day, "08:45"),
            _BOT.handle,
            GENERAL,
            notice.format(url=f"https://meet.example.org/praxis-{week}"),
            kind="notice",
        )
        at = w._at(day, "08:50")
        for theme in _PROMPT_WEEKS[week]:
            facilitator = rng.choice(("maria", "diego"))
            text = rng.choice(_BANK[theme]["prompts"])
            w.command(at, facilitator, f"/prompt add {theme} {text}")
            w.prompts.append((week, theme, text))
            at += w._minutes(2, 6)
        if week == 1:
            w.command(at + w._minutes(1, 3), "maria", "/prompt list")
    if weekday == 3:
        doc = _LIBRARY_DOCS[(week - 1) % len(_LIBRARY_DOCS)]
        w.post(
            w._at(day, "12:00"),
            _BOT.handle,
            GENERAL,
            _BOT_NOTICES[1].format(doc=doc, url="https://praxis.example.org/biblioteca"),
            kind="notice",
        )
    if weekday == 3 and week in (3, 5):
        w.command(w._at(day, "09:10"), "maria", "/quiet")
    if weekday == 4:
        w.command(w._at(day, "17:30"), "maria", "/stats")
        if week in (2, 4, 6):
            w.command(w._at(day, "17:45"), "diego", "/digest preview")


def _kudos(w: _Writer, at: datetime, giver: str, receiver: str, reason: str) -> None:
    w.command(at, giver, f"/kudos @{receiver} {reason}")
    w.kudos.append((giver, receiver, reason, at))


def _weekly_kudos(w: _Writer, day: int, week: int) -> None:
    at = w._at(day, "16:00")
    if week == 4:
        # The opted-out member is credited by a facilitator who does not know: the digest must
        # still leave her out.
        answer = next(a for a in reversed(w.answers) if a.author == _OPTOUT[0])
        _kudos(w, at, "maria", answer.author, f"for {w.credit[id(answer)][0]}")
        return
    monday = w._at(day - 4, "00:00")
    candidates = [
        a
        for a in w.answers
        if a.at >= monday
        and a.author not in ("maria", "diego")
        and a.author != _OPTOUT[0]
        and w.credit[id(a)] is not _GENERIC_HELP
    ]
    if not candidates:
        return
    answer = w.rng.choice(candidates)
    giver = w.rng.choice(("maria", "diego"))
    _kudos(w, at, giver, answer.author, f"for {w.credit[id(answer)][0]}")


def _prompt_responses(w: _Writer, day: int, week: int, weekday: int) -> None:
    for theme in _PROMPT_WEEKS[week]:
        if _PROMPT_WEEKDAY[theme] != weekday:
            continue
        channel = w.themes[theme].channel
        bank = _BANK[theme]
        statements = list(bank["reflections"])
        at, responders = w._at(day, "10:15"), []
        weights = {**_WEIGHTS, Persona.PERIPHERAL: 1.0}
        for _ in range(w.rng.randint(2, 4)):
            who = w.pick(day, theme, exclude=responders, weights=weights)
            if who is None:
                break
            responders.append(who)
            at += w._minutes(5, 75)
            usable = [r for r in statements if r[0] in w.members[who].languages]
            if not usable:
                continue
            lang, template = w.rng.choice(usable)
            statements.remove((lang, template))
            body = w.fill(template, theme, who)
            msg = w.post(at, who, channel, _PROMPT_OPENERS[lang] + body, kind="prompt-response")
            w.react_some(day, msg, theme, w.rng.randint(0, 2))


def _specials(w: _Writer, day: int) -> None:
    """The one-off moments the tests rely on, at fixed days so the facts stay put across seeds."""
    rng = w.rng
    if day == 7:
        notice = next(m for m in reversed(w.msgs) if m.author == _BOT.handle)
        w.thank(
            w._at(day, "09:20"),
            "hector",
            notice,
            ("the reminder", "el recordatorio", "pelo lembrete"),
        )
    if day == 8:
        _kudos(w, w._at(day, "12:10"), "ana", "luis", "for the irrigation-shift template")
    if day == 10:
        handle, _, when = _NUDGES_OFF
        w.command(w._at(day, when), handle, "/nudges off")
        # Posted in the wrong channel, deleted, posted again where it belongs.
        wrong = w.post(
            w._at(day, "11:30"),
            "luis",
            "clima",
            "Les comparto la tabla de tarifas de Tiquipaya: "
            "https://praxis.example.org/biblioteca/tariff-table-42",
            kind="share",
        )
        w.delete(w._at(day, "11:33"), wrong)
        w.share_episode(day, w._at(day, "11:35"), "water", who="luis")
    if day == 11:
        for handle in ("cesar", "paola", "tiago", "ruth"):
            week_two = [m for m in w.msgs if m.author == handle and w._week(m.at) == 2]
            if not week_two:
                theme = w.members[handle].themes[0]
                w.share_episode(day, w._at(day, "10:00") + w._minutes(0, 300), theme, who=handle)
    if day == 14:
        w.command(w._at(day, "10:30"), _OPTOUT[0], "/mydata")
    if day == _OPTOUT[1]:
        w.command(w._at(day, _OPTOUT[2]), _OPTOUT[0], "/optout")
    if day == 22:
        w.question_episode(day, w._at(day, "11:00"), "mel", answerer=_OPTOUT[0], unanswered=False)
    if day == 23:
        w.command(w._at(day, "15:00"), "natalia", "/mydata")
    if day % 7 == 4:
        _weekly_kudos(w, day, day // 7 + 1)
    if day in (2, 9, 16, 24, 30, 38):
        candidates = [
            m
            for m in w.msgs
            if m.at.date() == w._at(day, "00:00").date()
            and m.kind in ("answer", "share", "thread", "question", "chat")
            and not m.deleted
            and not m.edited
            and m.author != _BOT.handle
            and m.at.time() < time(21, 0)
        ]
        if candidates:
            msg = rng.choice(candidates)
            note = rng.choice(_EDIT_NOTES).format(n=rng.randint(20, 90))
            w.edit(msg.at + w._minutes(3, 25), msg, msg.text + note)
    if day in (5, 19):
        today = [
            m
            for m in w.msgs
            if m.at.date() == w._at(day, "00:00").date()
            and not m.deleted
            and m.at.time() < time(20, 0)
            and m.author != _BOT.handle
        ]
        if today:
            msg = rng.choice(today)
            who = w.pick(day, None, exclude=(msg.author,))
            at = msg.at + w._minutes(5, 30)
            if who and w.react(at, who, msg, "👍"):
                w.unreact(at + w._minutes(1, 5), who, msg, "👍")
    if day == 17:
        notice = next(m for m in reversed(w.msgs) if m.author == _BOT.handle)
        w.react(notice.at + w._minutes(30, 120), "marco", notice, THANKS_EMOJI)


def _lurkers(w: _Writer, day: int) -> None:
    """Members who mostly read leave reactions on the day's messages."""
    date = w._at(day, "00:00").date()
    today = [m for m in w.msgs if m.at.date() == date and not m.deleted]
    if not today:
        return
    chance = {
        Persona.PERIPHERAL: 0.5,
        Persona.ACTIVE: 0.15,
        Persona.CORE: 0.15,
        Persona.GOES_QUIET: 0.15,
        Persona.FACILITATOR: 0.1,
    }
    last = w._at(day, "23:00")
    for member in w.roster:
        if not w.available(member.handle, day) or w.rng.random() >= chance[member.persona]:
            continue
        mine = [m for m in today if w.channel_theme.get(m.channel) in member.themes] or today
        for msg in w.rng.sample(mine, min(len(mine), w.rng.randint(1, 2))):
            at = min(msg.at + w._minutes(5, 180), last)
            emoji = w.rng.choices(("👍", "💡", "❤️", THANKS_EMOJI), (50, 22, 20, 8))[0]
            if at > msg.at:
                w.react(at, member.handle, msg, emoji)


# ---------------------------------------------------------------------------------------------
# Script lines and facts


def _render(w: _Writer, seed: int) -> list[str]:
    lines = [
        f"# {COMMUNITY_NAME}: the sample community `trellis demo` replays (seed {seed}).",
        f"# Six weeks from {w.start:%A %Y-%m-%d}; clock lines are {TIMEZONE} time.",
        "# Written by bot/demo/sample.py; regenerate rather than edit by hand.",
        "",
    ]
    clock: datetime | None = None
    number = 0
    for act in sorted(w.acts, key=lambda a: (a.at, a.seq)):
        if act.at != clock:
            if act.at.second or act.at.microsecond:
                raise RuntimeError("clock lines have minute precision")
            lines.append(f"@ {act.at:%Y-%m-%d %H:%M}")
            clock = act.at
        if act.verb == "join":
            member = w.members[act.actor]
            kind = "bot " if member.is_bot else ""
            lines.append(f'~ {act.actor} joins as {kind}"{member.name}"')
            continue
        if act.verb == "leave":
            lines.append(f"~ {act.actor} leaves")
            continue
        where = f"#{act.channel}" + (f"/{act.thread}" if act.thread else "")
        ref = act.msg
        if act.verb != "post" and act.verb != "command" and (ref is None or not ref.number):
            raise RuntimeError(f"{act.verb} by {act.actor} refers to a message not yet posted")
        if act.verb == "post":
            number += 1
            msg = act.msg
            assert msg is not None
            msg.number = number
            if msg.reply_to is not None:
                if not msg.reply_to.number:
                    raise RuntimeError("a reply refers to a message not yet posted")
                body = f">{msg.reply_to.number} {act.text}"
            else:
                body = act.text
        elif act.verb == "react":
            body = f"+{ref.number} {act.emoji}"
        elif act.verb == "unreact":
            body = f"-{ref.number} {act.emoji}"
        elif act.verb == "edit":
            body = f"*{ref.number} {act.text}"
        elif act.verb == "delete":
            body = f"x{ref.number}"
        else:
            body = act.text
        lines.append(f"{where} {act.actor}: {body}")
    return lines


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _expected(w: _Writer) -> Expected:
    theme_of = w.channel_theme
    replied = {id(m.reply_to) for m in w.msgs if m.reply_to is not None}
    thanks, bot_thanks = [], []
    for kind, thanker, thanked, msg, at in w.thanks:
        fact = Thanks(
            week=w._week(at),
            thanker=thanker,
            thanked=thanked,
            theme=theme_of.get(msg.channel),
            kind=kind,
            message=msg.number,
            at=_utc(at),
        )
        (bot_thanks if thanked == _BOT.handle else thanks).append(fact)
    last_action: dict[str, datetime] = {}
    for act in w.acts:
        last_action[act.actor] = max(act.at, last_action.get(act.actor, act.at))
    posters = {m.author for m in w.msgs}
    # A message elsewhere using the theme's keywords also counts as activity in the theme.
    quiet_words = w.themes[_QUIET_THEME].keywords
    quiet = [
        m
        for m in w.msgs
        if theme_of.get(m.channel) == _QUIET_THEME or any(k in m.text.lower() for k in quiet_words)
    ]
    lull_start = w._at(_LULL_DAYS.start, "00:00")
    optout_handle = _OPTOUT[0]
    return Expected(
        facilitators=("maria", "diego"),
        bot=_BOT.handle,
        opted_out=optout_handle,
        optout_at=_utc(w.optout_at),
        posts_after_optout=tuple(
            sorted(m.number for m in w.msgs if m.author == optout_handle and m.at > w.optout_at)
        ),
        nudges_off=_NUDGES_OFF[0],
        never_posted=tuple(sorted(m.handle for m in w.roster if m.handle not in posters)),
        went_quiet={
            m.handle: _utc(last_action[m.handle])
            for m in w.roster
            if m.persona is Persona.GOES_QUIET
        },
        joined={h: _utc(at) for h, at in w.join_at.items()},
        left={h: _utc(at) for h, at in w.leave_at.items()},
        thanks=tuple(sorted(thanks, key=lambda t: (t.at, t.message))),
        bot_thanks=tuple(bot_thanks),
        kudos=tuple(
            Kudos(week=w._week(at), giver=g, receiver=r, reason=reason, at=_utc(at))
            for g, r, reason, at in w.kudos
        ),
        edited=tuple(sorted(m.number for m in w.msgs if m.edited)),
        deleted=tuple(sorted(m.number for m in w.msgs if m.deleted)),
        unanswered_questions=tuple(sorted(q.number for q in w.questions if id(q) not in replied)),
        shared=tuple(sorted(m.number for m in w.shared if not m.deleted)),
        quiet_theme=_QUIET_THEME,
        quiet_theme_last_message=_utc(max(m.at for m in quiet if m.at < lull_start)),
        quiet_theme_revived_at=_utc(min(m.at for m in quiet if m.at >= lull_start)),
        prompts=tuple(w.prompts),
        messages=tuple(
            MessageFact(
                number=m.number,
                author=m.author,
                channel=m.channel,
                thread=m.thread,
                theme=theme_of.get(m.channel),
                week=w._week(m.at),
                at=_utc(m.at),
                text=m.text,
                reply_to=m.reply_to.number if m.reply_to else None,
                kind=m.kind,
                edited=m.edited,
                deleted=m.deleted,
            )
            for m in sorted(w.msgs, key=lambda m: m.number)
        ),
        reactions=tuple(
            ReactionFact(
                message=a.msg.number,
                member=a.actor,
                emoji=a.emoji,
                at=_utc(a.at),
                removed_at=_utc(a.removed_at) if a.removed_at else None,
            )
            for a in sorted(w.reacted.values(), key=lambda a: (a.at, a.seq))
            if a.msg is not None
        ),
    )


def build_sample_community(seed: int = 2026) -> SampleCommunity:
    """The sample community for ``seed``: the same seed always gives the same community.

    The roster, themes, dates and the one-off moments (joins, the opt-out, the quiet theme) are
    fixed; the seed varies who says what, when and to whom.
    """
    tz = ZoneInfo(TIMEZONE)
    start = datetime(2026, 9, 7, 8, 0, tzinfo=tz)
    roster = _build_roster()
    writer = _Writer(random.Random(seed), roster, start)
    _write_community(writer)
    lines = _render(writer, seed)
    return SampleCommunity(
        community_id=COMMUNITY_ID,
        name=COMMUNITY_NAME,
        timezone=TIMEZONE,
        roster=roster,
        bot=_BOT,
        themes=_THEMES,
        start=start,
        weeks=WEEKS,
        expected=_expected(writer),
        lines=tuple(lines),
    )
