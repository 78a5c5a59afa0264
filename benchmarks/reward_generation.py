"""Reward generation on the task suite (configs/reward_tasks.yaml) against any LLM backend.

For every task, the Eureka loop runs with the configured LLM: K candidates per iteration, sampled
under the reward grammar, gated, validated in the sandbox and given a ranking score (the rank
correlation of their returns with the fitness of recorded reference episodes: random, snapshots
of the human-reward policy along its training, that policy with random actions mixed in). The
screen keeps the ``--train-top`` best-ranked; in audit mode (the default) every candidate is
trained anyway, so that the screen can be judged against real trainings, while the reward carried
forward and chosen is the best that passed the screen, as without the audit. The chosen reward is
re-trained with several seeds, next to the task's human reward and its sparse (fitness) reward
with the same budget and seeds. Per task: the valid-code rate, the rejections by stage and reason, the best
fitness, the human-normalised score (method - sparse) / (human - sparse), and whether generated >=
human (``None`` when nothing trained or there is no human baseline to compare with; the share is
over the comparable tasks only, ``num_comparable_tasks``); the mean human-normalised score over
the tasks where it is defined; and how well the screen predicts: per task, the rank correlation of
the candidates' ranking scores with their fitness after training, averaged over the tasks
(``screen_vs_trained_correlation``), and the same over all candidates pooled, with each fitness
normalised by its task's human and sparse fitness (plotted in ``reward_screen.png``).

Algorithm: ``--algo ppo`` (the default) trains every task with PPO, to fit a 2-core machine; the
per-env choice (SAC on MuJoCo, PPO elsewhere, as ``mentor reward`` does) is ``--algo task``. The
choice is written into the JSON config and the table title.

Also, in the same run:
- parallel speed: K = 4 candidate trainings (known valid rewards) through the process executor
  with 2 workers against 1 worker (same jobs, same per-job setup); ``parallel_speedup`` is the ratio,
  next to a control (the same trainings on the env's own reward, no sandbox) that shows what the
  machine allowed at the time;
- IPC overhead of the sandbox: per-call latency against calling the same reward in-process, per
  transition and per batch, and the share of training time spent in reward calls;
- pre-ranking: training time it would save and how often it flags the eventual winner.

    python benchmarks/reward_generation.py                          # embedded SmolLM2, small budgets
    python benchmarks/reward_generation.py --tasks doorkey,hopper_hop --llm openai:http://localhost:8000/v1#qwen
    python benchmarks/reward_generation.py --steps 1000000 --final-seeds 5 --iterations 5 --samples 16   # paper-sized

Writes benchmarks/results/reward_generation.json with ``tasks`` (one row per task) and
``parallel_speedup``. Small default budgets are for this 2-core machine; the policies they train
are far from converged, so fitness figures are only comparable within a row.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from mentor.benchmarks.provenance import provenance
from mentor.benchmarks.reward_suite import algo_description, bench_task, plot_screen, summarize, task_row
from mentor.executors import ExecutorConfig, make_executor
from mentor.llm import make_llm
from mentor.rewards.loop import RewardLoop
from mentor.rewards.loop_config import RewardLoopConfig
from mentor.rewards.rollouts import record_episodes
from mentor.rewards.sandbox import RewardSandbox
from mentor.rewards.tasks import REWARD_ALGOS, get_reward_task, load_reward_tasks
from mentor.rewards.training import RewardTrainJob, train_reward_job
from mentor.runs import RunDir

RESULTS = Path(__file__).parent / "results" / "reward_generation.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", default="transformers:embedded", help="LLM spec (default: the embedded SmolLM2-135M)")
    parser.add_argument("--tasks", default=None, help="comma-separated task names (default: every task)")
    parser.add_argument("--iterations", type=int, default=1, help="Eureka iterations per task")
    parser.add_argument("--samples", type=int, default=8, help="candidates per iteration (K)")
    parser.add_argument("--train-top", type=int, default=2, help="best-ranked candidates the screen trains")
    parser.add_argument("--max-new-tokens", type=int, default=160, help="most tokens per LLM answer")
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature")
    parser.add_argument("--steps", type=int, default=4096, help="env steps per candidate training")
    parser.add_argument("--final-steps", type=int, default=None, help="env steps of final and baseline trainings")
    parser.add_argument("--final-seeds", type=int, default=2, help="seeds of the final reward and each baseline")
    parser.add_argument("--eval-episodes", type=int, default=3, help="held-out episodes per trained policy")
    parser.add_argument(
        "--prerank",
        default="audit",
        choices=["drop", "audit"],
        help="drop: train only what passes the screen; audit: train every candidate too, to judge the screen",
    )
    parser.add_argument(
        "--algo",
        default="ppo",
        choices=[*REWARD_ALGOS, "task"],
        help="SB3 algorithm of every training (default ppo for every task, to fit a 2-core machine); "
        "'task': each task's own (sac on MuJoCo, ppo elsewhere)",
    )
    parser.add_argument("--workers", type=int, default=2, help="parallel trainings")
    parser.add_argument("--parallel-task", default="halfcheetah_forward", help="task of the parallel-speed measurement")
    parser.add_argument("--parallel-steps", type=int, default=3072, help="env steps per job in the speed measurement")
    parser.add_argument("--speed-repeats", type=int, default=2, help="alternating repeats of the speed measurement")
    parser.add_argument(
        "--skip-speed",
        action="store_true",
        help="keep the parallel-speed and IPC figures of an existing --out instead of measuring them again",
    )
    parser.add_argument(
        "--skip-suite",
        action="store_true",
        help="only measure parallel speed and IPC overhead (keeping the task rows of an existing --out)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON output path")
    args = parser.parse_args()
    if (
        min(
            args.iterations,
            args.samples,
            args.steps,
            args.final_seeds,
            args.eval_episodes,
            args.workers,
            args.speed_repeats,
            args.train_top,
        )
        < 1
    ):
        parser.error(
            "--iterations, --samples, --steps, --final-seeds, --eval-episodes, --workers, --speed-repeats and "
            "--train-top must be >= 1"
        )
    if args.skip_speed and args.skip_suite:
        parser.error("--skip-speed and --skip-suite together leave nothing to run")
    return args


# ---------------------------------------------------------------- the suite


def run_task(name: str, llm, args: argparse.Namespace, console: Console) -> dict:
    task = bench_task(name, args.algo)
    config = RewardLoopConfig(
        iterations=args.iterations,
        samples=args.samples,
        temperature=args.temperature,
        max_new_tokens=args.max_new_tokens,
        steps=args.steps,
        final_steps=args.final_steps,
        final_seeds=args.final_seeds,
        eval_episodes=args.eval_episodes,
        prerank=args.prerank,
        train_top=args.train_top,
        executor=ExecutorConfig(kind="process", num_workers=args.workers),
    )
    calls_before = llm.usage.calls
    result = RewardLoop(task, config, llm=llm, run=RunDir.create(f"bench-reward-{name}")).search()
    return task_row(task, result, llm.usage.calls - calls_before)


# ---------------------------------------------------------------- parallel speed


def speed_jobs(task_name: str, steps: int, folder: Path, algo: str = "task") -> list[RewardTrainJob]:
    """Four valid candidate rewards of one task: its human and sparse rewards and two reweightings."""
    task = bench_task(task_name, algo)
    codes = [
        task.human_reward,
        task.sparse_reward,
        task.human_reward.replace("-0.1 *", "-0.05 *"),
        task.human_reward.replace("-0.1 *", "-0.2 *"),
    ]
    return [
        RewardTrainJob(
            label=f"cand-{i}",
            folder=str(folder / f"cand-{i}"),
            env_id=task.env_id,
            reward_code=code,
            fitness=task.fitness,
            algo=task.algo,
            total_timesteps=steps,
            seed=i,
            env_kwargs=task.env_kwargs,
            eval_episodes=1,
        )
        for i, code in enumerate(codes)
    ]


def train_env_reward(job: RewardTrainJob) -> float:
    """Control job: the same training on the env's own reward, no sandbox; returns its wall-clock seconds."""
    from mentor.sb3.agent import SB3Agent, SB3Config

    start = time.perf_counter()
    config = SB3Config(
        job.env_id,
        algo=job.algo,
        total_timesteps=job.total_timesteps,
        seed=job.seed,
        env_kwargs=dict(job.env_kwargs),
        checkpoint_freq=job.total_timesteps + 1,
        n_eval_episodes=job.eval_episodes,
        device="cpu",
        progress_bar=False,
    )
    agent = SB3Agent(config, RunDir(Path(job.folder)))
    agent.run.path.mkdir(parents=True, exist_ok=True)
    agent.train()
    agent.evaluate(job.eval_episodes)
    return time.perf_counter() - start


