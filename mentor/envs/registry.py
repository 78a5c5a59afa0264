"""Registration of every mentor env as a Gymnasium id in the ``mentor/`` namespace.

Each family module exposes ``env_specs() -> list[MentorEnvSpec]``; entry points are strings, so
registering is cheap and a family's heavy imports happen only when one of its envs is made.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import WrapperSpec

from mentor.errors import UnknownComponentError

__all__ = ["MentorEnvSpec", "FAMILIES", "register_envs", "make", "env_ids", "family_of", "spec"]

NAMESPACE = "mentor"

#: Family name -> module that lists its specs.
FAMILIES: dict[str, str] = {
    "minigrid": "mentor.envs.minigrid",
    "crafter": "mentor.envs.crafter",
    "mujoco": "mentor.envs.mujoco",
    "textworld": "mentor.envs.textworld",
}


@dataclass(frozen=True)
class MentorEnvSpec:
    """What a family contributes to the registry for one id.

    Attributes:
        id: full id, ``mentor/<Name>-v<N>``.
        entry_point: ``"module:callable"`` that builds the env (with its text view).
        family: one of :data:`FAMILIES`.
        kwargs: default keyword arguments of the entry point.
        max_episode_steps: ``TimeLimit`` added by ``gym.make``; ``None`` when the env truncates itself.
    """

    id: str
    entry_point: str
    family: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None


_SPECS: dict[str, MentorEnvSpec] = {}


def register_envs() -> None:
    """Register every family's envs with Gymnasium (idempotent)."""
    if _SPECS:
        return
    for family, module_name in FAMILIES.items():
        for env_spec in importlib.import_module(module_name).env_specs():
            if env_spec.family != family:
                raise RuntimeError(f"{module_name} listed {env_spec.id} as family {env_spec.family!r}")
            _SPECS[env_spec.id] = env_spec
            gym.register(
                id=env_spec.id,
                entry_point=env_spec.entry_point,
                kwargs=dict(env_spec.kwargs),
                max_episode_steps=env_spec.max_episode_steps,
                additional_wrappers=(
                    WrapperSpec(
                        name="RecordEpisodeOutcome",
                        entry_point="mentor.envs.wrappers:RecordEpisodeOutcome",
                        kwargs={"family": family},
                    ),
                ),
            )


def env_ids(family: str | None = None) -> list[str]:
    """All registered mentor ids, or those of one family."""
    register_envs()
    if family is not None and family not in FAMILIES:
        raise UnknownComponentError("env family", family, FAMILIES)
    return sorted(i for i, s in _SPECS.items() if family is None or s.family == family)


def spec(env_id: str) -> MentorEnvSpec:
    """The mentor spec of ``env_id``.

    Raises:
        UnknownComponentError: ``env_id`` is not registered; the message lists the closest ids.
    """
    register_envs()
    if env_id not in _SPECS:
        raise UnknownComponentError("env id", env_id, _SPECS)
    return _SPECS[env_id]


def family_of(env_id: str) -> str:
    """The family (``minigrid``, ``crafter``, ``mujoco``, ``textworld``) of a mentor id."""
    return spec(env_id).family


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """``gym.make`` for mentor ids, with an error naming the closest ids on a miss.

    Example:
        >>> from mentor.envs import describe
        >>> env = make("mentor/MiniGrid-DoorKey-5x5-v0")
        >>> describe(env).actions[:2]
        ('turn left', 'turn right')
    """
    spec(env_id)
    return gym.make(env_id, **kwargs)
