"""A reward writer that learns: GRPO with LoRA on the LLM, rewarded by the ranking score of its programs.

Each update samples a group of G reward programs for one task's prompt, under the task's reward
grammar. A program's reward is its ranking score on the task's reference episodes (the rank
correlation of its returns with their true fitness; :mod:`mentor.rewards.rollouts`), and an
invalid program gets ``invalid_reward``. No policy is trained to score a program, so an update
costs one batched generation and one backward pass.

The update is GRPO's with one optimisation step per group (so the importance ratio is 1 and
there is nothing to clip): advantages are the group's rewards standardised within the group; the
loss is the advantage-weighted token log-likelihood of each program, averaged over the group's
tokens, plus ``kl_coef`` times the k3 estimate of the KL divergence from the frozen model (the
LoRA switched off). Log-probabilities are those of the unconstrained model on the sampled tokens:
the grammar's mask is not applied in the backward pass, which only adds a push away from tokens
that the grammar forbids anyway.

TRL's ``GRPOTrainer`` is not used: it samples through its own generation path, which does not take
the llguidance logits processor that keeps every program inside the grammar, and it expects a
dataset of prompts rather than a prompt per task with its own grammar and scorer.

Example:
    >>> from mentor.llm import LLMConfig, make_llm
    >>> from mentor.llm.constraints import Grammar
    >>> llm = make_llm(LLMConfig("transformers:tiny", cache=False))
    >>> grpo = ProgramGRPO(llm, GRPOConfig(group_size=4, max_new_tokens=4))
    >>> stats = grpo.step("Say a or b.", Grammar('start: "a" | "b"'), lambda text: float(text == "b"))
    >>> sorted(stats)[:3]
    ['advantage_std', 'grad_norm', 'invalid_share']
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from mentor.config import DictConfig
from mentor.envs import make as make_env
from mentor.errors import ConfigError
from mentor.llm import LLMConfig, Message, make_llm
from mentor.llm.constraints import Constraint
from mentor.llm.scoring import score_batch
from mentor.llm.transformers_backend import TransformersLLM
from mentor.rewards.grammar import reward_grammar
from mentor.rewards.loop import RewardLoop
from mentor.rewards.loop_config import RewardLoopConfig
from mentor.rewards.prompts import extract_code, initial_messages
from mentor.rewards.rollouts import Episode, record_random_steps, screen_reward
from mentor.rewards.state import describe_state
from mentor.rewards.tasks import RewardTask, get_reward_task, load_reward_tasks
from mentor.runs import RunDir, atomic_write_text

__all__ = [
    "GRPOConfig",
    "ProgramGRPO",
    "RewardWriterConfig",
    "RewardWriterTrainer",
    "ProgramScorer",
    "DEFAULT_HELDOUT",
]

#: The held-out tasks: one MuJoCo task and one that is not.
DEFAULT_HELDOUT = ("walker_walk", "crafter_place_table")

#: Where the LoRA goes: every attention and MLP projection.
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class GRPOConfig:
    """How :class:`ProgramGRPO` samples and updates.

    Attributes:
        group_size: programs sampled per prompt (G).
        temperature: sampling temperature.
        max_new_tokens: most tokens per program.
        learning_rate: Adam's step size on the LoRA weights.
        kl_coef: weight of the KL divergence from the frozen model.
        max_grad_norm: gradients are clipped to this norm.
        lora_rank: LoRA rank.
        lora_alpha: LoRA scale.
        seed: seed of the LoRA initialisation and of the sampling (one per update).
    """

    group_size: int = 8
    temperature: float = 0.7
    max_new_tokens: int = 320
    learning_rate: float = 1e-4
    kl_coef: float = 0.02
    max_grad_norm: float = 1.0
    lora_rank: int = 8
    lora_alpha: float = 16.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ConfigError(f"group_size ({self.group_size}) must be at least 2: GRPO compares a group's samples.")
        if self.temperature <= 0:
            raise ConfigError(f"temperature ({self.temperature}) must be > 0: a group of greedy samples is one sample.")
        for name in ("max_new_tokens", "lora_rank"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} ({getattr(self, name)}) must be at least 1.")
        if self.learning_rate <= 0 or self.kl_coef < 0 or self.max_grad_norm <= 0:
            raise ConfigError(
                f"learning_rate ({self.learning_rate}) and max_grad_norm ({self.max_grad_norm}) must be > 0, "
                f"kl_coef ({self.kl_coef}) >= 0."
            )


class ProgramGRPO:
    """GRPO over programs sampled under a grammar, with LoRA on a ``transformers`` LLM (see the module docstring).

    Args:
        llm: a :class:`~mentor.llm.transformers_backend.TransformersLLM`; its model gets the LoRA.
        config: sampling and update settings.
        adapter: a saved adapter folder (:meth:`save`) to start from instead of a fresh LoRA.
    """

    def __init__(self, llm: TransformersLLM, config: GRPOConfig | None = None, adapter: Path | str | None = None):
        if not isinstance(llm, TransformersLLM):
            raise ConfigError(f"GRPO trains a transformers model in this process, not a {llm.backend} backend.")
        self.llm = llm
        self.config = config or GRPOConfig()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed)
            if adapter is not None:
                model = PeftModel.from_pretrained(llm.model, str(adapter), is_trainable=True)
            else:
                lora = LoraConfig(
                    r=self.config.lora_rank,
                    lora_alpha=self.config.lora_alpha,
                    target_modules=list(LORA_TARGETS),
                    bias="none",
                )
                model = get_peft_model(llm.model, lora)
        llm.model = model
        self.optimizer = torch.optim.Adam(
            [p for p in model.parameters() if p.requires_grad], lr=self.config.learning_rate
        )
        self.updates = 0

    @property
    def model(self) -> PeftModel:
        return self.llm.model

    def sample(self, messages: Sequence[Message] | str, constraint: Constraint | None, n: int, seed: int) -> list[str]:
        """``n`` programs for ``messages`` under ``constraint`` (LoRA on), with a fixed seed."""
        self.llm.config.seed = seed
        return self.llm.generate(
            messages,
            max_new_tokens=self.config.max_new_tokens,
            temperature=self.config.temperature,
            n=n,
            constraint=constraint,
        )

    def step(
        self,
        messages: Sequence[Message] | str,
        constraint: Constraint | None,
        reward_fn: Callable[[str], float | None],
    ) -> dict[str, float]:
        """One group: sample, reward, and (when the rewards differ) one update. Returns the update's statistics.

        ``reward_fn(text)`` returning ``None`` marks the text invalid; it counts as the group's minimum.
        """
        cfg = self.config
        texts = self.sample(messages, constraint, cfg.group_size, seed=cfg.seed * 100_003 + self.updates)
        raw = [reward_fn(t) for t in texts]
        known = [r for r in raw if r is not None]
        floor = min(known) if known else 0.0
        rewards = torch.tensor([floor if r is None else r for r in raw], dtype=torch.float32)
        stats = {
            "reward_mean": float(rewards.mean()),
            "reward_max": float(rewards.max()),
            "reward_std": float(rewards.std()),
            "invalid_share": sum(r is None for r in raw) / len(raw),
            "advantage_std": 0.0,
            "loss": 0.0,
            "kl": 0.0,
            "grad_norm": 0.0,
            "tokens": 0.0,
        }
        self.updates += 1
        if float(rewards.std()) < 1e-6:
            return stats  # one reward for the whole group: no direction to move in
        advantages = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
        prompt = messages if isinstance(messages, str) else self.llm.render_chat(list(messages))
        programs = [t if t else " " for t in texts]
        self.model.train()
        out = score_batch(self.model, self.llm.tokenizer, [prompt], [programs], "sum")
        with torch.no_grad(), self.model.disable_adapter():
            reference = score_batch(self.model, self.llm.tokenizer, [prompt], [programs], "sum").token_logprobs
        mask = out.token_mask.float()
        tokens = mask.sum().clamp(min=1.0)
        delta = (reference - out.token_logprobs) * mask
        kl = ((torch.exp(delta) - delta - 1.0) * mask).sum() / tokens
        policy = -(advantages[:, None] * out.token_logprobs * mask).sum() / tokens
        loss = policy + cfg.kl_coef * kl
        self.optimizer.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], cfg.max_grad_norm
        )
        self.optimizer.step()
        self.model.eval()
        stats.update(
            advantage_std=float(advantages.std()),
            loss=float(loss.detach()),
            kl=float(kl.detach()),
            grad_norm=float(grad_norm),
            tokens=float(tokens),
        )
        return stats

    def save(self, folder: Path) -> None:
        """The adapter (peft's files) and the optimiser state, in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(folder))
        torch.save({"optimizer": self.optimizer.state_dict(), "updates": self.updates}, folder / "trainer.pt")

    def load_trainer_state(self, folder: Path) -> None:
        """The optimiser state and update count saved beside the adapter by :meth:`save`."""
        state = torch.load(folder / "trainer.pt", weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])


