import math

import pytest

from mentor.evaluation.protocols import (
    CRAFTER_ACHIEVEMENTS,
    crafter_score,
    crafter_score_from_outcomes,
    crafter_success_rates,
    episodes_within_budget,
    success_rate,
    summarize_outcomes,
)


def _outcome(step=0, success=False, ret=0.0, achievements=(), progression=0.0, length=10):
    return {
        "step": step,
        "success": success,
        "return": ret,
        "achievements": list(achievements),
        "progression": progression,
        "length": length,
    }


def test_crafter_score_hand_computed():
    assert crafter_score([0.0] * 22) == 0.0
    assert crafter_score([100.0] * 22) == pytest.approx(100.0)
    # One achievement always unlocked, the rest never: 101 ** (1/22) - 1 = 0.23340 (by hand: exp(4.61512 / 22) - 1).
    assert crafter_score([100.0] + [0.0] * 21) == pytest.approx(0.23340, abs=1e-5)
    # Eleven at 10 %, eleven at 0 %: exp(11 * ln(11) / 22) - 1 = sqrt(11) - 1 = 2.31662.
    assert crafter_score([10.0] * 11 + [0.0] * 11) == pytest.approx(2.31662, abs=1e-5)


def test_crafter_score_rejects_bad_input():
    with pytest.raises(ValueError, match="needs 22 success rates, got 3"):
        crafter_score([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"percentages in \[0, 100\]"):
        crafter_score([150.0] * 22)


def test_success_rates_count_episodes_not_unlocks():
    rates = crafter_success_rates([["collect_wood", "place_table"], ["collect_wood"], [], ["collect_wood"]])
    assert rates["collect_wood"] == 75.0 and rates["place_table"] == 25.0 and rates["collect_diamond"] == 0.0
    assert list(rates) == list(CRAFTER_ACHIEVEMENTS)
    score, _ = crafter_score_from_outcomes(
        [_outcome(achievements=a) for a in (["collect_wood", "place_table"], ["collect_wood"], [], ["collect_wood"])]
    )
    assert score == pytest.approx(math.exp((math.log(76) + math.log(26)) / 22) - 1)


def test_budget_filter_and_summaries():
    outcomes = [
        _outcome(step=100, success=True, ret=1.0),
        _outcome(step=200, ret=0.0),
        _outcome(step=300, success=True, ret=0.5),
    ]
    assert len(episodes_within_budget(outcomes, 200)) == 2
    assert success_rate(outcomes) == pytest.approx(2 / 3)
    summary = summarize_outcomes(outcomes)
    assert summary["episodes"] == 3 and summary["mean_return"] == pytest.approx(0.5)
    assert summarize_outcomes([])["success_rate"] == 0.0
