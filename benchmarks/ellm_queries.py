"""ELLM's LLM calls per 1k env steps: one caption stream, several ways of deciding when to ask.

A policy (uniformly random, or a saved SB3 model) plays ``mentor/Crafter-Symbolic-v0`` for
``--steps`` steps; its stream of ELLM state captions goes through one :class:`GoalSuggester` per arm,
in the same run:

- ``per caption``: ask once per distinct caption (the suggester's cache, what ELLM ran with);
- ``reuse >= s``: a new caption within cosine similarity ``s`` of an answered one takes its goals.

The number of queries does not depend on the answers, so the arms count them with a scripted LLM.
Whether a reused answer is a good one does: ``--check`` asks the real LLM (``--llm``) about that
many reused captions and compares its fresh goals with the reused ones (Jaccard overlap), beside
the overlap between the fresh goals of two unrelated answered captions (the floor).

    python benchmarks/ellm_queries.py                      # random policy, 50k steps, check 20 reuses
    python benchmarks/ellm_queries.py --model runs/.../model.zip --steps 100000

Writes benchmarks/results/ellm_queries.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from mentor.benchmarks.provenance import provenance
from mentor.critics.captions import caption_crafter_state
from mentor.envs import make
from mentor.llm import make_llm
from mentor.llm.testing import ScriptedLLM
from mentor.rewards.ellm import ELLMConfig, GoalSuggester, SentenceEmbedder

RESULTS = Path(__file__).parent / "results" / "ellm_queries.json"
ENV_ID = "mentor/Crafter-Symbolic-v0"


def caption_stream(steps: int, seed: int, model_path: Path | None) -> list[str]:
    """The state caption after each reset and step, as :class:`ELLMReward` computes it."""
    env = make(ENV_ID)
    model = None
    if model_path is not None:
        from stable_baselines3 import PPO

        model = PPO.load(model_path, device="cpu")
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    captions = [caption_crafter_state(env)]
    for _ in range(steps):
        action = int(model.predict(obs, deterministic=False)[0]) if model else int(rng.integers(17))
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
        captions.append(caption_crafter_state(env))
    return captions


def count_queries(captions: list[str], config: ELLMConfig, embedder: SentenceEmbedder) -> GoalSuggester:
    """Replay the stream as ELLMReward does: ask only when the caption changes."""
    suggester = GoalSuggester(ScriptedLLM(["1. collect wood"]), config, embedder)
    last = None
    for caption in captions:
        if caption != last:
            suggester.suggest(caption)
            last = caption
    return suggester


def jaccard(a: list[str], b: list[str]) -> float:
    return len(set(a) & set(b)) / max(len(set(a) | set(b)), 1)


def check_reuses(suggester: GoalSuggester, llm_spec: str, num: int, seed: int) -> dict:
    """Fresh LLM goals for ``num`` reused captions against the goals they reused, and a floor."""
    llm = make_llm(llm_spec)
    real = GoalSuggester(llm, ELLMConfig())
    rng = np.random.default_rng(seed)
    reused = list(suggester.reuses.items())
    picks = [reused[i] for i in rng.choice(len(reused), size=min(num, len(reused)), replace=False)]
    sources = list(dict.fromkeys(suggester.reuses.values()))
    overlap, floor = [], []
    for caption, source in picks:
        fresh, reused_goals = real.suggest(caption), real.suggest(source)
        overlap.append(jaccard(fresh, reused_goals))
        others = [c for c in sources if c != source] or sources
        other = others[int(rng.integers(len(others)))]
        floor.append(jaccard(fresh, real.suggest(other)))
    return {
        "checked": len(picks),
        "reused_vs_fresh_jaccard": float(np.mean(overlap)) if overlap else None,
        "unrelated_vs_fresh_jaccard": float(np.mean(floor)) if floor else None,
        "llm_calls": real.num_queries,
        "examples": [
            {"caption": c, "reused_from": source, "fresh": real.suggest(c), "reused": real.suggest(source)}
            for c, source in picks[:5]
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=50_000, help="env steps of the caption stream")
    parser.add_argument("--model", type=Path, default=None, help="SB3 PPO model.zip to play (default: random)")
    parser.add_argument("--similarities", default="0.95,0.9,0.85", help="comma-separated reuse_similarity arms")
    parser.add_argument("--check", type=int, default=20, help="reused captions to check with the real LLM (0: none)")
    parser.add_argument("--check-similarity", type=float, default=0.9, help="the arm whose reuses are checked")
    parser.add_argument("--llm", default="transformers:embedded", help="LLM spec of the check")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    start = time.perf_counter()
    captions = caption_stream(args.steps, args.seed, args.model)
    embedder = SentenceEmbedder()
    arms: dict[str, GoalSuggester] = {"per caption": count_queries(captions, ELLMConfig(), embedder)}
    for s in (float(v) for v in args.similarities.split(",") if v.strip()):
        arms[f"reuse >= {s:g}"] = count_queries(captions, ELLMConfig(reuse_similarity=s), embedder)
    per_1k = {name: 1000 * sug.num_queries / args.steps for name, sug in arms.items()}
    changes = sum(a != b for a, b in zip(captions, captions[1:]))
    result = {
        "env_id": ENV_ID,
        "policy": str(args.model) if args.model else "random",
        "steps": args.steps,
        "distinct_captions": len(set(captions)),
        "caption_changes": changes,
        "queries_per_1k_steps": per_1k,
        "queries": {name: sug.num_queries for name, sug in arms.items()},
        "reused": {name: sug.num_reused for name, sug in arms.items()},
    }
    check_arm = f"reuse >= {args.check_similarity:g}"
    if args.check and check_arm in arms:
        result["check"] = {"arm": check_arm, **check_reuses(arms[check_arm], args.llm, args.check, args.seed)}
    result["seconds"] = time.perf_counter() - start
    result["provenance"] = provenance()

    table = Table(title=f"ELLM LLM queries over one caption stream ({result['policy']} policy, {args.steps:,} steps)")
    for column in ("arm", "queries", "per 1k steps", "reused captions"):
        table.add_column(column, justify="right" if column != "arm" else "left")
    for name, sug in arms.items():
        table.add_row(name, f"{sug.num_queries:,}", f"{per_1k[name]:.2f}", f"{sug.num_reused:,}")
    console = Console()
    console.print(table)
    console.print(f"distinct captions {result['distinct_captions']:,}; caption changes {changes:,}")
    if "check" in result:
        check = result["check"]
        console.print(
            f"{check_arm}: fresh LLM goals vs reused goals, Jaccard {check['reused_vs_fresh_jaccard']:.2f} "
            f"(unrelated caption: {check['unrelated_vs_fresh_jaccard']:.2f}) over {check['checked']} captions"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
