import json

import pytest

from mentor.agents.zero_shot import (
    CoTLLMAgent,
    NaiveLLMAgent,
    SpringLLMAgent,
    ZeroShotConfig,
    context_document,
    crafter_context_document,
    make_env_with_horizon,
    noop_action,
)
from mentor.benchmarks.agents import CellJob
from mentor.benchmarks.llm_agents import NaiveLLMBenchAgent
from mentor.envs import TextObservation, make
from mentor.errors import ConfigError, UnknownComponentError
from mentor.llm import make_llm
from mentor.llm.testing import ScriptedLLM

OBS = TextObservation("go to the red ball", "You see a red ball 2 steps forward", ("turn left", "go forward"))


@pytest.mark.parametrize(
    "env_id,noop",
    [("mentor/Crafter-Symbolic-v0", 0), ("mentor/BabyAI-GoToObj-v0", 6)],
)
def test_invalid_answer_plays_the_noop_and_is_counted(env_id, noop):
    env = make(env_id)
    env.reset(seed=0)
    agent = NaiveLLMAgent(ScriptedLLM(["fly to the moon", "go forward"]), family="minigrid")
    assert int(agent(None, env)) == noop
    assert (agent.num_steps, agent.num_invalid) == (1, 1)
    assert agent.stats()["invalid_rate"] == 1.0
    assert noop_action(env) == noop


def test_valid_answers_are_mapped_and_not_counted():
    env = make("mentor/BabyAI-GoToObj-v0")
    env.reset(seed=0)
    agent = NaiveLLMAgent(ScriptedLLM(["Go forward."]), family="minigrid")
    assert int(agent(None, env)) == 2 and agent.num_invalid == 0


def test_textworld_noop_is_look():
    env = make("mentor/TextWorld-Easy-v0")
    env.reset(seed=0)
    assert noop_action(env) == "look"
    env.close()


def test_mujoco_has_no_noop():
    with pytest.raises(ValueError, match=r"envs of family 'mujoco' have no no-op action"):
        noop_action(make("mentor/HalfCheetah-v5"))


def test_naive_prompt_text_and_history_window():
    llm = ScriptedLLM(["go forward", "turn left", "nonsense"])
    agent = NaiveLLMAgent(llm, ZeroShotConfig(history=2), family="minigrid")
    for _ in range(3):
        agent.act(OBS)
    user = agent.messages(OBS, NaiveLLMAgent.REQUEST)[1]["content"]
    assert user == (
        "Goal: go to the red ball\n\n"
        "Recent steps, oldest first:\n"
        "Observation: You see a red ball 2 steps forward\n"
        "Action: turn left\n"
        "Observation: You see a red ball 2 steps forward\n"
        "Action: 'nonsense' (invalid: nothing happened)\n\n"
        "Current observation:\nYou see a red ball 2 steps forward\n\n"
        "Possible actions: turn left, go forward\n\n"
        "Choose one of the possible actions, and write only that action.\nAction:"
    )
    assert llm.requests[0][0]["content"].startswith("You are an agent in BabyAI")
    agent.reset()
    assert "Recent steps" not in agent.messages(OBS, "")[1]["content"]


def test_cot_needs_an_action_line():
    agent = CoTLLMAgent(
        ScriptedLLM(["The ball is ahead. Action: go forward", "The ball is ahead, so go forward."]), family="minigrid"
    )
    assert agent.act(OBS) == "go forward"
    assert agent.act(OBS) is None  # mentions an action but never commits to one
    assert agent.num_invalid == 1