def measure_parallel(args: argparse.Namespace, console: Console) -> dict:
    """Alternate 1-worker and N-worker runs of the same four jobs; the speedup is the ratio of median times.

    The control runs the same trainings on the env's own reward without a sandbox: its speedup is
    what this machine allows at the moment (the cores are shared with other work).
    """
    root = Path(tempfile.mkdtemp(prefix="reward-speed-"))
    times: dict[str, list[float]] = {"sequential": [], "parallel": [], "control_sequential": [], "control_parallel": []}
    load = [os.getloadavg()[0]]
    for repeat in range(args.speed_repeats):
        for kind, fn in (("", train_reward_job), ("control_", train_env_reward)):
            for label, workers in (("sequential", 1), ("parallel", args.workers)):
                jobs = speed_jobs(args.parallel_task, args.parallel_steps, root / f"{kind}{label}-{repeat}", args.algo)
                executor = make_executor("process", num_workers=workers, threads_per_worker=1)
                start = time.perf_counter()
                results = executor.map(fn, jobs)
                times[kind + label].append(time.perf_counter() - start)
                load.append(os.getloadavg()[0])
                if fn is train_reward_job and not all(r.ok for r in results):
                    raise RuntimeError(f"a speed-measurement job failed: {[r.error for r in results if not r.ok]}")
                console.print(
                    f"  {kind + label}: {len(jobs)} trainings with {workers} worker(s) in {times[kind + label][-1]:.1f} s"
                )
    median = {k: float(np.median(v)) for k, v in times.items()}
    return {
        "task": args.parallel_task,
        "jobs": 4,
        "steps_per_job": args.parallel_steps,
        "workers": args.workers,
        **{f"{k}_seconds": v for k, v in times.items()},
        "speedup": median["sequential"] / median["parallel"],
        "control_speedup_env_reward_no_sandbox": median["control_sequential"] / median["control_parallel"],
        "load_average_1min": load,
        "note": "sequential = the same process executor with 1 worker (1 torch thread per worker in both); runs "
        "alternate and speedups are ratios of medians; the control trains the same jobs on the env's own reward "
        "without the sandbox, i.e. what the shared machine allowed at the time",
    }


