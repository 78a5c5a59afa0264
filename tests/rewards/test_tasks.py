"""The task suite: every task loads, its human reward runs in the sandbox, and MuJoCo human rewards
equal Gymnasium's own reward terms."""

from __future__ import annotations

import pytest

import mentor.envs
from mentor.errors import ConfigError, UnknownComponentError
from mentor.rewards.rollouts import record_episodes
from mentor.rewards.sandbox import validate_reward_code
from mentor.rewards.tasks import RewardTask, default_algo, get_reward_task, load_reward_tasks, match_reward_task
from mentor.rewards.wrappers import ReplaceReward

TASKS = load_reward_tasks()


def trusted(code: str):
    """Run known task code in this process (tests only; generated code only ever runs in the sandbox)."""
    namespace: dict = {}
    exec(code, namespace)
    return namespace["compute_reward"]


def test_the_suite_covers_the_issue():
    assert len(TASKS) >= 8
    assert {t.env_id for t in TASKS.values()} >= {
        "mentor/HalfCheetah-v5",
        "mentor/Hopper-v5",
        "mentor/Walker2d-v5",
        "mentor/Ant-v5",
        "mentor/MiniGrid-DoorKey-5x5-v0",
        "mentor/Crafter-Symbolic-v0",
    }
    assert {"achievement:collect_wood", "achievement:place_table", "backward_distance"} <= {
        t.fitness for t in TASKS.values()
    }
    assert all(t.human_reward and t.sparse_reward for t in TASKS.values())


@pytest.mark.parametrize("name", sorted(TASKS))
def test_human_and_sparse_rewards_pass_the_sandbox(name):
    task = TASKS[name]
    episodes = record_episodes(task.env_id, None, 1, seed=0, env_kwargs=task.env_kwargs, max_episode_steps=20)
    transitions = episodes[0].transitions
    for code in (task.human_reward, task.sparse_reward):
        reason, rewards = validate_reward_code(code, transitions)
        assert reason is None and len(rewards) == len(transitions)


@pytest.mark.parametrize("name", ["halfcheetah_forward", "hopper_hop", "walker_walk"])
def test_mujoco_human_rewards_equal_the_env_reward(name):
    task = TASKS[name]
    env = ReplaceReward(mentor.envs.make(task.env_id), trusted(task.human_reward))
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(30):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        # Gymnasium multiplies the control cost in float32, the task code in float64
        assert reward == pytest.approx(info["env_reward"], rel=1e-6, abs=1e-6)
        if terminated or truncated:
            break


def test_backward_negates_only_the_forward_term():
    forward, backward = (
        trusted(TASKS["halfcheetah_forward"].human_reward),
        trusted(TASKS["halfcheetah_backward"].human_reward),
    )
    (state, action, nxt), *_ = record_episodes("mentor/HalfCheetah-v5", None, 1, 0, max_episode_steps=1)[0].transitions
    f, fc = forward(state, action, nxt)
    b, bc = backward(state, action, nxt)
    assert bc["backward"] == -fc["forward"] and bc["control"] == fc["control"]
    assert b == pytest.approx(f - 2 * fc["forward"])


def test_doorkey_human_reward_pays_the_env_reward_at_the_goal():
    reward = trusted(TASKS["doorkey"].human_reward)
    env = ReplaceReward(mentor.envs.make("mentor/MiniGrid-DoorKey-5x5-v0"), reward)
    env.reset(seed=0)
    base = env.unwrapped
    # put the agent next to the goal, facing it, with the door open: one step forward wins
    goal = next(
        (i, j)
        for i in range(5)
        for j in range(5)
        if base.grid.get(i, j) is not None and base.grid.get(i, j).type == "goal"
    )
    base.agent_pos, base.agent_dir = (goal[0] - 1, goal[1]), 0
    _, total, terminated, _, info = env.step(2)
    assert terminated and info["env_reward"] > 0
    assert info["reward_components"]["goal"] == pytest.approx(info["env_reward"])


