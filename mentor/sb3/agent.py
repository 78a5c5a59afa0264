"""Stable-Baselines3 agents (PPO, A2C, DQN, SAC) on any mentor env: train, evaluate, save, load, resume.

Hyperparameters come from zoo-style YAML (:mod:`mentor.sb3.hyperparams`); every run writes a
run folder with its resolved config, ``metrics.jsonl`` (one record per training episode),
TensorBoard logs and resumable checkpoints.
"""

from __future__ import annotations

import functools
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from mentor.config import DictConfig
from mentor.envs import family_of
from mentor.envs import make as make_env
from mentor.errors import ConfigError
from mentor.evaluation.episodes import EVAL_SEED_OFFSET, run_eval_episodes
from mentor.evaluation.protocols import summarize_outcomes
from mentor.executors import ExecutorConfig, make_executor
from mentor.runs import RunDir
from mentor.sb3.callbacks import (
    CHECKPOINT_STATE,
    PREVIOUS_CHECKPOINT,
    LogEpisodeOutcomes,
    SaveResumableCheckpoint,
    SaveSnapshots,
    ShowTrainingProgress,
    save_atomically,
    save_checkpoint,
    snapshot_paths,
)
from mentor.sb3.hyperparams import (
    algo_class,
    algo_kwargs,
    load_hyperparams,
    make_env_wrapper,
    validate_hyperparams,
)

__all__ = ["SB3Config", "SB3Agent"]


class _UnreadableCheckpointError(Exception):
    """A file of a checkpoint does not load; the message names it and why."""


def _wrap(env: gym.Env, wrappers: tuple[Callable[[gym.Env], gym.Env], ...]) -> gym.Env:
    for wrapper in wrappers:
        env = wrapper(env)
    return env


def _read_state(folder: Path) -> dict[str, Any]:
    path = folder / CHECKPOINT_STATE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise _UnreadableCheckpointError(f"{path} does not load ({type(err).__name__}: {err})") from err


@dataclass
class SB3Config(DictConfig):
    """What to train, with which algorithm and budget.

    Attributes:
        env_id: a mentor id, e.g. ``mentor/MiniGrid-DoorKey-5x5-v0``.
        algo: ``ppo``, ``a2c``, ``dqn`` or ``sac``.
        total_timesteps: env-step budget; ``None`` takes ``n_timesteps`` from the zoo file.
        seed: seed of the algorithm and of the training envs.
        hyperparams: overrides on top of the zoo entry (same keys; misspelled keys are rejected).
        hyperparams_path: zoo file; ``None`` means ``configs/sb3/<algo>.yml``.
        env_kwargs: keyword arguments for ``gym.make``.
        checkpoint_freq: env steps between resumable checkpoints.
        snapshot_steps: also keep the policy as it was at these env steps, in ``snapshots/`` (points of
            the learning curve; :meth:`SB3Agent.load` takes one back with ``snapshot=``).
        n_eval_episodes: evaluation episodes after training, on held-out seeds.
        deterministic_eval: evaluate the greedy policy (``False``: sample actions); ``None`` samples on
            Crafter (as its paper evaluates, a greedy Crafter policy repeats one action) and is greedy elsewhere.
        device: torch device for the policy (``auto``, ``cpu``, ``cuda``).
        progress_bar: show a progress bar while training.
        rollout_executor: where the training envs step: ``sequential`` (``DummyVecEnv``), ``process``
            (``SubprocVecEnv``, one spawned process per env) or ``ray`` (:class:`~mentor.executors.RayVecEnv`,
            the envs spread over ``num_workers`` actors); ``None`` steps them in this process (``DummyVecEnv``).
            Evaluation and :meth:`SB3Agent.load` always step in this process.
        resolved_hyperparams: derived, the zoo entry merged with the overrides.
    """

    env_id: str
    algo: str = "ppo"
    total_timesteps: int | None = None
    seed: int = 0
    hyperparams: dict[str, Any] = field(default_factory=dict)
    hyperparams_path: str | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    checkpoint_freq: int = 20_000
    snapshot_steps: list[int] = field(default_factory=list)
    n_eval_episodes: int = 20
    deterministic_eval: bool | None = None
    device: str = "auto"
    progress_bar: bool = True
    rollout_executor: ExecutorConfig | None = None
    resolved_hyperparams: dict[str, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.rollout_executor, dict):  # read back from config.yaml
            self.rollout_executor = ExecutorConfig(**self.rollout_executor)
        algo_class(self.algo)
        family = family_of(self.env_id)
        if self.deterministic_eval is None:
            self.deterministic_eval = family != "crafter"
        validate_hyperparams(self.algo, self.hyperparams)
        resolved = {**load_hyperparams(self.algo, self.env_id, self.hyperparams_path), **self.hyperparams}
        validate_hyperparams(self.algo, resolved)
        self.resolved_hyperparams = resolved
        if self.total_timesteps is None:
            self.total_timesteps = int(float(resolved.get("n_timesteps", 1e6)))
        if self.total_timesteps <= 0:
            raise ConfigError(f"total_timesteps ({self.total_timesteps}) must be positive.")
        if self.checkpoint_freq <= 0:
            raise ConfigError(f"checkpoint_freq ({self.checkpoint_freq}) must be positive.")
        bad = [s for s in self.snapshot_steps if not 0 < s <= self.total_timesteps]
        if bad:
            raise ConfigError(f"snapshot_steps {bad} must lie in (0, total_timesteps={self.total_timesteps}].")
        self.snapshot_steps = sorted(int(s) for s in self.snapshot_steps)
        if self.n_eval_episodes < 0:
            raise ConfigError(f"n_eval_episodes ({self.n_eval_episodes}) must be >= 0.")

    @property
    def n_envs(self) -> int:
        return int(self.resolved_hyperparams.get("n_envs", 1))


