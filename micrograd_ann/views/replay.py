"""The replay page: one offline HTML file that plays a recorded History epoch by epoch.

to_html(history) is the page (written to a file when given a path); Replay(history) shows it
in Jupyter. The page holds the history's numbers as JSON, the network view of network.py as
inline SVG, and its own script and style (views/assets/replay.*). For the chosen epoch it
shows what the network predicts (2-D data: plane.py's pictures of the boundary and of each
unit's output over the plane, computed in Python; image data: test digits and a confusion
matrix); the loss and accuracy curves; the network's weights, restyled per epoch exactly as
network.py styles them (Python computes each epoch's line styles); and the per-layer
diagnostics with the warning signs (diagnostics.py). The script only draws what it is
given: it computes no forward pass and knows no activation. No network, no server.

The page's size is bounded: it holds at most PAGE_NUMBERS numbers of frame data and
PAGE_LINES weight lines, so a large model's page shows evenly spaced epochs (the first
and last always) and each layer's largest weights, and says so under its title; plane.py
bounds the pictures.
"""

from __future__ import annotations

import html
import math
import os

from . import network, plane, plots
from .. import formatting
from ..activations import SATURATION, Activation, of_layers
from ..diagnostics import Histogram, WarningSign
from ..files import write_atomic
from ..history import Frame, History
from ..limits import MAX_PARAMETERS
from ..nn import MLP
from .colours import POINT_COLOURS
from .page import JUPYTER_HEIGHT, asset, script_json
from .page import iframe as page_iframe

IMAGE_SAMPLES = 24  # test images shown for image data
# The page's frame data holds at most PAGE_NUMBERS numbers (parameters, line styles and test
# predictions: about 20 bytes each), so the largest model still shows 5 epochs, and at most
# PAGE_LINES weight lines are drawn (the digits model's 2,368 all are).
PAGE_NUMBERS = 5 * MAX_PARAMETERS
PAGE_LINES = 5_000


# ------------------------------------------------------------------------ page


def to_html(history: History, path: str | os.PathLike | None = None, *,
            title: str | None = None) -> str:
    """The replay page of `history`; also written to `path`, atomically, when given. What
    the page cannot show (History.check) is a ValueError naming the field."""
    if not isinstance(history, History):
        raise TypeError(f"to_html takes a History, got {type(history).__name__}")
    history.check("draw")
    page = _page(history, title)
    if path is not None:
        write_atomic(path, page)
    return page


class Replay:
    """A History's replay page in Jupyter: `.html` is the page (to_html), shown in a
    sandboxed iframe `height` px tall; `save(path)` writes it."""

    def __init__(self, history: History, *, title: str | None = None,
                 height: int = JUPYTER_HEIGHT):
        self.html = to_html(history, title=title)
        self.height = height

    def save(self, path: str | os.PathLike) -> str:
        """Write the page to `path` atomically (files.write_atomic); returns the path."""
        return write_atomic(path, self.html)

    def _repr_html_(self) -> str:
        return iframe(self.html, self.height)


def iframe(page_html: str, height: int = JUPYTER_HEIGHT) -> str:
    """The page in a sandboxed iframe, for Jupyter: only its own script may run. The page
    scrolls inside it; `height` (px) fits a notebook on a 1366x768 screen. An untrusted
    notebook shows a note saying how to trust it instead."""
    return page_iframe(page_html, height, "training replay")


