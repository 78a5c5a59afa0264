"""Online RL fine-tuning of the LLM policy: config checks, learning on a text bandit, exact resume, advantages."""

from __future__ import annotations

import math

import pytest
import torch

from mentor.agents.llm_policy import TreeSample
from mentor.agents.llm_ppo import LLMFinetuner
from mentor.agents.llm_ppo_config import FinetuneConfig
from mentor.agents.llm_rollout_buffer import RolloutBuffer
from mentor.envs import describe
from mentor.envs.testing import TextBandit
from mentor.envs.text_view import TextObservation
from mentor.errors import ConfigError
from mentor.evaluation.episodes import EVAL_SEED_OFFSET
from mentor.runs import RunDir

GOTO = "mentor/BabyAI-GoToObj-v0"
MOVES = ("turn left", "turn right", "go forward")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny(**kwargs) -> FinetuneConfig:
    defaults = dict(model="transformers:tiny", trainable_layers=None, verbose=False, n_envs=2, n_steps=4, batch_size=4)
    return FinetuneConfig(**{**defaults, **kwargs})


def bandit_probs(trainer: LLMFinetuner) -> torch.Tensor:
    env = TextBandit(0)
    prompt = trainer.decisions.prompt(env.describe(), env.ACTIONS)
    with torch.no_grad():
        out = trainer.policy.act_logits([prompt], [[" " + a for a in env.ACTIONS]], values=False)
    return out.log_probs().exp()[0]


# ---- config
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"model": "openai:http://127.0.0.1:8000/v1#smol"},
            "uses the openai backend; fine-tuning needs a transformers",
        ),
        ({"dtype": "float64"}, "dtype 'float64' is not one of float32"),
        ({"normalize": "mean"}, "normalize 'mean' is not one of sum, token, word"),
        ({"advantage": "a2c"}, "advantage 'a2c' is not one of gae, grpo, rloo"),
        ({"actions": ()}, "actions is empty"),
        ({"prompt_template": "{goal}: {text}"}, r"unknown field\(s\) goal; allowed: text, mission"),
        ({"n_envs": 0}, r"n_envs \(0\) must be positive"),
        ({"learning_rate": -1e-3}, r"learning_rate \(-0.001\) must be positive"),
        ({"total_timesteps": 0}, r"total_timesteps \(0\) must be positive \(or None"),
        ({"total_timesteps": None}, "set total_timesteps or max_minutes"),
        ({"max_minutes": -1.0}, r"max_minutes \(-1.0\) must be positive"),
        ({"trunk_cache_size": -1}, r"trunk_cache_size \(-1\) must be 0 or more"),
        ({"trainable_layers": 0}, r"trainable_layers \(0\) must be at least 1"),
        ({"lora_dropout": 1.0}, r"lora_dropout \(1.0\) must be in \[0, 1\)"),
        ({"gamma": 0.0}, r"gamma \(0.0\) must be in \(0, 1\]"),
        ({"ent_coef": -0.1}, r"ent_coef \(-0.1\) must be 0 or more"),
        ({"n_eval_episodes": -1}, r"n_eval_episodes \(-1\) must be 0 or more"),
        ({"eval_freq": -1}, r"eval_freq \(-1\) must be 0 or more"),
        ({"eval_freq": 2, "eval_freq_episodes": 0}, r"eval_freq_episodes \(0\) must be at least 1 when eval_freq"),
        ({"advantage": "rloo", "group_size": 1}, r"group_size \(1\) must be at least 2 for rloo"),
        ({"advantage": "gigpo", "gigpo_step_weight": -1.0}, r"gigpo_step_weight \(-1.0\) must be >= 0"),
        ({"advantage": "grpo", "n_envs": 6, "group_size": 4}, r"n_envs \(6\) must be divisible by group_size \(4\)"),
        ({"batch_size": 16}, r"batch_size \(16\) must be at most n_envs \* n_steps \(2 \* 4 = 8\)"),
    ],
)
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        tiny(**kwargs)


def test_config_warns_on_a_truncated_minibatch():
    with pytest.warns(UserWarning, match=r"n_envs \* n_steps \(8\) is not a multiple of batch_size \(3\)"):
        tiny(batch_size=3)


def test_config_round_trips_and_rejects_unknown_keys():
    cfg = tiny(actions=MOVES, advantage="rloo", group_size=2, max_minutes=2.5)
    assert FinetuneConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.rollout_size == 8
    with pytest.raises(ConfigError, match="unknown FinetuneConfig key.*n_step;.*known: "):
        FinetuneConfig.from_dict({"n_step": 4})


