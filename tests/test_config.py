"""mentor.config.DictConfig: every config round-trips through config.yaml's plain dicts, and a wrong key is named."""

from __future__ import annotations

import pytest
import yaml

from mentor.agents.hierarchical import HierarchicalConfig
from mentor.agents.llm_ppo_config import FinetuneConfig
from mentor.agents.reward_writer import RewardWriterConfig
from mentor.benchmarks.runner import BenchmarkConfig
from mentor.config import DictConfig
from mentor.errors import ConfigError
from mentor.executors import ExecutorConfig
from mentor.planners.sb3_high_level import SB3HighLevelConfig
from mentor.rewards.loop_config import RewardLoopConfig
from mentor.rewards.tasks import get_reward_task
from mentor.sb3.agent import SB3Config
from mentor.skills.zoo import SkillZooConfig

CONFIGS = [
    SB3Config("mentor/MiniGrid-DoorKey-5x5-v0", rollout_executor=ExecutorConfig(kind="sequential")),
    SkillZooConfig(["mentor/MiniGrid-KeyCorridorS3R3-v0"], total_timesteps=2048),
    SB3HighLevelConfig("mentor/MiniGrid-KeyCorridorS3R3-v0", algo="a2c"),
    HierarchicalConfig("mentor/MiniGrid-KeyCorridorS3R3-v0", planner="saycan"),
    FinetuneConfig(actions=("go forward", "turn left")),
    BenchmarkConfig("minigrid", ["random"], executor=ExecutorConfig(kind="sequential")),
    RewardLoopConfig(mode="text2reward"),
    RewardWriterConfig(heldout_tasks=["walker_walk", "crafter_place_table"]),
    get_reward_task("doorkey"),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_each_config_round_trips_through_yaml(config):
    assert isinstance(config, DictConfig)
    data = yaml.safe_load(yaml.safe_dump(config.to_dict()))
    assert type(config).from_dict(data) == config


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: type(c).__name__)
def test_an_unknown_key_is_named_with_the_known_ones(config):
    cls = type(config)
    with pytest.raises(ConfigError, match=rf"unknown {cls.__name__} key\(s\) bogus_key; known: .*"):
        cls.from_dict({**config.to_dict(), "bogus_key": 1})


def test_derived_fields_are_written_for_the_record_and_recomputed_on_load():
    config = SB3Config("mentor/MiniGrid-DoorKey-5x5-v0", algo="ppo")
    data = config.to_dict()
    assert data["resolved_hyperparams"] == config.resolved_hyperparams != {}
    data["resolved_hyperparams"] = {"n_envs": 999}
    assert SB3Config.from_dict(data).resolved_hyperparams == config.resolved_hyperparams
