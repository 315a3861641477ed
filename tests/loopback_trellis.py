"""The real ``trellis`` command line with discord.py pointed at a loopback Discord on 127.0.0.1.

Usage: ``python tests/loopback_trellis.py PORT trellis-arguments…``. Only the two addresses that
``LoopbackDiscord.install`` patches in-process are changed; everything else is the installed
program, so process tests run Trellis the way an operator (or systemd) does.
"""

import sys

import discord.gateway
import discord.http

port = sys.argv[1]
discord.http.Route.BASE = f"http://127.0.0.1:{port}/api/v10"
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = discord.gateway.yarl.URL(
    f"ws://127.0.0.1:{port}/"
)

from bot.cli import main  # noqa: E402  (after the addresses are set)

sys.exit(main(sys.argv[2:]))
