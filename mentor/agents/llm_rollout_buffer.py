"""What one rollout of the LLM policy collects, and its advantages: GAE on the value head, or GRPO / RLOO / GiGPO
over groups.

As SB3's ``RolloutBuffer`` (with ``compute_returns_and_advantage``), for scored action strings: each
sample keeps its tokenised prompt and candidates, the frozen trunk's output, the SayCan prior and the
reference log-probs, so the update runs only the trained layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import torch

from mentor.agents.llm_policy import TreeSample
from mentor.envs import text_to_action

__all__ = ["EnvSlot", "RolloutBuffer"]


@dataclass
class EnvSlot:
    """One env of the vector and what is needed to replay its current episode."""

    env: gym.Env
    task: str = ""
    seed: int = 0
    actions: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)
    prior: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    done: bool = False

    def reset(self, seed: int) -> None:
        """Start an episode with ``seed``."""
        self.env.reset(seed=seed)
        self.seed, self.actions, self.done = seed, [], False

    def step(self, action: str) -> tuple[float, bool, dict[str, Any] | None]:
        """Take the text ``action``; the reward, whether the episode ended, and its outcome if it did."""
        _, reward, terminated, truncated, info = self.env.step(text_to_action(self.env, action))
        self.actions.append(action)
        done = bool(terminated or truncated)
        return float(reward), done, info.get("episode_outcome") if done else None


@dataclass
class RolloutBuffer:
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

    def compute_gae(self, n_envs: int, gamma: float, gae_lambda: float) -> None:
        """GAE advantages and value targets of ``n_envs`` envs stepped together (``last_values`` bootstraps)."""
        shape = (len(self.rewards) // n_envs, n_envs)
        rewards = torch.tensor(self.rewards).view(shape)
        dones = torch.tensor(self.dones, dtype=torch.float32).view(shape)
        values = torch.tensor(self.values).view(shape)
        advantages = torch.zeros(shape)
        last = torch.zeros(n_envs)
        for t in reversed(range(shape[0])):
            next_values = self.last_values if t == shape[0] - 1 else values[t + 1]
            alive = 1.0 - dones[t]
            delta = rewards[t] + gamma * next_values * alive - values[t]
            last = delta + gamma * gae_lambda * alive * last
            advantages[t] = last
        self.advantages = advantages.flatten()
        self.returns = self.advantages + values.flatten()

    def compute_group_advantages(self, group_size: int, kind: str) -> None:
        """Critic-free advantages: each episode's return against its group of ``group_size`` (consecutive episode
        ids), ``grpo`` (minus the group mean, over the group std) or ``rloo`` (minus the mean of the others)."""
        returns = torch.tensor([self.episode_returns[e] for e in sorted(self.episode_returns)])
        groups = returns.view(-1, group_size)
        if kind == "rloo":
            episode_adv = groups - (groups.sum(-1, keepdim=True) - groups) / (group_size - 1)
        else:
            episode_adv = (groups - groups.mean(-1, keepdim=True)) / (groups.std(-1, keepdim=True) + 1e-8)
        by_episode = dict(zip(sorted(self.episode_returns), episode_adv.flatten().tolist()))
        self.advantages = torch.tensor([by_episode[e] for e in self.episode])
        self.returns = torch.zeros(len(self))

    def compute_gigpo_advantages(self, group_size: int, gamma: float, step_weight: float) -> None:
        """GiGPO (Feng et al., 2025): GRPO's episode advantage plus ``step_weight`` times a step advantage.

        Steps of one group's episodes that decide from the same observation (the same prompt and
        candidates: an anchor state, as grid worlds repeat) form a step group; a step's advantage is its
        discounted return from there against that step group's (minus the mean, over the std), and 0 in a
        step group of one.
        """
        self.compute_group_advantages(group_size, "grpo")
        group_of = {e: k // group_size for k, e in enumerate(sorted(self.episode_returns))}
        steps: dict[int, list[int]] = {}
        for i, e in enumerate(self.episode):
            steps.setdefault(e, []).append(i)
        returns = torch.zeros(len(self))
        for indices in steps.values():
            running = 0.0
            for i in reversed(indices):
                running = self.rewards[i] + gamma * running
                returns[i] = running
        anchors: dict[tuple[int, tuple[int, ...]], list[int]] = {}
        for i, (sample, e) in enumerate(zip(self.samples, self.episode)):
            anchors.setdefault((group_of[e], sample.token_ids), []).append(i)
        step_advantages = torch.zeros(len(self))
        for members in anchors.values():
            if len(members) > 1:
                group = returns[members]
                step_advantages[members] = (group - group.mean()) / (group.std() + 1e-8)
        self.advantages = self.advantages + step_weight * step_advantages
