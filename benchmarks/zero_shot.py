"""Zero-shot LLM agents (naive, chain-of-thought, SPRING) on BabyAI-Text, Crafter and TextWorld, and ELLM vs PPO on Crafter.

Zero-shot part (as BALROG): each agent plays the same held-out episodes (seeds from
``EVAL_SEED_OFFSET``) of each env, cut to a short horizon so that this 2-core machine finishes; a
uniformly random agent plays them too, in the same run. Reported per env and agent: success rate,
BALROG progression (0-100), return, invalid actions (answers naming no admissible action: the env
got a no-op) and LLM cost.

ELLM part: SB3 PPO on ``mentor/Crafter-Symbolic-v0`` with the env's reward, and ELLM-PPO (the
LLM-suggested-goal reward alone, as in the paper) with the same seed and budget. The Crafter score is
computed over the training episodes inside the budget (the paper's protocol) and over evaluation
episodes; ``ellm_over_ppo`` is their ratio.

    python benchmarks/zero_shot.py                                   # 1 episode per env, ELLM at 20k steps
    python benchmarks/zero_shot.py --episodes 5 --max-steps 50 --agents naive,cot
    python benchmarks/zero_shot.py --no-zero-shot --ellm-budget 1000000 --ellm-max-queries 2000

Writes benchmarks/results/zero_shot.json (``zero_shot`` rows and an ``ellm`` section).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from mentor.agents.zero_shot import make_env_with_horizon
from mentor.benchmarks.agents import CellJob, SB3BenchAgent, random_action, read_cell_files
from mentor.benchmarks.llm_agents import CoTLLMBenchAgent, ELLMBenchAgent, NaiveLLMBenchAgent, SpringLLMBenchAgent
from mentor.benchmarks.provenance import provenance
from mentor.envs import family_of
from mentor.evaluation.episodes import EVAL_SEED_OFFSET, run_eval_episodes
from mentor.evaluation.protocols import crafter_score_from_outcomes, episodes_within_budget, summarize_outcomes
from mentor.runs import RunDir

RESULTS = Path(__file__).parent / "results" / "zero_shot.json"
AGENTS = {
    "naive": NaiveLLMBenchAgent,
    "cot": CoTLLMBenchAgent,
    "spring": SpringLLMBenchAgent,
}
#: Env -> default horizon (steps per episode) of the zero-shot part.
ENVS = {
    "mentor/BabyAI-GoToObj-v0": 12,
    "mentor/Crafter-Symbolic-v0": 20,
    "mentor/TextWorld-Easy-v0": 12,
}
ELLM_ENV = "mentor/Crafter-Symbolic-v0"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", default="transformers:embedded", help="LLM spec of every agent")
    parser.add_argument(
        "--agents", default="random," + ",".join(AGENTS), help="comma-separated: random and/or " + ", ".join(AGENTS)
    )
    parser.add_argument("--envs", default=",".join(ENVS), help="comma-separated mentor env ids")
    parser.add_argument("--episodes", type=int, default=1, help="episodes per env and agent")
    parser.add_argument(
        "--max-steps", type=int, default=None, help="horizon for every env (default: per env, see ENVS)"
    )
    parser.add_argument("--no-zero-shot", action="store_true", help="skip the zero-shot part")
    parser.add_argument("--ellm-budget", type=int, default=20_000, help="env steps of PPO and ELLM-PPO (0 skips ELLM)")
    parser.add_argument("--ellm-max-queries", type=int, default=30, help="LLM goal queries ELLM may make")
    parser.add_argument("--ellm-eval-episodes", type=int, default=3, help="eval episodes of PPO and ELLM-PPO")
    parser.add_argument("--seed", type=int, default=0, help="seed of the ELLM and PPO runs")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON output path")
    args = parser.parse_args()
    args.agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    bad = [a for a in args.agents if a != "random" and a not in AGENTS]
    if bad:
        parser.error(f"--agents: unknown {bad}; choose from random, {', '.join(AGENTS)}")
    args.envs = [e.strip() for e in args.envs.split(",") if e.strip()]
    bad = [e for e in args.envs if family_of(e) not in ("minigrid", "crafter", "textworld")]
    if bad:
        parser.error(f"--envs: {bad} are not BabyAI/MiniGrid, Crafter or TextWorld envs")
    if args.episodes < 1 or args.threads < 1 or args.ellm_budget < 0 or args.ellm_max_queries < 0:
        parser.error("--episodes and --threads must be >= 1; --ellm-budget and --ellm-max-queries >= 0")
    if args.max_steps is not None and args.max_steps < 1:
        parser.error("--max-steps must be >= 1")
    return args


def random_cell(env_id: str, episodes: int, max_steps: int, seed: int) -> dict:
    """A uniformly random admissible-action agent on the same episodes and horizon."""
    rng = np.random.default_rng(seed)
    env = make_env_with_horizon(env_id, max_steps)
    start = time.perf_counter()
    outcomes = run_eval_episodes(env, lambda obs, e: random_action(e, rng), episodes, EVAL_SEED_OFFSET)
    env.close()
    return {"outcomes": outcomes, "wall_seconds": time.perf_counter() - start, "stats": {}, "llm_usage": {}}


def llm_cell(agent: str, env_id: str, args: argparse.Namespace, max_steps: int, run: RunDir) -> dict:
    job = CellJob(
        agent,
        env_id,
        seed=0,
        budget=0,
        eval_episodes=args.episodes,
        cell_dir=str(run.path / "cells" / agent / env_id.split("/")[-1]),
        options={"max_steps": max_steps},
        llm=args.llm,
    )
    AGENTS[agent]().run(job)
    files = read_cell_files(Path(job.cell_dir))
    stats = json.loads((Path(job.cell_dir) / "zero_shot.json").read_text())
    return {
        "outcomes": files["eval"]["outcomes"],
        "wall_seconds": files["cell"]["wall_seconds"],
        "stats": stats,
        "llm_usage": files["llm_usage"],
    }


def zero_shot_rows(args: argparse.Namespace, console: Console) -> list[dict]:
    run = RunDir.create("bench-zero-shot")
    rows = []
    for env_id in args.envs:
        max_steps = args.max_steps or ENVS.get(env_id, 20)
        for agent in args.agents:
            console.print(f"{agent} on {env_id} ({args.episodes} episode(s) of at most {max_steps} steps)")
            cell = (
                random_cell(env_id, args.episodes, max_steps, args.seed)
                if agent == "random"
                else llm_cell(agent, env_id, args, max_steps, run)
            )
            summary = summarize_outcomes(cell["outcomes"])
            steps = sum(o["length"] for o in cell["outcomes"])
            usage = cell["llm_usage"]
            rows.append(
                {
                    "env_id": env_id,
                    "family": family_of(env_id),
                    "agent": agent,
                    "episodes": summary["episodes"],
                    "max_steps": max_steps,
                    "success_rate": summary["success_rate"],
                    "progression": summary["progression"],
                    "mean_return": summary["mean_return"],
                    "mean_length": summary["mean_length"],
                    "steps": steps,
                    "invalid_actions": cell["stats"].get("invalid_actions", 0),
                    "invalid_rate": cell["stats"].get("invalid_rate", 0.0),
                    "llm_calls": usage.get("calls", 0),
                    "llm_tokens": usage.get("total_tokens", 0),
                    "llm_seconds": usage.get("seconds", 0.0),
                    "llm_cache_hits": usage.get("cache_hits", 0),
                    "seconds_per_step": cell["wall_seconds"] / steps if steps else 0.0,
                    "achievements": sorted({a for o in cell["outcomes"] for a in o["achievements"]}),
                    "outcomes": cell["outcomes"],
                }
            )
    console.print(f"cells in {run.path}")
    return rows


def ellm_section(args: argparse.Namespace, console: Console) -> dict:
    run = RunDir.create("bench-ellm")
    cells = {}
    agents = {"ppo": SB3BenchAgent("ppo"), "ellm": ELLMBenchAgent()}
    for name, agent in agents.items():
        console.print(f"{name} on {ELLM_ENV}, {args.ellm_budget} env steps")
        job = CellJob(
            name,
            ELLM_ENV,
            seed=args.seed,
            budget=args.ellm_budget,
            eval_episodes=args.ellm_eval_episodes,
            cell_dir=str(run.path / "cells" / name),
            options={"ellm": {"max_queries": args.ellm_max_queries}} if name == "ellm" else {},
            llm=args.llm,
        )
        agent.run(job)
        files = read_cell_files(Path(job.cell_dir))
        train = episodes_within_budget(files["episodes"], args.ellm_budget)
        score, rates = crafter_score_from_outcomes(train)
        eval_score, _ = crafter_score_from_outcomes(files["eval"]["outcomes"])
        cells[name] = {
            "crafter_score": score,
            "eval_crafter_score": eval_score,
            "train_episodes": len(train),
            "achievement_rates": {k: v for k, v in rates.items() if v > 0},
            "train_mean_return": summarize_outcomes(train)["mean_return"],
            "eval": summarize_outcomes(files["eval"]["outcomes"]),
            "env_steps": files["cell"]["env_steps"],
            "wall_seconds": files["cell"]["wall_seconds"],
            "llm_usage": files["llm_usage"],
        }
        summary_path = Path(job.cell_dir) / "ellm.json"
        if summary_path.exists():
            cells[name]["ellm"] = json.loads(summary_path.read_text())
    ppo, ellm = cells["ppo"]["crafter_score"], cells["ellm"]["crafter_score"]
    return {
        "env_id": ELLM_ENV,
        "budget": args.ellm_budget,
        "seed": args.seed,
        "max_queries": args.ellm_max_queries,
        "ellm_over_ppo": ellm / ppo if ppo > 0 else None,
        "ellm_reward": "intrinsic only (extrinsic_coef 0), as ELLM pre-training; PPO gets the env reward",
        "cells": cells,
        "run": str(run.path),
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    console = Console(width=160)
    results: dict = {}
    if not args.no_zero_shot:
        rows = zero_shot_rows(args, console)
        results["zero_shot"] = rows
        table = Table(title=f"Zero-shot agents ({args.llm}), {args.episodes} episode(s) per env")
        for column in ("env", "agent", "success", "progression", "return", "steps", "invalid", "LLM calls", "s/step"):
            table.add_column(column, justify="left" if column in ("env", "agent") else "right")
        for r in rows:
            table.add_row(
                r["env_id"].removeprefix("mentor/"),
                r["agent"],
                f"{r['success_rate']:.2f}",
                f"{r['progression']:.1f}",
                f"{r['mean_return']:.2f}",
                str(r["steps"]),
                f"{r['invalid_actions']} ({100 * r['invalid_rate']:.0f}%)",
                str(r["llm_calls"]),
                f"{r['seconds_per_step']:.1f}",
            )
        console.print(table)
    if args.ellm_budget:
        results["ellm"] = ellm_section(args, console)
        e = results["ellm"]
        ratio = f"{e['ellm_over_ppo']:.2f}x" if e["ellm_over_ppo"] is not None else "n/a (PPO scored 0)"
        console.print(
            f"Crafter score at {e['budget']} steps: PPO {e['cells']['ppo']['crafter_score']:.2f}, "
            f"ELLM-PPO {e['cells']['ellm']['crafter_score']:.2f} (ELLM/PPO {ratio})"
        )
    results["setup"] = {
        "llm": args.llm,
        "episodes": args.episodes,
        "horizons": {e: args.max_steps or ENVS.get(e, 20) for e in args.envs},
        "eval_seed_offset": EVAL_SEED_OFFSET,
        **provenance(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
