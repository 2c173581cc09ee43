"""SQLModel tables: the single source of truth for people, conversations, alerts and history.

Enumerations are stored as plain strings (StrEnum values) so migrations stay portable between
SQLite and PostgreSQL. With PEERLINE_ENCRYPTION_KEY set (`storage.crypto`), what people write and who
they are is encrypted at rest: names, message bodies, answers, session state, alert reasons, notes, audit
details and consent records are `SecretText` / `SecretJSON`; phone numbers, chat ids and provider message
ids, which the bot looks up by value, are `LookupText`. Ids, times, roles, statuses and categories stay
plain, so every query works unchanged.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, event, insert_sentinel
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper
from sqlmodel import Field, SQLModel

from storage.types import LookupText, SecretJSON, SecretText, UTCDateTime


class Role(StrEnum):
    PIR = "pir"
    FAMILY = "family"
    PEER = "peer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"  # sees and enrols everyone; paged only as the program's on-call or a last resort


class PersonStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    INACTIVE = "inactive"
    DISCHARGED = "discharged"


class ChannelName(StrEnum):
    CONSOLE = "console"
    TELEGRAM = "telegram"
    SMS = "sms"


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class MessageKind(StrEnum):
    """What a message is for; outbound kinds also decide delivery priority."""

    ALERT = "alert"
    CRISIS = "crisis"
    RELAY = "relay"
    CHECKIN = "checkin"
    REPLY = "reply"
    KEYWORD = "keyword"
    SYSTEM = "system"
    ANSWER = "answer"
    TEXT = "text"


PRIORITY: dict[MessageKind, int] = {
    MessageKind.ALERT: 0,
    MessageKind.CRISIS: 1,
    MessageKind.KEYWORD: 2,
    MessageKind.RELAY: 3,
    MessageKind.REPLY: 3,
    MessageKind.SYSTEM: 4,
    MessageKind.CHECKIN: 5,
}


class MessageStatus(StrEnum):
    """Delivery states in the order they may be reached; status only moves forward."""

    RECEIVED = "received"
    PENDING = "pending"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    READ = "read"


class SessionStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    EXPIRED = "expired"
    ABANDONED = "abandoned"
    STOPPED = "stopped"  # ended early by a crisis: no more questions, a human takes over


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ShareScope(StrEnum):
    NONE = "none"
    STATUS = "status"
    ALERTS = "alerts"


def _secret_json() -> Any:
    return Field(default_factory=dict, sa_column=Column(SecretJSON, nullable=False))


def _lookup(purpose: str, *, nullable: bool = False, unique: bool = False, index: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(LookupText(purpose), nullable=nullable, unique=unique, index=index),
    )


def _jsonlist() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


def _sentinel() -> Column[Any]:
    """An insert sentinel for a table the busy paths insert many rows into and need the new ids of.

    SQLite cannot say which new id belongs to which row of a multi-row INSERT ... RETURNING, so without
    it SQLAlchemy inserts such rows one statement each. With it, one statement inserts the whole batch
    and the column numbers the rows within that statement; nothing else reads it.
    """
    return insert_sentinel("insert_sentinel")


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(index=True)
    name: str = Field(sa_type=SecretText)
    # The name folded (`fold_name`), for finding "@Alex" without reading every name; set on every write.
    name_key: str | None = _lookup("name", nullable=True, index=True)
    locale: str = "en"
    timezone: str = "America/New_York"
    status: str = PersonStatus.ACTIVE
    credential: str | None = None  # a staff member's certification (e.g. CPRS), on billing lines
    created_at: datetime = Field(sa_type=UTCDateTime)
    discharged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    discharge_reason: str | None = Field(default=None, sa_type=SecretText)


class ChannelIdentity(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("channel", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    channel: str
    address: str = _lookup("address")
    consent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    opted_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    unreachable_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime)


class CareTeam(SQLModel, table=True):
    pir_id: int = Field(foreign_key="person.id", primary_key=True)
    peer_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    backup_id: int | None = Field(default=None, foreign_key="person.id")
    supervisor_id: int | None = Field(default=None, foreign_key="person.id")
    updated_at: datetime = Field(sa_type=UTCDateTime)


class OnCall(SQLModel, table=True):
    """The program's on-call staff (`peerline oncall set`), in order: the last tier of every chain, and
    who hears of a stranger in crisis."""

    position: int = Field(primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    set_at: datetime = Field(sa_type=UTCDateTime)


class ConsentState(StrEnum):
    """Where a consent stands (`bot.family.consent`): only ACTIVE shares anything."""

    PENDING = "pending"  # asked, no answer yet
    ACTIVE = "active"
    DECLINED = "declined"  # the PIR said no
    LAPSED = "lapsed"  # no answer in time
    REPLACED = "replaced"  # a newer consent for the same pair was agreed (or asked again)
    REVOKED = "revoked"  # the PIR ended it (UNSHARE)
    EXPIRED = "expired"  # its date passed
    ENDED = "ended"  # its event came: the PIR's discharge


class FamilyLink(SQLModel, table=True):
    """A family member's link to a PIR with the PIR's consent record (42 CFR §2.31 elements).

    `state` is plain so queries select live consents; the record (`consent`: patient, who discloses,
    what, to whom, purpose, right to revoke, expiry, signature) is encrypted with the names in it.
    """

    __table_args__ = (Index("ix_familylink_state_status", "state", "next_status_at"),)
    id: int | None = Field(default=None, primary_key=True)
    family_id: int = Field(foreign_key="person.id", index=True)
    pir_id: int = Field(foreign_key="person.id", index=True)
    scope: str = ShareScope.NONE
    purpose: str = "family support"
    consent: dict[str, Any] = _secret_json()
    state: str = ConsentState.ACTIVE
    requested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answer_by: datetime | None = Field(default=None, sa_type=UTCDateTime)  # a pending request lapses then
    granted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # when it stopped, any reason
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_on_discharge: bool = False
    next_status_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # the next weekly summary


class Disclosure(SQLModel, table=True):
    """Accounting of disclosures (42 CFR Part 2): what was told about a PIR, to whom, when, under which
    consent. `what` says the kind in words (never an alert's content); it is encrypted like the rest."""

    __table_args__ = (Index("ix_disclosure_pir_at", "pir_id", "disclosed_at"),)
    id: int | None = Field(default=None, primary_key=True)
    pir_id: int = Field(foreign_key="person.id")
    recipient_id: int = Field(foreign_key="person.id", index=True)
    link_id: int = Field(foreign_key="familylink.id", index=True)
    kind: str  # weekly_status, alert_notice
    what: str = Field(sa_type=SecretText)
    channel: str
    disclosed_at: datetime = Field(sa_type=UTCDateTime)


class CheckinSchedule(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("person_id", "flow_id"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    flow_id: str
    local_time: str = "09:00"
    days: str = "mon,tue,wed,thu,fri,sat,sun"
    paused: bool = False
    next_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class FlowSession(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("person_id", "flow_id", "local_date"),
        Index("ix_flowsession_person_status", "person_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    flow_id: str
    locale: str = "en"
    channel: str
    state: dict[str, Any] = _secret_json()
    status: str = SessionStatus.ACTIVE
    local_date: str | None = None
    started_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    remind_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class Answer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="flowsession.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    flow_id: str
    step_id: str
    value: Any = Field(default=None, sa_column=Column(SecretJSON, nullable=True))
    raw: str = Field(default="", sa_type=SecretText)
    # A numeric answer (mood 1-5, craving 0-10) as a plain number (`score_of`), so reports average it in
    # the database: without the person's name or number it says nothing about who (see README).
    score: float | None = None
    answered_at: datetime = Field(sa_type=UTCDateTime)


class Message(SQLModel, table=True):
    """Contact history: every message in or out, kept for outcome reporting and audits."""

    __table_args__ = (
        Index("ix_message_person_created", "person_id", "created_at"),
        Index("ix_message_address_created", "channel", "address", "created_at"),
        _sentinel(),
    )
    id: int | None = Field(default=None, primary_key=True)
    direction: str
    channel: str
    address: str = _lookup("address")
    person_id: int | None = Field(default=None, foreign_key="person.id")
    body: str = Field(sa_type=SecretText)
    kind: str = MessageKind.TEXT
    provider_id: str | None = _lookup("provider", nullable=True, unique=True)
    status: str = MessageStatus.RECEIVED
    error_code: str | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Outbox(SQLModel, table=True):
    """Transactional outbox: written with the decision, drained by the sender after commit."""

    __table_args__ = (Index("ix_outbox_due", "channel", "priority", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id")
    channel: str
    address: str = _lookup("address")
    body: str = Field(sa_type=SecretText)
    buttons: list[Any] = _jsonlist()
    priority: int = 5
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    last_error: str | None = Field(
        default=None, sa_type=SecretText
    )  # a provider's words may quote the number
    created_at: datetime = Field(sa_type=UTCDateTime)


class Alert(SQLModel, table=True):
    __table_args__ = (Index("ix_alert_status_next", "status", "next_escalation_at"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    raised_by_id: int | None = Field(default=None, foreign_key="person.id")
    severity: str
    categories: list[str] = _jsonlist()
    reasons: list[str] = Field(default_factory=list, sa_column=Column(SecretJSON, nullable=False))
    source: str = "answer"
    message_id: int | None = Field(default=None, foreign_key="message.id")
    session_id: int | None = Field(default=None, foreign_key="flowsession.id")
    status: str = AlertStatus.OPEN
    escalation_level: int = 0
    next_escalation_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: int | None = Field(default=None, foreign_key="person.id")
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: int | None = Field(default=None, foreign_key="person.id")
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str | None = Field(default=None, sa_type=SecretText)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # Escalation chain state (flows.escalation.ChainState) and who has been told, for the ack notices.
    repeats: int = 0
    reminders: int = 0
    notified: list[int] = _jsonlist()


class AuditAction(StrEnum):
    """Every action the audit log records (`AuditEvent.action`); `storage.repo.audit` takes only these."""

    ALERT_ACKNOWLEDGED = "alert.acknowledged"
    ALERT_ALL_STAFF_PAGED = "alert.all_staff_paged"
    ALERT_CREATED = "alert.created"
    ALERT_DIGEST_SCHEDULED = "alert.digest_scheduled"
    ALERT_DIGESTED = "alert.digested"
    ALERT_ESCALATED = "alert.escalated"
    ALERT_HELD = "alert.held"
    ALERT_NOBODY_REACHABLE = "alert.nobody_reachable"
    ALERT_NOTIFIED = "alert.notified"
    ALERT_ONCALL_PAGED = "alert.oncall_paged"
    ALERT_RAISED = "alert.raised"
    ALERT_REMINDED = "alert.reminded"
    ALERT_REOPENED = "alert.reopened"
    ALERT_REPLIED = "alert.replied"
    ALERT_RESOLVED = "alert.resolved"
    ALERT_SUPERVISOR_TOLD = "alert.supervisor_told"
    ALERT_TEAM_TOLD = "alert.team_told"
    ALERT_TIER_SKIPPED = "alert.tier_skipped"
    ALERT_TIMER = "alert.timer"
    ALERT_UPDATED = "alert.updated"

    ALERTS_LISTED = "alerts.listed"

    CARE_TEAM_ASSIGNED = "care_team.assigned"

    CASELOAD_TRANSFERRED = "caseload.transferred"

    CHECKIN_ABANDONED = "checkin.abandoned"
    CHECKIN_EXPIRED_NOTICE_DROPPED = "checkin.expired_notice_dropped"
    CHECKIN_MISSED = "checkin.missed"
    CHECKIN_MISSED_DOWNTIME = "checkin.missed_downtime"
    CHECKIN_REMINDED = "checkin.reminded"
    CHECKIN_REMINDER_DROPPED = "checkin.reminder_dropped"
    CHECKIN_STARTED = "checkin.started"
    CHECKIN_STOPPED = "checkin.stopped"
    CHECKIN_UNREACHABLE = "checkin.unreachable"
    CHECKIN_WRONG_AUDIENCE = "checkin.wrong_audience"

    CHECKINS_PAUSED = "checkins.paused"
    CHECKINS_RESUMED = "checkins.resumed"

    CONSENT_OPTED_IN = "consent.opted_in"
    CONSENT_OPTED_OUT = "consent.opted_out"

    CONSENT_ANSWERED = "consent.answered"
    CONSENT_ENDED = "consent.ended"
    CONSENT_LISTED = "consent.listed"
    CONSENT_REQUESTED = "consent.requested"
    CONSENT_REVOKED = "consent.revoked"

    CONTACT_NOTED = "contact.noted"

    CRISIS_REPLIED = "crisis.replied"
    CRISIS_UNKNOWN_SENDER = "crisis.unknown_sender"

    DIGEST_SENT = "digest.sent"

    DISCLOSURE_MADE = "disclosure.made"
    DISCLOSURES_LISTED = "disclosures.listed"

    FAMILY_LINKED = "family.linked"

    HISTORY_VIEWED = "history.viewed"

    IDENTITY_REACHABLE_AGAIN = "identity.reachable_again"
    IDENTITY_UNREACHABLE = "identity.unreachable"

    INVITE_CREATED = "invite.created"
    INVITE_REDEEMED = "invite.redeemed"
    INVITE_REFUSED = "invite.refused"
    INVITE_RETIRED = "invite.retired"

    MESSAGE_FAILED = "message.failed"
    MESSAGE_RECEIVED = "message.received"
    MESSAGE_UNPROCESSED = "message.unprocessed"
    MESSAGE_WITHHELD = "message.withheld"

    NOTIFY_UNREACHABLE = "notify.unreachable"

    ONBOARDING_APPLIED = "onboarding.applied"

    ONCALL_NOBODY_REACHABLE = "oncall.nobody_reachable"
    ONCALL_PAGED = "oncall.paged"
    ONCALL_SET = "oncall.set"

    PEER_ACK = "peer.ack"
    PEER_CASELOAD = "peer.caseload"
    PEER_COMMANDS = "peer.commands"
    PEER_DIGEST = "peer.digest"
    PEER_DONE = "peer.done"
    PEER_HISTORY = "peer.history"
    PEER_MORE = "peer.more"
    PEER_NOTE = "peer.note"
    PEER_PAUSE = "peer.pause"
    PEER_REPLY = "peer.reply"
    PEER_RESUME = "peer.resume"
    PEER_TOLD_OPT_OUT = "peer.told_opt_out"
    PEER_TOLD_UNREACHABLE = "peer.told_unreachable"

    PEER_COMMAND_REFUSED = "peer_command.refused"
    PEER_COMMAND_UNKNOWN = "peer_command.unknown"

    PEOPLE_IMPORTED = "people.imported"
    PEOPLE_LISTED = "people.listed"

    PRIVACY_VIEWED = "privacy.viewed"

    PERSON_CREATED = "person.created"
    PERSON_DISCHARGED = "person.discharged"
    PERSON_EDITED = "person.edited"
    PERSON_EXPORTED = "person.exported"
    PERSON_READMITTED = "person.readmitted"

    RECORDS_PURGED = "records.purged"

    RELAY_NO_PEER = "relay.no_peer"
    RELAY_NOBODY_REACHABLE = "relay.nobody_reachable"
    RELAY_TO_PEER = "relay.to_peer"

    REPORT_BILLING = "report.billing"
    REPORT_OUTCOMES = "report.outcomes"

    SCHEDULE_UPDATED = "schedule.updated"

    STRANGER_MESSAGE = "stranger.message"
    STRANGER_NOT_ANSWERED = "stranger.not_answered"

    SUPERVISOR_TOLD_OPT_OUT = "supervisor.told_opt_out"
    SUPERVISOR_TOLD_UNREACHABLE = "supervisor.told_unreachable"

    WEB_ACK = "web.ack"
    WEB_ALERT_VIEWED = "web.alert_viewed"
    WEB_ALERTS_LISTED = "web.alerts_listed"
    WEB_AUDIT_VIEWED = "web.audit_viewed"
    WEB_CASELOAD_LISTED = "web.caseload_listed"
    WEB_DONE = "web.done"
    WEB_LINK_CREATED = "web.link_created"
    WEB_PERSON_VIEWED = "web.person_viewed"
    WEB_SIGNED_IN = "web.signed_in"
    WEB_SIGNED_OUT = "web.signed_out"
    WEB_SIGNIN_REFUSED = "web.signin_refused"
    WEB_SIGNIN_REQUESTED = "web.signin_requested"


class AuditEvent(SQLModel, table=True):
    """Append-only log of access and actions (HIPAA audit controls)."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str
    action: str = Field(index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    detail: dict[str, Any] = _secret_json()


class ContactMethod(StrEnum):
    TEXT = "text"
    PHONE = "phone"
    VIDEO = "video"
    IN_PERSON = "in_person"


class ContactNote(SQLModel, table=True):
    """A peer contact recorded as a billing record (HCPCS H0038, peer services per 15 minutes)."""

    __table_args__ = (Index("ix_contactnote_pir_date", "pir_id", "service_date"),)
    id: int | None = Field(default=None, primary_key=True)
    pir_id: int = Field(foreign_key="person.id")
    peer_id: int = Field(foreign_key="person.id", index=True)
    service_date: str  # the peer's local date, ISO
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime = Field(sa_type=UTCDateTime)
    minutes: int
    units: int  # 15-minute units, counted from 8 minutes on
    method: str = ContactMethod.TEXT
    service_code: str = "H0038"
    note: str = Field(sa_type=SecretText)
    created_at: datetime = Field(sa_type=UTCDateTime)


class Invite(SQLModel, table=True):
    """A single-use, expiring code with which a person links their own Telegram account (/start)."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebSignIn(SQLModel, table=True):
    """A pending staff-console sign-in: a 6-digit code sent over the person's channel, or a single-use
    link (`peerline web link`). Only hashes are stored; `person_id` is None when `who` named nobody, so
    an unknown name is answered, and fails, exactly like a known one."""

    __table_args__ = (Index("ix_websignin_client_created", "client", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str  # code, link
    secret_hash: str = Field(unique=True)  # the challenge of a code form, or the link's token
    code_hash: str | None = None
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    client: str = ""  # the address the request came from, for the rate limit
    tries: int = 0
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class WebSession(SQLModel, table=True):
    """A signed-in staff console session: the cookie's token hashed, its CSRF token, idle expiry."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    csrf: str
    person_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    listed: list[int] = _jsonlist()  # the alert ids last shown (and audited) in the queue


def score_of(value: Any) -> float | None:
    """`Answer.score` of an answer's value: the number, or None for anything else (yes/no, text, skip)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def fold_name(name: str) -> str:
    """A name as people type it to find someone: case and spacing do not matter."""
    return " ".join(name.casefold().split())


@event.listens_for(Person, "before_insert")
@event.listens_for(Person, "before_update")
def _keep_name_key(_mapper: Mapper[Person], _connection: Connection, person: Person) -> None:
    person.name_key = fold_name(person.name)


class KeyCheck(SQLModel, table=True):
    """Which key this database's looked-up values are encrypted with (its fingerprint, `storage.crypto`).

    One row once the database is encrypted; none while it is plaintext. `storage.keys` reads it before
    anything else runs, so a process never starts with no key, or a wrong one, on an encrypted database.
    """

    id: int = Field(default=1, primary_key=True)
    fingerprint: str
    set_at: datetime = Field(sa_type=UTCDateTime)
