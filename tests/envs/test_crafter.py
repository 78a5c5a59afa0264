"""Crafter family: seeding, fast mode equal to stock crafter, worldgen, symbolic and text views."""

from __future__ import annotations

import subprocess
import sys

import crafter
import gymnasium as gym
import numpy as np
import opensimplex
import pytest
from gymnasium.utils.env_checker import check_env

import mentor.envs
from mentor.envs.crafter import (
    CRAFTER_ACHIEVEMENTS,
    CRAFTER_ACTIONS,
    CRAFTER_ITEMS,
    CRAFTER_SEMANTIC_NAMES,
    LOCAL_VIEW,
    SYMBOLIC_SIZE,
    CrafterConfig,
    CrafterEnv,
    crop_local_view,
)
from mentor.envs.crafter_game import CrafterGame, order_chunk_members
from mentor.envs.crafter_worldgen import noise3
from mentor.errors import ConfigError, InvalidActionError


def ordered_stock_env(seed: int, **kwargs) -> crafter.Env:
    """Stock ``crafter.Env`` whose chunks keep insertion order, the one change that makes it deterministic."""
    env = crafter.Env(seed=seed, **kwargs)
    stock_reset = env._world.reset

    def reset(seed=None):
        stock_reset(seed)
        order_chunk_members(env._world)

    env._world.reset = reset
    return env


def test_constants_match_crafter_data():
    assert CRAFTER_ACTIONS == tuple(a.replace("_", " ") for a in crafter.constants.actions)
    assert CRAFTER_ACHIEVEMENTS == tuple(crafter.constants.achievements)
    assert CRAFTER_ITEMS == tuple(crafter.constants.items)
    game = crafter.Env(seed=0)
    ids = {**game._sem_view._mat_ids, **game._sem_view._obj_ids}
    assert [ids[k] for k in [None, *crafter.constants.materials]] == list(range(13))
    assert [c.__name__.lower() for c in game._sem_view._obj_ids] == list(CRAFTER_SEMANTIC_NAMES[13:])
    assert CRAFTER_SEMANTIC_NAMES[1:13] == tuple(crafter.constants.materials)


def test_noise3_is_bit_identical_to_opensimplex():
    rng = np.random.default_rng(0)
    for seed in (0, 2**31 - 2):
        simplex = opensimplex.OpenSimplex(seed)
        x, y, z = rng.uniform(-40, 40, (3, 1500))
        x[:300], z[:600] = np.round(x[:300]), np.round(z[:600])
        expected = [simplex.noise3(a, b, c) for a, b, c in zip(x.tolist(), y.tolist(), z.tolist())]
        assert noise3(simplex, x, y, z).tolist() == expected


