"""Time to first response (CHAOSS): per theme, how long its questions and prompts waited for a
first answer. The digest shows the week's, the report a period's."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bot.events import key_parts
from bot.i18n import Translator
from storage import activity, facilitation
from storage.contract import Reads


@dataclass(frozen=True, slots=True)
class ResponseTimes:
    """One theme's time to first response over a period: of its questions and of its prompts,
    how many there were, how many were answered, and the median seconds to the first answer."""

    theme: str
    questions: int
    questions_answered: int
    questions_median: int | None
    prompts: int
    prompts_answered: int
    prompts_median: int | None


async def first_responses(
    store: Reads,
    community: str,
    theme_names: dict[str, str],
    start: int,
    end: int,
    theme: str | None = None,
    *,
    kept: bool = False,
) -> list[ResponseTimes]:
    """Questions asked and prompts posted in [start, end), per theme (in ``theme_names``'
    order), in ``theme`` or every theme; themes with neither are left out. With ``kept``, the
    questions' first responses are those the rollups' last recount kept (the report's, after
    recounting: storage.activity.question_first_responses)."""
    questions = await activity.question_first_responses(store, community, start, end, kept=kept)
    prompts: dict[str, list[int | None]] = {}
    for prompt in await facilitation.prompts(store, community, theme):
        if prompt.posted_at is None or not start <= prompt.posted_at < end:
            continue
        after = None
        if prompt.platform_id and prompt.channel_key:
            platform = key_parts(prompt.channel_key)[0]
            after = await activity.prompt_first_response(
                store,
                community,
                prompt.platform_id,
                f"{platform}:{prompt.platform_id}",
                prompt.posted_at,
            )
        prompts.setdefault(prompt.theme, []).append(after)
    found = []
    none_asked = activity.QuestionResponses(0, 0, None)
    for theme_id, name in theme_names.items():
        asked, posted = questions.get(theme_id, none_asked), prompts.get(theme_id, [])
        if (theme is not None and theme_id != theme) or not (asked.asked or posted):
            continue
        p = [after for after in posted if after is not None]
        found.append(
            ResponseTimes(
                name,
                asked.asked,
                asked.answered,
                None if asked.median is None else round(asked.median),
                len(posted),
                len(p),
                round(statistics.median(p)) if p else None,
            )
        )
    return found


def duration(t: Translator, seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return t.n_("{n} minute", "{n} minutes", minutes)
    hours = round(seconds / 3600)
    if hours < 48:
        return t.n_("{n} hour", "{n} hours", hours)
    return t.n_("{n} day", "{n} days", round(seconds / 86400))


def first_response_lines(t: Translator, found: list[ResponseTimes]) -> list[str]:
    """One line per theme: the median time to first response of its questions and prompts
    that were answered, and how many were."""
    lines = []
    for row in found:
        parts = []
        for label, n, answered, median in (
            (t._("questions"), row.questions, row.questions_answered, row.questions_median),
            (t._("prompts"), row.prompts, row.prompts_answered, row.prompts_median),
        ):
            if median is not None:
                parts.append(
                    t._(
                        "{what}: {median} ({answered} of {n} answered)",
                        what=label,
                        median=duration(t, median),
                        answered=answered,
                        n=n,
                    )
                )
            elif n:
                parts.append(t._("{what}: none answered of {n}", what=label, n=n))
        lines.append(f"- {row.theme}: " + "; ".join(parts))
    return lines
