"""The reward loop: Eureka (sample K rewards, train, reflect, iterate) and Text2Reward (one zero-shot
reward, refined by human feedback), with sandboxing, cheap pre-ranking and a human-reward comparison.

One run, in its run folder (``runs/<date>-reward-<task>/``):

1. baselines: the task's human reward and its sparse (fitness) reward are trained with the final
   budget and seeds (for the human-normalised score, and as policies for pre-ranking);
2. reference episodes whose fitness is known and varies, for pre-ranking: a random policy, snapshots
   of the human (else sparse) baseline's policy along its training, and its final policy with
   random actions mixed in (cached per task and setting under ``<cache>/reward_references``); and
   a few random transitions for validation;
3. each iteration: the LLM samples K answers; each one's code is extracted, gated, validated in the
   sandbox on the recorded transitions and given its ranking score (rank correlation of its
   returns with the references' fitness); the best-ranked ``train_top`` of them train in parallel
   through the executor; each trained candidate gets its component statistics and reflection; the
   iteration's best feeds the next prompt, with the screening's statistics and the failures'
   one-line reasons;
4. the best reward over all iterations is re-trained with the final seeds and evaluated;
5. ``results.json``, plots, ``report.md`` and ``llm_usage.json``.

Every stage leaves files; a killed run resumes (:meth:`RewardLoop.resume`) at the last finished
candidate: LLM answers are saved before any training, and a training is done when its
``result.json`` exists.

Example:
    >>> from mentor.rewards import RewardLoop, RewardLoopConfig, get_reward_task
    >>> loop = RewardLoop(get_reward_task("halfcheetah_backward"), RewardLoopConfig(steps=20_000))  # doctest: +SKIP
    >>> result = loop.search()  # doctest: +SKIP
    >>> result.human_normalized_score  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mentor.envs import make as make_env
from mentor.errors import ConfigError
from mentor.executors import make_executor
from mentor.llm import LLM, Message, Usage, make_llm
from mentor.llm.constraints import Grammar
from mentor.rewards.candidates import Candidate, program_key, screen, screening_statistics
from mentor.rewards.feedback import FeedbackSource
from mentor.rewards.grammar import reward_grammar
from mentor.rewards.loop_config import RewardLoopConfig, RewardLoopResult
from mentor.rewards.prompts import (
    extract_code,
    failure_feedback,
    human_feedback_message,
    initial_messages,
    other_failures,
    reflection,
    screening_summary,
)
from mentor.rewards.references import (
    record_references,
    reference_kind,
    reference_snapshot_steps,
    references_cache_path,
)
from mentor.rewards.rollouts import (
    Episode,
    load_episodes,
    prerank_reward,
    record_random_steps,
    save_episodes,
    screen_reward,
)
from mentor.rewards.state import describe_state
from mentor.rewards.strategies import make_strategy
from mentor.rewards.tasks import RewardTask
from mentor.rewards.training import RewardTrainJob, RewardTrainResult, load_result, train_reward_job
from mentor.runs import RunDir, atomic_write_text

__all__ = ["RewardLoop", "human_normalized_score"]


def _seed_summary(results: Sequence[RewardTrainResult]) -> dict[str, Any]:
    values = [r.fitness for r in results if r.ok and r.fitness is not None]
    return {
        "fitness_mean": float(np.mean(values)) if values else None,
        "fitness_std": float(np.std(values)) if values else None,
        "per_seed": [r.fitness for r in results],
        "errors": [r.error for r in results if not r.ok],
        "train_seconds": float(sum(r.train_seconds for r in results)),
    }


def human_normalized_score(method: float | None, human: float | None, sparse: float | None) -> float | None:
    """Eureka's human-normalised score ``(method - sparse) / (human - sparse)``; ``None`` if undefined.

    Example:
        >>> human_normalized_score(3.0, 4.0, 0.0)
        0.75
    """
    if method is None or human is None or sparse is None or math.isclose(human, sparse, abs_tol=1e-9):
        return None
    return (method - sparse) / (human - sparse)


class RewardLoop:
    """Writes reward code for a task with an LLM, trains on it, reflects, and compares with the human reward.

    Args:
        task: what to write a reward for.
        config: how to search; ``None`` for the defaults.
        llm: an LLM, a spec (``"transformers:embedded"``, ``"openai:..."``) or ``None`` (``$MENTOR_LLM``
            or the embedded model).
        run: the run folder; ``None`` creates ``runs/<date>-reward-<task>``.
        feedback: Text2Reward's human feedback source (see :mod:`mentor.rewards.feedback`); the config's
            ``mode`` picks the search strategy (:mod:`mentor.rewards.strategies`).
    """

    def __init__(
        self,
        task: RewardTask,
        config: RewardLoopConfig | None = None,
        llm: LLM | str | None = None,
        run: RunDir | None = None,
        feedback: FeedbackSource | None = None,
    ):
        self.task = task
        self.config = config or RewardLoopConfig()
        self._llm = llm
        self.run = run if run is not None else RunDir.create(f"reward-{task.name}")
        self.strategy = make_strategy(self.config.mode, feedback)
        self.executor = make_executor(self.config.executor)
        self.hyperparams = {**task.hyperparams, **self.config.hyperparams}
        self._usage_before = Usage()
        self._grammar: Grammar | None = None
        self._num_references = 0
        self._baseline_rankings: dict[str, float | None] = {}

    @classmethod
    def resume(
        cls, run_dir: Path | str | RunDir, llm: LLM | str | None = None, feedback: FeedbackSource | None = None
    ) -> RewardLoop:
        """The loop of an earlier (killed) run, to continue with :meth:`search`."""
        run = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
        if not run.config_path.exists():
            raise ConfigError(f"{run.path} holds no reward-loop config.yaml to resume from.")
        saved = run.read_config()
        loop = cls(RewardTask.from_dict(saved["task"]), RewardLoopConfig.from_dict(saved["loop"]), llm, run, feedback)
        usage = run.path / "llm_usage.json"
        if usage.exists():
            loop._usage_before = Usage.load(usage)
        return loop

    @property
    def llm(self) -> LLM:
        if not isinstance(self._llm, LLM):
            self._llm = make_llm(self._llm)
        return self._llm

    # ------------------------------------------------------------------ the loop

    def search(self) -> RewardLoopResult:
        """Run (or finish) the loop; returns the result also written to ``results.json``."""
        start = time.perf_counter()
        cfg = self.config
        if not self.run.config_path.exists():
            self.run.write_config({"kind": "reward-loop", "task": self.task.to_dict(), "loop": cfg.to_dict()})
        validation = self._validation_transitions()
        baselines = self._baselines()
        references = self._references(baselines) if cfg.prerank != "off" else []
        self._num_references = len(references)
        self._baseline_rankings = self._rank_baselines(references)
        base_messages = self._initial_messages()
        candidates: list[Candidate] = []
        previous: list[Candidate] = []
        feedback_text: str | None = None
        for iteration in range(cfg.iterations):
            if not self.strategy.continues(iteration, feedback_text):
                break
            messages = self._messages(base_messages, previous, feedback_text)
            current = self._sample(iteration, messages)
            self._check(current, validation, references, earlier=candidates)
            self._train(current)
            self._reflect(current)
            candidates += current
            previous = current
            if iteration + 1 < cfg.iterations:
                folder = self.run.path / f"iter-{iteration:02d}"
                feedback_text = self.strategy.human_feedback(folder, current[0], self.task.fitness)
        best = self._best(candidates)
        final = self._final(best)
        return self._finish(candidates, best, final, baselines, start)

    def reference_episodes(self) -> list[Episode]:
        """The task's pre-ranking references for this setting: from the cache, else after training the baselines.

        This is what the reward writer (:mod:`mentor.agents.reward_writer`) ranks its programs on.
        """
        if not self.run.config_path.exists():
            self.run.write_config({"kind": "reward-loop", "task": self.task.to_dict(), "loop": self.config.to_dict()})
        cached = self._reference_cache_path({})
        if cached is not None and cached.exists():
            return load_episodes(cached)
        return self._references(self._baselines())

    # ------------------------------------------------------------------ stages

    def _validation_transitions(self) -> list[tuple[Any, Any, Any]]:
        path = self.run.path / "validation.pkl"
        if path.exists():
            episodes = load_episodes(path)
        else:
            episodes = record_random_steps(
                self.task.env_id, self.config.validation_steps, self.config.seed + 10_000, self.task.env_kwargs
            )
            save_episodes(episodes, path)
        return [t for e in episodes for t in e.transitions]

    def _job(self, label: str, folder: Path, code: str, steps: int, seed: int) -> RewardTrainJob:
        return RewardTrainJob(
            label=label,
            folder=str(folder),
            env_id=self.task.env_id,
            reward_code=code,
            fitness=self.task.fitness,
            algo=self.task.algo,
            total_timesteps=steps,
            seed=seed,
            hyperparams=self.hyperparams,
            env_kwargs=self.task.env_kwargs,
            eval_episodes=self.config.eval_episodes,
            num_points=self.config.num_points,
            sandbox=self.config.sandbox,
        )

    def _run_jobs(self, jobs: Sequence[RewardTrainJob]) -> list[RewardTrainResult]:
        """Results of ``jobs``; finished ones are read back, the rest run through the executor."""
        done = {job.folder: load_result(job.folder) for job in jobs}
        pending = [job for job in jobs if done[job.folder] is None]
        for job, result in zip(pending, self.executor.map(train_reward_job, pending)):
            done[job.folder] = result
        return [done[job.folder] for job in jobs]

    def _seed_jobs(self, kind: str, code: str, snapshot_steps: Sequence[int] = ()) -> list[RewardTrainJob]:
        """One job per final seed; the first keeps ``snapshot_steps`` snapshots of its policy."""
        cfg = self.config
        jobs = [
            self._job(f"{kind}/seed-{s}", self.run.path / kind / f"seed-{s}", code, cfg.final_steps, cfg.seed + s)
            for s in range(cfg.final_seeds)
        ]
        jobs[0].snapshot_steps = list(snapshot_steps)
        return jobs

    def _baselines(self) -> dict[str, list[RewardTrainResult]]:
        if not self.config.baselines:
            return {}
        kinds = {"sparse": self.task.sparse_reward}
        if self.task.human_reward is not None:
            kinds = {"human": self.task.human_reward, **kinds}
        cfg = self.config
        steps = reference_snapshot_steps(cfg.final_steps, cfg.reference_snapshots) if cfg.prerank != "off" else []
        snapshots = {reference_kind(self.task): steps}
        jobs = {
            kind: self._seed_jobs(f"baselines/{kind}", code, snapshots.get(kind, ())) for kind, code in kinds.items()
        }
        flat = [j for js in jobs.values() for j in js]
        results = dict(zip([j.folder for j in flat], self._run_jobs(flat)))
        return {kind: [results[j.folder] for j in js] for kind, js in jobs.items()}

    def _references(self, baselines: dict[str, list[RewardTrainResult]]) -> list[Episode]:
        """The pre-ranking references of this run: recorded once, then read back (from the cache too)."""
        path = self.run.path / "references.pkl"
        if path.exists():
            return load_episodes(path)
        cached = self._reference_cache_path(baselines)
        if cached is not None and cached.exists():
            episodes = load_episodes(cached)
        else:
            cfg = self.config
            folders = {kind: results[0].folder for kind, results in baselines.items() if results and results[0].ok}
            episodes = record_references(
                self.task, folders, cfg.prerank_episodes, cfg.prerank_max_steps, cfg.reference_epsilons, cfg.seed
            )
            if cached is not None:
                save_episodes(episodes, cached)
        save_episodes(episodes, path)
        self.run.write_json(
            "references.json",
            [{"source": e.source, "length": len(e.transitions), "fitness": e.fitness} for e in episodes],
        )
        return episodes

    def _rank_baselines(self, references: list[Episode]) -> dict[str, float | None]:
        """The ranking scores of the task's human and sparse rewards on the references: what a good reward scores."""
        if not references:
            return {}
        codes = {"human": self.task.human_reward, "sparse": self.task.sparse_reward}
        return {
            kind: prerank_reward(code, references, self.config.sandbox).ranking
            for kind, code in codes.items()
            if code is not None
        }

    def _reference_cache_path(self, baselines: dict[str, list[RewardTrainResult]]) -> Path | None:
        """Where this task's references are cached for this setting; ``None``: not cached (off, or a baseline failed).

        ``baselines`` empty: the path before any baseline trained (to look the references up)."""
        cfg = self.config
        reference = baselines.get(reference_kind(self.task))
        failed = bool(baselines) and not (reference and reference[0].ok)
        if not cfg.reference_cache or (cfg.baselines and failed):
            return None
        names = (
            "final_steps",
            "seed",
            "prerank_episodes",
            "prerank_max_steps",
            "reference_snapshots",
            "reference_epsilons",
        )
        setting = {"hyperparams": self.hyperparams, "baselines": cfg.baselines, **{n: getattr(cfg, n) for n in names}}
        return references_cache_path(self.task, setting)

    def _initial_messages(self) -> list[Message]:
        env = make_env(self.task.env_id, **self.task.env_kwargs)
        description = describe_state(env)
        if self.config.grammar and self.llm.supports_constraints:
            self._grammar = reward_grammar(env)
        env.close()
        atomic_write_text(self.run.path / "state_description.py", description + "\n")
        return initial_messages(self.task, description, self.config.mode)

    def _messages(self, base: list[Message], previous: list[Candidate], human_feedback: str | None) -> list[Message]:
        """Eureka keeps only the latest round: the first prompt, the answer fed back on, the feedback."""
        if not previous:
            return base
        trained = [c for c in previous if c.result is not None and c.result.ok]
        failed = [
            (c.label, c.reason) for c in previous if c.reason is not None and c.stage not in ("prerank", "duplicate")
        ]
        if trained:
            chosen = self._best(trained)
            stats = reflection(chosen.result, self.task.fitness)
            text = human_feedback_message(human_feedback, stats) if human_feedback else stats
            failed = [f for f in failed if f[0] != chosen.label]
        else:
            with_code = [c for c in previous if c.code is not None]
            chosen = with_code[0] if with_code else previous[0]
            text = failure_feedback(chosen.reason)
            if human_feedback:
                text += f"\nA person also says: {human_feedback.strip()}"
            failed = [f for f in failed if f[0] != chosen.label]
        answer = f"```python\n{chosen.code.rstrip()}\n```" if chosen.code else chosen.response
        screening = screening_summary(
            [c.ranking_score for c in previous if c.valid and c.duplicate_of is None],
            trained=sum(c.result is not None for c in previous),
            duplicates=sum(c.duplicate_of is not None for c in previous),
            episodes=self._num_references,
        )
        user = (f"{screening}\n\n" if screening else "") + text + other_failures(failed)
        atomic_write_text(self.run.path / f"iter-{chosen.iteration:02d}" / "feedback.md", user + "\n")
        return [*base, {"role": "assistant", "content": answer}, {"role": "user", "content": user}]

    def _sample(self, iteration: int, messages: list[Message]) -> list[Candidate]:
        folder = self.run.path / f"iter-{iteration:02d}"
        path = folder / "responses.json"
        if path.exists():
            responses = json.loads(path.read_text())["responses"]
        else:
            cfg = self.config
            responses = self.llm.generate(
                messages,
                max_new_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature,
                n=cfg.samples,
                constraint=self._grammar,
            )
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps({"messages": messages, "responses": responses}, indent=2) + "\n")
            (self._usage_before + self.llm.usage).save(self.run.path)
        return [
            Candidate(label=f"iter-{iteration:02d}/cand-{k:02d}", iteration=iteration, index=k, response=text)
            for k, text in enumerate(responses)
        ]

    def _check(
        self, candidates: list[Candidate], validation: list, references: list[Episode], earlier: list[Candidate]
    ) -> None:
        """Extraction, duplicates, gate, validation run, ranking score and screening; each verdict is saved once
        and reused on resume."""
        cfg = self.config
        seen = {program_key(e.code): e for e in reversed(earlier) if e.code is not None and e.duplicate_of is None}
        fresh: list[Candidate] = []
        for c in candidates:
            verdict_path = self.run.path / c.label / "verdict.json"
            if verdict_path.exists():
                c.apply_verdict(json.loads(verdict_path.read_text()))
                if c.code is not None and c.duplicate_of is None:
                    seen.setdefault(program_key(c.code), c)
            else:
                self._check_one(c, validation, references, seen)
                fresh.append(c)
        screen(candidates, fresh, cfg.prerank, cfg.train_top, cfg.prerank_min_score)
        for c in fresh:
            self._save_verdict(c)

    def _check_one(self, c: Candidate, validation: list, references: list[Episode], seen: dict[str, Candidate]) -> None:
        folder = self.run.path / c.label
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "response.md", c.response + "\n")
        c.code = extract_code(c.response)
        if c.code is None:
            c.reason = "the answer has no ```python block that defines compute_reward(state, action, next_state)"
            return
        atomic_write_text(folder / "code.py", c.code)
        if not any(line.strip().startswith("return") for line in c.code.splitlines()):
            c.reason = (
                f"the program ends before its return statement: the answer was cut off at max_new_tokens="
                f"{self.config.max_new_tokens}; write a shorter reward function"
            )
            return
        original = seen.setdefault(program_key(c.code), c)
        if original is not c:
            c.duplicate_of, c.ranking_score, c.would_drop = original.label, original.ranking_score, original.would_drop
            if original.valid:
                c.stage, c.reason = "duplicate", f"the same program as {original.label}; it is not trained again"
            else:
                c.stage, c.reason = original.stage, original.reason
            return
        result = screen_reward(c.code, validation, references, self.config.sandbox)
        c.stage, c.reason = result.stage, result.reason
        if result.prerank is not None:
            c.ranking_score = result.prerank.ranking
            c.would_drop = c.ranking_score is not None and c.ranking_score <= self.config.prerank_min_score

    def _save_verdict(self, c: Candidate) -> None:
        atomic_write_text(self.run.path / c.label / "verdict.json", json.dumps(c.verdict(), indent=2) + "\n")

    def _train(self, candidates: list[Candidate]) -> None:
        cfg = self.config
        chosen = [c for c in candidates if c.stage == "training"]
        jobs = [self._job(c.label, self.run.path / c.label, c.code, cfg.steps, cfg.seed) for c in chosen]
        for c, result in zip(chosen, self._run_jobs(jobs)):
            c.result = result
            if result.ok:
                c.stage, c.reason = "trained", None
            else:
                c.reason = result.error

    def _reflect(self, candidates: list[Candidate]) -> None:
        for c in candidates:
            if c.result is not None and c.result.ok:
                atomic_write_text(
                    self.run.path / c.label / "reflection.md", reflection(c.result, self.task.fitness) + "\n"
                )

    def _best(self, candidates: list[Candidate]) -> Candidate | None:
        """The fittest trained candidate that passed the screen (so that ``audit`` chooses as ``drop`` would);
        any trained one if none passed."""
        trained = [c for c in candidates if c.fitness is not None]
        pool = [c for c in trained if c.passed_screen] or trained
        return max(pool, key=lambda c: c.fitness) if pool else None

    def _final(self, best: Candidate | None) -> list[RewardTrainResult]:
        if best is None:
            return []
        atomic_write_text(self.run.path / "chosen_reward.py", f"# {best.label}\n{best.code}")
        return self._run_jobs(self._seed_jobs("final", best.code))

    # ------------------------------------------------------------------ results

    def _finish(
        self,
        candidates: list[Candidate],
        best: Candidate | None,
        final: list[RewardTrainResult],
        baselines: dict[str, list[RewardTrainResult]],
        start: float,
    ) -> RewardLoopResult:
        final_summary = _seed_summary(final) if final else None
        human = _seed_summary(baselines["human"]) if "human" in baselines else None
        sparse = _seed_summary(baselines["sparse"]) if "sparse" in baselines else None
        method = final_summary["fitness_mean"] if final_summary else None
        human_fitness = human["fitness_mean"] if human else None
        hns = human_normalized_score(method, human_fitness, sparse["fitness_mean"] if sparse else None)
        trainings = [c.result for c in candidates if c.result is not None] + final
        shares = [r.sandbox.get("share_of_training", 0.0) for r in trainings if r.sandbox]
        per_call = [r.sandbox.get("us_per_call", 0.0) for r in trainings if r.sandbox.get("calls")]
        usage = self._usage_before + (self._llm.usage if isinstance(self._llm, LLM) else Usage())
        usage.save(self.run.path)
        result = RewardLoopResult(
            run_dir=str(self.run.path),
            task=self.task.name,
            mode=self.config.mode,
            best_label=best.label if best else None,
            best_code=best.code if best else None,
            best_candidate_fitness=best.fitness if best else None,
            final=final_summary,
            human=human,
            sparse=sparse,
            human_normalized_score=hns,
            generated_ge_human=(method >= human_fitness) if method is not None and human_fitness is not None else None,
            valid_code_rate=sum(c.valid for c in candidates) / len(candidates) if candidates else 0.0,
            num_candidates=len(candidates),
            candidates=[c.row() for c in candidates],
            prerank={
                **screening_statistics(candidates, best, self.config.prerank, self.config.train_top),
                "baseline_ranking_scores": self._baseline_rankings,
                "references": self._num_references,
            },
            sandbox={
                "mean_share_of_training": float(np.mean(shares)) if shares else None,
                "mean_us_per_call": float(np.mean(per_call)) if per_call else None,
            },
            llm_usage=usage.to_dict(),
            seconds=time.perf_counter() - start,
        )
        self.run.write_json("results.json", result.to_dict())
        from mentor.rewards.report import render_reward_report

        render_reward_report(self.run.path)
        return result
