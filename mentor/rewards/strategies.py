"""How a reward search iterates: Eureka's samples and reflection, or Text2Reward's one program per round.

Both run the same stages each iteration (sample, screen, train, reflect; :class:`~mentor.rewards.loop.RewardLoop`).
A :class:`SearchStrategy` decides what differs: how many candidates and at which temperature by
default, whether the next iteration runs, and what a person adds to its prompt.

- :class:`Eureka`: K samples per iteration at temperature 0.7; every iteration runs, fed by the last
  one's best candidate and the screen's statistics.
- :class:`Text2Reward`: one greedy program per round; a further round runs only when a person
  (a :data:`~mentor.rewards.feedback.FeedbackSource`) comments on the last one.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from mentor.errors import ConfigError
from mentor.rewards.candidates import Candidate
from mentor.rewards.feedback import FeedbackSource
from mentor.rewards.prompts import reflection
from mentor.runs import atomic_write_text

__all__ = ["STRATEGIES", "Eureka", "SearchStrategy", "Text2Reward", "make_strategy"]


class SearchStrategy:
    """What the reward loop asks between iterations; the base iterates as Eureka does.

    Args:
        source: where a person's comments come from (Text2Reward reads them); ``None``: nobody comments.
    """

    name: ClassVar[str] = "eureka"
    default_samples: ClassVar[int] = 4
    default_temperature: ClassVar[float] = 0.7
    max_samples: ClassVar[int | None] = None

    def __init__(self, source: FeedbackSource | None = None):
        self.source = source

    def continues(self, iteration: int, human_feedback: str | None) -> bool:
        """Whether iteration ``iteration`` runs, given the person's comment on the one before (if any)."""
        return True

    def human_feedback(self, folder: Path, candidate: Candidate, fitness: str) -> str | None:
        """A person's comment on ``candidate`` for the next prompt, saved under ``folder``; ``None``: none."""
        return None


class Eureka(SearchStrategy):
    """Eureka: K samples per iteration, each iteration fed by the last one's best reward and the screen."""


class Text2Reward(SearchStrategy):
    """Text2Reward: one greedy program per round, refined only while a person (``source``) comments on it."""

    name: ClassVar[str] = "text2reward"
    default_samples: ClassVar[int] = 1
    default_temperature: ClassVar[float] = 0.0
    max_samples: ClassVar[int | None] = 1

    def continues(self, iteration: int, human_feedback: str | None) -> bool:
        return iteration == 0 or human_feedback is not None

    def human_feedback(self, folder: Path, candidate: Candidate, fitness: str) -> str | None:
        """The comment saved by an earlier (resumed) run, else the source's answer to the round's summary."""
        path = folder / "human_feedback.txt"
        if path.exists():
            # answered before a resume: a source that reads in order moves past that round's answer
            skip = getattr(self.source, "skip", None)
            if skip is not None:
                skip(1)
            return path.read_text().strip() or None
        if self.source is None:
            return None
        if candidate.result is not None and candidate.result.ok:
            summary = reflection(candidate.result, fitness).split("\nPlease carefully")[0]
        else:
            summary = f"The reward was rejected: {candidate.reason}"
        text = self.source(f"Reward {candidate.label}:\n{candidate.code or candidate.response}\n{summary}")
        atomic_write_text(path, (text or "") + "\n")
        return text


#: The strategies by their ``RewardLoopConfig.mode`` name.
STRATEGIES: dict[str, type[SearchStrategy]] = {"eureka": Eureka, "text2reward": Text2Reward}


def make_strategy(mode: str, feedback: FeedbackSource | None = None) -> SearchStrategy:
    """The strategy named ``mode``; ``feedback`` is Text2Reward's comment source (Eureka asks no one).

    Raises:
        ConfigError: ``mode`` is not one of :data:`STRATEGIES`.
    """
    if mode not in STRATEGIES:
        raise ConfigError(f"mode ({mode!r}) must be one of {', '.join(STRATEGIES)}.")
    return STRATEGIES[mode](feedback)