# ---- prompts and actions
def test_prompt_template_and_action_filter():
    cfg = tiny(env_id=GOTO, actions=MOVES, prompt_template="Goal: {mission}\n{observation}\n[{actions}]\nAction:")
    trainer = LLMFinetuner(cfg)
    slot = trainer.slots[0]
    slot.reset(3)
    (sample,) = trainer.decisions.encode([slot])
    assert slot.offered == list(MOVES)
    assert sample.candidates == tuple(" " + a for a in MOVES)
    obs = TextObservation("go to the red ball", "You see a wall 1 step forward", MOVES + ("pick up",))
    assert trainer.decisions.prompt(obs, MOVES) == (
        "Goal: go to the red ball\nYou see a wall 1 step forward\n[turn left, turn right, go forward]\nAction:"
    )
    trainer.config.prompt_template = "{text}"
    assert trainer.decisions.prompt(obs, MOVES).endswith("Possible actions: turn left, turn right, go forward")


def test_actions_matching_nothing_admissible_is_an_error():
    trainer = LLMFinetuner(tiny(env_id=GOTO, actions=("jump",)))
    trainer.slots[0].reset(0)
    with pytest.raises(ConfigError, match=r"none of the admissible actions \(turn left, .*\) is in actions \(jump\)"):
        trainer.decisions.encode(trainer.slots[:1])


# ---- learning
@pytest.mark.parametrize("advantage", ["gae", "rloo", "grpo", "gigpo"])
def test_policy_learns_the_rewarded_action_of_a_text_bandit(advantage):
    """Real learning: the action the untrained policy disfavours becomes the one it takes > 90% of the time."""
    cfg = tiny(n_envs=8, n_steps=2, batch_size=16, total_timesteps=8 * 2 * 8, learning_rate=1e-2, advantage=advantage)
    probe = LLMFinetuner(cfg)
    rewarded = int(bandit_probs(probe).argmin())
    trainer = LLMFinetuner(cfg, env_fn=lambda: TextBandit(rewarded))
    before = bandit_probs(trainer)[rewarded].item()
    summary = trainer.train()
    after = bandit_probs(trainer)[rewarded].item()
    assert before < 0.5
    assert after > 0.9, f"p(rewarded) {before:.3f} -> {after:.3f}"
    assert summary["env_steps"] == 128
    records = list(trainer.run.iter_metrics("update"))
    assert len(records) == summary["updates"] and all(math.isfinite(r["train/loss"]) for r in records)


# ---- checkpoints
def _strip_times(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("time/") and k != "seconds"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"total_timesteps": 40, "eval_freq": 2, "eval_freq_episodes": 2},
        {"total_timesteps": 40, "trunk_cache_size": 0},
        {"total_timesteps": 61, "advantage": "rloo", "n_envs": 2, "group_size": 2, "kl_coef": 0.1},
    ],
    ids=["cached-trunk", "batched-trunk", "rloo-kl"],
)
def test_resume_after_a_kill_reproduces_the_uninterrupted_run(kwargs):
    """Killed during its 4th update (after the checkpoint of the 2nd), the run resumes to the same weights and logs."""
    cfg = tiny(
        env_id=GOTO, env_kwargs={"max_steps": 10}, actions=MOVES, trainable_layers=1, checkpoint_freq=2, **kwargs
    )
    straight = LLMFinetuner(cfg, RunDir.create("straight"))
    straight.train()

    killed = LLMFinetuner(cfg, RunDir.create("killed"))
    advantages = killed._compute_advantages

    def die_in_update_4(buf):
        if killed.num_updates == 3:
            raise KeyboardInterrupt
        advantages(buf)

    killed._compute_advantages = die_in_update_4
    with pytest.raises(KeyboardInterrupt):
        killed.train()
    assert killed.num_updates == 3
    assert len(list(killed.run.iter_metrics("update"))) == 3

    resumed = LLMFinetuner.from_run(killed.run)
    summary = resumed.train(resume=True)
    assert summary["updates"] == straight.num_updates
    expected, got = straight.policy.trainable_state_dict(), resumed.policy.trainable_state_dict()
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    assert [_strip_times(r) for r in resumed.run.iter_metrics()] == [
        _strip_times(r) for r in straight.run.iter_metrics()
    ]
    assert [s.actions for s in resumed.slots] == [s.actions for s in straight.slots]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_resume_on_cuda_restores_the_checkpoint():
    """RNG states load as CPU tensors and weights land on the GPU; the resumed run finishes its budget."""
    cfg = tiny(env_id=GOTO, env_kwargs={"max_steps": 10}, actions=MOVES, device="cuda", total_timesteps=16)
    first = LLMFinetuner(cfg, RunDir.create("cuda"))
    first.train()
    resumed = LLMFinetuner.from_run(first.run)
    assert resumed.load_checkpoint()
    for name, value in resumed.policy.trainable_state_dict().items():
        assert value.device.type == "cuda", name
        assert torch.equal(value.cpu(), first.policy.trainable_state_dict()[name].cpu()), name
    assert resumed.train(resume=True)["env_steps"] == 16


