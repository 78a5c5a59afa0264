"""Crafter as Gymnasium envs with real seeding, a render-free fast mode and a text view.

Two ids:

- ``mentor/Crafter-v0``: crafter's 64x64x3 uint8 frames, ``Discrete(17)`` actions.
- ``mentor/Crafter-Symbolic-v0``: a flat float32 vector for MLP policies (see
  :data:`SYMBOLIC_SIZE`), always in fast mode.

``reset(seed=s)`` makes the world a function of ``s``: the first world after ``reset(seed=s)`` is
stock ``crafter.Env(seed=s)``'s first world, and later unseeded resets continue crafter's episode
sequence. Episodes terminate when the player dies and are truncated after ``length`` steps.
``info`` carries crafter's ``inventory``, ``achievements`` (name -> count this episode),
``semantic`` (the whole world's material/object ids), ``player_pos``, ``discount`` and ``reward``.

World generation is vectorised (:mod:`mentor.envs.crafter_worldgen`, about 20x faster than stock
and identical to it); steps and frames come from :mod:`mentor.envs.crafter_game`, equal to stock
crafter's (frames byte for byte) at several times its speed. Fast mode also skips pixel rendering.

Example:
    >>> from mentor.envs.crafter import CrafterEnv
    >>> env = CrafterEnv(fast=True)
    >>> obs, info = env.reset(seed=0)
    >>> sorted(info)[:3]
    ['achievements', 'discount', 'inventory']
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mentor.envs.registry import MentorEnvSpec
from mentor.envs.text_view import TextObservation, TextView
from mentor.errors import ConfigError

__all__ = [
    "CRAFTER_ACTIONS",
    "CRAFTER_ACHIEVEMENTS",
    "CRAFTER_ITEMS",
    "CRAFTER_SEMANTIC_NAMES",
    "LOCAL_VIEW",
    "SYMBOLIC_SIZE",
    "DEFAULT_MISSION",
    "CrafterConfig",
    "CrafterEnv",
    "CrafterTextView",
    "crop_local_view",
    "make_crafter",
    "env_specs",
]

#: crafter's 17 actions as the text view offers them, in crafter's action order.
CRAFTER_ACTIONS: tuple[str, ...] = (
    "noop",
    "move left",
    "move right",
    "move up",
    "move down",
    "do",
    "sleep",
    "place stone",
    "place table",
    "place furnace",
    "place plant",
    "make wood pickaxe",
    "make stone pickaxe",
    "make iron pickaxe",
    "make wood sword",
    "make stone sword",
    "make iron sword",
)

#: The 22 achievements of crafter's ``data.yaml``, in its order.
CRAFTER_ACHIEVEMENTS: tuple[str, ...] = (
    "collect_coal",
    "collect_diamond",
    "collect_drink",
    "collect_iron",
    "collect_sapling",
    "collect_stone",
    "collect_wood",
    "defeat_skeleton",
    "defeat_zombie",
    "eat_cow",
    "eat_plant",
    "make_iron_pickaxe",
    "make_iron_sword",
    "make_stone_pickaxe",
    "make_stone_sword",
    "make_wood_pickaxe",
    "make_wood_sword",
    "place_furnace",
    "place_plant",
    "place_stone",
    "place_table",
    "wake_up",
)

#: Inventory entries in crafter's order; the first four are the vitals. Each holds 0-9.
CRAFTER_ITEMS: tuple[str, ...] = (
    "health",
    "food",
    "drink",
    "energy",
    "sapling",
    "wood",
    "stone",
    "coal",
    "iron",
    "diamond",
    "wood_pickaxe",
    "stone_pickaxe",
    "iron_pickaxe",
    "wood_sword",
    "stone_sword",
    "iron_sword",
)

#: Semantic id -> name: 0 is outside the world, 1-12 materials, 13-18 objects (as ``info["semantic"]``).
CRAFTER_SEMANTIC_NAMES: tuple[str, ...] = (
    "outside",
    "water",
    "grass",
    "stone",
    "path",
    "sand",
    "tree",
    "lava",
    "coal",
    "iron",
    "diamond",
    "table",
    "furnace",
    "player",
    "cow",
    "zombie",
    "skeleton",
    "arrow",
    "plant",
)

#: Cells (columns, rows) of the player's local view: the area crafter's frame shows.
LOCAL_VIEW: tuple[int, int] = (9, 7)

_ITEM_MAX = 9
_FACINGS: tuple[tuple[int, int], ...] = ((-1, 0), (1, 0), (0, -1), (0, 1))

#: Length of a symbolic observation: the local view one-hot over :data:`CRAFTER_SEMANTIC_NAMES`
#: (``[column][row][id]``, 9*7*19), inventory counts / 9 in :data:`CRAFTER_ITEMS` order (16), facing
#: one-hot left/right/up/down (4), sleeping (1), daylight (1).
SYMBOLIC_SIZE: int = LOCAL_VIEW[0] * LOCAL_VIEW[1] * len(CRAFTER_SEMANTIC_NAMES) + len(CRAFTER_ITEMS) + 4 + 2

DEFAULT_MISSION = "Unlock as many achievements as possible."

_OBSERVATIONS = ("pixels", "symbolic")


@dataclass
class CrafterConfig:
    """How a :class:`CrafterEnv` is built."""

    observation: str = "pixels"
    """``"pixels"`` (``size`` x 3 uint8 frames) or ``"symbolic"`` (float32 vector of :data:`SYMBOLIC_SIZE`)."""
    fast: bool | None = None
    """Skip pixel rendering (pixel observations are then all zero); ``None``: on for symbolic only."""
    length: int | None = 10000
    """Steps after which an episode is truncated; ``None``: never."""
    size: tuple[int, int] = (64, 64)
    """Frame width and height in pixels."""
    area: tuple[int, int] = (64, 64)
    """World width and height in cells."""
    reward: bool = True
    """Give crafter's reward (+1 per new achievement, +-0.1 per health point); ``False``: always 0."""
    render_pixels: bool = field(init=False)
    """Derived: whether frames are rendered (``fast`` resolved)."""

    def __post_init__(self) -> None:
        if self.observation not in _OBSERVATIONS:
            raise ConfigError(
                f"observation ({self.observation!r}) must be one of {', '.join(map(repr, _OBSERVATIONS))}"
            )
        if self.observation == "symbolic" and self.fast is False:
            raise ConfigError("fast (False) must be True or None for symbolic observations, which need no pixels")
        self.render_pixels = self.observation == "pixels" and not self.fast
        if self.length is not None and self.length < 1:
            raise ConfigError(f"length ({self.length}) must be at least 1, or None for no limit")
        self.size, self.area = tuple(self.size), tuple(self.area)
        if len(self.size) != 2 or min(self.size) < 9:
            raise ConfigError(f"size ({self.size}) must be two numbers of at least 9 pixels (one per view cell)")
        if len(self.area) != 2 or min(self.area) < 9:
            raise ConfigError(f"area ({self.area}) must be two numbers of at least 9 cells")


