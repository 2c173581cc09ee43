"""Button payloads: what a press carries back, and the kinds no flow may use.

A payload is `<kind>:<rest>`. A flow question's buttons carry `<step id>:<value>`; the bot's own buttons
carry a reserved kind (`alert:<action>:<id>` on a page to staff). The flow loader refuses a step id or a
choice value that uses a reserved kind, so pressing a check-in button can never read as an alert action
(or the other way round), whatever a flow file names its steps.
"""

from __future__ import annotations

SEPARATOR = ":"
ALERT = "alert"
RESERVED = frozenset({ALERT})


def reserved(word: str) -> bool:
    """Whether `word` is, or starts as, a payload of a reserved kind (`alert`, `alert:...`)."""
    kind, _, _ = word.partition(SEPARATOR)
    return kind.casefold() in RESERVED


def answer_payload(step_id: str, value: str) -> str:
    """A flow button: it carries its step, so a press on an old question is recognised as stale."""
    return f"{step_id}{SEPARATOR}{value}"


def split_answer(payload: str) -> tuple[str, str] | None:
    """(step id, value) of a flow button's payload; None for any other payload."""
    step_id, sep, value = payload.partition(SEPARATOR)
    return (step_id, value) if sep and not reserved(step_id) else None


def alert_payload(action: str, alert_id: int) -> str:
    return f"{ALERT}{SEPARATOR}{action}{SEPARATOR}{alert_id}"


def alert_action(payload: str | None) -> tuple[str, str] | None:
    """(action, alert id as sent) of an alert button's payload; None for any other payload."""
    if payload is None or not payload.startswith(ALERT + SEPARATOR):
        return None
    action, _, alert_id = payload.removeprefix(ALERT + SEPARATOR).partition(SEPARATOR)
    return action, alert_id
