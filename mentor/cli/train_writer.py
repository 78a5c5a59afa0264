"""``mentor train reward-writer``: GRPO on the LLM's reward code, rewarded by the programs' ranking scores."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console

__all__ = ["train_reward_writer_command"]


def train_reward_writer_command(
    train_tasks: Annotated[
        Optional[str], typer.Option(help="Comma-separated tasks to train on (default: every suite task not held out).")
    ] = None,
    heldout_tasks: Annotated[
        str, typer.Option(help="Comma-separated tasks never trained on, to measure transfer.")
    ] = "walker_walk,crafter_place_table",
    updates: Annotated[int, typer.Option(help="GRPO updates (one group of one task each).")] = 24,
    group_size: Annotated[int, typer.Option(help="Programs sampled per update (G).")] = 8,
    eval_samples: Annotated[int, typer.Option(help="Programs per task for the before/after ranking score.")] = 16,
    learning_rate: Annotated[float, typer.Option(help="Adam step size on the LoRA weights.")] = 1e-4,
    kl_coef: Annotated[float, typer.Option(help="Weight of the KL divergence from the untrained model.")] = 0.02,
    max_new_tokens: Annotated[int, typer.Option(help="Most tokens per program.")] = 320,
    reference_steps: Annotated[
        int, typer.Option(help="Budget of the human-reward training whose snapshots are the reference policies.")
    ] = 4096,
    llm: Annotated[str, typer.Option(help="A transformers LLM spec.")] = "transformers:embedded",
    seed: Annotated[int, typer.Option()] = 0,
    name: Annotated[str, typer.Option(help="Run name.")] = "reward-writer",
    resume: Annotated[bool, typer.Option(help="Finish the newest run of this name from its last checkpoint.")] = False,
) -> None:
    """Train a LoRA reward writer: better-ranked reward programs on the training tasks, measured on held-out ones."""
    from mentor.agents.reward_writer import GRPOConfig, RewardWriterConfig, RewardWriterTrainer
    from mentor.runs import RunDir, resume_run

    console = Console()
    if resume:
        run = resume_run(name)
        run.lock()
        console.print(f"Resuming {run.path}")
        trainer = RewardWriterTrainer.resume(run)
    else:
        config = RewardWriterConfig(
            train_tasks=train_tasks.split(",") if train_tasks else None,
            heldout_tasks=heldout_tasks.split(","),
            updates=updates,
            eval_samples=eval_samples,
            grpo=GRPOConfig(
                group_size=group_size,
                learning_rate=learning_rate,
                kl_coef=kl_coef,
                max_new_tokens=max_new_tokens,
                seed=seed,
            ),
            references={"steps": reference_steps, "final_seeds": 2, "eval_episodes": 5, "hyperparams": {}},
            llm=llm,
        )
        run = RunDir.create(name)
        run.lock()
        trainer = RewardWriterTrainer(config, run)
    result = trainer.train()
    for kind in ("train", "heldout"):
        console.print(
            f"{kind} tasks: mean ranking score {result[f'{kind}_ranking_before']:.3f} -> {result[f'{kind}_ranking_after']:.3f}"
        )
    console.print(f"adapter: {result['adapter']} (mentor reward --adapter {result['adapter']} ...)")
