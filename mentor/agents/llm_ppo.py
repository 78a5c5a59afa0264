"""Online RL fine-tuning of the LLM policy (GLAM, TWOSOME): PPO over scored action strings, LoRA, a value head.

:class:`~mentor.agents.llm_ppo_config.FinetuneConfig` holds every setting, :class:`LLMFinetuner` runs
them, as in TRL. The policy (:class:`mentor.agents.llm_policy.LLMPolicy`) is a softmax over the
normalised log-likelihoods of the admissible action strings of a text env; LoRA on its top layers
and a value head are trained.

One update:

1. **Rollout** (:meth:`~mentor.agents.llm_on_policy.LLMOnPolicyAlgorithm._collect_rollouts`): ``n_envs``
   envs step together, one batched forward per step (:mod:`mentor.agents.llm_on_policy`).
2. **Advantages** (:meth:`LLMFinetuner._compute_advantages`): GAE on the value head (``gae``), or,
   critic-free, over groups of ``group_size`` episodes from the same seed: GRPO (return minus the
   group mean, over the group std), REINFORCE-leave-one-out (return minus the mean of the others), or
   GiGPO (GRPO plus step-level credit among the group's steps from the same observation)
   (:class:`~mentor.agents.llm_rollout_buffer.RolloutBuffer`).
3. **Update** (:meth:`LLMFinetuner._update`): ``n_epochs`` of minibatches of the clipped PPO
   objective, value loss, entropy bonus and optional KL to the frozen reference (the adapters
   switched off), with gradient clipping (:func:`~mentor.agents.llm_ppo_loss.ppo_loss`).

Any env works whose text view (:func:`mentor.envs.describe`, :func:`mentor.envs.text_to_action`)
gives admissible action strings: BabyAI-Text, TextWorld, or an options env whose actions are skill
names. Episodes that hit a time limit are treated as ended (no bootstrap from the last state).
"""

from __future__ import annotations

import numpy as np
import torch

from mentor.agents.llm_on_policy import LLMOnPolicyAlgorithm
from mentor.agents.llm_policy import collate_trees, pad_states
from mentor.agents.llm_ppo_loss import ppo_loss
from mentor.agents.llm_rollout_buffer import RolloutBuffer

__all__ = ["LLMFinetuner"]


class LLMFinetuner(LLMOnPolicyAlgorithm):
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

    def _compute_advantages(self, buf: RolloutBuffer) -> None:
        cfg = self.config
        if cfg.uses_value:
            buf.compute_gae(cfg.n_envs, cfg.gamma, cfg.gae_lambda)
        elif cfg.advantage == "gigpo":
            buf.compute_gigpo_advantages(cfg.group_size, cfg.gamma, cfg.gigpo_step_weight)
        else:
            buf.compute_group_advantages(cfg.group_size, cfg.advantage)

    # ---- stage 3: update
    def _minibatch_loss(self, buf: RolloutBuffer, index: list[int]) -> tuple[torch.Tensor, dict[str, float]]:
        """:func:`~mentor.agents.llm_ppo_loss.ppo_loss` of the minibatch, its forward run on the kept trunk states."""
        batch = collate_trees([buf.samples[i] for i in index], self.policy.device)
        trunk = pad_states([buf.trunk[i] for i in index])
        out = self.policy.head(batch, trunk, values=self.config.uses_value)
        return ppo_loss(
            out.with_prior([buf.priors[i] for i in index], self.config.prior_weight), buf, index, self.config
        )

    def _update(self, buf: RolloutBuffer) -> dict[str, float]:
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
