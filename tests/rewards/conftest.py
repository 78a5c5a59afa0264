"""Fixtures of the reward tests: a fake trainer, so the loop's logic is tested in seconds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import mentor.rewards.loop as loop_module
from mentor.rewards.training import RESULT_FILE, RewardTrainJob, RewardTrainResult
from mentor.runs import RunDir

FITNESS = re.compile(r"# fitness: (-?[\d.]+)")


class FakeTrainer:
    """Stands in for ``train_reward_job``: the fitness is read from a ``# fitness: X`` comment in the code
    (human baseline 1.0, anything else 0.0); ``fail_on`` labels fail, ``kill_after`` jobs raise KeyboardInterrupt."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        self.kill_after: int | None = None
        self.fail_on: set[str] = set()

    def __call__(self, job: RewardTrainJob) -> RewardTrainResult:
        if self.kill_after is not None and len(self.labels) >= self.kill_after:
            raise KeyboardInterrupt("killed")
        self.labels.append(job.label)
        match = FITNESS.search(job.reward_code)
        fitness = float(match.group(1)) if match else (1.0 if job.label.startswith("baselines/human") else 0.0)
        points = [
            {"step": s, "mean": fitness * s / job.total_timesteps, "min": 0.0, "max": fitness, "episodes": 2}
            for s in (50, 100)
        ]
        result = RewardTrainResult(
            label=job.label,
            folder=job.folder,
            ok=job.label not in self.fail_on,
            error="failed during training at step 10: boom" if job.label in self.fail_on else None,
            fitness=None if job.label in self.fail_on else fitness,
            component_stats={"progress": points, "fitness": points, "episode_length": points},
            curve=[
                {"step": p["step"], "fitness": p["mean"], "env_return": 0.0, "reward_return": 0.0, "episodes": 2}
                for p in points
            ],
            steps=job.total_timesteps,
            train_seconds=1.0,
            sandbox={"calls": 10, "us_per_call": 100.0, "share_of_training": 0.1},
        )
        run = RunDir(Path(job.folder))
        run.path.mkdir(parents=True, exist_ok=True)
        run.write_json(RESULT_FILE, result.to_dict())
        return result


@pytest.fixture
def fake_trainer(monkeypatch):
    trainer = FakeTrainer()
    monkeypatch.setattr(loop_module, "train_reward_job", trainer)
    return trainer
