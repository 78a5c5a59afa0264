"""Reward tasks: a text goal on an env, its fitness, and the human-written reward to compare against.

Tasks live in ``configs/reward_tasks.yaml`` (one mapping per task name). The human reward is code
of the one signature, run by the same sandbox as generated rewards; the sparse reward comes from
the fitness (:meth:`mentor.rewards.fitness.Fitness.sparse_reward`) unless a task gives its own.

Example:
    >>> task = get_reward_task("halfcheetah_backward")
    >>> task.env_id, task.fitness
    ('mentor/HalfCheetah-v5', 'backward_distance')
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor.config import DictConfig
from mentor.envs.registry import family_of
from mentor.errors import ConfigError, RewardCodeError, UnknownComponentError
from mentor.overrides import read_yaml
from mentor.paths import configs_root
from mentor.rewards.fitness import get_fitness
from mentor.rewards.gate import check_reward_code

__all__ = [
    "REWARD_ALGOS",
    "FAMILY_ALGOS",
    "RewardTask",
    "default_algo",
    "load_reward_tasks",
    "get_reward_task",
    "match_reward_task",
    "default_tasks_path",
]

#: SB3 algorithms rewards can train with, and the action spaces they handle.
REWARD_ALGOS: dict[str, tuple[str, ...]] = {
    "ppo": ("discrete", "continuous"),
    "a2c": ("discrete", "continuous"),
    "sac": ("continuous",),
    "dqn": ("discrete",),
}

#: The algorithm of a task that sets none, by env family (Text2Reward trains SAC on MuJoCo); others get PPO.
FAMILY_ALGOS: dict[str, str] = {"mujoco": "sac"}

#: Env families whose actions are continuous; the rest are discrete.
_CONTINUOUS_FAMILIES = ("mujoco",)


def default_algo(env_id: str) -> str:
    """The algorithm a task on ``env_id`` trains with when it sets none: ``sac`` on MuJoCo, ``ppo`` elsewhere.

    Example:
        >>> default_algo("mentor/HalfCheetah-v5"), default_algo("mentor/MiniGrid-DoorKey-5x5-v0")
        ('sac', 'ppo')
    """
    return FAMILY_ALGOS.get(family_of(env_id), "ppo")


@dataclass
class RewardTask(DictConfig):
    """What reward to write and how it is judged.

    Attributes:
        name: the task's key.
        env_id: mentor env id the reward is written for.
        description: the goal in words, as a user would type it.
        fitness: a fitness name (:func:`mentor.rewards.fitness.fitness_names`).
        details: optional extra sentences the prompt adds after the description.
        human_reward: human-written reward code to compare against; ``None``: no comparison.
        sparse_reward: reward code paying the fitness signal; ``None``: the fitness's own.
        algo: SB3 algorithm that trains every reward of the task (:data:`REWARD_ALGOS`); ``None``: the
            family's (:func:`default_algo`: ``sac`` on MuJoCo, ``ppo`` elsewhere).
        env_kwargs: keyword arguments for ``mentor.envs.make``.
        hyperparams: overrides of the zoo hyperparameters.
    """

    name: str
    env_id: str
    description: str
    fitness: str
    details: str = ""
    human_reward: str | None = None
    sparse_reward: str | None = None
    algo: str | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    hyperparams: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.description.strip():
            raise ConfigError(f"task {self.name!r}: description is empty; say what the agent should do.")
        family = family_of(self.env_id)
        fitness = get_fitness(self.fitness)
        if family not in fitness.families:
            raise ConfigError(
                f"task {self.name!r}: fitness {self.fitness!r} applies to {', '.join(fitness.families)} envs, "
                f"not to {self.env_id}."
            )
        if self.sparse_reward is None:
            self.sparse_reward = fitness.sparse_reward(family)
        if self.algo is None:
            self.algo = default_algo(self.env_id)
        if self.algo not in REWARD_ALGOS:
            raise UnknownComponentError("SB3 algorithm", self.algo, REWARD_ALGOS)
        actions = "continuous" if family in _CONTINUOUS_FAMILIES else "discrete"
        if actions not in REWARD_ALGOS[self.algo]:
            fitting = ", ".join(a for a, kinds in REWARD_ALGOS.items() if actions in kinds)
            raise ConfigError(
                f"task {self.name!r}: algo {self.algo!r} handles {' and '.join(REWARD_ALGOS[self.algo])} actions, "
                f"but {self.env_id} has {actions} ones; use one of {fitting}."
            )
        for kind in ("human_reward", "sparse_reward"):
            code = getattr(self, kind)
            if code is not None:
                try:
                    check_reward_code(code)
                except RewardCodeError as e:
                    raise ConfigError(f"task {self.name!r}: {kind} is rejected by the sandbox gate: {e}") from None

    @property
    def family(self) -> str:
        return family_of(self.env_id)

    @property
    def goal(self) -> str:
        """The description and details as the prompt shows them."""
        return f"{self.description.strip()}. {self.details.strip()}".strip().rstrip(".") + "."


def default_tasks_path() -> Path:
    return configs_root() / "reward_tasks.yaml"


def load_reward_tasks(path: Path | str | None = None) -> dict[str, RewardTask]:
    """Every task of a tasks file (default ``configs/reward_tasks.yaml``), by name."""
    path = Path(path) if path is not None else default_tasks_path()
    entries = read_yaml(path, "tasks file") or {}
    if not isinstance(entries, dict):
        raise ConfigError(f"{path} must map task names to task mappings.")
    return {name: RewardTask(name=name, **values) for name, values in entries.items()}


def get_reward_task(name: str, path: Path | str | None = None) -> RewardTask:
    """One task by name.

    Raises:
        UnknownComponentError: no task of that name (the message lists them).
    """
    tasks = load_reward_tasks(path)
    if name not in tasks:
        raise UnknownComponentError("reward task", name, tasks)
    return tasks[name]


def match_reward_task(
    description: str, env_id: str, path: Path | str | None = None, cutoff: float = 0.8
) -> RewardTask | None:
    """The task on ``env_id`` whose description matches ``description`` (case and punctuation aside), or ``None``."""

    def norm(text: str) -> str:
        return " ".join("".join(c if c.isalnum() else " " for c in text.lower()).split())

    wanted = norm(description)
    best, best_ratio = None, cutoff
    for task in load_reward_tasks(path).values():
        if task.env_id != env_id:
            continue
        ratio = difflib.SequenceMatcher(None, wanted, norm(task.description)).ratio()
        if ratio >= best_ratio:
            best, best_ratio = task, ratio
    return best
