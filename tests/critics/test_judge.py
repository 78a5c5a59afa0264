import math

import pytest

from mentor.critics import TrajectoryJudge, TrajectoryJudgeConfig, TrajectoryStep
from mentor.critics.judge import COMPLETION_QUESTION, to_steps
from mentor.errors import ConfigError
from mentor.llm import make_llm
from mentor.llm.testing import ScriptedLLM

TRAJECTORY = ["You see a closed red door 1 step forward", ("toggle", "You see an open red door 1 step forward")]

EXPECTED_PROMPT = (
    "You are a careful judge of an agent acting in a game. You read what the agent did and saw, "
    "and judge it against its mission.\n"
    "\n"
    "Mission: open the red door\n"
    "\n"
    "Trajectory:\n"
    "Step 0 observation: You see a closed red door 1 step forward\n"
    "Step 1 action: toggle\n"
    "Step 1 observation: You see an open red door 1 step forward\n"
    "\n"
    "Has the agent accomplished the mission? Answer yes or no.\n"
    "Answer:"
)


def test_completion_prompt_text():
    judge = TrajectoryJudge(ScriptedLLM())
    assert judge.prompt("open the red door", TRAJECTORY, COMPLETION_QUESTION, "Answer:") == EXPECTED_PROMPT


def test_long_trajectories_keep_the_first_observation_and_the_last_steps():
    judge = TrajectoryJudge(ScriptedLLM(), TrajectoryJudgeConfig(max_steps=2, max_observation_chars=20))
    steps = ["start"] + [(f"a{i}", f"obs {i} " + "x" * 40) for i in range(1, 6)]
    assert judge.trajectory_text(steps) == (
        "Step 0 observation: start\n"
        "(steps 1 to 3 not shown)\n"
        "Step 4 action: a4\n"
        "Step 4 observation: obs 4 xxxxxxxxxxx...\n"
        "Step 5 action: a5\n"
        "Step 5 observation: obs 5 xxxxxxxxxxx..."
    )
    assert judge.trajectory_text([]) == "(no steps yet)"


def test_to_steps_normalises_and_rejects():
    assert to_steps(["a", ("go", "b"), TrajectoryStep("x", "c")]) == [
        TrajectoryStep(None, "a"),
        TrajectoryStep("go", "b"),
        TrajectoryStep("x", "c"),
    ]
    with pytest.raises(ValueError, match=r"must be an observation string or an \(action, observation\) pair"):
        to_steps([42])


def _digit_scorer(prompt: str, answer: str) -> float:
    """Rating answers: all mass on " 6" and " 9" equally; completion: yes -1 (or -3 with no steps), no -2."""
    if answer.strip().isdigit():
        return 0.0 if answer in (" 6", " 9") else -50.0
    if answer == " no":
        return -2.0
    return -3.0 if "(no steps yet)" in prompt else -1.0


def test_rate_is_the_expected_digit_over_nine():
    judge = TrajectoryJudge(ScriptedLLM(scorer=_digit_scorer))
    assert judge.rate("open the red door", TRAJECTORY) == pytest.approx(7.5 / 9, abs=1e-6)


def test_is_complete_is_calibrated_against_the_mission_with_no_steps():
    judge = TrajectoryJudge(ScriptedLLM(scorer=_digit_scorer))
    complete, probability = judge.is_complete("open the red door", TRAJECTORY)
    assert complete and probability == pytest.approx(1 / (1 + math.exp(-2.0)))  # log-odds +1 against -1
    raw = TrajectoryJudge(ScriptedLLM(scorer=_digit_scorer), TrajectoryJudgeConfig(calibration="none"))
    assert raw.is_complete("open the red door", TRAJECTORY)[1] == pytest.approx(1 / (1 + math.exp(-1.0)))


def test_judge_combines_both_answers():
    judgement = TrajectoryJudge(ScriptedLLM(scorer=_digit_scorer)).judge("open the red door", TRAJECTORY)
    assert judgement.complete
    assert judgement.probability == pytest.approx(1 / (1 + math.exp(-2.0)))
    assert judgement.rating == pytest.approx(7.5 / 9, abs=1e-6)


def test_tiny_model_gives_probabilities_in_range():
    judgement = TrajectoryJudge(make_llm("transformers:tiny", cache=False)).judge("open the red door", TRAJECTORY)
    assert 0.0 < judgement.probability < 1.0 and 0.0 <= judgement.rating <= 1.0


@pytest.mark.parametrize(
    "fields,match",
    [
        ({"max_steps": 0}, r"max_steps \(0\) must be at least 1"),
        ({"max_observation_chars": 5}, r"max_observation_chars \(5\) must be at least 20"),
        ({"threshold": 0.0}, r"threshold \(0.0\) must be strictly between 0 and 1"),
        ({"calibration": "subgoal"}, r"calibration \('subgoal'\) must be one of mission, none"),
        ({"answers": ("yes", "")}, r"must be two non-blank strings"),
    ],
)
def test_config_rejects_bad_values(fields, match):
    with pytest.raises(ConfigError, match=match):
        TrajectoryJudgeConfig(**fields)
