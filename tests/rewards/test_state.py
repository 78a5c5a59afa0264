"""Env abstractions: states read from every family, and class descriptions generated from the env."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest

import mentor.envs
from mentor.errors import ConfigError
from mentor.rewards.state import (
    STATE_READERS,
    CrafterState,
    MiniGridState,
    MuJoCoState,
    describe_state,
    read_state,
    state_reader,
    to_namespace,
)


@pytest.mark.parametrize(
    ("env_id", "joints", "bodies"),
    [
        ("mentor/HalfCheetah-v5", ["bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot"], ["torso", "ffoot"]),
        ("mentor/Hopper-v5", ["thigh_joint", "leg_joint", "foot_joint"], ["torso", "foot"]),
        ("mentor/Ant-v5", ["hip_1", "ankle_1", "hip_4", "ankle_4"], ["front_left_leg"]),
    ],
)
def test_mujoco_state_and_description_come_from_the_model(env_id, joints, bodies):
    env = mentor.envs.make(env_id)
    text = describe_state(env)
    state = read_state(env)
    assert isinstance(state, MuJoCoState)
    assert set(joints) <= set(state.joint_positions) == set(state.joint_velocities)
    for name in joints + bodies:
        assert repr(name) in text
    assert f"e.g. {state.dt:.3g}" in text
    assert f"numpy float array of shape {env.action_space.shape}" in text
    action = env.action_space.sample()
    env.step(action)
    after = read_state(env)
    assert after.x_position != state.x_position
    assert after.dt == pytest.approx(env.unwrapped.dt)


def test_mujoco_health_follows_the_env():
    env = mentor.envs.make("mentor/Hopper-v5")
    env.reset(seed=0)
    assert read_state(env).is_healthy is True
    env.unwrapped.set_state(env.unwrapped.init_qpos + np.r_[0, -1.0, np.zeros(4)], env.unwrapped.init_qvel)
    assert not env.unwrapped.is_healthy
    assert read_state(env).is_healthy is False


def test_halfcheetah_actuators_name_the_action():
    env = mentor.envs.make("mentor/HalfCheetah-v5")
    text = describe_state(env)
    assert "the torques of the actuators 'bthigh', 'bshin', 'bfoot', 'fthigh', 'fshin', 'ffoot', in this order" in text


def test_minigrid_state_tracks_objects_carrying_and_doors():
    env = mentor.envs.make("mentor/MiniGrid-DoorKey-5x5-v0")
    env.reset(seed=0)
    state = read_state(env)
    assert isinstance(state, MiniGridState)
    assert {(o.type, o.color) for o in state.objects} == {("door", "yellow"), ("key", "yellow"), ("goal", "green")}
    door = next(o for o in state.objects if o.type == "door")
    assert door.is_locked and not door.is_open
    assert state.carrying is None and state.step_count == 0 and state.max_steps == 250
    # seed 0: the key is one cell up (direction 3) from the agent
    base = env.unwrapped
    while base.agent_dir != 3:
        env.step(0)
    env.step(3)
    after = read_state(env)
    assert after.carrying is not None and after.carrying.type == "key"
    assert "key" not in {o.type for o in after.objects}
    assert after.step_count > state.step_count


def test_minigrid_description_nests_the_object_class():
    env = mentor.envs.make("mentor/MiniGrid-DoorKey-5x5-v0")
    text = describe_state(env)
    assert text.index("class GridObject") < text.index("class MiniGridState")
    assert "carrying: GridObject | None" in text
    assert (
        "mission: str  # the level's mission text; e.g. 'use the key to open the door and then get to the goal'" in text
    )
    assert "# action: int, one of: 0 turn left, 1 turn right, 2 go forward, 3 pick up, 4 drop, 5 toggle, 6 done" in text


def test_crafter_state_reads_inventory_view_and_achievements():
    env = mentor.envs.make("mentor/Crafter-Symbolic-v0")
    env.reset(seed=0)
    state = read_state(env)
    assert isinstance(state, CrafterState)
    assert state.health == 9 and state.inventory["wood"] == 0 and set(state.achievements) >= {"collect_wood"}
    assert len(state.local_view) == 9 and len(state.local_view[0]) == 7 and state.local_view[4][3] == "player"
    for kind, distance in state.nearest.items():
        cells = [(c, r) for c in range(9) for r in range(7) if state.local_view[c][r] == kind]
        assert min(abs(c - 4) + abs(r - 3) for c, r in cells) == distance
    text = describe_state(env)
    assert "'collect_wood'" in text and "'wood_pickaxe'" in text and "5 do" in text


def test_textworld_reader_maps_the_info():
    reader = STATE_READERS["textworld"]

    class Fake:
        unwrapped = None

        def _info(self):
            return {
                "score": 1,
                "max_score": 3,
                "moves": 4,
                "won": False,
                "lost": False,
                "location": None,
                "inventory": "You are carrying: a knife.",
                "feedback": "Taken.",
                "admissible_commands": ["look", "eat apple"],
            }

    fake = Fake()
    fake.unwrapped = fake
    state = reader.read(fake)
    assert (state.score, state.max_score, state.location, state.admissible_commands) == (
        1,
        3,
        "",
        ("look", "eat apple"),
    )
    assert "str, the command" in reader.action_doc(fake)


def test_to_namespace_keeps_every_field_and_nests():
    env = mentor.envs.make("mentor/MiniGrid-DoorKey-5x5-v0")
    env.reset(seed=0)
    state = read_state(env)
    ns = to_namespace(state)
    for f in dataclasses.fields(state):
        assert f.name in vars(ns)
    assert ns.objects[0].type == state.objects[0].type and not dataclasses.is_dataclass(ns.objects[0])
    assert to_namespace(3.5) == 3.5


def test_a_non_mentor_env_is_refused():
    env = gym.make("CartPole-v1")
    with pytest.raises(
        ConfigError, match=r"reward states are read from mentor envs only; got CartPoleEnv \(id 'CartPole-v1'\)"
    ):
        state_reader(env)
