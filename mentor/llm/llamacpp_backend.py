"""The ``llamacpp`` backend: a GGUF model run in-process by ``llama-cpp-python`` (extra ``llamacpp``).

``llamacpp:embedded`` runs the same SmolLM2 GGUF file as the default backend, without
de-quantising it. Generation uses the GGUF's chat template. Scoring evaluates the prompt once and
then each candidate on top of the prompt's KV cache, one token at a time, reading the last
token's logits (so ``logits_all`` and its ``n_ctx x vocab`` buffer are not needed).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

from mentor.errors import ConfigError, MissingDependencyError
from mentor.llm.base import LLM, Generation, Message, TokenScores
from mentor.llm.config import LLMConfig
from mentor.llm.constraints import Constraint, server_fields
from mentor.llm.embedded import embedded_gguf_path

__all__ = ["LlamaCppLLM", "is_llamacpp_available"]


def is_llamacpp_available() -> bool:
    """Whether ``llama-cpp-python`` is installed (it is not imported)."""
    return importlib.util.find_spec("llama_cpp") is not None


class LlamaCppLLM(LLM):
    """A GGUF model run by llama.cpp on the CPU.

    Args:
        config: ``spec`` is ``llamacpp:embedded`` or ``llamacpp:/path/to/model.gguf``;
            ``context_length``, ``num_threads`` and ``seed`` apply.

    Raises:
        MissingDependencyError: ``llama-cpp-python`` is not installed.
        ConfigError: the model is neither ``embedded`` nor an existing ``.gguf`` file.
    """

    backend = "llamacpp"

    def __init__(self, config: LLMConfig | None = None):
        super().__init__(config)
        if not is_llamacpp_available():
            raise MissingDependencyError("llama-cpp-python", extra="llamacpp", purpose="The llamacpp LLM backend")
        from llama_cpp import Llama

        name = self.config.model
        path = embedded_gguf_path() if name == "embedded" else Path(name).expanduser()
        if not path.is_file() or path.suffix != ".gguf":
            raise ConfigError(f"llamacpp model {name!r} is neither 'embedded' nor an existing .gguf file.")
        self._path = path
        self._llama = Llama(
            model_path=str(path),
            n_ctx=self.config.context_length,
            n_threads=self.config.num_threads,
            seed=self.config.seed if self.config.seed is not None else -1,
            logits_all=False,
            verbose=False,
        )

    @property
    def llama(self) -> Any:
        """The ``llama_cpp.Llama`` object."""
        return self._llama

    @property
    def model_id(self) -> str:
        return f"{self._path.resolve()}@{self._path.stat().st_mtime_ns}"

    def _info(self) -> dict[str, Any]:
        return {"device": "cpu", "dtype": "gguf", "gguf_path": str(self._path)}

    @property
    def supports_constraints(self) -> bool:
        """llama.cpp's own GBNF grammars (a constraint without a GBNF form raises ``LLMCapabilityError``)."""
        return True

    @staticmethod
    def _grammar(constraint: Constraint) -> Any:
        import llama_cpp

        fields = server_fields(constraint, "llamacpp")
        if "json_schema" in fields:
            return llama_cpp.LlamaGrammar.from_json_schema(json.dumps(fields["json_schema"]), verbose=False)
        return llama_cpp.LlamaGrammar.from_string(fields["grammar"], verbose=False)

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
        grammar = self._grammar(constraint) if constraint is not None else None
        for k in range(n):
            out = self._llama.create_chat_completion(
                grammar=grammar,
                messages=messages,
                max_tokens=max_new_tokens,
                temperature=temperature,
                top_k=0,
                top_p=1.0,
                min_p=0.0,
                stop=stop,
                seed=seed + k if seed is not None else None,
            )
            texts.append(out["choices"][0]["message"]["content"] or "")
            prompt_tokens += out["usage"]["prompt_tokens"]
            completion_tokens += out["usage"]["completion_tokens"]
        return Generation(texts, prompt_tokens, completion_tokens)

    def _tokenize(self, text: str) -> list[int]:
        return self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def _last_logprobs(self) -> np.ndarray:
        import llama_cpp

        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits(self._llama.ctx), shape=(self._llama.n_vocab(),))
        logits = logits.astype(np.float64)
        return logits - (np.log(np.exp(logits - logits.max()).sum()) + logits.max())

    def _score(self, prompts: list[str], candidates: list[list[str]]) -> TokenScores:
        num_tokens = 0
        per_prompt = []
        for prompt, cands in zip(prompts, candidates):
            prompt_ids = self._tokenize(prompt) or [self._llama.token_bos()]
            self._llama.reset()
            self._llama.eval(prompt_ids)
            after_prompt = self._last_logprobs()
            num_tokens += len(prompt_ids)
            rows = []
            for candidate in cands:
                ids = self._tokenize(candidate)
                if not ids:
                    raise ValueError(f"candidate {candidate!r} tokenizes to no tokens.")
                self._llama.n_tokens = len(prompt_ids)
                logprobs, current = [], after_prompt
                for i, token in enumerate(ids):
                    logprobs.append(float(current[token]))
                    if i + 1 < len(ids):
                        self._llama.eval([token])
                        current = self._last_logprobs()
                rows.append(logprobs)
                num_tokens += len(ids)
            per_prompt.append(rows)
        return TokenScores(per_prompt, num_tokens)
