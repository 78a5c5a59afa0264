"""SayCan's prior in the fine-tuned high level: at zero LoRA the greedy policy is SayCan, and PPO trains with it."""

from __future__ import annotations

import zlib

import gymnasium as gym
import numpy as np
import pytest

import mentor.envs as me
from mentor.agents.llm_ppo import LLMFinetuner
from mentor.agents.llm_ppo_config import FinetuneConfig
from mentor.envs import describe, text_to_action
from mentor.envs.text_view import TextObservation
from mentor.errors import ConfigError
from mentor.planners.planner import saycan_scores
from mentor.skills.options import OptionsConfig, OptionsEnv

LEVEL = "mentor/MiniGrid-KeyCorridorS3R3-v0"
REPEAT_PENALTY = 0.3


class NamedValuePolicy:
    """Random low-level actions; each skill's value is a fixed number drawn from its name."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def act(self, skill, features):
        return int(self.rng.integers(6))

    def value(self, skill, features):
        return (zlib.crc32(skill.name.encode()) % 100) / 100


class OneDoor(gym.Env):
    """A text env without skills or affordances."""

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(1)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return 0, 0.0, True, False, {}

    def describe(self) -> TextObservation:
        return TextObservation("open the door", "You see a door.", ("open the door",))

    def text_to_action(self, action: str) -> int:
        return 0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def options_env() -> OptionsEnv:
    return OptionsEnv(me.make(LEVEL), NamedValuePolicy(), OptionsConfig(max_options=6))


def trainer(prior_weight: float, **kwargs) -> LLMFinetuner:
    cfg = FinetuneConfig(
        LEVEL,
        model="transformers:tiny",
        prompt_template="{text}\nNext skill:",
        trainable_layers=None,
        n_envs=2,
        n_steps=4,
        batch_size=8,
        prior_weight=prior_weight,
        prior_repeat_penalty=REPEAT_PENALTY,
        verbose=False,
        **kwargs,
    )
    return LLMFinetuner(cfg, env_fn=options_env)


def test_at_zero_lora_the_greedy_policy_with_the_prior_is_saycan():
    """The trainer's greedy pick equals SayCan's, scored by the LLM backend's own path, on fixed observations."""
    with_prior, without = trainer(1.0), trainer(0.0)
    env = options_env()
    act, act_without = with_prior.as_policy(deterministic=True), without.as_policy(deterministic=True)
    differs = 0
    for seed in range(8):
        obs, _ = env.reset(seed=seed)
        for _ in range(seed % 3):
            env.step_skill(env.planner_skills()[0])
        names = list(env.admissible_actions())
        prompt = with_prior.decisions.prompt(describe(env), names)
        loglik = with_prior.llm.score(prompt, [" " + n for n in names], normalize="token")
        scores = saycan_scores(
            names, loglik, env.action_affordances(names), 0.01, env.episode_skill_runs, REPEAT_PENALTY
        )
        saycan = max(range(len(names)), key=lambda i: scores[i].combined)
        assert act(obs, env) == text_to_action(env, names[saycan]), f"seed {seed}"
        differs += act_without(obs, env) != act(obs, env)
    assert differs > 0, "the prior never changed the greedy choice, so this test proves nothing"


def test_ppo_update_with_the_prior_starts_at_ratio_one_and_trains():
    """Log-probs recorded in the rollout and recomputed in the loss both carry the prior (the first ratio is 1)."""
    t = trainer(1.0, total_timesteps=16)
    for slot in t.slots:
        slot.reset(t._training_seed())
    buf = t._collect_rollouts()
    t._compute_advantages(buf)
    assert all(len(p) == len(s.candidates) for p, s in zip(buf.priors, buf.samples))
    _, stats = t._minibatch_loss(buf, list(range(len(buf))))
    assert abs(stats["approx_kl"]) < 1e-6 and stats["clip_fraction"] == 0.0
    summary = t.train()
    assert summary["env_steps"] == 16 and summary["updates"] == 1


def test_the_prior_on_an_env_without_affordances_is_a_clear_error():
    cfg = FinetuneConfig(
        "mentor/BabyAI-GoToObj-v0", model="transformers:tiny", trainable_layers=None, prior_weight=1.0, verbose=False
    )
    t = LLMFinetuner(cfg, env_fn=OneDoor)
    t.slots[0].reset(0)
    with pytest.raises(ConfigError, match=r"prior_weight \(1.0\) needs an env with action_affordances.*OneDoor"):
        t.decisions.encode(t.slots[:1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prior_weight": -1.0}, r"prior_weight \(-1.0\) must be 0 or more"),
        ({"prior_min_affordance": 0.0}, r"prior_min_affordance \(0.0\) must lie in \(0, 1\]"),
        ({"prior_repeat_penalty": 1.5}, r"prior_repeat_penalty \(1.5\) must lie in \(0, 1\]"),
    ],
)
def test_prior_settings_are_checked(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        FinetuneConfig(model="transformers:tiny", **kwargs)
