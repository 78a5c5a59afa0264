"""The ``openai`` backend: any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenAI).

``generate`` uses chat completions. ``score`` uses the legacy completions endpoint, in one of two ways
(``LLMConfig.scoring``):

- ``echo``: ``echo=True, logprobs=1`` and no new tokens; it keeps the log-probs of the tokens that overlap
  the candidate, located by their ``text_offset`` (the server tokenizes prompt and candidate together,
  so a token may straddle the boundary; it is counted with the candidate);
- ``constrained``: the candidate is generated after the prompt under a grammar that admits only it, and
  the generated tokens' log-probs are summed. The server picks the candidate's tokenization as it
  decodes, so a score may differ from the in-process one where that tokenization differs; the ranking of
  candidates is what it keeps. llama.cpp servers need it: ``llama-server`` returns no prompt log-probs,
  and ``llama_cpp.server`` returns each prompt token's log-prob under the distribution that follows it
  (abetlen/llama-cpp-python#1983), which ranks ``1, 2, 3, 4,`` -> `` cat`` above `` 5``.

Failed requests (connection errors, timeouts, 408, 409, 429, 5xx) are retried by the ``openai``
client itself (``max_retries``, exponential backoff). One request, its retries and the waits
between them included, ends by ``deadline_s``: a request hook trims each attempt's timeouts to
what is left and refuses attempts after it, and the waits are cut at it. A server that stays
unreachable, busy or silent raises :class:`~mentor.errors.LLMUnavailableError` naming the URL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx2
import openai

from mentor.errors import LLMCapabilityError, LLMError, LLMUnavailableError
from mentor.llm.base import LLM, Generation, Message, TokenScores
from mentor.llm.config import LLMConfig
from mentor.llm.constraints import Choice, Constraint, server_fields

__all__ = ["OpenAILLM"]

#: Errors left after the client's retries that mean the server is down, busy or silent.
_UNAVAILABLE = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)

#: HTTP statuses the client retries besides 5xx: they say nothing about what the server supports.
_RETRIED_STATUS = (408, 409, 429)

#: HTTP statuses of a server that lacks the completions endpoint or its ``echo``/``logprobs`` parameters.
_UNSUPPORTED_STATUS = (400, 404, 405, 422, 501)

_TIMEOUT_KEYS = ("connect", "read", "write", "pool")


@dataclass
class _Call:
    """The server request in progress in this thread: when it must end, and attempts sent so far."""

    deadline: float
    """``time.monotonic()`` by which the request, retries included, must be over."""
    attempts: int = 0


_CALL: ContextVar[_Call | None] = ContextVar("mentor_llm_openai_call", default=None)


class _DeadlineExceeded(openai.OpenAIError):
    """Raised by the request hook after the deadline; an ``OpenAIError``, so the client does not retry it."""


def _limit_to_deadline(request: httpx2.Request) -> None:
    """httpx2 request hook: refuse an attempt past the deadline, else trim its timeouts to what is left."""
    call = _CALL.get()
    if call is None:
        return
    left = call.deadline - time.monotonic()
    if left <= 0:
        raise _DeadlineExceeded("deadline reached")
    call.attempts += 1
    timeout = request.extensions.get("timeout") or {}
    trimmed = {k: left if timeout.get(k) is None else min(timeout[k], left) for k in _TIMEOUT_KEYS}
    request.extensions = {**request.extensions, "timeout": trimmed}


class _DeadlineClient(openai.OpenAI):
    """``openai.OpenAI`` whose waits between retries end at the deadline of the request in progress."""

    def _calculate_retry_timeout(self, *args: Any, **kwargs: Any) -> float:
        wait = super()._calculate_retry_timeout(*args, **kwargs)
        call = _CALL.get()
        return wait if call is None else max(0.0, min(wait, call.deadline - time.monotonic()))


class OpenAILLM(LLM):
    """A model behind an OpenAI-compatible HTTP API.

    Args:
        config: ``spec`` is ``openai:http://HOST:PORT/v1#model-name``; ``timeout_s``, ``max_retries``,
            ``deadline_s`` and ``api_key`` apply.
        http_client: an ``httpx2.Client`` to send requests through (custom transport, proxy or auth;
            ``httpx2.MockTransport`` in tests); the deadline hook is added to its request hooks.

    Example:
        >>> llm = OpenAILLM(LLMConfig("openai:http://127.0.0.1:8000/v1#smol", cache=False))
        >>> llm.generate("Name a fruit.", max_new_tokens=8)  # doctest: +SKIP
        ['Apple']
    """

    backend = "openai"

    def __init__(self, config: LLMConfig | None = None, http_client: httpx2.Client | None = None):
        super().__init__(config)
        self.base_url: str = self.config.base_url
        http_client = http_client if http_client is not None else openai.DefaultHttpxClient()
        hooks = http_client.event_hooks
        if _limit_to_deadline not in hooks.get("request", []):
            http_client.event_hooks = {**hooks, "request": [*hooks.get("request", []), _limit_to_deadline]}
        self._client = _DeadlineClient(
            base_url=self.base_url,
            api_key=self.config.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            timeout=self.config.timeout_s,
            max_retries=self.config.max_retries,
            http_client=http_client,
        )
        self._probe_client = self._client.with_options(max_retries=0)
        self._score_max_tokens: int | None = None

    @property
    def model_id(self) -> str:
        return f"{self.base_url}#{self.config.model}"

    def _info(self) -> dict[str, Any]:
        return {"device": "remote", "base_url": self.base_url}

    @contextmanager
    def _server_request(self) -> Iterator[None]:
        """Scope of one request (the client's retries included): starts its deadline, maps its errors.

        Raises:
            LLMUnavailableError: the deadline passed, or the server stayed down, busy or silent.
            LLMError: the server rejected the request (another HTTP error).
        """
        call = _Call(time.monotonic() + self.config.deadline_s)
        token = _CALL.set(call)
        try:
            yield
        except (_DeadlineExceeded, *_UNAVAILABLE) as exc:
            cfg = self.config
            if isinstance(exc, _DeadlineExceeded) or time.monotonic() >= call.deadline:
                raise LLMUnavailableError(
                    f"LLM server {self.base_url} did not answer within the deadline of {cfg.deadline_s} s "
                    f"(deadline_s; {call.attempts} attempt(s), timeout {cfg.timeout_s} s each)."
                ) from exc
            raise LLMUnavailableError(
                f"LLM server {self.base_url} failed {call.attempts} attempt(s) (timeout {cfg.timeout_s} s each): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        except openai.APIStatusError as exc:
            raise LLMError(
                f"LLM server {self.base_url} rejected the request (HTTP {exc.status_code}): {exc.message}"
            ) from exc
        finally:
            _CALL.reset(token)

    @property
    def supports_constraints(self) -> bool:
        """Whether the server was declared to take constraints (``LLMConfig.structured_outputs``)."""
        return self.config.structured_outputs is not None

    def _generate(
        self,
        messages: list[Message],
        max_new_tokens: int,
        temperature: float,
        n: int,
        stop: list[str] | None,
        seed: int | None,
        constraint: Constraint | None = None,
    ) -> Generation:
        texts: list[str] = []
        prompt_tokens = completion_tokens = 0
        while len(texts) < n:
            kwargs: dict[str, Any] = {
                "model": self.config.model,
                "messages": messages,
                "max_tokens": max_new_tokens,
                "temperature": temperature,
            }
            if n - len(texts) > 1:
                kwargs["n"] = n - len(texts)
            if stop:
                kwargs["stop"] = stop
            if seed is not None:
                kwargs["seed"] = seed + len(texts)
            fields = server_fields(constraint, self.config.structured_outputs) if constraint is not None else {}
            if fields:
                kwargs["extra_body"] = fields
            try:
                with self._server_request():
                    response = self._client.chat.completions.create(**kwargs)
            except LLMError as exc:
                if fields and isinstance(exc.__cause__, openai.BadRequestError):
                    raise LLMCapabilityError(
                        f"LLM server {self.base_url} rejected the constraint field(s) {', '.join(fields)} "
                        f"(structured_outputs={self.config.structured_outputs!r}): {exc.__cause__.message}"
                    ) from exc
                raise
            if not response.choices:
                raise LLMError(f"LLM server {self.base_url} returned no choices for model {self.config.model!r}.")
            texts += [c.message.content or "" for c in sorted(response.choices, key=lambda c: c.index)]
            if response.usage is not None:
                prompt_tokens += response.usage.prompt_tokens or 0
                completion_tokens += response.usage.completion_tokens or 0
        return Generation(texts[:n], prompt_tokens, completion_tokens)

    @property
    def scoring(self) -> str:
        """The scoring method in use: ``LLMConfig.scoring``, with ``auto`` resolved for this server."""
        if self.config.scoring != "auto":
            return self.config.scoring
        return "constrained" if self.config.structured_outputs == "llamacpp" else "echo"

    def _score(self, prompts: list[str], candidates: list[list[str]]) -> TokenScores:
        score_one = self._constrained_logprobs if self.scoring == "constrained" else self._echo_logprobs
        num_tokens = 0
        per_prompt = []
        for prompt, cands in zip(prompts, candidates):
            rows = []
            for candidate in cands:
                logprobs, used = score_one(prompt, candidate)
                rows.append(logprobs)
                num_tokens += used
            per_prompt.append(rows)
        return TokenScores(per_prompt, num_tokens)

    def _constrained_logprobs(self, prompt: str, candidate: str) -> tuple[list[float], int]:
        """Log-probs of the tokens that the server generates after ``prompt`` under a grammar of ``candidate`` alone."""
        fields = server_fields(Choice([candidate]), self.config.structured_outputs)
        with self._server_request():
            response = self._client.completions.create(
                model=self.config.model,
                prompt=prompt,
                max_tokens=len(candidate.encode()) + 1,
                temperature=0.0,
                logprobs=1,
                extra_body=fields,
            )
        choice = response.choices[0] if response.choices else None
        lp = choice.logprobs if choice is not None else None
        if choice is None or choice.text != candidate or lp is None or not lp.token_logprobs:
            got = "no choice" if choice is None else f"{choice.text!r}" + (" without log-probs" if lp is None else "")
            raise LLMCapabilityError(
                f"Constrained scoring asks {self.base_url} (model {self.config.model!r}) to generate exactly "
                f"{candidate!r} with log-probs under the field(s) {', '.join(fields)}; it returned {got}. "
                "Check structured_outputs, or use scoring='echo' on a server that returns prompt log-probs."
            )
        if any(v is None for v in lp.token_logprobs):
            raise LLMCapabilityError(
                f"{self.base_url} returned no log-prob for some tokens of candidate {candidate!r}."
            )
        used = (response.usage.prompt_tokens or 0) if response.usage is not None else 0
        return [float(v) for v in lp.token_logprobs], used + len(lp.token_logprobs)

    def _complete_echo(self, text: str) -> Any:
        """Echo ``text`` with log-probs, asking for no new token when the server accepts ``max_tokens=0``.

        The first call probes ``max_tokens=0`` once, without retries (servers that refuse it often
        answer 500); a refusal switches to ``max_tokens=1`` for good, any other failure only for this call.
        """
        kwargs = {"model": self.config.model, "prompt": text, "echo": True, "logprobs": 1, "temperature": 0.0}
        with self._server_request():
            if self._score_max_tokens is None:
                try:
                    response = self._probe_client.completions.create(max_tokens=0, **kwargs)
                except openai.APIError as exc:
                    if isinstance(exc, openai.APIStatusError) and exc.status_code not in _RETRIED_STATUS:
                        self._score_max_tokens = 1
                else:
                    self._score_max_tokens = 0
                    return response
            try:
                max_tokens = 1 if self._score_max_tokens is None else self._score_max_tokens
                return self._client.completions.create(max_tokens=max_tokens, **kwargs)
            except openai.APIStatusError as exc:
                if exc.status_code in _UNSUPPORTED_STATUS:
                    raise LLMCapabilityError(
                        f"Scoring with the openai backend needs a completions endpoint that returns prompt "
                        f"log-probs (echo=True with logprobs); {self.base_url} (model {self.config.model!r}) "
                        f"refused it (HTTP {exc.status_code}: {exc.message}). Use the transformers backend to score."
                    ) from exc
                raise

    def _echo_logprobs(self, prompt: str, candidate: str) -> tuple[list[float], int]:
        """Log-probs of the tokens of ``prompt + candidate`` that overlap the candidate, and tokens read."""
        text = prompt + candidate
        response = self._complete_echo(text)
        lp = response.choices[0].logprobs if response.choices else None
        if lp is None or not lp.token_logprobs or not lp.text_offset or not lp.tokens:
            raise LLMCapabilityError(
                f"Scoring with the openai backend needs a completions endpoint that returns prompt log-probs "
                f"(echo=True with logprobs); {self.base_url} (model {self.config.model!r}) returned none. "
                "vLLM supports this; `transformers serve` does not. Use the transformers backend to score."
            )
        starts = lp.text_offset
        ends = [*starts[1:], starts[-1] + len(lp.tokens[-1])]
        picked = [i for i, (s, e) in enumerate(zip(starts, ends)) if e > len(prompt) and s < len(text)]
        values = [lp.token_logprobs[i] for i in picked]
        if not values or any(v is None for v in values):
            raise LLMCapabilityError(
                f"{self.base_url} returned no log-prob for some tokens of candidate {candidate!r} "
                "(an empty prompt gives its first token none); put some text before the candidates."
            )
        used = response.usage.prompt_tokens if response.usage is not None else len(starts)
        return [float(v) for v in values], used
