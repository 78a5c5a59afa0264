"""TextWorld cooking games at three difficulty levels, generated locally and cached by seed.

The games are TextWorld's ``tw-cooking`` challenge (the First TextWorld Problems games, also used
by BALROG): read the cookbook, gather and prepare the ingredients, cook the meal and eat it. Each
recipe step scores a point, so progress is measurable (``score / max_score``).

============================ =================================================== ==========
id                           ``tw-make tw-cooking`` settings                      step limit
============================ =================================================== ==========
``mentor/TextWorld-Easy-v0``   ``--recipe 1 --take 1 --go 1`` (1 room, 3 points)    50
``mentor/TextWorld-Medium-v0`` ``--recipe 2 --take 2 --go 6 --open --cut``          100
``mentor/TextWorld-Hard-v0``   ``--recipe 3 --take 3 --go 9 --open --cook --cut``   200
============================ =================================================== ==========

``reset(seed=s)`` plays the game generated with ``--seed s --recipe-seed s``; ``reset()`` draws a
game from ``game_seeds`` with ``np_random``. A game is made by textworld's ``tw-cooking`` generator
(what ``tw-make tw-cooking`` runs) on first use, a few seconds in a subprocess with
``PYTHONHASHSEED=0`` so that a seed gives the same file on every machine. It is kept as
``$MENTOR_CACHE/textworld/<level>/seed-<n>.z8`` plus its ``.json``; both are written to a
temporary folder and renamed into place, so a killed or concurrent generation never leaves a
half-written game behind.

Observations and actions are strings (``gymnasium.spaces.Text``): the game's reply, cleaned of
the banner and prompt, and the command. The reward is the score gained by the command; an episode
terminates when the game is won or lost. Meta commands (``quit``, ``restart``, ``undo``, ``save``
...) are answered without reaching the game, since they would leave it waiting for a yes or no.
"""

from __future__ import annotations

import dataclasses
import os
import re
import string
import subprocess
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from mentor.envs.registry import MentorEnvSpec
from mentor.envs.text_view import TextObservation, TextView
from mentor.errors import ConfigError, UnknownComponentError
from mentor.paths import cache_root

__all__ = [
    "TextWorldLevel",
    "LEVELS",
    "TextWorldConfig",
    "TextWorldEnv",
    "TextWorldTextView",
    "clean_game_text",
    "game_path",
    "ensure_games",
    "make_textworld",
    "env_specs",
]


@dataclass(frozen=True)
class TextWorldLevel:
    """One difficulty level: the ``tw-make tw-cooking`` settings and the episode step limit."""

    name: str
    """Level key (``"easy"``), also the cache folder name."""
    recipe: int
    """Ingredients in the recipe."""
    take: int
    """Ingredients to find in the house (the rest start in the inventory)."""
    go: int
    """Rooms: 1, 6, 9 or 12."""
    open: bool = False
    """Containers and doors must be opened."""
    cook: bool = False
    """Some ingredients must be cooked (roasted, fried, grilled)."""
    cut: bool = False
    """Some ingredients must be cut (sliced, diced, chopped)."""
    max_episode_steps: int = 100
    """Commands before the episode is truncated."""

    def settings(self, seed: int) -> dict[str, Any]:
        """The ``tw-cooking`` settings of this level's game ``seed`` (as ``tw-make tw-cooking`` passes them)."""
        return {
            "recipe": self.recipe,
            "take": self.take,
            "go": self.go,
            "open": self.open,
            "cook": self.cook,
            "cut": self.cut,
            "drop": False,
            "recipe_seed": seed,
            "split": None,
        }


#: The registered levels, by name.
LEVELS: dict[str, TextWorldLevel] = {
    "easy": TextWorldLevel("easy", recipe=1, take=1, go=1, max_episode_steps=50),
    "medium": TextWorldLevel("medium", recipe=2, take=2, go=6, open=True, cut=True, max_episode_steps=100),
    "hard": TextWorldLevel("hard", recipe=3, take=3, go=9, open=True, cook=True, cut=True, max_episode_steps=200),
}

_MAX_SEED = 2**32
_MAX_TEXT = 16384
_MAX_COMMAND = 200
_TEXT_CHARSET = string.printable
_COMMAND_CHARSET = string.ascii_letters + string.digits + " -',."
_META_VERBS = frozenset(
    "quit q restart restore save undo oops script unscript transcript noscript verify version".split()
)
_META_REPLY = "That command is not available in this game."
_BANNER_LINE = re.compile(r"^[ _|\\$/<>]*[_|\\$][ _|\\$/<>]*$")
_PROMPT_TAIL = re.compile(r">?\s*(?:-= .*? =-\s*\d+/\d+)?\s*$")
_GAME_OVER_QUESTION = "Would you like to RESTART, RESTORE a saved game, QUIT or UNDO the last command?"
_ROOM_TITLE = re.compile(r"^-= (.+?) =-", re.MULTILINE)


