"""What reward code may read: one state dataclass per env family, read from the env, described to the LLM.

``compute_reward(state, action, next_state)`` receives the dataclasses of this module (in the
sandbox, as attribute namespaces with the same fields: see :func:`to_namespace`). The class
description in the prompt is generated from the same dataclasses and from the env itself (its
joint and actuator names, body names, item and object names, and example values after a reset),
in the style of Text2Reward's Pythonic environment abstraction.

Example:
    >>> import mentor.envs
    >>> env = mentor.envs.make("mentor/MiniGrid-DoorKey-5x5-v0")
    >>> _ = env.reset(seed=0)
    >>> read_state(env).agent_position
    (1, 3)
    >>> "class GridObject" in describe_state(env)
    True
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from mentor.envs.registry import family_of
from mentor.errors import ConfigError, UnknownComponentError

__all__ = [
    "MuJoCoState",
    "GridObject",
    "MiniGridState",
    "CrafterState",
    "TextWorldState",
    "StateReader",
    "STATE_READERS",
    "state_reader",
    "read_state",
    "describe_state",
    "to_namespace",
]


def _doc(text: str) -> Any:
    return field(metadata={"doc": text})


# ---------------------------------------------------------------- state classes


@dataclass(frozen=True)
class MuJoCoState:
    """A MuJoCo locomotion robot (HalfCheetah, Hopper, Walker2d, Ant, Humanoid)."""

    x_position: float = _doc("x coordinate of the root (m); +x is forward")
    torso_height: float = _doc("world z of the torso (m)")
    torso_angle: float = _doc("pitch of the torso (rad); 0 is upright/level")
    torso_orientation: tuple[float, float, float] = _doc("(roll, pitch, yaw) of the torso (rad)")
    x_velocity: float = _doc("forward velocity of the root (m/s)")
    y_velocity: float = _doc("sideways velocity of the root (m/s); 0 for planar robots")
    z_velocity: float = _doc("vertical velocity of the root (m/s)")
    angular_velocity: float = _doc("torso pitch rate for planar robots, else norm of the angular velocity (rad/s)")
    joint_positions: dict[str, float] = _doc("actuated joint -> angle (rad)")
    joint_velocities: dict[str, float] = _doc("actuated joint -> angular velocity (rad/s)")
    contact_forces: dict[str, float] = _doc("body -> summed normal contact force (N); only bodies touching something")
    is_healthy: bool = _doc("the env's own health check (height and angle in range); always True if it has none")
    dt: float = _doc("seconds between state and next_state")


@dataclass(frozen=True)
class GridObject:
    """One object in a MiniGrid level."""

    type: str = _doc("'key', 'door', 'ball', 'box', 'goal' or 'lava'")
    color: str = _doc("'red', 'green', 'blue', 'purple', 'yellow' or 'grey'")
    position: tuple[int, int] = _doc("(x, y) cell; x grows to the right, y grows downwards")
    is_open: bool = _doc("doors: open; other objects: False")
    is_locked: bool = _doc("doors: locked (needs the key of its colour); other objects: False")


@dataclass(frozen=True)
class MiniGridState:
    """A MiniGrid / BabyAI level, fully observed."""

    agent_position: tuple[int, int] = _doc("(x, y) cell of the agent")
    agent_direction: int = _doc("0 right (+x), 1 down (+y), 2 left (-x), 3 up (-y)")
    front_position: tuple[int, int] = _doc("(x, y) cell in front of the agent")
    front_object: GridObject | None = _doc("the object in the cell in front of the agent, or None")
    carrying: GridObject | None = _doc("the object the agent carries, or None")
    objects: tuple[GridObject, ...] = _doc("every object in the grid except walls (a carried one is not in the grid)")
    mission: str = _doc("the level's mission text")
    step_count: int = _doc("steps taken in this episode")
    max_steps: int = _doc("steps after which the episode is cut off")
    grid_size: tuple[int, int] = _doc("(width, height) in cells, outer walls included")


@dataclass(frozen=True)
class CrafterState:
    """Crafter, from the player's point of view."""

    inventory: dict[str, int] = _doc("item -> count (0-9)")
    health: int = _doc("vital, 0-9; the player dies at 0")
    food: int = _doc("vital, 0-9")
    drink: int = _doc("vital, 0-9")
    energy: int = _doc("vital, 0-9")
    achievements: dict[str, int] = _doc("achievement -> times unlocked in this episode")
    player_position: tuple[int, int] = _doc("(x, y) cell of the player")
    facing: tuple[int, int] = _doc("unit step the player faces: (-1, 0) left, (1, 0) right, (0, -1) up, (0, 1) down")
    facing_material: str = _doc("what is in the cell the player faces (a material or a creature name)")
    nearest: dict[str, int] = _doc("kind -> steps (|dx| + |dy|) to its nearest cell in the 9x7 view; absent if unseen")
    local_view: tuple[tuple[str, ...], ...] = _doc("9 columns x 7 rows of kind names around the player, [4][3] is it")
    sleeping: bool = _doc("the player is asleep")
    daylight: float = _doc("1 at noon, near 0 at night")


