import math

import pytest

from mentor.envs.text_view import TextObservation
from mentor.errors import ConfigError
from mentor.llm import make_llm
from mentor.llm.parsing import ParseError
from mentor.llm.testing import ScriptedLLM
from mentor.planners.planner import (
    Planner,
    PlannerConfig,
    SayCanScore,
    match_skill,
    parse_plan,
    saycan_scores,
)
from mentor.skills.crafter import CrafterSkillLibrary
from mentor.skills.library import PlanExample, Skill
from mentor.skills.minigrid import MiniGridSkillLibrary
from mentor.skills.textworld import TextWorldSkillLibrary

SKILLS = [
    Skill("pick up the red key", "pick_up", ("key", "red")),
    Skill("open the red door", "open", ("door", "red")),
    Skill("drop the object you carry", "drop"),
    Skill("explore", "explore"),
]
TEXT = TextObservation("pick up the ball", "You see a red key 1 step forward", ())


# ---- parsing


def test_parse_plan_matches_loosely_and_drops_unknown_items():
    answer = "Plan:\n1. Pick up red key.\n2. dance a jig\n3) open the red door\n- Explore"
    names = [s.name for s in SKILLS]
    assert parse_plan(answer, names) == (
        ["pick up the red key", "open the red door", "explore"],
        ["dance a jig"],
    )


def test_parse_plan_without_any_skill_raises():
    with pytest.raises(ParseError, match="none of the items"):
        parse_plan("1. fly\n2. swim", ["explore"])


def test_match_skill_rejects_far_items_and_finds_mentioned_names():
    assert match_skill("fly to the moon", ["explore", "drop"]) is None
    assert match_skill("the Explore!", ["explore", "drop"]) == "explore"
    assert match_skill("open red door", ["open the red door"]) == "open the red door"
    names = ["pick up the red key", "pick up the red key ring"]
    assert match_skill("The first step is to pick up the red key ring.", names) == "pick up the red key ring"


MINIGRID_NAMES = ["pick up the red key", "open the red door", "go to the blue box", "explore"]
CRAFTER_NAMES = ["collect wood", "collect stone", "make wood pickaxe", "make stone pickaxe", "drink water"]
MINIGRID_KEYS = MiniGridSkillLibrary.planner_key_words
CRAFTER_KEYS = CrafterSkillLibrary.planner_key_words
TEXTWORLD_KEYS = TextWorldSkillLibrary.planner_key_words


@pytest.mark.parametrize(
    "item,names,keys",
    [
        ("open red door", ["open the green door"], MINIGRID_KEYS),  # difflib ratio 0.857
        ("open the green door", MINIGRID_NAMES, MINIGRID_KEYS),
        ("pick up the red ball", MINIGRID_NAMES, MINIGRID_KEYS),
        ("go to the grey box", MINIGRID_NAMES, MINIGRID_KEYS),
        ("pick up the keys", MINIGRID_NAMES, MINIGRID_KEYS),  # which key?
        ("collect iron", CRAFTER_NAMES, CRAFTER_KEYS),
        ("make iron pickaxe", CRAFTER_NAMES, CRAFTER_KEYS),
        ("make stone sword", CRAFTER_NAMES, CRAFTER_KEYS),
        ("go west", ["go east", "look"], TEXTWORLD_KEYS),
    ],
)
def test_match_skill_never_maps_onto_a_skill_with_other_key_words_of_the_library(item, names, keys):
    assert match_skill(item, names, key_words=keys) is None


def test_without_key_words_a_close_name_with_another_colour_matches():
    """The library's key words are what keep colours apart: the planner takes them from the library."""
    assert match_skill("open red door", ["open the green door"]) == "open the green door"


@pytest.mark.parametrize(
    "item,names,expected",
    [
        ("Open the RED door!", MINIGRID_NAMES, "open the red door"),
        ("then open red door", MINIGRID_NAMES, "open the red door"),
        ("door red open", MINIGRID_NAMES, "open the red door"),
        ("pick up red keys", MINIGRID_NAMES, "pick up the red key"),
        ("go to the blue boxes", MINIGRID_NAMES, "go to the blue box"),
        ("pik up the red key", MINIGRID_NAMES, "pick up the red key"),
        ("make a wooden pickaxe", CRAFTER_NAMES, "make wood pickaxe"),
        ("collect some woods", CRAFTER_NAMES, "collect wood"),
        ("craft wood pickaxe", CRAFTER_NAMES, "make wood pickaxe"),
    ],
)
def test_match_skill_tolerates_case_articles_plurals_filler_and_word_order(item, names, expected):
    assert match_skill(item, names) == expected


