"""One LLM interface (``generate``, ``score``) over backends, with a response cache and usage counters.

Example:
    >>> from mentor.llm import make_llm
    >>> llm = make_llm("transformers:embedded")          # or None: $MENTOR_LLM, else the embedded model
    >>> llm.generate("Name one fruit.", max_new_tokens=8)  # doctest: +SKIP
    ['Apple']
    >>> llm.score("1, 2, 3, 4,", [" 5", " 9"])          # doctest: +SKIP
    [-0.9, -7.1]

Backends import their heavy dependencies only when built; :mod:`mentor.llm.scoring` holds the
differentiable shared-prefix scoring used for fine-tuning, :mod:`mentor.llm.parsing` the
structured-answer helpers.
"""

from mentor.llm.base import LLM, NORMALIZATIONS, Generation, Message, Normalize, TokenScores, make_llm
from mentor.llm.cache import ResponseCache
from mentor.llm.config import BACKENDS, DEFAULT_SPEC, LLMConfig, parse_spec
from mentor.llm.parsing import ParseError, ask, ask_choice, ask_json, ask_list, parse_choice, parse_json, parse_list
from mentor.llm.usage import Usage

__all__ = [
    "BACKENDS",
    "DEFAULT_SPEC",
    "LLM",
    "NORMALIZATIONS",
    "Generation",
    "LLMConfig",
    "Message",
    "Normalize",
    "ParseError",
    "ResponseCache",
    "TokenScores",
    "Usage",
    "ask",
    "ask_choice",
    "ask_json",
    "ask_list",
    "make_llm",
    "parse_choice",
    "parse_json",
    "parse_list",
    "parse_spec",
]
