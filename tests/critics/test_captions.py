from mentor.critics.captions import (
    CRAFTER_ACHIEVEMENT_CAPTIONS,
    caption_crafter_state,
    caption_crafter_transition,
    join_words,
)
from mentor.envs import make
from mentor.envs.crafter import CRAFTER_ACHIEVEMENTS


def test_every_achievement_has_a_caption():
    assert list(CRAFTER_ACHIEVEMENT_CAPTIONS) == list(CRAFTER_ACHIEVEMENTS)
    assert CRAFTER_ACHIEVEMENT_CAPTIONS["collect_drink"] == "drink water"
    assert CRAFTER_ACHIEVEMENT_CAPTIONS["make_wood_pickaxe"] == "make wood pickaxe"


def test_transition_captions_are_the_counters_that_went_up():
    before = {"collect_wood": 1, "eat_cow": 0, "wake_up": 2}
    assert caption_crafter_transition(before, {"collect_wood": 2, "eat_cow": 0, "wake_up": 2}) == ["collect wood"]
    assert caption_crafter_transition(before, before) == []


def test_join_words():
    assert [join_words([]), join_words(["a"]), join_words(["a", "b"]), join_words(["a", "b", "c"])] == [
        "",
        "a",
        "a and b",
        "a, b and c",
    ]


def test_state_caption_lists_kinds_items_and_low_vitals():
    env = make("mentor/Crafter-Symbolic-v0")
    env.reset(seed=0)
    assert caption_crafter_state(env) == "You see cow and tree. You have nothing."
    player = env.unwrapped.player
    player.inventory["wood"], player.inventory["wood_pickaxe"], player.inventory["drink"] = 2, 1, 1
    assert caption_crafter_state(env) == "You see cow and tree. You have wood and wood pickaxe. You feel thirsty."
