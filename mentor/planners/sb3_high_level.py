"""The SB3 high level: an SB3 policy over an options env (the hierarchy's ablation without language).

Trained as every SB3 agent is (:class:`~mentor.sb3.agent.SB3Agent`: checkpoints, resume, the run
folder's ``metrics.jsonl``), with one difference: its budget and its step count are the env steps run
under its options, not its own decisions, so it spends the same budget as the skills and flat agents.
Hyperparameters come from the ``options:*`` entry of ``configs/sb3/<algo>.yml``.

Example:
    >>> trainer = SB3HighLevelTrainer(  # doctest: +SKIP
    ...     SB3HighLevelConfig("mentor/MiniGrid-KeyCorridorS3R3-v0", total_timesteps=50_000), make_options_env
    ... )
    >>> model = trainer.train(resume=True)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from mentor.config import DictConfig
from mentor.errors import ConfigError
from mentor.runs import RunDir
from mentor.sb3.agent import SB3Agent, SB3Config
from mentor.sb3.hyperparams import load_hyperparams, validate_hyperparams
from mentor.skills.options import OptionsEnv

__all__ = ["HIGH_LEVEL_ALGOS", "SB3HighLevelConfig", "SB3HighLevelTrainer", "options_hyperparams_key"]

#: SB3 algorithms that act in an options env's discrete action space.
HIGH_LEVEL_ALGOS: tuple[str, ...] = ("ppo", "a2c", "dqn")


def options_hyperparams_key(env_id: str) -> str:
    """The key of the zoo files under which an options env over ``env_id`` finds its hyperparameters."""
    return f"options:{env_id}"


@dataclass
class SB3HighLevelConfig(DictConfig):
    """What the SB3 high level trains with.

    Attributes:
        env_id: the mentor env under the options.
        algo: ``ppo``, ``a2c`` or ``dqn``.
        total_timesteps: budget in env steps run under the options (all envs together), as SB3 names it.
        seed: seed of the algorithm and of the options envs.
        hyperparams: overrides on top of the ``options:*`` entry of ``configs/sb3/<algo>.yml``.
        checkpoint_freq: env steps (under the options) between resumable checkpoints.
        resolved_hyperparams: derived, the entry merged with the overrides.
    """

    env_id: str
    algo: str = "ppo"
    total_timesteps: int = 50_000
    seed: int = 0
    hyperparams: dict[str, Any] = field(default_factory=dict)
    checkpoint_freq: int = 20_000
    resolved_hyperparams: dict[str, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.algo not in HIGH_LEVEL_ALGOS:
            raise ConfigError(
                f"high-level algo {self.algo!r} cannot act over skills (a discrete choice); "
                f"choose one of {', '.join(HIGH_LEVEL_ALGOS)}."
            )
        if self.total_timesteps <= 0:
            raise ConfigError(f"total_timesteps ({self.total_timesteps}) must be positive.")
        validate_hyperparams(self.algo, self.hyperparams)
        resolved = {**load_hyperparams(self.algo, options_hyperparams_key(self.env_id)), **self.hyperparams}
        validate_hyperparams(self.algo, resolved)
        self.resolved_hyperparams = resolved


class _CountStepsUnderOptions(BaseCallback):
    """Set the algorithm's step count to the env steps run under its options, and stop at ``budget`` of them.

    It runs before the other callbacks, so checkpoints, the episode log and resume all count in env steps.
    """

    def __init__(self, budget: int):
        super().__init__()
        self.budget = budget
        self._offset = 0

    def _steps_under_options(self) -> int:
        return sum(self.training_env.get_attr("num_env_steps"))

    def _on_training_start(self) -> None:
        self._offset = self.model.num_timesteps - self._steps_under_options()

    def _on_step(self) -> bool:
        self.model.num_timesteps = self._offset + self._steps_under_options()
        self.num_timesteps = self.model.num_timesteps
        return self.model.num_timesteps < self.budget


class SB3HighLevelTrainer(SB3Agent):
    """Trains (and resumes) an SB3 policy over ``make_options_env()`` envs, whose observation is the feature vector.

    Args:
        config: what to train.
        make_options_env: builds one options env over a fresh ``config.env_id``.
        run: the run folder (``None`` creates ``runs/<date>-high-level-<algo>-<env>/``).
    """

    def __init__(
        self, config: SB3HighLevelConfig, make_options_env: Callable[[], OptionsEnv], run: RunDir | None = None
    ):
        sb3 = SB3Config(
            config.env_id,
            algo=config.algo,
            total_timesteps=config.total_timesteps,
            seed=config.seed,
            checkpoint_freq=config.checkpoint_freq,
            n_eval_episodes=0,
            device="cpu",
            progress_bar=False,
        )
        sb3.resolved_hyperparams = dict(config.resolved_hyperparams)
        name = f"high-level-{config.algo}-{config.env_id.split('/')[-1]}"
        super().__init__(sb3, run if run is not None else RunDir.create(name))
        self.high_level_config = config
        self.make_options_env = make_options_env

    def make_vec_env(self, n_envs: int, seed: int) -> VecEnv:
        venv = DummyVecEnv([self.make_options_env for _ in range(n_envs)])
        venv.seed(seed)
        return venv

    def config_record(self) -> dict[str, Any]:
        return {"agent": "sb3-high-level", **self.high_level_config.to_dict()}

    def training_callbacks(self) -> list[BaseCallback]:
        return [_CountStepsUnderOptions(self.config.total_timesteps)]
