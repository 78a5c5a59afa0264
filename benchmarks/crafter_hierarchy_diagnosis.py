"""Why a hierarchical agent scores what it scores on Crafter, read from its benchmark cells.

For each ``mentor bench --suite crafter -a hierarchical-saycan`` (or ``hierarchical``) run given,
reads the cell's files and reports, side by side:

- the Crafter score over the training episodes (the protocol; skill training plays them) and over
  the evaluation episodes (the planner over the trained skills), with the mean episode length;
- the skills' own success rates in training, per skill, and the share of the budget each one took;
- how often a skill ran into its step limit;
- in evaluation: how episodes ended (death before the length limit), which skill was running at
  death, and what the planner chose (share of options per skill, and their success).

    python benchmarks/crafter_hierarchy_diagnosis.py runs/A-bench-crafter:uniform runs/B-bench-crafter:priority

Writes benchmarks/results/crafter_hierarchy_diagnosis.json.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from mentor.envs.crafter import CrafterConfig
from mentor.evaluation.protocols import crafter_score_from_outcomes
from mentor.skills.crafter import CRAFTER_SKILLS

RESULTS = Path(__file__).parent / "results" / "crafter_hierarchy_diagnosis.json"
#: Crafter's episode length: an episode that ends sooner ended in death.
EPISODE_LENGTH = CrafterConfig().length
MAX_STEPS = {s.name: s.max_steps for s in CRAFTER_SKILLS}
KEY_SKILLS = (
    "collect wood",
    "place table",
    "make wood pickaxe",
    "collect stone",
    "drink water",
    "eat cow",
    "sleep",
    "explore",
)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def diagnose(run: Path) -> dict:
    """The measurements of the one hierarchical cell in bench run ``run``."""
    cells = sorted(run.glob("cells/hierarchical*/*/seed-*"))
    if not cells:
        raise SystemExit(f"{run} holds no hierarchical cell (cells/hierarchical*/<env>/seed-*)")
    cell = cells[0]
    skill_records = _records(cell / "skills" / "metrics.jsonl")
    train = [r for r in skill_records if r.get("kind") == "episode"]
    skills = [r for r in skill_records if r.get("kind") == "skill"]
    steps = collections.Counter()
    runs, wins, limits = collections.Counter(), collections.Counter(), collections.Counter()
    for r in skills:
        steps[r["skill"]] += r["steps"]
        runs[r["skill"]] += 1
        wins[r["skill"]] += bool(r["success"])
        limits[r["skill"]] += (not r["success"]) and r["steps"] >= MAX_STEPS.get(r["skill"], 10**9)
    total = max(sum(steps.values()), 1)
    result = json.loads((cell / "hierarchical.json").read_text())
    episodes = result["episode_runs"]
    deaths = [e for e in episodes if e["outcome"]["length"] < EPISODE_LENGTH]
    at_death = collections.Counter(e["trace"][-1]["skill"] for e in deaths if e["trace"])
    chosen, chosen_wins, chosen_limits = collections.Counter(), collections.Counter(), collections.Counter()
    for e in episodes:
        for t in e["trace"]:
            chosen[t["skill"]] += 1
            chosen_wins[t["skill"]] += bool(t["success"])
            chosen_limits[t["skill"]] += (not t["success"]) and t["steps"] >= MAX_STEPS.get(t["skill"], 10**9)
    num_options = max(sum(chosen.values()), 1)
    return {
        "run": run.name,
        "cell": str(cell.relative_to(run)),
        "train_crafter_score": crafter_score_from_outcomes(train)[0] if train else None,
        "train_episodes": len(train),
        "train_mean_length": float(np.mean([e["length"] for e in train])) if train else None,
        "skill_success_rate": sum(wins.values()) / max(sum(runs.values()), 1),
        "skill_timeout_share": sum(limits.values()) / max(sum(runs.values()), 1),
        "skills": {
            name: {
                "runs": runs[name],
                "success_rate": wins[name] / runs[name],
                "budget_share": steps[name] / total,
                "timeout_share": limits[name] / runs[name],
            }
            for name in sorted(runs, key=lambda n: -steps[n])
        },
        "eval_crafter_score": result.get("crafter_score"),
        "eval_episodes": len(episodes),
        "eval_mean_length": float(np.mean([e["outcome"]["length"] for e in episodes])) if episodes else None,
        "eval_deaths": len(deaths),
        "eval_skill_at_death": dict(at_death.most_common()),
        "eval_options": num_options,
        "eval_option_timeout_share": sum(chosen_limits.values()) / num_options,
        "eval_choices": {
            name: {"share": chosen[name] / num_options, "success_rate": chosen_wins[name] / chosen[name]}
            for name, _ in chosen.most_common()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="bench run folder, optionally :label")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    rows = {}
    for spec in args.runs:
        folder, _, label = spec.partition(":")
        rows[label or Path(folder).name] = diagnose(Path(folder))

    console = Console()
    table = Table(title="Crafter hierarchy: where the score comes from (same seed and budget per run)")
    table.add_column("measure")
    for label in rows:
        table.add_column(label, justify="right")

    def add(name: str, fmt, get) -> None:
        table.add_row(name, *[fmt(get(r)) if get(r) is not None else "-" for r in rows.values()])

    pct = lambda v: f"{100 * v:.0f}%"  # noqa: E731
    add("Crafter score, training episodes", lambda v: f"{v:.2f}", lambda r: r["train_crafter_score"])
    add("mean training episode length", lambda v: f"{v:.0f}", lambda r: r["train_mean_length"])
    add("skill success rate (all runs)", pct, lambda r: r["skill_success_rate"])
    add("skill runs ending at the step limit", pct, lambda r: r["skill_timeout_share"])
    for name in KEY_SKILLS:
        add(
            f"  {name}: success / budget share",
            lambda v: v,
            lambda r, n=name: (
                f"{100 * r['skills'][n]['success_rate']:.0f}% / {100 * r['skills'][n]['budget_share']:.0f}%"
                if n in r["skills"]
                else None
            ),
        )
    add("Crafter score, eval (planner)", lambda v: f"{v:.2f}", lambda r: r["eval_crafter_score"])
    add("eval episodes ended by death", lambda v: v, lambda r: f"{r['eval_deaths']} of {r['eval_episodes']}")
    add("eval mean episode length", lambda v: f"{v:.0f}", lambda r: r["eval_mean_length"])
    add("eval options ending at the step limit", pct, lambda r: r["eval_option_timeout_share"])
    add(
        "eval top choices (share, success)",
        lambda v: v,
        lambda r: "; ".join(
            f"{n} {100 * c['share']:.0f}% ({100 * c['success_rate']:.0f}%)"
            for n, c in list(r["eval_choices"].items())[:3]
        ),
    )
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
