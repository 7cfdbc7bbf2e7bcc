"""A recorded run told to people: its warning signs in words, and the replay page, one
offline HTML file that plays a History epoch by epoch.

warnings() reads a frame's diagnostics against the *_HINT thresholds below. The page
holds the history's numbers as JSON, the network view of network.py as inline SVG, and
its own script and style (views/assets/replay.*). For the chosen epoch it shows the
decision boundary and each neuron's response over the input plane (2-D data; the script
evaluates the network from the stored weights), or test digits and a confusion matrix
(image data); the loss and accuracy curves; the network's weights, restyled per epoch
exactly as network.py styles them (Python computes each epoch's line styles); and the
per-layer diagnostics with the warning signs. No network, no server.

The page's size is bounded: it holds at most PAGE_NUMBERS numbers of frame data and
PAGE_LINES weight lines, so a large model's page shows evenly spaced epochs (the first
and last always) and each layer's largest weights, and says so under its title.
"""

from __future__ import annotations

import html
import math
from typing import Mapping, NamedTuple

from . import network, plots
from ..limits import MAX_PARAMETERS
from ..nn import MLP
from .page import JUPYTER_HEIGHT, asset, script_json
from .page import iframe as page_iframe

IMAGE_SAMPLES = 24  # test images shown for image data
# The page's frame data holds at most PAGE_NUMBERS numbers (parameters, line styles and test
# predictions: about 20 bytes each), so the largest model still shows 5 epochs, and at most
# PAGE_LINES weight lines are drawn (the digits model's 2,368 all are).
PAGE_NUMBERS = 5 * MAX_PARAMETERS
PAGE_LINES = 5_000

# When a diagnostic is a warning sign (see warnings()).
DEAD_HINT = 0.5  # of a ReLU layer's units dead
SATURATED_HINT = 0.25  # of a tanh/sigmoid layer's outputs saturated
VANISHING_HINT = 10.0  # a layer's weight gradients this many times smaller than the output's
LARGE_UPDATE_HINT = -0.5  # log10 of update / data: each step moves weights by > 30 %
SMALL_UPDATE_HINT = -4.0  # ... by < 0.01 % (makemore: about -3 is healthy)
FITTED = 0.99  # train accuracy from which small steps and a flat loss are a finished fit
STALL_EPOCHS, STALL_CHANGE = 20, 0.01  # a loss within 1 % of itself for 20 epochs: stalled


class WarningSign(NamedTuple):
    """A warning sign in a frame: the line shown, its kind ("dead", "saturated",
    "vanishing", "large steps", "small steps" or "stalled") and the layers it names."""

    text: str
    kind: str
    layers: list[int]


# -------------------------------------------------------------- warning signs


def warnings(history, k: int) -> list[WarningSign]:
    """The warning signs in frame k of a History: dead ReLUs, saturated units, vanishing
    gradients, steps too large or too small for the weights, and a training loss that
    has stopped falling short of a fit."""
    frame = history.frames[k]
    if not frame.layers:
        return []
    found = []
    for i, (stats, activation, width) in enumerate(zip(frame.layers, history.activations,
                                                      history.architecture["nouts"])):
        if stats.dead is not None and len(stats.dead) >= DEAD_HINT * width:
            found.append(WarningSign(
                f"layers.{i}: {len(stats.dead) / width:.0%} of ReLUs dead (0 for every "
                f"sample, so no gradient flows) \u2014 try a smaller lr or leaky_relu",
                "dead", [i]))
        if (activation in ("tanh", "sigmoid") and stats.flat is not None
                and stats.flat >= SATURATED_HINT):
            found.append(WarningSign(
                f"layers.{i}: {stats.flat:.0%} of {activation} outputs saturated (on the "
                f"flat tails, so little gradient) \u2014 try smaller weights or relu",
                "saturated", [i]))
    last = frame.layers[-1].grad_norm
    weak = {i: last / stats.grad_norm if stats.grad_norm else math.inf
            for i, stats in enumerate(frame.layers[:-1])
            if stats.grad_norm * VANISHING_HINT < last}
    if weak:
        found.append(WarningSign(
            f"{_listing(weak)}: gradients {_times(weak)} smaller than the output layer's, "
            f"so learning there is slow (vanishing gradients) \u2014 try relu or fewer "
            f"layers", "vanishing", list(weak)))
    ratios = {i: s.update_ratio for i, s in enumerate(frame.layers) if s.update_ratio is not None}
    large = {i: r for i, r in ratios.items() if r > LARGE_UPDATE_HINT}
    if large:
        found.append(WarningSign(
            f"{_listing(large)}: steps change the weights by up to "
            f"{10 ** max(large.values()):.0%} of their size, too much to settle \u2014 "
            f"try a smaller lr", "large steps", list(large)))
    small = {i: r for i, r in ratios.items() if r < SMALL_UPDATE_HINT}
    if small and frame.train_accuracy < FITTED:
        found.append(WarningSign(
            f"{_listing(small)}: steps change the weights by at most "
            f"{10 ** max(small.values()):.0e} of their size, so they hardly move "
            f"\u2014 try a larger lr (or Adam)", "small steps", list(small)))
    since = _stalled_since(history.frames, k)
    if since is not None:
        found.append(WarningSign(
            f"the training loss has stayed at {frame.train_loss:.3g} since epoch {since} "
            f"with {frame.train_accuracy:.0%} train accuracy: learning has stalled",
            "stalled", []))
    return found


