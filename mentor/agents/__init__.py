"""Composed agents: zero-shot LLM agents (:mod:`~mentor.agents.zero_shot`), ELLM (:mod:`~mentor.agents.ellm`),
the hierarchical agent (:mod:`~mentor.agents.hierarchical`) and the online RL fine-tuning of an LLM policy
(:mod:`~mentor.agents.llm_ppo`, :mod:`~mentor.agents.llm_policy`)."""
