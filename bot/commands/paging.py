"""Long lists answered one message at a time: ``quiet 2``, ``experts water 2``, ``help 3``."""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands.context import CommandContext, CommandError
from bot.commands.spec import PAGE
from bot.events import ChannelRef, MemberRef

_SENTENCE_ROOM = 80
"""Characters kept free on each page for the sentence saying how many more there are (beside the
command it names)."""


def split_pages(
    heading: Sequence[str], lines: Sequence[str], limit: int, room: int = _SENTENCE_ROOM
) -> list[list[str]]:
    """``lines`` in pages that fit ``limit`` characters with ``heading`` above each and ``room``
    left free; a line too long for a page on its own is cut."""
    budget = limit - room - sum(len(line) + 1 for line in heading)
    pages: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if len(line) + 1 > budget:
            line = line[: max(budget - 2, 1)] + "…"
        if pages[-1] and size + len(line) + 1 > budget:
            pages.append([])
            size = 0
        pages[-1].append(line)
        size += len(line) + 1
    return pages


def paged(
    ctx: CommandContext,
    heading: Sequence[str],
    lines: Sequence[str],
    page: int | None,
    footer: Sequence[str] = (),
) -> str:
    """One page of a list that fits one message: the heading, the page's lines, a line saying
    how many more there are and how to see them, then ``footer`` (short summary lines)."""
    room = _SENTENCE_ROOM + len(next_page_command(ctx, page, 999_999))
    pages = split_pages([*heading, *footer], lines, ctx.message_limit, room)
    number = page or 1
    if not 1 <= number <= len(pages):
        raise CommandError(
            "There is no page {page}; this list has pages 1 to {pages}.",
            page=number,
            pages=len(pages),
        )
    shown = [*heading, *pages[number - 1]]
    remaining = sum(len(rest) for rest in pages[number:])
    if remaining:
        shown.append(
            ctx.n_(
                "… {n} more on the next page: {command}",
                "… {n} more on the next pages: {command}",
                remaining,
                command=next_page_command(ctx, page, number + 1),
            )
        )
    return "\n".join([*shown, *footer])


def next_page_command(ctx: CommandContext, given: int | None, page: int) -> str:
    """The command the member typed (with page ``given``, if they gave one), asking for ``page``."""
    invocation = ctx.invocation
    words = [f"{ctx.prefix}{invocation.command}"]
    if invocation.options is not None:
        for name, value in invocation.options:
            if name == PAGE.name:
                continue
            if isinstance(value, MemberRef):
                value = f"@{value.display_name or value.id}"
            elif isinstance(value, ChannelRef):
                value = f"#{value.id}"
            words.append(f"{name}:{value}")
        words.append(f"{PAGE.name}:{page}")
        return " ".join(words)
    typed = invocation.text.split()
    if given is not None:
        typed = typed[:-1]  # typed as the line's last word
    return " ".join([*words, *typed, str(page)])
