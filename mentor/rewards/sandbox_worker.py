"""The sandbox process: runs one candidate's ``compute_reward`` on transitions sent over a pipe.

Started by :class:`mentor.rewards.sandbox.RewardSandbox` as ``python -I sandbox_worker.py`` (a
script, so it imports nothing of mentor: only the standard library, numpy and pyseccomp). Its stdin
carries requests (pickles from the trusted parent) and its stdout carries replies (JSON only, so the
parent never unpickles anything the candidate could have shaped).

The wall, set up after numpy is imported and before the candidate's code is compiled or run; it
holds for code that the static gate would have rejected:

- **user**: a worker started as root drops to ``nobody`` (groups cleared, real, effective and saved
  ids), so it can neither signal nor renice other users' processes, and ``RLIMIT_NPROC`` binds;
- **seccomp**: an allow-list of system calls (:data:`_ALLOWED_SYSCALLS`); everything else fails with
  ``EPERM``: every ``open``, ``stat``, ``mknod``, ``mkdir``, ``unlink``, ``setpriority``, ... so no
  file is read, created or written. Process creation, ``execve``, signals to any process
  (``kill``, ``tgkill``, ``pidfd_*``), sockets and ``ptrace`` kill the process (:data:`_FATAL_SYSCALLS`);
- **rlimits**: address space, CPU time per call, no file writes, no new file descriptors, no child
  processes, no core files;
- **Python**: an audit hook that refuses every audited event while candidate code runs, restricted
  builtins, and curated namespaces: ``np`` and ``math`` are plain objects holding only the listed
  functions (wrappers that call numpy and math), never the real modules.

Protocol (each message one ``Connection`` frame): the parent first sends the setup
``{"code", "memory_mb", "cpu_seconds", "max_components", "workdir", "builtins", "numpy_names",
"math_names", "seccomp", "audit_hook"}`` and gets ``{"ok": true, "layers": {...}}``, ``{"error": reason}`` or
``{"unconfined": reason}`` (a layer that is required could not be set up); then each request is a
list of ``(state, action, next_state)`` and each reply ``{"results": [[total, {name: value}], ...]}``
or ``{"error": reason, "index": i}``.
"""

import errno
import json
import math
import os
import pickle
import resource
import sys
import types
from multiprocessing.connection import Connection

#: System calls the worker needs once the candidate's code is defined: pipe I/O, memory, time, signals it
#: receives, its own CPU limit, exit. Anything else returns EPERM.
_ALLOWED_SYSCALLS = (
    *("read", "write", "close", "lseek", "mmap", "munmap", "mremap", "mprotect", "brk", "madvise"),
    *("rt_sigreturn", "rt_sigaction", "rt_sigprocmask", "sigaltstack", "restart_syscall", "futex"),
    *("clock_gettime", "clock_getres", "gettimeofday", "getrusage", "getrlimit", "getpid", "gettid"),
    *("getrandom", "sched_yield", "exit", "exit_group"),
)

