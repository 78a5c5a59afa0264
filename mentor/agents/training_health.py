"""Health of an online RL run of an LLM policy: the signals that precede a collapse, and a warning when they meet.

RAGEN (Wang et al., 2025) names the failure of multi-turn LLM RL the "echo trap": the policy locks
onto one way of acting, the reward stops varying between the episodes of a group (so the
critic-free advantage carries no signal) while the gradient norm spikes. :class:`TrainingHealth`
keeps the per-update history of the return spread and the largest gradient norm, and flags an
update where the spread has fallen below ``std_drop`` of its highest level while the gradient norm
exceeds ``grad_spike`` times its median over the earlier updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["TrainingHealth", "return_spread"]


def return_spread(returns: Sequence[float], group_size: int | None = None) -> float | None:
    """Standard deviation of episode returns: within each group of ``group_size`` episodes, averaged over groups
    (GRPO / RLOO); over all episodes when ``group_size`` is None. None for fewer than two episodes."""
    values = np.asarray(returns, dtype=float)
    if group_size is None:
        return float(values.std()) if len(values) > 1 else None
    if group_size < 2 or len(values) < group_size:
        return None
    groups = values[: len(values) // group_size * group_size].reshape(-1, group_size)
    return float(groups.std(axis=1).mean())


@dataclass
class TrainingHealth:
    """The collapse check over a run's updates (see the module docstring).

    Args:
        std_drop: the spread counts as fallen below this fraction of its highest level so far.
        grad_spike: the gradient norm counts as spiking above this multiple of its earlier median.
        min_updates: earlier updates needed before the check can fire.

    Example:
        >>> health = TrainingHealth()
        >>> [health.observe(spread, grad) for spread, grad in [(0.4, 1.0), (0.5, 1.2), (0.4, 0.9), (0.0, 9.0)]]
        [False, False, False, True]
    """

    std_drop: float = 0.1
    grad_spike: float = 5.0
    min_updates: int = 3
    spreads: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)

    def observe(self, spread: float | None, grad_norm: float) -> bool:
        """Record one update's return spread (None: unknown) and largest gradient norm; whether it looks collapsed."""
        earlier = list(self.grad_norms)
        self.grad_norms.append(float(grad_norm))
        if spread is None:
            return False
        peak = max(self.spreads, default=0.0)
        self.spreads.append(float(spread))
        if len(earlier) < self.min_updates or peak <= 0:
            return False
        return spread < self.std_drop * peak and grad_norm > self.grad_spike * float(np.median(earlier))

    def state_dict(self) -> dict[str, list[float]]:
        return {"spreads": list(self.spreads), "grad_norms": list(self.grad_norms)}

    def load_state_dict(self, state: dict[str, list[float]]) -> None:
        self.spreads = list(state["spreads"])
        self.grad_norms = list(state["grad_norms"])
