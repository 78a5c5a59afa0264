"""The on-policy machinery of LLM fine-tuning over text envs, as SB3's ``OnPolicyAlgorithm``: envs, rollouts, loop.

:class:`LLMOnPolicyAlgorithm` owns the LLM policy (LoRA on the top layers, a value head), the
optimiser and ``n_envs`` env slots. A subclass gives the update (:class:`mentor.agents.llm_ppo.LLMFinetuner`).

- **Rollouts** (:meth:`~LLMOnPolicyAlgorithm._collect_rollouts`): the envs step together, one batched
  forward per step scoring the candidates of every env. The frozen trunk's output is kept with each
  sample, so the update runs only the trained layers, and it is cached by prompt
  (:class:`~mentor.agents.llm_policy.TrunkCache`): a prompt seen before costs only those layers. With
  the value head (``gae``) each env plays ``n_steps`` steps; critic-free, each plays one episode and
  the envs of a group share a seed.
- **Warm start** (``imitation_samples``): before the first update, the policy imitates the env's expert
  (:mod:`mentor.agents.llm_imitation`); its env steps and time count in the budget.
- **Run folder**: the config, ``metrics.jsonl`` (``episode``, ``update`` and, with ``eval_freq``,
  ``eval`` records, each with ``step`` in env steps), TensorBoard logs and ``checkpoints/trainer.pt``.
  Each update record carries the training health: policy entropy, approximate KL, gradient norm (mean
  and max), the spread of returns (within groups when critic-free) and ``health/echo_trap``, set with
  a warning when that spread collapses while the gradient norm spikes (:mod:`mentor.agents.training_health`).
- **Checkpoints** hold the trained weights, optimiser, every RNG state, counters, and each env's
  episode seed and actions so far, which are replayed on resume: a killed run resumed with
  ``train(resume=True)`` continues exactly where its last checkpoint left it.
"""

from __future__ import annotations

import functools
import os
import random
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import gymnasium as gym
import numpy as np
import torch
from rich.console import Console

from mentor.agents.llm_decisions import DecisionEncoder
from mentor.agents.llm_imitation import ImitationWarmStart
from mentor.agents.llm_policy import (
    LLMPolicy,
    PolicyOutput,
    TreeSample,
    TrunkCache,
    collate_trees,
    pad_states,
)
from mentor.agents.llm_ppo_config import FinetuneConfig, task_key
from mentor.agents.llm_rollout_buffer import EnvSlot, RolloutBuffer
from mentor.agents.training_health import TrainingHealth, return_spread
from mentor.envs import text_to_action
from mentor.errors import ConfigError
from mentor.evaluation.episodes import EVAL_SEED_OFFSET, Policy, run_lockstep_eval_episodes
from mentor.evaluation.protocols import summarize_outcomes
from mentor.llm import make_llm
from mentor.llm.usage import Usage
from mentor.runs import RunDir

__all__ = ["CHECKPOINT_FILE", "LLMOnPolicyAlgorithm"]

CHECKPOINT_FILE = "trainer.pt"


