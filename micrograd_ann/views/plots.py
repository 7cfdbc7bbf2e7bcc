"""Loss curves and decision boundaries as SVG text, in pure Python (no matplotlib).

SVG is always available; `save_png_*` draw the same data with matplotlib when it is
installed (the optional `plot` extra) and are skipped otherwise.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence
from xml.sax.saxutils import escape

from ..extras import MissingExtraError, require
from ..files import atomic_writer
from .colours import POINT_COLOURS, REGION_COLOURS

WIDTH, HEIGHT = 480, 360
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 36, 44  # margins around the plotting area


class Grid(NamedTuple):
    """Predicted class at the centre of each cell of a regular grid over the data."""

    xs: list[float]  # cell edges along x (one more than the number of columns)
    ys: list[float]  # cell edges along y
    classes: list[list[int]]  # classes[row][col], row 0 at the lowest y


def boundary_grid(predict: Callable[[float, float], int],
                  points: Sequence[Sequence[float]], resolution: int = 60,
                  margin: float = 0.25) -> Grid:
    """Evaluate `predict(x, y)` on a resolution x resolution grid covering the points."""
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}")
    if not points:
        raise ValueError("boundary_grid needs at least one point")
    (x0, x1), (y0, y1) = (_extent([p[i] for p in points], margin) for i in (0, 1))
    xs = [x0 + (x1 - x0) * i / resolution for i in range(resolution + 1)]
    ys = [y0 + (y1 - y0) * i / resolution for i in range(resolution + 1)]
    classes = [
        [predict((xs[c] + xs[c + 1]) / 2, (ys[r] + ys[r + 1]) / 2) for c in range(resolution)]
        for r in range(resolution)
    ]
    return Grid(xs, ys, classes)


def _extent(values: Sequence[float], margin: float) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = margin * (hi - lo) if hi > lo else 1.0  # one point alone gets a unit square
    return lo - pad, hi + pad


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick positions (1, 2 or 5 times a power of ten apart) inside [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


class _Frame:
    """Maps data coordinates to pixels inside the margins and draws axes and labels."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float]):
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if self.x1 == self.x0:
            self.x1 = self.x0 + 1.0
        if self.y1 == self.y0:
            self.y1 = self.y0 + 1.0

    def px(self, x: float) -> float:
        return LEFT + (x - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def py(self, y: float) -> float:
        return HEIGHT - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)

    def axes(self, title: str, xlabel: str, ylabel: str) -> list[str]:
        """The box, ticks with numbers, axis labels and the title."""
        left, right = LEFT, WIDTH - RIGHT
        top, bottom = TOP, HEIGHT - BOTTOM
        parts = [f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
                 'fill="none" stroke="#333"/>']
        for t in nice_ticks(self.x0, self.x1):
            x = self.px(t)
            parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" '
                         'stroke="#333"/>')
            parts.append(_text(x, bottom + 18, f"{t:g}", "middle"))
        for t in nice_ticks(self.y0, self.y1):
            y = self.py(t)
            parts.append(f'<line x1="{left - 5}" y1="{y:.1f}" x2="{left}" y2="{y:.1f}" '
                         'stroke="#333"/>')
            parts.append(_text(left - 8, y + 4, f"{t:g}", "end"))
        parts.append(_text((left + right) / 2, HEIGHT - 8, xlabel, "middle"))
        parts.append(f'<text x="14" y="{(top + bottom) / 2:.1f}" font-size="12" '
                     f'text-anchor="middle" transform="rotate(-90 14 {(top + bottom) / 2:.1f})">'
                     f'{escape(ylabel)}</text>')
        parts.append(_text(WIDTH / 2, 22, title, "middle", size=14))
        return parts


def _text(x: float, y: float, text: str, anchor: str, size: int = 11) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">'
            f"{escape(text)}</text>")


