import csv
import dataclasses

from mentor.benchmarks.leaderboard import (
    REPORTED,
    collect_rows,
    keep_rows,
    read_leaderboard_csv,
    reference_rows,
    write_leaderboard,
)
from mentor.benchmarks.runner import BenchmarkConfig, run_benchmark
from mentor.executors import ExecutorConfig
from mentor.runs import RunDir


def _bench(root, budget, seeds=2):
    config = BenchmarkConfig(
        suite="minigrid",
        agents=["random"],
        seeds=seeds,
        budget=budget,
        eval_episodes=2,
        envs=["mentor/MiniGrid-DoorKey-5x5-v0"],
        executor=ExecutorConfig(kind="sequential"),
    )
    return run_benchmark(config, RunDir.create("bench-minigrid", root))


def test_leaderboard_merges_runs_and_keeps_the_newest_per_budget(tmp_path):
    runs = tmp_path / "runs"
    _bench(runs, 300)
    older = _bench(runs, 400)
    newer = _bench(runs, 400)
    rows = collect_rows(runs)
    assert sorted((r.agent, r.env_steps) for r in rows) == [("random", 300), ("random", 400)]
    assert {r.run for r in rows if r.env_steps == 400} == {newer.name} and older.name != newer.name
    expected = newer.read_json("results.json")["rows"][0]["score_mean"]
    assert [r.score for r in rows if r.env_steps == 400] == [expected]


def test_leaderboard_files_hold_runs_and_reported_references(tmp_path):
    runs = tmp_path / "runs"
    _bench(runs, 300)
    md, csv_path = write_leaderboard(
        collect_rows(runs), reference_rows(), tmp_path / "leaderboard.md", tmp_path / "leaderboard.csv"
    )
    text = md.read_text()
    assert "| MiniGrid-DoorKey-5x5-v0 | random |" in text
    assert "| Crafter (pixels, 1M steps) | PPO | 4.6 ± 0.3 |" in text and f"{REPORTED} (Hafner" in text
    assert "| Crafter | Human experts | 50.5 ± 6.8 |" in text
    assert "GPT-4o" in text
    rows = list(csv.DictReader(csv_path.open()))
    assert {r["agent"] for r in rows} >= {"random", "PPO", "DreamerV3", "SPRING (GPT-4)", "Human experts"}


def test_a_single_seed_has_no_spread(tmp_path):
    _bench(tmp_path / "runs", 300, seeds=1)
    (row,) = collect_rows(tmp_path / "runs")
    assert row.score_std is None and "±" not in row.score_text()


def test_a_row_names_its_own_metric_when_it_differs_from_the_suite(tmp_path):
    run = _bench(tmp_path / "runs", 300)
    results = run.read_json("results.json")
    results["rows"][0]["score_name"] = "Crafter score (eval episodes; the agent plays no training episodes)"
    run.write_json("results.json", results)
    (row,) = collect_rows(tmp_path / "runs")
    assert row.metric == "Crafter score (eval episodes; the agent plays no training episodes)"


def test_rows_of_runs_not_on_this_machine_stay_until_a_run_of_the_same_command_replaces_them(tmp_path):
    def with_commands(rows):
        return [dataclasses.replace(r, command=f"mentor bench --budget {r.env_steps}") for r in rows]

    first, second = tmp_path / "first", tmp_path / "second"
    _bench(first / "runs", 300)
    _bench(first / "runs", 400)
    rows = with_commands(collect_rows(first / "runs"))
    write_leaderboard(rows, reference_rows(), tmp_path / "leaderboard.md", tmp_path / "leaderboard.csv")
    earlier = read_leaderboard_csv(tmp_path / "leaderboard.csv")
    assert earlier == rows  # the CSV round-trips, types included, without the references
    rerun = _bench(second / "runs", 400)
    merged = keep_rows(earlier, with_commands(collect_rows(second / "runs")))
    assert sorted((r.env_steps, r.run) for r in merged) == [
        (300, next(r.run for r in earlier if r.env_steps == 300)),
        (400, rerun.name),
    ]
    assert read_leaderboard_csv(tmp_path / "missing.csv") == []
