"""Rewards: env state abstractions, the reward-code sandbox, and the Eureka / Text2Reward loop.

- :mod:`~mentor.rewards.state`: what reward code reads (one dataclass per env family), described to the LLM;
- :mod:`~mentor.rewards.gate` and :mod:`~mentor.rewards.sandbox`: generated code is gated, then run
  only in a separate, limited process;
- :mod:`~mentor.rewards.wrappers`: ``ReplaceReward`` puts a reward into a training env;
- :mod:`~mentor.rewards.fitness` and :mod:`~mentor.rewards.tasks`: ground truth and the task suite;
- :mod:`~mentor.rewards.rollouts`: recorded episodes, validation and pre-ranking;
- :mod:`~mentor.rewards.references`: the pre-ranking reference episodes, recorded once and cached;
- :mod:`~mentor.rewards.candidates`: a candidate and its verdict, the screen, the screen's statistics;
- :mod:`~mentor.rewards.training`, :mod:`~mentor.rewards.prompts`, :mod:`~mentor.rewards.loop`:
  the loop itself, with its settings in :mod:`~mentor.rewards.loop_config`;
  :mod:`~mentor.rewards.report`: its plots and report.

Names are imported lazily, so ``import mentor.rewards`` (and the CLI) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MuJoCoState": "state",
    "MiniGridState": "state",
    "GridObject": "state",
    "CrafterState": "state",
    "TextWorldState": "state",
    "STATE_READERS": "state",
    "read_state": "state",
    "describe_state": "state",
    "to_namespace": "state",
    "check_reward_code": "gate",
    "SandboxConfig": "sandbox",
    "RewardSandbox": "sandbox",
    "validate_reward_code": "sandbox",
    "ReplaceReward": "wrappers",
    "Fitness": "fitness",
    "get_fitness": "fitness",
    "fitness_names": "fitness",
    "RewardTask": "tasks",
    "load_reward_tasks": "tasks",
    "get_reward_task": "tasks",
    "match_reward_task": "tasks",
    "default_algo": "tasks",
    "Episode": "rollouts",
    "record_episodes": "rollouts",
    "ranking_score": "rollouts",
    "random_action_mix": "rollouts",
    "prerank_reward": "rollouts",
    "RewardTrainJob": "training",
    "RewardTrainResult": "training",
    "train_reward_job": "training",
    "extract_code": "prompts",
    "initial_messages": "prompts",
    "reflection": "prompts",
    "FileFeedback": "feedback",
    "PromptFeedback": "feedback",
    "RewardLoopConfig": "loop_config",
    "RewardLoop": "loop",
    "RewardLoopResult": "loop_config",
    "human_normalized_score": "loop",
    "render_reward_report": "report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mentor.rewards' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"mentor.rewards.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
