"""Shared-prefix vs naive candidate scoring on the embedded LLM, plus generation speed per backend.

A BabyAI-Text decision (goal, observation lines, action list) is scored against the six BabyAI
action strings, as the LLM policy does at every step. Both methods run in the same process on the
same token ids, interleaved repeat by repeat; the speedup is the ratio of their median times. This
is repeated for each torch thread count asked for: on a busy 2-core machine one thread can beat two.

    python benchmarks/llm_scoring.py                      # threads 1 and 2, 5 repeats, 4-prompt batch
    python benchmarks/llm_scoring.py --threads 2 --repeats 21 --batch-repeats 9

Writes benchmarks/results/llm_scoring.json: ``scoring_speedup`` and ``max_abs_logprob_diff`` (at
the thread count where shared-prefix scoring is fastest), times per thread count, and greedy
generation tokens/s per installed backend.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mentor.benchmarks.provenance import provenance
from mentor.llm import make_llm
from mentor.llm.llamacpp_backend import is_llamacpp_available
from mentor.llm.scoring import score_batch
from mentor.llm.testing import BABYAI_ACTIONS, BABYAI_PROMPT

RESULTS = Path(__file__).parent / "results" / "llm_scoring.json"
GENERATION_PROMPT = "List the steps an agent in a grid world takes to pick up a key and open a locked door."
EXTRA_PROMPTS = [
    BABYAI_PROMPT.replace("a red ball 2 steps left", "a red ball 1 step right"),
    BABYAI_PROMPT.replace("go to the red ball", "pick up the grey key"),
    BABYAI_PROMPT.replace("a wall 3 steps forward", "a closed yellow door 2 steps forward"),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="transformers:embedded", help="transformers LLM spec to benchmark")
    parser.add_argument("--threads", default="1,2", help="comma-separated torch CPU thread counts to measure")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per method, one prompt (median)")
    parser.add_argument("--batch-prompts", type=int, default=4, help="prompts in the multi-prompt batch (0 skips it)")
    parser.add_argument("--batch-repeats", type=int, default=3, help="timed repeats per method, batch (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per method before timing")
    parser.add_argument("--gen-tokens", type=int, default=32, help="most new tokens per generation run")
    parser.add_argument("--gen-repeats", type=int, default=2, help="timed generation runs per backend")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON output path")
    args = parser.parse_args()
    try:
        args.threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        parser.error(f"--threads must be comma-separated integers, got {args.threads!r}")
    if min(args.threads) < 1 or min(args.repeats, args.batch_repeats, args.gen_repeats) < 1:
        parser.error("--threads, --repeats, --batch-repeats and --gen-repeats must be >= 1")
    if args.warmup < 0 or args.batch_prompts < 0:
        parser.error("--warmup and --batch-prompts must be >= 0")
    return args


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(model, tokenizer, prompts, candidates, warmup: int, repeats: int) -> dict:
    """Median seconds of naive and shared scoring (interleaved), and their largest log-prob difference."""
    runs = {m: (lambda m=m: score_batch(model, tokenizer, prompts, candidates, method=m)) for m in ("naive", "shared")}
    with torch.inference_mode():
        naive, shared = runs["naive"](), runs["shared"]()
        diff = (naive.token_logprobs - shared.token_logprobs).abs().max().item()
        for _ in range(warmup):
            for run in runs.values():
                run()
        times = {m: [] for m in runs}
        for _ in range(repeats):
            for m, run in runs.items():
                times[m].append(timed(run))
    median = {m: statistics.median(t) for m, t in times.items()}
    return {
        "naive_seconds": median["naive"],
        "shared_seconds": median["shared"],
        "speedup": median["naive"] / median["shared"],
        "max_abs_logprob_diff": diff,
        "naive_runs": times["naive"],
        "shared_runs": times["shared"],
        "tokens_read_naive": naive.num_tokens,
        "tokens_read_shared": shared.num_tokens,
    }


def generation_speed(llm, max_new_tokens: int, repeats: int) -> dict:
    """Greedy generation tokens/s (median over runs), from the LLM's own usage counters."""
    llm.generate(GENERATION_PROMPT, max_new_tokens=4)
    rates, tokens = [], []
    for _ in range(repeats):
        before_tokens, before_seconds = llm.usage.completion_tokens, llm.usage.seconds
        llm.generate(GENERATION_PROMPT, max_new_tokens=max_new_tokens)
        n = llm.usage.completion_tokens - before_tokens
        rates.append(n / (llm.usage.seconds - before_seconds))
        tokens.append(n)
    return {"tokens_per_s": statistics.median(rates), "tokens_per_run": tokens, "runs_tokens_per_s": rates}


