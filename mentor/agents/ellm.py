"""ELLM agents: SB3 PPO on Crafter, rewarded for achieving goals an LLM suggests (:mod:`mentor.rewards.ellm`).

:class:`ELLMAgent` is an :class:`~mentor.sb3.agent.SB3Agent` whose training envs carry the
:class:`~mentor.rewards.ellm.ELLMReward` wrapper; all of them share one LLM, one goal suggester
(so an answer serves every env) and one embedder. Evaluation envs are the plain env: the outcome
(achievements, Crafter score) is the env's own.

Example:
    >>> from mentor.sb3.agent import SB3Config
    >>> agent = ELLMAgent(SB3Config("mentor/Crafter-Symbolic-v0", total_timesteps=20_000))  # doctest: +SKIP
    >>> agent.train()  # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import gymnasium as gym

from mentor.envs import family_of
from mentor.errors import ConfigError
from mentor.llm import LLM
from mentor.rewards.ellm import ELLMConfig, ELLMReward, ELLMStats, Embedder, GoalSuggester, SentenceEmbedder
from mentor.runs import RunDir
from mentor.sb3.agent import SB3Agent, SB3Config

__all__ = ["ELLMAgent"]


class ELLMAgent(SB3Agent):
    """An SB3 agent trained on the ELLM reward (Crafter).

    Args:
        config: the SB3 side (env, algorithm, budget, hyperparameters).
        ellm: the ELLM side; ``None`` for the defaults.
        llm: the goal-suggesting LLM: an LLM, a spec string, or ``None`` (``$MENTOR_LLM`` or the embedded model).
        run: run folder; ``None`` creates one.
        embedder: sentence embeddings; ``None`` loads ``ellm.embedder_path`` (default all-MiniLM-L6-v2).

    Raises:
        ConfigError: the env is not a Crafter env (the captioners are Crafter's).
    """

    def __init__(
        self,
        config: SB3Config,
        ellm: ELLMConfig | None = None,
        llm: LLM | str | None = None,
        run: RunDir | None = None,
        embedder: Embedder | None = None,
    ):
        if family_of(config.env_id) != "crafter":
            raise ConfigError(
                f"ELLM captions states and transitions of Crafter envs only; {config.env_id!r} is a "
                f"{family_of(config.env_id)} env."
            )
        if config.rollout_executor is not None and config.rollout_executor.kind != "sequential":
            raise ConfigError(
                f"ELLM asks its LLM from inside the training envs, so they step in this process; rollout_executor "
                f"kind {config.rollout_executor.kind!r} must be 'sequential' or None."
            )
        if run is None:
            run = RunDir.create(f"ellm-{config.algo}-{config.env_id.split('/')[-1]}")
        super().__init__(config, run)
        self.ellm_config = ellm if ellm is not None else ELLMConfig()
        self.embedder = embedder if embedder is not None else SentenceEmbedder(self.ellm_config.embedder_path)
        self.suggester = GoalSuggester(llm, self.ellm_config, self.embedder)
        self.stats = ELLMStats()

    @property
    def llm(self) -> LLM:
        """The goal-suggesting LLM (its ``usage`` counts the queries)."""
        return self.suggester.llm

    def training_env_wrapper(self) -> Callable[[gym.Env], gym.Env]:
        """Each training env in :class:`ELLMReward`, before the zoo ``env_wrapper``."""
        return functools.partial(
            ELLMReward, suggester=self.suggester, embedder=self.embedder, config=self.ellm_config, stats=self.stats
        )

    def summary(self) -> dict[str, Any]:
        """LLM queries, distinct state captions, rewards given and the most matched captions."""
        return {
            "llm_queries": self.suggester.num_queries,
            "state_captions_answered": self.suggester.num_captions,
            "nearest_caption_fallbacks": self.suggester.num_nearest,
            "similar_caption_reuses": self.suggester.num_reused,
            **self.stats.to_dict(),
            "config": asdict(self.ellm_config),
        }
