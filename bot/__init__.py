"""Trellis: the platform-neutral core (events, engine, commands and facilitation services)."""
