"""Agreement of the LLM success detector with ground truth, on labelled transitions from each env family.

Transitions are collected automatically (:func:`mentor.critics.collect_transitions`): a behaviour
policy plays the envs and the ground truth comes from env state (a Crafter achievement counter went
up, a MiniGrid object was picked up or a door opened, a TextWorld item entered the inventory or the
score rose, a MuJoCo robot moved forward). Each positive is paired with a negative of the same
subgoal from the same episode, so every family's set is balanced.

The detector scores every transition once; its three calibrations are computed from the same
scores. It is compared, on the same transitions, with trivial baselines: a constant answer, "the
state changed" (the trivial ones; ``balanced_accuracy_vs_best_trivial`` is the detector's
balanced accuracy over the better of them), and "a word of the subgoal appears among the added
lines" (a keyword heuristic). AUC is the threshold-free ranking quality (0.5 is chance).

    python benchmarks/critics.py                                   # 12 pairs per family, embedded LLM
    python benchmarks/critics.py --pairs 50 --families minigrid,crafter --llm transformers:embedded

Writes benchmarks/results/critics.json: per family ``n``, ``accuracy``, ``balanced_accuracy``,
``auc`` of the detector (default calibration) and of each calibration and baseline, per-kind
accuracy, and seconds per transition.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from mentor.benchmarks.provenance import provenance
from mentor.critics import (
    CALIBRATIONS,
    DETECTOR_ENVS,
    DETECTOR_VIEWS,
    SuccessDetector,
    SuccessDetectorConfig,
    changed_lines,
    collect_transitions,
)
from mentor.llm import make_llm

RESULTS = Path(__file__).parent / "results" / "critics.json"
_STOPWORDS = {"the", "a", "an", "to", "up", "go", "of", "with", "from", "you", "object", "carry", "move"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", default="transformers:embedded", help="LLM spec of the detector")
    parser.add_argument("--families", default=",".join(DETECTOR_ENVS), help="comma-separated env families")
    parser.add_argument("--pairs", type=int, default=12, help="positive/negative pairs per family")
    parser.add_argument("--seed", type=int, default=0, help="seed of the behaviour policy and episodes")
    parser.add_argument("--view", default="changes", choices=DETECTOR_VIEWS, help="what the prompt shows")
    parser.add_argument("--batch", type=int, default=4, help="transitions per scoring call")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON output path")
    args = parser.parse_args()
    args.families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in args.families if f not in DETECTOR_ENVS]
    if unknown:
        parser.error(f"--families: unknown {unknown}; choose from {', '.join(DETECTOR_ENVS)}")
    if args.pairs < 1 or args.batch < 1 or args.threads < 1:
        parser.error("--pairs, --batch and --threads must be >= 1")
    return args


def metrics(labels: np.ndarray, predictions: np.ndarray, scores: np.ndarray | None = None) -> dict:
    """Accuracy, balanced accuracy, share predicted positive and (with scores) AUC."""
    tpr = float(predictions[labels].mean()) if labels.any() else 0.0
    tnr = float((~predictions[~labels]).mean()) if (~labels).any() else 0.0
    out = {
        "n": int(labels.size),
        "accuracy": float((predictions == labels).mean()),
        "balanced_accuracy": (tpr + tnr) / 2,
        "true_positive_rate": tpr,
        "true_negative_rate": tnr,
        "predicted_positive": float(predictions.mean()),
    }
    if scores is not None:
        positives, negatives = scores[labels], scores[~labels]
        wins = (positives[:, None] > negatives[None, :]).sum() + 0.5 * (positives[:, None] == negatives[None, :]).sum()
        out["auc"] = float(wins / (positives.size * negatives.size)) if positives.size and negatives.size else None
    return out


def keyword_baseline(subgoal: str, before: str, after: str) -> bool:
    """Success iff a content word of the subgoal appears in a line that the transition added."""
    words = {w for w in re.findall(r"[a-z]+", subgoal.lower()) if w not in _STOPWORDS}
    added = " ".join(line for line in changed_lines(before, after).splitlines() if line.startswith("+ ")).lower()
    return any(re.search(rf"\b{re.escape(w)}\b", added) for w in words)


def evaluate_family(family: str, args: argparse.Namespace, llm, console: Console) -> dict:
    start = time.perf_counter()
    transitions = collect_transitions(family, args.pairs, seed=args.seed)
    collect_seconds = time.perf_counter() - start
    labels = np.array([t.label for t in transitions])
    items = [(t.subgoal, t.before, t.after) for t in transitions]

    raw = SuccessDetector(llm, SuccessDetectorConfig(view=args.view, calibration="none"))
    start = time.perf_counter()
    probabilities = []
    for i in range(0, len(items), args.batch):
        probabilities += [p for _, p in raw.detect_batch(items[i : i + args.batch])]
        console.print(f"  {family}: {len(probabilities)}/{len(items)} scored", end="\r")
    score_seconds = time.perf_counter() - start
    logits = np.array([math.log(p) - math.log1p(-p) for p in probabilities])

    calibrated, calibrations = {}, {}
    for mode in CALIBRATIONS:
        detector = SuccessDetector(llm, SuccessDetectorConfig(view=args.view, calibration=mode))
        calibrated[mode] = logits - np.array(detector.biases([t.subgoal for t in transitions]))
        calibrations[mode] = metrics(labels, calibrated[mode] >= 0.0, calibrated[mode])
    seconds = time.perf_counter() - start

    default = SuccessDetectorConfig().calibration
    by_kind = {}
    for kind in sorted({t.kind for t in transitions}):
        mask = np.array([t.kind == kind for t in transitions])
        by_kind[kind] = metrics(labels[mask], calibrated[default][mask] >= 0.0)

    changed = np.array([t.before.strip() != t.after.strip() for t in transitions])
    keyword = np.array([keyword_baseline(*item) for item in items])
    best_trivial = max(0.5, metrics(labels, changed)["balanced_accuracy"])
    return {
        "envs": list(DETECTOR_ENVS[family]),
        "n": len(transitions),
        "positives": int(labels.sum()),
        **{k: calibrations[default][k] for k in ("accuracy", "balanced_accuracy", "auc")},
        "detector": calibrations[default],
        "calibrations": calibrations,
        "baselines": {
            "always_no": metrics(labels, np.zeros_like(labels)),
            "always_yes": metrics(labels, np.ones_like(labels)),
            "state_changed": metrics(labels, changed),
            "keyword": metrics(labels, keyword),
        },
        "balanced_accuracy_vs_best_trivial": calibrations[default]["balanced_accuracy"] / best_trivial,
        "by_kind": by_kind,
        "seconds_per_transition": seconds / len(transitions),
        "scoring_seconds": score_seconds,
        "collect_seconds": collect_seconds,
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    console = Console(width=160)
    llm = make_llm(args.llm, cache=False, device="cpu")
    families = {}
    for family in args.families:
        families[family] = evaluate_family(family, args, llm, console)

    table = Table(title=f"Success detector vs ground truth ({args.llm}, view={args.view}, calibration=subgoal)")
    for column in (
        "family",
        "n",
        "accuracy",
        "bal. acc.",
        "AUC",
        "bal. acc. raw",
        "bal. acc. content-free",
        "state changed",
        "keyword",
        "s/transition",
    ):
        table.add_column(column, justify="left" if column == "family" else "right")
    for family, r in families.items():
        table.add_row(
            family,
            str(r["n"]),
            f"{r['accuracy']:.2f}",
            f"{r['balanced_accuracy']:.2f}",
            f"{r['auc']:.2f}",
            f"{r['calibrations']['none']['balanced_accuracy']:.2f}",
            f"{r['calibrations']['content_free']['balanced_accuracy']:.2f}",
            f"{r['baselines']['state_changed']['balanced_accuracy']:.2f}",
            f"{r['baselines']['keyword']['balanced_accuracy']:.2f}",
            f"{r['seconds_per_transition']:.2f}",
        )
    console.print(table)

    results = {
        "families": families,
        "setup": {
            "llm": args.llm,
            "llm_info": {k: v for k, v in llm.info().items() if k in ("backend", "model", "num_parameters", "dtype")},
            "detector": {
                "method": "score",
                "view": args.view,
                "answers": list(SuccessDetectorConfig().answers),
                "default_calibration": SuccessDetectorConfig().calibration,
                "threshold": 0.5,
            },
            "pairs_per_family": args.pairs,
            "seed": args.seed,
            "threads": args.threads,
            "llm_usage": llm.usage.to_dict(),
            **provenance(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