def test_crafter_human_reward_pays_for_wood():
    reward = trusted(TASKS["crafter_collect_wood"].human_reward)
    episodes = record_episodes("mentor/Crafter-Symbolic-v0", None, 1, 0, env_kwargs={"length": 20})
    state, action, nxt = episodes[0].transitions[0]
    more = type(nxt)(
        **{**vars(nxt), "inventory": {**nxt.inventory, "wood": state.inventory["wood"] + 1}, "health": state.health}
    )
    assert reward(state, action, more) == (1.0, {"wood": 1.0, "health": 0.0})


def test_match_reward_task_by_env_and_words():
    assert (
        match_reward_task("Make the half cheetah run backwards!", "mentor/HalfCheetah-v5").name
        == "halfcheetah_backward"
    )
    assert match_reward_task("make the half cheetah run forward", "mentor/HalfCheetah-v5").name == "halfcheetah_forward"
    assert match_reward_task("make the half cheetah run backwards", "mentor/Hopper-v5") is None
    assert match_reward_task("make the cheetah do a backflip", "mentor/HalfCheetah-v5") is None


def test_unknown_task_lists_the_choices():
    with pytest.raises(
        UnknownComponentError, match=r"Unknown reward task 'halfcheetah_backwards'. Did you mean 'halfcheetah_backward'"
    ):
        get_reward_task("halfcheetah_backwards")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"fitness": "success_rate"},
            ConfigError,
            r"fitness 'success_rate' applies to minigrid, textworld envs, not to mentor/HalfCheetah-v5",
        ),
        ({"fitness": "speed"}, UnknownComponentError, r"Unknown fitness 'speed'"),
        ({"description": " "}, ConfigError, r"description is empty"),
        (
            {"human_reward": "import os\n"},
            ConfigError,
            r"human_reward is rejected by the sandbox gate: line 1: import of 'os'",
        ),
        ({"env_id": "mentor/HalfCheetah-v9"}, UnknownComponentError, r"Unknown env id 'mentor/HalfCheetah-v9'"),
        ({"algo": "td3"}, UnknownComponentError, r"Unknown SB3 algorithm 'td3'. Available: a2c, dqn, ppo, sac"),
        (
            {"algo": "dqn"},
            ConfigError,
            r"task 't': algo 'dqn' handles discrete actions, but mentor/HalfCheetah-v5 has continuous ones; "
            r"use one of ppo, a2c, sac",
        ),
    ],
)
def test_task_validation(kwargs, error, message):
    fields = {
        "name": "t",
        "env_id": "mentor/HalfCheetah-v5",
        "description": "run",
        "fitness": "forward_distance",
        **kwargs,
    }
    with pytest.raises(error, match=message):
        RewardTask(**fields)


def test_goal_joins_description_and_details():
    task = RewardTask("t", "mentor/HalfCheetah-v5", "run forward", "forward_distance", details="Fast.")
    assert task.goal == "run forward. Fast." and task.family == "mujoco"
    assert "next_state.x_position - state.x_position" in task.sparse_reward
    assert task.to_dict()["name"] == "t"


def test_algo_defaults_per_family_and_the_tasks_file_can_set_it(tmp_path):
    assert {name: task.algo for name, task in TASKS.items() if task.family == "mujoco"} == {
        name: "sac" for name, task in TASKS.items() if task.family == "mujoco"
    }
    assert TASKS["doorkey"].algo == "ppo" and TASKS["crafter_collect_wood"].algo == "ppo"
    assert default_algo("mentor/Ant-v5") == "sac" and default_algo("mentor/Crafter-Symbolic-v0") == "ppo"
    tasks = tmp_path / "tasks.yaml"
    tasks.write_text(
        "run:\n  env_id: mentor/HalfCheetah-v5\n  description: run\n  fitness: forward_distance\n  algo: ppo\n"
        "key:\n  env_id: mentor/MiniGrid-DoorKey-5x5-v0\n  description: key\n  fitness: success_rate\n  algo: dqn\n"
    )
    assert {name: task.algo for name, task in load_reward_tasks(tasks).items()} == {"run": "ppo", "key": "dqn"}
    assert RewardTask(**get_reward_task("run", tasks).to_dict()).algo == "ppo"  # survives a resume