def test_parse_plan_drops_an_item_naming_an_offered_skill_with_another_colour():
    names = ["pick up the red key", "open the green door"]
    assert parse_plan("1. pick up the red key\n2. open the red door", names, key_words=MINIGRID_KEYS) == (
        ["pick up the red key"],
        ["open the red door"],
    )


def test_a_plan_that_falls_back_to_saycan_counts_its_unknown_items():
    llm = ScriptedLLM(["1. fly\n2. swim", "1. open the green door\n2. dance\n3. sing"])
    planner = Planner(llm, key_words=MINIGRID_KEYS)
    assert planner.plan(TEXT, SKILLS) == []
    assert planner.stats.plan_fallbacks == 1 and planner.stats.unknown_skills == 3


def test_parse_plan_keeps_each_skill_once():
    assert parse_plan("1. explore\n2. explore\n3. drop", ["explore", "drop"]) == (["explore", "drop"], [])


def test_plan_counts_unknown_skills_and_caps_the_length():
    llm = ScriptedLLM(["1. pick up the red key\n2. swim\n3. open the red door\n4. explore\n5. explore"])
    planner = Planner(llm, PlannerConfig(max_plan_length=3))
    plan = planner.plan(TEXT, SKILLS)
    assert [s.name for s in plan] == ["pick up the red key", "open the red door", "explore"]
    assert planner.stats.unknown_skills == 1
    assert planner.stats.plans == 1 and llm.usage.calls == 1


def test_unparseable_plan_gets_one_repair():
    llm = ScriptedLLM(["I cannot help with that.", "1. open the red door"])
    planner = Planner(llm)
    assert [s.name for s in planner.plan(TEXT, SKILLS)] == ["open the red door"]
    assert llm.usage.parse_repairs == 1 and llm.usage.parse_fallbacks == 0
    assert "could not be parsed" in llm.requests[1][-1]["content"]


def test_unparseable_plan_after_repair_falls_back_to_saycan_without_raising():
    llm = ScriptedLLM(["nope", "still nope"], scorer=lambda p, c: 0.0 if "open" in c else -5.0)
    planner = Planner(llm)
    decision = planner.choose(TEXT, SKILLS)
    assert decision.skill.name == "open the red door" and decision.source == "saycan"
    assert max(decision.scores, key=decision.scores.get) == "open the red door" and len(decision.scores) == len(SKILLS)
    assert planner.stats.plan_fallbacks == 1 and llm.usage.parse_fallbacks == 1
    assert planner.stats.saycan_decisions == 1


EXAMPLE = PlanExample("open the box", "You see a box", ("open the box", "explore"), ("explore", "open the box"))


def test_plan_prompt_has_rules_examples_as_chat_turns_and_the_history():
    llm = ScriptedLLM(["1. explore"])
    planner = Planner(llm, examples=[EXAMPLE], rules="Boxes open.")
    planner.report(SKILLS[0], True)
    planner.report(SKILLS[1], False)
    planner.plan(TEXT, SKILLS)
    system, example, answer, request = llm.requests[0]
    assert system["role"] == "system" and system["content"].endswith("Boxes open.")
    assert example == {"role": "user", "content": "Mission: open the box\nYou see a box\nSkills: open the box; explore"}
    assert answer == {"role": "assistant", "content": "1. explore\n2. open the box"}
    assert request["content"] == (
        "Mission: pick up the ball\nYou see a red key 1 step forward\n"
        "Skills: pick up the red key; open the red door; drop the object you carry; explore\n"
        "Done so far: pick up the red key\nFailed: open the red door"
    )
    Planner(llm, PlannerConfig(few_shot=False), examples=[EXAMPLE]).plan(TEXT, SKILLS)
    assert len(llm.requests[1]) == 2


# ---- plan execution and re-planning


def test_planner_follows_its_plan_and_replans_on_failure():
    llm = ScriptedLLM(["1. pick up the red key\n2. open the red door", "1. explore"])
    planner = Planner(llm)
    first = planner.choose(TEXT, SKILLS).skill
    assert first.name == "pick up the red key" and planner.queue == ["open the red door"]
    planner.report(first, True)
    second = planner.choose(TEXT, SKILLS).skill
    assert second.name == "open the red door" and llm.usage.calls == 1
    planner.report(second, False)
    assert planner.queue == []
    assert planner.choose(TEXT, SKILLS).skill.name == "explore"
    assert planner.stats.plans == 2 and planner.stats.replans == 1 and planner.stats.planned_steps == 3