def _page(history: History, title: str | None) -> str:
    frames = history.frames
    arch = history.architecture
    model = MLP(**arch)
    params = model.parameters()
    for p, v in zip(params, frames[-1].params):  # the layout is the last epoch's
        p.data = v
    drawn = network.drawn_weights(model, PAGE_LINES)
    svg = network.draw_network(model, max_lines=PAGE_LINES).svg
    each = len(params) + 3 * sum(map(len, drawn)) + len(history.test_set)
    shown = _shown_frames(len(frames), each)
    rows = of_layers(arch)
    inputs = _inputs(history)
    pictures: dict[int, plane.Picture] = {}
    if inputs["kind"] == "plane":
        about, pictures = _pictures(history, shown, inputs["extent"])
        inputs.update(about)
    palette: list[str] = []
    if title is None:
        title = f"training replay: MLP({arch['nin']}, {arch['nouts']})"
    data = {
        "title": title,
        "info": _info_line(history.info),
        "note": _note(len(frames), len(shown), drawn, model),
        "nin": arch["nin"], "sizes": arch["nouts"],
        "activations": [row.name for row in rows],
        "layers": [_layer_info(row) for row in rows],
        "colours": {"points": list(POINT_COLOURS)},
        "classes": 1 + max(y for _, y in history.train_set + history.test_set),
        "palette": palette,
        "frames": [_frame_data(frames[k], history.warnings(k),
                               _line_styles(frames[k].params, model, drawn, palette), rows,
                               pictures.get(n))
                   for n, k in enumerate(shown)],
        **inputs,
    }
    return _document(title, svg, data)


# ------------------------------------------------------------------- page data


