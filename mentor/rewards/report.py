"""Plots and ``report.md`` of a reward-loop run, computed from the files in its run folder.

- ``fitness_per_iteration.png``: every trained candidate's fitness by iteration, the best so far,
  and the human, sparse and final (chosen reward, mean over seeds) levels;
- ``components.png``: the chosen candidate's reward components over training (mean with min-max band);
- ``training_curves.png``: fitness during training of each iteration's best, the final seeds and
  the baselines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import yaml  # noqa: E402

from mentor.rewards.training import load_result  # noqa: E402
from mentor.runs import atomic_write_text  # noqa: E402

__all__ = [
    "REJECTION_STAGES",
    "count_rejection_reasons",
    "plot_fitness_per_iteration",
    "plot_components",
    "plot_training_curves",
    "render_reward_report",
]

#: Stages at which a candidate can be rejected, in the order it meets them.
REJECTION_STAGES = ("extraction", "gate", "validation", "prerank", "training")


def count_rejection_reasons(candidates: Iterable[Mapping[str, Any]], chars: int = 80) -> dict[str, dict[str, int]]:
    """Per stage, how many candidates were rejected with each reason, most frequent first.

    ``candidates`` carry ``stage`` and ``reason`` (``None``: not rejected). Reasons are counted
    without their ``line N:`` prefix and cut to ``chars`` characters.
    """
    reasons: dict[str, dict[str, int]] = {}
    for c in candidates:
        if c["stage"] not in REJECTION_STAGES or c["reason"] is None:
            continue
        text = re.sub(r"^line \d+: ", "", c["reason"])
        text = text if len(text) <= chars else text[: chars - 3] + "..."
        stage = reasons.setdefault(c["stage"], {})
        stage[text] = stage.get(text, 0) + 1
    return {stage: dict(sorted(counts.items(), key=lambda kv: -kv[1])) for stage, counts in reasons.items()}


def plot_fitness_per_iteration(
    candidates: Sequence[Mapping[str, Any]], levels: Mapping[str, float | None], ylabel: str, path: Path
) -> Path:
    """Candidates' fitness per iteration (dots), best so far (line) and reference levels (dashed)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    iterations = sorted({c["iteration"] for c in candidates})
    trained = [c for c in candidates if c["fitness"] is not None]
    ax.scatter([c["iteration"] for c in trained], [c["fitness"] for c in trained], alpha=0.6, label="candidates")
    failed = [c["iteration"] for c in candidates if c["fitness"] is None]
    if failed:
        ax.scatter(failed, [0.0] * len(failed), marker="x", color="grey", label="rejected / failed (drawn at 0)")
    best, so_far = [], None
    for it in iterations:
        values = [c["fitness"] for c in trained if c["iteration"] == it]
        if values:
            so_far = max(values) if so_far is None else max(so_far, max(values))
        best.append(so_far)
    if any(b is not None for b in best):
        ax.plot(iterations, [b if b is not None else float("nan") for b in best], color="C1", label="best so far")
    for (name, value), color in zip(levels.items(), ("C2", "C3", "C4")):
        if value is not None:
            ax.axhline(value, linestyle="--", color=color, label=name)
    ax.set_xticks(iterations or [0])
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.set_title("Task fitness of the sampled rewards")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_ranking_vs_fitness(candidates: Sequence[Mapping[str, Any]], ylabel: str, path: Path) -> Path:
    """Each trained candidate's ranking score (before training) against its fitness (after); untrained ones as ticks."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    trained = [c for c in candidates if c["ranking_score"] is not None and c["fitness"] is not None]
    for label, keep, marker in (
        ("trained (kept by the screen)", lambda c: not (c["screened_out"] or c["would_drop"]), "o"),
        ("trained in audit (screen would skip)", lambda c: c["screened_out"] or c["would_drop"], "s"),
    ):
        chosen = [c for c in trained if keep(c)]
        if chosen:
            ax.scatter([c["ranking_score"] for c in chosen], [c["fitness"] for c in chosen], marker=marker, label=label)
    skipped = [c["ranking_score"] for c in candidates if c["ranking_score"] is not None and c["fitness"] is None]
    if skipped:
        ax.plot(
            skipped,
            [0] * len(skipped),
            "|",
            color="grey",
            markersize=14,
            transform=ax.get_xaxis_transform(),
            label="not trained (ranking score)",
        )
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("ranking score on the reference episodes (before training)")
    ax.set_ylabel(f"{ylabel} (after training)")
    ax.set_title("Does the screen predict the trained fitness?")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_components(stats: Mapping[str, Sequence[Mapping[str, float]]], title: str, path: Path) -> Path:
    """One panel per component (and fitness, episode length): episode-sum mean with its min-max band."""
    names = list(stats)
    cols = min(3, max(1, len(names)))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 2.8 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        points = stats[name]
        steps = [p["step"] for p in points]
        ax.plot(steps, [p["mean"] for p in points], marker="o", markersize=3)
        ax.fill_between(steps, [p["min"] for p in points], [p["max"] for p in points], alpha=0.2)
        ax.set_title(name.replace("_", " "), fontsize=9)
        ax.set_xlabel("env steps", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_training_curves(curves: Mapping[str, Sequence[Mapping[str, float]]], ylabel: str, path: Path) -> Path:
    """Fitness of training episodes over env steps, one line per labelled run."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    drawn = {label: points for label, points in curves.items() if points}
    for label, points in drawn.items():
        ax.plot([p["step"] for p in points], [p["fitness"] for p in points], marker="o", markersize=3, label=label)
    if not drawn:
        ax.text(
            0.5, 0.5, "no training episode ended within the budgets", ha="center", va="center", transform=ax.transAxes
        )
    ax.set_xlabel("env steps")
    ax.set_ylabel(ylabel)
    ax.set_title("Task fitness during training")
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _hopeless(candidate: dict[str, Any]) -> str:
    if candidate["duplicate_of"]:
        return f" (same as {candidate['duplicate_of']})"
    if candidate["screened_out"]:
        return " (screened out)"
    if not candidate["would_drop"]:
        return ""
    return " (hopeless, kept)" if candidate["kept_despite_flag"] else " (hopeless)"


