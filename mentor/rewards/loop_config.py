"""Settings of the reward loop (:class:`mentor.rewards.loop.RewardLoop`) and what it returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mentor.config import DictConfig
from mentor.errors import ConfigError
from mentor.executors import ExecutorConfig
from mentor.rewards.sandbox import SandboxConfig
from mentor.rewards.strategies import STRATEGIES

__all__ = ["MODES", "PRERANK_MODES", "RewardLoopConfig", "RewardLoopResult"]

MODES = tuple(STRATEGIES)
PRERANK_MODES = ("off", "drop", "audit")


@dataclass
class RewardLoopConfig(DictConfig):
    """How the reward loop searches.

    Attributes:
        mode: ``eureka`` (K samples per iteration, reflection) or ``text2reward`` (one zero-shot
            sample; further rounds only with human feedback).
        iterations: Eureka iterations; for Text2Reward, the most rounds (1 + feedback rounds).
        samples: candidates per iteration (K); ``None``: 4 for Eureka, 1 for Text2Reward.
        temperature: sampling temperature; ``None``: 0.7 for Eureka, 0 (greedy) for Text2Reward.
        max_new_tokens: most tokens per LLM answer.
        grammar: where the backend can, decode every candidate under the reward grammar of the task's
            state abstraction (:func:`mentor.rewards.grammar.reward_grammar`), so that it parses, reads
            only real fields and assigns before it reads; the gate and sandbox still check it.
        steps: env-step budget of each candidate's training.
        final_steps: budget of the final re-training and of the baselines; ``None``: ``steps``.
        final_seeds: seeds of the final re-training and of each baseline.
        eval_episodes: held-out episodes each trained policy is evaluated on.
        seed: first seed (candidates train with it; final and baseline seeds count up from it).
        num_points: points of training at which component statistics are taken.
        baselines: train the human and sparse rewards (needed for the human-normalised score).
        prerank: ``off``; ``drop`` (candidates whose returns order the reference episodes no better
            than chance are not trained, nor those ranked below the iteration's ``train_top``; when
            every valid candidate of an iteration is hopeless, the best-ranked still trains,
            recorded as ``kept_despite_flag``); ``audit`` (they are flagged but trained, to measure
            what dropping would save and whether it would have dropped the fittest; flags are never
            changed, and the reward carried forward and chosen is the fittest that passed the
            screen, as in ``drop``; the fittest of all when none passed).
        prerank_min_score: a candidate is hopeless when its ranking score (Spearman's rank
            correlation of its returns with the references' fitness, in [-1, 1]) is at most this.
        train_top: with pre-ranking, train at most this many of an iteration's valid candidates, the
            best-ranked; ``None``: every one that is not hopeless.
        prerank_episodes: reference episodes per reference policy.
        prerank_max_steps: most steps of a reference episode.
        reference_snapshots: snapshots of the reference baseline's policy, evenly spread over its
            training, whose episodes join the references (policies of graded competence).
        reference_epsilons: the final reference policy also plays with each of these shares of
            random actions.
        reference_cache: keep the reference episodes under ``<cache>/reward_references``, keyed by
            the task and every setting they depend on, and reuse them across runs.
        validation_steps: recorded random transitions every candidate must pass before training.
        hyperparams: overrides of the zoo hyperparameters (on top of the task's own).
        executor: runs the trainings (default: local process pool).
        sandbox: limits of every reward's sandbox.
    """

    mode: str = "eureka"
    iterations: int = 3
    samples: int | None = None
    temperature: float | None = None
    max_new_tokens: int = 512
    grammar: bool = True
    steps: int = 20_000
    final_steps: int | None = None
    final_seeds: int = 3
    eval_episodes: int = 10
    seed: int = 0
    num_points: int = 10
    baselines: bool = True
    prerank: str = "drop"
    prerank_min_score: float = 0.0
    train_top: int | None = None
    prerank_episodes: int = 3
    prerank_max_steps: int = 300
    reference_snapshots: int = 3
    reference_epsilons: list[float] = field(default_factory=lambda: [0.5])
    reference_cache: bool = True
    validation_steps: int = 64
    hyperparams: dict[str, Any] = field(default_factory=dict)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode ({self.mode!r}) must be one of {', '.join(MODES)}.")
        if self.prerank not in PRERANK_MODES:
            raise ConfigError(f"prerank ({self.prerank!r}) must be one of {', '.join(PRERANK_MODES)}.")
        if isinstance(self.executor, dict):
            self.executor = ExecutorConfig(**self.executor)
        if isinstance(self.sandbox, dict):
            self.sandbox = SandboxConfig(**self.sandbox)
        strategy = STRATEGIES[self.mode]
        if self.samples is None:
            self.samples = strategy.default_samples
        if self.temperature is None:
            self.temperature = strategy.default_temperature
        if strategy.max_samples is not None and self.samples > strategy.max_samples:
            raise ConfigError(
                f"{self.mode} mode writes {strategy.max_samples} reward per round; samples ({self.samples}) "
                f"must be at most {strategy.max_samples}."
            )
        if self.samples < 1 or self.iterations < 1:
            raise ConfigError(f"samples ({self.samples}) and iterations ({self.iterations}) must be at least 1.")
        if self.samples > 1 and self.temperature <= 0:
            raise ConfigError(
                f"samples ({self.samples}) > 1 needs temperature > 0 (got {self.temperature}); "
                "greedy decoding gives identical answers."
            )
        if self.final_steps is None:
            self.final_steps = self.steps
        for name in ("steps", "final_steps", "final_seeds", "eval_episodes", "max_new_tokens", "num_points"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} ({getattr(self, name)}) must be at least 1.")
        if not -1.0 <= self.prerank_min_score < 1.0:
            raise ConfigError(f"prerank_min_score ({self.prerank_min_score}) must be in [-1, 1).")
        if self.train_top is not None and (self.train_top < 1 or self.prerank == "off"):
            raise ConfigError(
                f"train_top ({self.train_top}) must be at least 1, and needs pre-ranking (prerank drop or audit, "
                f"not {self.prerank!r}) to rank the candidates by."
            )
        if self.reference_snapshots < 0 or not all(0.0 <= e <= 1.0 for e in self.reference_epsilons):
            raise ConfigError(
                f"reference_snapshots ({self.reference_snapshots}) must be >= 0 and reference_epsilons "
                f"({self.reference_epsilons}) in [0, 1]."
            )
        if self.prerank_episodes < 1 or self.prerank_max_steps < 1 or self.validation_steps < 1:
            raise ConfigError(
                f"prerank_episodes ({self.prerank_episodes}), prerank_max_steps ({self.prerank_max_steps}) and "
                f"validation_steps ({self.validation_steps}) must be at least 1."
            )


@dataclass
class RewardLoopResult:
    """What a reward loop found (also written to ``results.json``)."""

    run_dir: str
    task: str
    mode: str
    best_label: str | None
    best_code: str | None
    best_candidate_fitness: float | None
    final: dict[str, Any] | None
    human: dict[str, Any] | None
    sparse: dict[str, Any] | None
    human_normalized_score: float | None
    generated_ge_human: bool | None
    valid_code_rate: float
    num_candidates: int
    candidates: list[dict[str, Any]]
    prerank: dict[str, Any]
    sandbox: dict[str, Any]
    llm_usage: dict[str, Any]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
