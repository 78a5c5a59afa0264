"""Prompts, reward reflection and code extraction."""

from __future__ import annotations

import pytest

from mentor.rewards.gate import check_reward_code
from mentor.rewards.prompts import (
    FORMAT_EXAMPLES,
    extract_code,
    failure_feedback,
    human_feedback_message,
    initial_messages,
    other_failures,
    reflection,
)
from mentor.rewards.tasks import get_reward_task
from mentor.rewards.training import RewardTrainResult

CODE = "def compute_reward(state, action, next_state):\n    return 1.0, {'a': 1.0}\n"


@pytest.mark.parametrize(
    "answer",
    [
        f"Here you go:\n```python\n{CODE}```\nThis rewards progress.",
        f"```py\n{CODE}```",
        f"```\n{CODE}```",
        f"Sure!\n```python\n{CODE}",
        f"```python\n{CODE}\nThis reward is great because it is simple.\n",
        f"```python\nimport numpy as np\n```\nthen\n```python\n{CODE}```",
        f"{CODE}\nThat is the reward.",
        f"The function:\n\nimport math\n{CODE}",
    ],
)
def test_extract_code_finds_the_reward(answer):
    code = extract_code(answer)
    assert code is not None and "def compute_reward" in code
    check_reward_code(code)


def test_extract_code_prefers_the_last_block_with_the_reward():
    first = CODE.replace("1.0, {'a': 1.0}", "0.0, {}")
    assert extract_code(f"```python\n{first}```\nbetter:\n```python\n{CODE}```") == CODE


@pytest.mark.parametrize("answer", ["I cannot write code.", "```python\nprint('hi')\n```", ""])
def test_extract_code_returns_none_without_a_reward(answer):
    assert extract_code(answer) is None


def test_initial_messages_carry_task_state_signature_and_example():
    task = get_reward_task("halfcheetah_backward")
    messages = initial_messages(task, "class MuJoCoState:\n    x_position: float", "eureka")
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    for part in (
        task.goal,
        "class MuJoCoState",
        "def compute_reward(state, action, next_state)",
        FORMAT_EXAMPLES["mujoco"],
        "import only math and numpy",
    ):
        assert part in user
    assert "reward engineer" in messages[0]["content"]
    assert "expert in reinforcement learning" in initial_messages(task, "", "text2reward")[0]["content"]
    with pytest.raises(ValueError, match=r"style \('carl'\) must be one of eureka, text2reward"):
        initial_messages(task, "", "carl")


def test_every_format_example_passes_the_gate():
    for code in FORMAT_EXAMPLES.values():
        check_reward_code(code)


def test_reflection_lists_component_statistics_and_tips():
    stats = {
        "progress": [
            {"step": 100, "mean": 1.0, "min": 0.5, "max": 1.5, "episodes": 2},
            {"step": 200, "mean": 3.0, "min": 2.0, "max": 4.0, "episodes": 2},
        ],
        "fitness": [
            {"step": 100, "mean": 0.1, "min": 0.0, "max": 0.2, "episodes": 2},
            {"step": 200, "mean": 0.3, "min": 0.3, "max": 0.3, "episodes": 2},
        ],
        "episode_length": [
            {"step": 100, "mean": 10, "min": 10, "max": 10, "episodes": 2},
            {"step": 200, "mean": 10, "min": 10, "max": 10, "episodes": 2},
        ],
    }
    result = RewardTrainResult("c", "/tmp", True, fitness=0.25, component_stats=stats, curve=[{}, {}], steps=200)
    text = reflection(result, "backward_distance")
    assert "progress: [1, 3], Max: 4, Mean: 2, Min: 0.5" in text
    assert "task fitness: [0.1, 0.3]" in text and "episode length: [10, 10]" in text
    assert "held-out episodes is 0.25" in text and "If the task fitness stays near zero" in text
    assert text.index("progress:") < text.index("task fitness:")


def test_reflection_without_episodes_says_so():
    text = reflection(RewardTrainResult("c", "/tmp", True, fitness=0.0, steps=10), "success_rate")
    assert "No training episode ended within the budget" in text


def test_feedback_messages():
    assert "failed: line 1: import of 'os'" in failure_feedback("line 1: import of 'os'")
    assert "A person watched" in human_feedback_message(
        "run faster ", "stats"
    ) and "run faster\n" in human_feedback_message("run faster ", "stats")
    assert other_failures([]) == ""
    assert "- iter-00/cand-01: NaN" in other_failures([("iter-00/cand-01", "NaN")])
