"""Online PPO fine-tuning of the LLM high level over learned SB3 skills, beside SayCan on the same seeds and skills.

The embedded SmolLM2-135M picks skills by name: a softmax over its scores of the skills the options
env offers, plus ``prior_weight`` times SayCan's log prior (each skill's affordance, its SB3 value,
and SayCan's repeat penalty), so that at ``prior_weight=1`` the untrained greedy policy is SayCan.
Each ``--prior-weights`` arm fine-tunes a fresh policy from the same zoo (``0`` is the ablation
without the prior). The skills are a goal-conditioned SB3 PPO zoo trained now for ``--skill-steps``
on ``--skill-envs`` together (``--zoo PATH`` or ``--zoo latest`` reuses one). Only the high-level
decisions are fine-tuned (LoRA on the top layers, value head; the settings of
``configs/llm_ppo/hierarchical_high_level.yml``, ``-p`` overrides them). Every policy is evaluated on the same
held-out seeds, greedy and sampled, before training and after each of ``--points`` equal slices of
``--minutes``; SayCan (``mentor.planners``, the hierarchical agent's ``saycan`` high level) plays the
same seeds with the same zoo. Env steps are low-level steps: skill training and skill evaluation,
plus the steps the skills took while the high level trained.

    python benchmarks/llm_finetune_hierarchical.py                      # KeyCorridorS3R3, prior 1 and 0, 30 minutes each
    python benchmarks/llm_finetune_hierarchical.py --env mentor/BabyAI-UnlockPickup-v0 --minutes 10 --prior-weights 1
    python benchmarks/llm_finetune_hierarchical.py -p learning_rate=0.001 -p n_epochs=2    # FinetuneConfig fields
    python benchmarks/llm_finetune_hierarchical.py --env mentor/MiniGrid-MultiRoom-N4-S5-v0 --levels-only

Each run puts its level's row (SayCan and every arm, with its command, date and zoo) into ``levels``,
keeping the rows of other levels; ``--levels-only`` changes nothing else in the file.

Writes benchmarks/results/llm_finetune_hierarchical.json (``saycan_success``, ``zero_shot_success``
and ``finetuned_success`` of the first arm, ``arms`` with each arm's curve, ``levels``, throughput)
and a plot beside it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from mentor.agents.hierarchical import (  # noqa: E402
    DEMO_SKILL_ENV_IDS,
    HierarchicalAgent,
    HierarchicalConfig,
    resolve_zoo,
)
from mentor.agents.llm_ppo import LLMFinetuner  # noqa: E402
from mentor.agents.llm_ppo_config import FinetuneConfig  # noqa: E402
from mentor.benchmarks.provenance import provenance  # noqa: E402
from mentor.envs import make as make_env  # noqa: E402
from mentor.errors import ConfigError  # noqa: E402
from mentor.overrides import parse_overrides  # noqa: E402
from mentor.paths import configs_root  # noqa: E402
from mentor.runs import RunDir  # noqa: E402
from mentor.skills.options import OptionsConfig, OptionsEnv  # noqa: E402
from mentor.skills.zoo import SkillZoo, SkillZooConfig, train_skill_zoo  # noqa: E402

RESULTS = Path(__file__).parent / "results"
HIGH_LEVEL_CONFIG = configs_root() / "llm_ppo" / "hierarchical_high_level.yml"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="mentor/MiniGrid-KeyCorridorS3R3-v0", help="MiniGrid/BabyAI level")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget of the high level, per arm")
    parser.add_argument("--points", type=int, default=3, help="evaluations during training")
    parser.add_argument("--eval-episodes", type=int, default=40, help="held-out episodes per evaluation")
    parser.add_argument("--max-options", type=int, default=16, help="skills per episode")
    parser.add_argument(
        "--prior-weights", default="1,0", help="comma-separated prior_weight of each arm (0: no SayCan prior)"
    )
    parser.add_argument("--skill-steps", type=int, default=150_000, help="env steps of the skill zoo trained first")
    parser.add_argument(
        "--skill-envs",
        default=",".join(DEMO_SKILL_ENV_IDS),
        help="comma-separated levels the skill zoo trains on together (--env is added when missing)",
    )
    parser.add_argument(
        "--zoo", default=None, help="reuse a skill zoo: its folder, or 'latest' for the newest covering --env"
    )
    parser.add_argument("--llm", default="transformers:embedded", help="LLM spec of a transformers model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", "-p", action="append", default=[], help="FinetuneConfig override key=value")
    parser.add_argument(
        "--levels-only",
        action="store_true",
        help="only add or replace this level's row in the existing --out file's levels",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "llm_finetune_hierarchical.json")
    args = parser.parse_args()
    if args.minutes <= 0 or args.points < 1 or args.eval_episodes < 1:
        parser.error("--minutes must be positive, --points and --eval-episodes at least 1")
    try:
        args.prior_weights = [float(w) for w in args.prior_weights.split(",")]
    except ValueError:
        parser.error(f"--prior-weights {args.prior_weights!r} must be comma-separated numbers, e.g. 1,0")
    if args.levels_only and not args.out.exists():
        parser.error(f"--levels-only adds a row to an existing results file, and {args.out} does not exist")
    envs = [e for e in args.skill_envs.split(",") if e]
    args.skill_envs = envs if args.env in envs else [args.env, *envs]
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
    return train_skill_zoo(SkillZooConfig(args.skill_envs, total_timesteps=args.skill_steps, seed=args.seed), zoo_run)


def saycan_success(args: argparse.Namespace, zoo: SkillZoo, run: RunDir) -> dict:
    """SayCan (the hierarchical agent's ``saycan`` high level) on the held-out seeds the fine-tuned policies play."""
    config = HierarchicalConfig(
        args.env,
        planner="saycan",
        zoo=str(zoo.path),
        n_eval_episodes=args.eval_episodes,
        max_options=args.max_options,
        seed=args.seed,
        llm=args.llm,
    )
    result = HierarchicalAgent(config, RunDir(run.path / "saycan")).evaluate()
    print(
        f"SayCan: success {100 * result['success_rate']:.0f}% over {args.eval_episodes} held-out episodes", flush=True
    )
    return {"success_rate": result["success_rate"], "mean_return": result["mean_return"]}


def run_arm(args: argparse.Namespace, zoo: SkillZoo, run: RunDir, prior_weight: float) -> dict:
    """Fine-tune one policy with this prior weight; its curve of held-out success and its throughput."""

    def options_env() -> OptionsEnv:
        return OptionsEnv(make_env(args.env), zoo, OptionsConfig(max_options=args.max_options))

    settings = yaml.safe_load(HIGH_LEVEL_CONFIG.read_text())
    settings.update(
        env_id=args.env,
        model=args.llm,
        max_minutes=args.minutes / args.points,
        prior_weight=prior_weight,
        seed=args.seed,
        n_eval_episodes=args.eval_episodes,
        verbose=True,
    )
    config = FinetuneConfig.from_dict({**settings, **parse_overrides(args.set)})
    trainer = LLMFinetuner(config, RunDir(run.path / f"llm-ppo-prior-{prior_weight:g}"), env_fn=options_env)
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
            f"prior {prior_weight:g}, {label}: success greedy {100 * row['success_rate']:.0f}%, sampled "
            f"{100 * row['sampled_success_rate']:.0f}% over {args.eval_episodes} held-out episodes "
            f"at {low:,} env steps ({trainer.num_timesteps:,} skill choices trained on)",
            flush=True,
        )
        return row

    curve = [point("zero-shot")]
    for i in range(args.points):
        trainer.config.max_minutes = args.minutes * (i + 1) / args.points
        summary = trainer.train()
        training_low_level_steps = sum(slot.env.num_env_steps for slot in trainer.slots)
        curve.append(point(f"after {trainer.config.max_minutes:.1f} min"))
    trainer.close()
    return {
        "prior_weight": prior_weight,
        "config": config.to_dict(),
        "zero_shot_success": curve[0]["success_rate"],
        "finetuned_success": curve[-1]["success_rate"],
        "zero_shot_sampled_success": curve[0]["sampled_success_rate"],
        "finetuned_sampled_success": curve[-1]["sampled_success_rate"],
        "minutes": trainer.train_seconds / 60,
        "env_steps": curve[-1]["env_steps"],
        "high_level_steps": trainer.num_timesteps,
        "curve": curve,
        "throughput": {
            "high_level_steps_per_s": summary["env_steps_per_s"],
            "low_level_env_steps_per_s": training_low_level_steps / max(trainer.train_seconds, 1e-9),
            "llm_forwards_per_s": summary["llm_forwards_per_s"],
        },
    }


