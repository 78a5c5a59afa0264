"""The ``openai`` backend: any OpenAI-compatible server (vLLM, llama.cpp server, Ollama, OpenAI).

``generate`` uses chat completions. ``score`` uses the legacy completions endpoint with
``echo=True, logprobs=1`` and no new tokens, and keeps the log-probs of the tokens that overlap
the candidate, located by their ``text_offset`` (the server tokenizes prompt and candidate
together, so a token may straddle the boundary; it is counted with the candidate). Failed requests
(connection errors, timeouts, 429, 5xx) are retried with exponential backoff, then raise
:class:`~mentor.errors.LLMUnavailableError` naming the URL.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import openai

from mentor.errors import LLMCapabilityError, LLMError, LLMUnavailableError
from mentor.llm.base import LLM, Generation, Message, TokenScores
from mentor.llm.config import LLMConfig

__all__ = ["OpenAILLM"]

_RETRYABLE = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)


#: HTTP statuses of a server that lacks the completions endpoint or its ``echo``/``logprobs`` parameters.
_UNSUPPORTED_STATUS = (400, 404, 405, 422, 501)


class OpenAILLM(LLM):
    """A model behind an OpenAI-compatible HTTP API.

    Args:
        config: ``spec`` is ``openai:http://HOST:PORT/v1#model-name``; ``timeout_s``, ``max_retries``,
            ``retry_backoff_s`` and ``api_key`` apply.
        client: a ready ``openai.OpenAI`` client to use instead of building one (custom transport or auth).

    Example:
        >>> llm = OpenAILLM(LLMConfig("openai:http://127.0.0.1:8000/v1#smol", cache=False))
        >>> llm.generate("Name a fruit.", max_new_tokens=8)  # doctest: +SKIP
        ['Apple']
    """

    backend = "openai"

    def __init__(self, config: LLMConfig | None = None, client: openai.OpenAI | None = None):
        super().__init__(config)
        self.base_url: str = self.config.base_url
        self._client = client or openai.OpenAI(
            base_url=self.base_url,
            api_key=self.config.api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            timeout=self.config.timeout_s,
            max_retries=0,
        )
        self._score_max_tokens: int | None = None

    @property
    def model_id(self) -> str:
        return f"{self.base_url}#{self.config.model}"

    def _info(self) -> dict[str, Any]:
        return {"device": "remote", "base_url": self.base_url}

    def _request(self, create: Callable[..., Any], retry_server_errors: bool = True, **kwargs: Any) -> Any:
        """Call ``create(**kwargs)``, retrying failures that may pass, with doubling waits."""
        retryable = _RETRYABLE if retry_server_errors else _RETRYABLE[:2]
        delay = self.config.retry_backoff_s
        attempts = self.config.max_retries + 1
        for attempt in range(attempts):
            try:
                return create(**kwargs)
            except retryable as exc:
                error = exc
                if attempt + 1 < attempts:
                    time.sleep(delay)
                    delay *= 2
        raise LLMUnavailableError(
            f"LLM server {self.base_url} failed {attempts} attempt(s) (timeout {self.config.timeout_s} s each): "
            f"{type(error).__name__}: {error}"
        ) from error

    def _rejected(self, exc: openai.APIStatusError) -> LLMError:
        return LLMError(f"LLM server {self.base_url} rejected the request (HTTP {exc.status_code}): {exc.message}")

    def _generate(
        self,
        messages: list[Message],
        max_new_tokens: int,
        temperature: float,
        n: int,
        stop: list[str] | None,
        seed: int | None,
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
            try:
                response = self._request(self._client.chat.completions.create, **kwargs)
            except openai.APIStatusError as exc:
                raise self._rejected(exc) from exc
            if not response.choices:
                raise LLMError(f"LLM server {self.base_url} returned no choices for model {self.config.model!r}.")
            texts += [c.message.content or "" for c in sorted(response.choices, key=lambda c: c.index)]
            if response.usage is not None:
                prompt_tokens += response.usage.prompt_tokens or 0
                completion_tokens += response.usage.completion_tokens or 0
        return Generation(texts[:n], prompt_tokens, completion_tokens)

    def _score(self, prompts: list[str], candidates: list[list[str]]) -> TokenScores:
        num_tokens = 0
        per_prompt = []
        for prompt, cands in zip(prompts, candidates):
            rows = []
            for candidate in cands:
                logprobs, used = self._echo_logprobs(prompt, candidate)
                rows.append(logprobs)
                num_tokens += used
            per_prompt.append(rows)
        return TokenScores(per_prompt, num_tokens)

    def _complete_echo(self, text: str) -> Any:
        """Echo ``text`` with log-probs, asking for no new token when the server accepts ``max_tokens=0``."""
        create = self._client.completions.create
        kwargs = {"model": self.config.model, "prompt": text, "echo": True, "logprobs": 1, "temperature": 0.0}
        if self._score_max_tokens is None:
            try:
                response = self._request(create, retry_server_errors=False, max_tokens=0, **kwargs)
                self._score_max_tokens = 0
                return response
            except openai.APIStatusError:
                self._score_max_tokens = 1
        try:
            return self._request(create, max_tokens=self._score_max_tokens, **kwargs)
        except openai.APIStatusError as exc:
            if exc.status_code in _UNSUPPORTED_STATUS:
                raise LLMCapabilityError(
                    f"Scoring with the openai backend needs a completions endpoint that returns prompt log-probs "
                    f"(echo=True with logprobs); {self.base_url} (model {self.config.model!r}) refused it "
                    f"(HTTP {exc.status_code}: {exc.message}). Use the transformers backend to score."
                ) from exc
            raise self._rejected(exc) from exc

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
