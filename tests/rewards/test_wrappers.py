"""The reward wrappers: per-step replacement, and batched replacement over a vectorised env."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from minigrid.wrappers import FlatObsWrapper
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

import mentor.envs
from mentor.rewards.sandbox import RewardSandbox
from mentor.rewards.wrappers import RecordRewardTransition, ReplaceReward, ReplaceVecReward

DOORKEY = "mentor/MiniGrid-DoorKey-5x5-v0"


def step_reward(state, action, next_state):
    time_cost = -0.01
    turned = 0.1 if next_state.agent_direction != state.agent_direction else 0.0
    return time_cost + turned, {"time": time_cost, "turn": turned}


def test_replace_reward_per_step_with_episode_sums():
    env = ReplaceReward(mentor.envs.make(DOORKEY, max_episode_steps=5), step_reward)
    env.reset(seed=0)
    totals = []
    for action in (0, 0, 2, 1, 2):
        _, reward, terminated, truncated, info = env.step(action)
        totals.append(reward)
        assert info["env_reward"] == 0.0 and set(info["reward_components"]) == {"time", "turn"}
    assert truncated and totals == pytest.approx([0.09, 0.09, -0.01, 0.09, -0.01])
    sums = info["episode_outcome"]["reward"]
    assert sums["total"] == pytest.approx(sum(totals)) and sums["components"]["turn"] == pytest.approx(0.3)
    env.reset(seed=1)
    _, _, _, _, info = env.step(0)
    assert "episode_outcome" not in info


def make_venv(n_envs: int, max_steps: int = 4):
    return make_vec_env(
        functools.partial(mentor.envs.make, DOORKEY, max_episode_steps=max_steps),
        n_envs=n_envs,
        seed=0,
        wrapper_class=lambda env: FlatObsWrapper(RecordRewardTransition(env)),
        vec_env_cls=DummyVecEnv,
    )


def test_vec_reward_evaluates_a_batch_per_vector_step():
    calls = []

    class Batched:
        def evaluate(self, transitions):
            calls.append(len(transitions))
            return [step_reward(*t) for t in transitions]

    venv = ReplaceVecReward(make_venv(3), Batched())
    venv.reset()
    for _ in range(4):
        _, rewards, dones, infos = venv.step(np.array([0, 2, 1]))
        assert rewards.dtype == np.float32 and rewards.tolist() == pytest.approx([0.09, -0.01, 0.09])
    assert calls == [3] * 4 and dones.all()
    for info in infos:
        assert "reward_transition" not in info and "reward" in info["episode_outcome"]
    assert infos[0]["episode_outcome"]["reward"]["components"]["turn"] == pytest.approx(0.4)


def test_vec_reward_keeps_terminal_transitions():
    seen = []

    def record(state, action, next_state):
        seen.append(next_state.step_count)
        return 0.0, {}

    venv = ReplaceVecReward(make_venv(1, max_steps=2), record)
    venv.reset()
    for _ in range(3):
        venv.step(np.array([0]))
    assert seen == [1, 2, 1]


def test_vec_reward_with_a_sandbox():
    code = "def compute_reward(state, action, next_state):\n    return float(action), {'action': float(action)}\n"
    with RewardSandbox(code) as sandbox:
        venv = ReplaceVecReward(make_venv(2), sandbox)
        venv.reset()
        _, rewards, _, infos = venv.step(np.array([1, 4]))
        assert rewards.tolist() == [1.0, 4.0] and infos[1]["reward_components"] == {"action": 4.0}
        assert sandbox.stats.calls == 1 and sandbox.stats.transitions == 2
