"""The flow engine, driven through the real flow files like a person would: reply by reply."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import engine
from flows.engine import (
    Answer,
    AnswerValue,
    Completed,
    EngineError,
    Event,
    Expired,
    Flagged,
    FreeText,
    GaveUp,
    Halted,
    Option,
    Question,
    Reasked,
    Say,
    SessionState,
    Sprint,
)
from flows.model import Flow, StepType


@dataclass
class Run:
    """Everything a conversation produced, accumulated like the host would store it."""

    last: Sprint
    outputs: list[Say | Question]
    answers: dict[str, AnswerValue]
    events: list[Event]

    @property
    def state(self) -> SessionState:
        return self.last.state

    def flags(self) -> list[tuple[str, str, str, str]]:
        return [(e.step_id, e.severity, e.category, e.reason) for e in self.events if isinstance(e, Flagged)]


def run(flow: Flow, replies: Sequence[str | tuple[str, str]], locale: str = "en") -> Run:
    """Start `flow` and feed replies; a (text, payload) tuple is a button press."""
    sprint = engine.start(flow, locale)
    result = Run(sprint, list(sprint.outputs), {}, list(sprint.events))
    for reply in replies:
        text, payload = reply if isinstance(reply, tuple) else (reply, None)
        sprint = engine.resume(flow, sprint.state, text, locale, payload=payload)
        result.last = sprint
        result.outputs += sprint.outputs
        result.answers.update({answer.step_id: answer.value for answer in sprint.answers})
        result.events += sprint.events
    return result


def asked(sprint: Sprint) -> str | None:
    """Step id of the question the sprint ends on."""
    questions = [item for item in sprint.outputs if isinstance(item, Question)]
    return questions[-1].step_id if questions else None


# -- daily check-in ----------------------------------------------------------------------------------


def test_start_sends_intro_then_first_question(daily: Flow) -> None:
    sprint = engine.start(daily, "en")
    intro, question = sprint.outputs
    assert intro == Say("Hi, it's check-in time. Just a few quick questions, about a minute.")
    assert isinstance(question, Question)
    assert question.step_id == "mood"
    assert question.kind is StepType.SCALE
    assert question.text == "How is your mood today, from 1 (really low) to 5 (really good)?"
    assert question.options == tuple(Option(str(n), str(n)) for n in range(1, 6))
    assert sprint.state == SessionState("daily_checkin", "mood", 0, {}, False)
    assert sprint.answers == ()
    assert sprint.events == ()


def test_daily_quiet_day(daily: Flow) -> None:
    result = run(daily, ["4", "2/10", "nope", "no", "nothing"])
    assert result.answers == {"mood": 4, "craving": 2, "used": False, "safety": False, "anything_else": None}
    assert result.flags() == []
    assert result.events == [Completed("daily_checkin")]
    assert result.state == SessionState("daily_checkin", None, 0, result.answers, True)
    assert result.last.outputs == (
        Say(
            "Thank you for checking in. Your peer is here for you, "
            "and you can text me any time to reach them."
        ),
    )
    assert "use_more" not in result.answers  # the follow-up only follows a yes


def test_daily_hard_day_raises_every_rule(daily: Flow) -> None:
    result = run(daily, ["1", "nine", "yeah", "I had a few drinks at a party", "yes", "please call me"])
    assert result.flags() == [
        ("mood", "medium", "mood", "mood 1 of 5"),
        ("craving", "high", "craving", "craving 9 of 10"),
        ("used", "high", "use", "used since last check-in: yes"),
        ("safety", "critical", "suicide", "thoughts of suicide or wishing to be dead: yes"),
    ]
    free_text = [e for e in result.events if isinstance(e, FreeText)]
    assert free_text == [
        FreeText("use_more", "I had a few drinks at a party"),
        FreeText("anything_else", "please call me"),
    ]
    assert result.answers["use_more"] == "I had a few drinks at a party"
    assert result.state.done


def test_rule_boundaries(daily: Flow) -> None:
    assert run(daily, ["2", "7"]).flags() == []
    assert run(daily, ["1", "8"]).flags() == [
        ("mood", "medium", "mood", "mood 1 of 5"),
        ("craving", "high", "craving", "craving 8 of 10"),
    ]


def test_use_branch_goes_to_follow_up_then_safety(daily: Flow) -> None:
    result = run(daily, ["3", "5", "yes"])
    assert asked(result.last) == "use_more"
    question = result.last.outputs[-1]
    assert isinstance(question, Question)
    assert question.options == (Option("Skip", "skip"),)
    after_skip = engine.resume(daily, result.state, "skip", "en")
    assert asked(after_skip) == "safety"
    assert after_skip.answers == (Answer("use_more", None, "skip"),)
    assert not any(isinstance(e, FreeText) for e in after_skip.events)


def test_spanish_run(daily: Flow) -> None:
    result = run(daily, ["cuatro", "3 de 10", "sí", "prefiero no decir más", "no", "nada"], locale="es")
    assert result.outputs[0] == Say(
        "Hola, es hora de tu check-in. Son unas preguntas rápidas, como un minuto."
    )
    used = next(o for o in result.outputs if isinstance(o, Question) and o.step_id == "used")
    assert used.options == (Option("Sí", "yes"), Option("No", "no"))
    assert used.locale == "es"
    assert result.answers == {
        "mood": 4,
        "craving": 3,
        "used": True,
        "use_more": "prefiero no decir más",
        "safety": False,
        "anything_else": None,
    }
    assert result.last.outputs[-1] == Say(
        "Gracias por hacer tu check-in. Tu compañero/a de apoyo está para ti; "
        "escríbeme cuando quieras para contactarle."
    )


def test_unknown_locale_reads_english(daily: Flow) -> None:
    question = engine.start(daily, "fr").outputs[-1]
    assert isinstance(question, Question)
    assert question.text.startswith("How is your mood today")
    assert question.locale == "en"


def test_button_payloads_are_exact_values(daily: Flow) -> None:
    result = run(daily, [("", "1"), ("", "10"), ("", "yes"), ("", "skip"), ("", "no"), ("", "skip")])
    assert result.answers == {
        "mood": 1,
        "craving": 10,
        "used": True,
        "use_more": None,
        "safety": False,
        "anything_else": None,
    }
    assert result.state.done


@pytest.mark.parametrize(
    ("step_replies", "payload"), [([], "9"), ([], "yes"), ([], "skip"), (["3", "4"], "7")]
)
def test_payload_that_does_not_fit_the_step_is_reasked(
    daily: Flow, step_replies: list[str], payload: str
) -> None:
    before = run(daily, step_replies).state
    sprint = engine.resume(daily, before, "", "en", payload=payload)
    assert sprint.state == SessionState(before.flow_id, before.step_id, 1, before.answers, False)
    assert sprint.events == (Reasked(str(before.step_id), 1),)  # no FreeText: a button is not prose
    assert sprint.answers == ()


def test_sms_numbers_answer_yes_no(daily: Flow) -> None:
    result = run(daily, ["3", "3", "2", "1"])
    assert result.answers["used"] is False
    assert result.answers["safety"] is True
    assert (
        "safety",
        "critical",
        "suicide",
        "thoughts of suicide or wishing to be dead: yes",
    ) in result.flags()


def test_reask_then_give_up_moves_on(daily: Flow) -> None:
    first = run(daily, ["meh"])
    assert first.state == SessionState("daily_checkin", "mood", 1, {}, False)
    assert first.last.events == (FreeText("mood", "meh"), Reasked("mood", 1))
    hint, question = first.last.outputs
    assert hint == Say("Just a number from 1 to 5 works: 1 is really low, 5 is really good.")
    assert isinstance(question, Question)
    assert question.step_id == "mood"

    second = engine.resume(daily, first.state, "idk", "en")
    assert second.state.reasks == 2
    assert second.events == (FreeText("mood", "idk"), Reasked("mood", 2))

    third = engine.resume(daily, second.state, "dunno", "en")
    assert third.events == (FreeText("mood", "dunno"), GaveUp("mood"))
    assert third.answers == (Answer("mood", None, "dunno"),)
    assert third.state == SessionState("daily_checkin", "craving", 0, {"mood": None}, False)
    assert third.outputs[0] == Say("No problem, let's move on.")
    assert asked(third) == "craving"


def test_generic_hint_when_the_step_has_none(daily: Flow) -> None:
    sprint = run(daily, ["3", "3", "purple"]).last
    assert sprint.outputs[0] == Say("Please reply yes or no.")
    es = run(daily, ["3", "3", "morado"], locale="es").last
    assert es.outputs[0] == Say("Por favor, responde sí o no.")


def test_optional_step_generic_hint_offers_skip(onboarding: Flow) -> None:
    optional_language = replace(
        onboarding,
        steps=(*onboarding.steps[:2], replace(onboarding.step("language"), optional=True)),
    )
    sprint = run(optional_language, ["yes", "1", "klingon"]).last
    assert sprint.outputs[0] == Say(
        "Please reply with the number of one of the options. Or reply SKIP to skip this one."
    )
    question = sprint.outputs[1]
    assert isinstance(question, Question)
    assert question.options[-1] == Option("Skip", "skip")
    assert run(optional_language, ["yes", "1", "skip"]).answers["language"] is None


def test_empty_reply_is_reasked_without_triage(daily: Flow) -> None:
    sprint = run(daily, ["3", "3", "yes", "   "]).last
    assert sprint.outputs[0] == Say("Go ahead and type it here in your own words, or reply SKIP.")
    assert sprint.events == (Reasked("use_more", 1),)  # nothing to triage in an empty message


def test_bare_yes_to_an_open_question_waits_for_the_words(daily: Flow) -> None:
    result = run(daily, ["3", "3", "yes", "yes"])
    assert result.state.step_id == "use_more"
    assert result.last.outputs[0] == Say("Go ahead and type it here in your own words, or reply SKIP.")
    after = engine.resume(daily, result.state, "I drank at my cousin's wedding", "en")
    assert after.answers == (
        Answer("use_more", "I drank at my cousin's wedding", "I drank at my cousin's wedding"),
    )
    assert asked(after) == "safety"


def test_unparsed_reply_still_goes_to_triage(daily: Flow) -> None:
    sprint = run(daily, ["3", "7 but honestly I want to die"]).last
    assert FreeText("craving", "7 but honestly I want to die") in sprint.events
    assert sprint.state.step_id == "craving"


@pytest.mark.parametrize(
    "reply",
    [
        "maybe",
        "maybe a little",
        "sort of, sometimes",
        "idk",
        "not really",
        "not yet",
        "hmm no",
        "skip",
        "why?",
    ],
)
def test_anything_but_a_clear_no_to_the_safety_question_is_flagged_critical_at_once(
    daily: Flow, reply: str
) -> None:
    result = run(daily, ["3", "3", "no", reply])
    assert result.answers["safety"] == "unclear"
    assert not any(isinstance(event, Reasked | GaveUp) for event in result.last.events)
    flags = [event for event in result.last.events if isinstance(event, Flagged)]
    assert [(f.severity, f.category, f.unclear) for f in flags] == [("critical", "suicide", True)]
    assert flags[0].reason == f'thoughts of suicide or wishing to be dead: uncertain answer, "{reply}"'
    assert FreeText("safety", reply) in result.last.events  # the words are read by triage too


@pytest.mark.parametrize("reply", ["no", "No.", "nope", "no, I haven't", "2", "nah"])
def test_a_clear_no_to_the_safety_question_moves_on(daily: Flow, reply: str) -> None:
    result = run(daily, ["3", "3", "no", reply])
    assert result.answers["safety"] is False
    assert asked(result.last) == "anything_else"
    assert not [event for event in result.last.events if isinstance(event, Flagged)]


def test_other_yes_no_questions_still_ask_again(daily: Flow) -> None:
    result = run(daily, ["3", "3", "maybe"])
    assert Reasked("used", 1) in result.last.events
    assert "used" not in result.answers


def test_halt_ends_the_session_keeping_answers_and_dropping_the_next_question(daily: Flow) -> None:
    result = run(daily, ["3", "3", "no", "yes"])
    assert asked(result.last) == "anything_else"
    halted = engine.halt(result.last)
    assert halted.state.done and halted.state.step_id is None
    assert halted.outputs == ()
    assert halted.answers == result.last.answers
    assert dict(halted.state.answers) == {"mood": 3, "craving": 3, "used": False, "safety": True}
    assert halted.events[-1] == Halted("daily_checkin", "anything_else")
    with pytest.raises(EngineError):
        engine.resume(daily, halted.state, "no", "en")


def test_halt_of_a_finished_sprint_drops_the_outro_only(daily: Flow) -> None:
    result = run(daily, ["3", "3", "no", "no", "skip"])
    assert result.state.done
    halted = engine.halt(result.last)
    assert halted.state == result.state and halted.outputs == ()


def test_flagged_steps_names_the_steps_whose_rules_matched(daily: Flow) -> None:
    assert engine.flagged_steps(daily, {"mood": 1, "craving": 9, "used": False}) == {"mood", "craving"}
    assert engine.flagged_steps(daily, {"mood": 3, "craving": 2, "safety": "unclear"}) == {"safety"}


def test_remind_repeats_the_question_and_keeps_state(daily: Flow) -> None:
    state = run(daily, ["3"]).state
    sprint = engine.remind(daily, state, "en")
    assert sprint.state is state
    reminder, question = sprint.outputs
    assert reminder == Say("Just a gentle nudge: your check-in is still open whenever you have a minute.")
    assert isinstance(question, Question)
    assert question.step_id == "craving"
    assert sprint.events == ()


def test_expire_closes_the_session_as_missed(daily: Flow) -> None:
    state = run(daily, ["3", "skip"]).state  # "skip" on a required scale is a re-ask, not an answer
    state = engine.resume(daily, state, "4", "en").state
    sprint = engine.expire(daily, state, "en")
    assert sprint.state == SessionState("daily_checkin", None, 0, {"mood": 3, "craving": 4}, True)
    assert sprint.events == (Expired("daily_checkin", 2),)
    assert sprint.outputs == (
        Say(
            "We missed you on today's check-in, and that's okay. Your peer is here if you want to talk; "
            "just text me any time."
        ),
    )


def test_finished_sessions_refuse_more_input(daily: Flow) -> None:
    done = run(daily, ["4", "2", "no", "no", "skip"]).state
    assert done.done
    assert engine.current_question(daily, done, "en") is None
    with pytest.raises(EngineError, match="already finished"):
        engine.resume(daily, done, "hello", "en")
    with pytest.raises(EngineError, match="already finished"):
        engine.remind(daily, done, "en")
    with pytest.raises(EngineError, match="already finished"):
        engine.expire(daily, done, "en")


def test_state_from_another_flow_is_refused(daily: Flow, family: Flow) -> None:
    state = engine.start(family, "en").state
    with pytest.raises(EngineError, match="family_checkin"):
        engine.resume(daily, state, "3", "en")
    with pytest.raises(EngineError, match="no step"):
        engine.resume(daily, SessionState("daily_checkin", "gone", 0, {}, False), "3", "en")


def test_json_round_trip_mid_flow_survives_a_restart(daily: Flow) -> None:
    state = run(daily, ["2", "8", "yes"]).state
    assert state.step_id == "use_more"
    stored = json.dumps(state.to_json())
    restored = SessionState.from_json(json.loads(stored))
    assert restored == state
    assert restored.answers == {"mood": 2, "craving": 8, "used": True}
    assert engine.current_question(daily, restored, "en") == engine.current_question(daily, state, "en")
    assert engine.resume(daily, restored, "it was hard", "en") == engine.resume(
        daily, state, "it was hard", "en"
    )


def test_json_round_trip_keeps_types(daily: Flow) -> None:
    state = run(daily, ["1", "0", "meh", "kinda"]).state  # two re-asks of "used"
    data = json.loads(json.dumps(state.to_json()))
    restored = SessionState.from_json(data)
    assert restored.answers["mood"] == 1
    assert restored.answers["craving"] == 0
    assert restored.reasks == 2
    unclear = SessionState.from_json(
        json.loads(json.dumps(run(daily, ["1", "0", "no", "meh"]).state.to_json()))
    )
    assert unclear.answers["used"] is False and unclear.answers["safety"] == "unclear"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"flow_id": 1, "step_id": "a", "reasks": 0, "answers": {}, "done": False},
        {"flow_id": "f", "step_id": "a", "reasks": "0", "answers": {}, "done": False},
        {"flow_id": "f", "step_id": "a", "reasks": 0, "answers": [], "done": False},
        {"flow_id": "f", "step_id": "a", "reasks": 0, "answers": {"x": [1]}, "done": False},
        {"flow_id": "f", "step_id": "a", "reasks": 0, "answers": {}, "done": "no"},
    ],
)
def test_from_json_rejects_foreign_shapes(data: dict[str, object]) -> None:
    with pytest.raises(EngineError):
        SessionState.from_json(data)


# -- family check-in ---------------------------------------------------------------------------------


def test_family_worried_branch(family: Flow) -> None:
    result = run(family, ["3", "8", "yes", "He hasn't come home and isn't answering", "yes"])
    assert result.answers == {
        "holding_up": "struggling",
        "stress": 8,
        "worried": True,
        "whats_going_on": "He hasn't come home and isn't answering",
        "callback": True,
    }
    assert result.flags() == [
        ("stress", "medium", "family_stress", "stress 8 of 10"),
        ("worried", "high", "family_concern", "worried about their person's safety now: yes"),
        ("callback", "medium", "family_callback", "asked for a call back: yes"),
    ]
    assert FreeText("whats_going_on", "He hasn't come home and isn't answering") in result.events
    assert result.state.done


def test_family_not_worried_skips_the_follow_up(family: Flow) -> None:
    result = run(family, ["good", "2", "no", "no thanks"])
    assert result.answers == {"holding_up": "good", "stress": 2, "worried": False, "callback": False}
    assert result.flags() == []
    assert result.events[-1] == Completed("family_checkin")


def test_family_choice_question(family: Flow) -> None:
    question = engine.start(family, "es").outputs[-1]
    assert isinstance(question, Question)
    assert question.kind is StepType.CHOICE
    assert question.options == (
        Option("Bien", "good"),
        Option("Más o menos", "okay"),
        Option("Me está costando", "struggling"),
    )
    assert run(family, ["me está costando"], locale="es").answers == {"holding_up": "struggling"}


# -- onboarding --------------------------------------------------------------------------------------


def test_onboarding_yes(onboarding: Flow) -> None:
    result = run(onboarding, ["yes", "1", "español"])
    assert result.answers == {"consent": True, "checkin_time": "09:00", "language": "es"}
    assert result.last.outputs[-1] == Say(  # in the language just chosen
        "Todo listo. Te escribiré a la hora que elegiste, y puedes escribirme cuando quieras para "
        "contactar a tu compañero/a de apoyo."
    )
    assert result.flags() == []


def test_choosing_english_in_a_spanish_onboarding_ends_in_english(onboarding: Flow) -> None:
    state = engine.start(onboarding, "es").state
    for reply in ("sí", "1", "inglés"):
        sprint = engine.resume(onboarding, state, reply, "es")
        state = sprint.state
    assert state.answers["language"] == "en"
    outro = onboarding.outro["en"]
    assert sprint.outputs == (Say(outro),) and outro.startswith("You're all set.")


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("8pm", "20:00"),
        ("noon", "12:00"),
        ("12", "12:00"),
        ("10", "10:00"),
        ("9am", "09:00"),
        ("5", "20:00"),
        ("6:00 pm", "18:00"),
    ],
)
def test_onboarding_times(onboarding: Flow, reply: str, value: str) -> None:
    assert run(onboarding, ["yes", reply]).answers["checkin_time"] == value


def test_onboarding_declined_ends_kindly(onboarding: Flow) -> None:
    result = run(onboarding, ["no thanks"])
    assert result.answers == {"consent": False}
    assert result.state.done
    assert result.last.outputs == (
        Say(
            "That's completely okay. I won't send you check-ins. Your peer is still here for you, and if you "
            "change your mind, just text START."
        ),
    )
    assert result.last.events == (Completed("onboarding"),)


def test_onboarding_unclear_consent_is_not_consent(onboarding: Flow) -> None:
    result = run(onboarding, ["what is this", "who are you", "hmm"])
    assert result.answers == {"consent": None}
    assert result.state.done
    assert result.last.outputs == (
        Say("No problem, we can set this up another time. Whenever you're ready, just text me."),
    )


# -- properties --------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["daily_checkin", "family_checkin", "onboarding"]),
    st.lists(st.one_of(st.text(max_size=20), st.sampled_from(["yes", "no", "3", "skip", "8"])), max_size=40),
)
def test_no_reply_sequence_traps_a_person(flows: dict[str, Flow], flow_id: str, replies: list[str]) -> None:
    flow = flows[flow_id]
    bound = len(flow.steps) * (flow.max_reasks + 1)
    state = engine.start(flow, "en").state
    for count, reply in enumerate(replies, start=1):
        state = engine.resume(flow, state, reply, "en").state
        if state.done:
            assert count <= bound
            break
    if len(replies) >= bound:
        assert state.done
