"""The skill zoo: a goal-conditioned SB3 PPO model per env family, trained on skill rewards, kept under ``runs/``.

``train_skill_zoo`` trains one PPO policy in :class:`~mentor.skills.training.TrainSkills`
(goal = skill kind and target, reward = the skill's predicate, time-discounted), then measures the
success rate of every kind and skill on held-out seeds of their own (:data:`SKILL_EVAL_SEED_RANGE`:
neither training nor the final evaluation of an agent, at ``EVAL_SEED_OFFSET + i``, plays them).
The env steps of these measuring runs count in the zoo's :attr:`SkillZoo.num_env_steps`, and so in
the budget of an agent that uses it. A zoo run folder ``runs/<date>-skills-<family>/`` holds
``model.zip``, ``zoo.json`` (family, env ids, training and evaluation env steps, success rates, snapshots), ``metrics.jsonl`` (the env's own episodes and every skill episode),
TensorBoard logs, resumable checkpoints and, if asked, ``snapshots/model-<steps>.zip``.

:class:`SkillZoo` is the :class:`~mentor.skills.library.SkillPolicy` built from such a folder:
``act`` runs the model, ``value`` is its value function clipped to [0, 1] (SayCan's affordance),
``success_rate`` the measured rate.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from mentor.config import DictConfig
from mentor.envs import family_of
from mentor.errors import ConfigError
from mentor.evaluation.episodes import EVAL_SEED_OFFSET
from mentor.runs import RunDir
from mentor.sb3.agent import SB3Agent, SB3Config
from mentor.sb3.callbacks import (
    snapshot_paths,
)
from mentor.sb3.hyperparams import load_hyperparams, validate_hyperparams
from mentor.skills.library import Skill, library_class
from mentor.skills.training import TrainSkills, check_skill_sampling

__all__ = [
    "SkillZooConfig",
    "SkillZoo",
    "train_skill_zoo",
    "evaluate_skills",
    "zoo_run_name",
    "ZOO_FILE",
    "SKILL_EVAL_SEED_RANGE",
    "HELD_OUT_SEEDS",
]

ZOO_FILE = "zoo.json"
#: Env seeds of skill-evaluation runs, drawn from ``[low, high)``: above the final evaluation's
#: (``EVAL_SEED_OFFSET + i``, fewer than a million episodes).
SKILL_EVAL_SEED_RANGE: tuple[int, int] = (2 * EVAL_SEED_OFFSET, 3 * EVAL_SEED_OFFSET)
#: Env seeds skill training never plays: the final evaluation's and skill evaluation's.
HELD_OUT_SEEDS: tuple[int, int] = (EVAL_SEED_OFFSET, SKILL_EVAL_SEED_RANGE[1])
_NOT_FOR_SKILLS = ("env_wrapper", "n_timesteps", "normalize")


def zoo_run_name(family: str) -> str:
    """The run name of a family's zoo: ``skills-<family>``."""
    return f"skills-{family}"


