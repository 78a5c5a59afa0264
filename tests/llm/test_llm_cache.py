import multiprocessing
import sqlite3
import time
import warnings

import pytest

from mentor.llm import LLMConfig, ResponseCache, make_llm
from mentor.llm.cache import cache_key, check_texts, check_token_logprobs
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


def test_locked_cache_still_reads_then_warns_once_and_is_bypassed(cache_file):
    ResponseCache(cache_file).put("k", "v")
    holder = sqlite3.connect(cache_file)
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock for longer than the busy timeout
    try:
        cache = ResponseCache(cache_file, busy_timeout_s=0.1)
        assert cache.get("k") == "v"  # WAL: readers never wait for a writer
        with pytest.warns(RuntimeWarning, match=r"is unusable \(OperationalError: database is locked\)") as record:
            cache.put("k2", "v2")
            assert cache.get("k2") is None and cache.get("k") is None
        assert len(record) == 1 and not cache.enabled
        assert cache.stats == {"hits": 1, "misses": 2, "bad_rows": 0, "errors": 1}
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


def test_cache_file_is_in_wal_mode(cache_file):
    ResponseCache(cache_file).put("k", "v")
    with sqlite3.connect(cache_file) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _write_rows(path, worker, num_rows, barrier, results):
    """Child process: open the cache with the others, then write rows and read back its own."""
    try:
        cache = ResponseCache(path, busy_timeout_s=0.5)
        barrier.wait(timeout=30)  # all open and write at once
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            for i in range(num_rows):
                cache.put(f"{worker}-{i}", [f"answer {worker} {i}"])
                cache.get(f"{worker}-{(i * 7) % (i + 1)}", check=check_texts)
        results.put((worker, cache.enabled, cache.stats, [str(w.message) for w in record]))
    except BaseException as exc:  # report instead of leaving the parent waiting
        results.put((worker, False, {}, [repr(exc)]))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
@pytest.mark.parametrize(
    "scenario",
    # a new file: the processes race to create it and switch it to WAL (the race does not show every time)
    [*(f"new-file-{i}" for i in range(4)), "long-reader"],  # long-reader: another process reads for 1.5 s
)
def test_six_concurrent_writer_processes_all_succeed(tmp_path, scenario):
    num_workers, num_rows = 6, 40
    path = tmp_path / "c.sqlite"
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(num_workers + 1), ctx.Queue()
    holder = None
    if scenario == "long-reader":
        ResponseCache(path).put("old", ["row"])
        holder = sqlite3.connect(path)
        holder.execute("BEGIN")
        assert holder.execute("SELECT count(*) FROM responses").fetchone() == (1,)  # its read lock stays held
    procs = [ctx.Process(target=_write_rows, args=(path, w, num_rows, barrier, results)) for w in range(num_workers)]
    for p in procs:
        p.start()
    barrier.wait(timeout=30)
    if holder is not None:
        time.sleep(1.5)  # longer than the writers' busy timeout (0.5 s)
        holder.rollback()
        holder.close()
    outcomes = sorted(results.get(timeout=90) for _ in procs)
    for p in procs:
        p.join(timeout=10)
        assert p.exitcode == 0
    for worker, enabled, stats, messages in outcomes:
        assert enabled and messages == [], (worker, messages)
        assert stats == {"hits": num_rows, "misses": 0, "bad_rows": 0, "errors": 0}
    reader = ResponseCache(path)
    for w in range(num_workers):
        for i in range(num_rows):
            assert reader.get(f"{w}-{i}", check=check_texts) == [f"answer {w} {i}"]


def _store_raw(path, key, raw):
    ResponseCache(path).put(key, None)  # creates the table
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT OR REPLACE INTO responses (key, value) VALUES (?, ?)", (key, raw))


BAD_ROWS = [
    pytest.param("{not json", "not JSON \\(JSONDecodeError", id="invalid-json"),
    pytest.param(b"\xff\xfe", "not JSON \\(", id="invalid-bytes"),
    pytest.param('{"a": 1}', "expected a list of 1 string\\(s\\), got \\{'a': 1\\}", id="dict"),
    pytest.param("[]", "expected a list of 1 string\\(s\\), got \\[\\]", id="empty-list"),
    pytest.param("[123]", "expected a list of 1 string\\(s\\), got \\[123\\]", id="number-in-list"),
    pytest.param('["a", "b"]', "expected a list of 1 string", id="two-texts"),
    pytest.param('"text"', "expected a list of 1 string", id="bare-string"),
    pytest.param("null", "a null value", id="null"),
]


@pytest.mark.parametrize(("raw", "reason"), BAD_ROWS)
def test_bad_row_is_a_miss_reported_once_and_counted(cache_file, raw, reason):
    _store_raw(cache_file, "k", raw)
    _store_raw(cache_file, "k2", raw)
    cache = ResponseCache(cache_file)
    with pytest.warns(RuntimeWarning, match=rf"has a bad row \(key k\.\.\.: {reason}.*counts as a miss") as record:
        assert cache.get("k", check=check_texts) is None
        assert cache.get("k2", check=check_texts) is None
    assert len(record) == 1 and cache.enabled
    assert cache.stats == {"hits": 0, "misses": 2, "bad_rows": 2, "errors": 0}


@pytest.mark.parametrize(("raw", "_reason"), BAD_ROWS)
def test_llm_recomputes_and_replaces_a_bad_generate_row(cache_file, raw, _reason):
    config = LLMConfig("transformers:tiny", cache_path=str(cache_file))
    llm = ScriptedLLM(["fresh", "unused"], config=config)
    key = llm._key("generate", messages=[{"role": "user", "content": "q"}], max_new_tokens=128, stop=None)
    _store_raw(cache_file, key, raw)
    with pytest.warns(RuntimeWarning, match="has a bad row"):
        assert llm.generate("q") == ["fresh"]
    assert llm.generate("q") == ["fresh"] and llm.usage.cache_hits == 1  # the fresh answer replaced the row
    assert llm._cache.stats["bad_rows"] == 1


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("{not json", id="invalid-json"),
        pytest.param('{"a": 1}', id="dict"),
        pytest.param("[]", id="empty-list"),
        pytest.param("[[-0.5]]", id="one-candidate-of-two"),
        pytest.param('[[-0.5], ["x"]]', id="string-logprob"),
        pytest.param("[[-0.5], [true]]", id="bool-logprob"),
        pytest.param("[[-0.5], -1.0]", id="number-for-candidate"),
    ],
)
def test_llm_recomputes_a_bad_score_row(tiny_llm, cache_file, raw):
    expected = tiny_llm.score("x", [" a", " b"])
    key = tiny_llm._key("score", prompt="x", candidates=[" a", " b"])
    _store_raw(cache_file, key, raw)
    fresh = make_llm(LLMConfig("transformers:tiny", cache_path=str(cache_file)))
    with pytest.warns(RuntimeWarning, match="has a bad row"):
        assert fresh.score("x", [" a", " b"]) == pytest.approx(expected)
    assert fresh.usage.cache_hits == 0 and fresh._cache.stats["bad_rows"] == 1
    assert fresh.score("x", [" a", " b"]) == pytest.approx(expected) and fresh.usage.cache_hits == 1


def test_row_checks_accept_good_values():
    assert check_texts(["a"]) is None and check_texts(["a", "b"], n=2) is None
    assert check_token_logprobs([[-0.5, -1], []], num_candidates=2) is None
    assert check_token_logprobs([[-0.5]], num_candidates=2) == (
        "expected 2 list(s) of token log-probs (numbers), got [[-0.5]]"
    )
