"""The static gate: reward code is parsed and checked before anything of it runs.

The gate is the first of the sandbox's layers (:mod:`mentor.rewards.sandbox` adds restricted
builtins, an audit hook, rlimits and a separate process). It rejects, with a one-line reason that
goes back to the LLM:

- syntax errors, and code without a top-level ``def compute_reward(state, action, next_state)``;
- imports other than :data:`ALLOWED_IMPORTS` (``math``, ``numpy``), relative and star imports;
- names and attributes starting with ``__`` (and attributes starting with ``_``);
- the builtins :data:`FORBIDDEN_NAMES` (``open``, ``exec``, ``eval``, ``compile``, ``__import__``,
  ``getattr``, ``globals``, ``vars``, ...);
- attributes that reach frames, code objects or numpy's file and library I/O
  (:data:`FORBIDDEN_ATTRIBUTES`: ``gi_frame``, ``f_globals``, ``tofile``, ``load``, ``ctypeslib``, ...),
  whether read as attributes or imported by name (``from numpy import load``, ``import numpy.ctypeslib``);
- class definitions and ``async`` code.

Example:
    >>> check_reward_code("import os\\ndef compute_reward(state, action, next_state):\\n    return 0.0, {}")
    Traceback (most recent call last):
    ...
    mentor.errors.RewardCodeError: line 1: import of 'os' is not allowed (allowed: math, numpy)
"""

from __future__ import annotations

import ast

from mentor.errors import RewardCodeError

__all__ = [
    "ALLOWED_IMPORTS",
    "FORBIDDEN_NAMES",
    "FORBIDDEN_ATTRIBUTES",
    "REWARD_FUNCTION",
    "REWARD_PARAMETERS",
    "MAX_CODE_CHARS",
    "check_reward_code",
]

#: Modules reward code may import (and their submodules, for numpy).
ALLOWED_IMPORTS: tuple[str, ...] = ("math", "numpy")

#: Names reward code may not use: they run code, reach objects by name, or touch the host.
FORBIDDEN_NAMES: frozenset[str] = frozenset(
    {
        "open",
        "exec",
        "eval",
        "compile",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "dir",
        "input",
        "breakpoint",
        "help",
        "memoryview",
        "object",
        "type",
        "super",
        "classmethod",
        "staticmethod",
        "property",
        "exit",
        "quit",
        "id",
    }
)

#: Attributes reward code may not read: frame and code introspection, numpy file and library I/O.
FORBIDDEN_ATTRIBUTES: frozenset[str] = frozenset(
    {
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "f_back",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "mro",
        "tofile",
        "dump",
        "dumps",
        "load",
        "loads",
        "save",
        "savez",
        "savez_compressed",
        "savetxt",
        "loadtxt",
        "genfromtxt",
        "fromfile",
        "fromregex",
        "memmap",
        "open_memmap",
        "ctypeslib",
        "ctypes",
        "f2py",
        "distutils",
        "testing",
        "lib",
        "DataSource",
        "show_config",
        "show_runtime",
        "system",
        "popen",
        "os",
        "sys",
    }
)

#: The function reward code must define, and its parameters.
REWARD_FUNCTION = "compute_reward"
REWARD_PARAMETERS: tuple[str, ...] = ("state", "action", "next_state")

#: Longest reward code accepted, in characters.
MAX_CODE_CHARS = 20_000


class _Gate(ast.NodeVisitor):
    def _reject(self, node: ast.AST, reason: str) -> None:
        raise RewardCodeError(f"line {getattr(node, 'lineno', '?')}: {reason}")

    def _check_module(self, node: ast.AST, name: str | None) -> None:
        parts = (name or "").split(".")
        if parts[0] not in ALLOWED_IMPORTS or (parts[0] == "math" and name != "math"):
            self._reject(node, f"import of {name!r} is not allowed (allowed: {', '.join(ALLOWED_IMPORTS)})")
        for part in parts[1:]:
            self._check_imported_name(node, part, f"import of {name!r}")

    def _check_imported_name(self, node: ast.AST, name: str, what: str) -> None:
        # An import binds what attribute access would reach: ``from numpy import load`` is ``numpy.load``.
        if name in FORBIDDEN_ATTRIBUTES or name in FORBIDDEN_NAMES:
            self._reject(node, f"{what} is not allowed in reward code ({name!r} is forbidden)")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self._reject(node, "relative imports are not allowed")
        self._check_module(node, node.module)
        for alias in node.names:
            if alias.name == "*":
                self._reject(node, f"'from {node.module} import *' is not allowed; import names one by one")
            if alias.name.startswith("_"):
                self._reject(node, f"importing the private name {alias.name!r} is not allowed")
            self._check_imported_name(node, alias.name, f"'from {node.module} import {alias.name}'")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("__"):
            self._reject(node, f"the name {node.id!r} is not allowed (no dunder names)")
        if node.id in FORBIDDEN_NAMES:
            self._reject(node, f"{node.id!r} is not allowed in reward code")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("__"):
            self._reject(node, f"the attribute {node.attr!r} is not allowed (no dunder attributes)")
        if node.attr.startswith("_"):
            self._reject(node, f"the private attribute {node.attr!r} is not allowed")
        if node.attr in FORBIDDEN_ATTRIBUTES:
            self._reject(node, f"the attribute {node.attr!r} is not allowed in reward code")
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._reject(node, "class definitions are not allowed; use functions and dicts")

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._reject(node, "async functions are not allowed")

    def visit_arg(self, node: ast.arg) -> None:
        if node.arg.startswith("__"):
            self._reject(node, f"the parameter name {node.arg!r} is not allowed (no dunder names)")


def _check_signature(tree: ast.Module) -> None:
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == REWARD_FUNCTION]
    expected = f"def {REWARD_FUNCTION}({', '.join(REWARD_PARAMETERS)})"
    if not functions:
        raise RewardCodeError(f"the code defines no top-level {expected}")
    args = functions[-1].args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    if len(positional) != len(REWARD_PARAMETERS) or args.vararg or args.kwarg or args.kwonlyargs:
        shown = ", ".join(positional + ([f"*{args.vararg.arg}"] if args.vararg else []))
        raise RewardCodeError(
            f"line {functions[-1].lineno}: wrong signature {REWARD_FUNCTION}({shown}); expected {expected}"
        )


def check_reward_code(code: str) -> ast.Module:
    """Parse reward code and check it against the gate's rules.

    Args:
        code: Python source defining ``compute_reward(state, action, next_state)``.

    Returns:
        The parsed module.

    Raises:
        RewardCodeError: with a one-line reason naming the line and the rule broken.
    """
    if not code.strip():
        raise RewardCodeError("the code is empty")
    if len(code) > MAX_CODE_CHARS:
        raise RewardCodeError(f"the code has {len(code)} characters; at most {MAX_CODE_CHARS} are allowed")
    try:
        tree = ast.parse(code, filename="<reward>")
    except SyntaxError as e:
        raise RewardCodeError(f"line {e.lineno}: SyntaxError: {e.msg}") from None
    _Gate().visit(tree)
    _check_signature(tree)
    return tree
