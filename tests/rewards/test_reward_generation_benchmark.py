"""The reward-generation suite's task rows and totals (mentor.benchmarks.reward_suite), from loop runs with a scripted
LLM and the fake trainer."""

from __future__ import annotations

import pytest

from mentor.benchmarks import reward_suite as bench
from mentor.executors import ExecutorConfig
from mentor.llm.testing import ScriptedLLM
from mentor.rewards.loop import RewardLoop
from mentor.rewards.loop_config import RewardLoopConfig
from mentor.runs import RunDir

SIGNATURE = "def compute_reward(state, action, next_state):\n"
GOOD = "```python\n# fitness: 0.4\n" + SIGNATURE + "    return -0.01, {'time': -0.01}\n```"
WRONG_SIGNATURE = "```python\ndef compute_reward(state):\n    return 0.0, {}\n```"
IMPORT_OS = "```python\nimport os\n" + SIGNATURE + "    return 0.0, {}\n```"


def run(replies: list[str], baselines: bool, name: str = "doorkey") -> dict:
    task = bench.bench_task(name, "ppo")
    config = RewardLoopConfig(
        iterations=1,
        samples=len(replies),
        steps=100,
        final_seeds=1,
        eval_episodes=1,
        prerank="off",
        validation_steps=8,
        baselines=baselines,
        executor=ExecutorConfig(kind="sequential"),
    )
    result = RewardLoop(task, config, llm=ScriptedLLM(replies), run=RunDir.create(f"bench-{name}")).search()
    return bench.task_row(task, result, llm_calls=1)


def test_rows_count_rejection_reasons_and_keep_none_when_not_comparable(fake_trainer):
    compared = run([GOOD, WRONG_SIGNATURE, WRONG_SIGNATURE, IMPORT_OS], baselines=True)
    assert compared["generated_ge_human"] is False and compared["algo"] == "ppo"
    assert compared["rejections"] == {"extraction": 0, "gate": 3, "validation": 0, "prerank": 0, "training": 0}
    assert compared["rejection_reasons"] == {
        "gate": {
            "wrong signature compute_reward(state); expected def compute_reward(state, act...": 2,
            "import of 'os' is not allowed (allowed: math, numpy)": 1,
        }
    }
    nothing_trained = run([WRONG_SIGNATURE, "no code"], baselines=True)
    assert nothing_trained["generated_ge_human"] is None
    assert nothing_trained["rejection_reasons"]["extraction"] == {
        "the answer has no ```python block that defines compute_reward(state, action, ...": 1
    }
    no_human = run([GOOD], baselines=False)
    assert no_human["generated_ge_human"] is None

    summary = bench.summarize([compared, nothing_trained, no_human], "off")
    assert summary["num_comparable_tasks"] == 1 and summary["num_generated_ge_human"] == 0
    assert summary["share_generated_ge_human"] == 0.0 and summary["valid_code_rate"] == pytest.approx(2 / 7)
    assert bench.summarize([nothing_trained], "off")["share_generated_ge_human"] is None


def test_algo_option_and_its_note():
    assert bench.bench_task("halfcheetah_forward", "ppo").algo == "ppo"
    assert bench.bench_task("halfcheetah_forward", "task").algo == "sac"
    assert "ppo for every task" in bench.algo_description("ppo") and "sac on MuJoCo" in bench.algo_description("task")


def test_the_screen_points_are_normalised_by_the_human_and_sparse_fitness():
    row = {
        "human_fitness": 1.0,
        "sparse_fitness": 0.5,
        "screen_points": [{"ranking_score": 0.8, "fitness": 1.5}, {"ranking_score": -0.2, "fitness": 0.5}],
    }
    assert bench.normalized_screen_points(row) == [(0.8, 2.0), (-0.2, 0.0)]
    assert bench.normalized_screen_points({**row, "sparse_fitness": 1.0}) == []
