"""The LLM planner: a mission, a text observation and a skill list in, an ordered subgoal list out.

Two modes:

- ``llm``: the LLM writes a numbered plan of skills. A backend that decodes under a constraint
  writes it under :func:`plan_constraint`, built at each decision from the skills offered then, so
  every item is one offered skill; otherwise the answer is parsed with :mod:`mentor.llm.parsing`
  (one repair attempt), and items naming no known skill are dropped and counted. The plan runs step by step and is made again when a skill fails or times out, when the
  next planned skill cannot start, or when it runs out. Planned steps the skill model deems
  hopeless (affordance below ``veto_below``) are skipped, and a skill that failed ``max_failures``
  times in the episode is no longer offered. An unparseable plan, or one more plan than
  ``max_plans`` in an episode, falls back to SayCan for that decision. It never raises on an answer.
- ``saycan``: each decision picks the skill maximising usefulness x affordance (Ahn et al., 2022):
  usefulness is the LLM's probability of the skill's name as the next plan step (``LLM.score``,
  normalised over the candidates), affordance is the skill's success estimate (the skill model's
  value function, or its measured success rate). A skill already run in the episode is discounted by
  ``repeat_penalty`` per earlier run (a small LLM otherwise repeats its own plan steps, such as "go to
  the red door", or a skill that keeps failing, forever).
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from mentor.envs.text_view import TextObservation
from mentor.errors import ConfigError
from mentor.llm.base import LLM, NORMALIZATIONS
from mentor.llm.constraints import Grammar, lark_literal, numbered_list
from mentor.llm.parsing import ParseError, ask, parse_list
from mentor.skills.library import PlanExample, Skill

__all__ = [
    "PLANNER_MODES",
    "Decision",
    "PlannerConfig",
    "PlannerStats",
    "Planner",
    "SayCanScore",
    "saycan_scores",
    "match_skill",
    "parse_plan",
    "plan_constraint",
    "Affordances",
]

PLANNER_MODES: tuple[str, ...] = ("llm", "saycan")

#: Skill name -> its affordance now (in [0, 1]), as the options env gives it in ``info["affordances"]``;
#: ``None`` means every skill is equally afforded.
Affordances = Mapping[str, float]

_SYSTEM = (
    "You are the planner of an agent. You break a mission into steps. Answer with a numbered list of "
    "skills, each copied from the skill list, and nothing else."
)
_ARTICLES = re.compile(r"\b(the|a|an)\b")

#: Words a plan item may add or drop without changing which skill it names.
_FILLER = frozenset(("the", "a", "an", "some", "then", "first", "next", "now", "finally", "please", "step"))
_ALIASES = {"wooden": "wood", "gray": "grey", "colour": "color"}


@dataclass
class PlannerConfig:
    """How the planner decides.

    Attributes:
        mode: ``llm`` (generate a plan, repair once, fall back to SayCan) or ``saycan``.
        max_plan_length: planned steps kept from one plan.
        max_new_tokens: tokens the LLM may write for one plan.
        max_plans: LLM plans per episode; later decisions use SayCan (bounds the LLM cost).
        normalize: how SayCan turns a skill name's token log-probs into one score
            (``sum``, per-``token`` mean, per-``word``).
        min_affordance: floor of every affordance, so that no skill is ruled out by its estimate alone.
        repeat_penalty: SayCan factor per earlier run of the same skill in the episode (1: none).
        max_failures: failures of a skill in an episode after which it is no longer offered.
        veto_below: planned steps whose affordance is below this are skipped (0: follow every plan step).
        few_shot: put the library's worked examples in the prompts (as chat turns for plans, as text for SayCan).
        history: most recent skill outcomes shown in the prompts.
        match_cutoff: similarity (difflib ratio) an answer item needs to count as a skill name with the
            same key words (see :func:`match_skill`).
    """

    mode: str = "llm"
    max_plan_length: int = 6
    max_new_tokens: int = 48
    max_plans: int = 8
    normalize: str = "token"
    min_affordance: float = 0.01
    repeat_penalty: float = 0.3
    max_failures: int = 2
    veto_below: float = 0.3
    few_shot: bool = True
    history: int = 6
    match_cutoff: float = 0.75

    def __post_init__(self) -> None:
        if self.mode not in PLANNER_MODES:
            raise ConfigError(f"planner mode {self.mode!r} is not one of {', '.join(PLANNER_MODES)}.")
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"normalize {self.normalize!r} is not one of {', '.join(NORMALIZATIONS)}.")
        for name in ("max_plan_length", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} ({getattr(self, name)}) must be at least 1.")
        if self.max_plans < 0 or self.history < 0:
            raise ConfigError(f"max_plans ({self.max_plans}) and history ({self.history}) must be >= 0.")
        if not 0.0 < self.repeat_penalty <= 1.0:
            raise ConfigError(f"repeat_penalty ({self.repeat_penalty}) must lie in (0, 1].")
        if self.max_failures < 1:
            raise ConfigError(f"max_failures ({self.max_failures}) must be at least 1.")
        if not 0.0 <= self.veto_below <= 1.0:
            raise ConfigError(f"veto_below ({self.veto_below}) must lie in [0, 1].")
        if not 0.0 <= self.min_affordance <= 1.0:
            raise ConfigError(f"min_affordance ({self.min_affordance}) must lie in [0, 1].")
        if not 0.0 < self.match_cutoff <= 1.0:
            raise ConfigError(f"match_cutoff ({self.match_cutoff}) must lie in (0, 1].")


@dataclass
class PlannerStats:
    """What the planner did (summed over episodes until :meth:`Planner.reset_stats`)."""

    plans: int = 0
    """LLM plans asked for."""
    planned_steps: int = 0
    """Skills taken from LLM plans."""
    unknown_skills: int = 0
    """Plan items that named no offered skill (dropped); for a plan that fell back to SayCan, every
    item of its last answer."""
    plan_fallbacks: int = 0
    """Plans that did not parse after the repair (SayCan decided instead)."""
    replans: int = 0
    """Plans made again after a failed, timed-out or impossible step."""
    vetoed: int = 0
    """Planned steps skipped because their affordance was below ``veto_below``."""
    saycan_decisions: int = 0
    """Decisions made by SayCan scoring."""

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class SayCanScore:
    """One candidate of a SayCan decision."""

    skill: str
    usefulness: float
    """The LLM's probability of the skill as the next step, normalised over the candidates."""
    affordance: float
    """The skill's success estimate, floored at ``min_affordance``."""
    novelty: float = 1.0
    """``repeat_penalty`` to the power of the skill's earlier runs in the episode."""

    @property
    def combined(self) -> float:
        return self.usefulness * self.affordance * self.novelty


