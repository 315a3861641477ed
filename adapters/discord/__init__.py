"""Trellis on Discord (discord.py 2.7): gateway events in, slash commands, messages and DMs out.

``translate``: gateway payloads to events, a dispatch table of pure functions; ``commands``: slash
commands built from the command specs; ``adapter``: the client that connects, catches up, answers
and sends.
"""
