"""The floors of DESIGN.md: every import in ``mentor`` points down (or sideways, without a cycle).

Imports inside functions count, and so do ``"mentor.x.y:attr"`` strings and ``import_module("mentor...")``
calls, which would otherwise hide an upward dependency from the import graph.
"""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

import mentor

PACKAGE = Path(mentor.__file__).parent

#: Floor of each top-level room of ``mentor``, bottom up.
FLOORS: dict[str, int] = {
    **dict.fromkeys(["__init__", "errors", "config", "paths", "runs", "overrides", "executors"], 0),
    **dict.fromkeys(["envs", "llm", "evaluation", "sb3"], 1),
    **dict.fromkeys(["skills", "planners", "rewards", "critics"], 2),
    "agents": 3,
    **dict.fromkeys(["benchmarks", "cli"], 4),
}


def room_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def imported_rooms(path: Path) -> set[tuple[str, int]]:
    """Every ``(room, line)`` of ``mentor`` that the module at ``path`` imports, however it does so."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "mentor" else [f"mentor.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            names = [arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("mentor."):
            names = [node.value.split(":")[0]] if ":" in node.value else []
        for name in names:
            parts = name.split(".")
            if parts[0] == "mentor" and len(parts) > 1 and parts[1] in FLOORS:
                found.add((parts[1], node.lineno))
    return found


def edges() -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = room_of(path)
        for target, line in imported_rooms(path):
            if target != source:
                found.setdefault((source, target), []).append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    return found


def test_every_room_has_a_floor():
    rooms = {room_of(path) for path in PACKAGE.rglob("*.py")}
    assert rooms <= set(FLOORS), f"rooms without a floor in FLOORS: {sorted(rooms - set(FLOORS))}"


def test_no_import_points_up():
    upward = [
        f"{source} (floor {FLOORS[source]}) imports {target} (floor {FLOORS[target]}) at {', '.join(where)}"
        for (source, target), where in edges().items()
        if FLOORS[target] > FLOORS[source]
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_rooms_on_one_floor_do_not_import_each_other_in_a_cycle():
    graph = {pair for pair in edges() if FLOORS[pair[0]] == FLOORS[pair[1]]}
    rooms = sorted({room for pair in graph for room in pair})
    reach = {(a, b) for a, b in graph}
    for k, i, j in itertools.product(rooms, rooms, rooms):
        if (i, k) in reach and (k, j) in reach:
            reach.add((i, j))
    cycles = sorted(room for room in rooms if (room, room) in reach)
    assert not cycles, f"rooms in an import cycle on one floor: {cycles}"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from mentor.agents.sb3 import SB3Agent\n", {("agents", 1)}),
        ("def f():\n    import mentor.benchmarks.runner\n", {("benchmarks", 2)}),
        ('AGENTS = {"x": "mentor.agents.ellm:ELLMBenchAgent"}\n', {("agents", 1)}),
        ("from mentor import cli\n", {("cli", 1)}),
        ('importlib.import_module("mentor.agents.hierarchical")\n', {("agents", 1)}),
    ],
)
def test_the_scan_sees_every_kind_of_import(tmp_path, source, expected):
    path = tmp_path / "module.py"
    path.write_text(source)
    assert imported_rooms(path) == expected
