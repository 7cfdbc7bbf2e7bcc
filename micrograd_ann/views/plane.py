"""The replay page's pictures of the input plane (2-D data), computed here, drawn there.

For a recorded frame: what the network predicts over the plane (the class's colour, deeper
where the network is surer: the decision boundary), each unit's output over it (a square
beside its box in the network view), and the class it predicts for each training point.
Every number comes from passes.forward, the recorder's own plain-float forward pass, and the
classes from losses.predict: the page shows these pictures (PNG images) and computes no
forward pass itself.

The work is bounded: all of a page's pictures together take at most PLANE_WORK weight uses
(about a second) and PLANE_PIXELS pixels. A unit's square is TILE_MAX cells a side where
that fits, down to TILE_MIN, and the boundary's grid is STRIDE times finer (a square samples
every STRIDE-th point of it). A model too large for every frame to be pictured so gets
pictures of evenly spaced frames (the last always), and the page says so.
"""

from __future__ import annotations

import functools
import math
from typing import Mapping, NamedTuple, Sequence

from .. import passes
from ..activations import of_layers
from ..losses import predict
from . import plots
from .colours import NEGATIVE, POINT_COLOURS, POSITIVE
from .page import png_uri

TILE_MIN, TILE_MAX = 8, 24  # cells a side of a unit's square
STRIDE = 3  # the boundary's grid has STRIDE times as many cells a side as a square
PLANE_WORK = 10_000_000  # weight uses for all of a page's pictures (about a second)
PLANE_PIXELS = 1_000_000  # pixels in all of a page's pictures (3 MB of RGB before PNG packs it)

GREY = (220, 222, 226)  # a square whose unit is the same everywhere
SHADES = 255  # steps from white to a colour: a byte's worth


class Plan(NamedTuple):
    """How a page's frames are pictured: squares `tile` cells a side, and which frames
    (indices into the frames shown) get pictures."""

    tile: int
    frames: list[int]


class Picture(NamedTuple):
    """One frame's pictures: PNG images as data: URIs, and the training points' classes."""

    boundary: str  # STRIDE * tile cells a side, top row first
    tiles: str  # every square side by side: the inputs, then each layer's units in order
    train: list[int]  # the class predicted for each training point


def plan(frames: int, params: int, squares: int, train: int) -> Plan:
    """The pictures of `frames` frames of a model of `params` parameters drawn as `squares`
    squares (inputs and units), with `train` training points, within the bounds above."""
    def work(tile: int) -> int:
        return ((STRIDE * tile) ** 2 + train) * params

    def pixels(tile: int) -> int:
        return tile * tile * (STRIDE * STRIDE + squares)

    for tile in range(TILE_MAX, TILE_MIN - 1, -1):
        if frames * work(tile) <= PLANE_WORK and frames * pixels(tile) <= PLANE_PIXELS:
            return Plan(tile, list(range(frames)))
    count = min(frames, PLANE_WORK // work(TILE_MIN), PLANE_PIXELS // pixels(TILE_MIN))
    return Plan(TILE_MIN, evenly_spaced(frames, count) if count else [])


def evenly_spaced(count: int, fit: int) -> list[int]:
    """`fit` (at least 1) of range(count), evenly spaced: the last always, and the first
    when fit > 1."""
    if count <= fit:
        return list(range(count))
    if fit == 1:
        return [count - 1]
    return sorted({round(i * (count - 1) / (fit - 1)) for i in range(fit)})


def extent(points: Sequence[Sequence[float]]) -> list[float]:
    """[x0, x1, y0, y1]: the part of the plane pictured, as plots' boundaries frame it."""
    grid = plots.boundary_grid(lambda a, b: 0, points, resolution=2)
    return [grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1]]