# ---------------------------------------------------------------- IPC overhead


def measure_ipc(console: Console, repeats: int = 300) -> dict:
    task = get_reward_task("halfcheetah_forward")
    episodes = record_episodes(task.env_id, None, 1, seed=0, max_episode_steps=repeats)
    transitions = episodes[0].transitions
    namespace: dict = {}
    exec(task.human_reward, namespace)  # known task code, for the in-process reference only
    in_process = namespace["compute_reward"]
    start = time.perf_counter()
    for t in transitions:
        in_process(*t)
    local = (time.perf_counter() - start) / len(transitions)
    out = {"in_process_us_per_transition": 1e6 * local}
    with RewardSandbox(task.human_reward) as sandbox:
        sandbox.evaluate(transitions[:8])
        for batch in (1, 8, 64):
            start = time.perf_counter()
            calls = 0
            for i in range(0, len(transitions), batch):
                sandbox.evaluate(transitions[i : i + batch])
                calls += 1
            elapsed = time.perf_counter() - start
            out[f"sandbox_us_per_call_batch{batch}"] = 1e6 * elapsed / calls
            out[f"sandbox_us_per_transition_batch{batch}"] = 1e6 * elapsed / len(transitions)
        out["startup_seconds"] = sandbox.stats.startup_seconds
    out["overhead_us_per_transition_batch1"] = (
        out["sandbox_us_per_transition_batch1"] - out["in_process_us_per_transition"]
    )
    console.print(
        f"  in-process {out['in_process_us_per_transition']:.1f} us; sandbox "
        f"{out['sandbox_us_per_call_batch1']:.0f} us per call (1 transition), "
        f"{out['sandbox_us_per_transition_batch8']:.0f} us per transition in batches of 8"
    )
    return out


