"""Skill libraries, the skill zoo and the LLM planner (plans of skills, SayCan scoring).

- :mod:`mentor.planners.skills`: :class:`Skill`, :class:`SkillLibrary` and the family libraries
  (:mod:`~mentor.planners.minigrid_skills`, :mod:`~mentor.planners.crafter_skills`,
  :mod:`~mentor.planners.textworld_skills`), built with :func:`make_skill_library`;
- :mod:`mentor.planners.training` and :mod:`mentor.planners.zoo`: goal-conditioned SB3 PPO skills,
  trained on skill rewards and kept under ``runs/`` (``mentor train skills``);
- :mod:`mentor.planners.planner`: :class:`Planner`, an LLM that writes plans of skills, re-plans on
  failure and falls back to SayCan (usefulness x affordance).

Example:
    >>> from mentor.envs import TextObservation
    >>> from mentor.llm.testing import ScriptedLLM
    >>> planner = Planner(ScriptedLLM(["1. pick up the red key"]))
    >>> planner.next_skill(TextObservation("open the door", "", ()), [Skill("pick up the red key", "pick_up")]).name
    'pick up the red key'
"""

from mentor.planners.planner import (
    PLANNER_MODES,
    Planner,
    PlannerConfig,
    PlannerStats,
    SayCanScore,
    match_skill,
    parse_plan,
    saycan_scores,
)
from mentor.planners.skills import (
    SKILL_LIBRARIES,
    PlanExample,
    RandomSkillPolicy,
    Skill,
    SkillContext,
    SkillLibrary,
    SkillPolicy,
    make_skill_library,
    skill_success_reward,
)
from mentor.planners.training import TrainSkills
from mentor.planners.zoo import SkillZoo, SkillZooConfig, evaluate_skills, train_skill_zoo

__all__ = [
    "PLANNER_MODES",
    "SKILL_LIBRARIES",
    "PlanExample",
    "Planner",
    "PlannerConfig",
    "PlannerStats",
    "RandomSkillPolicy",
    "SayCanScore",
    "Skill",
    "SkillContext",
    "SkillLibrary",
    "SkillPolicy",
    "SkillZoo",
    "SkillZooConfig",
    "TrainSkills",
    "evaluate_skills",
    "make_skill_library",
    "match_skill",
    "parse_plan",
    "saycan_scores",
    "skill_success_reward",
    "train_skill_zoo",
]
