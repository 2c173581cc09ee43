"""What a consent is and what it allows, decided in pure functions (no I/O).

A consent (`FamilyLink`) shares something only while it is ACTIVE, before its date, and, for one that
ends on discharge or whose PIR is discharged, while the PIR is not: every disclosure asks `live` first.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from storage.models import ConsentState, FamilyLink, FlowSession, PersonStatus, ShareScope

PART2_NOTICE_KEY = "part2_notice"
DISCLOSED_BY = "the peer support program"
WHAT = {
    ShareScope.NONE: "only that the family member is enrolled for their own support",
    ShareScope.STATUS: "a weekly count of the days the PIR checked in (no answers, no alerts)",
    ShareScope.ALERTS: (
        "a weekly count of the days the PIR checked in, and a notice when the PIR's peer specialist is "
        "alerted and reaching out (never the alert's content)"
    ),
}


class Answer(StrEnum):
    YES = "yes"
    NO = "no"


_YES = frozenset({"yes", "y", "yes i agree", "i agree", "agree", "ok yes", "si", "sí", "s", "acepto"})
_NO = frozenset({"no", "n", "no thanks", "no thank you", "no gracias", "nope"})


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def answer_of(text: str) -> Answer | None:
    """YES or NO to a pending consent request (English or Spanish), or None for anything else."""
    folded = _fold(text)
    if folded in _YES or folded.replace("í", "i") in _YES:
        return Answer.YES
    return Answer.NO if folded in _NO else None


def yes_no_goes_to_consent(link: FamilyLink, session: FlowSession | None) -> bool:
    """A plain YES or NO answers whatever was asked last: the consent request, unless an open check-in
    asked something after it (then the check-in has the answer, and the request still waits)."""
    if session is None or link.requested_at is None:
        return True
    return link.requested_at > session.updated_at


class PrivacyVerb(StrEnum):
    PRIVACY = "privacy"
    UNSHARE = "unshare"


@dataclass(frozen=True, slots=True)
class PrivacyCommand:
    verb: PrivacyVerb
    name: str = ""


_PRIVACY = re.compile(r"^\s*/?(?:privacy|privacidad)[\s.!?]*$", re.IGNORECASE)
_UNSHARE = re.compile(r"^\s*/?(?:unshare|no\s+compartir)(?:\s+(?P<name>.+?))?[\s.!?]*$", re.IGNORECASE)
UNSHARE_PAYLOAD = "unshare:"
CONSENT_PAYLOAD = "consent:"


def privacy_command(text: str) -> PrivacyCommand | None:
    """PRIVACY / `/privacy`, UNSHARE <name> / NO COMPARTIR <name>: a PIR's control of their consents.

    Not REVOKE or STOP: those are carrier opt-out keywords (`flows.keywords`) and win before this."""
    if _PRIVACY.match(text):
        return PrivacyCommand(PrivacyVerb.PRIVACY)
    match = _UNSHARE.match(text)
    if match is None:
        return None
    return PrivacyCommand(PrivacyVerb.UNSHARE, (match.group("name") or "").strip())


def live(link: FamilyLink, pir_status: str, now: datetime) -> bool:
    """Whether this consent allows a disclosure now."""
    if link.state != ConsentState.ACTIVE:
        return False
    if link.expires_at is not None and link.expires_at <= now:
        return False
    return pir_status != PersonStatus.DISCHARGED


def ending(link: FamilyLink, pir_status: str, now: datetime) -> ConsentState | None:
    """The state an active consent ends in now by itself (its date, the PIR's discharge), or None."""
    if link.state != ConsentState.ACTIVE:
        return None
    if pir_status == PersonStatus.DISCHARGED:
        return ConsentState.ENDED
    if link.expires_at is not None and link.expires_at <= now:
        return ConsentState.EXPIRED
    return None


def shares_status(scope: str) -> bool:
    return scope in (ShareScope.STATUS, ShareScope.ALERTS)


def shares_alerts(scope: str) -> bool:
    return scope == ShareScope.ALERTS


def with_notice(text: str, notice: str) -> str:
    """A disclosure as sent: its words, then the Part 2 notice."""
    return f"{text}\n{notice}"


def record(
    *,
    patient: str,
    recipient: str,
    scope: ShareScope,
    purpose: str,
    expires_at: datetime | None,
    on_discharge: bool,
    requested_by: str,
    now: datetime,
) -> dict[str, Any]:
    """The 42 CFR §2.31 elements of a consent, before its signature."""
    expiry = (
        expires_at.isoformat()
        if expires_at is not None
        else "on discharge from the program"
        if on_discharge
        else "on revocation"
    )
    return {
        "patient": patient,
        "disclosed_by": DISCLOSED_BY,
        "information": WHAT[scope],
        "recipient": recipient,
        "purpose": purpose,
        "right_to_revoke": "the patient may revoke this consent at any time (UNSHARE), except for "
        "disclosures already made in reliance on it",
        "expires": expiry,
        "requested_by": requested_by,
        "requested_at": now.isoformat(),
        "signature": None,
    }


def signature(
    *, message_id: int | None, channel: str, at: datetime, text: str, recorded_by: str | None = None
) -> dict[str, Any]:
    """The PIR's signature: their reply (message id, channel, time, words), or a paper form's record."""
    if recorded_by is not None:
        return {"method": "paper", "recorded_by": recorded_by, "at": at.isoformat()}
    return {
        "method": "reply",
        "message_id": message_id,
        "channel": channel,
        "at": at.isoformat(),
        "text": text,
    }
