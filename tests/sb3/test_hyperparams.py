import pytest
from minigrid.wrappers import FlatObsWrapper

from mentor.envs import make
from mentor.errors import ConfigError, UnknownComponentError
from mentor.sb3.hyperparams import algo_kwargs, load_hyperparams, make_env_wrapper, validate_hyperparams


def test_doorkey_uses_the_zoo_values():
    h = load_hyperparams("ppo", "mentor/MiniGrid-DoorKey-5x5-v0")
    assert (h["n_envs"], h["n_steps"], h["gamma"], h["gae_lambda"], h["n_timesteps"]) == (8, 128, 0.99, 0.95, 1e5)
    assert h["env_wrapper"] == "minigrid.wrappers.FlatObsWrapper"


def test_patterns_match_after_exact_ids():
    assert load_hyperparams("ppo", "mentor/MiniGrid-KeyCorridorS3R3-v0")["n_timesteps"] == 1e6
    assert load_hyperparams("ppo", "mentor/MiniGrid-FourRooms-v0")["n_steps"] == 512
    assert load_hyperparams("sac", "mentor/Ant-v5")["learning_starts"] == 10000


def test_missing_entry_is_a_config_error():
    with pytest.raises(ConfigError, match=r"has no sac hyperparameters for 'mentor/MiniGrid-DoorKey-5x5-v0'"):
        load_hyperparams("sac", "mentor/MiniGrid-DoorKey-5x5-v0")


def test_misspelled_hyperparameter_is_rejected_with_its_name():
    with pytest.raises(ConfigError, match=r"Unknown ppo hyperparameter 'n_stepz'\. Did you mean 'n_steps'\?"):
        validate_hyperparams("ppo", {"n_stepz": 64})
    with pytest.raises(ConfigError, match=r"Unknown sac hyperparameter 'clip_range'"):
        validate_hyperparams("sac", {"clip_range": 0.2})
    with pytest.raises(UnknownComponentError, match=r"Unknown SB3 algorithm 'ppo2'\. Did you mean 'ppo'"):
        validate_hyperparams("ppo2", {})


def test_linear_schedule_and_activation_are_converted():
    kwargs = algo_kwargs({"learning_rate": "lin_0.001", "n_envs": 4, "policy_kwargs": {"activation_fn": "relu"}})
    assert "n_envs" not in kwargs
    assert kwargs["learning_rate"](1.0) == pytest.approx(1e-3) and kwargs["learning_rate"](0.5) == pytest.approx(5e-4)
    assert kwargs["policy_kwargs"]["activation_fn"].__name__ == "ReLU"


def test_env_wrapper_forms():
    env = make("mentor/MiniGrid-DoorKey-5x5-v0")
    assert isinstance(make_env_wrapper("minigrid.wrappers.FlatObsWrapper")(env), FlatObsWrapper)
    wrapped = make_env_wrapper([{"gymnasium.wrappers.TimeLimit": {"max_episode_steps": 7}}])(env)
    assert wrapped._max_episode_steps == 7
    assert make_env_wrapper(None) is None
    with pytest.raises(ConfigError, match=r"env_wrapper 'minigrid.wrappers.NoSuchWrapper' cannot be imported"):
        make_env_wrapper("minigrid.wrappers.NoSuchWrapper")