def saycan_scores(
    names: Sequence[str],
    log_likelihoods: Sequence[float],
    affordances: Sequence[float],
    min_affordance: float = 0.0,
    runs: Mapping[str, int] | None = None,
    repeat_penalty: float = 1.0,
) -> list[SayCanScore]:
    """Usefulness (softmax of the log-likelihoods) x affordance (floored) x novelty for each candidate.

    Args:
        names: the candidate skills.
        log_likelihoods: the LLM's score of each.
        affordances: each one's success estimate.
        min_affordance: floor of the affordances.
        runs: earlier runs of each skill in the episode.
        repeat_penalty: factor per earlier run.

    Raises:
        ValueError: the three sequences differ in length, or are empty.

    Example:
        >>> [round(s.combined, 2) for s in saycan_scores(["a", "b"], [0.0, 0.0], [0.2, 0.8])]
        [0.1, 0.4]
    """
    if not names or not len(names) == len(log_likelihoods) == len(affordances):
        raise ValueError(
            f"SayCan needs as many log-likelihoods ({len(log_likelihoods)}) and affordances ({len(affordances)}) "
            f"as candidates ({len(names)}), and at least one."
        )
    runs = runs or {}
    top = max(log_likelihoods)
    weights = [math.exp(s - top) for s in log_likelihoods]
    total = sum(weights)
    return [
        SayCanScore(name, w / total, max(float(a), min_affordance), repeat_penalty ** runs.get(name, 0))
        for name, w, a in zip(names, weights, affordances)
    ]


def _canonical(text: str) -> str:
    text = _ARTICLES.sub(" ", text.lower())
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text).split())


def _word(word: str, vocabulary: frozenset[str]) -> str:
    """``word`` with its alias applied and a plural ``-s``/``-es`` removed where that gives a known word."""
    word = _ALIASES.get(word, word)
    for suffix in ("es", "s"):
        if word not in vocabulary and word.endswith(suffix) and word[: -len(suffix)] in vocabulary:
            return word[: -len(suffix)]
    return word


