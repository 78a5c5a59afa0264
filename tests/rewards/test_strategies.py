import pytest

from mentor.errors import ConfigError
from mentor.rewards.candidates import Candidate
from mentor.rewards.loop_config import MODES, RewardLoopConfig
from mentor.rewards.strategies import STRATEGIES, Eureka, Text2Reward, make_strategy


def _rejected() -> Candidate:
    return Candidate(label="iter-00/cand-00", iteration=0, index=0, response="no code", reason="no code block")


def test_the_config_takes_its_modes_and_defaults_from_the_strategies():
    assert MODES == tuple(STRATEGIES) == ("eureka", "text2reward")
    eureka, text2reward = RewardLoopConfig(mode="eureka"), RewardLoopConfig(mode="text2reward")
    assert (eureka.samples, eureka.temperature) == (Eureka.default_samples, Eureka.default_temperature) == (4, 0.7)
    assert (text2reward.samples, text2reward.temperature) == (1, 0.0)


def test_eureka_runs_every_iteration_and_asks_no_one(tmp_path):
    def source(summary: str) -> str:
        raise AssertionError("Eureka asked for human feedback")

    strategy = make_strategy("eureka", source)
    assert all(strategy.continues(i, None) for i in range(5))
    assert strategy.human_feedback(tmp_path, _rejected(), "success") is None
    assert not list(tmp_path.iterdir())


def test_text2reward_continues_only_while_a_person_comments_and_saves_each_comment(tmp_path):
    summaries: list[str] = []
    strategy = make_strategy("text2reward", lambda summary: summaries.append(summary) or "get the key first")
    assert isinstance(strategy, Text2Reward)
    assert strategy.continues(0, None) and not strategy.continues(1, None) and strategy.continues(1, "more")
    assert strategy.human_feedback(tmp_path, _rejected(), "success") == "get the key first"
    assert "The reward was rejected: no code block" in summaries[0]
    assert (tmp_path / "human_feedback.txt").read_text().strip() == "get the key first"
    assert make_strategy("text2reward").human_feedback(tmp_path, _rejected(), "success") == "get the key first"
    assert make_strategy("text2reward").human_feedback(tmp_path / "elsewhere", _rejected(), "success") is None


def test_an_unknown_mode_names_the_strategies():
    with pytest.raises(ConfigError, match=r"mode \('carl'\) must be one of eureka, text2reward"):
        make_strategy("carl")
