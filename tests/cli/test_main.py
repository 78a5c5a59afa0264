import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mentor.cli import app

runner = CliRunner()


def test_envs_lists_every_family():
    result = runner.invoke(app, ["envs", "--family", "mujoco"])
    assert result.exit_code == 0, result.output
    assert "mentor/HalfCheetah-v5" in result.output and "mentor/Humanoid-v5" in result.output


def test_envs_show_prints_the_text_view():
    result = runner.invoke(app, ["envs", "--show", "mentor/MiniGrid-DoorKey-5x5-v0"])
    assert result.exit_code == 0, result.output
    assert "Goal: use the key to open the door and then get to the goal" in result.output
    assert "Possible actions: turn left, turn right, go forward, pick up, drop, toggle" in result.output


def _mentor(*args):
    return subprocess.run([sys.executable, "-m", "mentor.cli", *args], capture_output=True, text=True)


def test_unknown_env_is_one_line_and_exit_code_2():
    result = _mentor("envs", "--show", "mentor/MiniGrid-DorKey-5x5-v0")
    assert result.returncode == 2
    assert (
        "Unknown env id 'mentor/MiniGrid-DorKey-5x5-v0'. Did you mean 'mentor/MiniGrid-DoorKey-5x5-v0'"
        in result.stdout.replace("\n", "")
    )


def test_misspelled_hyperparameter_on_the_command_line():
    result = _mentor("train", "sb3", "--env", "mentor/MiniGrid-DoorKey-5x5-v0", "-p", "n_stepz=64", "--steps", "64")
    assert result.returncode == 2
    assert "Unknown ppo hyperparameter 'n_stepz'. Did you mean 'n_steps'?" in result.stdout.replace("\n", "")


