"""Scripted experts of mentor envs, speaking their text actions: demonstrations and DAgger labels.

An :class:`Expert` follows one env through an episode and names the action it would take in the
current state, whoever chose the actions so far. The BabyAI levels (and BALROG's BabyAI tasks) have
BabyAI's own planning bot (``minigrid.utils.baby_ai_bot.BabyAIBot``), which solves every level it
is built for.
"""

from __future__ import annotations

from typing import Protocol

import gymnasium as gym

from mentor.envs.minigrid import MINIGRID_ACTIONS
from mentor.errors import ConfigError

__all__ = ["BabyAIExpert", "Expert", "make_expert"]


class Expert(Protocol):
    """Names the expert's text action in its env's current state."""

    def reset(self) -> None:
        """Start following a new episode (call after ``env.reset``)."""

    def act(self, taken: str | None = None) -> str | None:
        """The expert's action now, given the action ``taken`` at the previous step (``None``: the expert's own, or
        the first step); ``None`` when it has no action (it thinks the mission done, or it lost track)."""


class BabyAIExpert:
    """BabyAI's bot on a BabyAI level: plans over subgoals from what the agent has seen, replans after any action.

    Args:
        env: a mentor BabyAI env (its unwrapped env carries the mission's instructions).

    Raises:
        ConfigError: the env is not a BabyAI level.
    """

    def __init__(self, env: gym.Env):
        from minigrid.envs.babyai.core.roomgrid_level import RoomGridLevel

        if not isinstance(env.unwrapped, RoomGridLevel):
            raise ConfigError(
                f"{type(env.unwrapped).__name__} has no BabyAI instructions, so BabyAI's bot cannot play it; "
                "experts exist for the BabyAI levels (mentor/BabyAI-*)."
            )
        self.env = env
        self._bot = None

    def reset(self) -> None:
        from minigrid.utils.baby_ai_bot import BabyAIBot

        self._bot = BabyAIBot(self.env.unwrapped)

    def act(self, taken: str | None = None) -> str | None:
        if self._bot is None:
            self.reset()
        try:
            action = int(self._bot.replan(None if taken is None else MINIGRID_ACTIONS.index(taken)))
        except Exception:  # noqa: BLE001 - the bot asserts on states it cannot plan from (an opened box, a lost object)
            return None
        return MINIGRID_ACTIONS[action] if action < len(MINIGRID_ACTIONS) else None


def make_expert(env: gym.Env) -> Expert:
    """The scripted expert of ``env``.

    Raises:
        ConfigError: the env has no expert.
    """
    return BabyAIExpert(env)