@dataclass(frozen=True)
class TextWorldState:
    """A TextWorld text adventure."""

    score: int = _doc("points scored so far")
    max_score: int = _doc("points needed to win")
    moves: int = _doc("commands sent so far")
    won: bool = _doc("the game is won")
    lost: bool = _doc("the game is lost")
    location: str = _doc("name of the current room ('' if unknown)")
    inventory: str = _doc("the game's description of what the player carries")
    feedback: str = _doc("the game's reply to the last command")
    admissible_commands: tuple[str, ...] = _doc("commands that make sense now")


# ---------------------------------------------------------------- readers


class StateReader(ABC):
    """Reads one family's state from an env and lists what the description needs from the env.

    Subclasses set :attr:`family` and :attr:`state_class` and implement :meth:`read`,
    :meth:`field_keys` and :meth:`action_doc`.
    """

    family: ClassVar[str]
    state_class: ClassVar[type]

    @abstractmethod
    def read(self, env: gym.Env) -> Any:
        """The current state of ``env`` (possibly wrapped)."""

    def field_keys(self, env: gym.Env) -> dict[str, Sequence[str]]:
        """For dict-valued fields, the keys this env can put in them."""
        return {}

    @abstractmethod
    def action_doc(self, env: gym.Env) -> str:
        """One line on what ``action`` is."""


_FREE, _HINGE = 0, 3


class MuJoCoReader(StateReader):
    family = "mujoco"
    state_class = MuJoCoState

    def read(self, env: gym.Env) -> MuJoCoState:
        from mentor.envs.mujoco import read_locomotion_state

        base = env.unwrapped
        s = read_locomotion_state(env)
        return MuJoCoState(
            **{f.name: getattr(s, f.name) for f in dataclasses.fields(s)},
            is_healthy=bool(getattr(base, "is_healthy", True)),
            dt=float(base.dt),
        )

    @staticmethod
    def joint_names(env: gym.Env) -> list[str]:
        model = env.unwrapped.model
        return [
            model.joint(j).name
            for j in range(model.njnt)
            if model.jnt_type[j] == _HINGE and not model.joint(j).name.startswith("root")
        ]

    @staticmethod
    def actuator_names(env: gym.Env) -> list[str]:
        model = env.unwrapped.model
        return [model.actuator(i).name or model.joint(int(model.actuator_trnid[i][0])).name for i in range(model.nu)]

    def field_keys(self, env: gym.Env) -> dict[str, Sequence[str]]:
        model = env.unwrapped.model
        joints = self.joint_names(env)
        bodies = [model.body(b).name or f"body_{b}" for b in range(1, model.nbody)]
        return {"joint_positions": joints, "joint_velocities": joints, "contact_forces": bodies}

    def action_doc(self, env: gym.Env) -> str:
        space = env.action_space
        names = ", ".join(repr(n) for n in self.actuator_names(env))
        return (
            f"numpy float array of shape {space.shape}, each in [{space.low.min():g}, {space.high.max():g}]: "
            f"the torques of the actuators {names}, in this order"
        )


