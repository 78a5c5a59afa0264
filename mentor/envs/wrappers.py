"""Wrappers every mentor env carries, each doing one job.

:class:`RecordEpisodeOutcome` is added by ``gym.make`` to every ``mentor/`` id (after ``TimeLimit``),
so training callbacks and benchmark protocols read one ``info["episode_outcome"]`` whatever the family.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym

__all__ = ["CallOnReset", "RecordEpisodeOutcome", "episode_outcome_keys"]


def episode_outcome_keys() -> tuple[str, ...]:
    """Keys of ``info["episode_outcome"]``."""
    return ("return", "length", "success", "progression", "achievements", "x_position")


class RecordEpisodeOutcome(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """At the end of each episode, put its outcome in ``info["episode_outcome"]``.

    The outcome holds the undiscounted ``return``, the ``length``, ``success`` (MiniGrid/BabyAI: the
    mission was completed; TextWorld: the game was won; otherwise ``False``), BALROG ``progression``
    in 0-100 (success x 100; Crafter: achievements unlocked / 22; TextWorld: share of the game's
    points), the Crafter ``achievements`` unlocked, and the MuJoCo final ``x_position``.

    Args:
        env: a mentor env.
        family: its family (``minigrid``, ``crafter``, ``mujoco``, ``textworld``).
    """

    def __init__(self, env: gym.Env, family: str):
        gym.utils.RecordConstructorArgs.__init__(self, family=family)
        gym.Wrapper.__init__(self, env)
        self.family = family
        self._return = 0.0
        self._length = 0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._return, self._length = 0.0, 0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        self._length += 1
        if terminated or truncated:
            info["episode_outcome"] = self._outcome(float(reward), terminated, info)
        return obs, reward, terminated, truncated, info

    def _outcome(self, last_reward: float, terminated: bool, info: dict[str, Any]) -> dict[str, Any]:
        success, progression, achievements, x_position = False, 0.0, [], None
        if self.family == "minigrid":
            success = bool(terminated and last_reward > 0)
            progression = 100.0 * success
        elif self.family == "crafter":
            achievements = sorted(k for k, v in info.get("achievements", {}).items() if v > 0)
            progression = 100.0 * len(achievements) / 22
        elif self.family == "textworld":
            success = bool(info.get("won", False))
            max_score = info.get("max_score") or 0
            progression = 100.0 * info.get("score", 0) / max_score if max_score else 100.0 * success
        elif self.family == "mujoco":
            x_position = float(self.unwrapped.data.qpos[0])
        return {
            "return": self._return,
            "length": self._length,
            "success": success,
            "progression": progression,
            "achievements": achievements,
            "x_position": x_position,
        }


class CallOnReset(gym.Wrapper):
    """Call a function at every ``reset`` (an agent's own reset, at each episode start)."""

    def __init__(self, env: gym.Env, callback: Callable[[], None]):
        super().__init__(env)
        self.callback = callback

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self.callback()
        return self.env.reset(**kwargs)
