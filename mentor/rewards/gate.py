"""The static gate: reward code is parsed and checked before anything of it runs.

The gate is a filter, not the wall: :mod:`mentor.rewards.sandbox` runs what passes in a separate,
unprivileged process under a seccomp allow-list, and that holds even for code the gate would reject.
The gate gives the LLM a one-line reason early. It rejects:

- syntax errors, code nested deeper than :data:`MAX_NESTING`, and code without a top-level
  ``def compute_reward(state, action, next_state)``;
- imports other than :data:`ALLOWED_IMPORTS` (``math``, ``numpy``), relative and star imports;
- any global name outside the namespace the sandbox gives reward code: its parameters, its own
  variables, :data:`ALLOWED_BUILTINS`, and ``np`` / ``math`` with exactly the names of
  :data:`NUMPY_NAMES` and :data:`MATH_NAMES` (``np.random``, ``np.lib`` and the like do not exist there);
- names and attributes starting with ``__`` (and attributes starting with ``_``), the builtins
  :data:`FORBIDDEN_NAMES` and the attributes :data:`FORBIDDEN_ATTRIBUTES` (frames, code objects,
  numpy file I/O, ``format`` / ``format_map``, which walk attributes from a format string);
- f-strings with a conversion (``!r``) or a computed format spec;
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
    "ALLOWED_BUILTINS",
    "NUMPY_NAMES",
    "MATH_NAMES",
    "FORBIDDEN_NAMES",
    "FORBIDDEN_ATTRIBUTES",
    "REWARD_FUNCTION",
    "REWARD_PARAMETERS",
    "MAX_CODE_CHARS",
    "MAX_NESTING",
    "parse_reward_code",
    "check_reward_code",
]

#: Modules reward code may import; each is a curated namespace in the sandbox, not the real module.
ALLOWED_IMPORTS: tuple[str, ...] = ("math", "numpy")

#: The builtins reward code gets (the sandbox's ``__builtins__`` holds exactly these, plus ``print`` as a no-op).
ALLOWED_BUILTINS: tuple[str, ...] = (
    *("abs", "all", "any", "bool", "dict", "divmod", "enumerate", "filter", "float", "frozenset", "int"),
    *("isinstance", "iter", "len", "list", "map", "max", "min", "next", "pow", "print", "range", "repr"),
    *("reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "zip"),
    *("ArithmeticError", "AssertionError", "AttributeError", "Exception", "IndexError", "KeyError"),
    *("OverflowError", "RuntimeError", "TypeError", "ValueError", "ZeroDivisionError"),
    *("True", "False", "None"),
)

#: The numpy names reward code sees as ``np.<name>``: plain functions that call numpy (and three
#: float constants). A dotted name is a function of a sub-namespace (``np.linalg.norm``).
NUMPY_NAMES: tuple[str, ...] = (
    *("abs", "absolute", "all", "allclose", "any", "arange", "arccos", "arcsin", "arctan", "arctan2"),
    *("argmax", "argmin", "array", "array_equal", "asarray", "ceil", "clip", "concatenate", "cos", "cosh"),
    *("count_nonzero", "cross", "cumsum", "deg2rad", "diff", "dot", "exp", "exp2", "expm1", "float32"),
    *("float64", "floor", "full", "hypot", "int32", "int64", "interp", "isclose", "isfinite", "isinf"),
    *("isnan", "linspace", "log", "log10", "log1p", "log2", "logical_and", "logical_not", "logical_or"),
    *("max", "maximum", "mean", "median", "min", "minimum", "mod", "ones", "ones_like", "power", "prod"),
    *("rad2deg", "ravel", "round", "sign", "sin", "sinh", "sort", "sqrt", "square", "stack", "std", "sum"),
    *("tan", "tanh", "var", "where", "zeros", "zeros_like", "linalg.norm"),
    *("pi", "e", "inf"),
)

#: The math names reward code sees as ``math.<name>``: every public function and constant of ``math``.
MATH_NAMES: tuple[str, ...] = (
    *("acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "ceil", "comb", "copysign", "cos"),
    *("cosh", "degrees", "dist", "erf", "erfc", "exp", "exp2", "expm1", "fabs", "factorial", "floor"),
    *("fmod", "frexp", "fsum", "gamma", "gcd", "hypot", "isclose", "isfinite", "isinf", "isnan", "isqrt"),
    *("lcm", "ldexp", "lgamma", "log", "log10", "log1p", "log2", "modf", "nextafter", "perm", "pow", "prod"),
    *("radians", "remainder", "sin", "sinh", "sqrt", "tan", "tanh", "trunc", "ulp"),
    *("e", "inf", "nan", "pi", "tau"),
)

#: Names reward code may not use: they run code, reach objects by name, or touch the host.
FORBIDDEN_NAMES: frozenset[str] = frozenset(
    {
        *("open", "exec", "eval", "compile", "__import__", "getattr", "setattr", "delattr", "globals"),
        *("locals", "vars", "dir", "input", "breakpoint", "help", "memoryview", "object", "type", "super"),
        *("classmethod", "staticmethod", "property", "exit", "quit", "id", "format"),
    }
)

#: Attributes reward code may not read: introspection, numpy file and library I/O, attribute-walking formats.
FORBIDDEN_ATTRIBUTES: frozenset[str] = frozenset(
    {
        *("gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "ag_frame", "ag_code", "f_back"),
        *("f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "tb_next", "co_code", "mro"),
        *("tofile", "dump", "dumps", "load", "loads", "save", "savez", "savez_compressed", "savetxt"),
        *("loadtxt", "genfromtxt", "fromfile", "fromregex", "memmap", "open_memmap", "ctypeslib", "ctypes"),
        *("f2py", "distutils", "testing", "lib", "DataSource", "show_config", "show_runtime", "system"),
        *("popen", "os", "sys", "format", "format_map"),
    }
)

#: The function reward code must define, and its parameters.
REWARD_FUNCTION = "compute_reward"
REWARD_PARAMETERS: tuple[str, ...] = ("state", "action", "next_state")

#: Longest reward code accepted, in characters.
MAX_CODE_CHARS = 20_000

#: Deepest syntax tree accepted (ordinary reward code nests about 15 deep; a 6,000-term sum nests 6,000).
MAX_NESTING = 100

_MODULE_NAMES = {"numpy": frozenset(NUMPY_NAMES), "math": frozenset(MATH_NAMES)}
_NAMESPACES = {"numpy", "math"} | {"numpy." + n.rsplit(".", 1)[0] for n in NUMPY_NAMES if "." in n}
_PREBOUND = {"np": "numpy", "math": "math"}


def _available(namespace: str) -> list[str]:
    module, _, sub = namespace.partition(".")
    names = _MODULE_NAMES[module]
    if sub:
        return sorted(n.split(".", 1)[1] for n in names if n.startswith(sub + "."))
    return sorted({n.split(".")[0] for n in names})


def _nesting(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            break
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name the code itself binds anywhere (assignments, defs, parameters, imports, handlers)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


def _module_aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> namespace (``numpy``, ``numpy.linalg``, ``math``) for the prebound and imported modules."""
    aliases = dict(_PREBOUND)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in _NAMESPACES:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return {name: module for name, module in aliases.items() if module in _NAMESPACES}


