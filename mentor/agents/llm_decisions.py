"""One decision of the LLM policy: the offered actions of a text observation, its prompt, and SayCan's prior."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from mentor.agents.llm_policy import LLMPolicy, TreeSample
from mentor.agents.llm_ppo_config import FinetuneConfig
from mentor.agents.llm_rollout_buffer import EnvSlot
from mentor.envs import describe
from mentor.envs.text_view import TextObservation
from mentor.errors import ConfigError
from mentor.planners.planner import saycan_scores

__all__ = ["DecisionEncoder"]


class DecisionEncoder:
    """Turns the current observation of each env slot into a tokenised decision of ``policy``.

    The offered actions are the admissible ones (within ``config.actions`` when set), the prompt is
    ``config.prompt_template`` over the text view, and with ``config.prior_weight`` each slot gets
    SayCan's log prior of its offered skills.
    """

    def __init__(self, config: FinetuneConfig, policy: LLMPolicy):
        self.config = config
        self.policy = policy

    def offered(self, obs: TextObservation) -> list[str]:
        """The admissible actions of ``obs`` that the policy may choose."""
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

    def encode(self, slots: Sequence[EnvSlot]) -> list[TreeSample]:
        """The samples of the slots' current observations; sets each slot's offered actions and prior."""
        prompts, candidates = [], []
        for slot in slots:
            obs = describe(slot.env)
            slot.offered = self.offered(obs)
            slot.prior = self.log_prior(slot)
            prompts.append(self.prompt(obs, slot.offered))
            candidates.append([self.config.action_prefix + a for a in slot.offered])
        return self.policy.encode(prompts, candidates)

    def log_prior(self, slot: EnvSlot) -> torch.Tensor:
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
