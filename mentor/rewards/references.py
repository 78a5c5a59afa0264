"""Reference episodes for pre-ranking: policies of graded competence on one task, recorded once and cached.

A reward's ranking score (:func:`mentor.rewards.rollouts.ranking_score`) is only as good as the
spread of fitness across the episodes it ranks. The references therefore hold a random policy,
snapshots of a policy trained on the human (else sparse) reward taken along its training, and its
final policy alone and with random actions mixed in; the other baseline's final policy joins them.

Example:
    >>> reference_snapshot_steps(20_000, 3)
    [5000, 10000, 15000]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mentor.paths import cache_root
from mentor.rewards.rollouts import Episode, random_action_mix, record_episodes
from mentor.rewards.tasks import RewardTask
from mentor.sb3.agent import SB3Agent
from mentor.sb3.hyperparams import make_env_wrapper

__all__ = ["reference_kind", "reference_snapshot_steps", "references_cache_path", "record_references"]


def reference_kind(task: RewardTask) -> str:
    """The baseline whose policies are the graded references: ``human`` when the task has a human reward, else ``sparse``."""
    return "human" if task.human_reward is not None else "sparse"


def reference_snapshot_steps(budget: int, count: int) -> list[int]:
    """``count`` env steps evenly inside a training of ``budget`` steps, where the reference policy is kept."""
    return sorted({max(1, round(budget * (i + 1) / (count + 1))) for i in range(count)})


def references_cache_path(task: RewardTask, setting: Mapping[str, Any]) -> Path:
    """The cache file of ``task``'s references under ``setting`` (every value they depend on)."""
    key = json.dumps({"task": task.to_dict(), **setting}, sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_root() / "reward_references" / f"{task.name}-{digest}.pkl"


def record_references(
    task: RewardTask,
    baseline_folders: Mapping[str, str],
    episodes: int,
    max_steps: int,
    epsilons: Sequence[float],
    seed: int,
) -> list[Episode]:
    """Play the references of ``task``: random, then the baselines' policies (see the module docstring).

    Args:
        task: the reward task (its env and fitness).
        baseline_folders: baseline kind (``human``, ``sparse``) -> the run folder of its finished
            seed-0 training; the :func:`reference_kind` one's snapshots are played too.
        episodes: episodes per policy.
        max_steps: most steps of an episode.
        epsilons: shares of random actions the final reference policy also plays with.
        seed: first seed; every policy plays its own seeds.
    """
    common = dict(env_kwargs=task.env_kwargs, max_episode_steps=max_steps, fitness=task.fitness)
    recorded = record_episodes(task.env_id, None, episodes, seed=seed + 20_000, **common)
    players: list[tuple[str, SB3Agent, float]] = []
    for kind, folder in baseline_folders.items():
        final = SB3Agent.load(folder)
        if kind == reference_kind(task):
            players += [(f"{kind}/step-{n}", SB3Agent.load(folder, snapshot=n), 0.0) for n in final.snapshots()]
            players += [(f"{kind}/final+random-{e:g}", final, e) for e in epsilons if e > 0]
        players.append((f"{kind}/final", final, 0.0))
    for i, (source, agent, epsilon) in enumerate(players):
        policy = lambda obs, env, agent=agent: agent.predict(obs, deterministic=False)  # noqa: E731
        if epsilon > 0:
            policy = random_action_mix(policy, epsilon, seed=seed + i)
        recorded += record_episodes(
            task.env_id,
            policy,
            episodes,
            seed=seed + 30_000 + 100 * i,
            wrapper=make_env_wrapper(agent.config.resolved_hyperparams.get("env_wrapper")),
            source=source,
            **common,
        )
    return recorded