def _words(canonical: str, vocabulary: frozenset[str]) -> frozenset[str]:
    """The words of a canonical text that matter: singular, aliased, without filler."""
    return frozenset(_word(w, vocabulary) for w in canonical.split() if w not in _FILLER)


def match_skill(item: str, names: Sequence[str], cutoff: float = 0.75, key_words: Iterable[str] = ()) -> str | None:
    """The skill name a plan item means, or ``None``.

    Tried in turn: exact; the same without case, articles and punctuation; the same words in any
    order (plurals, "wooden" and filler words such as "then" or "first" aside); the closest name
    (difflib ratio at least ``cutoff``) among those with the item's key words (``key_words``, a
    library's :attr:`~mentor.skills.library.SkillLibrary.planner_key_words`: colours, objects,
    materials, directions); the longest skill name the item mentions ("The first step is to pick up
    the red key."). An item is never mapped onto a skill whose key words differ: "open the red door"
    does not become "open the green door".

    Example:
        >>> match_skill("Pick up red key.", ["pick up the red key", "open the red door"])
        'pick up the red key'
        >>> match_skill("open red door", ["open the green door"], key_words={"red", "green"}) is None
        True
    """
    key_words = frozenset(key_words)
    if item in names:
        return item
    canonical = {_canonical(n): n for n in names}
    key = _canonical(re.sub(r"\(.*?\)", "", item))
    if key in canonical:
        return canonical[key]
    vocabulary = key_words.union(*(c.split() for c in canonical))
    words = _words(key, vocabulary)
    same_words = [c for c in canonical if _words(c, vocabulary) == words]
    if len(same_words) == 1:
        return canonical[same_words[0]]
    same_keys = [c for c in canonical if _words(c, vocabulary) & key_words == words & key_words]
    close = difflib.get_close_matches(key, same_keys, n=1, cutoff=cutoff)
    if close:
        return canonical[close[0]]
    mentioned = [c for c in canonical if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", key)]
    return canonical[max(mentioned, key=len)] if mentioned else None


def parse_plan(
    text: str, names: Sequence[str], cutoff: float = 0.75, key_words: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """The skill names of a plan answer, in order and each once, and the items that named none
    (each item matched by :func:`match_skill`).

    Raises:
        ParseError: the answer holds no list item, or none of its items names a skill.

    Example:
        >>> parse_plan("Plan:\\n1. pick up the key\\n2. fly away", ["pick up the key", "explore"])
        (['pick up the key'], ['fly away'])
    """
    items = parse_list(text)
    matched, unknown = [], []
    for item in items:
        name = match_skill(item, names, cutoff, key_words)
        if name is None:
            unknown.append(item)
        elif name not in matched:
            matched.append(name)
    if not matched:
        shown = ", ".join(repr(i) for i in items[:4])
        raise ParseError(f"none of the items ({shown}) is one of the listed skills.")
    return matched, unknown


@dataclass(frozen=True)
class Decision:
    """A high level's choice of skill.

    Attributes:
        skill: the skill to run.
        source: how it was chosen: ``plan`` (a step of an LLM plan), ``saycan`` or ``sb3``.
        scores: the candidates' scores behind the choice, by skill name (SayCan's combined score); empty for a plan.
    """

    skill: Skill
    source: str
    scores: dict[str, float] = field(default_factory=dict)


class Planner:
    """Chooses the next skill from a text observation, by LLM plans or SayCan scoring.

    Args:
        llm: the language model (see :func:`mentor.llm.make_llm`).
        config: how to plan; ``None`` for :class:`PlannerConfig` defaults.
        examples: worked missions and plans for few-shot prompts (a library's ``planner_examples``).
        rules: what the planner should know about the world (a library's ``planner_rules``).
        key_words: words that tell the skills apart when plan items are matched to them (a library's
            ``planner_key_words``).

    Example:
        >>> from mentor.llm.testing import ScriptedLLM
        >>> planner = Planner(ScriptedLLM(["1. pick up the key\\n2. open the door"]))
        >>> skills = [Skill("pick up the key", "pick_up"), Skill("open the door", "open")]
        >>> [s.name for s in planner.plan(TextObservation("open the door", "You see a key", ()), skills)]
        ['pick up the key', 'open the door']
    """

    def __init__(
        self,
        llm: LLM,
        config: PlannerConfig | None = None,
        examples: Sequence[PlanExample] = (),
        rules: str = "",
        key_words: Iterable[str] = (),
    ):
        self.llm = llm
        self.config = config if config is not None else PlannerConfig()
        self.examples = tuple(examples)
        self.rules = rules
        self.key_words = frozenset(key_words)
        self.stats = PlannerStats()
        self._queue: list[str] = []
        self._history: list[tuple[str, bool]] = []
        self._plans_this_episode = 0
        self._needs_replan = False

    # ---- episode bookkeeping
    def reset(self) -> None:
        """Forget the plan and history of the last episode."""
        self._queue, self._history = [], []
        self._plans_this_episode = 0
        self._needs_replan = False

    def reset_stats(self) -> PlannerStats:
        """Return the stats so far and start counting afresh."""
        stats, self.stats = self.stats, PlannerStats()
        return stats

    @property
    def queue(self) -> list[str]:
        """Planned skill names not yet run."""
        return list(self._queue)

    def report(self, skill: Skill, success: bool) -> None:
        """Record how a skill ended; a failure (or timeout) makes the next decision re-plan."""
        self._history.append((skill.name, success))
        if not success:
            self._queue.clear()
            self._needs_replan = True

    # ---- decisions
    def choose(
        self, text: TextObservation, skills: Sequence[Skill], affordances: Affordances | None = None
    ) -> Decision:
        """The skill to run now, from the current plan, a new plan, or SayCan, and how it was chosen.

        Skills that already failed ``max_failures`` times in the episode are left out (unless nothing
        else is left). A planned step whose affordance is below ``veto_below`` is skipped.

        Raises:
            ValueError: ``skills`` is empty.
        """
        if not skills:
            raise ValueError("the planner needs at least one available skill to choose from.")
        failures = Counter(name for name, ok in self._history if not ok)
        skills = [s for s in skills if failures[s.name] < self.config.max_failures] or list(skills)
        by_name = {s.name: s for s in skills}
        if self.config.mode == "llm":
            skill = self._next_planned(text, by_name, affordances)
            if skill is not None:
                self.stats.planned_steps += 1
                return Decision(skill, "plan")
        skill, scores = self.saycan(text, skills, affordances)
        return Decision(skill, "saycan", {score.skill: score.combined for score in scores})

    def _next_planned(
        self, text: TextObservation, by_name: dict[str, Skill], affordances: Affordances | None
    ) -> Skill | None:
        """The next step of the plan (made again when needed), or ``None`` when no plan is left."""
        while True:
            if self._queue and self._queue[0] not in by_name:
                self._queue.clear()
                self._needs_replan = True
            if not self._queue:
                if self._plans_this_episode >= self.config.max_plans:
                    return None
                if self._needs_replan:
                    self.stats.replans += 1
                self._queue = [s.name for s in self.plan(text, list(by_name.values()))]
                self._needs_replan = False
                if not self._queue:
                    return None
            skill = by_name[self._queue.pop(0)]
            if affordances is None or self.config.veto_below <= 0 or affordances[skill.name] >= self.config.veto_below:
                return skill
            self.stats.vetoed += 1
            self._needs_replan = not self._queue

    def plan(self, text: TextObservation, skills: Sequence[Skill]) -> list[Skill]:
        """Ask the LLM for a plan over ``skills``; empty when it fails to parse after one repair.

        Args:
            text: the current text observation.
            skills: the skills the plan may use (shown to the LLM).
        """
        self.stats.plans += 1
        self._plans_this_episode += 1
        names = [s.name for s in skills]
        unknown: list[str] = []

        def parse(answer: str) -> list[str]:
            try:
                matched, dropped = parse_plan(answer, names, self.config.match_cutoff, self.key_words)
            except ParseError:
                try:  # no item named a skill: every item of the answer is unknown
                    unknown[:] = parse_list(answer)
                except ParseError:
                    unknown[:] = []
                raise
            unknown[:] = dropped
            return matched

        hint = "a numbered list of skills, each copied exactly from the skill list"
        max_new_tokens = self.config.max_new_tokens
        constraint = None
        if self.llm.supports_constraints:
            constraint = plan_constraint(names, self.config.max_plan_length)
            # Room for the longest plan the grammar allows (a token holds at least one character), so that
            # none is cut mid-item; the grammar ends the answer after its last item anyway.
            longest = self.config.max_plan_length * (max(len(n) for n in names) + 5)
            max_new_tokens = max(max_new_tokens, longest + 1)
        matched = ask(
            self.llm,
            self._plan_messages(text, names),
            parse,
            fallback=None,
            what="a numbered list of skills",
            format_hint=hint,
            max_new_tokens=max_new_tokens,
            constraint=constraint,
        )
        self.stats.unknown_skills += len(unknown)
        if matched is None:
            self.stats.plan_fallbacks += 1
            return []
        by_name = {s.name: s for s in skills}
        return [by_name[n] for n in matched][: self.config.max_plan_length]

    def saycan(
        self, text: TextObservation, skills: Sequence[Skill], affordances: Affordances | None = None
    ) -> tuple[Skill, list[SayCanScore]]:
        """The skill with the highest usefulness x affordance, and every candidate's scores."""
        self.stats.saycan_decisions += 1
        names = [s.name for s in skills]
        if len(names) == 1:
            return skills[0], [SayCanScore(names[0], 1.0, 1.0)]
        loglik = self.llm.score(self.saycan_prompt(text), [f" {n}" for n in names], self.config.normalize)
        weights = [affordances[n] for n in names] if affordances is not None else [1.0] * len(names)
        runs = Counter(name for name, _ in self._history)
        scores = saycan_scores(names, loglik, weights, self.config.min_affordance, runs, self.config.repeat_penalty)
        best = max(range(len(scores)), key=lambda i: scores[i].combined)
        return skills[best], scores

    # ---- prompts
    def _history_lines(self) -> tuple[list[str], list[str]]:
        recent = self._history[-self.config.history :] if self.config.history else []
        return [n for n, ok in recent if ok], [n for n, ok in recent if not ok]

    def _plan_messages(self, text: TextObservation, names: Sequence[str]) -> list[dict[str, str]]:
        done, failed = self._history_lines()
        system = f"{_SYSTEM} {self.rules}".strip()
        messages = [{"role": "system", "content": system}]
        if self.config.few_shot:
            for ex in self.examples:
                messages.append({"role": "user", "content": _state(ex.mission, ex.observation, ex.skills)})
                messages.append({"role": "assistant", "content": _numbered(ex.plan)})
        request = _state(text.mission, text.observation, names)
        if done:
            request += "\nDone so far: " + "; ".join(done)
        if failed:
            request += "\nFailed: " + "; ".join(failed)
        messages.append({"role": "user", "content": request})
        return messages

    def saycan_prompt(self, text: TextObservation) -> str:
        """The raw-text prompt whose continuation is scored: rules, examples, the state, the plan so far."""
        done, failed = self._history_lines()
        parts = [self.rules] if self.rules else []
        if self.config.few_shot:
            parts += [f"{_state(ex.mission, ex.observation)}\nPlan:\n{_numbered(ex.plan)}" for ex in self.examples]
        current = _state(text.mission, text.observation)
        if failed:
            current += "\nFailed: " + "; ".join(failed)
        steps = "".join(f"{i}. {name}\n" for i, name in enumerate(done, start=1))
        parts.append(f"{current}\nPlan:\n{steps}{len(done) + 1}.")
        return "\n\n".join(parts)


def plan_constraint(names: Sequence[str], max_items: int) -> Grammar:
    """The grammar of a plan over the offered skills: ``1. <skill>`` to ``<max_items>. <skill>``, one per line.

    Each item is exactly one of ``names``, so an unknown skill cannot be written; the list is bounded.
    The same grammar is given in Lark (llguidance, vLLM) and GBNF (llama.cpp, SGLang).
    """
    alternatives = " | ".join(lark_literal(n) for n in dict.fromkeys(names))
    return numbered_list(alternatives, alternatives, max_items)


def _state(mission: str, observation: str, skills: Sequence[str] | None = None) -> str:
    lines = [f"Mission: {mission}", observation]
    if skills is not None:
        lines.append("Skills: " + "; ".join(skills))
    return "\n".join(lines)


def _numbered(items: Sequence[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1))
