"""Train an SB3 agent on a reward given as code, and measure it: one picklable job, one result.

:func:`train_reward_job` is what the executor runs for every candidate, baseline and final seed.
Inside its worker process it starts the reward's sandbox, trains with the zoo hyperparameters of
the task's algorithm (rewards replaced by :class:`~mentor.rewards.wrappers.ReplaceVecReward`),
evaluates the policy on held-out seeds and computes the task fitness from the episode outcomes.
It writes ``result.json`` into the job's folder last, so a finished job is one with that file.

Recorded per job: the fitness after training; per-component statistics (mean, min and max of the
episode sums) at ``num_points`` points of training, along with the fitness and episode length;
the training curve; and what the sandbox cost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from mentor.errors import ConfigError, RewardCodeError
from mentor.rewards.fitness import get_fitness
from mentor.rewards.sandbox import RewardSandbox, SandboxConfig
from mentor.rewards.wrappers import RecordRewardTransition, ReplaceVecReward, RewardFunction
from mentor.runs import RunDir
from mentor.sb3.agent import SB3Agent, SB3Config

__all__ = [
    "ShapedRewardAgent",
    "RewardTrainJob",
    "RewardTrainResult",
    "train_reward_job",
    "load_result",
    "component_statistics",
    "RESULT_FILE",
]

RESULT_FILE = "result.json"


@dataclass
class RewardTrainJob:
    """One training of one reward (picklable; run by :func:`train_reward_job` in an executor).

    Attributes:
        label: what it is, e.g. ``iter-01/cand-02`` or ``human/seed-0``.
        folder: its folder (SB3 run files, ``result.json``).
        env_id: mentor env id.
        reward_code: the reward, ``compute_reward(state, action, next_state)``.
        fitness: the task fitness name.
        algo: SB3 algorithm.
        total_timesteps: env-step budget.
        seed: training seed.
        hyperparams: overrides of the zoo hyperparameters.
        env_kwargs: keyword arguments for ``mentor.envs.make``.
        eval_episodes: held-out episodes the fitness is computed on after training.
        num_points: points of training at which component statistics are taken.
        sandbox: limits of the reward's sandbox.
        snapshot_steps: keep the policy at these env steps too (:meth:`SB3Agent.load` with ``snapshot=``).
    """

    label: str
    folder: str
    env_id: str
    reward_code: str
    fitness: str
    algo: str = "ppo"
    total_timesteps: int = 10_000
    seed: int = 0
    hyperparams: dict[str, Any] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_episodes: int = 5
    num_points: int = 10
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    snapshot_steps: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.total_timesteps < 1:
            raise ConfigError(f"total_timesteps ({self.total_timesteps}) must be at least 1.")
        if self.eval_episodes < 1:
            raise ConfigError(f"eval_episodes ({self.eval_episodes}) must be at least 1 to measure the fitness.")
        if self.num_points < 1:
            raise ConfigError(f"num_points ({self.num_points}) must be at least 1.")


@dataclass
class RewardTrainResult:
    """What one training gave.

    Attributes:
        label: the job's label.
        folder: the job's folder.
        ok: training and evaluation finished; otherwise ``error`` says why.
        error: one-line reason the reward failed (fed back to the LLM), else ``None``.
        fitness: task fitness of the trained policy on held-out episodes.
        evaluation: summary of the held-out episodes (success rate, mean return, ...).
        component_stats: name -> per point ``{"step", "mean", "min", "max", "episodes"}`` of episode
            sums; also ``fitness`` and ``episode_length``.
        curve: per point ``{"step", "fitness", "env_return", "reward_return", "episodes"}``.
        steps: env steps trained.
        train_seconds: wall-clock seconds of training.
        eval_seconds: wall-clock seconds of evaluation.
        sandbox: the sandbox's :class:`~mentor.rewards.sandbox.SandboxStats` as a dict, with
            ``share_of_training`` (its seconds / ``train_seconds``).
    """

    label: str
    folder: str
    ok: bool
    error: str | None = None
    fitness: float | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    component_stats: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    curve: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    sandbox: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RewardTrainResult:
        return cls(**dict(data))


def load_result(folder: Path | str) -> RewardTrainResult | None:
    """The result a finished job left in ``folder``, or ``None`` if it has not finished."""
    path = Path(folder) / RESULT_FILE
    if not path.exists():
        return None
    return RewardTrainResult.from_dict(RunDir(Path(folder)).read_json(RESULT_FILE))


def _windows(records: list[Mapping[str, Any]], budget: int, num_points: int) -> Iterable[tuple[int, list]]:
    edges = np.linspace(0, budget, num_points + 1)
    edges[-1] = math.inf
    for i in range(num_points):
        inside = [r for r in records if edges[i] < r["step"] <= edges[i + 1]]
        yield int(min(edges[i + 1], budget)), inside


def component_statistics(
    episodes: list[Mapping[str, Any]], fitness: str, budget: int, num_points: int = 10
) -> tuple[dict[str, list[dict[str, float]]], list[dict[str, float]]]:
    """Component statistics and the training curve from logged training episodes.

    Args:
        episodes: ``kind == "episode"`` records of a run's ``metrics.jsonl`` (each an episode
            outcome with ``step`` and, when trained through the reward wrappers, ``reward``).
        fitness: the task fitness name (its per-episode value is tracked too).
        budget: the training budget in env steps.
        num_points: equal step windows; a window without finished episodes is left out.

    Returns:
        ``(stats, curve)`` as in :class:`RewardTrainResult`.
    """
    value = get_fitness(fitness).episode_value
    stats: dict[str, list[dict[str, float]]] = {}
    curve = []
    for step, inside in _windows(episodes, budget, num_points):
        if not inside:
            continue
        columns: dict[str, list[float]] = {"fitness": [], "episode_length": []}
        for record in inside:
            columns["fitness"].append(value(record))
            columns["episode_length"].append(float(record["length"]))
            for name, total in record.get("reward", {}).get("components", {}).items():
                columns.setdefault(name, []).append(float(total))
        for name, values in columns.items():
            stats.setdefault(name, []).append(
                {
                    "step": step,
                    "mean": float(np.mean(values)),
                    "min": float(np.min(values)),
                    "max": float(np.max(values)),
                    "episodes": len(values),
                }
            )
        reward_returns = [r["reward"]["total"] for r in inside if "reward" in r]
        curve.append(
            {
                "step": step,
                "fitness": float(np.mean(columns["fitness"])),
                "env_return": float(np.mean([r["return"] for r in inside])),
                "reward_return": float(np.mean(reward_returns)) if reward_returns else math.nan,
                "episodes": len(inside),
            }
        )
    return stats, curve


class ShapedRewardAgent(SB3Agent):
    """An :class:`SB3Agent` whose training envs get their rewards from ``reward_fn``, one batch per vector step."""

    def __init__(self, config: SB3Config, run: RunDir, reward_fn: RewardFunction):
        super().__init__(config, run)
        self.reward_fn = reward_fn

    def training_env_wrapper(self) -> Callable[[gym.Env], gym.Env]:
        return RecordRewardTransition

    def wrap_training_vec_env(self, venv: VecEnv) -> VecEnv:
        return ReplaceVecReward(venv, self.reward_fn)


def train_reward_job(job: RewardTrainJob) -> RewardTrainResult:
    """Train on ``job.reward_code`` (in its sandbox), evaluate, and write ``result.json``.

    A reward that fails during training (an exception, NaN, timeout, ...) ends the job with
    ``ok=False`` and the one-line reason; the job itself does not raise for it.
    """
    run = RunDir(Path(job.folder))
    run.path.mkdir(parents=True, exist_ok=True)
    run.metrics_path.unlink(missing_ok=True)
    config = SB3Config(
        job.env_id,
        algo=job.algo,
        total_timesteps=job.total_timesteps,
        seed=job.seed,
        hyperparams=dict(job.hyperparams),
        env_kwargs=dict(job.env_kwargs),
        checkpoint_freq=job.total_timesteps + 1,
        snapshot_steps=list(job.snapshot_steps),
        n_eval_episodes=job.eval_episodes,
        device="cpu",
        progress_bar=False,
    )
    result = RewardTrainResult(label=job.label, folder=job.folder, ok=False)
    sandbox = RewardSandbox(job.reward_code, job.sandbox)
    agent = ShapedRewardAgent(config, run, sandbox)
    start = time.perf_counter()
    try:
        with sandbox:
            agent.train()
        result.ok = True
    except RewardCodeError as e:
        steps = agent.model.num_timesteps if agent.model is not None else 0
        result.error = f"failed during training at step {steps}: {e}"
    result.train_seconds = time.perf_counter() - start
    result.steps = agent.model.num_timesteps if agent.model is not None else 0
    result.sandbox = {
        **sandbox.stats.to_dict(),
        "share_of_training": sandbox.stats.seconds / result.train_seconds if result.train_seconds else 0.0,
    }
    episodes = list(run.iter_metrics("episode"))
    result.component_stats, result.curve = component_statistics(
        episodes, job.fitness, job.total_timesteps, job.num_points
    )
    if result.ok:
        start = time.perf_counter()
        evaluation = agent.evaluate(job.eval_episodes)
        result.eval_seconds = time.perf_counter() - start
        outcomes = evaluation.pop("outcomes")
        result.fitness = get_fitness(job.fitness)(outcomes)
        result.evaluation = {
            **evaluation,
            "episode_fitness": [get_fitness(job.fitness).episode_value(o) for o in outcomes],
        }
    run.write_json(RESULT_FILE, result.to_dict())
    return result
