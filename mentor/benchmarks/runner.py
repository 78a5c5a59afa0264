"""``mentor bench``: run a suite for some agents and seeds, resumably, and aggregate the run files.

Layout of a benchmark run folder::

    runs/<date>-bench-<suite>/
      config.yaml
      cells/<agent>/<env>/seed-<n>/{metrics.jsonl, eval.json, cell.json, ...}
      results.json  report.md  *.png
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mentor.benchmarks.agents import CellJob, read_cell_files
from mentor.benchmarks.registry import BENCH_AGENTS, make_bench_agent
from mentor.benchmarks.suites import PROTOCOLS, Suite, load_suite
from mentor.config import DictConfig
from mentor.envs import family_of
from mentor.errors import ConfigError, UnknownComponentError
from mentor.evaluation.protocols import crafter_score_from_outcomes, episodes_within_budget, summarize_outcomes
from mentor.executors import ExecutorConfig, make_executor
from mentor.runs import RunDir, runs_root

__all__ = [
    "BenchmarkConfig",
    "run_benchmark",
    "run_cell",
    "aggregate",
    "cell_dir",
    "cell_problem",
    "check_agent_options",
    "find_run",
]


@dataclass
class BenchmarkConfig(DictConfig):
    """A benchmark run.

    Attributes:
        suite: suite name (``configs/suites/<suite>.yml``).
        agents: benchmark agent names (see ``mentor.benchmarks.registry.BENCH_AGENTS``).
        seeds: seeds per cell; ``None`` takes the suite's.
        budget: env steps per cell; ``None`` takes the suite's.
        eval_episodes: eval episodes per cell; ``None`` takes the suite's.
        envs: a subset of the suite's envs; ``None`` runs all.
        agent_options: per-agent options passed into each cell (e.g. ``{"sb3-ppo": {"hyperparams": {...}}}``).
        executor: how cells run (process pool by default).
        llm: LLM spec for the agents that use one (``None``: ``$MENTOR_LLM`` or the embedded model).
    """

    suite: str
    agents: list[str]
    seeds: int | None = None
    budget: int | None = None
    eval_episodes: int | None = None
    envs: list[str] | None = None
    agent_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    llm: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.executor, dict):  # read back from config.yaml
            self.executor = ExecutorConfig(**self.executor)
        if not self.agents:
            raise ConfigError("agents is empty; name at least one of: " + ", ".join(BENCH_AGENTS) + ".")
        for agent in self.agents:
            if agent not in BENCH_AGENTS:
                raise UnknownComponentError("benchmark agent", agent, BENCH_AGENTS)
        for name in self.agent_options:
            if name not in self.agents:
                raise ConfigError(
                    f"agent_options names {name!r}, which is not an agent of this run; agents: {', '.join(self.agents)}."
                )
        for name, least in (("seeds", 1), ("budget", 1), ("eval_episodes", 0)):
            value = getattr(self, name)
            if value is not None and value < least:
                raise ConfigError(f"{name} ({value}) must be at least {least}; leave it out for the suite's default.")
        suite = self.resolved_suite()
        for env_id in self.envs or []:
            if env_id not in suite.envs:
                raise UnknownComponentError(f"env of suite {suite.name!r}", env_id, suite.envs)

    def resolved_suite(self) -> Suite:
        """The suite with this run's overrides applied."""
        suite = load_suite(self.suite)
        return Suite(
            name=suite.name,
            protocol=suite.protocol,
            envs=list(self.envs or suite.envs),
            budget=suite.budget if self.budget is None else self.budget,
            eval_episodes=suite.eval_episodes if self.eval_episodes is None else self.eval_episodes,
            seeds=suite.seeds if self.seeds is None else self.seeds,
            description=suite.description,
            reference=suite.reference,
        )


def _without_executor(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in ("executor", "command")}


