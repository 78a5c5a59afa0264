"""MiniGrid/BabyAI skills: go to X, pick up X, open X, drop, explore.

The library keeps the agent's map of the episode, built only from its partial views (the
observation image) and its own pose, as the BabyAI bot does: every cell seen, with the object,
colour and state last seen there. From that map each skill gets a target (the nearest matching
object, or for ``explore`` the nearest frontier: a known free cell next to an unseen one) and a
route to it (breadth-first search over known free cells; closed doors count as passable because
the agent can open them).

A skill model reads :meth:`MiniGridSkillLibrary.features`: the 7x7x3 view (scaled to [0, 1]), the
goal as one-hots (kind, object type, colour), an egocentric pointer to the target and to a waypoint
three cells along the route, the route length, whether the target is in front or a locked door, and
what the agent carries. Predicates come from the unwrapped env (its grid, ``agent_pos`` and ``carrying``).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from minigrid.core.constants import COLOR_NAMES, COLOR_TO_IDX, IDX_TO_COLOR, IDX_TO_OBJECT, OBJECT_TO_IDX

from mentor.envs.text_view import TextObservation
from mentor.skills.library import PlanExample, Skill, SkillContext, SkillLibrary

__all__ = [
    "MINIGRID_KINDS",
    "MINIGRID_OBJECTS",
    "MiniGridSkillLibrary",
    "EXPLORE_NEW_CELLS",
]

MINIGRID_KINDS: tuple[str, ...] = ("go_to", "pick_up", "open", "drop", "explore")
#: Object types a skill can target, in the order of the goal one-hot.
MINIGRID_OBJECTS: tuple[str, ...] = ("key", "ball", "box", "door", "goal")
_PICKABLE = ("key", "ball", "box")
_OPENABLE = ("door", "box")
#: ``explore`` succeeds once this many new cells have been seen (or a new object).
EXPLORE_NEW_CELLS = 10
_MAX_STEPS = {"go_to": 40, "pick_up": 40, "open": 40, "drop": 12, "explore": 24}
_WAYPOINT_AHEAD = 3

_UNSEEN, _EMPTY, _WALL, _FLOOR, _DOOR = (OBJECT_TO_IDX[n] for n in ("unseen", "empty", "wall", "floor", "door"))
_GOAL, _LAVA = OBJECT_TO_IDX["goal"], OBJECT_TO_IDX["lava"]
_OPEN, _CLOSED, _LOCKED = 0, 1, 2
_DIRS = np.array([(1, 0), (0, 1), (-1, 0), (0, -1)])
_DIR_TUPLES = tuple((int(a), int(b)) for a, b in _DIRS)
_IS_OBJECT = np.isin(np.arange(len(IDX_TO_OBJECT)), [OBJECT_TO_IDX[n] for n in ("door", "key", "ball", "box", "goal")])
_IS_FREE = np.isin(np.arange(len(IDX_TO_OBJECT)), (_EMPTY, _FLOOR, _GOAL))
_VIEW_FEATURES = 7 * 7 * 3
_GOAL_FEATURES = len(MINIGRID_KINDS) + len(MINIGRID_OBJECTS) + len(COLOR_NAMES)
_POINTER_FEATURES = 8
_CARRY_FEATURES = 3
_MISSION_WORDS: tuple[str, ...] = (
    *COLOR_NAMES,
    *MINIGRID_OBJECTS,
    "pick",
    "open",
    "go",
    "put",
    "next",
    "traverse",
    "get",
    "unlock",
)

_DROP = Skill("drop the object you carry", "drop", (), _MAX_STEPS["drop"])
_EXPLORE = Skill("explore", "explore", (), _MAX_STEPS["explore"])
_GO_TO_GOAL = Skill("go to the goal", "go_to", ("goal",), _MAX_STEPS["go_to"])


def _catalogue() -> tuple[Skill, ...]:
    """Every skill; acting skills first, because a small LLM copies the skill list in its order."""
    skills: list[Skill] = []
    for obj in _PICKABLE:
        skills += [Skill(f"pick up the {c} {obj}", "pick_up", (obj, c), _MAX_STEPS["pick_up"]) for c in COLOR_NAMES]
    for obj in _OPENABLE:
        skills += [Skill(f"open the {c} {obj}", "open", (obj, c), _MAX_STEPS["open"]) for c in COLOR_NAMES]
    skills += [_DROP, _EXPLORE, _GO_TO_GOAL]
    for obj in ("key", "ball", "box", "door"):
        skills += [Skill(f"go to the {c} {obj}", "go_to", (obj, c), _MAX_STEPS["go_to"]) for c in COLOR_NAMES]
    return tuple(skills)


_CATALOGUE = _catalogue()
_MISSION_INDEX = {w: i for i, w in enumerate(_MISSION_WORDS)}


class MiniGridSkillLibrary(SkillLibrary):
    """MiniGrid/BabyAI skills over the agent's own map of the episode.

    Example:
        >>> import mentor.envs as me
        >>> env = me.make("mentor/BabyAI-UnlockPickup-v0")
        >>> obs, info = env.reset(seed=0)
        >>> lib = MiniGridSkillLibrary(env); lib.reset(obs, info)
        >>> [s.name for s in lib.available()]
        ['pick up the green key', 'explore', 'go to the green key']
    """

    family = "minigrid"
    planner_key_words = frozenset([*COLOR_NAMES, *(o for o in OBJECT_TO_IDX if o not in ("unseen", "empty", "agent"))])
    kinds = MINIGRID_KINDS

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._space = spaces.Box(
            -1.0, 1.0, (_VIEW_FEATURES + _GOAL_FEATURES + _POINTER_FEATURES + _CARRY_FEATURES,), np.float32
        )
        self._high_space = spaces.Box(
            0.0, 1.0, (_VIEW_FEATURES + len(_MISSION_WORDS) + 11 + len(_CATALOGUE),), np.float32
        )
        self._map: np.ndarray = np.zeros((1, 1, 3), np.int64)
        self._seen: np.ndarray = np.zeros((1, 1), bool)
        self._cache: dict[str, Any] = {}

    # ---- map
    @property
    def _u(self) -> Any:
        return self.env.unwrapped

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        u = self._u
        self._map = np.zeros((u.width, u.height, 3), np.int64)
        self._seen = np.zeros((u.width, u.height), bool)
        self.update(obs, info)

    def update(self, obs: Any, info: dict[str, Any]) -> None:
        self._cache.clear()
        u = self._u
        image = obs["image"]
        size = image.shape[0]
        half = size // 2
        (ax, ay), (dx, dy) = u.agent_pos, _DIRS[u.agent_dir]
        rx, ry = -dy, dx
        tx, ty = ax + dx * (size - 1) - rx * half, ay + dy * (size - 1) - ry * half
        vx, vy = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
        gx, gy = tx + vx * rx - vy * dx, ty + vx * ry - vy * dy
        visible = (image[..., 0] != _UNSEEN) & (gx >= 0) & (gy >= 0) & (gx < u.width) & (gy < u.height)
        visible[half, size - 1] = False
        self._map[gx[visible], gy[visible]] = image[visible]
        self._seen[gx[visible], gy[visible]] = True
        if not self._seen[ax, ay]:
            self._seen[ax, ay] = True
            self._map[ax, ay] = (_EMPTY, 0, 0)

    def known_objects(self) -> list[tuple[tuple[int, int], str, str, int]]:
        """Every door, key, ball, box and goal on the map: ``(cell, type, colour, state)``, nearest first."""
        if "objects" in self._cache:
            return self._cache["objects"]
        ax, ay = self._u.agent_pos
        cells = np.argwhere(self._seen & _IS_OBJECT[self._map[..., 0]])
        out = [
            (
                (int(x), int(y)),
                IDX_TO_OBJECT[int(self._map[x, y, 0])],
                IDX_TO_COLOR[int(self._map[x, y, 1])],
                int(self._map[x, y, 2]),
            )
            for x, y in cells
        ]
        self._cache["objects"] = sorted(out, key=lambda o: (abs(o[0][0] - ax) + abs(o[0][1] - ay), o[0]))
        return self._cache["objects"]

    # ---- skills
    def _build_catalogue(self) -> tuple[Skill, ...]:
        return _CATALOGUE

    def _matches(self, skill: Skill) -> list[tuple[int, int]]:
        """Cells on the map that ``skill`` could target, nearest first."""
        obj = skill.target[0]
        color = skill.target[1] if len(skill.target) > 1 else None
        cells = []
        for cell, kind, c, state in self.known_objects():
            if kind != obj or (color is not None and c != color):
                continue
            if skill.kind == "open" and kind == "door" and state == _OPEN:
                continue
            cells.append(cell)
        return cells

    def _carrying(self) -> tuple[str, str] | None:
        carried = self._u.carrying
        return (carried.type, carried.color) if carried is not None else None

    def available(self) -> list[Skill]:
        carrying = self._carrying()
        front = tuple(int(v) for v in self._u.front_pos)
        skills: list[Skill] = []
        for skill in _CATALOGUE:
            if skill.kind == "drop":
                if carrying is not None:
                    skills.append(skill)
            elif skill.kind == "explore":
                if self._frontier_route() is not None:
                    skills.append(skill)
            elif skill.kind == "pick_up" and carrying == skill.target:
                continue
            else:
                cells = self._matches(skill)
                if skill.kind == "go_to" and skill.target[0] != "goal":
                    cells = [c for c in cells if c != front]
                if cells:
                    skills.append(skill)
        return skills

    def planner_skills(self) -> list[Skill]:
        """Available skills without "go to X" unless X is the goal or named in the mission (or the mission
        is to go somewhere): picking up and opening walk there themselves, and a small LLM otherwise
        keeps walking from door to door."""
        mission = self._u.mission.lower()
        keep = mission.startswith("go to")
        return [
            s
            for s in self.available()
            if s.kind != "go_to" or keep or s.target == ("goal",) or " ".join(reversed(s.target)) in mission
        ]

    def feasible(self) -> list[Skill]:
        carrying = self._carrying()
        out = []
        for skill in self.available():
            if skill.kind == "pick_up" and carrying is not None:
                continue
            if skill.kind == "open" and skill.target[0] == "door":
                cells = self._matches(skill)
                locked = all(self._map[c][2] == _LOCKED for c in cells)
                if locked and carrying != ("key", skill.target[1]):
                    continue
            out.append(skill)
        return out

    def _bind(self, ctx: SkillContext) -> bool:
        skill = ctx.skill
        ctx.start = {
            "carrying": self._carrying(),
            "seen": int(self._seen.sum()),
            "objects": {(o[1], o[2]) for o in self.known_objects()},
        }
        if skill.kind == "drop":
            return ctx.start["carrying"] is not None
        if skill.kind == "explore":
            route = self._frontier_route()
            if route is None:
                return False
            ctx.target_pos = route[0]
            return True
        if skill.kind == "pick_up" and ctx.start["carrying"] == skill.target:
            return False
        cells = self._matches(skill)
        if not cells:
            return False
        if skill.kind == "open" and ctx.start["carrying"] == ("key", skill.target[1]):
            cells = [c for c in cells if self._map[c][2] == _LOCKED] or cells
        routes = [(self._route_to(c, skill.target[0] == "goal"), c) for c in cells]
        reachable = [(r[1], c) for r, c in routes if r is not None]
        ctx.target_pos = min(reachable)[1] if reachable else cells[0]
        return True

    def _retarget(self, ctx: SkillContext) -> None:
        skill = ctx.skill
        if skill.kind == "explore":
            if ctx.target_pos is None or self._seen_unknown_neighbours(ctx.target_pos) == 0:
                route = self._frontier_route()
                ctx.target_pos = route[0] if route else None
            return
        if skill.kind == "drop" or ctx.target_pos is None:
            return
        obj = skill.target[0]
        at = self._map[ctx.target_pos]
        if IDX_TO_OBJECT[int(at[0])] != obj:
            cells = self._matches(skill)
            if cells:
                ctx.target_pos = cells[0]

    def succeeded(self, ctx: SkillContext, info: dict[str, Any]) -> bool:
        skill, u = ctx.skill, self._u
        if skill.kind == "drop":
            return u.carrying is None
        if skill.kind == "explore":
            new_cells = int(self._seen.sum()) - ctx.start["seen"]
            new_objects = {(o[1], o[2]) for o in self.known_objects()} - ctx.start["objects"]
            return new_cells >= EXPLORE_NEW_CELLS or bool(new_objects)
        if skill.kind == "pick_up":
            return self._carrying() == skill.target
        if ctx.target_pos is None:
            return False
        if skill.kind == "go_to":
            if skill.target[0] == "goal":
                return tuple(u.agent_pos) == ctx.target_pos
            obj = u.grid.get(*ctx.target_pos)
            return tuple(u.front_pos) == ctx.target_pos and obj is not None and obj.type == skill.target[0]
        obj = u.grid.get(*ctx.target_pos)
        if skill.target[0] == "door":
            return obj is not None and obj.type == "door" and obj.is_open
        return obj is None or obj.type != "box"

    # ---- routes
    def _passable(self) -> np.ndarray:
        kind, state = self._map[..., 0], self._map[..., 2]
        free = _IS_FREE[kind] | ((kind == _DOOR) & (state != _LOCKED))
        return self._seen & free

    def _bfs(self) -> tuple[np.ndarray, np.ndarray]:
        """Distances and parents from the agent over known passable cells (-1: unreached); cached per step."""
        if "bfs" not in self._cache:
            self._cache["bfs"] = self._search()
        return self._cache["bfs"]

    def _search(self) -> tuple[np.ndarray, np.ndarray]:
        passable = self._passable().tolist()
        w, h = len(passable), len(passable[0])
        dist = [[-1] * h for _ in range(w)]
        parent = np.full((w, h, 2), -1, np.int64)
        sx, sy = (int(v) for v in self._u.agent_pos)
        dist[sx][sy] = 0
        queue = deque([(sx, sy)])
        while queue:
            x, y = queue.popleft()
            d = dist[x][y] + 1
            for ddx, ddy in _DIR_TUPLES:
                nx, ny = x + ddx, y + ddy
                if 0 <= nx < w and 0 <= ny < h and dist[nx][ny] < 0 and passable[nx][ny]:
                    dist[nx][ny] = d
                    parent[nx, ny] = (x, y)
                    queue.append((nx, ny))
        return np.array(dist, np.int64), parent

    def _route_to(self, target: tuple[int, int], enter: bool) -> tuple[tuple[int, int], int] | None:
        """The waypoint and route length to stand on ``target`` (``enter``) or next to it; ``None`` if unreachable."""
        dist, parent = self._bfs()
        if enter:
            ends = [target] if dist[target] >= 0 else []
        else:
            w, h = dist.shape
            ends = [
                (target[0] + ddx, target[1] + ddy)
                for ddx, ddy in _DIRS
                if 0 <= target[0] + ddx < w and 0 <= target[1] + ddy < h and dist[target[0] + ddx, target[1] + ddy] >= 0
            ]
        if not ends:
            return None
        end = min(ends, key=lambda c: dist[c])
        return self._waypoint(parent, dist, end), int(dist[end])

    @staticmethod
    def _waypoint(parent: np.ndarray, dist: np.ndarray, end: tuple[int, int]) -> tuple[int, int]:
        cell = end
        while dist[cell] > _WAYPOINT_AHEAD:
            cell = (int(parent[cell][0]), int(parent[cell][1]))
        return cell

    def _seen_unknown_neighbours(self, cell: tuple[int, int]) -> int:
        w, h = self._seen.shape
        return sum(
            1
            for ddx, ddy in _DIRS
            if 0 <= cell[0] + ddx < w and 0 <= cell[1] + ddy < h and not self._seen[cell[0] + ddx, cell[1] + ddy]
        )

    def _frontier_route(self) -> tuple[tuple[int, int], int] | None:
        """The nearest reachable frontier cell (known free, next to an unseen cell) and its distance."""
        if "frontier" not in self._cache:
            self._cache["frontier"] = self._find_frontier()
        return self._cache["frontier"]

    def _find_frontier(self) -> tuple[tuple[int, int], int] | None:
        dist, _ = self._bfs()
        unseen = ~self._seen
        near_unseen = np.zeros_like(unseen)
        near_unseen[1:] |= unseen[:-1]
        near_unseen[:-1] |= unseen[1:]
        near_unseen[:, 1:] |= unseen[:, :-1]
        near_unseen[:, :-1] |= unseen[:, 1:]
        frontier = (dist >= 0) & near_unseen
        if not frontier.any():
            return None
        cells = np.argwhere(frontier)
        best = cells[np.argmin(dist[frontier])]
        return (int(best[0]), int(best[1])), int(dist[tuple(best)])

    # ---- features
    @property
    def observation_space(self) -> spaces.Box:
        return self._space

    def _egocentric(self, cell: tuple[int, int]) -> tuple[float, float]:
        u = self._u
        (dx, dy), (ax, ay) = _DIRS[u.agent_dir], u.agent_pos
        rel = (cell[0] - ax, cell[1] - ay)
        return float(rel[0] * dx + rel[1] * dy), float(rel[0] * -dy + rel[1] * dx)

    def features(self, ctx: SkillContext, obs: Any) -> np.ndarray:
        self._retarget(ctx)
        skill, u = ctx.skill, self._u
        image = obs["image"].astype(np.float32) / np.array([10.0, 5.0, 2.0], np.float32)
        goal = np.zeros(_GOAL_FEATURES, np.float32)
        goal[self.kinds.index(skill.kind)] = 1.0
        if skill.target:
            goal[len(MINIGRID_KINDS) + MINIGRID_OBJECTS.index(skill.target[0])] = 1.0
            if len(skill.target) > 1:
                goal[len(MINIGRID_KINDS) + len(MINIGRID_OBJECTS) + COLOR_TO_IDX[skill.target[1]]] = 1.0
        pointer = np.zeros(_POINTER_FEATURES, np.float32)
        if ctx.target_pos is not None:
            enter = skill.kind == "explore" or skill.target[:1] == ("goal",)
            route = self._route_to(ctx.target_pos, enter)
            fwd, right = self._egocentric(ctx.target_pos)
            pointer[:3] = (1.0, np.clip(fwd / 8, -1, 1), np.clip(right / 8, -1, 1))
            if route is not None:
                wfwd, wright = self._egocentric(route[0])
                pointer[3:6] = (np.clip(wfwd / 4, -1, 1), np.clip(wright / 4, -1, 1), min(route[1] / 20, 1.0))
            else:
                pointer[5] = 1.0
            pointer[6] = float(tuple(u.front_pos) == ctx.target_pos)
            pointer[7] = float(self._map[ctx.target_pos][0] == _DOOR and self._map[ctx.target_pos][2] == _LOCKED)
        carrying = self._carrying()
        carry = np.array(
            [
                carrying is not None,
                carrying is not None and carrying == skill.target,
                carrying is not None and len(skill.target) > 1 and carrying == ("key", skill.target[1]),
            ],
            np.float32,
        )
        return np.concatenate([image.ravel(), goal, pointer, carry])

    # ---- high level
    def text(self) -> TextObservation:
        """The mission, every object seen so far and what the agent carries (the planner's view)."""
        base = super().text()
        seen = [_phrase(kind, color, state) for _, kind, color, state in self.known_objects()]
        carrying = self._carrying()
        lines = [
            "Objects seen so far: " + (", ".join(dict.fromkeys(seen)) if seen else "none"),
            f"You carry a {carrying[1]} {carrying[0]}" if carrying else "You carry nothing",
        ]
        return TextObservation(
            mission=base.mission, observation="\n".join(lines), actions=base.actions, extras=base.extras
        )

    @property
    def high_level_space(self) -> spaces.Box:
        return self._high_space

    def high_level_features(self, obs: Any) -> np.ndarray:
        image = obs["image"].astype(np.float32) / np.array([10.0, 5.0, 2.0], np.float32)
        mission = np.zeros(len(_MISSION_WORDS), np.float32)
        for word in self._u.mission.lower().split():
            if word in _MISSION_INDEX:
                mission[_MISSION_INDEX[word]] = 1.0
        carry = np.zeros(11, np.float32)
        carrying = self._carrying()
        if carrying is not None:
            carry[MINIGRID_OBJECTS.index(carrying[0])] = 1.0
            carry[len(MINIGRID_OBJECTS) + COLOR_TO_IDX[carrying[1]]] = 1.0
        names = {s.name for s in self.available()}
        avail = np.array([s.name in names for s in _CATALOGUE], np.float32)
        return np.concatenate([image.ravel(), mission, carry, avail])

    @property
    def planner_rules(self) -> str:
        return _RULES

    @property
    def planner_examples(self) -> tuple[PlanExample, ...]:
        return _EXAMPLES


_RULES = (
    "A locked door opens only while you carry the key of its colour. You carry one object at a time, so "
    "drop the key before you pick up something else. A box can hide a key: open the box. Explore to find "
    "what you have not seen."
)
_EXAMPLES = (
    PlanExample(
        "pick up the green ball",
        "Objects seen so far: a green key, a locked green door\nYou carry nothing",
        ("pick up the green key", "open the green door", "explore", "go to the green key", "go to the green door"),
        (
            "pick up the green key",
            "open the green door",
            "drop the object you carry",
            "explore",
            "pick up the green ball",
        ),
    ),
    PlanExample(
        "pick up the red ball",
        "Objects seen so far: a closed yellow door, a locked red door\nYou carry nothing",
        ("open the yellow door", "open the red door", "explore", "go to the yellow door", "go to the red door"),
        (
            "open the yellow door",
            "explore",
            "pick up the red key",
            "open the red door",
            "drop the object you carry",
            "pick up the red ball",
        ),
    ),
    PlanExample(
        "open the yellow door",
        "Objects seen so far: a red box, a locked yellow door\nYou carry nothing",
        (
            "pick up the red box",
            "open the red box",
            "open the yellow door",
            "explore",
            "go to the red box",
            "go to the yellow door",
        ),
        ("open the red box", "pick up the yellow key", "open the yellow door"),
    ),
    PlanExample(
        "traverse the rooms to get to the goal",
        "Objects seen so far: a closed blue door\nYou carry nothing",
        ("open the blue door", "explore", "go to the blue door"),
        ("open the blue door", "explore", "go to the goal"),
    ),
)


def _phrase(kind: str, color: str, state: int) -> str:
    if kind == "door":
        return f"{('an open', 'a closed', 'a locked')[state]} {color} door"
    if kind == "goal":
        return "the goal"
    return f"a {color} {kind}"