def plot(args: argparse.Namespace, zoo: SkillZoo, arms: list[dict], saycan: dict, png: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    for arm, color in zip(arms, ("tab:blue", "tab:orange", "tab:green", "tab:purple")):
        steps = [p["env_steps"] for p in arm["curve"]]
        label = f"fine-tuned LLM, prior weight {arm['prior_weight']:g}"
        ax.plot(steps, [100 * p["success_rate"] for p in arm["curve"]], marker="o", color=color, label=label)
        ax.plot(
            steps,
            [100 * p["sampled_success_rate"] for p in arm["curve"]],
            marker="s",
            linestyle="--",
            color=color,
            alpha=0.6,
            label=f"{label} (sampled)",
        )
    ax.axhline(100 * saycan["success_rate"], color="black", linestyle="-.", label="SayCan (untrained), same seeds")
    ax.axvline(zoo.num_env_steps, color="grey", linestyle=":", label="skill training ends; fine-tuning starts")
    ax.legend(loc="best", fontsize=7)
    ax.set_xlabel("env steps (skill training + skills run while the high level trains)")
    ax.set_ylabel(f"success rate (%), {args.eval_episodes} held-out seeds")
    ax.set_ylim(-2, 102)
    ax.set_title(f"LLM high level over SB3 skills, {args.env.split('/')[-1]}: PPO fine-tuning", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    run = RunDir.create(f"bench-llm-finetune-hierarchical-{args.env.split('/')[-1]}")
    print(f"run folder: {run.path}", flush=True)
    zoo = load_zoo(args, run)
    print(f"skills: {zoo.path} ({zoo.num_env_steps:,} env steps of skill training and evaluation)", flush=True)
    start = time.perf_counter()
    saycan = saycan_success(args, zoo, run)
    arms = [run_arm(args, zoo, run, w) for w in args.prior_weights]
    first = arms[0]
    level = {
        "env_id": args.env,
        "saycan_success": saycan["success_rate"],
        **{f"prior_{arm['prior_weight']:g}_zero_shot_success": arm["zero_shot_success"] for arm in arms},
        **{f"prior_{arm['prior_weight']:g}_finetuned_success": arm["finetuned_success"] for arm in arms},
        "minutes_per_arm": first["minutes"],
        "eval_episodes": args.eval_episodes,
        "zoo": str(zoo.path),
        "run_dir": str(run.path),
    }
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    provenance_now = provenance()
    level.update(command=provenance_now["command"], date=provenance_now["date"])
    levels = [row for row in previous.get("levels", []) if row["env_id"] != args.env] + [level]
    if args.levels_only:
        previous["levels"] = levels
        png = args.out.with_name(f"{args.out.stem}_{args.env.split('/')[-1]}.png")
        plot(args, zoo, arms, saycan, png)
        args.out.write_text(json.dumps(previous, indent=2) + "\n")
        print(f"wrote the {args.env} row of {args.out}, and {png}")
        return
    results = {
        "benchmark": "llm_finetune_hierarchical",
        "env_id": args.env,
        "llm": args.llm,
        "zoo": str(zoo.path),
        "skill_envs": zoo.info.get("env_ids", args.skill_envs),
        "skill_training_env_steps": zoo.num_timesteps,
        "skill_evaluation_env_steps": zoo.eval_env_steps,
        "saycan_success": saycan["success_rate"],
        "prior_weight": first["prior_weight"],
        "zero_shot_success": first["zero_shot_success"],
        "finetuned_success": first["finetuned_success"],
        "zero_shot_sampled_success": first["zero_shot_sampled_success"],
        "finetuned_sampled_success": first["finetuned_sampled_success"],
        "minutes": first["minutes"],
        "env_steps": first["env_steps"],
        "high_level_steps": first["high_level_steps"],
        "eval_episodes": args.eval_episodes,
        "max_options": args.max_options,
        "curve": first["curve"],
        "throughput": first["throughput"],
        "arms": arms,
        "levels": levels,
        "wall_seconds": time.perf_counter() - start,
        "run_dir": str(run.path),
        **provenance_now,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    png = args.out.with_suffix(".png")
    plot(args, zoo, arms, saycan, png)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out} and {png}")


if __name__ == "__main__":
    main()
