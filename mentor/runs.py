"""Run folders: ``runs/<date>-<name>/`` holding the config, ``metrics.jsonl``, checkpoints, plots and reports.

Everything a report or benchmark figure shows is computed from these files.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock, Timeout

from mentor.errors import ConfigError
from mentor.paths import runs_root

__all__ = ["RunDir", "runs_root", "atomic_write_text", "resume_run"]

_STAMP = r"\d{4}-\d{2}-\d{2}_\d{6}"


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")


@dataclass(frozen=True)
class RunDir:
    """One run's folder and the files in it.

    Example:
        >>> run = RunDir.create("sb3-ppo-doorkey")  # doctest: +SKIP
        >>> run.append_metrics({"kind": "episode", "step": 128, "return": 0.9})  # doctest: +SKIP
    """

    path: Path

    @classmethod
    def create(cls, name: str, root: Path | str | None = None) -> RunDir:
        """A new, empty run folder named ``<YYYY-MM-DD_HHMMSS>-<name>``."""
        root = Path(root) if root is not None else runs_root()
        stamp = datetime.now().strftime("%Y-%m-%d_%H%M%S")
        root.mkdir(parents=True, exist_ok=True)
        suffix = 1
        while True:
            path = root / (f"{stamp}-{_slug(name)}" + (f"-{suffix}" if suffix > 1 else ""))
            try:
                path.mkdir()  # atomic: of two runs started in the same second, one gets the next suffix
            except FileExistsError:
                suffix += 1
                continue
            return cls(path)

    @classmethod
    def latest(cls, name: str, root: Path | str | None = None) -> RunDir | None:
        """The newest run folder named ``<date>-<name>`` (or ``<date>-<name>-<n>``, see :meth:`create`), or ``None``."""
        root = Path(root) if root is not None else runs_root()
        if not root.is_dir():
            return None
        pattern = re.compile(rf"{_STAMP}-{re.escape(_slug(name))}(-\d+)?")
        matches = sorted(p for p in root.iterdir() if p.is_dir() and pattern.fullmatch(p.name))
        return cls(matches[-1]) if matches else None

    def lock(self) -> FileLock:
        """Hold this folder for this process until it exits; a second writer process is refused.

        Re-entrant within one process (a resumed run in the same process takes the lock it holds).

        Raises:
            ConfigError: another process holds it.
        """
        key = str(self.path.resolve())
        if key in _HELD_LOCKS:
            return _HELD_LOCKS[key]
        lock = FileLock(self.path / ".lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise ConfigError(
                f"the run folder {self.path} is in use by another process; wait for it to finish or stop it first."
            ) from None
        _HELD_LOCKS[key] = lock
        return lock

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tb"

    @property
    def report_path(self) -> Path:
        return self.path / "report.md"

    def file(self, name: str) -> Path:
        return self.path / name

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_text(self.config_path, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        return yaml.safe_load(self.config_path.read_text())

    def write_json(self, name: str, data: Any) -> Path:
        path = self.path / name
        atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")
        return path

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())

    def append_metrics(self, record: dict[str, Any]) -> None:
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(record, default=_json_default) + "\n")

    def iter_metrics(self, kind: str | None = None) -> Iterator[dict[str, Any]]:
        """Records of ``metrics.jsonl`` (of one ``kind``); a torn last line from a kill is skipped."""
        if not self.metrics_path.exists():
            return
        with self.metrics_path.open() as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if kind is None or record.get("kind") == kind:
                    yield record

    def truncate_metrics(self, max_step: int) -> None:
        """Drop records logged after env step ``max_step`` (used when resuming from a checkpoint)."""
        kept = [r for r in self.iter_metrics() if r.get("step", 0) <= max_step]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))


#: Locks this process holds; released when it exits (the OS drops them even on SIGKILL).
_HELD_LOCKS: dict[str, FileLock] = {}


def resume_run(name: str, expected: dict[str, Any] | None = None, root: Path | str | None = None) -> RunDir:
    """The newest run named exactly ``name``, checked against the flags of the command that resumes it.

    Args:
        name: the run name (the folder is ``<date>-<name>``).
        expected: config fields the saved ``config.yaml`` must hold (e.g. env id, algorithm, seed).

    Raises:
        ConfigError: no such run, or its saved config differs in some of ``expected`` (each field named).
    """
    run = RunDir.latest(name, root)
    if run is None:
        where = root if root is not None else os.environ.get("MENTOR_RUNS", "runs")
        raise ConfigError(f"--resume found no run named {name!r} under {where}/.")
    saved = run.read_config() if run.config_path.exists() else {}
    differing = [
        f"{key} (saved {saved.get(key)!r}, given {value!r})"
        for key, value in (expected or {}).items()
        if saved.get(key) != value
    ]
    if differing:
        raise ConfigError(
            f"--resume refuses {run.path.name}: it was started with other settings: {'; '.join(differing)}. "
            "Pass the flags it was started with, or another --name."
        )
    return run


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
