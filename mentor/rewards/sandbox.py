"""Run generated reward code in a separate, confined process; never in the caller's.

:class:`RewardSandbox` checks the code with the static gate (:func:`mentor.rewards.gate.check_reward_code`),
then starts :mod:`mentor.rewards.sandbox_worker` as its own Python process (isolated mode, empty
working directory, minimal environment, its own session). Before the candidate's code runs, the
worker walls itself in; the wall holds without the gate:

=========  ===========================================================  ==============================
layer      what it blocks                                               where it is missing
=========  ===========================================================  ==============================
user       a root worker drops to ``nobody``: no signals to or          not root: the worker already
           renicing of other users' processes; ``RLIMIT_NPROC`` binds   runs unprivileged
seccomp    an allow-list of system calls: no open (read or write),      ``SandboxConfig.seccomp``:
           stat, mknod, mkdir, unlink or rename; ``execve``, fork,      ``"required"`` (default) raises
           clone, ``kill``/``tgkill``/``pidfd_*``, sockets, ``ptrace``  SandboxUnavailableError naming
           and ``setpriority`` kill the process                         the cause; ``"warn"`` warns and
                                                                        runs without it
rlimits    address space, CPU time per call, file size 0, no new        always set
           file descriptors or processes, no core files
Python     audit hook on every audited event; restricted builtins;      always set
           ``np`` and ``math`` are curated namespaces of plain
           functions, never the real modules
=========  ===========================================================  ==============================

Seccomp needs Linux, the system's ``libseccomp.so.2`` (Debian/Ubuntu: ``libseccomp2``, present on
nearly every install) and the ``pyseccomp`` package (a dependency of mentor on Linux). Transitions
go to the worker over a pipe, one per call or in batches; replies come back as JSON, with a
wall-clock timeout on every call.

Anything wrong, a NaN or inf reward, an exception, a wrong signature or return type, a timeout or a
killed process, raises :class:`~mentor.errors.RewardCodeError` with a one-line reason (which the
reward loop feeds back to the LLM) and closes the sandbox.

Example:
    >>> code = "def compute_reward(state, action, next_state):\\n    return 1.0, {'alive': 1.0}"
    >>> with RewardSandbox(code) as reward:  # doctest: +SKIP
    ...     reward(None, 0, None)
    (1.0, {'alive': 1.0})
"""

from __future__ import annotations

import json
import math
import os
import pickle
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from mentor.errors import ConfigError, RewardCodeError, SandboxUnavailableError
from mentor.rewards.gate import ALLOWED_BUILTINS, MATH_NAMES, NUMPY_NAMES, check_reward_code
from mentor.rewards.state import to_namespace

__all__ = [
    "SandboxConfig",
    "SandboxStats",
    "RewardSandbox",
    "Transition",
    "validate_reward_code",
    "screen_reward_code",
]

#: ``(state, action, next_state)``
Transition = tuple[Any, Any, Any]

_WORKER = Path(__file__).with_name("sandbox_worker.py")
#: Whether the worker installs its audit hook; tests switch it off to show that the OS layers hold alone.
_AUDIT_HOOK = True
#: Largest reply accepted from the sandbox process (a reply is JSON floats; anything bigger is forged).
_MAX_REPLY_BYTES = 64 * 1024 * 1024


@dataclass
class SandboxConfig:
    """Limits of the reward sandbox process.

    Attributes:
        timeout_s: wall-clock seconds one call (one transition, or one batch) may take.
        startup_timeout_s: wall-clock seconds to start the process and define the reward.
        cpu_seconds: CPU seconds one call may use (``RLIMIT_CPU``, raised before each call).
        memory_mb: address-space limit of the process (``RLIMIT_AS``), in MiB.
        batch_size: transitions per message in :meth:`RewardSandbox.evaluate`.
        max_components: most named components a reward may return.
        seccomp: ``"required"`` (a worker that cannot load the seccomp filter raises
            :class:`~mentor.errors.SandboxUnavailableError`) or ``"warn"`` (it warns and runs with the
            other layers only; for machines without seccomp, such as macOS).
    """

    timeout_s: float = 10.0
    startup_timeout_s: float = 60.0
    cpu_seconds: int = 5
    memory_mb: int = 1024
    batch_size: int = 256
    max_components: int = 32
    seccomp: Literal["required", "warn"] = "required"

    def __post_init__(self) -> None:
        if self.seccomp not in ("required", "warn"):
            raise ConfigError(f"seccomp ({self.seccomp!r}) must be 'required' or 'warn'.")
        for name in ("timeout_s", "startup_timeout_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} ({getattr(self, name)}) must be positive.")
        if self.cpu_seconds < 1:
            raise ConfigError(f"cpu_seconds ({self.cpu_seconds}) must be at least 1 (RLIMIT_CPU counts whole seconds).")
        if self.memory_mb < 256:
            raise ConfigError(f"memory_mb ({self.memory_mb}) must be at least 256: numpy alone needs about 100 MiB.")
        if self.batch_size < 1 or self.max_components < 1:
            raise ConfigError(
                f"batch_size ({self.batch_size}) and max_components ({self.max_components}) must be at least 1."
            )


