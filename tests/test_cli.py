import subprocess
import sys

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
    again = runner.invoke(app, args + ["--resume"])
    assert again.exit_code == 0, again.output
    assert f"Resuming {run}" in again.output.replace("\n", "")
    assert len(list(tmp_path.iterdir())) == 1


def test_bench_agent_options_are_parsed_as_yaml_and_checked():
    from mentor.cli import _parse_agent_options

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
