"""Valid-code rate of reward prompts with a small LLM: the current prompt against cheap variants, in one run.

Every task of configs/reward_tasks.yaml gets ``--samples`` answers per prompt variant (sampled at
``--temperature``, the same torch seeds for every variant). Each answer goes through what the reward
loop does before any training: code extraction, the AST gate and the sandbox validation run on
recorded random transitions. No training. Variants:

- ``current``: :func:`mentor.rewards.prompts.initial_messages` as the loop sends it;
- ``fewshot``: the same prompt without its inline format example, preceded by one short worked
  exchange (a user turn asking for the example's task, an assistant turn answering with its code);
- ``prefill``: the current prompt, the assistant turn prefilled with the exact header
  ``import numpy as np`` / ``def compute_reward(state, action, next_state):`` so the model writes only
  the body. The LLM interface has no prefill, so this variant drives the transformers model directly
  (it needs an LLM API change before the loop can use it); it measures what that change would bring.

Besides the valid-code rate, each variant reports how many valid answers are (near-)copies of the
format example (difflib ratio >= 0.9): valid code, but a reward for another task.

    python benchmarks/reward_prompt_validity.py                      # embedded SmolLM2-135M, 3 samples per task
    python benchmarks/reward_prompt_validity.py --samples 1 --tasks doorkey --variants current,prefill

Writes benchmarks/results/reward_prompt_validity.json.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from mentor.envs import make as make_env
from mentor.llm import make_llm
from mentor.rewards.prompts import FORMAT_EXAMPLES, extract_code, initial_messages
from mentor.rewards.report import count_rejection_reasons
from mentor.rewards.rollouts import record_random_steps
from mentor.rewards.sandbox import screen_reward_code
from mentor.rewards.state import describe_state
from mentor.rewards.tasks import RewardTask, get_reward_task, load_reward_tasks

RESULTS = Path(__file__).parent / "results" / "reward_prompt_validity.json"
VARIANTS = ("current", "fewshot", "prefill")

#: Per family, the goal of the task the format example solves (the example is for none of the suite's tasks).
EXAMPLE_GOALS = {
    "mujoco": "Make the robot stand up tall and stay healthy, with little effort.",
    "minigrid": "Stand next to a ball.",
    "crafter": "Drink water.",
    "textworld": "Score points and explore new rooms.",
}
PREFILL = "```python\nimport numpy as np\n\ndef compute_reward(state, action, next_state):\n    "


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", default="transformers:embedded", help="LLM spec (a transformers model for prefill)")
    parser.add_argument("--tasks", default=None, help="comma-separated task names (default: every task)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--samples", type=int, default=3, help="answers per task and variant")
    parser.add_argument("--max-new-tokens", type=int, default=160, help="most tokens per answer (as the benchmark)")
    parser.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (as the benchmark)")
    parser.add_argument("--validation-steps", type=int, default=64, help="recorded transitions each answer must pass")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON output path")
    args = parser.parse_args()
    args.variants = args.variants.split(",")
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if args.samples < 1 or args.max_new_tokens < 1 or args.validation_steps < 1:
        parser.error("--samples, --max-new-tokens and --validation-steps must be >= 1")
    return args


def validation_transitions(task: RewardTask, steps: int) -> list:
    """Random transitions, recorded as the reward loop (seed 0) records them for its validation run."""
    return [t for e in record_random_steps(task.env_id, steps, 10_000, task.env_kwargs) for t in e.transitions]


def fewshot_messages(task: RewardTask, messages: list[dict]) -> list[dict]:
    """``messages`` with the inline example moved into one worked exchange before the real request."""
    system, user = messages
    example = FORMAT_EXAMPLES[task.family]
    inline = f"Example of the answer format (for a different task):\n```python\n{example}\n```\n\n"
    shot = (
        f"Task: {EXAMPLE_GOALS[task.family]}\nEnvironment: {task.env_id}\n"
        "Answer with one ```python code block that defines compute_reward(state, action, next_state)."
    )
    return [
        system,
        {"role": "user", "content": shot},
        {"role": "assistant", "content": f"```python\n{example}\n```"},
        {"role": "user", "content": user["content"].replace(inline, "")},
    ]


def generate_prefilled(llm, messages: list[dict], max_new_tokens: int, temperature: float) -> str:
    """The chat rendered by the model's template, the assistant turn started with :data:`PREFILL`."""
    tok = llm.tokenizer
    prompt = llm.render_chat(messages) + PREFILL
    enc = tok(prompt, add_special_tokens=False, return_tensors="pt").to(llm.device)
    with torch.inference_mode():
        out = llm.model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            do_sample=True,
            temperature=temperature,
            top_k=0,
            top_p=1.0,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
    return PREFILL + tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def verdict(answer: str, transitions: list) -> tuple[str, str | None, str | None]:
    """``(stage, reason, code)`` as the loop judges an answer before training; stage ``valid`` if it passed."""
    code = extract_code(answer)
    if code is None:
        return "extraction", "no ```python block that defines compute_reward", None
    stage, reason = screen_reward_code(code, transitions)
    if stage == "gate":
        reason = re.sub(r"^line \d+: ", "", reason)
    return stage, reason, code


