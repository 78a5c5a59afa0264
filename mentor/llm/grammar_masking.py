"""Decoding under a constraint in ``transformers``: llguidance computes which tokens may come next.

:class:`GrammarMasker` is a ``LogitsProcessor``: for each sequence of the batch it keeps an
``llguidance.LLMatcher``, feeds it the token sampled last, and sets every token the grammar forbids
to ``-inf``. Once the grammar is complete only the end-of-sequence token remains allowed.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from mentor.errors import ConfigError, MissingDependencyError
from mentor.llm.constraints import Constraint

__all__ = ["GrammarMasker", "llguidance_tokenizer", "accepts"]


def _llguidance() -> Any:
    try:
        import llguidance
        import llguidance.hf
    except ImportError:
        raise MissingDependencyError(
            "llguidance", "test", "Constrained decoding with transformers (a dependency of mentor; reinstall it)"
        ) from None
    return llguidance


@functools.lru_cache(maxsize=8)
def _tokenizer_for(hf_tokenizer: Any, vocab_size: int) -> Any:
    return _llguidance().hf.from_tokenizer(hf_tokenizer, n_vocab=vocab_size)


def llguidance_tokenizer(hf_tokenizer: Any, vocab_size: int) -> Any:
    """The llguidance tokenizer of a fast Hugging Face tokenizer (built once per tokenizer, about 1 s)."""
    return _tokenizer_for(hf_tokenizer, vocab_size)


class GrammarMasker:
    """A ``transformers`` logits processor that allows only tokens ``constraint`` accepts.

    Args:
        constraint: what the completion must match.
        tokenizer: the model's (fast) Hugging Face tokenizer.
        vocab_size: the model's logits width (may exceed the tokenizer's length).
        prompt_length: tokens of the prompt (the processor sees prompt and completion together).
        batch_size: sequences generated at once (``num_return_sequences``).

    Raises:
        ConfigError: the grammar cannot be compiled for this tokenizer.
    """

    def __init__(self, constraint: Constraint, tokenizer: Any, vocab_size: int, prompt_length: int, batch_size: int):
        llg = _llguidance()
        self.tokenizer = llguidance_tokenizer(tokenizer, vocab_size)
        grammar = constraint.llguidance()
        self.matchers = [llg.LLMatcher(self.tokenizer, grammar, log_level=0) for _ in range(batch_size)]
        if self.matchers[0].is_error():
            raise ConfigError(f"the {constraint.kind} constraint cannot be used: {self.matchers[0].get_error()}")
        self.prompt_length = prompt_length
        self.vocab_size = vocab_size
        self.eos_token_id = tokenizer.eos_token_id

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        allowed = torch.zeros(scores.shape, dtype=torch.bool)
        for row, matcher in enumerate(self.matchers):
            if input_ids.shape[1] > self.prompt_length:
                last = int(input_ids[row, -1])
                if not matcher.is_stopped() and not matcher.is_error():
                    matcher.consume_token(last)
            if matcher.is_stopped() or matcher.is_error():
                allowed[row, self.eos_token_id] = True
                continue
            bits = np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8)
            mask = np.unpackbits(bits, bitorder="little")[: scores.shape[1]].astype(bool)
            allowed[row, : mask.shape[0]] = torch.from_numpy(mask)
            if not mask.any():
                allowed[row, self.eos_token_id] = True
        return scores.masked_fill(~allowed.to(scores.device), float("-inf"))


def accepts(constraint: Constraint, text: str, tokenizer: Any) -> bool:
    """Whether ``constraint`` accepts the whole of ``text`` (tokenized by the Hugging Face ``tokenizer``)."""
    llg = _llguidance()
    matcher = llg.LLMatcher(llguidance_tokenizer(tokenizer, len(tokenizer)), constraint.llguidance(), log_level=0)
    tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
    return matcher.consume_tokens(tokens) and matcher.is_accepting()
