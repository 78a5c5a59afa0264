"""`SuccessDetector`: did the agent achieve a subgoal, given the text before and after a transition?

The default method scores the answers " yes" and " no" after a fixed prompt (one forward pass, no
sampling) and turns the two log-likelihoods into a probability. Small models lean towards one
answer whatever the question, and how much depends on the question, so the lean is measured and
divided out (contextual calibration, Zhao et al., 2021):

- ``calibration="subgoal"`` (default): the same question about the same subgoal when nothing
  changed; the probability then says how much more the actual change looks like success than no
  change at all. One extra scoring call per distinct subgoal (kept).
- ``calibration="content_free"``: one question with "N/A" for the subgoal and both states.
- ``calibration="none"``: the raw two-answer probability.

The ``generate`` method asks for a free answer and parses yes/no instead (probability 1 or 0).

The prompt shows the subgoal and, by default, only the lines that changed between the two states
(``view="changes"``): short prompts are faster, and a small model need not find the change itself.

Example:
    >>> from mentor.llm.testing import ScriptedLLM
    >>> detector = SuccessDetector(ScriptedLLM(scorer=lambda prompt, answer: -1.0 if answer == " yes" else -3.0),
    ...                            SuccessDetectorConfig(calibration="none"))
    >>> success, probability = detector.detect("pick up the key", "You see a key", "You carry a key")
    >>> success, round(probability, 3)
    (True, 0.881)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mentor.errors import ConfigError
from mentor.llm import LLM, Message, make_llm
from mentor.llm.parsing import ask_choice

__all__ = [
    "CALIBRATIONS",
    "DETECTOR_METHODS",
    "DETECTOR_VIEWS",
    "SuccessDetector",
    "SuccessDetectorConfig",
    "changed_lines",
    "sigmoid",
]

CALIBRATIONS = ("subgoal", "content_free", "none")
DETECTOR_METHODS = ("score", "generate")
DETECTOR_VIEWS = ("changes", "full", "both")

SYSTEM_PROMPT = (
    "You are a careful judge of an agent acting in a game. You decide whether the agent achieved "
    "a goal, by comparing the state before its action with the state after it."
)
#: What the content-free calibration question puts in place of the subgoal and both states.
CONTENT_FREE = "N/A"


def changed_lines(before: str, after: str) -> str:
    """The lines of ``before`` missing from ``after`` (``- line``), then the lines new in ``after`` (``+ line``).

    Example:
        >>> print(changed_lines("Inventory: empty.\\nIt is day.", "Inventory: wood 1.\\nIt is day."))
        - Inventory: empty.
        + Inventory: wood 1.
    """
    old = [line.strip() for line in before.splitlines() if line.strip()]
    new = [line.strip() for line in after.splitlines() if line.strip()]
    old_set, new_set = set(old), set(new)
    lines = [f"- {line}" for line in old if line not in new_set]
    lines += [f"+ {line}" for line in new if line not in old_set]
    return "\n".join(lines) if lines else "(nothing changed)"


@dataclass
class SuccessDetectorConfig:
    """How a :class:`SuccessDetector` asks its LLM."""

    # --- method
    method: str = "score"
    """``score``: compare the log-likelihoods of the two answers; ``generate``: parse a generated answer."""
    threshold: float = 0.5
    """Probability of success at or above which the verdict is success."""
    calibration: str = "subgoal"
    """Answer bias divided out (``score`` only): ``subgoal`` (the subgoal with no change), ``content_free``
    or ``none``; see the module docstring."""
    answers: tuple[str, str] = (" yes", " no")
    """The success and failure continuations scored after the prompt (``score`` only)."""
    max_new_tokens: int = 4
    """Most tokens of a generated answer (``generate`` only)."""

    # --- prompt
    view: str = "changes"
    """What the prompt shows of the states: ``changes`` (changed lines only), ``full`` (both states) or ``both``."""
    max_state_chars: int = 1500
    """Each state text (and the change list) is cut to its last this many characters."""
    use_chat_template: bool = True
    """Wrap the question in the LLM's chat template when it has one (``render_chat``)."""

    def __post_init__(self) -> None:
        if self.method not in DETECTOR_METHODS:
            raise ConfigError(f"method ({self.method!r}) must be one of {', '.join(DETECTOR_METHODS)}.")
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(f"calibration ({self.calibration!r}) must be one of {', '.join(CALIBRATIONS)}.")
        if self.view not in DETECTOR_VIEWS:
            raise ConfigError(f"view ({self.view!r}) must be one of {', '.join(DETECTOR_VIEWS)}.")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold ({self.threshold}) must be strictly between 0 and 1.")
        self.answers = tuple(self.answers)
        if len(self.answers) != 2 or not all(isinstance(a, str) and a.strip() for a in self.answers):
            raise ConfigError(f"answers ({self.answers!r}) must be two non-blank strings: success, then failure.")
        if self.answers[0] == self.answers[1]:
            raise ConfigError(f"answers ({self.answers!r}) must differ.")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens ({self.max_new_tokens}) must be at least 1.")
        if self.max_state_chars < 50:
            raise ConfigError(f"max_state_chars ({self.max_state_chars}) must be at least 50.")


