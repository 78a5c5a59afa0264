"""Constrained against unconstrained decoding with the embedded model, measured in one run.

Four figures, each for the same model, prompts and seeds with and without the constraint (the
unconstrained side is the same LLM with its constraint support switched off, so callers fall back to
parsing free text exactly as they do for a backend without constraints):

- ``planner_valid_plan_rate``: planner calls that yield a usable plan (at least one offered skill,
  no unknown skill), on the 4 hierarchical MiniGrid levels, from the skill library's state after reset;
- ``reward_valid_code_rate``: reward answers to the loop's first prompt that parse, pass the gate and
  run on recorded transitions, on the 8 suite tasks (``--samples`` each);
- ``zero_shot_valid_action_rate``: naive zero-shot actions that are admissible, on BabyAI-Text and Crafter;
- ``tokens_per_s_ratio``: constrained over unconstrained generation speed (a bounded regex of words,
  against free generation), completion tokens per second.

    python benchmarks/constrained_decoding.py                 # about 15 minutes on 2 cores
    python benchmarks/constrained_decoding.py --samples 2 --seeds 2 --steps 5

Writes benchmarks/results/constrained_decoding.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from mentor.agents.hierarchical import DEMO_SKILL_ENV_IDS
from mentor.agents.zero_shot import NaiveLLMAgent, ZeroShotConfig
from mentor.benchmarks.provenance import provenance
from mentor.benchmarks.suites import load_suite
from mentor.envs import make
from mentor.llm import make_llm
from mentor.llm.constraints import Regex
from mentor.planners.planner import Planner
from mentor.rewards.grammar import reward_grammar
from mentor.rewards.prompts import extract_code, initial_messages
from mentor.rewards.rollouts import record_random_steps
from mentor.rewards.sandbox import screen_reward_code
from mentor.rewards.state import describe_state
from mentor.rewards.tasks import load_reward_tasks
from mentor.skills.library import make_skill_library

RESULTS = Path(__file__).parent / "results" / "constrained_decoding.json"
#: BALROG's BabyAI tasks (the babyai-text suite) and Crafter.
ZERO_SHOT_ENVS = (*load_suite("babyai-text").envs, "mentor/Crafter-Symbolic-v0")


class Unconstrained:
    """The same LLM with constraint support switched off, for the free-text side of every comparison."""

    def __init__(self, llm):
        self._llm = llm

    def __getattr__(self, name):
        return getattr(self._llm, name)

    @property
    def supports_constraints(self) -> bool:
        return False


def planner_rate(llm, seeds: int) -> dict:
    planner_stats, usable = [], 0
    calls = 0
    for env_id in DEMO_SKILL_ENV_IDS:
        env = make(env_id)
        library = make_skill_library(env, env_id)
        planner = Planner(
            llm, examples=library.planner_examples, rules=library.planner_rules, key_words=library.planner_key_words
        )
        for seed in range(seeds):
            obs, info = env.reset(seed=1000 + seed)
            library.reset(obs, info)
            skills = library.planner_skills()
            before = planner.stats.unknown_skills
            plan = planner.plan(library.text(), skills)
            calls += 1
            usable += bool(plan) and planner.stats.unknown_skills == before
        planner_stats.append(planner.stats.to_dict())
        env.close()
    unknown = sum(s["unknown_skills"] for s in planner_stats)
    fallbacks = sum(s["plan_fallbacks"] for s in planner_stats)
    return {"calls": calls, "usable": usable, "rate": usable / calls, "unknown_skills": unknown, "fallbacks": fallbacks}


def reward_rate(llm, samples: int, max_new_tokens: int, constrained: bool) -> dict:
    tasks = load_reward_tasks()
    per_task, valid, total = {}, 0, 0
    for name, task in sorted(tasks.items()):
        env = make(task.env_id, **task.env_kwargs)
        messages = initial_messages(task, describe_state(env), "eureka")
        constraint = reward_grammar(env) if constrained else None
        env.close()
        transitions = [t for e in record_random_steps(task.env_id, 32, 0, task.env_kwargs) for t in e.transitions]
        torch.manual_seed(0)
        llm.config.seed = 0
        answers = llm.generate(
            messages, max_new_tokens=max_new_tokens, temperature=0.7, n=samples, constraint=constraint
        )
        reasons = []
        for answer in answers:
            code = extract_code(answer)
            stage, reason = ("extraction", "no code") if code is None else screen_reward_code(code, transitions)
            valid += stage == "valid"
            reasons.append(reason)
        total += len(answers)
        per_task[name] = {"valid": sum(r is None for r in reasons), "samples": len(answers), "reasons": reasons}
    return {"valid": valid, "samples": total, "rate": valid / total, "tasks": per_task}


def zero_shot_rate(llm, steps: int, constrained: bool) -> dict:
    per_env, invalid, total = {}, 0, 0
    for env_id in ZERO_SHOT_ENVS:
        env = make(env_id)
        family = "crafter" if "Crafter" in env_id else "minigrid"
        agent = NaiveLLMAgent(llm, ZeroShotConfig(constrain_action=constrained), family=family)
        env.reset(seed=1000)
        for _ in range(steps):
            _, _, terminated, truncated, _ = env.step(agent(None, env))
            if terminated or truncated:
                env.reset()
        per_env[env_id] = agent.stats()
        invalid += agent.num_invalid
        total += agent.num_steps
        env.close()
    return {"steps": total, "invalid": invalid, "rate": 1 - invalid / total, "envs": per_env}


def tokens_per_s(llm, constrained: bool, repeats: int) -> float:
    constraint = Regex("[a-z]+( [a-z]+){0,40}") if constrained else None
    tokens = seconds = 0.0
    for i in range(repeats):
        before = llm.usage.completion_tokens
        start = time.perf_counter()
        llm.generate(f"Describe a grid world, part {i}.", max_new_tokens=48, constraint=constraint)
        seconds += time.perf_counter() - start
        tokens += llm.usage.completion_tokens - before
    return tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", default=os.environ.get("MENTOR_LLM"), help="LLM spec (default: embedded).")
    parser.add_argument("--seeds", type=int, default=5, help="Planner calls per level.")
    parser.add_argument("--samples", type=int, default=3, help="Reward answers per task.")
    parser.add_argument("--max-new-tokens", type=int, default=320, help="Most tokens of a reward answer.")
    parser.add_argument("--steps", type=int, default=6, help="Zero-shot steps per env.")
    parser.add_argument("--repeats", type=int, default=4, help="Generations per side of the speed figure.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    llm = make_llm(args.llm, cache=False)
    free = Unconstrained(llm)
    start = time.perf_counter()
    results = {
        "planner": {"constrained": planner_rate(llm, args.seeds), "unconstrained": planner_rate(free, args.seeds)},
        "reward": {
            "constrained": reward_rate(llm, args.samples, args.max_new_tokens, True),
            "unconstrained": reward_rate(llm, args.samples, args.max_new_tokens, False),
        },
        "zero_shot": {
            "constrained": zero_shot_rate(llm, args.steps, True),
            "unconstrained": zero_shot_rate(llm, args.steps, False),
        },
    }
    constrained_speed = tokens_per_s(llm, True, args.repeats)
    free_speed = tokens_per_s(llm, False, args.repeats)
    summary = {
        "planner_valid_plan_rate": results["planner"]["constrained"]["rate"],
        "planner_valid_plan_rate_unconstrained": results["planner"]["unconstrained"]["rate"],
        "planner_unknown_skills": results["planner"]["constrained"]["unknown_skills"],
        "planner_unknown_skills_unconstrained": results["planner"]["unconstrained"]["unknown_skills"],
        "reward_valid_code_rate": results["reward"]["constrained"]["rate"],
        "reward_valid_code_rate_unconstrained": results["reward"]["unconstrained"]["rate"],
        "zero_shot_valid_action_rate": results["zero_shot"]["constrained"]["rate"],
        "zero_shot_valid_action_rate_unconstrained": results["zero_shot"]["unconstrained"]["rate"],
        "tokens_per_s_constrained": constrained_speed,
        "tokens_per_s_unconstrained": free_speed,
        "tokens_per_s_ratio": constrained_speed / free_speed,
    }
    table = Table(title=f"constrained vs unconstrained decoding ({llm.config.spec})")
    for column in ("figure", "constrained", "unconstrained"):
        table.add_column(column)
    for key in (
        "planner_valid_plan_rate",
        "planner_unknown_skills",
        "reward_valid_code_rate",
        "zero_shot_valid_action_rate",
    ):
        table.add_row(key, f"{summary[key]:.3g}", f"{summary[key + '_unconstrained']:.3g}")
    table.add_row("tokens/s", f"{constrained_speed:.1f}", f"{free_speed:.1f}")
    Console().print(table)
    print(f"tokens_per_s_ratio: {summary['tokens_per_s_ratio']:.2f}")
    out = {
        **summary,
        "details": results,
        "settings": vars(args) | {"out": str(args.out)},
        "llm": llm.info(),
        "seconds": time.perf_counter() - start,
        **provenance(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
