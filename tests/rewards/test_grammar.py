"""The reward grammar: it accepts rewards written in its subset, rejects reads of missing fields and
unassigned locals, and every program a tiny random model samples under it parses, passes the gate and runs."""

from __future__ import annotations

import pytest

import mentor.envs as menvs
from mentor.llm import LLMConfig, make_llm
from mentor.llm.grammar_masking import accepts
from mentor.llm.testing import make_tiny_tokenizer
from mentor.rewards.grammar import RewardGrammarConfig, reward_grammar
from mentor.rewards.rollouts import record_random_steps
from mentor.rewards.sandbox import screen_reward_code
from mentor.rewards.tasks import load_reward_tasks

HEADER = "def compute_reward(state, action, next_state):\n"
TASKS = load_reward_tasks()


@pytest.fixture(scope="module")
def tokenizer():
    return make_tiny_tokenizer()


def _grammar(task_name):
    task = TASKS[task_name]
    env = menvs.make(task.env_id, **task.env_kwargs)
    try:
        return reward_grammar(env)
    finally:
        env.close()


#: The suite's MuJoCo human reward, in the grammar's subset (locals c0, c1, ...; np is in scope).
FORWARD = (
    HEADER + "    c0 = (next_state.x_position - state.x_position) / next_state.dt\n"
    "    c1 = float(next_state.is_healthy)\n"
    "    c2 = -0.001 * float(np.sum(np.square(action)))\n"
    '    return c0 + c1 + c2, {"forward": c0, "healthy": c1, "control": c2}'
)


@pytest.mark.parametrize("task", ["hopper_hop", "walker_walk", "ant_run"])
def test_the_grammar_accepts_the_human_reward_in_its_subset(task, tokenizer):
    assert accepts(_grammar(task), FORWARD, tokenizer)


@pytest.mark.parametrize(
    ("task", "code"),
    [
        ("doorkey", HEADER + '    c0 = float(next_state.carrying is not None and next_state.carrying.type == "key")\n'),
        (
            "crafter_collect_wood",
            HEADER + "    c0 = next_state.inventory.get('wood', 0) - state.inventory.get('wood', 0)\n",
        ),
    ],
)
def test_the_grammar_reads_family_fields(task, code, tokenizer):
    code = code.replace('"key"', "'key'") + '    return c0, {"progress": c0}'
    assert accepts(_grammar(task), code, tokenizer)


@pytest.mark.parametrize(
    "code",
    [
        HEADER + '    c0 = next_state.y_position\n    return c0, {"a": c0}',  # no such field
        HEADER + '    c0 = 1\n    return c0 + c1, {"a": c0}',  # c1 is never assigned
        HEADER + '    c0 = 1 / state.x_velocity\n    return c0, {"a": c0}',  # may divide by zero
        HEADER + '    c0 = state.joint_positions.get("nope", 0.0)\n    return c0, {"a": c0}',  # no such joint
        HEADER + '    import os\n    c0 = 1\n    return c0, {"a": c0}',
    ],
)
def test_the_grammar_rejects_what_cannot_run(code, tokenizer):
    assert not accepts(_grammar("halfcheetah_forward"), code, tokenizer)


@pytest.mark.parametrize(
    "line",
    [
        "c0 = 1.0",
        "c0 = 0.5 * (2 + 1)",
        "c0 = (1 if 2 > 1 else 0)",
        "c0 = abs(-3)",
    ],
)
def test_a_grounded_grammar_rejects_constant_components(line, tokenizer):
    code = (
        f'{HEADER}    c0 = state.x_velocity\n    {line.replace("c0", "c1")}\n    return c0 + c1, {{"a": c0, "b": c1}}'
    )
    assert not accepts(_grammar("halfcheetah_forward"), code, tokenizer)
    env = menvs.make("mentor/HalfCheetah-v5")
    assert accepts(reward_grammar(env, RewardGrammarConfig(grounded=False)), code, tokenizer)
    env.close()


@pytest.mark.parametrize(
    "line",
    [
        "c1 = 1.0 - abs(next_state.x_velocity)",
        "c1 = 0.5 * min(state.x_velocity, 3)",
        "c1 = (1 if next_state.x_position > state.x_position else 0)",
        "c1 = -math.exp(-abs(2 * next_state.x_velocity))",
    ],
)
def test_a_grounded_grammar_accepts_components_that_read_the_state(line, tokenizer):
    code = f'{HEADER}    c0 = state.x_velocity\n    {line}\n    return c0 + c1, {{"a": c0, "b": c1}}'
    assert accepts(_grammar("halfcheetah_forward"), code, tokenizer)


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_sample_of_a_tiny_model_parses_passes_the_gate_and_runs(task):
    grammar = _grammar(task)
    llm = make_llm(LLMConfig("transformers:tiny", cache=False, seed=None))
    episodes = record_random_steps(TASKS[task].env_id, 16, seed=0, env_kwargs=TASKS[task].env_kwargs)
    transitions = [t for e in episodes for t in e.transitions]
    for seed in range(3):
        llm.config.seed = seed
        (code,) = llm.generate("Write the reward.", max_new_tokens=800, temperature=1.0, constraint=grammar)
        assert screen_reward_code(code + "\n", transitions) == ("valid", None), code


def test_the_gbnf_form_for_llamacpp_servers_accepts_the_same_code(tokenizer):
    from mentor.llm.constraints import Grammar

    grammar = _grammar("hopper_hop")
    as_gbnf = Grammar(_lark_of_gbnf(grammar.gbnf))
    assert accepts(as_gbnf, FORWARD, tokenizer)
    assert not accepts(as_gbnf, FORWARD.replace("next_state.dt", "state.x_velocity"), tokenizer)


def _lark_of_gbnf(gbnf: str) -> str:
    """llguidance's own GBNF reader, so that the GBNF is checked by a parser other than ours."""
    from llguidance.gbnf_to_lark import any_to_lark

    return any_to_lark(gbnf)
