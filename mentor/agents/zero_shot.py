"""Zero-shot LLM agents, as BALROG benchmarks them: naive, chain-of-thought and SPRING-style.

Every agent reads the env's text view (mission, observation, admissible actions) plus a short
window of its own recent steps, and answers with one action string:

- :class:`NaiveLLMAgent` asks for the action alone and parses it with
  :func:`mentor.llm.parsing.parse_choice` (or, with ``method="score"``, picks the likeliest action);
- :class:`CoTLLMAgent` asks to reason first, then to write ``Action: <action>``;
- :class:`SpringLLMAgent` (Wu et al., 2023) puts a context document about the game in the system
  prompt and asks a chain of questions before the action. The Crafter document is written from
  crafter's own ``data.yaml`` (what is collected with what, placed where, made from what).

An answer that names no admissible action is *invalid*: the env gets a no-op (Crafter ``noop``,
MiniGrid's ``done`` action, TextWorld ``look``) and the agent counts it.

Example:
    >>> from mentor.envs import make
    >>> from mentor.llm.testing import ScriptedLLM
    >>> env = make("mentor/BabyAI-GoToObj-v0")
    >>> agent = NaiveLLMAgent(ScriptedLLM(["go forward"]), family="minigrid")
    >>> _ = env.reset(seed=0)
    >>> action = agent(None, env)
    >>> int(action), agent.num_invalid
    (2, 0)
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym

from mentor.envs import TextObservation, describe, family_of, text_to_action
from mentor.envs import make as make_env
from mentor.errors import ConfigError, UnknownComponentError
from mentor.llm import LLM, Message, make_llm
from mentor.llm.constraints import Choice
from mentor.llm.parsing import ParseError, parse_choice

__all__ = [
    "GAME_INSTRUCTIONS",
    "NAIVE_METHODS",
    "SPRING_QUESTIONS",
    "CoTLLMAgent",
    "NaiveLLMAgent",
    "SpringLLMAgent",
    "ZeroShotConfig",
    "ZeroShotLLMAgent",
    "context_document",
    "crafter_context_document",
    "make_env_with_horizon",
    "noop_action",
]

NAIVE_METHODS = ("generate", "score")

#: Family -> what the game is and how to play it, the start of every agent's system prompt.
GAME_INSTRUCTIONS: dict[str, str] = {
    "minigrid": (
        "You are an agent in BabyAI, a grid world seen from above. Complete the mission written as the goal. "
        "Positions are relative to you: 'forward' is the direction you face, 'left' and 'right' are to your "
        "sides. 'turn left' and 'turn right' rotate you in place; 'go forward' moves one cell; 'pick up' takes "
        "the object right in front of you; 'drop' puts the carried object in front of you; 'toggle' opens or "
        "closes the door in front of you. To go to an object, end facing it one step forward."
    ),
    "crafter": (
        "You play Crafter, a 2D survival game like Minecraft seen from above. Unlock as many achievements as "
        "possible and stay alive. 'move left/right/up/down' walks one cell (or turns you towards a blocked "
        "cell); 'do' collects, attacks or eats the thing you are facing."
    ),
    "textworld": (
        "You play a text adventure, a TextWorld cooking game. Find the cookbook, read it, gather and prepare "
        "the ingredients as the recipe says, then prepare the meal and eat it. Only the listed commands work."
    ),
}

_MINIGRID_RULES = """Rules of BabyAI:
- You see only the cells in front of and beside you; walls block the way.
- Objects are balls, boxes and keys of six colours; doors join rooms.
- To pick up an object, stand so that it is 1 step forward, then 'pick up'. You carry one object at a time.
- A closed door opens with 'toggle' when it is 1 step forward; a locked door needs you to carry the key of its colour.
- To 'go to' an object, end facing it with the object 1 step forward.
- To put an object next to another, carry it, face an empty cell beside the other object and 'drop'."""

_TEXTWORLD_RULES = """Rules of the cooking game:
- The cookbook (examine cookbook) lists the ingredients and the directions; follow them exactly.
- Take ingredients with 'take X' or 'take X from Y'; containers and doors may need 'open' first.
- Cut with a knife you carry: 'slice', 'dice' or 'chop X with knife'.
- Cook with the right appliance: 'roast X with oven', 'fry X with stove', 'grill X with BBQ'.
- Cooking or cutting an ingredient the recipe does not ask for can burn or spoil the meal and lose the game.
- When every direction is done, 'prepare meal' in the kitchen, then 'eat meal'.
- Moving between rooms: 'go north/south/east/west'."""

_CRAFTER_SURVIVAL = """Survival:
- food, drink and energy fall over time; health falls while any of them is 0 and recovers otherwise.
- Eat a cow ('do' on it, several hits) or a ripe plant for food; 'do' facing water to drink; 'sleep' when energy is low (wake up happens by itself).
- Zombies appear on grass, more at night; skeletons live in caves. Defeat them with 'do'; they hurt you.
- Saplings planted with 'place plant' grow into plants that ripen and can be eaten."""

#: SPRING's chain of questions before the action (shortened from the paper's nine).
SPRING_QUESTIONS: tuple[str, ...] = (
    "Which of the things you see and carry matter for the goal now, according to the context? Answer in one or two sentences.",
    "What is the most useful thing to do next, and are its requirements met? Answer in one or two sentences.",
)


@functools.lru_cache(maxsize=1)
def crafter_context_document() -> str:
    """SPRING's context for Crafter, written from crafter's ``data.yaml``: what to collect, place and make."""
    import crafter
    import yaml

    data = yaml.safe_load((Path(crafter.__file__).parent / "data.yaml").read_text())
    words = lambda items: ", ".join(name.replace("_", " ") for name in items)  # noqa: E731
    uses = lambda needs: " and ".join(f"{n} {k.replace('_', ' ')}" for k, n in needs.items())  # noqa: E731

    lines = [f"Walkable ground: {words(data['walkable'])}. Materials: {words(data['materials'])}."]
    lines.append("Collect with 'do' while facing the material:")
    for material, rule in data["collect"].items():
        requirement = f"needs a {words(rule['require'])}" if rule["require"] else "needs nothing"
        receive = uses(rule["receive"])
        chance = f", with probability {rule['probability']:g}" if "probability" in rule else ""
        lines.append(f"- {material} gives {receive} ({requirement}{chance}).")
    lines.append("Place on the cell you face:")
    for thing, rule in data["place"].items():
        lines.append(f"- place {thing}: uses {uses(rule['uses'])}; allowed on {words(rule['where'])}.")
    lines.append("Make (needs the listed things within 1 cell of you):")
    for tool, rule in data["make"].items():
        lines.append(
            f"- make {tool.replace('_', ' ')}: uses {uses(rule['uses'])}; needs a nearby {' and '.join(rule['nearby'])}."
        )
    lines.append(_CRAFTER_SURVIVAL)
    lines.append(f"Achievements: {words(data['achievements'])}.")
    return "\n".join(lines)


def context_document(family: str) -> str:
    """The SPRING context document of an env family.

    Raises:
        UnknownComponentError: the family has no document (continuous-control envs have no text actions).
    """
    documents: dict[str, Callable[[], str]] = {
        "crafter": crafter_context_document,
        "minigrid": lambda: _MINIGRID_RULES,
        "textworld": lambda: _TEXTWORLD_RULES,
    }
    if family not in documents:
        raise UnknownComponentError("zero-shot agent family", family, documents)
    return documents[family]()


def noop_action(env: gym.Env) -> Any:
    """The env action that changes nothing, played when an agent's answer is invalid.

    Crafter ``noop``; MiniGrid/BabyAI ``done`` (not offered to the LLM; a no-op in every level);
    TextWorld ``look``.

    Raises:
        ValueError: the env's family has no no-op.
    """
    family = family_of(env.spec.id)
    if family == "crafter":
        return text_to_action(env, "noop")
    if family == "minigrid":
        return env.unwrapped.actions.done
    if family == "textworld":
        return "look"
    raise ValueError(
        f"envs of family {family!r} have no no-op action; zero-shot agents play crafter, minigrid or textworld."
    )


def make_env_with_horizon(env_id: str, max_steps: int | None = None) -> gym.Env:
    """``make(env_id)`` with episodes cut after ``max_steps`` steps (``None``: the env's own limit).

    Raises:
        ValueError: ``max_steps`` is below 1.
    """
    if max_steps is None:
        return make_env(env_id)
    if max_steps < 1:
        raise ValueError(f"max_steps ({max_steps}) must be at least 1, or None for the env's own limit.")
    if family_of(env_id) == "crafter":
        return make_env(env_id, length=max_steps)
    return make_env(env_id, max_episode_steps=max_steps)


@dataclass
class ZeroShotConfig:
    """How a zero-shot agent prompts its LLM."""

    # --- prompt
    history: int = 4
    """Past steps (observation and action) shown before the current one; BALROG keeps a short window."""
    history_observation_chars: int = 200
    """Each past observation is cut to this many characters."""
    max_observation_chars: int = 2000
    """The current observation is cut to this many characters."""
    use_chat_template: bool = True
    """Render the chat with the LLM's template for ``method="score"`` (the other calls use it anyway)."""

    # --- generation
    method: str = "generate"
    """Naive agent: ``generate`` the action and parse it, or ``score`` every action and take the likeliest."""
    action_tokens: int = 12
    """Most tokens of an action answer."""
    reasoning_tokens: int = 64
    """Most tokens of a chain-of-thought answer (CoT) or of each SPRING answer."""
    temperature: float = 0.0
    """Sampling temperature (0 is greedy and hits the response cache)."""
    constrain_action: bool = True
    """Decode the action under a choice of the admissible action strings (where the backend can), so that
    it is always valid; CoT and SPRING reason freely first. ``False`` is BALROG's free-text protocol."""
    questions: tuple[str, ...] = SPRING_QUESTIONS
    """SPRING's questions, asked in order before the action."""

    def __post_init__(self) -> None:
        if self.history < 0:
            raise ConfigError(f"history ({self.history}) must be at least 0.")
        if self.method not in NAIVE_METHODS:
            raise ConfigError(f"method ({self.method!r}) must be one of {', '.join(NAIVE_METHODS)}.")
        for name in ("history_observation_chars", "max_observation_chars", "action_tokens", "reasoning_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} ({getattr(self, name)}) must be at least 1.")
        if self.temperature < 0:
            raise ConfigError(f"temperature ({self.temperature}) must be 0 (greedy) or positive.")
        self.questions = tuple(self.questions)


_ACTION_MARK = re.compile(r"action\s*:", re.IGNORECASE)


def _after_action_mark(answer: str) -> str | None:
    """The text after the last ``Action:`` of an answer (``None`` when there is none)."""
    marks = list(_ACTION_MARK.finditer(answer))
    if not marks:
        return None
    rest = answer[marks[-1].end() :].strip()
    return rest.splitlines()[0] if rest else None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ZeroShotLLMAgent(ABC):
    """Base of the zero-shot agents: ``act`` keeps history and counts; subclasses implement ``_answer``.

    An agent is a benchmark policy: ``agent(obs, env)`` reads ``env``'s text view and returns the env
    action (the no-op when the answer is invalid). Call :meth:`reset` at each episode start
    (:class:`~mentor.envs.wrappers.CallOnReset` does it).

    Args:
        llm: an LLM, a spec string, or ``None`` (``$MENTOR_LLM`` or the embedded model).
        config: prompting settings; ``None`` for the defaults.
        family: the env family (``crafter``, ``minigrid``, ``textworld``), for the game instructions.
    """

    name: ClassVar[str]

    def __init__(self, llm: LLM | str | None = None, config: ZeroShotConfig | None = None, family: str = "minigrid"):
        if family not in GAME_INSTRUCTIONS:
            raise UnknownComponentError("zero-shot agent family", family, GAME_INSTRUCTIONS)
        self.llm = make_llm(llm)
        self.config = config if config is not None else ZeroShotConfig()
        self.family = family
        self.history: deque[tuple[str, str]] = deque(maxlen=self.config.history)
        self.num_steps = 0
        self.num_invalid = 0
        self.last_answer = ""

    def reset(self) -> None:
        """Forget the history (a new episode starts)."""
        self.history.clear()

    def __call__(self, obs: Any, env: gym.Env) -> Any:
        """The env action for the current state of ``env`` (``obs`` is not read: the text view is)."""
        action = self.act(describe(env))
        return text_to_action(env, action) if action is not None else noop_action(env)

    def act(self, obs: TextObservation) -> str | None:
        """The admissible action the LLM chooses, or ``None`` (counted as invalid) if it names none."""
        answer, action = self._decide(obs)
        self.last_answer = answer
        self.num_steps += 1
        if action is None:
            self.num_invalid += 1
        if self.config.history:
            shown = action if action is not None else f"{_clip(answer.strip(), 40)!r} (invalid: nothing happened)"
            self.history.append((self._observation_text(obs, self.config.history_observation_chars, True), shown))
        return action

    def stats(self) -> dict[str, Any]:
        """Steps, invalid answers and their share."""
        return {
            "agent": self.name,
            "steps": self.num_steps,
            "invalid_actions": self.num_invalid,
            "invalid_rate": self.num_invalid / self.num_steps if self.num_steps else 0.0,
        }

    # ----- prompt

    def system_prompt(self) -> str:
        """The game instructions."""
        return GAME_INSTRUCTIONS[self.family]

    def observation_block(self, obs: TextObservation) -> str:
        """Goal, recent history, the current observation and the admissible actions."""
        parts = [f"Goal: {obs.mission or '(none given)'}"]
        if self.history:
            steps = [f"Observation: {o}\nAction: {a}" for o, a in self.history]
            parts.append("Recent steps, oldest first:\n" + "\n".join(steps))
        parts.append("Current observation:\n" + self._observation_text(obs, self.config.max_observation_chars))
        parts.append("Possible actions: " + ", ".join(obs.actions))
        return "\n\n".join(parts)

    def messages(self, obs: TextObservation, request: str) -> list[Message]:
        """System prompt, then one user turn: the observation block and ``request``."""
        return [
            {"role": "system", "content": self.system_prompt()},
            {"role": "user", "content": f"{self.observation_block(obs)}\n\n{request}"},
        ]

    @staticmethod
    def _observation_text(obs: TextObservation, limit: int, one_line: bool = False) -> str:
        text = obs.observation
        if obs.feedback and obs.feedback.strip() not in text:
            text = f"{obs.feedback.strip()}\n{text}"
        return _clip(" ".join(text.split()) if one_line else text, limit)

    # ----- hooks

    def _decide(self, obs: TextObservation) -> tuple[str, str | None]:
        """The raw answer and the action it names (``None`` if none)."""
        answer = self._answer(obs)
        return answer, self._parse(answer, obs.actions)

    @abstractmethod
    def _answer(self, obs: TextObservation) -> str:
        """The LLM's raw answer for ``obs``."""

    def _parse(self, answer: str, actions: Sequence[str]) -> str | None:
        """The action an answer names (after ``Action:`` if present), or ``None``."""
        marked = _after_action_mark(answer)
        try:
            return parse_choice(marked if marked is not None else answer, actions)
        except ParseError:
            return None

    def _constrained(self, actions: Sequence[str]) -> bool:
        return bool(actions) and self.config.constrain_action and self.llm.supports_constraints

    def _generate(self, messages: list[Message], max_new_tokens: int, actions: Sequence[str] = ()) -> str:
        """One answer; with ``actions`` (and :meth:`_constrained`), exactly one of them."""
        constraint = None
        if self._constrained(actions):
            constraint = Choice(actions)
            max_new_tokens = max(max_new_tokens, max(len(a) for a in actions) + 1)  # never cut an action short
        return self.llm.generate(
            messages, max_new_tokens=max_new_tokens, temperature=self.config.temperature, constraint=constraint
        )[0]


class NaiveLLMAgent(ZeroShotLLMAgent):
    """Asks for the action alone; ``method="score"`` instead picks the likeliest action string (never invalid)."""

    name = "naive"
    #: Ends with an "Action:" cue: without it SmolLM2-135M tends to echo the observation instead of answering.
    REQUEST = "Choose one of the possible actions, and write only that action.\nAction:"

    def _decide(self, obs: TextObservation) -> tuple[str, str | None]:
        if self.config.method == "generate":
            return super()._decide(obs)
        scores = self.llm.score(self.scoring_prompt(obs), [f" {a}" for a in obs.actions], normalize="token")
        action = obs.actions[max(range(len(scores)), key=scores.__getitem__)]
        return action, action

    def scoring_prompt(self, obs: TextObservation) -> str:
        """The text the action strings continue (``method="score"``): the chat, then ``Action:``."""
        messages = self.messages(obs, self.REQUEST)
        render = getattr(self.llm, "render_chat", None)
        if self.config.use_chat_template and render is not None:
            return render(messages) + "Action:"
        return "\n\n".join(m["content"] for m in messages) + "\nAction:"

    def _answer(self, obs: TextObservation) -> str:
        return self._generate(self.messages(obs, self.REQUEST), self.config.action_tokens, obs.actions)


class CoTLLMAgent(ZeroShotLLMAgent):
    """Reasons step by step, then writes ``Action: <action>``; an answer without that line is invalid."""

    name = "cot"
    #: After free reasoning, the constrained answer is asked for on its own.
    ANSWER_REQUEST = "Now write only the action, one of the possible actions."
    REQUEST = (
        "First think step by step, in at most three short sentences, about what to do. "
        "Then write the action on a last line as 'Action: <one of the possible actions>'."
    )

    def _answer(self, obs: TextObservation) -> str:
        messages = self.messages(obs, self.REQUEST)
        reasoning = self._generate(messages, self.config.reasoning_tokens)
        if not self._constrained(obs.actions):
            return reasoning
        mark = _ACTION_MARK.search(reasoning)
        thought = reasoning[: mark.start()] if mark else reasoning
        turns = [{"role": "assistant", "content": thought.strip()}, {"role": "user", "content": self.ANSWER_REQUEST}]
        action = self._generate([*messages, *turns], self.config.action_tokens, obs.actions)
        return f"{thought.strip()}\nAction: {action}"

    def _parse(self, answer: str, actions: Sequence[str]) -> str | None:
        marked = _after_action_mark(answer)
        if marked is None:
            return None
        try:
            return parse_choice(marked, actions)
        except ParseError:
            return None


class SpringLLMAgent(ZeroShotLLMAgent):
    """SPRING: a context document about the game, a chain of questions, then the action."""

    name = "spring"
    FINAL_REQUEST = "Now choose the best action. Write it as 'Action: <one of the possible actions>' and nothing else."

    def system_prompt(self) -> str:
        return f"{GAME_INSTRUCTIONS[self.family]}\n\nContext about the game:\n{context_document(self.family)}"

    def _answer(self, obs: TextObservation) -> str:
        requests = [*self.config.questions, self.FINAL_REQUEST]
        messages = self.messages(obs, requests[0])
        for request in requests[1:]:
            reply = self._generate(messages, self.config.reasoning_tokens)
            messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": request}]
        return self._generate(messages, self.config.action_tokens, obs.actions)
