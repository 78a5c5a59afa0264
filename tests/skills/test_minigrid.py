import numpy as np
import pytest

import mentor.envs as me
from mentor.errors import UnknownComponentError
from mentor.skills.library import Skill, SkillContext, make_skill_library
from mentor.skills.minigrid import EXPLORE_NEW_CELLS, MINIGRID_KINDS, MiniGridSkillLibrary

TURN_RIGHT, PICK_UP, DROP = 1, 3, 4


def _library(env_id="mentor/BabyAI-UnlockPickup-v0", seed=0):
    env = me.make(env_id)
    obs, info = env.reset(seed=seed)
    library = make_skill_library(env)
    library.reset(obs, info)
    return env, library, obs


def _step(env, library, action):
    obs, reward, terminated, truncated, info = env.step(action)
    library.update(obs, info)
    return obs


def test_make_skill_library_picks_the_family():
    _, library, _ = _library()
    assert isinstance(library, MiniGridSkillLibrary)
    assert library.kinds == MINIGRID_KINDS


def test_catalogue_names_are_unique_and_cover_every_kind():
    _, library, _ = _library()
    names = [s.name for s in library.catalogue()]
    assert len(names) == len(set(names)) == 57
    assert {s.kind for s in library.catalogue()} == set(MINIGRID_KINDS)
    assert library.skill("open the red door").target == ("door", "red")
    with pytest.raises(UnknownComponentError, match="Unknown minigrid skill 'open the red doro'"):
        library.skill("open the red doro")


def test_the_map_holds_exactly_what_was_seen():
    env, library, obs = _library("mentor/MiniGrid-KeyCorridorS3R3-v0", seed=1)
    rng = np.random.default_rng(0)
    u = env.unwrapped
    for _ in range(150):
        obs, _, terminated, truncated, info = env.step(int(rng.integers(6)))
        library.update(obs, info)
        grid, vis = u.gen_obs_grid()
        for x in range(u.width):
            for y in range(u.height):
                view = u.relative_coords(x, y)
                if view is None or not vis[view] or (x, y) == tuple(u.agent_pos):
                    continue
                obj = u.grid.get(x, y)
                assert tuple(library._map[x, y]) == (obj.encode() if obj else (1, 0, 0))
        if terminated or truncated:
            break


def test_available_lists_skills_on_seen_objects():
    _, library, _ = _library()
    assert [s.name for s in library.available()] == ["pick up the green key", "explore", "go to the green key"]
    assert library.begin(library.skill("open the purple box")) is None
    assert library.begin(library.skill("drop the object you carry")) is None


def test_planner_skills_drop_go_to_unless_the_mission_names_the_object():
    _, library, _ = _library()
    assert [s.name for s in library.planner_skills()] == ["pick up the green key", "explore"]
    env, library, _ = _library("mentor/BabyAI-GoToObj-v0", seed=0)
    assert library._u.mission.startswith("go to")
    assert library.planner_skills() == library.available()


def test_go_to_and_pick_up_predicates_follow_the_env():
    env, library, _ = _library()
    go_to = library.begin(library.skill("go to the green key"))
    assert go_to.target_pos == (4, 3) and not library.succeeded(go_to, {})
    _step(env, library, TURN_RIGHT)
    assert library.succeeded(go_to, {})
    assert "go to the green key" not in [s.name for s in library.available()]
    pick_up = library.begin(library.skill("pick up the green key"))
    _step(env, library, PICK_UP)
    assert library.succeeded(pick_up, {})
    names = [s.name for s in library.available()]
    assert "drop the object you carry" in names and "pick up the green key" not in names
    assert "open the green door" in [s.name for s in library.feasible()]
    drop = library.begin(library.skill("drop the object you carry"))
    _step(env, library, DROP)
    assert library.succeeded(drop, {})


def test_a_locked_door_is_feasible_to_open_only_with_its_key():
    env, library, _ = _library()
    _step(env, library, TURN_RIGHT)
    _step(env, library, PICK_UP)
    assert "open the green door" in [s.name for s in library.feasible()]
    _step(env, library, DROP)
    assert "open the green door" in [s.name for s in library.available()]
    assert "open the green door" not in [s.name for s in library.feasible()]


def test_open_predicate_reads_the_door_state():
    env, library, _ = _library()
    _step(env, library, TURN_RIGHT)
    _step(env, library, PICK_UP)
    ctx = library.begin(library.skill("open the green door"))
    door = env.unwrapped.grid.get(*ctx.target_pos)
    assert door.type == "door" and not library.succeeded(ctx, {})
    door.is_locked, door.is_open = False, True
    assert library.succeeded(ctx, {})


def test_explore_succeeds_after_new_cells():
    env, library, _ = _library("mentor/MiniGrid-MultiRoom-N4-S5-v0")
    ctx = library.begin(library.skill("explore"))
    assert ctx is not None and ctx.target_pos is not None
    seen = int(library._seen.sum())
    for _ in range(4):
        _step(env, library, TURN_RIGHT)
    grew = int(library._seen.sum()) - seen
    assert library.succeeded(ctx, {}) == (grew >= EXPLORE_NEW_CELLS)


def test_features_hold_goal_pointer_and_carrying():
    env, library, obs = _library()
    skill = library.skill("pick up the green key")
    ctx = library.begin(skill)
    features = library.features(ctx, obs)
    assert features.shape == library.observation_space.shape and features.dtype == np.float32
    assert library.observation_space.contains(features)
    goal = features[147:163]
    assert goal[MINIGRID_KINDS.index("pick_up")] == 1 and goal.sum() == 3
    pointer = features[163:171]
    assert pointer[0] == 1.0 and pointer[6] == 0.0 and pointer[7] == 0.0
    obs = _step(env, library, TURN_RIGHT)
    assert library.features(ctx, obs)[169] == 1.0
    obs = _step(env, library, PICK_UP)
    assert library.features(ctx, obs)[171] == 1.0
    door = library.begin(library.skill("open the green door"))
    assert library.features(door, obs)[170] == 1.0  # the target is a locked door


def test_text_adds_what_was_seen_and_high_level_features_fit_their_space():
    env, library, obs = _library()
    text = library.text()
    assert text.mission == "pick up the purple box"
    assert "Objects seen so far: a green key" in text.observation
    assert "You carry nothing" in text.observation
    features = library.high_level_features(obs)
    assert library.high_level_space.contains(features)
    catalogue_names = [s.name for s in library.catalogue()]
    available = features[-len(catalogue_names) :]
    assert [n for n, a in zip(catalogue_names, available) if a] == [s.name for s in library.available()]


def test_skill_validation():
    with pytest.raises(ValueError, match="max_steps \\(0\\) of skill 'x'"):
        Skill("x", "go_to", max_steps=0)
    with pytest.raises(ValueError, match="non-empty name"):
        Skill(" ", "go_to")
    assert SkillContext(Skill("x", "go_to")).steps == 0


def test_no_library_for_mujoco():
    env = me.make("mentor/Hopper-v5")
    with pytest.raises(UnknownComponentError, match="Unknown skill library for family 'mujoco'"):
        make_skill_library(env)
