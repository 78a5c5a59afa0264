"""The reward writer learns: GRPO (LoRA on the embedded SmolLM2-135M) rewarded by the ranking score of its programs.

Trains on 6 of the suite's 8 reward tasks and holds out one MuJoCo and one non-MuJoCo task
(walker_walk, crafter_place_table). Before and after training, in the same run and with the same
sampling seeds, ``--eval-samples`` programs per task are sampled under the task's reward grammar
and ranked on its reference episodes (invalid programs count -1). The references are those the
reward benchmark records (4,096-step PPO trainings of the human reward, the same cache key), so
that after ``benchmarks/reward_generation.py`` no policy is trained here.

With ``--loop``, the full Eureka loop also runs on each held-out task twice, with the untrained
and with the trained writer (same K, budget and seeds as the reward benchmark's default), for the
held-out tasks' human-normalised score before and after.

    python benchmarks/reward_writer.py                    # 16 updates of 8 programs
    python benchmarks/reward_writer.py --updates 48 --loop

Writes benchmarks/results/reward_writer.json (``heldout_tasks``, ``heldout_ranking_before``,
``heldout_ranking_after``, ``heldout_hns_before``, ``heldout_hns_after``, ``minutes``, per task
figures, the curve) and reward_writer.png (the group's mean and best ranking score per update).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from mentor.agents.reward_writer import (  # noqa: E402
    DEFAULT_HELDOUT,
    GRPOConfig,
    RewardWriterConfig,
    RewardWriterTrainer,
)
from mentor.benchmarks.provenance import LoadSampler, provenance  # noqa: E402
from mentor.executors import ExecutorConfig  # noqa: E402
from mentor.llm import LLMConfig, make_llm  # noqa: E402
from mentor.rewards.loop import RewardLoop  # noqa: E402
from mentor.rewards.loop_config import RewardLoopConfig  # noqa: E402
from mentor.rewards.tasks import get_reward_task  # noqa: E402
from mentor.runs import RunDir  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--updates", type=int, default=16, help="GRPO updates (one group of one task each)")
    parser.add_argument("--group-size", type=int, default=8, help="programs per update (G)")
    parser.add_argument("--eval-samples", type=int, default=8, help="programs per task before and after")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--kl-coef", type=float, default=0.02)
    parser.add_argument("--max-new-tokens", type=int, default=320)
    parser.add_argument("--heldout", default=",".join(DEFAULT_HELDOUT), help="comma-separated held-out tasks")
    parser.add_argument(
        "--loop", action="store_true", help="also run the full loop on the held-out tasks, both writers"
    )
    parser.add_argument("--loop-samples", type=int, default=8, help="K of the held-out loops")
    parser.add_argument("--loop-steps", type=int, default=4096, help="training budget of the held-out loops")
    parser.add_argument("--resume", type=Path, default=None, help="finish the writer run in this folder")
    parser.add_argument("--out", type=Path, default=RESULTS / "reward_writer.json")
    args = parser.parse_args()
    if min(args.updates + 1, args.group_size - 1, args.eval_samples, args.loop_samples, args.loop_steps) < 1:
        parser.error("--updates must be >= 0, --group-size >= 2, and --eval-samples, --loop-* >= 1")
    return args


def heldout_loop(task_name: str, llm, args: argparse.Namespace, label: str) -> dict:
    """The reward benchmark's loop (PPO, K candidates, top 2 trained, 2 final seeds) with ``llm`` as the writer."""
    task = dataclasses.replace(get_reward_task(task_name), algo="ppo")
    config = RewardLoopConfig(
        iterations=1,
        samples=args.loop_samples,
        temperature=0.7,
        max_new_tokens=args.max_new_tokens,
        steps=args.loop_steps,
        final_seeds=2,
        eval_episodes=5,
        prerank="drop",
        train_top=2,
        executor=ExecutorConfig(kind="process", num_workers=2),
    )
    result = RewardLoop(task, config, llm=llm, run=RunDir.create(f"bench-writer-{label}-{task_name}")).search()
    return {
        "human_normalized_score": result.human_normalized_score,
        "generated_ge_human": result.generated_ge_human,
        "best_fitness": (result.final or {}).get("fitness_mean"),
        "human_fitness": (result.human or {}).get("fitness_mean"),
        "valid_code_rate": result.valid_code_rate,
        "run_dir": result.run_dir,
    }


