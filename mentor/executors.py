"""Executors: run a batch of independent jobs (candidate trainings, benchmark seeds, rollout workers).

Every executor takes the same ``map(fn, jobs)`` call and returns results in job order. The local
process pool is the default.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from mentor.errors import ConfigError, UnknownComponentError

__all__ = ["ExecutorConfig", "Executor", "SequentialExecutor", "ProcessPoolJobExecutor", "make_executor", "EXECUTORS"]

J = TypeVar("J")
R = TypeVar("R")


@dataclass
class ExecutorConfig:
    """How to run a batch of jobs.

    Attributes:
        kind: ``process`` (local process pool) or ``sequential`` (in this process, for debugging).
        num_workers: parallel workers; ``None`` means one per CPU core.
        address: cluster address for distributed executors; ``None`` is local.
        max_retries: times a job is retried when its worker dies.
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


EXECUTORS: dict[str, Callable[[ExecutorConfig], Executor]] = {
    "process": ProcessPoolJobExecutor,
    "sequential": SequentialExecutor,
}


def make_executor(config: ExecutorConfig | str | None = None, **kwargs: Any) -> Executor:
    """An executor from a config, or from its kind and fields: ``make_executor("process", num_workers=2)``."""
    if config is None or isinstance(config, str):
        config = ExecutorConfig(kind=config or "process", **kwargs)
    return EXECUTORS[config.kind](config)
