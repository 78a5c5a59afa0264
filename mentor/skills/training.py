"""The goal-conditioned skill MDP that skill models are trained in.

:class:`TrainSkills` is a gymnasium env over one or more mentor env ids. Each of its episodes is
one run of one skill: ``reset`` samples a feasible skill (a kind uniformly, then a target among the
objects present) and ``step`` pays :func:`~mentor.skills.library.skill_success_reward` when the
skill's predicate holds. The underlying episode carries on across skill episodes until it ends, so
skills chain naturally (a key picked up makes "open the locked door" feasible) without touching the
simulator. A share of skill episodes runs a skill that is available but infeasible now (a locked door
without its key); it ends, unrewarded, after a few steps, so the value function (SayCan's
affordance) learns that such skills fail. An action the skill fixes itself
(:meth:`~mentor.skills.library.SkillLibrary.scripted_action`, e.g. Crafter's ``do`` on the tree in
front) replaces the model's, as it does when the options env runs the skill. ``info["episode_outcome"]`` is passed through when the underlying episode ends, so
:class:`~mentor.sb3.callbacks.LogEpisodeOutcomes` logs the env's own episodes (the Crafter
protocol counts them); ``info["skill_outcome"]`` reports each skill episode.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from mentor.envs import make as make_env
from mentor.errors import ConfigError
from mentor.skills.library import SkillContext, SkillLibrary, make_skill_library, skill_success_reward

__all__ = ["SKILL_SAMPLINGS", "TrainSkills", "check_skill_sampling"]

#: How :class:`TrainSkills` draws the skill of a skill episode.
SKILL_SAMPLINGS: tuple[str, ...] = ("uniform", "priority")

_MAX_GOAL_TRIES = 50
_MAX_SEED = 2**31 - 1


def check_skill_sampling(value: str) -> str:
    """``value`` if it names one of :data:`SKILL_SAMPLINGS`, else a :class:`ConfigError` listing them."""
    if value not in SKILL_SAMPLINGS:
        raise ConfigError(f"skill_sampling ({value!r}) must be one of {', '.join(map(repr, SKILL_SAMPLINGS))}.")
    return value


class TrainSkills(gym.Env):
    """Goal-conditioned skill training env.

    Args:
        env_ids: mentor env ids of one family; each underlying episode picks one at random.
        seed: seed of the env choice, the goal sampling and the underlying episodes.
        kinds: train only these kinds of skill (``None``: all of the library's).
        env_kwargs: keyword arguments for ``gym.make`` of every id.
        infeasible_share: probability that a skill episode runs an available but infeasible skill.
        infeasible_steps: steps after which such an episode ends.
        skill_sampling: how a skill episode's skill is drawn among the feasible ones: ``"uniform"``
            (a kind uniformly, then a skill of that kind) or ``"priority"`` (in proportion to
            :meth:`~mentor.skills.library.SkillLibrary.priority`, e.g. Crafter's survival first,
            then new achievements: the training episodes then climb the tech tree).
        survival_interrupts: truncate a skill episode as soon as the library names another skill as
            urgent (:meth:`~mentor.skills.library.SkillLibrary.urgent`), and run that one next, as the
            options env does with ``survival_interrupts``.
        seed_range: ``(low, high)``: the underlying episodes' env seeds are drawn from ``[low, high)``.
        held_out_seeds: ``(low, high)``: seeds in ``[low, high)`` are never played (drawn again);
            ``None``: none. The skill zoo holds out the evaluation seeds while it trains
            (:data:`~mentor.skills.zoo.HELD_OUT_SEEDS`).

    Example:
        >>> env = TrainSkills(["mentor/BabyAI-UnlockPickup-v0"])
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape == env.observation_space.shape and "skill" in info
        True
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        env_ids: Sequence[str],
        seed: int = 0,
        kinds: Sequence[str] | None = None,
        env_kwargs: dict[str, Any] | None = None,
        infeasible_share: float = 0.2,
        infeasible_steps: int = 8,
        skill_sampling: str = "uniform",
        survival_interrupts: bool = False,
        seed_range: tuple[int, int] = (0, _MAX_SEED),
        held_out_seeds: tuple[int, int] | None = None,
    ):
        if not env_ids:
            raise ConfigError("TrainSkills needs at least one env id.")
        if not 0.0 <= infeasible_share < 1.0:
            raise ConfigError(f"infeasible_share ({infeasible_share}) must lie in [0, 1).")
        if infeasible_steps < 1:
            raise ConfigError(f"infeasible_steps ({infeasible_steps}) must be at least 1.")
        self.skill_sampling = check_skill_sampling(skill_sampling)
        self.survival_interrupts = survival_interrupts
        self._next_skill: Any = None
        low, high = seed_range
        if not 0 <= low < high <= _MAX_SEED:
            raise ConfigError(f"seed_range ({low}, {high}) must satisfy 0 <= low < high <= {_MAX_SEED}.")
        if held_out_seeds is not None and held_out_seeds[0] <= low and high <= held_out_seeds[1]:
            raise ConfigError(f"held_out_seeds {tuple(held_out_seeds)} cover all of seed_range ({low}, {high}).")
        self.seed_range = (int(low), int(high))
        self.held_out_seeds = tuple(held_out_seeds) if held_out_seeds is not None else None
        self.env_ids = list(env_ids)
        self.envs = [make_env(env_id, **(env_kwargs or {})) for env_id in self.env_ids]
        self.libraries: list[SkillLibrary] = [make_skill_library(e, i) for e, i in zip(self.envs, self.env_ids)]
        families = {lib.family for lib in self.libraries}
        if len(families) > 1:
            raise ConfigError(f"TrainSkills env ids must share one family; got {sorted(families)}.")
        all_kinds = self.libraries[0].kinds
        self.kinds = tuple(kinds) if kinds else all_kinds
        unknown = [k for k in self.kinds if k not in all_kinds]
        if unknown:
            raise ConfigError(f"kinds {unknown} are not skill kinds of {self.family}; choose from {list(all_kinds)}.")
        self.observation_space = self.libraries[0].observation_space
        self.action_space = self.envs[0].action_space
        self.infeasible_share = infeasible_share
        self.infeasible_steps = infeasible_steps
        self._infeasible = False
        self._rng = np.random.default_rng(seed)
        self._index = 0
        self._obs: Any = None
        self._base_done = True
        self._ctx: SkillContext | None = None

    @property
    def family(self) -> str:
        return self.libraries[0].family

    @property
    def library(self) -> SkillLibrary:
        """The library of the env being played now."""
        return self.libraries[self._index]

    def _draw_seed(self) -> int:
        """An env seed from ``seed_range``, outside ``held_out_seeds``."""
        while True:
            seed = int(self._rng.integers(*self.seed_range))
            if self.held_out_seeds is None or not self.held_out_seeds[0] <= seed < self.held_out_seeds[1]:
                return seed

    def _new_base_episode(self) -> None:
        self._index = int(self._rng.integers(len(self.envs)))
        self._obs, info = self.envs[self._index].reset(seed=self._draw_seed())
        self.library.reset(self._obs, info)
        self._base_done = False

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self._base_done = True
        for _ in range(_MAX_GOAL_TRIES):
            if self._base_done:
                self._new_base_episode()
            skill = self._sample()
            ctx = self.library.begin(skill) if skill is not None else None
            if ctx is not None:
                self._ctx = ctx
                return self.library.features(ctx, self._obs), {"skill": skill.name}
            self._base_done = True
        raise RuntimeError(
            f"no feasible skill of kinds {list(self.kinds)} in {_MAX_GOAL_TRIES} fresh episodes of {self.env_ids}."
        )

    def _sample(self) -> Any:
        lib = self.library
        urgent, self._next_skill = self._next_skill, None
        if urgent is not None and urgent.name in {s.name for s in lib.feasible()}:
            self._infeasible = False
            return urgent
        feasible = [s for s in lib.feasible() if s.kind in self.kinds]
        self._infeasible = False
        if self.infeasible_share and self._rng.random() < self.infeasible_share:
            names = {s.name for s in feasible}
            infeasible = [s for s in lib.available() if s.kind in self.kinds and s.name not in names]
            if infeasible:
                self._infeasible = True
                return infeasible[self._rng.integers(len(infeasible))]
        skills = feasible
        if not skills:
            return None
        if self.skill_sampling == "priority":
            weights = np.array([lib.priority(s) for s in skills], float)
            return skills[self._rng.choice(len(skills), p=weights / weights.sum())]
        kinds = sorted({s.kind for s in skills}, key=lib.kinds.index)
        kind = kinds[self._rng.integers(len(kinds))]
        of_kind = [s for s in skills if s.kind == kind]
        return of_kind[self._rng.integers(len(of_kind))]

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        ctx, lib = self._ctx, self.library
        scripted = lib.scripted_action(ctx)
        if scripted is not None:
            action = scripted
        self._obs, _, base_terminated, base_truncated, info = self.envs[self._index].step(action)
        lib.update(self._obs, info)
        ctx.steps += 1
        success = bool(lib.succeeded(ctx, info))
        reward = skill_success_reward(ctx.steps, ctx.skill.max_steps) if success else 0.0
        given_up = self._infeasible and ctx.steps >= self.infeasible_steps
        terminated = success or base_terminated or given_up
        truncated = not terminated and (base_truncated or ctx.steps >= ctx.skill.max_steps)
        self._base_done = base_terminated or base_truncated
        interrupted = False
        if self.survival_interrupts and not (terminated or truncated or self._infeasible):
            urgent = lib.urgent()
            if urgent is not None and urgent.name != ctx.skill.name:
                truncated = interrupted = True
                self._next_skill = urgent
        out = {"skill": ctx.skill.name}
        if "episode_outcome" in info:
            out["episode_outcome"] = info["episode_outcome"]
        if terminated or truncated:
            out["skill_outcome"] = {
                "skill": ctx.skill.name,
                "skill_kind": ctx.skill.kind,
                "success": success,
                "steps": ctx.steps,
                "feasible": not self._infeasible,
                "interrupted": interrupted,
            }
        return lib.features(ctx, self._obs), float(reward), terminated, truncated, out

    def close(self) -> None:
        for env in self.envs:
            env.close()
