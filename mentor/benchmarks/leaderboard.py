"""``mentor leaderboard``: merge every finished benchmark run into ``leaderboard.md`` and ``leaderboard.csv``.

Rows come from each run's ``results.json`` (the newest run wins for the same suite, env, agent and
budget); published reference rows come from ``configs/leaderboard_references.yml`` and are marked
"reported, not run here". Rows of an earlier ``leaderboard.csv`` whose runs are not on this machine stay
(:func:`keep_rows`): a row is replaced only by a run of the same command.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from mentor.paths import configs_root, runs_root
from mentor.runs import atomic_write_text

__all__ = ["LeaderboardRow", "collect_rows", "keep_rows", "read_leaderboard_csv", "reference_rows", "write_leaderboard"]

REPORTED = "reported, not run here"


@dataclass(frozen=True)
class LeaderboardRow:
    """One line of the leaderboard."""

    suite: str
    env: str
    agent: str
    metric: str
    score: float
    score_std: float | None
    seeds: int | None
    env_steps: int | None
    llm_calls: float | None
    llm_tokens: float | None
    wall_seconds: float | None
    command: str
    run: str

    def score_text(self) -> str:
        scale = 100.0 if self.metric.startswith("success rate") else 1.0
        std = f" ± {scale * self.score_std:.1f}" if self.score_std is not None else ""
        unit = "%" if scale == 100.0 else ""
        return f"{scale * self.score:.1f}{unit}{std}"


def collect_rows(root: Path | str | None = None) -> list[LeaderboardRow]:
    """Rows of every ``results.json`` under ``root`` (default: the runs folder), newest run per key."""
    root = Path(root) if root is not None else runs_root()
    latest: dict[tuple[str, str, str, int], LeaderboardRow] = {}
    for results_path in sorted(root.glob("*/results.json")):
        results = json.loads(results_path.read_text())
        for row in results.get("rows", []):
            key = (results["suite"], row["env_id"], row["agent"], results["budget"])
            latest[key] = LeaderboardRow(
                suite=results["suite"],
                env=row["env_id"].split("/")[-1],
                agent=row["agent"],
                metric=row.get("score_name", results["score_name"]),
                score=row["score_mean"],
                score_std=row["score_std"] if row["seeds"] > 1 else None,
                seeds=row["seeds"],
                env_steps=row["env_steps"],
                llm_calls=row["llm_calls"],
                llm_tokens=row["llm_tokens"],
                wall_seconds=row["wall_seconds"],
                command=results.get("command", ""),
                run=results_path.parent.name,
            )
    return sorted(latest.values(), key=lambda r: (r.suite, r.env, -r.score))


def read_leaderboard_csv(path: Path | str) -> list[LeaderboardRow]:
    """The run rows (not the references) of a ``leaderboard.csv``; none if the file does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    with path.open(newline="") as f:
        records = [r for r in csv.DictReader(f) if r["command"] != REPORTED]
    kinds = {"score": float, "score_std": float, "seeds": int, "env_steps": int, "llm_calls": float}
    kinds |= {"llm_tokens": float, "wall_seconds": float}
    return [
        LeaderboardRow(**{k: (kinds[k](v) if v != "" else None) if k in kinds else v for k, v in r.items()})
        for r in records
    ]


def keep_rows(earlier: Iterable[LeaderboardRow], runs: Iterable[LeaderboardRow]) -> list[LeaderboardRow]:
    """``runs`` and the ``earlier`` rows that no run replaces (same suite, env, agent and command)."""
    runs = list(runs)
    replaced = {(r.suite, r.env, r.agent, r.command) for r in runs}
    kept = [r for r in earlier if (r.suite, r.env, r.agent, r.command) not in replaced]
    return sorted(kept + runs, key=lambda r: (r.suite, r.env, -r.score))


def reference_rows(path: Path | str | None = None) -> list[LeaderboardRow]:
    """The published reference rows."""
    path = Path(path) if path is not None else configs_root() / "leaderboard_references.yml"
    rows = []
    for ref in yaml.safe_load(path.read_text()):
        rows.append(
            LeaderboardRow(
                suite=ref["suite"],
                env=ref["env_id"],
                agent=ref["agent"],
                metric=ref.get("metric", "Crafter score"),
                score=float(ref["score"]),
                score_std=ref.get("std"),
                seeds=None,
                env_steps=None,
                llm_calls=None,
                llm_tokens=None,
                wall_seconds=None,
                command=REPORTED,
                run=ref["source"],
            )
        )
    return rows


def _cell(value: float | int | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def write_leaderboard(
    rows: Iterable[LeaderboardRow], references: Iterable[LeaderboardRow], md_path: Path | str, csv_path: Path | str
) -> tuple[Path, Path]:
    """Write the markdown and CSV leaderboards (one section per suite; references after the runs)."""
    rows, references = list(rows), list(references)
    md_path, csv_path = Path(md_path), Path(csv_path)
    lines = [
        "# mentor leaderboard",
        "",
        "Every finished `mentor bench` run, merged by `mentor leaderboard` from the runs' `results.json`.",
        f'Rows whose command reads "{REPORTED}" are published figures, shown for scale.',
    ]
    for suite in sorted({r.suite for r in rows + references}):
        lines += [
            "",
            f"## {suite}",
            "",
            "| env | agent | score | metric | seeds | env steps | LLM calls | LLM tokens | wall s | command |",
            "|---|---|---:|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in [r for r in rows if r.suite == suite] + [r for r in references if r.suite == suite]:
            command = REPORTED + f" ({r.run})" if r.command == REPORTED else f"`{r.command}`"
            lines.append(
                f"| {r.env} | {r.agent} | {r.score_text()} | {r.metric} | {_cell(r.seeds, 'd')} | "
                f"{_cell(r.env_steps, ',')} | {_cell(r.llm_calls, '.0f')} | {_cell(r.llm_tokens, '.0f')} | "
                f"{_cell(r.wall_seconds, '.0f')} | {command} |"
            )
    atomic_write_text(md_path, "\n".join(lines) + "\n")
    fields = list(LeaderboardRow.__dataclass_fields__)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in rows + references:
            writer.writerow(_csv_row(r))
    return md_path, csv_path


def _csv_row(row: LeaderboardRow) -> dict[str, Any]:
    return {k: ("" if v is None else v) for k, v in asdict(row).items()}
