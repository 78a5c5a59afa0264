"""``mentor reward``: write reward code from text with an LLM, train on it, compare with the human reward.

:func:`reward_command` is a plain function with typer annotations; ``mentor/cli/main.py`` mounts it as
``app.command("reward")(reward_command)``. Heavy imports happen inside it.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from mentor.errors import ConfigError

__all__ = ["reward_command", "resolve_task"]


def resolve_task(
    description: str | None,
    env: str | None,
    task: str | None,
    fitness: str | None,
    human_reward: Path | None,
    tasks_file: Path | None = None,
):
    """The :class:`~mentor.rewards.tasks.RewardTask` a command line asks for.

    A ``task`` name is looked up; otherwise a ``description`` on ``env`` matching a configured task
    uses that task (its fitness and human reward); any other description needs ``fitness``.

    Raises:
        ConfigError: the arguments do not name a task.
    """
    from mentor.rewards.tasks import RewardTask, get_reward_task, match_reward_task

    if task is not None:
        return get_reward_task(task, tasks_file)
    if not description or not env:
        raise ConfigError("give a task description and --env (or --task NAME from configs/reward_tasks.yaml).")
    matched = match_reward_task(description, env, tasks_file)
    if matched is not None and fitness is None and human_reward is None:
        return matched
    if fitness is None:
        from mentor.rewards.fitness import fitness_names

        raise ConfigError(
            f"no configured task on {env} matches {description!r}, so say how to judge it: "
            f"--fitness one of {', '.join(fitness_names()[:6])}, ... (or --task NAME)."
        )
    name = re.sub(r"[^a-z0-9]+", "-", description.lower()).strip("-")[:48] or "custom"
    return RewardTask(
        name=name,
        env_id=env,
        description=description,
        fitness=fitness,
        human_reward=human_reward.read_text() if human_reward is not None else None,
    )


def reward_command(
    description: Annotated[
        Optional[str], typer.Argument(help="What the agent should do, e.g. 'make the half cheetah run backwards'.")
    ] = None,
    env: Annotated[Optional[str], typer.Option(help="mentor env id, e.g. mentor/HalfCheetah-v5.")] = None,
    task: Annotated[
        Optional[str], typer.Option(help="A task of configs/reward_tasks.yaml instead of a description.")
    ] = None,
    fitness: Annotated[
        Optional[str],
        typer.Option(help="Ground truth for a description no task matches: forward_distance, success_rate, ..."),
    ] = None,
    human_reward: Annotated[
        Optional[Path], typer.Option(help="File with a human-written compute_reward to compare against.")
    ] = None,
    mode: Annotated[str, typer.Option(help="eureka (K samples, reflection) or text2reward (zero-shot).")] = "eureka",
    iterations: Annotated[int, typer.Option(help="Iterations (text2reward: most feedback rounds + 1).")] = 3,
    samples: Annotated[Optional[int], typer.Option(help="Candidates per iteration (default 4; text2reward 1).")] = None,
    steps: Annotated[int, typer.Option(help="Env steps per candidate training.")] = 20_000,
    final_steps: Annotated[
        Optional[int], typer.Option(help="Env steps of the final and baseline trainings (default: --steps).")
    ] = None,
    final_seeds: Annotated[int, typer.Option(help="Seeds of the final reward and of each baseline.")] = 3,
    eval_episodes: Annotated[int, typer.Option(help="Held-out episodes per trained policy.")] = 10,
    seed: Annotated[int, typer.Option()] = 0,
    temperature: Annotated[
        Optional[float], typer.Option(help="Sampling temperature (default 0.7; text2reward 0).")
    ] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Most tokens per LLM answer.")] = 512,
    prerank: Annotated[
        str, typer.Option(help="Pre-ranking on reference episodes: off, drop (skip hopeless), audit (flag only).")
    ] = "drop",
    train_top: Annotated[
        Optional[int],
        typer.Option(help="Train only this many best-ranked candidates per iteration (default: all not hopeless)."),
    ] = None,
    baselines: Annotated[
        bool, typer.Option(help="Train the human and sparse rewards for the human-normalised score.")
    ] = True,
    feedback: Annotated[
        Optional[str],
        typer.Option(
            help="text2reward human feedback: 'prompt' (typed after each round) or a file (--- between rounds)."
        ),
    ] = None,
    llm: Annotated[Optional[str], typer.Option(help="LLM spec (default: $MENTOR_LLM or the embedded model).")] = None,
    adapter: Annotated[
        Optional[Path],
        typer.Option(help="A LoRA adapter folder on top of a transformers --llm, e.g. a trained reward writer's."),
    ] = None,
    structured_outputs: Annotated[
        Optional[str],
        typer.Option(
            help="How an openai --llm server takes the reward grammar: vllm, llamacpp or sglang "
            "(default: it takes none, and answers are parsed as free text)."
        ),
    ] = None,
    algo: Annotated[
        Optional[str],
        typer.Option(
            help="SB3 algorithm of every training: ppo, sac, a2c, dqn (default: the task's; sac on MuJoCo, else ppo)."
        ),
    ] = None,
    workers: Annotated[Optional[int], typer.Option(help="Parallel trainings (default: CPU count).")] = None,
    executor: Annotated[str, typer.Option(help="process, sequential or ray.")] = "process",
    address: Annotated[
        Optional[str], typer.Option(help="Ray cluster address for --executor ray (default: start a local Ray).")
    ] = None,
    name: Annotated[Optional[str], typer.Option(help="Run name (default: reward-<task>).")] = None,
    resume: Annotated[
        bool, typer.Option(help="Finish the newest run of this name from its last finished candidate.")
    ] = False,
    tasks_file: Annotated[Optional[Path], typer.Option(help="Tasks YAML (default configs/reward_tasks.yaml).")] = None,
) -> None:
    """Generate reward code from text (Eureka / Text2Reward), train with it, and compare with the human reward."""
    from rich.console import Console

    from mentor.executors import ExecutorConfig
    from mentor.rewards.feedback import FileFeedback, PromptFeedback
    from mentor.rewards.loop import RewardLoop
    from mentor.rewards.loop_config import RewardLoopConfig
    from mentor.runs import RunDir, resume_run

    console = Console()
    writer: Any = llm
    if adapter is not None or structured_outputs is not None:
        from mentor.llm import LLMConfig, make_llm

        writer = make_llm(
            LLMConfig(llm, adapter=str(adapter) if adapter else None, structured_outputs=structured_outputs)
        )
    if address is not None and executor != "ray":
        raise ConfigError(
            f"--address ({address!r}) is a Ray cluster address; it needs --executor ray, not {executor!r}."
        )
    executor_config = ExecutorConfig(kind=executor, num_workers=workers, address=address)
    source = None
    if feedback == "prompt":
        source = PromptFeedback(ask=lambda text: typer.prompt(text, default="", show_default=False), show=console.print)
    elif feedback is not None:
        if not Path(feedback).is_file():
            raise ConfigError(f"--feedback ({feedback!r}) must be 'prompt' or an existing file.")
        source = FileFeedback(feedback)
    if resume:
        if algo is not None:
            raise ConfigError(f"--resume continues a run with its saved algorithm; drop --algo ({algo!r}).")
        if name is None:
            name = f"reward-{resolve_task(description, env, task, fitness, human_reward, tasks_file).name}"
        run = resume_run(name)
        run.lock()
        console.print(f"Resuming {run.path}")
        loop = RewardLoop.resume(run, llm=writer, feedback=source)
    else:
        reward_task = resolve_task(description, env, task, fitness, human_reward, tasks_file)
        if algo is not None:
            reward_task = dataclasses.replace(reward_task, algo=algo)
        config = RewardLoopConfig(
            mode=mode,
            iterations=iterations,
            samples=samples,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            steps=steps,
            final_steps=final_steps,
            final_seeds=final_seeds,
            eval_episodes=eval_episodes,
            seed=seed,
            prerank=prerank,
            train_top=train_top,
            baselines=baselines,
            executor=executor_config,
        )
        run = RunDir.create(name or f"reward-{reward_task.name}")
        run.lock()
        console.print(f"Task {reward_task.name!r}: {reward_task.goal} ({reward_task.env_id}); run folder {run.path}")
        loop = RewardLoop(reward_task, config, llm=writer, run=run, feedback=source)
    result = loop.search()

    def show(value: float | None) -> str:
        return "-" if value is None else f"{value:.3g}"

    console.print(f"valid code: {result.valid_code_rate:.0%} of {result.num_candidates} candidates")
    if result.best_label is None:
        console.print("no candidate reward trained successfully; see report.md for the reasons fed back.")
    else:
        console.print(f"chosen: {result.best_label} (candidate fitness {show(result.best_candidate_fitness)})")
    for label, summary in (("chosen", result.final), ("human", result.human), ("sparse", result.sparse)):
        if summary:
            console.print(f"  {label:>6}: fitness {show(summary['fitness_mean'])} +- {show(summary['fitness_std'])}")
    console.print(f"human-normalised score: {show(result.human_normalized_score)}")
    console.print(f"report: {Path(result.run_dir) / 'report.md'}")