def test_spring_asks_its_questions_then_the_action():
    llm = ScriptedLLM(["The red ball matters.", "Walk to it; nothing is needed.", "Action: go forward"])
    agent = SpringLLMAgent(llm, family="crafter")
    assert agent.act(OBS) == "go forward"
    assert len(llm.requests) == 3
    system, *turns = llm.requests[-1]
    assert "Context about the game:" in system["content"] and "make wood pickaxe" in system["content"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant", "user"]
    assert turns[-1]["content"].startswith("Now choose the best action.")


def test_score_method_always_picks_an_admissible_action():
    agent = NaiveLLMAgent(make_llm("transformers:tiny", cache=False), ZeroShotConfig(method="score"), family="minigrid")
    assert agent.act(OBS) in OBS.actions
    assert agent.scoring_prompt(OBS).endswith("<|im_start|>assistant\nAction:")
    assert agent.num_invalid == 0


@pytest.mark.parametrize("agent_class", [NaiveLLMAgent, CoTLLMAgent, SpringLLMAgent])
def test_constrained_answers_are_always_admissible_actions(agent_class):
    env = make("mentor/Crafter-Symbolic-v0")
    env.reset(seed=0)
    llm = make_llm("transformers:tiny", cache=False)
    config = ZeroShotConfig(reasoning_tokens=8, questions=("What do you see?",))
    agent = agent_class(llm, config, family="crafter")
    for _ in range(3):
        env.step(agent(None, env))
    assert agent.num_steps == 3 and agent.num_invalid == 0
    assert llm.usage.constrained_calls == 3


def test_free_text_protocol_stays_available():
    llm = make_llm("transformers:tiny", cache=False)
    agent = NaiveLLMAgent(llm, ZeroShotConfig(constrain_action=False), family="minigrid")
    agent.act(OBS)
    assert llm.usage.constrained_calls == 0


def test_crafter_context_document_comes_from_data_yaml():
    document = crafter_context_document()
    assert "- stone gives 1 stone (needs a wood pickaxe)." in document
    assert "- make iron pickaxe: uses 1 wood and 1 coal and 1 iron; needs a nearby table and furnace." in document
    assert "place table: uses" in document and "Achievements: collect coal" in document
    assert "toggle" in context_document("minigrid") and "cookbook" in context_document("textworld")
    with pytest.raises(UnknownComponentError, match=r"Unknown zero-shot agent family 'mujoco'"):
        context_document("mujoco")


def test_horizon():
    env = make_env_with_horizon("mentor/BabyAI-GoToObj-v0", 2)
    env.reset(seed=0)
    assert env.step(0)[3] is False and env.step(0)[3] is True
    crafter = make_env_with_horizon("mentor/Crafter-Symbolic-v0", 1)
    crafter.reset(seed=0)
    assert crafter.step(0)[3] is True
    with pytest.raises(ValueError, match=r"max_steps \(0\) must be at least 1"):
        make_env_with_horizon("mentor/BabyAI-GoToObj-v0", 0)


@pytest.mark.parametrize(
    "fields,match",
    [
        ({"history": -1}, r"history \(-1\) must be at least 0"),
        ({"method": "vote"}, r"method \('vote'\) must be one of generate, score"),
        ({"action_tokens": 0}, r"action_tokens \(0\) must be at least 1"),
        ({"temperature": -0.5}, r"temperature \(-0.5\) must be 0 \(greedy\) or positive"),
    ],
)
def test_config_rejects_bad_values(fields, match):
    with pytest.raises(ConfigError, match=match):
        ZeroShotConfig(**fields)


def test_unknown_family():
    with pytest.raises(UnknownComponentError, match=r"Unknown zero-shot agent family 'atari'"):
        NaiveLLMAgent(ScriptedLLM(), family="atari")


def test_bench_cell_writes_outcomes_usage_and_invalid_counts(tmp_path, monkeypatch):
    monkeypatch.setenv("MENTOR_CACHE", str(tmp_path / "cache"))
    job = CellJob(
        "llm-zero-shot",
        "mentor/BabyAI-GoToObj-v0",
        seed=0,
        budget=100,
        eval_episodes=2,
        cell_dir=str(tmp_path / "cell"),
        options={"max_steps": 3, "action_tokens": 4},
        llm="transformers:tiny",
    )
    NaiveLLMBenchAgent().run(job)
    evaluation = json.loads((tmp_path / "cell" / "eval.json").read_text())
    stats = json.loads((tmp_path / "cell" / "zero_shot.json").read_text())
    usage = json.loads((tmp_path / "cell" / "llm_usage.json").read_text())
    cell = json.loads((tmp_path / "cell" / "cell.json").read_text())
    assert evaluation["episodes"] == 2 and all(o["length"] <= 3 for o in evaluation["outcomes"])
    assert stats["steps"] == sum(o["length"] for o in evaluation["outcomes"])
    assert 0 <= stats["invalid_actions"] <= stats["steps"]
    assert usage["calls"] == stats["steps"] and cell["env_steps"] == 0
