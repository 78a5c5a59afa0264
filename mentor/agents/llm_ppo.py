"""Online RL fine-tuning of the LLM policy (GLAM, TWOSOME): PPO over scored action strings, LoRA, a value head.

:class:`FinetuneConfig` holds every setting, :class:`LLMFinetuner` runs them, as in TRL. The policy
(:class:`mentor.agents.llm_policy.LLMPolicy`) is a softmax over the normalised log-likelihoods of
the admissible action strings of a text env; LoRA on its top layers and a value head are trained.

One update:

1. **Rollout** (:meth:`LLMFinetuner._collect_rollouts`): ``n_envs`` envs step together, one batched
   forward per step scoring the candidates of every env. The frozen trunk's output is kept with
   each sample, so the update runs only the trained layers, and it is cached by prompt
   (:class:`~mentor.agents.llm_policy.TrunkCache`): a prompt seen before costs only those layers.
2. **Advantages** (:meth:`LLMFinetuner._compute_advantages`): GAE on the value head (``gae``), or,
   critic-free, over groups of ``group_size`` episodes from the same seed: GRPO (return minus the
   group mean, over the group std) or REINFORCE-leave-one-out (return minus the mean of the others).
3. **Update** (:meth:`LLMFinetuner._update`): ``n_epochs`` of minibatches of the clipped PPO
   objective, value loss, entropy bonus and optional KL to the frozen reference (the adapters
   switched off), with gradient clipping.

Any env works whose text view (:func:`mentor.envs.describe`, :func:`mentor.envs.text_to_action`)
gives admissible action strings: BabyAI-Text, TextWorld, or an options env whose actions are skill
names. Episodes that hit a time limit are treated as ended (no bootstrap from the last state).

A run folder holds the config, ``metrics.jsonl`` (``episode``, ``update`` and, with ``eval_freq``,
``eval`` records, each with ``step`` in env steps), TensorBoard logs and ``checkpoints/trainer.pt``. Each update
record carries the training health: policy entropy, approximate KL, gradient norm (mean and max), the spread of
returns (within groups when critic-free) and ``health/echo_trap``, set with a warning when that spread collapses
while the gradient norm spikes (:mod:`mentor.agents.training_health`). The checkpoint holds LoRA and value-head
weights, optimiser, every RNG state, counters, and each env's episode seed and actions so far, which
are replayed on resume. A killed run resumed with ``train(resume=True)`` continues exactly where its
last checkpoint left it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import string
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from rich.console import Console

from mentor.agents.llm_policy import (
    DEFAULT_LORA_TARGETS,
    LLMPolicy,
    PolicyOutput,
    TreeSample,
    TrunkCache,
    collate_trees,
    pad_states,
)
from mentor.agents.training_health import TrainingHealth, return_spread
from mentor.envs import describe, text_to_action
from mentor.envs.text_view import TextObservation
from mentor.errors import ConfigError
from mentor.evaluation.episodes import EVAL_SEED_OFFSET, Policy
from mentor.evaluation.protocols import summarize_outcomes
from mentor.llm import NORMALIZATIONS, make_llm, parse_spec
from mentor.llm.config import DTYPES
from mentor.llm.usage import Usage
from mentor.planners.planner import saycan_scores
from mentor.runs import RunDir

__all__ = ["ADVANTAGES", "PROMPT_FIELDS", "FinetuneConfig", "LLMFinetuner", "task_key"]

#: ``gae``: PPO with the value head; ``grpo`` / ``rloo``: critic-free, over groups of episodes.
ADVANTAGES: tuple[str, ...] = ("gae", "grpo", "rloo")
#: Fields a prompt template may use.
PROMPT_FIELDS: tuple[str, ...] = ("text", "mission", "observation", "feedback", "actions")
CHECKPOINT_FILE = "trainer.pt"


def task_key(env_id: str) -> str:
    """The name of a task in metric keys (``progression/<key>``, ``rollout/success_rate/<key>``): the id's last part."""
    return env_id.split("/")[-1]


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class FinetuneConfig:
    """Settings of online RL fine-tuning of the LLM policy, grouped by concern.

    Example:
        >>> FinetuneConfig("mentor/BabyAI-GoToObj-v0", n_envs=8, n_steps=16).rollout_size
        128
    """

    # --- task
    env_id: str = field(default="mentor/BabyAI-GoToObj-v0", metadata=_help("Env id with a text view."))
    env_kwargs: dict[str, Any] = field(default_factory=dict, metadata=_help("Keyword arguments of gym.make."))
    tasks: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "Multi-task training (GLAM): env ids that one policy learns together, the n_envs split into equal "
            "blocks of consecutive envs, one block per task (each a whole number of groups when critic-free); "
            "env_id is then unused. Empty: env_id alone."
        ),
    )
    actions: tuple[str, ...] | None = field(
        default=None,
        metadata=_help("Offer the LLM only these admissible actions (None: every admissible action)."),
    )
    prompt_template: str = field(
        default="{text}\nNext action:",
        metadata=_help(
            "Prompt of each decision, a str.format template over {text} (the env's text view with the offered "
            "actions), {mission}, {observation}, {feedback} and {actions} (comma-separated)."
        ),
    )
    action_prefix: str = field(default=" ", metadata=_help("Put before each action string when it is scored."))

    # --- model
    model: str = field(default="transformers:embedded", metadata=_help("LLM spec of a transformers model."))
    dtype: str = field(default="float32", metadata=_help("Weights and compute dtype: float32, bfloat16, float16."))
    device: str = field(default="auto", metadata=_help("auto (CUDA when present, else CPU), cpu, cuda, cuda:N."))
    num_threads: int | None = field(default=None, metadata=_help("torch CPU threads (None: library default)."))
    normalize: Literal["sum", "token", "word"] = field(
        default="token", metadata=_help("Action score: sum, per-token mean or per-word sum of log-probs.")
    )
    trainable_layers: int | None = field(
        default=2,
        metadata=_help("LoRA on this many last decoder layers (None: all); the frozen rest runs once per sample."),
    )
    lora_rank: int = field(default=8, metadata=_help("Rank of the LoRA updates."))
    lora_alpha: float = field(default=16.0, metadata=_help("LoRA scale numerator (scale = alpha / rank)."))
    lora_dropout: float = field(default=0.0, metadata=_help("Dropout on the LoRA input."))
    lora_target_modules: tuple[str, ...] = field(
        default=DEFAULT_LORA_TARGETS, metadata=_help("Linear layers of each trained block that get LoRA.")
    )
    value_hidden_size: int = field(default=256, metadata=_help("Hidden width of the value MLP."))
    prior_weight: float = field(
        default=0.0,
        metadata=_help(
            "Weight of SayCan's prior in the policy: each offered skill's logit gains prior_weight * (log of its "
            "affordance + log(prior_repeat_penalty) per earlier choice of it in the episode); at 1 the untrained "
            "greedy policy is SayCan. 0: off. Needs an env with action_affordances (the options env)."
        ),
    )
    prior_min_affordance: float = field(
        default=0.01, metadata=_help("Floor of each affordance in the prior (SayCan's min_affordance).")
    )
    prior_repeat_penalty: float = field(
        default=1.0,
        metadata=_help("Prior factor per earlier choice of the same skill in the episode (SayCan's; 1: none)."),
    )
    trunk_cache_size: int = field(
        default=4096,
        metadata=_help("Samples whose frozen-trunk states are kept for reuse when a prompt recurs (0: no cache)."),
    )

    # --- rollouts and budget
    n_envs: int = field(default=16, metadata=_help("Envs stepped together, one batched LLM forward per step."))
    n_steps: int = field(default=16, metadata=_help("Steps per env per update (gae); critic-free runs whole episodes."))
    total_timesteps: int | None = field(default=4096, metadata=_help("Env-step budget (None: only max_minutes)."))
    max_minutes: float | None = field(
        default=None, metadata=_help("Training wall-clock budget in minutes; stops after the update that crosses it.")
    )

    # --- advantages
    advantage: Literal["gae", "grpo", "rloo"] = field(
        default="gae", metadata=_help("gae (value head), or critic-free grpo / rloo over episode groups.")
    )
    group_size: int = field(default=4, metadata=_help("Episodes per group from one seed (grpo, rloo)."))
    gamma: float = field(default=0.99, metadata=_help("Discount factor."))
    gae_lambda: float = field(default=0.95, metadata=_help("GAE lambda."))

    # --- PPO update
    learning_rate: float = field(default=3e-4, metadata=_help("Adam learning rate of the LoRA weights."))
    value_learning_rate: float = field(default=1e-3, metadata=_help("Adam learning rate of the value head."))
    n_epochs: int = field(default=4, metadata=_help("Passes over each rollout."))
    batch_size: int = field(default=64, metadata=_help("Samples per minibatch."))
    clip_range: float = field(default=0.2, metadata=_help("PPO ratio clip."))
    clip_range_vf: float | None = field(default=None, metadata=_help("Value clip around the old value (None: off)."))
    normalize_advantage: bool = field(
        default=True,
        metadata=_help(
            "Normalise GAE advantages per minibatch (grpo/rloo advantages are already relative to their group)."
        ),
    )
    ent_coef: float = field(default=0.01, metadata=_help("Entropy bonus weight."))
    vf_coef: float = field(default=0.5, metadata=_help("Value loss weight (gae only)."))
    kl_coef: float = field(default=0.0, metadata=_help("Weight of KL(policy || frozen reference); 0 skips it."))
    max_grad_norm: float = field(default=0.5, metadata=_help("Gradient norm clip."))
    target_kl: float | None = field(
        default=None, metadata=_help("Stop an update's epochs once the approximate KL exceeds 1.5x this.")
    )

    # --- run
    seed: int = field(default=0, metadata=_help("Seed of initialisation, sampling and training episodes."))
    checkpoint_freq: int = field(default=1, metadata=_help("Updates between checkpoints."))
    n_eval_episodes: int = field(default=50, metadata=_help("Held-out evaluation episodes (CLI, benchmark)."))
    deterministic_eval: bool = field(default=True, metadata=_help("Evaluate the greedy policy (False: sample)."))
    eval_freq: int = field(
        default=0,
        metadata=_help(
            "Updates between evaluations on held-out seeds during training, logged as 'eval' records "
            "(0: none); their time is not training time."
        ),
    )
    eval_freq_episodes: int = field(default=20, metadata=_help("Episodes of each evaluation during training."))
    verbose: bool = field(default=True, metadata=_help("Print one line per update."))

    # --- derived in __post_init__
    rollout_size: int = field(init=False, metadata=_help("Samples per update in gae mode (n_envs * n_steps)."))

    def __post_init__(self) -> None:
        self.actions = tuple(self.actions) if self.actions is not None else None
        self.tasks = tuple(self.tasks)
        self.lora_target_modules = tuple(self.lora_target_modules)
        self.rollout_size = self.n_envs * self.n_steps
        backend, _, _ = parse_spec(self.model)
        if backend != "transformers":
            raise ConfigError(
                f"model {self.model!r} uses the {backend} backend; fine-tuning needs a transformers spec."
            )
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype {self.dtype!r} is not one of {', '.join(DTYPES)}.")
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"normalize {self.normalize!r} is not one of {', '.join(NORMALIZATIONS)}.")
        if self.advantage not in ADVANTAGES:
            raise ConfigError(f"advantage {self.advantage!r} is not one of {', '.join(ADVANTAGES)}.")
        if len(set(self.tasks)) != len(self.tasks):
            raise ConfigError(f"tasks lists an env id twice: {', '.join(self.tasks)}.")
        if self.tasks and self.n_envs % len(self.tasks):
            raise ConfigError(
                f"n_envs ({self.n_envs}) must be a multiple of the number of tasks ({len(self.tasks)}), "
                "so that each task gets the same number of envs."
            )
        if self.actions is not None and not self.actions:
            raise ConfigError("actions is empty; give at least one action string or None for all admissible ones.")
        fields = {name for _, name, _, _ in string.Formatter().parse(self.prompt_template) if name is not None}
        unknown = sorted(fields - set(PROMPT_FIELDS))
        if unknown:
            raise ConfigError(
                f"prompt_template uses unknown field(s) {', '.join(unknown)}; allowed: {', '.join(PROMPT_FIELDS)}."
            )
        positive = {
            "n_envs": self.n_envs,
            "n_steps": self.n_steps,
            "n_epochs": self.n_epochs,
            "batch_size": self.batch_size,
            "lora_rank": self.lora_rank,
            "value_hidden_size": self.value_hidden_size,
            "checkpoint_freq": self.checkpoint_freq,
            "learning_rate": self.learning_rate,
            "value_learning_rate": self.value_learning_rate,
            "clip_range": self.clip_range,
            "max_grad_norm": self.max_grad_norm,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} ({value}) must be positive.")
        for name, value in {"total_timesteps": self.total_timesteps, "max_minutes": self.max_minutes}.items():
            if value is not None and value <= 0:
                raise ConfigError(f"{name} ({value}) must be positive (or None for no limit).")
        if self.total_timesteps is None and self.max_minutes is None:
            raise ConfigError("set total_timesteps or max_minutes (or both); with neither, training never stops.")
        if self.prior_weight < 0:
            raise ConfigError(f"prior_weight ({self.prior_weight}) must be 0 or more.")
        if not 0 < self.prior_min_affordance <= 1:
            raise ConfigError(f"prior_min_affordance ({self.prior_min_affordance}) must lie in (0, 1].")
        if not 0 < self.prior_repeat_penalty <= 1:
            raise ConfigError(f"prior_repeat_penalty ({self.prior_repeat_penalty}) must lie in (0, 1].")
        if self.trunk_cache_size < 0:
            raise ConfigError(f"trunk_cache_size ({self.trunk_cache_size}) must be 0 or more.")
        if self.trainable_layers is not None and self.trainable_layers < 1:
            raise ConfigError(f"trainable_layers ({self.trainable_layers}) must be at least 1 (or None for all).")
        if not 0 <= self.lora_dropout < 1:
            raise ConfigError(f"lora_dropout ({self.lora_dropout}) must be in [0, 1).")
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ConfigError(f"gamma ({self.gamma}) must be in (0, 1] and gae_lambda ({self.gae_lambda}) in [0, 1].")
        for name, value in {"ent_coef": self.ent_coef, "vf_coef": self.vf_coef, "kl_coef": self.kl_coef}.items():
            if value < 0:
                raise ConfigError(f"{name} ({value}) must be 0 or more.")
        for name, value in {"n_eval_episodes": self.n_eval_episodes, "eval_freq": self.eval_freq}.items():
            if value < 0:
                raise ConfigError(f"{name} ({value}) must be 0 or more.")
        if self.eval_freq and self.eval_freq_episodes < 1:
            raise ConfigError(
                f"eval_freq_episodes ({self.eval_freq_episodes}) must be at least 1 when eval_freq is set."
            )
        if self.advantage != "gae":
            if self.group_size < 2:
                raise ConfigError(f"group_size ({self.group_size}) must be at least 2 for {self.advantage}.")
            per_task = self.n_envs // max(len(self.tasks), 1)
            if per_task % self.group_size:
                raise ConfigError(
                    f"n_envs ({self.n_envs}) must be divisible by group_size ({self.group_size}) for {self.advantage}"
                    + (f" in each of the {len(self.tasks)} tasks." if self.tasks else ".")
                )
        elif self.batch_size > self.rollout_size:
            raise ConfigError(
                f"batch_size ({self.batch_size}) must be at most n_envs * n_steps ({self.n_envs} * {self.n_steps} = "
                f"{self.rollout_size})."
            )
        elif self.rollout_size % self.batch_size:
            warnings.warn(
                f"n_envs * n_steps ({self.rollout_size}) is not a multiple of batch_size ({self.batch_size}); "
                "the last minibatch of each epoch is smaller.",
                stacklevel=2,
            )

    @property
    def task_ids(self) -> tuple[str, ...]:
        """The env ids trained on: ``tasks``, or ``env_id`` alone."""
        return self.tasks or (self.env_id,)

    @property
    def run_name(self) -> str:
        """Default run-folder name: ``llm-ppo-<env>``, or ``llm-ppo-multitask``."""
        return f"llm-ppo-{'multitask' if self.tasks else task_key(self.env_id)}"

    @property
    def uses_value(self) -> bool:
        """Whether the value head is trained (``gae``)."""
        return self.advantage == "gae"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("rollout_size")
        data["tasks"] = list(data["tasks"])
        for key in ("actions", "lora_target_modules"):
            if data[key] is not None:
                data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneConfig:
        """A config from :meth:`to_dict` output or YAML; unknown keys are rejected with the known ones listed.

        Raises:
            ConfigError: a key is not a field.
        """
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown FinetuneConfig key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
        return cls(**data)


