"""Why a skill zoo trained on one level alone does worse on it than one trained on several levels together.

Trains two goal-conditioned SB3 PPO zoos with the same seed and env steps: one on ``--env`` alone, one
on ``--levels`` (which hold ``--env``). For each, it reports what skill training saw (skill runs and
their success by kind, over the whole training), the zoo's own measured success rates, and SayCan
(the hierarchical agent's ``saycan`` high level) on ``--eval-episodes`` held-out seeds of ``--env``:
its success rate, and each skill kind's runs and success inside those episodes.

    python benchmarks/zoo_levels.py                          # KeyCorridorS3R3 alone vs the four demo levels
    python benchmarks/zoo_levels.py --skill-steps 300000 --eval-episodes 20

Writes benchmarks/results/zoo_levels.json.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from mentor.agents.hierarchical import DEMO_SKILL_ENV_IDS, HierarchicalAgent, HierarchicalConfig
from mentor.benchmarks.provenance import provenance
from mentor.runs import RunDir
from mentor.skills.zoo import SkillZooConfig, train_skill_zoo

RESULTS = Path(__file__).parent / "results"


def by_kind(runs: list[dict[str, Any]], kind_key: str) -> dict[str, dict[str, float]]:
    """Runs and success rate of each skill kind in ``runs`` (skill records with ``success``)."""
    table: dict[str, list[bool]] = defaultdict(list)
    for run in runs:
        if run.get(kind_key) is not None:
            table[run[kind_key]].append(bool(run["success"]))
    return {k: {"runs": len(v), "success_rate": sum(v) / len(v)} for k, v in sorted(table.items())}


def measure(label: str, levels: list[str], args: argparse.Namespace, run: RunDir) -> dict[str, Any]:
    zoo_run = RunDir(run.path / label / "skills")
    zoo_run.path.mkdir(parents=True, exist_ok=True)
    zoo = train_skill_zoo(SkillZooConfig(levels, total_timesteps=args.skill_steps, seed=args.seed), zoo_run)
    training = by_kind(list(zoo_run.iter_metrics("skill")), "skill_kind")
    config = HierarchicalConfig(
        args.env,
        planner="saycan",
        zoo=str(zoo.path),
        n_eval_episodes=args.eval_episodes,
        max_options=args.max_options,
        seed=args.seed,
    )
    result = HierarchicalAgent(config, RunDir(run.path / label / "saycan")).evaluate()
    choices = [step for episode in result["episode_runs"] for step in episode["trace"]]
    row = {
        "levels": levels,
        "zoo": str(zoo.path),
        "skill_env_steps": zoo.num_timesteps,
        "training_skill_runs": training,
        "zoo_success_rates": {k: v["success_rate"] for k, v in zoo.info["success_rates"]["by_kind"].items()},
        "saycan_success": result["success_rate"],
        "saycan_skill_runs_on_env": by_kind(choices, "kind"),
        "saycan_skills_not_started": sum(not step["started"] for step in choices),
    }
    print(f"{label}: SayCan {100 * row['saycan_success']:.0f}% on {args.env}", flush=True)
    for kind, stats in row["saycan_skill_runs_on_env"].items():
        seen = training.get(kind, {"runs": 0, "success_rate": 0.0})
        print(
            f"  {kind:>8}: on {args.env.split('/')[-1]} {stats['runs']:4d} runs, {100 * stats['success_rate']:5.1f}% "
            f"| in training {seen['runs']:6d} runs, {100 * seen['success_rate']:5.1f}%",
            flush=True,
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="mentor/MiniGrid-KeyCorridorS3R3-v0")
    parser.add_argument("--levels", default=",".join(DEMO_SKILL_ENV_IDS), help="levels of the mixed zoo")
    parser.add_argument("--skill-steps", type=int, default=150_000, help="env steps of each zoo")
    parser.add_argument("--eval-episodes", type=int, default=40)
    parser.add_argument("--max-options", type=int, default=16, help="skills per episode (llm_finetune_hierarchical's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "zoo_levels.json")
    args = parser.parse_args()
    levels = [e for e in args.levels.split(",") if e]
    if args.env not in levels:
        parser.error(f"--levels must hold --env ({args.env})")
    torch.set_num_threads(1)
    run = RunDir.create(f"bench-zoo-levels-{args.env.split('/')[-1]}")
    rows = {"alone": measure("alone", [args.env], args, run), "mixed": measure("mixed", levels, args, run)}
    results = {
        "benchmark": "zoo_levels",
        "env_id": args.env,
        "eval_episodes": args.eval_episodes,
        "max_options": args.max_options,
        **rows,
    }
    results.update(run_dir=str(run.path), **provenance())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
