"""Warm start of the LLM policy by imitation of a scripted expert: behaviour cloning, then DAgger rounds.

Online RL from a policy that never succeeds learns nothing: a zero-shot 135M model on BALROG's
BabyAI tasks scores 0. The best prior there is the env's own expert (:mod:`mentor.envs.experts`,
BabyAI's bot). Round 0 plays the expert and keeps its decisions (behaviour cloning). Each later
round plays the greedy policy and keeps the expert's label of every state that the policy reaches
(DAgger, Ross et al. 2011), so the policy learns to recover from its own mistakes. After each round
the policy is trained, by cross-entropy of its softmax over the offered actions against the
expert's action, on everything collected so far. Online RL (:class:`mentor.agents.llm_ppo.LLMFinetuner`)
then starts from this policy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mentor.agents.llm_policy import TreeSample, collate_trees, pad_states
from mentor.agents.llm_rollout_buffer import EnvSlot
from mentor.envs.experts import Expert, make_expert

if TYPE_CHECKING:
    from mentor.agents.llm_on_policy import LLMOnPolicyAlgorithm

__all__ = ["Demonstrations", "ImitationWarmStart"]


@dataclass
class Demonstrations:
    """Expert-labelled decisions: each sample with its trunk states, prior and the expert's action index."""

    samples: list[TreeSample] = field(default_factory=list)
    states: list[torch.Tensor] = field(default_factory=list)
    priors: list[torch.Tensor] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)


class ImitationWarmStart:
    """Runs the ``imitation_*`` settings of a trainer's config on its policy, with envs of its own.

    Args:
        trainer: the trainer whose policy learns; its envs, seeds and counters are used and advanced.
    """

    def __init__(self, trainer: LLMOnPolicyAlgorithm):
        self.trainer = trainer
        cfg = trainer.config
        self.data = Demonstrations()
        self.slots = [EnvSlot(trainer.env_fns[task](), task) for task in cfg.slot_tasks]
        self.experts: list[Expert] = [make_expert(slot.env) for slot in self.slots]
        self.optimizer = torch.optim.Adam(trainer.policy.trainable_parameters(), lr=cfg.imitation_learning_rate)
        self.generator = torch.Generator().manual_seed(cfg.seed)

    def run(self) -> list[dict[str, Any]]:
        """Every round: collect, then train; one ``imitation`` record per round, also written to the run's metrics."""
        cfg = self.trainer.config
        records = []
        per_round = -(-cfg.imitation_samples // cfg.imitation_rounds)
        for k in range(len(self.slots)):
            self._reset(k)
        for round_index in range(cfg.imitation_rounds):
            start = time.perf_counter()
            collected = self.collect(per_round, follow_expert=round_index == 0)
            trained = self.train(cfg.imitation_epochs)
            seconds = time.perf_counter() - start
            self.trainer.train_seconds += seconds
            record = {
                "kind": "imitation",
                "step": self.trainer.num_timesteps,
                "round": round_index,
                "follows": "expert" if round_index == 0 else "policy",
                "samples": len(self.data),
                **collected,
                **trained,
                "seconds": seconds,
            }
            self.trainer.run.append_metrics(record)
            records.append(record)
            if cfg.verbose:
                self.trainer.console.print(
                    f"imitation round {round_index} ({record['follows']}): {len(self.data)} labelled decisions, "
                    f"episode success {_percent(collected['episode_success'])}, loss {trained['loss']:.3f}, "
                    f"accuracy {100 * trained['accuracy']:.0f}%, {seconds:.0f} s"
                )
        for slot in self.slots:
            slot.env.close()
        return records

    def _reset(self, k: int) -> None:
        self.slots[k].reset(self.trainer._training_seed())
        self.experts[k].reset()

    def collect(self, n: int, follow_expert: bool) -> dict[str, Any]:
        """``n`` labelled decisions, playing the expert's actions or the greedy policy's; the episodes' success."""
        trainer = self.trainer
        taken: list[str | None] = [None] * len(self.slots)
        successes: list[bool] = []
        lost = 0
        new: list[TreeSample] = []
        while len(new) < n:
            samples = trainer.decisions.encode(self.slots)
            greedy = None
            if not follow_expert:
                priors = [slot.prior for slot in self.slots]
                greedy = trainer._policy_output(samples, priors, values=False)[0].log_probs().argmax(-1).tolist()
            for k, (slot, sample) in enumerate(zip(self.slots, samples)):
                label = self.experts[k].act(taken[k])
                if label is None or label not in slot.offered:
                    lost += 1
                    self._reset(k)
                    taken[k] = None
                    continue
                new.append(sample)
                self.data.samples.append(sample)
                self.data.priors.append(slot.prior)
                self.data.labels.append(slot.offered.index(label))
                action = label if greedy is None else slot.offered[greedy[k]]
                taken[k] = action
                _, done, outcome = slot.step(action)
                trainer.num_timesteps += 1
                if done:
                    successes.append(bool(outcome["success"]) if outcome else False)
                    self._reset(k)
                    taken[k] = None
        for start in range(0, len(new), 64):
            self.data.states.extend(trainer.trunk_cache(new[start : start + 64]))
        return {
            "episodes": len(successes),
            "episode_success": float(np.mean(successes)) if successes else None,
            "expert_lost": lost,
        }

    def train(self, epochs: int) -> dict[str, float]:
        """``epochs`` passes of cross-entropy against the expert's labels over all the demonstrations."""
        trainer, data = self.trainer, self.data
        cfg = trainer.config
        params = trainer.policy.trainable_parameters()
        trainer.policy.train()
        losses, hits = [], []
        for _ in range(epochs):
            order = torch.randperm(len(data), generator=self.generator).tolist()
            for start in range(0, len(order), cfg.batch_size):
                index = order[start : start + cfg.batch_size]
                batch = collate_trees([data.samples[i] for i in index], trainer.policy.device)
                out = trainer.policy.head(batch, pad_states([data.states[i] for i in index]), values=False)
                log_probs = out.with_prior([data.priors[i] for i in index], cfg.prior_weight).log_probs()
                labels = torch.tensor([data.labels[i] for i in index], device=log_probs.device)
                loss = -log_probs.gather(-1, labels[:, None]).mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                self.optimizer.step()
                losses.append(loss.item())
                hits.append((log_probs.argmax(-1) == labels).float().mean().item())
        trainer.policy.eval()
        last = max(len(losses) // max(epochs, 1), 1)
        return {"loss": float(np.mean(losses[-last:])), "accuracy": float(np.mean(hits[-last:]))}


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"
