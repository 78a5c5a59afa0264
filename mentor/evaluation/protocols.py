"""Benchmark protocols: the Crafter score, MiniGrid/BabyAI success rate, BALROG progression.

All of them are computed from episode outcomes (``info["episode_outcome"]`` records, as stored in a
run's ``metrics.jsonl``), never typed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from mentor.envs.crafter import CRAFTER_ACHIEVEMENTS

__all__ = [
    "CRAFTER_ACHIEVEMENTS",
    "crafter_score",
    "crafter_success_rates",
    "crafter_score_from_outcomes",
    "success_rate",
    "summarize_outcomes",
    "episodes_within_budget",
]


def crafter_score(success_rates_percent: Mapping[str, float] | Sequence[float]) -> float:
    """The Crafter score: ``exp(mean(ln(1 + s_i))) - 1`` over the 22 achievements, ``s_i`` in percent.

    Example:
        >>> round(crafter_score([100.0] * 22), 6)
        100.0
    """
    rates = (
        list(success_rates_percent.values())
        if isinstance(success_rates_percent, Mapping)
        else list(success_rates_percent)
    )
    if len(rates) != len(CRAFTER_ACHIEVEMENTS):
        raise ValueError(f"the Crafter score needs {len(CRAFTER_ACHIEVEMENTS)} success rates, got {len(rates)}")
    if any(not 0.0 <= r <= 100.0 for r in rates):
        raise ValueError(f"success rates must be percentages in [0, 100], got {rates}")
    return math.exp(sum(math.log(1.0 + r) for r in rates) / len(rates)) - 1.0


def crafter_success_rates(episode_achievements: Iterable[Iterable[str]]) -> dict[str, float]:
    """Per-achievement success rate in percent: the share of episodes that unlocked it at least once."""
    episodes = [set(a) for a in episode_achievements]
    if not episodes:
        return {name: 0.0 for name in CRAFTER_ACHIEVEMENTS}
    return {name: 100.0 * sum(name in e for e in episodes) / len(episodes) for name in CRAFTER_ACHIEVEMENTS}


def episodes_within_budget(outcomes: Iterable[Mapping[str, Any]], budget: int) -> list[Mapping[str, Any]]:
    """The episodes that finished within the first ``budget`` env steps (records carry ``step``)."""
    return [o for o in outcomes if o.get("step", 0) <= budget]


def crafter_score_from_outcomes(outcomes: Sequence[Mapping[str, Any]]) -> tuple[float, dict[str, float]]:
    """The Crafter score and per-achievement success rates (%) of a list of episode outcomes."""
    rates = crafter_success_rates(o["achievements"] for o in outcomes)
    return crafter_score(rates), rates


def success_rate(outcomes: Sequence[Mapping[str, Any]]) -> float:
    """Share of episodes whose outcome is a success (0 for an empty list)."""
    return float(np.mean([bool(o["success"]) for o in outcomes])) if outcomes else 0.0


def summarize_outcomes(outcomes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Success rate, mean/std return, mean length and mean progression of episode outcomes."""
    if not outcomes:
        return {
            "episodes": 0,
            "success_rate": 0.0,
            "mean_return": 0.0,
            "std_return": 0.0,
            "mean_length": 0.0,
            "progression": 0.0,
        }
    returns = np.array([o["return"] for o in outcomes], dtype=float)
    return {
        "episodes": len(outcomes),
        "success_rate": success_rate(outcomes),
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "mean_length": float(np.mean([o["length"] for o in outcomes])),
        "progression": float(np.mean([o["progression"] for o in outcomes])),
    }
