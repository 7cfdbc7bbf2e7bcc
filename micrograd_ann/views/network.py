"""The network view: an MLP drawn as columns of neurons with one line per weight, as SVG.

Columns are simple to place, so the layout is done here and the SVG written directly: no
Graphviz, and milliseconds even for MLP(64, [32, 10])'s 2,368 weights. Each neuron shows
its output's data for an input x and, read from a loss's graph after backward(), its grad.
"""

from __future__ import annotations

import heapq
import math
import os
from typing import NamedTuple, Sequence

from .. import formatting, markup
from . import page
from .colours import NEGATIVE, POSITIVE, ZERO
from ..checks import check_int, is_number
from ..activations import ACTIVATIONS
from ..engine import Value
from ..files import write_atomic
from ..nn import MLP
from ..passes import Pass, forward_passes

# Sizes are CSS px at the natural size. Layers of up to 32 neurons fit in HEIGHT, which a
# 1366x768 browser window shows whole (its page area is about 1366x625).
HEIGHT, WIDTH = 620, 1340
TOP, BOTTOM, SIDE = 46, 52, 16  # title and column titles; the legend; left and right
ROW_MIN, ROW_MAX = 16.0, 40.0  # neuron pitch: a layer of more than 32 makes the view taller
GAP_MIN, GAP_MAX = 120, 260  # room between columns for the weight lines
FONT, CHAR, SANS = 11, 6.7, 5.9  # text size; width of a monospace character, of a sans one
GRID_ABOVE = 16  # more inputs than this are drawn as a grid of cells (an image)
CELL_MAX = 20
DENSE = 100  # a layer with more weights than this draws its weak ones fainter (_stroke)
SCALE_AT = 0.9  # lines of the layer's top 10 % of |w| are drawn at full strength

INK, TEXT, MUTED = "#1f2937", "#374151", "#6b7280"  # title and numbers, captions, labels
OFF_FILL = "#e5e7eb"  # as viz fills a ReLU that is off
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"


class NetworkView:
    """A drawn network: `.svg` is the SVG text, `save(path)` writes it, Jupyter shows it."""

    def __init__(self, svg: str):
        self.svg = svg

    def save(self, path: str | os.PathLike) -> str:
        """Write the SVG to `path` (a .svg name) atomically (files.write_atomic); returns
        the path as a str."""
        if not os.fsdecode(path).lower().endswith(".svg"):
            raise ValueError(f"a network view is SVG; give the file a .svg name, got {path!r}")
        return write_atomic(path, self.svg)

    def _repr_svg_(self) -> str:
        return self.svg

    def _repr_html_(self) -> str:
        # A picture, which an untrusted notebook shows too (it drops inline SVG, leaving its
        # text); trusted, the script puts the SVG inline, where hovering shows names and
        # values.
        return (f"{page.svg_image(self.svg)}<script>(() => {{ const img = document.currentScript"
                ".previousElementSibling; img.outerHTML = new TextDecoder().decode("
                "Uint8Array.from(atob(img.src.split(',')[1]), (c) => c.charCodeAt(0)));"
                "})();</script>")


# ---------------------------------------------------------- reading the graph


def _choose(passes: list[Pass], x: Sequence[float | Value] | None) -> Pass:
    """The pass whose inputs have the values of x, or the only one."""
    if not passes:
        raise ValueError("the loss's graph holds no complete forward pass of this model "
                         "(was it computed from this model's output?)")
    if x is None:
        if len(passes) > 1:
            raise ValueError(f"the loss's graph holds {len(passes)} forward passes of the "
                             f"model (a batch); pass x= to choose the sample to draw")
        return passes[0]
    wanted = [v.data if isinstance(v, Value) else float(v) for v in x]
    for found in passes:
        if [v.data for v in found.inputs] == wanted:
            return found
    raise ValueError(f"none of the {len(passes)} forward passes in the loss's graph has "
                     f"input x = {wanted}")