class _Gate(ast.NodeVisitor):
    def __init__(self, tree: ast.Module):
        self.known = _bound_names(tree) | set(ALLOWED_BUILTINS) | set(_PREBOUND)
        self.modules = _module_aliases(tree)

    def _reject(self, node: ast.AST, reason: str) -> None:
        raise RewardCodeError(f"line {getattr(node, 'lineno', '?')}: {reason}")

    def _check_module(self, node: ast.AST, name: str | None) -> None:
        parts = (name or "").split(".")
        if parts[0] not in ALLOWED_IMPORTS or (parts[0] == "math" and name != "math"):
            self._reject(node, f"import of {name!r} is not allowed (allowed: {', '.join(ALLOWED_IMPORTS)})")
        for part in parts[1:]:
            self._check_imported_name(node, part, f"import of {name!r}")
        if name not in _NAMESPACES:
            self._reject(node, f"import of {name!r} is not allowed (allowed: {', '.join(sorted(_NAMESPACES))})")

    def _check_imported_name(self, node: ast.AST, name: str, what: str) -> None:
        # An import binds what attribute access would reach: ``from numpy import load`` is ``numpy.load``.
        if name in FORBIDDEN_ATTRIBUTES or name in FORBIDDEN_NAMES:
            self._reject(node, f"{what} is not allowed in reward code ({name!r} is forbidden)")

    def _check_namespace_name(self, node: ast.AST, namespace: str, name: str, shown: str) -> None:
        module, _, sub = namespace.partition(".")
        full = f"{sub}.{name}" if sub else name
        if full not in _MODULE_NAMES[module] and f"{namespace}.{name}" not in _NAMESPACES:
            self._reject(
                node, f"{shown} is not available to reward code (available: {', '.join(_available(namespace))})"
            )

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
            self._check_namespace_name(node, node.module, alias.name, f"'from {node.module} import {alias.name}'")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("__"):
            self._reject(node, f"the name {node.id!r} is not allowed (no dunder names)")
        if node.id in FORBIDDEN_NAMES:
            self._reject(node, f"{node.id!r} is not allowed in reward code")
        if isinstance(node.ctx, ast.Load) and node.id not in self.known:
            self._reject(
                node,
                f"the name {node.id!r} is not defined; reward code may use its parameters, its own variables, "
                f"np, math and the builtins {', '.join(ALLOWED_BUILTINS[:-3])}",
            )

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("__"):
            self._reject(node, f"the attribute {node.attr!r} is not allowed (no dunder attributes)")
        if node.attr.startswith("_"):
            self._reject(node, f"the private attribute {node.attr!r} is not allowed")
        if node.attr in FORBIDDEN_ATTRIBUTES:
            self._reject(node, f"the attribute {node.attr!r} is not allowed in reward code")
        namespace = self._namespace_of(node.value)
        if namespace is not None:
            shown = f"{ast.unparse(node.value)}.{node.attr}"
            self._check_namespace_name(node, namespace, node.attr, shown)
        self.generic_visit(node)

    def _namespace_of(self, node: ast.expr) -> str | None:
        """The namespace ``node`` names (``np`` -> ``numpy``, ``np.linalg`` -> ``numpy.linalg``), else ``None``."""
        if isinstance(node, ast.Name):
            return self.modules.get(node.id)
        if isinstance(node, ast.Attribute):
            parent = self._namespace_of(node.value)
            if parent is not None and f"{parent}.{node.attr}" in _NAMESPACES:
                return f"{parent}.{node.attr}"
        return None

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        if node.conversion != -1:
            self._reject(node, f"f-string conversions (!{chr(node.conversion)}) are not allowed")
        if node.format_spec is not None and not all(isinstance(v, ast.Constant) for v in node.format_spec.values):
            self._reject(node, "computed f-string format specs are not allowed")
        self.visit(node.value)

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


