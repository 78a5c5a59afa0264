"""Online PPO fine-tuning of the LLM high level over learned SB3 skills: success before and after, against env steps.

The embedded SmolLM2-135M picks skills by name (a softmax over its scores of the skills the options
env offers); the skills are a goal-conditioned SB3 PPO zoo trained now for ``--skill-steps`` on the
level (``--zoo PATH`` or ``--zoo latest`` reuses one). Only the high-level decisions are
fine-tuned (LoRA on the top layers, value head), so LLM calls stay rare. The greedy high level is
evaluated on held-out seeds, greedy and sampled (the policy PPO trains), before training and after
each of ``--points`` equal slices of ``--minutes`` of training. Env steps are low-level steps: skill
training and skill evaluation, plus the steps the skills took while the high level trained.

    python benchmarks/llm_finetune_hierarchical.py                      # KeyCorridorS3R3, 30 minutes
    python benchmarks/llm_finetune_hierarchical.py --env mentor/BabyAI-UnlockPickup-v0 --minutes 10
    python benchmarks/llm_finetune_hierarchical.py -p learning_rate=0.001 -p n_epochs=2    # FinetuneConfig fields

Writes benchmarks/results/llm_finetune_hierarchical.json (``zero_shot_success``, ``finetuned_success``,
``minutes``, ``env_steps``, the curve, throughput) and benchmarks/results/llm_finetune_hierarchical.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from mentor.agents.hierarchical import resolve_zoo  # noqa: E402
from mentor.agents.llm_ppo import FinetuneConfig, LLMFinetuner  # noqa: E402
from mentor.envs import make as make_env  # noqa: E402
from mentor.errors import ConfigError  # noqa: E402
from mentor.overrides import parse_overrides  # noqa: E402
from mentor.runs import RunDir  # noqa: E402
from mentor.skills.options import OptionsConfig, OptionsEnv  # noqa: E402
from mentor.skills.zoo import SkillZoo, SkillZooConfig, train_skill_zoo  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="mentor/MiniGrid-KeyCorridorS3R3-v0", help="MiniGrid/BabyAI level")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget of the high level")
    parser.add_argument("--points", type=int, default=3, help="evaluations during training")
    parser.add_argument("--eval-episodes", type=int, default=40, help="held-out episodes per evaluation")
    parser.add_argument("--max-options", type=int, default=16, help="skills per episode")
    parser.add_argument("--skill-steps", type=int, default=150_000, help="env steps of the skill zoo trained first")
    parser.add_argument(
        "--zoo", default=None, help="reuse a skill zoo: its folder, or 'latest' for the newest covering --env"
    )
    parser.add_argument("--llm", default="transformers:embedded", help="LLM spec of a transformers model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", "-p", action="append", default=[], help="FinetuneConfig override key=value")
    parser.add_argument("--out", type=Path, default=RESULTS / "llm_finetune_hierarchical.json")
    args = parser.parse_args()
    if args.minutes <= 0 or args.points < 1 or args.eval_episodes < 1:
        parser.error("--minutes must be positive, --points and --eval-episodes at least 1")
    if args.zoo is not None:
        try:
            args.zoo = resolve_zoo(args.zoo, args.env)
        except ConfigError as e:
            parser.error(str(e))
    return args


def load_zoo(args: argparse.Namespace, run: RunDir) -> SkillZoo:
    if args.zoo is not None:
        return SkillZoo.load(args.zoo)
    zoo_run = RunDir(run.path / "skills")
    zoo_run.path.mkdir(parents=True, exist_ok=True)
    return train_skill_zoo(SkillZooConfig([args.env], total_timesteps=args.skill_steps, seed=args.seed), zoo_run)


def brief(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "outcomes"}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    run = RunDir.create(f"bench-llm-finetune-hierarchical-{args.env.split('/')[-1]}")
    print(f"run folder: {run.path}", flush=True)
    zoo = load_zoo(args, run)
    print(f"skills: {zoo.path} ({zoo.num_env_steps:,} env steps of skill training and evaluation)", flush=True)

    def options_env() -> OptionsEnv:
        return OptionsEnv(make_env(args.env), zoo, OptionsConfig(max_options=args.max_options))

    settings = dict(
        prompt_template="{text}\nNext skill:",
        model=args.llm,
        num_threads=1,
        normalize="token",
        trainable_layers=2,
        n_envs=8,
        n_steps=16,
        total_timesteps=None,
        max_minutes=args.minutes / args.points,
        learning_rate=3e-3,
        n_epochs=4,
        batch_size=32,
        gamma=0.95,
        seed=args.seed,
        n_eval_episodes=args.eval_episodes,
        verbose=True,
    )
    config = FinetuneConfig(args.env, **{**settings, **parse_overrides(args.set)})
    trainer = LLMFinetuner(config, RunDir(run.path / "llm-ppo"), env_fn=options_env)
    training_low_level_steps = 0

    def point(label: str) -> dict:
        greedy = trainer.evaluate(deterministic=True)
        sampled = trainer.evaluate(deterministic=False)
        low = zoo.num_env_steps + training_low_level_steps
        row = {
            "label": label,
            "training_minutes": trainer.train_seconds / 60,
            "high_level_steps": trainer.num_timesteps,
            "env_steps": low,
            "success_rate": greedy["success_rate"],
            "sampled_success_rate": sampled["success_rate"],
            "mean_return": greedy["mean_return"],
            "sampled_mean_return": sampled["mean_return"],
            "mean_episode_length": greedy["mean_length"],
            "sampled_mean_episode_length": sampled["mean_length"],
        }
        print(
            f"{label}: success greedy {100 * row['success_rate']:.0f}%, sampled "
            f"{100 * row['sampled_success_rate']:.0f}% over {args.eval_episodes} held-out episodes "
            f"at {low:,} env steps ({trainer.num_timesteps:,} skill choices trained on)",
            flush=True,
        )
        return row

    start = time.perf_counter()
    curve = [point("zero-shot")]
    for i in range(args.points):
        trainer.config.max_minutes = args.minutes * (i + 1) / args.points
        summary = trainer.train()
        training_low_level_steps = sum(slot.env.num_env_steps for slot in trainer.slots)
        curve.append(point(f"after {trainer.config.max_minutes:.1f} min"))
    trainer.close()

    results = {
        "benchmark": "llm_finetune_hierarchical",
        "command": " ".join(["python benchmarks/llm_finetune_hierarchical.py", *sys.argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "env_id": args.env,
        "llm": config.model,
        "zoo": str(zoo.path),
        "skill_training_env_steps": zoo.num_timesteps,
        "skill_evaluation_env_steps": zoo.eval_env_steps,
        "zero_shot_success": curve[0]["success_rate"],
        "finetuned_success": curve[-1]["success_rate"],
        "zero_shot_sampled_success": curve[0]["sampled_success_rate"],
        "finetuned_sampled_success": curve[-1]["sampled_success_rate"],
        "minutes": trainer.train_seconds / 60,
        "env_steps": curve[-1]["env_steps"],
        "high_level_steps": trainer.num_timesteps,
        "eval_episodes": args.eval_episodes,
        "max_options": args.max_options,
        "curve": curve,
        "throughput": {
            "high_level_steps_per_s": summary["env_steps_per_s"],
            "low_level_env_steps_per_s": training_low_level_steps / max(trainer.train_seconds, 1e-9),
            "llm_forwards_per_s": summary["llm_forwards_per_s"],
        },
        "wall_seconds": time.perf_counter() - start,
        "cpus": os.cpu_count(),
        "run_dir": str(run.path),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    png = args.out.with_suffix(".png")
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    steps = [p["env_steps"] for p in curve]
    ax.plot(steps, [100 * p["success_rate"] for p in curve], marker="o", label="greedy skill choice")
    ax.plot(steps, [100 * p["sampled_success_rate"] for p in curve], marker="s", label="sampled skill choice")
    ax.axvline(zoo.num_env_steps, color="grey", linestyle=":", label="skill training ends; fine-tuning starts")
    ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("env steps (skill training + skills run while the high level trains)")
    ax.set_ylabel(f"success rate (%), {args.eval_episodes} held-out seeds")
    ax.set_ylim(-2, 102)
    ax.set_title(f"LLM high level over SB3 skills, {args.env.split('/')[-1]}: PPO fine-tuning", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out} and {png}")


if __name__ == "__main__":
    main()