def _shown_frames(count: int, each: int) -> list[int]:
    """The frames the page holds: all if `count` frames of `each` numbers fit PAGE_NUMBERS,
    else as many as fit (at least the first and the last), evenly spaced."""
    return plane.evenly_spaced(count, max(2, PAGE_NUMBERS // max(each, 1)))


def _note(recorded: int, shown: int, drawn: list[list[int]], model: MLP) -> str:
    """What the page leaves out to stay small, in a sentence; "" when nothing."""
    parts = []
    if shown < recorded:
        parts.append(f"{shown} of the {recorded} recorded epochs")
    weights = sum(len(network.layer_weights(layer)) for layer in model.layers)
    lines = sum(map(len, drawn))
    if lines < weights:
        parts.append(f"the {lines:,} largest of {weights:,} weights")
    if not parts:
        return ""
    return (f"This page shows {' and '.join(parts)}, to stay small; history.json holds "
            f"them all.")


def _frame_data(frame: Frame, signs: list[WarningSign], styles: list[list],
                rows: list[Activation], picture: plane.Picture | None) -> dict:
    return {"epoch": frame.epoch,
            "loss": [_finite(frame.train_loss), _finite(frame.test_loss)],
            "accuracy": [_finite(frame.train_accuracy), _finite(frame.test_accuracy)],
            "params": frame.params,
            "testPredictions": frame.test_predictions,
            "layers": None if frame.layers is None else [
                _layer_data(stats, row) for stats, row in zip(frame.layers, rows)],
            "warnings": [w._asdict() for w in signs],
            "lines": styles,
            "picture": None if picture is None else picture._asdict()}


def _layer_data(stats, row: Activation) -> dict:
    return {"activations": stats.activations._asdict(), "gradients": stats.gradients._asdict(),
            "bars": _bars(stats.activations, row),
            "dead": stats.dead, "flat": stats.flat, "grad_norm": _finite(stats.grad_norm),
            "update_ratio": stats.update_ratio}


def _bars(hist: Histogram, row: Activation) -> str:
    """A letter per bar of an outputs histogram, for its colour: "o" the bar holding the
    output of a unit that is off (shown grey and left out of the scale, or its many zeros
    would flatten every other bar), "s" a bar reaching into the saturated tails, "." the
    others."""
    n = len(hist.counts)
    width = (hist.hi - hist.lo) / n
    edges = [hist.lo + b * width for b in range(n + 1)]
    bars = ["s" if row.tail is not None and max(row.tail(edges[b]), row.tail(edges[b + 1]))
            > SATURATION else "." for b in range(n)]
    if row.off is not None and hist.lo <= row.off <= hist.hi:
        bars[min(int((row.off - hist.lo) / width), n - 1) if width > 0 else n // 2] = "o"
    return "".join(bars)


def _layer_info(row: Activation) -> dict:
    """What the page says of a layer's activation: its title, and the output of a unit that
    is off (relu's "0"), or null."""
    off = None if row.off is None else formatting.number(row.off)
    return {"title": row.title, "off": off,
            "histogramNote": "" if off is None else f"grey: the {off}s (off), clipped"}


def _finite(x: float) -> float | None:
    """A number for the page: nan (a metric without a test set) is null."""
    return x if math.isfinite(x) else None


def _line_styles(params: list[float], model: MLP, drawn: list[list[int]],
                 palette: list[str]) -> list[list]:
    """Per layer, [colour index, width, opacity] of each drawn weight line (in the order of
    `drawn`), as network.py styles it for these parameters."""
    styles, at = [], 0
    for layer, which in zip(model.layers, drawn):
        nin, width = layer.neurons[0].nin, len(layer.neurons)
        weights = [params[at + j * (nin + 1) + k] for j in range(width) for k in range(nin)]
        at += width * (nin + 1)
        found = []
        for colour, line_width, opacity in network.weight_strokes(weights, which):
            if colour not in palette:
                palette.append(colour)
            found.append([palette.index(colour), line_width, opacity])
        styles.append(found)
    return styles


def _inputs(history: History) -> dict:
    """What the page draws the data with: points on the plane (2 inputs), a few test images
    (more inputs than network.py draws as boxes), or nothing."""
    nin = history.architecture["nin"]
    train, test = history.train_set, history.test_set
    if nin == 2:
        extent = plane.extent([x for x, _ in train + test])
        return {"kind": "plane", "extent": extent,
                "ticks": [plots.nice_ticks(*extent[:2]), plots.nice_ticks(*extent[2:])],
                "train": [x for x, _ in train], "trainClasses": [y for _, y in train],
                "test": [x for x, _ in test], "testClasses": [y for _, y in test],
                "squaresLegend": _squares_legend(of_layers(history.architecture))}
    if nin > network.GRID_ABOVE:
        cols = math.ceil(math.sqrt(nin))
        shown = test[:IMAGE_SAMPLES]
        return {"kind": "image", "shape": [math.ceil(nin / cols), cols],
                "images": [x for x, _ in shown],
                "trainClasses": [y for _, y in train], "testClasses": [y for _, y in test]}
    return {"kind": "none", "trainClasses": [y for _, y in train],
            "testClasses": [y for _, y in test]}


def _pictures(history: History, shown: list[int],
              extent: list[float]) -> tuple[dict, dict[int, plane.Picture]]:
    """plane.py's pictures of the shown frames it plans for, by position in `shown`, and
    what the page needs to know of them: the squares' size and a note on what is left out."""
    arch = history.architecture
    squares = arch["nin"] + sum(arch["nouts"])
    planned = plane.plan(len(shown), len(history.names), squares, len(history.train_set))
    note = ""
    if not planned.frames:
        note = ("The model is too large to picture its predictions over the plane in the "
                "time a page may take: the points show them.")
    elif len(planned.frames) < len(shown):
        note = (f"The plane is pictured for {len(planned.frames)} of the {len(shown)} epochs "
                f"shown, to stay quick to write; between them it shows the nearest one "
                f"pictured.")
    train = [x for x, _ in history.train_set]
    pictures = {n: plane.picture(arch, history.frames[shown[n]].params, extent, planned.tile,
                                 train) for n in planned.frames}
    return {"tile": planned.tile, "pictureNote": note}, pictures


def _squares_legend(rows: list[Activation]) -> str:
    """How to read the squares beside the units, for the activations the model has."""
    bounded = sorted({f"{row.name} from {formatting.number(row.range[0])} to "
                      f"{formatting.number(row.range[1])}" for row in rows[:-1] if row.range})
    ranges = f" ({'; '.join(bounded)}: white is the middle of the range)" if bounded else ""
    return ("square: the unit's output over the input plane of the plot above: blue above "
            f"0, orange below, white 0, each unit on its own scale{ranges}. The output's "
            "square is the prediction itself.")


def _info_line(info: dict) -> str:
    return " \u00b7 ".join(f"{key} {value}" for key, value in info.items())


# ----------------------------------------------------------------- the document


def _document(title: str, svg: str, data: dict) -> str:
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>\n{asset('replay.css')}</style>",
        "</head>",
        "<body>",
        asset("replay.html").replace("<!-- network view -->", svg),
        f'<script type="application/json" id="rp-data">{script_json(data)}</script>',
        f"<script>\n{asset('replay.js')}</script>",
        "</body>",
        "</html>",
    ])