class MiniGridReader(StateReader):
    family = "minigrid"
    state_class = MiniGridState

    @staticmethod
    def _object(obj: Any, pos: Any) -> GridObject:
        return GridObject(
            type=obj.type,
            color=obj.color,
            position=(int(pos[0]), int(pos[1])) if pos is not None else (-1, -1),
            is_open=bool(getattr(obj, "is_open", False)) if obj.type == "door" else False,
            is_locked=bool(getattr(obj, "is_locked", False)) if obj.type == "door" else False,
        )

    def read(self, env: gym.Env) -> MiniGridState:
        base = env.unwrapped
        grid = base.grid
        objects = []
        for j in range(grid.height):
            for i in range(grid.width):
                obj = grid.get(i, j)
                if obj is not None and obj.type not in ("wall", "floor"):
                    objects.append(self._object(obj, (i, j)))
        fx, fy = (int(v) for v in base.front_pos)
        front = grid.get(fx, fy) if 0 <= fx < grid.width and 0 <= fy < grid.height else None
        return MiniGridState(
            agent_position=(int(base.agent_pos[0]), int(base.agent_pos[1])),
            agent_direction=int(base.agent_dir),
            front_position=(fx, fy),
            front_object=self._object(front, (fx, fy)) if front is not None and front.type != "wall" else None,
            carrying=self._object(base.carrying, None) if base.carrying is not None else None,
            objects=tuple(objects),
            mission=str(base.mission),
            step_count=int(base.step_count),
            max_steps=int(base.max_steps),
            grid_size=(int(grid.width), int(grid.height)),
        )

    def action_doc(self, env: gym.Env) -> str:
        from mentor.envs.minigrid import MINIGRID_ACTIONS

        named = ", ".join(f"{i} {name}" for i, name in enumerate(MINIGRID_ACTIONS))
        return f"int, one of: {named}, {len(MINIGRID_ACTIONS)} done"


class CrafterReader(StateReader):
    family = "crafter"
    state_class = CrafterState

    def read(self, env: gym.Env) -> CrafterState:
        from mentor.envs.crafter import CRAFTER_ITEMS, CRAFTER_SEMANTIC_NAMES, LOCAL_VIEW

        base = env.unwrapped
        player, world = base.player, base.world
        inventory = player.inventory
        local = base.local_view()
        cx, cy = LOCAL_VIEW[0] // 2, LOCAL_VIEW[1] // 2
        names = tuple(tuple(CRAFTER_SEMANTIC_NAMES[int(v)] for v in column) for column in local)
        nearest: dict[str, int] = {}
        for c in range(LOCAL_VIEW[0]):
            for r in range(LOCAL_VIEW[1]):
                if (c, r) == (cx, cy):
                    continue
                kind, distance = names[c][r], abs(c - cx) + abs(r - cy)
                if kind != "outside" and distance < nearest.get(kind, 1 << 30):
                    nearest[kind] = distance
        material, obj = world[player.pos + np.array(player.facing)]
        facing_material = type(obj).__name__.lower() if obj is not None else (material or "outside")
        return CrafterState(
            inventory={name: int(inventory[name]) for name in CRAFTER_ITEMS[4:]},
            health=int(inventory["health"]),
            food=int(inventory["food"]),
            drink=int(inventory["drink"]),
            energy=int(inventory["energy"]),
            achievements={name: int(count) for name, count in player.achievements.items()},
            player_position=(int(player.pos[0]), int(player.pos[1])),
            facing=(int(player.facing[0]), int(player.facing[1])),
            facing_material=facing_material,
            nearest=nearest,
            local_view=names,
            sleeping=bool(player.sleeping),
            daylight=float(world.daylight),
        )

    def field_keys(self, env: gym.Env) -> dict[str, Sequence[str]]:
        from mentor.envs.crafter import CRAFTER_ACHIEVEMENTS, CRAFTER_ITEMS, CRAFTER_SEMANTIC_NAMES

        kinds = [n for n in CRAFTER_SEMANTIC_NAMES if n not in ("outside", "player")]
        return {"inventory": CRAFTER_ITEMS[4:], "achievements": CRAFTER_ACHIEVEMENTS, "nearest": kinds}

    def action_doc(self, env: gym.Env) -> str:
        from mentor.envs.crafter import CRAFTER_ACTIONS

        return "int, one of: " + ", ".join(f"{i} {name}" for i, name in enumerate(CRAFTER_ACTIONS))


class TextWorldReader(StateReader):
    family = "textworld"
    state_class = TextWorldState

    def read(self, env: gym.Env) -> TextWorldState:
        info = env.unwrapped._info()
        return TextWorldState(
            score=info["score"],
            max_score=info["max_score"],
            moves=info["moves"],
            won=info["won"],
            lost=info["lost"],
            location=info["location"] or "",
            inventory=info["inventory"],
            feedback=info["feedback"],
            admissible_commands=tuple(info["admissible_commands"]),
        )

    def action_doc(self, env: gym.Env) -> str:
        return "str, the command sent to the game (e.g. 'open fridge')"