def test_planner_replans_when_the_next_step_is_not_available():
    llm = ScriptedLLM(["1. pick up the red key\n2. drop the object you carry", "1. explore"])
    planner = Planner(llm)
    planner.report(planner.choose(TEXT, SKILLS).skill, True)
    without_drop = [s for s in SKILLS if s.kind != "drop"]
    assert planner.choose(TEXT, without_drop).skill.name == "explore"
    assert planner.stats.replans == 1


def test_planner_uses_saycan_once_its_plan_budget_is_spent():
    llm = ScriptedLLM(["1. explore"], scorer=lambda p, c: 0.0 if "drop" in c else -3.0)
    planner = Planner(llm, PlannerConfig(max_plans=1))
    planner.report(planner.choose(TEXT, SKILLS).skill, True)
    decision = planner.choose(TEXT, SKILLS)
    assert decision.skill.name == "drop the object you carry" and decision.source == "saycan"
    planner.reset()
    assert planner.choose(TEXT, SKILLS).skill.name == "explore"


def test_planned_steps_with_a_low_affordance_are_vetoed():
    llm = ScriptedLLM(["1. open the red door\n2. explore", "1. pick up the red key"])
    planner = Planner(llm, PlannerConfig(veto_below=0.2))
    affordances = {s.name: 0.05 if s.kind == "open" else 0.9 for s in SKILLS}
    decision = planner.choose(TEXT, SKILLS, affordances)
    assert decision.skill.name == "explore" and decision.source == "plan" and decision.scores == {}
    assert planner.stats.vetoed == 1
    assert planner.choose(TEXT, SKILLS, affordances).skill.name == "pick up the red key"
    assert planner.stats.plans == 2


def test_a_skill_that_failed_max_failures_times_is_no_longer_offered():
    llm = ScriptedLLM(["1. explore"], scorer=lambda p, c: 0.0 if "explore" in c else -9.0)
    planner = Planner(llm, PlannerConfig(mode="saycan", max_failures=2, repeat_penalty=1.0))
    for _ in range(2):
        assert planner.choose(TEXT, SKILLS).skill.name == "explore"
        planner.report(SKILLS[3], False)
    assert planner.choose(TEXT, SKILLS).skill.name != "explore"
    assert planner.choose(TEXT, SKILLS[3:]).skill.name == "explore"  # nothing else left


def test_choose_needs_a_skill():
    with pytest.raises(ValueError, match="at least one available skill"):
        Planner(ScriptedLLM(["1. explore"])).choose(TEXT, [])


# ---- SayCan


def test_saycan_scores_are_softmax_times_affordance():
    scores = saycan_scores(["a", "b", "c"], [math.log(1), math.log(3), math.log(6)], [1.0, 0.5, 0.0], 0.01)
    assert [round(s.usefulness, 4) for s in scores] == [0.1, 0.3, 0.6]
    assert [s.affordance for s in scores] == [1.0, 0.5, 0.01]
    assert [round(s.combined, 4) for s in scores] == [0.1, 0.15, 0.006]


def test_saycan_scores_discount_repeated_skills():
    scores = saycan_scores(["a", "b"], [0.0, 0.0], [1.0, 1.0], runs={"a": 2}, repeat_penalty=0.5)
    assert [s.novelty for s in scores] == [0.25, 1.0]
    assert scores[0].combined == pytest.approx(0.125)


def test_saycan_scores_need_matching_lengths():
    with pytest.raises(ValueError, match="as many log-likelihoods"):
        saycan_scores(["a", "b"], [0.0], [1.0, 1.0])


def test_saycan_picks_usefulness_times_affordance():
    # The LLM prefers "open the red door" 4:1, but its affordance is low.
    llm = ScriptedLLM(scorer=lambda p, c: math.log(4) if "open" in c else 0.0)
    planner = Planner(llm, PlannerConfig(mode="saycan"))
    skills = SKILLS[:2]
    chosen, scores = planner.saycan(TEXT, skills, {skills[0].name: 0.9, skills[1].name: 0.1})
    assert chosen.name == "pick up the red key"
    assert [round(s.combined, 3) for s in scores] == [0.18, 0.08]
    chosen, _ = planner.saycan(TEXT, skills, {skills[0].name: 0.2, skills[1].name: 0.9})
    assert chosen.name == "open the red door"
    assert planner.stats.saycan_decisions == 2 and llm.usage.calls == 2


