import numpy as np
import pytest

import mentor.envs as me
from mentor.benchmarks.agents import CellJob
from mentor.benchmarks.registry import make_bench_agent
from mentor.envs.crafter import CRAFTER_ACTIONS, SYMBOLIC_SIZE
from mentor.errors import ConfigError
from mentor.skills.crafter import CRAFTER_SKILLS, LOW_VITAL, POINTER_FEATURES
from mentor.skills.crafter_inputs import CrafterSkillInputs

BLOCK = POINTER_FEATURES + 1


@pytest.fixture
def env():
    env = CrafterSkillInputs(me.make("mentor/Crafter-Symbolic-v0"))
    yield env
    env.close()


def _blocks(obs):
    return obs[SYMBOLIC_SIZE:].reshape(len(CRAFTER_SKILLS), BLOCK)


def test_one_pass_finds_the_same_nearest_targets_as_each_skill_alone(env):
    known = 0
    for seed in (0, 1):
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        for _ in range(250):
            library = env.library
            fast = library.nearest_targets()
            for skill in CRAFTER_SKILLS:
                assert fast[skill.name] == library.nearest_target(skill), skill.name
                known += fast[skill.name] is not None
            _, _, terminated, truncated, _ = env.step(int(rng.integers(len(CRAFTER_ACTIONS))))
            if terminated or truncated:
                env.reset(seed=seed + 100)
    assert known > 1000  # creatures, materials and unseen ground were all found many times


def test_the_observation_holds_every_skills_pointer_and_readiness(env):
    obs, _ = env.reset(seed=3)
    rng = np.random.default_rng(3)
    ready_seen = set()
    for _ in range(200):
        library = env.library
        assert env.observation_space.contains(obs)
        np.testing.assert_array_equal(obs[:SYMBOLIC_SIZE], library.symbolic)
        energy = env.unwrapped.player.inventory["energy"]
        for skill, block in zip(CRAFTER_SKILLS, _blocks(obs)):
            np.testing.assert_array_equal(block[:POINTER_FEATURES], library.pointer(library.nearest_target(skill)))
            ready = library.interaction(skill) is not None and (skill.kind != "sleep" or energy <= LOW_VITAL)
            assert block[-1] == float(ready), skill.name
            if ready:
                ready_seen.add(skill.name)
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            obs, _ = env.reset(seed=4)
    assert ready_seen  # some interaction was ready on the way


def test_interact_performs_the_ready_interaction_of_highest_priority(env):
    env.reset(seed=0)
    player, world = env.unwrapped.player, env.unwrapped.world
    front = (int(player.pos[0]) + int(player.facing[0]), int(player.pos[1]) + int(player.facing[1]))
    world[front] = "tree"
    obs, *_ = env.step(CRAFTER_ACTIONS.index("noop"))
    assert _blocks(obs)[[s.name for s in CRAFTER_SKILLS].index("collect wood"), -1] == 1.0
    assert env.interaction() == CRAFTER_ACTIONS.index("do")
    env.step(env.interact_action)
    assert player.achievements["collect_wood"] == 1 and player.inventory["wood"] >= 1

    # grass in front and wood in hand: a sapling and a table are both new, the sapling skill comes first;
    # once the sapling is not new, the table is placed
    player.inventory["wood"] = 5
    world[front] = "grass"
    env.step(CRAFTER_ACTIONS.index("noop"))
    assert env.interaction() == CRAFTER_ACTIONS.index("do")
    player.achievements["collect_sapling"] = 1
    assert env.interaction() == CRAFTER_ACTIONS.index("place table")
    env.step(env.interact_action)
    assert player.achievements["place_table"] == 1 and world[front][0] == "table"


def test_interact_with_nothing_ready_is_noop_and_sleep_waits_for_low_energy(env):
    env.reset(seed=0)
    player, world = env.unwrapped.player, env.unwrapped.world
    front = (int(player.pos[0]) + int(player.facing[0]), int(player.pos[1]) + int(player.facing[1]))
    world[front] = "sand"
    env.step(CRAFTER_ACTIONS.index("noop"))
    assert env.interaction() == CRAFTER_ACTIONS.index("noop")
    player.inventory["energy"] = LOW_VITAL
    env.step(CRAFTER_ACTIONS.index("noop"))
    assert env.interaction() == CRAFTER_ACTIONS.index("sleep")


def _job(env_id):
    return CellJob(agent="sb3-ppo-skill-inputs", env_id=env_id, seed=0, budget=1000, eval_episodes=1, cell_dir="unused")


def test_the_bench_agent_trains_flat_ppo_through_the_wrapper_on_crafter_only():
    agent = make_bench_agent("sb3-ppo-skill-inputs")
    config = agent._config(_job("mentor/Crafter-Symbolic-v0"))
    assert config.resolved_hyperparams["env_wrapper"] == ["mentor.skills.crafter_inputs.CrafterSkillInputs"]
    assert config.algo == "ppo"
    with pytest.raises(ConfigError, match="runs on crafter envs only; 'mentor/MiniGrid-DoorKey-5x5-v0' is not one"):
        agent.check(_job("mentor/MiniGrid-DoorKey-5x5-v0"))
