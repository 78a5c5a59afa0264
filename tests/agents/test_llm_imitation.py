"""The imitation warm start: BabyAI's bot as the expert, behaviour cloning then DAgger, then PPO from there."""

from __future__ import annotations

import numpy as np
import pytest

from mentor.agents.llm_imitation import ImitationWarmStart
from mentor.agents.llm_ppo import LLMFinetuner
from mentor.agents.llm_ppo_config import FinetuneConfig
from mentor.envs import make
from mentor.envs.experts import make_expert
from mentor.errors import ConfigError
from mentor.runs import RunDir

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TASK = "mentor/BabyAI-GoToLocal-v0"


def config(**kwargs) -> FinetuneConfig:
    defaults = dict(
        env_id=TASK,
        model="transformers:tiny",
        trainable_layers=None,
        verbose=False,
        n_envs=4,
        n_steps=4,
        batch_size=16,
        total_timesteps=16,
        imitation_learning_rate=1e-2,
    )
    return FinetuneConfig(**{**defaults, **kwargs})


def test_the_babyai_bot_solves_the_level_through_the_text_actions():
    env = make(TASK)
    expert = make_expert(env)
    wins = []
    for seed in range(5):
        env.reset(seed=seed)
        expert.reset()
        for _ in range(64):
            action = expert.act()
            _, reward, terminated, truncated, _ = env.step(env.get_wrapper_attr("text_to_action")(action))
            if terminated or truncated:
                break
        wins.append(reward > 0)
    assert all(wins)


def test_an_env_without_babyai_instructions_has_no_expert():
    with pytest.raises(ConfigError, match="BabyAI's bot"):
        make_expert(make("mentor/MiniGrid-Empty-5x5-v0"))


def test_cloning_makes_the_experts_actions_likelier(tmp_path):
    trainer = LLMFinetuner(config(), RunDir(tmp_path / "run"))
    warm = ImitationWarmStart(trainer)
    for k in range(len(warm.slots)):
        warm._reset(k)
    stats = warm.collect(48, follow_expert=True)
    assert len(warm.data) >= 48 and stats["episodes"] >= 1 and stats["episode_success"] == 1.0
    before = warm.train(1)["loss"]
    after = warm.train(8)["loss"]
    assert after < 0.7 * before


def test_warm_start_runs_before_ppo_logs_its_rounds_and_survives_resume(tmp_path):
    cfg = config(imitation_samples=32, imitation_rounds=2, imitation_epochs=1, total_timesteps=48)
    trainer = LLMFinetuner(cfg, RunDir(tmp_path / "run"))
    trainer.train()
    records = list(trainer.run.iter_metrics("imitation"))
    assert [r["follows"] for r in records] == ["expert", "policy"]
    assert records[-1]["samples"] >= 32 and np.isfinite(records[-1]["loss"])
    assert trainer.num_timesteps >= 32 + 16 and trainer.num_updates >= 1
    resumed = LLMFinetuner.from_run(trainer.run)
    resumed.config.total_timesteps = trainer.num_timesteps + 16
    resumed.train(resume=True)
    assert resumed.imitation == trainer.imitation
    assert len(list(resumed.run.iter_metrics("imitation"))) == 2


def test_negative_imitation_samples_is_a_config_error():
    with pytest.raises(ConfigError, match="imitation_samples"):
        config(imitation_samples=-1)
