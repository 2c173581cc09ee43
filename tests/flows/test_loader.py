"""Flow loading: the real files load and are complete; broken files fail naming the file and the key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.loader import FlowError, load_flow, load_flows, parse_duration
from flows.model import LOCALES, Flow, StepType

from .conftest import FLOWS_DIR


def test_real_flows_load(flows: dict[str, Flow]) -> None:
    assert set(flows) == {"barc10", "daily_checkin", "family_checkin", "onboarding"}
    assert {flow.id: flow.audience for flow in flows.values()} == {
        "barc10": "pir",
        "daily_checkin": "pir",
        "family_checkin": "family",
        "onboarding": "any",
    }


def test_daily_checkin_shape(daily: Flow) -> None:
    assert [step.id for step in daily.steps] == [
        "mood",
        "craving",
        "used",
        "use_more",
        "safety",
        "anything_else",
    ]
    assert daily.reminder_after == timedelta(hours=2)
    assert daily.expires_after == timedelta(hours=12)
    assert daily.max_reasks == 2
    assert (daily.step("mood").min, daily.step("mood").max) == (1, 5)
    assert (daily.step("craving").min, daily.step("craving").max) == (0, 10)
    rules = {
        (step.id, rule.when, rule.severity, rule.category) for step in daily.steps for rule in step.rules
    }
    assert rules == {
        ("mood", "<=1", "medium", "mood"),
        ("craving", ">=8", "high", "craving"),
        ("used", "yes", "high", "use"),
        ("safety", "yes", "critical", "suicide"),
        ("safety", "unclear", "critical", "suicide"),
    }
    assert [step.id for step in daily.steps if step.triage] == ["use_more", "anything_else"]
    assert all(daily.step(step_id).optional for step_id in ("use_more", "anything_else"))
    assert daily.first_step.id == "mood"


def test_family_and_onboarding_shape(family: Flow, onboarding: Flow) -> None:
    assert [choice.value for choice in family.step("holding_up").choices] == ["good", "okay", "struggling"]
    family_rules = {(rule.severity, rule.category) for step in family.steps for rule in step.rules}
    assert family_rules == {
        ("medium", "family_stress"),
        ("high", "family_concern"),
        ("medium", "family_callback"),
    }
    assert family.step("whats_going_on").triage
    assert [choice.value for choice in onboarding.step("checkin_time").choices] == [
        "09:00",
        "10:00",
        "12:00",
        "18:00",
        "20:00",
    ]
    assert [choice.value for choice in onboarding.step("language").choices] == ["en", "es"]
    assert onboarding.step("consent").type is StepType.YESNO


def _texts_of(flow: Flow) -> list[tuple[str, dict[str, str]]]:
    found = [(name, dict(getattr(flow, name))) for name in ("intro", "outro", "reminder", "expired")]
    for step in flow.steps:
        found.append((f"{step.id}.prompt", dict(step.prompts)))
        if step.hints:
            found.append((f"{step.id}.hint", dict(step.hints)))
        found += [(f"{step.id}.{choice.value}", dict(choice.labels)) for choice in step.choices]
        found += [(f"{step.id}.branch.say", dict(branch.say)) for branch in step.branches if branch.say]
    return found


def test_every_text_is_in_every_locale(flows: dict[str, Flow]) -> None:
    missing = [
        f"{flow.id}:{where}"
        for flow in flows.values()
        for where, texts in _texts_of(flow)
        if set(texts) != set(LOCALES)
    ]
    assert missing == []


def test_no_stigmatising_words(flows: dict[str, Flow]) -> None:
    banned = ("dirty", "clean", "addict", "abuser", "failure", "failed", "relapse")
    offending = [
        f"{flow.id}:{where}"
        for flow in flows.values()
        for where, texts in _texts_of(flow)
        for text in texts.values()
        if any(word in text.lower() for word in banned)
    ]
    assert offending == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", timedelta(hours=2)),
        ("30m", timedelta(minutes=30)),
        ("1d", timedelta(days=1)),
        ("1h30m", timedelta(minutes=90)),
        (" 45s ", timedelta(seconds=45)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "two hours", "2x", "h", "2h later"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def _minimal() -> dict[str, Any]:
    text = {"en": "Hi", "es": "Hola"}
    return {
        "id": "tiny",
        "audience": "pir",
        "version": 1,
        "max_reasks": 1,
        "reminder_after": "1h",
        "expires_after": "2h",
        "intro": text,
        "outro": text,
        "reminder": text,
        "expired": text,
        "steps": [
            {
                "id": "craving",
                "type": "scale",
                "min": 0,
                "max": 10,
                "prompt": text,
                "rules": [{"when": ">=8", "severity": "high", "category": "craving"}],
            },
            {
                "id": "used",
                "type": "yesno",
                "prompt": text,
                "branches": [{"when": "yes", "goto": "more"}],
                "next": "end",
            },
            {"id": "more", "type": "text", "prompt": text, "optional": True, "triage": True},
        ],
    }


def _write(tmp_path: Path, data: object, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_minimal_flow_loads(tmp_path: Path) -> None:
    flow = load_flow(_write(tmp_path, _minimal(), "tiny.yaml"))
    assert flow.step("used").branches[0].goto == "more"
    assert flow.step("more").triage is True


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """Mutation setting a dotted path ('steps.0.min') in the minimal flow; `...` deletes the key."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is ...:
            del node[last]
        else:
            node[last] = value

    return mutate


