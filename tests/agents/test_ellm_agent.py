import json
from collections.abc import Sequence

import numpy as np
import pytest

from mentor.agents.ellm import ELLMAgent
from mentor.benchmarks.agents import CellJob
from mentor.benchmarks.llm_agents import ELLMBenchAgent
from mentor.errors import ConfigError
from mentor.llm.testing import ScriptedLLM
from mentor.rewards.ellm import ELLMConfig, ELLMReward
from mentor.runs import RunDir
from mentor.sb3.agent import SB3Config

SMALL_PPO = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}


class WordsEmbedder:
    def __init__(self):
        self.vocabulary: dict[str, int] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), 128), np.float32)
        for row, text in zip(vectors, texts):
            for word in text.split():
                row[self.vocabulary.setdefault(word, len(self.vocabulary))] = 1.0
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _config(steps=128):
    return SB3Config(
        "mentor/Crafter-Symbolic-v0",
        total_timesteps=steps,
        hyperparams=SMALL_PPO,
        n_eval_episodes=1,
        env_kwargs={"length": 40},
        progress_bar=False,
        device="cpu",
    )


def test_training_envs_carry_the_ellm_reward_and_share_one_suggester(tmp_path):
    llm = ScriptedLLM(["1. collect wood\n2. collect sapling"])
    agent = ELLMAgent(_config(), ELLMConfig(), llm=llm, run=RunDir.create("t", tmp_path), embedder=WordsEmbedder())
    venv = agent.make_vec_env(2, seed=0)
    wrappers = [env.get_wrapper_attr("suggester") for env in venv.envs]
    assert wrappers[0] is wrappers[1] is agent.suggester
    assert all(isinstance(env, ELLMReward) for env in venv.envs)
    agent.train()
    summary = agent.summary()
    assert summary["steps"] == 128
    assert summary["llm_queries"] == len(llm.requests) >= 1
    assert summary["state_captions_answered"] == summary["llm_queries"]


def test_ellm_needs_a_crafter_env():
    config = SB3Config("mentor/MiniGrid-Empty-5x5-v0", total_timesteps=64, progress_bar=False)
    with pytest.raises(ConfigError, match=r"ELLM captions states and transitions of Crafter envs only"):
        ELLMAgent(config, llm=ScriptedLLM(), embedder=WordsEmbedder())


def test_ellm_training_envs_step_in_this_process():
    from mentor.executors import ExecutorConfig

    config = SB3Config("mentor/Crafter-Symbolic-v0", total_timesteps=64, progress_bar=False)
    config.rollout_executor = ExecutorConfig(kind="process", num_workers=2)
    with pytest.raises(ConfigError, match=r"rollout_executor kind 'process' must be 'sequential' or None"):
        ELLMAgent(config, llm=ScriptedLLM(), embedder=WordsEmbedder())


@pytest.mark.slow
def test_bench_cell_trains_and_writes_its_files(tmp_path, monkeypatch):
    monkeypatch.setenv("MENTOR_CACHE", str(tmp_path / "cache"))
    job = CellJob(
        "ellm",
        "mentor/Crafter-Symbolic-v0",
        seed=0,
        budget=128,
        eval_episodes=1,
        cell_dir=str(tmp_path / "cell"),
        options={"hyperparams": SMALL_PPO, "env_kwargs": {"length": 40}, "ellm": {"max_queries": 2}},
        llm="transformers:tiny",
    )
    ELLMBenchAgent().run(job)
    summary = json.loads((tmp_path / "cell" / "ellm.json").read_text())
    assert summary["llm_queries"] <= 2 and summary["steps"] == 128
    assert json.loads((tmp_path / "cell" / "llm_usage.json").read_text())["calls"] >= summary["llm_queries"]
    assert json.loads((tmp_path / "cell" / "cell.json").read_text())["env_steps"] == 128