class LLMOnPolicyAlgorithm(ABC):
    """Online RL of an LLM policy on text envs: rollouts, training loop, checkpoints and evaluation.

    Subclasses implement :meth:`_compute_advantages` and :meth:`_update`.

    Args:
        config: the settings; ``None`` takes the defaults.
        run: the run folder; ``None`` creates ``runs/<date>-llm-ppo-<env>``.
        env_fn: builds one env with a text view, or a mapping from each of ``config.task_ids`` to its builder;
            ``None`` means ``mentor.envs.make(task, **env_kwargs)`` for each task (``config.env_id`` alone when
            there are no ``tasks``).

    Raises:
        ConfigError: one ``env_fn`` for several tasks, or a mapping whose keys are not the tasks.
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
        self.decisions = DecisionEncoder(cfg, self.policy)
        lora = [p for n, p in self.policy.named_parameters() if p.requires_grad and not n.startswith("value_head.")]
        groups = [{"params": lora, "lr": cfg.learning_rate}]
        if cfg.uses_value:
            groups.append({"params": list(self.policy.value_head.parameters()), "lr": cfg.value_learning_rate})
        self.optimizer = torch.optim.Adam(groups, eps=1e-5)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.slots = [EnvSlot(self.env_fns[task](), task) for task in cfg.slot_tasks]
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
        self.imitation: list[dict[str, Any]] | None = None
        self._next_seed = 0
        self._started = False
        self._writer = None

    # ---- construction from a run folder
    @classmethod
    def from_run(
        cls, run: RunDir, env_fn: Callable[[], gym.Env] | Mapping[str, Callable[[], gym.Env]] | None = None
    ) -> Self:
        """The trainer of an existing run folder, with its saved config (call ``train(resume=True)`` next)."""
        data = {k: v for k, v in run.read_config().items() if k != "agent"}
        return cls(FinetuneConfig.from_dict(data), run, env_fn)

    def _policy_output(
        self, samples: list[TreeSample], priors: Sequence[torch.Tensor], values: bool, reference: bool = False
    ) -> tuple[PolicyOutput, list[torch.Tensor], torch.Tensor | None]:
        """One batched forward over the samples (trunk from the cache), with their priors; with ``reference``,
        also the log-probs of the base model with the priors."""
        states = self.trunk_cache(samples)
        batch = collate_trees(samples, self.policy.device)
        trunk = pad_states(states)
        with torch.no_grad():
            out = self.policy.head(batch, trunk, values=values).with_prior(priors, self.config.prior_weight)
            ref = None
            if reference:
                with self.policy.reference():
                    base = self.policy.head(batch, trunk, values=False)
                    ref = base.with_prior(priors, self.config.prior_weight).log_probs().cpu()
        return out, states, ref

    # ---- episodes
    def _training_seed(self) -> int:
        seed = (self.config.seed * 1_000_003 + self._next_seed) % EVAL_SEED_OFFSET
        self._next_seed += 1
        return seed

    def _end_episode(self, slot: EnvSlot, outcome: dict[str, Any] | None, buf: RolloutBuffer) -> None:
        """Count and log an ended episode, with its task when multi-task, and keep its outcome in ``buf``."""
        self.num_episodes += 1
        if outcome is None:
            return
        if self.config.tasks:
            outcome = {"task": slot.task, **outcome}
        self.run.append_metrics({"kind": "episode", "step": self.num_timesteps, **outcome})
        buf.outcomes.append(outcome)

    # ---- stage 1: rollouts
    def _collect_rollouts(self) -> RolloutBuffer:
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
        self,
        samples: list[TreeSample],
        slots: Sequence[EnvSlot],
        buf: RolloutBuffer,
        episodes: Sequence[int],
        values: bool,
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

    def _collect_steps(self) -> RolloutBuffer:
        """``n_steps`` batched steps of every env; episodes continue across rollouts."""
        buf = RolloutBuffer()
        samples = self.decisions.encode(self.slots)
        for _ in range(self.config.n_steps):
            picks = self._act(samples, self.slots, buf, [self.num_episodes] * len(samples), values=True)
            for slot, a in zip(self.slots, picks):
                reward, done, outcome = slot.step(slot.offered[a])
                self.num_timesteps += 1
                buf.rewards.append(reward)
                buf.dones.append(done)
                if done:
                    self._end_episode(slot, outcome, buf)
                    slot.reset(self._training_seed())
            samples = self.decisions.encode(self.slots)
        buf.last_values = self._counted(samples, [s.prior for s in self.slots], values=True)[0].values.float().cpu()
        return buf

    def _collect_groups(self) -> RolloutBuffer:
        """One episode per env; the envs of a group share their seed."""
        cfg = self.config
        buf = RolloutBuffer()
        first = self.num_episodes
        for g in range(cfg.n_envs // cfg.group_size):
            seed = self._training_seed()
            for k in range(cfg.group_size):
                slot_index = g * cfg.group_size + k
                self.slots[slot_index].reset(seed)
                buf.episode_returns[first + slot_index] = 0.0
        while True:
            active = [i for i, slot in enumerate(self.slots) if not slot.done]
            if not active:
                break
            slots = [self.slots[i] for i in active]
            picks = self._act(self.decisions.encode(slots), slots, buf, [first + i for i in active], values=False)
            for i, slot, a in zip(active, slots, picks):
                reward, done, outcome = slot.step(slot.offered[a])
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
    @abstractmethod
    def _compute_advantages(self, buf: RolloutBuffer) -> None:
        """Fill ``buf.advantages`` and ``buf.returns``."""

    @abstractmethod
    def _update(self, buf: RolloutBuffer) -> dict[str, float]:
        """Train on ``buf``; the ``train/*`` statistics, with ``train/loss``, ``train/approx_kl``, ``train/entropy``
        and ``train/grad_norm_max``."""

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
                slot.reset(self._training_seed())
        self._started = True
        if self.config.imitation_samples and self.imitation is None:
            self.imitation = ImitationWarmStart(self).run()
            if self.config.eval_freq:
                self._log_periodic_evaluation()
            self.save_checkpoint()
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
            self._log_periodic_evaluation()
        if self.num_updates % self.config.checkpoint_freq == 0 or not self._budget_left():
            self.save_checkpoint()

    def _log_periodic_evaluation(self) -> None:
        """Run :meth:`_periodic_evaluation` and log it as an ``eval`` record."""
        result = self._periodic_evaluation()
        stats = {k: v for k, v in result.items() if k not in ("outcomes", "deterministic")}
        self.run.append_metrics({"kind": "eval", "step": self.num_timesteps, "update": self.num_updates, **stats})
        if self._writer is not None:
            self._writer.add_scalar("eval/success_rate", result["success_rate"], self.num_timesteps)
        if self.config.verbose:
            self.console.print(f"eval: success {100 * result['success_rate']:.0f}% over {result['episodes']} episodes")

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
                "imitation": self.imitation,
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
        self.imitation = progress.get("imitation")
        for slot, saved in zip(self.slots, state["envs"]):
            slot.reset(saved["seed"])
            for action in saved["actions"]:
                slot.step(action)
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
        slots = [EnvSlot(self.env_fns[task](), task) for _ in range(min(cfg.n_envs, n_episodes))]

        def act(active: list[int]) -> list[Any]:
            batch = [slots[i] for i in active]
            out = self._policy_output(self.decisions.encode(batch), [slot.prior for slot in batch], values=False)[0]
            log_probs = out.log_probs().cpu()
            if deterministic:
                picks = log_probs.argmax(-1)
            else:
                picks = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(-1)
            return [text_to_action(slot.env, slot.offered[a]) for slot, a in zip(batch, picks.tolist())]

        start = time.perf_counter()
        ordered, steps = run_lockstep_eval_episodes([slot.env for slot in slots], act, n_episodes, seed_offset)
        for slot in slots:
            slot.env.close()
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
            slot = EnvSlot(env)
            samples = self.decisions.encode([slot])
            with torch.no_grad():
                out = self.policy(collate_trees(samples, self.policy.device), values=False)
                log_probs = out.with_prior([slot.prior], self.config.prior_weight).log_probs()[0]
            index = int(log_probs.argmax()) if deterministic else int(torch.multinomial(log_probs.exp(), 1))
            return text_to_action(env, slot.offered[index])

        return act

    def close(self) -> None:
        """Close the training envs."""
        for slot in self.slots:
            slot.env.close()
