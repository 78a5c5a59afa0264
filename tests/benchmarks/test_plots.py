"""The benchmark plots (mentor.benchmarks.plots, the reward suite's screen plot): their binning, and the files they draw."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from mentor.benchmarks import plots
from mentor.benchmarks.reward_suite import plot_screen


def test_binned_curve_averages_each_bin_carries_the_last_value_and_is_nan_before_the_first():
    episodes = [{"step": 10, "score": 1.0}, {"step": 15, "score": 3.0}, {"step": 50, "score": 4.0}]
    curve = plots.binned_curve(episodes, "score", budget=80, num_bins=4)
    np.testing.assert_array_equal(curve, [2.0, 2.0, 4.0, 4.0])
    late = plots.binned_curve([{"step": 70, "score": 5.0}], "score", budget=80, num_bins=4)
    assert np.isnan(late[:3]).all() and late[3] == 5.0


def _size(path) -> tuple[int, int]:
    height, width = matplotlib.image.imread(path).shape[:2]
    return width, height


def test_learning_curves_draw_one_band_per_agent_at_the_figure_size(tmp_path):
    seeds = [[{"step": s, "score": s / 100} for s in range(10, 101, 10)] for _ in range(2)]
    path = plots.plot_learning_curves({"ppo": seeds, "random": [[]]}, "score", 100, "curves", tmp_path / "c.png")
    assert path.exists() and _size(path) == (704, 440)


@pytest.mark.parametrize(
    "draw",
    [
        lambda p: plots.plot_achievement_bars({"ppo": {"collect_wood": 80.0, "eat_cow": 0.0}}, "bars", p),
        lambda p: plots.plot_score_bars(
            [{"env_id": "mentor/Crafter-v0", "agent": "ppo", "score_mean": 3.0, "score_std": 0.5}], "score", "t", p
        ),
        lambda p: plots.plot_llm_usage([{"env_id": "e/x", "agent": "llm", "llm_calls": 10, "llm_tokens": 900}], p),
        lambda p: plot_screen(
            [
                {
                    "task": "doorkey",
                    "human_fitness": 1.0,
                    "sparse_fitness": 0.0,
                    "screen_points": [{"ranking_score": 0.5, "fitness": 0.7}],
                }
            ],
            p,
        ),
    ],
    ids=["achievements", "scores", "llm_usage", "reward_screen"],
)
def test_each_plot_writes_a_png(tmp_path, draw):
    path = draw(tmp_path / "plot.png")
    width, height = _size(path)
    assert path == tmp_path / "plot.png" and width > 300 and height > 300