def test_resume_without_a_checkpoint_starts_fresh():
    trainer = LLMFinetuner(tiny(env_id=GOTO, actions=MOVES, total_timesteps=8))
    assert not trainer.load_checkpoint()
    assert trainer.train(resume=True)["env_steps"] == 8
    assert trainer.checkpoint_path.is_file()


def test_periodic_evaluation_is_logged_and_not_counted_as_training_time():
    trainer = LLMFinetuner(
        tiny(
            env_id=GOTO,
            env_kwargs={"max_steps": 10},
            actions=MOVES,
            total_timesteps=24,
            eval_freq=2,
            eval_freq_episodes=3,
        )
    )
    trainer.train()
    evals = list(trainer.run.iter_metrics("eval"))
    assert [(e["update"], e["step"], e["episodes"]) for e in evals] == [(2, 16, 3)]
    updates = list(trainer.run.iter_metrics("update"))
    assert trainer.train_seconds == pytest.approx(updates[-1]["seconds"])
    assert trainer.train_seconds == pytest.approx(
        sum(u["time/rollout_seconds"] + u["time/update_seconds"] for u in updates)
    )


def test_a_second_train_call_continues_the_run():
    trainer = LLMFinetuner(tiny(env_id=GOTO, actions=MOVES, total_timesteps=8))
    trainer.train()
    trainer.config.total_timesteps = 16
    assert trainer.train()["env_steps"] == 16
    assert [r["update"] for r in trainer.run.iter_metrics("update")] == [1, 2]


# ---- advantages
def test_gae_matches_a_hand_computation():
    trainer = LLMFinetuner(tiny(n_envs=1, n_steps=3, batch_size=1, gamma=0.5, gae_lambda=0.5))
    buf = RolloutBuffer(rewards=[0.0, 1.0, 0.0], dones=[False, True, False], values=[0.2, 0.4, 0.1])
    buf.samples = [None] * 3
    buf.last_values = torch.tensor([0.8])
    trainer._compute_advantages(buf)
    d2 = 0.0 + 0.5 * 0.8 - 0.1
    d1 = 1.0 - 0.4
    d0 = 0.0 + 0.5 * 0.4 - 0.2
    expected = [d0 + 0.25 * d1, d1, d2]
    torch.testing.assert_close(buf.advantages, torch.tensor(expected))
    torch.testing.assert_close(buf.returns, torch.tensor(expected) + torch.tensor([0.2, 0.4, 0.1]))


@pytest.mark.parametrize(
    ("advantage", "expected"),
    [("rloo", [1.0, -1 / 3, -1 / 3, -1 / 3]), ("grpo", [1.5, -0.5, -0.5, -0.5])],
)
def test_critic_free_advantages_compare_episodes_of_a_group(advantage, expected):
    trainer = LLMFinetuner(tiny(advantage=advantage, n_envs=4, group_size=4))
    buf = RolloutBuffer(episode=[10, 11, 10, 12, 13], episode_returns={10: 1.0, 11: 0.0, 12: 0.0, 13: 0.0})
    buf.samples = [None] * 5
    trainer._compute_advantages(buf)
    per_episode = dict(zip([10, 11, 12, 13], expected))
    torch.testing.assert_close(buf.advantages, torch.tensor([per_episode[e] for e in buf.episode]))


def _step(observation: int) -> TreeSample:
    return TreeSample((observation, 99), 1, (1,), ("a",))


def test_gigpo_adds_step_credit_among_a_groups_steps_from_the_same_observation():
    """Group 1: episode 10 sees A (reward 0) then B (1); episode 11 sees A (0) then C (0). Group 2 (episodes 12,
    13) also sees A, with reward 1 each: its steps form their own step group, not group 1's."""
    trainer = LLMFinetuner(tiny(advantage="gigpo", n_envs=4, group_size=2, gamma=0.5, gigpo_step_weight=1.0))
    a, b, c = _step(1), _step(2), _step(3)
    buf = RolloutBuffer(
        samples=[a, a, a, a, b, c],
        episode=[10, 11, 12, 13, 10, 11],
        rewards=[0.0, 0.0, 1.0, 1.0, 1.0, 0.0],
        episode_returns={10: 1.0, 11: 0.0, 12: 1.0, 13: 1.0},
    )
    trainer._compute_advantages(buf)
    episode = 0.5 / math.sqrt(0.5)  # GRPO of returns (1, 0): +-0.707
    step = 0.25 / math.sqrt(0.125)  # A's discounted returns (0.5, 0) in group 1: +-0.707
    expected = [episode + step, -episode - step, 0.0, 0.0, episode, -episode]
    torch.testing.assert_close(buf.advantages, torch.tensor(expected))
    trainer.config.gigpo_step_weight = 0.0
    trainer._compute_advantages(buf)
    torch.testing.assert_close(buf.advantages, torch.tensor([episode, -episode, 0.0, 0.0, episode, -episode]))


