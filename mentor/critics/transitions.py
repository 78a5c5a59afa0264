"""Labelled transitions collected from the envs, for measuring a success detector against ground truth.

A behaviour policy plays each env; at every step the text before and after is kept together with
what the step achieved according to the env's own state: a Crafter achievement counter went up,
a MiniGrid object was picked up or dropped, a door opened, the agent came to face an object or
reached the goal, a TextWorld item entered the inventory, the room changed or the score rose, a
MuJoCo robot moved forward over a short window.

Each positive ``(subgoal, before, after, True)`` is paired with a negative of the same subgoal from
the same episode, at a step after which the subgoal does not hold, so sets are balanced and a
detector cannot score by the subgoal's prior alone.

Example:
    >>> transitions = collect_transitions("minigrid", num_pairs=4, seed=0)  # doctest: +SKIP
    >>> sum(t.label for t in transitions), len(transitions)  # doctest: +SKIP
    (4, 8)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from mentor.critics.captions import CRAFTER_ACHIEVEMENT_CAPTIONS, caption_crafter_transition
from mentor.envs import TextObservation, describe, family_of
from mentor.envs import make as make_env
from mentor.envs.crafter import CRAFTER_ACTIONS
from mentor.errors import UnknownComponentError

__all__ = [
    "DETECTOR_ENVS",
    "LabelledTransition",
    "StepRecord",
    "collect_transitions",
    "pair_transitions",
    "state_text",
]

#: Family -> the envs its transitions come from (played in turn, one episode each).
DETECTOR_ENVS: dict[str, tuple[str, ...]] = {
    "minigrid": ("mentor/MiniGrid-DoorKey-5x5-v0", "mentor/BabyAI-GoToLocal-v0", "mentor/BabyAI-OpenDoorLoc-v0"),
    "crafter": ("mentor/Crafter-Symbolic-v0",),
    "textworld": ("mentor/TextWorld-Easy-v0", "mentor/TextWorld-Medium-v0"),
    "mujoco": ("mentor/HalfCheetah-v5",),
}


@dataclass(frozen=True)
class LabelledTransition:
    """A subgoal, the text before and after one transition, and whether the transition achieved it."""

    family: str
    """Env family (``minigrid``, ``crafter``, ``textworld``, ``mujoco``)."""
    env_id: str
    """The env the transition comes from."""
    subgoal: str
    """What the detector is asked about ("pick up the red key")."""
    before: str
    """State text before the transition (see :func:`state_text`)."""
    after: str
    """State text after it."""
    label: bool
    """Ground truth: the transition achieved the subgoal."""
    kind: str
    """The kind of event ("pick up", "collect wood", "score"), for per-kind breakdowns."""


@dataclass(frozen=True)
class StepRecord:
    """One recorded transition of a behaviour policy, before pairing."""

    episode: int
    before: str
    after: str
    achieved: dict[str, str]
    """Subgoals the transition achieved, each with its kind."""
    holding: frozenset[str]
    """Subgoals that hold after the transition (never used as its negatives)."""
    env_id: str = ""


def state_text(obs: TextObservation) -> str:
    """What a critic reads of a state: the env's last reply (if any) and the observation, without actions."""
    return f"Feedback: {obs.feedback}\n{obs.observation}" if obs.feedback else obs.observation


# ----- per-family recorders: play episodes and yield StepRecords


_OBJECTS = ("ball", "box", "key")


def _minigrid_holding(env: gym.Env, success: bool) -> dict[str, str]:
    """Every subgoal that holds in the current state, with its kind."""
    u = env.unwrapped
    holding = {}
    if u.carrying is not None:
        holding[f"pick up the {u.carrying.color} {u.carrying.type}"] = "pick up"
    for obj in u.grid.grid:
        if obj is None:
            continue
        if obj.type in _OBJECTS:
            holding[f"drop the {obj.color} {obj.type}"] = "drop"
        elif obj.type == "door" and obj.is_open:
            holding[f"open the {obj.color} door"] = "open door"
    front = u.grid.get(*u.front_pos)
    if front is not None and front.type in (*_OBJECTS, "door"):
        holding[f"go to the {front.color} {front.type}"] = "go to"
    if success:
        holding["reach the green goal square"] = "reach goal"
    return holding


_MINIGRID_ACTION_P = np.array([0.2, 0.2, 0.3, 0.1, 0.05, 0.15])