def test_saycan_discounts_skills_already_run_in_the_episode():
    llm = ScriptedLLM(scorer=lambda p, c: 0.5 if "explore" in c else 0.0)
    planner = Planner(llm, PlannerConfig(mode="saycan", repeat_penalty=0.5))
    assert planner.choose(TEXT, SKILLS).skill.name == "explore"
    planner.report(SKILLS[3], False)
    assert planner.choose(TEXT, SKILLS).skill.name != "explore"
    planner.reset()
    assert planner.choose(TEXT, SKILLS).skill.name == "explore"


def test_saycan_prompt_numbers_the_successful_steps():
    planner = Planner(ScriptedLLM(), PlannerConfig(mode="saycan"), examples=[EXAMPLE], rules="RULES")
    planner.report(SKILLS[0], True)
    planner.report(SKILLS[1], False)
    assert planner.saycan_prompt(TEXT) == (
        "RULES\n\n"
        "Mission: open the box\nYou see a box\nPlan:\n1. explore\n2. open the box\n\n"
        "Mission: pick up the ball\nYou see a red key 1 step forward\nFailed: open the red door\n"
        "Plan:\n1. pick up the red key\n2."
    )


def test_saycan_mode_never_generates():
    llm = ScriptedLLM(["1. explore"])
    planner = Planner(llm, PlannerConfig(mode="saycan"))
    planner.choose(TEXT, SKILLS)
    assert llm.requests == [] and planner.stats.plans == 0


def test_saycan_with_the_tiny_model_scores_every_candidate():
    llm = make_llm("transformers:tiny", cache=False)
    planner = Planner(llm, PlannerConfig(mode="saycan"))
    skill, scores = planner.saycan(TEXT, SKILLS, dict.fromkeys((s.name for s in SKILLS), 0.5))
    assert skill in SKILLS and len(scores) == len(SKILLS)
    assert sum(s.usefulness for s in scores) == pytest.approx(1.0)
    assert all(isinstance(s, SayCanScore) for s in scores)


def test_llm_mode_with_the_tiny_model_never_crashes():
    llm = make_llm("transformers:tiny", cache=False)
    planner = Planner(llm, PlannerConfig(max_new_tokens=8))
    assert planner.choose(TEXT, SKILLS).skill in SKILLS
    assert llm.usage.calls >= 1


def test_constrained_plans_of_the_tiny_model_name_only_offered_skills():
    llm = make_llm("transformers:tiny", cache=False, seed=None)
    planner = Planner(llm, PlannerConfig(max_plan_length=3))
    for seed in range(6):
        llm.config.seed = seed
        offered = SKILLS[seed % 2 :]  # the grammar follows what is offered at each decision
        plan = planner.plan(TEXT, offered)
        assert 1 <= len(plan) <= 3 and all(skill in offered for skill in plan)
    assert planner.stats.unknown_skills == 0 and planner.stats.plan_fallbacks == 0
    assert llm.usage.constrained_calls == 6 and llm.usage.parse_repairs == 0


def test_plan_constraint_numbers_offered_skills_up_to_the_bound():
    from mentor.planners.planner import plan_constraint

    grammar = plan_constraint(["explore", "open the red door"], 2)
    assert grammar.lark() == 'start: "1. " item ("\\n2. " item )?\nitem: "explore" | "open the red door"'
    assert grammar.gbnf == 'root ::= "1. " item ("\\n2. " item )?\nitem ::= "explore" | "open the red door"'


# ---- config


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"mode": "oracle"}, "planner mode 'oracle'"),
        ({"normalize": "mean"}, "normalize 'mean'"),
        ({"max_plan_length": 0}, r"max_plan_length \(0\)"),
        ({"max_new_tokens": 0}, r"max_new_tokens \(0\)"),
        ({"max_plans": -1}, r"max_plans \(-1\)"),
        ({"repeat_penalty": 0.0}, r"repeat_penalty \(0.0\)"),
        ({"min_affordance": 2.0}, r"min_affordance \(2.0\)"),
        ({"max_failures": 0}, r"max_failures \(0\)"),
        ({"veto_below": 1.5}, r"veto_below \(1.5\)"),
        ({"match_cutoff": 0.0}, r"match_cutoff \(0.0\)"),
    ],
)
def test_planner_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        PlannerConfig(**kwargs)