def _check_x(model: MLP, x: object) -> None:
    if isinstance(x, (str, bytes)) or not isinstance(x, Sequence):
        raise TypeError(f"x must be a sequence of {model.nin} numbers, got {type(x).__name__}")
    if len(x) != model.nin:
        raise ValueError(f"x must hold {model.nin} inputs (the model's nin), got {len(x)}")
    bad = [v for v in x if not (is_number(v) or isinstance(v, Value))]
    if bad:
        raise TypeError(f"x must hold numbers or Values, got {type(bad[0]).__name__}")


def _input_shape(nin: int, shape: object) -> tuple[int, int] | None:
    """(rows, cols) of the input grid, or None for a column of boxes."""
    if shape is None:
        if nin <= GRID_ABOVE:
            return None
        cols = math.ceil(math.sqrt(nin))
        return math.ceil(nin / cols), cols
    if not (isinstance(shape, tuple) and len(shape) == 2):
        raise TypeError(f"input_shape must be a (rows, cols) tuple, got {shape!r}")
    rows, cols = (check_int("input_shape", n, 1) for n in shape)
    if rows * cols < nin:
        raise ValueError(f"input_shape {shape} has {rows * cols} cells for {nin} inputs")
    return rows, cols


# ------------------------------------------------------------------ drawing


def draw_network(model: MLP, x: Sequence[float | Value] | None = None, *,
                 loss: Value | None = None, precision: int = 3,
                 input_shape: tuple[int, int] | None = None,
                 max_lines: int | None = None) -> NetworkView:
    """The MLP as columns: inputs, then one column of neurons per layer, a line per weight.

    With `x`, each neuron shows its output's data (its activation) for that input. With
    `loss` -- any Value computed from the model's output, after `loss.backward()` -- data
    and grad come from that graph: the grad is the gradient arriving at each neuron's
    output; `x` then picks the sample when the loss covers a batch. Lines: blue for w > 0,
    orange for w < 0, wider and darker for larger |w| (the layer's top 10 % the most).
    More than 16 inputs are drawn as a grid of cells (`input_shape=(rows, cols)`, or about
    square). Hover over a neuron, cell or line for its name and values. With `max_lines`,
    at most that many weight lines are drawn (drawn_weights() says which), and the legend
    says how many of how many.
    """
    if not isinstance(model, MLP):
        raise TypeError(f"draw_network draws an MLP, got {type(model).__name__}")
    check_int("precision", precision, 1)
    if max_lines is not None:
        check_int("max_lines", max_lines, 1)
    if x is not None:
        _check_x(model, x)
    shape = _input_shape(model.nin, input_shape)
    found = None
    if loss is not None:
        if not isinstance(loss, Value):
            raise TypeError(f"loss must be a Value, got {type(loss).__name__}")
        found = _choose(forward_passes(model, [loss]), x)
    elif x is not None:
        out = model(x)
        found = forward_passes(model, out if isinstance(out, list) else [out])[0]
    return NetworkView(_Drawing(model, found, loss, precision, shape,
                                drawn_weights(model, max_lines)).svg())