def plot_curve(records: list[dict], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    steps = [r["step"] for r in records]
    ax.plot(steps, [r["reward_mean"] for r in records], marker="o", markersize=3, label="group mean")
    ax.plot(steps, [r["reward_max"] for r in records], marker="^", markersize=3, alpha=0.6, label="group best")
    ax.set_xlabel("GRPO update (one task's group of programs)")
    ax.set_ylabel("ranking score (invalid: group minimum)")
    ax.set_ylim(-1.05, 1.05)
    ax.set_title("Reward writer training: ranking score of sampled programs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main() -> None:
    args = parse_args()
    console = Console()
    torch.set_num_threads(2)
    start = time.perf_counter()
    load = LoadSampler()
    load.start()
    if args.resume is not None:
        trainer = RewardWriterTrainer.resume(args.resume)
    else:
        config = RewardWriterConfig(
            heldout_tasks=args.heldout.split(","),
            updates=args.updates,
            eval_samples=args.eval_samples,
            grpo=GRPOConfig(
                group_size=args.group_size,
                learning_rate=args.learning_rate,
                kl_coef=args.kl_coef,
                max_new_tokens=args.max_new_tokens,
            ),
        )
        trainer = RewardWriterTrainer(config, RunDir.create("bench-reward-writer"))
    result = trainer.train()
    records = list(trainer.run.iter_metrics("update"))
    minutes = (records[-1]["seconds"] / 60.0) if records else 0.0
    heldout = result["heldout_tasks"]
    loops: dict[str, dict] = {}
    if args.loop:
        untrained = make_llm(LLMConfig(trainer.config.llm, cache=False))
        trained = make_llm(LLMConfig(trainer.config.llm, cache=False, adapter=result["adapter"]))
        for name in heldout:
            loops[name] = {
                "before": heldout_loop(name, untrained, args, "untrained"),
                "after": heldout_loop(name, trained, args, "trained"),
            }

    def mean_hns(kind: str) -> float | None:
        values = [loops[t][kind]["human_normalized_score"] for t in loops]
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    table = Table(title="Reward writer: mean ranking score of sampled programs, before -> after GRPO")
    for column in ("task", "split", "before", "after", "valid before", "valid after", "HNS before", "HNS after"):
        table.add_column(column)
    for name in [*result["train_tasks"], *heldout]:
        b, a = result["before"][name], result["after"][name]
        hns = loops.get(name, {})
        table.add_row(
            name,
            "held out" if name in heldout else "train",
            f"{b['mean_ranking_score']:.3f}",
            f"{a['mean_ranking_score']:.3f}",
            f"{b['valid_share']:.2f}",
            f"{a['valid_share']:.2f}",
            *(
                f"{hns[k]['human_normalized_score']:.3g}"
                if hns and hns[k]["human_normalized_score"] is not None
                else "-"
                for k in ("before", "after")
            ),
        )
    console.print(table)
    data = {
        "benchmark": "reward_writer",
        "trainer": "own GRPO (mentor.agents.reward_writer.ProgramGRPO): grammar-constrained sampling, which TRL's "
        "GRPOTrainer cannot do",
        "heldout_tasks": heldout,
        "train_tasks": result["train_tasks"],
        "heldout_ranking_before": result["heldout_ranking_before"],
        "heldout_ranking_after": result["heldout_ranking_after"],
        "train_ranking_before": result["train_ranking_before"],
        "train_ranking_after": result["train_ranking_after"],
        "heldout_hns_before": mean_hns("before"),
        "heldout_hns_after": mean_hns("after"),
        "heldout_loops": loops,
        "per_task": {"before": result["before"], "after": result["after"]},
        "updates": result["updates"],
        "minutes": minutes,
        "curve": records,
        "config": trainer.config.to_dict(),
        "run_dir": str(trainer.run.path),
        "adapter": result["adapter"],
        "seconds": time.perf_counter() - start,
        "provenance": provenance(load_average_1m=load.stop()),
    }
    if records:
        data["plot"] = plot_curve(records, args.out.with_name("reward_writer.png")).name
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    console.print(
        f"held-out mean ranking score {data['heldout_ranking_before']:.3f} -> {data['heldout_ranking_after']:.3f}; "
        f"training tasks {data['train_ranking_before']:.3f} -> {data['train_ranking_after']:.3f}; "
        f"{minutes:.1f} min of training; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
