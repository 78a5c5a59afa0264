"""The one LLM interface: `LLM.generate` and `LLM.score` over backends, with cache and usage.

:class:`LLM` owns the bookkeeping (argument checks, response cache, usage counters, stop strings,
normalisation of scores) and calls two backend hooks, ``_generate`` and ``_score``. A backend is a
subclass registered in :data:`mentor.llm.config.BACKENDS`; :func:`make_llm` builds one from a spec.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from mentor.errors import LLMCapabilityError
from mentor.llm.cache import ResponseCache, cache_key, check_texts, check_token_logprobs
from mentor.llm.config import BACKENDS, LLMConfig
from mentor.llm.constraints import Constraint
from mentor.llm.usage import Usage

__all__ = [
    "NORMALIZATIONS",
    "Generation",
    "LLM",
    "Message",
    "Normalize",
    "TokenScores",
    "make_llm",
    "normalize_score",
    "num_words",
    "to_messages",
]

Message = dict[str, str]
Normalize = Literal["sum", "token", "word"]
NORMALIZATIONS: tuple[str, ...] = ("sum", "token", "word")
ROLES = ("system", "user", "assistant")


@dataclass
class Generation:
    """What a backend's ``_generate`` hook returns."""

    texts: list[str]
    """The ``n`` completions, before stop strings are applied."""
    prompt_tokens: int
    """Tokens of the prompt as the model read it (chat template included)."""
    completion_tokens: int
    """Tokens generated, summed over the completions."""


@dataclass
class TokenScores:
    """What a backend's ``_score`` hook returns for a batch of prompts."""

    token_logprobs: list[list[list[float]]]
    """``[prompt][candidate][token]``: log-probability of each candidate token given what precedes it."""
    num_tokens: int
    """Tokens the model read (prompts plus candidates)."""


def num_words(candidate: str) -> int:
    """Whitespace-separated words of ``candidate`` (at least 1): the divisor of ``normalize="word"``."""
    return max(1, len(candidate.split()))


def normalize_score(token_logprobs: Sequence[float], candidate: str, normalize: Normalize) -> float:
    """Sum (``sum``), per-token mean (``token``) or per-word sum (``word``) of a candidate's log-probs."""
    total = math.fsum(token_logprobs)
    if normalize == "sum":
        return total
    if normalize == "token":
        return total / max(1, len(token_logprobs))
    return total / num_words(candidate)