def _record_minigrid(env: gym.Env, env_id: str, rng: np.random.Generator, episode: int) -> Iterator[StepRecord]:
    """Random actions (forward, pick up and toggle favoured); a subgoal is achieved when it starts to hold."""
    env.reset(seed=int(rng.integers(2**31)))
    holding, text = _minigrid_holding(env, False), state_text(describe(env))
    while True:
        _, reward, terminated, truncated, _ = env.step(int(rng.choice(6, p=_MINIGRID_ACTION_P)))
        after_holding, after_text = _minigrid_holding(env, bool(terminated and reward > 0)), state_text(describe(env))
        achieved = {g: k for g, k in after_holding.items() if g not in holding}
        yield StepRecord(episode, text, after_text, achieved, frozenset(after_holding), env_id)
        if terminated or truncated:
            return
        holding, text = after_holding, after_text


# Moves, do, and the rest: "do" and moves are favoured so that things get collected.
_CRAFTER_ACTION_P = np.array(
    [0.15 if a.startswith("move") else 0.2 if a == "do" else 0.2 / 12 for a in CRAFTER_ACTIONS]
)


def _record_crafter(env: gym.Env, env_id: str, rng: np.random.Generator, episode: int) -> Iterator[StepRecord]:
    _, info = env.reset(seed=int(rng.integers(2**31)))
    counts, text = dict(info["achievements"]), state_text(describe(env))
    while True:
        _, _, terminated, truncated, info = env.step(int(rng.choice(len(CRAFTER_ACTIONS), p=_CRAFTER_ACTION_P)))
        after_counts, after_text = dict(info["achievements"]), state_text(describe(env))
        achieved = {c: c for c in caption_crafter_transition(counts, after_counts)}
        unlocked = frozenset(CRAFTER_ACHIEVEMENT_CAPTIONS[n] for n, v in after_counts.items() if v > 0)
        yield StepRecord(episode, text, after_text, achieved, unlocked, env_id)
        if terminated or truncated:
            return
        counts, text = after_counts, after_text


_TAKE = re.compile(r"^take (.+?)(?: from .+)?$")
#: Games played per TextWorld level (each is generated once, a few seconds, then cached).
_TEXTWORLD_GAMES = 8


def _record_textworld(env: gym.Env, env_id: str, rng: np.random.Generator, episode: int) -> Iterator[StepRecord]:
    """Follows the walkthrough half of the time and otherwise plays a random admissible command."""
    _, info = env.reset(seed=int(rng.integers(_TEXTWORLD_GAMES)))
    walkthrough = env.unwrapped.walkthrough
    next_step, done_steps = 0, set()
    text = state_text(describe(env))
    while True:
        if next_step < len(walkthrough) and rng.random() < 0.5:
            command, next_step = walkthrough[next_step], next_step + 1
        else:
            admissible = [c for c in env.unwrapped.admissible_commands if not c.startswith(("eat", "drop"))]
            command = str(rng.choice(admissible)) if admissible else "look"
        before = info
        _, _, terminated, truncated, info = env.step(command)
        after_text = state_text(describe(env))
        achieved: dict[str, str] = {}
        take = _TAKE.match(command)
        inventory = info["inventory"].lower()
        if take and take.group(1) in inventory and take.group(1) not in before["inventory"].lower():
            achieved[f"take the {take.group(1)}"] = "take"
        if info["location"] != before["location"] and info["location"]:
            achieved[f"go to the {info['location'].lower()}"] = "go to"
        if info["score"] > before["score"] and not take:
            achieved[command] = "score"
            done_steps.add(command)
        holding = set(done_steps)
        holding |= {f"take the {m.group(1)}" for m in map(_TAKE.match, walkthrough) if m and m.group(1) in inventory}
        if info["location"]:
            holding.add(f"go to the {info['location'].lower()}")
        yield StepRecord(episode, text, after_text, achieved, frozenset(holding), env_id)
        if terminated or truncated:
            return
        text = after_text


_MUJOCO_WINDOW = 10
_MUJOCO_MARGIN = 0.05


def _record_mujoco(env: gym.Env, env_id: str, rng: np.random.Generator, episode: int) -> Iterator[StepRecord]:
    """Random actions; each window of 10 steps is one transition, "move forward" if x rose by 5 cm or more."""
    env.reset(seed=int(rng.integers(2**31)))
    env.action_space.seed(int(rng.integers(2**31)))
    obs = describe(env)
    while True:
        x0, text = float(env.unwrapped.data.qpos[0]), state_text(obs)
        for _ in range(_MUJOCO_WINDOW):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                return
        obs = describe(env)
        dx = float(env.unwrapped.data.qpos[0]) - x0
        achieved = {"move forward": "move forward"} if dx >= _MUJOCO_MARGIN else {}
        holding = frozenset({"move forward"}) if dx > 0 else frozenset()
        yield StepRecord(episode, text, state_text(obs), achieved, holding, env_id)


