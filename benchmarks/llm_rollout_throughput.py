"""Throughput of online LLM fine-tuning, old path against new in one run: float32 on one core against bfloat16.

Each arm is a :class:`~mentor.agents.llm_ppo_config.FinetuneConfig` of ``--config`` (the flat benchmark's,
BabyAI-Text GoToObj) with its own overrides. The arms train from the same seed, one update each in
turn (A, B, A, B, ...), so that a noisy machine slows both alike; env steps per training second are
summed over each arm's updates and the ratio last arm / first is ``rollout_speedup``. torch's thread
count is process-wide, so it is set to each arm's ``num_threads`` before the arm runs. The default
arms are the config's old path (float32, one thread), bfloat16 on one thread (the same cores), and
bfloat16 on both of this machine's cores. One update of each
arm runs under cProfile, and its top costs (trunk, head, env, update forward and backward) go into
the JSON. Before training, both arms score the same held-out observations: the largest difference
of their action log-probs and how often their greedy actions agree say what bfloat16 changes. After
``--updates`` updates, each arm is evaluated greedily on ``--eval-episodes`` held-out seeds, so that
the speed-up is shown at the same success after training.

    python benchmarks/llm_rollout_throughput.py                       # 25 updates (6,400 env steps) per arm
    python benchmarks/llm_rollout_throughput.py --updates 3 --eval-episodes 0   # a quick check
    python benchmarks/llm_rollout_throughput.py --arm old:dtype=float32 --arm new:dtype=bfloat16,num_threads=2

With ``--zoo`` (a skill zoo's folder, e.g. from ``mentor train skills``) the env is the options env over
that zoo and the config defaults to the hierarchical high level's (``hierarchical_high_level.yml``):
the same arms on skill choices, each env step a whole skill run by its SB3 policy.

    python benchmarks/llm_rollout_throughput.py --zoo runs/<run>/skills --updates 6 --eval-episodes 0 \\
        --out benchmarks/results/llm_rollout_throughput_hierarchical.json

Writes benchmarks/results/llm_rollout_throughput.json (``rollout_speedup``, per arm ``env_steps_per_s``,
``profile``, ``success``) and benchmarks/results/llm_rollout_throughput.png.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from mentor.agents.llm_ppo import LLMFinetuner  # noqa: E402
from mentor.agents.llm_ppo_config import FinetuneConfig  # noqa: E402
from mentor.benchmarks.provenance import LoadSampler, provenance  # noqa: E402
from mentor.envs import make  # noqa: E402
from mentor.evaluation.episodes import EVAL_SEED_OFFSET  # noqa: E402
from mentor.overrides import parse_overrides  # noqa: E402
from mentor.paths import configs_root  # noqa: E402
from mentor.runs import RunDir  # noqa: E402
from mentor.skills.options import OptionsConfig, OptionsEnv  # noqa: E402
from mentor.skills.zoo import SkillZoo  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DEFAULT_CONFIG = configs_root() / "llm_ppo" / "babyai_gotoobj.yml"
HIGH_LEVEL_CONFIG = configs_root() / "llm_ppo" / "hierarchical_high_level.yml"
DEFAULT_ARMS = (
    "float32:dtype=float32,num_threads=1",
    "bfloat16:dtype=bfloat16,num_threads=1",
    "bfloat16-2-threads:dtype=bfloat16,num_threads=2",
)
#: Functions whose cumulative time the profile reports, by (file suffix, function name).
PROFILED = {
    "rollout": ("llm_on_policy.py", "_collect_rollouts"),
    "rollout: frozen trunk (cache misses)": ("llm_policy.py", "trunk"),
    "rollout: env steps (whole skills with --zoo)": ("llm_rollout_buffer.py", "step"),
    "rollout: text view and tokenizing": ("llm_decisions.py", "encode"),
    "update": ("llm_ppo.py", "_update"),
    "update: forward and loss": ("llm_ppo.py", "_minibatch_loss"),
    "update: backward": ("_tensor.py", "backward"),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None, help="YAML of FinetuneConfig fields")
    parser.add_argument("--zoo", type=Path, default=None, help="skill zoo folder: fine-tune the high level over it")
    parser.add_argument("--max-options", type=int, default=16, help="skills per episode (with --zoo)")
    parser.add_argument(
        "--arm",
        action="append",
        default=None,
        help="name:key=value,... overrides of one arm; the first arm is the old path (default: float32, bfloat16)",
    )
    parser.add_argument("--updates", type=int, default=25, help="updates per arm")
    parser.add_argument("--eval-episodes", type=int, default=100, help="held-out greedy episodes per arm (0: none)")
    parser.add_argument("--probe-observations", type=int, default=32, help="held-out observations scored by both")
    parser.add_argument("--out", type=Path, default=RESULTS / "llm_rollout_throughput.json", help="JSON output path")
    args = parser.parse_args()
    if args.config is None:
        args.config = HIGH_LEVEL_CONFIG if args.zoo is not None else DEFAULT_CONFIG
    if args.updates < 2:
        parser.error("--updates must be >= 2 (one of them is profiled)")
    return args


def parse_arm(text: str) -> tuple[str, dict[str, Any]]:
    name, _, overrides = text.partition(":")
    return name, parse_overrides([item for item in overrides.split(",") if item])


def profile_costs(profile: cProfile.Profile, seconds: float) -> dict[str, Any]:
    """Cumulative seconds of the :data:`PROFILED` functions and the ten largest self times, in one update."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    named = {label: 0.0 for label in PROFILED}
    for (filename, _, function), (_, _, _, cumulative, _) in stats.items():
        for label, (suffix, name) in PROFILED.items():
            if function == name and filename.endswith(suffix):
                named[label] = max(named[label], cumulative)
    top = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:10]
    return {
        "update_seconds": seconds,
        "cumulative_seconds": named,
        "top_self_seconds": [
            {"function": f"{Path(filename).name}:{line}({function})", "seconds": own, "calls": calls}
            for (filename, line, function), (_, calls, own, _, _) in top
        ],
    }


