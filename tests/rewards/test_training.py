"""Training on reward code: the job, its statistics and curve, failures during training, and learning."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from mentor.errors import ConfigError
from mentor.rewards.training import (
    RESULT_FILE,
    RewardTrainJob,
    RewardTrainResult,
    component_statistics,
    load_result,
    train_reward_job,
)

DOORKEY = "mentor/MiniGrid-DoorKey-5x5-v0"
TINY = {"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1}
TIME_COST = "def compute_reward(state, action, next_state):\n    return -0.01, {'time': -0.01}\n"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def job(tmp_path, code: str = TIME_COST, **kwargs) -> RewardTrainJob:
    fields = dict(
        label="test",
        folder=str(tmp_path / "job"),
        env_id=DOORKEY,
        reward_code=code,
        fitness="success_rate",
        total_timesteps=256,
        hyperparams=TINY,
        env_kwargs={"max_steps": 20},
        eval_episodes=2,
        num_points=4,
    )
    return RewardTrainJob(**{**fields, **kwargs})


def test_component_statistics_by_window():
    episodes = [
        {"step": 10, "length": 5, "success": False, "reward": {"total": 1.0, "components": {"a": 1.0}}},
        {"step": 20, "length": 7, "success": True, "reward": {"total": 3.0, "components": {"a": 3.0}}},
        {"step": 95, "length": 9, "success": True, "return": 1.0},
        {"step": 130, "length": 4, "success": False, "reward": {"total": -1.0, "components": {"a": -1.0}}},
    ]
    for e in episodes:
        e.setdefault("return", 0.0)
    stats, curve = component_statistics(episodes, "success_rate", budget=100, num_points=4)
    assert [p["step"] for p in stats["fitness"]] == [25, 100]
    assert stats["a"][0] == {"step": 25, "mean": 2.0, "min": 1.0, "max": 3.0, "episodes": 2}
    assert stats["a"][1]["mean"] == -1.0 and stats["fitness"][1]["mean"] == 0.5
    assert stats["episode_length"][0]["mean"] == 6.0
    assert curve[0]["fitness"] == 0.5 and curve[0]["reward_return"] == 2.0 and curve[1]["episodes"] == 2


def test_a_job_trains_evaluates_and_leaves_its_result(tmp_path):
    j = job(tmp_path)
    pickle.dumps(j)
    result = train_reward_job(j)
    assert result.ok and result.error is None and result.steps >= 256
    assert (
        result.fitness == 0.0 and result.evaluation["episodes"] == 2 and len(result.evaluation["episode_fitness"]) == 2
    )
    assert {"time", "fitness", "episode_length"} <= set(result.component_stats)
    assert result.component_stats["time"][0]["mean"] == pytest.approx(-0.2)
    assert result.sandbox["calls"] == result.steps // 2 and 0 < result.sandbox["share_of_training"] < 1
    assert (tmp_path / "job" / RESULT_FILE).exists() and (tmp_path / "job" / "model.zip").exists()
    assert load_result(tmp_path / "job") == RewardTrainResult.from_dict(result.to_dict())
    assert load_result(tmp_path / "nothing") is None


def test_a_reward_failing_during_training_ends_the_job_with_its_reason(tmp_path):
    code = (
        "def compute_reward(state, action, next_state):\n"
        "    if next_state.step_count > 15:\n"
        "        return float('nan'), {}\n"
        "    return 0.0, {}\n"
    )
    result = train_reward_job(job(tmp_path, code))
    assert not result.ok and result.fitness is None
    assert result.error.startswith("failed during training at step ") and "the total is nan" in result.error
    assert load_result(tmp_path / "job").error == result.error


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"total_timesteps": 0}, r"total_timesteps \(0\) must be at least 1"),
        ({"eval_episodes": 0}, r"eval_episodes \(0\) must be at least 1 to measure the fitness"),
        ({"num_points": 0}, r"num_points \(0\) must be at least 1"),
    ],
)
def test_job_validation(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        job(tmp_path, **kwargs)


@pytest.mark.slow
def test_the_rewarded_behaviour_becomes_likelier(tmp_path):
    """Rewarding one action (turn right) through the sandbox makes the policy choose it far more often."""
    from mentor.sb3.agent import SB3Agent

    code = "def compute_reward(state, action, next_state):\n    r = 1.0 if action == 1 else 0.0\n    return r, {'turn_right': r}\n"
    hyper = {"n_envs": 4, "n_steps": 64, "batch_size": 64, "n_epochs": 4, "learning_rate": 3e-3}
    result = train_reward_job(job(tmp_path, code, total_timesteps=3072, hyperparams=hyper))
    assert result.ok
    stats = result.component_stats["turn_right"]
    assert stats[-1]["mean"] > 2 * stats[0]["mean"]
    agent = SB3Agent.load(tmp_path / "job")
    env = agent.make_eval_env()
    obs, _ = env.reset(seed=5)
    actions = [int(agent.predict(obs, deterministic=False)) for _ in range(200)]
    assert np.mean(np.array(actions) == 1) > 0.5
