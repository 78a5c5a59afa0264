"""Fitness: ground truth from episode outcomes, and the sparse rewards made of it."""

from __future__ import annotations

import pytest

from mentor.errors import ConfigError, UnknownComponentError
from mentor.rewards.fitness import fitness_names, get_fitness


def test_distances():
    outcomes = [{"x_position": 2.0}, {"x_position": -1.0}]
    assert get_fitness("forward_distance")(outcomes) == 0.5
    assert get_fitness("backward_distance")(outcomes) == -0.5
    assert get_fitness("forward_distance")([]) == 0.0


def test_success_and_achievements():
    outcomes = [{"success": True, "achievements": ["collect_wood"]}, {"success": False, "achievements": []}]
    assert get_fitness("success_rate")(outcomes) == 0.5
    wood = get_fitness("achievement:collect_wood")
    assert wood(outcomes) == 0.5 and [wood.episode_value(o) for o in outcomes] == [1.0, 0.0]
    assert "collect wood" in wood.description and '"collect_wood"' in wood.sparse_reward("crafter")


def test_crafter_score_uses_the_protocol():
    outcomes = [{"achievements": ["collect_wood"]}, {"achievements": []}]
    score = get_fitness("crafter_score")
    assert 0 < score(outcomes) < 100 and score.episode_value(outcomes[0]) == 1.0


def test_sparse_rewards_per_family():
    assert 'o.type == "goal"' in get_fitness("success_rate").sparse_reward("minigrid")
    assert "next_state.won" in get_fitness("success_rate").sparse_reward("textworld")
    with pytest.raises(
        ConfigError, match=r"fitness 'success_rate' applies to minigrid, textworld envs, not to a crafter env"
    ):
        get_fitness("success_rate").sparse_reward("crafter")


def test_names_and_misses():
    names = fitness_names()
    assert "achievement:place_table" in names and "forward_distance" in names
    with pytest.raises(UnknownComponentError, match=r"Unknown fitness 'achievement:fly'"):
        get_fitness("achievement:fly")
