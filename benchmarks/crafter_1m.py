"""Crafter at the paper's budget: every ``mentor bench`` row of the crafter suites at >= 1M env steps, side by side.

Reads the newest ``runs/*/results.json`` of the ``crafter`` and ``crafter-pixels`` suites whose budget
is at least ``--min-budget`` (the rows themselves come from, for example,
``mentor bench --suite crafter -a random -a sb3-ppo --seeds 3 --budget 1000000``), and writes:

- ``benchmarks/results/hierarchical.json`` key ``crafter_1m``: one row per (env, agent) (rows written
  earlier stay unless a run here replaces them) with
  ``crafter_score`` (the paper's: over the training episodes inside the budget; an agent given a
  trained skill zoo has none and is scored on its eval episodes, ``score_from``), its std over seeds,
  ``mean_episode_reward`` over the same episodes (papers mix the two), ``eval_crafter_score`` (held-out
  episodes of the final agent), ``env_steps``, ``seeds``, ``achievements`` and the command;
- ``benchmarks/results/crafter_1m_achievements.png``: per-achievement success rates beside the
  published human and random rates (``configs/crafter_achievement_references.yml``).

    python benchmarks/crafter_1m.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml
from rich.console import Console
from rich.table import Table

from mentor.benchmarks.plots import plot_achievement_bars
from mentor.paths import configs_root, runs_root

RESULTS = Path(__file__).parent / "results"
SUITES = ("crafter", "crafter-pixels")


def collect(root: Path, min_budget: int) -> list[dict]:
    """The newest row per (env, agent) of the crafter suites' runs at ``min_budget`` or more."""
    latest: dict[tuple[str, str], dict] = {}
    for path in sorted(root.glob("*/results.json")):
        results = json.loads(path.read_text())
        if results.get("suite") not in SUITES or results.get("budget", 0) < min_budget:
            continue
        for row in results["rows"]:
            latest[(row["env_id"], row["agent"])] = {
                "env_id": row["env_id"],
                "agent": row["agent"],
                "crafter_score": row["score_mean"],
                "crafter_score_std": row["score_std"],
                "score_from": row.get("score_from"),
                "mean_episode_reward": (
                    float(np.mean([c["train"]["mean_return"] for c in row["cells"]]))
                    if all(c["train"]["episodes"] for c in row["cells"])
                    else None
                ),
                "training_episodes": int(np.mean([c["train"]["episodes"] for c in row["cells"]])),
                "eval_crafter_score": row.get("eval_crafter_score"),
                "env_steps": row["env_steps"],
                "seeds": row["seeds"],
                "wall_seconds": row["wall_seconds"],
                "llm_calls": row["llm_calls"],
                "achievements": row.get("achievement_rates", {}),
                "command": results.get("command", ""),
                "run": path.parent.name,
            }
    return sorted(latest.values(), key=lambda r: (r["env_id"], -r["crafter_score"]))


def keep_earlier(earlier: list[dict], found: list[dict]) -> list[dict]:
    """``found`` and the ``earlier`` rows of (env, agent) pairs that no run here replaces (their runs are elsewhere)."""
    replaced = {(r["env_id"], r["agent"]) for r in found}
    kept = [r for r in earlier if (r["env_id"], r["agent"]) not in replaced]
    return sorted(kept + found, key=lambda r: (r["env_id"], -r["crafter_score"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=None, help="runs folder (default: mentor's)")
    parser.add_argument("--min-budget", type=int, default=1_000_000, help="smallest suite budget that counts")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    path = args.out / "hierarchical.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    found = collect(args.runs or runs_root(), args.min_budget)
    if not found:
        raise SystemExit(
            f"no crafter bench run with a budget of {args.min_budget:,} steps or more under the runs folder"
        )
    rows = keep_earlier(data.get("crafter_1m", {}).get("rows", []), found)

    table = Table(title=f"Crafter at >= {args.min_budget:,} env steps (score over training episodes, as the paper)")
    for column in ("env", "agent", "Crafter score", "mean episode reward", "eval score", "seeds", "env steps"):
        table.add_column(column, justify="left" if column in ("env", "agent") else "right")
    for r in rows:
        std = f" ± {r['crafter_score_std']:.2f}" if r["seeds"] > 1 else ""
        eval_score = "" if r["eval_crafter_score"] is None else f"{r['eval_crafter_score']:.2f}"
        table.add_row(
            r["env_id"].split("/")[-1],
            r["agent"],
            f"{r['crafter_score']:.2f}{std}",
            "-" if r["mean_episode_reward"] is None else f"{r['mean_episode_reward']:.2f}",
            eval_score,
            str(r["seeds"]),
            f"{r['env_steps']:,}",
        )
    Console().print(table)

    references = yaml.safe_load((configs_root() / "crafter_achievement_references.yml").read_text())
    rates = {
        f"{r['agent']}, {r['env_id'].split('/')[-1]} ({r['score_from']} episodes)": r["achievements"]
        for r in rows
        if r["achievements"]
    }
    rates.update({ref["agent"]: ref["success_rates"] for ref in references})
    plot = plot_achievement_bars(
        rates, "Crafter at 1M env steps: achievement success rates", args.out / "crafter_1m_achievements.png"
    )
    data["crafter_1m"] = {"min_budget": args.min_budget, "rows": rows, "plot": plot.name}
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path} (crafter_1m) and {plot}")


if __name__ == "__main__":
    main()