def test_train_sb3_then_resume_and_report(tmp_path, monkeypatch):
    monkeypatch.setenv("MENTOR_RUNS", str(tmp_path))
    args = [
        "train",
        "sb3",
        "--env",
        "mentor/MiniGrid-Empty-5x5-v0",
        "--steps",
        "256",
        "--name",
        "cli",
        "-p",
        "n_envs=2",
        "-p",
        "n_steps=64",
        "-p",
        "n_epochs=1",
        "--eval-episodes",
        "2",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    (run,) = tmp_path.iterdir()
    assert (run / "checkpoints" / "model.zip").exists() and (run / "report.md").exists()
    report = (run / "report.md").stat().st_mtime_ns
    again = runner.invoke(app, args + ["--resume"])
    assert again.exit_code == 0, again.output
    assert f"Resuming {run}" in again.output.replace("\n", "")
    assert "is already finished (256 env steps)" in again.output.replace("\n", "")
    assert (run / "report.md").stat().st_mtime_ns == report
    assert len(list(tmp_path.iterdir())) == 1


def test_bench_agent_options_are_parsed_as_yaml_and_checked():
    from mentor.cli.main import _parse_agent_options

    assert _parse_agent_options(["llm-zero-shot.max_steps=64", "llm-ppo.actions=[turn left, go forward]"]) == {
        "llm-zero-shot": {"max_steps": 64},
        "llm-ppo": {"actions": ["turn left", "go forward"]},
    }
    result = _mentor("bench", "--suite", "demo", "-a", "random", "-o", "random=3")
    assert result.returncode == 2
    assert "must look like AGENT.KEY=VALUE" in result.stdout.replace("\n", "")


def _info_value(output: str, key: str) -> str:
    (line,) = [line for line in output.splitlines() if f" {key} " in line]
    return line.replace("│", " ").split()[-1]


def test_no_llm_cache_switches_the_response_cache_off_for_the_command(monkeypatch):
    monkeypatch.delenv("MENTOR_LLM_CACHE", raising=False)
    result = runner.invoke(app, ["--no-llm-cache", "llm", "--llm", "transformers:tiny", "info"])
    assert result.exit_code == 0, result.output
    assert _info_value(result.output, "cache_enabled") == "False"
    monkeypatch.delenv("MENTOR_LLM_CACHE", raising=False)
    result = runner.invoke(app, ["llm", "--llm", "transformers:tiny", "info"])
    assert _info_value(result.output, "cache_enabled") == "True"


def _one_error_line(result, code: int, message: str, runs=None) -> None:
    """Exit ``code``, one ``error:`` line holding ``message``, no traceback, and (if given) no run folder made."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stdout
    if runs is not None:
        assert not runs.exists() or list(runs.iterdir()) == []


DOORKEY = ("--env", "mentor/MiniGrid-DoorKey-5x5-v0", "--steps", "64")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("train", "sb3", *DOORKEY, "-p", "learning_rate=abc"), "learning_rate ('abc') must be a number"),
        (("train", "sb3", *DOORKEY, "-p", "n_steps=12.5"), "n_steps (12.5) must be an integer"),
        (("train", "sb3", *DOORKEY, "-p", "gamma=[0.9,"), "the value of override 'gamma=[0.9,' is not YAML"),
        (("bench", "--suite", "minigrid", "-a", "random", "--seeds", "0"), "seeds (0) must be at least 1"),
        (("bench", "--suite", "minigrid", "-a", "random", "--budget", "0"), "budget (0) must be at least 1"),
        (("bench", "--suite", "minigrid", "-a", "random", "-o", "random.epsilonn=0.1"), "takes no options"),
        (
            ("bench", "--suite", "minigrid", "-a", "sb3-ppo", "-o", "sb3-ppo.hyperparams.learnin_rate=0.1"),
            "Did you mean 'learning_rate'?",
        ),
        (
            ("bench", "--suite", "minigrid", "-a", "sb3-ppo", "-o", "sb3-ppo.hyperparam={}"),
            "Unknown sb3-ppo option 'hyperparam'. Did you mean 'hyperparams'",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_run_folder(tmp_path, args, message):
    _one_error_line(_mentor(*args), 2, message, runs=tmp_path / "runs")


def test_malformed_yaml_config_is_one_line(tmp_path):
    config = tmp_path / "bad.yml"
    config.write_text("actions: [go forward,\n")
    _one_error_line(_mentor("train", "llm-ppo", "--config", str(config)), 2, "is not valid YAML", tmp_path / "runs")


def test_an_unknown_option_is_a_usage_line_and_exit_2():
    result = _mentor("train", "sb3", "--bogus")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "No such option: --bogus" in result.stderr and "Usage: " in result.stderr


def test_failed_runs_exit_1_and_bad_input_exits_2():
    from mentor.cli.main import exit_code_of
    from mentor.errors import ConfigError, LLMUnavailableError, RolloutWorkerError

    assert exit_code_of(ConfigError("x")) == 2
    assert exit_code_of(LLMUnavailableError("x")) == exit_code_of(RolloutWorkerError("x")) == 1


def test_resume_refuses_another_run_name_or_seed(tmp_path):
    from mentor.runs import RunDir

    runs = tmp_path / "runs"
    other = RunDir.create("my-exp", runs)
    other.write_config({"env_id": "mentor/MiniGrid-DoorKey-5x5-v0", "algo": "a2c", "seed": 0})
    _one_error_line(_mentor("train", "sb3", *DOORKEY, "--name", "exp", "--resume"), 2, "no run named 'exp'")

    seed1 = RunDir.create("sb3-ppo-MiniGrid-DoorKey-5x5-v0-seed1", runs)
    seed1.write_config({"env_id": "mentor/MiniGrid-DoorKey-5x5-v0", "algo": "ppo", "seed": 1})
    _one_error_line(_mentor("train", "sb3", *DOORKEY, "--seed", "0", "--resume"), 2, "no run named")
    result = _mentor("train", "sb3", *DOORKEY, "--name", "sb3-ppo-MiniGrid-DoorKey-5x5-v0-seed1", "--resume")
    _one_error_line(result, 2, "it was started with other settings: seed (saved 1, given 0)")
    assert sorted(p.name for p in runs.iterdir()) == sorted([other.name, seed1.name])
