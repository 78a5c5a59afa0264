"""``train_llm_ppo_command`` (mounted by the lead as ``mentor train llm-ppo``) and the shipped experiment configs."""

from __future__ import annotations

import json

import pytest
import typer
import yaml
from typer.testing import CliRunner

from mentor.agents.llm_ppo_config import FinetuneConfig
from mentor.cli.train_llm import train_llm_ppo_command
from mentor.errors import ConfigError
from mentor.paths import configs_root
from mentor.runs import RunDir

GOTO = "mentor/BabyAI-GoToObj-v0"
TINY = [
    "--env",
    GOTO,
    "--model",
    "transformers:tiny",
    "--name",
    "cli",
    "--eval-episodes",
    "2",
    "-p",
    "n_envs=2",
    "-p",
    "n_steps=4",
    "-p",
    "batch_size=4",
    "-p",
    "trainable_layers=null",
    "-p",
    "actions=[turn left, turn right, go forward]",
    "-p",
    "env_kwargs={max_steps: 12}",
    "-p",
    "verbose=false",
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def invoke():
    app = typer.Typer()
    app.command()(train_llm_ppo_command)
    runner = CliRunner()
    return lambda args: runner.invoke(app, args)


def test_a_multitask_run_is_evaluated_per_task(invoke):
    tasks = "[mentor/BabyAI-GoToObj-v0, mentor/BabyAI-GoToLocal-v0]"
    result = invoke([*TINY, "--name", "cli-mt", "-p", f"tasks={tasks}", "--steps", "8", "--zero-shot"])
    assert result.exit_code == 0, result.output
    run = RunDir.latest("cli-mt")
    for name in ("eval_zero_shot.json", "eval.json"):
        evaluation = run.read_json(name)
        assert list(evaluation["tasks"]) == ["mentor/BabyAI-GoToObj-v0", "mentor/BabyAI-GoToLocal-v0"]
        assert all(r["episodes"] == 2 for r in evaluation["tasks"].values())
    assert "zero-shot: mean progression" in result.output
    assert "eval: mean progression" in result.output and "BabyAI-GoToLocal-v0" in result.output


def test_train_evaluate_then_resume_to_a_larger_budget(invoke):
    result = invoke([*TINY, "--steps", "8", "--zero-shot"])
    assert result.exit_code == 0, result.output
    run = RunDir.latest("cli")
    config = run.read_config()
    assert config["agent"] == "llm-ppo" and config["n_envs"] == 2 and config["actions"][2] == "go forward"
    assert config["env_kwargs"] == {"max_steps": 12}
    evaluation = run.read_json("eval.json")
    assert evaluation["episodes"] == 2 and evaluation["train"]["env_steps"] == 8
    assert run.read_json("eval_zero_shot.json")["episodes"] == 2
    assert "zero-shot: success" in result.output and "eval: success" in result.output

    result = invoke(["--name", "cli", "--resume", "--steps", "16"])
    assert result.exit_code == 0, result.output
    assert "Resuming" in result.output
    assert RunDir.latest("cli") == run
    assert [r["update"] for r in run.iter_metrics("update")] == [1, 2]
    assert run.read_config()["total_timesteps"] == 16
    assert json.loads((run.path / "llm_usage.json").read_text())["calls"] > 0


def test_minutes_without_steps_is_the_only_budget(invoke):
    result = invoke([*TINY, "--minutes", "0.02", "--eval-episodes", "1"])
    assert result.exit_code == 0, result.output
    config = RunDir.latest("cli").read_config()
    assert config["total_timesteps"] is None and config["max_minutes"] == 0.02


def test_mentor_llm_sets_the_default_model(invoke, monkeypatch):
    monkeypatch.setenv("MENTOR_LLM", "openai:http://127.0.0.1:1/v1#smol")
    result = invoke(["--env", GOTO, "--steps", "8"])
    assert isinstance(result.exception, ConfigError)
    assert "uses the openai backend; fine-tuning needs a transformers spec" in str(result.exception)


def test_resume_rejects_overrides(invoke):
    assert invoke([*TINY, "--steps", "8", "--eval-episodes", "1"]).exit_code == 0
    result = invoke(["--name", "cli", "--resume", "-p", "learning_rate=0.1"])
    assert isinstance(result.exception, ConfigError)
    assert "--set learning_rate cannot change a resumed run" in str(result.exception)


def test_config_file_then_flags_then_overrides(invoke, tmp_path):
    path = tmp_path / "exp.yml"
    path.write_text(yaml.safe_dump({"env_id": "mentor/BabyAI-GoToLocal-v0", "seed": 3, "n_steps": 8}))
    result = invoke(["--config", str(path), *TINY, "--steps", "8", "--eval-episodes", "1", "--seed", "5"])
    assert result.exit_code == 0, result.output
    config = RunDir.latest("cli").read_config()
    assert (config["env_id"], config["seed"], config["n_steps"]) == (GOTO, 5, 4)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "nothing-here", "--resume"], "--resume found no run named 'nothing-here'"),
        ([*TINY, "-p", "n_envs"], "override 'n_envs' must look like key=value"),
        ([*TINY, "-p", "n_env=3"], "unknown FinetuneConfig key"),
        ([*TINY, "--config", "missing.yml"], "config file 'missing.yml' does not exist"),
    ],
)
def test_bad_input_is_one_clear_error(invoke, args, message):
    result = invoke(args)
    assert isinstance(result.exception, ConfigError)
    assert message in str(result.exception)