def _document(parts: list[str]) -> str:
    body = "\n".join(parts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">\n'
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>\n{body}\n</svg>\n')


def loss_curve_svg(losses: Sequence[float], title: str = "training loss",
                   xlabel: str = "epoch", ylabel: str = "loss",
                   label: str = "train: mean loss over each epoch's steps") -> str:
    """A line plot of `losses` against 1, 2, ... as an SVG document, with a legend saying
    what the line is (`label`)."""
    if not losses:
        raise ValueError("loss_curve_svg needs at least one loss value")
    bad = [v for v in losses if not math.isfinite(v)]
    if bad:
        raise ValueError(f"losses must be finite numbers, got {bad[0]!r}")
    low, high = min(0.0, min(losses)), max(losses)
    frame = _Frame((1, max(len(losses), 2)), (low, high + 0.05 * (high - low)))
    points = " ".join(f"{frame.px(i):.1f},{frame.py(v):.1f}" for i, v in enumerate(losses, 1))
    parts = frame.axes(title, xlabel, ylabel)
    parts.append(f'<polyline points="{points}" fill="none" stroke="{POINT_COLOURS[0]}" '
                 'stroke-width="2"/>')
    line = (f'<line x1="0" y1="-4" x2="22" y2="-4" stroke="{POINT_COLOURS[0]}" '
            'stroke-width="2"/>')
    parts += _legend([(line, label)])
    return _document(parts)


def decision_boundary_svg(grid: Grid, points: Sequence[Sequence[float]],
                          classes: Sequence[int], title: str = "decision boundary",
                          held_out: int = 0) -> str:
    """Shaded predicted regions of `grid` with the labelled points on top, as SVG: filled
    dots for training points, rings for the last `held_out` points (a test set, never
    trained on), and a legend saying so and naming the classes' colours."""
    if not 0 <= held_out <= len(points):
        raise ValueError(f"held_out must be between 0 and the {len(points)} points, "
                         f"got {held_out}")
    frame = _Frame((grid.xs[0], grid.xs[-1]), (grid.ys[0], grid.ys[-1]))
    parts = []
    for r, row in enumerate(grid.classes):
        y_top = frame.py(grid.ys[r + 1])
        height = frame.py(grid.ys[r]) - y_top
        for start, stop, cls in _runs(row):  # one rectangle per run of equal cells
            x_left = frame.px(grid.xs[start])
            width = frame.px(grid.xs[stop]) - x_left
            parts.append(f'<rect x="{x_left:.1f}" y="{y_top:.1f}" width="{width + 0.5:.1f}" '
                         f'height="{height + 0.5:.1f}" fill="{_colour(REGION_COLOURS, cls)}"/>')
    first_test = len(points) - held_out
    for k, ((x, y, *_), cls) in enumerate(zip(points, classes)):
        parts.append(_point(frame.px(x), frame.py(y), _colour(POINT_COLOURS, cls),
                            k >= first_test))
    parts.extend(frame.axes(title, "x0", "x1"))
    entries = [(_point(6, -4, "#4b5563", False), "train")]
    if held_out:
        entries.append((_point(6, -4, "#4b5563", True), "test (held out)"))
    for cls in sorted(set(classes)):
        swatch = (f'<rect x="0" y="-10" width="12" height="12" '
                  f'fill="{_colour(REGION_COLOURS, cls)}" stroke="{_colour(POINT_COLOURS, cls)}"/>')
        entries.append((swatch, f"class {cls}"))
    parts += _legend(entries)
    return _document(parts)


def _point(x: float, y: float, colour: str, test: bool) -> str:
    """A training point (a filled dot) or a test point (a ring in the class's colour)."""
    if test:
        return (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="white" stroke="{colour}" '
                'stroke-width="1.8"/>')
    return (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}" stroke="black" '
            'stroke-width="0.5"/>')


def _legend(entries: list[tuple[str, str]]) -> list[str]:
    """A legend in the plot's top right corner: a symbol (SVG drawn about (0, -4)) and a
    text per line, on a white box."""
    width = 38 + 5.8 * max(len(text) for _, text in entries)
    right = WIDTH - RIGHT - 6
    left, top = right - width, TOP + 6
    parts = [f'<g class="legend"><rect x="{left:.1f}" y="{top}" width="{width:.1f}" '
             f'height="{8 + 16 * len(entries)}" fill="white" fill-opacity="0.85" '
             'stroke="#9ca3af"/>']
    for k, (symbol, text) in enumerate(entries):
        y = top + 18 + 16 * k
        parts.append(f'<g transform="translate({left + 6:.1f} {y})">{symbol}</g>')
        parts.append(_text(left + 32, y, text, "start"))
    parts.append("</g>")
    return parts


def _runs(row: Sequence[int]) -> list[tuple[int, int, int]]:
    """(start, stop, value) for each run of equal neighbours in `row`."""
    runs = []
    start = 0
    for i in range(1, len(row) + 1):
        if i == len(row) or row[i] != row[start]:
            runs.append((start, i, row[start]))
            start = i
    return runs


def _colour(palette: Sequence[str], cls: int) -> str:
    return palette[cls % len(palette)]


