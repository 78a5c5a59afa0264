import dataclasses
import json
import re

import pytest
from stable_baselines3 import A2C

import mentor.agents.hierarchical as hierarchical_module
from mentor.agents.hierarchical import (
    DEMO_SKILL_ENV_IDS,
    HierarchicalAgent,
    HierarchicalConfig,
    find_zoo,
    resolve_zoo,
    run_hierarchical_demo,
)
from mentor.benchmarks.agents import CellJob
from mentor.benchmarks.llm_agents import HierarchicalBenchAgent, HierarchicalSayCanBenchAgent, HierarchicalSB3BenchAgent
from mentor.benchmarks.registry import make_bench_agent
from mentor.errors import ConfigError, UnknownComponentError
from mentor.llm import make_llm
from mentor.llm.testing import ScriptedLLM
from mentor.planners.planner import PlannerConfig
from mentor.runs import RunDir
from mentor.skills.zoo import SkillZooConfig, train_skill_zoo

LEVEL = "mentor/BabyAI-UnlockPickup-v0"
TINY = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    run = RunDir.create("skills-minigrid", tmp_path_factory.mktemp("zoo"))
    train_skill_zoo(SkillZooConfig([LEVEL], total_timesteps=128, hyperparams=TINY, eval_episodes=4), run)
    return run.path


def _agent(tmp_path, zoo_dir, llm=None, **kwargs):
    kwargs.setdefault("affordance", "none")  # the tiny zoo's values would veto planned steps
    config = HierarchicalConfig(LEVEL, zoo=str(zoo_dir), max_options=6, **kwargs)
    return HierarchicalAgent(config, RunDir.create("h", tmp_path), llm=llm)


def test_llm_planner_episode_reports_outcome_trace_and_llm_cost(tmp_path, zoo_dir):
    llm = ScriptedLLM(["1. pick up the green key\n2. explore"])
    agent = _agent(tmp_path, zoo_dir, llm)
    episode = agent.run_episode(agent.make_options_env(), seed=0)
    assert episode["outcome"]["length"] == episode["env_steps"] > 0
    assert 1 <= len(episode["trace"]) <= 6 == agent.config.max_options
    assert episode["trace"][0]["skill"] == "pick up the green key" and episode["trace"][0]["by"] == "plan"
    assert episode["llm_calls"] == llm.usage.calls >= 1
    assert episode["llm_tokens"] == llm.usage.total_tokens > 0


def test_saycan_planner_uses_the_llm_scores(tmp_path, zoo_dir):
    llm = ScriptedLLM(scorer=lambda prompt, candidate: 0.0 if "explore" in candidate else -9.0)
    agent = _agent(tmp_path, zoo_dir, llm, planner="saycan", affordance="none")
    result = agent.evaluate(2)
    assert result["episodes"] == 2 and len(result["outcomes"]) == 2
    first = result["episode_runs"][0]["trace"][0]
    assert first["skill"] == "explore" and first["by"] == "saycan"
    assert result["planner_stats"]["saycan_decisions"] >= 2 and result["planner_stats"]["plans"] == 0
    assert result["llm_calls_per_episode"] > 0 and llm.requests == []
    assert result["env_steps"] == agent.zoo.num_env_steps == agent.zoo.num_timesteps + agent.zoo.eval_env_steps
    assert agent.zoo.eval_env_steps > 0  # the zoo's skill-evaluation runs are counted too


@pytest.mark.parametrize("affordance", ["value", "success_rate"])
def test_affordances_come_from_the_zoo(tmp_path, zoo_dir, affordance):
    agent = _agent(tmp_path, zoo_dir, ScriptedLLM(scorer=lambda p, c: 0.0), planner="saycan", affordance=affordance)
    agent.prepare_skills()
    env = agent.make_options_env()
    _, info = env.reset(seed=0)
    skills = env.planner_skills()
    values = info["affordances"]
    assert list(values) == [s.name for s in skills] and all(0.0 <= v <= 1.0 for v in values.values())
    if affordance == "success_rate":
        assert values == {s.name: agent.zoo.success_rate(s) for s in skills}
    else:
        assert values == dict(zip(values, env.affordances(skills)))
    _, _, _, _, info = env.step_skill(skills[0])
    assert list(info["affordances"]) == [s.name for s in env.planner_skills()]  # every step gives them anew


