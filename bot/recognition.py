"""Recognition: finding thanks in what members write, and the rules that turn them into credits.

Detection is pure (text in, answer out) so it is tested without a platform or a database. Credits
themselves are written by the store while ingesting (``storage.ingest``, in SQL: a batch credits
thousands of thank-yous in a few statements), and read back by the digest. The rules they follow
are stated here, once, by name; each statement that applies one names it.

Credit rules:

- **no self-credit**: nobody is credited by their own thanks, reaction or kudos.
- **only visible receivers**: a bot, or a member who opted out of tracking, is never credited.
- **named thanks**: a thank-you that mentions members, or names one member of the conversation
  (``thanked_words``; the thread, or the channel's last messages), credits each of them.
- **reply thanks**: a thank-you that names nobody and replies to a message credits its author.
- **reaction credit**: a reaction credits the author of the message it is on, with the kind
  ``reaction_credit`` gives (🙏 thanks, 💡 insight); others credit nobody.
- **answer**: a thanks credit becomes an *answer* credit (with the thanker as the one who asked)
  when what is thanked replies to a question the thanker asked: the message thanked in a reply or
  with 🙏; for named thanks, a reply of the thanked member to a question of the thanker's in the
  14 days before.
- **credit follows its source**: a credit is kept once per source message (a replay credits
  nothing twice); deleting the message deletes its credits, and removing a reaction removes
  exactly the credit it gave.
"""

from __future__ import annotations

import re
import unicodedata

# Whole phrases in English, Spanish and Portuguese; matched on accent-less, case-folded text.
_THANKS = re.compile(
    r"(?<![\w])("
    r"thanks|thank you|thank u|thx|ty|many thanks|much appreciated|"
    r"gracias|muchas gracias|mil gracias|te agradezco|le agradezco|agradecida|agradecido|"
    r"obrigad[oa]|muito obrigad[oa]|valeu|agradeco"
    r")(?![\w])"
)
_DECLINE = re.compile(
    r"(?<![\w])(no,? thanks|no,? thank you|no,? gracias|nao,? obrigad[oa])(?![\w])"
)
THANKS_REACTIONS = frozenset({"🙏"})
INSIGHT_REACTIONS = frozenset({"💡"})


def _fold(text: str) -> str:
    folded = text.casefold()
    if folded.isascii():  # nothing to strip; most chat, and 20x faster than NFKD per character
        return folded
    decomposed = unicodedata.normalize("NFKD", folded)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# Every phrase above contains one of these cues, and most messages contain none. Substring tests
# are one C scan each, several times cheaper than a pattern of alternatives, which re tries at
# every position. "ty" is a cue only as a whole word: the pattern starts with the literal, so re
# finds its candidates fast, and the lookbehind then rejects "community" or "pretty".
_CUES = ("thank", "thx", "grac", "agrad", "obrigad", "valeu", "apprec")
_TY = re.compile(r"ty(?<!\wty)(?!\w)")


def _has_cue(folded: str) -> bool:
    for cue in _CUES:
        if cue in folded:
            return True
    return "ty" in folded and _TY.search(folded) is not None


def expresses_thanks(text: str) -> bool:
    folded = _fold(text)
    if not _has_cue(folded):
        return False
    return bool(_THANKS.search(folded)) and not _DECLINE.search(folded)


_CODE = re.compile(r"```.*?(?:```|$)|`[^`]*`", re.S)
_ADDRESS = re.compile(r"(?:\b[a-z][a-z0-9+.-]*://|\bwww\.)\S+", re.I)
_QUESTION_END = re.compile(r"[?？][?？!]*[\"'”’»)\]]*(?:\s|$)")


# Words between a thank-you and a name ("thank you so much Rita", "gracias a Ana"), and words
# that end the search ("thanks for the map", "gracias por todo", "thanks everyone").
_FILLERS = frozenset("you u so very much again a muchas mil muito muita de novo".split())
_NOT_NAMES = frozenset(
    "for to the all everyone everybody team folks guys todos todas por la el los las pelo pela "
    "voces vcs gente y e and".split()
)
_WORD = re.compile(r"[^\W\d_]+")


def thanked_words(text: str) -> tuple[str, ...]:
    """The words that may name whom a plain-text thank-you thanks ("thank you Rita for the
    idea", "gracias Ana", "obrigada Luis!"): up to two words right after the thanks, folded
    (case and accents ignored); the caller decides whether one names a member."""
    folded = _fold(text)
    if not _has_cue(folded):
        return ()
    match = _THANKS.search(folded)
    if match is None:
        return ()
    words = _WORD.findall(folded[match.end() : match.end() + 40])
    while words and words[0] in _FILLERS:
        words.pop(0)
    found = []
    for word in words[:2]:
        if word in _NOT_NAMES or word in _FILLERS:
            break
        found.append(word)
    return tuple(found)


def name_words(display_name: str) -> tuple[str, ...]:
    """A display name's words, folded as ``thanked_words`` folds them."""
    return tuple(_WORD.findall(_fold(display_name)))


def is_question(text: str) -> bool:
    """A sentence of the text ends in "?" (a Spanish "¿…?" too), outside web addresses and code:
    ``https://meet.example.org/rec?id=42`` or ``a ? b : c`` in a snippet ask nothing."""
    if "?" not in text and "？" not in text:
        return False  # most chat: one scan, no pattern
    if "`" in text or "://" in text or "www." in text:
        text = _ADDRESS.sub(" ", _CODE.sub(" ", text))
    return _QUESTION_END.search(text) is not None


def reaction_credit(emoji: str) -> str | None:
    """The reaction credit rule: the kind of credit a reaction gives, None for none."""
    if emoji in THANKS_REACTIONS:
        return "thanks"
    if emoji in INSIGHT_REACTIONS:
        return "insight"
    return None
