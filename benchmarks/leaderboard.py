"""Run the benchmark entries of ``configs/leaderboard.yml`` (skipping finished ones) and rebuild the leaderboard.

Each entry is one ``mentor bench`` invocation; its command is recorded in the run and shown on the
leaderboard. A run counts as finished when a run folder with the same configuration has its
``results.json`` with every cell; an unfinished one is resumed.

    python benchmarks/leaderboard.py            # then see leaderboard.md and leaderboard.csv
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

import yaml

from mentor.benchmarks.leaderboard import collect_rows, reference_rows, write_leaderboard
from mentor.benchmarks.runner import BenchmarkConfig, find_run, run_benchmark
from mentor.executors import ExecutorConfig
from mentor.paths import configs_root
from mentor.runs import RunDir

REPO = Path(__file__).resolve().parents[1]


def command_for(entry: dict) -> str:
    argv = ["mentor", "bench", "--suite", entry["suite"]]
    for env in entry.get("envs", []):
        argv += ["--env", env]
    for agent in entry["agents"]:
        argv += ["-a", agent]
    for key in ("seeds", "budget", "eval_episodes"):
        if key in entry:
            argv += [f"--{key.replace('_', '-')}", str(entry[key])]
    for agent, options in entry.get("agent_options", {}).items():
        for key, value in options.items():
            argv += ["-o", f"{agent}.{key}={json.dumps(value)}"]
    return shlex.join(argv)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=Path, default=configs_root() / "leaderboard.yml")
    parser.add_argument("--out", type=Path, default=REPO)
    args = parser.parse_args()
    for entry in yaml.safe_load(args.entries.read_text()):
        config = BenchmarkConfig(
            suite=entry["suite"],
            agents=list(entry["agents"]),
            seeds=entry.get("seeds"),
            budget=entry.get("budget"),
            eval_episodes=entry.get("eval_episodes"),
            envs=entry.get("envs"),
            agent_options=entry.get("agent_options", {}),
            executor=ExecutorConfig(kind="process"),
        )
        run = find_run(config)
        suite = config.resolved_suite()
        cells = len(suite.envs) * len(config.agents) * suite.seeds
        if run is not None and run.file("results.json").exists():
            done = sum(len(r["cells"]) for r in run.read_json("results.json")["rows"])
            if done == cells:
                print(f"finished: {run.path}")
                continue
        if run is None:
            run = RunDir.create(f"bench-{config.suite}")
            run.write_config({**config.to_dict(), "command": command_for(entry)})
        print(f"running: {command_for(entry)} -> {run.path}", flush=True)
        run_benchmark(config, run)
    md, csv_path = write_leaderboard(
        collect_rows(), reference_rows(), args.out / "leaderboard.md", args.out / "leaderboard.csv"
    )
    print(f"wrote {md} and {csv_path}")


if __name__ == "__main__":
    main()
