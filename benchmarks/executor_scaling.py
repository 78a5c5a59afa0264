"""Executor scaling: the same batch of jobs on 1 worker vs 2, for the process pool and for Ray.

The jobs are benchmark cells (SB3 PPO on DoorKey-5x5, a short budget each). Prints a table and
writes ``benchmarks/results/executor_scaling.json`` with ``pool_speedup`` and ``ray_speedup``
(time on 1 worker / time on 2 workers, measured in the same run).

    python benchmarks/executor_scaling.py
    python benchmarks/executor_scaling.py --jobs 8 --budget 32768
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--budget", type=int, default=16384, help="PPO env steps per job")
    args = parser.parse_args()

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
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
