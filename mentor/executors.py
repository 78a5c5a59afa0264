"""Executors: run a batch of independent jobs (candidate trainings, benchmark seeds, rollout workers).

Every executor takes the same ``map(fn, jobs)`` call and returns results in job order. The local
process pool is the default; the Ray executor keeps the interface across machines.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from mentor.errors import ConfigError, MissingDependencyError, UnknownComponentError

__all__ = [
    "ExecutorConfig",
    "Executor",
    "SequentialExecutor",
    "ProcessPoolJobExecutor",
    "RayExecutor",
    "make_executor",
    "EXECUTORS",
]

J = TypeVar("J")
R = TypeVar("R")


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
    """Runs ``fn(job)`` for every job; results come back in job order."""

    def __init__(self, config: ExecutorConfig | None = None):
        self.config = config or ExecutorConfig()

    def map(self, fn: Callable[[J], R], jobs: Sequence[J]) -> list[R]:
        if not jobs:
            return []
        return self._map(fn, list(jobs))

    @abstractmethod
    def _map(self, fn: Callable[[J], R], jobs: list[J]) -> list[R]: ...


class SequentialExecutor(Executor):
    """Runs the jobs one after another in this process."""

    def _map(self, fn: Callable[[J], R], jobs: list[J]) -> list[R]:
        return [fn(job) for job in jobs]


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class ProcessPoolJobExecutor(Executor):
    """Runs the jobs in a local pool of ``num_workers`` spawned processes."""

    def _map(self, fn: Callable[[J], R], jobs: list[J]) -> list[R]:
        workers = min(self.config.num_workers, len(jobs))
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.config.threads_per_worker,),
        ) as pool:
            return list(pool.map(fn, jobs))


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
