from pathlib import Path

import pytest

from mentor.benchmarks.report import render_report
from mentor.benchmarks.runner import BenchmarkConfig, find_run, run_benchmark
from mentor.errors import ConfigError, UnknownComponentError
from mentor.executors import ExecutorConfig
from mentor.runs import RunDir


def _config(**kw):
    return BenchmarkConfig(
        suite="minigrid",
        agents=["random"],
        seeds=2,
        budget=600,
        eval_episodes=3,
        envs=["mentor/MiniGrid-DoorKey-5x5-v0"],
        executor=ExecutorConfig(kind="sequential"),
        **kw,
    )


def test_random_benchmark_writes_results_and_report(tmp_path):
    run = run_benchmark(_config(), RunDir.create("bench-minigrid", tmp_path))
    results = run.read_json("results.json")
    (row,) = results["rows"]
    assert row["agent"] == "random" and row["seeds"] == 2 and row["env_steps"] == 600
    assert len(row["cells"]) == 2 and all(c["eval"]["episodes"] == 3 for c in row["cells"])
    # Training episodes of DoorKey-5x5 last at most 250 steps, so 600 steps finish at least 2 per seed.
    assert all(c["train"]["episodes"] >= 2 for c in row["cells"])
    report = render_report(run.path).read_text()
    assert "| MiniGrid-DoorKey-5x5-v0 | random |" in report
    assert (run.path / "curve-MiniGrid-DoorKey-5x5-v0.png").stat().st_size > 0


def test_resume_skips_finished_cells(tmp_path):
    run = run_benchmark(_config(), RunDir.create("bench-minigrid", tmp_path))
    cell = run.path / "cells/random/MiniGrid-DoorKey-5x5-v0/seed-1"
    before = (cell / "cell.json").read_text()
    (run.path / "cells/random/MiniGrid-DoorKey-5x5-v0/seed-0/cell.json").unlink()  # as if killed mid-cell
    run_benchmark(_config(), run)
    assert (cell / "cell.json").read_text() == before
    assert (run.path / "cells/random/MiniGrid-DoorKey-5x5-v0/seed-0/cell.json").exists()
    assert len(run.read_json("results.json")["rows"][0]["cells"]) == 2


def test_find_run_matches_the_whole_config_but_not_the_executor():
    run = run_benchmark(_config())
    assert find_run(_config()) == run
    assert find_run(BenchmarkConfig(**{**_config().__dict__, "executor": ExecutorConfig(kind="process")})) == run
    assert find_run(BenchmarkConfig(**{**_config().__dict__, "seeds": 3})) is None


def test_bench_resume_needs_a_run_with_the_same_flags():
    from typer.testing import CliRunner

    from mentor.cli import app

    args = ["bench", "--suite", "minigrid", "--env", "mentor/MiniGrid-DoorKey-5x5-v0", "-a", "random"]
    args += ["--budget", "300", "--eval-episodes", "1", "--seeds", "1", "--executor", "sequential"]
    runner = CliRunner()
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0 and "Resuming" in again.output
    other = runner.invoke(app, [*args[:-2], "--seeds", "2", "--resume"])
    assert isinstance(other.exception, ConfigError)
    assert "--resume found no earlier run of suite 'minigrid' with these agents" in str(other.exception)


def test_random_is_reproducible_by_seed(tmp_path):
    a = run_benchmark(_config(), RunDir.create("a", tmp_path)).read_json("results.json")
    b = run_benchmark(_config(), RunDir.create("b", tmp_path)).read_json("results.json")
    assert a["rows"][0]["cells"] == [
        {**c, "wall_seconds": c2["wall_seconds"]} for c, c2 in zip(b["rows"][0]["cells"], a["rows"][0]["cells"])
    ]


def test_crafter_protocol_reports_score_and_achievement_bars(tmp_path):
    config = BenchmarkConfig(
        suite="crafter",
        agents=["random"],
        seeds=1,
        budget=300,
        eval_episodes=1,
        executor=ExecutorConfig(kind="sequential"),
    )
    run = run_benchmark(config, RunDir.create("bench-crafter", tmp_path))
    (row,) = run.read_json("results.json")["rows"]
    assert set(row["achievement_rates"]) >= {"collect_wood", "wake_up"}
    assert row["score_mean"] >= 0.0
    render_report(run.path)
    assert (run.path / "achievements-Crafter-Symbolic-v0.png").exists()


