"""Every feature of Trellis, registered here and nowhere else: its commands, jobs, listeners and
digest sections, as one table the application reads.

A job runs once per community (named ``<name>:<community>``) or once per theme of each
community (``<name>:<community>:<theme>``); a listener is called with the community of the event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.commands import facilitator, identities, member
from bot.commands.spec import CommandSpec
from bot.community import Community
from bot.config import ThemeSettings
from bot.events import MemberJoined, MessageDeleted, ReactionAdded, ReactionRemoved
from bot.monitoring import commitments, events, knowledge, onboarding, report_commands, surveys
from bot.services import digest, nudges, prompts, questions
from bot.services.digest_section import DigestSection

JobRun = Callable[[Community, datetime], Awaitable[str]]
"""A job's work, given its community and the time it was due; returns its run log line."""


@dataclass(frozen=True, slots=True)
class CommunityJob:
    name: str
    cron: Callable[[Community], str | None]
    """When it runs in a community (on the community's clock); None: not in this one."""
    run: JobRun
    once_only: bool = True
    """A run missed while Trellis was down is run once at the next start (never twice)."""


@dataclass(frozen=True, slots=True)
class ThemeJob:
    name: str
    cron: Callable[[ThemeSettings], str | None]
    run: Callable[[Community, str, datetime], Awaitable[str]]
    """Given the theme's id."""
    once_only: bool = True


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    commands: tuple[CommandSpec, ...] = ()
    jobs: tuple[CommunityJob, ...] = ()
    theme_jobs: tuple[ThemeJob, ...] = ()
    listeners: Mapping[type, Callable[[Community, Any], Awaitable[None]]] = field(
        default_factory=dict
    )
    """Per kind of event, what runs once an event of that kind is stored."""
    digest_sections: tuple[DigestSection, ...] = ()


async def _nudge_scan(community: Community, due: datetime) -> str:
    now = community.clock.now()
    revived = await prompts.revive_dormant(community, now)
    sent = await nudges.send_nudges(community, now)
    return f"{sent}; {revived}"


async def _post_prompt(community: Community, theme: str, due: datetime) -> str:
    return await prompts.post_next(community, theme, community.clock.now())


FEATURES = (
    Feature(
        "facilitation",
        commands=(*member.COMMANDS, *facilitator.COMMANDS, *identities.COMMANDS),
        jobs=(
            CommunityJob("digest", lambda c: c.settings.digest.cron, digest.weekly),
            CommunityJob("nudges", lambda c: c.config.nudges.scan_cron, _nudge_scan),
        ),
        theme_jobs=(ThemeJob("prompt", lambda theme: theme.prompt_cron, _post_prompt),),
    ),
    Feature(
        "knowledge",
        commands=knowledge.COMMANDS,
        jobs=(
            CommunityJob(
                "library", lambda c: knowledge.FILING_CRON, knowledge.file_waiting, once_only=False
            ),
        ),
        listeners={
            ReactionAdded: knowledge.on_reaction,
            ReactionRemoved: knowledge.on_reaction_removed,
            MessageDeleted: knowledge.on_message_deleted,
        },
        digest_sections=(knowledge.digest_section,),
    ),
    Feature(
        "commitments",
        commands=commitments.COMMANDS,
        # A reminder sent on a clock set ahead is never sent when due.
        jobs=(
            CommunityJob(
                "commitments", lambda c: commitments.REMINDER_CRON, commitments.send_reminders
            ),
        ),
    ),
    Feature(
        "events",
        commands=events.COMMANDS,
        jobs=(CommunityJob("events", lambda c: events.REMINDER_CRON, events.remind),),
        digest_sections=(events.digest_section,),
    ),
    Feature(
        "surveys",
        commands=surveys.COMMANDS,
        # Never asked early on a clock set wrong.
        jobs=(
            CommunityJob("pulse", surveys.pulse_cron, surveys.ask_pulse),
            CommunityJob("impact", surveys.impact_cron, surveys.ask_impact),
        ),
    ),
    Feature("onboarding", listeners={MemberJoined: onboarding.welcome}),
    Feature(
        "report",
        commands=report_commands.COMMANDS,
        jobs=(
            CommunityJob(
                "rollups",
                lambda c: report_commands.ROLLUPS_CRON,
                report_commands.recount,
                once_only=False,
            ),
        ),
    ),
    Feature("questions", commands=questions.COMMANDS),
)


def all_commands() -> tuple[CommandSpec, ...]:
    """Every command of every feature, each declared once."""
    specs = tuple(spec for feature in FEATURES for spec in feature.commands)
    names = [spec.name for spec in specs]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise RuntimeError(f"commands declared twice: {sorted(duplicates)}")
    return specs


def digest_sections() -> tuple[DigestSection, ...]:
    """What the features add to the weekly digest, in the table's order."""
    return tuple(section for feature in FEATURES for section in feature.digest_sections)
