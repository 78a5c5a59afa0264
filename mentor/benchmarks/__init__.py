"""Benchmarks: suites (:mod:`~mentor.benchmarks.suites`), bench adapters by name
(:mod:`~mentor.benchmarks.registry`), the runner, reports, plots and the leaderboard."""
