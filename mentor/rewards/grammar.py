"""The grammar of reward code, derived from an env's state abstraction: every sample is a valid program.

:func:`reward_grammar` builds, from the same state dataclass that ``compute_reward`` receives (and
the env's own keys for dict fields), a Lark grammar of this shape::

    def compute_reward(state, action, next_state):
        c0 = <expression>
        c1 = <expression>
        return c0 + c1, {"progress": c0, "effort": c1}

- an expression reads only fields the state really has, each as the type it has: numbers as they are,
  flags as ``float(...)``, tuples by index, dicts by ``.get(key, 0)`` over the env's keys, plus a few
  family-specific readings (distance to the nearest grid object of a kind, what the agent carries or
  faces; the action's squared norm on MuJoCo);
- arithmetic (one unary minus per factor), comparisons in ``(a if x > y else b)``, ``abs``/``min``/``max``/``math.tanh`` and
  ``math.exp(-abs(...))`` (bounded, never overflows); division only by a positive literal or a field
  that is always positive (``dt``, ``max_steps``);
- statement ``i`` assigns ``c<i>`` and the return reads only ``c0`` .. ``c<k-1>``, so no local is read
  before it is assigned; the number of statements, terms, pairs and the nesting depth are bounded;
- grounded (the default): every statement reads the states or the action somewhere (a grounded
  term of its sum, a grounded factor of that term, recursively), so that no component is a
  constant. A small model left free writes ``c0 = 1.0`` for most components, and a constant
  teaches the policy nothing (on envs without termination it cannot even rank two episodes).

A grammar is not a security boundary: samples still pass the gate and the sandbox.
"""

from __future__ import annotations

import dataclasses
import typing

import gymnasium as gym

from mentor.llm.constraints import Grammar, lark_literal
from mentor.rewards.gate import REWARD_FUNCTION, REWARD_PARAMETERS
from mentor.rewards.state import state_reader

__all__ = ["RewardGrammarConfig", "reward_grammar", "state_readings"]

_SIDES = ("state", "next_state")
_OBJECT_TYPES = ("key", "door", "ball", "box", "goal", "lava")


@dataclasses.dataclass(frozen=True)
class RewardGrammarConfig:
    """Bounds of the reward grammar.

    Attributes:
        max_components: most statements (each a named component).
        max_terms: most terms of a sum, and factors of a product, minus one.
        depth: nesting levels of parentheses, calls and conditionals.
        grounded: every component reads the states or the action (no constant components).
    """

    max_components: int = 4
    max_terms: int = 2
    depth: int = 1
    grounded: bool = True


def _repeat(item: str, most: int) -> str:
    """``(item){0,most}`` in Lark, or nothing for ``most == 0`` (llguidance rejects ``{0,0}``)."""
    return f"({item}){{0,{most}}}" if most else ""


def _alternatives(items: list[str]) -> str:
    return " | ".join(items)


def state_readings(env: gym.Env) -> list[str]:
    """Lark alternatives, one per way an expression may read the states (and the action) as a number."""
    reader = state_reader(env)
    keys = reader.field_keys(env)
    hints = typing.get_type_hints(reader.state_class)
    readings: list[str] = []
    for field in dataclasses.fields(reader.state_class):
        name, tp = field.name, hints[field.name]
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        for side in _SIDES:
            access = f"{side}.{name}"
            if tp in (int, float):
                readings.append(lark_literal(access))
            elif tp is bool:
                readings.append(lark_literal(f"float({access})"))
            elif origin is tuple and args and Ellipsis not in args and all(a in (int, float) for a in args):
                readings += [lark_literal(f"{access}[{i}]") for i in range(len(args))]
            elif origin is dict and args[1] in (int, float) and keys.get(name):
                default = "0" if args[1] is int else "0.0"
                readings += [lark_literal(f"{access}.get({k!r}, {default})") for k in keys[name]]
    readings += _family_readings(reader.family)
    return list(dict.fromkeys(readings))


def _positive_readings(env: gym.Env) -> list[str]:
    """Fields that are always positive, so that they may divide: MuJoCo's ``dt``, MiniGrid's ``max_steps``."""
    names = {"mujoco": ["dt"], "minigrid": ["max_steps"], "textworld": [], "crafter": []}[state_reader(env).family]
    return [lark_literal(f"{side}.{name}") for name in names for side in _SIDES]


def _family_readings(family: str) -> list[str]:
    if family == "mujoco":
        return [lark_literal("float(np.sum(np.square(action)))")]
    readings = []
    if family == "minigrid":
        for side in _SIDES:
            for kind in _OBJECT_TYPES:
                distance = (
                    f"min([abs(o.position[0] - {side}.agent_position[0]) + abs(o.position[1] - "
                    f"{side}.agent_position[1]) for o in {side}.objects if o.type == {kind!r}] + [0])"
                )
                readings += [
                    lark_literal(distance),
                    lark_literal(f"float({side}.carrying is not None and {side}.carrying.type == {kind!r})"),
                    lark_literal(f"float({side}.front_object is not None and {side}.front_object.type == {kind!r})"),
                ]
            readings.append(lark_literal(f"float(any(o.is_open for o in {side}.objects if o.type == 'door'))"))
    elif family == "crafter":
        from mentor.envs.crafter import CRAFTER_SEMANTIC_NAMES

        for side in _SIDES:
            readings += [
                lark_literal(f"float({side}.facing_material == {kind!r})")
                for kind in CRAFTER_SEMANTIC_NAMES
                if kind not in ("outside", "player")
            ]
    elif family == "textworld":
        readings.append(lark_literal("float(next_state.location != state.location)"))
    return readings


