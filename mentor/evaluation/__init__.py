"""Evaluation: the benchmark protocols (:mod:`~mentor.evaluation.protocols`) and the episode loops on
held-out seeds (:mod:`~mentor.evaluation.episodes`) that every agent and benchmark shares."""
