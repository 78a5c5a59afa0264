"""A test double for code that trains on a text env: a one-step text bandit, built without any game."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from mentor.envs.text_view import TextObservation

__all__ = ["TextBandit"]


class TextBandit(gym.Env):
    """One-step episodes with two doors; only door ``rewarded`` pays 1 (success, progression 100).

    Example:
        >>> env = TextBandit(1, mission="open the right door")
        >>> env.reset(seed=0)
        (0, {})
        >>> env.step(env.text_to_action("open the right door"))[1]
        1.0
    """

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(2)
    ACTIONS = ("open the left door", "open the right door")

    def __init__(self, rewarded: int, mission: str = "open the door with the prize"):
        self.rewarded = rewarded
        self.mission = mission

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        return 0, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        reward = float(action == self.rewarded)
        outcome = {"return": reward, "length": 1, "success": reward > 0, "progression": 100.0 * reward}
        return 0, reward, True, False, {"episode_outcome": outcome}

    def describe(self) -> TextObservation:
        return TextObservation(self.mission, "You see two doors.", self.ACTIONS)

    def text_to_action(self, action: str) -> int:
        return self.ACTIONS.index(action)
