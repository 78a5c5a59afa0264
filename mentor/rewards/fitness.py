"""Task fitness: the ground-truth score a reward is judged by, and the sparse reward made of it.

A fitness is computed from episode outcomes (``info["episode_outcome"]``), never from the reward
being judged. Each fitness also gives the *sparse* reward of Eureka's human-normalised score:
training on the fitness signal itself, written as reward code of the one signature, so it runs
through the same sandbox as every candidate.

Names: ``forward_distance``, ``backward_distance`` (MuJoCo), ``success_rate`` (MiniGrid,
TextWorld), ``crafter_score`` and ``achievement:<name>`` (Crafter).

Example:
    >>> fitness = get_fitness("backward_distance")
    >>> fitness([{"x_position": -2.0}, {"x_position": -4.0}])
    3.0
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mentor.envs.crafter import CRAFTER_ACHIEVEMENTS
from mentor.errors import ConfigError, UnknownComponentError

__all__ = ["Fitness", "FITNESSES", "fitness_names", "get_fitness"]

Outcome = Mapping[str, Any]


@dataclass(frozen=True)
class Fitness:
    """A task's ground-truth score over episode outcomes.

    Attributes:
        name: registry name.
        description: what it measures, with units; shown in prompts and reports.
        families: env families it applies to.
        episode_value: one episode's value (the pre-ranking compares candidate returns against it).
        sparse_rewards: family -> reward code that pays the fitness signal itself.
        aggregate: value of a list of episodes; ``None`` means the mean of ``episode_value``.
    """

    name: str
    description: str
    families: tuple[str, ...]
    episode_value: Callable[[Outcome], float]
    sparse_rewards: Mapping[str, str]
    aggregate: Callable[[Sequence[Outcome]], float] | None = None

    def __call__(self, outcomes: Sequence[Outcome]) -> float:
        """The fitness of a list of episodes (0 for none)."""
        if not outcomes:
            return 0.0
        if self.aggregate is not None:
            return float(self.aggregate(outcomes))
        return float(np.mean([self.episode_value(o) for o in outcomes]))

    def sparse_reward(self, family: str) -> str:
        """The sparse reward code for an env of ``family``.

        Raises:
            ConfigError: the fitness does not apply to ``family``.
        """
        if family not in self.sparse_rewards:
            raise ConfigError(
                f"fitness {self.name!r} applies to {', '.join(self.families)} envs, not to a {family} env."
            )
        return self.sparse_rewards[family]


_PROGRESS = """def compute_reward(state, action, next_state):
    progress = {sign}(next_state.x_position - state.x_position)
    return progress, {{"progress": progress}}
"""

_GOAL_REACHED = """def compute_reward(state, action, next_state):
    reached = any(o.type == "goal" and o.position == next_state.agent_position for o in next_state.objects)
    success = 1.0 if reached else 0.0
    return success, {"success": success}
"""

_WON = """def compute_reward(state, action, next_state):
    success = 1.0 if next_state.won and not state.won else 0.0
    return success, {"success": success}
"""

_NEW_ACHIEVEMENTS = """def compute_reward(state, action, next_state):
    unlocked = sum(1.0 for name, count in next_state.achievements.items() if count > 0 and state.achievements[name] == 0)
    return unlocked, {"unlocked": unlocked}
"""

_ACHIEVEMENT = """def compute_reward(state, action, next_state):
    unlocked = 1.0 if next_state.achievements["{name}"] > 0 and state.achievements["{name}"] == 0 else 0.0
    return unlocked, {{"{name}": unlocked}}
"""


def _crafter_score(outcomes: Sequence[Outcome]) -> float:
    from mentor.evaluation.protocols import crafter_score_from_outcomes

    return crafter_score_from_outcomes(outcomes)[0]


#: The fixed fitnesses; ``achievement:<name>`` ones are built by :func:`get_fitness`.
FITNESSES: dict[str, Fitness] = {
    f.name: f
    for f in (
        Fitness(
            "forward_distance",
            "distance run forward: final x position (m)",
            ("mujoco",),
            lambda o: float(o["x_position"]),
            {"mujoco": _PROGRESS.format(sign="")},
        ),
        Fitness(
            "backward_distance",
            "distance run backwards: minus the final x position (m)",
            ("mujoco",),
            lambda o: -float(o["x_position"]),
            {"mujoco": _PROGRESS.format(sign="-")},
        ),
        Fitness(
            "success_rate",
            "share of episodes that complete the mission (0-1)",
            ("minigrid", "textworld"),
            lambda o: float(bool(o["success"])),
            {"minigrid": _GOAL_REACHED, "textworld": _WON},
        ),
        Fitness(
            "crafter_score",
            "Crafter score over the episodes (0-100; per episode: achievements unlocked)",
            ("crafter",),
            lambda o: float(len(o["achievements"])),
            {"crafter": _NEW_ACHIEVEMENTS},
            aggregate=_crafter_score,
        ),
    )
}


def fitness_names() -> list[str]:
    """Every fitness name, with ``achievement:<name>`` for each Crafter achievement."""
    return [*FITNESSES, *(f"achievement:{a}" for a in CRAFTER_ACHIEVEMENTS)]


def get_fitness(name: str) -> Fitness:
    """The fitness called ``name``.

    Raises:
        UnknownComponentError: no such fitness (the message lists them).
    """
    if name in FITNESSES:
        return FITNESSES[name]
    if name.startswith("achievement:") and name.split(":", 1)[1] in CRAFTER_ACHIEVEMENTS:
        achievement = name.split(":", 1)[1]
        return Fitness(
            name,
            f"share of episodes that unlock {achievement.replace('_', ' ')} (0-1)",
            ("crafter",),
            lambda o, a=achievement: float(a in o["achievements"]),
            {"crafter": _ACHIEVEMENT.format(name=achievement)},
        )
    raise UnknownComponentError("fitness", name, fitness_names())
