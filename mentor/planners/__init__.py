"""The LLM planner: plans of skills, re-planning on failure, and SayCan scoring (usefulness x affordance).

The skills it plans over live one floor down, in :mod:`mentor.skills`.

Example:
    >>> from mentor.envs import TextObservation
    >>> from mentor.llm.testing import ScriptedLLM
    >>> from mentor.skills import Skill
    >>> planner = Planner(ScriptedLLM(["1. pick up the red key"]))
    >>> decision = planner.choose(TextObservation("open the door", "", ()), [Skill("pick up the red key", "pick_up")])
    >>> decision.skill.name, decision.source
    ('pick up the red key', 'plan')
"""

from mentor.planners.planner import (
    PLANNER_MODES,
    Decision,
    Planner,
    PlannerConfig,
    PlannerStats,
    SayCanScore,
    match_skill,
    parse_plan,
    saycan_scores,
)

__all__ = [
    "PLANNER_MODES",
    "Decision",
    "Planner",
    "PlannerConfig",
    "PlannerStats",
    "SayCanScore",
    "match_skill",
    "parse_plan",
    "saycan_scores",
]