def use_threads(trainer: LLMFinetuner, default: int) -> None:
    """Set torch's process-wide thread count to the trainer's ``num_threads`` (``default`` when None)."""
    torch.set_num_threads(trainer.config.num_threads or default)


def probe(trainers: dict[str, LLMFinetuner], count: int, threads: int) -> dict[str, Any]:
    """Action log-probs of the untrained arms on the first observations of held-out episodes, against the first arm."""
    log_probs = {}
    for name, trainer in trainers.items():
        use_threads(trainer, threads)
        slots = trainer.slots[:1]
        rows = []
        for i in range(count):
            slots[0].reset(EVAL_SEED_OFFSET + i)
            out = trainer._policy_output(trainer.decisions.encode(slots), [slots[0].prior], values=False)[0]
            rows.append(out.log_probs().float().cpu()[0])
        width = max(len(row) for row in rows)
        log_probs[name] = torch.stack([torch.nn.functional.pad(r, (0, width - len(r)), value=-torch.inf) for r in rows])
    base_name, base = next(iter(log_probs.items()))
    offered = torch.isfinite(base)
    return {
        "observations": count,
        "reference": base_name,
        "max_abs_logprob_difference": {n: float((lp - base)[offered].abs().max()) for n, lp in log_probs.items()},
        "greedy_agreement": {
            n: float((lp.argmax(-1) == base.argmax(-1)).float().mean()) for n, lp in log_probs.items()
        },
    }