class ProgramScorer:
    """A task's prompt, grammar and scorer: a program's ranking score on the task's references, ``None`` if invalid.

    Args:
        task: the reward task.
        references: its reference episodes (:meth:`mentor.rewards.loop.RewardLoop.reference_episodes`).
        validation_steps: random transitions a program must run on before it is ranked.
    """

    def __init__(self, task: RewardTask, references: list[Episode], validation_steps: int = 64):
        self.task = task
        self.references = references
        env = make_env(task.env_id, **task.env_kwargs)
        self.grammar = reward_grammar(env)
        self.messages = initial_messages(task, describe_state(env), "eureka")
        env.close()
        episodes = record_random_steps(task.env_id, validation_steps, seed=10_000, env_kwargs=task.env_kwargs)
        self.validation = [t for e in episodes for t in e.transitions]

    def __call__(self, text: str) -> float | None:
        code = extract_code(text)
        if code is None:
            return None
        result = screen_reward(code, self.validation, self.references)
        if result.reason is not None:
            return None
        ranking = result.prerank.ranking if result.prerank is not None else None
        return 0.0 if ranking is None else ranking


@dataclass
class RewardWriterConfig(DictConfig):
    """What the reward writer trains on and how.

    Attributes:
        train_tasks: tasks whose prompts it trains on; ``None``: every task of the suite but the held-out ones.
        heldout_tasks: tasks it never trains on, to measure whether it learned to write rewards.
        updates: GRPO updates (one group of one task each, the tasks in turn).
        eval_samples: programs sampled per task to measure the mean ranking score before and after.
        grpo: sampling and update settings.
        references: the reward-loop settings the references are recorded with (the reference
            baseline's budget, episodes, snapshots); the same settings as a benchmark run reuse
            its cached references.
        algo: the SB3 algorithm of the reference trainings (``None``: each task's own); ``ppo``, as
            ``benchmarks/reward_generation.py`` trains, reuses that benchmark's cached references.
        llm: the LLM spec (a ``transformers`` one).
        checkpoint_every: updates between checkpoints.
    """

    train_tasks: list[str] | None = None
    heldout_tasks: list[str] = field(default_factory=lambda: list(DEFAULT_HELDOUT))
    updates: int = 24
    eval_samples: int = 16
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    references: dict[str, Any] = field(
        default_factory=lambda: {"steps": 4096, "final_seeds": 2, "eval_episodes": 5, "hyperparams": {}}
    )
    algo: str | None = "ppo"
    llm: str = "transformers:embedded"
    checkpoint_every: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.grpo, dict):
            self.grpo = GRPOConfig(**self.grpo)
        suite = load_reward_tasks()
        for name in [*(self.train_tasks or []), *self.heldout_tasks]:
            get_reward_task(name)
        if self.train_tasks is None:
            self.train_tasks = [name for name in suite if name not in self.heldout_tasks]
        overlap = sorted(set(self.train_tasks) & set(self.heldout_tasks))
        if overlap:
            raise ConfigError(f"tasks {overlap} are both trained on and held out; a held-out task must be unseen.")
        if not self.train_tasks:
            raise ConfigError("train_tasks is empty; name at least one task to train on.")
        if self.updates < 0 or self.eval_samples < 1 or self.checkpoint_every < 1:
            raise ConfigError(
                f"updates ({self.updates}) must be >= 0, eval_samples ({self.eval_samples}) and "
                f"checkpoint_every ({self.checkpoint_every}) >= 1."
            )
        RewardLoopConfig(**self.references)


