"""Hierarchical agent (embedded LLM planner + SB3 skills) against flat SB3 PPO on the same env-step budget.

MiniGrid: one skill zoo is trained on the four levels together (its steps are counted in full in the
budget of every level, and snapshots give the points of the curve); flat PPO is trained on each level
with the same budget and evaluated at the same points. Every step is inside the budget: at the full
budget the zoo trains for all but ``--skill-eval-fraction`` of it and measures its skills with the rest
(on seeds of their own), and the ``sb3`` high level trains for a third of each point over the zoo as it
was at the other two thirds. Crafter: a skill zoo on Crafter-Symbolic
against PPO, both scored by the Crafter score of their evaluation episodes (same episode length).
Every agent plays the same held-out seeds. LLM cost is counted per evaluation episode.

Writes ``benchmarks/results/hierarchical.json`` (one row per env and agent with ``success_rate``,
``env_steps``, ``llm_calls``, ``llm_tokens``; ``llm_calls``/``llm_tokens`` are per episode) and plots.

Defaults fit a shared 2-core machine (an hour or more when it is busy); ``--full`` runs the larger budgets:

    python benchmarks/hierarchical.py                          # 150k MiniGrid / 100k Crafter steps
    python benchmarks/hierarchical.py --planners llm,saycan    # also SayCan at the final budget
    python benchmarks/hierarchical.py --full                   # 1M steps each, 50 / 10 eval episodes
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mentor.agents.hierarchical import HierarchicalAgent, HierarchicalConfig
from mentor.evaluation.protocols import crafter_score_from_outcomes, summarize_outcomes
from mentor.llm import make_llm
from mentor.planners.planner import PlannerConfig
from mentor.runs import RunDir
from mentor.sb3.agent import SB3Agent, SB3Config
from mentor.skills.zoo import SkillZooConfig, train_skill_zoo

MINIGRID = [
    "mentor/MiniGrid-KeyCorridorS3R3-v0",
    "mentor/MiniGrid-MultiRoom-N4-S5-v0",
    "mentor/MiniGrid-ObstructedMaze-1Dlh-v0",
    "mentor/BabyAI-UnlockPickup-v0",
]
CRAFTER = "mentor/Crafter-Symbolic-v0"
RESULTS = Path(__file__).parent / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minigrid-budget", type=int, default=150_000, help="env steps per MiniGrid level")
    p.add_argument("--crafter-budget", type=int, default=100_000, help="env steps on Crafter")
    p.add_argument("--points", type=int, default=2, help="budget points of the MiniGrid curves")
    p.add_argument("--eval-episodes", type=int, default=6, help="held-out episodes per MiniGrid point")
    p.add_argument("--crafter-eval-episodes", type=int, default=4)
    p.add_argument("--crafter-length", type=int, default=1000, help="Crafter episode length for every agent")
    p.add_argument(
        "--planners", default="llm", help="comma list of high levels (llm, saycan, sb3); the first is also curved"
    )
    p.add_argument(
        "--skill-eval-fraction",
        type=float,
        default=0.05,
        help="share of the full budget kept for the runs that measure the skills (inside the budget)",
    )
    p.add_argument("--max-options", type=int, default=24, help="skills per hierarchical MiniGrid episode")
    p.add_argument("--crafter-max-options", type=int, default=80, help="skills per hierarchical Crafter episode")
    p.add_argument("--llm", default=None, help="LLM spec (default: the embedded SmolLM2)")
    p.add_argument("--skip-crafter", action="store_true")
    p.add_argument("--skip-minigrid", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--full", action="store_true", help="1M steps per level and on Crafter, 50/10 eval episodes")
    p.add_argument("--out", type=Path, default=RESULTS / "hierarchical.json")
    args = p.parse_args(argv)
    if not 0.0 <= args.skill_eval_fraction < 1 / 3:
        p.error(f"--skill-eval-fraction ({args.skill_eval_fraction}) must lie in [0, 1/3).")
    if args.full:
        args.minigrid_budget, args.crafter_budget = 1_000_000, 1_000_000
        args.eval_episodes, args.crafter_eval_episodes, args.points = 50, 10, 5
    return args


def budget_points(budget: int, points: int) -> list[int]:
    return [int(budget * (i + 1) / points) for i in range(points)]


def high_level_steps(point: int, planner: str) -> int:
    """Env steps of the ``sb3`` high level at a budget point: a third of it (0 for the LLM high levels)."""
    return point // 3 if planner == "sb3" else 0


def skill_steps(point: int, budget: int, planner: str) -> int | None:
    """The zoo snapshot (env steps) a high level uses at ``point``; ``None``: the final, measured zoo."""
    steps = point - high_level_steps(point, planner)
    return None if steps == budget else steps


def zoo_config(
    env_ids: list[str], budget: int, points: list[int], args: argparse.Namespace, **kwargs: Any
) -> SkillZooConfig:
    """A zoo that trains and measures its skills inside ``budget``, keeping the snapshots the rows at ``points`` need."""
    planners = args.planners.split(",")
    snapshots = {
        skill_steps(point, budget, planner)
        for planner in planners
        for point in (points if planner == planners[0] else points[-1:])
    }
    return SkillZooConfig(
        env_ids,
        total_timesteps=budget - int(budget * args.skill_eval_fraction),
        max_env_steps=budget,
        seed=args.seed,
        snapshot_steps=sorted(s for s in snapshots if s is not None),
        **kwargs,
    )


def hierarchical_eval(
    env_id: str,
    zoo_path: Path,
    point: int,
    budget: int,
    planner: str,
    episodes: int,
    args: argparse.Namespace,
    llm: Any,
    **env_kwargs: Any,
) -> dict[str, Any]:
    """The hierarchical agent at one budget point: the zoo as it was then, plus the ``sb3`` high level's share."""
    config = HierarchicalConfig(
        env_id,
        planner=planner,
        zoo=str(zoo_path),
        zoo_snapshot=skill_steps(point, budget, planner),
        env_kwargs=env_kwargs,
        max_options=args.crafter_max_options if env_id == CRAFTER else args.max_options,
        n_eval_episodes=episodes,
        seed=args.seed,
        planner_config=PlannerConfig(),
        high_level_timesteps=max(1, high_level_steps(point, planner)),
    )
    run = RunDir.create(f"hierarchical-{planner}-{env_id.split('/')[-1]}", args.run.path)
    agent = HierarchicalAgent(config, run, llm=llm)
    agent.train()
    start = time.perf_counter()
    result = agent.evaluate()
    return {
        "success_rate": result["success_rate"],
        "env_steps": agent.env_steps,
        "llm_calls": result["llm_calls_per_episode"],
        "llm_tokens": result["llm_tokens_per_episode"],
        "options_per_episode": result["options_per_episode"],
        "mean_length": result["mean_length"],
        "planner_stats": result["planner_stats"],
        "eval_seconds": time.perf_counter() - start,
        "outcomes": result["outcomes"],
    }


