"""Structured answers from free text: lists, JSON and choices, with one repair and a fallback.

The ``parse_*`` functions turn a completion into a value or raise :class:`ParseError`. The
``ask*`` functions generate, parse, and on failure re-ask once with the error; if that answer fails
too, they return the caller's fallback and count it in ``llm.usage.parse_fallbacks``. Callers never
crash on an unparseable answer.
"""

from __future__ import annotations

import ast
import difflib
import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from mentor.errors import LLMError
from mentor.llm.base import LLM, Message, to_messages
from mentor.llm.constraints import Choice, Constraint, numbered_list

__all__ = ["ParseError", "ask", "ask_choice", "ask_json", "ask_list", "parse_choice", "parse_json", "parse_list"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

_ITEM = re.compile(r"^\s*(?:\(?\d+[.):]|[-*\u2022+])\s+(.*\S)\s*$")
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_JSON_WORDS = {"true": "True", "false": "False", "null": "None"}


class ParseError(LLMError, ValueError):
    """An answer could not be parsed into the structure asked for."""


def parse_list(text: str) -> list[str]:
    """Items of a numbered or bulleted list; else the non-empty lines; a single line splits at commas.

    Lines without a marker around a marked list (a heading such as "Plan:") are dropped; a JSON
    array of strings is taken as is.

    Raises:
        ParseError: the answer has no item.

    Example:
        >>> parse_list("Plan:\\n1. collect wood\\n2) place table")
        ['collect wood', 'place table']
    """
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = parse_json(stripped)
        except ParseError:
            value = None
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    marked = [m.group(1) for m in map(_ITEM.match, lines) if m]
    if marked:
        return marked
    if len(lines) == 1:
        lines = [part.strip() for part in re.split(r"[,;]", lines[0]) if part.strip()]
    if not lines:
        raise ParseError("the answer is empty, so it holds no list item.")
    return lines


def _bracket_block(text: str) -> str:
    start = next((i for i, ch in enumerate(text) if ch in "{["), None)
    if start is None:
        raise ParseError("the answer holds no '{' or '[', so no JSON object or array.")
    closing = {"{": "}", "[": "]"}
    stack, quote, escaped = [], None, False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in closing:
            stack.append(closing[ch])
        elif ch in "}]":
            if not stack or ch != stack.pop():
                raise ParseError(f"mismatched {ch!r} at character {i} of the JSON block.")
            if not stack:
                return text[start : i + 1]
    raise ParseError(f"the JSON block starting at character {start} is never closed (answer cut short?).")


def parse_json(text: str, expect: type | tuple[type, ...] | None = None) -> Any:
    """The first JSON object or array in ``text``, tolerating fences, trailing commas and Python literals.

    Args:
        text: the answer.
        expect: the type the value must have (``dict``, ``list``), or ``None`` for any.

    Raises:
        ParseError: no complete block, it does not parse, or it has the wrong type.

    Example:
        >>> parse_json("Sure! ```json\\n{'plan': ['a', 'b'],}\\n```")
        {'plan': ['a', 'b']}
    """
    fenced = _FENCE.search(text)
    block = _bracket_block(fenced.group(1) if fenced and re.search(r"[{\[]", fenced.group(1)) else text)
    value: Any = None
    for attempt in (block, _TRAILING_COMMA.sub(r"\1", block)):
        try:
            value = json.loads(attempt)
            break
        except json.JSONDecodeError:
            continue
    else:
        pythonic = re.sub(r"\b(true|false|null)\b", lambda m: _JSON_WORDS[m.group(1)], block)
        try:
            value = ast.literal_eval(pythonic)
        except (ValueError, SyntaxError) as exc:
            raise ParseError(f"the block {block[:80]!r} is not valid JSON ({exc}).") from None
    if expect is not None and not isinstance(value, expect):
        names = expect.__name__ if isinstance(expect, type) else " or ".join(t.__name__ for t in expect)
        raise ParseError(f"expected a JSON {names}, got a {type(value).__name__}.")
    return value


def parse_choice(text: str, choices: Sequence[str]) -> str:
    """The choice the answer names: exact, then case-insensitive whole-word mention, then closest match.

    Among several mentioned choices the earliest wins (the longest at equal position).

    Raises:
        ValueError: ``choices`` is empty.
        ParseError: the answer names none of the choices.

    Example:
        >>> parse_choice("I will Turn Left now.", ["turn left", "turn right", "go forward"])
        'turn left'
    """
    choices = list(choices)
    if not choices:
        raise ValueError("parse_choice needs at least one choice.")
    answer = text.strip().strip(" .!\"'`*")
    if answer in choices:
        return answer
    lowered = {c.lower(): c for c in choices}
    if answer.lower() in lowered:
        return lowered[answer.lower()]
    found = []
    for choice in choices:
        m = re.search(rf"(?<!\w){re.escape(choice)}(?!\w)", text, re.IGNORECASE)
        if m:
            found.append((m.start(), -len(choice), choice))
    if found:
        return min(found)[2]
    close = difflib.get_close_matches(answer.lower(), list(lowered), n=1, cutoff=0.6)
    if close:
        return lowered[close[0]]
    raise ParseError(f"the answer {text.strip()[:80]!r} names none of the choices {choices}.")


def ask(
    llm: LLM,
    messages: Sequence[Message] | str,
    parse: Callable[[str], T],
    *,
    fallback: T,
    what: str,
    format_hint: str,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    constraint: Constraint | None = None,
) -> T:
    """Generate, parse; on a :class:`ParseError` re-ask once with the error; then use ``fallback``.

    Args:
        llm: the LLM; its ``usage`` counts ``parse_repairs`` and ``parse_fallbacks``.
        messages: the request.
        parse: turns the answer into the value, raising :class:`ParseError` when it cannot.
        fallback: returned when the repaired answer does not parse either.
        what: what was expected, for the repair message ("a JSON object").
        format_hint: how to answer, for the repair message ("a single JSON object, no other text").
        max_new_tokens: most tokens per answer.
        temperature: sampling temperature of both answers.
        constraint: decode both answers under it (the backend must support constraints).

    Returns:
        The parsed value, or ``fallback``.
    """
    messages = to_messages(messages)
    answer = llm.generate(messages, max_new_tokens=max_new_tokens, temperature=temperature, constraint=constraint)[0]
    try:
        return parse(answer)
    except ParseError as exc:
        llm.usage.parse_repairs += 1
        request = f"Your answer could not be parsed as {what}: {exc} Answer again with ONLY {format_hint}."
    repair = [*messages, {"role": "assistant", "content": answer}, {"role": "user", "content": request}]
    answer = llm.generate(repair, max_new_tokens=max_new_tokens, temperature=temperature, constraint=constraint)[0]
    try:
        return parse(answer)
    except ParseError as exc:
        llm.usage.parse_fallbacks += 1
        logger.warning("LLM answer could not be parsed as %s after one repair (%s); using the fallback.", what, exc)
        return fallback


def ask_list(
    llm: LLM,
    messages: Sequence[Message] | str,
    *,
    fallback: list[str],
    max_items: int = 8,
    max_item_chars: int = 60,
    **kwargs: Any,
) -> list[str]:
    """:func:`ask` with :func:`parse_list`; a backend that can decodes a bounded numbered list
    (at most ``max_items`` items of at most ``max_item_chars`` characters)."""
    hint = "the list, one item per line, numbered 1., 2., 3."
    if llm.supports_constraints:
        item = f"/[^\\n]{{1,{max_item_chars}}}/"
        kwargs["constraint"] = numbered_list(item, f"[^\\n]{{1,{max_item_chars}}}", max_items)
    return ask(llm, messages, parse_list, fallback=fallback, what="a list", format_hint=hint, **kwargs)


def ask_json(
    llm: LLM,
    messages: Sequence[Message] | str,
    *,
    fallback: Any,
    expect: type | tuple[type, ...] | None = None,
    **kwargs: Any,
) -> Any:
    """:func:`ask` with :func:`parse_json`."""
    hint = "one JSON object or array and no other text"
    parse = lambda text: parse_json(text, expect)  # noqa: E731
    return ask(llm, messages, parse, fallback=fallback, what="JSON", format_hint=hint, **kwargs)


def ask_choice(
    llm: LLM, messages: Sequence[Message] | str, choices: Sequence[str], *, fallback: str, **kwargs: Any
) -> str:
    """:func:`ask` with :func:`parse_choice` over ``choices``."""
    choices = list(choices)
    hint = "one of: " + ", ".join(choices) + " (exactly as written)"
    if llm.supports_constraints:
        kwargs["constraint"] = Choice(choices)
    parse = lambda text: parse_choice(text, choices)  # noqa: E731
    return ask(llm, messages, parse, fallback=fallback, what="one of the choices", format_hint=hint, **kwargs)
