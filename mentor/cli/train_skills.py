"""``mentor train skills`` and ``mentor train hierarchical``: plain typer-annotated functions the CLI mounts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from mentor.overrides import parse_overrides

__all__ = ["train_skills_command", "train_hierarchical_command"]

console = Console()


def _overrides(items: list[str] | None) -> dict:
    return parse_overrides(items or [])


def train_skills_command(
    env: Annotated[
        list[str], typer.Option("--env", help="mentor env id of the level family to train on (repeatable).")
    ],
    steps: Annotated[int, typer.Option(help="Env steps of skill training, all skills together.")] = 200_000,
    seed: Annotated[int, typer.Option()] = 0,
    kind: Annotated[
        Optional[list[str]], typer.Option("--kind", help="Train only this kind of skill (repeatable).")
    ] = None,
    name: Annotated[Optional[str], typer.Option(help="Run name (default skills-<family>).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the newest run with this name from its checkpoint.")] = False,
    eval_episodes: Annotated[int, typer.Option(help="Skill runs on held-out seeds measuring success rates.")] = 300,
    snapshot: Annotated[
        Optional[list[int]], typer.Option("--snapshot", help="Also keep the model at this many env steps (repeatable).")
    ] = None,
    hyperparam: Annotated[
        Optional[list[str]], typer.Option("--hyperparam", "-p", help="PPO override, key=value (repeatable).")
    ] = None,
) -> None:
    """Train the skill zoo of a level family (goal-conditioned SB3 PPO) and measure every skill."""
    from mentor.runs import RunDir, resume_run
    from mentor.skills.zoo import SkillZooConfig, train_skill_zoo, zoo_run_name

    config = SkillZooConfig(
        list(env),
        total_timesteps=steps,
        seed=seed,
        kinds=list(kind) if kind else None,
        hyperparams=_overrides(hyperparam),
        eval_episodes=eval_episodes,
        snapshot_steps=list(snapshot or []),
    )
    name = name or zoo_run_name(config.family)
    run = resume_run(name) if resume else RunDir.create(name)
    run.lock()
    console.print(f"Training {config.family} skills on {', '.join(config.env_ids)} for {steps:,} env steps...")
    start = time.perf_counter()
    zoo = train_skill_zoo(config, run, resume=resume)
    table = Table(title=f"skill success rates ({zoo.info.get('success_rates', {}).get('episodes', 0)} runs)")
    for column in ("kind", "runs", "success", "mean steps"):
        table.add_column(column)
    for kind_name, row in zoo.info.get("success_rates", {}).get("by_kind", {}).items():
        table.add_row(kind_name, str(row["runs"]), f"{100 * row['success_rate']:.0f}%", f"{row['mean_steps']:.1f}")
    console.print(table)
    console.print(f"zoo: {run.path} ({time.perf_counter() - start:.0f} s)")


def train_hierarchical_command(
    env: Annotated[str, typer.Option(help="mentor env id the agent plays.")],
    planner: Annotated[str, typer.Option(help="High level: llm, saycan or sb3.")] = "llm",
    zoo: Annotated[
        Optional[Path], typer.Option(help="Skill zoo folder (default: newest zoo trained on --env, else train one).")
    ] = None,
    skill_steps: Annotated[int, typer.Option(help="Env steps of skill training when a zoo is trained.")] = 100_000,
    skill_env: Annotated[
        Optional[list[str]], typer.Option("--skill-env", help="Train skills on these envs (repeatable; default --env).")
    ] = None,
    high_level_steps: Annotated[
        int, typer.Option(help="Env steps (under the options) of the SB3 high level's training (--planner sb3).")
    ] = 50_000,
    high_level_algo: Annotated[
        str, typer.Option(help="SB3 algorithm of the high level (--planner sb3): ppo, a2c or dqn.")
    ] = "ppo",
    affordance: Annotated[str, typer.Option(help="SayCan affordance: value, success_rate or none.")] = "value",
    max_options: Annotated[int, typer.Option(help="Skills per episode before it is cut short.")] = 64,
    eval_episodes: Annotated[int, typer.Option(help="Evaluation episodes on held-out seeds.")] = 10,
    seed: Annotated[int, typer.Option()] = 0,
    llm: Annotated[Optional[str], typer.Option(help="LLM spec (default: $MENTOR_LLM or the embedded model).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Run name (default hierarchical-<planner>-<env>).")] = None,
) -> None:
    """Train (skills, and the SB3 high level) and evaluate a hierarchical agent; writes report.md."""
    from mentor.agents.hierarchical import HierarchicalAgent, HierarchicalConfig, write_hierarchical_report
    from mentor.runs import RunDir

    config = HierarchicalConfig(
        env,
        planner=planner,
        zoo=str(zoo) if zoo else None,
        skill_env_ids=list(skill_env) if skill_env else None,
        skill_timesteps=skill_steps,
        high_level_timesteps=high_level_steps,
        high_level_algo=high_level_algo,
        affordance=affordance,
        max_options=max_options,
        n_eval_episodes=eval_episodes,
        seed=seed,
        llm=llm,
    )
    run = RunDir.create(name or f"hierarchical-{planner}-{env.split('/')[-1]}")
    start = time.perf_counter()
    agent = HierarchicalAgent(config, run)
    agent.train()
    console.print(f"skills: {agent.zoo.path} ({agent.zoo.num_timesteps:,} env steps)")
    result = agent.evaluate()
    run.write_json("eval.json", {k: v for k, v in result.items() if k != "outcomes"})
    if planner != "sb3":
        agent.llm_usage.save(run.path)
    console.print(
        f"eval: success {100 * result['success_rate']:.0f}% over {result['episodes']} held-out episodes; "
        f"{result['llm_calls_per_episode']:.1f} LLM calls, {result['llm_tokens_per_episode']:.0f} tokens per episode"
    )
    console.print(f"report: {write_hierarchical_report(run, agent, result, time.perf_counter() - start)}")
