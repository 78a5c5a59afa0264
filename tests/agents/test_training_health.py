"""Training health of LLM fine-tuning: the return spread, the echo-trap check, and what each update logs."""

from __future__ import annotations

import gymnasium as gym
import pytest

from mentor.agents.llm_ppo import LLMFinetuner
from mentor.agents.llm_ppo_config import FinetuneConfig
from mentor.agents.training_health import TrainingHealth, return_spread
from mentor.envs.text_view import TextObservation

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_return_spread_within_groups_and_over_episodes():
    assert return_spread([1.0, 1.0, 0.0, 1.0], group_size=2) == pytest.approx(0.25)
    assert return_spread([1.0, 0.0]) == pytest.approx(0.5)
    assert return_spread([1.0]) is None
    assert return_spread([1.0, 0.0, 1.0], group_size=4) is None


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([(0.4, 1.0), (0.5, 1.2), (0.4, 0.9), (0.0, 9.0)], True),
        ([(0.4, 1.0), (0.5, 1.2), (0.4, 0.9), (0.3, 9.0)], False),
        ([(0.4, 1.0), (0.5, 1.2), (0.4, 0.9), (0.0, 1.1)], False),
        ([(0.4, 1.0), (0.5, 1.2), (0.0, 9.0)], False),
        ([(0.4, 1.0), (0.5, 1.2), (0.4, 0.9), (None, 9.0)], False),
        ([(0.0, 1.0), (0.0, 1.2), (0.0, 0.9), (0.0, 9.0)], False),
    ],
    ids=["spread-falls-and-grad-spikes", "spread-holds", "no-spike", "too-early", "spread-unknown", "never-varied"],
)
def test_echo_trap_needs_a_fallen_spread_and_a_gradient_spike(history, expected):
    health = TrainingHealth()
    flags = [health.observe(spread, grad) for spread, grad in history]
    assert flags[:-1] == [False] * (len(history) - 1)
    assert flags[-1] is expected


class CoinEnv(gym.Env):
    """Two-action episodes of one step; both actions pay the same, so every group's returns are equal."""

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(2)
    ACTIONS = ("heads", "tails")

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return 0, 1.0, True, False, {"episode_outcome": {"return": 1.0, "length": 1, "success": True}}

    def describe(self) -> TextObservation:
        return TextObservation("call the coin", "A coin spins.", self.ACTIONS)

    def text_to_action(self, action: str) -> int:
        return self.ACTIONS.index(action)


def grpo_trainer(**kwargs) -> LLMFinetuner:
    cfg = FinetuneConfig(
        model="transformers:tiny",
        trainable_layers=None,
        verbose=False,
        advantage="grpo",
        n_envs=4,
        group_size=2,
        batch_size=4,
        total_timesteps=16,
        **kwargs,
    )
    return LLMFinetuner(cfg, env_fn=CoinEnv)


def test_each_update_logs_entropy_kl_grad_norm_and_the_group_spread():
    trainer = grpo_trainer()
    trainer.train()
    records = list(trainer.run.iter_metrics("update"))
    assert len(records) == 4
    for record in records:
        for key in ("train/entropy", "train/approx_kl", "train/grad_norm", "train/grad_norm_max", "health/echo_trap"):
            assert isinstance(record[key], float), key
        assert record["rollout/return_std"] == 0.0
        assert record["train/entropy"] > 0
    assert trainer.health.spreads == [0.0] * 4


def test_an_echo_trap_warns_and_is_logged():
    trainer = grpo_trainer()
    trainer.health.observe = lambda spread, grad_norm: True
    with pytest.warns(RuntimeWarning, match=r"return spread within groups fell to 0 .* echo trap"):
        trainer.train()
    assert all(r["health/echo_trap"] == 1.0 for r in trainer.run.iter_metrics("update"))