def test_config_file_must_be_a_mapping(invoke, tmp_path):
    path = tmp_path / "list.yml"
    path.write_text("- 1\n- 2\n")
    result = invoke(["--config", str(path)])
    assert isinstance(result.exception, ConfigError)
    assert "must hold a mapping of FinetuneConfig fields" in str(result.exception)


@pytest.mark.parametrize("path", sorted((configs_root() / "llm_ppo").glob("*.yml")), ids=lambda p: p.stem)
def test_shipped_configs_are_valid(path):
    cfg = FinetuneConfig.from_dict(yaml.safe_load(path.read_text()))
    assert json.dumps(cfg.to_dict())


def test_skills_fine_tune_the_high_level_over_a_skill_zoo_and_resume_with_it(invoke, tmp_path):
    from mentor.skills.zoo import SkillZooConfig, train_skill_zoo

    level = "mentor/BabyAI-UnlockPickup-v0"
    zoo = RunDir.create("skills-minigrid", tmp_path)
    tiny_ppo = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}
    train_skill_zoo(SkillZooConfig([level], total_timesteps=64, hyperparams=tiny_ppo, eval_episodes=2), zoo)
    args = ["--env", level, "--model", "transformers:tiny", "--name", "cli", "--eval-episodes", "1"]
    args += ["-p", "n_envs=2", "-p", "n_steps=2", "-p", "batch_size=4", "-p", "trainable_layers=null"]
    args += ["-p", "verbose=false"]
    result = invoke([*args, "--skills", str(zoo.path), "--max-options", "3", "--steps", "4"])
    assert result.exit_code == 0, result.output
    run = RunDir.latest("cli")
    assert run.read_json("options_env.json") == {"zoo": str(zoo.path.resolve()), "max_options": 3}
    assert run.read_config()["prompt_template"] == "{text}\nNext skill:"
    evaluation = run.read_json("eval.json")
    assert evaluation["train"]["env_steps"] == 4 and evaluation["episodes"] == 1
    # the outcome is the level's: its length counts the low-level steps of at most 3 skills
    assert 1 <= evaluation["outcomes"][0]["length"] and evaluation["env_steps"] <= 3

    result = invoke(["--name", "cli", "--resume", "--steps", "8"])
    assert result.exit_code == 0, result.output
    assert run.read_json("eval.json")["train"]["env_steps"] == 8
    rejected = invoke(["--name", "cli", "--resume", "--skills", "latest"])
    assert "--skills cannot change a resumed run" in str(rejected.exception)


def test_skills_latest_without_a_zoo_is_one_clear_error(invoke):
    result = invoke([*TINY, "--skills", "latest", "--steps", "4"])
    assert isinstance(result.exception, ConfigError)
    assert "--skills 'latest': no skill zoo under runs/ covers mentor/BabyAI-GoToObj-v0" in str(result.exception)
