"""Executor scaling: the same batch of jobs on 1 worker vs 2, for the process pool and for Ray.

The jobs are benchmark cells (SB3 PPO on DoorKey-5x5, a short budget each). Prints a table and
writes ``benchmarks/results/executor_scaling.json`` with ``pool_speedup`` and ``ray_speedup``
(time on 1 worker / time on 2 workers, measured in the same run).

A second table compares rollout workers: env steps/s of SB3's training envs for DoorKey-5x5 (zoo
wrapper, random actions) stepped in this process (``DummyVecEnv``) and on Ray actors
(:class:`~mentor.executors.RayVecEnv`), measured in the same run; ``rollout.ray_over_dummy`` is their
ratio. For a cheap env the actor round trips cost more than they save.

    python benchmarks/executor_scaling.py
    python benchmarks/executor_scaling.py --jobs 8 --budget 32768
    python benchmarks/executor_scaling.py --rollout-only  # the rollout table alone; writes no results file
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from mentor.benchmarks.agents import CellJob
from mentor.benchmarks.runner import run_cell
from mentor.executors import make_executor

RESULTS = Path(__file__).parent / "results" / "executor_scaling.json"


def batch(root: Path, jobs: int, budget: int) -> list[CellJob]:
    return [
        CellJob(
            agent="sb3-ppo",
            env_id="mentor/MiniGrid-DoorKey-5x5-v0",
            seed=i,
            budget=budget,
            eval_episodes=5,
            cell_dir=str(root / f"job-{i}"),
        )
        for i in range(jobs)
    ]


def timed(kind: str, workers: int, jobs: int, budget: int) -> float:
    executor = make_executor(kind, num_workers=workers)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        executor.map(run_cell, batch(Path(tmp), jobs, budget))
        return time.perf_counter() - start


def rollout_rate(kind: str | None, n_envs: int, workers: int, vector_steps: int) -> float:
    """Env steps/s of DoorKey-5x5 training envs stepped by ``kind`` (``None``: in-process ``DummyVecEnv``)."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv

    from mentor.envs import make as make_env
    from mentor.sb3.hyperparams import make_env_wrapper

    venv = make_vec_env(
        functools.partial(make_env, "mentor/MiniGrid-DoorKey-5x5-v0"),
        n_envs=n_envs,
        seed=0,
        wrapper_class=make_env_wrapper("minigrid.wrappers.FlatObsWrapper"),
        vec_env_cls=DummyVecEnv if kind is None else make_executor(kind, num_workers=workers).make_vec_env,
    )
    warmup = 10
    actions = np.random.default_rng(0).integers(venv.action_space.n, size=(warmup + vector_steps, n_envs))
    venv.reset()
    for step_actions in actions[:warmup]:
        venv.step(step_actions)
    start = time.perf_counter()
    for step_actions in actions[warmup:]:
        venv.step(step_actions)
    seconds = time.perf_counter() - start
    venv.close()
    return vector_steps * n_envs / seconds


def rollout_table(n_envs: int, workers: int, vector_steps: int) -> dict | None:
    """Rollout steps/s in this process and on ``workers`` Ray actors, measured back to back; ``None`` without Ray."""
    try:
        import ray
    except ImportError:
        return None
    dummy = rollout_rate(None, n_envs, workers, vector_steps)
    ray.shutdown()
    on_ray = rollout_rate("ray", n_envs, workers, vector_steps)
    ray.shutdown()
    result = {
        "dummy_steps_per_s": dummy,
        "ray_steps_per_s": on_ray,
        "ray_over_dummy": on_ray / dummy,
        "n_envs": n_envs,
        "workers": workers,
        "vector_steps": vector_steps,
    }
    table = Table(title=f"DoorKey-5x5 rollout, {n_envs} envs, {vector_steps:,} vector steps: env steps/s")
    for column in ("vector env", "steps/s", "vs in-process"):
        table.add_column(column, justify="right")
    table.add_row("DummyVecEnv (in process)", f"{dummy:,.0f}", "1.00x")
    table.add_row(f"RayVecEnv ({workers} actors)", f"{on_ray:,.0f}", f"{on_ray / dummy:.2f}x")
    Console().print(table)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--budget", type=int, default=16384, help="PPO env steps per job")
    parser.add_argument("--rollout-envs", type=int, default=8, help="envs of the rollout comparison (zoo n_envs)")
    parser.add_argument("--rollout-steps", type=int, default=2000, help="vector steps of the rollout comparison")
    parser.add_argument("--rollout-only", action="store_true", help="only the rollout table; writes no results file")
    args = parser.parse_args()
    if args.rollout_only:
        rollout_table(args.rollout_envs, 2, args.rollout_steps)
        return

    times = {"process": {}, "ray": {}}
    for workers in (1, 2):
        times["process"][workers] = timed("process", workers, args.jobs, args.budget)
    try:
        import ray

        for workers in (1, 2):
            ray.shutdown()
            times["ray"][workers] = timed("ray", workers, args.jobs, args.budget)
        ray.shutdown()
    except ImportError:
        times["ray"] = {}

    result = {
        "pool_speedup": times["process"][1] / times["process"][2],
        "ray_speedup": times["ray"][1] / times["ray"][2] if times["ray"] else None,
        "seconds": times,
        "jobs": args.jobs,
        "budget": args.budget,
        "cpus": os.cpu_count(),
    }
    table = Table(title=f"{args.jobs} PPO cells of {args.budget:,} steps: wall seconds")
    for column in ("executor", "1 worker", "2 workers", "speedup"):
        table.add_column(column, justify="right")
    for kind, speedup in (("process", result["pool_speedup"]), ("ray", result["ray_speedup"])):
        if times[kind]:
            table.add_row(kind, f"{times[kind][1]:.1f}", f"{times[kind][2]:.1f}", f"{speedup:.2f}x")
        else:
            table.add_row(kind, "-", "-", "ray not installed")
    Console().print(table)
    result["rollout"] = rollout_table(args.rollout_envs, 2, args.rollout_steps)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