class SB3Agent:
    """Trains and evaluates one SB3 model on one mentor env, inside a run folder.

    Example:
        >>> agent = SB3Agent(SB3Config("mentor/MiniGrid-DoorKey-5x5-v0", total_timesteps=100_000))  # doctest: +SKIP
        >>> agent.train()  # doctest: +SKIP
        >>> agent.evaluate()["success_rate"]  # doctest: +SKIP
    """

    def __init__(self, config: SB3Config, run: RunDir | None = None):
        self.config = config
        self.run = run if run is not None else RunDir.create(f"sb3-{config.algo}-{config.env_id.split('/')[-1]}")
        self.model: BaseAlgorithm | None = None

    # ---- environments
    def training_env_wrapper(self) -> Callable[[gym.Env], gym.Env] | None:
        """Wraps each training env before the zoo ``env_wrapper`` does: the hook of reward shaping and ELLM.

        None here. Under a ``process`` or ``ray`` rollout executor it must pickle.
        """
        return None

    def config_record(self) -> dict[str, Any]:
        """What ``config.yaml`` holds; :meth:`train` writes it when it starts afresh."""
        return {"agent": "sb3", **self.config.to_dict()}

    def training_callbacks(self) -> list[BaseCallback]:
        """Callbacks that run before the episode log, checkpoints, snapshots and progress bar; none here.

        Running first, one of them may set the step count that the others read (the hierarchy's
        high level counts the env steps under its options).
        """
        return []

    def wrap_training_vec_env(self, venv: VecEnv) -> VecEnv:
        """The vectorised training envs as the algorithm gets them (before normalisation); unchanged here."""
        return venv

    def make_vec_env(self, n_envs: int, seed: int) -> VecEnv:
        """Vectorised training envs: each env under :meth:`training_env_wrapper` and the zoo ``env_wrapper``, then
        :meth:`wrap_training_vec_env` (no normalisation), stepped by ``config.rollout_executor``."""
        executor = self.config.rollout_executor
        wrappers = (self.training_env_wrapper(), make_env_wrapper(self.config.resolved_hyperparams.get("env_wrapper")))
        wrappers = tuple(w for w in wrappers if w is not None)
        venv = make_vec_env(
            functools.partial(make_env, self.config.env_id),
            n_envs=n_envs,
            seed=seed,
            env_kwargs=self.config.env_kwargs,
            wrapper_class=functools.partial(_wrap, wrappers=wrappers) if wrappers else None,
            vec_env_cls=DummyVecEnv if executor is None else make_executor(executor).make_vec_env,
        )
        return self.wrap_training_vec_env(venv)

    def make_eval_env(self) -> gym.Env:
        """One env as the policy sees it (zoo wrapper applied), for evaluation episodes."""
        env = make_env(self.config.env_id, **self.config.env_kwargs)
        wrapper = make_env_wrapper(self.config.resolved_hyperparams.get("env_wrapper"))
        return wrapper(env) if wrapper else env

    def _normalize_kwargs(self) -> dict[str, Any] | None:
        normalize = self.config.resolved_hyperparams.get("normalize", False)
        if normalize is True:
            return {}
        if isinstance(normalize, dict):
            return normalize
        return None

    # ---- training
    def is_finished(self) -> bool:
        """Whether the run folder holds a finished training: its final ``model.zip`` and a checkpoint at the budget.

        ``train(resume=True)`` on a finished run loads it and returns without training or writing anything.
        """
        if not (self.run.checkpoints / CHECKPOINT_STATE).exists() or not (self.run.path / "model.zip").exists():
            return False
        try:
            return _read_state(self.run.checkpoints)["num_timesteps"] >= self.config.total_timesteps
        except _UnreadableCheckpointError:
            return False

    def train(self, resume: bool = False) -> BaseAlgorithm:
        """Train for ``config.total_timesteps`` env steps; with ``resume``, continue from the last checkpoint.

        Args:
            resume: continue from the newest checkpoint that loads (from the previous one, with a warning,
                if the newest is unreadable), first dropping the ``metrics.jsonl`` records logged after it;
                without checkpoints, start afresh. A finished run (:meth:`is_finished`) is loaded and
                returned as it is: nothing is trained or written.

        Returns:
            The trained model.

        Raises:
            ConfigError: ``resume`` found checkpoints but none of them loads; the run folder is left untouched.
        """
        cfg = self.config
        if resume and self.is_finished():
            try:
                self.model = self._load_model(self.run.path, cfg.seed + 7919)
            except _UnreadableCheckpointError as err:
                warnings.warn(f"{err}; saving the final model again from the last checkpoint.", stacklevel=2)
            else:
                self._close_rollout_workers()
                return self.model
        checkpoint = self._load_newest_checkpoint() if resume else None
        if checkpoint is not None:
            self.model, state, folder = checkpoint
            if folder != self.run.checkpoints:  # the newest does not load: the next checkpoint must not keep it
                (self.run.checkpoints / CHECKPOINT_STATE).unlink(missing_ok=True)
            self.run.truncate_metrics(state["num_timesteps"])
            elapsed = float(state.get("elapsed_seconds", 0.0))
        else:
            if resume:
                self.run.truncate_metrics(0)
            self.run.write_config(self.config_record())
            self.model = self._build_model()
            elapsed = 0.0
        try:
            self._learn(cfg.total_timesteps - self.model.num_timesteps, elapsed)
            self.save(self.run.path)
        finally:
            self._close_rollout_workers()
        return self.model

    def _close_rollout_workers(self) -> None:
        if self.config.rollout_executor is not None:
            self.model.get_env().close()  # ends the rollout workers (processes, Ray actors)

    def _learn(self, remaining: int, elapsed: float = 0.0) -> None:
        """Train ``remaining`` more env steps, after ``elapsed`` seconds of training in earlier sessions."""
        cfg = self.config
        if remaining <= 0:
            return
        callbacks = [
            *self.training_callbacks(),
            LogEpisodeOutcomes(self.run, elapsed),
            SaveResumableCheckpoint(self.run, cfg.checkpoint_freq, elapsed),
        ]
        if cfg.snapshot_steps:
            callbacks.append(SaveSnapshots(self.run.path / "snapshots", cfg.snapshot_steps))
        if cfg.progress_bar:
            callbacks.append(ShowTrainingProgress(cfg.total_timesteps))
        start = time.perf_counter()
        self.model.learn(
            total_timesteps=remaining,
            callback=CallbackList(callbacks),
            reset_num_timesteps=False,
            tb_log_name="sb3",
        )
        seconds = time.perf_counter() - start
        self.run.append_metrics(
            {"kind": "train", "step": self.model.num_timesteps, "seconds": seconds, "time": elapsed + seconds}
        )
        save_checkpoint(self.model, self.run, elapsed=elapsed + seconds)

    def _build_model(self) -> BaseAlgorithm:
        cfg = self.config
        venv = self.make_vec_env(cfg.n_envs, cfg.seed)
        norm = self._normalize_kwargs()
        if norm is not None:
            venv = VecNormalize(venv, **norm)
        return algo_class(cfg.algo)(
            cfg.resolved_hyperparams.get("policy", "MlpPolicy"),
            venv,
            seed=cfg.seed,
            device=cfg.device,
            tensorboard_log=str(self.run.tensorboard),
            verbose=0,
            **algo_kwargs(cfg.resolved_hyperparams),
        )

    def _load_newest_checkpoint(self) -> tuple[BaseAlgorithm, dict[str, Any], Path] | None:
        """The newest checkpoint that loads, its ``state.json`` and folder; ``None`` if the run has no checkpoint.

        Reads only: the caller changes the run folder once this returned.

        Raises:
            ConfigError: there are checkpoints, but none of them loads.
        """
        folders = [self.run.checkpoints, self.run.checkpoints / PREVIOUS_CHECKPOINT]
        folders = [f for f in folders if (f / CHECKPOINT_STATE).exists()]
        failures: list[str] = []
        for folder in folders:
            try:
                state = _read_state(folder)
                model = self._load_model(folder, self.config.seed + 7919, replay_buffer=True)
            except _UnreadableCheckpointError as err:
                failures.append(str(err))
                continue
            if failures:
                warnings.warn(
                    f"{failures[0]}; resuming from the previous checkpoint {folder} "
                    f"(step {state['num_timesteps']:,}) instead.",
                    stacklevel=3,
                )
            return model, state, folder
        if failures:
            raise ConfigError(
                f"Cannot resume {self.run.path}: no checkpoint loads ({'; '.join(failures)}). "
                "Nothing was changed; start a new run without --resume."
            )
        return None

    def _load_model(self, folder: Path, seed: int, replay_buffer: bool = False) -> BaseAlgorithm:
        """The model saved in ``folder`` (with its VecNormalize and, if asked, replay buffer) on fresh training envs.

        Raises:
            _UnreadableCheckpointError: a file of ``folder`` does not load (it names the file and why).
        """
        cfg = self.config
        venv = self.make_vec_env(cfg.n_envs, seed)
        path = folder / "vecnormalize.pkl"
        try:
            if path.exists():
                venv = VecNormalize.load(str(path), venv)
            path = folder / "model.zip"
            model = algo_class(cfg.algo).load(
                path, env=venv, device=cfg.device, tensorboard_log=str(self.run.tensorboard)
            )
            path = folder / "replay_buffer.pkl"
            if replay_buffer and isinstance(model, OffPolicyAlgorithm) and path.exists():
                model.load_replay_buffer(path)
        except Exception as err:
            venv.close()
            reason = " ".join(f"{type(err).__name__}: {err}".split())
            raise _UnreadableCheckpointError(f"{path} does not load ({reason[:200]})") from err
        return model

    # ---- save / load
    def save(self, folder: Path | str) -> None:
        """Write ``model.zip`` (and ``vecnormalize.pkl``) into ``folder``, each through a temporary file and a rename."""
        folder = Path(folder)
        save_atomically(self.model.save, folder / "model.zip")
        env = self.model.get_env()
        if isinstance(env, VecNormalize):
            save_atomically(lambda tmp: env.save(str(tmp)), folder / "vecnormalize.pkl")

    @classmethod
    def load(cls, run_dir: Path | str, snapshot: int | None = None) -> SB3Agent:
        """The trained agent of a finished run folder; ``snapshot``: the policy kept at that many env steps.

        Raises:
            ConfigError: the run kept no snapshot at ``snapshot`` steps (the message lists those it kept).
        """
        run = RunDir(Path(run_dir))
        data = {k: v for k, v in run.read_config().items() if k != "agent"}
        config = SB3Config.from_dict({**data, "rollout_executor": None})  # acting needs no rollout workers
        agent = cls(config, run)
        model_path, norm_path = run.path / "model.zip", run.path / "vecnormalize.pkl"
        if snapshot is not None:
            model_path, norm_path = snapshot_paths(run.path / "snapshots", snapshot)
            if not model_path.exists():
                raise ConfigError(f"{run.path} kept no snapshot at {snapshot} steps; it has {agent.snapshots()}.")
        venv = agent.make_vec_env(1, config.seed)
        if norm_path.exists():
            venv = VecNormalize.load(str(norm_path), venv)
            venv.training, venv.norm_reward = False, False
        agent.model = algo_class(config.algo).load(model_path, env=venv, device=config.device)
        return agent

    def snapshots(self) -> list[int]:
        """The env steps at which this run kept a snapshot of its policy."""
        return sorted(int(p.stem.split("-")[1]) for p in (self.run.path / "snapshots").glob("model-*.zip"))

    # ---- acting and evaluation
    def predict(self, obs: Any, deterministic: bool = True) -> Any:
        """The policy's action for one (unnormalised) observation of :meth:`make_eval_env`."""
        env = self.model.get_env()
        if isinstance(env, VecNormalize):
            obs = env.normalize_obs(obs)
        action, _ = self.model.predict(obs, deterministic=deterministic)
        return action

    def evaluate(self, n_episodes: int | None = None, seed_offset: int = EVAL_SEED_OFFSET) -> dict[str, Any]:
        """Run evaluation episodes on held-out seeds; return success rate, mean return and each outcome."""
        n_episodes = self.config.n_eval_episodes if n_episodes is None else n_episodes
        env = self.make_eval_env()
        outcomes = run_eval_episodes(
            env, lambda obs, _: self.predict(obs, self.config.deterministic_eval), n_episodes, seed_offset
        )
        env.close()
        return {**summarize_outcomes(outcomes), "outcomes": outcomes}
