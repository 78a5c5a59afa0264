"""The benchmark agents by name: what ``mentor bench --agent NAME`` runs."""

from __future__ import annotations

from collections.abc import Callable

from mentor.benchmarks.agents import BenchAgent, RandomAgent, SB3BenchAgent
from mentor.benchmarks.llm_agents import (
    CoTLLMBenchAgent,
    ELLMBenchAgent,
    HierarchicalBenchAgent,
    HierarchicalSayCanBenchAgent,
    HierarchicalSB3BenchAgent,
    LLMPPOBenchAgent,
    NaiveLLMBenchAgent,
    SpringLLMBenchAgent,
)
from mentor.errors import UnknownComponentError

__all__ = ["BENCH_AGENTS", "make_bench_agent", "register_bench_agent"]

#: Agent name -> factory of its bench adapter.
BENCH_AGENTS: dict[str, Callable[[], BenchAgent]] = {
    "random": RandomAgent,
    "sb3-ppo": lambda: SB3BenchAgent("ppo"),
    "sb3-a2c": lambda: SB3BenchAgent("a2c"),
    "sb3-dqn": lambda: SB3BenchAgent("dqn"),
    "sb3-sac": lambda: SB3BenchAgent("sac"),
    # flat PPO given what the Crafter skills see and do: the hierarchy's fair baseline
    "sb3-ppo-skill-inputs": lambda: SB3BenchAgent(
        "ppo", env_wrapper="mentor.skills.crafter_inputs.CrafterSkillInputs", families=("crafter",)
    ),
    "llm-zero-shot": NaiveLLMBenchAgent,
    "llm-cot": CoTLLMBenchAgent,
    "llm-spring": SpringLLMBenchAgent,
    "ellm": ELLMBenchAgent,
    "hierarchical": HierarchicalBenchAgent,
    "hierarchical-saycan": HierarchicalSayCanBenchAgent,
    "hierarchical-sb3": HierarchicalSB3BenchAgent,
    "llm-ppo": LLMPPOBenchAgent,
}


def register_bench_agent(name: str, factory: Callable[[], BenchAgent]) -> None:
    """Make an agent available to ``mentor bench --agent NAME``."""
    BENCH_AGENTS[name] = factory


def make_bench_agent(name: str) -> BenchAgent:
    """A new bench adapter of the agent ``name``."""
    if name not in BENCH_AGENTS:
        raise UnknownComponentError("benchmark agent", name, BENCH_AGENTS)
    return BENCH_AGENTS[name]()