@dataclass
class SandboxStats:
    """What a sandbox has cost its caller so far."""

    calls: int = 0
    """Messages sent (one per ``__call__``, one per batch of ``evaluate``)."""
    transitions: int = 0
    """Transitions evaluated."""
    seconds: float = 0.0
    """Wall-clock seconds the caller spent waiting on calls (serialisation and IPC included)."""
    startup_seconds: float = 0.0
    """Seconds to start the process and define the reward."""

    def to_dict(self) -> dict[str, float]:
        return {
            "calls": self.calls,
            "transitions": self.transitions,
            "seconds": self.seconds,
            "startup_seconds": self.startup_seconds,
            "us_per_call": 1e6 * self.seconds / self.calls if self.calls else 0.0,
        }


_SIGNAL_REASONS = {
    signal.SIGXCPU: "exceeded its CPU-time limit of {cpu} s per call",
    signal.SIGKILL: "was killed (out of memory or time)",
    signal.SIGSEGV: "crashed (segmentation fault)",
    signal.SIGXFSZ: "tried to write a file",
    signal.SIGABRT: "aborted",
    signal.SIGSYS: "made a forbidden system call (killed by seccomp)",
}


class RewardSandbox:
    """A candidate reward, callable like ``compute_reward`` but run in its own limited process.

    The code is gated when the sandbox is built; the process starts on :meth:`start` (or the first
    call, or ``with``). States are dataclasses of :mod:`mentor.rewards.state` (sent as namespaces).

    Args:
        code: Python source defining ``compute_reward(state, action, next_state)``.
        config: limits; ``None`` for the defaults.

    Raises:
        RewardCodeError: the gate rejected the code (one-line reason).
    """

    def __init__(self, code: str, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        check_reward_code(code)
        self.code = code
        self.stats = SandboxStats()
        self.layers: dict[str, str] = {}
        """The wall the worker set up, layer by layer (filled on :meth:`start`)."""
        self._proc: subprocess.Popen | None = None
        self._workdir: str | None = None
        self._closed = False

    # ---- lifecycle
    def start(self) -> RewardSandbox:
        """Start the process and define the reward in it; a no-op once started."""
        if self._closed:
            raise RewardCodeError("the sandbox is closed (it closes itself after any failure)")
        if self._proc is not None:
            return self
        start = time.perf_counter()
        self._workdir = tempfile.mkdtemp(prefix="mentor-sandbox-")
        env = {"PATH": os.defpath, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-B", str(_WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self._workdir,
            env=env,
            start_new_session=True,
        )
        os.set_blocking(self._proc.stdin.fileno(), False)
        os.set_blocking(self._proc.stdout.fileno(), False)
        setup = {
            "code": self.code,
            "memory_mb": self.config.memory_mb,
            "cpu_seconds": self.config.cpu_seconds,
            "max_components": self.config.max_components,
            "workdir": self._workdir,
            "builtins": ALLOWED_BUILTINS,
            "numpy_names": NUMPY_NAMES,
            "math_names": MATH_NAMES,
            "seccomp": self.config.seccomp,
            "audit_hook": _AUDIT_HOOK,
        }
        reply = self._exchange(pickle.dumps(setup), self.config.startup_timeout_s, "starting")
        if "unconfined" in reply:
            self.close()
            raise SandboxUnavailableError(
                f"The reward sandbox {reply['unconfined']}; generated code never runs without it. Install "
                "libseccomp2 (Debian/Ubuntu) and pyseccomp, or set SandboxConfig(seccomp='warn') to run "
                "with rlimits, the audit hook and curated namespaces only."
            )
        if "error" in reply:
            self._fail(reply["error"])
        self.layers = dict(reply.get("layers", {}))
        if self.layers.get("seccomp", "").startswith("missing"):
            warnings.warn(
                f"the reward sandbox runs without seccomp: {self.layers['seccomp']} (SandboxConfig.seccomp='warn')",
                RuntimeWarning,
                stacklevel=2,
            )
        self.stats.startup_seconds = time.perf_counter() - start
        return self

    def close(self) -> None:
        """Stop the process (if running) and remove its working directory."""
        self._closed = True
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                stream.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> RewardSandbox:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_proc", None) is not None and not self._closed:
            self.close()

    # ---- calls
    def __call__(self, state: Any, action: Any, next_state: Any) -> tuple[float, dict[str, float]]:
        """The reward of one transition: ``(total, {component: value})``."""
        return self._run([(state, action, next_state)])[0]

    def evaluate(self, transitions: Sequence[Transition]) -> list[tuple[float, dict[str, float]]]:
        """The rewards of many transitions, sent in batches of ``config.batch_size``."""
        out: list[tuple[float, dict[str, float]]] = []
        size = self.config.batch_size
        for i in range(0, len(transitions), size):
            try:
                out += self._run(transitions[i : i + size])
            except RewardCodeError as e:
                raise RewardCodeError(f"{e} [transition {i + getattr(e, 'index', 0)}]") from None
        return out

    def _run(self, transitions: Sequence[Transition]) -> list[tuple[float, dict[str, float]]]:
        self.start()
        start = time.perf_counter()
        payload = pickle.dumps(
            [(to_namespace(s), a, to_namespace(n)) for s, a, n in transitions], protocol=pickle.HIGHEST_PROTOCOL
        )
        reply = self._exchange(payload, self.config.timeout_s, "computing the reward")
        self.stats.calls += 1
        self.stats.transitions += len(transitions)
        self.stats.seconds += time.perf_counter() - start
        if "error" in reply:
            self._fail(reply["error"], index=int(reply.get("index", 0)))
        results = reply.get("results")
        if not isinstance(results, list) or len(results) != len(transitions):
            self._fail("the sandbox sent a malformed reply")
        out = []
        for item in results:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], dict)):
                self._fail("the sandbox sent a malformed reply")
            total, components = item
            values = [total, *components.values()]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
                self._fail("the reward is not a finite float")
            out.append((float(total), {str(k): float(v) for k, v in components.items()}))
        return out

    def _exchange(self, payload: bytes, timeout: float, doing: str) -> dict[str, Any]:
        """Send one framed request and read one framed reply, all within ``timeout`` seconds.

        Reads and writes are non-blocking against a deadline, so a child that stops reading, or
        writes garbage into its reply pipe, cannot hang the caller.
        """
        deadline = time.monotonic() + timeout
        timed_out = f"timed out: {doing} took longer than {timeout:g} s (wall clock)"
        try:
            out = memoryview(struct.pack("!i", len(payload)) + payload)
            fd = self._proc.stdin.fileno()
            while out:
                if not select.select([], [fd], [], max(0.0, deadline - time.monotonic()))[1]:
                    self._fail(timed_out)
                try:
                    out = out[os.write(fd, out) :]
                except BlockingIOError:
                    continue
            fd = self._proc.stdout.fileno()
            buffer = bytearray()
            size = None
            while size is None or len(buffer) < 4 + size:
                if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                    self._fail(timed_out)
                try:
                    chunk = os.read(fd, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise EOFError
                buffer += chunk
                if size is None and len(buffer) >= 4:
                    (size,) = struct.unpack("!i", buffer[:4])
                    if not 0 <= size <= _MAX_REPLY_BYTES:
                        self._fail("the sandbox sent a malformed reply")
            reply = json.loads(bytes(buffer[4 : 4 + size]))
        except (EOFError, BrokenPipeError, ConnectionError):
            self._fail(self._death_reason())
        except ValueError:
            self._fail("the sandbox sent a malformed reply")
        if not isinstance(reply, dict):
            self._fail("the sandbox sent a malformed reply")
        return reply

    def _death_reason(self) -> str:
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the sandbox process stopped answering"
        if code < 0:
            try:
                sig = signal.Signals(-code)
            except ValueError:
                return f"the sandbox process died from signal {-code}"
            reason = _SIGNAL_REASONS.get(sig, f"died from {sig.name}")
            return "the sandbox process " + reason.format(cpu=self.config.cpu_seconds)
        return f"the sandbox process exited with code {code}"

    def _fail(self, reason: str, index: int = 0) -> NoReturn:
        self.close()
        error = RewardCodeError(reason)
        error.index = index
        raise error


def validate_reward_code(
    code: str, transitions: Sequence[Transition], config: SandboxConfig | None = None
) -> tuple[str | None, list[tuple[float, dict[str, float]]]]:
    """Gate ``code`` and run it on recorded transitions before any training.

    Returns:
        ``(None, rewards)`` if it passed, else ``(reason, [])`` with the one-line reason.
    """
    try:
        with RewardSandbox(code, config) as sandbox:
            return None, sandbox.evaluate(transitions)
    except RewardCodeError as e:
        return str(e), []


def screen_reward_code(
    code: str, transitions: Sequence[Transition], config: SandboxConfig | None = None
) -> tuple[str, str | None]:
    """Where ``code`` stops before any training, and why.

    Returns:
        ``("gate", reason)`` if the AST gate rejects it, ``("validation", reason)`` if it fails on
        the recorded transitions, else ``("valid", None)``.
    """
    try:
        sandbox = RewardSandbox(code, config)
    except RewardCodeError as e:
        return "gate", str(e)
    try:
        with sandbox:
            sandbox.evaluate(transitions)
    except RewardCodeError as e:
        return "validation", str(e)
    return "valid", None
