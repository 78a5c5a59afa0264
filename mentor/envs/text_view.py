"""The text view of an env: what an LLM reads and how its words become env actions.

An LLM never sees a tensor and an SB3 policy never sees a string. Every mentor env is wrapped by
one :class:`TextView` subclass that leaves observations and actions untouched and adds
:meth:`TextView.describe` and :meth:`TextView.text_to_action`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from mentor.errors import InvalidActionError

__all__ = ["TextObservation", "TextView", "describe", "text_to_action"]


@dataclass(frozen=True)
class TextObservation:
    """One moment of an env in words.

    Attributes:
        mission: the goal of the episode ("open the door").
        observation: what the agent perceives now, one fact per line.
        actions: the admissible action strings; empty for continuous-control envs.
        feedback: the env's own reply to the last action (TextWorld), or "".
        extras: family-specific numbers a critic or reward prompt may quote (score, vitals).
    """

    mission: str
    observation: str
    actions: tuple[str, ...]
    feedback: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    def to_prompt(self) -> str:
        """The observation as a prompt block: mission, feedback, observation, action list."""
        parts = [f"Goal: {self.mission or '(none given)'}"]
        if self.feedback:
            parts.append(f"Feedback: {self.feedback}")
        parts.append(f"Observation:\n{self.observation}")
        if self.actions:
            parts.append("Possible actions: " + ", ".join(self.actions))
        return "\n".join(parts)


class TextView(gym.Wrapper, ABC):
    """Base wrapper that gives an env a word view; observations, rewards and actions pass through.

    Subclasses implement :meth:`_describe` and :meth:`admissible_actions`, and, where actions are
    strings, :meth:`_text_to_action`.
    """

    @property
    def spec(self) -> gym.envs.registration.EnvSpec | None:
        """The wrapped env's spec: the text view is part of a mentor env, not an added wrapper."""
        return self.env.spec

    def describe(self) -> TextObservation:
        """The current state of the env in words."""
        return self._describe()

    def text_to_action(self, action: str) -> Any:
        """Map an admissible action string to the env action.

        Raises:
            InvalidActionError: ``action`` is not admissible; the message lists what is.
        """
        admissible = self.admissible_actions()
        normalised = " ".join(action.strip().lower().split())
        if normalised not in {a.lower() for a in admissible}:
            raise InvalidActionError(action, admissible)
        return self._text_to_action(normalised)

    @abstractmethod
    def admissible_actions(self) -> list[str]:
        """The action strings valid in the current state (empty for continuous control)."""

    @abstractmethod
    def _describe(self) -> TextObservation: ...

    def _text_to_action(self, action: str) -> Any:
        """Map an already validated, lower-cased action string to the env action."""
        raise NotImplementedError(f"{type(self).__name__} has no string actions")


def describe(env: gym.Env) -> TextObservation:
    """The text view of any mentor env, however deeply it is wrapped."""
    return env.get_wrapper_attr("describe")()


def text_to_action(env: gym.Env, action: str) -> Any:
    """Map an action string to the env action of any mentor env, however deeply it is wrapped."""
    return env.get_wrapper_attr("text_to_action")(action)
