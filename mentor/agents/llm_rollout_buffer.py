"""What one rollout of the LLM policy collects, and its advantages: GAE on the value head, or GRPO / RLOO over groups.

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
