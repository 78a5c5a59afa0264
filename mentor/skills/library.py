"""Skills: what a planner picks and what the low level runs.

A :class:`Skill` is a name the LLM reads ("pick up the red key"), the ``kind`` of low-level
behaviour that runs it, its target and a step limit. A :class:`SkillLibrary` is bound to one env
and knows, for its family:

- the fixed **catalogue** of skills (the action space of the options env);
- which skills make sense **now** (the list the planner sees) and which are **feasible** (goals
  sampled while skills are trained);
- the low-level **features** a skill policy reads (the env observation plus the goal and an
  egocentric pointer to the skill's target, taken from the agent's map of what it has seen);
- the **termination predicate** (``None`` where the env gives none, so a critic judges);
- the high-level text view and feature vector.

A :class:`SkillPolicy` maps (skill, features) to an env action and a value (SayCan's affordance).
The learned one is :class:`mentor.skills.zoo.SkillZoo`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mentor.envs import describe, family_of
from mentor.envs.text_view import TextObservation
from mentor.errors import UnknownComponentError

__all__ = [
    "PlanExample",
    "Skill",
    "SkillContext",
    "SkillLibrary",
    "SkillPolicy",
    "RandomSkillPolicy",
    "SKILL_LIBRARIES",
    "library_class",
    "make_skill_library",
    "skill_success_reward",
]


@dataclass(frozen=True)
class Skill:
    """One skill of a library.

    Attributes:
        name: the words the LLM reads and writes ("open the red door"); unique in a library.
        kind: the low-level behaviour that runs it ("open"); one goal dimension of the skill model.
        target: what it acts on, e.g. ``("door", "red")`` or ``("tree",)``; empty for none.
        max_steps: low-level env steps before the skill times out.
        has_predicate: whether the library can tell from the env that it succeeded; ``False``
            means a success detector (critic) judges the before/after text views.
    """

    name: str
    kind: str
    target: tuple[str, ...] = ()
    max_steps: int = 64
    has_predicate: bool = True

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a skill needs a non-empty name.")
        if self.max_steps < 1:
            raise ValueError(f"max_steps ({self.max_steps}) of skill {self.name!r} must be at least 1.")


@dataclass(frozen=True)
class PlanExample:
    """A worked planning example for few-shot prompts: a state in words and a good plan from it."""

    mission: str
    observation: str
    skills: tuple[str, ...]
    """The skill list shown with the example (what the planner would see)."""
    plan: tuple[str, ...]


@dataclass
class SkillContext:
    """One run of a skill: its bound target and what it has done so far.

    Attributes:
        skill: the skill being run.
        steps: low-level env steps taken.
        target_pos: the target's cell in world coordinates (``None``: no target, or not known).
        start: library-specific snapshot taken when the skill began (counts, inventory).
        before: the text view when the skill began, for a success detector.
    """

    skill: Skill
    steps: int = 0
    target_pos: tuple[int, int] | None = None
    start: dict[str, Any] = field(default_factory=dict)
    before: str = ""


@runtime_checkable
class SkillPolicy(Protocol):
    """Low-level control: an env action and a value for a skill's features."""

    def act(self, skill: Skill, features: np.ndarray) -> Any:
        """The env action to take."""

    def value(self, skill: Skill, features: np.ndarray) -> float:
        """Estimated return of the skill from here (about its success probability, in [0, 1])."""


class RandomSkillPolicy:
    """Uniform random actions and a constant value: a stand-in for a skill zoo in tests.

    Args:
        action_space: the env's action space.
        seed: seed of the actions.
        value: the value it reports for every skill.
    """

    def __init__(self, action_space: gym.Space, seed: int = 0, value: float = 0.5):
        self.action_space = action_space
        self.action_space.seed(seed)
        self._value = value

    def act(self, skill: Skill, features: np.ndarray) -> Any:
        return self.action_space.sample()

    def value(self, skill: Skill, features: np.ndarray) -> float:
        return self._value


def skill_success_reward(steps: int, max_steps: int) -> float:
    """Reward of a skill that succeeds after ``steps`` of ``max_steps``: ``1 - 0.9 * steps / max_steps``.

    The same time discount as MiniGrid's, so a skill model's value stays in [0, 1] and reads as a
    (discounted) success probability: SayCan's affordance.
    """
    return 1.0 - 0.9 * min(steps, max_steps) / max_steps


