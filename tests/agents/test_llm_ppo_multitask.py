"""Multi-task fine-tuning: one policy learns several text envs at once (GLAM), logged and evaluated per task."""

from __future__ import annotations

import pytest
import torch

from mentor.agents.llm_ppo import LLMFinetuner
from mentor.agents.llm_ppo_config import FinetuneConfig
from mentor.envs.testing import TextBandit
from mentor.errors import ConfigError
from mentor.runs import RunDir

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LEFT, RIGHT = "bandit/left", "bandit/right"


def bandits() -> dict:
    return {LEFT: lambda: TextBandit(0, "open the left door"), RIGHT: lambda: TextBandit(1, "open the right door")}


def multitask(**kwargs) -> FinetuneConfig:
    defaults = dict(
        model="transformers:tiny",
        trainable_layers=None,
        verbose=False,
        tasks=(LEFT, RIGHT),
        n_envs=8,
        n_steps=2,
        batch_size=16,
        learning_rate=1e-2,
    )
    return FinetuneConfig(**{**defaults, **kwargs})


def door_probs(trainer: LLMFinetuner, task: str) -> torch.Tensor:
    env = bandits()[task]()
    with torch.no_grad():
        out = trainer.policy.act_logits(
            [trainer.decisions.prompt(env.describe(), env.ACTIONS)], [[" " + a for a in env.ACTIONS]], values=False
        )
    return out.log_probs().exp()[0]


@pytest.mark.parametrize("advantage", ["gae", "grpo"])
def test_one_policy_learns_two_tasks_that_reward_opposite_actions(advantage):
    """Each task's door becomes the one taken > 90% of the time: the policy reads the task, not one action."""
    extra = {"group_size": 4, "total_timesteps": 320} if advantage == "grpo" else {"total_timesteps": 160}
    trainer = LLMFinetuner(multitask(advantage=advantage, **extra), env_fn=bandits())
    assert [slot.task for slot in trainer.slots] == [LEFT] * 4 + [RIGHT] * 4
    trainer.train()
    assert door_probs(trainer, LEFT)[0] > 0.9
    assert door_probs(trainer, RIGHT)[1] > 0.9
    episodes = list(trainer.run.iter_metrics("episode"))
    assert {e["task"] for e in episodes} == {LEFT, RIGHT}
    last = list(trainer.run.iter_metrics("update"))[-1]
    assert set(last) >= {"rollout/success_rate/left", "rollout/success_rate/right"}

    result = trainer.evaluate_tasks(6)
    assert list(result["tasks"]) == [LEFT, RIGHT]
    assert all(r["episodes"] == 6 for r in result["tasks"].values())
    progressions = [r["progression"] for r in result["tasks"].values()]
    assert result["mean_progression"] == pytest.approx(sum(progressions) / 2)
    assert result["mean_progression"] == 100.0


def test_multitask_resume_reproduces_the_uninterrupted_run():
    cfg = multitask(total_timesteps=48, checkpoint_freq=1)
    straight = LLMFinetuner(cfg, RunDir.create("mt-straight"), env_fn=bandits())
    straight.train()
    cfg_short = multitask(total_timesteps=32, checkpoint_freq=1)
    first = LLMFinetuner(cfg_short, RunDir.create("mt-killed"), env_fn=bandits())
    first.train()
    resumed = LLMFinetuner(cfg, first.run, env_fn=bandits())
    resumed.train(resume=True)
    for name, value in straight.policy.trainable_state_dict().items():
        assert torch.equal(value, resumed.policy.trainable_state_dict()[name]), name


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tasks": (LEFT, LEFT)}, "tasks lists an env id twice"),
        ({"n_envs": 5, "batch_size": 4}, r"n_envs \(5\) must be a multiple of the number of tasks \(2\)"),
        (
            {"n_envs": 6, "advantage": "grpo", "group_size": 2},
            r"must be divisible by group_size \(2\) for grpo in each of the 2 tasks",
        ),
    ],
)
def test_multitask_config_checks(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        multitask(**kwargs)


def test_env_builders_must_match_the_tasks():
    with pytest.raises(ConfigError, match="env_fn builds one env, but the config has 2 tasks"):
        LLMFinetuner(multitask(), env_fn=lambda: TextBandit(0, "open the left door"))
    with pytest.raises(ConfigError, match=rf"env_fn maps {LEFT}; it needs one builder per task: {LEFT}, {RIGHT}"):
        LLMFinetuner(multitask(), env_fn={LEFT: lambda: TextBandit(0, "open the left door")})
    trainer = LLMFinetuner(multitask(), env_fn=bandits())
    with pytest.raises(ConfigError, match=r"task 'bandit/up' is not one of this trainer's tasks"):
        trainer.evaluate(2, task="bandit/up")


def test_periodic_evaluation_covers_every_task():
    trainer = LLMFinetuner(multitask(total_timesteps=32, eval_freq=1, eval_freq_episodes=2), env_fn=bandits())
    trainer.train()
    evals = list(trainer.run.iter_metrics("eval"))
    assert len(evals) == 2
    for record in evals:
        assert record["episodes"] == 4
        assert record["progression"] == pytest.approx((record["progression/left"] + record["progression/right"]) / 2)
