"""mentor.benchmarks."""