def main() -> None:
    args = parse_args()
    console = Console()
    base = yaml.safe_load(args.config.read_text()) or {}
    arms = dict(parse_arm(text) for text in (args.arm or DEFAULT_ARMS))
    threads = torch.get_num_threads()
    env_fn = None
    if args.zoo is not None:
        zoo = SkillZoo.load(args.zoo)

        def env_fn() -> OptionsEnv:
            return OptionsEnv(make(base["env_id"]), zoo, OptionsConfig(max_options=args.max_options))

    trainers: dict[str, LLMFinetuner] = {}
    for name, overrides in arms.items():
        data = {**base, **overrides, "max_minutes": None, "total_timesteps": 1, "eval_freq": 0, "verbose": False}
        run = RunDir.create(f"bench-llm-throughput-{name}")
        trainers[name] = LLMFinetuner(FinetuneConfig.from_dict(data), run, env_fn=env_fn)
    agreement = probe(trainers, args.probe_observations, threads)
    console.print(f"arms {', '.join(arms)}; untrained log-prob agreement: {agreement}")

    rollout = next(iter(trainers.values())).config.rollout_size
    load = LoadSampler()
    load.start()
    profiles: dict[str, dict[str, Any]] = {}
    for update in range(1, args.updates + 1):
        for name, trainer in trainers.items():
            use_threads(trainer, threads)
            trainer.config.total_timesteps = update * rollout
            profiler = cProfile.Profile() if update == 2 else None
            before = trainer.train_seconds
            if profiler is not None:
                profiler.enable()
            trainer.train()
            if profiler is not None:
                profiler.disable()
                profiles[name] = profile_costs(profiler, trainer.train_seconds - before)
        console.print(
            f"update {update}/{args.updates}: "
            + ", ".join(f"{n} {t.summary()['env_steps_per_s']:.2f} steps/s" for n, t in trainers.items())
        )
    load_during = load.stop()

    results: dict[str, Any] = {"arms": {}, "probe": agreement}
    for name, trainer in trainers.items():
        summary = trainer.summary()
        records = list(trainer.run.iter_metrics("update"))
        use_threads(trainer, threads)
        evaluation = trainer.evaluate(args.eval_episodes) if args.eval_episodes else None
        results["arms"][name] = {
            "overrides": arms[name],
            "env_steps": summary["env_steps"],
            "train_seconds": 60 * summary["minutes"],
            "env_steps_per_s": summary["env_steps_per_s"],
            "rollout_seconds": sum(r["time/rollout_seconds"] for r in records),
            "update_seconds": sum(r["time/update_seconds"] for r in records),
            "trunk_cache_hit_rate": summary["trunk_cache_hit_rate"],
            "profile": profiles[name],
            "success": evaluation["success_rate"] if evaluation else None,
            "eval_episodes": args.eval_episodes,
            "curve": [
                {"env_steps": r["step"], "seconds": r["seconds"], "success": r["rollout/success_rate"]} for r in records
            ],
        }
        trainer.close()
    names = list(trainers)
    old, new = results["arms"][names[0]], results["arms"][names[-1]]
    for arm in results["arms"].values():
        arm["env_steps_per_s_vs_first_arm"] = arm["env_steps_per_s"] / old["env_steps_per_s"]
    results["rollout_speedup"] = {
        "old": names[0],
        "new": names[-1],
        "env_steps_per_s_ratio": new["env_steps_per_s"] / old["env_steps_per_s"],
        "rollout_seconds_ratio": old["rollout_seconds"] / new["rollout_seconds"],
        "update_seconds_ratio": old["update_seconds"] / new["update_seconds"],
    }
    results["setup"] = provenance(
        config=str(args.config),
        zoo=str(args.zoo) if args.zoo else None,
        updates=args.updates,
        load_average_1m_during_training=load_during,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    png = args.out.with_suffix(".png")
    plot(results, png)

    table = Table(title=f"{base.get('env_id')}: {args.updates} updates per arm, one after the other")
    for column in ("arm", "env steps/s", "vs first", "rollout s", "update s", "trunk s (1 update)", "greedy success"):
        table.add_column(column, justify="left" if column == "arm" else "right")
    for name, arm in results["arms"].items():
        success = "-" if arm["success"] is None else f"{100 * arm['success']:.0f}% of {arm['eval_episodes']}"
        table.add_row(
            name,
            f"{arm['env_steps_per_s']:.2f}",
            f"{arm['env_steps_per_s_vs_first_arm']:.2f}x",
            f"{arm['rollout_seconds']:.0f}",
            f"{arm['update_seconds']:.0f}",
            f"{arm['profile']['cumulative_seconds']['rollout: frozen trunk (cache misses)']:.1f}",
            success,
        )
    console.print(table)
    speedup = results["rollout_speedup"]
    console.print(
        f"{speedup['new']} / {speedup['old']}: {speedup['env_steps_per_s_ratio']:.2f}x env steps/s "
        f"(rollouts {speedup['rollout_seconds_ratio']:.2f}x, updates {speedup['update_seconds_ratio']:.2f}x); "
        f"load {load_during['mean']:.2f} mean; wrote {args.out} and {png}"
    )


def plot(results: dict[str, Any], path: Path) -> None:
    """Per arm: env steps against training minutes, and the success of its training episodes against env steps."""
    fig, (speed, learning) = plt.subplots(1, 2, figsize=(11, 4.0))
    for name, arm in results["arms"].items():
        success = "" if arm["success"] is None else f", greedy held-out success {100 * arm['success']:.0f}%"
        curve = arm["curve"]
        speed.plot(
            [0] + [c["seconds"] / 60 for c in curve],
            [0] + [c["env_steps"] for c in curve],
            marker="o",
            markersize=3,
            label=f"{name}: {arm['env_steps_per_s']:.1f} env steps/s{success}",
        )
        points = [(c["env_steps"], 100 * c["success"]) for c in curve if c["success"] is not None]
        learning.plot(*zip(*points), marker="o", markersize=3, alpha=0.7, label=name)
    speed.set_xlabel("training minutes")
    speed.set_ylabel("env steps")
    ratio = results["rollout_speedup"]["env_steps_per_s_ratio"]
    speed.set_title(f"throughput, same config and seed: {ratio:.2f}x", fontsize=10)
    learning.set_xlabel("env steps")
    learning.set_ylabel("success of the update's training episodes (%)")
    learning.set_ylim(-2, 102)
    learning.set_title("learning at the same env steps", fontsize=10)
    for ax in (speed, learning):
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
