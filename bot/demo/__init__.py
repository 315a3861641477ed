"""The bundled demo: a sample community of practice that `trellis demo` replays through the console."""

from bot.demo.sample import (
    Expected,
    Kudos,
    Member,
    MessageFact,
    Persona,
    ReactionFact,
    SampleCommunity,
    Thanks,
    Theme,
    build_sample_community,
)

__all__ = [
    "Expected",
    "Kudos",
    "Member",
    "MessageFact",
    "Persona",
    "ReactionFact",
    "SampleCommunity",
    "Thanks",
    "Theme",
    "build_sample_community",
]
