"""Shared fixtures: every test writes runs and caches into its own temporary folders."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MENTOR_RUNS", str(tmp_path / "runs"))
    # `mentor --no-llm-cache` sets MENTOR_LLM_CACHE in the process; undo it after each test.
    monkeypatch.delenv("MENTOR_LLM_CACHE", raising=False)