# ------------------------------------------------------------ matplotlib, if present


def save_png_loss_curve(losses: Sequence[float], path: str) -> str | None:
    """Draw the loss curve with matplotlib into `path`; None when matplotlib is missing."""
    fig = _figure((6, 4))
    if fig is None:
        return None
    ax = fig.subplots()
    ax.plot(range(1, len(losses) + 1), losses, label="train: mean loss over each epoch's steps")
    ax.set(title="training loss", xlabel="epoch", ylabel="loss")
    ax.legend()
    return _save(fig, path)


def save_png_decision_boundary(grid: Grid, points: Sequence[Sequence[float]],
                               classes: Sequence[int], path: str,
                               held_out: int = 0) -> str | None:
    """Draw the regions and points with matplotlib into `path` (the last `held_out` points,
    a test set, as rings); None without matplotlib."""
    fig = _figure((5, 5))
    if fig is None:
        return None
    from matplotlib.colors import ListedColormap

    ax = fig.subplots()
    top = len(POINT_COLOURS) - 1
    ax.pcolormesh(grid.xs, grid.ys, grid.classes, cmap=ListedColormap(REGION_COLOURS),
                  vmin=0, vmax=top)
    first_test = len(points) - held_out
    for test, part in ((False, slice(0, first_test)), (True, slice(first_test, None))):
        shown, colours = points[part], [_colour(POINT_COLOURS, c) for c in classes[part]]
        if not shown:
            continue
        ax.scatter([p[0] for p in shown], [p[1] for p in shown], s=22,
                   facecolors="white" if test else colours,
                   edgecolors=colours if test else "black", linewidths=1.6 if test else 0.5,
                   label="test (held out)" if test else "train")
    ax.set(title="decision boundary", xlabel="x0", ylabel="x1")
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def _figure(size: tuple[float, float]):
    """A matplotlib Figure not tied to pyplot (no window, no backend switch), or None."""
    try:
        figure = require("matplotlib.figure", "plot", "PNG plots")
    except MissingExtraError:
        return None  # PNGs are optional: the SVG plots need no matplotlib
    return figure.Figure(figsize=size)


def _save(fig, path: str) -> str:
    fig.tight_layout()
    with atomic_writer(path, binary=True) as file:  # never a half-written PNG
        fig.savefig(file, format="png", dpi=100)
    return path


# ------------------------------------------------------------ a training history
# For notebooks: each function takes a history.History (read, never changed) and returns a
# matplotlib Figure, which Jupyter shows; without matplotlib, MissingExtraError says how to
# install it. The replay page (History.to_html) shows the same, epoch by epoch.

_TRAIN, _TEST = "-", "--"


def _history_figure(size: tuple[float, float]):
    return require("matplotlib.figure", "plot", "plotting a training history").Figure(
        figsize=size, layout="constrained")


def history_curves(*histories, labels: Sequence[str] | None = None):
    """Loss and accuracy by epoch, train (solid) and test (dashed), a colour per history."""
    if not histories:
        raise ValueError("history_curves needs at least one History")
    labels = list(labels) if labels is not None else [f"run {i}" for i in range(len(histories))]
    if len(labels) != len(histories):
        raise ValueError(f"{len(labels)} labels for {len(histories)} histories")
    fig = _history_figure((10, 3.4))
    loss_ax, accuracy_ax = fig.subplots(1, 2)
    for i, (history, label) in enumerate(zip(histories, labels)):
        epochs = [f.epoch for f in history.frames]
        colour = POINT_COLOURS[i % len(POINT_COLOURS)]
        for style, part in ((_TRAIN, "train"), (_TEST, "test")):
            loss_ax.plot(epochs, [getattr(f, f"{part}_loss") for f in history.frames],
                         style, color=colour, label=f"{label} {part}")
            accuracy_ax.plot(epochs, [getattr(f, f"{part}_accuracy") for f in history.frames],
                             style, color=colour, label=f"{label} {part}")
    loss_ax.set(title="loss", xlabel="epoch", ylim=(0, None))
    accuracy_ax.set(title="accuracy", xlabel="epoch", ylim=(0, 1.02))
    accuracy_ax.legend(fontsize=8)
    return fig