_RECORDERS: dict[str, Callable[[gym.Env, str, np.random.Generator, int], Iterator[StepRecord]]] = {
    "minigrid": _record_minigrid,
    "crafter": _record_crafter,
    "textworld": _record_textworld,
    "mujoco": _record_mujoco,
}


# ----- pairing


def pair_transitions(
    records: list[StepRecord], num_pairs: int, family: str, rng: np.random.Generator
) -> list[LabelledTransition]:
    """Balanced labelled transitions from recorded steps.

    Positives are drawn round-robin over event kinds (so frequent events do not crowd out rare
    ones); each is paired with a negative of the same subgoal from the same episode, drawn from the
    steps after which the subgoal does not hold.

    Args:
        records: recorded steps of one family.
        num_pairs: most positive/negative pairs to return.
        family: the family, stored in each transition.
        rng: random source.

    Returns:
        Up to ``2 * num_pairs`` transitions, positives and negatives alternating.
    """
    by_kind: dict[str, list[tuple[int, str]]] = {}
    for i, record in enumerate(records):
        for goal, kind in record.achieved.items():
            by_kind.setdefault(kind, []).append((i, goal))
    for items in by_kind.values():
        rng.shuffle(items)
    kinds = sorted(by_kind)
    rng.shuffle(kinds)
    by_episode: dict[int, list[int]] = {}
    for i, record in enumerate(records):
        by_episode.setdefault(record.episode, []).append(i)
    out: list[LabelledTransition] = []
    used: set[tuple[int, str]] = set()
    while len(out) < 2 * num_pairs and any(by_kind[k] for k in kinds):
        for kind in kinds:
            if len(out) >= 2 * num_pairs or not by_kind[kind]:
                continue
            i, goal = by_kind[kind].pop()
            record = records[i]
            pool = [
                j
                for j in by_episode[record.episode]
                if goal not in records[j].holding and goal not in records[j].achieved and (j, goal) not in used
            ]
            if not pool:
                continue
            j = int(rng.choice(pool))
            used.add((j, goal))
            negative = records[j]
            out.append(LabelledTransition(family, record.env_id, goal, record.before, record.after, True, kind))
            out.append(LabelledTransition(family, negative.env_id, goal, negative.before, negative.after, False, kind))
    return out


def collect_transitions(
    family: str,
    num_pairs: int,
    seed: int = 0,
    env_ids: tuple[str, ...] | None = None,
    max_env_steps: int = 20_000,
) -> list[LabelledTransition]:
    """Play a family's envs with a behaviour policy and return balanced labelled transitions.

    Episodes are played until there are at least ``2 * num_pairs`` events (or ``max_env_steps``
    transitions), cycling through ``env_ids``; then :func:`pair_transitions` draws the pairs.

    Args:
        family: one of :data:`DETECTOR_ENVS`.
        num_pairs: positive/negative pairs wanted (fewer if too few events happened).
        seed: seeds the behaviour policy and the episodes.
        env_ids: envs to play; ``None`` takes the family's :data:`DETECTOR_ENVS`.
        max_env_steps: most transitions recorded.

    Raises:
        UnknownComponentError: ``family`` has no recorder.
        ValueError: ``num_pairs`` or ``max_env_steps`` is not positive, or an env is of another family.
    """
    if family not in _RECORDERS:
        raise UnknownComponentError("transition family", family, _RECORDERS)
    if num_pairs < 1 or max_env_steps < 1:
        raise ValueError(f"num_pairs ({num_pairs}) and max_env_steps ({max_env_steps}) must be at least 1.")
    env_ids = tuple(env_ids or DETECTOR_ENVS[family])
    for env_id in env_ids:
        if family_of(env_id) != family:
            raise ValueError(f"env {env_id!r} is of family {family_of(env_id)!r}, not {family!r}.")
    rng = np.random.default_rng(seed)
    envs = [make_env(env_id) for env_id in env_ids]
    records: list[StepRecord] = []
    events, episode = 0, 0
    try:
        while events < 2 * num_pairs and len(records) < max_env_steps:
            env_index = episode % len(envs)
            for record in _RECORDERS[family](envs[env_index], env_ids[env_index], rng, episode):
                records.append(record)
                events += len(record.achieved)
                if len(records) >= max_env_steps:
                    break
            episode += 1
    finally:
        for env in envs:
            env.close()
    return pair_transitions(records, num_pairs, family, rng)
