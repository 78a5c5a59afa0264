import numpy as np
import pytest

from mentor.critics import LabelledTransition, collect_transitions, state_text
from mentor.critics.transitions import StepRecord, pair_transitions
from mentor.envs import TextObservation
from mentor.errors import UnknownComponentError


def _check_balanced(transitions: list[LabelledTransition], family: str) -> None:
    assert transitions and len(transitions) % 2 == 0
    for positive, negative in zip(transitions[0::2], transitions[1::2]):
        assert positive.label and not negative.label
        assert positive.subgoal == negative.subgoal and positive.kind == negative.kind
        assert positive.family == negative.family == family


def test_minigrid_transitions_are_balanced_and_varied():
    transitions = collect_transitions("minigrid", num_pairs=8, seed=0)
    _check_balanced(transitions, "minigrid")
    assert len(transitions) == 16
    assert len({t.kind for t in transitions}) >= 3


def test_minigrid_ground_truth_is_visible_in_the_text():
    transitions = collect_transitions("minigrid", num_pairs=12, seed=1)
    picked = [t for t in transitions if t.label and t.kind == "pick up"]
    opened = [t for t in transitions if t.label and t.kind == "open door"]
    assert picked or opened
    for t in picked:
        thing = t.subgoal.removeprefix("pick up the ")
        assert f"You carry a {thing}" in t.after and f"You carry a {thing}" not in t.before
    for t in opened:
        color = t.subgoal.split()[2]
        assert f"open {color} door" in t.after


def test_crafter_positives_are_achievement_unlocks():
    transitions = collect_transitions("crafter", num_pairs=3, seed=0)
    _check_balanced(transitions, "crafter")
    for t in transitions[0::2]:
        assert t.subgoal in t.after.split("Achievements unlocked: ")[1]


def test_mujoco_move_forward():
    transitions = collect_transitions("mujoco", num_pairs=3, seed=0)
    _check_balanced(transitions, "mujoco")
    assert {t.subgoal for t in transitions} == {"move forward"}


def test_pairing_draws_negatives_where_the_subgoal_does_not_hold():
    records = [
        StepRecord(0, "b0", "a0", {"pick up the key": "pick up"}, frozenset({"pick up the key"})),
        StepRecord(0, "b1", "a1", {}, frozenset({"pick up the key"})),
        StepRecord(0, "b2", "a2", {}, frozenset()),
        StepRecord(1, "b3", "a3", {}, frozenset()),
    ]
    transitions = pair_transitions(records, num_pairs=5, family="minigrid", rng=np.random.default_rng(0))
    assert [(t.before, t.label) for t in transitions] == [("b0", True), ("b2", False)]


def test_state_text_puts_feedback_first():
    assert state_text(TextObservation("m", "room", ("look",), feedback="You see.")) == "Feedback: You see.\nroom"
    assert state_text(TextObservation("m", "room", ())) == "room"


def test_bad_arguments():
    with pytest.raises(UnknownComponentError, match=r"Unknown transition family 'atari'"):
        collect_transitions("atari", 2)
    with pytest.raises(ValueError, match=r"num_pairs \(0\) and max_env_steps \(10\) must be at least 1"):
        collect_transitions("minigrid", 0, max_env_steps=10)
    with pytest.raises(ValueError, match=r"env 'mentor/Crafter-v0' is of family 'crafter', not 'minigrid'"):
        collect_transitions("minigrid", 2, env_ids=("mentor/Crafter-v0",))


@pytest.mark.slow
def test_textworld_transitions():
    transitions = collect_transitions("textworld", num_pairs=4, seed=0)
    _check_balanced(transitions, "textworld")
    for t in transitions[0::2]:
        if t.kind == "take":
            assert t.subgoal.removeprefix("take the ") in t.after.lower()
