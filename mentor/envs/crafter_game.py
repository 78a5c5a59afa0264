"""``crafter.Env`` made deterministic and fast, with frames and dynamics equal to stock crafter's.

:class:`CrafterGame` changes how crafter computes, never what:

- worlds come from :func:`mentor.envs.crafter_worldgen.generate_world` (the same worlds, ~20x faster);
- chunk members keep insertion order (:func:`order_chunk_members`), which makes despawns and so
  whole episodes a function of the seed; stock crafter iterates them by object address;
- a step updates the same objects in the same order, found through the object map near the player
  instead of a distance test on every object in the world;
- the semantic map is filled from the object map in one array operation;
- frames are drawn by :class:`FrameRenderer`: byte for byte stock ``crafter.Env.render``'s;
- fast mode skips the frame but draws the random numbers that rendering would have drawn.

The tests hold each of these to stock crafter over random play on several seeds.
"""

from __future__ import annotations

import collections
from typing import Any

import crafter
import numpy as np
from crafter import constants, engine, objects

from mentor.envs.crafter_worldgen import generate_world

__all__ = ["OrderedMembers", "order_chunk_members", "FrameRenderer", "CrafterGame"]


class OrderedMembers(dict):
    """The objects of one world chunk, iterated in the order they entered it (a set API over a dict)."""

    def add(self, obj: Any) -> None:
        self[obj] = None

    def remove(self, obj: Any) -> None:
        del self[obj]


def order_chunk_members(world: Any) -> None:
    """Make a freshly reset ``crafter.engine.World`` list each chunk's objects in insertion order.

    Stock crafter keeps them in a ``set``, which iterates by object address; when a chunk holds too
    many cows or zombies, ``Env._balance_object`` despawns ``creatures[random.randint(...)]`` from
    that order, so two stock envs with the same seed and actions diverge after the first despawn.
    Call this right after ``world.reset`` (before objects are added).
    """
    world._chunks = collections.defaultdict(OrderedMembers)


class _SemanticMap:
    """``crafter.engine.SemanticView`` from the object map: one scatter instead of a loop over objects."""

    def __init__(self, world: Any, stock: engine.SemanticView):
        self._world = world
        self._type_ids = stock._obj_ids
        self._objects: list | None = None
        self._ids = np.zeros(1, np.uint8)

    def __call__(self) -> np.ndarray:
        world = self._world
        canvas = world._mat_map.copy()
        cells = np.flatnonzero(world._obj_map)
        canvas.flat[cells] = self._index_ids()[world._obj_map.flat[cells]]
        return canvas

    def _index_ids(self) -> np.ndarray:
        """Semantic id per object index (an index keeps its object's type; indices are never reused)."""
        listed = self._world._objects
        if listed is not self._objects:
            self._objects, self._ids = listed, np.zeros(1, np.uint8)
        if len(self._ids) < len(listed):
            new = [self._type_ids[type(obj)] if obj is not None else 0 for obj in listed[len(self._ids) :]]
            self._ids = np.concatenate([self._ids, np.array(new, np.uint8)])
        return self._ids


class _Tiles:
    """The tiles of one cell size: one per material, the grey outside the world, then each object
    texture over each material it has stood on; and their lit versions per daylight value."""

    def __init__(self, game: crafter.Env, unit: tuple[int, int]):
        self._game, self._unit = game, unit
        names = game._world._mat_names
        self.outside = len(names)
        tiles = np.full((len(names) + 1, *unit, 3), 127, np.uint8)
        for index in range(len(names)):
            engine._draw(tiles[index], (0, 0), game._textures.get(names[index], unit))
        self._tiles = list(tiles)
        self._object_tiles: dict[tuple[int, str], int] = {}
        self._array = tiles
        self._lit: collections.OrderedDict[tuple[float, bool], np.ndarray] = collections.OrderedDict()

    def object_tile(self, material: int, texture: str) -> int:
        """Index of ``texture`` blended over ``material``'s tile, as ``engine._draw_alpha`` blends it."""
        index = self._object_tiles.get((material, texture))
        if index is None:
            tile = self._tiles[material].copy()
            engine._draw_alpha(tile, (0, 0), self._game._textures.get(texture, self._unit))
            index = self._object_tiles[(material, texture)] = len(self._tiles)
            self._tiles.append(tile)
        return index

    def array(self) -> np.ndarray:
        if len(self._array) < len(self._tiles):
            self._array = np.stack(self._tiles)
        return self._array

    def lit(self, daylight: float, sleeping: bool) -> np.ndarray:
        """Every tile as the frame shows it in daylight (>= 0.5, no night noise), cast to bytes.

        Lighting and the sleep tint act on each pixel alone, so lighting a stack of tiles gives each
        tile the pixels that lighting the whole frame gives it.
        """
        tiles = self.array()
        key = (daylight, sleeping)
        lit = self._lit.get(key)
        if lit is None or len(lit) < len(tiles):
            view = self._game._local_view
            stack = tiles.reshape(-1, self._unit[1], 3)
            stack = view._light(stack, daylight)
            if sleeping:
                stack = view._sleep(stack)
            lit = self._lit[key] = stack.astype(np.uint8).reshape(tiles.shape)
            if len(self._lit) > 2048:
                self._lit.popitem(last=False)
        return lit


