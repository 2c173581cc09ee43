"""What a consent allows and what a PIR's words mean, decided without a database (bot.family.consent)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.family.consent import (
    Answer,
    PrivacyCommand,
    PrivacyVerb,
    answer_of,
    ending,
    live,
    privacy_command,
    record,
    shares_alerts,
    shares_status,
    yes_no_goes_to_consent,
)
from storage.models import ConsentState, FamilyLink, FlowSession, PersonStatus, ShareScope
from tests.conftest import START


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("yes", Answer.YES),
        ("YES!", Answer.YES),
        (" Sí ", Answer.YES),
        ("si", Answer.YES),
        ("acepto", Answer.YES),
        ("no", Answer.NO),
        ("No thanks.", Answer.NO),
        ("no gracias", Answer.NO),
        ("yes but I'm using again", None),  # more than an answer: read as a message
        ("not now", None),
        ("noo", None),
        ("", None),
    ],
)
def test_answer_of(text: str, answer: Answer | None) -> None:
    assert answer_of(text) is answer


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("PRIVACY", PrivacyCommand(PrivacyVerb.PRIVACY)),
        ("/privacy", PrivacyCommand(PrivacyVerb.PRIVACY)),
        ("privacidad?", PrivacyCommand(PrivacyVerb.PRIVACY)),
        ("UNSHARE Jordan", PrivacyCommand(PrivacyVerb.UNSHARE, "Jordan")),
        ("unshare jordan lee.", PrivacyCommand(PrivacyVerb.UNSHARE, "jordan lee")),
        ("NO COMPARTIR Jordan", PrivacyCommand(PrivacyVerb.UNSHARE, "Jordan")),
        ("unshare", PrivacyCommand(PrivacyVerb.UNSHARE, "")),
        ("REVOKE", None),  # a carrier opt-out keyword, never ours
        ("my privacy matters", None),
        ("I want to unshare", None),
    ],
)
def test_privacy_command(text: str, command: PrivacyCommand | None) -> None:
    assert privacy_command(text) == command


def _link(**values: object) -> FamilyLink:
    fields: dict[str, object] = {"family_id": 2, "pir_id": 1, "state": ConsentState.ACTIVE}
    return FamilyLink(**(fields | values))


def test_only_an_active_consent_before_its_date_and_before_discharge_is_live() -> None:
    assert live(_link(), PersonStatus.ACTIVE, START)
    assert live(_link(), PersonStatus.PAUSED, START)
    assert not live(_link(state=ConsentState.PENDING), PersonStatus.ACTIVE, START)
    assert not live(_link(state=ConsentState.REVOKED), PersonStatus.ACTIVE, START)
    assert not live(_link(expires_at=START), PersonStatus.ACTIVE, START)
    assert live(_link(expires_at=START + timedelta(seconds=1)), PersonStatus.ACTIVE, START)
    assert not live(_link(), PersonStatus.DISCHARGED, START)


def test_a_consent_ends_by_itself_on_its_date_or_the_discharge() -> None:
    assert ending(_link(), PersonStatus.ACTIVE, START) is None
    assert ending(_link(expires_at=START), PersonStatus.ACTIVE, START) is ConsentState.EXPIRED
    assert ending(_link(), PersonStatus.DISCHARGED, START) is ConsentState.ENDED
    assert ending(_link(state=ConsentState.DECLINED), PersonStatus.DISCHARGED, START) is None


def test_what_each_scope_shares() -> None:
    assert [shares_status(s) for s in ShareScope] == [False, True, True]
    assert [shares_alerts(s) for s in ShareScope] == [False, False, True]


def test_yes_answers_whatever_was_asked_last() -> None:
    link = _link(state=ConsentState.PENDING, requested_at=START)
    session = FlowSession(
        person_id=1, flow_id="daily_checkin", channel="sms", started_at=START, updated_at=START
    )
    assert yes_no_goes_to_consent(link, None)
    assert not yes_no_goes_to_consent(link, session)  # asked at the same moment: the check-in keeps it
    session.updated_at = START - timedelta(minutes=1)
    assert yes_no_goes_to_consent(link, session)
    session.updated_at = START + timedelta(minutes=1)
    assert not yes_no_goes_to_consent(link, session)


def test_the_record_holds_every_part_2_element() -> None:
    kept = record(
        patient="Alex",
        recipient="Jordan",
        scope=ShareScope.STATUS,
        purpose="family support",
        expires_at=None,
        on_discharge=True,
        requested_by="cli",
        now=START,
    )
    for element in ("patient", "disclosed_by", "information", "recipient", "purpose", "right_to_revoke"):
        assert kept[element], element
    assert kept["expires"] == "on discharge from the program" and kept["signature"] is None