def cached_load_seconds(spec: str, repeats: int = 3) -> dict:
    """Seconds ``make_llm(spec)`` takes in a fresh process once the safetensors cache exists (torch imported first)."""
    code = (
        "import time, torch\n"
        "start = time.perf_counter()\n"
        "from mentor.llm import make_llm\n"
        f"make_llm({spec!r}, cache=False)\n"
        "print(time.perf_counter() - start)"
    )
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        runs.append(float(out.strip().splitlines()[-1]))
    return {"median_seconds": statistics.median(runs), "runs": runs}


def llamacpp_results(args: argparse.Namespace, threads: int) -> dict:
    if not is_llamacpp_available():
        return {"available": False, "reason": "llama-cpp-python not installed (extra [llamacpp])"}
    llm = make_llm("llamacpp:embedded", cache=False, num_threads=threads)
    candidates = list(BABYAI_ACTIONS)
    llm.score(BABYAI_PROMPT, candidates)
    seconds = statistics.median(timed(lambda: llm.score(BABYAI_PROMPT, candidates)) for _ in range(args.repeats))
    speed = generation_speed(llm, args.gen_tokens, args.gen_repeats)
    return {"available": True, "threads": threads, "score_seconds": seconds, **speed}


def main() -> None:
    args = parse_args()
    console = Console()
    llm = make_llm(args.spec, cache=False, device="cpu")
    load = cached_load_seconds(args.spec)
    console.print(f"load from the safetensors cache in a fresh process: {load['median_seconds']:.2f} s (median)")
    model, tokenizer = llm.model, llm.tokenizer
    candidates = list(BABYAI_ACTIONS)
    prompt_tokens = len(tokenizer(BABYAI_PROMPT, add_special_tokens=False)["input_ids"])
    prompts = ([BABYAI_PROMPT, *EXTRA_PROMPTS] * args.batch_prompts)[: args.batch_prompts]
    console.print(f"{args.spec}: prompt of {prompt_tokens} tokens, {len(candidates)} actions, {os.cpu_count()} CPUs")

    by_threads = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        single = compare(model, tokenizer, [BABYAI_PROMPT], [candidates], args.warmup, args.repeats)
        batch = None
        if prompts:
            batch = compare(model, tokenizer, prompts, [candidates] * len(prompts), args.warmup, args.batch_repeats)
        by_threads[threads] = {
            "single_prompt": single,
            "batch": {"num_prompts": len(prompts), **batch} if batch else None,
            "generation": generation_speed(llm, args.gen_tokens, args.gen_repeats),
        }
    best = min(by_threads, key=lambda t: by_threads[t]["single_prompt"]["shared_seconds"])
    generation = {"transformers": {"threads": best, **by_threads[best]["generation"]}}
    generation["llamacpp"] = llamacpp_results(args, best)

    table = Table(title="Scoring 6 actions: naive full sequences vs shared prefix (median s)")
    for column in ("threads", "case", "naive s", "shared s", "speedup", "max |dlogp|", "gen tok/s"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for threads, result in by_threads.items():
        rows = [("1 prompt", result["single_prompt"])]
        if result["batch"]:
            rows.append((f"{len(prompts)} prompts", result["batch"]))
        for i, (case, r) in enumerate(rows):
            rate = f"{result['generation']['tokens_per_s']:.1f}" if i == 0 else ""
            table.add_row(
                str(threads),
                case,
                f"{r['naive_seconds']:.3f}",
                f"{r['shared_seconds']:.3f}",
                f"{r['speedup']:.2f}x",
                f"{r['max_abs_logprob_diff']:.1e}",
                rate,
            )
    console.print(table)
    for backend, result in generation.items():
        rate = f"{result['tokens_per_s']:.1f} tok/s" if result.get("available", True) else escape(result["reason"])
        console.print(f"generation, {backend}: {rate}")

    headline = by_threads[best]
    diffs = [r[k]["max_abs_logprob_diff"] for r in by_threads.values() for k in ("single_prompt", "batch") if r[k]]
    results = {
        "scoring_speedup": headline["single_prompt"]["speedup"],
        "max_abs_logprob_diff": max(diffs),
        "naive_seconds": headline["single_prompt"]["naive_seconds"],
        "shared_seconds": headline["single_prompt"]["shared_seconds"],
        "batch_speedup": headline["batch"]["speedup"] if headline["batch"] else None,
        "headline_threads": best,
        "scoring_speedup_by_threads": {t: r["single_prompt"]["speedup"] for t, r in by_threads.items()},
        "cached_load": load,
        "generation": generation,
        "by_threads": by_threads,
        "setup": {
            "spec": args.spec,
            "prompt_tokens": prompt_tokens,
            "candidates": candidates,
            "repeats": args.repeats,
            "batch_repeats": args.batch_repeats,
            "warmup": args.warmup,
            **provenance(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
