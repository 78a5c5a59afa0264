"""The reward writer: GRPO makes the rewarded program likelier; the trainer records, checkpoints and resumes;
a saved adapter loads back through LLMConfig."""

from __future__ import annotations

import json

import pytest
import torch

from mentor.agents.reward_writer import GRPOConfig, ProgramGRPO, RewardWriterConfig, RewardWriterTrainer
from mentor.errors import ConfigError, UnknownComponentError
from mentor.llm import LLMConfig, make_llm
from mentor.llm.constraints import Grammar
from mentor.runs import RunDir

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPT = "Write the better program:"
TOY = Grammar('start: "x = 1" | "x = 2"')


def _margin(llm) -> float:
    a, b = llm.score(PROMPT, ["x = 1", "x = 2"])
    return b - a


def test_grpo_makes_the_better_program_likelier_within_a_few_updates():
    llm = make_llm(LLMConfig("transformers:tiny", cache=False))
    grpo = ProgramGRPO(llm, GRPOConfig(group_size=8, max_new_tokens=6, learning_rate=5e-3, kl_coef=0.0))
    before = _margin(llm)
    stats = [grpo.step(PROMPT, TOY, lambda text: 1.0 if text == "x = 2" else 0.0) for _ in range(8)]
    assert _margin(llm) > before + 1.0
    assert stats[-1]["reward_mean"] > stats[0]["reward_mean"] or stats[-1]["reward_mean"] == 1.0
    assert all(s["invalid_share"] == 0.0 for s in stats)


def test_grpo_skips_the_update_when_the_group_agrees_and_counts_invalid_programs_as_the_minimum():
    llm = make_llm(LLMConfig("transformers:tiny", cache=False))
    grpo = ProgramGRPO(llm, GRPOConfig(group_size=4, max_new_tokens=6))
    weights = [p.detach().clone() for p in grpo.model.parameters() if p.requires_grad]
    flat = grpo.step(PROMPT, TOY, lambda text: 0.5)
    assert flat["grad_norm"] == 0.0 and grpo.updates == 1
    assert all(torch.equal(w, p) for w, p in zip(weights, (p for p in grpo.model.parameters() if p.requires_grad)))
    mixed = grpo.step(PROMPT, TOY, lambda text: None if text == "x = 1" else 0.3)
    assert 0.0 < mixed["invalid_share"] < 1.0 or mixed["reward_std"] == 0.0


def test_a_saved_adapter_loads_back_through_the_llm_config(tmp_path):
    llm = make_llm(LLMConfig("transformers:tiny", cache=False))
    grpo = ProgramGRPO(llm, GRPOConfig(group_size=8, max_new_tokens=6, learning_rate=5e-3))
    for _ in range(3):
        grpo.step(PROMPT, TOY, lambda text: float(text == "x = 2"))
    grpo.save(tmp_path / "adapter")
    loaded = make_llm(LLMConfig("transformers:tiny", cache=False, adapter=str(tmp_path / "adapter")))
    assert _margin(loaded) == pytest.approx(_margin(llm), abs=1e-4)
    assert "+" in loaded.model_id
    with pytest.raises(ConfigError, match=r"is not a peft adapter folder \(no adapter_config.json\)"):
        LLMConfig("transformers:tiny", adapter=str(tmp_path))
    with pytest.raises(ConfigError, match="loads onto a transformers model, not a openai one"):
        LLMConfig("openai:http://127.0.0.1:1/v1#m", adapter=str(tmp_path / "adapter"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"heldout_tasks": ["doorkey"], "train_tasks": ["doorkey"]}, r"\['doorkey'\] are both trained on and held out"),
        ({"grpo": {"group_size": 1}}, r"group_size \(1\) must be at least 2"),
        ({"references": {"steps": 0}}, r"steps \(0\) must be at least 1"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RewardWriterConfig(**kwargs)
    with pytest.raises(UnknownComponentError, match=r"Unknown reward task 'nope'"):
        RewardWriterConfig(train_tasks=["nope"])


TINY_PPO = {"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1}


def _config(**kwargs) -> RewardWriterConfig:
    fields = dict(
        train_tasks=["halfcheetah_forward"],
        heldout_tasks=["hopper_hop"],
        updates=2,
        eval_samples=2,
        grpo=GRPOConfig(group_size=2, max_new_tokens=40),
        references={
            "steps": 256,
            "final_seeds": 1,
            "eval_episodes": 1,
            "hyperparams": TINY_PPO,
            "prerank_max_steps": 20,
        },
    )
    return RewardWriterConfig(**{**fields, **kwargs})


def test_the_trainer_evaluates_trains_checkpoints_and_resumes(monkeypatch):
    llm = make_llm(LLMConfig("transformers:tiny", cache=False))
    run = RunDir.create("writer-test")
    calls = []
    step = ProgramGRPO.step

    def killed_on_the_second_update(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return step(self, *args, **kwargs)

    monkeypatch.setattr(ProgramGRPO, "step", killed_on_the_second_update)
    with pytest.raises(KeyboardInterrupt):
        RewardWriterTrainer(_config(), run, llm=llm).train()
    assert [r["step"] for r in run.iter_metrics("update")] == [1]
    assert (run.checkpoints / "adapter" / "adapter_config.json").exists()
    before = json.loads((run.path / "evaluation_before.json").read_text())
    assert set(before) == {"halfcheetah_forward", "hopper_hop"}
    assert all(-1.0 <= v["mean_ranking_score"] <= 1.0 for v in before.values())

    monkeypatch.setattr(ProgramGRPO, "step", step)
    result = RewardWriterTrainer.resume(run, llm=make_llm(LLMConfig("transformers:tiny", cache=False))).train()
    assert result["updates"] == 2 and [r["step"] for r in run.iter_metrics("update")] == [1, 2]
    assert result["before"] == before and result["heldout_tasks"] == ["hopper_hop"]
    assert (run.path / "adapter" / "adapter_config.json").exists() and (run.path / "evaluation.json").exists()
    # the references were recorded once per task, from the human reward's policy snapshots
    sources = [r["source"] for r in json.loads((run.path / "references/hopper_hop/references.json").read_text())]
    assert "human/step-128" in sources and sources[0] == "random"