class FrameRenderer:
    """Draws a crafter frame exactly as ``crafter.Env.render`` does, from lookup tables.

    Stock crafter draws the local view cell by cell, lights it and draws the inventory item by item
    on every step. Here the local view is one gather from a tile atlas (an object's tile is blended
    over its material once); by day the lit atlas is cached per daylight value, and at night stock
    crafter's own lighting (whose noise draws from ``world.random``) lights the frame. The inventory
    panel is cached by inventory.

    Args:
        game: the ``crafter.Env`` to draw.
    """

    def __init__(self, game: crafter.Env):
        self._game = game
        self._tiles: dict[tuple[int, int], _Tiles] = {}
        self._item_panels: dict[tuple, np.ndarray] = {}

    def __call__(self, size: Any = None) -> np.ndarray:
        game = self._game
        size = game._size if size is None else np.asarray(size)
        unit = size // game._view
        local = self._local_view(unit)
        items = self._item_panel(unit)
        view = np.concatenate([local, items], 1)
        canvas = np.zeros(tuple(size) + (3,), np.uint8)
        border = (size - (size // game._view) * game._view) // 2
        (x, y), (w, h) = border, view.shape[:2]
        canvas[x : x + w, y : y + h] = view
        return canvas.transpose((1, 0, 2))

    def _local_view(self, unit: np.ndarray) -> np.ndarray:
        game, view = self._game, self._game._local_view
        world, player = game._world, game._player
        (gx, gy), (ux, uy) = (int(v) for v in view._grid), (int(v) for v in unit)
        tiles = self._tiles.get((ux, uy))
        if tiles is None or tiles.outside != len(world._mat_names):
            tiles = self._tiles[(ux, uy)] = _Tiles(game, (ux, uy))
        x0, y0 = (int(v) for v in np.asarray(player.pos) - view._grid // 2)
        ids = np.full((gx, gy), tiles.outside, np.intp)
        objs = np.zeros((gx, gy), np.uint32)
        xa, xb = max(x0, 0), min(x0 + gx, world.area[0])
        ya, yb = max(y0, 0), min(y0 + gy, world.area[1])
        if xa < xb and ya < yb:
            ids[xa - x0 : xb - x0, ya - y0 : yb - y0] = world._mat_map[xa:xb, ya:yb]
            objs[xa - x0 : xb - x0, ya - y0 : yb - y0] = world._obj_map[xa:xb, ya:yb]
        for cx, cy in zip(*np.nonzero(objs)):
            ids[cx, cy] = tiles.object_tile(int(ids[cx, cy]), world._objects[objs[cx, cy]].texture)
        if world.daylight >= 0.5:
            atlas = tiles.lit(float(world.daylight), bool(player.sleeping))
            return atlas[ids].transpose(0, 2, 1, 3, 4).reshape(gx * ux, gy * uy, 3)
        canvas = tiles.array()[ids].transpose(0, 2, 1, 3, 4).reshape(gx * ux, gy * uy, 3)
        canvas = view._light(canvas, world.daylight)
        if player.sleeping:
            canvas = view._sleep(canvas)
        return canvas

    def _item_panel(self, unit: np.ndarray) -> np.ndarray:
        inventory = self._game._player.inventory
        key = (tuple(int(v) for v in unit), tuple(inventory.items()))
        panel = self._item_panels.get(key)
        if panel is None:
            if len(self._item_panels) > 4096:
                self._item_panels.clear()
            panel = self._item_panels[key] = self._game._item_view(inventory, unit)
        return panel


class CrafterGame(crafter.Env):
    """``crafter.Env`` with fast world generation, deterministic despawns, fast steps and frames.

    Worlds equal stock crafter's for the same seed. Dynamics and frames equal stock crafter's with
    :func:`order_chunk_members` applied (stock crafter itself is not deterministic: see there). In
    fast mode ``_obs`` returns ``None`` instead of a frame but still draws the night-noise random
    numbers that rendering draws from ``world.random``, so the creatures' random stream is unchanged.

    Args:
        fast: skip pixel rendering in ``reset`` and ``step``.
        **kwargs: ``crafter.Env`` arguments (``area``, ``view``, ``size``, ``reward``, ``length``,
            ``seed``).
    """

    def __init__(self, fast: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.fast = fast
        unit = self._size // self._view
        self._noise_shape = tuple(int(v) for v in self._local_view._grid * unit)
        self._sem_view = _SemanticMap(self._world, self._sem_view)
        self._renderer = FrameRenderer(self)
        self._update_radius = 2 * int(max(self._view))

    def reset(self) -> np.ndarray | None:
        """Crafter's reset with :func:`generate_world`; returns the frame (``None`` when fast)."""
        center = (self._world.area[0] // 2, self._world.area[1] // 2)
        self._episode += 1
        self._step = 0
        self._world.reset(seed=hash((self._seed, self._episode)) % (2**31 - 1))
        order_chunk_members(self._world)
        self._update_time()
        self._player = objects.Player(self._world, center)
        self._last_health = self._player.health
        self._world.add(self._player)
        self._unlocked = set()
        generate_world(self._world, self._player)
        return self._obs()

    def step(self, action: int) -> tuple[np.ndarray | None, float, bool, dict]:
        """``crafter.Env.step``, updating only the objects that can be near enough to the player."""
        self._step += 1
        self._update_time()
        player = self._player
        player.action = constants.actions[action]
        self._update_objects_near_player()
        if self._step % 10 == 0:
            self._count_chunk_materials()
            for chunk, objs in self._world.chunks.items():
                self._balance_chunk(chunk, objs)
        obs = self._obs()
        reward = (player.health - self._last_health) / 10
        self._last_health = player.health
        unlocked = {name for name, count in player.achievements.items() if count > 0 and name not in self._unlocked}
        if unlocked:
            self._unlocked |= unlocked
            reward += 1.0
        dead = player.health <= 0
        over = self._length and self._step >= self._length
        done = dead or over
        info = {
            "inventory": player.inventory.copy(),
            "achievements": player.achievements.copy(),
            "discount": 1 - float(dead),
            "semantic": self._sem_view(),
            "player_pos": player.pos,
            "reward": reward,
        }
        if not self._reward:
            reward = 0.0
        return obs, reward, done, info

    def _update_objects_near_player(self) -> None:
        """Update the objects stock crafter's step updates, in its order (object index).

        Stock crafter tests the distance of every object in the world. An object moves only in its
        own update and the player (index 1) moves at most one cell before the others update, so
        every object that passes the test lies within ``radius`` cells (L1) of the player now: a
        square of the object map holds them all. The test itself is stock crafter's L1 distance.
        """
        world, r, player = self._world, self._update_radius, self._player
        x, y = (int(v) for v in player.pos)
        x0, y0 = max(x - r, 0), max(y - r, 0)
        window = world._obj_map[x0 : x + r + 1, y0 : y + r + 1]
        xs, ys = np.nonzero(window)
        indices = window[xs, ys]
        order = np.argsort(indices, kind="stable")
        near = [world._objects[i] for i in indices[order].tolist()]
        xs, ys = (xs[order] + x0).tolist(), (ys[order] + y0).tolist()
        px, py = x, y
        for obj, ox, oy in zip(near, xs, ys):
            if obj is player:
                obj.update()
                px, py = (int(v) for v in player.pos)
            elif abs(ox - px) + abs(oy - py) < r:
                obj.update()

    def _count_chunk_materials(self) -> None:
        """Cells of grass and of path per chunk, which ``_balance_object`` reads instead of counting."""
        world = self._world
        (csx, csy), (w, h) = world._chunk_size, world.area
        self._chunk_counts = {}
        for material in ("grass", "path"):
            mask = world._mat_map == world._mat_ids[material]
            per_row = np.add.reduceat(mask, np.arange(0, w, csx), axis=0, dtype=np.int64)
            self._chunk_counts[material] = np.add.reduceat(per_row, np.arange(0, h, csy), axis=1)

    def _balance_object(
        self, chunk, objs, cls, material, span_dist, despan_dist, spawn_prob, despawn_prob, ctor, target_fn
    ) -> None:
        """``crafter.Env._balance_object`` with the chunk's material count precomputed."""
        xmin, xmax, ymin, ymax = chunk
        random = self._world.random
        creatures = [obj for obj in objs if isinstance(obj, cls)]
        csx, csy = self._world._chunk_size
        space = int(self._chunk_counts[material][xmin // csx, ymin // csy])
        target_min, target_max = target_fn(len(creatures), space)
        if len(creatures) < int(target_min) and random.uniform() < spawn_prob:
            mask = self._world.mask(*chunk, material)
            xs = np.tile(np.arange(xmin, xmax)[:, None], [1, ymax - ymin])
            ys = np.tile(np.arange(ymin, ymax)[None, :], [xmax - xmin, 1])
            xs, ys = xs[mask], ys[mask]
            i = random.randint(0, len(xs))
            pos = np.array((xs[i], ys[i]))
            empty = self._world[pos][1] is None
            away = self._player.distance(pos) >= span_dist
            if empty and away:
                self._world.add(ctor(pos))
        elif len(creatures) > int(target_max) and random.uniform() < despawn_prob:
            obj = creatures[random.randint(0, len(creatures))]
            away = self._player.distance(obj.pos) >= despan_dist
            if away:
                self._world.remove(obj)

    def render(self, size: Any = None) -> np.ndarray:
        """The frame ``crafter.Env.render`` draws, byte for byte, by :class:`FrameRenderer`."""
        return self._renderer(size)

    def render_quietly(self) -> np.ndarray:
        """The current frame, without advancing ``world.random`` (rendering at night draws from it)."""
        state = self._world.random.get_state()
        frame = self.render()
        self._world.random.set_state(state)
        return frame

    def _obs(self) -> np.ndarray | None:
        if not self.fast:
            return self.render()
        if self._world.daylight < 0.5:
            self._world.random.uniform(32, 127, self._noise_shape)
        return None
