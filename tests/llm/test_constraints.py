"""Constrained decoding: every kind of constraint, on a tiny random model over many seeds, yields only
strings the constraint accepts; servers get the constraint in their own fields; bad constraints fail early."""

from __future__ import annotations

import json
import re

import httpx2
import pytest

from mentor.errors import ConfigError, LLMCapabilityError
from mentor.llm import LLMConfig, make_llm
from mentor.llm.constraints import Choice, Grammar, JsonSchema, Regex, server_fields
from mentor.llm.openai_backend import OpenAILLM
from mentor.llm.testing import ScriptedLLM
from mentor.planners.planner import plan_constraint

SKILLS = ["go to the red door", "pick up the key", "open the door"]
PLAN = re.compile(r"1\. (?:%s)(?:\n\d\. (?:%s)){0,3}" % (("|".join(map(re.escape, SKILLS)),) * 2))
SCHEMA = {
    "type": "object",
    "properties": {"skill": {"enum": SKILLS}, "steps": {"type": "integer", "minimum": 0, "maximum": 9}},
    "required": ["skill", "steps"],
    "additionalProperties": False,
}


def _accepts_json(text: str) -> bool:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return False
    return set(value) == {"skill", "steps"} and value["skill"] in SKILLS and 0 <= value["steps"] <= 9


CASES = {
    "choice": (
        Choice(["turn left", "turn right", "go forward"]),
        lambda t: t in ("turn left", "turn right", "go forward"),
    ),
    "regex": (Regex(r"(yes|no)|[0-9]{1,2}(\.[0-9])?"), lambda t: re.fullmatch(r"(yes|no)|[0-9]{1,2}(\.[0-9])?", t)),
    "grammar": (plan_constraint(SKILLS, 4), lambda t: PLAN.fullmatch(t)),
    "json": (JsonSchema(SCHEMA), _accepts_json),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_a_tiny_model_says_only_what_the_constraint_accepts(kind):
    constraint, accepts = CASES[kind]
    llm = make_llm(LLMConfig("transformers:tiny", cache=False, seed=None))
    outputs = []
    for seed in range(8):
        llm.config.seed = seed
        outputs += llm.generate(f"answer {seed}", max_new_tokens=60, temperature=1.5, n=4, constraint=constraint)
    outputs += llm.generate("greedy", max_new_tokens=60, constraint=constraint)
    rejected = [o for o in outputs if not accepts(o)]
    assert rejected == [], f"{len(rejected)} of {len(outputs)} outputs broke the {kind} constraint: {rejected[:3]}"
    assert len(set(outputs)) > 1 and llm.usage.constrained_calls == 9


def test_the_cache_key_includes_the_constraint(tiny_llm):
    first = tiny_llm.generate("pick one", constraint=Choice(["alpha", "beta"]))
    second = tiny_llm.generate("pick one", constraint=Choice(["gamma", "delta"]))
    assert first[0] in ("alpha", "beta") and second[0] in ("gamma", "delta")
    assert tiny_llm.generate("pick one", constraint=Choice(["alpha", "beta"])) == first
    assert tiny_llm.usage.cache_hits == 1


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Grammar("start: item\nitem: missing_rule"), r"the grammar constraint is malformed: .*missing_rule"),
        (lambda: Grammar('item: "a"'), r"needs a 'start:' rule"),
        (lambda: Regex("(unclosed"), r"the regex constraint '\(unclosed' does not compile"),
        (lambda: Choice([]), r"a choice needs at least one non-empty string"),
        (lambda: Choice(["ok", ""]), r"a choice needs at least one non-empty string"),
        (lambda: JsonSchema("{not json"), r"the JSON schema constraint is not JSON"),
    ],
)
def test_malformed_constraints_are_config_errors_before_generation(build, message):
    with pytest.raises(ConfigError, match=message) as info:
        build()
    assert "\n" not in str(info.value)


def test_a_backend_without_constraints_says_so():
    llm = ScriptedLLM(["go forward"])
    assert not llm.supports_constraints
    with pytest.raises(LLMCapabilityError, match=r"cannot decode under a choice constraint"):
        llm.generate("hi", constraint=Choice(["go forward"]))


