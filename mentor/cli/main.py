"""The ``mentor`` command."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from mentor.cli.llm import app as llm_app
from mentor.cli.reward import reward_command
from mentor.cli.train_llm import train_llm_ppo_command
from mentor.cli.train_skills import train_hierarchical_command, train_skills_command
from mentor.cli.train_writer import train_reward_writer_command
from mentor.errors import (
    ConfigError,
    LLMUnavailableError,
    MentorError,
    RolloutWorkerError,
    SandboxUnavailableError,
)
from mentor.overrides import parse_overrides

app = typer.Typer(
    pretty_exceptions_enable=False,
    add_completion=False,
    no_args_is_help=True,
    help="Language-model planners, reward generators and critics over SB3 agents.",
)


@app.callback()
def _options(
    no_llm_cache: Annotated[
        bool, typer.Option("--no-llm-cache", help="Switch the LLM response cache off for this command.")
    ] = False,
) -> None:
    if no_llm_cache:
        os.environ["MENTOR_LLM_CACHE"] = "0"  # read by every LLMConfig, in this process and its workers


train_app = typer.Typer(pretty_exceptions_enable=False, no_args_is_help=True, help="Train agents.")
app.add_typer(train_app, name="train")
app.add_typer(llm_app, name="llm", help="Inspect and query the configured LLM backend.")
train_app.command("skills")(train_skills_command)
train_app.command("hierarchical")(train_hierarchical_command)
train_app.command("llm-ppo")(train_llm_ppo_command)
train_app.command("reward-writer")(train_reward_writer_command)
console = Console()


def _parse_agent_options(items: list[str]) -> dict[str, dict]:
    """``AGENT.KEY=VALUE`` items as ``{agent: {key: value}}``; a dotted key nests (``sb3-ppo.hyperparams.gamma=0.9``)."""
    out: dict[str, dict] = {}
    for item in items:
        target, _, value = item.partition("=")
        agent, dot, key = target.partition(".")
        if not (dot and key and _):
            raise ConfigError(f"agent option {item!r} must look like AGENT.KEY=VALUE, e.g. llm-zero-shot.max_steps=64.")
        *parents, leaf = key.split(".")
        options = out.setdefault(agent.strip(), {})
        for parent in parents:
            options = options.setdefault(parent.strip(), {})
            if not isinstance(options, dict):
                raise ConfigError(f"agent option {item!r} sets a key inside {parent!r}, which holds a value.")
        options.update(parse_overrides([f"{leaf}={value}"]))
    return out


@app.command("envs")
def envs_command(
    family: Annotated[
        Optional[str], typer.Option(help="Only this family: minigrid, crafter, mujoco, textworld.")
    ] = None,
    text: Annotated[
        bool, typer.Option(help="Also reset each env (seed 0) and print its text view; slow for many envs.")
    ] = False,
    show: Annotated[
        Optional[str], typer.Option(help="Print the full text view of one env id after reset(seed=0).")
    ] = None,
) -> None:
    """List every registered env and its text view."""
    import mentor.envs as menvs

    if show:
        env = menvs.make(show)
        env.reset(seed=0)
        console.print(menvs.describe(env).to_prompt())
        env.close()
        return
    table = Table(title="mentor envs")
    for column in ("id", "family", "text view" if text else "admissible actions"):
        table.add_column(column)
    for env_id in menvs.env_ids(family):
        fam = menvs.family_of(env_id)
        if text:
            env = menvs.make(env_id)
            env.reset(seed=0)
            table.add_row(env_id, fam, menvs.describe(env).to_prompt())
            env.close()
        else:
            table.add_row(env_id, fam, _ACTIONS_BY_FAMILY.get(fam, ""))
    console.print(table)


_ACTIONS_BY_FAMILY = {
    "minigrid": "turn left, turn right, go forward, pick up, drop, toggle",
    "crafter": "17 strings: noop, move left/right/up/down, do, sleep, place X, make X",
    "mujoco": "continuous (the view names torso, velocities and joints)",
    "textworld": "the game's admissible commands",
}


@train_app.command("sb3")
def train_sb3(
    env: Annotated[str, typer.Option(help="mentor env id, e.g. mentor/MiniGrid-DoorKey-5x5-v0.")],
    algo: Annotated[str, typer.Option(help="ppo, a2c, dqn or sac.")] = "ppo",
    steps: Annotated[Optional[int], typer.Option(help="Env-step budget (default: the zoo file's n_timesteps).")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    name: Annotated[Optional[str], typer.Option(help="Run name; the folder is runs/<date>-<name>.")] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue the newest run with this name from its last checkpoint.")
    ] = False,
    hyperparam: Annotated[
        Optional[list[str]], typer.Option("--hyperparam", "-p", help="Override, key=value (repeatable).")
    ] = None,
    eval_episodes: Annotated[int, typer.Option(help="Eval episodes on held-out seeds after training.")] = 20,
    executor: Annotated[
        Optional[str],
        typer.Option(
            help="Where the training envs step: sequential, process (one process per env) or ray (actors); "
            "default: in this process."
        ),
    ] = None,
    workers: Annotated[
        Optional[int], typer.Option(help="Rollout workers (Ray actors) for --executor ray (default: CPU count).")
    ] = None,
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address (with --executor ray).")] = None,
) -> None:
    """Train an SB3 agent with zoo hyperparameters; writes TensorBoard logs and checkpoints into its run folder."""
    from mentor.benchmarks.report import render_report
    from mentor.executors import ExecutorConfig
    from mentor.runs import RunDir, resume_run
    from mentor.sb3.agent import SB3Agent, SB3Config

    if executor is None and (workers is not None or address is not None):
        raise ConfigError("--workers and --address need --executor (sequential, process or ray).")
    name = name or f"sb3-{algo}-{env.split('/')[-1]}-seed{seed}"
    if resume:
        run = resume_run(name, {"env_id": env, "algo": algo, "seed": seed})
        run.lock()
        config = SB3Config.from_dict({k: v for k, v in run.read_config().items() if k != "agent"})
        console.print(f"Resuming {run.path}")
    else:
        config = SB3Config(
            env,
            algo=algo,
            total_timesteps=steps,
            seed=seed,
            hyperparams=parse_overrides(hyperparam or []),
            n_eval_episodes=eval_episodes,
            rollout_executor=None
            if executor is None
            else ExecutorConfig(kind=executor, num_workers=workers, address=address),
        )
        run = RunDir.create(name)
        run.lock()
    agent = SB3Agent(config, run)
    if resume and agent.is_finished() and run.file("eval.json").exists() and run.report_path.exists():
        console.print(
            f"{run.path} is already finished ({config.total_timesteps:,} env steps); report: {run.report_path}"
        )
        return
    agent.train(resume=resume)
    result = agent.evaluate()
    run.write_json("eval.json", result)
    console.print(
        f"eval: success {100 * result['success_rate']:.1f}%, mean return {result['mean_return']:.3f} "
        f"over {result['episodes']} held-out episodes"
    )
    console.print(f"report: {render_report(run.path)}")


@app.command("bench")
def bench_command(
    suite: Annotated[str, typer.Option(help="Suite name (configs/suites/<name>.yml).")],
    agent: Annotated[list[str], typer.Option("--agent", "-a", help="Benchmark agent (repeatable).")],
    seeds: Annotated[Optional[int], typer.Option(help="Seeds per cell (default: the suite's).")] = None,
    budget: Annotated[Optional[int], typer.Option(help="Env steps per cell (default: the suite's).")] = None,
    eval_episodes: Annotated[Optional[int], typer.Option(help="Eval episodes per cell (default: the suite's).")] = None,
    env: Annotated[
        Optional[list[str]], typer.Option("--env", help="Only these envs of the suite (repeatable).")
    ] = None,
    workers: Annotated[Optional[int], typer.Option(help="Parallel cells (default: CPU count).")] = None,
    executor: Annotated[str, typer.Option(help="process, sequential or ray.")] = "process",
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address (with --executor ray).")] = None,
    resume: Annotated[
        bool, typer.Option(help="Finish the newest run of this suite: skip finished cells, resume trainings.")
    ] = False,
    llm: Annotated[
        Optional[str], typer.Option(help="LLM spec for LLM agents (default: $MENTOR_LLM or embedded).")
    ] = None,
    option: Annotated[
        Optional[list[str]],
        typer.Option(
            "--option",
            "-o",
            help="An agent option AGENT.KEY=VALUE, value as YAML (e.g. llm-zero-shot.max_steps=64; repeatable).",
        ),
    ] = None,
) -> None:
    """Benchmark agents on a suite under its protocol; writes results.json, plots and report.md."""
    from mentor.benchmarks.report import render_report
    from mentor.benchmarks.runner import BenchmarkConfig, find_run, run_benchmark
    from mentor.executors import ExecutorConfig

    config = BenchmarkConfig(
        suite=suite,
        agents=list(agent),
        seeds=seeds,
        budget=budget,
        eval_episodes=eval_episodes,
        envs=env or None,
        agent_options=_parse_agent_options(option or []),
        executor=ExecutorConfig(kind=executor, num_workers=workers, address=address),
        llm=llm,
    )
    run = find_run(config) if resume else None
    if resume and run is None:
        raise ConfigError(
            f"--resume found no earlier run of suite {suite!r} with these agents, envs, seeds, budget, "
            "eval episodes, options and LLM; pass the same flags as the run to resume."
        )
    if run is not None:
        console.print(f"Resuming {run.path}")
    run = run_benchmark(config, run)
    console.print(f"report: {render_report(run.path)}")


@app.command("leaderboard")
def leaderboard_command(
    runs: Annotated[
        Optional[Path], typer.Option(help="Folder of run folders (default: $MENTOR_RUNS or ./runs).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for leaderboard.md and leaderboard.csv.")] = Path("."),
    keep: Annotated[
        bool, typer.Option(help="Keep the rows of OUT/leaderboard.csv that no run here replaces (same command).")
    ] = True,
) -> None:
    """Merge every finished benchmark run into leaderboard.md and leaderboard.csv."""
    from mentor.benchmarks.leaderboard import (
        collect_rows,
        keep_rows,
        read_leaderboard_csv,
        reference_rows,
        write_leaderboard,
    )

    rows = collect_rows(runs)
    if keep:
        rows = keep_rows(read_leaderboard_csv(out / "leaderboard.csv"), rows)
    md, csv_path = write_leaderboard(rows, reference_rows(), out / "leaderboard.md", out / "leaderboard.csv")
    console.print(f"{len(rows)} rows: {md}, {csv_path}")


@app.command("report")
def report_command(run_dir: Annotated[Path, typer.Argument(help="A run folder.")]) -> None:
    """Re-render a run's report.md and plots from its files."""
    from mentor.benchmarks.report import render_report

    console.print(f"report: {render_report(run_dir)}")


