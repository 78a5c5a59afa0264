import json

import numpy as np
import pytest

from mentor.errors import ConfigError
from mentor.evaluation.episodes import EVAL_SEED_OFFSET
from mentor.runs import RunDir
from mentor.skills.library import Skill
from mentor.skills.training import TrainSkills
from mentor.skills.zoo import (
    HELD_OUT_SEEDS,
    SKILL_EVAL_SEED_RANGE,
    SkillZoo,
    SkillZooConfig,
    _make_vec_env,
    evaluate_skills,
    train_skill_zoo,
)

LEVEL = "mentor/BabyAI-UnlockPickup-v0"
TINY = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}


def _config(steps=128, **kwargs):
    return SkillZooConfig([LEVEL], total_timesteps=steps, hyperparams=TINY, **{"eval_episodes": 6, **kwargs})


def test_config_takes_the_zoo_entry_without_the_flat_wrapper():
    config = _config()
    assert config.family == "minigrid"
    assert "env_wrapper" not in config.resolved_hyperparams
    assert config.resolved_hyperparams["n_steps"] == 32 and config.n_envs == 2
    assert config.resolved_hyperparams["learning_rate"] == 1e-3  # from configs/sb3/ppo.yml
    assert SkillZooConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"env_ids": []}, "env_ids is empty"),
        ({"env_ids": [LEVEL, "mentor/Crafter-Symbolic-v0"]}, "must share one family"),
        ({"env_ids": [LEVEL], "kinds": ["swim"]}, r"kinds \['swim'\] are not skill kinds of minigrid"),
        ({"env_ids": [LEVEL], "total_timesteps": 0}, r"total_timesteps \(0\)"),
        ({"env_ids": [LEVEL], "eval_episodes": -1}, r"eval_episodes \(-1\)"),
        ({"env_ids": [LEVEL], "checkpoint_freq": 0}, r"checkpoint_freq \(0\)"),
        ({"env_ids": [LEVEL], "num_threads": 0}, r"num_threads \(0\)"),
        ({"env_ids": [LEVEL], "infeasible_share": 1.5}, r"infeasible_share \(1.5\)"),
        ({"env_ids": [LEVEL], "snapshot_steps": [0]}, r"snapshot_steps \[0\]"),
        (
            {"env_ids": [LEVEL], "total_timesteps": 100, "max_env_steps": 99},
            r"max_env_steps \(99\) must be at least total_timesteps \(100\)",
        ),
        ({"env_ids": [LEVEL], "hyperparams": {"n_step": 8}}, "Did you mean 'n_steps'"),
    ],
)
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SkillZooConfig(**kwargs)


def test_train_save_load_and_measure(tmp_path):
    run = RunDir.create("skills-minigrid", tmp_path)
    train_skill_zoo(_config(steps=128, snapshot_steps=[64]), run)
    info = json.loads((run.path / "zoo.json").read_text())
    assert info["family"] == "minigrid" and info["env_ids"] == [LEVEL]
    assert info["num_timesteps"] >= 128 and info["snapshots"] == [64]
    rates = info["success_rates"]
    assert rates["episodes"] == 6 and sum(v["runs"] for v in rates["by_kind"].values()) == 6
    assert all(0.0 <= v["success_rate"] <= 1.0 for v in rates["by_skill"].values())
    assert any(r.get("kind") == "skill" for r in run.iter_metrics())
    loaded = SkillZoo.load(run.path)
    snapshot = SkillZoo.load(run.path, snapshot=64)
    assert snapshot.num_timesteps == 64 and loaded.num_timesteps == info["num_timesteps"]
    assert (
        info["eval_env_steps"]
        == rates["env_steps"]
        == round(sum(v["runs"] * v["mean_steps"] for v in rates["by_skill"].values()))
    )
    assert loaded.num_env_steps == info["num_timesteps"] + info["eval_env_steps"] > info["num_timesteps"]
    assert snapshot.num_env_steps == 64 and "success_rates" not in snapshot.info  # a snapshot was never measured
    env = TrainSkills([LEVEL], seed=0)
    obs, info_ = env.reset(seed=0)
    skill = env.library.skill(info_["skill"])
    assert env.action_space.contains(loaded.act(skill, obs))
    assert 0.0 <= loaded.value(skill, obs) <= 1.0
    greedy = SkillZoo.load(run.path, deterministic=True)
    assert greedy.act(skill, obs) == greedy.act(skill, obs)
    np.testing.assert_allclose(greedy.value(skill, obs), loaded.value(skill, obs))


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="holds no zoo.json"):
        SkillZoo.load(tmp_path)
    run = RunDir.create("skills-minigrid", tmp_path)
    train_skill_zoo(_config(steps=64, eval_episodes=0), run)
    with pytest.raises(ConfigError, match=r"kept no snapshot at 32 steps; it has \[\]"):
        SkillZoo.load(run.path, snapshot=32)