def test_sb3_high_level_trains_within_its_env_step_budget(tmp_path, zoo_dir):
    agent = _agent(tmp_path, zoo_dir, planner="sb3", high_level_timesteps=300)
    spent = agent.train()
    assert 300 <= agent.high_level_steps < 300 + 4 * 64 * 40
    assert spent == agent.zoo.num_env_steps + agent.high_level_steps
    assert (agent.run.path / "high_level" / "model.zip").exists()
    result = agent.evaluate(1)
    assert result["llm_calls_per_episode"] == 0 and result["episode_runs"][0]["trace"][0]["by"] == "sb3"
    reloaded = HierarchicalAgent(agent.config, agent.run)
    reloaded.train()
    assert reloaded.high_level_steps == agent.high_level_steps


def test_the_sb3_high_level_takes_its_algorithm_and_hyperparameters_from_the_config(tmp_path, zoo_dir):
    agent = _agent(
        tmp_path,
        zoo_dir,
        planner="sb3",
        high_level_timesteps=100,
        high_level_algo="a2c",
        high_level_hyperparams={"n_envs": 2, "n_steps": 4},
    )
    agent.train()
    assert isinstance(agent.high_level, A2C) and agent.high_level.n_steps == 4 and agent.high_level.n_envs == 2
    assert agent.high_level_steps >= 100
    with pytest.raises(ConfigError, match=r"high-level algo 'sac' cannot act over skills"):
        HierarchicalConfig(LEVEL, planner="sb3", high_level_algo="sac")


def test_skills_are_trained_into_the_run_when_no_zoo_exists(tmp_path):
    config = HierarchicalConfig(
        LEVEL, skill_timesteps=64, skill_hyperparams=TINY, skill_eval_episodes=2, planner="saycan", reuse_zoo=False
    )
    agent = HierarchicalAgent(config, RunDir.create("h", tmp_path))
    agent.prepare_skills()
    assert agent.zoo.path == agent.run.path / "skills" and agent.zoo.num_timesteps >= 64


def test_find_zoo_needs_a_zoo_trained_on_the_env(tmp_path, zoo_dir):
    assert find_zoo(LEVEL, zoo_dir.parent) == zoo_dir
    assert find_zoo("mentor/MiniGrid-KeyCorridorS3R3-v0", zoo_dir.parent) is None
    assert find_zoo(LEVEL, tmp_path / "missing") is None


def test_find_zoo_also_finds_zoos_trained_inside_agent_runs(tmp_path):
    config = HierarchicalConfig(
        LEVEL, skill_timesteps=64, skill_hyperparams=TINY, skill_eval_episodes=0, planner="saycan", reuse_zoo=False
    )
    agent = HierarchicalAgent(config, RunDir.create("h", tmp_path))
    agent.prepare_skills()
    assert find_zoo(LEVEL, tmp_path) == agent.run.path / "skills"


@pytest.mark.parametrize(
    "kwargs,match,error",
    [
        ({"planner": "oracle"}, "planner 'oracle' is not one of llm, saycan, sb3", ConfigError),
        ({"affordance": "vibes"}, "affordance 'vibes' is not one of value, success_rate, none", ConfigError),
        (
            {"skill_env_ids": ["mentor/Crafter-Symbolic-v0"]},
            "must be of mentor/BabyAI-UnlockPickup-v0's family",
            ConfigError,
        ),
        ({"skill_timesteps": 0}, r"skill_timesteps \(0\)", ConfigError),
        ({"n_eval_episodes": -1}, r"n_eval_episodes \(-1\)", ConfigError),
        ({"max_options": 0}, r"max_options \(0\)", ConfigError),
        ({"skill_eval_steps": -1}, r"skill_eval_steps \(-1\) must be >= 0", ConfigError),
        ({"termination_critic": "oracle"}, "termination_critic 'oracle' is not one of detector, judge", ConfigError),
        ({"judge_threshold": 0.0}, r"judge_threshold \(0.0\) must lie strictly between 0 and 1", ConfigError),
        ({"env_id": "mentor/Hopper-v5"}, "Unknown skill library for family 'mujoco'", UnknownComponentError),
    ],
)
def test_config_rejects_bad_values(kwargs, match, error):
    with pytest.raises(error, match=match):
        HierarchicalConfig(**{"env_id": LEVEL, **kwargs})


