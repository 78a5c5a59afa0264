"""The reward loop with a scripted LLM: selection, reflection, failures fed back, resume, Text2Reward,
pre-ranking and the outputs of a run. Trainings are faked (``fake_trainer``) except in the slow tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mentor.errors import ConfigError
from mentor.executors import ExecutorConfig
from mentor.llm.testing import ScriptedLLM
from mentor.rewards.feedback import FileFeedback
from mentor.rewards.loop import RewardLoop, human_normalized_score
from mentor.rewards.loop_config import RewardLoopConfig
from mentor.rewards.rollouts import load_episodes, ranking_score
from mentor.rewards.tasks import get_reward_task
from mentor.runs import RunDir

SEQUENTIAL = ExecutorConfig(kind="sequential")


def answer(body: str, fitness: float | None = None, prefix: str = "") -> str:
    """An LLM answer with a fenced reward; the fake trainer gives it ``fitness``."""
    comment = f"# fitness: {fitness}\n" if fitness is not None else ""
    lines = "".join(f"    {line}\n" for line in body.splitlines())
    return (
        f"Here is the reward.\n```python\n{comment}{prefix}def compute_reward(state, action, next_state):\n{lines}```\n"
    )


GOOD = "return -0.01, {'time': -0.01}"
NAN = "return float('nan'), {}"


def config(**kwargs) -> RewardLoopConfig:
    fields = dict(
        iterations=2,
        samples=3,
        steps=100,
        final_seeds=2,
        eval_episodes=1,
        prerank="off",
        validation_steps=8,
        executor=SEQUENTIAL,
    )
    return RewardLoopConfig(**{**fields, **kwargs})


def make_loop(llm, task="doorkey", feedback=None, **kwargs) -> RewardLoop:
    return RewardLoop(
        get_reward_task(task), config(**kwargs), llm=llm, run=RunDir.create("loop-test"), feedback=feedback
    )


def test_eureka_selects_reflects_and_compares(fake_trainer):
    llm = ScriptedLLM(
        [
            answer(GOOD, 0.3),
            answer(GOOD, prefix="import os\n"),
            answer(GOOD, 0.8),
            answer(GOOD, 0.5),
            answer(NAN, 0.99),
            answer(GOOD, 0.6),
        ]
    )
    loop = make_loop(llm)
    result = loop.search()
    run = loop.run.path

    assert result.best_label == "iter-00/cand-02" and result.best_candidate_fitness == 0.8
    assert (
        result.final["per_seed"] == [0.8, 0.8]
        and result.human["fitness_mean"] == 1.0
        and result.sparse["fitness_mean"] == 0.0
    )
    assert result.human_normalized_score == pytest.approx(0.8) and result.generated_ge_human is False
    assert result.valid_code_rate == pytest.approx(4 / 6) and result.num_candidates == 6
    stages = {c["label"]: (c["stage"], c["reason"]) for c in result.candidates}
    assert stages["iter-00/cand-01"] == ("gate", "line 1: import of 'os' is not allowed (allowed: math, numpy)")
    assert stages["iter-01/cand-01"][0] == "validation" and "the total is nan" in stages["iter-01/cand-01"][1]

    # the second prompt: the best answer of round one, then its reflection and the others' failures
    second = llm.requests[3]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert "# fitness: 0.8" in second[2]["content"] and "# fitness: 0.3" not in second[2]["content"]
    assert "progress: [0.4, 0.8], Max: 0.8" in second[3]["content"]
    assert "- iter-00/cand-01: line 1: import of 'os' is not allowed" in second[3]["content"]
    assert "Please carefully analyze the policy feedback" in second[3]["content"]

    # trained: baselines first, then the candidates that passed, then the final seeds
    assert fake_trainer.labels == [
        "baselines/human/seed-0",
        "baselines/human/seed-1",
        "baselines/sparse/seed-0",
        "baselines/sparse/seed-1",
        "iter-00/cand-00",
        "iter-00/cand-02",
        "iter-01/cand-00",
        "iter-01/cand-02",
        "final/seed-0",
        "final/seed-1",
    ]
    for label in ("iter-00/cand-00", "iter-00/cand-02"):
        for name in ("code.py", "verdict.json", "result.json", "reflection.md", "response.md"):
            assert (run / label / name).exists(), (label, name)
    assert not (run / "iter-00/cand-01/result.json").exists()
    assert json.loads((run / "iter-00/cand-01/verdict.json").read_text())["stage"] == "gate"
    assert (run / "iter-00/feedback.md").read_text().startswith("We trained a policy")
    assert "# fitness: 0.8" in (run / "chosen_reward.py").read_text()
    for name in (
        "report.md",
        "results.json",
        "llm_usage.json",
        "fitness_per_iteration.png",
        "components.png",
        "training_curves.png",
        "state_description.py",
    ):
        assert (run / name).exists(), name
    report = (run / "report.md").read_text()
    assert "Human-normalised score: 0.8" in report and "| iter-00/cand-01 | gate |" in report
    assert json.loads((run / "llm_usage.json").read_text())["calls"] == 2


def test_all_failures_feed_the_reason_back_and_the_loop_goes_on(fake_trainer):
    llm = ScriptedLLM([answer(NAN), "I do not know.", answer(GOOD, 0.4)])
    loop = make_loop(llm, samples=2, baselines=False)
    result = loop.search()
    second = llm.requests[2]
    assert (
        "the total is nan" in second[3]["content"]
        and "Executing the reward function above failed" in second[3]["content"]
    )
    assert "float('nan')" in second[2]["content"]
    assert "iter-00/cand-01: the answer has no ```python block" in second[3]["content"]
    assert result.best_label == "iter-01/cand-00" and result.human is None and result.human_normalized_score is None


def test_no_valid_candidate_ends_without_a_chosen_reward(fake_trainer):
    loop = make_loop(ScriptedLLM([answer(NAN)]), samples=1, temperature=0.5, iterations=1)
    result = loop.search()
    assert result.best_label is None and result.final is None and result.valid_code_rate == 0.0
    assert "none: no candidate trained successfully" in (loop.run.path / "report.md").read_text()


#: The answer that got out of the old sandbox: a public numpy attribute chain to the real operator module.
ESCAPE_BY_NUMPY = (
    "g = np.random.mtrand.operator.attrgetter('__self__.modules')(np.random.mtrand.operator.attrgetter)\n"
    "g['os'].mknod('/tmp/mentor-escaped')\nreturn 1.0, {'x': 1.0}"
)
DEEP_SUM = "return " + "+".join(["1"] * 6000) + ", {}"


def test_hostile_and_deeply_nested_answers_are_invalid_and_survive_a_resume(fake_trainer):
    llm = ScriptedLLM([answer(ESCAPE_BY_NUMPY, prefix="import numpy as np\n"), answer(DEEP_SUM), answer(GOOD, 0.3)])
    loop = make_loop(llm, samples=3, iterations=1, baselines=False)
    result = loop.search()
    stages = [(c["stage"], c.get("reason", "")) for c in result.candidates]
    assert stages[0][0] == "gate" and "np.random is not available to reward code" in stages[0][1]
    assert stages[1][0] == "gate" and stages[1][1].startswith("the code nests too deeply")
    assert result.valid_code_rate == pytest.approx(1 / 3) and result.best_label == "iter-00/cand-02"
    assert not Path("/tmp/mentor-escaped").exists()
    replayed = RewardLoop.resume(loop.run, llm=ScriptedLLM(["must not be asked"])).search()
    assert replayed.best_label == "iter-00/cand-02"


def test_a_training_failure_is_fed_back(fake_trainer):
    fake_trainer.fail_on = {"iter-00/cand-00"}
    llm = ScriptedLLM([answer(GOOD, 0.2), answer(GOOD, 0.3)])
    result = make_loop(llm, samples=1, temperature=0.5, baselines=False).search()
    assert "failed during training at step 10: boom" in llm.requests[1][3]["content"]
    assert result.candidates[0]["stage"] == "training" and result.best_label == "iter-01/cand-00"


def test_a_killed_loop_resumes_at_the_last_finished_candidate(fake_trainer):
    answers = [
        answer(GOOD, 0.1),
        answer(GOOD, 0.2),
        answer(GOOD, 0.3),
        answer(GOOD, 0.4),
        answer(GOOD, 0.5),
        answer(GOOD, 0.6),
    ]
    loop = make_loop(ScriptedLLM(answers))
    fake_trainer.kill_after = 4 + 3 + 1  # baselines, round one, one candidate of round two
    with pytest.raises(KeyboardInterrupt):
        loop.search()
    done = list(fake_trainer.labels)
    assert done[-1] == "iter-01/cand-00"

    fake_trainer.labels.clear()
    fake_trainer.kill_after = None
    silent = ScriptedLLM(["must not be asked"])
    result = RewardLoop.resume(loop.run, llm=silent).search()
    assert silent.requests == []
    assert fake_trainer.labels == ["iter-01/cand-01", "iter-01/cand-02", "final/seed-0", "final/seed-1"]
    assert result.best_label == "iter-01/cand-02" and result.llm_usage["calls"] == 2


def test_resume_needs_a_loop_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"holds no reward-loop config.yaml to resume from"):
        RewardLoop.resume(tmp_path)


def test_text2reward_refines_with_human_feedback(fake_trainer):
    llm = ScriptedLLM([answer(GOOD, 0.1), answer(GOOD, 0.2), answer(GOOD, 0.3)])
    feedback = FileFeedback.from_text("get the key first\n---\nthen open the door")
    loop = make_loop(llm, mode="text2reward", iterations=3, samples=None, baselines=False, feedback=feedback)
    result = loop.search()
    assert len(llm.requests) == 3 and result.num_candidates == 3
    assert "expert in reinforcement learning" in llm.requests[0][0]["content"]
    assert (
        "A person watched the policy trained with this reward and says: get the key first"
        in llm.requests[1][3]["content"]
    )
    assert "then open the door" in llm.requests[2][3]["content"]
    assert (loop.run.path / "iter-00/human_feedback.txt").read_text().strip() == "get the key first"


def test_text2reward_resume_moves_the_feedback_file_past_saved_rounds(fake_trainer, tmp_path):
    notes = tmp_path / "feedback.txt"
    notes.write_text("get the key first\n---\nthen open the door\n")
    llm = ScriptedLLM([answer(GOOD, 0.1), answer(GOOD, 0.2)])
    loop = make_loop(llm, mode="text2reward", iterations=3, samples=None, baselines=False, feedback=FileFeedback(notes))
    fake_trainer.kill_after = 1  # round one trains and gets its feedback; round two is killed in training
    with pytest.raises(KeyboardInterrupt):
        loop.search()
    assert (loop.run.path / "iter-00/human_feedback.txt").read_text().strip() == "get the key first"

    fake_trainer.kill_after = None
    later = ScriptedLLM([answer(GOOD, 0.3)])
    result = RewardLoop.resume(loop.run, llm=later, feedback=FileFeedback(notes)).search()
    assert result.num_candidates == 3 and len(later.requests) == 1
    assert (loop.run.path / "iter-01/human_feedback.txt").read_text().strip() == "then open the door"
    assert "then open the door" in later.requests[0][3]["content"]


def test_text2reward_without_feedback_is_zero_shot(fake_trainer):
    llm = ScriptedLLM([answer(GOOD, 0.1)])
    result = make_loop(llm, mode="text2reward", iterations=3, samples=None, baselines=False).search()
    assert len(llm.requests) == 1 and result.best_label == "iter-00/cand-00"


FORWARD = "d = next_state.x_position - state.x_position\nreturn d, {'progress': d}"
BACKWARD = "d = state.x_position - next_state.x_position\nreturn d, {'progress': d}"
PRERANK = dict(baselines=False, iterations=1, samples=2, prerank_episodes=5, prerank_max_steps=60)


def test_prerank_drops_hopeless_candidates(fake_trainer):
    llm = ScriptedLLM([answer(FORWARD, 0.7), answer(BACKWARD, 0.2)])
    result = make_loop(llm, task="halfcheetah_forward", prerank="drop", **PRERANK).search()
    forward, backward = result.candidates
    assert forward["ranking_score"] > 0.5 and forward["stage"] == "trained"
    assert backward["would_drop"] and backward["stage"] == "prerank" and backward["reason"].startswith("pre-ranking:")
    assert "iter-00/cand-01" not in fake_trainer.labels
    assert result.prerank["flagged_hopeless"] == 1 and result.prerank["training_seconds_saved"] == 1.0
    assert result.prerank["saving_measured"] is False


def test_prerank_audit_trains_everything_and_measures(fake_trainer):
    llm = ScriptedLLM([answer(FORWARD, 0.2), answer(BACKWARD, 0.7)])
    result = make_loop(llm, task="halfcheetah_forward", prerank="audit", **PRERANK).search()
    assert [c["stage"] for c in result.candidates] == ["trained", "trained"]
    assert result.prerank["dropped_winner"] is True and result.prerank["iteration_bests_flagged"] == 1
    assert result.prerank["training_seconds_saved"] == 1.0 and result.prerank["saved_share"] == 0.5


def test_prerank_keeps_one_candidate_when_all_look_hopeless(fake_trainer):
    llm = ScriptedLLM([answer(BACKWARD, 0.2)])
    result = make_loop(
        llm, task="halfcheetah_forward", prerank="drop", **{**PRERANK, "samples": 1, "temperature": 0.5}
    ).search()
    (kept,) = result.candidates
    assert kept["stage"] == "trained" and kept["would_drop"] and kept["kept_despite_flag"]
    assert result.prerank["flagged_hopeless"] == 1 and result.prerank["kept_despite_flag"] == 1
    assert result.prerank["winner_flagged_hopeless"] is True and result.prerank["winner_kept_despite_flag"] is True
    assert result.prerank["training_seconds_saved"] == 0.0
    report = (Path(result.run_dir) / "report.md").read_text()
    assert "(hopeless, kept)" in report and "Winner judged hopeless: True (1 candidate(s) trained although" in report


def test_prerank_audit_keeps_the_flags_when_all_look_hopeless(fake_trainer):
    llm = ScriptedLLM([answer(BACKWARD, 0.2), answer(BACKWARD, 0.3)])
    result = make_loop(llm, task="halfcheetah_forward", prerank="audit", **PRERANK).search()
    assert [c["would_drop"] for c in result.candidates] == [True, True]
    assert not any(c["kept_despite_flag"] for c in result.candidates)
    assert result.prerank["dropped_winner"] is True and result.prerank["winner_flagged_hopeless"] is True
    assert result.prerank["flagged_hopeless"] == 2 and result.prerank["winner_kept_despite_flag"] is None


HALF = "d = next_state.x_position - state.x_position\nreturn d + 0.3 * float(action[0]), {'progress': d}"
FORWARD_TWICE = "d = 2 * (next_state.x_position - state.x_position)\nreturn d, {'progress': d}"
SCREEN = dict(baselines=False, samples=4, prerank_episodes=5, prerank_max_steps=60, train_top=2)


def _screened_answers(fitness=(0.7, 0.9, 0.2, 0.4)):
    return [
        answer(FORWARD, fitness[0]),
        answer(HALF, fitness[1]),
        answer(BACKWARD, fitness[2]),
        answer(FORWARD_TWICE, fitness[3]),
    ]


def test_train_top_trains_only_the_best_ranked_and_tells_the_llm_about_the_rest(fake_trainer):
    llm = ScriptedLLM(_screened_answers() + [answer(FORWARD, 0.5)] * 4)
    result = make_loop(llm, task="halfcheetah_forward", prerank="drop", iterations=2, **SCREEN).search()
    first = {c["label"][-7:]: c for c in result.candidates if c["iteration"] == 0}
    assert first["cand-00"]["ranking_score"] > first["cand-01"]["ranking_score"] > 0 > first["cand-02"]["ranking_score"]
    assert first["cand-03"]["ranking_score"] == pytest.approx(first["cand-00"]["ranking_score"])
    assert [first[k]["stage"] for k in sorted(first)] == ["trained", "prerank", "prerank", "trained"]
    assert first["cand-01"]["screened_out"] and first["cand-01"]["reason"].startswith("screened out: its ranking score")
    assert first["cand-02"]["would_drop"] and not first["cand-02"]["screened_out"]
    assert "iter-00/cand-01" not in fake_trainer.labels and "iter-00/cand-03" in fake_trainer.labels
    second = llm.requests[4][3]["content"]
    assert second.startswith("Before any training, each of the 4 reward functions that ran was scored on 5 recorded")
    assert "2 of them were trained" in second and "screened out" not in second  # no failure list for the screen
    assert result.prerank["screened_out"] == 1 and result.prerank["train_top"] == 2
    # round two wrote one program four times: it trains once, the three copies share its verdict
    again = [c for c in result.candidates if c["iteration"] == 1]
    assert [c["stage"] for c in again] == ["trained", "duplicate", "duplicate", "duplicate"]
    assert [c["duplicate_of"] for c in again] == [None] + ["iter-01/cand-00"] * 3
    assert result.prerank["duplicates"] == 3 and result.valid_code_rate == 1.0  # copies of valid code are valid
    assert fake_trainer.labels.count("iter-01/cand-00") == 1 and "iter-01/cand-01" not in fake_trainer.labels
    report = (Path(result.run_dir) / "report.md").read_text()
    assert "| ranking score |" in report and "(screened out)" in report


def test_train_top_audit_trains_everything_and_measures_the_screen(fake_trainer):
    llm = ScriptedLLM(_screened_answers())
    result = make_loop(llm, task="halfcheetah_forward", prerank="audit", iterations=1, **SCREEN).search()
    assert [c["stage"] for c in result.candidates] == ["trained"] * 4
    assert [c["screened_out"] for c in result.candidates] == [False, True, False, False]
    # the fittest after training (0.9) is the one the screen left out; the loop chooses as drop mode would
    assert result.best_label == "iter-00/cand-00" and result.final["fitness_mean"] == 0.7
    assert result.prerank["screen_hit_rate"] == 0.0 and result.prerank["dropped_winner"] is True
    assert result.prerank["best_unscreened_fitness"] == 0.9
    scores = [c["ranking_score"] for c in result.candidates]
    fitness = [c["fitness"] for c in result.candidates]
    assert result.prerank["ranking_vs_trained_fitness"] == pytest.approx(ranking_score(scores, fitness))
    assert result.prerank["training_seconds_saved"] == 2.0  # the screened-out and the hopeless candidate


def test_train_top_survives_a_resume(fake_trainer):
    loop = make_loop(
        ScriptedLLM(_screened_answers()), task="halfcheetah_forward", prerank="drop", iterations=1, **SCREEN
    )
    fake_trainer.kill_after = 1
    with pytest.raises(KeyboardInterrupt):
        loop.search()
    fake_trainer.kill_after = None
    fake_trainer.labels.clear()
    silent = ScriptedLLM(["must not be asked"])
    result = RewardLoop.resume(loop.run, llm=silent).search()
    assert silent.requests == [] and fake_trainer.labels == ["iter-00/cand-03", "final/seed-0", "final/seed-1"]
    assert [c["screened_out"] for c in result.candidates] == [False, True, False, False]


def test_references_are_cached_per_task_and_setting(fake_trainer, monkeypatch):
    first = make_loop(ScriptedLLM([answer(FORWARD, 0.7)] * 2), task="halfcheetah_forward", prerank="drop", **PRERANK)
    first.search()
    (cached,) = (first.run.path.parent.parent / "cache" / "reward_references").glob("halfcheetah_forward-*.pkl")
    import mentor.rewards.references as references_module

    monkeypatch.setattr(references_module, "record_episodes", lambda *a, **k: pytest.fail("recorded again"))
    second = make_loop(ScriptedLLM([answer(FORWARD, 0.7)] * 2), task="halfcheetah_forward", prerank="drop", **PRERANK)
    second.search()

    def summary(path):
        return [(e.source, e.fitness, len(e.transitions)) for e in load_episodes(path)]

    assert summary(second.run.path / "references.pkl") == summary(cached)
    other = make_loop(
        ScriptedLLM([answer(FORWARD, 0.7)] * 2),
        task="halfcheetah_forward",
        prerank="drop",
        **{**PRERANK, "prerank_max_steps": 30},
    )
    with pytest.raises(pytest.fail.Exception, match="recorded again"):
        other.search()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "carl"}, r"mode \('carl'\) must be one of eureka, text2reward"),
        ({"prerank": "maybe"}, r"prerank \('maybe'\) must be one of off, drop, audit"),
        (
            {"mode": "text2reward", "samples": 4},
            r"text2reward mode writes 1 reward per round; samples \(4\) must be at most 1",
        ),
        ({"samples": 2, "temperature": 0.0}, r"samples \(2\) > 1 needs temperature > 0"),
        ({"iterations": 0}, r"iterations \(0\) must be at least 1"),
        ({"steps": 0}, r"steps \(0\) must be at least 1"),
        ({"prerank_min_score": 1.0}, r"prerank_min_score \(1.0\) must be in \[-1, 1\)"),
        (
            {"train_top": 2, "prerank": "off"},
            r"train_top \(2\) must be at least 1, and needs pre-ranking \(prerank drop or audit, not 'off'\)",
        ),
        ({"train_top": 0, "prerank": "drop"}, r"train_top \(0\) must be at least 1"),
        ({"reference_epsilons": [1.5]}, r"reference_epsilons \(\[1.5\]\) in \[0, 1\]"),
        ({"validation_steps": 0}, r"validation_steps \(0\) must be at least 1"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RewardLoopConfig(**kwargs)


def test_config_defaults_per_mode():
    eureka, t2r = RewardLoopConfig(), RewardLoopConfig(mode="text2reward")
    assert (eureka.samples, eureka.temperature, t2r.samples, t2r.temperature) == (4, 0.7, 1, 0.0)
    assert RewardLoopConfig(steps=5).final_steps == 5
    assert RewardLoopConfig(**RewardLoopConfig(executor=SEQUENTIAL).to_dict()).executor.kind == "sequential"


def test_human_normalized_score():
    assert human_normalized_score(3.0, 4.0, 0.0) == 0.75
    assert human_normalized_score(-1.0, 4.0, 0.0) == -0.25
    assert human_normalized_score(1.0, 2.0, 2.0) is None and human_normalized_score(None, 1.0, 0.0) is None


@pytest.mark.slow
def test_the_loop_trains_for_real_in_parallel():
    """Real SB3 trainings in a process pool (tiny budgets): the good reward is chosen, the bad ones rejected."""
    torch.set_num_threads(1)
    task = get_reward_task("doorkey")
    good = f"```python\n{task.human_reward}```"
    llm = ScriptedLLM([good, answer(GOOD, prefix="import os\n"), answer(NAN), answer(GOOD)])
    tiny = {"n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1}
    loop = RewardLoop(
        task,
        config(
            iterations=1,
            samples=4,
            steps=256,
            final_seeds=1,
            prerank="audit",
            prerank_episodes=1,
            prerank_max_steps=20,
            hyperparams=tiny,
            executor=ExecutorConfig(kind="process", num_workers=2),
        ),
        llm=llm,
    )
    result = loop.search()
    assert [c["stage"] for c in result.candidates] == ["trained", "gate", "validation", "trained"]
    assert result.best_label in ("iter-00/cand-00", "iter-00/cand-03") and result.final["fitness_mean"] is not None
    assert result.sandbox["mean_us_per_call"] > 0 and (loop.run.path / "references.pkl").exists()
    sources = [r["source"] for r in json.loads((loop.run.path / "references.json").read_text())]
    assert sources == [
        "random",
        "human/step-64",
        "human/step-128",
        "human/step-192",
        "human/final+random-0.5",
        "human/final",
        "sparse/final",
    ]


@pytest.mark.slow
def test_the_embedded_model_runs_end_to_end():
    """SmolLM2-135M writes mostly invalid code; the loop still runs and reports its valid-code rate."""
    torch.set_num_threads(2)
    loop = RewardLoop(
        get_reward_task("halfcheetah_backward"),
        config(
            iterations=1, samples=1, max_new_tokens=128, steps=512, final_seeds=1, baselines=False, validation_steps=4
        ),
        llm="transformers:embedded",
    )
    result = loop.search()
    assert result.num_candidates == 1 and result.valid_code_rate in (0.0, 1.0)
    assert result.llm_usage["calls"] == 1 and result.llm_usage["completion_tokens"] > 0
    for c in result.candidates:
        assert c["stage"] == "trained" or c["reason"]


def test_a_model_that_decodes_under_the_reward_grammar_writes_only_valid_code(fake_trainer, monkeypatch):
    import functools

    import mentor.rewards.loop as loop_module
    from mentor.llm import LLMConfig, make_llm
    from mentor.rewards.grammar import RewardGrammarConfig, reward_grammar

    # a random model writes programs as long as the grammar allows; bounded ones fit the tiny model's context
    small = RewardGrammarConfig(max_components=2, max_terms=1, depth=1)
    monkeypatch.setattr(loop_module, "reward_grammar", functools.partial(reward_grammar, config=small))
    llm = make_llm(LLMConfig("transformers:tiny", cache=False))
    loop = make_loop(llm, task="hopper_hop", samples=4, iterations=1, baselines=False, max_new_tokens=300)
    result = loop.search()
    assert result.valid_code_rate == 1.0 and llm.usage.constrained_calls == 1
    verdicts = [json.loads(p.read_text()) for p in sorted(loop.run.path.glob("iter-00/cand-*/verdict.json"))]
    assert len(verdicts) == 4 and all(
        v["code"].startswith("def compute_reward(state, action, next_state):\n    c0 = ") for v in verdicts
    )


def test_an_answer_cut_off_before_its_return_says_so(fake_trainer):
    llm = ScriptedLLM([answer("c0 = state.x_velocity"), answer(GOOD)])
    result = make_loop(llm, task="halfcheetah_forward", iterations=1, samples=2, baselines=False).search()
    cut, good = result.candidates
    assert cut["stage"] == "extraction" and "cut off at max_new_tokens=512" in cut["reason"]
    assert good["stage"] == "trained"