# ---- evaluation
def test_evaluate_plays_held_out_seeds_in_order_and_leaves_training_rng_alone():
    trainer = LLMFinetuner(tiny(env_id=GOTO, env_kwargs={"max_steps": 10}, actions=MOVES, n_envs=3))
    state = trainer.generator.get_state()
    first = trainer.evaluate(5)
    again = trainer.evaluate(5)
    assert first["episodes"] == 5 and first["outcomes"] == again["outcomes"]
    assert torch.equal(trainer.generator.get_state(), state)
    assert first["env_steps"] == sum(o["length"] for o in first["outcomes"])
    env = trainer.env_fns[GOTO]()
    env.reset(seed=EVAL_SEED_OFFSET + 4)
    assert trainer.decisions.prompt(describe(env), MOVES).startswith(f"Goal: {env.unwrapped.mission}")
    sampled = trainer.evaluate(5, deterministic=False)
    assert sampled["deterministic"] is False and sampled["episodes"] == 5


def test_as_policy_returns_env_actions():
    trainer = LLMFinetuner(tiny(env_id=GOTO, actions=MOVES))
    env = trainer.env_fns[GOTO]()
    obs, _ = env.reset(seed=0)
    assert trainer.as_policy()(obs, env) in (0, 1, 2)


# ---- the embedded model
@pytest.mark.slow
def test_a_few_ppo_updates_on_the_embedded_model_in_babyai_text_have_finite_loss_and_kl():
    cfg = FinetuneConfig(
        env_id="mentor/BabyAI-GoToLocal-v0",
        model="transformers:embedded",
        device="cpu",
        n_envs=4,
        n_steps=4,
        batch_size=8,
        n_epochs=2,
        kl_coef=0.05,
        total_timesteps=32,
        verbose=False,
    )
    trainer = LLMFinetuner(cfg)
    summary = trainer.train()
    records = list(trainer.run.iter_metrics("update"))
    assert summary["updates"] == len(records) == 2
    for record in records:
        for key in ("train/loss", "train/policy_loss", "train/value_loss", "train/kl_ref", "train/approx_kl"):
            assert math.isfinite(record[key]), (key, record[key])
        assert record["train/kl_ref"] >= -1e-6
    assert summary["env_steps_per_s"] > 0 and summary["llm_forwards_per_s"] > 0
    changed = [n for n, p in trainer.policy.trainable_state_dict().items() if "lora_B" in n and p.abs().sum() > 0]
    assert changed


def _suite_envs(name: str) -> list[str]:
    from mentor.benchmarks.suites import load_suite

    return load_suite(name).envs


@pytest.mark.parametrize("env_id", _suite_envs("babyai-text") + ["mentor/TextWorld-Easy-v0"])
def test_one_update_on_every_balrog_babyai_task_and_on_textworld(env_id):
    """The trainer runs on the BALROG BabyAI task set and on TextWorld through their text views."""
    cfg = tiny(env_id=env_id, total_timesteps=8, n_epochs=1, trunk_cache_size=0)
    trainer = LLMFinetuner(cfg)
    summary = trainer.train()
    (record,) = trainer.run.iter_metrics("update")
    assert summary["env_steps"] == 8
    assert math.isfinite(record["train/loss"]) and math.isfinite(record["train/approx_kl"])
    trainer.close()


def test_bench_agent_trains_within_the_budget_and_writes_a_cell(tmp_path):
    from mentor.benchmarks.agents import CellJob, read_cell_files
    from mentor.benchmarks.registry import make_bench_agent

    job = CellJob(
        agent="llm-ppo",
        env_id=GOTO,
        seed=0,
        budget=16,
        eval_episodes=2,
        cell_dir=str(tmp_path / "cell"),
        options={"actions": MOVES, "n_envs": 2, "n_steps": 4, "batch_size": 4, "trainable_layers": None},
        llm="transformers:tiny",
    )
    make_bench_agent("llm-ppo").run(job)
    files = read_cell_files(tmp_path / "cell")
    assert files["cell"]["env_steps"] == 16
    assert len(files["eval"]["outcomes"]) == 2
    assert files["episodes"] == [r for r in files["episodes"] if r["step"] <= 16]
    assert files["llm_usage"]["calls"] >= 16 and files["llm_usage"]["prompt_tokens"] > 0
