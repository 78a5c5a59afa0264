"""Crafter skills: the collect-, place-, make-, eat-, drink- and sleep-skills behind its 22 achievements, and explore.

Each achievement has one skill ("collect wood" -> ``collect_wood``, "drink water" ->
``collect_drink``, "sleep" -> ``wake_up``); its predicate is that the achievement's count in
``info["achievements"]`` went up. Requirements (tools, materials, a nearby table or furnace) come
from crafter's own ``data.yaml``. ``explore`` walks towards unseen ground until enough new cells or
a new kind of thing come into view.

The library keeps the agent's map of the world, built from its 9x7 local views only. A skill model
reads :meth:`CrafterSkillLibrary.features`: the symbolic observation (local view one-hot, inventory,
facing, sleeping, daylight), the skill as a one-hot, and an egocentric pointer to the nearest known
target (a tree for "collect wood", a table for "make wood pickaxe", unseen ground for "explore").
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from mentor.envs.crafter import (
    CRAFTER_ACTIONS,
    CRAFTER_ITEMS,
    CRAFTER_SEMANTIC_NAMES,
    LOCAL_VIEW,
    SYMBOLIC_SIZE,
    crop_local_view,
)
from mentor.skills.library import PlanExample, Skill, SkillContext, SkillLibrary

__all__ = [
    "CRAFTER_KINDS",
    "CRAFTER_SKILLS",
    "LOW_VITAL",
    "NEW_ACHIEVEMENT_WEIGHT",
    "POINTER_FEATURES",
    "SURVIVAL_WEIGHT",
    "CrafterSkillLibrary",
]

CRAFTER_KINDS: tuple[str, ...] = ("collect", "place", "make", "eat", "sleep", "defeat", "explore")

#: (skill name, kind, achievement, target thing, max steps); the target is a semantic name.
_SPECS: tuple[tuple[str, str, str | None, str | None, int], ...] = (
    ("collect wood", "collect", "collect_wood", "tree", 60),
    ("collect stone", "collect", "collect_stone", "stone", 60),
    ("collect coal", "collect", "collect_coal", "coal", 60),
    ("collect iron", "collect", "collect_iron", "iron", 80),
    ("collect diamond", "collect", "collect_diamond", "diamond", 80),
    ("collect sapling", "collect", "collect_sapling", "grass", 40),
    ("drink water", "collect", "collect_drink", "water", 60),
    ("place table", "place", "place_table", None, 20),
    ("place stone", "place", "place_stone", None, 20),
    ("place furnace", "place", "place_furnace", None, 20),
    ("place plant", "place", "place_plant", "grass", 20),
    ("make wood pickaxe", "make", "make_wood_pickaxe", "table", 40),
    ("make stone pickaxe", "make", "make_stone_pickaxe", "table", 40),
    ("make iron pickaxe", "make", "make_iron_pickaxe", "furnace", 40),
    ("make wood sword", "make", "make_wood_sword", "table", 40),
    ("make stone sword", "make", "make_stone_sword", "table", 40),
    ("make iron sword", "make", "make_iron_sword", "furnace", 40),
    ("eat cow", "eat", "eat_cow", "cow", 60),
    ("eat plant", "eat", "eat_plant", "plant", 60),
    ("sleep", "sleep", "wake_up", None, 150),
    ("defeat zombie", "defeat", "defeat_zombie", "zombie", 60),
    ("defeat skeleton", "defeat", "defeat_skeleton", "skeleton", 80),
    ("explore", "explore", None, None, 30),
)
CRAFTER_SKILLS: tuple[Skill, ...] = tuple(
    Skill(name, kind, (target,) if target else (), steps) for name, kind, _, target, steps in _SPECS
)
_ACHIEVEMENT = {name: ach for name, _, ach, _, _ in _SPECS}
_SKILL_INDEX = {s.name: i for i, s in enumerate(CRAFTER_SKILLS)}
_ID = {name: i for i, name in enumerate(CRAFTER_SEMANTIC_NAMES)}
_CREATURES = ("cow", "zombie", "skeleton", "plant")
_PLACE_ON = {
    "table": ("grass", "sand", "path"),
    "furnace": ("grass", "sand", "path"),
    "plant": ("grass",),
    "stone": ("grass", "sand", "path", "water", "lava"),
}
#: ``explore`` succeeds once this many new cells have been seen (or a new kind of thing).
EXPLORE_NEW_CELLS = 20
#: A vital (food, drink, energy) at or below this makes the skill that restores it urgent (:meth:`CrafterSkillLibrary.priority`).
LOW_VITAL = 3
#: Sampling weight of an urgent survival skill in prioritised skill training.
SURVIVAL_WEIGHT = 8.0
#: Sampling weight of a skill whose achievement is not yet unlocked this episode.
NEW_ACHIEVEMENT_WEIGHT = 4.0
_ACTION = {name.replace(" ", "_"): i for i, name in enumerate(CRAFTER_ACTIONS)}
_RESTORES = {"eat cow": "food", "eat plant": "food", "drink water": "drink", "sleep": "energy"}
_FACINGS = ((-1, 0), (1, 0), (0, -1), (0, 1))
#: Length of a skill's pointer to its target (:meth:`CrafterSkillLibrary.pointer`).
POINTER_FEATURES = 6


def _requirements() -> dict[str, tuple[dict[str, int], tuple[str, ...]]]:
    """Skill name -> (inventory it needs, things that must be nearby), from crafter's ``data.yaml``."""
    from crafter import constants

    needs: dict[str, tuple[dict[str, int], tuple[str, ...]]] = {}
    for name, kind, _, target, _ in _SPECS:
        if kind == "collect" and target in constants.collect:
            needs[name] = (dict(constants.collect[target]["require"]), ())
        elif kind == "place":
            needs[name] = (dict(constants.place[name.split()[-1]]["uses"]), ())
        elif kind == "make":
            info = constants.make["_".join(name.split()[1:])]
            needs[name] = (dict(info["uses"]), tuple(info["nearby"]))
        else:
            needs[name] = ({}, ())
    return needs


