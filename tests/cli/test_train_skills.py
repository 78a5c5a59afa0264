import json

import pytest
import typer
from typer.testing import CliRunner

from mentor.cli.train_skills import train_hierarchical_command, train_skills_command
from mentor.errors import ConfigError
from mentor.runs import RunDir

LEVEL = "mentor/BabyAI-UnlockPickup-v0"
TINY = ["-p", "n_envs=2", "-p", "n_steps=32", "-p", "batch_size=32", "-p", "n_epochs=1"]


@pytest.fixture
def app():
    app = typer.Typer()
    app.command("skills")(train_skills_command)
    app.command("hierarchical")(train_hierarchical_command)
    return app


def test_train_skills_then_a_hierarchical_agent_on_its_zoo(app, tmp_path, monkeypatch):
    monkeypatch.setenv("MENTOR_RUNS", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(
        app, ["skills", "--env", LEVEL, "--steps", "64", "--eval-episodes", "4", "--snapshot", "32", *TINY]
    )
    assert result.exit_code == 0, result.output
    assert "skill success rates" in result.output and "zoo:" in result.output
    zoo = RunDir.latest("skills-minigrid")
    assert json.loads((zoo.path / "zoo.json").read_text())["snapshots"] == [32]

    monkeypatch.setenv("MENTOR_LLM", "transformers:tiny")
    result = runner.invoke(
        app, ["hierarchical", "--env", LEVEL, "--planner", "saycan", "--eval-episodes", "1", "--max-options", "2"]
    )
    assert result.exit_code == 0, result.output
    output = result.output.replace("\n", "")
    assert f"skills: {zoo.path}" in output and "report:" in output
    run = RunDir.latest(f"hierarchical-saycan-{LEVEL.split('/')[-1]}")
    assert (run.path / "eval.json").exists() and (run.path / "llm_usage.json").exists()


def test_train_skills_resume_needs_an_earlier_run(app, tmp_path, monkeypatch):
    monkeypatch.setenv("MENTOR_RUNS", str(tmp_path))
    result = CliRunner().invoke(app, ["skills", "--env", LEVEL, "--resume"])
    assert isinstance(result.exception, ConfigError)
    assert "--resume found no run named 'skills-minigrid'" in str(result.exception)
