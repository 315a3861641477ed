"""Trellis on Matrix (matrix-nio): rooms and spaces in, ``!trellis`` commands, notices out.

``adapter``: the adapter itself (connecting, the port's methods); ``sync``: syncing and the
catch-up after downtime; ``reading``: Matrix events read as Trellis events, live or from history;
``translate``: that translation's dispatch table of pure functions; ``rooms``: the rooms served
and their state (communities, members, power levels); ``sending``: messages, attachments and
reactions sent; ``render``: Markdown to Matrix message content; ``direct``: direct rooms;
``state``: what the adapter keeps across restarts; ``session``: login and requests.
"""
