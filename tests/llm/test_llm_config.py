import pytest

from mentor.errors import ConfigError, UnknownComponentError
from mentor.llm import LLM, LLMConfig, make_llm, parse_spec
from mentor.paths import cache_root


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("transformers:embedded", ("transformers", "embedded", None)),
        ("transformers:/models/smol", ("transformers", "/models/smol", None)),
        ("openai:http://127.0.0.1:8000/v1#smol", ("openai", "smol", "http://127.0.0.1:8000/v1")),
        ("openai:https://api.example.com/v1/#org/model-7b", ("openai", "org/model-7b", "https://api.example.com/v1")),
        ("llamacpp:embedded", ("llamacpp", "embedded", None)),
    ],
)
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["embedded", "transformers:", ":embedded", ""])
def test_malformed_spec_names_the_allowed_forms(spec):
    with pytest.raises(
        ConfigError, match=r"is not of the form 'backend:target'; allowed forms: 'transformers:embedded'"
    ):
        parse_spec(spec)


@pytest.mark.parametrize(
    "spec", ["openai:http://127.0.0.1:8000/v1", "openai:127.0.0.1:8000#smol", "openai:http://x/v1#"]
)
def test_openai_spec_needs_url_and_model(spec):
    with pytest.raises(ConfigError, match=r"needs a server URL and a model name"):
        parse_spec(spec)


def test_unknown_backend_lists_choices():
    with pytest.raises(
        UnknownComponentError,
        match=r"Unknown LLM backend 'transfomers'\. Did you mean 'transformers'\?.*Available: llamacpp, openai, transformers",
    ):
        parse_spec("transfomers:embedded")


def test_default_spec_comes_from_env(monkeypatch):
    monkeypatch.delenv("MENTOR_LLM", raising=False)
    assert LLMConfig().spec == "transformers:embedded"
    monkeypatch.setenv("MENTOR_LLM", "openai:http://h:1/v1#m")
    config = LLMConfig()
    assert (config.backend, config.model, config.base_url) == ("openai", "m", "http://h:1/v1")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dtype", "float64", r"dtype 'float64' is not supported; choose one of float32, bfloat16, float16"),
        ("device", "gpu", r"device 'gpu' is not one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'"),
        ("num_threads", 0, r"num_threads \(0\) must be at least 1"),
        ("context_length", 8, r"context_length \(8\) must be at least 16 tokens"),
        ("timeout_s", 0, r"timeout_s \(0\) must be positive"),
        ("max_retries", -1, r"max_retries \(-1\) must be 0 or more"),
        ("deadline_s", 0, r"deadline_s \(0\) must be positive"),
        ("deadline_s", -2.5, r"deadline_s \(-2.5\) must be positive"),
        ("deadline_s", float("nan"), r"deadline_s \(nan\) must be positive"),
    ],
)
def test_config_validation(field, value, message):
    with pytest.raises(ConfigError, match=message):
        LLMConfig("transformers:tiny", **{field: value})


def test_cache_path_default_and_override(monkeypatch, tmp_path):
    monkeypatch.setenv("MENTOR_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    assert LLMConfig("transformers:tiny").resolved_cache_path == tmp_path / "llm" / "responses.sqlite"
    assert LLMConfig("transformers:tiny", cache_path=str(tmp_path / "c.db")).resolved_cache_path == tmp_path / "c.db"


def test_make_llm_accepts_spec_config_or_llm():
    llm = make_llm("transformers:tiny", cache=False)
    assert isinstance(llm, LLM) and llm.backend == "transformers" and not llm.cache_enabled
    assert make_llm(llm) is llm
    from_config = make_llm(LLMConfig("transformers:tiny"), cache=False)
    assert from_config.config.cache is False
    with pytest.raises(ValueError, match=r"cannot apply \['cache'\] to an LLM that is already built"):
        make_llm(llm, cache=True)


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("1", True), ("0", False), ("off", False)])
def test_cache_defaults_on_unless_mentor_llm_cache_switches_it_off(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("MENTOR_LLM_CACHE", raising=False)
    else:
        monkeypatch.setenv("MENTOR_LLM_CACHE", value)
    assert LLMConfig("transformers:tiny").cache is expected
    assert LLMConfig("transformers:tiny", cache=True).cache is True
