"""The sandbox process: runs one candidate's ``compute_reward`` on transitions sent over a pipe.

Started by :class:`mentor.rewards.sandbox.RewardSandbox` as ``python -I sandbox_worker.py`` (a
script, so it imports nothing of mentor: only the standard library and numpy). Its stdin carries
requests (pickles from the trusted parent) and its stdout carries replies (JSON only, so the parent
never unpickles anything the candidate could have shaped).

Layers inside this process, set up before the candidate's code runs:

- resource limits: address space, CPU time per call, no file writes (``RLIMIT_FSIZE`` 0), no new
  file descriptors (``RLIMIT_NOFILE`` at the three already open), no child processes, no core files;
- an audit hook that refuses every audited operation (``open``, ``os.*``, ``subprocess.*``,
  ``socket.*``, ``import``, ``compile``, ``exec``, frame access, ...) while candidate code runs;
- restricted builtins (a safe subset, ``print`` is a no-op) and an ``__import__`` that hands out
  only ``math`` and a numpy namespace without file or library I/O;
- an empty working directory.

Protocol (each message one ``Connection`` frame): the parent first sends the setup
``{"code", "memory_mb", "cpu_seconds", "max_components", "workdir"}`` and gets ``{"ok": true}`` or
``{"error": reason}``; then each request is a list of ``(state, action, next_state)`` and each reply
``{"results": [[total, {name: value}], ...]}`` or ``{"error": reason, "index": i}``.
"""

import json
import math
import os
import pickle
import resource
import sys
import types
from multiprocessing.connection import Connection

_ALLOWED_BUILTINS = (
    "abs",
    "all",
    "any",
    "bool",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "frozenset",
    "int",
    "isinstance",
    "iter",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "pow",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "slice",
    "sorted",
    "str",
    "sum",
    "tuple",
    "zip",
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "Exception",
    "IndexError",
    "KeyError",
    "OverflowError",
    "RuntimeError",
    "TypeError",
    "ValueError",
    "ZeroDivisionError",
    "True",
    "False",
    "None",
)

#: numpy names left out of the namespace reward code sees: file and library I/O, and test/build tools.
_NUMPY_HIDDEN = {
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
    "ctypeslib",
    "f2py",
    "distutils",
    "testing",
    "lib",
    "DataSource",
    "show_config",
    "show_runtime",
    "rec",
    "char",
    "strings",
    "ma",
    "polynomial",
    "typing",
    "exceptions",
    "dtypes",
    "core",
}

#: The import function and ``print`` reward code gets, defined in a namespace of their own so that
#: their ``__globals__`` hold nothing but ``math`` and the numpy namespace.
_HELPERS = """
def restricted_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name == "math":
        return math
    if level == 0 and name.split(".")[0] == "numpy":
        return numpy_module
    raise ImportError(f"import of {name!r} is not allowed (allowed: math, numpy)")

def print(*args, **kwargs):
    return None
"""


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


def _safe_numpy(np):
    module = types.ModuleType("numpy")
    for name in dir(np):
        if not name.startswith("_") and name not in _NUMPY_HIDDEN:
            try:
                setattr(module, name, getattr(np, name))
            except Exception:  # lazily-loaded names that fail to load are simply left out
                continue
    return module


def _builtins(numpy_module):
    import builtins

    safe = {name: getattr(builtins, name) for name in _ALLOWED_BUILTINS}
    helpers = {"__builtins__": {"ImportError": ImportError}, "math": math, "numpy_module": numpy_module}
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


def main():
    requests = Connection(0, writable=False)
    replies = Connection(1, readable=False)
    sys.stdout = sys.stderr

    def reply(message):
        replies.send_bytes(json.dumps(message).encode())

    setup = pickle.loads(requests.recv_bytes())
    import numpy as np
    import numpy.fft
    import numpy.linalg
    import numpy.random

    numpy_module = _safe_numpy(np)
    source = setup["code"]
    cpu_seconds = int(setup["cpu_seconds"])
    os.chdir(setup["workdir"])
    code = compile(source, "<reward>", "exec")
    namespace = {"__builtins__": _builtins(numpy_module), "__name__": "reward", "np": numpy_module, "math": math}

    _limit(resource.RLIMIT_CORE, 0, 0)
    _limit(resource.RLIMIT_FSIZE, 0, 0)
    _limit(resource.RLIMIT_NPROC, 0, 0)
    _limit(resource.RLIMIT_NOFILE, 3, 3)
    memory = int(setup["memory_mb"]) * 1024 * 1024
    _limit(resource.RLIMIT_AS, memory, memory)
    _limit(resource.RLIMIT_CPU, math.ceil(_cpu_used()) + cpu_seconds)
    guard, audit = _make_guard()
    sys.addaudithook(audit)
    del audit

    lines = source.splitlines()
    guard["code"] = code
    try:
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
    reply({"ok": True})

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