def check_normalize(normalize: str) -> None:
    """Raise ``ValueError`` unless ``normalize`` is one of :data:`NORMALIZATIONS`."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize={normalize!r} is not one of {', '.join(NORMALIZATIONS)}.")


def check_candidates(candidates: Sequence[str]) -> list[str]:
    """The candidates as a list; raise ``ValueError`` for none, a bare string, or an empty one."""
    if isinstance(candidates, str):
        raise ValueError(f"candidates must be a sequence of strings, not the single string {candidates!r}.")
    candidates = list(candidates)
    if not candidates:
        raise ValueError("score needs at least one candidate.")
    for c in candidates:
        if not isinstance(c, str) or not c:
            raise ValueError(f"every candidate must be a non-empty string; got {c!r}.")
    return candidates


def to_messages(messages: Sequence[Message] | str) -> list[Message]:
    """Chat messages from a string (one user turn) or a list of ``{"role", "content"}`` dicts."""
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = [dict(m) for m in messages]
    if not out:
        raise ValueError("messages is empty; pass a string or at least one {'role', 'content'} dict.")
    for m in out:
        if m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise ValueError(f"message {m!r} needs 'role' in {ROLES} and a string 'content'.")
    return out


def truncate_at_stop(text: str, stop: Sequence[str] | None) -> str:
    """``text`` cut before the first occurrence of any stop string."""
    if not stop:
        return text
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=len(text))
    return text[:cut]


class LLM(ABC):
    """Base class of every backend: public methods do the bookkeeping, hooks do the work.

    Subclasses set :attr:`backend` and implement :attr:`model_id`, :meth:`_generate` and
    :meth:`_score`; they may extend :meth:`_info`.

    Args:
        config: what to run; ``None`` means ``LLMConfig()`` (``$MENTOR_LLM`` or the embedded model).

    Example:
        >>> llm = make_llm("transformers:tiny", cache=False)
        >>> len(llm.score("1, 2, 3,", [" 4", " 5"]))
        2
    """

    backend: ClassVar[str]

    @property
    def supports_constraints(self) -> bool:
        """Whether :meth:`generate` takes a ``constraint`` (decodes only what it accepts)."""
        return False

    def __init__(self, config: LLMConfig | None = None):
        self.config = config if config is not None else LLMConfig()
        self.usage = Usage()
        self._cache = ResponseCache(self.config.resolved_cache_path) if self.config.cache else None
        self._num_sampled_calls = 0

    # ----- public API

    def generate(
        self,
        messages: Sequence[Message] | str,
        max_new_tokens: int = 128,
        temperature: float = 0.0,
        n: int = 1,
        stop: Sequence[str] | None = None,
        constraint: Constraint | None = None,
    ) -> list[str]:
        """Complete a chat.

        Args:
            messages: a user message, or a list of ``{"role", "content"}`` dicts (chat template applied).
            max_new_tokens: most tokens per completion.
            temperature: 0 decodes greedily (and is cached); above 0 samples.
            n: number of completions; more than 1 needs ``temperature > 0``.
            stop: strings that end a completion; the returned text stops before them.
            constraint: what every completion must match (:mod:`mentor.llm.constraints`); the backend
                decodes under it. Check :attr:`supports_constraints` first.

        Returns:
            ``n`` completions (without the prompt).

        Raises:
            ValueError: an argument is out of range.
            LLMCapabilityError: a constraint was given to a backend that cannot decode under one.
            LLMError: the backend failed (see its subclasses).
        """
        messages = to_messages(messages)
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens ({max_new_tokens}) must be at least 1.")
        if temperature < 0:
            raise ValueError(f"temperature ({temperature}) must be 0 (greedy) or positive.")
        if n < 1:
            raise ValueError(f"n ({n}) must be at least 1.")
        if n > 1 and temperature == 0:
            raise ValueError(f"n={n} completions need temperature > 0; greedy decoding gives {n} identical ones.")
        stop = list(stop) if stop else None
        if stop and not all(isinstance(s, str) and s for s in stop):
            raise ValueError(f"stop must hold non-empty strings; got {stop!r}.")
        if constraint is not None and not self.supports_constraints:
            raise LLMCapabilityError(
                f"{self!r} cannot decode under a {constraint.kind} constraint; check supports_constraints first."
            )

        start = time.perf_counter()
        key = None
        if temperature == 0 and self.cache_enabled:
            key = self._key(
                "generate",
                messages=messages,
                max_new_tokens=max_new_tokens,
                stop=stop,
                **({"constraint": constraint.key()} if constraint is not None else {}),
            )
            hit = self._cache.get(key, check=check_texts)
            if hit is not None:
                self._count(start, cache_hits=1)
                return hit
        seed = None
        if temperature > 0 and self.config.seed is not None:
            seed = self.config.seed + self._num_sampled_calls
            self._num_sampled_calls += 1
        if constraint is not None:
            self.usage.constrained_calls += 1
        out = self._generate(messages, max_new_tokens, temperature, n, stop, seed, constraint)
        texts = [truncate_at_stop(t, stop) for t in out.texts]
        if key is not None:
            self._cache.put(key, texts)
        self._count(start, prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens)
        return texts

    def score(self, prompt: str, candidates: Sequence[str], normalize: Normalize = "sum") -> list[float]:
        """Log-likelihood of each candidate as the continuation of ``prompt`` (SayCan, TWOSOME).

        The prompt is used as raw text (no chat template); prompt and candidate are tokenized
        separately, so put the separating space at the start of the candidates (``" go forward"``).

        Args:
            prompt: the text the candidates continue.
            candidates: non-empty continuations.
            normalize: ``sum`` of token log-probs, per-``token`` mean, or per-``word`` (sum divided by
                the candidate's number of whitespace-separated words).

        Returns:
            One log-likelihood per candidate (higher is likelier).

        Raises:
            ValueError: ``normalize`` or a candidate is invalid.
            LLMError: the backend failed; LLMCapabilityError if it cannot return log-probs.
        """
        return self.score_batch([prompt], [candidates], normalize)[0]

    def score_batch(
        self,
        prompts: Sequence[str],
        candidates: Sequence[Sequence[str]],
        normalize: Normalize = "sum",
    ) -> list[list[float]]:
        """:meth:`score` for several prompts at once (one backend call for all cache misses).

        Args:
            prompts: the prompts.
            candidates: for each prompt, its candidates.
            normalize: as in :meth:`score`.

        Returns:
            For each prompt, one log-likelihood per candidate.
        """
        check_normalize(normalize)
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        for p in prompts:
            if not isinstance(p, str):
                raise ValueError(f"a prompt to score must be a string (no chat template is applied); got {p!r:.80}.")
        if isinstance(candidates, str) or len(candidates) != len(prompts):
            raise ValueError(f"candidates must hold one list per prompt ({len(prompts)}); got {candidates!r:.80}.")
        candidates = [check_candidates(c) for c in candidates]
        start = time.perf_counter()
        token_lps: list[list[list[float]] | None] = [None] * len(prompts)
        keys: list[str | None] = [None] * len(prompts)
        if self.cache_enabled:
            for i, (p, c) in enumerate(zip(prompts, candidates)):
                keys[i] = self._key("score", prompt=p, candidates=c)
                token_lps[i] = self._cache.get(
                    keys[i], check=functools.partial(check_token_logprobs, num_candidates=len(c))
                )
        misses = [i for i, lps in enumerate(token_lps) if lps is None]
        num_tokens = 0
        if misses:
            out = self._score([prompts[i] for i in misses], [candidates[i] for i in misses])
            num_tokens = out.num_tokens
            for i, lps in zip(misses, out.token_logprobs):
                token_lps[i] = lps
                if keys[i] is not None:
                    self._cache.put(keys[i], lps)
        self._count(start, calls=len(prompts), cache_hits=len(prompts) - len(misses), prompt_tokens=num_tokens)
        return [
            [normalize_score(lps, c, normalize) for lps, c in zip(per_prompt, cands)]
            for per_prompt, cands in zip(token_lps, candidates)
        ]

    def info(self) -> dict[str, Any]:
        """Backend, model, parameter count (``None`` if unknown), device, dtype and cache path."""
        return {
            "backend": self.backend,
            "spec": self.config.spec,
            "model": self.config.model,
            "num_parameters": None,
            "device": None,
            "dtype": None,
            "cache_path": str(self._cache.path) if self._cache is not None else None,
            "cache_enabled": self.cache_enabled,
            **self._info(),
        }

    @property
    def cache_enabled(self) -> bool:
        """Whether calls go through the response cache (configured on, and still usable)."""
        return self._cache is not None and self._cache.enabled

    def disable_cache(self) -> None:
        """Stop using the response cache (for example once the weights change)."""
        self._cache = None

    @property
    @abstractmethod
    def model_id(self) -> str:
        """What identifies the model's outputs in cache keys (name, path and version)."""

    # ----- hooks

    @abstractmethod
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
        """Produce ``n`` completions of a chat (arguments are already checked; a constraint only if supported)."""

    @abstractmethod
    def _score(self, prompts: list[str], candidates: list[list[str]]) -> TokenScores:
        """Per-token log-probs of every candidate of every prompt."""

    def _info(self) -> dict[str, Any]:
        """Backend-specific fields of :meth:`info`."""
        return {}

    # ----- bookkeeping

    def _key(self, kind: str, **parts: Any) -> str:
        return cache_key({"kind": kind, "backend": self.backend, "model": self.model_id, **parts})

    def _count(
        self,
        start: float,
        calls: int = 1,
        cache_hits: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        self.usage.calls += calls
        self.usage.cache_hits += cache_hits
        self.usage.prompt_tokens += prompt_tokens
        self.usage.completion_tokens += completion_tokens
        self.usage.seconds += time.perf_counter() - start

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config.spec!r})"


def make_llm(spec: str | LLMConfig | LLM | None = None, **overrides: Any) -> LLM:
    """Build an LLM from a spec string, a config, or ``None`` (``$MENTOR_LLM`` or the embedded model).

    Args:
        spec: a spec string (see :data:`mentor.llm.config.SPEC_FORMS`), an :class:`LLMConfig`, or an
            already built :class:`LLM` (returned as is).
        **overrides: :class:`LLMConfig` fields to set (``cache=False``, ``device="cpu"``...).

    Raises:
        ConfigError: the spec or a field is malformed.
        UnknownComponentError: the backend is unknown.
        MissingDependencyError: the backend's optional package is not installed.

    Example:
        >>> make_llm("transformers:tiny", cache=False).backend
        'transformers'
    """
    if isinstance(spec, LLM):
        if overrides:
            raise ValueError(f"cannot apply {sorted(overrides)} to an LLM that is already built.")
        return spec
    if isinstance(spec, LLMConfig):
        config = dataclasses.replace(spec, **overrides) if overrides else spec
    else:
        config = LLMConfig(spec=spec, **overrides)
    module_name, class_name = BACKENDS[config.backend].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(config)
