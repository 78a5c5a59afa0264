"""TextWorld skills: the game's admissible commands, one step each.

A command needs no learned policy: it is its own action. The game gives no per-command success
signal, so these skills have no predicate and a success detector (critic) judges each one from the
text views before and after. The skill set changes with the state, so the library has no fixed
catalogue (the options env indexes the commands available now).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mentor.envs import text_to_action
from mentor.skills.library import PlanExample, Skill, SkillContext, SkillLibrary

__all__ = ["TextWorldSkillLibrary"]


class TextWorldSkillLibrary(SkillLibrary):
    """Admissible commands as one-step skills judged by a critic.

    Example:
        >>> import mentor.envs as me
        >>> env = me.make("mentor/TextWorld-Easy-v0")  # doctest: +SKIP
        >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
        >>> lib = TextWorldSkillLibrary(env); lib.reset(obs, info)  # doctest: +SKIP
        >>> lib.available()[0].kind  # doctest: +SKIP
        'command'
    """

    family = "textworld"
    planner_key_words = frozenset(["north", "south", "east", "west"])
    kinds = ("command",)

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self._high_space = spaces.Box(0.0, 1.0, (3,), np.float32)
        self._info: dict[str, Any] = {}

    def _build_catalogue(self) -> None:
        return None

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        self._info = info

    def update(self, obs: Any, info: dict[str, Any]) -> None:
        self._info = info

    def available(self) -> list[Skill]:
        commands = self.env.get_wrapper_attr("admissible_actions")()
        return [Skill(command, "command", (), max_steps=1, has_predicate=False) for command in commands]

    def _bind(self, ctx: SkillContext) -> bool:
        return ctx.skill.name in self.env.get_wrapper_attr("admissible_actions")()

    @property
    def observation_space(self) -> spaces.Box:
        return self._space

    def features(self, ctx: SkillContext, obs: Any) -> np.ndarray:
        return np.zeros(1, np.float32)

    def succeeded(self, ctx: SkillContext, info: dict[str, Any]) -> None:
        return None

    def scripted_action(self, ctx: SkillContext) -> str:
        return text_to_action(self.env, ctx.skill.name)

    @property
    def high_level_space(self) -> spaces.Box:
        return self._high_space

    def high_level_features(self, obs: Any) -> np.ndarray:
        max_score = self._info.get("max_score") or 1
        return np.array(
            [self._info.get("score", 0) / max_score, self._info.get("won", False), self._info.get("lost", False)],
            np.float32,
        )

    @property
    def planner_examples(self) -> tuple[PlanExample, ...]:
        return _EXAMPLES


_EXAMPLES = (
    PlanExample(
        "cook the carrot and eat it.",
        "You are in the kitchen. There is a fridge and a stove. You carry nothing.",
        ("open fridge", "go east", "look"),
        ("open fridge", "take carrot from fridge", "cook carrot with stove", "eat carrot"),
    ),
)
