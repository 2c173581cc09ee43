"""The one rule of reachability (storage.repo.usable / pick_identity), without a database."""

from __future__ import annotations

from storage.models import ChannelIdentity
from storage.repo import pick_identity, usable
from tests.conftest import START


def _ident(channel: str, *, out: bool = False, dead: bool = False) -> ChannelIdentity:
    identity = ChannelIdentity(person_id=1, channel=channel, address=channel, created_at=START)
    identity.opted_out_at = START if out else None
    identity.unreachable_at = START if dead else None
    return identity


def test_the_first_usable_identity_unless_a_usable_one_is_preferred() -> None:
    sms, telegram = _ident("sms"), _ident("telegram")
    assert pick_identity([sms, telegram]) is sms
    assert pick_identity([sms, telegram], prefer="telegram") is telegram
    assert pick_identity([_ident("sms", out=True), telegram], prefer="sms") is telegram
    assert pick_identity([_ident("sms", dead=True), _ident("telegram", out=True)]) is None
    assert pick_identity([]) is None
    assert [usable(i) for i in (sms, _ident("x", out=True), _ident("y", dead=True))] == [True, False, False]