def test_latest_finds_the_newest_zoo_of_a_family(tmp_path, monkeypatch):
    monkeypatch.setenv("MENTOR_RUNS", str(tmp_path))
    assert SkillZoo.latest("minigrid") is None
    run = RunDir.create("skills-minigrid")
    train_skill_zoo(_config(steps=64, eval_episodes=0), run)
    assert SkillZoo.latest("minigrid").path == run.path


def test_resume_continues_from_the_checkpoint(tmp_path):
    run = RunDir.create("skills-minigrid", tmp_path)
    train_skill_zoo(_config(steps=64, eval_episodes=0, checkpoint_freq=64), run)
    zoo = train_skill_zoo(_config(steps=128, eval_episodes=0, checkpoint_freq=64), run, resume=True)
    assert zoo.num_timesteps == 128


def test_success_rate_falls_back_from_skill_to_kind():
    info = {
        "success_rates": {
            "by_kind": {"go_to": {"success_rate": 0.5, "runs": 20}},
            "by_skill": {
                "go to the red key": {"success_rate": 0.9, "runs": 10},
                "go to the red ball": {"success_rate": 0.0, "runs": 1},
            },
        }
    }
    zoo = SkillZoo(model=None, info=info)
    assert zoo.success_rate(Skill("go to the red key", "go_to")) == 0.9
    assert zoo.success_rate(Skill("go to the red ball", "go_to")) == 0.5
    assert zoo.success_rate(Skill("drop the object you carry", "drop")) == 0.0


@pytest.mark.slow
def test_skill_training_makes_skills_succeed_more_often(tmp_path):
    """20k steps of training beat the untrained model on go-to, pick-up and drop."""
    config = SkillZooConfig(
        [LEVEL], total_timesteps=20_000, kinds=["go_to", "pick_up", "drop"], eval_episodes=0, snapshot_steps=[256]
    )
    run = RunDir.create("skills-minigrid", tmp_path)
    trained = train_skill_zoo(config, run)
    untrained = SkillZoo.load(run.path, snapshot=256)
    before = evaluate_skills(untrained, [LEVEL], 150, kinds=config.kinds)
    after = evaluate_skills(trained, [LEVEL], 150, kinds=config.kinds)
    rate = lambda r: np.mean([v["success_rate"] for v in r["by_kind"].values()])  # noqa: E731
    assert rate(after) > rate(before) + 0.2, (before["by_kind"], after["by_kind"])


class _Turner:
    """A stand-in zoo that always turns left."""

    deterministic = True

    def act(self, skill, features):
        return 0


def test_skill_evaluation_plays_seeds_that_neither_training_nor_the_final_evaluation_plays(monkeypatch):
    from mentor.skills import training

    played = []
    draw = training.TrainSkills._draw_seed
    monkeypatch.setattr(training.TrainSkills, "_draw_seed", lambda self: played.append(draw(self)) or played[-1])
    rates = evaluate_skills(_Turner(), [LEVEL], 6)
    low, high = SKILL_EVAL_SEED_RANGE
    assert played and all(low <= seed < high for seed in played)
    assert EVAL_SEED_OFFSET + 10_000 <= low and HELD_OUT_SEEDS == (EVAL_SEED_OFFSET, high)
    assert rates["episodes"] == 6 and rates["env_steps"] == sum(
        v["runs"] * v["mean_steps"] for v in rates["by_skill"].values()
    )
    assert all(env.held_out_seeds == HELD_OUT_SEEDS for env in _make_vec_env(_config(), 0).envs)


def test_skill_evaluation_stops_at_its_env_step_cap():
    rates = evaluate_skills(_Turner(), [LEVEL], 100, max_env_steps=30)
    assert rates["env_steps"] == 30
    measured = sum(v["runs"] for v in rates["by_skill"].values())
    assert rates["episodes"] == measured < 100
    assert sum(v["runs"] * v["mean_steps"] for v in rates["by_skill"].values()) <= 30


def test_training_and_skill_evaluation_share_max_env_steps(tmp_path):
    run = RunDir.create("skills-minigrid", tmp_path)
    zoo = train_skill_zoo(_config(steps=64, eval_episodes=50, max_env_steps=100), run)
    assert zoo.num_timesteps == 64 and zoo.eval_env_steps == 36 and zoo.num_env_steps == 100
    assert json.loads((run.path / "zoo.json").read_text())["eval_env_steps"] == 36


def test_older_zoos_count_their_evaluation_steps_from_the_success_rates():
    rates = {"by_skill": {"explore": {"runs": 3, "mean_steps": 10.0}, "drop": {"runs": 2, "mean_steps": 1.5}}}
    zoo = SkillZoo(model=None, info={"num_timesteps": 100, "success_rates": rates})
    assert zoo.eval_env_steps == 33 and zoo.num_env_steps == 133