#: System calls that kill the worker at once (SIGSYS): no new process, program, signal, socket or tracing.
_FATAL_SYSCALLS = (
    *("execve", "execveat", "fork", "vfork", "clone", "clone3", "kill", "tkill", "tgkill", "rt_sigqueueinfo"),
    *("rt_tgsigqueueinfo", "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "socket", "socketpair"),
    *("connect", "bind", "listen", "accept", "accept4", "sendto", "sendmsg", "ptrace", "process_vm_readv"),
    *("process_vm_writev", "mknod", "mknodat", "setpriority", "unshare", "setns", "mount", "chroot"),
)

#: The import function and ``print`` reward code gets, defined in a namespace of their own so that
#: their ``__globals__`` hold nothing but the two curated namespaces.
_HELPERS = """
def restricted_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name in namespaces:
        return namespaces[name] if fromlist else namespaces[name.split(".")[0]]
    raise ImportError(f"import of {name!r} is not allowed (allowed: {', '.join(sorted(namespaces))})")

def print(*args, **kwargs):
    return None
"""

#: A plain function standing for one numpy or math callable; its globals hold only that callable.
_WRAPPER = "def {name}(*args, **kwargs):\n    return target(*args, **kwargs)\n"


def _make_guard():
    """An audit hook refusing every event while ``guard["untrusted"]``; the flag lives only in the closure."""
    guard = {"untrusted": False, "code": None}

    def audit(event, args):
        if not guard["untrusted"]:
            return
        if event == "exec" and args and args[0] is guard["code"]:
            return
        raise RuntimeError(f"the sandbox blocked {event!r}")

    return guard, audit


def _plain(name, target):
    if not callable(target):
        return target
    scope = {"__builtins__": {}, "target": target}
    exec(_WRAPPER.format(name=name), scope)
    return scope[name]


def _curated(module, names):
    """``{"numpy": ns, "numpy.linalg": ns, ...}``: plain namespaces holding wrappers of ``module``'s ``names``."""
    root = module.__name__
    namespaces = {root: types.SimpleNamespace()}
    for dotted in names:
        *path, name = dotted.split(".")
        target, namespace, key = module, namespaces[root], root
        for part in path:
            target, key = getattr(target, part), f"{key}.{part}"
            if key not in namespaces:
                namespaces[key] = types.SimpleNamespace()
                setattr(namespace, part, namespaces[key])
            namespace = namespaces[key]
        setattr(namespace, name, _plain(name, getattr(target, name)))
    return namespaces


def _builtins(names, namespaces):
    import builtins

    safe = {name: getattr(builtins, name) for name in names if name != "print"}
    helpers = {"__builtins__": {"ImportError": ImportError, "sorted": sorted}, "namespaces": namespaces}
    exec(_HELPERS, helpers)
    safe["__import__"] = helpers["restricted_import"]
    safe["print"] = helpers["print"]
    return safe


def _one_line(text, limit=300):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_exception(error, source_lines):
    where = ""
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<reward>":
            line = tb.tb_lineno
            text = source_lines[line - 1].strip() if 0 < line <= len(source_lines) else ""
            where = f" (line {line}: {text})" if text else f" (line {line})"
        tb = tb.tb_next
    message = str(error)
    return _one_line(f"{type(error).__name__}: {message}{where}" if message else f"{type(error).__name__}{where}")


def _number(value, what, np):
    if isinstance(value, (bool, int, float)):
        number = float(value)
    elif isinstance(value, np.generic) and value.dtype.kind in "biuf":
        number = float(value)
    elif isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "biuf":
        number = float(value.reshape(()))
    else:
        shape = f" of shape {value.shape}" if isinstance(value, np.ndarray) else ""
        raise TypeError(f"wrong return type: {what} is {type(value).__name__}{shape}, expected a float")
    if not math.isfinite(number):
        raise ValueError(f"{what} is {number} (rewards must be finite)")
    return number


def _coerce(result, max_components, np):
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        kind = type(result).__name__ + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
        raise TypeError(f"wrong return type: compute_reward returned {kind}, expected (total, components dict)")
    total, components = result
    total = _number(total, "the total", np)
    if not isinstance(components, dict):
        raise TypeError(f"wrong return type: components is {type(components).__name__}, expected a dict")
    if len(components) > max_components:
        raise ValueError(f"{len(components)} components; at most {max_components} are allowed")
    out = {}
    for name, value in components.items():
        if not isinstance(name, str) or not name or len(name) > 64:
            raise TypeError(f"component name {repr(name)[:40]} must be a non-empty string of at most 64 characters")
        out[name] = _number(value, f"component {name!r}", np)
    return [total, out]


def _limit(kind, soft, hard=None):
    _, current_hard = resource.getrlimit(kind)
    hard = current_hard if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        soft = min(soft, current_hard)
        hard = min(hard, current_hard)
    resource.setrlimit(kind, (soft, hard))


def _cpu_used():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _drop_root():
    """Become ``nobody`` if started as root; returns the user the worker now runs as."""
    if os.geteuid() != 0:
        return f"uid {os.getuid()} (not root: nothing to drop)"
    import pwd

    try:
        entry = pwd.getpwnam("nobody")
        uid, gid = entry.pw_uid, entry.pw_gid
    except KeyError:
        uid = gid = 65534
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.geteuid() == 0 or os.getuid() == 0:
        raise OSError("the worker is still root after setresuid")
    return f"nobody (uid {uid}, gid {gid})"


def _load_seccomp():
    """Load the allow-list filter (no-new-privileges included); raises if it cannot be loaded."""
    import pyseccomp as seccomp

    policy = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
    for name in _ALLOWED_SYSCALLS:
        policy.add_rule(seccomp.ALLOW, name)
    # Only the worker's own CPU limit, raised before each call: prlimit64(0, RLIMIT_CPU, ...).
    for name in ("prlimit64", "setrlimit"):
        arguments = [seccomp.Arg(0, seccomp.EQ, 0)] if name == "prlimit64" else []
        arguments.append(seccomp.Arg(1 if name == "prlimit64" else 0, seccomp.EQ, resource.RLIMIT_CPU))
        policy.add_rule(seccomp.ALLOW, name, *arguments)
    for name in _FATAL_SYSCALLS:
        policy.add_rule(seccomp.KILL_PROCESS, name)
    policy.load()
    return f"allow-list of {len(_ALLOWED_SYSCALLS) + 2} system calls; {len(_FATAL_SYSCALLS)} kill the process"


def _confine(setup):
    """Apply the rlimits, drop root and load seccomp. Returns ``(layers, None)`` or ``(layers, unconfined)``."""
    _limit(resource.RLIMIT_CORE, 0, 0)
    _limit(resource.RLIMIT_FSIZE, 0, 0)
    _limit(resource.RLIMIT_NPROC, 0, 0)
    memory = int(setup["memory_mb"]) * 1024 * 1024
    _limit(resource.RLIMIT_AS, memory, memory)
    layers = {"rlimits": "address space, CPU per call, no file writes, no new files or processes, no core"}
    try:
        layers["user"] = _drop_root()
    except OSError as error:
        return layers, f"could not drop root to nobody ({error})"
    _limit(resource.RLIMIT_NOFILE, 3, 3)
    try:
        layers["seccomp"] = _load_seccomp()
    except Exception as error:
        reason = _one_line(f"{type(error).__name__}: {error}")
        if setup["seccomp"] == "required":
            return layers, f"could not load the seccomp filter ({reason})"
        layers["seccomp"] = f"missing ({reason})"
    return layers, None


def main():
    requests = Connection(0, writable=False)
    replies = Connection(1, readable=False)
    sys.stdout = sys.stderr

    def reply(message):
        replies.send_bytes(json.dumps(message).encode())

    setup = pickle.loads(requests.recv_bytes())
    import numpy as np
    import numpy.linalg

    try:
        import pyseccomp  # noqa: F401  (loads libseccomp before the filter forbids opening it)
    except Exception:
        pass
    namespaces = {**_curated(np, setup["numpy_names"]), **_curated(math, setup["math_names"])}
    source = setup["code"]
    cpu_seconds = int(setup["cpu_seconds"])
    os.chdir(setup["workdir"])
    namespace = {
        "__builtins__": _builtins(setup["builtins"], namespaces),
        "__name__": "reward",
        "np": namespaces["numpy"],
        "math": namespaces["math"],
    }
    lines = source.splitlines()
    layers, unconfined = _confine(setup)
    if unconfined is not None:
        reply({"unconfined": unconfined})
        return
    _limit(resource.RLIMIT_CPU, math.ceil(_cpu_used()) + cpu_seconds)
    guard, audit = _make_guard()
    if setup["audit_hook"]:
        sys.addaudithook(audit)
    del audit

    try:
        code = compile(source, "<reward>", "exec")
        guard["code"] = code
        guard["untrusted"] = True
        exec(code, namespace)
    except BaseException as error:
        guard["untrusted"] = False
        reply({"error": "defining the reward failed: " + _describe_exception(error, lines)})
        return
    finally:
        guard["untrusted"] = False
    function = namespace.get("compute_reward")
    if not isinstance(function, types.FunctionType) or function.__code__.co_argcount != 3:
        reply({"error": "compute_reward must be a function of (state, action, next_state)"})
        return
    reply({"ok": True, "layers": layers})

    max_components = int(setup["max_components"])
    while True:
        try:
            batch = pickle.loads(requests.recv_bytes())
        except EOFError:
            return
        _limit(resource.RLIMIT_CPU, math.ceil(_cpu_used()) + cpu_seconds)
        results = []
        for index, (state, action, next_state) in enumerate(batch):
            try:
                guard["untrusted"] = True
                try:
                    result = function(state, action, next_state)
                finally:
                    guard["untrusted"] = False
                results.append(_coerce(result, max_components, np))
            except BaseException as error:
                reply({"error": _describe_exception(error, lines), "index": index})
                break
        else:
            reply({"results": results})


if __name__ == "__main__":
    main()
