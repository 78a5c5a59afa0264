import json

import gymnasium as gym
import pytest
from stable_baselines3.common.callbacks import BaseCallback

import mentor.envs as me
from mentor.errors import ConfigError
from mentor.planners.sb3_high_level import SB3HighLevelConfig, SB3HighLevelTrainer
from mentor.runs import RunDir
from mentor.skills.library import RandomSkillPolicy
from mentor.skills.options import OptionsConfig, OptionsEnv

LEVEL = "mentor/BabyAI-UnlockPickup-v0"
TINY = {"n_envs": 2, "n_steps": 8, "batch_size": 16, "n_epochs": 1}


def _options_env() -> OptionsEnv:
    return OptionsEnv(me.make(LEVEL), RandomSkillPolicy(gym.spaces.Discrete(6), seed=0), OptionsConfig(max_options=4))


def _trainer(tmp_path, budget=300, **kwargs) -> SB3HighLevelTrainer:
    kwargs.setdefault("hyperparams", TINY)
    config = SB3HighLevelConfig(LEVEL, total_timesteps=budget, **kwargs)
    return SB3HighLevelTrainer(config, _options_env, RunDir(tmp_path / "high"))


def _steps_under_options(trainer) -> int:
    return sum(trainer.model.get_env().get_attr("num_env_steps"))


class _KillAfter(BaseCallback):
    """Raise once the step count passes ``steps``, as a killed process would stop."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps = steps

    def _on_step(self) -> bool:
        if self.model.num_timesteps >= self.steps:
            raise KeyboardInterrupt
        return True


def test_its_step_count_and_budget_are_the_env_steps_under_its_options(tmp_path):
    trainer = _trainer(tmp_path, budget=300)
    model = trainer.train()
    # it stops at the first decision that passes the budget; one skill runs at most 64 steps here
    assert 300 <= model.num_timesteps < 300 + 2 * 64
    assert model.num_timesteps == _steps_under_options(trainer)
    episode_steps = [r["step"] for r in trainer.run.iter_metrics("episode")]
    assert episode_steps and episode_steps == sorted(episode_steps) and episode_steps[-1] <= model.num_timesteps
    assert json.loads((trainer.run.checkpoints / "state.json").read_text())["num_timesteps"] == model.num_timesteps


def test_a_killed_training_resumes_from_its_checkpoint_and_a_finished_one_is_loaded(tmp_path):
    killed = _trainer(tmp_path, budget=600, checkpoint_freq=100)
    killed.training_callbacks = lambda: [*SB3HighLevelTrainer.training_callbacks(killed), _KillAfter(350)]
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    saved = json.loads((killed.run.checkpoints / "state.json").read_text())["num_timesteps"]
    assert 100 <= saved < 350 + 2 * 64

    resumed = _trainer(tmp_path, budget=600, checkpoint_freq=100)
    model = resumed.train(resume=True)
    assert 600 <= model.num_timesteps < 600 + 2 * 64
    assert model.num_timesteps == saved + _steps_under_options(resumed)  # counting went on from the checkpoint
    steps = [r["step"] for r in resumed.run.iter_metrics("episode")]
    assert steps == sorted(steps)  # the records after the checkpoint were dropped before training went on

    state = (resumed.run.checkpoints / "state.json").read_text()
    loaded = _trainer(tmp_path, budget=600, checkpoint_freq=100).train(resume=True)
    assert loaded.num_timesteps == model.num_timesteps
    assert (resumed.run.checkpoints / "state.json").read_text() == state  # nothing trained or written


@pytest.mark.parametrize("algo, hyperparams", [("a2c", {"n_envs": 2, "n_steps": 4}), ("dqn", {"learning_starts": 50})])
def test_a2c_and_dqn_train_over_options_from_their_own_entries(tmp_path, algo, hyperparams):
    model = _trainer(tmp_path, budget=200, algo=algo, hyperparams=hyperparams).train()
    assert model.num_timesteps >= 200


def test_bad_algo_and_hyperparameters_get_clear_errors():
    with pytest.raises(ConfigError, match=r"high-level algo 'sac' cannot act over skills .*ppo, a2c, dqn"):
        SB3HighLevelConfig(LEVEL, algo="sac")
    with pytest.raises(ConfigError, match=r"Unknown ppo hyperparameter 'n_step'\. Did you mean 'n_steps'\?"):
        SB3HighLevelConfig(LEVEL, hyperparams={"n_step": 8})
    with pytest.raises(ConfigError, match=r"total_timesteps \(0\) must be positive"):
        SB3HighLevelConfig(LEVEL, total_timesteps=0)


def test_defaults_come_from_the_options_entry_of_the_zoo_file():
    resolved = SB3HighLevelConfig(LEVEL, hyperparams={"n_steps": 8}).resolved_hyperparams
    assert resolved["n_steps"] == 8 and resolved["gamma"] == 0.95 and resolved["n_envs"] == 4
    assert "env_wrapper" not in resolved  # the flat env's entry does not apply over options
