"""Executors: run a batch of independent jobs (candidate trainings, benchmark seeds, rollout workers).

Every executor takes the same ``map(fn, jobs)`` call and returns results in job order, and the same
``make_vec_env(env_fns)`` call for an SB3 ``VecEnv`` whose envs step where the executor runs its jobs:
in this process (``DummyVecEnv``), in spawned local processes (``SubprocVecEnv``) or in Ray actors
(:class:`RayVecEnv`). The local process pool is the default; the Ray executor keeps the interface
across machines.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from copy import deepcopy
from dataclasses import dataclass
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn
from stable_baselines3.common.vec_env.util import dict_to_obs, obs_space_info

from mentor.errors import ConfigError, MissingDependencyError, RolloutWorkerError, UnknownComponentError

__all__ = [
    "ExecutorConfig",
    "Executor",
    "SequentialExecutor",
    "ProcessPoolJobExecutor",
    "RayExecutor",
    "RayVecEnv",
    "make_executor",
    "die_with_parent",
    "EXECUTORS",
]

J = TypeVar("J")
R = TypeVar("R")
EnvFn = Callable[[], gym.Env]


@dataclass
class ExecutorConfig:
    """How to run a batch of jobs.

    Attributes:
        kind: ``process`` (local process pool), ``sequential`` (in this process, for debugging) or
            ``ray`` (Ray tasks; ``pip install 'mentor[ray]'``).
        num_workers: parallel workers; ``None`` means one per CPU core.
        address: Ray cluster address (``auto`` on a cluster node, or ``ray://head:10001``); ``None`` starts a
            local Ray with ``num_workers`` CPUs.
        max_retries: times a job is retried when its worker process dies.
        threads_per_worker: torch threads in each worker, so workers don't oversubscribe the cores.
    """

    kind: str = "process"
    num_workers: int | None = None
    address: str | None = None
    max_retries: int = 3
    threads_per_worker: int = 1

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise UnknownComponentError("executor", self.kind, EXECUTORS)
        if self.num_workers is None:
            self.num_workers = os.cpu_count() or 1
        if self.num_workers < 1:
            raise ConfigError(f"num_workers ({self.num_workers}) must be >= 1.")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries ({self.max_retries}) must be >= 0.")


class Executor(ABC):
    """Runs ``fn(job)`` for every job; results come back in job order. Builds vector envs that step where jobs run."""

    def __init__(self, config: ExecutorConfig | None = None):
        self.config = config or ExecutorConfig()

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
        if not jobs:
            return []
        return self._map(fn, list(jobs))

    @abstractmethod
    def _map(self, fn: Callable[[J], R], jobs: list[J]) -> list[R]: ...

    def make_vec_env(self, env_fns: Sequence[EnvFn]) -> VecEnv:
        """An SB3 ``VecEnv`` over one env per thunk, stepped by this executor's workers.

        Fits SB3's ``make_vec_env(..., vec_env_cls=executor.make_vec_env)``. Thunks must be picklable
        (cloudpickle) for the process and Ray executors. Close the result to end its workers.

        Raises:
            ConfigError: ``env_fns`` is empty.
        """
        if not env_fns:
            raise ConfigError("make_vec_env needs at least one env thunk, got none.")
        return self._make_vec_env(list(env_fns))

    def _make_vec_env(self, env_fns: list[EnvFn]) -> VecEnv:
        return DummyVecEnv(env_fns)


class SequentialExecutor(Executor):
    """Runs the jobs one after another in this process; its vector envs are ``DummyVecEnv``."""

    def _map(self, fn: Callable[[J], R], jobs: list[J]) -> list[R]:
        return [fn(job) for job in jobs]


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux), so no worker outlives a killed run.

    Exits at once if the parent is already gone. Elsewhere (no ``prctl``) it does nothing.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _init_worker(threads: int, parent_pid: int | None = None) -> None:
    import torch

    if parent_pid is not None:
        die_with_parent(parent_pid)
    torch.set_num_threads(threads)


class ProcessPoolJobExecutor(Executor):
    """Runs the jobs in a local pool of ``num_workers`` spawned processes.

    Its vector envs are SB3's ``SubprocVecEnv`` (spawn), which runs one process per env whatever ``num_workers``.
    """

    def _map(self, fn: Callable[[J], R], jobs: list[J]) -> list[R]:
        workers = min(self.config.num_workers, len(jobs))
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.config.threads_per_worker, os.getpid()),
        ) as pool:
            return list(pool.map(fn, jobs))

    def _make_vec_env(self, env_fns: list[EnvFn]) -> VecEnv:
        return SubprocVecEnv(env_fns, start_method="spawn")


def _run_in_worker(fn: Callable[[J], R], job: J, threads: int) -> R:
    _init_worker(threads)
    return fn(job)


class RayExecutor(Executor):
    """Runs the jobs as Ray tasks, on a local Ray or the cluster at ``config.address`` (the ``[ray]`` extra).

    A task whose worker process dies is retried up to ``max_retries`` times; exceptions raised by the
    job itself are not retried. Each job yields exactly one result, in job order, so a retried job is
    never counted twice. Jobs must be idempotent about their own files (mentor's jobs write their
    result file last, atomically).
    """

    def __init__(self, config: ExecutorConfig | None = None):
        super().__init__(config)
        try:
            import ray
        except ImportError as e:
            raise MissingDependencyError("ray", "ray", "The Ray executor") from e
        self._ray = ray
        if not ray.is_initialized():
            if self.config.address is None:
                ray.init(num_cpus=self.config.num_workers, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=self.config.address, log_to_driver=False)

    def _map(self, fn: Callable[[J], R], jobs: list[J]) -> list[R]:
        task = self._ray.remote(num_cpus=1, max_retries=self.config.max_retries, retry_exceptions=False)(_run_in_worker)
        return self._ray.get([task.remote(fn, job, self.config.threads_per_worker) for job in jobs])

    def _make_vec_env(self, env_fns: list[EnvFn]) -> VecEnv:
        return RayVecEnv(env_fns, num_workers=self.config.num_workers)


class _EnvWorker:
    """What one Ray actor of a :class:`RayVecEnv` runs: a few envs, stepped together in one call.

    ``step`` auto-resets finished envs and fills ``TimeLimit.truncated`` and ``terminal_observation``
    exactly as SB3's ``DummyVecEnv`` does.
    """

    def __init__(self, env_fns: list[EnvFn]):
        from stable_baselines3.common.vec_env.patch_gym import _patch_env

        self.envs = [_patch_env(fn()) for fn in env_fns]

    def spaces(self) -> tuple[gym.Space, gym.Space, dict[str, Any]]:
        env = self.envs[0]
        return env.observation_space, env.action_space, env.metadata

    def reset(self, seeds: list[int | None], options: list[dict[str, Any]]) -> list[tuple[Any, dict[str, Any]]]:
        return [
            env.reset(seed=seed, **({"options": opts} if opts else {}))
            for env, seed, opts in zip(self.envs, seeds, options, strict=True)
        ]

    def step(self, actions: np.ndarray) -> list[tuple[Any, float, bool, dict[str, Any], dict[str, Any] | None]]:
        out = []
        for env, action in zip(self.envs, actions, strict=True):
            obs, reward, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            info["TimeLimit.truncated"] = truncated and not terminated
            reset_info = None
            if done:
                info["terminal_observation"] = obs
                obs, reset_info = env.reset()
            out.append((obs, reward, done, info, reset_info))
        return out

    def get_attr(self, name: str, local: list[int]) -> list[Any]:
        return [self.envs[i].get_wrapper_attr(name) for i in local]

    def set_attr(self, name: str, value: Any, local: list[int]) -> list[None]:
        for i in local:
            setattr(self.envs[i], name, value)
        return [None] * len(local)

    def env_method(self, name: str, args: tuple, kwargs: dict[str, Any], local: list[int]) -> list[Any]:
        return [self.envs[i].get_wrapper_attr(name)(*args, **kwargs) for i in local]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], local: list[int]) -> list[bool]:
        from stable_baselines3.common.env_util import is_wrapped

        return [is_wrapped(self.envs[i], wrapper_class) for i in local]

    def render(self, local: list[int]) -> list[Any]:
        return [self.envs[i].render() for i in local]

    def close(self) -> None:
        for env in self.envs:
            env.close()


class RayVecEnv(VecEnv):
    """An SB3 ``VecEnv`` whose envs live in Ray actors (the ``[ray]`` extra).

    The envs are split into ``min(num_workers, len(env_fns))`` contiguous groups, one actor each; a
    vector step is one remote call per actor, all in flight together (``step_async`` sends, ``step_wait``
    gathers). Observations, rewards, dones, infos (``terminal_observation``, ``TimeLimit.truncated``)
    and ``reset_infos`` are those of ``DummyVecEnv`` over the same thunks. An actor whose process dies
    raises :class:`~mentor.errors.RolloutWorkerError` naming it; actors are not restarted, as their
    envs' state would be lost.

    Args:
        env_fns: one picklable thunk per env.
        num_workers: actors to spread the envs over; ``None`` means one per env.
        num_cpus_per_worker: CPUs each actor reserves in Ray's scheduler (actors wait for free CPUs, so
            inside Ray tasks that hold every CPU pass ``0``).

    Raises:
        ConfigError: no thunks, or ``num_workers`` below 1.
        MissingDependencyError: Ray is not installed.

    Example:
        >>> from minigrid.wrappers import FlatObsWrapper
        >>> from mentor.envs import make
        >>> env_fn = lambda: FlatObsWrapper(make("mentor/MiniGrid-Empty-5x5-v0"))
        >>> venv = RayVecEnv([env_fn] * 4, num_workers=2)  # doctest: +SKIP
        >>> venv.reset().shape  # doctest: +SKIP
        (4, 2835)
        >>> venv.close()  # doctest: +SKIP
    """

    def __init__(self, env_fns: Sequence[EnvFn], num_workers: int | None = None, num_cpus_per_worker: float = 1.0):
        try:
            import ray
        except ImportError as e:
            raise MissingDependencyError("ray", "ray", "RayVecEnv") from e
        if not env_fns:
            raise ConfigError("RayVecEnv needs at least one env thunk, got none.")
        num_envs = len(env_fns)
        num_workers = num_envs if num_workers is None else num_workers
        if num_workers < 1:
            raise ConfigError(f"num_workers ({num_workers}) must be >= 1.")
        self._ray = ray
        self.closed = False
        self._pending: list[tuple[int, Any]] = []
        size, extra = divmod(num_envs, min(num_workers, num_envs))
        self._slices: list[slice] = []
        for w in range(min(num_workers, num_envs)):
            start = self._slices[-1].stop if self._slices else 0
            self._slices.append(slice(start, start + size + (w < extra)))
        self._worker_of = [w for w, s in enumerate(self._slices) for _ in range(s.start, s.stop)]
        actor = ray.remote(num_cpus=num_cpus_per_worker, max_restarts=0)(_EnvWorker)
        self.workers = [actor.remote(list(env_fns[s])) for s in self._slices]
        self.num_envs = num_envs  # VecEnv.__init__ reads render_mode through get_attr
        ((observation_space, action_space, metadata),) = self._gather([(0, self.workers[0].spaces.remote())])
        super().__init__(num_envs, observation_space, action_space)
        self.metadata = metadata
        self.keys, shapes, dtypes = obs_space_info(observation_space)
        self.buf_obs = {k: np.zeros((num_envs, *tuple(shapes[k])), dtype=dtypes[k]) for k in self.keys}
        self.buf_dones = np.zeros((num_envs,), dtype=bool)
        self.buf_rews = np.zeros((num_envs,), dtype=np.float32)

    # ---- stepping
    def reset(self) -> VecEnvObs:
        calls = [
            (w, worker.reset.remote(self._seeds[s], self._options[s]))
            for w, (worker, s) in enumerate(zip(self.workers, self._slices, strict=True))
        ]
        results = [r for group in self._gather(calls) for r in group]
        for i, (obs, reset_info) in enumerate(results):
            self.reset_infos[i] = reset_info
            self._save_obs(i, obs)
        self._reset_seeds()
        self._reset_options()
        return self._obs_from_buf()

    def step_async(self, actions: np.ndarray) -> None:
        self._pending = [
            (w, worker.step.remote(actions[s]))
            for w, (worker, s) in enumerate(zip(self.workers, self._slices, strict=True))
        ]

    def step_wait(self) -> VecEnvStepReturn:
        pending, self._pending = self._pending, []
        results = [r for group in self._gather(pending) for r in group]
        infos = []
        for i, (obs, reward, done, info, reset_info) in enumerate(results):
            self.buf_rews[i], self.buf_dones[i] = reward, done
            if reset_info is not None:
                self.reset_infos[i] = reset_info
            self._save_obs(i, obs)
            infos.append(info)
        return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), deepcopy(infos)

    def _save_obs(self, env_idx: int, obs: Any) -> None:
        for key in self.keys:
            self.buf_obs[key][env_idx] = obs if key is None else obs[key]

    def _obs_from_buf(self) -> VecEnvObs:
        return dict_to_obs(self.observation_space, deepcopy(self.buf_obs))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._gather([(w, worker.close.remote()) for w, worker in enumerate(self.workers)])
        except RolloutWorkerError:
            pass  # a dead worker has nothing left to close
        finally:
            for worker in self.workers:
                self._ray.kill(worker)

    # ---- the envs' attributes and methods
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._call("get_attr", indices, attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._call("set_attr", indices, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        return self._call("env_method", indices, method_name, method_args, method_kwargs)

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return self._call("env_is_wrapped", indices, wrapper_class)

    def get_images(self) -> Sequence[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            warnings.warn(
                f"The render mode is {self.render_mode}, but this method assumes it is `rgb_array` to obtain images.",
                stacklevel=2,
            )
            return [None] * self.num_envs
        return self._call("render", None)

    # ---- remote calls
    def _call(self, method: str, indices: VecEnvIndices, *args: Any) -> list[Any]:
        """``method`` on the envs at ``indices`` (one remote call per actor involved), results in index order."""
        envs = [range(self.num_envs)[i] for i in self._get_indices(indices)]
        local: dict[int, list[int]] = {}
        for i in envs:
            w = self._worker_of[i]
            local.setdefault(w, []).append(i - self._slices[w].start)
        calls = [(w, getattr(self.workers[w], method).remote(*args, idx)) for w, idx in local.items()]
        results = {w: iter(group) for (w, _), group in zip(calls, self._gather(calls), strict=True)}
        return [next(results[self._worker_of[i]]) for i in envs]

    def _gather(self, calls: list[tuple[int, Any]]) -> list[Any]:
        """``ray.get`` over ``(worker, ref)`` calls; a dead actor raises :class:`RolloutWorkerError` naming it."""
        try:
            return self._ray.get([ref for _, ref in calls])
        except self._ray.exceptions.RayActorError:
            for w, ref in calls:
                try:
                    self._ray.get(ref)
                except self._ray.exceptions.RayActorError as e:
                    s = self._slices[w]
                    cause = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                    raise RolloutWorkerError(
                        f"Rollout worker {w} of {len(self.workers)} (envs {s.start}..{s.stop - 1}) died: {cause}"
                    ) from e
            raise


EXECUTORS: dict[str, Callable[[ExecutorConfig], Executor]] = {
    "process": ProcessPoolJobExecutor,
    "sequential": SequentialExecutor,
    "ray": RayExecutor,
}


def make_executor(config: ExecutorConfig | str | None = None, **kwargs: Any) -> Executor:
    """An executor from a config, or from its kind and fields: ``make_executor("process", num_workers=2)``."""
    if config is None or isinstance(config, str):
        config = ExecutorConfig(kind=config or "process", **kwargs)
    return EXECUTORS[config.kind](config)
