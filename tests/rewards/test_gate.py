"""The static gate: what reward code may and may not contain, each rejection a one-line reason."""

from __future__ import annotations

import pytest

from mentor.errors import RewardCodeError
from mentor.rewards.gate import MAX_CODE_CHARS, check_reward_code

SIGNATURE = "def compute_reward(state, action, next_state):\n"


def reward(body: str, prefix: str = "") -> str:
    return prefix + SIGNATURE + "".join(f"    {line}\n" for line in body.splitlines())


GOOD = reward(
    "d = next_state.x_position - state.x_position\nreturn d, {'progress': d}", "import numpy as np\nimport math\n"
)


def test_good_code_passes_and_is_parsed():
    tree = check_reward_code(GOOD)
    assert any(getattr(node, "name", None) == "compute_reward" for node in tree.body)


@pytest.mark.parametrize(
    "code",
    [
        "from numpy import linalg\nfrom math import sqrt, pi\n" + SIGNATURE + "    return sqrt(pi), {}\n",
        "import numpy.linalg\n" + SIGNATURE + "    return 0.0, {}\n",
        reward("def helper(x):\n    return x * 2\nreturn helper(1.0), {'a': 1.0}"),
        reward("total = sum(v for v in state.joint_velocities.values())\nreturn total, {}"),
        reward("try:\n    x = 1 / 0\nexcept ZeroDivisionError:\n    x = 0.0\nreturn x, {}"),
        reward("return max([1.0, 2.0]), {'k': float(len(str(state)))}"),
    ],
)
def test_ordinary_python_passes(code):
    check_reward_code(code)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "import os\n" + SIGNATURE + "    return 0.0, {}",
            r"line 1: import of 'os' is not allowed \(allowed: math, numpy\)",
        ),
        ("import subprocess\n" + SIGNATURE + "    return 0.0, {}", r"import of 'subprocess' is not allowed"),
        ("import socket\n" + SIGNATURE + "    return 0.0, {}", r"import of 'socket' is not allowed"),
        ("from os import path\n" + SIGNATURE + "    return 0.0, {}", r"import of 'os' is not allowed"),
        ("import math.foo\n" + SIGNATURE + "    return 0.0, {}", r"import of 'math.foo' is not allowed"),
        ("from . import x\n" + SIGNATURE + "    return 0.0, {}", r"relative imports are not allowed"),
        ("from numpy import *\n" + SIGNATURE + "    return 0.0, {}", r"import \*' is not allowed"),
        ("from numpy import _core\n" + SIGNATURE + "    return 0.0, {}", r"private name '_core'"),
        (reward("open('/etc/passwd').read()\nreturn 0.0, {}"), r"line 2: 'open' is not allowed"),
        (reward("exec('x = 1')\nreturn 0.0, {}"), r"'exec' is not allowed"),
        (reward("return eval('1'), {}"), r"'eval' is not allowed"),
        (reward("compile('1', 'f', 'eval')\nreturn 0.0, {}"), r"'compile' is not allowed"),
        (reward("m = __import__('os')\nreturn 0.0, {}"), r"the name '__import__' is not allowed"),
        (reward("f = getattr(np, 'load')\nreturn 0.0, {}", "import numpy as np\n"), r"'getattr' is not allowed"),
        (reward("g = globals()\nreturn 0.0, {}"), r"'globals' is not allowed"),
        (reward("v = vars(state)\nreturn 0.0, {}"), r"'vars' is not allowed"),
        (
            reward("c = ().__class__\nreturn 0.0, {}"),
            r"the attribute '__class__' is not allowed \(no dunder attributes\)",
        ),
        (reward("x = state._hidden\nreturn 0.0, {}"), r"the private attribute '_hidden' is not allowed"),
        (reward("b = __builtins__\nreturn 0.0, {}"), r"the name '__builtins__' is not allowed"),
        (reward("np.zeros(3).tofile('/tmp/x')\nreturn 0.0, {}", "import numpy as np\n"), r"'tofile' is not allowed"),
        (reward("np.save('/tmp/x', 1)\nreturn 0.0, {}", "import numpy as np\n"), r"'save' is not allowed"),
        (reward("np.ctypeslib\nreturn 0.0, {}", "import numpy as np\n"), r"'ctypeslib' is not allowed"),
        (
            reward("g = (i for i in [1])\nf = g.gi_frame\nreturn 0.0, {}"),
            r"line 3: the attribute 'gi_frame' is not allowed",
        ),
        (reward("f = (lambda __x: __x)\nreturn 0.0, {}"), r"the parameter name '__x' is not allowed"),
        (
            "from numpy import fromfile\n" + SIGNATURE + "    return 0.0, {}",
            r"line 1: 'from numpy import fromfile' is not allowed in reward code \('fromfile' is forbidden\)",
        ),
        ("from numpy import sin, load\n" + SIGNATURE + "    return 0.0, {}", r"'from numpy import load' is not"),
        ("from numpy import ctypeslib as c\n" + SIGNATURE + "    return 0.0, {}", r"'ctypeslib' is forbidden"),
        ("from numpy.lib import format\n" + SIGNATURE + "    return 0.0, {}", r"import of 'numpy.lib' is not"),
        ("import numpy.ctypeslib\n" + SIGNATURE + "    return 0.0, {}", r"'ctypeslib' is forbidden"),
        ("from numpy import object\n" + SIGNATURE + "    return 0.0, {}", r"'object' is forbidden"),
        ("class Reward:\n    pass\n" + SIGNATURE + "    return 0.0, {}", r"line 1: class definitions are not allowed"),
        ("async def helper():\n    pass\n" + SIGNATURE + "    return 0.0, {}", r"async functions are not allowed"),
    ],
)
def test_hostile_code_is_rejected_with_a_one_line_reason(code, message):
    with pytest.raises(RewardCodeError, match=message) as info:
        check_reward_code(code)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", r"the code is empty"),
        ("def compute_reward(state, action, next_state)\n    return 0", r"line 1: SyntaxError: expected ':'"),
        (
            "def reward(state, action, next_state):\n    return 0.0, {}",
            r"defines no top-level def compute_reward\(state, action, next_state\)",
        ),
        (
            "def compute_reward(state, action):\n    return 0.0, {}",
            r"line 1: wrong signature compute_reward\(state, action\); expected",
        ),
        ("def compute_reward(state, *args):\n    return 0.0, {}", r"wrong signature compute_reward\(state, \*args\)"),
        ("def compute_reward(state, action, next_state, extra):\n    return 0.0, {}", r"wrong signature"),
        ("def compute_reward(s, a, n, *, k=1):\n    return 0.0, {}", r"wrong signature"),
        ("x = 1\n" * (MAX_CODE_CHARS // 6 + 1) + SIGNATURE + "    return 0.0, {}", r"at most 20000 are allowed"),
    ],
)
def test_malformed_code_is_rejected(code, message):
    with pytest.raises(RewardCodeError, match=message):
        check_reward_code(code)


def test_a_nested_compute_reward_does_not_count():
    code = "def outer():\n    def compute_reward(state, action, next_state):\n        return 0.0, {}\n"
    with pytest.raises(RewardCodeError, match="defines no top-level"):
        check_reward_code(code)