def _server(seen, status=200):
    def handler(request):
        seen.append(json.loads(request.content))
        if status != 200:
            return httpx2.Response(status, json={"error": {"message": "unknown field 'structured_outputs'"}})
        body = {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "go forward"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        return httpx2.Response(200, json=body)

    return handler


@pytest.mark.parametrize(
    ("dialect", "constraint", "fields"),
    [
        ("vllm", Choice(["go forward", "turn left"]), {"structured_outputs": {"choice": ["go forward", "turn left"]}}),
        ("vllm", Regex("[0-9]+"), {"structured_outputs": {"regex": "[0-9]+"}}),
        ("vllm", plan_constraint(SKILLS, 2), {"structured_outputs": {"grammar": plan_constraint(SKILLS, 2).lark()}}),
        ("vllm", JsonSchema(SCHEMA), {"structured_outputs": {"json": SCHEMA}}),
        ("llamacpp", Choice(["go forward", "turn left"]), {"grammar": 'root ::= "go forward" | "turn left"'}),
        ("llamacpp", plan_constraint(SKILLS, 2), {"grammar": plan_constraint(SKILLS, 2).gbnf}),
        ("llamacpp", JsonSchema(SCHEMA), {"json_schema": SCHEMA}),
        ("sglang", Regex("[0-9]+"), {"regex": "[0-9]+"}),
        ("sglang", plan_constraint(SKILLS, 2), {"ebnf": plan_constraint(SKILLS, 2).gbnf}),
    ],
)
def test_the_openai_backend_sends_the_constraint_in_the_servers_fields(dialect, constraint, fields):
    seen = []
    config = LLMConfig("openai:http://mock.local/v1#m", cache=False, api_key="x", structured_outputs=dialect)
    llm = OpenAILLM(config, http_client=httpx2.Client(transport=httpx2.MockTransport(_server(seen))))
    assert llm.supports_constraints
    assert llm.generate("hi", constraint=constraint) == ["go forward"]
    assert {k: seen[0][k] for k in fields} == fields


def test_a_server_that_rejects_the_fields_is_a_capability_error_naming_them():
    config = LLMConfig("openai:http://mock.local/v1#m", cache=False, api_key="x", structured_outputs="vllm")
    llm = OpenAILLM(config, http_client=httpx2.Client(transport=httpx2.MockTransport(_server([], status=400))))
    with pytest.raises(LLMCapabilityError, match=r"rejected the constraint field\(s\) structured_outputs"):
        llm.generate("hi", constraint=Choice(["a", "b"]))


def test_dialects_that_cannot_carry_a_constraint_say_which_field():
    with pytest.raises(LLMCapabilityError, match=r"field 'grammar'"):
        server_fields(Regex("[0-9]"), "llamacpp")
    with pytest.raises(LLMCapabilityError, match=r"field 'ebnf'"):
        server_fields(Grammar('start: "a"'), "sglang")
    with pytest.raises(ConfigError, match=r"structured_outputs \('tgi'\) must be one of vllm, llamacpp, sglang"):
        LLMConfig("openai:http://mock.local/v1#m", structured_outputs="tgi")


def test_ask_list_and_ask_choice_decode_under_bounded_grammars():
    from mentor.llm.parsing import ask_choice, ask_list

    llm = make_llm(LLMConfig("transformers:tiny", cache=False, seed=None))
    for seed in range(5):
        llm.config.seed = seed
        items = ask_list(llm, "goals?", fallback=[], max_new_tokens=80, max_items=3, max_item_chars=20, temperature=1.0)
        assert 1 <= len(items) <= 3 and all(0 < len(item) <= 20 for item in items)
        assert ask_choice(llm, "yes or no?", ["yes", "no"], fallback="?", max_new_tokens=4, temperature=1.0) in (
            "yes",
            "no",
        )
    assert llm.usage.parse_repairs == 0 and llm.usage.constrained_calls == 10
