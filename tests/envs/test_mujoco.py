import numpy as np
import pytest

from mentor.envs import describe, make, text_to_action
from mentor.envs.mujoco import read_locomotion_state
from mentor.errors import InvalidActionError


@pytest.mark.parametrize(
    "env_id", ["mentor/HalfCheetah-v5", "mentor/Hopper-v5", "mentor/Walker2d-v5", "mentor/Ant-v5", "mentor/Humanoid-v5"]
)
def test_text_view_names_the_state_quantities(env_id):
    env = make(env_id)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    text = describe(env).observation
    for quantity in ("torso height", "torso angle", "x velocity", "joint positions", "joint velocities"):
        assert quantity in text
    assert describe(env).actions == ()


def test_state_matches_mujoco_data_and_observation():
    env = make("mentor/Hopper-v5")
    obs, _ = env.reset(seed=1)
    for _ in range(5):
        obs, *_ = env.step(np.full(3, 0.5, dtype=np.float32))
    state = read_locomotion_state(env)
    data = env.unwrapped.data
    # Hopper-v5 observation: qpos[1:] then clipped qvel; qpos[1] is the torso height, qpos[2] its angle.
    assert state.torso_height == pytest.approx(obs[0], abs=1e-6)
    assert state.torso_angle == pytest.approx(obs[1], abs=1e-6)
    assert state.x_velocity == pytest.approx(data.qvel[0])
    assert list(state.joint_positions) == ["thigh_joint", "leg_joint", "foot_joint"]
    assert state.joint_positions["thigh_joint"] == pytest.approx(obs[2], abs=1e-6)
    assert f"thigh_joint {state.joint_positions['thigh_joint']:+.2f}" in describe(env).observation


def test_free_root_robot_reports_planar_velocity_and_height():
    env = make("mentor/Ant-v5")
    env.reset(seed=0)
    state = read_locomotion_state(env)
    assert state.torso_height == pytest.approx(env.unwrapped.data.qpos[2], abs=1e-6)
    assert len(state.joint_positions) == 8


def test_string_actions_are_refused_with_the_action_shape():
    env = make("mentor/HalfCheetah-v5")
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"continuous actions of shape \(6,\) in \[-1, 1\]"):
        text_to_action(env, "run")


def test_time_limit_truncates_and_records_distance():
    env = make("mentor/HalfCheetah-v5", max_episode_steps=10)
    env.reset(seed=0)
    for _ in range(10):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
    assert truncated and not terminated
    assert info["episode_outcome"]["x_position"] == pytest.approx(env.unwrapped.data.qpos[0])