@dataclass
class _Slot:
    """One env of the vector and what is needed to replay its current episode."""

    env: gym.Env
    task: str = ""
    seed: int = 0
    actions: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)
    prior: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    done: bool = False


@dataclass
class _Rollout:
    """What one rollout collected, sample by sample (gae: step-major over envs)."""

    samples: list[TreeSample] = field(default_factory=list)
    trunk: list[torch.Tensor] = field(default_factory=list)
    actions: list[int] = field(default_factory=list)
    priors: list[torch.Tensor] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    ref_logprobs: list[torch.Tensor] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    dones: list[bool] = field(default_factory=list)
    episode: list[int] = field(default_factory=list)
    episode_returns: dict[int, float] = field(default_factory=dict)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    last_values: torch.Tensor | None = None
    advantages: torch.Tensor | None = None
    returns: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.samples)


class LLMFinetuner:
    """Fine-tunes an LLM policy online on a text env with PPO (GAE) or a critic-free GRPO / RLOO variant.

    Args:
        config: the settings; ``None`` takes the defaults.
        run: the run folder; ``None`` creates ``runs/<date>-llm-ppo-<env>``.
        env_fn: builds one env with a text view, or a mapping from each of ``config.task_ids`` to its builder;
            ``None`` means ``mentor.envs.make(task, **env_kwargs)`` for each task (``config.env_id`` alone when
            there are no ``tasks``).

    Raises:
        ConfigError: one ``env_fn`` for several tasks, or a mapping whose keys are not the tasks.

    Example:
        >>> cfg = FinetuneConfig("mentor/BabyAI-GoToObj-v0", model="transformers:tiny", total_timesteps=64)
        >>> trainer = LLMFinetuner(cfg)  # doctest: +SKIP
        >>> trainer.train()  # doctest: +SKIP
        >>> trainer.evaluate(20)["success_rate"]  # doctest: +SKIP
    """

    def __init__(
        self,
        config: FinetuneConfig | None = None,
        run: RunDir | None = None,
        env_fn: Callable[[], gym.Env] | Mapping[str, Callable[[], gym.Env]] | None = None,
    ):
        self.config = cfg = config if config is not None else FinetuneConfig()
        if env_fn is None:
            from mentor.envs import make

            self.env_fns = {task: functools.partial(make, task, **cfg.env_kwargs) for task in cfg.task_ids}
        elif isinstance(env_fn, Mapping):
            if set(env_fn) != set(cfg.task_ids):
                raise ConfigError(
                    f"env_fn maps {', '.join(env_fn) or 'nothing'}; it needs one builder per task: "
                    f"{', '.join(cfg.task_ids)}."
                )
            self.env_fns = {task: env_fn[task] for task in cfg.task_ids}
        elif cfg.tasks:
            raise ConfigError(
                f"env_fn builds one env, but the config has {len(cfg.tasks)} tasks; pass a mapping from each task "
                "to its builder, or env_fn=None to make them from their ids."
            )
        else:
            self.env_fns = {cfg.env_id: env_fn}
        self.run = run if run is not None else RunDir.create(cfg.run_name)
        self.console = Console()
        self.llm = make_llm(cfg.model, cache=False, dtype=cfg.dtype, device=cfg.device, num_threads=cfg.num_threads)
        self.policy = LLMPolicy(
            self.llm.model,
            self.llm.tokenizer,
            normalize=cfg.normalize,
            trainable_layers=cfg.trainable_layers,
            lora_rank=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            lora_target_modules=cfg.lora_target_modules,
            value_hidden_size=cfg.value_hidden_size,
            seed=cfg.seed,
        )
        self.llm.model = self.policy.peft_model
        self.trunk_cache = TrunkCache(self.policy, cfg.trunk_cache_size)
        lora = [p for n, p in self.policy.named_parameters() if p.requires_grad and not n.startswith("value_head.")]
        groups = [{"params": lora, "lr": cfg.learning_rate}]
        if cfg.uses_value:
            groups.append({"params": list(self.policy.value_head.parameters()), "lr": cfg.value_learning_rate})
        self.optimizer = torch.optim.Adam(groups, eps=1e-5)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        tasks = [cfg.task_ids[i * len(cfg.task_ids) // cfg.n_envs] for i in range(cfg.n_envs)]
        self.slots = [_Slot(self.env_fns[task](), task) for task in tasks]
        self.num_updates = 0
        self.num_timesteps = 0
        self.num_episodes = 0
        self.train_seconds = 0.0
        self.counters = {
            "policy_passes": 0,
            "prompts": 0,
            "prompt_tokens": 0,
            "trunk_passes": 0,
            "trunk_hits": 0,
            "update_samples": 0,
        }
        self.health = TrainingHealth()
        self._next_seed = 0
        self._started = False
        self._writer = None

    # ---- construction from a run folder
    @classmethod
    def from_run(
        cls, run: RunDir, env_fn: Callable[[], gym.Env] | Mapping[str, Callable[[], gym.Env]] | None = None
    ) -> LLMFinetuner:
        """The trainer of an existing run folder, with its saved config (call ``train(resume=True)`` next)."""
        data = {k: v for k, v in run.read_config().items() if k != "agent"}
        return cls(FinetuneConfig.from_dict(data), run, env_fn)

    # ---- text view
    def _offered(self, obs: TextObservation) -> list[str]:
        if self.config.actions is None:
            return list(obs.actions)
        offered = [a for a in obs.actions if a in self.config.actions]
        if not offered:
            raise ConfigError(
                f"none of the admissible actions ({', '.join(obs.actions)}) is in actions "
                f"({', '.join(self.config.actions)})."
            )
        return offered

    def prompt(self, obs: TextObservation, offered: Sequence[str]) -> str:
        """The decision prompt of a text observation with the offered actions."""
        view = dataclasses.replace(obs, actions=tuple(offered))
        return self.config.prompt_template.format(
            text=view.to_prompt(),
            mission=obs.mission,
            observation=obs.observation,
            feedback=obs.feedback,
            actions=", ".join(offered),
        )

    def _encode(self, slots: Sequence[_Slot]) -> list[TreeSample]:
        """The samples of the slots' current observations; sets each slot's offered actions and prior."""
        prompts, candidates = [], []
        for slot in slots:
            obs = describe(slot.env)
            slot.offered = self._offered(obs)
            slot.prior = self._log_prior(slot)
            prompts.append(self.prompt(obs, slot.offered))
            candidates.append([self.config.action_prefix + a for a in slot.offered])
        return self.policy.encode(prompts, candidates)

    def _log_prior(self, slot: _Slot) -> torch.Tensor:
        """SayCan's log prior of each offered action: log affordance plus the repeat penalty (empty when off)."""
        cfg = self.config
        if cfg.prior_weight == 0:
            return torch.empty(0)
        try:
            affordances = slot.env.get_wrapper_attr("action_affordances")(slot.offered)
            runs = slot.env.get_wrapper_attr("episode_skill_runs")
        except AttributeError:
            raise ConfigError(
                f"prior_weight ({cfg.prior_weight}) needs an env with action_affordances and episode_skill_runs "
                f"(an options env over skills); {type(slot.env.unwrapped).__name__} has none. Set prior_weight=0."
            ) from None
        usefulness = [0.0] * len(slot.offered)
        scores = saycan_scores(
            slot.offered, usefulness, affordances, cfg.prior_min_affordance, runs, cfg.prior_repeat_penalty
        )
        return torch.tensor([np.log(s.affordance * s.novelty) for s in scores], dtype=torch.float32)

    def _with_prior(self, out: PolicyOutput, priors: Sequence[torch.Tensor]) -> PolicyOutput:
        """``out`` with ``prior_weight`` times each sample's log prior added to its candidates' logits."""
        if self.config.prior_weight == 0:
            return out
        padded = torch.zeros(out.logits.shape, dtype=out.logits.dtype)
        for i, prior in enumerate(priors):
            padded[i, : len(prior)] = prior
        return PolicyOutput(out.logits + self.config.prior_weight * padded.to(out.logits.device), out.values)

    def _policy_output(
        self, samples: list[TreeSample], priors: Sequence[torch.Tensor], values: bool, reference: bool = False
    ) -> tuple[PolicyOutput, list[torch.Tensor], torch.Tensor | None]:
        """One batched forward over the samples (trunk from the cache), with their priors; with ``reference``,
        also the log-probs of the base model with the priors."""
        states = self.trunk_cache(samples)
        batch = collate_trees(samples, self.policy.device)
        trunk = pad_states(states)
        with torch.no_grad():
            out = self._with_prior(self.policy.head(batch, trunk, values=values), priors)
            ref = None
            if reference:
                with self.policy.reference():
                    base = self.policy.head(batch, trunk, values=False)
                    ref = self._with_prior(base, priors).log_probs().cpu()
        return out, states, ref

    # ---- episodes
    def _training_seed(self) -> int:
        seed = (self.config.seed * 1_000_003 + self._next_seed) % EVAL_SEED_OFFSET
        self._next_seed += 1
        return seed

    def _reset(self, slot: _Slot, seed: int) -> None:
        slot.env.reset(seed=seed)
        slot.seed, slot.actions, slot.done = seed, [], False

    def _step(self, slot: _Slot, action: str) -> tuple[float, bool, dict[str, Any] | None]:
        _, reward, terminated, truncated, info = slot.env.step(text_to_action(slot.env, action))
        slot.actions.append(action)
        done = bool(terminated or truncated)
        return float(reward), done, info.get("episode_outcome") if done else None

    def _end_episode(self, slot: _Slot, outcome: dict[str, Any] | None, buf: _Rollout) -> None:
        """Count and log an ended episode, with its task when multi-task, and keep its outcome in ``buf``."""
        self.num_episodes += 1
        if outcome is None:
            return
        if self.config.tasks:
            outcome = {"task": slot.task, **outcome}
        self.run.append_metrics({"kind": "episode", "step": self.num_timesteps, **outcome})
        buf.outcomes.append(outcome)

    # ---- stage 1: rollouts
    def _collect_rollouts(self) -> _Rollout:
        return self._collect_steps() if self.config.uses_value else self._collect_groups()

    def _counted(
        self, samples: list[TreeSample], priors: Sequence[torch.Tensor], values: bool, reference: bool = False
    ) -> tuple[PolicyOutput, list[torch.Tensor], torch.Tensor | None]:
        """:meth:`_policy_output` of training, counted in the throughput counters."""
        hits, passes = self.trunk_cache.hits, self.trunk_cache.passes
        result = self._policy_output(samples, priors, values, reference)
        self.counters["policy_passes"] += 1
        self.counters["prompts"] += len(samples)
        self.counters["prompt_tokens"] += sum(sample.num_tokens for sample in samples)
        self.counters["trunk_hits"] += self.trunk_cache.hits - hits
        self.counters["trunk_passes"] += self.trunk_cache.passes - passes
        return result

    def _act(
        self, samples: list[TreeSample], slots: Sequence[_Slot], buf: _Rollout, episodes: Sequence[int], values: bool
    ) -> list[int]:
        """Sample an action for each sample (of the slot beside it) and record the decisions in ``buf``; return
        the action indices."""
        priors = [slot.prior for slot in slots]
        out, states, ref = self._counted(samples, priors, values, reference=self.config.kl_coef > 0)
        log_probs = out.log_probs().float().cpu()
        actions = torch.multinomial(log_probs.exp(), 1, generator=self.generator).squeeze(-1)
        logprobs = log_probs.gather(-1, actions[:, None]).squeeze(-1)
        for i, sample in enumerate(samples):
            buf.samples.append(sample)
            buf.trunk.append(states[i])
            buf.priors.append(priors[i])
            buf.actions.append(int(actions[i]))
            buf.logprobs.append(float(logprobs[i]))
            buf.values.append(float(out.values[i]) if out.values is not None else 0.0)
            buf.ref_logprobs.append(ref[i] if ref is not None else torch.empty(0))
            buf.episode.append(episodes[i])
        return actions.tolist()

    def _collect_steps(self) -> _Rollout:
        """``n_steps`` batched steps of every env; episodes continue across rollouts."""
        buf = _Rollout()
        samples = self._encode(self.slots)
        for _ in range(self.config.n_steps):
            picks = self._act(samples, self.slots, buf, [self.num_episodes] * len(samples), values=True)
            for slot, a in zip(self.slots, picks):
                reward, done, outcome = self._step(slot, slot.offered[a])
                self.num_timesteps += 1
                buf.rewards.append(reward)
                buf.dones.append(done)
                if done:
                    self._end_episode(slot, outcome, buf)
                    self._reset(slot, self._training_seed())
            samples = self._encode(self.slots)
        buf.last_values = self._counted(samples, [s.prior for s in self.slots], values=True)[0].values.float().cpu()
        return buf

    def _collect_groups(self) -> _Rollout:
        """One episode per env; the envs of a group share their seed."""
        cfg = self.config
        buf = _Rollout()
        first = self.num_episodes
        for g in range(cfg.n_envs // cfg.group_size):
            seed = self._training_seed()
            for k in range(cfg.group_size):
                slot_index = g * cfg.group_size + k
                self._reset(self.slots[slot_index], seed)
                buf.episode_returns[first + slot_index] = 0.0
        while True:
            active = [i for i, slot in enumerate(self.slots) if not slot.done]
            if not active:
                break
            slots = [self.slots[i] for i in active]
            picks = self._act(self._encode(slots), slots, buf, [first + i for i in active], values=False)
            for i, slot, a in zip(active, slots, picks):
                reward, done, outcome = self._step(slot, slot.offered[a])
                self.num_timesteps += 1
                buf.rewards.append(reward)
                buf.dones.append(done)
                buf.episode_returns[first + i] += reward
                if done:
                    slot.done = True
                    self._end_episode(slot, outcome, buf)
        self.num_episodes = first + cfg.n_envs
        return buf

    # ---- stage 2: advantages
    def _compute_advantages(self, buf: _Rollout) -> None:
        cfg = self.config
        if cfg.uses_value:
            shape = (cfg.n_steps, cfg.n_envs)
            rewards = torch.tensor(buf.rewards).view(shape)
            dones = torch.tensor(buf.dones, dtype=torch.float32).view(shape)
            values = torch.tensor(buf.values).view(shape)
            advantages = torch.zeros(shape)
            last = torch.zeros(cfg.n_envs)
            for t in reversed(range(cfg.n_steps)):
                next_values = buf.last_values if t == cfg.n_steps - 1 else values[t + 1]
                alive = 1.0 - dones[t]
                delta = rewards[t] + cfg.gamma * next_values * alive - values[t]
                last = delta + cfg.gamma * cfg.gae_lambda * alive * last
                advantages[t] = last
            buf.advantages = advantages.flatten()
            buf.returns = buf.advantages + values.flatten()
            return
        returns = torch.tensor([buf.episode_returns[e] for e in sorted(buf.episode_returns)])
        groups = returns.view(-1, cfg.group_size)
        if cfg.advantage == "rloo":
            episode_adv = groups - (groups.sum(-1, keepdim=True) - groups) / (cfg.group_size - 1)
        else:
            episode_adv = (groups - groups.mean(-1, keepdim=True)) / (groups.std(-1, keepdim=True) + 1e-8)
        by_episode = dict(zip(sorted(buf.episode_returns), episode_adv.flatten().tolist()))
        buf.advantages = torch.tensor([by_episode[e] for e in buf.episode])
        buf.returns = torch.zeros(len(buf))

    # ---- stage 3: update
    def _minibatch_loss(self, buf: _Rollout, index: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        device = self.policy.device
        samples = [buf.samples[i] for i in index]
        batch = collate_trees(samples, device)
        trunk = pad_states([buf.trunk[i] for i in index])
        out = self._with_prior(self.policy.head(batch, trunk, values=cfg.uses_value), [buf.priors[i] for i in index])
        log_probs = out.log_probs()
        actions = torch.tensor([buf.actions[i] for i in index], device=device)
        old = torch.tensor([buf.logprobs[i] for i in index], device=device)
        adv = buf.advantages[index].to(device)
        if cfg.normalize_advantage and cfg.uses_value and len(index) > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        new = log_probs.gather(-1, actions[:, None]).squeeze(-1)
        log_ratio = new - old
        ratio = log_ratio.exp()
        policy_loss = -torch.min(ratio * adv, ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range) * adv).mean()
        probs = log_probs.exp()
        valid = torch.isfinite(log_probs)
        entropy = -(probs * log_probs.masked_fill(~valid, 0.0)).sum(-1).mean()
        loss = policy_loss - cfg.ent_coef * entropy
        stats = {"policy_loss": policy_loss.item(), "entropy": entropy.item()}
        if cfg.uses_value:
            returns = buf.returns[index].to(device)
            values = out.values
            if cfg.clip_range_vf is not None:
                old_values = torch.tensor([buf.values[i] for i in index], device=device)
                values = old_values + (values - old_values).clamp(-cfg.clip_range_vf, cfg.clip_range_vf)
            value_loss = (returns - values).pow(2).mean()
            loss = loss + cfg.vf_coef * value_loss
            stats["value_loss"] = value_loss.item()
        if cfg.kl_coef > 0:
            width = log_probs.shape[1]
            ref = torch.stack(
                [
                    torch.nn.functional.pad(
                        buf.ref_logprobs[i], (0, width - len(buf.ref_logprobs[i])), value=-torch.inf
                    )
                    for i in index
                ]
            ).to(device)
            kl_ref = (probs * (log_probs - ref).masked_fill(~valid, 0.0)).sum(-1).mean()
            loss = loss + cfg.kl_coef * kl_ref
            stats["kl_ref"] = kl_ref.item()
        with torch.no_grad():
            stats["approx_kl"] = ((ratio - 1) - log_ratio).mean().item()
            stats["clip_fraction"] = ((ratio - 1).abs() > cfg.clip_range).float().mean().item()
        stats["loss"] = loss.item()
        return loss, stats

    def _update(self, buf: _Rollout) -> dict[str, float]:
        cfg = self.config
        params = self.policy.trainable_parameters()
        self.policy.train()
        history: dict[str, list[float]] = {}
        stop = False
        for _ in range(cfg.n_epochs):
            order = torch.randperm(len(buf), generator=self.generator).tolist()
            kls = []
            for start in range(0, len(order), cfg.batch_size):
                index = order[start : start + cfg.batch_size]
                loss, stats = self._minibatch_loss(buf, index)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm))
                self.optimizer.step()
                self.counters["update_samples"] += len(index)
                kls.append(stats["approx_kl"])
                for key, value in stats.items():
                    history.setdefault(key, []).append(value)
            if cfg.target_kl is not None and np.mean(kls) > 1.5 * cfg.target_kl:
                stop = True
                break
        self.policy.eval()
        result = {f"train/{k}": float(np.mean(v)) for k, v in history.items()}
        result["train/grad_norm_max"] = float(np.max(history["grad_norm"]))
        result["train/early_stop"] = float(stop)
        if cfg.uses_value:
            values, returns = torch.tensor(buf.values), buf.returns
            variance = returns.var().item()
            result["train/explained_variance"] = 1 - (returns - values).var().item() / variance if variance > 0 else 0.0
        return result

    # ---- training loop
    def _budget_left(self) -> bool:
        cfg = self.config
        if cfg.total_timesteps is not None and self.num_timesteps >= cfg.total_timesteps:
            return False
        return cfg.max_minutes is None or self.train_seconds < 60 * cfg.max_minutes

    def train(self, resume: bool = False) -> dict[str, Any]:
        """Train until ``total_timesteps`` env steps or ``max_minutes`` of training, whichever comes first.

        A second call on the same trainer continues where the first stopped (raise a budget first).

        Args:
            resume: continue from the run folder's last checkpoint (from scratch when there is none).

        Returns:
            Counters and throughput: ``env_steps``, ``updates``, ``episodes``, ``minutes``,
            ``env_steps_per_s``, ``llm_forwards_per_s``, ``llm_prompts_per_s``, ``update_samples_per_s``.
        """
        self.run.write_config({"agent": "llm-ppo", **self.config.to_dict()})
        loaded = resume and self.load_checkpoint()
        if not (loaded or self._started):
            self.run.truncate_metrics(0)
            for slot in self.slots:
                self._reset(slot, self._training_seed())
        self._started = True
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(str(self.run.tensorboard), purge_step=self.num_updates + 1)
        try:
            while self._budget_left():
                self._train_one_update()
        finally:
            self._writer.close()
        return self.summary()

    def _train_one_update(self) -> None:
        start = time.perf_counter()
        buf = self._collect_rollouts()
        rollout_seconds = time.perf_counter() - start
        self._compute_advantages(buf)
        stats = self._update(buf)
        seconds = time.perf_counter() - start
        self.train_seconds += seconds
        self.num_updates += 1
        outcomes = buf.outcomes
        if self.config.uses_value:
            spread = return_spread([o["return"] for o in outcomes])
        else:
            spread = return_spread(
                [buf.episode_returns[e] for e in sorted(buf.episode_returns)], self.config.group_size
            )
        echo_trap = self.health.observe(spread, stats["train/grad_norm_max"])
        record = {
            "kind": "update",
            "step": self.num_timesteps,
            "update": self.num_updates,
            "seconds": self.train_seconds,
            "rollout/samples": len(buf),
            "rollout/episodes": len(outcomes),
            "rollout/success_rate": float(np.mean([o["success"] for o in outcomes])) if outcomes else None,
            "rollout/mean_return": float(np.mean([o["return"] for o in outcomes])) if outcomes else None,
            "rollout/mean_length": float(np.mean([o["length"] for o in outcomes])) if outcomes else None,
            **self._task_success(outcomes),
            "rollout/return_std": spread,
            **stats,
            "health/echo_trap": float(echo_trap),
            "time/rollout_seconds": rollout_seconds,
            "time/update_seconds": seconds - rollout_seconds,
            "time/env_steps_per_s": len(buf) / seconds,
        }
        self.run.append_metrics(record)
        for key, value in record.items():
            if "/" in key and value is not None:
                self._writer.add_scalar(key, value, self.num_timesteps)
        if self.config.verbose:
            success = record["rollout/success_rate"]
            self.console.print(
                f"update {self.num_updates}: {self.num_timesteps} steps, {self.train_seconds / 60:.1f} min, "
                f"success {'-' if success is None else f'{100 * success:.0f}%'} over {len(outcomes)} episodes, "
                f"loss {stats['train/loss']:.3f}, approx_kl {stats['train/approx_kl']:.4f}, "
                f"entropy {stats['train/entropy']:.3f}, grad norm {stats['train/grad_norm_max']:.2f}, "
                f"{record['time/env_steps_per_s']:.2f} steps/s"
            )
        if echo_trap:
            message = (
                f"update {self.num_updates}: the return spread {'within groups ' if not self.config.uses_value else ''}"
                f"fell to {spread:.3g} (peak {max(self.health.spreads, default=spread):.3g}) while the gradient norm spiked to "
                f"{stats['train/grad_norm_max']:.3g}: the policy may be collapsing (RAGEN's echo trap). Consider a "
                "larger ent_coef or kl_coef, a lower learning_rate, or the last good checkpoint."
            )
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            self.console.print(f"[yellow]warning:[/] {message}")
        if self.config.eval_freq and self.num_updates % self.config.eval_freq == 0:
            result = self._periodic_evaluation()
            stats = {k: v for k, v in result.items() if k not in ("outcomes", "deterministic")}
            self.run.append_metrics({"kind": "eval", "step": self.num_timesteps, "update": self.num_updates, **stats})
            if self._writer is not None:
                self._writer.add_scalar("eval/success_rate", result["success_rate"], self.num_timesteps)
            if self.config.verbose:
                self.console.print(
                    f"eval: success {100 * result['success_rate']:.0f}% over {result['episodes']} episodes"
                )
        if self.num_updates % self.config.checkpoint_freq == 0 or not self._budget_left():
            self.save_checkpoint()

    def _periodic_evaluation(self) -> dict[str, Any]:
        """The evaluation of ``eval_freq``: of the one task, or of every task with their mean (multi-task)."""
        episodes = self.config.eval_freq_episodes
        if not self.config.tasks:
            return self.evaluate(episodes)
        result = self.evaluate_tasks(episodes)
        return {
            "episodes": episodes * len(self.config.tasks),
            "success_rate": result["mean_success_rate"],
            "progression": result["mean_progression"],
            **{f"progression/{task_key(task)}": r["progression"] for task, r in result["tasks"].items()},
        }

    def _task_success(self, outcomes: Sequence[dict[str, Any]]) -> dict[str, float | None]:
        """``rollout/success_rate/<task>`` of each task of a multi-task run (None when none of its episodes ended)."""
        result: dict[str, float | None] = {}
        for task in self.config.tasks:
            ended = [o["success"] for o in outcomes if o["task"] == task]
            result[f"rollout/success_rate/{task_key(task)}"] = float(np.mean(ended)) if ended else None
        return result

    def summary(self) -> dict[str, Any]:
        """Counters and throughput so far (rates over training wall-clock time)."""
        seconds = max(self.train_seconds, 1e-9)
        return {
            "env_steps": self.num_timesteps,
            "updates": self.num_updates,
            "episodes": self.num_episodes,
            "minutes": self.train_seconds / 60,
            "env_steps_per_s": self.num_timesteps / seconds,
            "llm_forwards_per_s": self.counters["policy_passes"] / seconds,
            "llm_prompts_per_s": self.counters["prompts"] / seconds,
            "trunk_cache_hit_rate": self.counters["trunk_hits"] / max(self.counters["prompts"], 1),
            "update_samples_per_s": self.counters["update_samples"] / seconds,
            **{f"total_{k}": v for k, v in self.counters.items()},
        }

    def usage(self) -> Usage:
        """The LLM cost of training: each forward of a decision or value bootstrap reads one prompt and its candidates."""
        return Usage(calls=self.counters["prompts"], prompt_tokens=self.counters["prompt_tokens"])

    # ---- checkpoints
    @property
    def checkpoint_path(self) -> Path:
        return self.run.checkpoints / CHECKPOINT_FILE

    def save_checkpoint(self) -> Path:
        """Write everything needed to continue exactly: weights, optimiser, RNGs, counters, env replays."""
        state = {
            "trainable": self.policy.trainable_state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": {
                "generator": self.generator.get_state(),
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "python": random.getstate(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
            "progress": {
                "num_updates": self.num_updates,
                "num_timesteps": self.num_timesteps,
                "num_episodes": self.num_episodes,
                "train_seconds": self.train_seconds,
                "next_seed": self._next_seed,
                "counters": dict(self.counters),
                "health": self.health.state_dict(),
            },
            "envs": [{"seed": s.seed, "actions": list(s.actions)} for s in self.slots],
        }
        path = self.checkpoint_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        torch.save(state, tmp)
        os.replace(tmp, path)
        return path

    def load_checkpoint(self) -> bool:
        """Restore the last checkpoint of the run folder and replay each env's current episode.

        Returns:
            Whether a checkpoint was found.
        """
        if not self.checkpoint_path.exists():
            return False
        # On the CPU: RNG states must stay CPU tensors; weights and optimiser state are copied to their device.
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=False)
        self.policy.load_trainable_state_dict(state["trainable"])
        self.optimizer.load_state_dict(state["optimizer"])
        progress = state["progress"]
        self.num_updates = progress["num_updates"]
        self.num_timesteps = progress["num_timesteps"]
        self.num_episodes = progress["num_episodes"]
        self.train_seconds = progress["train_seconds"]
        self._next_seed = progress["next_seed"]
        self.counters.update(progress["counters"])
        if "health" in progress:
            self.health.load_state_dict(progress["health"])
        for slot, saved in zip(self.slots, state["envs"]):
            self._reset(slot, saved["seed"])
            for action in saved["actions"]:
                self._step(slot, action)
        rng = state["rng"]
        self.generator.set_state(rng["generator"])
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        if rng.get("cuda"):
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.run.truncate_metrics(self.num_timesteps)
        return True

    # ---- evaluation
    def evaluate(
        self,
        n_episodes: int | None = None,
        deterministic: bool | None = None,
        seed_offset: int = EVAL_SEED_OFFSET,
        task: str | None = None,
    ) -> dict[str, Any]:
        """Play episodes with seeds ``seed_offset + i`` on ``n_envs`` fresh envs, one batched forward per step.

        Args:
            n_episodes: episodes to play; ``None`` means ``config.n_eval_episodes``.
            deterministic: take the most likely action; ``None`` means ``config.deterministic_eval``.
            seed_offset: first episode seed (by default the held-out evaluation seeds).
            task: the env id to play, one of ``config.task_ids`` (``None``: the first).

        Raises:
            ConfigError: ``task`` is not one of the trainer's tasks.

        Returns:
            :func:`~mentor.evaluation.protocols.summarize_outcomes` of the episodes, with ``outcomes``
            in episode order, ``seconds`` and ``env_steps``.
        """
        cfg = self.config
        n_episodes = cfg.n_eval_episodes if n_episodes is None else n_episodes
        deterministic = cfg.deterministic_eval if deterministic is None else deterministic
        task = cfg.task_ids[0] if task is None else task
        if task not in self.env_fns:
            raise ConfigError(f"task {task!r} is not one of this trainer's tasks: {', '.join(self.env_fns)}.")
        generator = torch.Generator().manual_seed(seed_offset)
        slots = [_Slot(self.env_fns[task](), task) for _ in range(min(cfg.n_envs, n_episodes))]
        owner: dict[int, int] = {}
        outcomes: dict[int, dict[str, Any]] = {}
        next_episode, steps, start = 0, 0, time.perf_counter()
        for i, slot in enumerate(slots):
            self._reset(slot, seed_offset + next_episode)
            owner[i], next_episode = next_episode, next_episode + 1
        while owner:
            active = sorted(owner)
            batch_slots = [slots[i] for i in active]
            samples = self._encode(batch_slots)
            out = self._policy_output(samples, [slot.prior for slot in batch_slots], values=False)[0]
            log_probs = out.log_probs().cpu()
            if deterministic:
                picks = log_probs.argmax(-1)
            else:
                picks = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(-1)
            for i, slot, a in zip(active, batch_slots, picks.tolist()):
                _, done, outcome = self._step(slot, slot.offered[a])
                steps += 1
                if done:
                    outcomes[owner.pop(i)] = outcome or {}
                    if next_episode < n_episodes:
                        self._reset(slot, seed_offset + next_episode)
                        owner[i], next_episode = next_episode, next_episode + 1
        for slot in slots:
            slot.env.close()
        ordered = [outcomes[e] for e in range(n_episodes)]
        return {
            **summarize_outcomes(ordered),
            "outcomes": ordered,
            "seconds": time.perf_counter() - start,
            "env_steps": steps,
            "deterministic": deterministic,
        }

    def evaluate_tasks(self, n_episodes: int | None = None, deterministic: bool | None = None) -> dict[str, Any]:
        """:meth:`evaluate` on each of ``config.task_ids``, with the mean progression and success over the tasks."""
        tasks = {task: self.evaluate(n_episodes, deterministic, task=task) for task in self.config.task_ids}
        return {
            "tasks": tasks,
            "mean_progression": float(np.mean([r["progression"] for r in tasks.values()])),
            "mean_success_rate": float(np.mean([r["success_rate"] for r in tasks.values()])),
        }

    def as_policy(self, deterministic: bool = True) -> Policy:
        """A ``policy(obs, env) -> action`` for :func:`mentor.evaluation.episodes.run_eval_episodes`."""

        def act(obs: Any, env: gym.Env) -> Any:
            slot = _Slot(env)
            samples = self._encode([slot])
            with torch.no_grad():
                out = self.policy(collate_trees(samples, self.policy.device), values=False)
                log_probs = self._with_prior(out, [slot.prior]).log_probs()[0]
            index = int(log_probs.argmax()) if deterministic else int(torch.multinomial(log_probs.exp(), 1))
            return text_to_action(env, slot.offered[index])

        return act

    def close(self) -> None:
        """Close the training envs."""
        for slot in self.slots:
            slot.env.close()
