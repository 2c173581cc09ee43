"""`python -m bot` is the same as `peerline`."""

from bot.cli.main import main

main()
