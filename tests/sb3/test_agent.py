import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import VecEnvWrapper

from mentor.errors import ConfigError, UnknownComponentError
from mentor.runs import RunDir
from mentor.sb3.agent import SB3Agent, SB3Config


def _config(env_id="mentor/MiniGrid-DoorKey-5x5-v0", algo="ppo", steps=512, **hyperparams):
    small = {
        "ppo": {"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1},
        "a2c": {"n_envs": 2},
        "dqn": {"learning_starts": 64, "buffer_size": 1000},
        "sac": {"learning_starts": 64, "buffer_size": 1000, "batch_size": 32},
    }[algo]
    return SB3Config(
        env_id,
        algo=algo,
        total_timesteps=steps,
        hyperparams={**small, **hyperparams},
        checkpoint_freq=128,
        n_eval_episodes=2,
        progress_bar=False,
        device="cpu",
    )


@pytest.mark.parametrize(
    "algo,env_id",
    [
        ("ppo", "mentor/MiniGrid-Empty-5x5-v0"),
        ("a2c", "mentor/MiniGrid-Empty-5x5-v0"),
        ("dqn", "mentor/MiniGrid-Empty-5x5-v0"),
        ("sac", "mentor/Hopper-v5"),
    ],
)
def test_train_evaluate_save_load(algo, env_id, tmp_path):
    agent = SB3Agent(_config(env_id, algo, steps=256), RunDir.create("t", tmp_path))
    model = agent.train()
    assert model.num_timesteps >= 256
    result = agent.evaluate(2)
    assert result["episodes"] == 2 and len(result["outcomes"]) == 2
    loaded = SB3Agent.load(agent.run.path)
    env = agent.make_eval_env()
    obs, _ = env.reset(seed=5)
    np.testing.assert_array_equal(agent.predict(obs), loaded.predict(obs))
    assert (agent.run.path / "tb").is_dir()
    assert list(agent.run.iter_metrics("episode")) or algo == "sac"


def test_resume_continues_from_the_checkpoint_without_duplicate_episodes(tmp_path):
    run = RunDir.create("resume", tmp_path)
    first = SB3Agent(_config(steps=512), run)
    first.train()
    state = json.loads((run.checkpoints / "state.json").read_text())
    assert state["num_timesteps"] == 512
    # Simulate a kill after the 512-step checkpoint: the budget grows, training resumes from the checkpoint.
    episodes_before = len(list(run.iter_metrics("episode")))
    run.append_metrics(
        {
            "kind": "episode",
            "step": 9999,
            "return": 0,
            "length": 1,
            "success": False,
            "progression": 0,
            "achievements": [],
            "x_position": None,
        }
    )
    config = _config(steps=1024)
    config.checkpoint_freq = 128
    resumed = SB3Agent(config, run)
    model = resumed.train(resume=True)
    assert model.num_timesteps == 1024
    steps = [r["step"] for r in run.iter_metrics("episode")]
    assert 9999 not in steps and len(steps) >= episodes_before
    assert steps == sorted(steps)


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_a_run_killed_mid_training_resumes_from_its_last_checkpoint(algo, tmp_path, monkeypatch):
    """Killed at step 700 of 1024 (checkpoints every 128), the run continues from its checkpoint to 1024."""
    from mentor.sb3 import callbacks

    run = RunDir.create(f"killed-{algo}", tmp_path)
    on_step = callbacks.SaveResumableCheckpoint._on_step

    def die_at_700(self):
        if self.num_timesteps >= 700:
            raise KeyboardInterrupt
        return on_step(self)

    monkeypatch.setattr(callbacks.SaveResumableCheckpoint, "_on_step", die_at_700)
    with pytest.raises(KeyboardInterrupt):
        SB3Agent(_config(algo=algo, steps=1024), run).train()
    saved = json.loads((run.checkpoints / "state.json").read_text())["num_timesteps"]
    assert 512 <= saved < 700
    kept = [r for r in run.iter_metrics("episode") if r["step"] <= saved]
    lost = {**kept[-1], "step": saved + 1, "return": -123.0} if kept else None
    if lost:  # an episode the killed process logged after its last checkpoint
        run.append_metrics(lost)
    monkeypatch.setattr(callbacks.SaveResumableCheckpoint, "_on_step", on_step)

    model = SB3Agent(_config(algo=algo, steps=1024), run).train(resume=True)
    assert model.num_timesteps == 1024
    episodes = list(run.iter_metrics("episode"))
    assert [r for r in episodes if r["step"] <= saved] == kept
    assert lost not in episodes
    assert [r["step"] for r in episodes] == sorted(r["step"] for r in episodes)
    assert json.loads((run.checkpoints / "state.json").read_text())["num_timesteps"] == 1024
    assert list(run.iter_metrics("train"))[-1]["step"] == 1024


def _killed_run(tmp_path, monkeypatch, algo="ppo", steps=1024, at=700):
    """A run of ``steps`` killed at step ``at`` (checkpoints every 128): newest checkpoint 640, previous 512."""
    from mentor.sb3 import callbacks

    run = RunDir.create(f"killed-{algo}", tmp_path)
    on_step = callbacks.SaveResumableCheckpoint._on_step

    def die(self):
        if self.num_timesteps >= at:
            raise KeyboardInterrupt
        return on_step(self)

    with monkeypatch.context() as patch:
        patch.setattr(callbacks.SaveResumableCheckpoint, "_on_step", die)
        with pytest.raises(KeyboardInterrupt):
            SB3Agent(_config(algo=algo, steps=steps), run).train()
    return run


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _state(folder):
    return json.loads((folder / "state.json").read_text())


@pytest.mark.parametrize("algo,corrupt", [("ppo", "model.zip"), ("dqn", "replay_buffer.pkl")])
def test_resume_falls_back_to_the_previous_checkpoint_when_the_newest_does_not_load(
    algo, corrupt, tmp_path, monkeypatch
):
    run = _killed_run(tmp_path, monkeypatch, algo)
    newest, previous = _state(run.checkpoints)["num_timesteps"], _state(run.checkpoints / "previous")["num_timesteps"]
    assert previous < newest < 700
    kept = [r for r in run.iter_metrics("episode") if r["step"] <= previous]
    _truncate(run.checkpoints / corrupt)

    resumed = SB3Agent(_config(algo=algo, steps=1024), run)
    message = rf"{corrupt} does not load .*; resuming from the previous checkpoint .*previous \(step {previous}\)"
    with pytest.warns(UserWarning, match=message):
        model = resumed.train(resume=True)
    assert model.num_timesteps == 1024
    episodes = list(run.iter_metrics("episode"))
    assert [r for r in episodes if r["step"] <= previous] == kept  # cut back to the checkpoint it resumed from
    assert [r["step"] for r in episodes] == sorted(r["step"] for r in episodes)
    assert _state(run.checkpoints)["num_timesteps"] == 1024
    SB3Agent.load(run.path)  # the final model loads


def test_resume_stops_with_one_line_and_changes_nothing_when_no_checkpoint_loads(tmp_path, monkeypatch):
    run = _killed_run(tmp_path, monkeypatch)
    _truncate(run.checkpoints / "model.zip")
    _truncate(run.checkpoints / "previous" / "model.zip")
    before = {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file()}

    with pytest.raises(
        ConfigError, match=r"Cannot resume .*: no checkpoint loads \(.*checkpoints/model\.zip does not"
    ) as err:
        SB3Agent(_config(steps=1024), run).train(resume=True)
    assert "\n" not in str(err.value) and "previous/model.zip does not load" in str(err.value)
    assert {p: p.read_bytes() for p in run.path.rglob("*") if p.is_file()} == before  # metrics.jsonl included


def test_a_resumed_run_continues_the_clock_and_the_progress_bar(tmp_path, monkeypatch):
    from mentor.sb3 import callbacks

    run = _killed_run(tmp_path, monkeypatch)
    saved = _state(run.checkpoints)
    assert saved["elapsed_seconds"] > 0
    bars = []

    class Bar:
        def __init__(self, total, initial=0):
            self.total, self.initial, self.n, self.updates = total, initial, initial, []
            bars.append(self)

        def update(self, n):
            self.n += n
            self.updates.append(self.n)

        def refresh(self):
            pass

        def close(self):
            pass

    monkeypatch.setattr(callbacks, "tqdm", Bar)
    config = _config(steps=1024)
    config.progress_bar = True
    SB3Agent(config, run).train(resume=True)

    records = list(run.iter_metrics())
    times = [r["time"] for r in records]
    assert times == sorted(times)  # not back to 0 after the resume
    assert all(r["time"] >= saved["elapsed_seconds"] for r in records if r["step"] > saved["num_timesteps"])
    assert _state(run.checkpoints)["elapsed_seconds"] >= saved["elapsed_seconds"] + records[-1]["seconds"]
    (bar,) = bars
    assert (bar.total, bar.initial, bar.n) == (1024, saved["num_timesteps"], 1024)
    assert max(bar.updates) == 1024


def test_resume_of_a_finished_run_trains_and_writes_nothing(tmp_path, monkeypatch):
    run = RunDir.create("finished", tmp_path)
    first = SB3Agent(_config(steps=256), run)
    assert not first.is_finished()
    first.train()
    assert first.is_finished()
    assert not SB3Agent(_config(steps=512), run).is_finished()  # a bigger budget is not finished
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.path.rglob("*") if p.is_file()}
    monkeypatch.setattr(SB3Agent, "_learn", lambda *a: pytest.fail("a finished run was trained again"))

    again = SB3Agent(_config(steps=256), run)
    assert again.is_finished()
    model = again.train(resume=True)
    assert model.num_timesteps == 256
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.path.rglob("*") if p.is_file()} == before
    obs, _ = again.make_eval_env().reset(seed=3)
    np.testing.assert_array_equal(again.predict(obs), first.predict(obs))