#: Family -> its reader.
STATE_READERS: dict[str, StateReader] = {
    r.family: r for r in (MuJoCoReader(), MiniGridReader(), CrafterReader(), TextWorldReader())
}


def state_reader(env: gym.Env) -> StateReader:
    """The reader for a mentor env (made with ``mentor.envs.make``, possibly wrapped).

    Raises:
        ConfigError: the env was not made from a mentor id.
    """
    env_spec = env.unwrapped.spec or getattr(env, "spec", None)
    if env_spec is None or not str(env_spec.id).startswith("mentor/"):
        raise ConfigError(
            f"reward states are read from mentor envs only; got {type(env.unwrapped).__name__} "
            f"(id {getattr(env_spec, 'id', None)!r}); make it with mentor.envs.make('mentor/...')."
        )
    family = family_of(env_spec.id)
    if family not in STATE_READERS:
        raise UnknownComponentError("state family", family, STATE_READERS)
    return STATE_READERS[family]


def read_state(env: gym.Env) -> Any:
    """The state dataclass of ``env`` right now (after ``reset`` or ``step``)."""
    return state_reader(env).read(env)


# ---------------------------------------------------------------- namespaces for the sandbox


@functools.cache
def _is_dataclass_type(cls: type) -> bool:
    return dataclasses.is_dataclass(cls)


def to_namespace(value: Any) -> Any:
    """``value`` with every dataclass turned into a :class:`types.SimpleNamespace` of the same fields.

    Only standard types remain, so the sandbox process can unpickle a state without importing mentor.
    """
    cls = type(value)
    if _is_dataclass_type(cls):
        return types.SimpleNamespace(**{k: to_namespace(v) for k, v in value.__dict__.items()})
    if cls is tuple and value and _is_dataclass_type(type(value[0])):
        return tuple(to_namespace(v) for v in value)
    return value


# ---------------------------------------------------------------- description for the prompt


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "None"
    origin = typing.get_origin(tp)
    if origin is None:
        return getattr(tp, "__name__", str(tp))
    args = typing.get_args(tp)
    if origin is types.UnionType or origin is typing.Union:
        return " | ".join(_type_name(a) for a in args)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return f"tuple[{_type_name(args[0])}, ...]"
    return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"


def _example(value: Any) -> str | None:
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (int, str)) and len(repr(value)) <= 60:
        return repr(value)
    if isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value):
        return "(" + ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in value) + ")"
    return None


def _quoted(keys: Sequence[str], limit: int = 24) -> str:
    shown = ", ".join(repr(k) for k in list(keys)[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def _describe_class(cls: type, example: Any, keys: dict[str, Sequence[str]]) -> list[str]:
    hints = typing.get_type_hints(cls)
    lines = [f"class {cls.__name__}:", f'    """{cls.__doc__.strip()}"""']
    for f in dataclasses.fields(cls):
        comment = f.metadata.get("doc", "")
        if f.name in keys:
            comment += f"; keys: {_quoted(keys[f.name])}"
        shown = _example(getattr(example, f.name)) if example is not None else None
        if shown is not None:
            comment += f"; e.g. {shown}"
        lines.append(f"    {f.name}: {_type_name(hints[f.name])}  # {comment}")
    return lines


def _nested_classes(cls: type) -> list[type]:
    found = []
    for tp in typing.get_type_hints(cls).values():
        for arg in (tp, *typing.get_args(tp)):
            if dataclasses.is_dataclass(arg) and arg not in found:
                found.append(arg)
    return found


def describe_state(env: gym.Env, state: Any | None = None) -> str:
    """The Python description of what ``compute_reward`` reads, generated from the state classes and the env.

    Args:
        env: a mentor env; it is reset with seed 0 to take example values unless ``state`` is given.
        state: an example state of ``env`` (``None``: read one after ``env.reset(seed=0)``).

    Returns:
        Class definitions with one commented line per field (meaning, keys, an example value),
        followed by a line on ``action``.
    """
    reader = state_reader(env)
    if state is None:
        env.reset(seed=0)
        state = reader.read(env)
    keys = reader.field_keys(env)
    blocks = []
    for nested in _nested_classes(reader.state_class):
        blocks.append("\n".join(_describe_class(nested, None, {})))
    blocks.append("\n".join(_describe_class(reader.state_class, state, keys)))
    blocks.append(f"# action: {reader.action_doc(env)}")
    return "\n\n".join(blocks)
