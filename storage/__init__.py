"""Persistence for Trellis: the Store and its versioned SQLite schema."""
