"""Crafter's world generation with its OpenSimplex noise evaluated on whole grids at once.

Stock ``crafter.worldgen`` calls opensimplex's pure-Python ``noise3`` once per tile and noise
layer (about 26k calls, nearly all of ``crafter.Env.reset``). opensimplex's own ``noise3array``
only runs vectorised under numba, which mentor does not depend on; without it, it is the same
Python loop. :func:`noise3` here is a NumPy port of opensimplex 0.4.5.1's ``_noise3`` that keeps
every floating-point operation and its order, so each value equals ``OpenSimplex.noise3`` bit for
bit. :func:`generate_world` reads precomputed noise grids and walks the tiles in crafter's order,
drawing ``world.random.uniform()`` under exactly the same conditions, so a seed gives the same
world as stock crafter. :class:`mentor.envs.crafter_game.CrafterGame` plays in these worlds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import opensimplex
from crafter import constants, objects
from opensimplex.constants import GRADIENTS3, NORM_CONSTANT3, STRETCH_CONSTANT3
from opensimplex.constants import SQUISH_CONSTANT3 as _S

__all__ = ["noise3", "generate_world"]

_Vertex = tuple[np.ndarray, ...]


def _pick(cond: np.ndarray, if_true: _Vertex, if_false: _Vertex) -> _Vertex:
    return tuple(np.where(cond, t, f) for t, f in zip(if_true, if_false))


def _contribution(perm: np.ndarray, grad_index: np.ndarray, vertex: _Vertex) -> np.ndarray:
    xsv, ysv, zsv, dx, dy, dz = vertex
    attn = 2 - dx * dx - dy * dy - dz * dz
    index = grad_index[(perm[(perm[xsv & 0xFF] + ysv) & 0xFF] + zsv) & 0xFF]
    extrapolated = GRADIENTS3[index] * dx + GRADIENTS3[index + 1] * dy + GRADIENTS3[index + 2] * dz
    attn2 = attn * attn
    return np.where(attn > 0, attn2 * attn2 * extrapolated, 0.0)


def noise3(simplex: opensimplex.OpenSimplex, x: Any, y: Any, z: Any) -> np.ndarray:
    """``simplex.noise3`` evaluated elementwise over broadcast arrays, bit-identical to it.

    Args:
        simplex: the generator whose permutation tables are used.
        x, y, z: coordinates; arrays (or scalars) that broadcast together.

    Returns:
        A float64 array of the broadcast shape.
    """
    x, y, z = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in (x, y, z)))
    shape = x.shape
    x, y, z = x.ravel(), y.ravel(), z.ravel()
    stretch = (x + y + z) * STRETCH_CONSTANT3
    xs, ys, zs = x + stretch, y + stretch, z + stretch
    xsb, ysb, zsb = (np.floor(v).astype(np.int64) for v in (xs, ys, zs))
    squish = (xsb + ysb + zsb) * _S
    xins, yins, zins = xs - xsb, ys - ysb, zs - zsb
    in_sum = xins + yins + zins
    dx0, dy0, dz0 = x - (xsb + squish), y - (ysb + squish), z - (zsb + squish)
    cell = (xsb, ysb, zsb, dx0, dy0, dz0, xins, yins, zins, in_sum)
    value = np.empty_like(x)
    low = in_sum <= 1
    high = ~low & (in_sum >= 2)
    for region, mask in ((_tetrahedron_low, low), (_tetrahedron_high, high), (_octahedron, ~low & ~high)):
        if mask.any():
            value[mask] = region(simplex, *(v[mask] for v in cell))
    return (value / NORM_CONSTANT3).reshape(shape)


def _tetrahedron_low(simplex: opensimplex.OpenSimplex, *cell: np.ndarray) -> np.ndarray:
    """Inside the tetrahedron at (0,0,0): ``in_sum <= 1``."""
    xsb, ysb, zsb, dx0, dy0, dz0, xins, yins, zins, in_sum = cell
    perm, gi = simplex._perm, simplex._perm_grad_index3
    c1 = (xins >= yins) & (zins > yins)
    c2 = ~c1 & (xins < yins) & (zins > xins)
    b_score, b_point = np.where(c1, zins, yins), np.where(c1, 4, 2)
    a_score, a_point = np.where(c2, zins, xins), np.where(c2, 4, 1)
    wins = 1 - in_sum
    origin_close = (wins > a_score) | (wins > b_score)
    c = np.where(b_score > a_score, b_point, a_point)
    cx, cy, cz = (c & 1) != 0, (c & 2) != 0, (c & 4) != 0
    near = (
        (
            np.where(cx, xsb + 1, xsb - 1),
            np.where(cy, ysb + 1, np.where(cx, ysb - 1, ysb)),
            np.where(cz, zsb + 1, zsb),
            np.where(cx, dx0 - 1, dx0 + 1),
            np.where(cy, dy0 - 1, np.where(cx, dy0 + 1, dy0)),
            np.where(cz, dz0 - 1, dz0),
        ),
        (
            np.where(cx, xsb + 1, xsb),
            np.where(cy, ysb + 1, np.where(cx, ysb, ysb - 1)),
            np.where(cz, zsb + 1, zsb - 1),
            np.where(cx, dx0 - 1, dx0),
            np.where(cy, dy0 - 1, np.where(cx, dy0, dy0 + 1)),
            np.where(cz, dz0 - 1, dz0 + 1),
        ),
    )
    c = a_point | b_point
    cx, cy, cz = (c & 1) != 0, (c & 2) != 0, (c & 4) != 0
    far = (
        (
            np.where(cx, xsb + 1, xsb),
            np.where(cy, ysb + 1, ysb),
            np.where(cz, zsb + 1, zsb),
            np.where(cx, dx0 - 1 - 2 * _S, dx0 - 2 * _S),
            np.where(cy, dy0 - 1 - 2 * _S, dy0 - 2 * _S),
            np.where(cz, dz0 - 1 - 2 * _S, dz0 - 2 * _S),
        ),
        (
            np.where(cx, xsb + 1, xsb - 1),
            np.where(cy, ysb + 1, ysb - 1),
            np.where(cz, zsb + 1, zsb - 1),
            np.where(cx, dx0 - 1 - _S, dx0 + 1 - _S),
            np.where(cy, dy0 - 1 - _S, dy0 + 1 - _S),
            np.where(cz, dz0 - 1 - _S, dz0 + 1 - _S),
        ),
    )
    ext0, ext1 = _pick(origin_close, near[0], far[0]), _pick(origin_close, near[1], far[1])
    dx1, dy1, dz1 = dx0 - 1 - _S, dy0 - 0 - _S, dz0 - 0 - _S
    dx2, dy2 = dx0 - 0 - _S, dy0 - 1 - _S
    return (
        _contribution(perm, gi, (xsb, ysb, zsb, dx0, dy0, dz0))
        + _contribution(perm, gi, (xsb + 1, ysb, zsb, dx1, dy1, dz1))
        + _contribution(perm, gi, (xsb, ysb + 1, zsb, dx2, dy2, dz1))
        + _contribution(perm, gi, (xsb, ysb, zsb + 1, dx2, dy1, dz0 - 1 - _S))
        + _contribution(perm, gi, ext0)
        + _contribution(perm, gi, ext1)
    )


def _tetrahedron_high(simplex: opensimplex.OpenSimplex, *cell: np.ndarray) -> np.ndarray:
    """Inside the tetrahedron at (1,1,1): ``in_sum >= 2``."""
    xsb, ysb, zsb, dx0, dy0, dz0, xins, yins, zins, in_sum = cell
    perm, gi = simplex._perm, simplex._perm_grad_index3
    c1 = (xins <= yins) & (zins < yins)
    c2 = ~c1 & (xins > yins) & (zins < xins)
    b_score, b_point = np.where(c1, zins, yins), np.where(c1, 3, 5)
    a_score, a_point = np.where(c2, zins, xins), np.where(c2, 3, 6)
    wins = 3 - in_sum
    corner_close = (wins < a_score) | (wins < b_score)
    c = np.where(b_score < a_score, b_point, a_point)
    cx, cy, cz = (c & 1) != 0, (c & 2) != 0, (c & 4) != 0
    dy_base = dy0 - 1 - 3 * _S
    near = (
        (
            np.where(cx, xsb + 2, xsb),
            np.where(cy, np.where(cx, ysb + 1, ysb + 2), ysb),
            np.where(cz, zsb + 1, zsb),
            np.where(cx, dx0 - 2 - 3 * _S, dx0 - 3 * _S),
            np.where(cy, np.where(cx, dy_base, dy_base - 1), dy0 - 3 * _S),
            np.where(cz, dz0 - 1 - 3 * _S, dz0 - 3 * _S),
        ),
        (
            np.where(cx, xsb + 1, xsb),
            np.where(cy, np.where(cx, ysb + 2, ysb + 1), ysb),
            np.where(cz, zsb + 2, zsb),
            np.where(cx, dx0 - 1 - 3 * _S, dx0 - 3 * _S),
            np.where(cy, np.where(cx, dy_base - 1, dy_base), dy0 - 3 * _S),
            np.where(cz, dz0 - 2 - 3 * _S, dz0 - 3 * _S),
        ),
    )
    c = a_point & b_point
    cx, cy, cz = (c & 1) != 0, (c & 2) != 0, (c & 4) != 0
    far = (
        (
            np.where(cx, xsb + 1, xsb),
            np.where(cy, ysb + 1, ysb),
            np.where(cz, zsb + 1, zsb),
            np.where(cx, dx0 - 1 - _S, dx0 - _S),
            np.where(cy, dy0 - 1 - _S, dy0 - _S),
            np.where(cz, dz0 - 1 - _S, dz0 - _S),
        ),
        (
            np.where(cx, xsb + 2, xsb),
            np.where(cy, ysb + 2, ysb),
            np.where(cz, zsb + 2, zsb),
            np.where(cx, dx0 - 2 - 2 * _S, dx0 - 2 * _S),
            np.where(cy, dy0 - 2 - 2 * _S, dy0 - 2 * _S),
            np.where(cz, dz0 - 2 - 2 * _S, dz0 - 2 * _S),
        ),
    )
    ext0, ext1 = _pick(corner_close, near[0], far[0]), _pick(corner_close, near[1], far[1])
    dx3, dy3 = dx0 - 1 - 2 * _S, dy0 - 1 - 2 * _S
    dz2 = dz0 - 1 - 2 * _S
    return (
        _contribution(perm, gi, (xsb + 1, ysb + 1, zsb, dx3, dy3, dz0 - 0 - 2 * _S))
        + _contribution(perm, gi, (xsb + 1, ysb, zsb + 1, dx3, dy0 - 0 - 2 * _S, dz2))
        + _contribution(perm, gi, (xsb, ysb + 1, zsb + 1, dx0 - 0 - 2 * _S, dy3, dz2))
        + _contribution(perm, gi, (xsb + 1, ysb + 1, zsb + 1, dx0 - 1 - 3 * _S, dy0 - 1 - 3 * _S, dz0 - 1 - 3 * _S))
        + _contribution(perm, gi, ext0)
        + _contribution(perm, gi, ext1)
    )


def _octahedron(simplex: opensimplex.OpenSimplex, *cell: np.ndarray) -> np.ndarray:
    """Inside the octahedron between the two tetrahedra: ``1 < in_sum < 2``."""
    xsb, ysb, zsb, dx0, dy0, dz0, xins, yins, zins, _ = cell
    perm, gi = simplex._perm, simplex._perm_grad_index3
    p1, p2, p3 = xins + yins, xins + zins, yins + zins
    a_far, b_far, p3_far = p1 > 1, p2 > 1, p3 > 1
    a_score, a_point = np.where(a_far, p1 - 1, 1 - p1), np.where(a_far, 3, 4)
    b_score, b_point = np.where(b_far, p2 - 1, 1 - p2), np.where(b_far, 5, 2)
    score = np.where(p3_far, p3 - 1, 1 - p3)
    replace_a = (a_score <= b_score) & (a_score < score)
    replace_b = ~replace_a & (a_score > b_score) & (b_score < score)
    p3_point = np.where(p3_far, 6, 1)
    a_point, a_far = np.where(replace_a, p3_point, a_point), np.where(replace_a, p3_far, a_far)
    b_point, b_far = np.where(replace_b, p3_point, b_point), np.where(replace_b, p3_far, b_far)

    def permutation_of_110(c: np.ndarray) -> _Vertex:
        return _pick(
            (c & 1) == 0,
            (xsb - 1, ysb + 1, zsb + 1, dx0 + 1 - _S, dy0 - 1 - _S, dz0 - 1 - _S),
            _pick(
                (c & 2) == 0,
                (xsb + 1, ysb - 1, zsb + 1, dx0 - 1 - _S, dy0 + 1 - _S, dz0 - 1 - _S),
                (xsb + 1, ysb + 1, zsb - 1, dx0 - 1 - _S, dy0 - 1 - _S, dz0 + 1 - _S),
            ),
        )

    c = a_point & b_point
    both_far = (
        (xsb + 1, ysb + 1, zsb + 1, dx0 - 1 - 3 * _S, dy0 - 1 - 3 * _S, dz0 - 1 - 3 * _S),
        _pick(
            (c & 1) != 0,
            (xsb + 2, ysb, zsb, dx0 - 2 - 2 * _S, dy0 - 2 * _S, dz0 - 2 * _S),
            _pick(
                (c & 2) != 0,
                (xsb, ysb + 2, zsb, dx0 - 2 * _S, dy0 - 2 - 2 * _S, dz0 - 2 * _S),
                (xsb, ysb, zsb + 2, dx0 - 2 * _S, dy0 - 2 * _S, dz0 - 2 - 2 * _S),
            ),
        ),
    )
    both_near = ((xsb, ysb, zsb, dx0, dy0, dz0), permutation_of_110(a_point | b_point))
    c1, c2 = np.where(a_far, a_point, b_point), np.where(a_far, b_point, a_point)
    x_s, y_s, z_s = dx0 - 2 * _S, dy0 - 2 * _S, dz0 - 2 * _S
    mixed = (
        permutation_of_110(c1),
        _pick(
            (c2 & 1) != 0,
            (xsb + 2, ysb, zsb, x_s - 2, y_s, z_s),
            _pick((c2 & 2) != 0, (xsb, ysb + 2, zsb, x_s, y_s - 2, z_s), (xsb, ysb, zsb + 2, x_s, y_s, z_s - 2)),
        ),
    )
    same_side = a_far == b_far
    ext0 = _pick(same_side, _pick(a_far, both_far[0], both_near[0]), mixed[0])
    ext1 = _pick(same_side, _pick(a_far, both_far[1], both_near[1]), mixed[1])
    dx1, dy1, dz1 = dx0 - 1 - _S, dy0 - 0 - _S, dz0 - 0 - _S
    dx2, dy2 = dx0 - 0 - _S, dy0 - 1 - _S
    dx4, dy4 = dx0 - 1 - 2 * _S, dy0 - 1 - 2 * _S
    dz5 = dz0 - 1 - 2 * _S
    return (
        _contribution(perm, gi, (xsb + 1, ysb, zsb, dx1, dy1, dz1))
        + _contribution(perm, gi, (xsb, ysb + 1, zsb, dx2, dy2, dz1))
        + _contribution(perm, gi, (xsb, ysb, zsb + 1, dx2, dy1, dz0 - 1 - _S))
        + _contribution(perm, gi, (xsb + 1, ysb + 1, zsb, dx4, dy4, dz0 - 0 - 2 * _S))
        + _contribution(perm, gi, (xsb + 1, ysb, zsb + 1, dx4, dy0 - 0 - 2 * _S, dz5))
        + _contribution(perm, gi, (xsb, ysb + 1, zsb + 1, dx0 - 0 - 2 * _S, dy4, dz5))
        + _contribution(perm, gi, ext0)
        + _contribution(perm, gi, ext1)
    )


#: (z, sizes, normalize, x scale, y scale) of each noise layer crafter's worldgen reads.
_LAYERS: dict[str, tuple[int, Any, bool, str, str]] = {
    "start": (8, 3, True, "x", "y"),
    "water": (3, {15: 1, 5: 0.15}, False, "x", "y"),
    "mountain": (0, {15: 1, 5: 0.3}, True, "x", "y"),
    "cave": (6, 7, True, "x", "y"),
    "tunnel_h": (7, 3, True, "2x", "y/5"),
    "tunnel_v": (7, 3, True, "x/5", "2y"),
    "coal": (1, 8, True, "x", "y"),
    "iron": (2, 6, True, "x", "y"),
    "lava": (6, 5, True, "x", "y"),
    "sand": (4, 9, True, "x", "y"),
    "tree": (5, 7, True, "x", "y"),
}


def _noise_layers(simplex: opensimplex.OpenSimplex, area: tuple[int, int]) -> dict[str, np.ndarray]:
    """Every noise layer over the whole area, mirroring ``crafter.worldgen._simplex`` per tile."""
    xs = np.arange(area[0], dtype=np.int64)[:, None]
    ys = np.arange(area[1], dtype=np.int64)[None, :]
    coords = {"x": xs, "y": ys, "2x": 2 * xs, "2y": 2 * ys, "x/5": xs / 5, "y/5": ys / 5}
    calls = []
    for z, sizes, _, cx, cy in _LAYERS.values():
        sizes = sizes if isinstance(sizes, dict) else {sizes: 1}
        calls.extend((coords[cx] / size, coords[cy] / size, z) for size in sizes)
    stacked = noise3(
        simplex,
        np.stack([np.broadcast_to(c[0], area) for c in calls]),
        np.stack([np.broadcast_to(c[1], area) for c in calls]),
        np.array([c[2] for c in calls], np.float64)[:, None, None],
    )
    layers, i = {}, 0
    for name, (_, sizes, normalize, _, _) in _LAYERS.items():
        sizes = sizes if isinstance(sizes, dict) else {sizes: 1}
        value: Any = 0
        for weight in sizes.values():
            value = value + weight * stacked[i]
            i += 1
        if normalize:
            value = value / sum(sizes.values())
        layers[name] = value
    return layers


def generate_world(world: Any, player: Any) -> None:
    """Fill ``world`` exactly as ``crafter.worldgen.generate_world`` does, from noise grids.

    Args:
        world: a freshly reset ``crafter.engine.World`` holding only ``player``.
        player: the ``crafter.objects.Player`` at the centre of the area.
    """
    simplex = opensimplex.OpenSimplex(seed=world.random.randint(0, 2**31 - 1))
    area = tuple(world.area)
    layers = _noise_layers(simplex, area)
    xs = np.arange(area[0])[:, None]
    ys = np.arange(area[1])[None, :]
    dist = np.sqrt((xs - player.pos[0]) ** 2 + (ys - player.pos[1]) ** 2)
    start = 4 - dist
    start = start + 2 * layers["start"]
    start = 1 / (1 + np.exp(-start))
    water = layers["water"] + 0.1
    water = water - 2 * start
    mountain = layers["mountain"]
    mountain = mountain - (4 * start + 0.3 * water)
    grid = {name: layers[name].tolist() for name in _LAYERS if name not in ("start", "water", "mountain")}
    start_l, water_l, mountain_l = start.tolist(), water.tolist(), mountain.tolist()
    uniform = world.random.uniform
    names = [[""] * area[1] for _ in range(area[0])]
    tunnels = np.zeros(area, bool)
    for x in range(area[0]):
        for y in range(area[1]):
            mountain_xy, water_xy = mountain_l[x][y], water_l[x][y]
            if start_l[x][y] > 0.5:
                name = "grass"
            elif mountain_xy > 0.15:
                if grid["cave"][x][y] > 0.15 and mountain_xy > 0.3:
                    name = "path"
                elif grid["tunnel_h"][x][y] > 0.4 or grid["tunnel_v"][x][y] > 0.4:
                    name = "path"
                    tunnels[x, y] = True
                elif grid["coal"][x][y] > 0 and uniform() > 0.85:
                    name = "coal"
                elif grid["iron"][x][y] > 0.4 and uniform() > 0.75:
                    name = "iron"
                elif mountain_xy > 0.18 and uniform() > 0.994:
                    name = "diamond"
                elif mountain_xy > 0.3 and grid["lava"][x][y] > 0.35:
                    name = "lava"
                else:
                    name = "stone"
            elif 0.25 < water_xy <= 0.35 and grid["sand"][x][y] > -0.2:
                name = "sand"
            elif 0.3 < water_xy:
                name = "water"
            elif grid["tree"][x][y] > 0 and uniform() > 0.8:
                name = "tree"
            else:
                name = "grass"
            names[x][y] = name
    ids = world._mat_ids
    world._mat_map[:] = np.array([[ids[n] for n in column] for column in names], np.uint8)
    walkable = set(constants.walkable)
    dist_l, tunnels_l = dist.tolist(), tunnels.tolist()
    for x in range(area[0]):
        for y in range(area[1]):
            material = names[x][y]
            if material not in walkable:
                continue
            d = dist_l[x][y]
            if d > 3 and material == "grass" and uniform() > 0.985:
                world.add(objects.Cow(world, (x, y)))
            elif d > 10 and uniform() > 0.993:
                world.add(objects.Zombie(world, (x, y), player))
            elif material == "path" and tunnels_l[x][y] and uniform() > 0.95:
                world.add(objects.Skeleton(world, (x, y), player))
