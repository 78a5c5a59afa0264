"""Flat Crafter with the skills' inputs: what the hierarchy's skills see and do, offered to one flat policy.

A Crafter skill (:mod:`mentor.skills.crafter`) reads an egocentric pointer to the nearest known
target on the agent's own map, and performs its achievement's action itself once crafter's rules
allow it. Flat PPO sees neither. :class:`CrafterSkillInputs` gives a flat policy both:

- the observation gains, for every skill, its pointer and whether its interaction can happen now;
- the action space gains one action, ``interact``, that performs a ready interaction: one restoring
  a vital at or below :data:`~mentor.skills.crafter.LOW_VITAL` first, then one whose achievement is
  not yet unlocked this episode, then any (``noop`` when none is ready). Sleep is ready only when
  energy is low, as the planner is offered it.

With it, flat PPO is the hierarchy's fair baseline (``mentor bench -a sb3-ppo-skill-inputs``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mentor.envs.crafter import CRAFTER_ACTIONS, SYMBOLIC_SIZE
from mentor.skills.crafter import CRAFTER_SKILLS, LOW_VITAL, POINTER_FEATURES, CrafterSkillLibrary

__all__ = ["CrafterSkillInputs"]

_NOOP = CRAFTER_ACTIONS.index("noop")


class CrafterSkillInputs(gym.Wrapper):
    """Crafter for a flat policy: the symbolic observation, every skill's pointer and readiness, and ``interact``.

    Example:
        >>> import mentor.envs as me
        >>> env = CrafterSkillInputs(me.make("mentor/Crafter-Symbolic-v0"))
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, int(env.action_space.n)  # 17 primitive actions and interact
        ((1380,), 18)
    """

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.library = CrafterSkillLibrary(env)
        n = SYMBOLIC_SIZE + len(CRAFTER_SKILLS) * (POINTER_FEATURES + 1)
        self.observation_space = spaces.Box(-1.0, 1.0, (n,), np.float32)
        self.interact_action = int(env.action_space.n)
        self.action_space = spaces.Discrete(self.interact_action + 1)
        self._ready: dict[str, int] = {}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.library.reset(obs, info)
        return self._observe(), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = int(action)
        if action == self.interact_action:
            action = self.interaction()
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.library.update(obs, info)
        return self._observe(), reward, terminated, truncated, info

    def interaction(self) -> int:
        """The primitive action ``interact`` takes now: the ready interaction of highest priority, else ``noop``."""
        if not self._ready:
            return _NOOP
        best = max(self._ready, key=lambda name: self.library.priority(self.library.skill(name)))
        return self._ready[best]

    def _observe(self) -> np.ndarray:
        energy = self.library.env.unwrapped.player.inventory["energy"]
        self._ready = {}
        parts = [self.library.symbolic]
        targets = self.library.nearest_targets()
        for skill in CRAFTER_SKILLS:
            action = self.library.interaction(skill)
            if skill.kind == "sleep" and energy > LOW_VITAL:
                action = None
            if action is not None:
                self._ready[skill.name] = action
            parts.append(self.library.pointer(targets[skill.name]))
            parts.append(np.array([action is not None], np.float32))
        return np.concatenate(parts)
