import json
import os
from pathlib import Path

import numpy as np
import pytest

from mentor.benchmarks.agents import CellJob
from mentor.benchmarks.runner import run_cell
from mentor.errors import ConfigError, RolloutWorkerError, UnknownComponentError
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


# ---- rollout workers: vector envs stepped by an executor


def _env_fns(obs: str = "flat", n: int = 3, die_at: int | None = None) -> list:
    """Thunks of Empty-5x5 with 8-step episodes (so envs auto-reset often): flat Box or Dict observations.

    The env at index ``die_at`` kills its worker process on its first step.
    """

    def make(index: int):
        import gymnasium as gym
        from minigrid.wrappers import FlatObsWrapper

        from mentor.envs import make as make_env

        env = make_env("mentor/MiniGrid-Empty-5x5-v0", max_steps=8)
        env = FlatObsWrapper(env) if obs == "flat" else gym.wrappers.FilterObservation(env, ["image", "direction"])
        if index == die_at:

            class KillProcessOnStep(gym.Wrapper):
                def step(self, action):
                    os._exit(1)

            env = KillProcessOnStep(env)
        return env

    return [lambda i=i: make(i) for i in range(n)]


_ACTIONS = np.random.default_rng(0).choice(3, size=(40, 3), p=[0.2, 0.2, 0.6])  # 2 goals, 13 time-outs


def _rollout(venv) -> list:
    """Everything the vector env hands back over the fixed action sequence, then closed."""
    venv.seed(0)
    out = [venv.reset(), list(venv.reset_infos)]
    for actions in _ACTIONS:
        obs, rewards, dones, infos = venv.step(actions)
        out.append((obs, rewards, dones, list(infos), list(venv.reset_infos)))
    venv.close()
    return out


def _dtypes(obs) -> dict:
    return {k: v.dtype for k, v in obs.items()} if isinstance(obs, dict) else {None: obs.dtype}


@pytest.mark.parametrize("kind,obs", [("ray", "flat"), ("ray", "dict"), ("process", "dict")])
def test_rollout_workers_step_exactly_like_dummy_vec_env(kind, obs, request):
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from mentor.executors import RayVecEnv

    executor = request.getfixturevalue("ray_executor") if kind == "ray" else make_executor("process", num_workers=2)
    venv = executor.make_vec_env(_env_fns(obs))
    assert isinstance(venv, {"ray": RayVecEnv, "process": SubprocVecEnv}[kind])
    if kind == "ray":
        assert [s.stop - s.start for s in venv._slices] == [2, 1]  # 3 envs over 2 actors
    got, expected = _rollout(venv), _rollout(DummyVecEnv(_env_fns(obs)))
    if kind == "ray":  # RayVecEnv fills DummyVecEnv's typed buffers; SubprocVecEnv stacks what the envs return
        assert _dtypes(got[0]) == _dtypes(expected[0]) and {step[1].dtype for step in got[2:]} == {np.dtype(np.float32)}
    else:  # SubprocVecEnv's rewards are float64 where DummyVecEnv's are float32
        got[2:] = [(obs, rewards.astype(np.float32), *rest) for obs, rewards, *rest in got[2:]]
    np.testing.assert_equal(got, expected)  # obs, rewards, dones, infos (terminal_observation), reset_infos
    dones = np.array([step[2] for step in expected[2:]])
    assert dones.sum() == 15


def test_ray_vec_env_attributes_and_methods_match_dummy_vec_env(ray_executor):
    from minigrid.wrappers import FlatObsWrapper, ImgObsWrapper
    from stable_baselines3.common.vec_env import DummyVecEnv

    calls = {
        "get_attr": lambda v: v.get_attr("max_steps", indices=[2, 0]),
        "set_attr": lambda v: (v.set_attr("max_steps", 5, indices=-1), v.get_attr("max_steps")),
        "env_method": lambda v: v.env_method("reset", seed=4, indices=[1, 2]),
        "env_is_wrapped": lambda v: (v.env_is_wrapped(FlatObsWrapper), v.env_is_wrapped(ImgObsWrapper, 1)),
        "has_attr": lambda v: (v.has_attr("max_steps"), v.has_attr("no_such_attr")),
        "render_mode": lambda v: (v.render_mode, v.metadata, v.observation_space, v.action_space),
    }
    ray_venv, dummy = ray_executor.make_vec_env(_env_fns()), DummyVecEnv(_env_fns())
    for name, call in calls.items():
        np.testing.assert_equal(call(ray_venv), call(dummy), err_msg=name)
    ray_venv.close()
    ray_venv.close()  # closing twice is harmless


def test_ray_vec_env_names_the_rollout_worker_whose_process_died(ray_executor):
    venv = ray_executor.make_vec_env(_env_fns(die_at=2))
    venv.reset()
    with pytest.raises(RolloutWorkerError, match=r"Rollout worker 1 of 2 \(envs 2\.\.2\) died"):
        venv.step(np.zeros(3, dtype=int))
    venv.close()


def test_make_vec_env_errors():
    from mentor.executors import RayVecEnv

    with pytest.raises(ConfigError, match="make_vec_env needs at least one env thunk, got none"):
        make_executor("sequential").make_vec_env([])
    pytest.importorskip("ray", reason="the Ray executor needs the [ray] extra: pip install 'mentor[ray]'")
    with pytest.raises(ConfigError, match=r"num_workers \(0\) must be >= 1"):
        RayVecEnv(_env_fns(), num_workers=0)


def test_ppo_with_ray_rollout_workers_trains_like_in_process(ray_executor, tmp_path):
    import torch

    from mentor.runs import RunDir
    from mentor.sb3.agent import SB3Agent, SB3Config

    def train(name: str, rollout_executor: ExecutorConfig | None) -> SB3Agent:
        config = SB3Config(
            "mentor/MiniGrid-Empty-5x5-v0",
            total_timesteps=256,
            hyperparams={"n_envs": 3, "n_steps": 32, "batch_size": 48, "n_epochs": 1},
            env_kwargs={"max_steps": 16},
            checkpoint_freq=10_000,
            progress_bar=False,
            device="cpu",
            rollout_executor=rollout_executor,
        )
        agent = SB3Agent(config, RunDir.create(name, tmp_path))
        agent.train()
        return agent

    on_ray = train("ray", ExecutorConfig(kind="ray", num_workers=2))
    in_process = train("local", None)
    assert on_ray.model.num_timesteps == in_process.model.num_timesteps == 288  # 3 rollouts of 3 x 32 steps

    def episodes(agent: SB3Agent) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "time"} for r in agent.run.iter_metrics("episode")]

    assert episodes(on_ray) and episodes(on_ray) == episodes(in_process)
    for p, q in zip(on_ray.model.policy.parameters(), in_process.model.policy.parameters(), strict=True):
        assert torch.equal(p, q)
    assert on_ray.model.get_env().closed  # the actors end with the training


_ORPHAN_PARENT = """
import os, sys, time
from mentor.executors import ExecutorConfig, make_executor

def job(path):
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)

if __name__ == "__main__":
    make_executor(ExecutorConfig("process", num_workers=1)).map(job, [sys.argv[1]])
"""


def test_pool_workers_die_with_a_killed_parent(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(_ORPHAN_PARENT)
    pid_file = tmp_path / "worker.pid"
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file)])
    deadline = time.monotonic() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    worker = int(pid_file.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state in ("Z", "X"):  # dead, waiting for a reaper that a container may lack
            return
        time.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError(f"pool worker {worker} outlived its killed parent by 10 s")