@app.command("demo")
def demo_command(
    budget: Annotated[int, typer.Option(help="PPO env-step budget on DoorKey-5x5.")] = 100_000,
    hierarchical: Annotated[
        bool, typer.Option(help="Also run the hierarchical agent (embedded LLM planner over SB3 skills).")
    ] = True,
    level: Annotated[str, typer.Option(help="MiniGrid level of the hierarchical agent.")] = (
        "mentor/MiniGrid-KeyCorridorS3R3-v0"
    ),
    episodes: Annotated[int, typer.Option(help="Held-out episodes of the hierarchical agent.")] = 4,
    skill_steps: Annotated[int, typer.Option(help="Env steps of skill training when no zoo covers the level.")] = (
        100_000
    ),
) -> None:
    """The main job on the embedded defaults: PPO against random on DoorKey-5x5, then the hierarchical agent."""
    from mentor.benchmarks.report import render_report
    from mentor.benchmarks.runner import BenchmarkConfig, run_benchmark
    from mentor.executors import ExecutorConfig

    config = BenchmarkConfig(
        suite="demo",
        agents=["random", "sb3-ppo"],
        budget=budget,
        executor=ExecutorConfig(kind="process", num_workers=2),
    )
    console.print(f"Training SB3 PPO on DoorKey-5x5 for {budget:,} steps and benchmarking it against random...")
    run = run_benchmark(config)
    results = run.read_json("results.json")
    for row in results["rows"]:
        console.print(
            f"  {row['agent']:>8}: success {100 * row['success_rate']:.0f}% on held-out seeds, "
            f"mean return {row['mean_return']:.3f}, {row['wall_seconds']:.0f} s"
        )
    console.print(f"report: {render_report(run.path)}")
    if not hierarchical:
        return
    from mentor.agents.hierarchical import run_hierarchical_demo

    console.print(
        f"Hierarchical agent on {level.split('/')[-1]}: the embedded LLM plans over SB3 skills "
        f"(skills are trained first, on it and three more levels, unless a zoo under runs/ covers it)..."
    )
    report = run_hierarchical_demo(level, episodes=episodes, skill_timesteps=skill_steps)
    summary = json.loads((report.parent / "eval.json").read_text())
    console.print(
        f"  hierarchical: success {100 * summary['success_rate']:.0f}% over {episodes} held-out episodes, "
        f"{summary['llm_calls_per_episode']:.1f} LLM calls per episode"
    )
    console.print(f"report: {report}")


