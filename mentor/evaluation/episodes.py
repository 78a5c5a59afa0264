"""Episode loops shared by every agent: evaluation on held-out seeds and budgeted training-style rollouts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

from mentor.runs import RunDir

__all__ = ["EVAL_SEED_OFFSET", "Policy", "run_eval_episodes", "run_lockstep_eval_episodes", "run_budget"]

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


def run_lockstep_eval_episodes(
    envs: Sequence[gym.Env],
    act: Callable[[list[int]], Sequence[Any]],
    n_episodes: int,
    seed_offset: int = EVAL_SEED_OFFSET,
) -> tuple[list[dict[str, Any]], int]:
    """Play ``n_episodes`` episodes (seeds ``seed_offset + i``) on ``envs`` in lockstep, for a batched policy.

    Each step, ``act(indices)`` gets the indices of the envs in an episode and returns their actions;
    an env whose episode ends starts the next unplayed one.

    Returns:
        Each ``episode_outcome`` in episode order, and the env steps taken.
    """
    owner: dict[int, int] = {}
    outcomes: dict[int, dict[str, Any]] = {}
    next_episode = steps = 0
    for i, env in enumerate(envs[:n_episodes]):
        env.reset(seed=seed_offset + next_episode)
        owner[i], next_episode = next_episode, next_episode + 1
    while owner:
        active = sorted(owner)
        for i, action in zip(active, act(active)):
            _, _, terminated, truncated, info = envs[i].step(action)
            steps += 1
            if terminated or truncated:
                outcomes[owner.pop(i)] = info.get("episode_outcome") or {}
                if next_episode < n_episodes:
                    envs[i].reset(seed=seed_offset + next_episode)
                    owner[i], next_episode = next_episode, next_episode + 1
    return [outcomes[e] for e in range(n_episodes)], steps


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
