"""Every mentor env, registered as a Gymnasium id under ``mentor/``, each with a text view.

Importing this package registers the ids, so ``gym.make("mentor/Crafter-v0")`` works after
``import mentor.envs`` (or use ``gym.make("mentor.envs:mentor/Crafter-v0")``).
"""

from mentor.envs.registry import FAMILIES, MentorEnvSpec, env_ids, family_of, make, register_envs, spec
from mentor.envs.text_view import TextObservation, TextView, describe, text_to_action

register_envs()

__all__ = [
    "FAMILIES",
    "MentorEnvSpec",
    "TextObservation",
    "TextView",
    "describe",
    "env_ids",
    "family_of",
    "make",
    "register_envs",
    "spec",
    "text_to_action",
]
