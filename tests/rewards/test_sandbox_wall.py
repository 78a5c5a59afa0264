"""The sandbox's wall holds without its gate: hostile reward code leaves the host untouched.

Each hostile case runs twice: through the full screen (the gate rejects it first) and through the
worker alone with the gate switched off, where the worker's own layers (an unprivileged user, the
seccomp allow-list, rlimits, curated namespaces) must stop it. Either way: no file appears, the
victim process keeps running at its priority, nothing connects to the listener, and no secret is read.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import mentor.rewards.sandbox as sandbox_module
from mentor.errors import RewardCodeError, SandboxUnavailableError
from mentor.rewards.gate import MAX_NESTING, NUMPY_NAMES, check_reward_code
from mentor.rewards.sandbox import RewardSandbox, SandboxConfig, screen_reward_code

SIGNATURE = "def compute_reward(state, action, next_state):\n"
FAST = SandboxConfig(timeout_s=5.0, cpu_seconds=2)
TRANSITIONS = [(SimpleNamespace(x=0.0), np.zeros(2), SimpleNamespace(x=1.0))] * 2

# Reaches the real os module's namespace through object.__subclasses__() (os._wrap_close.__init__.__globals__).
ESCAPE = """
def os_module():
    for c in ().__class__.__bases__[0].__subclasses__():
        if c.__name__ == '_wrap_close':
            return c.__init__.__globals__['sys'].modules['os']

def module(name):
    return os_module().sys.modules[name]