def clean_game_text(text: str | None) -> str:
    """A game's output without banner, prompt, status line and runs of blank lines."""
    if not text:
        return ""
    text = _PROMPT_TAIL.sub("", text.replace(_GAME_OVER_QUESTION, ""))
    lines = [line.rstrip() for line in text.splitlines() if not _BANNER_LINE.match(line)]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    text = text.encode("ascii", "replace").decode("ascii")
    return "".join(c if c in _TEXT_CHARSET else " " for c in text)[:_MAX_TEXT]


def _cache_root(cache_dir: str | Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return cache_root() / "textworld"


def _level(name: str) -> TextWorldLevel:
    if name not in LEVELS:
        raise UnknownComponentError("TextWorld level", name, LEVELS)
    return LEVELS[name]


def game_path(level: str, seed: int, cache_dir: str | Path | None = None) -> Path:
    """Where game ``seed`` of ``level`` is cached: ``<cache>/<level>/seed-<seed>.z8``.

    Args:
        level: a key of :data:`LEVELS`.
        seed: the game's seed.
        cache_dir: the games folder; ``None`` means ``$MENTOR_CACHE/textworld``.
    """
    return _cache_root(cache_dir) / _level(level).name / f"seed-{seed}.z8"


def _is_cached(path: Path) -> bool:
    return path.is_file() and path.with_suffix(".json").is_file()


@contextmanager
def _atomic_game(path: Path) -> Iterator[Path]:
    """Yield a temporary ``.z8`` path beside ``path``; when the block succeeds, rename the game and
    its ``.json`` into place (the ``.z8`` last, so a cached ``.z8`` always has its ``.json``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}-") as tmp:
        out = Path(tmp) / path.name
        yield out
        os.replace(out.with_suffix(".json"), path.with_suffix(".json"))
        os.replace(out, path)


def _generate_here(level: str, folder: str, seeds: list[int]) -> None:
    """Make and compile each game in this process; run by :func:`ensure_games`'s subprocesses."""
    import textworld
    import textworld.challenges

    make = textworld.challenges.CHALLENGES["tw-cooking"][1]
    for seed in seeds:
        with _atomic_game(Path(folder) / f"seed-{seed}.z8") as out:
            options = textworld.GameOptions()
            options.seeds = seed
            options.path = str(out)
            options.force_recompile = True
            textworld.generator.compile_game(make(LEVELS[level].settings(seed), options), options)


def _generator_command(level: str, folder: Path, seeds: list[int]) -> list[str]:
    code = (
        "import sys; from mentor.envs.textworld import _generate_here; "
        "_generate_here(sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]])"
    )
    return [sys.executable, "-c", code, level, str(folder), *map(str, seeds)]


def ensure_games(level: str, seeds: Iterable[int], cache_dir: str | Path | None = None) -> list[Path]:
    """Generate the games of ``seeds`` that are not cached yet, and return all their paths.

    Missing games are made by textworld's ``tw-cooking`` generator (what ``tw-make tw-cooking``
    runs) in up to ``os.cpu_count()`` subprocesses with ``PYTHONHASHSEED=0``, so that a seed gives
    the same game file on every machine.

    Args:
        level: a key of :data:`LEVELS`.
        seeds: game seeds, each in ``[0, 2**32)``.
        cache_dir: the games folder; ``None`` means ``$MENTOR_CACHE/textworld``.

    Raises:
        UnknownComponentError: ``level`` is not a level.
        ValueError: a seed is out of range.
        RuntimeError: generation failed; the message quotes the generator's last lines.
    """
    seeds = list(seeds)
    for seed in seeds:
        if not isinstance(seed, int) or not 0 <= seed < _MAX_SEED:
            raise ValueError(f"game seed ({seed!r}) must be an integer in [0, 2**32)")
    paths = [game_path(level, seed, cache_dir) for seed in seeds]
    missing = sorted({s for s, p in zip(seeds, paths) if not _is_cached(p)})
    if missing:
        folder = paths[0].parent
        folder.mkdir(parents=True, exist_ok=True)
        root = str(Path(__file__).resolve().parents[2])
        env = {
            **os.environ,
            "PYTHONHASHSEED": "0",
            "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
        }
        workers = min(len(missing), os.cpu_count() or 1)
        chunks = [missing[i::workers] for i in range(workers)]
        procs = [
            subprocess.Popen(
                _generator_command(level, folder, chunk),
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for chunk in chunks
        ]
        outputs = [proc.communicate()[0] for proc in procs]
        for chunk, proc, output in zip(chunks, procs, outputs):
            failed = [seed for seed in chunk if not _is_cached(game_path(level, seed, cache_dir))]
            if proc.returncode or failed:
                tail = " | ".join(output.strip().splitlines()[-3:])
                raise RuntimeError(
                    f"generating {level} games {failed or chunk} failed (exit {proc.returncode}): {tail}"
                )
    return paths


@dataclass
class TextWorldConfig:
    """How a :class:`TextWorldEnv` is built."""

    level: str = "easy"
    """A key of :data:`LEVELS`."""
    game_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    """Games ``reset()`` draws from when it is given no seed."""
    cache_dir: str | None = None
    """Folder of generated games; ``None`` means ``$MENTOR_CACHE/textworld``."""
    max_open_games: int = 8
    """Games kept loaded at once (switching to a loaded game skips a ~0.4 s start)."""

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ConfigError(f"level ({self.level!r}) must be one of {', '.join(map(repr, LEVELS))}")
        self.game_seeds = tuple(self.game_seeds)
        if not self.game_seeds:
            raise ConfigError("game_seeds (()) must hold at least one seed")
        bad = [s for s in self.game_seeds if not isinstance(s, int) or not 0 <= s < _MAX_SEED]
        if bad:
            raise ConfigError(f"game_seeds ({bad[0]!r}) must be integers in [0, 2**32)")
        if self.max_open_games < 1:
            raise ConfigError(f"max_open_games ({self.max_open_games}) must be at least 1")


def _sanitise_command(command: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in str(command)).split())


class TextWorldEnv(gym.Env):
    """A TextWorld cooking game with string observations and actions.

    ``info`` holds ``score``, ``max_score``, ``admissible_commands``, ``won``, ``lost``,
    ``feedback`` (the observation), ``inventory``, ``location`` (the room's name), ``moves`` and
    ``game_seed``.

    Args:
        config: how to build it; ``None`` for the defaults.
        render_mode: ``None`` or ``"ansi"`` (``render()`` returns the last observation).
        **overrides: :class:`TextWorldConfig` fields replacing those of ``config``.

    Example:
        >>> env = TextWorldEnv(level="easy")
        >>> obs, info = env.reset(seed=0)  # doctest: +SKIP
        >>> info["max_score"]  # doctest: +SKIP
        3
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, config: TextWorldConfig | None = None, *, render_mode: str | None = None, **overrides: Any):
        config = config or TextWorldConfig()
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        if render_mode not in (None, "ansi"):
            raise ConfigError(f"render_mode ({render_mode!r}) must be None or 'ansi'")
        self.render_mode = render_mode
        self.level = LEVELS[self.config.level]
        self.observation_space = spaces.Text(_MAX_TEXT, min_length=0, charset=_TEXT_CHARSET)
        self.action_space = spaces.Text(_MAX_COMMAND, min_length=0, charset=_COMMAND_CHARSET)
        self._games: OrderedDict[Path, Any] = OrderedDict()
        self._game: Any = None
        self._state: Any = None
        self._feedback = ""
        self.game_seed: int | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        """Start game ``seed`` (generated on first use), or one of ``game_seeds`` drawn with ``np_random``."""
        if seed is not None and not 0 <= seed < _MAX_SEED:
            raise ValueError(f"seed ({seed}) must be in [0, 2**32): it is the seed of the game to generate")
        super().reset(seed=seed)
        self.game_seed = seed if seed is not None else int(self.np_random.choice(self.config.game_seeds))
        self._game = self._load(self.game_seed)
        self._state = self._game.reset()
        self._feedback = clean_game_text(self._state["feedback"])
        return self._feedback, self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        """Send a command; the reward is the score it gained."""
        previous = self._require_state()["score"]
        command = _sanitise_command(action)
        if command.split(" ", 1)[0].lower() in _META_VERBS:
            self._feedback = _META_REPLY
            return self._feedback, 0.0, False, False, self._info()
        self._state, _, _ = self._game.step(command)
        self._feedback = clean_game_text(self._state["feedback"])
        terminated = bool(self._state["won"] or self._state["lost"])
        return self._feedback, float(self._state["score"] - previous), terminated, False, self._info()

    def render(self) -> str | None:
        """The last observation when ``render_mode == "ansi"``, else ``None``."""
        return self._feedback if self.render_mode == "ansi" else None

    def close(self) -> None:
        for game in self._games.values():
            game.close()
        self._games.clear()
        self._game = self._state = None

    @property
    def state(self) -> Any:
        """textworld's ``GameState`` after the last command (``None`` before ``reset``)."""
        return self._state

    @property
    def feedback(self) -> str:
        """The game's cleaned reply to the last command: the last observation."""
        return self._feedback

    @property
    def objective(self) -> str:
        """The game's objective text."""
        return self._require_state()["objective"]

    @property
    def admissible_commands(self) -> list[str]:
        """The commands that make sense in the current state."""
        return list(self._require_state()["admissible_commands"] or [])

    @property
    def walkthrough(self) -> list[str]:
        """Commands that win the game from its start (from the game file)."""
        return list(self._require_state()["extra.walkthrough"])

    @property
    def location(self) -> str | None:
        """The name of the player's room, from the room description's title."""
        state = self._require_state()
        if state.get("location"):
            return str(state["location"])
        title = _ROOM_TITLE.search(state["description"] or "")
        return title.group(1) if title else None

    def _require_state(self) -> Any:
        if self._state is None:
            raise RuntimeError("TextWorldEnv has no game before reset(); call reset() first")
        return self._state

    def _info(self) -> dict[str, Any]:
        state = self._state
        return {
            "score": int(state["score"]),
            "max_score": int(state["max_score"]),
            "admissible_commands": self.admissible_commands,
            "won": bool(state["won"]),
            "lost": bool(state["lost"]),
            "feedback": self._feedback,
            "inventory": clean_game_text(state["inventory"]),
            "location": self.location,
            "moves": int(state["moves"] or 0),
            "game_seed": self.game_seed,
        }

    def _load(self, seed: int) -> Any:
        (path,) = ensure_games(self.level.name, [seed], self.config.cache_dir)
        if path in self._games:
            self._games.move_to_end(path)
            return self._games[path]
        import textworld

        infos = textworld.EnvInfos(
            feedback=True,
            description=True,
            inventory=True,
            location=True,
            score=True,
            max_score=True,
            moves=True,
            won=True,
            lost=True,
            objective=True,
            admissible_commands=True,
            extras=["walkthrough"],
        )
        self._games[path] = textworld.start(str(path), request_infos=infos)
        while len(self._games) > self.config.max_open_games:
            self._games.popitem(last=False)[1].close()
        return self._games[path]


class TextWorldTextView(TextView):
    """A TextWorld game in words: its reply as feedback, the room and inventory as the observation,
    the admissible commands as actions, and the score (also as 0-100 progression) in extras.
    """

    def admissible_actions(self) -> list[str]:
        return self.env.unwrapped.admissible_commands

    def _text_to_action(self, action: str) -> str:
        return next(c for c in self.admissible_actions() if c.lower() == action)

    def _describe(self) -> TextObservation:
        env: TextWorldEnv = self.env.unwrapped
        state = env._require_state()
        score, max_score = int(state["score"]), int(state["max_score"])
        room = clean_game_text(state["description"])
        inventory = clean_game_text(state["inventory"])
        return TextObservation(
            mission=clean_game_text(state["objective"]),
            observation="\n".join(part for part in (room, inventory, f"Score: {score}/{max_score}.") if part),
            actions=tuple(env.admissible_commands),
            feedback=env.feedback,
            extras={
                "score": score,
                "max_score": max_score,
                "progression": 100.0 * score / max_score if max_score else 0.0,
                "moves": int(state["moves"] or 0),
                "won": bool(state["won"]),
                "lost": bool(state["lost"]),
                "location": env.location,
            },
        )


def make_textworld(render_mode: str | None = None, **config: Any) -> TextWorldTextView:
    """Build a :class:`TextWorldEnv` from :class:`TextWorldConfig` fields, with its text view."""
    return TextWorldTextView(TextWorldEnv(TextWorldConfig(**config), render_mode=render_mode))


def env_specs() -> list[MentorEnvSpec]:
    return [
        MentorEnvSpec(
            id=f"mentor/TextWorld-{level.name.capitalize()}-v0",
            entry_point="mentor.envs.textworld:make_textworld",
            family="textworld",
            kwargs={"level": level.name},
            max_episode_steps=level.max_episode_steps,
        )
        for level in LEVELS.values()
    ]
