import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import mentor.envs
from mentor.envs import FAMILIES, env_ids, family_of, make
from mentor.errors import UnknownComponentError

FAST_FAMILIES = ("minigrid", "mujoco", "crafter")


def test_every_family_registers_envs():
    for family in FAMILIES:
        assert env_ids(family), family
    minigrid_ids = [i for i in gym.registry if i.startswith(("MiniGrid-", "BabyAI-")) and "-WFC-" not in i]
    assert len(env_ids("minigrid")) == len(minigrid_ids)
    assert {
        "mentor/HalfCheetah-v5",
        "mentor/Hopper-v5",
        "mentor/Walker2d-v5",
        "mentor/Ant-v5",
        "mentor/Humanoid-v5",
    } <= set(env_ids("mujoco"))


def test_ids_work_with_plain_gym_make():
    env = gym.make("mentor/MiniGrid-DoorKey-5x5-v0")
    env.reset(seed=0)
    assert mentor.envs.describe(env).actions[0] == "turn left"


def test_unknown_id_names_closest_matches():
    with pytest.raises(
        UnknownComponentError,
        match=r"Unknown env id 'mentor/MiniGrid-DorKey-5x5-v0'\. Did you mean 'mentor/MiniGrid-DoorKey-5x5-v0'",
    ):
        make("mentor/MiniGrid-DorKey-5x5-v0")
    with pytest.raises(UnknownComponentError, match=r"Unknown env family 'minigird'\. Did you mean 'minigrid'"):
        env_ids("minigird")


@pytest.mark.parametrize(
    "env_id",
    [i for f in FAST_FAMILIES for i in env_ids(f)]
    + [pytest.param(i, marks=pytest.mark.slow) for i in env_ids("textworld")],  # generates games (seconds each)
)
def test_check_env(env_id, tmp_path_factory, monkeypatch):
    monkeypatch.setenv("MENTOR_CACHE", str(tmp_path_factory.getbasetemp() / "registry-cache"))
    env = make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    check_env(env, skip_render_check=True)
    env.reset(seed=0)
    view = mentor.envs.describe(env)
    assert isinstance(view.mission, str) and view.observation
    assert view.to_prompt().startswith("Goal: ")
    assert family_of(env_id) in FAMILIES
    env.close()