def find_run(config: BenchmarkConfig) -> RunDir | None:
    """The newest run folder of ``config.suite`` started with the same configuration (the executor may differ)."""
    wanted = _without_executor(config.to_dict())
    for path in sorted(runs_root().glob(f"*-bench-{config.suite}*"), reverse=True):
        run = RunDir(path)
        if not run.config_path.exists():
            continue
        saved = BenchmarkConfig.from_dict(_without_executor(run.read_config())).to_dict()
        if _without_executor(saved) == wanted:
            return run
    return None


def cell_dir(run: RunDir, agent: str, env_id: str, seed: int) -> Path:
    return run.path / "cells" / agent / env_id.split("/")[-1] / f"seed-{seed}"


def run_cell(job: CellJob) -> str:
    """Run one cell (in a worker process); returns its folder."""
    import mentor.envs  # noqa: F401  (registers the ids in a fresh worker)

    make_bench_agent(job.agent).run(job)
    return job.cell_dir


def _jobs(config: BenchmarkConfig, suite: Suite, run: RunDir | None) -> list[CellJob]:
    return [
        CellJob(
            agent=agent,
            env_id=env_id,
            seed=seed,
            budget=suite.budget,
            eval_episodes=suite.eval_episodes,
            cell_dir=str(cell_dir(run, agent, env_id, seed)) if run is not None else "",
            options=config.agent_options.get(agent, {}),
            llm=config.llm,
        )
        for env_id in suite.envs
        for agent in config.agents
        for seed in range(suite.seeds)
    ]


def check_agent_options(config: BenchmarkConfig) -> None:
    """Check every agent's options on every env of the run, before any folder or cell exists.

    Raises:
        ConfigError: an option is unknown to its agent or holds a value it cannot take.
    """
    suite = config.resolved_suite()
    for job in _jobs(dataclasses.replace(config, seeds=1), dataclasses.replace(suite, seeds=1), None):
        make_bench_agent(job.agent).check(job)


def run_benchmark(config: BenchmarkConfig, run: RunDir | None = None) -> RunDir:
    """Run every unfinished cell of ``config`` and aggregate; pass an existing ``run`` to resume it."""
    suite = config.resolved_suite()
    check_agent_options(config)
    if run is None:
        run = RunDir.create(f"bench-{suite.name}")
    run.lock()
    if not run.config_path.exists():
        run.write_config({**config.to_dict(), "command": command_line()})
    pending = [j for j in _jobs(config, suite, run) if not (Path(j.cell_dir) / "cell.json").exists()]
    make_executor(config.executor).map(run_cell, pending)
    run.write_json("results.json", aggregate(run, suite, config.agents))
    return run


def command_line() -> str:
    """The command that started this process, for reports."""
    argv = list(sys.argv)
    if argv and argv[0].endswith("mentor"):
        argv[0] = "mentor"
    return shlex.join(argv)


def cell_problem(files: dict[str, Any]) -> str | None:
    """Why a finished cell's files cannot count (``None`` if they can): training episodes logged after the
    cell's last step, or covering more env steps than it ran (as when two processes wrote into the cell).

    (Episodes past the budget are dropped by the protocol itself: :func:`episodes_within_budget`.)
    """
    cell_steps = int(files["cell"].get("env_steps", 0))
    episodes = files["episodes"]
    steps = [int(e.get("step", 0)) for e in episodes]
    played = sum(int(e.get("length", 0)) for e in episodes)
    if steps and max(steps) > cell_steps:
        return f"an episode is logged at step {max(steps):,}, after the cell's last step {cell_steps:,}"
    if played > cell_steps:
        return f"its episodes cover {played:,} env steps, more than the cell's {cell_steps:,}"
    return None