def drawn_weights(model: MLP, max_lines: int | None = None) -> list[list[int]]:
    """Per layer, the weights drawn as lines, numbered j * nin + k for neuron j's w.k, in
    ascending order: all of them, or if there are more than `max_lines`, the largest |w|
    of each layer, layers sharing max_lines by their sizes (at least one line each)."""
    weights = [layer_weights(layer) for layer in model.layers]
    total = sum(map(len, weights))
    if max_lines is None or total <= max_lines:
        return [list(range(len(w))) for w in weights]
    drawn = []
    for w in weights:
        share = max(1, max_lines * len(w) // total)
        drawn.append(sorted(heapq.nlargest(share, range(len(w)), key=lambda n: _size(w[n]))))
    return drawn


def layer_weights(layer) -> list[float]:
    """A layer's weights (no biases) as numbers, neuron by neuron: w.0 .. w.(nin-1) each."""
    return [w.data for neuron in layer.neurons for w in neuron.w]


def weight_strokes(weights: Sequence[float], which: Sequence[int]
                   ) -> list[tuple[str, float, float]]:
    """(colour, width, opacity) of the lines of weights[n] for n in `which`, as the drawing
    writes them (two decimals), judged against all of the layer's `weights`."""
    scale = _weight_scale([abs(w) for w in weights])
    dense = len(weights) > DENSE
    return [_stroke(weights[n], scale, dense) for n in which]


def _size(w: float) -> float:
    """|w| for ranking lines; nan and inf last (they are drawn as no weight, grey)."""
    return abs(w) if math.isfinite(w) else -1.0


def _mix(rgb: tuple[int, int, int], t: float) -> str:
    """White blended toward `rgb` by t in [0, 1], as #rrggbb."""
    return "#" + "".join(f"{round(255 + t * (c - 255)):02x}" for c in rgb)


def _tint(value: float, scale: float, strength: float) -> str:
    """A fill for `value`: blue if positive, orange if negative, deeper for larger |value|."""
    if not math.isfinite(value) or scale == 0.0 or value == 0.0:
        return "#ffffff"
    return _mix(POSITIVE if value > 0 else NEGATIVE, strength * min(abs(value) / scale, 1.0))


def _weight_scale(sizes: list[float]) -> float:
    """The |w| drawn at full strength in a layer: its 90th percentile, so that one outlier
    (common after training) does not fade all the other lines; the largest if that is 0."""
    finite = sorted(a for a in sizes if math.isfinite(a))
    if not finite:
        return 0.0
    return finite[int(SCALE_AT * (len(finite) - 1))] or finite[-1]


def _stroke(w: float, scale: float, dense: bool) -> tuple[str, float, float]:
    """A weight line's colour (sign), width and opacity (from s = |w| / scale, at most 1),
    the numbers rounded as the SVG writes them.

    NOTE: the summarising rule for wide layers: with more than DENSE weights, width and
    opacity grow with s cubed, so the many weak weights fade to a haze and the strong
    ones stand out.
    """
    s = min(abs(w) / scale, 1.0) if scale > 0 and math.isfinite(w) else 0.0
    colour = _mix(POSITIVE if w > 0 else NEGATIVE if w < 0 else ZERO, 1.0)
    if dense:
        width, opacity = 0.3 + 1.2 * s ** 3, 0.02 + 0.5 * s ** 3
    else:
        width, opacity = 0.5 + 2.5 * s, 0.15 + 0.75 * s
    return colour, round(width, 2), round(opacity, 2)


class _Box(NamedTuple):
    """A unit drawn as a box: a neuron, or an input when there are few."""

    name: str  # "layers.1.neurons.4", "x3"
    parts: list[tuple[str, str]]  # (text, kind): kind is "label", "value", "note" or "bad"
    tip: str
    fill: str
    off: bool  # a ReLU whose output is 0 for this x (the replay's "dead": 0 for every x)


class _Column(NamedTuple):
    title: str
    left: float
    width: float
    boxes: list[_Box]  # empty for the input grid
    centres: list[tuple[float, float]]  # each unit's centre


class _Drawing:
    """The columns laid out, and the SVG written from them."""

    def __init__(self, model: MLP, found: Pass | None, loss: Value | None,
                 precision: int, shape: tuple[int, int] | None, drawn: list[list[int]]):
        self.model, self.found, self.loss, self.shape = model, found, loss, shape
        self.drawn = drawn
        self.p = precision
        self.grads = loss is not None
        blank = [[None] * model.nin] + [[None] * len(layer.neurons) for layer in model.layers]
        values = [found.inputs, *found.layers] if found else blank
        boxes = [[] if shape else self._input_boxes(values[0])]
        boxes += [self._neuron_boxes(i, outs) for i, outs in enumerate(values[1:])]
        # As tall as the tallest column wants, within HEIGHT unless that squeezes its rows.
        tallest = max(len(col) for col in boxes)
        wanted = max(ROW_MAX * tallest, shape[0] * CELL_MAX if shape else 0.0)
        self.rows = max(min(wanted, HEIGHT - TOP - BOTTOM), ROW_MIN * tallest)
        self.cell = min(CELL_MAX, self.rows / shape[0]) if shape else 0.0
        widths = [max(sum(len(t) + 1 for t, _ in b.parts) for b in col) * CHAR + 10
                  if col else self.cell * shape[1] for col in boxes]
        labels = 40  # the output neurons' numbers, right of the last column
        spare = WIDTH - 2 * SIDE - sum(widths) - labels
        gap = min(GAP_MAX, max(GAP_MIN, spare / (len(widths) - 1)))
        titles = self._titles()
        self.columns = []
        left = SIDE
        for c, (title, width, col) in enumerate(zip(titles, widths, boxes)):
            centres = self._cells(left) if not col else \
                [(left + width / 2, y) for y in self._ys(len(col))]
            self.columns.append(_Column(title, left, width, col, centres))
            left += width + gap
        self.legend = self._legend_lines()
        longest = max(sum(len(text) for text, _ in line) for line in self.legend)
        self.width = max(left - gap + labels + SIDE, 2 * SIDE + longest * SANS)
        self.height = TOP + self.rows + BOTTOM
        self.values = values

    def _num(self, v: float) -> str:
        return formatting.number(v, self.p)  # never "-0"

    def _number(self, x: float) -> tuple[str, str]:
        return self._num(x), "value" if math.isfinite(x) else "bad"

    def _parts(self, v: Value, first: str) -> list[tuple[str, str]]:
        """'<first> 0.731 grad -0.0123' as (text, kind) pairs."""
        parts = [(first, "label"), self._number(v.data)]
        if self.grads:
            parts += [("grad", "label"), self._number(v.grad)]
        return parts

    def _tip(self, v: Value | None) -> str:
        if v is None:
            return ""
        return f"data {v.data:.6g}" + (f", grad {v.grad:.6g}" if self.grads else "")

    def _input_boxes(self, inputs: list[Value | None]) -> list[_Box]:
        return [_Box(f"x{i}", self._parts(v, f"x{i}") if v else [(f"x{i}", "label")],
                     f"input x{i}" + (f": {self._tip(v)}" if v else ""), "#ffffff", False)
                for i, v in enumerate(inputs)]

    def _neuron_boxes(self, i: int, outs: list[Value | None]) -> list[_Box]:
        scale = max((abs(v.data) for v in outs if v and math.isfinite(v.data)), default=0.0)
        boxes = []
        for neuron, v in zip(self.model.layers[i].neurons, outs):
            activation = ACTIVATIONS[neuron.activation]
            off = v is not None and activation.off is not None and v.data == activation.off
            tip = f"{neuron.name} ({neuron.activation}): "
            tip += f"{self._tip(v)}, " if v else ""
            tip += f"bias {neuron.b.data:.6g}"
            if v is None:
                parts = [("b", "label"), self._number(neuron.b.data)]
            else:
                parts = self._parts(v, "data")
            if off:
                parts.insert(2, ("off", "note"))
                tip += (f" -- a {activation.title} off for this x: output "
                        f"{activation.off:g}, so no gradient passes back")
            fill = OFF_FILL if off else _tint(v.data, scale, 0.45) if v else "#ffffff"
            boxes.append(_Box(neuron.name, parts, tip, fill, off))
        return boxes

    def _titles(self) -> list[str]:
        first = f"input x: {self.model.nin}"
        if self.shape:
            first += f" as {self.shape[0]}\u00d7{self.shape[1]} cells"
        return [first] + [f"layers.{i}: {len(layer.neurons)} {layer.neurons[0].activation}"
                          for i, layer in enumerate(self.model.layers)]

    def _ys(self, n: int) -> list[float]:
        pitch = min(ROW_MAX, self.rows / n)
        mid = TOP + self.rows / 2
        return [mid + (j - (n - 1) / 2) * pitch for j in range(n)]

    def _cells(self, left: float) -> list[tuple[float, float]]:
        """Each input's cell centre in the grid, row by row."""
        rows, cols = self.shape
        top = TOP + (self.rows - rows * self.cell) / 2
        return [(left + (i % cols + 0.5) * self.cell, top + (i // cols + 0.5) * self.cell)
                for i in range(self.model.nin)]

    # -- SVG --------------------------------------------------------------------

    def svg(self) -> str:
        w, h = f"{self.width:.0f}", f"{self.height:.0f}"
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
                 f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="{FONT}" '
                 f'class="mg-network">', f'<rect width="{w}" height="{h}" fill="#ffffff"/>']
        parts += self._header()
        for i in range(len(self.model.layers)):
            parts += self._weights(i)
        parts += self._grid() if self.shape else self._boxes(0)
        for c in range(1, len(self.columns)):
            parts += self._boxes(c)
        parts += self._legend()
        parts.append("</svg>")
        return "\n".join(parts) + "\n"

    def _header(self) -> list[str]:
        model, found = self.model, self.found
        title = f"MLP({model.nin}, {model.nouts})"
        if found and model.nin <= 8:
            title += " on x = [" + ", ".join(self._num(v.data) for v in found.inputs) + "]"
        elif found:
            title += " on one sample"
        if self.loss is not None:
            title += f"  \u00b7  loss {self._num(self.loss.data)}"
        parts = [f'<text x="{SIDE}" y="20" font-size="14" font-weight="bold" fill="{INK}">'
                 f'{markup.text(title)}</text>']
        for col in self.columns:  # centred on the column, but never cut by the left edge
            middle = max(col.left + col.width / 2, SIDE + len(col.title) * SANS / 2)
            parts.append(f'<text x="{middle:.1f}" y="{TOP - 8}" text-anchor="middle" '
                         f'font-weight="bold" fill="{TEXT}">{markup.text(col.title)}</text>')
        return parts

    def _weights(self, i: int) -> list[str]:
        """One line per drawn weight of layer i, weakest first so the strong ones lie on top."""
        source, target = self.columns[i], self.columns[i + 1]
        right = source.left + source.width
        neurons = self.model.layers[i].neurons
        nin = neurons[0].nin
        drawn = self.drawn[i]
        weights = layer_weights(self.model.layers[i])
        strokes = dict(zip(drawn, weight_strokes(weights, drawn)))
        lines = [f'<g class="mg-weights" data-layer="{i}">']
        for n in sorted(drawn, key=lambda n: abs(weights[n])):
            colour, width, opacity = strokes[n]
            j, k = divmod(n, nin)
            w = neurons[j].w[k]
            x1, y1 = source.centres[k]
            x1 = x1 if self.shape and i == 0 else right  # from a cell's centre, or a box's edge
            y2 = target.centres[j][1]
            tip = f"{neurons[j].name}.w.{k} = {w.data:.6g}"
            tip += f", grad {w.grad:.6g}" if self.grads else ""
            lines.append(f'<line data-neuron="{j}" data-input="{k}" x1="{x1:.1f}" '
                         f'y1="{y1:.1f}" x2="{target.left:.1f}" y2="{y2:.1f}" '
                         f'stroke="{colour}" stroke-width="{width:.2f}" '
                         f'stroke-opacity="{opacity:.2f}">'
                         f'<title>{markup.text(tip)}</title></line>')
        lines.append("</g>")
        return lines

    def _grid(self) -> list[str]:
        inputs = self.values[0]
        scale = max((abs(v.data) for v in inputs if v and math.isfinite(v.data)), default=0.0)
        half = self.cell / 2
        parts = []
        for i, ((cx, cy), v) in enumerate(zip(self.columns[0].centres, inputs)):
            fill = _tint(v.data, scale, 1.0) if v else "#ffffff"
            tip = f"input x{i}" + (f": {self._tip(v)}" if v else "")
            parts.append(f'<rect class="mg-input" data-name="x{i}" x="{cx - half:.1f}" '
                         f'y="{cy - half:.1f}" width="{self.cell:.1f}" height="{self.cell:.1f}" '
                         f'fill="{fill}" stroke="#d1d5db" stroke-width="0.5">'
                         f'<title>{markup.text(tip)}</title></rect>')
        return parts

    def _boxes(self, c: int) -> list[str]:
        col = self.columns[c]
        kind = "input" if c == 0 else "neuron"
        height = min(20.0, min(ROW_MAX, self.rows / len(col.boxes)) - 2)
        parts = []
        for box, (_, y) in zip(col.boxes, col.centres):
            classes = f"mg-{kind}" + (" mg-off" if box.off else "")
            dash = ' stroke-dasharray="4 2"' if box.off else ""
            parts.append(f'<g class="{classes}" data-name="{markup.text(box.name)}">'
                         f'<title>{markup.text(box.tip)}</title>'
                         f'<rect x="{col.left:.1f}" y="{y - height / 2:.1f}" '
                         f'width="{col.width:.1f}" height="{height:.1f}" rx="3" '
                         f'fill="{box.fill}" stroke="#4b5563"{dash}/>'
                         f'<text x="{col.left + 5:.1f}" y="{y + 4:.1f}" font-family="{MONO}" '
                         f'xml:space="preserve">{_spans(box.parts)}</text></g>')
        if c == len(self.columns) - 1 and len(col.boxes) > 1:  # number the outputs
            parts += [f'<text x="{col.left + col.width + 6:.1f}" y="{y + 4:.1f}" '
                      f'fill="{MUTED}">{j}</text>' for j, (_, y) in enumerate(col.centres)]
        return parts

    def _legend_lines(self) -> list[list[tuple[str, str | None]]]:
        """The key under the drawing: lines of (text, colour) runs; None is plain text."""
        blue, orange = _mix(POSITIVE, 1.0), _mix(NEGATIVE, 1.0)
        if self.found is None:
            lines = [[("box: a neuron, showing its bias b (pass x to see its activation)", None)]]
        else:
            if not self.grads:
                grad = "pass loss= after loss.backward() to see grads too"
            elif self.loss.grad == 0.0:  # backward() seeds the loss with 1
                grad = "grad = d loss / d output, 0 until you call loss.backward()"
            else:
                grad = "grad = d loss / d output, the gradient arriving from the layers after it"
            lines = [[(f"box: a neuron's output: data = its activation for x; {grad}", None)]]
            second = ("grey dashed box: a ReLU that is off for this x (output 0, so no gradient "
                      "passes back through it for this sample)")
            if self.shape:
                second += "; input cells: shade = value"
            lines.append([(second, None)])
        lines.append([("line: one per weight, ", None), ("blue w > 0", blue), (", ", None),
                      ("orange w < 0", orange), ("; wider and darker = larger |w| (relative "
                                                 "to its layer). Hover for names and values.",
                                                 None)])
        drawn = sum(map(len, self.drawn))
        weights = sum(len(n.w) for layer in self.model.layers for n in layer.neurons)
        if drawn < weights:
            lines.append([(f"only the largest |w| of each layer are drawn: {drawn:,} lines of "
                           f"{weights:,} weights", None)])
        return lines

    def _legend(self) -> list[str]:
        top = self.height - BOTTOM + 14
        parts = []
        for n, line in enumerate(self.legend):  # coloured runs are bold
            runs = "".join(markup.text(text) if colour is None else
                           f'<tspan fill="{colour}" font-weight="bold">{markup.text(text)}</tspan>'
                           for text, colour in line)
            parts.append(f'<text x="{SIDE}" y="{top + 14 * n:.0f}" fill="{TEXT}">{runs}</text>')
        return parts


_KIND_FILL = {"label": MUTED, "value": INK, "note": MUTED, "bad": "#dc2626"}


def _spans(parts: list[tuple[str, str]]) -> str:
    """A box's text as tspans: muted labels, dark numbers, red non-finite ones."""
    spans = []
    for text, kind in parts:
        style = ' font-style="italic"' if kind == "note" else ""
        spans.append(f'<tspan fill="{_KIND_FILL[kind]}"{style}>{markup.text(text)}</tspan>')
    return " ".join(spans)