def test_config_errors():
    with pytest.raises(UnknownComponentError, match=r"Unknown benchmark agent 'rnadom'\. Did you mean 'random'"):
        BenchmarkConfig(suite="minigrid", agents=["rnadom"])
    with pytest.raises(UnknownComponentError, match=r"Unknown benchmark suite 'minigird'\. Did you mean 'minigrid'"):
        BenchmarkConfig(suite="minigird", agents=["random"])
    with pytest.raises(ConfigError, match="agents is empty"):
        BenchmarkConfig(suite="minigrid", agents=[])
    with pytest.raises(ConfigError, match="agent_options names 'sb3-ppo', which is not an agent of this run"):
        BenchmarkConfig(suite="minigrid", agents=["random"], agent_options={"sb3-ppo": {}})
    with pytest.raises(ConfigError, match="is not a finished mentor run"):
        render_report("/nonexistent")


def test_crafter_score_falls_back_to_eval_episodes_for_agents_that_do_not_train():
    from mentor.benchmarks.runner import _cell_score

    eval_outcomes = [
        {"return": 1.0, "length": 20, "success": False, "progression": 4.5, "achievements": ["collect_wood"]}
    ] * 2
    files = {
        "episodes": [],
        "eval": {"outcomes": eval_outcomes},
        "cell": {"seed": 0, "env_steps": 0, "wall_seconds": 1.0},
        "llm_usage": {},
    }
    cell = _cell_score("crafter_score", files, budget=1000)
    assert cell["score_from"] == "eval" and cell["achievement_rates"]["collect_wood"] == 100.0
    trained = _cell_score("crafter_score", {**files, "episodes": [{"step": 10, **eval_outcomes[0]}]}, budget=1000)
    assert trained["score_from"] == "train"


class _ScriptedEvalOnlyAgent:
    """A bench agent that, like a zero-shot LLM agent, only plays eval episodes and reports LLM usage."""

    def check(self, job):
        pass

    def run(self, job):
        from mentor.benchmarks.agents import RandomAgent
        from mentor.llm.usage import Usage

        RandomAgent().run(job.__class__(**{**job.__dict__, "budget": 0}))
        Usage(calls=7, prompt_tokens=700, completion_tokens=70, seconds=3.5, cache_hits=2).save(Path(job.cell_dir))


def test_crafter_rows_of_agents_without_training_say_so_and_llm_usage_is_plotted(tmp_path, monkeypatch):
    from mentor.benchmarks import registry

    monkeypatch.setitem(registry.BENCH_AGENTS, "eval-only", _ScriptedEvalOnlyAgent)
    config = BenchmarkConfig(
        suite="crafter",
        agents=["eval-only"],
        seeds=1,
        budget=300,
        eval_episodes=1,
        executor=ExecutorConfig("sequential"),
    )
    run = run_benchmark(config, RunDir.create("bench-crafter", tmp_path))
    (row,) = run.read_json("results.json")["rows"]
    assert row["score_from"] == "eval"
    assert row["score_name"] == "Crafter score (eval episodes; the agent plays no training episodes)"
    assert (row["llm_calls"], row["llm_tokens"], row["llm_seconds"], row["llm_cache_hits"]) == (7, 770, 3.5, 2)
    report = render_report(run.path).read_text()
    assert "| eval-only | 7 | 770 | 110 | 4 | 2 |" in report
    assert "| eval episodes |" in report
    assert (run.path / "llm-usage.png").stat().st_size > 0


def test_a_cell_written_by_two_processes_does_not_count(tmp_path):
    from mentor.benchmarks.runner import aggregate

    run = run_benchmark(_config(), RunDir.create("bench-minigrid", tmp_path))
    cell = RunDir(run.path / "cells/random/MiniGrid-DoorKey-5x5-v0/seed-1")
    for record in list(cell.iter_metrics("episode")):  # an orphan worker replayed the cell into the same file
        cell.append_metrics(record)
    with pytest.warns(RuntimeWarning, match=r"seed-1 does not count: its episodes cover [\d,]+ env steps, more than"):
        results = aggregate(run, _config().resolved_suite(), ["random"])
    (row,) = results["rows"]
    assert row["seeds"] == 1 and [c["seed"] for c in row["cells"]] == [0]
    assert results["rejected_cells"][0]["cell"] == "cells/random/MiniGrid-DoorKey-5x5-v0/seed-1"


def test_zero_seeds_or_budget_are_rejected_not_replaced():
    with pytest.raises(ConfigError, match=r"seeds \(0\) must be at least 1"):
        _config_with(seeds=0)
    with pytest.raises(ConfigError, match=r"budget \(0\) must be at least 1"):
        _config_with(budget=0)


def _config_with(**kw):
    return BenchmarkConfig(suite="minigrid", agents=["random"], executor=ExecutorConfig(kind="sequential"), **kw)
