"""The one error hierarchy of mentor: callers catch families, messages name the choices."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "MentorError",
    "UnknownComponentError",
    "ConfigError",
    "InvalidActionError",
    "RewardCodeError",
    "SandboxUnavailableError",
    "MissingDependencyError",
    "RolloutWorkerError",
    "LLMError",
    "LLMUnavailableError",
    "LLMCapabilityError",
    "closest_matches",
]


class MentorError(Exception):
    """Base class of every error mentor raises on purpose.

    Instances pickle (so an error raised in a pool worker reaches the parent as itself, not as
    ``BrokenProcessPool``) whatever the subclass's ``__init__`` takes: unpickling rebuilds the
    instance from its ``args`` and attributes without calling ``__init__``.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        state = dict(self.__dict__)
        if isinstance(self, ImportError):  # slots, not in __dict__
            state.update(msg=self.msg, name=self.name, path=self.path)
        return _rebuild_error, (type(self), self.args), state


def _rebuild_error(cls: type[MentorError], args: tuple[Any, ...]) -> MentorError:
    """An instance of ``cls`` with ``args``, made without ``cls.__init__`` (pickle then sets its attributes)."""
    error = cls.__new__(cls, *args)
    error.args = args
    return error


def closest_matches(key: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The up-to-``n`` choices closest to ``key`` (difflib ratio, case-insensitive)."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(key.lower(), list(lowered), n=n, cutoff=0.4)
    return [lowered[h] for h in hits]


class UnknownComponentError(MentorError, KeyError):
    """A registry lookup missed: the message names the key, the closest matches and the choices."""

    def __init__(self, kind: str, key: str, choices: Iterable[str], max_listed: int = 30):
        choices = sorted(choices)
        close = closest_matches(key, choices)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listed = ", ".join(choices[:max_listed])
        more = f", ... ({len(choices) - max_listed} more)" if len(choices) > max_listed else ""
        self.kind, self.key, self.choices, self.close = kind, key, choices, close
        super().__init__(f"Unknown {kind} {key!r}.{hint} Available: {listed}{more}.")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class ConfigError(MentorError, ValueError):
    """A config field is unknown or holds a value outside what is allowed."""


class InvalidActionError(MentorError, ValueError):
    """An action string is not among the admissible ones."""

    def __init__(self, action: str, admissible: Iterable[str], reason: str | None = None):
        admissible = list(admissible)
        self.action, self.admissible = action, admissible
        if reason is not None:
            super().__init__(f"Action {action!r} is not admissible: {reason}.")
            return
        close = closest_matches(action, admissible, n=1)
        hint = f" Closest: {close[0]!r}." if close else ""
        super().__init__(
            f"Action {action!r} is not admissible here.{hint} Admissible: {', '.join(repr(a) for a in admissible)}."
        )


class RewardCodeError(MentorError):
    """Generated reward code was rejected by the sandbox gate or failed when run."""


class SandboxUnavailableError(MentorError, RuntimeError):
    """A layer of the reward sandbox that the config requires could not be set up on this machine."""


class MissingDependencyError(MentorError, ImportError):
    """An optional dependency is needed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str):
        self.package, self.extra, self.purpose = package, extra, purpose
        super().__init__(
            f"{purpose} needs the optional package {package!r}: "
            f"pip install 'mentor[{extra}]' (or `make install EXTRAS=test,{extra}`)."
        )


class RolloutWorkerError(MentorError, RuntimeError):
    """A rollout worker (the process stepping some of a vector env's envs) died; the message names it."""


class LLMError(MentorError):
    """Base class of LLM-layer failures."""


class LLMUnavailableError(LLMError):
    """The LLM server could not be reached or kept failing after every retry."""


class LLMCapabilityError(LLMError):
    """The backend lacks a capability the call needs (for example log-probs for scoring)."""
