"""The options env: one high-level action runs one skill until it succeeds, times out or the episode ends.

:class:`OptionsEnv` is a gymnasium env over a mentor env. Its action indexes the skill library's
catalogue (a fixed ``Discrete`` space; for libraries whose skill set varies, such as TextWorld's
commands, it indexes the skills available now). Its observation is the library's high-level feature
vector, for an SB3 policy. An LLM reads the state through one channel, the text view every mentor
env has: :meth:`OptionsEnv.describe` (:func:`mentor.envs.describe`), with the skills offered now as
its actions. The reward is the env's reward summed over the skill's steps. ``info`` reports the
skill's outcome and kind, the low-level env steps of the episode and in total, the available skills
and, with an ``affordance`` set, ``info["affordances"]``: each skill offered to a planner with its
affordance now, as SayCan weighs it. The LLM policy of :mod:`mentor.agents.llm_ppo` reads :meth:`OptionsEnv.action_affordances`
and ``episode_skill_runs`` (how often each skill was chosen this episode) instead.

A skill whose library has no predicate for it is judged by a critic, as ``termination_critic`` says:

- ``detector`` (default): it runs to its step limit, then a success detector judges the text views
  before and after (``mentor.critics.SuccessDetector`` by default, built from ``llm``);
- ``judge``: after every step a trajectory judge scores the skill's text trajectory so far against the
  skill's name (``mentor.critics.TrajectoryJudge`` by default, built from ``llm``); the skill succeeds
  and ends once the completion probability reaches ``judge_threshold``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mentor.envs import make as make_env
from mentor.envs.text_view import TextObservation
from mentor.envs.wrappers import RecordEpisodeOutcome
from mentor.errors import ConfigError, InvalidActionError
from mentor.llm.base import LLM
from mentor.skills.library import Skill, SkillContext, SkillLibrary, SkillPolicy, make_skill_library

__all__ = [
    "OptionsConfig",
    "OptionsEnv",
    "SuccessDetectorLike",
    "TrajectoryJudgeLike",
    "AFFORDANCES",
    "TERMINATION_CRITICS",
]

#: What ``info["affordances"]`` holds for each offered skill: the skill policy's ``value`` from the current
#: state, its measured ``success_rate`` (a :class:`~mentor.skills.zoo.SkillZoo`'s), or nothing (``none``).
AFFORDANCES: tuple[str, ...] = ("value", "success_rate", "none")

#: Critics that end and judge skills without a predicate.
TERMINATION_CRITICS: tuple[str, ...] = ("detector", "judge")


class SuccessDetectorLike(Protocol):
    """What the options env needs from a critic: ``detect(subgoal, before, after) -> (success, confidence)``."""

    def detect(self, subgoal: str, before: str, after: str) -> tuple[bool, float]: ...


class TrajectoryJudgeLike(Protocol):
    """What the options env needs from a judge: ``is_complete(mission, trajectory) -> (verdict, probability)``.

    The trajectory is the first text view, then ``(action, text view)`` pairs (see
    :func:`mentor.critics.judge.to_steps`).
    """

    def is_complete(self, mission: str, trajectory: Sequence[Any]) -> tuple[bool, float]: ...


@dataclass
class OptionsConfig:
    """How skills run inside the options env.

    Attributes:
        max_options: skills per episode before it is truncated (``None``: only the env's own limit).
        not_started_reward: reward of a skill that could not start (its target is unknown).
        max_available: size of the action space when the library's skill set varies (TextWorld).
        termination_critic: what judges a skill without a predicate: ``detector`` (a success
            detector on the text before and after, once the skill hit its step limit) or ``judge``
            (a trajectory judge after every step; the skill ends once it is judged complete).
        judge_threshold: completion probability of the trajectory judge at or above which the skill
            succeeds and ends (``termination_critic="judge"`` only).
        survival_interrupts: end a running skill as soon as the library names another as urgent
            (:meth:`~mentor.skills.library.SkillLibrary.urgent`: Crafter's drink, eat or sleep when
            that vital is low) and run the urgent one at once, in the same high-level step; the
            preempted skill counts as failed, and the steps of both count.
        affordance: what ``info["affordances"]`` gives each skill offered to a planner (one of
            :data:`AFFORDANCES`); ``none`` leaves the key out and costs nothing.
    """

    max_options: int | None = None
    not_started_reward: float = 0.0
    max_available: int = 64
    termination_critic: str = "detector"
    judge_threshold: float = 0.5
    survival_interrupts: bool = False
    affordance: str = "none"

    def __post_init__(self) -> None:
        if self.max_options is not None and self.max_options < 1:
            raise ConfigError(f"max_options ({self.max_options}) must be at least 1, or None for no limit.")
        if self.max_available < 1:
            raise ConfigError(f"max_available ({self.max_available}) must be at least 1.")
        if self.termination_critic not in TERMINATION_CRITICS:
            raise ConfigError(
                f"termination_critic {self.termination_critic!r} is not one of {', '.join(TERMINATION_CRITICS)}."
            )
        if not 0.0 < self.judge_threshold < 1.0:
            raise ConfigError(f"judge_threshold ({self.judge_threshold}) must lie strictly between 0 and 1.")
        if self.affordance not in AFFORDANCES:
            raise ConfigError(f"affordance {self.affordance!r} is not one of {', '.join(AFFORDANCES)}.")


class OptionsEnv(gym.Env):
    """Skills as actions over a mentor env.

    Args:
        env: a mentor env or its id.
        policy: the low-level skill policy (a :class:`~mentor.skills.zoo.SkillZoo`).
        config: how skills run; ``None`` for the defaults.
        library: the env's skill library; ``None`` builds the family's.
        success_detector: judges skills without a predicate (``termination_critic="detector"``);
            ``None`` builds ``mentor.critics.SuccessDetector(llm)`` the first time one is needed.
        judge: ends and judges skills without a predicate (``termination_critic="judge"``); ``None``
            builds ``mentor.critics.TrajectoryJudge(llm)`` the first time one is needed.
        llm: the LLM of the default success detector or judge.

    Example:
        >>> from mentor.skills.library import RandomSkillPolicy
        >>> env = OptionsEnv("mentor/BabyAI-UnlockPickup-v0", RandomSkillPolicy(gym.spaces.Discrete(6)))
        >>> obs, info = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step_skill("explore")
        >>> info["env_steps"] == info["skill_steps"]
        True
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        env: gym.Env | str,
        policy: SkillPolicy,
        config: OptionsConfig | None = None,
        library: SkillLibrary | None = None,
        success_detector: SuccessDetectorLike | None = None,
        llm: LLM | None = None,
        judge: TrajectoryJudgeLike | None = None,
    ):
        self.env = make_env(env) if isinstance(env, str) else env
        self.policy = policy
        self.config = config if config is not None else OptionsConfig()
        self.library = library if library is not None else make_skill_library(self.env)
        self.success_detector = success_detector
        self.judge = judge
        self.llm = llm
        if self.config.affordance == "success_rate" and not hasattr(policy, "success_rate"):
            raise ConfigError(
                f"affordance 'success_rate' needs a skill policy that measured its skills (a SkillZoo); "
                f"{type(policy).__name__} has no success_rate; use 'value' or 'none'."
            )
        catalogue = self.library.catalogue()
        self.action_space = spaces.Discrete(len(catalogue) if catalogue is not None else self.config.max_available)
        self.observation_space = self.library.high_level_space
        self.num_env_steps = 0
        self.episode_env_steps = 0
        self.episode_options = 0
        self.episode_skill_runs: Counter[str] = Counter()
        self._obs: Any = None
        self._last_info: dict[str, Any] = {}

    # ---- gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._obs, info = self.env.reset(seed=seed, options=options)
        self._last_info = info
        self.library.reset(self._obs, info)
        self.episode_env_steps, self.episode_options = 0, 0
        self.episode_skill_runs = Counter()
        return self._observation(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Run the skill at index ``action`` (of the catalogue, or of the available skills)."""
        if not self.action_space.contains(action):
            raise ValueError(f"action ({action!r}) must be an integer in [0, {self.action_space.n - 1}].")
        catalogue = self.library.catalogue()
        if catalogue is not None:
            return self.step_skill(catalogue[int(action)])
        available = self.library.available()
        if int(action) >= len(available):
            return self._not_started(None)
        return self.step_skill(available[int(action)])

    def step_skill(
        self, skill: Skill | str, *, interruptible: bool = True
    ) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Run one skill (or the skill of that name) until it succeeds, times out or the episode ends.

        With ``survival_interrupts`` an urgent skill preempts it and runs at once: ``info["interrupt"]``
        then holds that skill's ``skill``, ``success`` and ``steps``.
        """
        skill = self.library.skill(skill) if isinstance(skill, str) else skill
        self.episode_skill_runs[skill.name] += 1
        ctx = self.library.begin(skill)
        if ctx is None:
            return self._not_started(skill)
        judge = self._trajectory_judge(skill) if self.config.termination_critic == "judge" else None
        if not skill.has_predicate:
            ctx.before = self.library.text().to_prompt()
        trajectory: list[Any] = [self._judge_view()] if judge is not None else []
        total, terminated, truncated, success = 0.0, False, False, False
        info: dict[str, Any] = {}
        urgent: Skill | None = None
        while ctx.steps < skill.max_steps:
            action = self.library.scripted_action(ctx)
            if action is None:
                action = self.policy.act(skill, self.library.features(ctx, self._obs))
            self._obs, reward, terminated, truncated, info = self.env.step(action)
            self._last_info = info
            self.library.update(self._obs, info)
            ctx.steps += 1
            total += float(reward)
            if skill.has_predicate and self.library.succeeded(ctx, info):
                success = True
                break
            if judge is not None:
                trajectory.append((_action_text(skill, action), self._judge_view()))
                if judge.is_complete(skill.name, trajectory)[1] >= self.config.judge_threshold:
                    success = True
                    break
            if terminated or truncated:
                break
            if interruptible and self.config.survival_interrupts:
                urgent = self.library.urgent()
                if urgent is not None and urgent.name != skill.name:
                    break
                urgent = None
        if not skill.has_predicate and judge is None and urgent is None:
            success = self._judge(ctx)
        self.num_env_steps += ctx.steps
        self.episode_env_steps += ctx.steps
        self.episode_options += 1
        out = {
            "skill": skill.name,
            "skill_kind": skill.kind,
            "skill_started": True,
            "skill_success": success,
            "skill_steps": ctx.steps,
            "timed_out": not success and ctx.steps >= skill.max_steps,
        }
        truncated = self._truncate(terminated, truncated, info)
        if urgent is not None and not (terminated or truncated):
            obs, reward, terminated, truncated, inner = self.step_skill(urgent, interruptible=False)
            out["interrupt"] = {k: inner[f"skill_{k}"] for k in ("success", "steps")} | {"skill": urgent.name}
            if "episode_outcome" in inner:
                out["episode_outcome"] = inner["episode_outcome"]
            return obs, total + reward, terminated, truncated, self._info(**out)
        if "episode_outcome" in info:
            out["episode_outcome"] = info["episode_outcome"]
        return self._observation(), total, terminated, truncated, self._info(**out)

    # ---- text view: an LLM policy reads the state and picks a skill by name
    def describe(self) -> TextObservation:
        """The library's text view, with the skills a planner is offered as the admissible actions."""
        return dataclasses.replace(self.library.text(), actions=tuple(self.admissible_actions()))

    def admissible_actions(self) -> list[str]:
        """The names of the skills a planner is offered now."""
        return [skill.name for skill in self.library.planner_skills()]

    def text_to_action(self, action: str) -> int:
        """The action index of the skill named ``action``.

        Raises:
            InvalidActionError: no skill offered now has that name; the message lists those that are.
        """
        names = self.admissible_actions()
        normalised = " ".join(action.strip().lower().split())
        name = next((n for n in names if n.lower() == normalised), None)
        if name is None:
            raise InvalidActionError(action, names)
        catalogue = self.library.catalogue()
        skills = catalogue if catalogue is not None else self.library.available()
        return next(i for i, skill in enumerate(skills) if skill.name == name)

    # ---- helpers
    def available(self) -> list[Skill]:
        """The skills that make sense now."""
        return self.library.available()

    def planner_skills(self) -> list[Skill]:
        """The skills a planner is offered now (the library's :meth:`~SkillLibrary.planner_skills`)."""
        return self.library.planner_skills()

    def affordances(self, skills: Sequence[Skill]) -> list[float]:
        """The skill policy's value of each skill from the current state (0 where it cannot start)."""
        out = []
        for skill in skills:
            ctx = self.library.begin(skill)
            out.append(self.policy.value(skill, self.library.features(ctx, self._obs)) if ctx is not None else 0.0)
        return out

    def action_affordances(self, actions: Sequence[str]) -> list[float]:
        """:meth:`affordances` of the skills named ``actions`` (names from :meth:`admissible_actions`)."""
        return self.affordances([self.library.skill(name) for name in actions])

    def _not_started(self, skill: Skill | None) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.episode_options += 1
        info: dict[str, Any] = {}
        truncated = self._truncate(False, False, info)
        out = {
            "skill": skill.name if skill is not None else None,
            "skill_kind": skill.kind if skill is not None else None,
            "skill_started": False,
            "skill_success": False,
            "skill_steps": 0,
            "timed_out": False,
        }
        if "episode_outcome" in info:
            out["episode_outcome"] = info["episode_outcome"]
        return self._observation(), self.config.not_started_reward, False, truncated, self._info(**out)

    def _truncate(self, terminated: bool, truncated: bool, info: dict[str, Any]) -> bool:
        """Truncate at ``max_options`` skills, recording the episode's outcome as the env would."""
        limit = self.config.max_options
        if terminated or truncated or limit is None or self.episode_options < limit:
            return truncated
        recorder = _find_recorder(self.env)
        if recorder is not None:
            info["episode_outcome"] = recorder._outcome(0.0, False, self._last_info)
        return True

    def _judge(self, ctx: SkillContext) -> bool:
        if self.success_detector is None:
            if self.llm is None:
                raise ConfigError(
                    f"skill {ctx.skill.name!r} has no success predicate; pass success_detector= or llm= to "
                    "OptionsEnv so that a critic can judge it."
                )
            from mentor.critics import SuccessDetector

            self.success_detector = SuccessDetector(self.llm)
        success, _ = self.success_detector.detect(ctx.skill.name, ctx.before, self.library.text().to_prompt())
        return bool(success)

    def _trajectory_judge(self, skill: Skill) -> TrajectoryJudgeLike | None:
        """The judge that ends ``skill`` (``None`` for a skill with a predicate), built on first use."""
        if skill.has_predicate:
            return None
        if self.judge is None:
            if self.llm is None:
                raise ConfigError(
                    f"skill {skill.name!r} has no success predicate; pass judge= or llm= to OptionsEnv so that "
                    "a trajectory judge can end it (termination_critic='judge')."
                )
            from mentor.critics import TrajectoryJudge

            self.judge = TrajectoryJudge(self.llm)
        return self.judge

    def _judge_view(self) -> str:
        """The text view a trajectory judge reads for one step: the env's feedback and the observation."""
        text = self.library.text()
        return "\n".join(part for part in (text.feedback, text.observation) if part)

    def _observation(self) -> np.ndarray:
        return self.library.high_level_features(self._obs).astype(np.float32)

    def _info(self, **extra: Any) -> dict[str, Any]:
        info = {
            "available": [s.name for s in self.library.available()],
            "env_steps": self.episode_env_steps,
            "total_env_steps": self.num_env_steps,
            "options": self.episode_options,
            **extra,
        }
        if self.config.affordance != "none":
            skills = self.planner_skills()
            if self.config.affordance == "value":
                values = self.affordances(skills)
            else:
                values = [self.policy.success_rate(skill) for skill in skills]
            info["affordances"] = {skill.name: float(v) for skill, v in zip(skills, values)}
        return info

    def close(self) -> None:
        self.env.close()


def _action_text(skill: Skill, action: Any) -> str:
    """The action as the judge reads it: a text action as is, else the skill run."""
    return action if isinstance(action, str) else f"{skill.name} (env action {action})"


def _find_recorder(env: gym.Env) -> RecordEpisodeOutcome | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, RecordEpisodeOutcome):
            return env
        env = env.env
    return None
