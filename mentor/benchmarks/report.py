"""``report.md`` and its PNG plots, rendered from a run folder's files (``mentor report RUN_DIR``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mentor.benchmarks.plots import plot_achievement_bars, plot_learning_curves, plot_llm_usage, plot_score_bars
from mentor.benchmarks.runner import cell_dir
from mentor.errors import ConfigError
from mentor.evaluation.protocols import summarize_outcomes
from mentor.runs import RunDir

__all__ = ["render_report", "format_score"]


def format_score(protocol: str, mean: float, std: float) -> str:
    if protocol == "success_rate":
        return f"{100 * mean:.1f}% ± {100 * std:.1f}"
    return f"{mean:.2f} ± {std:.2f}"


def _slug(env_id: str) -> str:
    return env_id.split("/")[-1]


def render_report(run_dir: Path | str) -> Path:
    """Re-render ``report.md`` (and plots) of a benchmark or training run from its files."""
    run = RunDir(Path(run_dir))
    if (run.path / "results.json").exists():
        return _benchmark_report(run)
    if run.config_path.exists() and run.metrics_path.exists():
        return _training_report(run)
    raise ConfigError(
        f"{run.path} is not a finished mentor run: it has neither results.json nor config.yaml + metrics.jsonl."
    )


def _usage_lines(run: RunDir, rows: list[dict[str, Any]]) -> list[str]:
    llm_rows = [r for r in rows if r["llm_calls"]]
    if not llm_rows:
        return []
    plot_llm_usage(llm_rows, run.file("llm-usage.png"))
    lines = [
        "",
        "## LLM usage (mean per seed)",
        "",
        "| env | agent | calls | tokens | tokens / call | LLM seconds | cache hits |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in llm_rows:
        lines.append(
            f"| {_slug(r['env_id'])} | {r['agent']} | {r['llm_calls']:.0f} | {r['llm_tokens']:.0f} | "
            f"{r['llm_tokens'] / max(r['llm_calls'], 1):.0f} | {r.get('llm_seconds', 0.0):.0f} | "
            f"{r.get('llm_cache_hits', 0.0):.0f} |"
        )
    return [*lines, "", "![LLM usage](llm-usage.png)"]


def _benchmark_report(run: RunDir) -> Path:
    results = run.read_json("results.json")
    rows, protocol, budget = results["rows"], results["protocol"], results["budget"]
    lines = [
        f"# Benchmark `{results['suite']}`",
        "",
        f"Protocol: **{results['score_name']}**. Budget: {budget:,} env steps per cell; "
        f"{results['eval_episodes']} eval episodes per cell on held-out seeds.",
        "",
        f"Command: `{results['command']}`" if results.get("command") else "",
        "",
        "| env | agent | score | eval success | eval return | seeds | env steps | wall s | LLM calls | LLM tokens |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {_slug(r['env_id'])} | {r['agent']} | {format_score(protocol, r['score_mean'], r['score_std'])} | "
            f"{100 * r['success_rate']:.1f}% | {r['mean_return']:.3f} | {r['seeds']} | {r['env_steps']:,} | "
            f"{r['wall_seconds']:.0f} | {r['llm_calls']:.0f} | {r['llm_tokens']:.0f} |"
        )
    if rows:
        plot_score_bars(
            rows, results["score_name"], f"{results['suite']}: {results['score_name']}", run.file("scores.png")
        )
        lines += ["", "![scores](scores.png)"]
    curve_key = "success" if protocol == "success_rate" else "return"
    for env_id in dict.fromkeys(r["env_id"] for r in rows):
        curves = {
            r["agent"]: [
                list(RunDir(cell_dir(run, r["agent"], env_id, c["seed"])).iter_metrics("episode")) for c in r["cells"]
            ]
            for r in rows
            if r["env_id"] == env_id
        }
        name = f"curve-{_slug(env_id)}.png"
        plot_learning_curves(
            curves,
            curve_key,
            budget,
            f"{_slug(env_id)}: training episodes",
            run.file(name),
            ylabel="episode success rate" if curve_key == "success" else "episode return",
        )
        lines += ["", f"### {_slug(env_id)}", "", f"![learning curve]({name})"]
        if curve_key != "success" and any(e["success"] for seeds in curves.values() for eps in seeds for e in eps):
            success = f"success-{_slug(env_id)}.png"
            plot_learning_curves(
                curves,
                "success",
                budget,
                f"{_slug(env_id)}: training episodes",
                run.file(success),
                ylabel="episode success rate",
            )
            lines += ["", f"![success against env steps]({success})"]
        crafter_rows = [r for r in rows if r["env_id"] == env_id and "achievement_rates" in r]
        if crafter_rows:
            bars = f"achievements-{_slug(env_id)}.png"
            plot_achievement_bars(
                {f"{r['agent']} ({r['score_from']} episodes)": r["achievement_rates"] for r in crafter_rows},
                f"{_slug(env_id)}: achievement success rates",
                run.file(bars),
            )
            lines += ["", f"![achievement success rates]({bars})"]
            lines += [
                "",
                "| agent | Crafter score | scored on | Crafter score (eval episodes) |",
                "|---|---:|---|---:|",
            ]
            lines += [
                f"| {r['agent']} | {r['score_mean']:.2f} ± {r['score_std']:.2f} | {r['score_from']} episodes | "
                f"{r['eval_crafter_score']:.2f} |"
                for r in crafter_rows
            ]
    lines += _usage_lines(run, rows)
    run.report_path.write_text("\n".join(lines) + "\n")
    return run.report_path


def _training_report(run: RunDir) -> Path:
    config = run.read_config()
    episodes = list(run.iter_metrics("episode"))
    budget = int(config.get("total_timesteps") or max((e["step"] for e in episodes), default=1))
    env_id = config.get("env_id", "?")
    title = f"{config.get('agent', 'run')} {config.get('algo', '')} on {env_id}".strip()
    plot_learning_curves({title: [episodes]}, "return", budget, "training episode return", run.file("curve-return.png"))
    lines = [f"# {title}", "", f"Run folder: `{run.path}`", "", "![learning curve](curve-return.png)"]
    if episodes and any(e["success"] for e in episodes):
        plot_learning_curves(
            {title: [episodes]}, "success", budget, "training success rate", run.file("curve-success.png")
        )
        lines += ["", "![success](curve-success.png)"]
    train = summarize_outcomes(episodes)
    lines += [
        "",
        f"Training episodes: {train['episodes']}, mean return {train['mean_return']:.3f}, "
        f"success {100 * train['success_rate']:.1f}%.",
    ]
    if (run.path / "eval.json").exists():
        ev = run.read_json("eval.json")
        lines += [
            f"Evaluation ({ev['episodes']} episodes, held-out seeds): success {100 * ev['success_rate']:.1f}%, "
            f"mean return {ev['mean_return']:.3f} ± {ev['std_return']:.3f}."
        ]
    run.report_path.write_text("\n".join(lines) + "\n")
    return run.report_path
