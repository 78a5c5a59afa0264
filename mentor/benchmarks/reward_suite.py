"""The reward-generation suite's rows: one per task from its loop result, the totals over tasks, and the screen plot.

``benchmarks/reward_generation.py`` runs the loop on every task and writes these into
``benchmarks/results/reward_generation.json``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mentor.rewards.loop_config import RewardLoopResult  # noqa: E402
from mentor.rewards.report import REJECTION_STAGES, count_rejection_reasons  # noqa: E402
from mentor.rewards.rollouts import ranking_score  # noqa: E402
from mentor.rewards.tasks import RewardTask, get_reward_task  # noqa: E402

__all__ = ["algo_description", "bench_task", "normalized_screen_points", "plot_screen", "summarize", "task_row"]


def bench_task(name: str, algo: str) -> RewardTask:
    """The task ``name``, trained with ``algo`` (``task``: the task's own algorithm)."""
    task = get_reward_task(name)
    return task if algo == "task" else dataclasses.replace(task, algo=algo)


def algo_description(algo: str) -> str:
    """How the suite's tasks are trained with ``--algo algo``, for the table title and the JSON."""
    if algo == "task":
        return "per task (sac on MuJoCo, ppo elsewhere)"
    return f"{algo} for every task (--algo {algo}; the per-env choice, sac on MuJoCo, is --algo task)"


def task_row(task: RewardTask, result: RewardLoopResult, llm_calls: int) -> dict:
    """The benchmark's row of one task from its loop result."""
    trained = [c for c in result.candidates if c["fitness"] is not None]
    return {
        "task": task.name,
        "env_id": task.env_id,
        "fitness": task.fitness,
        "algo": task.algo,
        "num_candidates": result.num_candidates,
        "num_valid": sum(c["valid"] for c in result.candidates),
        "valid_code_rate": result.valid_code_rate,
        "num_trained": len(trained),
        "rejections": {
            stage: sum(c["stage"] == stage and c["reason"] is not None for c in result.candidates)
            for stage in REJECTION_STAGES
        },
        "rejection_reasons": count_rejection_reasons(result.candidates),
        "best_candidate_fitness": result.best_candidate_fitness,
        "best_fitness": (result.final or {}).get("fitness_mean"),
        "human_fitness": (result.human or {}).get("fitness_mean"),
        "sparse_fitness": (result.sparse or {}).get("fitness_mean"),
        "human_normalized_score": result.human_normalized_score,
        "generated_ge_human": result.generated_ge_human,
        "prerank": result.prerank,
        "ranking_scores": result.prerank["ranking_scores"],
        "baseline_ranking_scores": result.prerank["baseline_ranking_scores"],
        "ranking_vs_trained_fitness": result.prerank["ranking_vs_trained_fitness"],
        "screen_hit_rate": result.prerank["screen_hit_rate"],
        "screen_points": [
            {"label": c["label"], "ranking_score": c["ranking_score"], "fitness": c["fitness"]}
            for c in result.candidates
            if c["ranking_score"] is not None and c["fitness"] is not None
        ],
        "sandbox_share_of_training": result.sandbox["mean_share_of_training"],
        "sandbox_us_per_call": result.sandbox["mean_us_per_call"],
        "llm_calls": llm_calls,
        "seconds": result.seconds,
        "run_dir": result.run_dir,
    }


def summarize(rows: list[dict], prerank: str) -> dict:
    """Totals over the task rows; generated >= human counts only the tasks where it could be compared."""
    candidates = sum(r["num_candidates"] for r in rows)
    comparable = [r["generated_ge_human"] for r in rows if r["generated_ge_human"] is not None]
    saved = sum(r["prerank"]["training_seconds_saved"] for r in rows)
    spent = sum(r["prerank"]["training_seconds_without_prerank"] for r in rows)
    winners = [r["prerank"] for r in rows if r["prerank"].get("winner_flagged_hopeless") is not None]
    shares = [r["sandbox_share_of_training"] for r in rows if r["sandbox_share_of_training"] is not None]
    scores = [r["human_normalized_score"] for r in rows if r["human_normalized_score"] is not None]
    per_task = [r["ranking_vs_trained_fitness"] for r in rows if r["ranking_vs_trained_fitness"] is not None]
    hits = [r["screen_hit_rate"] for r in rows if r["screen_hit_rate"] is not None]
    pooled = [p for r in rows for p in normalized_screen_points(r)]
    return {
        "mean_human_normalized_score": float(np.mean(scores)) if scores else None,
        "num_tasks_with_human_normalized_score": len(scores),
        "screen_vs_trained_correlation": float(np.mean(per_task)) if per_task else None,
        "num_tasks_with_screen_correlation": len(per_task),
        "screen_vs_trained_correlation_pooled": ranking_score([p[0] for p in pooled], [p[1] for p in pooled])
        if len(pooled) >= 3
        else None,
        "screen_hit_rate": float(np.mean(hits)) if hits else None,
        "valid_code_rate": sum(r["num_valid"] for r in rows) / candidates if candidates else None,
        "num_comparable_tasks": len(comparable),
        "num_generated_ge_human": sum(comparable),
        "share_generated_ge_human": sum(comparable) / len(comparable) if comparable else None,
        "prerank": {
            "mode": prerank,
            "training_seconds_saved": saved,
            "training_seconds_without_prerank": spent,
            "saved_share": saved / spent if spent else None,
            "tasks_with_a_trained_winner": len(winners),
            "winner_flagged_hopeless": sum(w["winner_flagged_hopeless"] for w in winners),
            "winner_kept_despite_flag": sum(bool(w.get("winner_kept_despite_flag")) for w in winners),
            "kept_despite_flag": sum(r["prerank"].get("kept_despite_flag", 0) for r in rows),
        },
        "sandbox_share_of_training_mean": float(np.mean(shares)) if shares else None,
    }


def normalized_screen_points(row: dict) -> list[tuple[float, float]]:
    """``(ranking score, human-normalised fitness)`` of a task's trained candidates; none without a human-sparse gap."""
    human, sparse = row["human_fitness"], row["sparse_fitness"]
    if human is None or sparse is None or abs(human - sparse) < 1e-9:
        return []
    return [(p["ranking_score"], (p["fitness"] - sparse) / (human - sparse)) for p in row["screen_points"]]


def plot_screen(rows: list[dict], path: Path) -> Path:
    """Ranking score before training against human-normalised fitness after, one colour per task."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for i, row in enumerate(rows):
        points = normalized_screen_points(row)
        if points:
            ax.scatter(*zip(*points), label=row["task"], color=f"C{i % 10}", alpha=0.75)
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="human reward (1) / sparse (0)")
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("ranking score on the reference episodes (before training)")
    ax.set_ylabel("human-normalised fitness after training")
    ax.set_title("Does the screen predict what training gives?")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
