"""Recorded episodes of reward states, and cheap pre-ranking of candidate rewards on them.

:func:`record_episodes` plays a policy in a mentor env and keeps every ``(state, action,
next_state)`` with the episode's outcome. Such episodes serve twice:

- validation: a candidate runs on a few recorded transitions before any training, so broken code
  never reaches training;
- pre-ranking (after CARD's trajectory preference evaluation): a candidate's return on each of a
  fixed set of episodes whose fitness is known and varies (a random policy; snapshots of a policy
  trained on the human reward, taken along its training; that policy with random actions mixed in)
  is compared with that fitness; :func:`ranking_score` is the rank correlation of the two, from 1
  (the reward orders the episodes as the fitness does) through 0 (chance) to -1 (reversed). It
  needs no training, so many candidates can be screened and only the best-ranked trained.

Example:
    >>> episodes = record_episodes("mentor/MiniGrid-DoorKey-5x5-v0", None, 1, seed=0, max_episode_steps=5)
    >>> len(episodes[0].transitions)
    5
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from mentor.envs import make as make_env
from mentor.errors import RewardCodeError
from mentor.rewards.fitness import get_fitness
from mentor.rewards.sandbox import RewardSandbox, SandboxConfig, Transition
from mentor.rewards.state import state_reader

__all__ = [
    "Episode",
    "plain_action",
    "record_episodes",
    "record_random_steps",
    "save_episodes",
    "load_episodes",
    "ranking_score",
    "random_action_mix",
    "PrerankScore",
    "prerank_reward",
    "ScreenResult",
    "screen_reward",
]

#: ``policy(obs, env) -> action``; ``None`` plays uniformly random actions.
Policy = Callable[[Any, gym.Env], Any]


@dataclass
class Episode:
    """One recorded episode.

    Attributes:
        transitions: every ``(state, action, next_state)``, states as :mod:`mentor.rewards.state` dataclasses.
        outcome: the env's ``info["episode_outcome"]``.
        source: which policy played it (``random``, ``human/seed-0``, ...).
        fitness: the task fitness of this one episode (set by :func:`record_episodes` when given a fitness).
    """

    transitions: list[Transition]
    outcome: dict[str, Any]
    source: str = "random"
    fitness: float | None = None


def plain_action(action: Any) -> Any:
    """An env action as reward code receives it: a numpy array copy, a Python int, or the value itself."""
    if isinstance(action, np.ndarray) and action.ndim:
        return action.copy()
    if isinstance(action, (np.integer, np.ndarray)):
        return int(action)
    return action


def record_episodes(
    env_id: str,
    policy: Policy | None,
    n_episodes: int,
    seed: int,
    env_kwargs: dict[str, Any] | None = None,
    max_episode_steps: int | None = None,
    wrapper: Callable[[gym.Env], gym.Env] | None = None,
    source: str = "random",
    fitness: str | None = None,
) -> list[Episode]:
    """Play ``n_episodes`` episodes (seeds ``seed``, ``seed + 1``, ...) and record their reward states.

    Args:
        env_id: mentor env id.
        policy: ``policy(obs, env) -> action`` on the (wrapped) env; ``None`` for random actions.
        n_episodes: episodes to play.
        seed: seed of the first episode (and of the random actions).
        env_kwargs: keyword arguments for ``mentor.envs.make``.
        max_episode_steps: cut episodes off after this many steps (``None``: the env's own limit).
        wrapper: observation wrapper the policy expects (the zoo ``env_wrapper``).
        source: label stored with each episode.
        fitness: a fitness name; each episode's fitness is then computed from its outcome.
    """
    kwargs = dict(env_kwargs or {})
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    env = make_env(env_id, **kwargs)
    if wrapper is not None:
        env = wrapper(env)
    reader = state_reader(env)
    env.action_space.seed(seed)
    scorer = get_fitness(fitness) if fitness is not None else None
    episodes = []
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed + i)
        state = reader.read(env)
        transitions: list[Transition] = []
        while True:
            action = env.action_space.sample() if policy is None else policy(obs, env)
            obs, _, terminated, truncated, info = env.step(action)
            next_state = reader.read(env)
            transitions.append((state, plain_action(action), next_state))
            state = next_state
            if terminated or truncated:
                outcome = dict(info["episode_outcome"])
                value = scorer.episode_value(outcome) if scorer is not None else None
                episodes.append(Episode(transitions, outcome, source, value))
                break
    env.close()
    return episodes


def record_random_steps(
    env_id: str, num_steps: int, seed: int, env_kwargs: dict[str, Any] | None = None
) -> list[Episode]:
    """Random-action episodes (seeds ``seed``, ``seed + 1``, ...) holding ``num_steps`` transitions in all.

    The last episode is cut short where the count is reached. The reward loop validates generated
    code on these transitions before training it.
    """
    episodes: list[Episode] = []
    steps = 0
    while steps < num_steps:
        (episode,) = record_episodes(
            env_id, None, 1, seed=seed + len(episodes), env_kwargs=env_kwargs, max_episode_steps=num_steps - steps
        )
        episodes.append(episode)
        steps += len(episode.transitions)
    return episodes


def save_episodes(episodes: Sequence[Episode], path: Path) -> Path:
    """Pickle episodes (trusted data written by this process) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(list(episodes), protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(path)
    return path


def load_episodes(path: Path) -> list[Episode]:
    """Episodes written by :func:`save_episodes`."""
    return pickle.loads(path.read_bytes())


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 0, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values), dtype=float)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def ranking_score(returns: Sequence[float], fitnesses: Sequence[float], tol: float = 1e-9) -> float | None:
    """Spearman's rank correlation between a reward's episode returns and the episodes' fitness.

    1: the reward orders the episodes as the fitness does; 0: chance, or a reward constant over
    them; -1: reversed. Returns closer than ``tol`` (relative to the largest) count as tied.
    ``None`` when every episode has the same fitness, so that nothing can be ranked.

    Example:
        >>> ranking_score([1.0, 2.0, 3.0], [0.0, 1.0, 2.0]), ranking_score([3.0, 2.0, 1.0], [0.0, 1.0, 2.0])
        (1.0, -1.0)
    """
    r, f = np.asarray(returns, dtype=float), np.asarray(fitnesses, dtype=float)
    if len(f) < 2 or np.ptp(f) <= tol:
        return None
    scale = max(1.0, float(np.abs(r).max()))
    r = np.round(r / (tol * scale))
    if np.ptp(r) == 0:
        return 0.0
    rr, rf = _average_ranks(r), _average_ranks(np.round(f / tol))
    rr, rf = rr - rr.mean(), rf - rf.mean()
    return float(np.clip((rr @ rf) / np.sqrt((rr @ rr) * (rf @ rf)), -1.0, 1.0))


