"""The error an operator's mistake raises; its message says how to fix it (a module of its own so that
the CLI can catch it without loading what raises it)."""

from __future__ import annotations


class UserError(ValueError):
    """A mistake in what an operator asked for; the message says how to fix it."""