def crop_local_view(semantic: np.ndarray, pos: Any, grid: tuple[int, int] = LOCAL_VIEW) -> np.ndarray:
    """The ``grid`` cells of ``semantic`` centred on ``pos``, 0 (outside) beyond the world's edge.

    Indexed ``[column, row]`` like crafter's maps: cell ``[grid[0] // 2, grid[1] // 2]`` is ``pos``,
    and cell ``[c, r]`` lies ``c - grid[0] // 2`` steps right and ``r - grid[1] // 2`` steps down.
    """
    (x0, y0), (w, h) = (int(pos[0]) - grid[0] // 2, int(pos[1]) - grid[1] // 2), grid
    out = np.zeros(grid, semantic.dtype)
    xa, xb = max(x0, 0), min(x0 + w, semantic.shape[0])
    ya, yb = max(y0, 0), min(y0 + h, semantic.shape[1])
    if xa < xb and ya < yb:
        out[xa - x0 : xb - x0, ya - y0 : yb - y0] = semantic[xa:xb, ya:yb]
    return out


class CrafterEnv(gym.Env):
    """Crafter with the Gymnasium API, seeded by ``reset(seed=...)``.

    Args:
        config: how to build it; ``None`` for the defaults.
        render_mode: ``None`` or ``"rgb_array"`` (``render()`` returns the current frame, also in
            fast mode, without changing the dynamics).
        **overrides: :class:`CrafterConfig` fields replacing those of ``config``.

    Example:
        >>> env = CrafterEnv(observation="symbolic")
        >>> obs, _ = env.reset(seed=1)
        >>> obs.shape == (SYMBOLIC_SIZE,)
        True
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, config: CrafterConfig | None = None, *, render_mode: str | None = None, **overrides: Any):
        config = config or CrafterConfig()
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"render_mode ({render_mode!r}) must be None or 'rgb_array'")
        self.render_mode = render_mode
        from mentor.envs.crafter_game import CrafterGame

        c = self.config
        self.game = CrafterGame(
            fast=not c.render_pixels, area=c.area, size=c.size, reward=c.reward, length=c.length, seed=0
        )
        self._seeded = False
        self._frame: np.ndarray | None = None
        self.action_space = spaces.Discrete(len(CRAFTER_ACTIONS))
        if c.observation == "symbolic":
            self.observation_space = spaces.Box(0.0, 1.0, (SYMBOLIC_SIZE,), np.float32)
        else:
            self.observation_space = spaces.Box(0, 255, (*c.size, 3), np.uint8)
        self._eye = np.eye(len(CRAFTER_SEMANTIC_NAMES), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode; ``seed`` restarts crafter's world sequence at ``crafter.Env(seed=seed)``'s."""
        super().reset(seed=seed)
        if seed is not None or not self._seeded:
            self.game._seed = seed if seed is not None else int(self.np_random.integers(2**31 - 1))
            self.game._episode = 0
            self._seeded = True
        frame = self.game.reset()
        player = self.game._player
        info = {
            "inventory": player.inventory.copy(),
            "achievements": player.achievements.copy(),
            "discount": 1.0,
            "semantic": self.game._sem_view(),
            "player_pos": player.pos.copy(),
            "reward": 0.0,
        }
        return self._observe(frame, info["semantic"]), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """One crafter step: terminated when the player dies, truncated after ``length`` steps."""
        if not self.action_space.contains(action):
            raise ValueError(f"action ({action!r}) must be an integer in [0, {len(CRAFTER_ACTIONS) - 1}]")
        frame, reward, done, info = self.game.step(int(action))
        info["player_pos"] = info["player_pos"].copy()
        dead = self.game._player.health <= 0
        return self._observe(frame, info["semantic"]), float(reward), bool(dead), bool(done and not dead), info

    def render(self) -> np.ndarray | None:
        """The current frame when ``render_mode == "rgb_array"``, else ``None``."""
        if self.render_mode is None:
            return None
        self._require_state()
        if self._frame is not None and not self.game.fast:
            return self._frame.copy()
        return self.game.render_quietly()

    @property
    def player(self) -> Any:
        """crafter's ``Player`` object (position, facing, inventory, achievements, sleeping)."""
        self._require_state()
        return self.game._player

    @property
    def world(self) -> Any:
        """crafter's ``World`` (materials, objects, daylight, random state)."""
        self._require_state()
        return self.game._world

    @property
    def unlocked(self) -> frozenset[str]:
        """Achievements unlocked at least once this episode: what the Crafter score counts."""
        return frozenset(name for name, count in self.player.achievements.items() if count > 0)

    def local_view(self, grid: tuple[int, int] = LOCAL_VIEW) -> np.ndarray:
        """Semantic ids of the ``grid`` cells around the player; see :func:`crop_local_view`."""
        return crop_local_view(self.game._sem_view(), self.player.pos, grid)

    def _require_state(self) -> None:
        if self.game._player is None:
            raise RuntimeError("CrafterEnv has no world before reset(); call reset() first")

    def _observe(self, frame: np.ndarray | None, semantic: np.ndarray) -> np.ndarray:
        if self.config.observation == "pixels":
            self._frame = frame
            return frame if frame is not None else np.zeros(self.observation_space.shape, np.uint8)
        player = self.game._player
        local = self._eye[crop_local_view(semantic, player.pos)].ravel()
        inventory = np.array([player.inventory[name] for name in CRAFTER_ITEMS], np.float32) / _ITEM_MAX
        facing = np.zeros(4, np.float32)
        facing[_FACINGS.index(tuple(int(v) for v in player.facing))] = 1.0
        status = np.array([player.sleeping, self.game._world.daylight], np.float32)
        return np.concatenate([local, inventory, facing, status])


def _steps(n: int, direction: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {direction}"


def _offset_phrase(dx: int, dy: int) -> str:
    parts = []
    if dx:
        parts.append(_steps(abs(dx), "right" if dx > 0 else "left"))
    if dy:
        parts.append(_steps(abs(dy), "down" if dy > 0 else "up"))
    return " and ".join(parts)


def _readable(name: str) -> str:
    return name.replace("_", " ")


def _offsets_by_distance(grid: tuple[int, int]) -> list[tuple[int, int]]:
    cx, cy = grid[0] // 2, grid[1] // 2
    cells = [(c - cx, r - cy) for c in range(grid[0]) for r in range(grid[1]) if (c, r) != (cx, cy)]
    return sorted(cells, key=lambda d: (abs(d[0]) + abs(d[1]), abs(d[1]), d[0], d[1]))


_NEAREST_FIRST = _offsets_by_distance(LOCAL_VIEW)
_PLAYER_ID = CRAFTER_SEMANTIC_NAMES.index("player")
_PLANT_ID = CRAFTER_SEMANTIC_NAMES.index("plant")


class CrafterTextView(TextView):
    """Crafter in words: what the player faces, the nearest thing of each kind in view, vitals,
    inventory and achievements; the 17 actions as strings (all always admissible).

    Offsets use the action words: "tree: 2 steps left and 1 step up" means two ``move left`` and one
    ``move up`` reach the tree's cell.

    Args:
        env: a :class:`CrafterEnv`, possibly wrapped.
        mission: the goal the LLM reads.
    """

    def __init__(self, env: gym.Env, mission: str = DEFAULT_MISSION):
        super().__init__(env)
        self.mission = mission

    def admissible_actions(self) -> list[str]:
        return list(CRAFTER_ACTIONS)

    def _text_to_action(self, action: str) -> int:
        return CRAFTER_ACTIONS.index(action)

    def _describe(self) -> TextObservation:
        env: CrafterEnv = self.env.unwrapped
        player, world = env.player, env.world
        local = env.local_view()
        cx, cy = LOCAL_VIEW[0] // 2, LOCAL_VIEW[1] // 2
        lines = [f"Facing: {self._thing_at(world, player.pos + np.array(player.facing))}."]
        seen: set[int] = {0, _PLAYER_ID}
        nearby = []
        for dx, dy in _NEAREST_FIRST:
            kind = int(local[cx + dx, cy + dy])
            if kind in seen:
                continue
            seen.add(kind)
            name = self._thing_at(world, player.pos + np.array((dx, dy))) if kind == _PLANT_ID else None
            nearby.append(f"- {name or CRAFTER_SEMANTIC_NAMES[kind]}: {_offset_phrase(dx, dy)}")
        lines += ["Nearest of each kind in view:", *nearby] if nearby else ["Nothing else in view."]
        inventory = player.inventory
        vitals = ", ".join(f"{name} {inventory[name]}/{_ITEM_MAX}" for name in CRAFTER_ITEMS[:4])
        items = ", ".join(f"{_readable(n)} {inventory[n]}" for n in CRAFTER_ITEMS[4:] if inventory[n] > 0)
        unlocked = sorted(env.unlocked)
        lines += [
            f"Vitals: {vitals}.",
            f"Inventory: {items or 'empty'}.",
            f"Achievements unlocked: {', '.join(map(_readable, unlocked)) or 'none'}.",
            f"It is {'night' if world.daylight < 0.5 else 'day'}." + (" You are sleeping." if player.sleeping else ""),
        ]
        extras = {name: inventory[name] for name in CRAFTER_ITEMS[:4]}
        extras.update(
            inventory={n: inventory[n] for n in CRAFTER_ITEMS[4:]},
            achievements=unlocked,
            num_achievements=len(unlocked),
            step=env.game._step,
            daylight=float(world.daylight),
            sleeping=bool(player.sleeping),
        )
        return TextObservation(
            mission=self.mission, observation="\n".join(lines), actions=CRAFTER_ACTIONS, extras=extras
        )

    @staticmethod
    def _thing_at(world: Any, pos: np.ndarray) -> str:
        material, obj = world[pos]
        if obj is not None:
            name = type(obj).__name__.lower()
            return f"{'ripe' if obj.ripe else 'unripe'} plant" if name == "plant" else name
        return material if material is not None else "the edge of the world"


def make_crafter(mission: str = DEFAULT_MISSION, render_mode: str | None = None, **config: Any) -> CrafterTextView:
    """Build a :class:`CrafterEnv` from :class:`CrafterConfig` fields, with its text view."""
    return CrafterTextView(CrafterEnv(CrafterConfig(**config), render_mode=render_mode), mission=mission)


def env_specs() -> list[MentorEnvSpec]:
    return [
        MentorEnvSpec(id="mentor/Crafter-v0", entry_point="mentor.envs.crafter:make_crafter", family="crafter"),
        MentorEnvSpec(
            id="mentor/Crafter-Symbolic-v0",
            entry_point="mentor.envs.crafter:make_crafter",
            family="crafter",
            kwargs={"observation": "symbolic"},
        ),
    ]