"""


def reward(body: str, prefix: str = "") -> str:
    return prefix + SIGNATURE + "".join(f"    {line}\n" for line in body.splitlines())


class Host:
    """What hostile code aims at: a writable folder, a victim process, a listening socket, a secret file."""

    def __init__(self, root):
        self.folder = root / "open-to-all"
        self.folder.mkdir()
        self.folder.chmod(0o777)  # writable by nobody too: only the wall keeps files out
        self.secret = root / "secret"
        self.secret.write_bytes(b"x" * 4321)
        self.secret.chmod(0o644)  # readable by nobody too: only the wall keeps it unread
        self.victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        self.priority = os.getpriority(os.PRIO_PROCESS, self.victim.pid)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]

    def fill(self, body: str) -> str:
        return body.format(folder=self.folder, pid=self.victim.pid, port=self.port, secret=self.secret)

    def assert_untouched(self) -> None:
        assert list(self.folder.iterdir()) == []
        assert self.victim.poll() is None, "the victim process was killed"
        assert os.getpriority(os.PRIO_PROCESS, self.victim.pid) == self.priority, "the victim was reniced"
        with pytest.raises(BlockingIOError):
            self.listener.accept()

    def close(self) -> None:
        self.victim.kill()
        self.victim.wait()
        self.listener.close()


@pytest.fixture
def host(tmp_path):
    host = Host(tmp_path)
    yield host
    host.close()


#: (name, body). Each body returns a float only if its attack worked, so a finished call is a breach.
HOSTILE = [
    ("mknod", "os_module().mknod('{folder}/node')\nreturn 1.0, {{}}"),
    ("mkfifo", "os_module().mkfifo('{folder}/fifo')\nreturn 1.0, {{}}"),
    ("mkdir", "os_module().mkdir('{folder}/dir')\nreturn 1.0, {{}}"),
    ("write", "fd = os_module().open('{folder}/file', 65)\nos_module().write(fd, b'x')\nreturn 1.0, {{}}"),
    (
        "pidfd kill",
        "fd = os_module().pidfd_open({pid})\nmodule('signal').pidfd_send_signal(fd, 9)\nreturn 1.0, {{}}",
    ),
    ("kill", "os_module().kill({pid}, 9)\nreturn 1.0, {{}}"),
    ("renice", "os_module().setpriority(os_module().PRIO_PROCESS, {pid}, 19)\nreturn 1.0, {{}}"),
    ("stat secret", "return float(os_module().stat('{secret}').st_size), {{}}"),
    ("stat shadow", "return float(os_module().stat('/etc/shadow').st_size), {{}}"),
    ("read secret", "fd = os_module().open('{secret}', 0)\nreturn float(len(os_module().read(fd, 99999))), {{}}"),
    ("connection", "module('socket').create_connection(('127.0.0.1', {port}))\nreturn 1.0, {{}}"),
    ("socket", "s = module('socket').socket()\ns.connect(('127.0.0.1', {port}))\nreturn 1.0, {{}}"),
    ("fork", "os_module().fork()\nreturn 1.0, {{}}"),
    ("exec", "os_module().execv('/bin/sh', ['sh', '-c', 'touch {folder}/exec'])\nreturn 1.0, {{}}"),
    ("system", "os_module().system('touch {folder}/system')\nreturn 1.0, {{}}"),
    (
        "numpy operator chain",
        "g = np.random.mtrand.operator.attrgetter('__class__')\nreturn 1.0, {{}}",
    ),
]


@pytest.mark.parametrize(("name", "body"), HOSTILE, ids=[name for name, _ in HOSTILE])
def test_the_full_screen_rejects_hostile_code(host, name, body):
    stage, reason = screen_reward_code(ESCAPE + reward(host.fill(body)), TRANSITIONS, FAST)
    assert stage == "gate" and "\n" not in reason
    host.assert_untouched()


@pytest.mark.parametrize("audit_hook", [True, False], ids=["audit-hook", "os-layers-only"])
@pytest.mark.parametrize(("name", "body"), HOSTILE, ids=[name for name, _ in HOSTILE])
def test_the_worker_alone_contains_hostile_code(host, monkeypatch, name, body, audit_hook):
    monkeypatch.setattr(sandbox_module, "check_reward_code", lambda code: None)
    monkeypatch.setattr(sandbox_module, "_AUDIT_HOOK", audit_hook)
    stage, reason = screen_reward_code(ESCAPE + reward(host.fill(body)), TRANSITIONS, FAST)
    assert stage == "validation", f"{name} ran to the end inside the sandbox"
    assert "\n" not in reason
    host.assert_untouched()


def test_the_worker_drops_root_and_loads_seccomp(monkeypatch):
    monkeypatch.setattr(sandbox_module, "check_reward_code", lambda code: None)
    code = ESCAPE + reward("return float(os_module().getuid()), {'gid': float(os_module().getgid())}")
    with RewardSandbox(code, FAST) as sandbox:
        uid, components = sandbox(*TRANSITIONS[0])
        assert sandbox.layers["seccomp"].startswith("allow-list")
    if os.geteuid() == 0:
        assert uid != 0 and components["gid"] != 0
        assert sandbox.layers["user"].startswith("nobody")
    else:
        assert uid == os.getuid()


def test_a_forbidden_system_call_kills_the_worker_with_its_reason(monkeypatch):
    monkeypatch.setattr(sandbox_module, "check_reward_code", lambda code: None)
    code = ESCAPE + reward("module('posix').mknod('/tmp/never', 0o600)\nreturn 1.0, {}")
    stage, reason = screen_reward_code(code, TRANSITIONS, FAST)
    assert stage == "validation" and reason.startswith(
        "the sandbox process made a forbidden system call (killed by seccomp)"
    )


def test_format_strings_that_walk_attributes_are_rejected(host):
    for body in (
        "s = '{0.__class__.__mro__}'.format(state)\nreturn float(len(s)), {}",
        "s = '{0.x}'.format_map({'0': state})\nreturn float(len(s)), {}",
        "s = f'{state!r}'\nreturn float(len(s)), {}",
        "w = 3\ns = f'{state.x:{w}}'\nreturn float(len(s)), {}",
        "s = format(state, '')\nreturn float(len(s)), {}",
    ):
        with pytest.raises(RewardCodeError, match=r"not allowed"):
            check_reward_code(reward(body))
    check_reward_code(reward("s = f'{state.x:.2f}'\nreturn float(len(s)), {}"))


def test_deep_nesting_is_one_rejection_not_a_crash():
    deep_sum = reward("return " + "+".join(["1"] * 6000) + ", {}")
    stage, reason = screen_reward_code(deep_sum, TRANSITIONS, FAST)
    assert stage == "gate" and reason.startswith(f"the code nests too deeply (at most {MAX_NESTING} levels)")
    nested_lists = reward("x = " + "[" * 150 + "1" + "]" * 150 + "\nreturn 1.0, {}")
    assert screen_reward_code(nested_lists, TRANSITIONS, FAST)[0] == "gate"


def test_reward_code_sees_curated_namespaces_not_modules(monkeypatch):
    monkeypatch.setattr(sandbox_module, "check_reward_code", lambda code: None)
    import math as real_math

    body = (
        "import numpy\nimport math as m\nfrom numpy.linalg import norm\n"
        "kinds = [type(np).__name__, type(numpy).__name__, type(m).__name__, type(np.linalg).__name__]\n"
        "names = sorted(n for n in dir(np) if not n.startswith('_'))\n"
        "return float(norm(np.array([3.0, 4.0]))), {'modules': float(kinds.count('module')), "
        "'names': float(len(names)), 'math': float(len([n for n in dir(m) if not n.startswith('_')]))}"
    )
    code = "def type(x):\n    return x.__class__\ndef dir(x):\n    return x.__dict__\n" + reward(body)
    with RewardSandbox(code, FAST) as sandbox:
        total, components = sandbox(*TRANSITIONS[0])
    top_level = {n.split(".")[0] for n in NUMPY_NAMES}
    assert total == 5.0 and components["modules"] == 0.0
    assert components["names"] == len(top_level)
    assert components["math"] == len([n for n in dir(real_math) if not n.startswith("_")])


def test_the_gate_names_what_the_numpy_namespace_holds():
    for body, shown in (("np.random.rand()", "np.random"), ("np.linalg.inv(action)", "np.linalg.inv")):
        with pytest.raises(RewardCodeError, match=rf"{shown} is not available to reward code \(available: "):
            check_reward_code(reward(f"x = {body}\nreturn 0.0, {{}}", "import numpy as np\n"))
    with pytest.raises(RewardCodeError, match=r"the name 'os' is not defined; reward code may use its parameters"):
        check_reward_code(reward("os.getpid()\nreturn 0.0, {}"))


def _worker_without(tmp_path, module: str) -> str:
    """A copy of the worker entry point on a machine where ``module`` cannot be imported."""
    script = tmp_path / "worker_without.py"
    script.write_text(
        f"import runpy, sys\nsys.modules[{module!r}] = None\n"
        f"runpy.run_path({str(sandbox_module._WORKER)!r}, run_name='__main__')\n"
    )
    script.chmod(0o644)
    tmp_path.chmod(0o755)
    return script


def test_a_missing_seccomp_is_a_clear_error_or_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox_module, "_WORKER", _worker_without(tmp_path, "pyseccomp"))
    code = reward("return 1.0, {}")
    with pytest.raises(SandboxUnavailableError, match=r"could not load the seccomp filter \(.*\); generated code"):
        RewardSandbox(code, FAST).start()
    with pytest.warns(RuntimeWarning, match=r"the reward sandbox runs without seccomp"):
        with RewardSandbox(code, SandboxConfig(seccomp="warn")) as sandbox:
            assert sandbox(*TRANSITIONS[0]) == (1.0, {})
            assert sandbox.layers["seccomp"].startswith("missing")
