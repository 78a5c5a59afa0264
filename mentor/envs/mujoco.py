"""Placeholder: the mujoco family is being written."""

from mentor.envs.registry import MentorEnvSpec


def env_specs() -> list[MentorEnvSpec]:
    return []
