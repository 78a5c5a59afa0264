"""Bench adapters of the composed agents: each runs one benchmark cell of a zero-shot, ELLM, hierarchical or
fine-tuned LLM agent (:mod:`mentor.agents`) and writes its files.

The flat ones (random, SB3) are in :mod:`mentor.benchmarks.agents`; :mod:`mentor.benchmarks.registry`
names them all.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, ClassVar

from mentor.agents.ellm import ELLMAgent
from mentor.agents.hierarchical import HierarchicalAgent, HierarchicalConfig
from mentor.agents.llm_ppo import LLMFinetuner
from mentor.agents.llm_ppo_config import FinetuneConfig
from mentor.agents.zero_shot import (
    CoTLLMAgent,
    NaiveLLMAgent,
    SpringLLMAgent,
    ZeroShotConfig,
    ZeroShotLLMAgent,
    make_env_with_horizon,
)
from mentor.benchmarks.agents import BenchAgent, CellJob, config_from_options, sb3_cell_config
from mentor.envs import family_of
from mentor.envs.wrappers import CallOnReset
from mentor.errors import ConfigError
from mentor.evaluation.episodes import EVAL_SEED_OFFSET, run_eval_episodes
from mentor.llm import make_llm
from mentor.rewards.ellm import ELLMConfig
from mentor.runs import RunDir
from mentor.sb3.agent import SB3Config

__all__ = [
    "CoTLLMBenchAgent",
    "ELLMBenchAgent",
    "HierarchicalBenchAgent",
    "HierarchicalSB3BenchAgent",
    "HierarchicalSayCanBenchAgent",
    "LLMPPOBenchAgent",
    "NaiveLLMBenchAgent",
    "SpringLLMBenchAgent",
    "ZeroShotBenchAgent",
]


class ZeroShotBenchAgent(BenchAgent):
    """A zero-shot agent in a benchmark cell: no training (0 env steps), then the eval episodes.

    ``job.options``: ``max_steps`` (episode horizon, default the env's own) and any
    :class:`ZeroShotConfig` field. Writes ``llm_usage.json`` and ``zero_shot.json`` (steps, invalid actions).
    """

    agent_class: ClassVar[type[ZeroShotLLMAgent]]

    def check(self, job: CellJob) -> None:
        options = dict(job.options)
        options.pop("max_steps", None)
        config_from_options(ZeroShotConfig, job.agent, options)

    def _run(self, job: CellJob, run: RunDir) -> tuple[list[dict[str, Any]], int]:
        options = dict(job.options)
        max_steps = options.pop("max_steps", None)
        config = config_from_options(ZeroShotConfig, job.agent, options)
        agent = self.agent_class(make_llm(job.llm), config, family=family_of(job.env_id))
        env = CallOnReset(make_env_with_horizon(job.env_id, max_steps), agent.reset)
        try:
            outcomes = run_eval_episodes(env, agent, job.eval_episodes, EVAL_SEED_OFFSET)
        finally:
            env.close()
        agent.llm.usage.save(run.path)
        run.write_json("zero_shot.json", {**agent.stats(), "max_steps": max_steps, "config": options})
        return outcomes, 0


class NaiveLLMBenchAgent(ZeroShotBenchAgent):
    """Benchmark cell of :class:`NaiveLLMAgent` (registered as ``llm-zero-shot``)."""

    agent_class = NaiveLLMAgent


class CoTLLMBenchAgent(ZeroShotBenchAgent):
    """Benchmark cell of :class:`CoTLLMAgent` (registered as ``llm-cot``)."""

    agent_class = CoTLLMAgent


class SpringLLMBenchAgent(ZeroShotBenchAgent):
    """Benchmark cell of :class:`SpringLLMAgent` (registered as ``llm-spring``)."""

    agent_class = SpringLLMAgent


class ELLMBenchAgent(BenchAgent):
    """ELLM-PPO in a benchmark cell: trains for the budget on the ELLM reward, then evaluates (registered as ``ellm``).

    ``job.options``: ``ellm`` (a dict of :class:`ELLMConfig` fields) and any :class:`SB3Config` field.
    Writes ``llm_usage.json`` and ``ellm.json`` (:meth:`ELLMAgent.summary`) into the cell folder.
    """

    def _configs(self, job: CellJob) -> tuple[SB3Config, ELLMConfig]:
        options = dict(job.options)
        ellm = config_from_options(ELLMConfig, job.agent, options.pop("ellm", {}))
        return sb3_cell_config(SB3Config, job, "ppo", options), ellm

    def check(self, job: CellJob) -> None:
        self._configs(job)

    def _run(self, job: CellJob, run: RunDir) -> tuple[list[dict[str, Any]], int]:
        config, ellm = self._configs(job)
        agent = ELLMAgent(config, ellm, llm=job.llm, run=run)
        model = agent.train(resume=True)
        agent.llm.usage.save(run.path)
        run.write_json("ellm.json", agent.summary())
        return agent.evaluate()["outcomes"], model.num_timesteps


class HierarchicalBenchAgent(BenchAgent):
    """``mentor bench --agent hierarchical``: skills trained inside the cell's budget, then evaluated.

    Options (``agent_options["hierarchical"]``): ``planner`` (``llm``, ``saycan``, ``sb3``; default
    ``llm``; fixed for ``hierarchical-saycan`` and ``hierarchical-sb3``), ``high_level_fraction``
    (share of the budget for the ``sb3`` high level, default 0.3), ``skill_eval_fraction`` (share
    kept for the runs that measure the skills, default 0.05), and any :class:`HierarchicalConfig`
    field (``zoo``, ``skill_env_ids``, ``affordance``, ``max_options``, ``termination_critic``,
    ``planner_config``...). The whole budget goes, in turn, to skill training, to measuring the skills
    (what training left of its share) and to the ``sb3`` high level (what the skills left); the cell's
    ``env_steps`` are all of them. A given ``zoo`` counts its own steps. Skill training writes the env's
    episodes into the cell's ``metrics.jsonl``.
    """

    planner: str | None = None
    """The high level this agent always runs; ``None``: the ``planner`` option (default ``llm``)."""

    def check(self, job: CellJob) -> None:
        self._config(job)

    def _config(self, job: CellJob) -> HierarchicalConfig:
        options = dict(job.options)
        fraction = float(options.pop("high_level_fraction", 0.3))
        if not 0.0 < fraction < 1.0:
            raise ConfigError(f"high_level_fraction ({fraction}) must lie in (0, 1).")
        eval_fraction = float(options.pop("skill_eval_fraction", 0.05))
        if not 0.0 <= eval_fraction < 1.0:
            raise ConfigError(f"skill_eval_fraction ({eval_fraction}) must lie in [0, 1).")
        planner = options.pop("planner", self.planner or "llm")
        if self.planner is not None and planner != self.planner:
            raise ConfigError(
                f"agent {job.agent!r} always runs the {self.planner!r} high level, so its planner option "
                f"({planner!r}) contradicts it; drop the option or run agent 'hierarchical-{planner}'."
            )
        high_budget = int(job.budget * fraction) if planner == "sb3" else 0
        eval_budget = int(job.budget * eval_fraction)
        skill_budget = job.budget - high_budget - eval_budget
        if skill_budget < 1:
            raise ConfigError(
                f"budget ({job.budget}) leaves no env step for skill training after the high level "
                f"({high_budget}) and skill evaluation ({eval_budget})."
            )
        return config_from_options(
            HierarchicalConfig,
            job.agent,
            options,
            env_id=job.env_id,
            planner=planner,
            seed=job.seed,
            n_eval_episodes=job.eval_episodes,
            skill_timesteps=skill_budget,
            skill_eval_steps=eval_budget,
            high_level_timesteps=max(1, high_budget),
            reuse_zoo=False,
            llm=job.llm,
        )

    def _run(self, job: CellJob, run: RunDir) -> tuple[list[dict[str, Any]], int]:
        config = self._config(job)
        agent = HierarchicalAgent(config, run)
        run.truncate_metrics(0)
        agent.prepare_skills()
        if config.planner == "sb3":  # the high level gets what the skills left of the budget
            agent.config = dataclasses.replace(config, high_level_timesteps=max(1, job.budget - agent.env_steps))
        agent.train()
        for record in RunDir(run.path / "skills").iter_metrics("episode"):
            run.append_metrics(record)
        result = agent.evaluate()
        run.write_json("hierarchical.json", {k: v for k, v in result.items() if k != "outcomes"})
        if config.planner != "sb3":
            agent.llm_usage.save(run.path)
        return result["outcomes"], agent.env_steps


class HierarchicalSayCanBenchAgent(HierarchicalBenchAgent):
    """``mentor bench --agent hierarchical-saycan``: :class:`HierarchicalBenchAgent` with SayCan as the high level."""

    planner = "saycan"


class HierarchicalSB3BenchAgent(HierarchicalBenchAgent):
    """``mentor bench --agent hierarchical-sb3``: :class:`HierarchicalBenchAgent` with an SB3 policy over options (PPO unless ``high_level_algo``) as the high level."""

    planner = "sb3"


class LLMPPOBenchAgent(BenchAgent):
    """``mentor bench --agent llm-ppo``: the LLM policy fine-tuned online within the cell's budget, then evaluated.

    Options (``agent_options["llm-ppo"]``) are :class:`FinetuneConfig` fields (``actions``, ``n_envs``,
    ``max_minutes``, ...). The cell's LLM spec is the model; a killed cell resumes from its checkpoint.
    ``llm_usage.json`` counts the training forwards (decisions and value bootstraps): each reads one
    prompt and all its candidates.
    """

    def _config(self, job: CellJob) -> FinetuneConfig:
        model = job.llm or os.environ.get("MENTOR_LLM") or FinetuneConfig.model
        return config_from_options(
            FinetuneConfig,
            job.agent,
            {"verbose": False, **job.options},
            env_id=job.env_id,
            model=model,
            seed=job.seed,
            total_timesteps=job.budget,
            n_eval_episodes=job.eval_episodes,
        )

    def check(self, job: CellJob) -> None:
        self._config(job)

    def _run(self, job: CellJob, run: RunDir) -> tuple[list[dict[str, Any]], int]:
        trainer = LLMFinetuner(self._config(job), run)
        try:
            trainer.train(resume=True)
            result = trainer.evaluate()
        finally:
            trainer.close()
        trainer.usage().save(run.path)
        return result["outcomes"], trainer.num_timesteps