def _clip(text: str, limit: int) -> str:
    text = text.strip() or "(empty)"
    return text if len(text) <= limit else "..." + text[-limit:]


class SuccessDetector:
    """Judges whether a transition achieved a subgoal, with a probability.

    Args:
        llm: an LLM, a spec string, or ``None`` (``$MENTOR_LLM`` or the embedded model).
        config: how to ask; ``None`` for the defaults.

    Example:
        >>> detector = SuccessDetector("transformers:tiny")  # doctest: +SKIP
        >>> detector.detect("open the door", "You see a closed red door", "You see an open red door")  # doctest: +SKIP
        (True, 0.71)
    """

    def __init__(self, llm: LLM | str | None = None, config: SuccessDetectorConfig | None = None):
        self.llm = make_llm(llm)
        self.config = config if config is not None else SuccessDetectorConfig()
        self._bias: dict[str, float] = {}

    # ----- prompt

    def messages(self, subgoal: str, before: str, after: str) -> list[Message]:
        """The chat the LLM reads: a system turn and the question."""
        cfg = self.config
        limit = cfg.max_state_chars
        parts = [f"Goal: {subgoal.strip()}"]
        if cfg.view in ("full", "both"):
            parts += [f"State before:\n{_clip(before, limit)}", f"State after:\n{_clip(after, limit)}"]
        if cfg.view in ("changes", "both"):
            parts.append(f"What changed:\n{_clip(changed_lines(before, after), limit)}")
        parts.append(f'Did the agent achieve the goal "{subgoal.strip()}"? Answer yes or no.')
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]

    def prompt(self, subgoal: str, before: str, after: str) -> str:
        """The exact text whose continuations are scored: the chat (templated if possible), then ``Answer:``."""
        messages = self.messages(subgoal, before, after)
        render = getattr(self.llm, "render_chat", None)
        if self.config.use_chat_template and render is not None:
            return render(messages) + "Answer:"
        return "\n\n".join(m["content"] for m in messages) + "\nAnswer:"

    # ----- detection

    def detect(self, subgoal: str, before: str, after: str) -> tuple[bool, float]:
        """Whether the transition from ``before`` to ``after`` achieved ``subgoal``.

        Returns:
            The verdict (probability at or above ``config.threshold``) and the probability of success.
        """
        return self.detect_batch([(subgoal, before, after)])[0]

    def detect_batch(self, items: Sequence[tuple[str, str, str]]) -> list[tuple[bool, float]]:
        """:meth:`detect` for several ``(subgoal, before, after)`` at once (one scoring call)."""
        items = list(items)
        if self.config.method == "generate":
            probabilities = [self._generate(*item) for item in items]
        else:
            logits = self._logits([self.prompt(*item) for item in items])
            biases = self.biases([subgoal for subgoal, _, _ in items])
            probabilities = [sigmoid(logit - bias) for logit, bias in zip(logits, biases)]
        return [(p >= self.config.threshold, p) for p in probabilities]

    def biases(self, subgoals: Sequence[str]) -> list[float]:
        """Log-odds of the success answer that calibration divides out, per subgoal (measured once, then kept)."""
        mode = self.config.calibration
        if mode == "none":
            return [0.0] * len(subgoals)
        keys = [CONTENT_FREE if mode == "content_free" else s.strip() for s in subgoals]
        missing = list(dict.fromkeys(k for k in keys if k not in self._bias))
        if missing:
            filler = CONTENT_FREE if mode == "content_free" else ""
            prompts = [self.prompt(k, filler, filler) for k in missing]
            self._bias.update(zip(missing, self._logits(prompts)))
        return [self._bias[k] for k in keys]

    def _logits(self, prompts: list[str]) -> list[float]:
        scores = self.llm.score_batch(prompts, [list(self.config.answers)] * len(prompts))
        return [yes - no for yes, no in scores]

    def _generate(self, subgoal: str, before: str, after: str) -> float:
        answer = ask_choice(
            self.llm,
            self.messages(subgoal, before, after),
            ["yes", "no"],
            fallback="no",
            max_new_tokens=self.config.max_new_tokens,
        )
        return 1.0 if answer == "yes" else 0.0

    def info(self) -> dict[str, Any]:
        """The configuration and, once measured, the calibration bias (for reports)."""
        cfg = self.config
        return {
            "method": cfg.method,
            "view": cfg.view,
            "calibration": cfg.calibration,
            "threshold": cfg.threshold,
            "answers": list(cfg.answers),
            "biases": dict(self._bias),
            "llm": self.llm.config.spec,
        }


def sigmoid(x: float) -> float:
    """The probability of log-odds ``x``, without overflow."""
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
