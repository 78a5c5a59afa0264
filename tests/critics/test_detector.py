import math

import pytest

from mentor.critics import SuccessDetector, SuccessDetectorConfig, changed_lines, collect_transitions
from mentor.errors import ConfigError
from mentor.llm import make_llm
from mentor.llm.testing import ScriptedLLM

BEFORE = "You see a red key 1 step forward\nYou see a wall 2 steps left"
AFTER = "You carry a red key\nYou see a wall 2 steps left"

EXPECTED_PLAIN = (
    "You are a careful judge of an agent acting in a game. You decide whether the agent achieved a goal, "
    "by comparing the state before its action with the state after it.\n"
    "\n"
    "Goal: pick up the red key\n"
    "\n"
    "What changed:\n"
    "- You see a red key 1 step forward\n"
    "+ You carry a red key\n"
    "\n"
    'Did the agent achieve the goal "pick up the red key"? Answer yes or no.\n'
    "Answer:"
)

EXPECTED_CHAT_FULL = (
    "<|im_start|>system\n"
    "You are a careful judge of an agent acting in a game. You decide whether the agent achieved a goal, "
    "by comparing the state before its action with the state after it.<|im_end|>\n"
    "<|im_start|>user\n"
    "Goal: pick up the red key\n"
    "\n"
    "State before:\n"
    "You see a red key 1 step forward\n"
    "You see a wall 2 steps left\n"
    "\n"
    "State after:\n"
    "You carry a red key\n"
    "You see a wall 2 steps left\n"
    "\n"
    'Did the agent achieve the goal "pick up the red key"? Answer yes or no.<|im_end|>\n'
    "<|im_start|>assistant\n"
    "Answer:"
)


def test_prompt_text_without_chat_template():
    detector = SuccessDetector(ScriptedLLM())
    assert detector.prompt("pick up the red key", BEFORE, AFTER) == EXPECTED_PLAIN


def test_prompt_text_with_chat_template_and_full_view():
    detector = SuccessDetector(make_llm("transformers:tiny", cache=False), SuccessDetectorConfig(view="full"))
    assert detector.prompt("pick up the red key", BEFORE, AFTER) == EXPECTED_CHAT_FULL


def test_both_view_shows_states_then_changes():
    text = SuccessDetector(ScriptedLLM(), SuccessDetectorConfig(view="both")).prompt("g", BEFORE, AFTER)
    assert text.index("State before:") < text.index("State after:") < text.index("What changed:")


def test_long_states_are_clipped_to_their_end():
    detector = SuccessDetector(ScriptedLLM(), SuccessDetectorConfig(view="full", max_state_chars=60))
    text = detector.prompt("g", "x" * 500 + "END", "y")
    assert "..." + "x" * 57 + "END" in text and "x" * 61 not in text


def test_changed_lines():
    assert changed_lines("a\nb\nc", "a\nc\nd") == "- b\n+ d"
    assert changed_lines("same", " same ") == "(nothing changed)"


def _scorer(yes_when_changed: float, yes_when_unchanged: float):
    """Scores " yes" by whether the prompt shows a change; " no" is always -2."""

    calls = []

    def scorer(prompt: str, answer: str) -> float:
        calls.append(prompt)
        if answer == " no":
            return -2.0
        return yes_when_unchanged if "(nothing changed)" in prompt else yes_when_changed

    return scorer, calls


def test_uncalibrated_probability_is_the_two_answer_softmax():
    scorer, _ = _scorer(-1.0, -1.0)
    detector = SuccessDetector(ScriptedLLM(scorer=scorer), SuccessDetectorConfig(calibration="none"))
    success, probability = detector.detect("pick up the red key", BEFORE, AFTER)
    assert success and probability == pytest.approx(1 / (1 + math.exp(-1.0)))


