"""`TrajectoryJudge`: how well does a text trajectory accomplish a mission?

Two questions, both answered by scoring fixed continuations (no sampling):

- :meth:`TrajectoryJudge.is_complete`: "Has the agent accomplished the mission?", " yes" against
  " no", calibrated like :class:`~mentor.critics.detector.SuccessDetector` (the same mission with
  no steps taken is the reference), giving a verdict and a probability. With
  ``OptionsConfig(termination_critic="judge")`` (``-o hierarchical.termination_critic=judge``) the
  options env, and so the hierarchical agent, asks it after every step of a skill that has no
  predicate (a TextWorld command) and ends the skill once the probability reaches
  ``judge_threshold``; by default a :class:`~mentor.critics.detector.SuccessDetector` judges such
  skills instead.
- :meth:`TrajectoryJudge.rate`: a rating from 0 to 9, the probability-weighted mean over the ten
  digit answers (as in G-Eval), divided by 9. Nothing in mentor calls it yet; it is there for a
  trajectory score.

Example:
    >>> from mentor.llm.testing import ScriptedLLM
    >>> judge = TrajectoryJudge(ScriptedLLM(scorer=lambda prompt, answer: 0.0))
    >>> judge.rate("open the door", ["You see a closed door", ("toggle", "You see an open door")])
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from mentor.critics.detector import sigmoid
from mentor.errors import ConfigError
from mentor.llm import LLM, Message, make_llm

__all__ = [
    "JUDGE_CALIBRATIONS",
    "Judgement",
    "TrajectoryJudge",
    "TrajectoryJudgeConfig",
    "TrajectoryStep",
    "to_steps",
]

JUDGE_CALIBRATIONS = ("mission", "none")

SYSTEM_PROMPT = (
    "You are a careful judge of an agent acting in a game. You read what the agent did and saw, "
    "and judge it against its mission."
)
COMPLETION_QUESTION = "Has the agent accomplished the mission? Answer yes or no."
RATING_QUESTION = (
    "How well has the agent done its mission so far, on a scale from 0 (nothing done) to 9 (fully done)? "
    "Answer with one digit."
)
_DIGITS = tuple(f" {d}" for d in range(10))


class TrajectoryStep(NamedTuple):
    """One step of a text trajectory: the action taken (``None`` for the first observation) and what followed."""

    action: str | None
    observation: str


def to_steps(trajectory: Sequence[str | tuple[str | None, str] | TrajectoryStep]) -> list[TrajectoryStep]:
    """Steps from observations (strings) and ``(action, observation)`` pairs.

    Raises:
        ValueError: an item is neither.
    """
    steps = []
    for item in trajectory:
        if isinstance(item, str):
            steps.append(TrajectoryStep(None, item))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], str):
            steps.append(TrajectoryStep(*item))
        else:
            raise ValueError(
                f"a trajectory item must be an observation string or an (action, observation) pair; got {item!r:.80}."
            )
    return steps


class Judgement(NamedTuple):
    """What :meth:`TrajectoryJudge.judge` returns."""

    complete: bool
    """Verdict: the mission is accomplished (probability at or above the threshold)."""
    probability: float
    """Probability that the mission is accomplished."""
    rating: float
    """Expected rating in [0, 1]."""


@dataclass
class TrajectoryJudgeConfig:
    """How a :class:`TrajectoryJudge` shows a trajectory and reads the answers."""

    max_steps: int = 8
    """Most recent steps shown; the first observation is always shown too."""
    max_observation_chars: int = 300
    """Each observation is put on one line and cut to this many characters."""
    threshold: float = 0.5
    """Probability of completion at or above which the verdict is complete."""
    calibration: str = "mission"
    """``mission``: divide out the yes-lean of the same mission with no steps taken; ``none``: raw probability."""
    answers: tuple[str, str] = (" yes", " no")
    """The completion and non-completion continuations."""
    use_chat_template: bool = True
    """Wrap the question in the LLM's chat template when it has one (``render_chat``)."""

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ConfigError(f"max_steps ({self.max_steps}) must be at least 1.")
        if self.max_observation_chars < 20:
            raise ConfigError(f"max_observation_chars ({self.max_observation_chars}) must be at least 20.")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold ({self.threshold}) must be strictly between 0 and 1.")
        if self.calibration not in JUDGE_CALIBRATIONS:
            raise ConfigError(f"calibration ({self.calibration!r}) must be one of {', '.join(JUDGE_CALIBRATIONS)}.")
        self.answers = tuple(self.answers)
        if len(self.answers) != 2 or not all(isinstance(a, str) and a.strip() for a in self.answers):
            raise ConfigError(f"answers ({self.answers!r}) must be two non-blank strings: complete, then not.")


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split()) or "(nothing)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TrajectoryJudge:
    """Scores a text trajectory against a mission: completion probability and a 0-1 rating.

    Args:
        llm: an LLM, a spec string, or ``None`` (``$MENTOR_LLM`` or the embedded model).
        config: how to ask; ``None`` for the defaults.
    """

    def __init__(self, llm: LLM | str | None = None, config: TrajectoryJudgeConfig | None = None):
        self.llm = make_llm(llm)
        self.config = config if config is not None else TrajectoryJudgeConfig()
        self._bias: dict[str, float] = {}

    # ----- prompt

    def trajectory_text(self, trajectory: Sequence[Any]) -> str:
        """The trajectory as numbered lines: the first observation, then the last ``max_steps`` steps."""
        steps = to_steps(trajectory)
        if not steps:
            return "(no steps yet)"
        limit = self.config.max_observation_chars
        shown = list(enumerate(steps))
        if len(shown) > self.config.max_steps + 1:
            shown = [shown[0], *shown[-self.config.max_steps :]]
        lines = []
        for (i, step), previous in zip(shown, [None, *shown[:-1]]):
            if previous is not None and i - previous[0] > 1:
                lines.append(f"(steps {previous[0] + 1} to {i - 1} not shown)")
            if step.action is not None:
                lines.append(f"Step {i} action: {step.action}")
            lines.append(f"Step {i} observation: {_one_line(step.observation, limit)}")
        return "\n".join(lines)

    def messages(self, mission: str, trajectory: Sequence[Any], question: str) -> list[Message]:
        """System turn, then the mission, the trajectory and ``question``."""
        content = f"Mission: {mission.strip()}\n\nTrajectory:\n{self.trajectory_text(trajectory)}\n\n{question}"
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]

    def prompt(self, mission: str, trajectory: Sequence[Any], question: str, answer_prefix: str) -> str:
        """The exact text whose continuations are scored."""
        messages = self.messages(mission, trajectory, question)
        render = getattr(self.llm, "render_chat", None)
        if self.config.use_chat_template and render is not None:
            return render(messages) + answer_prefix
        return "\n\n".join(m["content"] for m in messages) + "\n" + answer_prefix

    # ----- judging

    def is_complete(self, mission: str, trajectory: Sequence[Any]) -> tuple[bool, float]:
        """Whether ``trajectory`` accomplishes ``mission``: the verdict and its probability."""
        logit = self._completion_logits([self.prompt(mission, trajectory, COMPLETION_QUESTION, "Answer:")])[0]
        probability = sigmoid(logit - self.bias(mission))
        return probability >= self.config.threshold, probability

    def rate(self, mission: str, trajectory: Sequence[Any]) -> float:
        """Expected 0-9 rating of ``trajectory`` for ``mission``, divided by 9 (in [0, 1])."""
        scores = self.llm.score(self.prompt(mission, trajectory, RATING_QUESTION, "Rating:"), list(_DIGITS))
        return _expected_digit(scores) / 9.0

    def judge(self, mission: str, trajectory: Sequence[Any]) -> Judgement:
        """:meth:`is_complete` and :meth:`rate` in one scoring call."""
        prompts = [
            self.prompt(mission, trajectory, COMPLETION_QUESTION, "Answer:"),
            self.prompt(mission, trajectory, RATING_QUESTION, "Rating:"),
        ]
        completion, rating = self.llm.score_batch(prompts, [list(self.config.answers), list(_DIGITS)])
        probability = sigmoid(completion[0] - completion[1] - self.bias(mission))
        return Judgement(probability >= self.config.threshold, probability, _expected_digit(rating) / 9.0)

    def bias(self, mission: str) -> float:
        """Completion log-odds of ``mission`` with no steps taken (0 without calibration; measured once, kept)."""
        if self.config.calibration == "none":
            return 0.0
        key = mission.strip()
        if key not in self._bias:
            self._bias[key] = self._completion_logits([self.prompt(key, [], COMPLETION_QUESTION, "Answer:")])[0]
        return self._bias[key]

    def _completion_logits(self, prompts: list[str]) -> list[float]:
        scores = self.llm.score_batch(prompts, [list(self.config.answers)] * len(prompts))
        return [yes - no for yes, no in scores]


def _expected_digit(logprobs: Sequence[float]) -> float:
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    return sum(d * w for d, w in enumerate(weights)) / sum(weights)
