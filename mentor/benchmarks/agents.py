"""Benchmark agents: each runs one (env, seed) cell inside a step budget and writes its files.

A cell folder receives ``metrics.jsonl`` (one record per episode played inside the budget, with its
env step), ``eval.json`` (outcomes of evaluation episodes on held-out seeds) and, for LLM agents,
``llm_usage.json``. Scores are computed from those files by :mod:`mentor.benchmarks.runner`.
This module holds the base class and the flat agents; :mod:`mentor.benchmarks.llm_agents` the composed ones.
"""

from __future__ import annotations

import dataclasses
import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from mentor.envs import make as make_env
from mentor.envs.registry import family_of
from mentor.errors import ConfigError, UnknownComponentError
from mentor.evaluation.episodes import EVAL_SEED_OFFSET, run_budget, run_eval_episodes
from mentor.evaluation.protocols import summarize_outcomes
from mentor.runs import RunDir

__all__ = [
    "CellJob",
    "BenchAgent",
    "RandomAgent",
    "SB3BenchAgent",
    "read_cell_files",
    "config_from_options",
    "sb3_cell_config",
]


@dataclass(frozen=True)
class CellJob:
    """One benchmark cell: an agent on one env with one seed.

    Attributes:
        agent: a key of :data:`BENCH_AGENTS`.
        env_id: mentor env id.
        seed: the cell's seed (training episodes and the agent's own randomness).
        budget: env steps the agent may take before evaluation (training included).
        eval_episodes: evaluation episodes on held-out seeds.
        cell_dir: folder the cell writes into.
        options: agent-specific options (for SB3 agents, ``SB3Config`` fields such as ``hyperparams``).
        llm: LLM spec for agents that use one (``None``: ``$MENTOR_LLM`` or the embedded model).
    """

    agent: str
    env_id: str
    seed: int
    budget: int
    eval_episodes: int
    cell_dir: str
    options: dict[str, Any] = field(default_factory=dict)
    llm: str | None = None


def config_from_options(config_class: type, agent: str, options: dict[str, Any], **fixed: Any) -> Any:
    """``config_class(**fixed, **options)``, where every option key must be a field the cell does not set itself.

    Raises:
        UnknownComponentError: an option names no such field (with the closest field and the choices).
    """
    fields = {f.name for f in dataclasses.fields(config_class) if f.init} - set(fixed)
    for key in options:
        if key not in fields:
            raise UnknownComponentError(f"{agent} option", key, fields)
    return config_class(**fixed, **options)


class BenchAgent(ABC):
    """Base class: ``run`` does the bookkeeping, subclasses implement ``_run`` (and ``check``, if they take options)."""

    def check(self, job: CellJob) -> None:
        """Reject options the cell would not use, before any cell starts (the runner calls it in the parent).

        Raises:
            ConfigError: an option is unknown or holds a value the agent cannot take.
        """
        if job.options:
            raise ConfigError(f"agent {job.agent!r} takes no options; got {', '.join(sorted(job.options))}.")

    def run(self, job: CellJob) -> None:
        """Run the cell and write ``eval.json`` and ``cell.json`` (env steps, wall seconds) into its folder."""
        run = RunDir(Path(job.cell_dir))
        run.path.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        outcomes, env_steps = self._run(job, run)
        run.write_json("eval.json", {**summarize_outcomes(outcomes), "outcomes": outcomes})
        run.write_json(
            "cell.json",
            {
                "agent": job.agent,
                "env_id": job.env_id,
                "seed": job.seed,
                "budget": job.budget,
                "env_steps": env_steps,
                "wall_seconds": time.perf_counter() - start,
            },
        )

    @abstractmethod
    def _run(self, job: CellJob, run: RunDir) -> tuple[list[dict[str, Any]], int]:
        """Play or train within ``job.budget`` (logging episodes into ``run``).

        Returns:
            The eval outcomes and the env steps taken before evaluation.
        """


class RandomAgent(BenchAgent):
    """Uniform over the admissible actions (the text view's), or over the action space."""

    def _run(self, job: CellJob, run: RunDir) -> tuple[list[dict[str, Any]], int]:
        rng = np.random.default_rng(job.seed)
        env = make_env(job.env_id)
        env.action_space.seed(job.seed)
        run.truncate_metrics(0)
        steps = run_budget(env, lambda obs, e: random_action(e, rng), job.budget, job.seed, run)
        outcomes = run_eval_episodes(env, lambda obs, e: random_action(e, rng), job.eval_episodes, EVAL_SEED_OFFSET)
        env.close()
        return outcomes, steps


def random_action(env: gym.Env, rng: np.random.Generator) -> Any:
    """A uniformly random admissible action of a mentor env."""
    admissible = env.get_wrapper_attr("admissible_actions")()
    if admissible:
        return env.get_wrapper_attr("text_to_action")(admissible[rng.integers(len(admissible))])
    return env.action_space.sample()


class SB3BenchAgent(BenchAgent):
    """An SB3 algorithm trained for the whole budget with zoo hyperparameters, then evaluated.

    ``env_wrapper`` (a dotted class path) wraps the env inside the zoo's own wrapper, for training and
    evaluation alike; ``families`` are the env families it is defined for (all when empty).
    """

    def __init__(self, algo: str, env_wrapper: str | None = None, families: tuple[str, ...] = ()):
        self.algo = algo
        self.env_wrapper = env_wrapper
        self.families = families

    def _config(self, job: CellJob) -> Any:
        from mentor.sb3.agent import SB3Config
        from mentor.sb3.hyperparams import load_hyperparams

        options = job.options
        if self.env_wrapper is not None:
            if self.families and family_of(job.env_id) not in self.families:
                raise ConfigError(
                    f"agent {job.agent!r} runs on {', '.join(self.families)} envs only; {job.env_id!r} is not one."
                )
            hyperparams = dict(options.get("hyperparams", {}))
            zoo = load_hyperparams(self.algo, job.env_id, options.get("hyperparams_path")).get("env_wrapper")
            zoo_wrappers = [] if not zoo else zoo if isinstance(zoo, list) else [zoo]
            hyperparams["env_wrapper"] = [self.env_wrapper, *zoo_wrappers]
            options = {**options, "hyperparams": hyperparams}
        return sb3_cell_config(SB3Config, job, self.algo, options)

    def check(self, job: CellJob) -> None:
        self._config(job)

    def _run(self, job: CellJob, run: RunDir) -> tuple[list[dict[str, Any]], int]:
        from mentor.sb3.agent import SB3Agent

        agent = SB3Agent(self._config(job), run)
        model = agent.train(resume=True)
        return agent.evaluate()["outcomes"], model.num_timesteps


def sb3_cell_config(config_class: type, job: CellJob, algo: str, options: dict[str, Any]) -> Any:
    """The ``SB3Config`` of a cell: the cell's env, seed and budget, the options' other fields."""
    return config_from_options(
        config_class,
        job.agent,
        options,
        env_id=job.env_id,
        algo=algo,
        total_timesteps=job.budget,
        seed=job.seed,
        n_eval_episodes=job.eval_episodes,
        progress_bar=False,
    )


def read_cell_files(cell_dir: Path) -> dict[str, Any]:
    """The raw files of a finished cell: training episodes, eval outcomes and LLM usage (if any)."""
    run = RunDir(cell_dir)
    usage_path = cell_dir / "llm_usage.json"
    return {
        "episodes": list(run.iter_metrics("episode")),
        "eval": run.read_json("eval.json"),
        "llm_usage": json.loads(usage_path.read_text()) if usage_path.exists() else {},
        "cell": run.read_json("cell.json"),
    }
