"""Skills: what a high level picks and an SB3 policy (or a script) carries out.

- :mod:`mentor.skills.library`: :class:`Skill`, :class:`SkillLibrary` and the family libraries
  (:mod:`~mentor.skills.minigrid`, :mod:`~mentor.skills.crafter`, :mod:`~mentor.skills.textworld`),
  built with :func:`make_skill_library`;
- :mod:`mentor.skills.training` and :mod:`mentor.skills.zoo`: goal-conditioned SB3 PPO skills,
  trained on skill rewards and kept under ``runs/`` (``mentor train skills``);
- :mod:`mentor.skills.options`: the options env, where one high-level action runs one skill.
"""

from mentor.skills.library import (
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
from mentor.skills.training import TrainSkills
from mentor.skills.zoo import SkillZoo, SkillZooConfig, evaluate_skills, train_skill_zoo

__all__ = [
    "SKILL_LIBRARIES",
    "PlanExample",
    "RandomSkillPolicy",
    "Skill",
    "SkillContext",
    "SkillLibrary",
    "SkillPolicy",
    "SkillZoo",
    "SkillZooConfig",
    "TrainSkills",
    "evaluate_skills",
    "make_skill_library",
    "skill_success_reward",
    "train_skill_zoo",
]