def test_config_sets_the_planner_mode_and_round_trips():
    config = HierarchicalConfig(LEVEL, planner="saycan", planner_config={"max_plans": 2})
    assert isinstance(config.planner_config, PlannerConfig) and config.planner_config.mode == "saycan"
    assert HierarchicalConfig.from_dict(config.to_dict()) == config


def test_bench_agent_counts_skill_training_in_the_budget(tmp_path):
    job = CellJob(
        agent="hierarchical",
        env_id=LEVEL,
        seed=0,
        budget=64,
        eval_episodes=1,
        cell_dir=str(tmp_path / "cell"),
        options={
            "planner": "llm",
            "skill_hyperparams": TINY,
            "skill_eval_episodes": 2,
            "max_options": 3,
            "planner_config": {"max_new_tokens": 8},
        },
        llm="transformers:tiny",
    )
    HierarchicalBenchAgent().run(job)
    cell = json.loads((tmp_path / "cell" / "cell.json").read_text())
    assert cell["env_steps"] >= 64
    assert json.loads((tmp_path / "cell" / "eval.json").read_text())["episodes"] == 1
    usage = json.loads((tmp_path / "cell" / "llm_usage.json").read_text())
    assert usage["calls"] >= 1


def test_the_termination_critic_option_reaches_the_options_env(tmp_path, zoo_dir):
    from mentor.cli.main import _parse_agent_options

    options = _parse_agent_options(["hierarchical.termination_critic=judge", "hierarchical.judge_threshold=0.8"])
    agent = _agent(tmp_path, zoo_dir, ScriptedLLM(), **options["hierarchical"])
    config = agent.make_options_env().config
    assert config.termination_critic == "judge" and config.judge_threshold == 0.8
    assert HierarchicalConfig(LEVEL).options_config().termination_critic == "detector"


def _job(tmp_path, agent, budget, **options):
    options = {"skill_hyperparams": TINY, "skill_eval_episodes": 50, "max_options": 2, **options}
    return CellJob(agent, LEVEL, 0, budget, 1, str(tmp_path / "cell"), options, llm="transformers:tiny")


def _cell_steps(tmp_path):
    cell = json.loads((tmp_path / "cell" / "cell.json").read_text())
    zoo = json.loads((tmp_path / "cell" / "skills" / "zoo.json").read_text())
    high = tmp_path / "cell" / "high_level" / "checkpoints" / "state.json"
    high_steps = json.loads(high.read_text())["num_timesteps"] if high.exists() else 0
    return cell["env_steps"], zoo["num_timesteps"], zoo["eval_env_steps"], high_steps


def test_bench_agent_counts_skill_evaluation_inside_the_budget(tmp_path):
    make_bench_agent("hierarchical-saycan").run(_job(tmp_path, "hierarchical-saycan", 400))
    env_steps, trained, measured, high = _cell_steps(tmp_path)
    # 380 steps for skills (5% kept for measuring them), trained in 64-step rollouts: 384, then 16 measuring
    assert (trained, measured, high) == (384, 16, 0)
    assert env_steps == trained + measured == 400


def test_sb3_bench_agent_trains_its_high_level_inside_the_budget(tmp_path):
    make_bench_agent("hierarchical-sb3").run(_job(tmp_path, "hierarchical-sb3", 640))
    env_steps, trained, measured, high = _cell_steps(tmp_path)
    assert trained + measured <= 640 - int(0.3 * 640) + 64  # skills get 70% (one rollout over at most)
    assert env_steps == trained + measured + high
    assert 640 <= env_steps < 640 + 4 * 64  # the high level stops within one step of its four options envs


def test_bench_agent_names_fix_the_planner(tmp_path):
    assert make_bench_agent("hierarchical").planner is None
    assert isinstance(make_bench_agent("hierarchical-saycan"), HierarchicalSayCanBenchAgent)
    assert make_bench_agent("hierarchical-saycan").planner == "saycan"
    assert isinstance(make_bench_agent("hierarchical-sb3"), HierarchicalSB3BenchAgent)
    assert make_bench_agent("hierarchical-sb3").planner == "sb3"
    job = _job(tmp_path, "hierarchical-saycan", 64, planner="llm")
    with pytest.raises(ConfigError, match=r"'hierarchical-saycan' always runs the 'saycan' high level.*\('llm'\)"):
        make_bench_agent("hierarchical-saycan").run(job)


