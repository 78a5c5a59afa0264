"""Settings of online RL fine-tuning of the LLM policy (:class:`mentor.agents.llm_ppo.LLMFinetuner`), as TRL's ``PPOConfig``.

Every field carries its help text in ``metadata["help"]``; ``mentor train llm-ppo`` builds its options from them.
"""

from __future__ import annotations

import string
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

from mentor.agents.llm_policy import DEFAULT_LORA_TARGETS
from mentor.config import DictConfig
from mentor.errors import ConfigError
from mentor.llm import NORMALIZATIONS, parse_spec
from mentor.llm.config import DTYPES

__all__ = ["ADVANTAGES", "PROMPT_FIELDS", "FinetuneConfig", "task_key"]

#: ``gae``: PPO with the value head; ``grpo`` / ``rloo`` / ``gigpo``: critic-free, over groups of episodes
#: (GiGPO adds step-level credit over the steps of a group that share an observation).
ADVANTAGES: tuple[str, ...] = ("gae", "grpo", "rloo", "gigpo")
#: Fields a prompt template may use.
PROMPT_FIELDS: tuple[str, ...] = ("text", "mission", "observation", "feedback", "actions")


def task_key(env_id: str) -> str:
    """The name of a task in metric keys (``progression/<key>``, ``rollout/success_rate/<key>``): the id's last part."""
    return env_id.split("/")[-1]


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass
class FinetuneConfig(DictConfig):
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

    # --- imitation warm start (mentor.agents.llm_imitation)
    imitation_samples: int = field(
        default=0,
        metadata=_help(
            "Expert-labelled decisions of the warm start before online RL (behaviour cloning from the env's "
            "scripted expert, BabyAI's bot, then DAgger rounds); 0: none."
        ),
    )
    imitation_rounds: int = field(
        default=1,
        metadata=_help(
            "Rounds of the warm start, imitation_samples split among them: the first plays the expert, each later "
            "one plays the greedy policy with the expert's labels (DAgger), all aggregated."
        ),
    )
    imitation_epochs: int = field(default=2, metadata=_help("Passes over all demonstrations after each round."))
    imitation_learning_rate: float = field(default=1e-3, metadata=_help("Adam learning rate of the warm start."))

    # --- rollouts and budget
    n_envs: int = field(default=16, metadata=_help("Envs stepped together, one batched LLM forward per step."))
    n_steps: int = field(default=16, metadata=_help("Steps per env per update (gae); critic-free runs whole episodes."))
    total_timesteps: int | None = field(default=4096, metadata=_help("Env-step budget (None: only max_minutes)."))
    max_minutes: float | None = field(
        default=None, metadata=_help("Training wall-clock budget in minutes; stops after the update that crosses it.")
    )

    # --- advantages
    advantage: Literal["gae", "grpo", "rloo", "gigpo"] = field(
        default="gae", metadata=_help("gae (value head), or critic-free grpo / rloo / gigpo over episode groups.")
    )
    group_size: int = field(default=4, metadata=_help("Episodes per group from one seed (grpo, rloo, gigpo)."))
    gigpo_step_weight: float = field(
        default=1.0,
        metadata=_help(
            "GiGPO's omega: weight of the step advantage (a step's discounted return against the other steps of its "
            "group from the same observation) added to the episode advantage."
        ),
    )
    gamma: float = field(default=0.99, metadata=_help("Discount factor (GAE; GiGPO's step returns)."))
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
            "imitation_rounds": self.imitation_rounds,
            "imitation_epochs": self.imitation_epochs,
            "imitation_learning_rate": self.imitation_learning_rate,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} ({value}) must be positive.")
        for name, value in {"total_timesteps": self.total_timesteps, "max_minutes": self.max_minutes}.items():
            if value is not None and value <= 0:
                raise ConfigError(f"{name} ({value}) must be positive (or None for no limit).")
        if self.total_timesteps is None and self.max_minutes is None:
            raise ConfigError("set total_timesteps or max_minutes (or both); with neither, training never stops.")
        if self.imitation_samples < 0:
            raise ConfigError(f"imitation_samples ({self.imitation_samples}) must be 0 or more.")
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
        if self.gigpo_step_weight < 0:
            raise ConfigError(f"gigpo_step_weight ({self.gigpo_step_weight}) must be >= 0.")
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
    def slot_tasks(self) -> list[str]:
        """The task of each of the ``n_envs`` env slots: one block of consecutive slots per task."""
        return [self.task_ids[i * len(self.task_ids) // self.n_envs] for i in range(self.n_envs)]

    @property
    def run_name(self) -> str:
        """Default run-folder name: ``llm-ppo-<env>``, or ``llm-ppo-multitask``."""
        return f"llm-ppo-{'multitask' if self.tasks else task_key(self.env_id)}"

    @property
    def uses_value(self) -> bool:
        """Whether the value head is trained (``gae``)."""
        return self.advantage == "gae"