def _interaction(skill: Skill, player: Any, world: Any, needs: tuple[dict[str, int], tuple[str, ...]]) -> int | None:
    """The action index that performs ``skill``'s achievement now, if crafter's rules allow it.

    ``needs`` is the skill's entry of :func:`_requirements` (a collect skill's tools are its uses).
    """
    from crafter import constants

    uses, nearby = needs
    if any(player.inventory[k] < v for k, v in uses.items()):
        return None
    if skill.kind == "sleep":
        return _ACTION["sleep"]
    facing = (int(player.pos[0]) + int(player.facing[0]), int(player.pos[1]) + int(player.facing[1]))
    material, obj = world[facing]
    if skill.kind == "place":
        what = skill.name.split()[-1]
        if obj is None and material in constants.place[what]["where"]:
            return _ACTION[f"place_{what}"]
        return None
    if skill.kind == "make":
        around, _ = world.nearby(player.pos, 1)
        return _ACTION["make_" + "_".join(skill.name.split()[1:])] if all(n in around for n in nearby) else None
    if skill.kind not in ("collect", "eat", "defeat") or not skill.target:
        return None
    target = skill.target[0]
    if target in _CREATURES:
        if obj is None or type(obj).__name__.lower() != target or (target == "plant" and not obj.ripe):
            return None
        return _ACTION["do"]
    return _ACTION["do"] if obj is None and material == target else None


