"""LLM critics: a success detector for subgoals, a trajectory judge, and the transitions to measure them on.

- :class:`SuccessDetector` answers "did the agent achieve X between these two states?" with a verdict
  and a calibrated probability (``detect(subgoal, before, after) -> (bool, float)``);
- :class:`TrajectoryJudge` scores a text trajectory against a mission (completion probability, rating);
- :func:`collect_transitions` gathers balanced labelled transitions from the envs, with ground truth
  from env state, for ``benchmarks/critics.py``;
- :mod:`mentor.critics.captions` turns env state into captions (ELLM's state and transition captions).

Example:
    >>> from mentor.critics import SuccessDetector
    >>> detector = SuccessDetector("transformers:tiny")
    >>> success, probability = detector.detect("pick up the key", "You see a key", "You carry a key")
    >>> 0.0 <= probability <= 1.0
    True
"""

from mentor.critics.captions import (
    CRAFTER_ACHIEVEMENT_CAPTIONS,
    caption_crafter_state,
    caption_crafter_transition,
)
from mentor.critics.detector import (
    CALIBRATIONS,
    DETECTOR_METHODS,
    DETECTOR_VIEWS,
    SuccessDetector,
    SuccessDetectorConfig,
    changed_lines,
)
from mentor.critics.judge import Judgement, TrajectoryJudge, TrajectoryJudgeConfig, TrajectoryStep
from mentor.critics.transitions import DETECTOR_ENVS, LabelledTransition, collect_transitions, state_text

__all__ = [
    "CALIBRATIONS",
    "CRAFTER_ACHIEVEMENT_CAPTIONS",
    "DETECTOR_ENVS",
    "DETECTOR_METHODS",
    "DETECTOR_VIEWS",
    "Judgement",
    "LabelledTransition",
    "SuccessDetector",
    "SuccessDetectorConfig",
    "TrajectoryJudge",
    "TrajectoryJudgeConfig",
    "TrajectoryStep",
    "caption_crafter_state",
    "caption_crafter_transition",
    "changed_lines",
    "collect_transitions",
    "state_text",
]
