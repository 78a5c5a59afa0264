import sqlite3
import warnings

import pytest

from mentor.llm import LLMConfig, ResponseCache, make_llm
from mentor.llm.cache import cache_key
from mentor.llm.testing import ScriptedLLM


def test_cache_key_is_order_independent_and_distinct():
    assert cache_key({"a": 1, "b": [1, 2]}) == cache_key({"b": [1, 2], "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})


def test_put_get_and_persist(tmp_path):
    path = tmp_path / "sub" / "c.sqlite"
    cache = ResponseCache(path)
    assert cache.get("k") is None
    cache.put("k", {"texts": ["x"]})
    cache.close()
    assert ResponseCache(path).get("k") == {"texts": ["x"]}


def test_generate_hits_cache_at_temperature_zero_only(cache_file):
    config = LLMConfig("transformers:tiny", cache_path=str(cache_file))
    llm = ScriptedLLM(["first", "second", "third"], config=config)
    assert llm.generate("q") == ["first"]
    assert llm.generate("q") == ["first"]  # hit: the script is not consumed
    assert llm.usage.calls == 2 and llm.usage.cache_hits == 1 and len(llm.requests) == 1
    assert llm.generate("q", max_new_tokens=5) == ["second"]  # other params, other key
    assert llm.generate("q", temperature=0.7) == ["third"]
    assert llm.generate("q", temperature=0.7) == ["third"]  # sampled: never cached
    assert len(llm.requests) == 4 and llm.usage.cache_hits == 1

    fresh = ScriptedLLM(["other"], config=config)  # the cache persists across instances
    assert fresh.generate("q") == ["first"] and fresh.usage.cache_hits == 1


def test_score_cache_stores_token_logprobs_for_every_normalisation(tiny_llm):
    first = tiny_llm.score("x", [" a wall 3 steps", " drop"], "sum")
    tokens_read = tiny_llm.usage.prompt_tokens
    assert tiny_llm.score("x", [" a wall 3 steps", " drop"], "sum") == first
    word = tiny_llm.score("x", [" a wall 3 steps", " drop"], "word")
    assert word[0] == pytest.approx(first[0] / 4) and word[1] == pytest.approx(first[1])
    assert tiny_llm.usage.cache_hits == 2 and tiny_llm.usage.prompt_tokens == tokens_read
    tiny_llm.score_batch(["x", "y"], [[" drop"], [" drop"]])  # one hit ("x" + " drop" is a new key), two misses
    assert tiny_llm.usage.calls == 5 and tiny_llm.usage.cache_hits == 2


def test_cache_off_by_config(cache_file):
    llm = ScriptedLLM(["a", "b"], config=LLMConfig("transformers:tiny", cache=False, cache_path=str(cache_file)))
    assert llm.generate("q") == ["a"] and llm.generate("q") == ["b"]
    assert not cache_file.exists() and llm.info()["cache_path"] is None


def test_corrupt_cache_warns_once_and_is_bypassed(cache_file):
    cache_file.write_bytes(b"this is not a database" * 100)
    llm = ScriptedLLM(["a", "b", "c"], config=LLMConfig("transformers:tiny", cache_path=str(cache_file)))
    with pytest.warns(
        RuntimeWarning, match=r"LLM response cache .* is unusable \(DatabaseError: file is not a database\)"
    ) as record:
        assert llm.generate("q") == ["a"]
        assert llm.generate("q") == ["b"]
        llm.score("p", [" x"])
    assert len([w for w in record if issubclass(w.category, RuntimeWarning)]) == 1
    assert not llm.cache_enabled and llm.usage.cache_hits == 0


def test_locked_cache_warns_once_and_is_bypassed(cache_file):
    ResponseCache(cache_file).put("k", "v")
    holder = sqlite3.connect(cache_file)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        cache = ResponseCache(cache_file, busy_timeout_s=0.1)
        with pytest.warns(RuntimeWarning, match=r"is unusable \(OperationalError: database is locked\)") as record:
            assert cache.get("k") is None
            cache.put("k2", "v2")
            assert cache.get("k2") is None
        assert len(record) == 1 and not cache.enabled
    finally:
        holder.rollback()
        holder.close()
    assert ResponseCache(cache_file).get("k") == "v"


def test_llm_keeps_working_on_a_locked_cache(cache_file):
    ResponseCache(cache_file).put("k", "v")
    holder = sqlite3.connect(cache_file)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        llm = make_llm(LLMConfig("transformers:tiny", cache_path=str(cache_file)))
        llm._cache.busy_timeout_s = 0.1
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            assert len(llm.score("x", [" a", " b"])) == 2
            assert llm.generate("x", max_new_tokens=2)
        assert len([w for w in record if "database is locked" in str(w.message)]) == 1
    finally:
        holder.rollback()
        holder.close()
