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


@pytest.fixture(autouse=True)
def _isolated_reference_cache(tmp_path, monkeypatch):
    """Reward reference episodes are cached per test, not in the user's cache shared by the whole run."""
    import mentor.rewards.references as references_module

    monkeypatch.setattr(references_module, "cache_root", lambda: tmp_path / "cache")


@pytest.fixture
def one_torch_thread():
    """One torch thread for the test (tiny-model ops are far slower with a thread pool on a busy CPU), then
    the count as it was; a module opts in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