class RewardWriterTrainer:
    """Trains the reward writer in a run folder, with checkpoints and resume; see :class:`RewardWriterConfig`.

    Run folder: ``config.yaml``, ``metrics.jsonl`` (one record per update), ``evaluation.json``
    (mean ranking score per task before and after), ``checkpoints/adapter`` (the newest adapter and
    optimiser state) and ``adapter/`` (the final adapter, for ``mentor reward --adapter``).
    """

    def __init__(self, config: RewardWriterConfig, run: RunDir | None = None, llm: TransformersLLM | None = None):
        self.config = config
        self.run = run if run is not None else RunDir.create("reward-writer")
        self._llm = llm
        self._scorers: dict[str, ProgramScorer] = {}

    @classmethod
    def resume(cls, run_dir: Path | str | RunDir, llm: TransformersLLM | None = None) -> RewardWriterTrainer:
        run = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
        if not run.config_path.exists():
            raise ConfigError(f"{run.path} holds no reward-writer config.yaml to resume from.")
        saved = {k: v for k, v in run.read_config().items() if k != "kind"}
        return cls(RewardWriterConfig.from_dict(saved), run, llm)

    def scorer(self, name: str) -> ProgramScorer:
        """The scorer of task ``name``; its references are recorded (or read from the cache) once."""
        if name not in self._scorers:
            task = get_reward_task(name)
            if self.config.algo is not None:
                task = dataclasses.replace(task, algo=self.config.algo)
            settings = {"prerank": "drop", "baselines": True, **self.config.references}
            loop = RewardLoop(task, RewardLoopConfig(**settings), run=RunDir(self.run.path / "references" / name))
            self._scorers[name] = ProgramScorer(task, loop.reference_episodes())
        return self._scorers[name]

    def evaluate(self, grpo: ProgramGRPO, names: Sequence[str], seed: int) -> dict[str, dict[str, Any]]:
        """Per task: the mean ranking score (invalid programs at -1) and the valid share of ``eval_samples`` programs."""
        out = {}
        for name in names:
            scorer = self.scorer(name)
            texts = grpo.sample(scorer.messages, scorer.grammar, self.config.eval_samples, seed=seed)
            scores = [scorer(t) for t in texts]
            values = [-1.0 if s is None else s for s in scores]
            out[name] = {
                "mean_ranking_score": float(np.mean(values)),
                "best_ranking_score": float(np.max(values)),
                "valid_share": sum(s is not None for s in scores) / len(scores),
            }
        return out

    def train(self) -> dict[str, Any]:
        """Evaluate, train (or finish training), evaluate again; returns and writes ``evaluation.json``."""
        cfg = self.config
        if not self.run.config_path.exists():
            self.run.write_config({"kind": "reward-writer", **cfg.to_dict()})
        llm = self._llm or make_llm(LLMConfig(cfg.llm, cache=False))
        checkpoint = self.run.checkpoints / "adapter"
        resumed = (checkpoint / "trainer.pt").exists()
        grpo = ProgramGRPO(llm, cfg.grpo, adapter=checkpoint if resumed else None)
        if resumed:
            grpo.load_trainer_state(checkpoint)
            self.run.truncate_metrics(grpo.updates)
        tasks = [*cfg.train_tasks, *cfg.heldout_tasks]
        before_path = self.run.path / "evaluation_before.json"
        if before_path.exists():
            before = json.loads(before_path.read_text())
        else:
            with grpo.model.disable_adapter():
                before = self.evaluate(grpo, tasks, seed=cfg.grpo.seed + 7)
            atomic_write_text(before_path, json.dumps(before, indent=2) + "\n")
        start = time.perf_counter()
        while grpo.updates < cfg.updates:
            name = cfg.train_tasks[grpo.updates % len(cfg.train_tasks)]
            scorer = self.scorer(name)
            update = grpo.updates
            stats = grpo.step(scorer.messages, scorer.grammar, scorer)
            self.run.append_metrics(
                {"kind": "update", "step": update + 1, "task": name, "seconds": time.perf_counter() - start, **stats}
            )
            if grpo.updates % cfg.checkpoint_every == 0 or grpo.updates == cfg.updates:
                grpo.save(checkpoint)
        grpo.model.save_pretrained(str(self.run.path / "adapter"))
        after = self.evaluate(grpo, tasks, seed=cfg.grpo.seed + 7)
        result = {
            "train_tasks": cfg.train_tasks,
            "heldout_tasks": cfg.heldout_tasks,
            "before": before,
            "after": after,
            "heldout_ranking_before": float(np.mean([before[t]["mean_ranking_score"] for t in cfg.heldout_tasks])),
            "heldout_ranking_after": float(np.mean([after[t]["mean_ranking_score"] for t in cfg.heldout_tasks])),
            "train_ranking_before": float(np.mean([before[t]["mean_ranking_score"] for t in cfg.train_tasks])),
            "train_ranking_after": float(np.mean([after[t]["mean_ranking_score"] for t in cfg.train_tasks])),
            "updates": grpo.updates,
            "adapter": str(self.run.path / "adapter"),
        }
        self.run.write_json("evaluation.json", result)
        return result
