"""Online PPO fine-tuning of the embedded LLM policy on BabyAI-Text: success zero-shot vs after a CPU time budget.

The LLM policy (SmolLM2-135M, LoRA on its top layers, value head) is evaluated greedily on held-out
seeds (``EVAL_SEED_OFFSET + i``) before training, fine-tuned online with PPO for ``--minutes`` of
wall-clock training, then evaluated again on the same seeds, in one process. The config's
``eval_freq`` adds greedy evaluations on the first ``eval_freq_episodes`` of those seeds during
training (for the learning curve; their time is not training time). Training throughput (env
steps/s, batched LLM forwards/s) comes from the trainer's counters; the 1-minute load average is
sampled during training, because the machine may be shared.

    python benchmarks/llm_finetune.py                               # the config's 60-minute budget
    python benchmarks/llm_finetune.py --minutes 10 --eval-episodes 40   # a short check
    python benchmarks/llm_finetune.py --sampled-eval                # also evaluate the sampled policy

Writes benchmarks/results/llm_finetune.json (``zero_shot_success``, ``finetuned_success``,
``minutes``, ``env_steps``, throughput, the curve) and benchmarks/results/llm_finetune.png.

A multi-task config (``tasks``: BALROG's five BabyAI levels in ``configs/llm_ppo/babyai_balrog.yml``,
all six actions) trains one policy on every task together, as GLAM does, and evaluates a uniformly
random policy, the zero-shot and the fine-tuned LLM on the same held-out seeds of each task. Its
figures go under the ``balrog`` key of the same JSON (the GoToObj keys stay as they are), its curve
(held-out greedy progression per task against env steps and training minutes) to
llm_finetune_balrog.png:

    python benchmarks/llm_finetune.py --config configs/llm_ppo/babyai_balrog.yml --minutes 45

``configs/llm_ppo/babyai_balrog_imitation.yml`` starts PPO from a policy that first imitated BabyAI's bot
(behaviour cloning, then DAgger); its rounds go under ``balrog.imitation``, with ``--out`` to keep both:

    python benchmarks/llm_finetune.py --config configs/llm_ppo/babyai_balrog_imitation.yml \
        --out benchmarks/results/llm_finetune_imitation.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from mentor.agents.llm_ppo import LLMFinetuner  # noqa: E402
from mentor.agents.llm_ppo_config import FinetuneConfig, task_key  # noqa: E402
from mentor.benchmarks.agents import random_action  # noqa: E402
from mentor.benchmarks.provenance import LoadSampler, provenance  # noqa: E402
from mentor.envs import make  # noqa: E402
from mentor.evaluation.episodes import (
    EVAL_SEED_OFFSET,  # noqa: E402
    run_eval_episodes,  # noqa: E402
)
from mentor.evaluation.protocols import summarize_outcomes  # noqa: E402
from mentor.overrides import parse_overrides  # noqa: E402
from mentor.paths import configs_root  # noqa: E402
from mentor.runs import RunDir  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DEFAULT_CONFIG = configs_root() / "llm_ppo" / "babyai_gotoobj.yml"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML of FinetuneConfig fields")
    parser.add_argument("--minutes", type=float, default=None, help="training budget in minutes (config's max_minutes)")
    parser.add_argument("--steps", type=int, default=None, help="env-step budget (config's total_timesteps)")
    parser.add_argument("--eval-episodes", type=int, default=None, help="held-out episodes per evaluation")
    parser.add_argument("--sampled-eval", action="store_true", help="also evaluate the sampled (not greedy) policy")
    parser.add_argument("--seed", type=int, default=None, help="training seed")
    parser.add_argument("--set", "-p", action="append", default=[], help="FinetuneConfig override key=value")
    parser.add_argument("--out", type=Path, default=RESULTS / "llm_finetune.json", help="JSON output path")
    args = parser.parse_args()
    if args.minutes is not None and args.minutes <= 0:
        parser.error("--minutes must be positive")
    if args.eval_episodes is not None and args.eval_episodes < 1:
        parser.error("--eval-episodes must be >= 1")
    return args


def brief(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "outcomes"}


def plot(run: RunDir, zero_shot: dict, finetuned: dict, title: str, path: Path) -> dict[str, list[dict]]:
    """Greedy held-out success during training, and the sampled policy's success on its training episodes."""
    evals = [{"env_steps": 0, "success": zero_shot["success_rate"], "episodes": zero_shot["episodes"]}]
    evals += [
        {"env_steps": r["step"], "success": r["success_rate"], "episodes": r["episodes"]}
        for r in run.iter_metrics("eval")
    ]
    updates = [
        {"env_steps": r["step"], "episodes": r["rollout/episodes"], "success": r["rollout/success_rate"]}
        for r in run.iter_metrics("update")
    ]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(
        [e["env_steps"] for e in evals],
        [100 * e["success"] for e in evals],
        marker="o",
        label="greedy, held-out seeds (during training)",
    )
    window = 5
    steps, rates = [], []
    for i in range(len(updates)):
        recent = [u for u in updates[max(0, i - window + 1) : i + 1] if u["episodes"]]
        if recent:
            steps.append(updates[i]["env_steps"])
            rates.append(100 * sum(u["success"] * u["episodes"] for u in recent) / sum(u["episodes"] for u in recent))
    ax.plot(steps, rates, alpha=0.5, label=f"sampled, training episodes (last {window} updates)")
    ax.axhline(
        100 * finetuned["success_rate"],
        color="green",
        linestyle="--",
        label=f"fine-tuned, greedy, {finetuned['episodes']} held-out: {100 * finetuned['success_rate']:.0f}%",
    )
    ax.axhline(
        100 * zero_shot["success_rate"],
        color="grey",
        linestyle="--",
        label=f"zero-shot, greedy, {zero_shot['episodes']} held-out: {100 * zero_shot['success_rate']:.0f}%",
    )
    ax.set_xlabel("env steps")
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return {"eval": evals, "updates": updates}


