import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

from mentor.errors import ConfigError, LLMCapabilityError, LLMError, LLMUnavailableError
from mentor.llm import LLMConfig, make_llm
from mentor.llm.openai_backend import OpenAILLM

URL = "http://mock.local/v1"


def _llm(handler, **overrides):
    config = LLMConfig(f"openai:{URL}#m", cache=False, api_key="x", **overrides)
    return OpenAILLM(config, http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))


def _chat_response(texts, prompt_tokens=7, completion_tokens=3):
    choices = [
        {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
        for i, t in enumerate(texts)
    ]
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": 10}
    return {"id": "c", "object": "chat.completion", "created": 0, "model": "m", "choices": choices, "usage": usage}


def _echo_response(text, with_logprobs=True, generated=""):
    """A server that tokenizes into 3-character chunks; token i has log-prob -(i + 1) / 10, the first none.

    ``generated`` is appended as one more token, as a server does for ``max_tokens=1``.
    """
    tokens = [text[i : i + 3] for i in range(0, len(text), 3)] + ([generated] if generated else [])
    logprobs = {
        "tokens": tokens,
        "token_logprobs": [None] + [-(i + 1) / 10 for i in range(1, len(tokens))],
        "text_offset": [*range(0, len(text), 3), *([len(text)] if generated else [])],
        "top_logprobs": None,
    }
    choice = {
        "index": 0,
        "text": text + generated,
        "finish_reason": "length",
        "logprobs": logprobs if with_logprobs else None,
    }
    usage = {"prompt_tokens": len(tokens), "completion_tokens": 0, "total_tokens": len(tokens)}
    return {"id": "e", "object": "text_completion", "created": 0, "model": "m", "choices": [choice], "usage": usage}


def test_generate_sends_chat_and_counts_usage():
    seen = []

    def handler(request):
        seen.append(json.loads(request.content))
        return httpx2.Response(200, json=_chat_response(["Hello. Bye"]))

    llm = _llm(handler)
    assert llm.generate([{"role": "user", "content": "hi"}], max_new_tokens=5, stop=["."]) == ["Hello"]
    assert seen[0]["messages"] == [{"role": "user", "content": "hi"}] and seen[0]["max_tokens"] == 5
    assert seen[0]["stop"] == ["."] and seen[0]["temperature"] == 0.0 and "n" not in seen[0]
    assert llm.usage.prompt_tokens == 7 and llm.usage.completion_tokens == 3
    assert llm.info()["base_url"] == URL and llm.info()["num_parameters"] is None


def test_generate_asks_again_when_server_ignores_n():
    seeds = []

    def handler(request):
        body = json.loads(request.content)
        seeds.append(body["seed"])
        return httpx2.Response(200, json=_chat_response([f"sample {len(seeds)}"]))

    llm = _llm(handler)
    assert llm.generate("hi", temperature=0.8, n=3) == ["sample 1", "sample 2", "sample 3"]
    assert seeds == [0, 1, 2]


def test_score_picks_candidate_tokens_by_text_offset():
    def handler(request):
        body = json.loads(request.content)
        assert body["echo"] is True and body["logprobs"] == 1 and body["max_tokens"] == 0
        return httpx2.Response(200, json=_echo_response(body["prompt"]))

    llm = _llm(handler)
    # "Answer:" (7 chars) + " yes" -> "Ans", "wer", ": y", "es": the straddling ": y" counts with the candidate
    assert llm.score("Answer:", [" yes"], "token") == [pytest.approx((-0.3 - 0.4) / 2)]
    # "Answer" (6 chars) + " yes" -> "Ans", "wer", " ye", "s": the boundary falls between tokens
    assert llm.score("Answer", [" yes"]) == [pytest.approx(-0.3 - 0.4)]
    assert llm.usage.prompt_tokens == 8


def test_score_falls_back_to_one_new_token_when_zero_is_refused():
    asked = []

    def handler(request):
        body = json.loads(request.content)
        asked.append(body["max_tokens"])
        if body["max_tokens"] == 0:
            return httpx2.Response(500, json={"error": {"message": "max_new_tokens must be greater than 0"}})
        return httpx2.Response(200, json=_echo_response(body["prompt"], generated="!!!"))

    llm = _llm(handler, max_retries=3)
    assert llm.score("Answer", [" yes", " no"]) == [pytest.approx(-0.3 - 0.4), pytest.approx(-0.3)]
    assert asked == [0, 1, 1]  # no retry of the refused form; the generated token is not scored


def test_score_without_logprobs_is_a_capability_error():
    llm = _llm(lambda request: httpx2.Response(200, json=_echo_response("x", with_logprobs=False)))
    with pytest.raises(
        LLMCapabilityError,
        match=r"needs a completions endpoint that returns prompt log-probs \(echo=True with logprobs\); http://mock.local/v1",
    ):
        llm.score("Answer", [" yes"])


def test_score_refused_by_the_server_is_a_capability_error():
    def handler(request):
        return httpx2.Response(400, json={"error": {"message": "echo is not supported"}})

    with pytest.raises(
        LLMCapabilityError,
        match=r"needs a completions endpoint that returns prompt log-probs .* refused it \(HTTP 400: .*echo is not supported",
    ):
        _llm(handler).score("Answer", [" yes"])


def _grammar_server(seen, text_of=lambda body: body["grammar"].split('"')[1]):
    """A llama.cpp-like completions server: it generates what the grammar admits, 2 characters a token."""

    def handler(request):
        body = json.loads(request.content)
        seen.append(body)
        text = text_of(body)
        tokens = [text[i : i + 2] for i in range(0, len(text), 2)]
        logprobs = {"tokens": tokens, "token_logprobs": [-0.5 * len(t) for t in tokens], "text_offset": None}
        choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": logprobs}
        usage = {"prompt_tokens": 4, "completion_tokens": len(tokens), "total_tokens": 4 + len(tokens)}
        return httpx2.Response(
            200,
            json={
                "id": "g",
                "object": "text_completion",
                "created": 0,
                "model": "m",
                "choices": [choice],
                "usage": usage,
            },
        )

    return handler


def test_llamacpp_servers_are_scored_by_generating_each_candidate_under_its_grammar():
    seen = []
    llm = _llm(_grammar_server(seen), structured_outputs="llamacpp")
    assert llm.scoring == "constrained"
    assert llm.score("1, 2, 3, 4,", [" 5", " cat"]) == [pytest.approx(-1.0), pytest.approx(-2.0)]
    assert [b["grammar"] for b in seen] == ['root ::= " 5"', 'root ::= " cat"']
    assert all(b["prompt"] == "1, 2, 3, 4," and b["temperature"] == 0.0 and "echo" not in b for b in seen)
    assert llm.usage.prompt_tokens == 4 + 1 + 4 + 2


def test_constrained_scoring_that_the_server_does_not_follow_is_a_capability_error():
    llm = _llm(_grammar_server([], text_of=lambda body: "something else"), structured_outputs="llamacpp")
    with pytest.raises(
        LLMCapabilityError, match=r"to generate exactly ' yes' .* field\(s\) grammar; it returned 'something else'"
    ):
        llm.score("Answer", [" yes"])


def test_scoring_defaults_to_echo_and_constrained_scoring_needs_a_dialect():
    assert _llm(lambda request: None).scoring == "echo"
    assert _llm(lambda request: None, structured_outputs="vllm").scoring == "echo"
    assert _llm(lambda request: None, structured_outputs="vllm", scoring="constrained").scoring == "constrained"
    with pytest.raises(ConfigError, match=r"scoring='constrained' .* needs structured_outputs"):
        LLMConfig(f"openai:{URL}#m", scoring="constrained")
    with pytest.raises(ConfigError, match=r"scoring \('logits'\) must be one of auto, echo, constrained"):
        LLMConfig(f"openai:{URL}#m", scoring="logits")


def test_empty_prompt_without_first_logprob_is_a_capability_error():
    llm = _llm(lambda request: httpx2.Response(200, json=_echo_response(json.loads(request.content)["prompt"])))
    with pytest.raises(LLMCapabilityError, match=r"returned no log-prob for some tokens of candidate 'yes'"):
        llm.score("", ["yes"])


def test_client_errors_are_not_retried():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx2.Response(404, json={"error": {"message": "model 'm' not found"}})

    with pytest.raises(
        LLMError, match=r"http://mock.local/v1 rejected the request \(HTTP 404\): .*model 'm' not found"
    ):
        _llm(handler, max_retries=3).generate("hi")
    assert len(calls) == 1


def test_server_errors_are_retried_by_the_client_then_reported():
    calls = []

    def handler(request):
        calls.append(request.headers.get("x-stainless-retry-count"))
        if len(calls) < 3:
            return httpx2.Response(503, json={"error": {"message": "busy"}})
        return httpx2.Response(200, json=_chat_response(["ok"]))

    assert _llm(handler, max_retries=2).generate("hi") == ["ok"]
    assert calls == ["0", "1", "2"]  # the openai client's own retries
    calls.clear()
    with pytest.raises(
        LLMUnavailableError,
        match=r"^LLM server http://mock.local/v1 failed 2 attempt\(s\) \(timeout 60.0 s each\): RateLimitError",
    ):
        _llm(lambda request: (calls.append(1), httpx2.Response(429, json={}))[1], max_retries=1).generate("hi")
    assert len(calls) == 2


def test_retry_waits_end_at_the_deadline():
    calls = []

    def handler(request):
        calls.append(time.perf_counter())
        return httpx2.Response(429, headers={"retry-after": "60"}, json={})  # the client would wait 60 s

    start = time.perf_counter()
    with pytest.raises(
        LLMUnavailableError,
        match=r"^LLM server http://mock.local/v1 did not answer within the deadline of 0.5 s \(deadline_s; 1 attempt",
    ):
        _llm(handler, max_retries=3, deadline_s=0.5).generate("hi")
    assert len(calls) == 1 and time.perf_counter() - start < 2.0


def test_dead_url_is_unavailable_after_retries():
    llm = make_llm("openai:http://127.0.0.1:9/v1#m", cache=False, timeout_s=1.0, max_retries=2)
    start = time.perf_counter()
    with pytest.raises(
        LLMUnavailableError,
        match=r"^LLM server http://127.0.0.1:9/v1 failed 3 attempt\(s\) \(timeout 1.0 s each\): APIConnectionError",
    ):
        llm.generate("hi")
    assert time.perf_counter() - start < 0.5 + 1.0 + 1.0  # the client's two waits, 0.5 s and 1 s at most


@pytest.fixture
def silent_server():
    """A server on 127.0.0.1 that accepts connections and never answers; it stops by itself after 30 s."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    stop = threading.Event()
    held = []

    def serve():
        end = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < end:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            held.append(conn)  # read nothing, answer nothing
        for conn in held:
            conn.close()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    stop.set()
    thread.join(timeout=5)


@pytest.mark.parametrize("call", ["generate", "score"])
def test_silent_server_fails_within_the_deadline(silent_server, call):
    # defaults: timeout_s 60 and max_retries 3, 4 attempts of 60 s each without the deadline
    llm = make_llm(f"openai:{silent_server}#m", cache=False, deadline_s=2.0)
    start = time.perf_counter()
    with pytest.raises(LLMUnavailableError) as info:
        llm.generate("hi") if call == "generate" else llm.score("x", [" y"])
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert message.startswith(f"LLM server {silent_server} did not answer within the deadline of 2.0 s (deadline_s; ")
    assert "\n" not in message
    assert 1.9 < elapsed < 6.0


def test_silent_server_times_out_per_attempt(silent_server):
    llm = make_llm(f"openai:{silent_server}#m", cache=False, timeout_s=0.3, max_retries=1)
    start = time.perf_counter()
    with pytest.raises(LLMUnavailableError, match=r"failed 2 attempt\(s\) \(timeout 0.3 s each\): APITimeoutError"):
        llm.generate("hi")
    assert 0.5 < time.perf_counter() - start < 2.0


# ----- slow: a real OpenAI-compatible server (`transformers serve`) on the embedded model


@pytest.fixture(scope="module")
def served_embedded(serve_locally):
    """`transformers serve` on the cached embedded model folder, on a free local port; stopped afterwards."""
    from mentor.llm.embedded import embedded_model_dir

    local_server, free_port = serve_locally
    folder = embedded_model_dir()
    port = free_port()
    cli = Path(sys.executable).with_name("transformers")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [str(cli), "serve", str(folder), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with local_server(command, f"http://127.0.0.1:{port}/health", "transformers serve", env=env):
        yield f"http://127.0.0.1:{port}/v1", str(folder)


@pytest.mark.slow
def test_openai_backend_against_transformers_serve(served_embedded, embedded_llm):
    url, model = served_embedded
    remote = make_llm(f"openai:{url}#{model}", cache=False, timeout_s=120, max_retries=2)
    prompt = [{"role": "user", "content": "List three steps to make tea."}]
    reply = remote.generate(prompt, max_new_tokens=24)[0]
    assert reply.strip()
    assert reply == embedded_llm.generate(prompt, max_new_tokens=24)[0]  # same weights, same template, greedy
    assert remote.usage.prompt_tokens > 0 and remote.usage.completion_tokens > 0

    local = embedded_llm.score("1, 2, 3, 4,", [" 5", " 9"])
    try:
        scores = remote.score("1, 2, 3, 4,", [" 5", " 9"])
    except LLMCapabilityError as exc:  # transformers 5.23 ignores echo and logprobs on /v1/completions
        assert "echo=True with logprobs" in str(exc) and "`transformers serve` does not" in str(exc)
    else:
        assert scores == pytest.approx(local, abs=1e-3)
