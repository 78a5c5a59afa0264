import numpy as np
import pytest

import mentor.envs as me
from mentor.envs.crafter import CRAFTER_ACHIEVEMENTS, CRAFTER_ACTIONS
from mentor.skills.crafter import (
    CRAFTER_KINDS,
    CRAFTER_SKILLS,
    LOW_VITAL,
    NEW_ACHIEVEMENT_WEIGHT,
    SURVIVAL_WEIGHT,
    CrafterSkillLibrary,
)
from mentor.skills.library import make_skill_library


@pytest.fixture(scope="module")
def crafter():
    env = me.make("mentor/Crafter-Symbolic-v0")
    yield env
    env.close()


def _reset(env, seed=0):
    obs, info = env.reset(seed=seed)
    library = make_skill_library(env)
    library.reset(obs, info)
    return library, obs, info


def test_one_skill_per_achievement_plus_explore():
    assert isinstance(CrafterSkillLibrary.kinds, tuple) and "explore" in CRAFTER_KINDS
    from mentor.skills.crafter import _ACHIEVEMENT

    achievements = sorted(a for a in _ACHIEVEMENT.values() if a)
    assert achievements == sorted(CRAFTER_ACHIEVEMENTS)
    assert len(CRAFTER_SKILLS) == 23


def test_available_and_feasible_follow_the_map_and_the_inventory(crafter):
    library, _, _ = _reset(crafter)
    available = [s.name for s in library.available()]
    assert "collect wood" in available and "collect iron" not in available
    feasible = [s.name for s in library.feasible()]
    assert "collect wood" in feasible
    assert "place table" not in available and "make wood pickaxe" not in available  # no wood
    assert "sleep" in available and "sleep" not in feasible  # energy full
    crafter.unwrapped.player.inventory["wood"] = 9
    assert "place table" in [s.name for s in library.feasible()]
    assert "make wood pickaxe" in [s.name for s in library.available()]
    assert "make wood pickaxe" not in [s.name for s in library.feasible()]  # no table seen


def test_collect_wood_walks_to_the_tree_and_succeeds(crafter):
    library, obs, info = _reset(crafter)
    ctx = library.begin(library.skill("collect wood"))
    assert ctx.target_pos == (28, 29)
    features = library.features(ctx, obs)
    assert features.shape == library.observation_space.shape and library.observation_space.contains(features)
    for action in ["move left"] * 4 + ["move up"] * 3:
        obs, _, _, _, info = crafter.step(CRAFTER_ACTIONS.index(action))
        library.update(obs, info)
        assert not library.succeeded(ctx, info)
    assert library.features(ctx, obs)[-2:].tolist() == [1.0, 1.0]  # facing the tree, next to it
    assert library.scripted_action(ctx) == CRAFTER_ACTIONS.index("do")
    obs, _, _, _, info = crafter.step(CRAFTER_ACTIONS.index("do"))
    library.update(obs, info)
    assert library.succeeded(ctx, info)


def test_predicate_counts_achievements_since_the_skill_began(crafter):
    library, _, info = _reset(crafter)
    ctx = library.begin(library.skill("sleep"))
    achievements = dict(info["achievements"])
    assert not library.succeeded(ctx, {"achievements": achievements})
    achievements["wake_up"] += 1
    assert library.succeeded(ctx, {"achievements": achievements})


def test_skills_on_unseen_things_cannot_start(crafter):
    library, _, _ = _reset(crafter)
    assert library.begin(library.skill("collect diamond")) is None
    assert library.begin(library.skill("sleep")) is not None


def test_symbolic_features_are_rebuilt_for_pixel_envs():
    env = me.make("mentor/Crafter-v0")
    obs, info = env.reset(seed=0)
    library = make_skill_library(env)
    library.reset(obs, info)
    symbolic = me.make("mentor/Crafter-Symbolic-v0")
    sym_obs, sym_info = symbolic.reset(seed=0)
    reference = make_skill_library(symbolic)
    reference.reset(sym_obs, sym_info)
    skill = library.skill("collect wood")
    np.testing.assert_allclose(
        library.features(library.begin(skill), obs), reference.features(reference.begin(skill), sym_obs)
    )
    assert library.high_level_space.contains(library.high_level_features(obs))


def test_priority_puts_survival_first_then_new_achievements(crafter):
    library, _, _ = _reset(crafter)
    player = crafter.unwrapped.player
    assert library.priority(library.skill("collect wood")) == NEW_ACHIEVEMENT_WEIGHT
    assert library.priority(library.skill("explore")) == 1.0
    player.achievements["collect_wood"] = 1
    assert library.priority(library.skill("collect wood")) == 1.0
    player.achievements["collect_drink"] = 1
    assert library.priority(library.skill("drink water")) == 1.0
    player.inventory["drink"] = LOW_VITAL
    assert library.priority(library.skill("drink water")) == SURVIVAL_WEIGHT


def test_scripted_interactions_follow_crafters_rules(crafter):
    library, _, _ = _reset(crafter)
    player, world = crafter.unwrapped.player, crafter.unwrapped.world
    front = (int(player.pos[0]) + int(player.facing[0]), int(player.pos[1]) + int(player.facing[1]))
    world[front] = "grass"
    assert _interaction_of(library, "place table") is None  # no wood yet
    player.inventory["wood"] = 5
    place = library.begin(library.skill("place table"))
    assert library.scripted_action(place) == CRAFTER_ACTIONS.index("place table")
    world[front] = "water"
    assert library.scripted_action(place) is None  # a table cannot stand on water
    world[front] = "table"
    make = library.begin(library.skill("make wood pickaxe"))
    assert library.scripted_action(make) == CRAFTER_ACTIONS.index("make wood pickaxe")
    world[front] = "stone"
    assert _interaction_of(library, "collect stone") is None  # stone needs a wood pickaxe
    player.inventory["wood_pickaxe"] = 1
    assert _interaction_of(library, "collect stone") == CRAFTER_ACTIONS.index("do")
    world[front] = "grass"
    assert _interaction_of(library, "make wood pickaxe") is None  # no table within reach
    assert _interaction_of(library, "explore") is None


def _interaction_of(library, name):
    return library.interaction(library.skill(name))


def test_urgent_is_the_feasible_skill_restoring_the_lowest_low_vital(crafter):
    library, _, _ = _reset(crafter)
    player = crafter.unwrapped.player
    assert library.urgent() is None
    player.inventory["energy"] = LOW_VITAL
    assert library.urgent().name == "sleep"
    player.inventory["food"] = 1
    feasible = {s.name for s in library.feasible()}
    expected = "eat cow" if "eat cow" in feasible else "sleep"
    assert library.urgent().name == expected


def test_planner_is_offered_feasible_skills_and_sleep_only_when_tired(crafter):
    library, _, _ = _reset(crafter)
    player = crafter.unwrapped.player
    player.inventory["wood"] = 3
    offered = [s.name for s in library.planner_skills()]
    assert "make wood pickaxe" in [s.name for s in library.available()] and "make wood pickaxe" not in offered
    assert "place table" in offered and "collect wood" in offered
    player.inventory["energy"] = 8
    assert "sleep" in [s.name for s in library.feasible()] and "sleep" not in [s.name for s in library.planner_skills()]
    player.inventory["energy"] = LOW_VITAL
    assert "sleep" in [s.name for s in library.planner_skills()]