def _stalled_since(frames: list, k: int) -> int | None:
    """The first epoch of the flat stretch (>= STALL_EPOCHS long) ending at frame k, if
    the training loss moved less than STALL_CHANGE of itself there without a fit."""
    frame = frames[k]
    if frame.train_accuracy >= FITTED or not math.isfinite(frame.train_loss):
        return None
    since = None
    for earlier in reversed(frames[:k]):
        if abs(earlier.train_loss - frame.train_loss) > STALL_CHANGE * frame.train_loss:
            break
        since = earlier.epoch
    return since if since is not None and frame.epoch - since >= STALL_EPOCHS else None


def _listing(layers: Mapping[int, float]) -> str:
    """The layers named: 'layers.3', 'layers 0, 2 and 5', or 'layers 0 to 6' for a run."""
    numbers = list(layers)
    if len(numbers) == 1:
        return f"layers.{numbers[0]}"
    if len(numbers) > 2 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"layers {numbers[0]} to {numbers[-1]}"
    return "layers " + ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def _times(factors: Mapping[int, float]) -> str:
    """The factors' range: '66\u00d7', or '28\u00d7 to 66\u00d7'."""
    low, high = (f"{f:,.0f}\u00d7" for f in (min(factors.values()), max(factors.values())))
    return low if low == high else f"{low} to {high}"


# ------------------------------------------------------------------------ page


def page(history, title: str | None = None) -> str:
    """The page for a History (checked by the caller, as History.to_html does)."""
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
    palette: list[str] = []
    if title is None:
        title = f"training replay: MLP({arch['nin']}, {arch['nouts']})"
    data = {
        "title": title,
        "info": _info_line(history.info),
        "note": _note(len(frames), len(shown), drawn, model),
        "nin": arch["nin"], "sizes": arch["nouts"],
        "activations": history.activations,
        "leakySlope": history.leaky_slope,
        "saturation": history.saturation,
        "colours": {"points": list(plots.POINT_COLOURS), "positive": _hex(network.POSITIVE),
                    "negative": _hex(network.NEGATIVE)},
        "classes": 1 + max(y for _, y in history.train_set + history.test_set),
        "palette": palette,
        "frames": [_frame_data(frames[k], warnings(history, k),
                               _line_styles(frames[k].params, model, drawn, palette))
                   for k in shown],
        **_inputs(history),
    }
    return _document(title, svg, data)


def iframe(page_html: str, height: int = JUPYTER_HEIGHT) -> str:
    """The page in a sandboxed iframe, for Jupyter: only its own script may run. The page
    scrolls inside it; `height` (px) fits a notebook on a 1366x768 screen. An untrusted
    notebook shows a note saying how to trust it instead."""
    return page_iframe(page_html, height, "training replay")


# ------------------------------------------------------------------- page data


def _shown_frames(count: int, each: int) -> list[int]:
    """The frames the page holds: all if `count` frames of `each` numbers fit PAGE_NUMBERS,
    else as many as fit (at least the first and the last), evenly spaced."""
    fit = max(2, PAGE_NUMBERS // max(each, 1))
    if count <= fit:
        return list(range(count))
    return sorted({round(i * (count - 1) / (fit - 1)) for i in range(fit)})


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


def _frame_data(frame, signs: list[WarningSign], styles: list[list]) -> dict:
    return {"epoch": frame.epoch,
            "loss": [_finite(frame.train_loss), _finite(frame.test_loss)],
            "accuracy": [_finite(frame.train_accuracy), _finite(frame.test_accuracy)],
            "params": frame.params,
            "testPredictions": frame.test_predictions,
            "layers": None if frame.layers is None else [_layer_data(s) for s in frame.layers],
            "warnings": [w._asdict() for w in signs],
            "lines": styles}


def _layer_data(stats) -> dict:
    return {"activations": stats.activations._asdict(), "gradients": stats.gradients._asdict(),
            "dead": stats.dead, "flat": stats.flat, "grad_norm": _finite(stats.grad_norm),
            "update_ratio": stats.update_ratio}


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


def _inputs(history) -> dict:
    """What the page draws the data with: points on the plane (2 inputs), a few test images
    (more inputs than network.py draws as boxes), or nothing."""
    nin = history.architecture["nin"]
    train, test = history.train_set, history.test_set
    if nin == 2:
        points = [x for x, _ in train + test]
        grid = plots.boundary_grid(lambda a, b: 0, points, resolution=2)  # the plots' extent
        extent = [grid.xs[0], grid.xs[-1], grid.ys[0], grid.ys[-1]]
        return {"kind": "plane", "extent": extent,
                "ticks": [plots.nice_ticks(*extent[:2]), plots.nice_ticks(*extent[2:])],
                "train": [x for x, _ in train], "trainClasses": [y for _, y in train],
                "test": [x for x, _ in test], "testClasses": [y for _, y in test]}
    if nin > network.GRID_ABOVE:
        cols = math.ceil(math.sqrt(nin))
        shown = test[:IMAGE_SAMPLES]
        return {"kind": "image", "shape": [math.ceil(nin / cols), cols],
                "images": [x for x, _ in shown],
                "trainClasses": [y for _, y in train], "testClasses": [y for _, y in test]}
    return {"kind": "none", "trainClasses": [y for _, y in train],
            "testClasses": [y for _, y in test]}


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


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
