"""The hierarchical agent: a high level picks skills, learned SB3 skills act.

The high level is one of:

- ``llm``: the LLM planner (plans of skills, re-planned on failure, SayCan as fallback);
- ``saycan``: SayCan scoring at every decision (LLM usefulness x skill affordance);
- ``sb3``: an SB3 policy over the options env (the ablation without language; PPO unless ``high_level_algo``).

The low level is the family's skill zoo (:mod:`mentor.skills.zoo`), loaded from ``runs/`` or
trained on the spot. Every env step counts: skill training, the runs that measure the skills,
high-level training and nothing else (planning with the LLM takes no env step).

Example:
    >>> agent = HierarchicalAgent(HierarchicalConfig("mentor/MiniGrid-KeyCorridorS3R3-v0"))  # doctest: +SKIP
    >>> agent.train()  # doctest: +SKIP
    >>> agent.evaluate(10)["success_rate"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from mentor.config import DictConfig
from mentor.envs import family_of
from mentor.envs import make as make_env
from mentor.envs import spec as env_spec
from mentor.errors import ConfigError
from mentor.evaluation.episodes import EVAL_SEED_OFFSET
from mentor.evaluation.protocols import crafter_score_from_outcomes, summarize_outcomes
from mentor.llm.base import LLM, make_llm
from mentor.llm.usage import Usage
from mentor.planners.planner import Planner, PlannerConfig
from mentor.planners.sb3_high_level import SB3HighLevelConfig, SB3HighLevelTrainer
from mentor.runs import RunDir, atomic_write_text, runs_root
from mentor.skills.library import library_class
from mentor.skills.options import AFFORDANCES, OptionsConfig, OptionsEnv
from mentor.skills.training import check_skill_sampling
from mentor.skills.zoo import ZOO_FILE, SkillZoo, SkillZooConfig, train_skill_zoo, zoo_run_name

__all__ = [
    "HIGH_LEVELS",
    "AFFORDANCES",
    "HierarchicalConfig",
    "HierarchicalAgent",
    "find_zoo",
    "resolve_zoo",
    "write_hierarchical_report",
    "run_hierarchical_demo",
    "DEMO_SKILL_ENV_IDS",
]

HIGH_LEVELS: tuple[str, ...] = ("llm", "saycan", "sb3")
#: Subfolder of the agent's run that holds the SB3 high level's own run (model, checkpoints, metrics).
HIGH_LEVEL_FOLDER = "high_level"
#: Levels the demo trains its skills on, with the level it plays: skills trained on these together
#: carry over better than skills trained on one level (``benchmarks/hierarchical.py`` uses the same four).
DEMO_SKILL_ENV_IDS: tuple[str, ...] = (
    "mentor/MiniGrid-KeyCorridorS3R3-v0",
    "mentor/MiniGrid-MultiRoom-N4-S5-v0",
    "mentor/MiniGrid-ObstructedMaze-1Dlh-v0",
    "mentor/BabyAI-UnlockPickup-v0",
)


@dataclass
class HierarchicalConfig(DictConfig):
    """A hierarchical agent on one env.

    Attributes:
        env_id: the mentor env it plays.
        planner: the high level: ``llm``, ``saycan`` or ``sb3``.
        env_kwargs: keyword arguments for ``gym.make`` of the env played (e.g. Crafter's ``length``).
        zoo: a skill zoo folder to use; ``None`` looks for the newest zoo under ``runs/`` trained on
            ``env_id`` (if ``reuse_zoo``), else trains one.
        zoo_snapshot: use the zoo's model as it was at this many env steps (see ``snapshot_steps``).
        reuse_zoo: with ``zoo=None``, use an existing zoo that covers ``env_id``.
        skill_env_ids: the envs skills are trained on; ``None`` means ``[env_id]``.
        skill_timesteps: env steps of skill training (when a zoo is trained).
        skill_hyperparams: PPO overrides of the skill model.
        skill_sampling: how skill training draws its skills: ``"uniform"`` or ``"priority"`` (the
            library's :meth:`~mentor.skills.library.SkillLibrary.priority`; Crafter: survival, then
            new achievements). Skill training plays the budget's training episodes, so this is the
            hierarchy's behaviour while it learns.
        survival_interrupts: an urgent skill (Crafter: drink, eat or sleep when that vital is low)
            preempts the running one, in skill training and when the high level runs skills.
        skill_eval_episodes: skill runs measuring a trained zoo's success rates (their env steps count).
        skill_eval_steps: most env steps of those runs (``None``: no cap); skill training and its
            measuring runs then take at most ``skill_timesteps + skill_eval_steps`` together.
        high_level_timesteps: env steps (low-level, summed over skills) of the SB3 high level's training
            (``planner="sb3"`` only); a killed training resumes from its checkpoint.
        high_level_algo: the SB3 high level's algorithm: ``ppo``, ``a2c`` or ``dqn``.
        high_level_hyperparams: its overrides on top of the ``options:*`` entry of ``configs/sb3/<algo>.yml``.
        seed: seed of training and of the episodes played.
        n_eval_episodes: evaluation episodes on held-out seeds.
        max_options: skills per episode before it is cut short (it also ends episodes where no skill
            can start).
        affordance: SayCan's affordance: the skill model's ``value``, its measured ``success_rate``, or ``none``.
        deterministic_skills: run skills greedily (``False`` samples, which gets stuck less).
        termination_critic: what ends and judges skills without a predicate (TextWorld commands):
            ``detector`` (success detector at the step limit) or ``judge`` (trajectory judge after
            every step); see :class:`~mentor.skills.options.OptionsConfig`.
        judge_threshold: completion probability at which the trajectory judge ends a skill.
        planner_config: the LLM planner's settings (``mode`` is set from ``planner``).
        llm: LLM spec (``None``: ``$MENTOR_LLM`` or the embedded model).
    """

    env_id: str
    planner: str = "llm"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    zoo: str | None = None
    zoo_snapshot: int | None = None
    reuse_zoo: bool = True
    skill_env_ids: list[str] | None = None
    skill_timesteps: int = 100_000
    skill_hyperparams: dict[str, Any] = field(default_factory=dict)
    skill_sampling: str = "uniform"
    survival_interrupts: bool = False
    skill_eval_episodes: int = 300
    skill_eval_steps: int | None = None
    high_level_timesteps: int = 50_000
    high_level_algo: str = "ppo"
    high_level_hyperparams: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    n_eval_episodes: int = 20
    max_options: int = 64
    affordance: str = "value"
    deterministic_skills: bool = False
    termination_critic: str = "detector"
    judge_threshold: float = 0.5
    planner_config: PlannerConfig = field(default_factory=PlannerConfig)
    llm: str | None = None

    def __post_init__(self) -> None:
        env_spec(self.env_id)
        library_class(self.env_id)
        if self.planner not in HIGH_LEVELS:
            raise ConfigError(f"planner {self.planner!r} is not one of {', '.join(HIGH_LEVELS)}.")
        check_skill_sampling(self.skill_sampling)
        if self.affordance not in AFFORDANCES:
            raise ConfigError(f"affordance {self.affordance!r} is not one of {', '.join(AFFORDANCES)}.")
        if isinstance(self.planner_config, dict):
            self.planner_config = PlannerConfig(**self.planner_config)
        if self.planner in ("llm", "saycan"):
            self.planner_config.mode = self.planner
        self.skill_env_ids = list(self.skill_env_ids or [self.env_id])
        if any(family_of(e) != family_of(self.env_id) for e in self.skill_env_ids):
            raise ConfigError(f"skill_env_ids ({self.skill_env_ids}) must be of {self.env_id}'s family.")
        for name in ("skill_timesteps", "high_level_timesteps"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} ({getattr(self, name)}) must be positive.")
        if self.n_eval_episodes < 0:
            raise ConfigError(f"n_eval_episodes ({self.n_eval_episodes}) must be >= 0.")
        if self.max_options < 1:
            raise ConfigError(f"max_options ({self.max_options}) must be at least 1.")
        if self.skill_eval_steps is not None and self.skill_eval_steps < 0:
            raise ConfigError(f"skill_eval_steps ({self.skill_eval_steps}) must be >= 0, or None for no cap.")
        self.options_config()  # checks termination_critic and judge_threshold
        self.high_level_config()  # checks high_level_algo and high_level_hyperparams

    def options_config(self) -> OptionsConfig:
        """How the options env runs skills for this agent."""
        return OptionsConfig(
            max_options=self.max_options,
            termination_critic=self.termination_critic,
            judge_threshold=self.judge_threshold,
            survival_interrupts=self.survival_interrupts,
            affordance=self.affordance if self.planner != "sb3" else "none",
        )

    def high_level_config(self) -> SB3HighLevelConfig:
        """What the SB3 high level trains with (``planner="sb3"``)."""
        return SB3HighLevelConfig(
            self.env_id,
            algo=self.high_level_algo,
            total_timesteps=self.high_level_timesteps,
            seed=self.seed,
            hyperparams=self.high_level_hyperparams,
        )


def find_zoo(env_id: str, root: Path | str | None = None) -> Path | None:
    """The newest finished skill zoo under ``runs/`` whose training envs include ``env_id``.

    Zoo runs (``runs/*-skills-<family>/``) and the zoos agents trained into their own run
    (``runs/*/skills/``) are both searched.
    """
    root = Path(root) if root is not None else runs_root()
    if not root.is_dir():
        return None
    suffix = f"-{zoo_run_name(family_of(env_id))}"
    candidates = [p / ZOO_FILE for p in root.iterdir() if p.name.endswith(suffix)] + list(
        root.glob(f"*/skills/{ZOO_FILE}")
    )
    for zoo_file in sorted((f for f in candidates if f.exists()), key=lambda f: f.stat().st_mtime, reverse=True):
        if env_id in json.loads(zoo_file.read_text()).get("env_ids", []):
            return zoo_file.parent
    return None


def resolve_zoo(spec: str, env_id: str, option: str = "--zoo") -> Path:
    """The skill zoo folder that ``spec`` names: a folder, or ``latest`` for :func:`find_zoo` of ``env_id``.

    Raises:
        ConfigError: no zoo covers ``env_id`` (``latest``), or ``spec`` is not a folder; the message
            names ``option``, the command-line option that gave ``spec``.
    """
    folder = find_zoo(env_id) if spec == "latest" else Path(spec)
    if folder is None or not folder.is_dir():
        where = f"under runs/ covers {env_id}" if spec == "latest" else "there"
        raise ConfigError(
            f"{option} {spec!r}: no skill zoo {where}; train one with `mentor train skills --env {env_id}` "
            "or pass its folder."
        )
    return folder.resolve()


class HierarchicalAgent:
    """High level (LLM planner, SayCan or SB3) over the learned skills of one env.

    Args:
        config: what to run.
        run: the run folder (``None`` creates ``runs/<date>-hierarchical-<planner>-<env>/``).
        llm: an LLM to use instead of building ``config.llm`` (shared between agents, tests).
    """

    def __init__(self, config: HierarchicalConfig, run: RunDir | None = None, llm: LLM | None = None):
        self.config = config
        name = f"hierarchical-{config.planner}-{config.env_id.split('/')[-1]}"
        self.run = run if run is not None else RunDir.create(name)
        self._llm = llm
        self.zoo: SkillZoo | None = None
        self.high_level: BaseAlgorithm | None = None
        self.planner: Planner | None = None
        self.high_level_steps = 0

    # ---- parts
    @property
    def llm(self) -> LLM:
        """The planner's LLM, built on first use."""
        if self._llm is None:
            self._llm = make_llm(self.config.llm)
        return self._llm

    @property
    def llm_usage(self) -> Usage:
        """What the planner's LLM has cost so far (zero if none was built)."""
        return self._llm.usage if self._llm is not None else Usage()

    @property
    def env_steps(self) -> int:
        """Env steps spent so far: skill training and measuring, plus high-level training."""
        return (self.zoo.num_env_steps if self.zoo is not None else 0) + self.high_level_steps

    def prepare_skills(self) -> SkillZoo:
        """Load the configured zoo, reuse one trained on this env, or train one into ``<run>/skills``."""
        cfg = self.config
        folder = Path(cfg.zoo) if cfg.zoo else (find_zoo(cfg.env_id) if cfg.reuse_zoo else None)
        own = self.run.path / "skills"
        if folder is None and (own / ZOO_FILE).exists():
            folder = own
        if folder is not None:
            self.zoo = SkillZoo.load(folder, snapshot=cfg.zoo_snapshot, deterministic=cfg.deterministic_skills)
        else:
            zoo_config = SkillZooConfig(
                cfg.skill_env_ids,
                total_timesteps=cfg.skill_timesteps,
                seed=cfg.seed,
                hyperparams=cfg.skill_hyperparams,
                skill_sampling=cfg.skill_sampling,
                survival_interrupts=cfg.survival_interrupts,
                eval_episodes=cfg.skill_eval_episodes,
                max_env_steps=None if cfg.skill_eval_steps is None else cfg.skill_timesteps + cfg.skill_eval_steps,
            )
            own.mkdir(parents=True, exist_ok=True)
            self.zoo = train_skill_zoo(zoo_config, RunDir(own), resume=True)
            self.zoo.deterministic = cfg.deterministic_skills
        return self.zoo

    def make_options_env(self) -> OptionsEnv:
        """An options env over a fresh ``config.env_id`` with the zoo's skills."""
        if self.zoo is None:
            self.prepare_skills()
        llm = self.llm if self.config.planner != "sb3" else None
        return OptionsEnv(
            make_env(self.config.env_id, **self.config.env_kwargs),
            self.zoo,
            self.config.options_config(),
            llm=llm,
        )

    def train(self) -> int:
        """Prepare skills and, for ``planner="sb3"``, train the SB3 high level; returns env steps spent.

        Both resume: a killed skill training or high-level training goes on from its last checkpoint,
        and a finished one is loaded.
        """
        self.run.write_config({"agent": "hierarchical", **self.config.to_dict()})
        self.prepare_skills()
        if self.config.planner == "sb3":
            self._train_high_level()
        return self.env_steps

    def _train_high_level(self) -> None:
        torch.set_num_threads(1)
        folder = self.run.path / HIGH_LEVEL_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        trainer = SB3HighLevelTrainer(self.config.high_level_config(), self.make_options_env, RunDir(folder))
        self.high_level = trainer.train(resume=True)
        self.high_level_steps = int(self.high_level.num_timesteps)

    # ---- playing
    def run_episode(self, env: OptionsEnv, seed: int) -> dict[str, Any]:
        """Play one episode; returns its outcome, the skills run and the LLM cost."""
        obs, info = env.reset(seed=seed)
        before = Usage() + self.llm_usage
        trace: list[dict[str, Any]] = []
        if self.config.planner != "sb3" and self.planner is None:
            library = env.library
            self.planner = Planner(
                self.llm,
                self.config.planner_config,
                library.planner_examples,
                library.planner_rules,
                library.planner_key_words,
            )
        if self.planner is not None:
            self.planner.reset()
        while True:
            skills = env.planner_skills() if self.config.planner != "sb3" else []
            if self.config.planner == "sb3":
                action, _ = self.high_level.predict(obs, deterministic=True)
                obs, _, terminated, truncated, info = env.step(int(action))
                source = "sb3"
            elif not skills:
                obs, _, terminated, truncated, info = env.step(0)
                source = "none available"
            else:
                decision = self.planner.choose(env.describe(), skills, info.get("affordances"))
                source = decision.source
                obs, _, terminated, truncated, info = env.step_skill(decision.skill)
                self.planner.report(decision.skill, info["skill_success"])
            trace.append(
                {
                    "skill": info["skill"],
                    "kind": info["skill_kind"],
                    "success": info["skill_success"],
                    "steps": info["skill_steps"],
                    "started": info["skill_started"],
                    "by": source,
                    "interrupt": info.get("interrupt"),
                }
            )
            if terminated or truncated:
                break
        usage = self.llm_usage
        return {
            "outcome": info["episode_outcome"],
            "env_steps": info["env_steps"],
            "options": info["options"],
            "llm_calls": usage.calls - before.calls,
            "llm_tokens": usage.total_tokens - before.total_tokens,
            "trace": trace,
        }

    def evaluate(self, n_episodes: int | None = None, seed_offset: int = EVAL_SEED_OFFSET) -> dict[str, Any]:
        """Play ``n_episodes`` on held-out seeds; success rate, LLM cost per episode, each episode."""
        n_episodes = self.config.n_eval_episodes if n_episodes is None else n_episodes
        if self.zoo is None:
            self.prepare_skills()
        if self.config.planner == "sb3" and self.high_level is None:
            self._train_high_level()
        if self.planner is not None:
            self.planner.reset_stats()
        env = self.make_options_env()
        episodes = [self.run_episode(env, seed_offset + i) for i in range(n_episodes)]
        env.close()
        outcomes = [e["outcome"] for e in episodes]
        result = {
            **summarize_outcomes(outcomes),
            "env_steps": self.env_steps,
            "llm_calls_per_episode": float(np.mean([e["llm_calls"] for e in episodes])) if episodes else 0.0,
            "llm_tokens_per_episode": float(np.mean([e["llm_tokens"] for e in episodes])) if episodes else 0.0,
            "options_per_episode": float(np.mean([e["options"] for e in episodes])) if episodes else 0.0,
            "planner_stats": self.planner.stats.to_dict() if self.planner is not None else {},
            "outcomes": outcomes,
            "episode_runs": episodes,
        }
        if family_of(self.config.env_id) == "crafter":
            result["crafter_score"], result["achievement_rates"] = crafter_score_from_outcomes(outcomes)
        return result


def run_hierarchical_demo(
    env_id: str = "mentor/MiniGrid-KeyCorridorS3R3-v0",
    episodes: int = 4,
    skill_timesteps: int = 100_000,
    skill_env_ids: Sequence[str] = DEMO_SKILL_ENV_IDS,
    llm: str | LLM | None = None,
    run: RunDir | None = None,
) -> Path:
    """The hierarchical agent with the embedded LLM planner on a MiniGrid level; returns its report's path.

    Skills come from the newest zoo under ``runs/`` trained on ``env_id``, or are trained now on
    ``env_id`` and ``skill_env_ids`` together (``skill_timesteps``, a few minutes on 2 cores). The
    report lists each episode's skills.

    Args:
        env_id: the MiniGrid/BabyAI level.
        episodes: held-out episodes played.
        skill_timesteps: env steps of skill training when no zoo is found.
        skill_env_ids: further levels the skills train on when no zoo is found.
        llm: LLM spec or LLM (``None``: ``$MENTOR_LLM`` or the embedded SmolLM2).
        run: the run folder (``None`` creates ``runs/<date>-demo-hierarchical-<level>/``).
    """
    start = time.perf_counter()
    run = run if run is not None else RunDir.create(f"demo-hierarchical-{env_id.split('/')[-1]}")
    config = HierarchicalConfig(
        env_id,
        planner="llm",
        skill_env_ids=list(dict.fromkeys([env_id, *skill_env_ids])),
        skill_timesteps=skill_timesteps,
        n_eval_episodes=episodes,
    )
    agent = HierarchicalAgent(config, run, llm=make_llm(llm) if llm is not None else None)
    agent.train()
    result = agent.evaluate()
    run.write_json("eval.json", {k: v for k, v in result.items() if k != "outcomes"})
    agent.llm_usage.save(run.path)
    return write_hierarchical_report(run, agent, result, time.perf_counter() - start)


def write_hierarchical_report(run: RunDir, agent: HierarchicalAgent, result: dict[str, Any], seconds: float) -> Path:
    """Write ``report.md``: the skills' success rates, the agent's results and every episode's skills."""
    zoo = agent.zoo
    rates = zoo.info.get("success_rates", {}).get("by_kind", {})
    if agent.config.planner == "sb3":
        high = f"{agent.config.high_level_algo.upper()} over the options env ({agent.high_level_steps:,} env steps)"
    elif agent.config.planner == "saycan":
        high = f"SayCan (`{agent.llm.config.spec}`, affordance: {agent.config.affordance})"
    else:
        high = f"LLM planner (`{agent.llm.config.spec}`), SayCan fallback"
    lines = [
        f"# Hierarchical agent on `{agent.config.env_id}`",
        "",
        f"High level: {high}. Low level: SB3 PPO skills from `{zoo.path}` ({zoo.num_timesteps:,} env steps "
        "of skill training).",
        "",
        f"Success: **{100 * result['success_rate']:.0f}%** over {result['episodes']} held-out episodes; "
        f"{result['llm_calls_per_episode']:.1f} LLM calls and {result['llm_tokens_per_episode']:.0f} tokens per "
        f"episode; {seconds:.0f} s in all.",
        "",
        "| skill kind | success rate | mean steps |",
        "|---|---:|---:|",
        *(f"| {k} | {100 * v['success_rate']:.0f}% | {v['mean_steps']:.1f} |" for k, v in rates.items()),
        "",
        f"Planner: {json.dumps(result['planner_stats'])}",
    ]
    for i, episode in enumerate(result["episode_runs"]):
        outcome = episode["outcome"]
        lines += [
            "",
            f"## Episode {i + 1}: {'success' if outcome['success'] else 'failure'} in {outcome['length']} steps",
            "",
            *(
                f"{j + 1}. {s['skill']} ({s['by']}): {'ok' if s['success'] else 'failed'}, {s['steps']} steps"
                for j, s in enumerate(episode["trace"])
            ),
        ]
    atomic_write_text(run.report_path, "\n".join(lines) + "\n")
    return run.report_path
