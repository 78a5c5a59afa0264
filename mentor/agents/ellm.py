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
from dataclasses import asdict
from typing import Any

from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from mentor.envs import family_of
from mentor.envs import make as make_env
from mentor.errors import ConfigError
from mentor.llm import LLM
from mentor.rewards.ellm import ELLMConfig, ELLMReward, ELLMStats, Embedder, GoalSuggester, SentenceEmbedder
from mentor.runs import RunDir
from mentor.sb3.agent import SB3Agent, SB3Config
from mentor.sb3.hyperparams import make_env_wrapper

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

    def make_vec_env(self, n_envs: int, seed: int) -> VecEnv:
        """Training envs: each mentor env wrapped in :class:`ELLMReward`, then the zoo ``env_wrapper``."""
        zoo_wrapper = make_env_wrapper(self.config.resolved_hyperparams.get("env_wrapper"))

        def wrap(env: Any) -> Any:
            env = ELLMReward(env, self.suggester, self.embedder, self.ellm_config, self.stats)
            return zoo_wrapper(env) if zoo_wrapper else env

        return make_vec_env(
            functools.partial(make_env, self.config.env_id),
            n_envs=n_envs,
            seed=seed,
            env_kwargs=self.config.env_kwargs,
            wrapper_class=wrap,
            vec_env_cls=DummyVecEnv,
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