@pytest.mark.parametrize(("seed", "area"), [(7, (64, 64)), (3, (40, 56))])
def test_worlds_equal_stock_crafter(seed, area):
    stock, fast = crafter.Env(seed=seed, area=area), CrafterGame(seed=seed, area=area, fast=True)
    for _ in range(2):
        stock.reset(), fast.reset()
        assert np.array_equal(stock._sem_view(), fast._sem_view())
        assert np.array_equal(stock._world.random.get_state()[1], fast._world.random.get_state()[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_mode_equals_stock_crafter_over_random_play(seed):
    """Play goes on after a death (crafter allows it) so that one stock reset (~1 s) suffices."""
    stock, fast = ordered_stock_env(seed), CrafterEnv(fast=True)
    stock.reset()
    fast.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(len(CRAFTER_ACTIONS), size=1000)
    nights, unlocked = 0, set()
    for t, action in enumerate(actions.tolist()):
        _, reward, done, info = stock.step(action)
        obs, fast_reward, terminated, truncated, fast_info = fast.step(action)
        assert (reward, done) == (fast_reward, terminated or truncated), t
        assert info["achievements"] == fast_info["achievements"], t
        assert info["inventory"] == fast_info["inventory"], t
        assert np.array_equal(info["player_pos"], fast_info["player_pos"]), t
        assert np.array_equal(info["semantic"], fast_info["semantic"]), t
        assert np.array_equal(stock._world._mat_map, fast.world._mat_map), t
        assert not obs.any()
        nights += stock._world.daylight < 0.5
        unlocked |= {k for k, v in info["achievements"].items() if v}
    assert nights > 0 and unlocked


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pixel_frames_equal_stock_crafter_byte_for_byte(seed):
    """mentor's renderer and step against stock crafter's over 1,000 random steps, nights and sleep included."""
    stock, mine = ordered_stock_env(seed), CrafterEnv(observation="pixels")
    assert np.array_equal(stock.reset(), mine.reset(seed=seed)[0])
    actions = np.random.default_rng(seed).integers(len(CRAFTER_ACTIONS), size=1000)
    nights = sleeping = 0
    for t, action in enumerate(actions.tolist()):
        frame, reward, _, info = stock.step(action)
        obs, fast_reward, _, _, fast_info = mine.step(action)
        assert obs.dtype == frame.dtype and np.array_equal(obs, frame), t
        assert reward == fast_reward and np.array_equal(info["semantic"], fast_info["semantic"]), t
        nights += stock._world.daylight < 0.5
        sleeping += stock._player.sleeping
    assert nights > 0 and sleeping > 0
    assert np.array_equal(mine.game.render((90, 120)), crafter.Env.render(stock, (90, 120)))


def test_same_seed_same_trajectory_and_seed_changes_world():
    a, b = CrafterEnv(fast=True), CrafterEnv(fast=True)
    _, info_a = a.reset(seed=11)
    _, info_b = b.reset(seed=11)
    assert np.array_equal(info_a["semantic"], info_b["semantic"])
    for action in np.random.default_rng(0).integers(17, size=300).tolist():
        info_a, info_b = a.step(action)[4], b.step(action)[4]
    assert np.array_equal(info_a["semantic"], info_b["semantic"])
    assert not np.array_equal(a.reset(seed=12)[1]["semantic"], b.reset(seed=11)[1]["semantic"])
    a.reset(seed=5)
    b.reset(seed=5)
    assert np.array_equal(a.reset()[1]["semantic"], b.reset()[1]["semantic"])


def test_terminated_on_death_and_truncated_at_length():
    env = CrafterEnv(fast=True, length=3)
    env.reset(seed=0)
    assert env.step(0)[2:4] == (False, False)
    env.player.health = 0
    assert env.step(0)[2:4] == (True, False)
    env.reset(seed=0)
    assert [env.step(0)[2:4] for _ in range(3)] == [(False, False), (False, False), (False, True)]


def test_rendering_on_demand_in_fast_mode_keeps_dynamics():
    watched, blind = CrafterEnv(fast=True, render_mode="rgb_array"), CrafterEnv(fast=True)
    watched.reset(seed=4)
    blind.reset(seed=4)
    for action in np.random.default_rng(4).integers(17, size=260).tolist():
        frame = watched.render()
        info_w, info_b = watched.step(action)[4], blind.step(action)[4]
    assert frame.shape == (64, 64, 3) and frame.any()
    assert np.array_equal(info_w["semantic"], info_b["semantic"])
    assert blind.render() is None


def test_symbolic_observation_layout():
    env = CrafterEnv(observation="symbolic")
    obs, _ = env.reset(seed=2)
    env.player.inventory["wood"] = 3
    obs = env.step(0)[0]
    assert obs.shape == (SYMBOLIC_SIZE,) and obs in env.observation_space
    n_ids = len(CRAFTER_SEMANTIC_NAMES)
    local = obs[: LOCAL_VIEW[0] * LOCAL_VIEW[1] * n_ids].reshape(*LOCAL_VIEW, n_ids)
    assert np.array_equal(local.argmax(-1), env.local_view())
    assert CRAFTER_SEMANTIC_NAMES[local.argmax(-1)[4, 3]] == "player"
    inventory = obs[LOCAL_VIEW[0] * LOCAL_VIEW[1] * n_ids :][: len(CRAFTER_ITEMS)]
    assert inventory[CRAFTER_ITEMS.index("wood")] == pytest.approx(3 / 9)


def test_crop_local_view_pads_outside_the_world():
    semantic = np.arange(1, 101, dtype=np.uint8).reshape(10, 10)
    view = crop_local_view(semantic, (0, 9))
    assert view.shape == LOCAL_VIEW and view[4, 3] == semantic[0, 9]
    assert not view[:4].any() and not view[:, 4:].any()
    assert view[5, 2] == semantic[1, 8]


def test_text_view_describes_state_and_maps_actions():
    env = mentor.envs.make("mentor/Crafter-v0", fast=True)
    env.reset(seed=0)
    base = env.unwrapped
    base.player.inventory["wood"] = 2
    base.player.achievements["collect_wood"] = 1
    view = mentor.envs.describe(env)
    assert view.mission == "Unlock as many achievements as possible."
    assert view.actions == CRAFTER_ACTIONS
    assert "Facing: grass." in view.observation
    assert "Vitals: health 9/9, food 9/9, drink 9/9, energy 9/9." in view.observation
    assert "Inventory: wood 2." in view.observation
    assert "Achievements unlocked: collect wood." in view.observation
    assert view.extras["achievements"] == ["collect_wood"] and view.extras["health"] == 9
    assert [mentor.envs.text_to_action(env, a) for a in CRAFTER_ACTIONS] == list(range(17))
    assert mentor.envs.text_to_action(env, "  Move   LEFT ") == 1


def _parse_offset(phrase: str) -> tuple[int, int]:
    dx = dy = 0
    for part in phrase.split(" and "):
        n, _, direction = part.split()
        sign = -1 if direction in ("left", "up") else 1
        dx, dy = (dx + sign * int(n), dy) if direction in ("left", "right") else (dx, dy + sign * int(n))
    return dx, dy


def test_text_view_lists_the_nearest_of_each_kind_in_view():
    env = mentor.envs.make("mentor/Crafter-Symbolic-v0", mission="collect wood")
    env.reset(seed=3)
    for action in np.random.default_rng(3).integers(1, 5, size=40).tolist():
        env.step(action)
    text = mentor.envs.describe(env)
    assert text.mission == "collect wood"
    local, (cx, cy) = env.unwrapped.local_view(), (LOCAL_VIEW[0] // 2, LOCAL_VIEW[1] // 2)
    cols, rows = np.indices(LOCAL_VIEW)
    distance = np.abs(cols - cx) + np.abs(rows - cy)
    lines = [line[2:] for line in text.observation.splitlines() if line.startswith("- ")]
    kinds = set(np.unique(local).tolist()) - {0, CRAFTER_SEMANTIC_NAMES.index("player")}
    assert len(lines) == len(kinds) >= 2
    for line in lines:
        name, phrase = line.split(": ")
        dx, dy = _parse_offset(phrase)
        kind = int(local[cx + dx, cy + dy])
        assert CRAFTER_SEMANTIC_NAMES[kind] == name.split()[-1]
        assert distance[local == kind].min() == abs(dx) + abs(dy)


def test_inadmissible_action_string_names_choices():
    env = mentor.envs.make("mentor/Crafter-Symbolic-v0")
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"'move_left' is not admissible here\. Closest: 'move left'"):
        mentor.envs.text_to_action(env, "move_left")


def test_invalid_int_action_is_rejected():
    env = CrafterEnv(fast=True)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action \(17\) must be an integer in \[0, 16\]"):
        env.step(17)


def test_state_before_reset_is_an_error():
    with pytest.raises(RuntimeError, match=r"no world before reset\(\); call reset\(\) first"):
        CrafterEnv(fast=True).local_view()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"observation": "rgb"}, r"observation \('rgb'\) must be one of 'pixels', 'symbolic'"),
        ({"observation": "symbolic", "fast": False}, r"fast \(False\) must be True or None for symbolic"),
        ({"length": 0}, r"length \(0\) must be at least 1, or None"),
        ({"size": (8, 64)}, r"size \(\(8, 64\)\) must be two numbers of at least 9 pixels"),
        ({"area": (64,)}, r"area \(\(64,\)\) must be two numbers of at least 9 cells"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        CrafterConfig(**kwargs)


def test_bad_render_mode():
    with pytest.raises(ConfigError, match=r"render_mode \('human'\) must be None or 'rgb_array'"):
        CrafterEnv(render_mode="human")


def test_config_overrides_rederive_fast():
    assert CrafterEnv(CrafterConfig(), observation="symbolic").config.render_pixels is False
    assert CrafterEnv(fast=True).config.render_pixels is False
    assert CrafterEnv().config.render_pixels is True


@pytest.mark.parametrize("env_id", ["mentor/Crafter-v0", "mentor/Crafter-Symbolic-v0"])
def test_check_env(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped)
    with pytest.warns(UserWarning, match="different from the unwrapped version"):
        check_env(env)


def test_registered_ids_and_cheap_import():
    assert mentor.envs.env_ids("crafter") == ["mentor/Crafter-Symbolic-v0", "mentor/Crafter-v0"]
    code = "import sys, mentor.envs; print('crafter' in sys.modules, 'opensimplex' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