class SkillLibrary(ABC):
    """The skills of one env family, bound to one env instance; it keeps the agent's map of the episode.

    Call :meth:`reset` after every ``env.reset`` and :meth:`update` after every ``env.step``;
    everything else reads that state.

    Args:
        env: the mentor env (wrapped as ``gym.make`` returns it).
    """

    family: ClassVar[str]
    #: The kinds of skill, in the order of the goal one-hot.
    kinds: ClassVar[tuple[str, ...]]

    def __init__(self, env: gym.Env):
        self.env = env
        self._catalogue: tuple[Skill, ...] | None = None
        self._by_name: dict[str, Skill] | None = None

    # ---- the skill set
    @abstractmethod
    def _build_catalogue(self) -> tuple[Skill, ...] | None:
        """Every skill of the family, or ``None`` when the set changes with the state (TextWorld)."""

    def catalogue(self) -> tuple[Skill, ...] | None:
        """Every skill, in a fixed order (the options env's action space), or ``None`` if the set varies."""
        if self._catalogue is None:
            self._catalogue = self._build_catalogue()
        return self._catalogue

    def skill(self, name: str) -> Skill:
        """The catalogue skill called ``name``; for a varying set, one of :meth:`available`.

        Raises:
            UnknownComponentError: no skill has that name.
        """
        skills = self.catalogue() or tuple(self.available())
        by_name = {s.name: s for s in skills}
        if name not in by_name:
            raise UnknownComponentError(f"{self.family} skill", name, by_name)
        return by_name[name]

    @abstractmethod
    def available(self) -> list[Skill]:
        """The skills that make sense now: the list the planner chooses from."""

    def feasible(self) -> list[Skill]:
        """The skills whose preconditions hold now (goals for skill training); by default :meth:`available`."""
        return self.available()

    def planner_skills(self) -> list[Skill]:
        """The skills a planner is offered now: :meth:`available`, less those a library deems redundant."""
        return self.available()

    def urgent(self) -> Skill | None:
        """A skill that must run now, ahead of any other (Crafter: restore a vital about to fail); by default none."""
        return None

    def priority(self, skill: Skill) -> float:
        """How much skill training under ``skill_sampling="priority"`` prefers ``skill`` now (relative weight).

        By default every skill weighs 1; a library can favour what the game rewards next (a new
        achievement) or what keeps the player alive.
        """
        return 1.0

    # ---- episode state
    @abstractmethod
    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        """Start a new episode's map from the first observation."""

    @abstractmethod
    def update(self, obs: Any, info: dict[str, Any]) -> None:
        """Add an observation to the map (after every env step)."""

    # ---- running one skill
    def begin(self, skill: Skill) -> SkillContext | None:
        """Bind ``skill`` to a target now; ``None`` if it cannot start (its target is unknown)."""
        ctx = SkillContext(skill=skill)
        if not self._bind(ctx):
            return None
        return ctx

    @abstractmethod
    def _bind(self, ctx: SkillContext) -> bool:
        """Fill ``ctx.target_pos`` and ``ctx.start``; return ``False`` if the skill cannot start."""

    @property
    @abstractmethod
    def observation_space(self) -> spaces.Box:
        """The space of :meth:`features` (what a skill model reads)."""

    @abstractmethod
    def features(self, ctx: SkillContext, obs: Any) -> np.ndarray:
        """The skill model's input for the current state: observation, goal and target pointer."""

    @abstractmethod
    def succeeded(self, ctx: SkillContext, info: dict[str, Any]) -> bool | None:
        """Whether the skill's predicate holds now; ``None`` if it has none (a critic decides)."""

    def scripted_action(self, ctx: SkillContext) -> Any | None:
        """An action fixed by the skill itself (a TextWorld command), or ``None`` to ask the skill policy."""
        return None

    # ---- the high level
    def text(self) -> TextObservation:
        """The high-level text view: the env's own, plus what the library remembers."""
        return describe(self.env)

    @property
    @abstractmethod
    def high_level_space(self) -> spaces.Box:
        """The space of :meth:`high_level_features` (an SB3 high-level policy's input)."""

    @abstractmethod
    def high_level_features(self, obs: Any) -> np.ndarray:
        """Features for an SB3 high-level policy: observation, mission and what is known."""

    #: Words that tell the family's skills apart (colours, objects, materials, directions): a planner never
    #: matches a plan item to a skill whose key words differ (:func:`mentor.planners.planner.match_skill`).
    planner_key_words: frozenset[str] = frozenset()

    @property
    def planner_rules(self) -> str:
        """What a planner should know about the family's world, in a few sentences."""
        return ""

    @property
    def planner_examples(self) -> tuple[PlanExample, ...]:
        """Worked missions and plans for the planner's few-shot prompts."""
        return ()


#: Family -> library class path (imported on first use).
SKILL_LIBRARIES: dict[str, str] = {
    "minigrid": "mentor.skills.minigrid:MiniGridSkillLibrary",
    "crafter": "mentor.skills.crafter:CrafterSkillLibrary",
    "textworld": "mentor.skills.textworld:TextWorldSkillLibrary",
}


def library_class(env_id: str) -> type[SkillLibrary]:
    """The skill library class for a mentor env id.

    Raises:
        UnknownComponentError: the env's family has no skill library (MuJoCo).
    """
    import importlib

    family = family_of(env_id)
    if family not in SKILL_LIBRARIES:
        raise UnknownComponentError("skill library for family", family, SKILL_LIBRARIES)
    module, _, name = SKILL_LIBRARIES[family].partition(":")
    return getattr(importlib.import_module(module), name)


def make_skill_library(env: gym.Env, env_id: str | None = None) -> SkillLibrary:
    """The skill library of ``env``'s family, bound to ``env``.

    Args:
        env: a mentor env.
        env_id: its id; ``None`` reads ``env.spec.id``.
    """
    env_id = env_id or env.spec.id
    return library_class(env_id)(env)