def history_boundary(history, k: int = -1, resolution: int = 60):
    """The decision boundary of frame k's model (2-D data): train points filled, test
    points hollow, the ones it gets wrong crossed."""
    if history.architecture["nin"] != 2:
        raise ValueError(f"a decision boundary needs 2 inputs; this model has "
                         f"{history.architecture['nin']}")
    frame = history.frames[k]
    classify = history.classifier(k)
    samples = history.train_set + history.test_set
    grid = boundary_grid(lambda a, b: classify([a, b]), [x for x, _ in samples], resolution)
    fig = _history_figure((4.6, 4.2))
    ax = fig.subplots()
    from matplotlib.colors import ListedColormap

    top = len(POINT_COLOURS) - 1
    ax.pcolormesh(grid.xs, grid.ys, grid.classes, cmap=ListedColormap(REGION_COLOURS),
                  vmin=0, vmax=top)
    trained = [classify(x) for x, _ in history.train_set]  # as the background shows it
    for samples, predicted, test in ((history.train_set, trained, False),
                                     (history.test_set, frame.test_predictions, True)):
        colours = [_colour(POINT_COLOURS, y) for _, y in samples]
        xs, ys = [x[0] for x, _ in samples], [x[1] for x, _ in samples]
        ax.scatter(xs, ys, s=22, linewidths=1.6 if test else 0.5,
                   facecolors="white" if test else colours,
                   edgecolors=colours if test else "black")
        wrong = [(x[0], x[1]) for (x, y), p in zip(samples, predicted) if p != y]
        if wrong:
            ax.scatter(*zip(*wrong), marker="x", s=30, color="black", linewidths=1)
    ax.set(title=f"epoch {frame.epoch}: filled train, hollow test, x wrong",
           xlabel="x0", ylabel="x1")
    return fig


def history_diagnostics(history, k: int = -1):
    """Frame k's per-layer histograms of outputs and of d loss / d output, then each
    layer's weight-gradient norm and update-to-data ratio over the epochs."""
    frame = history.frames[k]
    if frame.layers is None:
        raise ValueError(f"frame {k} is epoch {frame.epoch}, before any step: it has no "
                         f"diagnostics (choose a later frame)")
    n = len(frame.layers)
    fig = _history_figure((10, 1.5 * n + 3.2))
    grid = fig.add_gridspec(n + 2, 2, height_ratios=[1] * n + [0.25, 2.2])
    for i, (stats, activation) in enumerate(zip(frame.layers, history.activations)):
        for c, (hist, what) in enumerate(((stats.activations, "outputs"),
                                          (stats.gradients, "d loss / d output"))):
            ax = fig.add_subplot(grid[i, c])
            width = (hist.hi - hist.lo) / len(hist.counts) or 1.0
            lefts = [hist.lo + b * width for b in range(len(hist.counts))]
            ax.bar(lefts, hist.counts, width=width, align="edge",
                   color=POINT_COLOURS[i % len(POINT_COLOURS)])
            ax.set_yticks([])
            note = _layer_note(stats, activation) if c == 0 else f"norm |d loss/dw| " \
                f"{stats.grad_norm:.2g}"
            ax.set_title(f"layers.{i} ({activation}) {what}: {note}", fontsize=8, loc="left")
    epochs = [f.epoch for f in history.frames if f.layers]
    norm_ax, ratio_ax = fig.add_subplot(grid[n + 1, 0]), fig.add_subplot(grid[n + 1, 1])
    for i in range(n):
        colour = POINT_COLOURS[i % len(POINT_COLOURS)]
        norm_ax.plot(epochs, [f.layers[i].grad_norm for f in history.frames if f.layers],
                     color=colour, label=f"layers.{i}")
        ratio_ax.plot(epochs, [math.nan if f.layers[i].update_ratio is None
                               else f.layers[i].update_ratio
                               for f in history.frames if f.layers], color=colour)
    for ax in (norm_ax, ratio_ax):
        ax.axvline(frame.epoch, color="#dc2626", linewidth=1)
    ratio_ax.axhline(-3, color="#16a34a", linestyle="--", linewidth=1)
    norm_ax.set(yscale="log", title="weight-gradient norm", xlabel="epoch")
    ratio_ax.set(title="log10 update / data (about -3 is healthy)", xlabel="epoch")
    norm_ax.legend(fontsize=7, ncol=2)
    return fig


def _layer_note(stats, activation: str) -> str:
    """'3 of 16 dead, 41% off' (relu), '12% saturated' (tanh, sigmoid), or ''."""
    if stats.dead is not None:
        return f"{len(stats.dead)} dead, {stats.flat:.0%} of outputs 0"
    if stats.flat is not None:
        return f"{stats.flat:.0%} saturated"
    return ""