def test_checkpoints_are_written_whole_and_the_previous_one_is_kept(tmp_path, monkeypatch):
    from stable_baselines3 import DQN

    from mentor.sb3.callbacks import save_checkpoint

    run = RunDir.create("ckpt", tmp_path)
    model = DQN("MlpPolicy", "CartPole-v1", learning_starts=10, buffer_size=100, device="cpu")
    model.num_timesteps = 100
    save_checkpoint(model, run, elapsed=1.5)
    model.num_timesteps = 200
    save_checkpoint(model, run, elapsed=3.0)
    assert _state(run.checkpoints) == {"num_timesteps": 200, "elapsed_seconds": 3.0}
    assert _state(run.checkpoints / "previous") == {"num_timesteps": 100, "elapsed_seconds": 1.5}
    assert {p.name for p in (run.checkpoints / "previous").iterdir()} == {
        "model.zip",
        "replay_buffer.pkl",
        "state.json",
    }
    files = {p: p.read_bytes() for p in run.checkpoints.rglob("*") if p.is_file()}

    def half_then_die(path, *args, **kwargs):  # a kill or a full disk while writing the replay buffer
        Path(path).write_bytes(b"half")
        raise OSError("No space left on device")

    model.num_timesteps = 300
    monkeypatch.setattr(model, "save_replay_buffer", half_then_die)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(model, run)
    assert {
        p: p.read_bytes() for p in run.checkpoints.rglob("*") if p.is_file() and ".incoming" not in p.parts
    } == files
    DQN.load(run.checkpoints / "model.zip").load_replay_buffer(run.checkpoints / "replay_buffer.pkl")


