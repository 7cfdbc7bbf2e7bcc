"""A recorded run told to people: its warning signs in words, and the replay page, one
offline HTML file that plays a History epoch by epoch.

warnings() reads a frame's diagnostics against the *_HINT thresholds below. The page
holds the history's numbers as JSON, the network view of network.py as inline SVG, and
its own script and style (player_assets/replay.*). For the chosen epoch it shows the
decision boundary and each neuron's response over the input plane (2-D data; the script
evaluates the network from the stored weights), or test digits and a confusion matrix
(image data); the loss and accuracy curves; the network's weights, restyled per epoch
exactly as network.py styles them (Python draws each epoch and the page keeps the line
styles); and the per-layer diagnostics with the warning signs. No network, no server.
"""

from __future__ import annotations

import html
import math
import re
from typing import Mapping, NamedTuple

from . import network, player, plots
from .nn import MLP
from .player import asset, script_json

IMAGE_SAMPLES = 24  # test images shown for image data

# When a diagnostic is a warning sign (see warnings()).
DEAD_HINT = 0.5  # of a ReLU layer's units dead
SATURATED_HINT = 0.25  # of a tanh/sigmoid layer's outputs saturated
VANISHING_HINT = 10.0  # a layer's weight gradients this many times smaller than the output's
LARGE_UPDATE_HINT = -0.5  # log10 of update / data: each step moves weights by > 30 %
SMALL_UPDATE_HINT = -4.0  # ... by < 0.01 % (makemore: about -3 is healthy)
FITTED = 0.99  # train accuracy from which small steps and a flat loss are a finished fit
STALL_EPOCHS, STALL_CHANGE = 20, 0.01  # a loss within 1 % of itself for 20 epochs: stalled
_LINE = re.compile(r'<line data-neuron="(\d+)" data-input="(\d+)" [^>]*?'
                   r'stroke="(#[0-9a-f]{6})" stroke-width="([\d.]+)" stroke-opacity="([\d.]+)"')


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


def page(record: dict, signs: list[list[WarningSign]], title: str | None = None) -> str:
    """The page for a History's to_dict() `record`, with each frame's warning signs."""
    frames = record["frames"]
    arch = record["architecture"]
    model = MLP(**arch)
    names = [name for name, _ in model.named_parameters()]
    styles, palette = [], []
    for frame in frames:  # network.py styles each epoch's weights; the page replays them
        model.load_state_dict(dict(zip(names, frame["params"])))
        styles.append(_line_styles(network.draw_network(model).svg, model, palette))
    svg = network.draw_network(model).svg  # laid out for the last epoch's numbers
    if title is None:
        title = f"training replay: MLP({arch['nin']}, {arch['nouts']})"
    data = {
        "title": title,
        "info": _info_line(record["info"]),
        "nin": arch["nin"], "sizes": arch["nouts"],
        "activations": [arch["activation"]] * (len(arch["nouts"]) - 1)
        + [arch["output_activation"]],
        "leakySlope": record["leaky_slope"],
        "saturation": record["saturation"],
        "colours": {"points": list(plots.POINT_COLOURS), "positive": _hex(network.POSITIVE),
                    "negative": _hex(network.NEGATIVE)},
        "classes": 1 + max(y for _, y in record["train"] + record["test"]),
        "palette": palette,
        "frames": [_frame_data(f, w, s) for f, w, s in zip(frames, signs, styles)],
        **_inputs(record),
    }
    return _document(title, svg, data)


def iframe(page_html: str, height: int = player.JUPYTER_HEIGHT) -> str:
    """The page in a sandboxed iframe, for Jupyter: only its own script may run. The page
    scrolls inside it; `height` (px) fits a notebook on a 1366x768 screen. An untrusted
    notebook shows a note saying how to trust it instead."""
    return player.iframe(page_html, height, "training replay")


# ------------------------------------------------------------------- page data


def _frame_data(frame: dict, signs: list[WarningSign], styles: list[list]) -> dict:
    return {"epoch": frame["epoch"],
            "loss": [frame["train_loss"], frame["test_loss"]],
            "accuracy": [frame["train_accuracy"], frame["test_accuracy"]],
            "params": frame["params"],
            "testPredictions": frame["test_predictions"],
            "layers": frame["layers"], "warnings": [w._asdict() for w in signs],
            "lines": styles}


def _line_styles(svg: str, model: MLP, palette: list[str]) -> list[list]:
    """Per layer, [colour index, width, opacity] of each weight's line, neuron by neuron
    (w.0 .. w.(n-1) of neuron 0 first), as network.py drew them in `svg`."""
    layers = svg.split('<g class="mg-weights" data-layer="')[1:]
    styles = []
    for layer, drawn in zip(model.layers, layers):
        nin = layer.neurons[0].nin
        found = [None] * (nin * len(layer.neurons))
        for j, k, colour, width, opacity in _LINE.findall(drawn.split("</g>")[0]):
            if colour not in palette:
                palette.append(colour)
            found[int(j) * nin + int(k)] = [palette.index(colour), float(width), float(opacity)]
        if None in found:
            raise ValueError("network.py's weight lines changed form: the replay page cannot "
                             "read their styles")
        styles.append(found)
    return styles


def _inputs(record: dict) -> dict:
    """What the page draws the data with: points on the plane (2 inputs), a few test images
    (more inputs than network.py draws as boxes), or nothing."""
    nin = record["architecture"]["nin"]
    train, test = record["train"], record["test"]
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