def _expression_rules(depth: int, terms: int) -> list[str]:
    rules = []
    for level in range(depth + 1):
        factors = ["NUMBER", "reading"]
        if level:
            inner = f"expr{level - 1}"
            factors += [
                f'"(" {inner} ")"',
                f'"abs(" {inner} ")"',
                f'"math.tanh(" {inner} ")"',
                f'"math.exp(-abs(" {inner} "))"',
                f'("min(" | "max(") {inner} ", " {inner} ")"',
                f'"(" {inner} " if " {inner} CMP {inner} " else " {inner} ")"',
            ]
        rules += [
            f'expr{level}: term{level} ((" + " | " - ") term{level}){{0,{terms}}}',
            f'term{level}: factor{level} ((" * " factor{level}) | (" / " divisor)){{0,{terms}}}',
            f'factor{level}: "-"? atom{level}',
            f"atom{level}: {_alternatives(factors)}",
        ]
    return rules


def _grounded_rules(depth: int, terms: int) -> list[str]:
    """``gexpr<l>``: an ``expr<l>`` that reads the states or the action somewhere (one grounded term,
    with an optional term before it; one grounded factor, with an optional factor before it), with
    no more terms and factors than ``expr<l>``."""
    rules = []
    for level in range(depth + 1):
        factors = ["reading"]
        if level:
            inner, grounded = f"expr{level - 1}", f"gexpr{level - 1}"
            factors += [
                f'"(" {grounded} ")"',
                f'"abs(" {grounded} ")"',
                f'"math.tanh(" {grounded} ")"',
                f'"math.exp(-abs(" {grounded} "))"',
                f'("min(" | "max(") {grounded} ", " {inner} ")"',
                f'("min(" | "max(") {inner} ", " {grounded} ")"',
                f'"(" {grounded} " if " {inner} CMP {inner} " else " {inner} ")"',
                f'"(" {inner} " if " {grounded} CMP {inner} " else " {inner} ")"',
            ]
        rules += [
            f'gexpr{level}: (term{level} (" + " | " - "))? gterm{level} '
            + _repeat(f'(" + " | " - ") term{level}', max(terms - 1, 0)),
            f'gterm{level}: (factor{level} " * ")? gfactor{level} '
            + _repeat(f'(" * " factor{level}) | (" / " divisor)', max(terms - 1, 0)),
            f'gfactor{level}: "-"? gatom{level}',
            f"gatom{level}: {_alternatives(factors)}",
        ]
    return rules


def reward_grammar(env: gym.Env, config: RewardGrammarConfig | None = None) -> Grammar:
    """The Lark grammar of reward code over ``env``'s state abstraction (see the module docstring)."""
    config = config or RewardGrammarConfig()
    header = f"def {REWARD_FUNCTION}({', '.join(REWARD_PARAMETERS)}):\\n"
    top = f"{'g' if config.grounded else ''}expr{config.depth}"
    bodies, rules = [], []
    for k in range(1, config.max_components + 1):
        variables = _alternatives([lark_literal(f"c{i}") for i in range(k)])
        statements = " ".join(f"s{i}" for i in range(k))
        rules += [
            f"var{k}: {variables}",
            f'pair{k}: "\\"" KEY "\\": " var{k}',
            f'body{k}: {statements} "    return " var{k} {_repeat(f"{chr(34)} + {chr(34)} var{k}", k - 1)} '
            f'", {{" pair{k} {_repeat(f"{chr(34)}, {chr(34)} pair{k}", k - 1)} "}}"',
        ]
        bodies.append(f"body{k}")
    statements = [f's{i}: "    c{i} = " {top} "\\n"' for i in range(config.max_components)]
    shared = [
        f'start: "{header}" ({_alternatives(bodies)})',
        *rules,
        *statements,
        *_expression_rules(config.depth, config.max_terms),
        *(_grounded_rules(config.depth, config.max_terms) if config.grounded else []),
        f"reading: {_alternatives(state_readings(env))}",
        f"divisor: {_alternatives(['POSITIVE', *_positive_readings(env)])}",
        'CMP: " > " | " < " | " >= " | " <= " | " == " | " != "',
    ]
    lark = [
        "NUMBER: /(0|[1-9][0-9]{0,2})(\\.[0-9]{1,3})?/",
        "POSITIVE: /[1-9][0-9]{0,2}(\\.[0-9]{1,3})?/",
        "KEY: /[a-z][a-z_]{0,19}/",
    ]
    gbnf = [
        'NUMBER: ("0" | [1-9] [0-9]{0,2}) ("." [0-9]{1,3})?',
        'POSITIVE: [1-9] [0-9]{0,2} ("." [0-9]{1,3})?',
        "KEY: [a-z] [a-z_]{0,19}",
    ]
    return Grammar("\n".join(shared + lark), gbnf="\n".join(_gbnf_rule(line) for line in shared + gbnf))


def _gbnf_rule(line: str) -> str:
    """A rule of this module's Lark in GBNF: the same expressions, ``name ::=`` and ``root`` for ``start``."""
    name, _, body = line.partition(": ")
    return f"{'root' if name == 'start' else name} ::= {body}"