def test_rollout_executor_round_trips_through_config_yaml_and_picks_the_vec_env(tmp_path):
    from stable_baselines3.common.vec_env import DummyVecEnv

    from mentor.executors import ExecutorConfig

    run = RunDir.create("rollout", tmp_path)
    config = _config(steps=128)
    config.rollout_executor = ExecutorConfig(kind="sequential", num_workers=2)
    run.write_config({"agent": "sb3", **config.to_dict()})
    reloaded = SB3Config.from_dict({k: v for k, v in run.read_config().items() if k != "agent"})
    assert reloaded == config and reloaded.rollout_executor == ExecutorConfig(kind="sequential", num_workers=2)
    assert _config().rollout_executor is None  # default: in this process, as before
    for cfg in (config, _config()):
        venv = SB3Agent(cfg, run).make_vec_env(2, seed=0)
        assert type(venv) is DummyVecEnv and venv.num_envs == 2
        venv.close()


class _ScaledVecReward(VecEnvWrapper):
    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        return obs, 10 * rewards, dones, infos


class _HookedAgent(SB3Agent):
    def training_env_wrapper(self):
        return gym.wrappers.RecordEpisodeStatistics  # importable, so it pickles into env processes

    def wrap_training_vec_env(self, venv):
        return _ScaledVecReward(venv)