def _cell_score(protocol: str, files: dict[str, Any], budget: int) -> dict[str, Any]:
    train = episodes_within_budget(files["episodes"], budget)
    eval_outcomes = files["eval"]["outcomes"]
    cell = {
        "seed": files["cell"]["seed"],
        "env_steps": files["cell"]["env_steps"],
        "wall_seconds": files["cell"]["wall_seconds"],
        "train": summarize_outcomes(train),
        "eval": summarize_outcomes(eval_outcomes),
        "llm_calls": files["llm_usage"].get("calls", 0),
        "llm_tokens": files["llm_usage"].get("prompt_tokens", 0) + files["llm_usage"].get("completion_tokens", 0),
        "llm_seconds": files["llm_usage"].get("seconds", 0.0),
        "llm_cache_hits": files["llm_usage"].get("cache_hits", 0),
    }
    if protocol == "crafter_score":
        # The paper scores the training episodes; an agent that plays none (zero-shot, or over a given zoo) is scored on its eval.
        cell["score_from"] = "train" if train else "eval"
        cell["score"], cell["achievement_rates"] = crafter_score_from_outcomes(train or eval_outcomes)
        cell["eval_crafter_score"], cell["eval_achievement_rates"] = crafter_score_from_outcomes(eval_outcomes)
    elif protocol == "success_rate":
        cell["score"] = cell["eval"]["success_rate"]
    elif protocol == "progression":
        cell["score"] = cell["eval"]["progression"]
    else:
        cell["score"] = cell["eval"]["mean_return"]
    return cell


def aggregate(run: RunDir, suite: Suite, agents: list[str]) -> dict[str, Any]:
    """``results.json``: one row per (env, agent) with mean ± std over seeds, from the cell files."""
    rows, rejected = [], []
    for env_id in suite.envs:
        for agent in agents:
            cells = []
            for seed in range(suite.seeds):
                folder = cell_dir(run, agent, env_id, seed)
                if not (folder / "cell.json").exists():
                    continue
                files = read_cell_files(folder)
                problem = cell_problem(files)
                if problem is not None:
                    warnings.warn(f"{folder} does not count: {problem}", RuntimeWarning, stacklevel=2)
                    rejected.append({"cell": str(folder.relative_to(run.path)), "reason": problem})
                    continue
                cells.append(_cell_score(suite.protocol, files, suite.budget))
            if not cells:
                continue
            scores = np.array([c["score"] for c in cells], dtype=float)
            row = {
                "env_id": env_id,
                "family": family_of(env_id),
                "agent": agent,
                "protocol": suite.protocol,
                "score_name": PROTOCOLS[suite.protocol],
                "score_mean": float(scores.mean()),
                "score_std": float(scores.std()),
                "seeds": len(cells),
                "success_rate": float(np.mean([c["eval"]["success_rate"] for c in cells])),
                "mean_return": float(np.mean([c["eval"]["mean_return"] for c in cells])),
                "env_steps": int(np.mean([c["env_steps"] for c in cells])),
                "wall_seconds": float(np.mean([c["wall_seconds"] for c in cells])),
                "llm_calls": float(np.mean([c["llm_calls"] for c in cells])),
                "llm_tokens": float(np.mean([c["llm_tokens"] for c in cells])),
                "llm_seconds": float(np.mean([c["llm_seconds"] for c in cells])),
                "llm_cache_hits": float(np.mean([c["llm_cache_hits"] for c in cells])),
                "cells": cells,
            }
            if suite.protocol == "crafter_score":
                sources = {c["score_from"] for c in cells}
                row["score_from"] = sources.pop() if len(sources) == 1 else "train and eval"
                if row["score_from"] == "eval":
                    row["score_name"] = "Crafter score (eval episodes; the agent plays no training episodes)"
                row["achievement_rates"] = {
                    name: float(np.mean([c["achievement_rates"][name] for c in cells]))
                    for name in cells[0]["achievement_rates"]
                }
                row["eval_crafter_score"] = float(np.mean([c["eval_crafter_score"] for c in cells]))
            rows.append(row)
    config = run.read_config()
    return {
        "suite": suite.name,
        "protocol": suite.protocol,
        "score_name": PROTOCOLS[suite.protocol],
        "budget": suite.budget,
        "eval_episodes": suite.eval_episodes,
        "command": config.get("command", ""),
        "rows": rows,
        "rejected_cells": rejected,
    }
