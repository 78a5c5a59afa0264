"""Episode loops shared by every agent: evaluation on held-out seeds and budgeted training-style rollouts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from mentor.runs import RunDir

__all__ = ["EVAL_SEED_OFFSET", "Policy", "run_eval_episodes", "run_budget"]

#: Evaluation episodes use seeds from here on; training seeds stay far below, so eval seeds are held out.
EVAL_SEED_OFFSET = 1_000_000

#: ``policy(obs, env) -> action``; the env is passed so text agents can read its text view.
Policy = Callable[[Any, gym.Env], Any]


def run_eval_episodes(
    env: gym.Env, policy: Policy, n_episodes: int, seed_offset: int = EVAL_SEED_OFFSET
) -> list[dict[str, Any]]:
    """Play ``n_episodes`` episodes with seeds ``seed_offset + i``; return each ``episode_outcome``."""
    outcomes = []
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed_offset + i)
        while True:
            obs, _, terminated, truncated, info = env.step(policy(obs, env))
            if terminated or truncated:
                outcomes.append(info["episode_outcome"])
                break
    return outcomes


def run_budget(env: gym.Env, policy: Policy, budget: int, seed: int, run: RunDir) -> int:
    """Act for ``budget`` env steps (episodes seeded from ``seed``), logging each finished episode to ``run``.

    Returns:
        The env steps taken (``budget``).
    """
    obs, _ = env.reset(seed=seed)
    for step in range(1, budget + 1):
        obs, _, terminated, truncated, info = env.step(policy(obs, env))
        if terminated or truncated:
            run.append_metrics({"kind": "episode", "step": step, **info["episode_outcome"]})
            obs, _ = env.reset()
    return budget
