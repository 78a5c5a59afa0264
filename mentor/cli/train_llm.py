"""``mentor train llm-ppo``: online RL fine-tuning of the LLM policy on a text env, from flags or a YAML config."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console

from mentor.errors import ConfigError
from mentor.overrides import parse_overrides, read_yaml

if TYPE_CHECKING:
    from mentor.agents.llm_ppo import LLMFinetuner

__all__ = ["train_llm_ppo_command"]

console = Console()
OPTIONS_ENV_FILE = "options_env.json"


def _options_env_fn(env_id: str, zoo: str, max_options: int) -> Callable[[], Any]:
    """Envs whose actions are the skills of ``zoo`` (the hierarchical agent's high level)."""
    from mentor.envs import make
    from mentor.skills.options import OptionsConfig, OptionsEnv
    from mentor.skills.zoo import SkillZoo

    skills = SkillZoo.load(zoo)
    return lambda: OptionsEnv(make(env_id), skills, OptionsConfig(max_options=max_options))


def _read_config_file(path: Path) -> dict[str, Any]:
    data = read_yaml(path, "config file") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of FinetuneConfig fields.")
    return data


def train_llm_ppo_command(
    env: Annotated[
        Optional[str], typer.Option(help="Text env id (default: the config file's, else mentor/BabyAI-GoToObj-v0).")
    ] = None,
    config: Annotated[
        Optional[Path], typer.Option(help="YAML file of FinetuneConfig fields, e.g. configs/llm_ppo/babyai_goto.yml.")
    ] = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            "--llm",
            "--model",
            help="transformers LLM spec (default: the config file's, else $MENTOR_LLM, else transformers:embedded).",
        ),
    ] = None,
    steps: Annotated[Optional[int], typer.Option(help="Env-step budget (total_timesteps).")] = None,
    minutes: Annotated[
        Optional[float],
        typer.Option(
            help="Training wall-clock budget in minutes (max_minutes); without --steps it is the only budget."
        ),
    ] = None,
    advantage: Annotated[Optional[str], typer.Option(help="gae (PPO with value head), grpo, rloo or gigpo.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of initialisation, sampling and training episodes.")] = None,
    set_: Annotated[
        Optional[list[str]],
        typer.Option("--set", "-p", help="Any FinetuneConfig field, key=value with a YAML value (repeatable)."),
    ] = None,
    name: Annotated[Optional[str], typer.Option(help="Run name; the folder is runs/<date>-<name>.")] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue the newest run with this name from its last checkpoint (--steps/--minutes extend it)."
        ),
    ] = False,
    eval_episodes: Annotated[
        Optional[int], typer.Option(help="Greedy episodes on held-out seeds after training (n_eval_episodes).")
    ] = None,
    zero_shot: Annotated[bool, typer.Option(help="Also evaluate the policy before training.")] = False,
    skills: Annotated[
        Optional[str],
        typer.Option(
            help="Fine-tune the hierarchical agent's high level: the LLM chooses among the skills of this zoo "
            "folder ('latest': the newest covering --env), which run until they end."
        ),
    ] = None,
    max_options: Annotated[int, typer.Option(help="Skills per episode (with --skills).")] = 16,
) -> None:
    """Fine-tune the LLM policy online with PPO (LoRA + value head) on a text env; evaluate on held-out seeds."""
    from mentor.agents.llm_ppo import LLMFinetuner
    from mentor.agents.llm_ppo_config import FinetuneConfig
    from mentor.runs import RunDir, resume_run

    flags = {
        "env_id": env,
        "model": model,
        "total_timesteps": steps,
        "max_minutes": minutes,
        "advantage": advantage,
        "seed": seed,
        "n_eval_episodes": eval_episodes,
    }
    flags = {k: v for k, v in flags.items() if v is not None}
    if minutes is not None and steps is None:
        flags["total_timesteps"] = None
    overrides = parse_overrides(set_ or [])
    if resume:
        if skills is not None:
            raise ConfigError("--skills cannot change a resumed run; it resumes with the skills it started with.")
        if overrides:
            raise ConfigError(
                f"--set {', '.join(sorted(overrides))} cannot change a resumed run; "
                "only --steps, --minutes and --eval-episodes extend it."
            )
        base = name or f"llm-ppo-{(env or FinetuneConfig.env_id).split('/')[-1]}"
        run = resume_run(base, {k: flags[k] for k in ("env_id", "seed") if k in flags})
        data = {k: v for k, v in run.read_config().items() if k != "agent"}
        budget = {k: flags[k] for k in ("total_timesteps", "max_minutes", "n_eval_episodes") if k in flags}
        cfg = FinetuneConfig.from_dict({**data, **budget})
        options = run.read_json(OPTIONS_ENV_FILE) if run.file(OPTIONS_ENV_FILE).exists() else None
        console.print(f"Resuming {run.path}")
    else:
        data = _read_config_file(config) if config is not None else {}
        if "model" not in data and os.environ.get("MENTOR_LLM"):
            data["model"] = os.environ["MENTOR_LLM"]
        if skills is not None:
            data.setdefault("prompt_template", "{text}\nNext skill:")
        cfg = FinetuneConfig.from_dict({**data, **flags, **overrides})
        options = None
        if skills is not None:
            from mentor.agents.hierarchical import resolve_zoo

            options = {"zoo": str(resolve_zoo(skills, cfg.env_id, "--skills")), "max_options": max_options}
        run = RunDir.create(name or cfg.run_name)
        if options is not None:
            run.write_json(OPTIONS_ENV_FILE, options)
    run.lock()
    env_fn = _options_env_fn(cfg.env_id, options["zoo"], options["max_options"]) if options else None
    trainer = LLMFinetuner(cfg, run, env_fn=env_fn)
    if zero_shot and not resume:
        before, line = _evaluation(trainer)
        run.write_json("eval_zero_shot.json", before)
        console.print(f"zero-shot: {line}")
    summary = trainer.train(resume=resume)
    trainer.usage().save(run.path / "llm_usage.json")
    console.print(
        f"trained {summary['env_steps']} env steps in {summary['minutes']:.1f} min: "
        f"{summary['env_steps_per_s']:.2f} env steps/s, {summary['llm_forwards_per_s']:.2f} LLM forwards/s"
    )
    result, line = _evaluation(trainer)
    run.write_json("eval.json", {**result, "train": summary})
    console.print(f"eval: {line}")
    console.print(f"run: {run.path}")
    trainer.close()


def _evaluation(trainer: LLMFinetuner) -> tuple[dict[str, Any], str]:
    """The held-out evaluation of the trainer (per task when multi-task) and its one-line summary."""
    from mentor.agents.llm_ppo_config import task_key

    if trainer.config.tasks:
        result = trainer.evaluate_tasks()
        per_task = ", ".join(f"{task_key(t)} {r['progression']:.1f}" for t, r in result["tasks"].items())
        return (
            result,
            f"mean progression {result['mean_progression']:.1f} over {len(result['tasks'])} tasks ({per_task})",
        )
    result = trainer.evaluate()
    return result, (
        f"success {100 * result['success_rate']:.1f}%, mean return {result['mean_return']:.3f} "
        f"over {result['episodes']} held-out episodes"
    )