@pytest.mark.parametrize("kind", ["sequential", "process"])
def test_training_env_hooks_wrap_the_training_envs_under_the_zoo_wrapper_and_not_the_eval_env(tmp_path, kind):
    from mentor.executors import ExecutorConfig

    config = _config(steps=128)
    assert config.resolved_hyperparams["env_wrapper"] == "minigrid.wrappers.FlatObsWrapper"
    config.rollout_executor = ExecutorConfig(kind=kind, num_workers=2)
    agent = _HookedAgent(config, RunDir.create("hooks", tmp_path))
    venv = agent.make_vec_env(2, seed=0)
    assert isinstance(venv, _ScaledVecReward)
    chain = venv.env_method("__repr__")  # outermost first: the zoo wrapper, the hook's, SB3's Monitor, the env
    assert all(r.startswith("<FlatObsWrapper<RecordEpisodeStatistics<Monitor<") for r in chain), chain
    venv.reset()
    venv.close()
    eval_env = agent.make_eval_env()
    assert repr(eval_env).startswith("<FlatObsWrapper<") and "RecordEpisodeStatistics" not in repr(eval_env)


def test_train_sb3_command_sets_the_rollout_executor_and_resumes_with_it(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mentor.cli import app

    monkeypatch.setenv("MENTOR_RUNS", str(tmp_path))
    args = ["train", "sb3", "--env", "mentor/MiniGrid-Empty-5x5-v0", "--steps", "128", "--name", "cli"]
    args += ["-p", "n_envs=2", "-p", "n_steps=64", "-p", "batch_size=64", "-p", "n_epochs=1", "--eval-episodes", "1"]
    first = CliRunner().invoke(app, [*args, "--executor", "sequential", "--workers", "2"])
    assert first.exit_code == 0, first.output
    (run,) = tmp_path.iterdir()
    saved = RunDir(run).read_config()["rollout_executor"]
    assert saved["kind"] == "sequential" and saved["num_workers"] == 2
    again = CliRunner().invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    assert RunDir(run).read_config()["rollout_executor"] == saved
    bad = CliRunner().invoke(app, [*args, "--workers", "2"])
    assert isinstance(bad.exception, ConfigError)
    assert "--workers and --address need --executor (sequential, process or ray)" in str(bad.exception)


def test_snapshots_keep_the_policy_along_training_with_its_normalisation(tmp_path):
    small = {"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1, "normalize": True}
    config = SB3Config(
        "mentor/Hopper-v5", total_timesteps=384, hyperparams=small, snapshot_steps=[256, 128], progress_bar=False
    )
    agent = SB3Agent(config, RunDir.create("snap", tmp_path))
    agent.train()
    assert agent.snapshots() == [128, 256]
    assert (agent.run.path / "snapshots" / "vecnormalize-128.pkl").exists()
    early, final = SB3Agent.load(agent.run.path, snapshot=128), SB3Agent.load(agent.run.path)
    assert early.model.num_timesteps == 128 and final.model.num_timesteps >= 384
    obs, _ = agent.make_eval_env().reset(seed=3)
    assert not np.allclose(early.predict(obs), final.predict(obs))
    with pytest.raises(ConfigError, match=r"kept no snapshot at 64 steps; it has \[128, 256\]"):
        SB3Agent.load(agent.run.path, snapshot=64)


def test_config_errors():
    with pytest.raises(UnknownComponentError, match="Unknown env id 'mentor/DoorKey'"):
        SB3Config("mentor/DoorKey")
    with pytest.raises(ConfigError, match=r"snapshot_steps \[600\] must lie in \(0, total_timesteps=512\]"):
        SB3Config("mentor/MiniGrid-DoorKey-5x5-v0", total_timesteps=512, snapshot_steps=[600])
    with pytest.raises(ConfigError, match=r"total_timesteps \(-5\) must be positive"):
        SB3Config("mentor/MiniGrid-DoorKey-5x5-v0", total_timesteps=-5)
    with pytest.raises(ConfigError, match=r"Unknown ppo hyperparameter 'gama'\. Did you mean 'gamma'\?"):
        SB3Config("mentor/MiniGrid-DoorKey-5x5-v0", hyperparams={"gama": 0.9})


@pytest.mark.slow
def test_ppo_solves_doorkey_5x5_in_100k_steps(tmp_path):
    config = SB3Config(
        "mentor/MiniGrid-DoorKey-5x5-v0", total_timesteps=100_000, n_eval_episodes=50, progress_bar=False, device="cpu"
    )
    agent = SB3Agent(config, RunDir.create("doorkey", tmp_path))
    agent.train()
    result = agent.evaluate()
    assert result["mean_return"] > 0.8, result["mean_return"]