def _seed_folders(run: Path, kind: str) -> list[Path]:
    return sorted((run / kind).glob("seed-*")) if (run / kind).is_dir() else []


def render_reward_report(run_dir: Path | str) -> Path:
    """Write the plots and ``report.md`` of a finished reward-loop run; returns the report's path."""
    run = Path(run_dir)
    results = json.loads((run / "results.json").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    task, loop = config["task"], config["loop"]
    from mentor.rewards.fitness import get_fitness

    fitness_label = get_fitness(task["fitness"]).description
    levels = {
        "human reward": (results["human"] or {}).get("fitness_mean"),
        "sparse reward": (results["sparse"] or {}).get("fitness_mean"),
        "chosen reward (final seeds)": (results["final"] or {}).get("fitness_mean"),
    }
    plots = [
        plot_fitness_per_iteration(results["candidates"], levels, fitness_label, run / "fitness_per_iteration.png")
    ]
    if any(c["ranking_score"] is not None for c in results["candidates"]):
        plots.append(plot_ranking_vs_fitness(results["candidates"], fitness_label, run / "ranking_vs_fitness.png"))
    best = load_result(run / results["best_label"]) if results["best_label"] else None
    if best is not None and best.component_stats:
        plots.append(
            plot_components(best.component_stats, f"Components of {results['best_label']}", run / "components.png")
        )
    curves: dict[str, Any] = {}
    by_iteration: dict[int, dict[str, Any]] = {}
    for c in results["candidates"]:
        if c["fitness"] is not None and (
            c["iteration"] not in by_iteration or c["fitness"] > by_iteration[c["iteration"]]["fitness"]
        ):
            by_iteration[c["iteration"]] = c
    for it, c in sorted(by_iteration.items()):
        curves[f"iteration {it} best ({c['label']})"] = load_result(run / c["label"]).curve
    for kind in ("final", "baselines/human", "baselines/sparse"):
        for folder in _seed_folders(run, kind):
            result = load_result(folder)
            if result is not None:
                curves[f"{kind.split('/')[-1]} {folder.name}"] = result.curve
    plots.append(plot_training_curves(curves, fitness_label, run / "training_curves.png"))

    lines = [
        f"# Reward generation: {task['name']}",
        "",
        f"- Task: {task['description']} ({task['env_id']}), fitness: {fitness_label}",
        f"- Mode: {results['mode']}, {loop['iterations']} iteration(s) x {loop['samples']} sample(s), "
        f"{loop['steps']} env steps per candidate, {loop['final_seeds']} final seed(s) x {loop['final_steps']} steps, "
        f"algo {task['algo']}",
        f"- Valid code rate: {results['valid_code_rate']:.0%} of {results['num_candidates']} candidates",
        f"- Human-normalised score: {_fmt(results['human_normalized_score'])} "
        "((chosen - sparse) / (human - sparse), mean fitness over seeds; '-' when undefined)",
        f"- Wall-clock: {results['seconds']:.0f} s",
        "",
        "## Final comparison (same budget and seeds)",
        "",
        "| reward | fitness mean | std | per seed |",
        "|---|---|---|---|",
    ]
    for name, key in (("chosen", "final"), ("human", "human"), ("sparse", "sparse")):
        summary = results[key]
        if summary:
            per_seed = ", ".join(_fmt(v) for v in summary["per_seed"])
            lines.append(f"| {name} | {_fmt(summary['fitness_mean'])} | {_fmt(summary['fitness_std'])} | {per_seed} |")
    lines += [
        "",
        "## Candidates",
        "",
        "| candidate | stage | ranking score | fitness | train s | reason |",
        "|---|---|---|---|---|---|",
    ]
    for c in results["candidates"]:
        reason = (c["reason"] or "").replace("|", "\\|")
        lines.append(
            f"| {c['label']} | {c['stage']} | {_fmt(c['ranking_score'], 2)}{_hopeless(c)} "
            f"| {_fmt(c['fitness'])} | {_fmt(c['train_seconds'], 2)} | {reason} |"
        )
    pre = results["prerank"]
    lines += [
        "",
        "## Pre-ranking",
        "",
        f"Mode {pre['mode']}: {pre['scored']} candidates ranked on reference episodes of known fitness (none when "
        f"those episodes all have the same fitness), {pre['flagged_hopeless']} judged "
        f"hopeless, {pre['screened_out']} screened out below the top {_fmt(pre['train_top'])}. "
        f"Rank correlation of the ranking score with the fitness after training, over the trained candidates: "
        f"{_fmt(pre['ranking_vs_trained_fitness'], 2)}; share of iterations whose best candidate the screen kept: "
        f"{_fmt(pre['screen_hit_rate'], 2)}. Training time saved {pre['training_seconds_saved']:.0f} s of "
        f"{pre['training_seconds_without_prerank']:.0f} s ({pre['saved_share']:.0%}, "
        f"{'measured' if pre['saving_measured'] else 'estimated from the mean training time'}). "
        f"Dropped the eventual winner: {_fmt(pre['dropped_winner'])}. "
        f"Winner judged hopeless: {_fmt(pre.get('winner_flagged_hopeless'))}"
        + (
            f" ({pre['kept_despite_flag']} candidate(s) trained although judged hopeless, because every valid "
            "candidate of their iteration was)."
            if pre.get("kept_despite_flag")
            else "."
        ),
        "",
        "## Sandbox",
        "",
        f"Mean time per sandbox call (one batch of transitions per vector-env step, IPC included): "
        f"{_fmt(results['sandbox']['mean_us_per_call'])} us; share of training wall-clock spent in reward calls: "
        f"{_fmt(results['sandbox']['mean_share_of_training'])}.",
        "",
        "## Chosen reward",
        "",
        f"```python\n{(results['best_code'] or '# none: no candidate trained successfully').rstrip()}\n```",
        "",
        "## LLM usage",
        "",
        ", ".join(f"{k}: {_fmt(v)}" for k, v in results["llm_usage"].items()),
        "",
        "## Plots",
        "",
        *[f"![{p.stem}]({p.name})" for p in plots],
        "",
    ]
    path = run / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path
