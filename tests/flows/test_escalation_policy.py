"""The escalation policy: loading `config/escalation.yaml` strictly, and the chain arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.escalation import (
    DEFAULT_POLICY,
    ChainState,
    PolicyError,
    Tier,
    load_policy,
    policy_from_mapping,
)

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
CONFIG = Path(__file__).resolve().parents[2] / "config"


def _policy(**severities: Any) -> Any:
    base: dict[str, Any] = {
        "critical": {
            "chain": [
                {"notify": "peer", "after": "0m"},
                {"notify": "backup", "after": "5m"},
                {"notify": "supervisor", "after": "10m"},
            ],
            "repeat": {"every": "10m", "times": 2},
            "acknowledged": {"remind_every": "30m", "reopen_after_reminders": 1},
        },
        "high": {"chain": [{"notify": "peer"}, {"notify": "backup", "after": "30m"}]},
        "medium": {"digest": True},
    }
    base.update(severities)
    return policy_from_mapping({"digest_time": "17:30", "severities": base}, "test.yaml")


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def test_the_shipped_policy_loads_and_matches_the_issue() -> None:
    policy = load_policy(CONFIG)
    critical = policy.for_severity("critical")
    assert [(s.tier, s.after) for s in critical.chain] == [
        (Tier.PEER, timedelta()),
        (Tier.BACKUP, timedelta(minutes=5)),
        (Tier.SUPERVISOR, timedelta(minutes=10)),
    ]
    assert critical.repeat is not None and critical.repeat.every == timedelta(minutes=10)
    high = policy.for_severity("high")
    assert [s.after for s in high.chain] == [timedelta(), timedelta(minutes=30), timedelta(hours=2)]
    assert policy.for_severity("medium").digest
    assert critical.remind_every is not None


def test_a_missing_file_means_the_default_policy(tmp_path: Path) -> None:
    assert load_policy(tmp_path) is DEFAULT_POLICY


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"high": {"chain": [{"notify": "boss"}]}}, r"severities.high.chain\[0\].notify"),
        ({"high": {"chain": [{"notify": "peer", "after": "soon"}]}}, r"severities.high.chain\[0\].after"),
        (
            {"high": {"chain": [{"notify": "peer", "after": "10m"}, {"notify": "backup", "after": "5m"}]}},
            "time order",
        ),
        ({"high": {}}, "needs a chain"),
        ({"medium": {"digest": True, "chain": [{"notify": "peer"}]}}, "digest severity has no chain"),
        ({"high": {"chain": [{"notify": "peer"}], "repeat": {"every": "0m", "times": 1}}}, "longer than 0"),
        ({"high": {"chain": [{"notify": "peer"}], "repeat": {"every": "5m", "times": -1}}}, "whole number"),
        ({"high": {"chain": [{"notify": "peer"}], "sometimes": 1}}, "unknown key"),
        (
            {"high": {"chain": [{"notify": "peer"}], "acknowledged": {"reopen_after_reminders": 1}}},
            "needs remind_every",
        ),
    ],
)
def test_mistakes_name_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        _policy(**change)
    assert str(info.value).startswith("test.yaml: ")


def test_every_severity_needs_a_policy_and_digest_time_is_checked() -> None:
    with pytest.raises(PolicyError, match="missing medium"):
        policy_from_mapping({"severities": {"critical": {"digest": True}, "high": {"digest": True}}})
    with pytest.raises(PolicyError, match="digest_time"):
        policy_from_mapping({"digest_time": "25:00", "severities": {}})


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "escalation.yaml").write_text("severities: [", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"escalation\.yaml"):
        load_policy(tmp_path)


def test_the_chain_climbs_on_time_then_repeats_a_bounded_number_of_times() -> None:
    policy = _policy()
    assert policy.first_at("critical", T0) == T0
    due = policy.due("critical", ChainState(), T0, T0)
    assert (due.tiers, due.state, due.next_at) == ((Tier.PEER,), ChainState(1, 0), minutes(5))
    assert policy.due("critical", due.state, T0, minutes(4)).tiers == ()  # not yet
    due = policy.due("critical", due.state, T0, minutes(5))
    assert (due.tiers, due.next_at) == ((Tier.BACKUP,), minutes(10))
    due = policy.due("critical", due.state, T0, minutes(10))
    assert (due.tiers, due.next_at) == ((Tier.SUPERVISOR,), minutes(20))
    due = policy.due("critical", due.state, T0, minutes(20))
    assert due.repeat and due.tiers == (Tier.PEER, Tier.BACKUP, Tier.SUPERVISOR)
    assert (due.state, due.next_at) == (ChainState(3, 1), minutes(30))
    due = policy.due("critical", due.state, T0, minutes(30))
    assert due.repeat and (due.state, due.next_at) == (ChainState(3, 2), None)  # times: 2, so over
    assert policy.due("critical", due.state, T0, minutes(40)).tiers == ()


def test_after_downtime_every_overdue_step_fires_at_once_and_repeats_are_not_bunched() -> None:
    policy = _policy()
    due = policy.due("critical", ChainState(1, 0), T0, minutes(27))
    assert due.tiers == (Tier.BACKUP, Tier.SUPERVISOR)
    assert due.next_at == minutes(37)  # the first repeat counts from now, not from the missed time


def test_fall_through_takes_the_next_step_now() -> None:
    policy = _policy()
    assert policy.fall_through("critical", ChainState(1, 0)) == (Tier.BACKUP, ChainState(2, 0))
    assert policy.fall_through("critical", ChainState(3, 0)) is None
    # after falling through to the backup at once, the supervisor keeps its own time
    assert policy.next_at("critical", ChainState(2, 0), T0, minutes(0)) == minutes(10)


def test_acknowledged_alerts_are_reminded_then_reopened() -> None:
    policy = _policy()
    assert policy.after_acknowledged("critical", minutes(3)) == minutes(33)
    first = policy.reminder("critical", 0, minutes(33))
    assert (first.reopen, first.reminders, first.next_at) == (False, 1, minutes(63))
    assert policy.reminder("critical", 1, minutes(63)).reopen
    assert policy.after_acknowledged("high", minutes(3)) is None  # no reminders configured


def test_digest_severities_and_unknown_ones_are_never_paged() -> None:
    policy = _policy()
    assert policy.first_at("medium", T0) is None
    assert policy.for_severity("something new").digest


def test_the_shipped_file_is_valid_yaml_with_comments() -> None:
    data = yaml.safe_load((CONFIG / "escalation.yaml").read_text(encoding="utf-8"))
    assert set(data["severities"]) == {"critical", "high", "medium"}