def parse_reward_code(code: str) -> ast.Module:
    """Parse reward code, turning every way the parser can fail (deep nesting too) into a rejection.

    Raises:
        RewardCodeError: empty, too long, a syntax error, or nested deeper than :data:`MAX_NESTING`.
    """
    if not code.strip():
        raise RewardCodeError("the code is empty")
    if len(code) > MAX_CODE_CHARS:
        raise RewardCodeError(f"the code has {len(code)} characters; at most {MAX_CODE_CHARS} are allowed")
    try:
        tree = ast.parse(code, filename="<reward>")
    except SyntaxError as e:
        raise RewardCodeError(f"line {e.lineno}: SyntaxError: {e.msg}") from None
    except (RecursionError, MemoryError):
        tree = None
    if tree is None or _nesting(tree) > MAX_NESTING:
        raise RewardCodeError(
            f"the code nests too deeply (at most {MAX_NESTING} levels); split long expressions into statements"
        )
    return tree


def check_reward_code(code: str) -> ast.Module:
    """Parse reward code and check it against the gate's rules.

    Args:
        code: Python source defining ``compute_reward(state, action, next_state)``.

    Returns:
        The parsed module.

    Raises:
        RewardCodeError: with a one-line reason naming the line and the rule broken.
    """
    tree = parse_reward_code(code)
    _Gate(tree).visit(tree)
    _check_signature(tree)
    return tree
