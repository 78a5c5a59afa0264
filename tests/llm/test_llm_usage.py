import json

from mentor.llm import Usage


def test_add_and_merge():
    a = Usage(calls=2, prompt_tokens=10, completion_tokens=3, seconds=1.5, cache_hits=1, parse_fallbacks=1)
    b = Usage(calls=1, prompt_tokens=5, seconds=0.5, parse_repairs=2)
    total = a + b
    assert total == Usage(
        calls=3, prompt_tokens=15, completion_tokens=3, seconds=2.0, cache_hits=1, parse_repairs=2, parse_fallbacks=1
    )
    assert a.calls == 2  # + leaves its operands alone
    assert a.merge(b) is a and a == total
    assert total.total_tokens == 18


def test_to_dict_prefix_and_save_load(tmp_path):
    usage = Usage(calls=4, prompt_tokens=7, completion_tokens=2)
    assert usage.to_dict("llm/")["llm/total_tokens"] == 9
    run_dir = tmp_path / "runs" / "2026-01-01-x"
    path = usage.save(run_dir)
    assert path == run_dir / "llm_usage.json"
    assert json.loads(path.read_text())["calls"] == 4
    assert Usage.load(path) == usage
    assert usage.save(tmp_path / "u.json") == tmp_path / "u.json"
