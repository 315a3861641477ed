"""Trellis on Matrix (matrix-nio): rooms and spaces in, ``!trellis`` commands, notices out.

``translate``: Matrix events to Trellis events, a dispatch table of pure functions; ``render``:
Markdown to Matrix message content; ``state``: what the adapter keeps across restarts;
``session``: login and requests; ``direct``: direct rooms; ``adapter``: syncing and sending.
"""
