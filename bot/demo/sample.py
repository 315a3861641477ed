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

import functools
import random
import re
import tomllib
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from importlib import resources
from typing import Any, TypedDict, TypeVar
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
# The network, its calendar and its words: data in community.toml, read into the generator's shapes


def _read_tables() -> dict[str, Any]:
    with (resources.files("bot.demo") / "community.toml").open("rb") as handle:
        return tomllib.load(handle)


_TABLES = _read_tables()
_CALENDAR = _TABLES["calendar"]
_WORDS = _TABLES["words"]

_ORGS: dict[str, tuple[str, str]] = {
    key: (org["name"], org["country"]) for key, org in _TABLES["organisations"].items()
}
_PEOPLE = tuple(
    (
        person["handle"],
        person["name"],
        person["organisation"],
        person["languages"],
        tuple(person["expertise"]),
        tuple(person["themes"]),
        Persona(person["persona"]),
    )
    for person in _TABLES["people"]
)
_BOT = Member(
    handle=_TABLES["bot"]["handle"],
    name=_TABLES["bot"]["name"],
    organisation=_TABLES["bot"]["organisation"],
    country=_TABLES["bot"]["country"],
    languages=tuple(_TABLES["bot"]["languages"]),
    expertise=(),
    themes=(),
    persona=Persona.BOT,
)
_FEMININE = frozenset(person["handle"] for person in _TABLES["people"] if person.get("feminine"))
"""Portuguese thanks agree with the speaker: obrigado / obrigada."""
_THEMES = tuple(
    Theme(
        id=theme["id"],
        name=theme["name"],
        channel=theme["channel"],
        keywords=tuple(theme["keywords"]),
        learning_goal=theme["learning_goal"],
        leaders=tuple(theme["leaders"]),
        prompt_cron=theme["prompt_cron"],
    )
    for theme in _TABLES["themes"]
)


def _day_and_time(entry: dict[str, Any]) -> tuple[int, str]:
    return entry["day"], entry["time"]


_FOUNDERS = tuple(_CALENDAR["founders"])
_LATER_JOINS = {handle: _day_and_time(when) for handle, when in _CALENDAR["later_joins"].items()}
"""Later joiners: (day index from start, local time)."""
_LEAVES = {handle: _day_and_time(when) for handle, when in _CALENDAR["leaves"].items()}
_OPTOUT = (_CALENDAR["optout"]["member"], *_day_and_time(_CALENDAR["optout"]))
_NUDGES_OFF = (_CALENDAR["nudges_off"]["member"], *_day_and_time(_CALENDAR["nudges_off"]))
_QUIET_THEME = _CALENDAR["quiet_theme"]
_LULL_DAYS = range(_CALENDAR["lull_days"]["first"], _CALENDAR["lull_days"]["until"])
_PROMPT_WEEKS = {int(week): tuple(themes) for week, themes in _CALENDAR["prompt_weeks"].items()}
_PROMPT_WEEKDAY = dict(_CALENDAR["prompt_weekday"])
_WEIGHTS = {Persona(persona): weight for persona, weight in _TABLES["activity_weights"].items()}

_Art = tuple[str, str, str]  # (English "the x", Spanish "la x", Portuguese "pela x")
_GENERIC_HELP: _Art = tuple(_WORDS["generic_help"])
_CASE: _Art = tuple(_WORDS["case"])


def _pairs(rows: list[list[str]]) -> list[tuple[str, ...]]:
    return [tuple(row) for row in rows]


_INTROS = _pairs(_WORDS["intros"])
_WELCOMES = _pairs(_WORDS["welcomes"])
_THANKS: dict[str, list[str]] = _WORDS["thanks"]
_QUESTION_OPENERS: dict[str, list[str]] = _WORDS["question_openers"]
_THEME_WORDS: dict[str, str] = _WORDS["theme_words"]
_FOLLOWUP_QUESTIONS = _pairs(_WORDS["followup_questions"])
_SHORT = _pairs(_WORDS["short"])
_PROMPT_OPENERS: dict[str, str] = _WORDS["prompt_openers"]
_GENERAL_CHAT: list[tuple[str, str, list[tuple[str, ...]]]] = [
    (chat["language"], chat["opening"], _pairs(chat["replies"])) for chat in _WORDS["general_chat"]
]
_BOT_NOTICES: list[str] = _WORDS["bot_notices"]
_LIBRARY_DOCS: list[str] = _WORDS["library_docs"]
_EDIT_NOTES: list[str] = _WORDS["edit_notes"]
_Options = TypeVar("_Options", bound=tuple[Any, ...])
"""A row of alternatives whose first field is its language: (language, text, ...)."""


class _Bank(TypedDict):
    """One theme's word bank, read from the data file."""

    places: list[str]
    artifacts: list[_Art]
    # (question language, question, [(answer language, answer, artifact index or None)])
    qa: list[tuple[str, str, list[tuple[str, str, int | None]]]]
    # (title, language, opening, [(language, reply)])
    threads: list[tuple[str, str, str, list[tuple[str, ...]]]]
    reflections: list[tuple[str, ...]]
    shares: list[tuple[str, ...]]
    prompts: list[str]