def main() -> None:
    args = parse_args()
    console = Console()
    data = yaml.safe_load(args.config.read_text()) or {}
    flags = {"max_minutes": args.minutes, "total_timesteps": args.steps, "seed": args.seed}
    data.update({k: v for k, v in flags.items() if v is not None})
    data.update(parse_overrides(args.set))
    if args.eval_episodes is not None:
        data["n_eval_episodes"] = args.eval_episodes
    config = FinetuneConfig.from_dict(data)
    run = RunDir.create("bench-llm-finetune")
    trainer = LLMFinetuner(config, run)
    if config.tasks:
        run_multitask(args, config, trainer, console)
        return
    console.print(
        f"{config.env_id}, {config.model}: {config.max_minutes} min / {config.total_timesteps} steps budget, "
        f"{config.n_eval_episodes} held-out episodes per evaluation, torch threads {torch.get_num_threads()}, "
        f"load {os.getloadavg()[0]:.2f}; run {run.path}"
    )

    zero_shot = trainer.evaluate()
    console.print(f"zero-shot greedy success: {100 * zero_shot['success_rate']:.1f}% ({zero_shot['seconds']:.0f} s)")
    sampled_before = trainer.evaluate(deterministic=False) if args.sampled_eval else None
    load = LoadSampler()
    load.start()
    wall = time.perf_counter()
    summary = trainer.train()
    wall_minutes = (time.perf_counter() - wall) / 60
    load_during_training = load.stop()
    finetuned = trainer.evaluate()
    sampled_after = trainer.evaluate(deterministic=False) if args.sampled_eval else None
    trainer.close()

    gain = 100 * (finetuned["success_rate"] - zero_shot["success_rate"])
    eval_decisions_per_s = (zero_shot["env_steps"] + finetuned["env_steps"]) / (
        zero_shot["seconds"] + finetuned["seconds"]
    )
    model_name = "SmolLM2-135M" if config.model == "transformers:embedded" else config.model
    png = args.out.with_suffix(".png")
    png.parent.mkdir(parents=True, exist_ok=True)
    curve = plot(
        run,
        zero_shot,
        finetuned,
        f"{config.env_id.split('/')[-1]}: online PPO of {model_name} (LoRA), {summary['minutes']:.1f} min of training",
        png,
    )
    results = {
        "zero_shot_success": zero_shot["success_rate"],
        "finetuned_success": finetuned["success_rate"],
        "gain_points": gain,
        "minutes": summary["minutes"],
        "env_steps": summary["env_steps"],
        "wall_minutes_with_evaluations_during_training": wall_minutes,
        "throughput": {
            "env_steps_per_s": summary["env_steps_per_s"],
            "llm_forwards_per_s": summary["llm_forwards_per_s"],
            "llm_prompts_per_s": summary["llm_prompts_per_s"],
            "trunk_passes_per_s": summary["total_trunk_passes"] / max(60 * summary["minutes"], 1e-9),
            "trunk_cache_hit_rate": summary["trunk_cache_hit_rate"],
            "update_samples_per_s": summary["update_samples_per_s"],
            "eval_decisions_per_s": eval_decisions_per_s,
            "definitions": {
                "llm_forwards_per_s": "batched policy forwards (one per env step across all envs) per training second",
                "llm_prompts_per_s": "decisions scored (prompts, all candidates each) per training second",
                "trunk_passes_per_s": "frozen-trunk passes (cache misses) per training second",
                "update_samples_per_s": "samples through the trained layers, forward and backward, per training second",
            },
        },
        "zero_shot": brief(zero_shot),
        "finetuned": brief(finetuned),
        "sampled_eval": {"zero_shot": brief(sampled_before), "finetuned": brief(sampled_after)}
        if args.sampled_eval
        else None,
        "train": summary,
        "curve": curve,
        "setup": provenance(
            config=config.to_dict(),
            eval_seeds=f"{EVAL_SEED_OFFSET} + 0..{config.n_eval_episodes - 1}",
            load_average_1m_during_training=load_during_training,
            run_dir=str(run.path),
        ),
    }
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    if "balrog" in previous:
        results["balrog"] = previous["balrog"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")

    table = Table(title=f"{config.env_id}: greedy success on {config.n_eval_episodes} held-out seeds")
    for column in ("policy", "success", "mean return", "mean length"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for label, result in (("zero-shot", zero_shot), ("fine-tuned", finetuned)):
        table.add_row(
            label,
            f"{100 * result['success_rate']:.1f}%",
            f"{result['mean_return']:.3f}",
            f"{result['mean_length']:.1f}",
        )
    console.print(table)
    console.print(
        f"gain {gain:+.1f} points after {summary['env_steps']} env steps in {summary['minutes']:.1f} min; "
        f"{summary['env_steps_per_s']:.2f} env steps/s, {summary['llm_forwards_per_s']:.3f} batched LLM forwards/s "
        f"({summary['llm_prompts_per_s']:.2f} prompts/s, trunk cache hit rate {summary['trunk_cache_hit_rate']:.0%}); "
        f"load {load_during_training['mean']:.2f} mean, {load_during_training['max']:.2f} max"
    )
    console.print(f"wrote {args.out} and {png}")


def random_progression(config: FinetuneConfig) -> dict[str, dict]:
    """A uniformly random admissible action each step, on the held-out seeds of each task."""
    rows = {}
    for task in config.task_ids:
        env = make(task, **config.env_kwargs)
        rng = np.random.default_rng(config.seed)
        rows[task] = summarize_outcomes(
            run_eval_episodes(
                env, lambda obs, e, rng=rng: random_action(e, rng), config.n_eval_episodes, EVAL_SEED_OFFSET
            )
        )
        env.close()
    return rows


def plot_multitask(run: RunDir, rows: dict[str, dict], balrog: dict, path: Path) -> list[dict]:
    """Held-out greedy progression per task and on average, against env steps and against training minutes."""
    minutes_at = {r["step"]: r["seconds"] / 60 for r in run.iter_metrics("update")}
    evals = [{"env_steps": 0, "minutes": 0.0, **{t: r["zero_shot"] for t, r in rows.items()}}]
    for record in run.iter_metrics("eval"):
        point = {"env_steps": record["step"], "minutes": minutes_at.get(record["step"], float("nan"))}
        point.update({t: record[f"progression/{task_key(t)}"] for t in rows})
        evals.append(point)
    evals.append(
        {"env_steps": balrog["env_steps"], "minutes": balrog["minutes"], **{t: r["finetuned"] for t, r in rows.items()}}
    )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, x in zip(axes, ("env_steps", "minutes")):
        xs = [e[x] for e in evals]
        for task in rows:
            ax.plot(xs, [e[task] for e in evals], marker=".", alpha=0.6, label=task_key(task).removeprefix("BabyAI-"))
        ax.plot(xs, [np.mean([e[t] for t in rows]) for e in evals], color="black", linewidth=2, label="mean")
        ax.axhline(balrog["random_mean_progression"], color="grey", linestyle=":", label="random (mean, same seeds)")
        ax.axhline(77.6, color="tab:red", linestyle="--", label="GPT-4o zero-shot (BALROG, published)")
        ax.set_xlabel("env steps" if x == "env_steps" else "training minutes")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("held-out greedy progression")
    axes[0].set_ylim(-2, 102)
    axes[1].legend(loc="best", fontsize=7)
    fig.suptitle(
        f"BALROG BabyAI, one multi-task policy ({balrog['model']}, LoRA): mean progression "
        f"{balrog['zero_shot_mean_progression']:.1f} zero-shot -> {balrog['finetuned_mean_progression']:.1f}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return evals


def training_success(run: RunDir, tasks: tuple[str, ...]) -> dict[str, dict[str, float | int | None]]:
    """Success of the sampled policy on its training episodes of each task, in the first and the last quarter."""
    result = {}
    for task in tasks:
        ended = [e["success"] for e in run.iter_metrics("episode") if e.get("task") == task]
        quarter = max(len(ended) // 4, 1)
        result[task] = {
            "episodes": len(ended),
            "first_quarter": float(np.mean(ended[:quarter])) if ended else None,
            "last_quarter": float(np.mean(ended[-quarter:])) if ended else None,
        }
    return result


def run_multitask(args: argparse.Namespace, config: FinetuneConfig, trainer: LLMFinetuner, console: Console) -> None:
    """Random, zero-shot and fine-tuned progression per task on the same held-out seeds; writes the ``balrog`` key."""
    console.print(
        f"{len(config.tasks)} tasks, {config.model}: {config.max_minutes} min / {config.total_timesteps} steps, "
        f"{config.n_eval_episodes} held-out episodes per task; run {trainer.run.path}"
    )
    random_rows = random_progression(config)
    zero_shot = trainer.evaluate_tasks()
    sampled_before = trainer.evaluate_tasks(deterministic=False) if args.sampled_eval else None
    console.print(f"zero-shot mean progression {zero_shot['mean_progression']:.1f}")
    load = LoadSampler()
    load.start()
    summary = trainer.train()
    load_during_training = load.stop()
    finetuned = trainer.evaluate_tasks()
    sampled_after = trainer.evaluate_tasks(deterministic=False) if args.sampled_eval else None
    trainer.close()
    rows = {
        task: {
            "random": random_rows[task]["progression"],
            "zero_shot": zero_shot["tasks"][task]["progression"],
            "finetuned": finetuned["tasks"][task]["progression"],
            "finetuned_mean_length": finetuned["tasks"][task]["mean_length"],
            **(
                {
                    "zero_shot_sampled": sampled_before["tasks"][task]["progression"],
                    "finetuned_sampled": sampled_after["tasks"][task]["progression"],
                }
                if args.sampled_eval
                else {}
            ),
        }
        for task in config.tasks
    }
    balrog = {
        "setting": "one policy trained on the five tasks together (GLAM's multi-task setting), all six actions"
        + (", warm-started by imitation of BabyAI's bot (behaviour cloning, DAgger)" if trainer.imitation else ""),
        "imitation": trainer.imitation,
        "model": "SmolLM2-135M" if config.model == "transformers:embedded" else config.model,
        "tasks": rows,
        "random_mean_progression": float(np.mean([r["random"] for r in rows.values()])),
        "zero_shot_mean_progression": zero_shot["mean_progression"],
        "finetuned_mean_progression": finetuned["mean_progression"],
        "zero_shot_sampled_mean_progression": sampled_before["mean_progression"] if args.sampled_eval else None,
        "finetuned_sampled_mean_progression": sampled_after["mean_progression"] if args.sampled_eval else None,
        "training_episode_success": training_success(trainer.run, config.tasks),
        "gpt4o_zero_shot_published": 77.6,
        "minutes": summary["minutes"],
        "env_steps": summary["env_steps"],
        "env_steps_per_s": summary["env_steps_per_s"],
        "eval_episodes_per_task": config.n_eval_episodes,
        "deterministic_eval": config.deterministic_eval,
    }
    png = args.out.with_name(args.out.stem + "_balrog.png")
    png.parent.mkdir(parents=True, exist_ok=True)
    balrog["curve"] = plot_multitask(trainer.run, rows, balrog, png)
    balrog["setup"] = provenance(
        config=config.to_dict(),
        eval_seeds=f"{EVAL_SEED_OFFSET} + 0..{config.n_eval_episodes - 1} per task",
        load_average_1m_during_training=load_during_training,
        run_dir=str(trainer.run.path),
    )
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["balrog"] = balrog
    args.out.write_text(json.dumps(results, indent=2) + "\n")

    table = Table(title=f"BALROG BabyAI: greedy progression on {config.n_eval_episodes} held-out seeds per task")
    for column in ("task", "random", "zero-shot", "fine-tuned"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for task, row in rows.items():
        table.add_row(task, f"{row['random']:.0f}", f"{row['zero_shot']:.0f}", f"{row['finetuned']:.0f}")
    table.add_row(
        "mean",
        f"{balrog['random_mean_progression']:.1f}",
        f"{balrog['zero_shot_mean_progression']:.1f}",
        f"{balrog['finetuned_mean_progression']:.1f}",
    )
    console.print(table)
    console.print(
        f"{summary['env_steps']} env steps in {summary['minutes']:.1f} min ({summary['env_steps_per_s']:.2f}/s); "
        f"load {load_during_training['mean']:.2f} mean; wrote {args.out} (balrog) and {png}"
    )


if __name__ == "__main__":
    main()
