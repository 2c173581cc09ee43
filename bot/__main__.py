"""`python -m bot` is the same as `peerline`."""

from bot.cli import main

main()