@pytest.mark.parametrize(
    ("mutation", "key", "problem"),
    [
        (_set("steps.1.branches.0.goto", "nowhere"), "steps[1].branches[0].goto", "unknown step 'nowhere'"),
        (_set("steps.1.next", "craving"), "steps[1].next", "only go forward"),
        (_set("steps.1.next", "used"), "steps[1].next", "only go forward"),
        (_set("steps.0.prompt", {"es": "Hola"}), "steps[0].prompt.en", "missing English"),
        (_set("steps.0.prompt", {"en": "Hi", "fr": "Salut"}), "steps[0].prompt.fr", "unknown key"),
        (_set("steps.0.min", ...), "steps[0].min", "whole number"),
        (_set("steps.0.max", 0), "steps[0].max", "greater than min"),
        (_set("steps.1.type", "choice"), "steps[1].choices", "must be a list"),
        (_set("steps.1.type", "slider"), "steps[1].type", "unknown step type"),
        (_set("steps.0.rules.0.when", "at least 8"), "steps[0].rules[0].when", "cannot read condition"),
        (_set("steps.0.rules.0.when", "yes"), "steps[0].rules[0].when", "only fits yes/no"),
        (_set("steps.1.branches.0.when", ">=3"), "steps[1].branches[0].when", "only fit scale"),
        (_set("steps.0.rules.0.severity", "urgent"), "steps[0].rules[0].severity", "unknown severity"),
        (_set("steps.0.rules.0.category", ""), "steps[0].rules[0].category", "non-empty string"),
        (_set("steps.0.colour", "red"), "steps[0].colour", "unknown key"),
        (_set("steps.1.triage", True), "steps[1].triage", "only free-text"),
        (_set("steps.2.id", "craving"), "steps[2].id", "duplicate step id"),
        (_set("steps.2.id", "More Info"), "steps[2].id", "lower_snake_case"),
        (_set("expires_after", "soon"), "expires_after", "cannot read duration"),
        (_set("audience", "everyone"), "audience", "unknown audience"),
        (_set("outro", ...), "outro", "must be a mapping"),
        (_set("steps", []), "steps", "at least one step"),
    ],
)
def test_broken_flow_names_file_and_key(
    tmp_path: Path, mutation: Callable[[dict[str, Any]], None], key: str, problem: str
) -> None:
    data = copy.deepcopy(_minimal())
    mutation(data)
    path = _write(tmp_path, data)
    with pytest.raises(FlowError) as caught:
        load_flow(path)
    message = str(caught.value)
    assert "broken.yaml" in message
    assert f": {key}:" in message
    assert problem in message


def test_choice_without_choices_fails(tmp_path: Path) -> None:
    data = _minimal()
    data["steps"][1] = {"id": "used", "type": "choice", "prompt": {"en": "Pick"}, "choices": []}
    with pytest.raises(FlowError, match=r"broken\.yaml: steps\[1\]\.choices: needs at least one choice"):
        load_flow(_write(tmp_path, data))


def test_in_condition_must_name_real_choices(tmp_path: Path) -> None:
    data = _minimal()
    data["steps"][1] = {
        "id": "feel",
        "type": "choice",
        "prompt": {"en": "How?"},
        "choices": [{"value": "good", "label": {"en": "Good"}}, {"value": "bad", "label": {"en": "Bad"}}],
        "rules": [{"when": "in:bad,awful", "severity": "medium", "category": "mood"}],
    }
    with pytest.raises(FlowError, match=r"steps\[1\]\.rules\[0\]\.when: .*awful"):
        load_flow(_write(tmp_path, data))