def test_subgoal_calibration_divides_out_the_no_change_lean_once_per_subgoal():
    scorer, calls = _scorer(yes_when_changed=-1.5, yes_when_unchanged=-1.0)
    detector = SuccessDetector(ScriptedLLM(scorer=scorer))
    success, probability = detector.detect("pick up the red key", BEFORE, AFTER)
    assert not success
    assert probability == pytest.approx(1 / (1 + math.exp(0.5)))  # log-odds 0.5 below the no-change reference
    assert detector.biases(["pick up the red key"]) == [pytest.approx(1.0)]
    num_calls = len(calls)
    detector.detect("pick up the red key", AFTER, BEFORE)
    assert len(calls) == num_calls + 2  # the reference is kept: only the new prompt's two answers are scored


def test_content_free_calibration_uses_one_reference_for_every_subgoal():
    scorer, _ = _scorer(-1.0, -1.5)
    detector = SuccessDetector(ScriptedLLM(scorer=scorer), SuccessDetectorConfig(calibration="content_free"))
    detector.detect_batch([("a", BEFORE, AFTER), ("b", BEFORE, AFTER)])
    assert list(detector.info()["biases"]) == ["N/A"]


def test_threshold_sets_the_verdict():
    scorer, _ = _scorer(-1.0, -1.0)
    detector = SuccessDetector(ScriptedLLM(scorer=scorer), SuccessDetectorConfig(calibration="none", threshold=0.9))
    assert detector.detect("g", BEFORE, AFTER)[0] is False


@pytest.mark.parametrize("reply,expected", [("Yes.", (True, 1.0)), ("no", (False, 0.0))])
def test_generate_method_parses_the_answer(reply, expected):
    detector = SuccessDetector(ScriptedLLM([reply]), SuccessDetectorConfig(method="generate"))
    assert detector.detect("g", BEFORE, AFTER) == expected


def test_generate_method_falls_back_to_failure_and_counts_it():
    llm = ScriptedLLM(["perhaps", "I cannot say"])
    detector = SuccessDetector(llm, SuccessDetectorConfig(method="generate"))
    assert detector.detect("g", BEFORE, AFTER) == (False, 0.0)
    assert llm.usage.parse_fallbacks == 1


def test_batch_equals_single_detections_on_the_tiny_model():
    detector = SuccessDetector(make_llm("transformers:tiny", cache=False))
    items = [("pick up the red key", BEFORE, AFTER), ("open the door", AFTER, BEFORE)]
    batch = detector.detect_batch(items)
    for item, (verdict, probability) in zip(items, batch):
        single = detector.detect(*item)
        assert 0.0 < probability < 1.0
        assert single[0] == verdict and single[1] == pytest.approx(probability, abs=1e-4)


@pytest.mark.parametrize(
    "fields,match",
    [
        ({"method": "vote"}, r"method \('vote'\) must be one of score, generate"),
        ({"calibration": "global"}, r"calibration \('global'\) must be one of subgoal, content_free, none"),
        ({"view": "diff"}, r"view \('diff'\) must be one of changes, full, both"),
        ({"threshold": 1.0}, r"threshold \(1.0\) must be strictly between 0 and 1"),
        ({"answers": (" yes",)}, r"must be two non-blank strings"),
        ({"answers": (" yes", " yes")}, r"must differ"),
        ({"max_new_tokens": 0}, r"max_new_tokens \(0\) must be at least 1"),
        ({"max_state_chars": 10}, r"max_state_chars \(10\) must be at least 50"),
    ],
)
def test_config_rejects_bad_values(fields, match):
    with pytest.raises(ConfigError, match=match):
        SuccessDetectorConfig(**fields)


@pytest.mark.slow
def test_embedded_model_ranks_real_positives_above_their_negatives():
    """On real BabyAI transitions (a door opened, an object picked up...), the success transition scores higher."""
    detector = SuccessDetector(make_llm("transformers:embedded", cache=False, device="cpu"))
    transitions = collect_transitions("minigrid", num_pairs=3, seed=0)
    results = detector.detect_batch([(t.subgoal, t.before, t.after) for t in transitions])
    pairs = list(zip(results[0::2], results[1::2]))
    assert all(t.label for t in transitions[0::2]) and not any(t.label for t in transitions[1::2])
    assert sum(positive[1] > negative[1] for positive, negative in pairs) >= 2
