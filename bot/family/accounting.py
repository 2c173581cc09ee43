"""What a program must be able to show an auditor: every consent with its state, and the accounting of
disclosures about a PIR (42 CFR §2.24: who was told what, when, under which consent)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from storage.models import Disclosure, FamilyLink, Person, Role

CONSENT_COLUMNS = (
    "id",
    "pir_id",
    "pir",
    "family_id",
    "family",
    "scope",
    "state",
    "purpose",
    "requested_at",
    "granted_at",
    "ended_at",
    "expires_at",
    "expires_on_discharge",
    "signature",
)
DISCLOSURE_COLUMNS = (
    "at",
    "pir_id",
    "pir",
    "recipient_id",
    "recipient",
    "kind",
    "what",
    "channel",
    "consent_id",
)


async def _names(s: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    people = (await s.scalars(select(Person).where(col(Person.id).in_(ids)))).all()
    return {p.id: p.name for p in people if p.id is not None}


def _signed(record: dict[str, Any]) -> str:
    signature = record.get("signature")
    if not isinstance(signature, dict):
        return ""
    if signature.get("method") == "paper":
        return f"paper, recorded by {signature.get('recorded_by')} at {signature.get('at')}"
    return f"reply on {signature.get('channel')} at {signature.get('at')}: {signature.get('text')!r}"


async def consent_rows(s: AsyncSession, who: Person | None) -> list[dict[str, Any]]:
    """Every consent and request about `who` (a PIR), or given to `who` (a family member), or all."""
    query = select(FamilyLink).order_by(col(FamilyLink.id))
    if who is not None:
        if who.role == Role.PIR:
            query = query.where(col(FamilyLink.pir_id) == who.id)
        elif who.role == Role.FAMILY:
            query = query.where(col(FamilyLink.family_id) == who.id)
        else:
            query = query.where(or_(col(FamilyLink.pir_id) == who.id, col(FamilyLink.family_id) == who.id))
    links = (await s.scalars(query)).all()
    names = await _names(s, {link.pir_id for link in links} | {link.family_id for link in links})
    return [
        {
            "id": link.id,
            "pir_id": link.pir_id,
            "pir": names.get(link.pir_id, ""),
            "family_id": link.family_id,
            "family": names.get(link.family_id, ""),
            "scope": link.scope,
            "state": link.state,
            "purpose": link.purpose,
            "requested_at": link.requested_at,
            "granted_at": link.granted_at,
            "ended_at": link.revoked_at,
            "expires_at": link.expires_at,
            "expires_on_discharge": link.expires_on_discharge,
            "signature": _signed(link.consent),
        }
        for link in links
    ]


async def disclosure_rows(
    s: AsyncSession, pir: Person, start: datetime | None, end: datetime | None
) -> list[dict[str, Any]]:
    """Every disclosure about `pir` in [start, end), oldest first."""
    query = select(Disclosure).where(col(Disclosure.pir_id) == pir.id)
    if start is not None:
        query = query.where(col(Disclosure.disclosed_at) >= start)
    if end is not None:
        query = query.where(col(Disclosure.disclosed_at) < end)
    rows = (await s.scalars(query.order_by(col(Disclosure.disclosed_at), col(Disclosure.id)))).all()
    names = await _names(s, {d.recipient_id for d in rows})
    return [
        {
            "at": d.disclosed_at,
            "pir_id": d.pir_id,
            "pir": pir.name,
            "recipient_id": d.recipient_id,
            "recipient": names.get(d.recipient_id, ""),
            "kind": d.kind,
            "what": d.what,
            "channel": d.channel,
            "consent_id": d.link_id,
        }
        for d in rows
    ]