def test_bench_agent_rejects_budget_shares_that_leave_no_skill_training(tmp_path):
    job = _job(tmp_path, "hierarchical-sb3", 100, high_level_fraction=0.9, skill_eval_fraction=0.5)
    with pytest.raises(ConfigError, match=r"budget \(100\) leaves no env step for skill training"):
        make_bench_agent("hierarchical-sb3").run(job)
    job = _job(tmp_path, "hierarchical", 100, skill_eval_fraction=1.0)
    with pytest.raises(ConfigError, match=r"skill_eval_fraction \(1.0\) must lie in \[0, 1\)"):
        HierarchicalBenchAgent().run(job)


def test_bench_agent_rejects_a_bad_high_level_fraction(tmp_path):
    job = CellJob("hierarchical", LEVEL, 0, 64, 1, str(tmp_path / "cell"), {"high_level_fraction": 1.0})
    with pytest.raises(ConfigError, match=r"high_level_fraction \(1.0\) must lie in \(0, 1\)"):
        HierarchicalBenchAgent().run(job)


def test_resolve_zoo_takes_a_folder_or_the_latest_and_names_the_option(tmp_path, zoo_dir, monkeypatch):
    assert resolve_zoo(str(zoo_dir), LEVEL) == zoo_dir.resolve()
    monkeypatch.setenv("MENTOR_RUNS", str(zoo_dir.parent))
    assert resolve_zoo("latest", LEVEL) == zoo_dir.resolve()
    monkeypatch.setenv("MENTOR_RUNS", str(tmp_path))
    with pytest.raises(ConfigError, match=rf"--skills 'latest': no skill zoo under runs/ covers {LEVEL}"):
        resolve_zoo("latest", LEVEL, "--skills")
    with pytest.raises(ConfigError, match=r"--zoo '.*missing': no skill zoo there; train one with"):
        resolve_zoo(str(tmp_path / "missing"), LEVEL)


def test_demo_writes_a_report(tmp_path, zoo_dir, monkeypatch):
    monkeypatch.setenv("MENTOR_RUNS", str(zoo_dir.parent))
    llm = ScriptedLLM(["1. pick up the green key\n2. open the green door"])
    report = run_hierarchical_demo(LEVEL, episodes=1, llm=llm)
    text = report.read_text()
    assert text.startswith("# Hierarchical agent on `mentor/BabyAI-UnlockPickup-v0`")
    assert "## Episode 1" in text
    assert re.search(r"^1\. .+ \((plan|saycan)\): (ok|failed), \d+ steps$", text, re.MULTILINE)
    assert (report.parent / "llm_usage.json").exists()


def test_demo_without_a_zoo_trains_skills_on_its_level_and_the_demo_levels(tmp_path, monkeypatch):
    monkeypatch.setenv("MENTOR_RUNS", str(tmp_path))
    trained = []

    def tiny_zoo(config, run, resume=False):
        trained.append(config.env_ids)
        return train_skill_zoo(dataclasses.replace(config, hyperparams=TINY, eval_episodes=2), run, resume=resume)

    monkeypatch.setattr(hierarchical_module, "train_skill_zoo", tiny_zoo)
    run_hierarchical_demo(LEVEL, episodes=1, skill_timesteps=64, llm=ScriptedLLM(["1. explore"]))
    assert trained == [[LEVEL, *(e for e in DEMO_SKILL_ENV_IDS if e != LEVEL)]]


@pytest.mark.slow
def test_one_episode_end_to_end_with_the_embedded_model(tmp_path):
    """SmolLM2 plans over freshly trained skills on a BabyAI level; the episode runs to its end."""
    config = HierarchicalConfig(LEVEL, skill_timesteps=4_000, reuse_zoo=False, max_options=8, n_eval_episodes=1)
    llm = make_llm("transformers:embedded", cache=False)  # a cache hit costs no tokens
    agent = HierarchicalAgent(config, RunDir.create("h", tmp_path), llm=llm)
    agent.train()
    result = agent.evaluate()
    episode = result["episode_runs"][0]
    assert episode["outcome"]["length"] == episode["env_steps"] > 0
    assert episode["llm_calls"] >= 1 and episode["llm_tokens"] > 0
    assert all(step["skill"] for step in episode["trace"])
    assert agent.llm.config.spec == "transformers:embedded"
