"""The sandbox: generated reward code runs only in a separate, limited process, and anything hostile
or broken is rejected (or contained) with a one-line reason while nothing happens on the host.

Hostile code is tried twice: as written (the static gate rejects most of it) and with the gate
switched off, to show that the process's own layers (restricted builtins, audit hook, rlimits)
contain it too.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

import mentor.rewards.sandbox as sandbox_module
from mentor.errors import ConfigError, RewardCodeError
from mentor.rewards.sandbox import RewardSandbox, SandboxConfig, screen_reward_code, validate_reward_code

SIGNATURE = "def compute_reward(state, action, next_state):\n"
FAST = SandboxConfig(timeout_s=3.0, cpu_seconds=1)
STATE = SimpleNamespace(x_position=0.0)
NEXT = SimpleNamespace(x_position=0.5)

# Finds os._wrap_close through object.__subclasses__(); its __init__.__globals__ is the os module's namespace.
ESCAPE = """
def find(name):
    for c in ().__class__.__bases__[0].__subclasses__():
        if c.__name__ == name:
            return c

def os_namespace():
    return find('_wrap_close').__init__.__globals__
"""


def reward(body: str, prefix: str = "") -> str:
    return prefix + SIGNATURE + "".join(f"    {line}\n" for line in body.splitlines())


@pytest.fixture
def no_gate(monkeypatch):
    monkeypatch.setattr(sandbox_module, "check_reward_code", lambda code: None)


def run(code: str, config: SandboxConfig = FAST) -> tuple[float, dict[str, float]]:
    with RewardSandbox(code, config) as sandbox:
        return sandbox(STATE, np.array([0.5, -0.5]), NEXT)


def test_a_good_reward_runs_per_call_and_in_batches():
    code = reward(
        "progress = next_state.x_position - state.x_position\n"
        "effort = -0.1 * float(np.sum(np.square(action)))\n"
        "return progress + effort, {'progress': progress, 'effort': effort}",
        "import numpy as np\n",
    )
    with RewardSandbox(code, FAST) as sandbox:
        total, components = sandbox(STATE, np.array([0.5, -0.5]), NEXT)
        batch = sandbox.evaluate([(STATE, np.zeros(2), NEXT)] * 300)
        assert sandbox.stats.calls == 3 and sandbox.stats.transitions == 301
    assert total == pytest.approx(0.45) and components == {"progress": 0.5, "effort": pytest.approx(-0.05)}
    assert len(batch) == 300 and batch[0] == (0.5, {"progress": 0.5, "effort": 0.0})


def test_numpy_scalars_and_math_are_accepted():
    code = reward(
        "return np.float32(1.5), {'a': np.int64(2), 'b': math.sqrt(4.0), 'c': np.array([3.0])}",
        "import numpy as np\nimport math\n",
    )
    assert run(code) == (1.5, {"a": 2.0, "b": 2.0, "c": 3.0})


def test_imports_work_without_import_statements_too():
    assert run(reward("return float(np.sum([1, 2])), {}"))[0] == 3.0


# ------------------------------------------------------------------------ hostile code, gate on


@pytest.mark.parametrize(
    ("body", "prefix", "message"),
    [
        ("os.system('touch {path}')\nreturn 0.0, {{}}", "import os\n", r"import of 'os' is not allowed"),
        ("subprocess.run(['touch', '{path}'])\nreturn 0.0, {{}}", "import subprocess\n", r"import of 'subprocess'"),
        ("socket.create_connection(('example.com', 80))\nreturn 0.0, {{}}", "import socket\n", r"import of 'socket'"),
        ("open('/etc/passwd').read()\nopen('{path}', 'w')\nreturn 0.0, {{}}", "", r"'open' is not allowed"),
        ("__import__('os').system('touch {path}')\nreturn 0.0, {{}}", "", r"not allowed"),
        ("getattr(__builtins__, 'open')('{path}', 'w')\nreturn 0.0, {{}}", "", r"'getattr' is not allowed"),
        ("np.zeros(2).tofile('{path}')\nreturn 0.0, {{}}", "import numpy as np\n", r"'tofile' is not allowed"),
    ],
)
def test_the_gate_rejects_hostile_code_before_anything_runs(tmp_path, body, prefix, message):
    path = tmp_path / "pwned"
    with pytest.raises(RewardCodeError, match=message):
        RewardSandbox(reward(body.format(path=path), prefix), FAST)
    assert not path.exists()


# ------------------------------------------------------------------------ hostile code, gate off


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("open('{path}', 'w').write('x')\nreturn 0.0, {{}}", r"NameError: name 'open' is not defined"),
        ("__import__('os').system('touch {path}')\nreturn 0.0, {{}}", r"ImportError: import of 'os' is not allowed"),
        ("import subprocess\nreturn 0.0, {{}}", r"import of 'subprocess' is not allowed"),
        ("import socket\nreturn 0.0, {{}}", r"import of 'socket' is not allowed"),
        ("exec('x = 1')\nreturn 0.0, {{}}", r"NameError: name 'exec' is not defined"),
        ("getattr(np, 'save')('{path}', 1)\nreturn 0.0, {{}}", r"NameError: name 'getattr' is not defined"),
        ("np.save('{path}', 1)\nreturn 0.0, {{}}", r"AttributeError"),
        ("os_namespace()['system']('touch {path}')\nreturn 0.0, {{}}", r"the sandbox blocked 'os.system'"),
        ("os_namespace()['open']('{path}', 65)\nreturn 0.0, {{}}", r"the sandbox blocked 'open'"),
        ("os_namespace()['__builtins__']['open']('{path}', 'w')\nreturn 0.0, {{}}", r"the sandbox blocked 'open'"),
        (
            "os_namespace()['__builtins__']['open']('/etc/passwd').read()\nreturn 0.0, {{}}",
            r"the sandbox blocked 'open'",
        ),
        ("os_namespace()['fork']()\nreturn 0.0, {{}}", r"the sandbox blocked 'os.fork'"),
        ("os_namespace()['listdir']('/')\nreturn 0.0, {{}}", r"the sandbox blocked 'os.listdir'"),
        ("np.zeros(2).tofile('{path}')\nreturn 0.0, {{}}", r"tofile"),
        ("g = (i for i in [1])\nf = g.gi_frame.f_back\nreturn 0.0, {{}}", r"the sandbox blocked 'object.__getattr__'"),
        (
            "try:\n    1 / 0\nexcept Exception as e:\n    e.__traceback__.tb_frame.f_back.f_globals\nreturn 0.0, {{}}",
            r"the sandbox blocked 'object.__getattr__'",
        ),
    ],
)
def test_the_process_contains_hostile_code_that_passes_no_gate(no_gate, tmp_path, body, message):
    path = tmp_path / "pwned"
    with pytest.raises(RewardCodeError, match=message) as info:
        run(ESCAPE + reward(body.format(path=path), "import numpy as np\n"))
    assert "\n" not in str(info.value)
    assert not path.exists()
    assert run(reward("return 1.0, {}")) == (1.0, {})


def test_helpers_reachable_from_builtins_expose_no_host_modules(no_gate):
    code = reward("g = __builtins__['__import__'].__globals__\nreturn float(len(g)), {'os': float('os' in g)}")
    assert run(code)[1] == {"os": 0.0}


def test_a_forged_reply_is_rejected_without_hanging(no_gate):
    start = time.perf_counter()
    with pytest.raises(RewardCodeError, match="malformed reply|timed out"):
        run(ESCAPE + reward("os_namespace()['write'](1, b'garbage!')\nreturn 0.0, {}"))
    assert time.perf_counter() - start < 10


# ------------------------------------------------------------------------ resource limits


def test_an_endless_loop_is_stopped():
    start = time.perf_counter()
    with pytest.raises(
        RewardCodeError, match=r"timed out: computing the reward took longer than 3 s|CPU-time limit of 1 s"
    ):
        run(reward("while True:\n    pass"))
    assert time.perf_counter() - start < 30


def test_the_cpu_limit_kills_a_busy_process():
    config = SandboxConfig(timeout_s=60.0, cpu_seconds=1)
    with pytest.raises(RewardCodeError, match=r"the sandbox process exceeded its CPU-time limit of 1 s per call"):
        run(reward("x = 0\nwhile True:\n    x += 1"), config)


def test_a_10_gb_allocation_fails_inside_the_sandbox():
    with pytest.raises(
        RewardCodeError, match=r"MemoryError: Unable to allocate .* \(line 3: x = np.ones\(10\*\*10\)\)"
    ):
        run(reward("x = np.ones(10**10)\nreturn 0.0, {}", "import numpy as np\n"))
    with pytest.raises(RewardCodeError, match=r"^MemoryError"):
        run(reward("x = [0] * (10**10)\nreturn 0.0, {}"))


def test_recursion_bombs_are_stopped():
    with pytest.raises(RewardCodeError, match=r"RecursionError: maximum recursion depth exceeded"):
        run(reward("return compute_reward(state, action, next_state)"))
    bomb = "def f(n):\n    return 1 if n == 0 else f(n - 1) + f(n - 1)\n" + reward("return float(f(60)), {}")
    with pytest.raises(RewardCodeError, match=r"timed out|CPU-time limit"):
        run(bomb)


# ------------------------------------------------------------------------ wrong results


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("return float('nan'), {}", r"ValueError: the total is nan \(rewards must be finite\)"),
        ("return 1.0, {'a': float('inf')}", r"component 'a' is inf"),
        ("return 1.0", r"wrong return type: compute_reward returned float, expected \(total, components dict\)"),
        ("return 1.0, {}, 2.0", r"returned tuple of length 3"),
        ("return 1.0, [1.0]", r"components is list, expected a dict"),
        ("return 'high', {}", r"the total is str, expected a float"),
        ("return np.ones(3), {}", r"the total is ndarray of shape \(3,\), expected a float"),
        ("return 1.0, {'a': 'x'}", r"component 'a' is str"),
        ("return 1.0, {1: 1.0}", r"component name 1 must be a non-empty string"),
        ("return 1.0, {str(i): 1.0 for i in range(40)}", r"40 components; at most 32 are allowed"),
        ("return 1 / 0, {}", r"ZeroDivisionError: division by zero \(line 3: return 1 / 0, \{\}\)"),
        (
            "return state.y_position, {}",
            r"AttributeError: 'types.SimpleNamespace' object has no attribute 'y_position'",
        ),
    ],
)
def test_wrong_results_are_rejected_with_the_reason(body, message):
    with pytest.raises(RewardCodeError, match=message):
        run(reward(body, "import numpy as np\n"))


def test_failing_while_defining_the_reward():
    with pytest.raises(
        RewardCodeError, match=r"defining the reward failed: ZeroDivisionError: division by zero \(line 1: x = 1 / 0\)"
    ):
        run("x = 1 / 0\n" + reward("return 0.0, {}"))


def test_a_wrong_signature_is_rejected(no_gate):
    with pytest.raises(RewardCodeError, match=r"compute_reward must be a function of \(state, action, next_state\)"):
        run("def compute_reward(state, action):\n    return 0.0, {}\n")
    with pytest.raises(RewardCodeError, match=r"compute_reward must be a function"):
        run("compute_reward = 5\n")


def test_the_gate_rejects_a_wrong_signature_first():
    with pytest.raises(RewardCodeError, match=r"wrong signature compute_reward\(state\)"):
        RewardSandbox("def compute_reward(state):\n    return 0.0, {}\n")


def test_a_failed_sandbox_is_closed():
    sandbox = RewardSandbox(reward("return float('nan'), {}"), FAST)
    with pytest.raises(RewardCodeError, match="nan"):
        sandbox(STATE, 0, NEXT)
    with pytest.raises(RewardCodeError, match=r"the sandbox is closed \(it closes itself after any failure\)"):
        sandbox(STATE, 0, NEXT)


def test_batch_errors_name_the_transition():
    code = reward("if next_state.x_position > 1:\n    raise ValueError('too far')\nreturn 0.0, {}")
    far = SimpleNamespace(x_position=2.0)
    with RewardSandbox(code, SandboxConfig(batch_size=4)) as sandbox:
        with pytest.raises(RewardCodeError, match=r"ValueError: too far \(line 3: .*\) \[transition 6\]"):
            sandbox.evaluate([(STATE, 0, NEXT)] * 6 + [(STATE, 0, far)])


def test_validate_reward_code_returns_the_reason_or_the_rewards():
    transitions = [(STATE, 0, NEXT)] * 3
    assert validate_reward_code(reward("return 1.0, {}"), transitions, FAST) == (None, [(1.0, {})] * 3)
    reason, rewards = validate_reward_code("import os\n" + reward("return 1.0, {}"), transitions, FAST)
    assert reason.startswith("line 1: import of 'os'") and rewards == []


def test_screen_reward_code_names_the_stage_that_stops_the_code():
    transitions = [(STATE, 0, NEXT)] * 3
    assert screen_reward_code(reward("return 1.0, {}"), transitions, FAST) == ("valid", None)
    stage, reason = screen_reward_code("import os\n" + reward("return 1.0, {}"), transitions, FAST)
    assert stage == "gate" and reason.startswith("line 1: import of 'os'")
    stage, reason = screen_reward_code(reward("return float('nan'), {}"), transitions, FAST)
    assert stage == "validation" and "nan" in reason.lower()


def test_screen_reward_code_gates_once(monkeypatch):
    gates = []
    check = sandbox_module.check_reward_code
    monkeypatch.setattr(sandbox_module, "check_reward_code", lambda code: gates.append(1) or check(code))
    assert screen_reward_code(reward("return 1.0, {}"), [(STATE, 0, NEXT)], FAST) == ("valid", None)
    assert len(gates) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timeout_s": 0}, r"timeout_s \(0\) must be positive"),
        ({"cpu_seconds": 0}, r"cpu_seconds \(0\) must be at least 1"),
        ({"memory_mb": 100}, r"memory_mb \(100\) must be at least 256"),
        ({"batch_size": 0}, r"batch_size \(0\) and max_components \(32\) must be at least 1"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        SandboxConfig(**kwargs)
