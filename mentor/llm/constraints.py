"""Constraints on what ``LLM.generate`` may produce: a choice, a regex, a Lark grammar or a JSON schema.

One small set of types; each backend translates them. The transformers backend masks the logits
token by token with ``llguidance`` (:class:`GrammarMasker`); the openai backend sends the fields its
server accepts (:func:`server_fields`). A constraint is checked (compiled) when it is built, so a
malformed or unsatisfiable one is a :class:`~mentor.errors.ConfigError` before any generation.

Every repetition in a grammar should be bounded (``item{1,6}``): unbounded, a small model can loop
until ``max_new_tokens`` and the output never completes.

Example:
    >>> Choice(["turn left", "go forward"]).lark()
    'start: "turn left" | "go forward"'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from mentor.errors import ConfigError, LLMCapabilityError

__all__ = [
    "Constraint",
    "Choice",
    "Regex",
    "Grammar",
    "JsonSchema",
    "ServerDialect",
    "SERVER_DIALECTS",
    "server_fields",
    "lark_literal",
    "numbered_list",
]

ServerDialect = Literal["vllm", "llamacpp", "sglang"]
SERVER_DIALECTS: tuple[str, ...] = ("vllm", "llamacpp", "sglang")


def lark_literal(text: str) -> str:
    """``text`` as a quoted Lark string literal."""
    return json.dumps(text)


class Constraint:
    """Base class: a constraint knows its llguidance grammar and how it appears in a cache key."""

    kind: str = ""

    def lark(self) -> str:
        """The constraint as a Lark grammar (llguidance's dialect)."""
        raise NotImplementedError

    def llguidance(self) -> str:
        """The grammar definition llguidance's matcher takes."""
        from llguidance import LLMatcher

        return LLMatcher.grammar_from_lark(self.lark())

    def key(self) -> dict[str, Any]:
        """What identifies the constraint in a response-cache key."""
        return {"kind": self.kind, "lark": self.lark()}

    def _check(self) -> None:
        try:
            from llguidance import LLMatcher
        except ImportError:  # checked again, with the install hint, where a backend needs it
            return
        is_error, messages = LLMatcher.validate_grammar_with_warnings(self.llguidance())
        if is_error:
            raise ConfigError(f"the {self.kind} constraint is malformed: {' '.join(' '.join(messages).split())[:300]}")


@dataclass(frozen=True, eq=True)
class Choice(Constraint):
    """Exactly one of ``options``.

    Raises:
        ConfigError: no options, or an empty one.
    """

    options: tuple[str, ...]
    kind = "choice"

    def __init__(self, options: Any):
        options = (options,) if isinstance(options, str) else tuple(options)
        if not options or not all(isinstance(o, str) and o for o in options):
            raise ConfigError(f"a choice needs at least one non-empty string; got {list(options)!r:.200}.")
        object.__setattr__(self, "options", tuple(dict.fromkeys(options)))
        self._check()

    def lark(self) -> str:
        return "start: " + " | ".join(lark_literal(o) for o in self.options)


@dataclass(frozen=True, eq=True)
class Regex(Constraint):
    """A string that fully matches ``pattern`` (Rust ``regex`` syntax, a subset of Python's)."""

    pattern: str
    kind = "regex"

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as e:
            raise ConfigError(f"the regex constraint {self.pattern!r} does not compile: {e}.") from None
        self._check()

    def lark(self) -> str:
        return f"start: /{self.pattern.replace('/', chr(92) + '/')}/"


@dataclass(frozen=True, eq=True)
class Grammar(Constraint):
    """A Lark grammar (llguidance's dialect) with a ``start`` rule; optionally its GBNF form for llama.cpp servers.

    Attributes:
        lark_text: the grammar.
        gbnf: the same grammar in GBNF (llama.cpp's dialect); ``None`` if only Lark servers get it.
    """

    lark_text: str
    gbnf: str | None = None
    kind = "grammar"

    def __post_init__(self) -> None:
        if not re.search(r"^\s*start\s*:", self.lark_text, re.M):
            raise ConfigError("a grammar constraint needs a 'start:' rule.")
        self._check()

    def lark(self) -> str:
        return self.lark_text


@dataclass(frozen=True, eq=True)
class JsonSchema(Constraint):
    """A JSON document valid under ``schema`` (given as a JSON string, so the constraint stays hashable)."""

    schema: str
    kind = "json"

    def __init__(self, schema: dict[str, Any] | str):
        text = schema if isinstance(schema, str) else json.dumps(schema, sort_keys=True)
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"the JSON schema constraint is not JSON: {e}.") from None
        object.__setattr__(self, "schema", text)
        self._check()

    def llguidance(self) -> str:
        from llguidance import LLMatcher

        # Compact JSON: flexible whitespace is an unbounded repetition a small model loops in.
        return LLMatcher.grammar_from_json_schema(
            self.schema, defaults={"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
        )

    def lark(self) -> str:
        return f"start: %json {self.schema}"

    def key(self) -> dict[str, Any]:
        return {"kind": self.kind, "schema": self.schema}


def numbered_list(item_lark: str, item_gbnf: str, max_items: int) -> Grammar:
    """``1. <item>`` to ``<max_items>. <item>``, one per line: the bounded list grammar of plans and goals.

    Args:
        item_lark: the item, as a Lark expression (``skill``'s alternatives, or a terminal such as ``/[a-z ]{1,40}/``).
        item_gbnf: the same item in GBNF.
        max_items: most items (at least 1).
    """
    if max_items < 1:
        raise ConfigError(f"a numbered list needs max_items >= 1, got {max_items}.")
    lark_tail = gbnf_tail = ""
    for i in range(max_items, 1, -1):
        lark_tail = f'("\\n{i}. " item {lark_tail})?'
        gbnf_tail = f'("\\n{i}. " item {gbnf_tail})?'
    return Grammar(
        f'start: "1. " item {lark_tail}\nitem: {item_lark}',
        gbnf=f'root ::= "1. " item {gbnf_tail}\nitem ::= {item_gbnf}',
    )


def _gbnf_literal(text: str) -> str:
    return json.dumps(text)


def server_fields(constraint: Constraint, dialect: ServerDialect) -> dict[str, Any]:
    """The request fields (``extra_body``) that carry ``constraint`` to an OpenAI-compatible server.

    vLLM (0.12 and later) reads ``structured_outputs`` (``choice``, ``regex``, ``grammar`` as Lark or
    EBNF, ``json``); llama.cpp's server reads ``grammar`` (GBNF) or ``json_schema``; SGLang reads
    ``regex``, ``ebnf`` or ``json_schema``.

    Raises:
        LLMCapabilityError: the dialect cannot carry this constraint (a Lark grammar without its GBNF
            form, for llama.cpp; a regex, for llama.cpp).
    """
    if isinstance(constraint, JsonSchema):
        schema = json.loads(constraint.schema)
        if dialect == "vllm":
            return {"structured_outputs": {"json": schema}}
        return {"json_schema": schema}
    if dialect == "vllm":
        if isinstance(constraint, Choice):
            return {"structured_outputs": {"choice": list(constraint.options)}}
        if isinstance(constraint, Regex):
            return {"structured_outputs": {"regex": constraint.pattern}}
        return {"structured_outputs": {"grammar": constraint.lark()}}
    if dialect == "sglang":
        if isinstance(constraint, Regex):
            return {"regex": constraint.pattern}
        if isinstance(constraint, Choice):
            return {"ebnf": "root ::= " + " | ".join(_gbnf_literal(o) for o in constraint.options)}
        if constraint.gbnf is None:
            raise LLMCapabilityError("SGLang takes EBNF grammars; this Lark grammar has no GBNF form (field 'ebnf').")
        return {"ebnf": constraint.gbnf}
    if isinstance(constraint, Choice):
        return {"grammar": "root ::= " + " | ".join(_gbnf_literal(o) for o in constraint.options)}
    if isinstance(constraint, Grammar) and constraint.gbnf is not None:
        return {"grammar": constraint.gbnf}
    raise LLMCapabilityError(
        f"a llama.cpp server takes GBNF grammars (field 'grammar'); this {constraint.kind} constraint has no GBNF form."
    )
