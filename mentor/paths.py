"""Where mentor keeps things: caches, run folders and config files (each overridable by an env variable)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root", "runs_root", "configs_root"]


def cache_root() -> Path:
    """Converted models, generated games and the LLM response cache: ``$MENTOR_CACHE`` or ``~/.cache/mentor``."""
    return Path(os.environ.get("MENTOR_CACHE") or Path.home() / ".cache" / "mentor").expanduser()


def runs_root() -> Path:
    """Run folders: ``$MENTOR_RUNS`` or ``./runs``."""
    return Path(os.environ.get("MENTOR_RUNS", "runs"))


def configs_root() -> Path:
    """The ``configs/`` folder: ``$MENTOR_CONFIGS`` or the one beside the package."""
    return Path(os.environ.get("MENTOR_CONFIGS", Path(__file__).resolve().parents[1] / "configs"))