def is_copy(code: str, family: str, threshold: float = 0.9) -> bool:
    """The function's text is at least ``threshold`` similar (difflib ratio, whitespace aside) to the format example."""

    def body(text: str) -> str:
        return " ".join(text.split("def compute_reward", 1)[-1].split())

    return difflib.SequenceMatcher(None, body(code), body(FORMAT_EXAMPLES[family])).ratio() >= threshold


def main() -> None:
    args = parse_args()
    console = Console()
    torch.set_num_threads(1)  # on the shared 2-core machine, 2 threads decode about 10x slower than 1
    names = args.tasks.split(",") if args.tasks else list(load_reward_tasks())
    tasks = [get_reward_task(name) for name in names]
    llm = make_llm(args.llm)
    if "prefill" in args.variants and not hasattr(llm, "model"):
        raise SystemExit("the prefill variant drives a transformers model; use a transformers:... --llm")
    start = time.perf_counter()
    rows = []
    for t, task in enumerate(tasks):
        env = make_env(task.env_id, **task.env_kwargs)
        description = describe_state(env)
        env.close()
        transitions = validation_transitions(task, args.validation_steps)
        base = initial_messages(task, description, "eureka")
        for variant in args.variants:
            messages = fewshot_messages(task, base) if variant == "fewshot" else base
            for k in range(args.samples):
                torch.manual_seed(1000 * t + k)  # the same seeds for every variant
                began = time.perf_counter()
                if variant == "prefill":
                    answer = generate_prefilled(llm, messages, args.max_new_tokens, args.temperature)
                else:
                    (answer,) = llm.generate(messages, max_new_tokens=args.max_new_tokens, temperature=args.temperature)
                seconds = time.perf_counter() - began
                stage, reason, code = verdict(answer, transitions)
                copy = code is not None and is_copy(code, task.family)
                rows.append(
                    {
                        "task": task.name,
                        "variant": variant,
                        "sample": k,
                        "stage": stage,
                        "valid": stage == "valid",
                        "copy_of_example": copy,
                        "reason": reason if reason is None else reason[:160],
                        "generate_seconds": seconds,
                        "answer": answer,
                    }
                )
                console.print(f"  {task.name} {variant} #{k}: {stage}{' (copy)' if copy else ''} {reason or ''}"[:160])

    summary = {}
    for variant in args.variants:
        mine = [r for r in rows if r["variant"] == variant]
        valid = [r for r in mine if r["valid"]]
        summary[variant] = {
            "num_answers": len(mine),
            "num_valid": len(valid),
            "valid_code_rate": len(valid) / len(mine) if mine else None,
            "num_valid_copies_of_example": sum(r["copy_of_example"] for r in valid),
            "valid_not_copy_rate": sum(not r["copy_of_example"] for r in valid) / len(mine) if mine else None,
            "per_task_valid": {task.name: sum(r["valid"] for r in valid if r["task"] == task.name) for task in tasks},
            "rejections": {s: sum(r["stage"] == s for r in mine) for s in ("extraction", "gate", "validation")},
            "rejection_reasons": count_rejection_reasons(mine),
            "mean_generate_seconds": sum(r["generate_seconds"] for r in mine) / len(mine) if mine else None,
        }

    table = Table(title=f"Valid reward code with {args.llm}: {len(tasks)} tasks x {args.samples} samples per variant")
    for column in ("variant", "valid", "rate", "valid copies of the example", "valid, not a copy", *names):
        table.add_column(column)
    for variant, s in summary.items():
        table.add_row(
            variant,
            f"{s['num_valid']}/{s['num_answers']}",
            f"{s['valid_code_rate']:.0%}",
            str(s["num_valid_copies_of_example"]),
            f"{s['valid_not_copy_rate']:.0%}",
            *[str(s["per_task_valid"][n]) for n in names],
        )
    console.print(table)
    data = {
        "benchmark": "reward_prompt_validity",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python benchmarks/reward_prompt_validity.py", *sys.argv[1:]]),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__},
        "variants": summary,
        "answers": rows,
        "seconds": time.perf_counter() - start,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
