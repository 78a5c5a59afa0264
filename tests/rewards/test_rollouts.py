"""Recorded episodes, ranking scores and pre-ranking."""

from __future__ import annotations

import numpy as np
import pytest

from mentor.envs import make as make_env
from mentor.errors import RewardCodeError
from mentor.rewards.rollouts import (
    Episode,
    load_episodes,
    plain_action,
    prerank_reward,
    random_action_mix,
    ranking_score,
    record_episodes,
    record_random_steps,
    save_episodes,
    screen_reward,
)
from mentor.rewards.tasks import get_reward_task


@pytest.fixture(scope="module")
def cheetah_episodes():
    return record_episodes("mentor/HalfCheetah-v5", None, 4, seed=0, max_episode_steps=40, fitness="forward_distance")


def test_record_episodes_keeps_transitions_and_fitness(cheetah_episodes):
    assert [len(e.transitions) for e in cheetah_episodes] == [40] * 4
    for e in cheetah_episodes:
        state, action, nxt = e.transitions[-1]
        assert e.fitness == pytest.approx(nxt.x_position) == pytest.approx(e.outcome["x_position"])
        assert isinstance(action, np.ndarray) and action.shape == (6,)
        assert e.transitions[1][0] is e.transitions[0][2]
    assert len({round(e.fitness, 6) for e in cheetah_episodes}) == 4


def test_a_policy_and_a_wrapper_can_drive_the_recording():
    seen = []

    def forward(obs, env):
        seen.append(obs.shape)
        return 2

    import minigrid.wrappers

    episodes = record_episodes(
        "mentor/MiniGrid-DoorKey-5x5-v0",
        forward,
        1,
        0,
        max_episode_steps=3,
        wrapper=minigrid.wrappers.FlatObsWrapper,
        source="fwd",
    )
    assert episodes[0].source == "fwd" and [a for _, a, _ in episodes[0].transitions] == [2, 2, 2]
    assert len(seen[0]) == 1 and isinstance(episodes[0].transitions[0][1], int)


def test_record_random_steps_fills_the_count_over_consecutive_seeds():
    episodes = record_random_steps("mentor/MiniGrid-DoorKey-5x5-v0", 300, seed=7)
    assert sum(len(e.transitions) for e in episodes) == 300
    assert len(episodes) > 1 and all(e.source == "random" for e in episodes)
    first = record_episodes("mentor/MiniGrid-DoorKey-5x5-v0", None, 1, seed=7)[0]
    assert [t[1] for t in episodes[0].transitions] == [t[1] for t in first.transitions]


def test_save_and_load(tmp_path, cheetah_episodes):
    path = save_episodes(cheetah_episodes[:1], tmp_path / "e.pkl")
    (loaded,) = load_episodes(path)
    assert loaded.fitness == cheetah_episodes[0].fitness and len(loaded.transitions) == 40


def test_plain_action():
    assert plain_action(np.int64(3)) == 3 and type(plain_action(np.int64(3))) is int
    assert plain_action(np.array(2)) == 2 and plain_action("look") == "look"
    a = np.ones(2)
    assert plain_action(a) is not a


@pytest.mark.parametrize(
    ("returns", "fitness", "expected"),
    [
        ([1, 2, 3], [0, 1, 2], 1.0),
        ([3, 2, 1], [0, 1, 2], -1.0),
        ([1, 1, 1], [0, 1, 2], 0.0),
        ([1, 2, 3], [0.0, 1.0, 0.5], 0.5),
        ([1, 1, 2, 2], [0, 0, 1, 1], 1.0),
        ([1 + 1e-15, 1, 2], [0, 0, 1], 1.0),
        ([1, 2], [1, 1], None),
    ],
)
def test_ranking_score_on_hand_made_returns(returns, fitness, expected):
    assert ranking_score(returns, fitness) == (pytest.approx(expected) if expected is not None else None)


def test_ranking_score_is_one_for_the_fitness_and_minus_one_for_its_negation():
    fitness = list(np.random.default_rng(0).normal(size=20))
    assert ranking_score(fitness, fitness) == pytest.approx(1.0)
    assert ranking_score([-f for f in fitness], fitness) == pytest.approx(-1.0)
    assert ranking_score([3 * f + 1 for f in fitness], fitness) == pytest.approx(1.0)


def test_random_action_mix_replaces_the_share_of_actions_it_is_given():
    env = make_env("mentor/MiniGrid-DoorKey-5x5-v0")
    env.action_space.seed(0)
    for epsilon, low, high in ((0.0, 0, 0), (1.0, 1000, 1000), (0.5, 450, 550)):
        mixed = random_action_mix(lambda obs, env: 99, epsilon, seed=1)
        replaced = sum(mixed(None, env) != 99 for _ in range(1000))
        assert low <= replaced <= high, (epsilon, replaced)
    with pytest.raises(ValueError, match=r"epsilon \(1.5\) must be in \[0, 1\]"):
        random_action_mix(lambda obs, env: 0, 1.5, seed=0)


def test_prerank_orders_forward_and_backward_rewards(cheetah_episodes):
    forward = get_reward_task("halfcheetah_forward").sparse_reward
    backward = get_reward_task("halfcheetah_backward").sparse_reward
    good, bad = prerank_reward(forward, cheetah_episodes), prerank_reward(backward, cheetah_episodes)
    # returns are displacements, the fitness is the final x (reset noise aside, the same order)
    assert good.ranking > 0.5 and bad.ranking == pytest.approx(-good.ranking)
    assert bad.returns == pytest.approx([-r for r in good.returns])
    assert good.returns == pytest.approx([e.fitness - e.transitions[0][0].x_position for e in cheetah_episodes])


def test_prerank_raises_for_a_failing_reward(cheetah_episodes):
    code = "def compute_reward(state, action, next_state):\n    return 1 / 0, {}\n"
    with pytest.raises(RewardCodeError, match="ZeroDivisionError"):
        prerank_reward(code, cheetah_episodes)


def test_screen_gates_once_and_validates_and_preranks_in_one_sandbox_session(cheetah_episodes, monkeypatch):
    import mentor.rewards.sandbox as sandbox_module

    gates, starts = [], []
    check, start = sandbox_module.check_reward_code, sandbox_module.RewardSandbox.start
    monkeypatch.setattr(sandbox_module, "check_reward_code", lambda code: gates.append(1) or check(code))
    monkeypatch.setattr(
        sandbox_module.RewardSandbox, "start", lambda self: (self._proc is None and starts.append(1)) or start(self)
    )
    forward = get_reward_task("halfcheetah_forward").sparse_reward
    validation = cheetah_episodes[0].transitions[:5]
    result = screen_reward(forward, validation, cheetah_episodes)
    assert result.stage == "prerank" and result.reason is None
    assert result.prerank.ranking == pytest.approx(prerank_reward(forward, cheetah_episodes).ranking)
    assert (len(gates), len(starts)) == (2, 2)  # one gate and one process for the screen, then prerank_reward's


@pytest.mark.parametrize(
    ("code", "stage", "reason"),
    [
        ("import os\ndef compute_reward(state, action, next_state):\n    return 0.0, {}\n", "gate", "import"),
        ("def compute_reward(state, action, next_state):\n    return 1 / 0, {}\n", "validation", "recorded"),
    ],
)
def test_screen_says_where_the_code_stopped(cheetah_episodes, code, stage, reason):
    result = screen_reward(code, cheetah_episodes[0].transitions[:5], cheetah_episodes)
    assert result.stage == stage and reason in result.reason and result.prerank is None


def test_episode_defaults():
    assert Episode([], {}).source == "random" and Episode([], {}).fitness is None
