"""Fixtures of the LLM tests: the tiny model (fast) and the embedded SmolLM2 (slow)."""

from __future__ import annotations

import contextlib

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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_server(command: list[str], ready_url: str, name: str, timeout_s: float = 180, env=None):
    """Run ``command`` (a server on 127.0.0.1) until ``ready_url`` answers 200; stop it afterwards."""
    import subprocess
    import time
    import urllib.request

    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with code {proc.returncode}")
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{name} did not answer {ready_url} within {timeout_s:g} s")
            time.sleep(1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def serve_locally():
    """:func:`local_server` and :func:`free_port`, for fixtures that start a real server."""
    return local_server, free_port
