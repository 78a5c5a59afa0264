import pytest

from mentor.llm import LLMConfig, make_llm
from mentor.llm.base import normalize_score, num_words, to_messages, truncate_at_stop
from mentor.llm.testing import ScriptedLLM


def test_to_messages():
    assert to_messages("hi") == [{"role": "user", "content": "hi"}]
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert to_messages(chat) == chat
    with pytest.raises(ValueError, match=r"messages is empty"):
        to_messages([])
    with pytest.raises(ValueError, match=r"needs 'role' in \('system', 'user', 'assistant'\) and a string 'content'"):
        to_messages([{"role": "robot", "content": "hi"}])


def test_truncate_at_stop():
    assert truncate_at_stop("a\nb. c", ["\n", "."]) == "a"
    assert truncate_at_stop("a b. c\n", ["\n", "."]) == "a b"
    assert truncate_at_stop("abc", ["x"]) == "abc"
    assert truncate_at_stop("abc", None) == "abc"


def test_normalize_score():
    lps = [-1.0, -2.0, -3.0]
    assert normalize_score(lps, " go to the door", "sum") == -6.0
    assert normalize_score(lps, " go to the door", "token") == -2.0
    assert normalize_score(lps, " go to the door", "word") == -1.5
    assert num_words("   ") == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_new_tokens": 0}, r"max_new_tokens \(0\) must be at least 1"),
        ({"temperature": -1.0}, r"temperature \(-1.0\) must be 0 \(greedy\) or positive"),
        ({"n": 0}, r"n \(0\) must be at least 1"),
        ({"n": 3}, r"n=3 completions need temperature > 0"),
        ({"stop": [""]}, r"stop must hold non-empty strings"),
    ],
)
def test_generate_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ScriptedLLM(["x"]).generate("hi", **kwargs)


def test_score_batch_needs_one_list_per_prompt():
    with pytest.raises(ValueError, match=r"candidates must hold one list per prompt \(2\)"):
        ScriptedLLM().score_batch(["a", "b"], [[" x"]])
    with pytest.raises(ValueError, match=r"a prompt to score must be a string \(no chat template is applied\)"):
        ScriptedLLM().score([{"role": "user", "content": "a"}], [" x"])


def test_stop_strings_truncate_and_usage_counts():
    llm = ScriptedLLM(["Step one.\nStep two."])
    assert llm.generate("plan", stop=["\n"]) == ["Step one."]
    assert llm.usage.calls == 1 and llm.usage.completion_tokens == 4 and llm.usage.prompt_tokens == 1
    assert llm.usage.seconds > 0


def test_tiny_generate_greedy_is_deterministic_and_sampling_is_seeded(tiny_llm):
    greedy = tiny_llm.generate("hello", max_new_tokens=6)
    assert len(greedy) == 1 and greedy == tiny_llm.generate("hello", max_new_tokens=6)
    samples = tiny_llm.generate("hello", max_new_tokens=6, temperature=1.0, n=3)
    assert len(samples) == 3 and len(set(samples)) > 1
    again = make_llm(LLMConfig("transformers:tiny", cache=False)).generate(
        "hello", max_new_tokens=6, temperature=1.0, n=3
    )
    assert again == samples  # same config seed, same first sampled call
    unseeded = make_llm(LLMConfig("transformers:tiny", cache=False, seed=None))
    assert unseeded.generate("hello", max_new_tokens=1, temperature=1.0)


def test_tiny_generate_counts_tokens_and_stops(tiny_llm):
    text = tiny_llm.generate("hello", max_new_tokens=8)[0]
    assert tiny_llm.usage.completion_tokens <= 8 and tiny_llm.usage.prompt_tokens > 0
    assert len(text) > 2
    stop = text[1:3]
    assert tiny_llm.generate("hello", max_new_tokens=8, stop=[stop])[0] == text[: text.index(stop)]


def test_score_and_score_batch_agree(tiny_llm):
    single = tiny_llm.score("1, 2, 3, 4,", [" 5", " 9"], normalize="token")
    batch = tiny_llm.score_batch(["1, 2, 3, 4,", "x"], [[" 5", " 9"], [" drop"]], normalize="token")
    assert batch[0] == pytest.approx(single, abs=1e-6)
    assert len(batch[1]) == 1


def test_info_of_tiny_model(tiny_llm, cache_file):
    info = tiny_llm.info()
    assert info["backend"] == "transformers" and info["model"] == "tiny" and info["device"] == "cpu"
    assert info["num_parameters"] == sum(p.numel() for p in tiny_llm.model.parameters()) > 0
    assert info["cache_path"] == str(cache_file) and info["cache_enabled"] is True
