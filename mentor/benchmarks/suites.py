"""Benchmark suites: named sets of envs with a protocol and default budgets, from ``configs/suites/*.yml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mentor.envs import spec as env_spec
from mentor.errors import ConfigError, UnknownComponentError
from mentor.paths import configs_root

__all__ = ["PROTOCOLS", "Suite", "load_suite", "suite_names"]

#: Protocol -> the name of its headline number.
PROTOCOLS: dict[str, str] = {
    "success_rate": "success rate (eval, held-out seeds)",
    "crafter_score": "Crafter score (training episodes within the budget)",
    "progression": "BALROG progression (eval, 0-100)",
    "return": "mean return (eval)",
}


@dataclass
class Suite:
    """A benchmark suite.

    Attributes:
        name: the suite's name (its file name).
        protocol: one of :data:`PROTOCOLS`.
        envs: mentor env ids, in the order they are reported.
        budget: env steps per (env, agent, seed) cell; learning agents train within it.
        eval_episodes: evaluation episodes per cell, on held-out seeds.
        seeds: number of seeds per cell.
        description: free text for reports.
    """

    name: str
    protocol: str
    envs: list[str]
    budget: int = 100_000
    eval_episodes: int = 20
    seeds: int = 3
    description: str = ""
    reference: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise UnknownComponentError("benchmark protocol", self.protocol, PROTOCOLS)
        for env_id in self.envs:
            env_spec(env_id)
        for name, value in (("budget", self.budget), ("seeds", self.seeds)):
            if value < 1:
                raise ConfigError(f"suite {self.name!r}: {name} ({value}) must be >= 1.")
        if self.eval_episodes < 0:
            raise ConfigError(f"suite {self.name!r}: eval_episodes ({self.eval_episodes}) must be >= 0.")


def _suites_dir() -> Path:
    return configs_root() / "suites"


def suite_names() -> list[str]:
    """Names of the suites in ``configs/suites``."""
    return sorted(p.stem for p in _suites_dir().glob("*.yml"))


def load_suite(name: str) -> Suite:
    """The suite ``configs/suites/<name>.yml``.

    Raises:
        UnknownComponentError: no such suite; the message lists the available ones.
        ConfigError: the file has a field the suite does not know.
    """
    path = _suites_dir() / f"{name}.yml"
    if not path.exists():
        raise UnknownComponentError("benchmark suite", name, suite_names())
    data = yaml.safe_load(path.read_text())
    known = set(Suite.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}.")
    return Suite(**data)
