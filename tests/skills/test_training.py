import numpy as np
import pytest

from mentor.errors import ConfigError
from mentor.skills.training import TrainSkills

LEVEL = "mentor/BabyAI-UnlockPickup-v0"


def test_reset_samples_a_feasible_skill_and_features_fit_the_space():
    env = TrainSkills([LEVEL], seed=0, infeasible_share=0.0)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert info["skill"] in {s.name for s in env.library.feasible()}


def test_success_pays_the_time_discounted_reward_and_the_env_episode_carries_on():
    env = TrainSkills([LEVEL], seed=0, kinds=["go_to"], infeasible_share=0.0)
    obs, info = env.reset(seed=1)
    base = env.envs[0].unwrapped
    steps_before = base.step_count
    lib = env.library
    skill = lib.skill(info["skill"])
    ctx = env._ctx
    # Drive the agent with the library's own route until the skill succeeds (or gives up).
    for _ in range(skill.max_steps):
        _, reward, terminated, truncated, step_info = env.step(_greedy_action(lib, ctx))
        if terminated or truncated:
            break
    outcome = step_info["skill_outcome"]
    assert outcome["skill"] == skill.name and outcome["skill_kind"] == "go_to"
    assert outcome["success"] and terminated
    assert reward == pytest.approx(1 - 0.9 * outcome["steps"] / skill.max_steps)
    env.reset()
    assert base.step_count == steps_before + outcome["steps"]  # no env reset between skill episodes


def _greedy_action(lib, ctx):
    """Turn towards, then walk to, the target (enough for a go-to in an open room)."""
    u = lib._u
    if tuple(u.front_pos) == ctx.target_pos:
        return 0
    fwd, right = lib._egocentric(ctx.target_pos)
    if fwd > 0 and right == 0:
        return 2
    return 1 if right > 0 else 0


def test_timeout_truncates_and_reports_a_failure():
    env = TrainSkills([LEVEL], seed=1, kinds=["pick_up"], infeasible_share=0.0)
    env.reset(seed=1)
    max_steps = env._ctx.skill.max_steps
    for _step in range(max_steps):
        _, reward, terminated, truncated, info = env.step(0)  # turning left never picks anything up
    assert truncated and not terminated and reward == 0.0
    assert info["skill_outcome"]["success"] is False and info["skill_outcome"]["steps"] == max_steps


def test_infeasible_skills_end_early_unrewarded():
    from minigrid.core.world_object import Ball

    env = TrainSkills([LEVEL], seed=0, infeasible_share=0.99, infeasible_steps=3)
    env.reset(seed=1)
    env.envs[0].unwrapped.carrying = Ball("red")  # hands full: "pick up ..." is available but infeasible
    for _ in range(20):
        env.reset()
        if not env._infeasible:
            continue
        for _ in range(3):
            _, reward, terminated, truncated, info = env.step(0)
        assert terminated and info["skill_outcome"]["feasible"] is False
        break
    else:
        pytest.fail("no infeasible skill episode was sampled")


def test_env_outcome_is_passed_through_when_the_env_episode_ends():
    env = TrainSkills([LEVEL], seed=0, infeasible_share=0.0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(500):
        _, _, terminated, truncated, info = env.step(int(rng.integers(6)))
        if "episode_outcome" in info:
            assert terminated or truncated
            return
        if terminated or truncated:
            env.reset()
    pytest.fail("no env episode ended in 500 steps")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"env_ids": []}, "at least one env id"),
        ({"env_ids": [LEVEL, "mentor/Crafter-Symbolic-v0"]}, "must share one family"),
        ({"env_ids": [LEVEL], "kinds": ["fly"]}, r"kinds \['fly'\] are not skill kinds of minigrid"),
        ({"env_ids": [LEVEL], "infeasible_share": 1.0}, r"infeasible_share \(1.0\)"),
        ({"env_ids": [LEVEL], "infeasible_steps": 0}, r"infeasible_steps \(0\)"),
        ({"env_ids": [LEVEL], "seed_range": (5, 5)}, r"seed_range \(5, 5\) must satisfy 0 <= low < high"),
        (
            {"env_ids": [LEVEL], "skill_sampling": "greedy"},
            r"skill_sampling \('greedy'\) must be one of 'uniform', 'priority'",
        ),
        (
            {"env_ids": [LEVEL], "seed_range": (5, 9), "held_out_seeds": (0, 10)},
            r"held_out_seeds \(0, 10\) cover all of seed_range \(5, 9\)",
        ),
    ],
)
def test_train_skills_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainSkills(**kwargs)


def test_env_seeds_come_from_the_seed_range_outside_the_held_out_seeds():
    env = TrainSkills([LEVEL], seed=0, seed_range=(10, 20), held_out_seeds=(10, 19))
    assert {env._draw_seed() for _ in range(20)} == {19}
    env = TrainSkills([LEVEL], seed=0, seed_range=(100, 200))
    env.reset(seed=0)
    seeds = {env._draw_seed() for _ in range(50)}
    assert min(seeds) >= 100 and max(seeds) < 200 and len(seeds) > 10


def test_priority_sampling_draws_skills_in_proportion_to_the_library_priority():
    env = TrainSkills(["mentor/Crafter-Symbolic-v0"], seed=0, infeasible_share=0.0, skill_sampling="priority")
    env.reset(seed=0)
    library = env.library
    feasible = [s.name for s in library.feasible()]
    assert len(feasible) >= 2
    favourite = feasible[-1]
    library.priority = lambda skill: 50.0 if skill.name == favourite else 1.0
    draws = [env._sample().name for _ in range(200)]
    expected = 50 / (50 + len(feasible) - 1)
    assert abs(draws.count(favourite) / 200 - expected) < 0.1
    uniform = TrainSkills(["mentor/Crafter-Symbolic-v0"], seed=0, infeasible_share=0.0)
    uniform.reset(seed=0)
    uniform.library.priority = library.priority
    assert draws.count(favourite) > [uniform._sample().name for _ in range(200)].count(favourite) + 40


def test_survival_interrupts_truncate_the_skill_episode_and_run_the_urgent_skill_next():
    env = TrainSkills(["mentor/Crafter-Symbolic-v0"], seed=0, infeasible_share=0.0, survival_interrupts=True)
    _, info = env.reset(seed=0)
    urgent = next(s for s in env.library.feasible() if s.name != info["skill"])
    env.library.urgent = lambda: urgent
    _, reward, terminated, truncated, out = env.step(0)
    assert truncated and not terminated and reward == 0.0
    assert out["skill_outcome"]["interrupted"] and out["skill_outcome"]["steps"] == 1
    assert env.reset()[1]["skill"] == urgent.name
