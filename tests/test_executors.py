import json
import os
from pathlib import Path

import pytest

from mentor.benchmarks.agents import CellJob
from mentor.benchmarks.runner import run_cell
from mentor.errors import ConfigError, UnknownComponentError
from mentor.executors import ExecutorConfig, make_executor


def _cell_jobs(root: Path) -> list[CellJob]:
    return [
        CellJob(
            agent="random",
            env_id="mentor/MiniGrid-DoorKey-5x5-v0",
            seed=seed,
            budget=300,
            eval_episodes=2,
            cell_dir=str(root / f"seed-{seed}"),
        )
        for seed in range(3)
    ]


def _cell_result(cell_dir: str) -> dict:
    cell = Path(cell_dir)
    summary = json.loads((cell / "cell.json").read_text())
    summary.pop("wall_seconds")
    return {
        "cell": summary,
        "eval": json.loads((cell / "eval.json").read_text()),
        "metrics": (cell / "metrics.jsonl").read_text(),
    }


def test_process_pool_equals_sequential_and_keeps_job_order(tmp_path):
    pool = make_executor("process", num_workers=2).map(run_cell, _cell_jobs(tmp_path / "pool"))
    seq = make_executor("sequential").map(run_cell, _cell_jobs(tmp_path / "seq"))
    assert [Path(p).name for p in pool] == ["seed-0", "seed-1", "seed-2"]
    assert [_cell_result(p) for p in pool] == [_cell_result(p) for p in seq]


def test_executor_config_errors():
    with pytest.raises(UnknownComponentError, match=r"Unknown executor 'procss'\. Did you mean 'process'"):
        ExecutorConfig(kind="procss")
    with pytest.raises(ConfigError, match=r"num_workers \(0\) must be >= 1"):
        ExecutorConfig(num_workers=0)


@pytest.fixture(scope="module")
def ray_executor():
    pytest.importorskip("ray", reason="the Ray executor needs the [ray] extra: pip install 'mentor[ray]'")
    import ray

    executor = make_executor("ray", num_workers=2, max_retries=2)
    yield executor
    ray.shutdown()


def test_ray_benchmark_batch_equals_process_pool(ray_executor, tmp_path):
    ray_dirs = ray_executor.map(run_cell, _cell_jobs(tmp_path / "ray"))
    pool_dirs = make_executor("process", num_workers=2).map(run_cell, _cell_jobs(tmp_path / "pool"))
    assert [_cell_result(p) for p in ray_dirs] == [_cell_result(p) for p in pool_dirs]


def test_ray_retries_a_job_whose_worker_dies_without_duplicating_results(ray_executor, tmp_path):
    attempts = tmp_path / "attempts"
    attempts.mkdir()

    def job(i: int) -> int:
        marker = attempts / f"job-{i}-{len(list(attempts.glob(f'job-{i}-*')))}"
        marker.touch()
        if i == 1 and marker.name.endswith("-0"):
            os._exit(1)  # the worker process dies mid-job on the first attempt
        return i * 10

    assert ray_executor.map(job, [0, 1, 2]) == [0, 10, 20]
    assert sorted(p.name for p in attempts.iterdir()) == ["job-0-0", "job-1-0", "job-1-1", "job-2-0"]


def _reward_jobs(root: Path) -> list:
    from mentor.rewards.training import RewardTrainJob

    codes = {
        "time-cost": "def compute_reward(state, action, next_state):\n    return -0.01, {'time': -0.01}\n",
        "raises": "def compute_reward(state, action, next_state):\n    return 1 / 0, {}\n",
    }
    return [
        RewardTrainJob(
            label=name,
            folder=str(root / name),
            env_id="mentor/MiniGrid-DoorKey-5x5-v0",
            reward_code=code,
            fitness="success_rate",
            total_timesteps=256,
            hyperparams={"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1},
            env_kwargs={"max_steps": 20},
            eval_episodes=2,
            num_points=4,
        )
        for name, code in codes.items()
    ]


def _comparable(result) -> dict:
    from dataclasses import asdict

    return {k: v for k, v in asdict(result).items() if k not in ("folder", "train_seconds", "eval_seconds", "sandbox")}


def test_ray_reward_candidate_batch_equals_process_pool(ray_executor, tmp_path):
    from mentor.rewards.training import train_reward_job

    ray_results = ray_executor.map(train_reward_job, _reward_jobs(tmp_path / "ray"))
    pool_results = make_executor("process", num_workers=2).map(train_reward_job, _reward_jobs(tmp_path / "pool"))
    assert [r.ok for r in ray_results] == [True, False]
    assert "ZeroDivisionError" in ray_results[1].error
    assert [_comparable(r) for r in ray_results] == [_comparable(r) for r in pool_results]
