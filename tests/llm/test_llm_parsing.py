import logging

import pytest

from mentor.errors import LLMError
from mentor.llm import ParseError, ask_choice, ask_json, ask_list, parse_choice, parse_json, parse_list
from mentor.llm.testing import ScriptedLLM

ACTIONS = ["turn left", "turn right", "go forward", "pick up", "drop", "toggle"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1. collect wood\n2. place table\n3. make pickaxe", ["collect wood", "place table", "make pickaxe"]),
        ("Here is the plan:\n1) find key\n2) open door\nGood luck!", ["find key", "open door"]),
        ("- find key\n* open door\n\u2022 go in", ["find key", "open door", "go in"]),
        ("find key\nopen door", ["find key", "open door"]),
        ("find key, open door; go in", ["find key", "open door", "go in"]),
        ('["find key", "open door"]', ["find key", "open door"]),
        ("[not json", ["[not json"]),
    ],
)
def test_parse_list(text, expected):
    assert parse_list(text) == expected


def test_parse_list_rejects_empty_answer():
    with pytest.raises(ParseError, match=r"the answer is empty, so it holds no list item"):
        parse_list("  \n ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('Sure: {"plan": ["a", "b"]} hope this helps {"x": 2}', {"plan": ["a", "b"]}),
        ("```json\n[1, 2, 3]\n```", [1, 2, 3]),
        ('{"a": [1, 2,], }', {"a": [1, 2]}),
        ("{'a': 'it is', 'b': True}", {"a": "it is", "b": True}),
        ('{"ok": true, "none": null, "s": "brace } inside"}', {"ok": True, "none": None, "s": "brace } inside"}),
        ("{\"ok\": true, 'py': 1}", {"ok": True, "py": 1}),
    ],
)
def test_parse_json(text, expected):
    assert parse_json(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no json here", r"the answer holds no '\{' or '\[', so no JSON object or array"),
        ('{"a": [1, 2}', r"mismatched '\}' at character 11 of the JSON block"),
        ('{"a": 1', r"the JSON block starting at character 0 is never closed \(answer cut short\?\)"),
        ("{a: b}", r"the block '\{a: b\}' is not valid JSON"),
    ],
)
def test_parse_json_errors(text, message):
    with pytest.raises(ParseError, match=message):
        parse_json(text)


def test_parse_json_expect_type():
    assert parse_json("[1]", expect=list) == [1]
    with pytest.raises(ParseError, match=r"expected a JSON dict, got a list"):
        parse_json("[1]", expect=dict)
    with pytest.raises(ParseError, match=r"expected a JSON dict or str, got a list"):
        parse_json("[1]", expect=(dict, str))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("go forward", "go forward"),
        ("Go Forward.", "go forward"),
        ("I think I should turn left now.", "turn left"),
        ("go forward, then turn left", "go forward"),
        ("Pick up the key", "pick up"),
        ("toggel", "toggle"),
        ("turn lft", "turn left"),
    ],
)
def test_parse_choice(text, expected):
    assert parse_choice(text, ACTIONS) == expected


def test_parse_choice_errors():
    with pytest.raises(ParseError, match=r"the answer 'I dropped it' names none of the choices"):
        parse_choice("I dropped it", ["drop the ball", "toggle"])
    with pytest.raises(ValueError, match=r"parse_choice needs at least one choice"):
        parse_choice("x", [])
    assert issubclass(ParseError, LLMError)


def test_ask_parses_first_answer_without_repair():
    llm = ScriptedLLM(["1. a\n2. b"])
    assert ask_list(llm, "plan?", fallback=["x"]) == ["a", "b"]
    assert llm.usage.parse_repairs == 0 and llm.usage.parse_fallbacks == 0 and len(llm.requests) == 1


def test_ask_repairs_once_with_the_error():
    llm = ScriptedLLM(["I would like to move", '{"action": "go forward"}'])
    assert ask_json(llm, "act as JSON", fallback={}) == {"action": "go forward"}
    assert llm.usage.parse_repairs == 1 and llm.usage.parse_fallbacks == 0
    repair = llm.requests[1]
    assert repair[1] == {"role": "assistant", "content": "I would like to move"}
    assert repair[2]["content"].startswith("Your answer could not be parsed as JSON: the answer holds no")
    assert repair[2]["content"].endswith("Answer again with ONLY one JSON object or array and no other text.")


def test_ask_falls_back_after_failed_repair(caplog):
    llm = ScriptedLLM(["hmm", "still nothing"])
    with caplog.at_level(logging.WARNING, logger="mentor.llm.parsing"):
        assert ask_choice(llm, "which?", ACTIONS, fallback="toggle") == "toggle"
    assert llm.usage.parse_repairs == 1 and llm.usage.parse_fallbacks == 1 and len(llm.requests) == 2
    assert (
        "one of: turn left, turn right, go forward, pick up, drop, toggle (exactly as written)"
        in llm.requests[1][-1]["content"]
    )
    assert "using the fallback" in caplog.text


def test_ask_json_expect_and_tiny_model_never_crashes(tiny_llm):
    llm = ScriptedLLM(["[1, 2]", "[3]"])
    assert ask_json(llm, "obj?", fallback={"default": True}, expect=dict) == {"default": True}
    assert llm.usage.parse_fallbacks == 1
    assert ask_choice(tiny_llm, "which?", ACTIONS, fallback="drop", max_new_tokens=4) in ACTIONS