# ---------------------------------------------------------------- main


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def main() -> None:
    args = parse_args()
    console = Console()
    torch.set_num_threads(2)
    names = args.tasks.split(",") if args.tasks else list(load_reward_tasks())
    for name in names + [args.parallel_task]:
        bench_task(name, args.algo)  # unknown names and algorithms that do not fit a task fail here
    start = time.perf_counter()

    if args.skip_speed:
        if not args.out.exists():
            raise SystemExit(f"--skip-speed keeps the speed figures of {args.out}, which does not exist")
        kept = json.loads(args.out.read_text())
        ipc, parallel = kept["ipc"], kept["parallel"]
        speed_measured = kept.get("speed_measured", {"date": kept["date"], "command": kept["command"]})
    else:
        console.print("[bold]IPC overhead of the sandbox[/bold]")
        ipc = measure_ipc(console)
        console.print(f"[bold]Parallel speed: 4 candidate trainings, {args.workers} workers vs 1[/bold]")
        parallel = measure_parallel(args, console)
        speed_measured = {k: provenance()[k] for k in ("date", "command")}
    console.print(
        f"  speedup {parallel['speedup']:.2f}x (control without sandbox: "
        f"{parallel['control_speedup_env_reward_no_sandbox']:.2f}x)"
    )

    rows = []
    llm = None
    if not args.skip_suite:
        llm = make_llm(args.llm)
        for name in names:
            console.print(f"[bold]{name}[/bold]")
            row = run_task(name, llm, args, console)
            console.print(
                f"  valid {row['num_valid']}/{row['num_candidates']}, best {fmt(row['best_fitness'])}, human "
                f"{fmt(row['human_fitness'])}, sparse {fmt(row['sparse_fitness'])}, HNS {fmt(row['human_normalized_score'])}"
            )
            rows.append(row)

    table = Table(title=f"Reward generation with {args.llm}; algo {algo_description(args.algo)}")
    for column in (
        "task",
        "algo",
        "valid code",
        "ranking best / median",
        "human ranking",
        "screen vs trained",
        "best fitness",
        "human",
        "sparse",
        "human-normalised",
        "generated >= human",
        "s",
    ):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["task"],
            r["algo"],
            f"{r['num_valid']}/{r['num_candidates']}",
            f"{fmt(max(r['ranking_scores'], default=None))} / "
            f"{fmt(float(np.median(r['ranking_scores'])) if r['ranking_scores'] else None)}",
            fmt(r["baseline_ranking_scores"].get("human")),
            fmt(r["ranking_vs_trained_fitness"]),
            fmt(r["best_fitness"]),
            fmt(r["human_fitness"]),
            fmt(r["sparse_fitness"]),
            fmt(r["human_normalized_score"]),
            fmt(r["generated_ge_human"]),
            f"{r['seconds']:.0f}",
        )
    console.print(table)

    summary = summarize(rows, args.prerank)
    console.print(
        f"valid code {fmt(summary['valid_code_rate'])}, generated >= human on {summary['num_generated_ge_human']} "
        f"of {summary['num_comparable_tasks']} comparable tasks (of {len(rows)}), mean human-normalised "
        f"{fmt(summary['mean_human_normalized_score'])}, screen vs trained {fmt(summary['screen_vs_trained_correlation'])} "
        f"(pooled {fmt(summary['screen_vs_trained_correlation_pooled'])}), "
        f"parallel speedup {parallel['speedup']:.2f}x, sandbox {ipc['sandbox_us_per_call_batch1']:.0f} us/call"
    )
    data = {
        "benchmark": "reward_generation",
        "llm": args.llm,
        "config": {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "algo_note": f"trained with {algo_description(args.algo)}",
        },
        "tasks": rows,
        **summary,
        "parallel_speedup": parallel["speedup"],
        "parallel": parallel,
        "ipc": ipc,
        "speed_measured": speed_measured,
        "llm_usage": llm.usage.to_dict() if llm is not None else None,
        "seconds": time.perf_counter() - start,
        **provenance(),
    }
    if args.skip_suite and args.out.exists():
        previous = json.loads(args.out.read_text())
        data = {**previous, **{k: data[k] for k in ("parallel_speedup", "parallel", "ipc", "speed_measured")}}
    elif rows:
        data["screen_plot"] = str(plot_screen(rows, args.out.with_name("reward_screen.png")).name)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