@dataclass
class SkillZooConfig(DictConfig):
    """What to train skills on, for how long, and how to measure them.

    Attributes:
        env_ids: mentor env ids of one family (the target level family); goals are sampled among
            the objects present in their episodes.
        total_timesteps: env steps of skill training (all skills together).
        seed: seed of PPO and of the training episodes.
        kinds: train only these kinds (``None``: every kind of the family's library).
        hyperparams: PPO overrides on top of ``configs/sb3/ppo.yml``'s entry for ``env_ids[0]``
            (its ``env_wrapper``, ``normalize`` and ``n_timesteps`` do not apply to skills).
        infeasible_share: share of skill episodes that run an available but infeasible skill (see
            :class:`~mentor.skills.training.TrainSkills`), so the value function learns affordances.
        skill_sampling: how training draws each skill episode's skill, ``"uniform"`` or
            ``"priority"`` (see :class:`~mentor.skills.training.TrainSkills`).
        survival_interrupts: an urgent skill (a vital about to fail) preempts the running one in
            training (see :class:`~mentor.skills.training.TrainSkills`).
        eval_episodes: skill runs on held-out seeds that measure the success rates (0: none); their
            env steps count in the zoo's ``num_env_steps``.
        max_env_steps: most env steps of training and skill evaluation together: the evaluation
            stops once they are spent (a run cut short is not counted). ``None``: no cap.
        snapshot_steps: also keep the model as it was at these env steps (for learning curves).
        checkpoint_freq: env steps between resumable checkpoints.
        device: torch device of the model.
        num_threads: torch CPU threads while training (``None``: torch's default); 1 is fastest for
            these small networks on a shared CPU.
        progress_bar: show SB3's progress bar.
        family: derived, the env ids' family.
        resolved_hyperparams: derived, the zoo entry with the overrides.
    """

    env_ids: list[str]
    total_timesteps: int = 200_000
    seed: int = 0
    kinds: list[str] | None = None
    hyperparams: dict[str, Any] = field(default_factory=dict)
    infeasible_share: float = 0.2
    skill_sampling: str = "uniform"
    survival_interrupts: bool = False
    eval_episodes: int = 300
    max_env_steps: int | None = None
    snapshot_steps: list[int] = field(default_factory=list)
    checkpoint_freq: int = 50_000
    device: str = "cpu"
    num_threads: int | None = 1
    progress_bar: bool = False
    family: str = field(init=False, default="")
    resolved_hyperparams: dict[str, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if not self.env_ids:
            raise ConfigError("env_ids is empty; name at least one mentor env id to train skills on.")
        self.env_ids = list(self.env_ids)
        families = sorted({family_of(e) for e in self.env_ids})
        if len(families) > 1:
            raise ConfigError(f"env_ids ({self.env_ids}) must share one family; got {families}.")
        self.family = families[0]
        library = library_class(self.env_ids[0])
        if self.kinds is not None:
            unknown = [k for k in self.kinds if k not in library.kinds]
            if unknown:
                raise ConfigError(
                    f"kinds {unknown} are not skill kinds of {self.family}; choose from {list(library.kinds)}."
                )
        if self.total_timesteps <= 0:
            raise ConfigError(f"total_timesteps ({self.total_timesteps}) must be positive.")
        if not 0.0 <= self.infeasible_share < 1.0:
            raise ConfigError(f"infeasible_share ({self.infeasible_share}) must lie in [0, 1).")
        check_skill_sampling(self.skill_sampling)
        if self.eval_episodes < 0:
            raise ConfigError(f"eval_episodes ({self.eval_episodes}) must be >= 0.")
        if self.max_env_steps is not None and self.max_env_steps < self.total_timesteps:
            raise ConfigError(
                f"max_env_steps ({self.max_env_steps}) must be at least total_timesteps ({self.total_timesteps})."
            )
        if self.checkpoint_freq <= 0:
            raise ConfigError(f"checkpoint_freq ({self.checkpoint_freq}) must be positive.")
        if self.num_threads is not None and self.num_threads < 1:
            raise ConfigError(f"num_threads ({self.num_threads}) must be at least 1, or None for torch's default.")
        bad = [s for s in self.snapshot_steps if not 0 < s <= self.total_timesteps]
        if bad:
            raise ConfigError(f"snapshot_steps {bad} must lie in (0, total_timesteps={self.total_timesteps}].")
        validate_hyperparams("ppo", self.hyperparams)
        base = {k: v for k, v in load_hyperparams("ppo", self.env_ids[0]).items() if k not in _NOT_FOR_SKILLS}
        self.resolved_hyperparams = {**base, **self.hyperparams}
        self.snapshot_steps = sorted(self.snapshot_steps)

    @property
    def n_envs(self) -> int:
        return int(self.resolved_hyperparams.get("n_envs", 1))


class SkillZoo:
    """The learned skills of one family: a :class:`~mentor.skills.library.SkillPolicy`.

    Args:
        model: the goal-conditioned PPO model.
        info: the contents of ``zoo.json``.
        path: the zoo's run folder, if it has one.
        deterministic: act greedily (``False``: sample from the policy, which gets stuck less).

    Example:
        >>> zoo = SkillZoo.load("runs/2026-01-01_000000-skills-minigrid")  # doctest: +SKIP
        >>> zoo.success_rate(zoo_skill)  # doctest: +SKIP
    """

    def __init__(self, model: PPO, info: dict[str, Any], path: Path | None = None, deterministic: bool = False):
        self.model = model
        self.info = info
        self.path = path
        self.deterministic = deterministic

    @property
    def family(self) -> str:
        return self.info["family"]

    @property
    def num_timesteps(self) -> int:
        """Env steps the skills were trained for."""
        return int(self.info["num_timesteps"])

    @property
    def eval_env_steps(self) -> int:
        """Env steps of the runs that measured the success rates (0 if none)."""
        if "eval_env_steps" in self.info:
            return int(self.info["eval_env_steps"])
        runs = self.info.get("success_rates", {}).get("by_skill", {}).values()  # zoo.json of older zoos
        return round(sum(r["runs"] * r["mean_steps"] for r in runs))

    @property
    def num_env_steps(self) -> int:
        """Every env step the zoo took: training plus skill evaluation."""
        return self.num_timesteps + self.eval_env_steps

    def act(self, skill: Skill, features: np.ndarray) -> Any:
        action, _ = self.model.predict(features, deterministic=self.deterministic)
        return int(action)

    def value(self, skill: Skill, features: np.ndarray) -> float:
        with torch.no_grad():
            obs, _ = self.model.policy.obs_to_tensor(features)
            value = float(self.model.policy.predict_values(obs)[0, 0])
        return float(np.clip(value, 0.0, 1.0))

    def success_rate(self, skill: Skill, min_runs: int = 5) -> float:
        """Measured success rate of ``skill`` (of its kind when it ran fewer than ``min_runs`` times); 0 if unmeasured."""
        rates = self.info.get("success_rates", {})
        by_skill = rates.get("by_skill", {}).get(skill.name)
        if by_skill is not None and by_skill["runs"] >= min_runs:
            return float(by_skill["success_rate"])
        by_kind = rates.get("by_kind", {}).get(skill.kind)
        return float(by_kind["success_rate"]) if by_kind is not None else 0.0

    @classmethod
    def load(
        cls, path: Path | str, snapshot: int | None = None, device: str = "cpu", deterministic: bool = False
    ) -> SkillZoo:
        """The zoo of a run folder; ``snapshot`` picks the model kept at that many env steps.

        A snapshot was never measured: it has no success rates and took ``snapshot`` env steps.

        Raises:
            ConfigError: the folder holds no finished zoo, or no such snapshot.
        """
        path = Path(path)
        if not (path / ZOO_FILE).exists():
            raise ConfigError(f"{path} holds no {ZOO_FILE}; train skills first (mentor train skills --env ...).")
        info = json.loads((path / ZOO_FILE).read_text())
        model_path = path / "model.zip"
        if snapshot is not None:
            model_path, _ = snapshot_paths(path / "snapshots", snapshot)
            if not model_path.exists():
                kept = sorted(int(p.stem.split("-")[1]) for p in (path / "snapshots").glob("model-*.zip"))
                raise ConfigError(f"zoo {path} kept no snapshot at {snapshot} steps; it has {kept}.")
            info = {k: v for k, v in info.items() if k != "success_rates"}
            info.update(num_timesteps=snapshot, eval_env_steps=0)
        return cls(PPO.load(model_path, device=device), info, path, deterministic)

    @classmethod
    def latest(cls, family: str, **kwargs: Any) -> SkillZoo | None:
        """The newest finished zoo of ``family`` under the runs folder, or ``None``."""
        run = RunDir.latest(zoo_run_name(family))
        if run is None or not (run.path / ZOO_FILE).exists():
            return None
        return cls.load(run.path, **kwargs)


class _LogSkillOutcomes(BaseCallback):
    def __init__(self, run: RunDir):
        super().__init__()
        self.run = run

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            outcome = info.get("skill_outcome")
            if outcome is not None:
                self.run.append_metrics({"kind": "skill", "step": self.num_timesteps, **outcome})
                self.logger.record_mean(f"skills/success_{outcome['skill_kind']}", float(outcome["success"]))
        return True


def _make_vec_env(config: SkillZooConfig, seed: int) -> DummyVecEnv:
    def thunk(i: int) -> Any:
        return lambda: TrainSkills(
            config.env_ids,
            seed=seed + 1000 * i,
            kinds=config.kinds,
            infeasible_share=config.infeasible_share,
            skill_sampling=config.skill_sampling,
            survival_interrupts=config.survival_interrupts,
            held_out_seeds=HELD_OUT_SEEDS,
        )

    return DummyVecEnv([thunk(i) for i in range(config.n_envs)])


class _SkillModelTrainer(SB3Agent):
    """The zoo's goal-conditioned PPO on :class:`~mentor.skills.training.TrainSkills` envs, trained (and resumed,
    checkpointed, snapshotted) as every SB3 agent is."""

    def __init__(self, config: SkillZooConfig, run: RunDir):
        sb3 = SB3Config(
            config.env_ids[0],
            algo="ppo",
            total_timesteps=config.total_timesteps,
            seed=config.seed,
            checkpoint_freq=config.checkpoint_freq,
            snapshot_steps=list(config.snapshot_steps),
            n_eval_episodes=0,
            device=config.device,
            progress_bar=config.progress_bar,
        )
        sb3.resolved_hyperparams = dict(config.resolved_hyperparams)
        super().__init__(sb3, run)
        self.zoo_config = config

    def make_vec_env(self, n_envs: int, seed: int) -> VecEnv:
        return _make_vec_env(self.zoo_config, seed)

    def config_record(self) -> dict[str, Any]:
        return {"agent": "skills", **self.zoo_config.to_dict()}

    def training_callbacks(self) -> list[BaseCallback]:
        return [_LogSkillOutcomes(self.run)]


def train_skill_zoo(config: SkillZooConfig, run: RunDir | None = None, resume: bool = False) -> SkillZoo:
    """Train the family's skill model, measure its skills, and write the zoo into ``run``.

    Args:
        config: what to train.
        run: the run folder; ``None`` creates ``runs/<date>-skills-<family>/``.
        resume: continue from the folder's last checkpoint.

    Returns:
        The trained zoo.
    """
    run = run if run is not None else RunDir.create(zoo_run_name(config.family))
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    start = time.perf_counter()
    model = _SkillModelTrainer(config, run).train(resume=resume)
    info = {
        "family": config.family,
        "env_ids": config.env_ids,
        "kinds": list(config.kinds or library_class(config.env_ids[0]).kinds),
        "num_timesteps": int(model.num_timesteps),
        "train_seconds": time.perf_counter() - start,
        "snapshots": sorted(int(p.stem.split("-")[1]) for p in (run.path / "snapshots").glob("model-*.zip")),
    }
    zoo = SkillZoo(model, info, run.path)
    info["eval_env_steps"] = 0
    if config.eval_episodes:
        cap = None if config.max_env_steps is None else max(0, config.max_env_steps - info["num_timesteps"])
        rates = evaluate_skills(zoo, config.env_ids, config.eval_episodes, kinds=config.kinds, max_env_steps=cap)
        info["success_rates"], info["eval_env_steps"] = rates, rates["env_steps"]
    run.write_json(ZOO_FILE, info)
    return zoo


def evaluate_skills(
    zoo: SkillZoo,
    env_ids: Sequence[str],
    episodes: int,
    seed: int = SKILL_EVAL_SEED_RANGE[0],
    kinds: Sequence[str] | None = None,
    max_env_steps: int | None = None,
) -> dict[str, Any]:
    """Run ``episodes`` skill episodes on held-out seeds; success rate and mean steps per kind and per skill.

    Args:
        zoo: the skills.
        env_ids: the envs they run in.
        episodes: skill runs.
        seed: seed of the skill choice; the env seeds come from :data:`SKILL_EVAL_SEED_RANGE`.
        kinds: measure only these kinds (``None``: all).
        max_env_steps: stop once this many env steps are taken, leaving out the run cut short (``None``: no cap).

    Returns:
        ``episodes`` (the runs measured), ``env_steps`` (all taken), ``by_kind`` and ``by_skill``.
    """
    env = TrainSkills(env_ids, seed=seed, kinds=kinds, infeasible_share=0.0, seed_range=SKILL_EVAL_SEED_RANGE)
    runs: dict[str, list[tuple[bool, int]]] = defaultdict(list)
    kind_of: dict[str, str] = {}
    steps, measured = 0, 0
    cap = max_env_steps if max_env_steps is not None else float("inf")
    obs, info = env.reset(seed=seed)
    while measured < episodes and steps < cap:
        skill = env.library.skill(info["skill"])
        while steps < cap:
            obs, _, terminated, truncated, step_info = env.step(zoo.act(skill, obs))
            steps += 1
            if terminated or truncated:
                measured += 1
                outcome = step_info["skill_outcome"]
                runs[outcome["skill"]].append((outcome["success"], outcome["steps"]))
                kind_of[outcome["skill"]] = outcome["skill_kind"]
                break
        obs, info = env.reset()
    env.close()

    def summary(results: list[tuple[bool, int]]) -> dict[str, float]:
        return {
            "runs": len(results),
            "success_rate": float(np.mean([s for s, _ in results])),
            "mean_steps": float(np.mean([n for _, n in results])),
        }

    by_kind: dict[str, list[tuple[bool, int]]] = defaultdict(list)
    for name, results in runs.items():
        by_kind[kind_of[name]] += results
    return {
        "episodes": measured,
        "env_steps": steps,
        "deterministic": zoo.deterministic,
        "by_kind": {k: summary(v) for k, v in sorted(by_kind.items())},
        "by_skill": {k: summary(v) for k, v in sorted(runs.items())},
    }