class CrafterSkillLibrary(SkillLibrary):
    """Crafter skills over the agent's own map of the world.

    Example:
        >>> import mentor.envs as me
        >>> env = me.make("mentor/Crafter-Symbolic-v0")
        >>> obs, info = env.reset(seed=0)
        >>> lib = CrafterSkillLibrary(env); lib.reset(obs, info)
        >>> "collect wood" in [s.name for s in lib.available()]
        True
    """

    family = "crafter"
    kinds = CRAFTER_KINDS
    planner_key_words = frozenset(
        [w for item in CRAFTER_ITEMS for w in item.split("_")]
        + [n for n in CRAFTER_SEMANTIC_NAMES if n not in ("outside", "player")]
    )

    def __init__(self, env: gym.Env):
        super().__init__(env)
        n = SYMBOLIC_SIZE + len(CRAFTER_SKILLS) + POINTER_FEATURES
        self._space = spaces.Box(-1.0, 1.0, (n,), np.float32)
        self._high_space = spaces.Box(-1.0, 1.0, (SYMBOLIC_SIZE + len(CRAFTER_SKILLS),), np.float32)
        self._needs = _requirements()
        self._eye = np.eye(len(CRAFTER_SEMANTIC_NAMES), dtype=np.float32)
        self._map = np.zeros((1, 1), np.int64)
        self._seen = np.zeros((1, 1), bool)
        self._local = np.zeros(LOCAL_VIEW, np.int64)
        self._symbolic = np.zeros(SYMBOLIC_SIZE, np.float32)

    @property
    def _u(self) -> Any:
        return self.env.unwrapped

    # ---- map
    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        shape = info["semantic"].shape
        self._map = np.zeros(shape, np.int64)
        self._seen = np.zeros(shape, bool)
        self.update(obs, info)

    def update(self, obs: Any, info: dict[str, Any]) -> None:
        pos = info["player_pos"]
        self._local = crop_local_view(info["semantic"], pos)
        (w, h), (cx, cy) = LOCAL_VIEW, (LOCAL_VIEW[0] // 2, LOCAL_VIEW[1] // 2)
        x0, y0 = int(pos[0]) - cx, int(pos[1]) - cy
        xa, xb = max(x0, 0), min(x0 + w, self._map.shape[0])
        ya, yb = max(y0, 0), min(y0 + h, self._map.shape[1])
        self._map[xa:xb, ya:yb] = self._local[xa - x0 : xb - x0, ya - y0 : yb - y0]
        self._seen[xa:xb, ya:yb] = True
        self._symbolic = self._observe(obs)

    def _observe(self, obs: Any) -> np.ndarray:
        if isinstance(obs, np.ndarray) and obs.shape == (SYMBOLIC_SIZE,):
            return obs.astype(np.float32)
        player, world = self._u.player, self._u.world
        inventory = np.array([player.inventory[name] for name in CRAFTER_ITEMS], np.float32) / 9
        facing = np.zeros(4, np.float32)
        facing[_FACINGS.index(tuple(int(v) for v in player.facing))] = 1.0
        status = np.array([player.sleeping, world.daylight], np.float32)
        return np.concatenate([self._eye[self._local].ravel(), inventory, facing, status])

    # ---- skills
    def _build_catalogue(self) -> tuple[Skill, ...]:
        return CRAFTER_SKILLS

    def _known(self, thing: str) -> np.ndarray:
        """Cells where ``thing`` is known to be: in view for creatures, on the map for materials."""
        if thing in _CREATURES:
            mask = np.zeros_like(self._seen)
            cells = np.argwhere(self._local == _ID[thing])
            if len(cells):
                pos = self._u.player.pos
                cx, cy = LOCAL_VIEW[0] // 2, LOCAL_VIEW[1] // 2
                for c, r in cells:
                    x, y = int(pos[0]) + c - cx, int(pos[1]) + r - cy
                    if 0 <= x < mask.shape[0] and 0 <= y < mask.shape[1]:
                        mask[x, y] = True
            return mask
        return self._seen & (self._map == _ID[thing])

    def _nearest(self, mask: np.ndarray) -> tuple[int, int] | None:
        cells = np.argwhere(mask)
        if not len(cells):
            return None
        pos = self._u.player.pos
        distance = np.abs(cells[:, 0] - pos[0]) + np.abs(cells[:, 1] - pos[1])
        distance[distance == 0] = 10**6
        best = cells[np.argmin(distance)]
        return int(best[0]), int(best[1])

    def _target_mask(self, skill: Skill) -> np.ndarray | None:
        if skill.kind == "explore":
            return ~self._seen
        if skill.kind == "place":
            what = skill.name.split()[-1]
            return self._seen & np.isin(self._map, [_ID[m] for m in _PLACE_ON[what]])
        if not skill.target:
            return None
        return self._known(skill.target[0])

    def available(self) -> list[Skill]:
        """Skills on things seen (in view, for creatures), and place/make skills whose materials are in the inventory."""
        inventory = self._u.player.inventory
        out = []
        for skill in CRAFTER_SKILLS:
            if skill.kind in ("collect", "eat", "defeat") and not self._known(skill.target[0]).any():
                continue
            if skill.kind in ("place", "make"):
                uses, _ = self._needs[skill.name]
                if any(inventory[k] < v for k, v in uses.items()):
                    continue
            if skill.kind == "explore" and self._seen.all():
                continue
            out.append(skill)
        return out

    def feasible(self) -> list[Skill]:
        """Available skills whose tools, nearby table or furnace, energy deficit or ripe plant are there."""
        player = self._u.player
        out = []
        for skill in self.available():
            uses, nearby = self._needs[skill.name]
            if any(player.inventory[k] < v for k, v in uses.items()):
                continue
            if any(not self._known(n).any() for n in nearby):
                continue
            if skill.kind == "sleep" and player.inventory["energy"] >= 9:
                continue
            if skill.name == "eat plant" and not self._ripe_plant_in_view():
                continue
            out.append(skill)
        return out

    def priority(self, skill: Skill) -> float:
        """Survival first, then what unlocks a new achievement, then the rest.

        A skill that restores a vital at or below :data:`LOW_VITAL` (eat when hungry, drink when
        thirsty, sleep when tired) weighs :data:`SURVIVAL_WEIGHT`; one whose achievement is not yet
        unlocked this episode weighs :data:`NEW_ACHIEVEMENT_WEIGHT` (feasibility already follows the
        tech tree, so these are the next steps up it); every other skill weighs 1.
        """
        inventory = self._u.player.inventory
        vital = _RESTORES.get(skill.name)
        if vital is not None and inventory[vital] <= LOW_VITAL:
            return SURVIVAL_WEIGHT
        achievement = _ACHIEVEMENT[skill.name]
        if achievement is not None and self._u.player.achievements[achievement] == 0:
            return NEW_ACHIEVEMENT_WEIGHT
        return 1.0

    def urgent(self) -> Skill | None:
        """The feasible skill restoring the lowest vital at or below :data:`LOW_VITAL`, if any."""
        inventory = self._u.player.inventory
        low = sorted((inventory[vital], name) for name, vital in _RESTORES.items() if inventory[vital] <= LOW_VITAL)
        if not low:
            return None
        feasible = {s.name: s for s in self.feasible()}
        return next((feasible[name] for _, name in low if name in feasible), None)

    def scripted_action(self, ctx: SkillContext) -> int | None:
        """The skill's own interaction once it can happen now; ``None`` leaves the step to the skill model.

        Crafter's achievements are single actions: ``do`` on what the player faces (a tree, water, a
        cow, a zombie, a ripe plant), ``place_*`` onto a fitting cell in front, ``make_*`` next to a
        table or furnace, ``sleep``. The skill model learns to walk to where that action works; the
        action itself is the game's rule (see :func:`_interaction`), written once here.
        """
        return self.interaction(ctx.skill)

    def interaction(self, skill: Skill) -> int | None:
        """The action that performs ``skill``'s achievement now, if crafter's rules allow it, else ``None``."""
        return _interaction(skill, self._u.player, self._u.world, self._needs[skill.name])

    def planner_skills(self) -> list[Skill]:
        """The feasible skills (tools, table or furnace in reach of the map, a vital to restore), and
        ``sleep`` only once energy is low: a planner offered "make wood pickaxe" with no table known,
        or sleep at 8/9 energy in the open, takes them and loses the step budget or the player."""
        energy = self._u.player.inventory["energy"]
        offered = [s for s in self.feasible() if s.kind != "sleep" or energy <= LOW_VITAL]
        return offered or self.available()

    def _ripe_plant_in_view(self) -> bool:
        """Whether a ripe plant is in view (the text view says "ripe plant" too)."""
        world, pos = self._u.world, self._u.player.pos
        cx, cy = LOCAL_VIEW[0] // 2, LOCAL_VIEW[1] // 2
        for c, r in np.argwhere(self._local == _ID["plant"]):
            obj = world[(int(pos[0]) + c - cx, int(pos[1]) + r - cy)][1]
            if obj is not None and getattr(obj, "ripe", False):
                return True
        return False

    def _bind(self, ctx: SkillContext) -> bool:
        skill = ctx.skill
        ctx.target_pos = self.nearest_target(skill)
        if skill.kind in ("collect", "eat", "defeat", "explore") and ctx.target_pos is None:
            return False
        player = self._u.player
        ctx.start = {
            "achievements": dict(player.achievements),
            "seen": int(self._seen.sum()),
            "kinds": set(np.unique(self._map[self._seen]).tolist()),
        }
        return True

    def succeeded(self, ctx: SkillContext, info: dict[str, Any]) -> bool:
        skill = ctx.skill
        if skill.kind == "explore":
            new_cells = int(self._seen.sum()) - ctx.start["seen"]
            new_kinds = set(np.unique(self._map[self._seen]).tolist()) - ctx.start["kinds"]
            return new_cells >= EXPLORE_NEW_CELLS or bool(new_kinds)
        achievement = _ACHIEVEMENT[skill.name]
        return info["achievements"][achievement] > ctx.start["achievements"][achievement]

    # ---- features
    @property
    def observation_space(self) -> spaces.Box:
        return self._space

    def features(self, ctx: SkillContext, obs: Any) -> np.ndarray:
        skill = ctx.skill
        ctx.target_pos = self.nearest_target(skill) or ctx.target_pos
        goal = np.zeros(len(CRAFTER_SKILLS), np.float32)
        goal[_SKILL_INDEX[skill.name]] = 1.0
        return np.concatenate([self._symbolic, goal, self.pointer(ctx.target_pos)])

    @property
    def symbolic(self) -> np.ndarray:
        """The symbolic observation (local view one-hot, inventory, facing, sleeping, daylight) of the last update."""
        return self._symbolic

    def nearest_target(self, skill: Skill) -> tuple[int, int] | None:
        """The known cell nearest the player where ``skill`` can act (unseen ground for explore), if any."""
        mask = self._target_mask(skill)
        return self._nearest(mask) if mask is not None else None

    def nearest_targets(self) -> dict[str, tuple[int, int] | None]:
        """:meth:`nearest_target` of every skill, from one pass over the map (and one over the view, for creatures).

        A cell's rank is its L1 distance to the player, then its row-major index, as :meth:`_nearest`'s
        first-minimum ``argmin`` ranks them, so the cells are the same.
        """
        w, h = self._map.shape
        unseen, none = len(CRAFTER_SEMANTIC_NAMES), np.iinfo(np.int64).max
        px, py = int(self._u.player.pos[0]), int(self._u.player.pos[1])

        def ranks(xs: np.ndarray, ys: np.ndarray, keys: np.ndarray) -> np.ndarray:
            distance = np.abs(xs - px) + np.abs(ys - py)
            distance[distance == 0] = 10**6
            best = np.full(unseen + 1, none, np.int64)
            np.minimum.at(best, keys, distance * (w * h) + xs * h + ys)
            return best

        xs, ys = np.divmod(np.arange(w * h), h)
        keys = np.where(self._seen.ravel(), self._map.ravel(), unseen)
        on_map = ranks(xs, ys, keys)
        (vw, vh), (cx, cy) = LOCAL_VIEW, (LOCAL_VIEW[0] // 2, LOCAL_VIEW[1] // 2)
        vx, vy = np.divmod(np.arange(vw * vh), vh)
        vx, vy = vx + px - cx, vy + py - cy
        inside = (vx >= 0) & (vx < w) & (vy >= 0) & (vy < h)
        in_view = ranks(vx[inside], vy[inside], self._local.ravel()[inside])

        out: dict[str, tuple[int, int] | None] = {}
        for skill in CRAFTER_SKILLS:
            if skill.kind == "explore":
                rank = on_map[unseen]
            elif skill.kind == "place":
                rank = on_map[[_ID[m] for m in _PLACE_ON[skill.name.split()[-1]]]].min()
            elif skill.target:
                target = skill.target[0]
                rank = (in_view if target in _CREATURES else on_map)[_ID[target]]
            else:
                rank = none
            out[skill.name] = None if rank == none else tuple(int(v) for v in divmod(int(rank) % (w * h), h))
        return out

    def pointer(self, target_pos: tuple[int, int] | None) -> np.ndarray:
        """:data:`POINTER_FEATURES` egocentric features of ``target_pos``: known, dx/8, dy/8, L1 distance/16,
        faced, adjacent (all 0 without a target)."""
        pointer = np.zeros(POINTER_FEATURES, np.float32)
        if target_pos is not None:
            player = self._u.player
            dx, dy = target_pos[0] - int(player.pos[0]), target_pos[1] - int(player.pos[1])
            facing = tuple(int(v) for v in player.facing)
            pointer[:] = (
                1.0,
                max(-1.0, min(dx / 8, 1.0)),
                max(-1.0, min(dy / 8, 1.0)),
                min((abs(dx) + abs(dy)) / 16, 1.0),
                float((dx, dy) == facing),
                float(max(abs(dx), abs(dy)) <= 1),
            )
        return pointer

    # ---- high level
    @property
    def high_level_space(self) -> spaces.Box:
        return self._high_space

    def high_level_features(self, obs: Any) -> np.ndarray:
        names = {s.name for s in self.available()}
        avail = np.array([s.name in names for s in CRAFTER_SKILLS], np.float32)
        return np.concatenate([self._symbolic, avail])

    @property
    def planner_rules(self) -> str:
        return _RULES

    @property
    def planner_examples(self) -> tuple[PlanExample, ...]:
        return _EXAMPLES


_RULES = (
    "Trees give wood. A table needs wood; tools are made next to a table. A wood pickaxe mines stone and "
    "coal, a stone pickaxe mines iron, iron tools also need a furnace, which needs stone. Drink water when "
    "thirsty, eat cow when hungry, sleep when tired."
)
_EXAMPLES = (
    PlanExample(
        "Unlock as many achievements as possible.",
        "Nearest of each kind in view:\n- tree: 2 steps left\n- water: 4 steps up\n"
        "Vitals: health 9/9, food 9/9, drink 7/9, energy 9/9.\nInventory: empty.",
        ("collect wood", "drink water", "place table", "make wood pickaxe", "explore"),
        ("collect wood", "collect wood", "place table", "make wood pickaxe", "make wood sword", "drink water"),
    ),
    PlanExample(
        "Unlock as many achievements as possible.",
        "Nearest of each kind in view:\n- stone: 3 steps right\n- table: 1 step down\n"
        "Vitals: health 8/9, food 5/9, drink 8/9, energy 4/9.\nInventory: wood 2, wood pickaxe 1.",
        ("collect stone", "make stone pickaxe", "place stone", "eat cow", "sleep", "explore"),
        ("collect stone", "make stone pickaxe", "collect stone", "place stone", "sleep"),
    ),
)