_BANK: dict[str, _Bank] = {
    theme: {
        "places": bank["places"],
        "artifacts": [(en, es, pt) for en, es, pt in bank["artifacts"]],
        "qa": [
            (
                qa["language"],
                qa["question"],
                [(a["language"], a["text"], a.get("artifact")) for a in qa["answers"]],
            )
            for qa in bank["qa"]
        ],
        "threads": [
            (thread["title"], thread["language"], thread["opening"], _pairs(thread["replies"]))
            for thread in bank["threads"]
        ],
        "reflections": _pairs(bank["reflections"]),
        "shares": _pairs(bank["shares"]),
        "prompts": bank["prompts"],
    }
    for theme, bank in _TABLES["bank"].items()
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

    def lang(self, handle: str, options: Sequence[_Options]) -> _Options:
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

    def _act(self, at: datetime, actor: str, verb: str, **fields: Any) -> _Act:
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
                functools.partial(
                    self.fill, template, theme, helper, art if art is not _GENERIC_HELP else None
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
            if not who:
                break
            usable = [f for f in left if f[0] in self.members[who].languages]
            if not usable:
                break
            lang_text = self.rng.choice(usable)
            left.remove(lang_text)
            moment += self._minutes(4, 70)
            body = self.compose(
                moment, channel, functools.partial(self.fill, lang_text[1], theme, who)
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
            if not other:
                break
            usable = [r for r in left if r[0] in self.members[other].languages]
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
        kinds: tuple[str, ...]
        weights: tuple[int, ...]
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
        _monitoring_and_evaluation(w, day)
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
        at, responders = w._at(day, "10:15"), list[str]()
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


# Who answers the pulse (Thursday 1 October, after its 10:00 DM) and the story of change (Friday
# 2 October), with whom they learned from: enough answers for the results to be shown.
_PULSE_ANSWERS = (
    ("ana", "5 4 @juan"),
    ("juan", "4 4 @ana"),
    ("lucia", "5 5 @patricia"),
    ("camila", "4 3 @ana"),
    ("rita", "4 4 @andres"),
    ("luis", "3 3 @ana"),
    ("natalia", "4 3 @diego"),
    ("andres", "5 4 @rita"),
    ("patricia", "4 5 @lucia"),
    ("wilma", "4 4 @rosa"),
)
_STORIES = (
    ("ana", "Two water committees in Cusco now publish their accounts every month."),
    ("juan", "Our team adopted the irrigation-shift template shared by Luis."),
    ("lucia", "The gender theme's checklist is now part of our project design."),
    ("patricia", "We changed our evaluation plan after the outcome harvesting thread."),
    ("rita", "Three municipalities asked for our climate adaptation case."),
)


def _monitoring_and_evaluation(w: _Writer, day: int) -> None:
    """The knowledge map, commitments, events, surveys and the M&E report, on fixed days: every
    command family a network uses, so the demo's report has every section filled."""
    moments: dict[int, list[tuple[str, str, str, str]]] = {
        # day: (local time, who, channel, command)
        3: [
            (
                "09:30",
                "maria",
                GENERAL,
                "/event add Encuentro virtual de la red 2026-09-24 16:00 Jitsi",
            ),
            (
                "11:40",
                "ana",
                "agua",
                "/share case Turnos de riego recuperados en Tiquipaya "
                "https://praxis.example.org/biblioteca/turnos-tiquipaya",
            ),
        ],
        4: [("10:20", "valeria", GENERAL, "/commit Sistematizar el caso de Puno by 2026-09-25")],
        6: [("15:10", "rita", GENERAL, "/commit Revisar la guía de adaptación by 2026-09-16")],
        8: [
            (
                "16:00",
                "juan",
                "clima",
                "/share lesson Los planes comunales de adaptación "
                "funcionan cuando la asamblea los aprueba",
            ),
            ("16:30", "natalia", GENERAL, "/experts riego"),
        ],
        10: [("09:45", "ana", GENERAL, "/event list")],
        11: [("17:00", "maria", GENERAL, "/map")],
        12: [
            (
                "10:10",
                "lucia",
                "genero",
                "/share document Guía de indicadores con enfoque de "
                "género https://praxis.example.org/biblioteca/guia-genero",
            ),
        ],
        16: [("11:15", "andres", GENERAL, "/library")],
        18: [("09:30", "valeria", GENERAL, "/done 1")],
        22: [
            ("10:40", "diego", GENERAL, "/overdue"),
            ("10:50", "valeria", GENERAL, "/commitments"),
        ],
        24: [
            (f"{10 + index // 4}:{15 + 10 * (index % 4):02d}", who, GENERAL, f"/pulse {answer}")
            for index, (who, answer) in enumerate(_PULSE_ANSWERS)
        ],
        25: [
            (f"{11 + index // 3}:{5 + 15 * (index % 3):02d}", who, GENERAL, f"/story {text}")
            for index, (who, text) in enumerate(_STORIES)
        ],
        30: [("17:15", "maria", GENERAL, "/survey results")],
        38: [("18:00", "diego", GENERAL, "/report 2026-09")],
    }
    for hhmm, who, channel, command in moments.get(day, ()):
        w.command(w._at(day, hhmm), who, command, channel=channel)


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
        elif ref is None:  # a command: every other verb without a message was refused above
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
    thanks: list[Thanks] = []
    bot_thanks: list[Thanks] = []
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