app.command("reward")(reward_command)


#: Errors of a run that started from good input and then failed (exit 1); every other MentorError is bad input (2).
FAILED_RUN_ERRORS: tuple[type[MentorError], ...] = (LLMUnavailableError, RolloutWorkerError, SandboxUnavailableError)


def exit_code_of(error: MentorError) -> int:
    """1 for a run that failed, 2 for bad input."""
    return 1 if isinstance(error, FAILED_RUN_ERRORS) else 2


def main() -> None:
    """Entry point: run the app, turning mentor's own errors into one line and exit 2 (bad input) or 1 (failed run)."""
    try:
        result = app(standalone_mode=False)
    except MentorError as e:
        console.print(f"[red]error:[/red] {e}", soft_wrap=True)
        raise SystemExit(exit_code_of(e)) from None
    except typer.Exit as e:
        raise SystemExit(e.exit_code) from None
    except (typer.Abort, KeyboardInterrupt):
        raise SystemExit(130) from None
    except typer.TyperException as e:  # usage errors: unknown option, missing or bad argument
        show = getattr(e, "show", None)
        if show is None:
            raise
        show()
        raise SystemExit(getattr(e, "exit_code", 2)) from None
    if isinstance(result, int) and result:  # a command's typer.Exit(code), returned in this mode
        raise SystemExit(result)


if __name__ == "__main__":
    main()
