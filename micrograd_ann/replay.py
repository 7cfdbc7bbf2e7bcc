"""The training replay page: one offline HTML file that plays a saved History epoch by epoch.

The page holds the history's numbers as JSON, the network view of network.py as inline
SVG, and its own script and style (player_assets/replay.*). For the chosen epoch it shows
the decision boundary and each neuron's response over the input plane (2-D data; the
script evaluates the network from the stored weights), or test digits and a confusion
matrix (image data); the loss and accuracy curves; the network's weights, restyled per
epoch exactly as network.py styles them (Python draws each epoch and the page keeps the
line styles); and the per-layer diagnostics with their hints. No network, no server.
"""

from __future__ import annotations

import html
import json
import math
import re
from importlib import resources

from . import network, plots
from .nn import MLP

IMAGE_SAMPLES = 24  # test images shown for image data
_LINE = re.compile(r'<line data-neuron="(\d+)" data-input="(\d+)" [^>]*?'
                   r'stroke="(#[0-9a-f]{6})" stroke-width="([\d.]+)" stroke-opacity="([\d.]+)"')


def page(record: dict, warnings: list[list[dict]], title: str | None = None) -> str:
    """The page for a History's to_dict() `record`, with each frame's `warnings`
    (History.warnings as dicts: text, kind, layers)."""
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
        "frames": [_frame_data(f, w, s) for f, w, s in zip(frames, warnings, styles)],
        **_inputs(record),
    }
    return _document(title, svg, data)


def iframe(page_html: str, height: int = 760) -> str:
    """The page in a sandboxed iframe, for Jupyter: only its own script may run."""
    return (f'<iframe srcdoc="{html.escape(page_html, quote=True)}" sandbox="allow-scripts" '
            f'style="width: 100%; height: {int(height)}px; border: 1px solid #ddd"></iframe>')


# ------------------------------------------------------------------------ data


def _frame_data(frame: dict, warnings: list[dict], styles: list[list]) -> dict:
    return {"epoch": frame["epoch"],
            "loss": [frame["train_loss"], frame["test_loss"]],
            "accuracy": [frame["train_accuracy"], frame["test_accuracy"]],
            "params": frame["params"],
            "testPredictions": frame["test_predictions"],
            "layers": frame["layers"], "warnings": warnings, "lines": styles}


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


# ------------------------------------------------------------------------ page


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("player_assets", name).read_text("utf-8")


def _script_json(data: dict) -> str:
    """JSON that cannot end its <script> or open a comment: every <, > and & escaped."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _document(title: str, svg: str, data: dict) -> str:
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>\n{_asset('replay.css')}</style>",
        "</head>",
        "<body>",
        _asset("replay.html").replace("<!-- network view -->", svg),
        f'<script type="application/json" id="rp-data">{_script_json(data)}</script>',
        f"<script>\n{_asset('replay.js')}</script>",
        "</body>",
        "</html>",
    ])