def ppo_curve(
    env_id: str, points: list[int], episodes: int, args: argparse.Namespace, **env_kwargs: Any
) -> list[dict[str, Any]]:
    """Train PPO to each budget point in turn (resuming), evaluating at each on the held-out seeds."""
    run = RunDir.create(f"ppo-{env_id.split('/')[-1]}", args.run.path)
    seed = args.seed
    rows = []
    for point in points:
        config = SB3Config(
            env_id,
            total_timesteps=point,
            seed=seed,
            n_eval_episodes=episodes,
            progress_bar=False,
            device="cpu",
            env_kwargs=env_kwargs,
            checkpoint_freq=max(points),
        )
        agent = SB3Agent(config, run)
        start = time.perf_counter()
        agent.train(resume=point != points[0])
        train_seconds = time.perf_counter() - start
        result = agent.evaluate()
        rows.append(
            {
                "env_steps": int(agent.model.num_timesteps),
                "success_rate": result["success_rate"],
                "mean_length": result["mean_length"],
                "train_seconds": train_seconds,
                "outcomes": result["outcomes"],
            }
        )
    return rows


def run_minigrid(args: argparse.Namespace, llm: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    points = budget_points(args.minigrid_budget, args.points)
    start = time.perf_counter()
    zoo_run = RunDir.create("skills-minigrid", args.run.path)
    final = train_skill_zoo(zoo_config(MINIGRID, args.minigrid_budget, points, args), zoo_run)
    skills = {
        "zoo": str(zoo_run.path),
        "train_seconds": time.perf_counter() - start,
        "env_steps": final.num_env_steps,
        **final.info["success_rates"],
    }
    print(f"skills: {zoo_run.path} ({skills['train_seconds']:.0f} s)", flush=True)
    planners = args.planners.split(",")
    rows = []
    for env_id in MINIGRID:
        ppo = ppo_curve(env_id, points, args.eval_episodes, args)
        rows.append(_row(env_id, "sb3-ppo", ppo[-1], [_point(r) for r in ppo]))
        _print(rows[-1])
        for planner in planners:
            evals = [
                hierarchical_eval(
                    env_id, zoo_run.path, point, args.minigrid_budget, planner, args.eval_episodes, args, llm
                )
                for point in (points if planner == planners[0] else points[-1:])
            ]
            rows.append(_row(env_id, f"hierarchical-{planner}", evals[-1], [_point(e) for e in evals]))
            _print(rows[-1])
    return rows, skills


def run_crafter(args: argparse.Namespace, llm: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    start = time.perf_counter()
    zoo_run = RunDir.create("skills-crafter", args.run.path)
    zoo = train_skill_zoo(
        zoo_config([CRAFTER], args.crafter_budget, [args.crafter_budget], args, eval_episodes=200), zoo_run
    )
    skills = {
        "zoo": str(zoo_run.path),
        "train_seconds": time.perf_counter() - start,
        "env_steps": zoo.num_env_steps,
        **zoo.info["success_rates"],
    }
    print(f"crafter skills: {zoo_run.path} ({skills['train_seconds']:.0f} s)", flush=True)
    rows = []
    (ppo,) = ppo_curve(CRAFTER, [args.crafter_budget], args.crafter_eval_episodes, args, length=args.crafter_length)
    rows.append(_crafter_row("sb3-ppo", ppo))
    _print(rows[-1])
    for planner in args.planners.split(","):
        result = hierarchical_eval(
            CRAFTER,
            zoo_run.path,
            args.crafter_budget,
            args.crafter_budget,
            planner,
            args.crafter_eval_episodes,
            args,
            llm,
            length=args.crafter_length,
        )
        rows.append(_crafter_row(f"hierarchical-{planner}", result))
        _print(rows[-1])
    return rows, skills


def _point(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("env_steps", "success_rate", "llm_calls", "llm_tokens") if k in result}


def _row(env_id: str, agent: str, result: dict[str, Any], curve: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "env_id": env_id,
        "agent": agent,
        "success_rate": result.get("success_rate", 0.0),
        "env_steps": result.get("env_steps", 0),
        "llm_calls": result.get("llm_calls", 0.0),
        "llm_tokens": result.get("llm_tokens", 0.0),
        "mean_length": result.get("mean_length"),
        "eval_episodes": len(result.get("outcomes", [])),
        "planner_stats": result.get("planner_stats", {}),
        "eval_seconds": result.get("eval_seconds"),
        "curve": curve,
    }


def _crafter_row(agent: str, result: dict[str, Any]) -> dict[str, Any]:
    score, rates = crafter_score_from_outcomes(result["outcomes"])
    row = _row(CRAFTER, agent, result, [])
    row.update(
        crafter_score=score,
        achievement_rates=rates,
        mean_achievements=float(np.mean([len(o["achievements"]) for o in result["outcomes"]])),
        **{k: v for k, v in summarize_outcomes(result["outcomes"]).items() if k in ("mean_return", "mean_length")},
    )
    return row


def _print(row: dict[str, Any]) -> None:
    extra = f" crafter score {row['crafter_score']:.2f}" if "crafter_score" in row else ""
    print(
        f"{row['env_id'].split('/')[-1]:>28} {row['agent']:>22}: success {100 * row['success_rate']:5.1f}%{extra} "
        f"at {row['env_steps']:,} env steps; {row['llm_calls']:.1f} LLM calls, {row['llm_tokens']:.0f} tokens / episode",
        flush=True,
    )


def plot(results: dict[str, Any], folder: Path, stem: str = "hierarchical") -> list[str]:
    """Draw the run's plots into ``folder`` as ``<stem>_minigrid.png``, ``<stem>_crafter.png`` and ``<stem>_llm_cost.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    minigrid = [r for r in results["rows"] if r["env_id"] in MINIGRID]
    if minigrid:
        fig, axes = plt.subplots(1, len(MINIGRID), figsize=(4 * len(MINIGRID), 3.4), sharey=True)
        for ax, env_id in zip(axes, MINIGRID):
            for row in (r for r in minigrid if r["env_id"] == env_id):
                xs = [p["env_steps"] for p in row["curve"]]
                ax.plot(xs, [p["success_rate"] for p in row["curve"]], marker="o", label=row["agent"])
            ax.set_title(env_id.split("/")[-1], fontsize=9)
            ax.set_xlabel("env steps")
            ax.set_ylim(-0.02, 1.02)
        axes[0].set_ylabel("success rate (held-out seeds)")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / f"{stem}_minigrid.png", dpi=120)
        plt.close(fig)
        files.append(f"{stem}_minigrid.png")
    crafter = [r for r in results["rows"] if r["env_id"] == CRAFTER]
    if crafter:
        fig, ax = plt.subplots(figsize=(5, 3.4))
        ax.bar([r["agent"] for r in crafter], [r["crafter_score"] for r in crafter])
        ax.set_ylabel("Crafter score (%)")
        ax.set_title(f"Crafter at {crafter[0]['env_steps']:,} env steps", fontsize=9)
        fig.tight_layout()
        fig.savefig(folder / f"{stem}_crafter.png", dpi=120)
        plt.close(fig)
        files.append(f"{stem}_crafter.png")
    llm_rows = [r for r in results["rows"] if r["llm_calls"]]
    if llm_rows:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        labels = [f"{r['env_id'].split('/')[-1][:18]}\n{r['agent']}" for r in llm_rows]
        axes[0].bar(labels, [r["llm_calls"] for r in llm_rows])
        axes[0].set_ylabel("LLM calls / episode")
        axes[1].bar(labels, [r["llm_tokens"] for r in llm_rows])
        axes[1].set_ylabel("LLM tokens / episode")
        for ax in axes:
            ax.tick_params(axis="x", labelsize=6, rotation=60)
        fig.tight_layout()
        fig.savefig(folder / f"{stem}_llm_cost.png", dpi=120)
        plt.close(fig)
        files.append(f"{stem}_llm_cost.png")
    return files


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(1)
    llm = make_llm(args.llm, num_threads=1, cache=False)
    args.run = RunDir.create("bench-hierarchical")
    print(f"run folder: {args.run.path}", flush=True)
    start = time.perf_counter()
    rows, skills = [], {}
    if not args.skip_minigrid:
        minigrid_rows, skills["minigrid"] = run_minigrid(args, llm)
        rows += minigrid_rows
    if not args.skip_crafter:
        crafter_rows, skills["crafter"] = run_crafter(args, llm)
        rows += crafter_rows
    ratios = {}
    for row in rows:
        if row["agent"].startswith("hierarchical"):
            ppo = next(r for r in rows if r["env_id"] == row["env_id"] and r["agent"] == "sb3-ppo")
            key = "crafter_score" if "crafter_score" in row else "success_rate"
            ratios[f"{row['env_id'].split('/')[-1]}/{row['agent']}"] = {
                "metric": key,
                "hierarchical": row[key],
                "sb3-ppo": ppo[key],
                "ratio": row[key] / ppo[key] if ppo[key] else None,
            }
    results = {
        "command": "python " + " ".join(["benchmarks/hierarchical.py", *(argv if argv is not None else sys.argv[1:])]),
        "llm": llm.config.spec,
        "run": str(args.run.path),
        "minigrid_budget": args.minigrid_budget,
        "crafter_budget": args.crafter_budget,
        "crafter_length": args.crafter_length,
        "eval_episodes": args.eval_episodes,
        "crafter_eval_episodes": args.crafter_eval_episodes,
        "max_options": args.max_options,
        "skill_eval_fraction": args.skill_eval_fraction,
        "crafter_max_options": args.crafter_max_options,
        "wall_seconds": time.perf_counter() - start,
        "note": (
            "Hierarchical env_steps count all skill training, the runs that measure the skills (on seeds of "
            "their own) and the sb3 high level's training, all inside the budget (the MiniGrid zoo is trained "
            "once on the four levels together and counted in full for each). llm_calls/llm_tokens are per "
            "evaluation episode. "
            "Crafter scores are over evaluation episodes of crafter_length steps for every agent."
        ),
        "skills": skills,
        "ratios": ratios,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results["plots"] = plot(results, args.out.parent, args.out.stem)
    args.out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"wrote {args.out} ({results['wall_seconds']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
