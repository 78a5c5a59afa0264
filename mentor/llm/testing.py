"""Test doubles for code that calls an LLM.

- :func:`make_tiny_model` / :func:`make_tiny_tokenizer`: a random-weight Llama and a small
  byte-level BPE tokenizer with a chat template, built offline in milliseconds (also
  ``make_llm("transformers:tiny")``), for tests that need a real model but not its knowledge;
- :class:`ScriptedLLM`: an LLM that answers from a script, for tests of planners, critics and
  parsers that need chosen answers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch

from mentor.llm.base import LLM, Generation, Message, TokenScores
from mentor.llm.config import LLMConfig
from mentor.llm.constraints import Constraint

__all__ = [
    "BABYAI_ACTIONS",
    "BABYAI_PROMPT",
    "TINY_CHAT_TEMPLATE",
    "ScriptedLLM",
    "make_tiny_model",
    "make_tiny_tokenizer",
]

#: A BabyAI-Text decision prompt (TWOSOME style) and its six action continuations.
BABYAI_PROMPT = (
    "You are an agent in a grid world. Goal: go to the red ball.\n"
    "Observation:\n"
    "a wall 3 steps forward\n"
    "a red ball 2 steps left and 3 steps forward\n"
    "a grey key 1 step right and 1 step forward\n"
    "a purple box 2 steps right\n"
    "Possible actions: turn left, turn right, go forward, pick up, drop, toggle.\n"
    "Next action:"
)
BABYAI_ACTIONS = (" turn left", " turn right", " go forward", " pick up", " drop", " toggle")

TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_CORPUS = [
    "Goal: go to the red ball. You see a wall 3 steps forward.",
    "a red ball 2 steps left and 3 steps forward, a grey key 1 step right",
    "Possible actions: turn left, turn right, go forward, pick up, drop, toggle.",
    "1, 2, 3, 4, 5, 6, 7, 8, 9, 10. Collect wood, place table, make a wooden pickaxe.",
    'The next action is to open the door. {"plan": ["find the key", "open the door"]}',
]


@functools.lru_cache(maxsize=1)
def _tokenizer_json() -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS, trainer)
    return tokenizer.to_str()


def make_tiny_tokenizer():
    """A byte-level BPE tokenizer (about 400 tokens) with a ChatML template; eos and pad are ``<|im_end|>``."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json()),
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        chat_template=TINY_CHAT_TEMPLATE,
    )


def make_tiny_model(tokenizer=None, seed: int = 0, hidden_size: int = 32, num_layers: int = 2):
    """A random-weight Llama sized for ``tokenizer`` (default :func:`make_tiny_tokenizer`), in eval mode.

    Weights are drawn with a wide initialiser so that log-probs differ clearly between tokens.

    Args:
        tokenizer: sets the vocabulary size and special token ids.
        seed: weight seed (the global torch RNG is left untouched).
        hidden_size: model width.
        num_layers: decoder layers.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tokenizer if tokenizer is not None else make_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        initializer_range=0.3,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.eval()


class ScriptedLLM(LLM):
    """An LLM whose answers are given: a list (the last one repeats) or a function of the messages.

    Every request is kept in :attr:`requests`; usage, stop strings and cache work as for any LLM.

    Args:
        replies: answers in order, or ``messages -> answer``.
        scorer: ``(prompt, candidate) -> log-likelihood`` used by ``score``; by default minus the
            candidate's length in characters.
        config: cache settings (the spec is not used); by default no cache.

    Example:
        >>> llm = ScriptedLLM(["1. collect wood", "2. place table"])
        >>> llm.generate("plan?"), llm.generate("again?"), llm.generate("more?")
        (['1. collect wood'], ['2. place table'], ['2. place table'])
    """

    backend = "scripted"

    def __init__(
        self,
        replies: Sequence[str] | Callable[[list[Message]], str] = ("",),
        scorer: Callable[[str, str], float] | None = None,
        config: LLMConfig | None = None,
    ):
        super().__init__(config if config is not None else LLMConfig("transformers:tiny", cache=False))
        if not callable(replies) and not replies:
            raise ValueError("ScriptedLLM needs at least one reply.")
        self.replies = replies if callable(replies) else list(replies)
        self.scorer = scorer if scorer is not None else (lambda prompt, candidate: -float(len(candidate)))
        self.requests: list[list[Message]] = []

    @property
    def model_id(self) -> str:
        return "scripted"

    def _info(self) -> dict[str, Any]:
        return {"model": "scripted"}

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
        texts = []
        for _ in range(n):
            self.requests.append(messages)
            if callable(self.replies):
                texts.append(self.replies(messages))
            else:
                texts.append(self.replies[min(len(self.requests), len(self.replies)) - 1])
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        return Generation(texts, prompt_tokens, sum(len(t.split()) for t in texts))

    def _score(self, prompts: list[str], candidates: list[list[str]]) -> TokenScores:
        values = [[[self.scorer(p, c)] for c in cands] for p, cands in zip(prompts, candidates)]
        return TokenScores(values, num_tokens=sum(len(p.split()) + len(cands) for p, cands in zip(prompts, candidates)))
