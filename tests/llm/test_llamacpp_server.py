"""The openai backend against a real llama.cpp server (``python -m llama_cpp.server`` from the
``[llamacpp]`` extra) on 127.0.0.1, serving the embedded GGUF: generation, scoring with echo and
logprobs, and grammars sent as llama.cpp's ``grammar`` field. ``make test-server`` installs the extra
(it builds llama-cpp-python from source, about 9 minutes here) and runs this file; without the extra
it skips, so ``make test`` stays within CI's time."""

from __future__ import annotations

import sys

import pytest

from mentor.llm import make_llm
from mentor.llm.constraints import Choice
from mentor.llm.llamacpp_backend import is_llamacpp_available
from mentor.planners.planner import plan_constraint

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not is_llamacpp_available(), reason="llama-cpp-python is not installed (extra [llamacpp]; make test-server)"
    ),
]


@pytest.fixture(scope="module")
def llamacpp_server(serve_locally):
    from mentor.llm.embedded import embedded_gguf_path

    local_server, free_port = serve_locally
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_gguf_path())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    with local_server(command, f"http://127.0.0.1:{port}/v1/models", "llama_cpp.server", timeout_s=120):
        yield f"http://127.0.0.1:{port}/v1"


def test_generate_score_and_grammars_against_a_llamacpp_server(llamacpp_server, embedded_llm):
    remote = make_llm(f"openai:{llamacpp_server}#embedded", cache=False, structured_outputs="llamacpp")
    assert remote.generate("List three steps to make tea.", max_new_tokens=16)[0].strip()

    candidates = [" 5", " 9", " cat"]
    local = embedded_llm.score("1, 2, 3, 4,", candidates)
    served = remote.score("1, 2, 3, 4,", candidates)
    assert sorted(range(3), key=served.__getitem__) == sorted(range(3), key=local.__getitem__)

    action = remote.generate("Which way?", max_new_tokens=8, constraint=Choice(["turn left", "go forward"]))[0]
    assert action in ("turn left", "go forward")
    plan = remote.generate("Plan.", max_new_tokens=64, constraint=plan_constraint(["explore", "open the door"], 3))[0]
    assert all(line[3:] in ("explore", "open the door") for line in plan.splitlines())