def random_action_mix(policy: Policy, epsilon: float, seed: int) -> Policy:
    """``policy`` with each action replaced, with probability ``epsilon``, by a uniformly random one."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon ({epsilon}) must be in [0, 1]")
    rng = np.random.default_rng(seed)

    def mixed(obs: Any, env: gym.Env) -> Any:
        return env.action_space.sample() if rng.random() < epsilon else policy(obs, env)

    return mixed


@dataclass
class PrerankScore:
    """How a candidate orders the reference episodes.

    Attributes:
        ranking: :func:`ranking_score` of its returns against the fitness (``None``: undefined).
        returns: its return on each reference episode.
        seconds: time the scoring took.
    """

    ranking: float | None
    returns: list[float]
    seconds: float


def prerank_reward(code: str, episodes: Sequence[Episode], config: SandboxConfig | None = None) -> PrerankScore:
    """Score reward code on reference episodes of known fitness (in the sandbox).

    Raises:
        RewardCodeError: the code failed on one of the transitions.
    """
    with RewardSandbox(code, config) as sandbox:
        return _prerank(sandbox, episodes)


def _prerank(sandbox: RewardSandbox, episodes: Sequence[Episode]) -> PrerankScore:
    start = time.perf_counter()
    rewards = sandbox.evaluate([t for e in episodes for t in e.transitions])
    returns, i = [], 0
    for e in episodes:
        returns.append(float(sum(total for total, _ in rewards[i : i + len(e.transitions)])))
        i += len(e.transitions)
    ranking = ranking_score(returns, [e.fitness for e in episodes])
    return PrerankScore(ranking, returns, time.perf_counter() - start)


@dataclass
class ScreenResult:
    """Where reward code stopped before any training, and why.

    Attributes:
        stage: ``gate`` (the AST gate rejected it), ``validation`` (it failed on a recorded transition or
            a reference episode) or ``prerank`` (it passed, and was scored when references were given).
        reason: the one-line reason it stopped (``None`` when it passed).
        prerank: its score on the references (``None`` without references, or when it stopped).
    """

    stage: str
    reason: str | None = None
    prerank: PrerankScore | None = None


def screen_reward(
    code: str,
    transitions: Sequence[Transition],
    references: Sequence[Episode] = (),
    config: SandboxConfig | None = None,
) -> ScreenResult:
    """Gate ``code`` once, then run it on ``transitions`` and score it on ``references``, in one sandbox session."""
    try:
        sandbox = RewardSandbox(code, config)
    except RewardCodeError as e:
        return ScreenResult("gate", str(e))
    try:
        try:
            sandbox.start()
            sandbox.evaluate(transitions)
        except RewardCodeError as e:
            return ScreenResult("validation", f"on a recorded transition: {e}")
        if not references:
            return ScreenResult("prerank")
        try:
            return ScreenResult("prerank", prerank=_prerank(sandbox, references))
        except RewardCodeError as e:
            return ScreenResult("validation", f"on a reference episode: {e}")
    finally:
        sandbox.close()
