"""mentor.benchmarks.provenance: what every benchmark JSON says about where its figures came from."""

from __future__ import annotations

import sys
from datetime import datetime

from mentor.benchmarks.provenance import LoadSampler, provenance


def test_provenance_names_the_machine_the_command_and_the_date(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["benchmarks/llm_finetune.py", "--minutes", "45"])
    record = provenance(run_dir="runs/x")
    assert record["command"] == "python benchmarks/llm_finetune.py --minutes 45"
    assert record["run_dir"] == "runs/x" and record["cpus"] >= 1 and record["torch"]
    assert datetime.fromisoformat(record["date"]).tzinfo is not None


def test_the_load_sampler_reports_at_least_one_sample():
    sampler = LoadSampler(period=0.01)
    sampler.start()
    load = sampler.stop()
    assert load["samples"] >= 1 and load["max"] >= load["mean"] >= 0.0