def test_a_step_id_or_choice_value_may_not_use_a_reserved_payload_kind(tmp_path: Path) -> None:
    # A flow button carries `<step id>:<value>`; a step called `alert` would send `alert:...`, which the
    # bot reads as a press on an alert's Acknowledge / Resolve buttons (`flows.payloads`).
    data = _minimal()
    data["steps"][0]["id"] = "alert"
    with pytest.raises(FlowError, match=r"broken\.yaml: steps\[0\]\.id: 'alert' is reserved .*alert:"):
        load_flow(_write(tmp_path, data))
    data = _minimal()
    data["steps"][1] = {
        "id": "feel",
        "type": "choice",
        "prompt": {"en": "How?"},
        "choices": [
            {"value": "good", "label": {"en": "Good"}},
            {"value": "alert:ack:1", "label": {"en": "?"}},
        ],
    }
    with pytest.raises(FlowError, match=r"steps\[1\]\.choices\[1\]\.value: 'alert:ack:1' is reserved"):
        load_flow(_write(tmp_path, data))
    data["steps"][1]["choices"][1]["value"] = "alerted"  # only the kind itself is reserved
    assert load_flow(_write(tmp_path, data)).step("feel").choices[1].value == "alerted"


def test_unquoted_time_value_is_refused(tmp_path: Path) -> None:
    # YAML 1.1 reads a bare 12:00 as the number 720; a silently wrong check-in time is worse than an error.
    data = _minimal()
    data["steps"].insert(
        0,
        {
            "id": "time",
            "type": "choice",
            "prompt": {"en": "When"},
            "choices": [{"value": "TIME", "label": {"en": "Noon"}}],
        },
    )
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data).replace("value: TIME", "value: 12:00"), encoding="utf-8")
    assert "value: 12:00\n" in path.read_text(encoding="utf-8")
    with pytest.raises(
        FlowError, match=r"broken\.yaml: steps\[0\]\.choices\[0\]\.value: must be a non-empty"
    ):
        load_flow(path)


def test_bare_yes_in_when_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(_minimal()).replace("when: 'yes'", "when: yes"), encoding="utf-8")
    assert "when: yes\n" in path.read_text(encoding="utf-8")
    assert load_flow(path).step("used").branches[0].when == "yes"


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed\n", encoding="utf-8")
    with pytest.raises(FlowError, match=r"broken\.yaml: \(file\): not valid YAML"):
        load_flow(path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match=r"broken\.yaml: : must be a mapping"):
        load_flow(_write(tmp_path, ["not", "a", "flow"]))


def test_load_flows_refuses_duplicate_ids(tmp_path: Path) -> None:
    _write(tmp_path, _minimal(), "a.yaml")
    _write(tmp_path, _minimal(), "b.yaml")
    with pytest.raises(FlowError, match=r"b\.yaml: id: duplicate flow id 'tiny'"):
        load_flows(tmp_path)


def test_flows_dir_is_the_repository_config() -> None:
    assert sorted(path.name for path in FLOWS_DIR.glob("*.yaml")) == [
        "barc10.yaml",
        "daily_checkin.yaml",
        "family_checkin.yaml",
        "onboarding.yaml",
    ]


def test_program_placeholder_becomes_the_name_given(tmp_path: Path) -> None:
    data = _minimal()
    data["intro"] = {"en": "Welcome to {program}!", "es": "¡Te damos la bienvenida a {program}!"}
    path = _write(tmp_path, data, "tiny.yaml")
    assert load_flow(path).intro["en"] == "Welcome to Peerline!"
    assert load_flow(path, program="Harbor").intro["es"] == "¡Te damos la bienvenida a Harbor!"


def test_sets_locale_only_on_a_choice_of_locales(tmp_path: Path) -> None:
    data = _minimal()
    data["steps"][2] = {
        "id": "more",
        "type": "choice",
        "prompt": {"en": "Language?"},
        "sets_locale": True,
        "choices": [{"value": "en", "label": {"en": "English"}}, {"value": "fr", "label": {"en": "French"}}],
    }
    with pytest.raises(FlowError, match=r"steps\[2\]\.sets_locale: only for a choice step whose values"):
        load_flow(_write(tmp_path, data))
    data["steps"][2]["choices"][1]["value"] = "es"
    assert load_flow(_write(tmp_path, data)).step("more").sets_locale is True