def picture(architecture: Mapping, params: Sequence[float], box: Sequence[float], tile: int,
            train: Sequence[Sequence[float]]) -> Picture:
    """A frame's pictures: the model of `architecture` with `params` over the plane `box`
    ([x0, x1, y0, y1]), squares `tile` cells a side, and its classes for `train`."""
    net = passes.float_network(architecture, params)
    cells = STRIDE * tile
    x0, x1, y0, y1 = box
    xs = [x0 + (c + 0.5) / cells * (x1 - x0) for c in range(cells)]
    ys = [y1 - (r + 0.5) / cells * (y1 - y0) for r in range(cells)]
    boundary = bytearray()
    sampled: list[list[float]] = []  # per square's cell: the inputs, then every unit's output
    lasts: list[list[float]] = []  # per square's cell: the output layer's outputs
    for r, y in enumerate(ys):
        for c, x in enumerate(xs):
            layers = passes.forward(net, [x, y])
            boundary += _prediction(layers[-1])
            if r % STRIDE == STRIDE // 2 and c % STRIDE == STRIDE // 2:
                sampled.append([x, y, *(v for layer in layers for v in layer)])
                lasts.append(layers[-1])
    squares = _squares(architecture, sampled, lasts)
    sheet = bytearray()
    for r in range(tile):
        for square in squares:
            sheet += b"".join(square[r * tile:(r + 1) * tile])
    return Picture(png_uri(cells, cells, bytes(boundary)),
                   png_uri(tile * len(squares), tile, bytes(sheet)),
                   [predict(passes.forward(net, x)[-1]) for x in train])


def _squares(architecture: Mapping, sampled: list[list[float]],
             lasts: list[list[float]]) -> list[list[bytes]]:
    """Each square's pixels, row by row: an input or a unit's output on a blue (above the
    middle) to orange (below) scale -- a bounded activation on its own range, the others
    each on their largest |output| -- and the output layer's units as the prediction
    (one output) or each class's softmax share (several)."""
    rows = of_layers(architecture)
    kinds = [None] * architecture["nin"]
    for i, (row, width) in enumerate(zip(rows, architecture["nouts"])):
        kinds += [row.range if i < len(rows) - 1 else "output"] * width
    squares = []
    outputs = architecture["nouts"][-1]
    for n, kind in enumerate(kinds):
        values = [cell[n] for cell in sampled]
        if kind == "output" and outputs == 1:
            squares.append([_prediction(out) for out in lasts])
        elif kind == "output":
            j = n - (len(kinds) - outputs)
            colour = _class_colour(j)
            squares.append([_mix(colour, 0.85 * _softmax(out)[j]) for out in lasts])
        else:
            squares.append(_scaled(values, kind))
    return squares


def _scaled(values: list[float], bounds: tuple[float, float] | None) -> list[bytes]:
    """Values as pixels: blue above the middle, orange below, white at it; the middle and
    the scale are the bounds' (a bounded activation), else 0 and the largest |value|."""
    middle, scale = 0.0, max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if bounds is not None:
        middle, scale = (bounds[0] + bounds[1]) / 2, (bounds[1] - bounds[0]) / 2
    if not scale > 0:
        return [_mix(GREY, 0.3)] * len(values)
    return [_mix(POSITIVE if v >= middle else NEGATIVE,
                 0.9 * abs(v - middle) / scale) for v in values]


def _prediction(out: list[float]) -> bytes:
    """A pixel of the predicted class's colour, deeper the surer the network is."""
    return _mix(_class_colour(predict(out)), 0.1 + 0.45 * _confidence(out))


def _confidence(out: list[float]) -> float:
    """How sure the prediction is, 0 (a coin toss) to 1: from sigmoid(out), or the softmax."""
    if len(out) == 1:
        return abs(math.tanh(out[0] / 2))
    c = len(out)
    return (max(_softmax(out)) - 1 / c) / (1 - 1 / c)


def _softmax(out: list[float]) -> list[float]:
    top = max(out)
    exps = [math.exp(v - top) for v in out]
    total = sum(exps)
    return [e / total for e in exps]


@functools.cache
def _class_colour(k: int) -> tuple[int, int, int]:
    hex_colour = POINT_COLOURS[k % len(POINT_COLOURS)]
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def _mix(rgb: tuple[int, int, int], t: float) -> bytes:
    """rgb blended from white by t in [0, 1] (nan: white), as 3 bytes."""
    t = min(1.0, max(0.0, t)) if t == t else 0.0
    return _shades(rgb)[round(t * SHADES)]


@functools.cache
def _shades(rgb: tuple[int, int, int]) -> list[bytes]:
    """rgb blended from white by 0, 1 / SHADES, ..., 1: a pixel's colours, computed once."""
    return [bytes(round(255 + i / SHADES * (c - 255)) for c in rgb) for i in range(SHADES + 1)]
