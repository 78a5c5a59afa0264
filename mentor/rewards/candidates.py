"""A sampled reward candidate and what became of it: its verdict, the screen that picks what trains, and the
screen's statistics over a run.

Example:
    >>> program_key("def f():\\n    return 1   \\n\\n") == program_key("def f():\\n    return 1")
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mentor.rewards.rollouts import ranking_score
from mentor.rewards.training import RewardTrainResult

__all__ = ["Candidate", "program_key", "screen", "screening_statistics"]


@dataclass
class Candidate:
    """One sampled reward and what became of it.

    Attributes:
        label: ``iter-XX/cand-YY``.
        iteration: its iteration.
        index: its index in the iteration.
        response: the LLM's answer.
        code: the extracted code (``None``: none found).
        stage: how far it got: ``extraction``, ``gate``, ``validation``, ``prerank`` (dropped),
            ``training`` (failed there) or ``trained``.
        reason: one-line reason it was rejected or failed; ``None`` if trained.
        ranking_score: rank correlation of its returns with the references' fitness (``None``: not
            scored, or the references all have one fitness).
        would_drop: pre-ranking judged it hopeless (in ``audit`` mode it is trained anyway).
        screened_out: valid, not hopeless, but ranked below the iteration's ``train_top`` (in
            ``audit`` mode it is trained anyway).
        duplicate_of: the earlier candidate of this run with the same code; it shares that one's
            verdict (its stage and reason when that code is invalid, stage ``duplicate`` when it is
            valid) and is never trained again.
        kept_despite_flag: ``drop`` mode only: every valid candidate of its iteration was judged
            hopeless and this, the best-ranked of them, was trained anyway so that something trains
            (``would_drop`` stays ``True``).
        result: its training result, if it was trained.
    """

    label: str
    iteration: int
    index: int
    response: str
    code: str | None = None
    stage: str = "extraction"
    reason: str | None = None
    ranking_score: float | None = None
    would_drop: bool = False
    screened_out: bool = False
    kept_despite_flag: bool = False
    duplicate_of: str | None = None
    result: RewardTrainResult | None = None

    @property
    def valid(self) -> bool:
        """Its code passed the gate and the validation run."""
        return self.stage in ("prerank", "training", "trained", "duplicate")

    @property
    def fitness(self) -> float | None:
        return self.result.fitness if self.result is not None and self.result.ok else None

    @property
    def passed_screen(self) -> bool:
        """Pre-ranking would train it: not hopeless (or kept despite that) and not screened out."""
        return not ((self.would_drop and not self.kept_despite_flag) or self.screened_out)

    def verdict(self) -> dict[str, Any]:
        """What the checks decided, as ``verdict.json`` keeps it (a resumed run reads it back with :meth:`apply_verdict`)."""
        return {
            "label": self.label,
            "stage": self.stage,
            "reason": self.reason,
            "ranking_score": self.ranking_score,
            "would_drop": self.would_drop,
            "screened_out": self.screened_out,
            "kept_despite_flag": self.kept_despite_flag,
            "duplicate_of": self.duplicate_of,
            "code": self.code,
        }

    def apply_verdict(self, saved: dict[str, Any]) -> None:
        """Take back a saved :meth:`verdict`."""
        self.code, self.stage, self.reason = saved["code"], saved["stage"], saved["reason"]
        self.ranking_score, self.would_drop = saved["ranking_score"], saved["would_drop"]
        self.screened_out, self.kept_despite_flag = saved["screened_out"], saved["kept_despite_flag"]
        self.duplicate_of = saved["duplicate_of"]

    def row(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "iteration": self.iteration,
            "index": self.index,
            "stage": self.stage,
            "valid": self.valid,
            "reason": self.reason,
            "ranking_score": self.ranking_score,
            "would_drop": self.would_drop,
            "screened_out": self.screened_out,
            "kept_despite_flag": self.kept_despite_flag,
            "duplicate_of": self.duplicate_of,
            "fitness": self.fitness,
            "train_seconds": self.result.train_seconds if self.result is not None else None,
        }


def program_key(code: str) -> str:
    """What two programs share when they are the same code (trailing spaces and blank lines aside)."""
    return "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())


def _score(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.2f}"


def screen(
    candidates: Sequence[Candidate], fresh: Sequence[Candidate], prerank: str, train_top: int | None, min_score: float
) -> None:
    """Flag an iteration's candidates that the screen would not train, and move the others to ``training``.

    Ranked are the valid ones that repeat no earlier program: ``train_top`` keeps the best-ranked
    of those not hopeless. In ``drop`` mode the flagged ones of ``fresh`` get their reason and stay
    at stage ``prerank``; when every valid one is hopeless, the best-ranked trains anyway
    (``kept_despite_flag``). In ``audit`` mode the flags are set and everything valid trains.
    Flags of candidates not in ``fresh`` (read back on a resume) are left as they were saved.
    """
    fresh_labels = {c.label for c in fresh}
    valid = [c for c in candidates if c.valid and c.duplicate_of is None]
    hopeful = [c for c in valid if not c.would_drop]
    if train_top is not None:
        ranked = sorted(hopeful, key=lambda c: -(c.ranking_score if c.ranking_score is not None else 0.0))
        for c in ranked[train_top:]:
            c.screened_out = c.screened_out or c.label in fresh_labels
    if prerank == "drop" and valid and not hopeful and not any(c.kept_despite_flag for c in valid):
        # something must train: the best-ranked stays flagged, and is recorded as kept despite it
        max(valid, key=lambda c: c.ranking_score if c.ranking_score is not None else 0.0).kept_despite_flag = True
    for c in fresh:
        dropping = c.stage == "prerank" and prerank == "drop"
        if dropping and c.would_drop and not c.kept_despite_flag:
            c.reason = (
                f"pre-ranking: its returns order the reference episodes no better than chance "
                f"(ranking score {c.ranking_score:.2f} <= {min_score:.2f})"
            )
        elif dropping and c.screened_out:
            c.reason = f"screened out: its ranking score {_score(c.ranking_score)} is not among the top {train_top}"
        elif c.stage == "prerank":
            c.stage = "training"


def screening_statistics(
    candidates: Sequence[Candidate], best: Candidate | None, mode: str, train_top: int | None
) -> dict[str, Any]:
    """How pre-ranking and the screen did over a run: what they flagged, saved, and whether they kept the fittest."""
    scored = [c for c in candidates if c.ranking_score is not None]
    flagged = [c for c in candidates if c.would_drop]
    kept = [c for c in flagged if c.kept_despite_flag]
    skipped = [c for c in candidates if not c.passed_screen]
    trained = [c for c in candidates if c.result is not None]
    spent = float(sum(c.result.train_seconds for c in trained))
    if mode == "audit":
        saved = float(sum(c.result.train_seconds for c in skipped if c.result is not None))
        total, measured = spent, True
    else:
        mean = spent / len(trained) if trained else 0.0
        saved, total, measured = mean * len(skipped), spent + mean * len(skipped), False
    iteration_bests: dict[int, Candidate] = {}
    for c in candidates:
        if c.fitness is not None and (
            c.iteration not in iteration_bests or c.fitness > iteration_bests[c.iteration].fitness
        ):
            iteration_bests[c.iteration] = c
    ranked = [c for c in trained if c.fitness is not None and c.ranking_score is not None]
    audited = mode == "audit" and train_top is not None
    hits = [c.passed_screen for c in iteration_bests.values()] if audited else []
    fittest = max((c for c in trained if c.fitness is not None), key=lambda c: c.fitness, default=None)
    return {
        "mode": mode,
        "train_top": train_top,
        "scored": len(scored),
        "flagged_hopeless": len(flagged),
        "screened_out": sum(c.screened_out for c in candidates),
        "duplicates": sum(c.duplicate_of is not None for c in candidates),
        "kept_despite_flag": len(kept),
        "ranking_scores": [c.ranking_score for c in scored],
        "ranking_vs_trained_fitness": ranking_score([c.ranking_score for c in ranked], [c.fitness for c in ranked])
        if len(ranked) >= 3
        else None,
        "screen_hit_rate": sum(hits) / len(hits) if hits else None,
        "training_seconds_saved": saved,
        "training_seconds_without_prerank": total,
        "saved_share": saved / total if total else 0.0,
        "saving_measured": measured,
        "dropped_winner": (not fittest.passed_screen) if (fittest is not None and mode == "audit") else None,
        "best_unscreened_fitness": fittest.fitness if (fittest is not None and mode == "audit") else None,
        "winner_flagged_hopeless": bool(best.would_drop) if (best is not None and mode != "off") else None,
        "winner_kept_despite_flag": bool(best.kept_despite_flag) if (best is not None and mode == "drop") else None,
        "iteration_bests_flagged": sum(c.would_drop for c in iteration_bests.values()) if mode == "audit" else None,
        "iterations": len(iteration_bests),
    }
