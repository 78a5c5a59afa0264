"""MiniGrid and BabyAI: every level minigrid registers, as ``mentor/<id>``, with a BabyAI-Text view.

The six ``MiniGrid-WFC-*`` levels are left out: minigrid 3.2.0 ships without their pattern images.

The text view follows BabyAI-Text (GLAM, BALROG): each visible object is placed relative to the
agent ("a red ball 2 steps left and 3 steps forward"), walls only along the agent's own axes, plus
what the agent carries. Observations stay minigrid's own dict; SB3 configs add ``FlatObsWrapper``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from mentor.envs.registry import MentorEnvSpec
from mentor.envs.text_view import TextObservation, TextView

__all__ = ["MINIGRID_ACTIONS", "MiniGridTextView", "make_minigrid", "describe_grid", "env_specs"]

#: Action strings in minigrid's action order (``done`` is not offered, as in BabyAI-Text).
MINIGRID_ACTIONS: tuple[str, ...] = ("turn left", "turn right", "go forward", "pick up", "drop", "toggle")

_BASE_PREFIXES = ("MiniGrid-", "BabyAI-")
#: minigrid 3.2.0's wheel lacks the pattern images of its wave-function-collapse levels, so they cannot be built.
_UNBUILDABLE = ("MiniGrid-WFC-",)


def _steps(n: int, direction: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {direction}"


def _offset_phrase(right: int, forward: int) -> str:
    parts = []
    if right:
        parts.append(_steps(abs(right), "right" if right > 0 else "left"))
    if forward:
        parts.append(_steps(forward, "forward"))
    return " and ".join(parts)


def _object_phrase(obj: Any) -> str:
    if obj.type == "door":
        state = "locked" if obj.is_locked else ("open" if obj.is_open else "closed")
        return f"a {state} {obj.color} door"
    if obj.type in ("goal", "lava"):
        return f"the {obj.type}" if obj.type == "goal" else "lava"
    return f"a {obj.color} {obj.type}"


def describe_grid(env: Any) -> list[str]:
    """The BabyAI-Text lines for the agent's partial view of an unwrapped minigrid env."""
    grid, vis_mask = env.gen_obs_grid()
    ax, ay = grid.width // 2, grid.height - 1
    lines: list[str] = []
    walls: dict[str, int] = {}
    for j in range(grid.height - 1, -1, -1):
        for i in range(grid.width):
            if (i, j) == (ax, ay) or not vis_mask[i, j]:
                continue
            obj = grid.get(i, j)
            if obj is None:
                continue
            right, forward = i - ax, ay - j
            if obj.type == "wall":
                if right == 0:
                    walls.setdefault("forward", forward)
                elif forward == 0:
                    side = "right" if right > 0 else "left"
                    walls[side] = min(walls.get(side, abs(right)), abs(right))
                continue
            lines.append(f"You see {_object_phrase(obj)} {_offset_phrase(right, forward)}")
    for direction in ("forward", "left", "right"):
        if direction in walls:
            lines.append(f"You see a wall {_steps(walls[direction], direction)}")
    if env.carrying is not None:
        lines.append(f"You carry {_object_phrase(env.carrying)}")
    return lines


class MiniGridTextView(TextView):
    """BabyAI-Text view of a minigrid env: mission, relative object positions, six action strings."""

    def admissible_actions(self) -> list[str]:
        return list(MINIGRID_ACTIONS)

    def _describe(self) -> TextObservation:
        env = self.unwrapped
        lines = describe_grid(env)
        return TextObservation(
            mission=env.mission,
            observation="\n".join(lines) if lines else "You see nothing but empty floor",
            actions=MINIGRID_ACTIONS,
            extras={"step": env.step_count, "max_steps": env.max_steps},
        )

    def _text_to_action(self, action: str) -> int:
        return MINIGRID_ACTIONS.index(action)


def make_minigrid(base_id: str, **kwargs: Any) -> gym.Env:
    """Build the minigrid level ``base_id`` (its registered kwargs, updated by ``kwargs``) with its text view."""
    base = gym.spec(base_id)
    creator = gym.envs.registration.load_env_creator(base.entry_point)
    return MiniGridTextView(creator(**{**base.kwargs, **kwargs}))


def env_specs() -> list[MentorEnvSpec]:
    import minigrid

    if not any(env_id.startswith(_BASE_PREFIXES) for env_id in gym.registry):
        minigrid.register_minigrid_envs()
    return [
        MentorEnvSpec(
            id=f"mentor/{base_id}",
            entry_point="mentor.envs.minigrid:make_minigrid",
            family="minigrid",
            kwargs={"base_id": base_id},
            max_episode_steps=gym.spec(base_id).max_episode_steps,
        )
        for base_id in sorted(gym.registry)
        if base_id.startswith(_BASE_PREFIXES) and not base_id.startswith(_UNBUILDABLE)
    ]
