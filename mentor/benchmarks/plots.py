"""Plots for reports: learning curves with seed bands, Crafter achievement bars, score bars."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["binned_curve", "plot_learning_curves", "plot_achievement_bars", "plot_score_bars", "plot_llm_usage"]


def binned_curve(episodes: Sequence[Mapping[str, Any]], key: str, budget: int, num_bins: int = 40) -> np.ndarray:
    """Mean of ``key`` over the episodes ending in each of ``num_bins`` equal step bins (NaN before the first)."""
    edges = np.linspace(0, budget, num_bins + 1)
    values = np.full(num_bins, np.nan)
    steps = np.array([e["step"] for e in episodes], dtype=float)
    data = np.array([float(e[key]) for e in episodes], dtype=float)
    last = np.nan
    for i in range(num_bins):
        mask = (steps > edges[i]) & (steps <= edges[i + 1])
        if mask.any():
            last = data[mask].mean()
        values[i] = last
    return values


def plot_learning_curves(
    curves: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]],
    key: str,
    budget: int,
    title: str,
    path: Path,
    ylabel: str | None = None,
) -> Path:
    """One line per agent (mean over seeds) with a ±1 std band; ``curves[agent]`` holds one episode list per seed."""
    num_bins = 40
    x = np.linspace(0, budget, num_bins + 1)[1:]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for agent, seeds in curves.items():
        ys = np.array([binned_curve(eps, key, budget, num_bins) for eps in seeds if eps])
        if ys.size == 0:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # bins before any seed's first episode are all-NaN
            mean, std = np.nanmean(ys, axis=0), np.nanstd(ys, axis=0)
        ax.plot(x, mean, label=f"{agent} ({len(ys)} seed{'s' if len(ys) != 1 else ''})")
        ax.fill_between(x, mean - std, mean + std, alpha=0.2)
    ax.set_xlabel("env steps")
    ax.set_ylabel(ylabel or key.replace("_", " "))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(loc="best", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no training episodes", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_achievement_bars(rates: Mapping[str, Mapping[str, float]], title: str, path: Path) -> Path:
    """Crafter per-achievement success rates (%), log-scaled as in the Crafter paper; one bar per agent."""
    agents = list(rates)
    names = list(next(iter(rates.values())))
    width = 0.8 / max(len(agents), 1)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(13, 4.2))
    for i, agent in enumerate(agents):
        values = [max(rates[agent][n], 0.0) for n in names]
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=agent)
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(0, 100)
    ax.set_ylabel("success rate (%)")
    ax.set_xticks(x)
    ax.set_xticklabels([n.replace("_", " ") for n in names], rotation=60, ha="right", fontsize=8)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_score_bars(rows: Sequence[Mapping[str, Any]], ylabel: str, title: str, path: Path) -> Path:
    """Headline score per (env, agent) with ±1 std error bars over seeds."""
    labels = [f"{r['env_id'].split('/')[-1]}\n{r['agent']}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(rows)), 4.0))
    ax.bar(range(len(rows)), [r["score_mean"] for r in rows], yerr=[r["score_std"] for r in rows], capsize=4)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_llm_usage(rows: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """LLM calls and tokens (mean per seed, log scale) of each (env, agent) row that used an LLM."""
    labels = [f"{r['env_id'].split('/')[-1]}\n{r['agent']}" for r in rows]
    x = np.arange(len(rows))
    fig, (calls_ax, tokens_ax) = plt.subplots(1, 2, figsize=(max(6.4, 2.4 * len(rows)), 4.0))
    for ax, key, ylabel in ((calls_ax, "llm_calls", "LLM calls"), (tokens_ax, "llm_tokens", "LLM tokens")):
        ax.bar(x, [max(r[key], 0.0) for r in rows], color="tab:purple" if key == "llm_calls" else "tab:green")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel(f"{ylabel} per seed")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("LLM usage")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
