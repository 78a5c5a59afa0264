"""Fixtures of the LLM tests: the tiny model (fast) and the embedded SmolLM2 (slow)."""

from __future__ import annotations

import pytest

from mentor.llm import LLMConfig, make_llm
from mentor.llm.testing import make_tiny_model, make_tiny_tokenizer


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return make_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer):
    return make_tiny_model(tiny_tokenizer)


@pytest.fixture
def cache_file(tmp_path):
    return tmp_path / "responses.sqlite"


@pytest.fixture
def tiny_llm(cache_file):
    """The tiny model behind the full LLM API, with a response cache in a temporary file."""
    return make_llm(LLMConfig("transformers:tiny", cache_path=str(cache_file)))


@pytest.fixture(scope="session")
def embedded_llm():
    """The embedded SmolLM2-135M-Instruct, loaded once per session, without the response cache."""
    return make_llm("transformers:embedded", cache=False, device="cpu")
