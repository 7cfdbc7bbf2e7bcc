"""Output files: graphs, backprop players, the network view, plots, parameters, a run's
history and its replay page, and all of a training run's files (write_run, for the CLI).

Every file is written with files.write_atomic, so a reader sees the old file or the new
one, never a torn one, and an interrupted run leaves no half-written file. What happened
comes back as data, a Written record -- the files written, the drawings skipped and why,
whether Graphviz's `dot` was missing (graphs are then saved as DOT source, players
skipped) -- for the caller to report; nothing here prints.
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
import re
import tempfile
from typing import Callable, Iterator, NamedTuple, Sequence

from .. import checkpoint, files
from . import graph, network, player, plots, replay
from ..engine import Value, topological_order
from ..history import History
from ..trace import preserved_grads
from ..nn import MLP
from ..training import Run, predict

DOT_TIMEOUT = 60  # seconds: a drawing within graph.MAX_NODES that takes longer is given up
SCREEN = 1366  # CSS px: the width a static drawing should fit (a laptop's screen)
# A player page does work for every Value of its graph, drawn or boxed: 20,000 take a few
# seconds, the 200,000 of MLP(2, [440, 440, 1])'s loss 40 s. Bigger graphs get no page.
PLAYER_VALUES = 20_000
# The decision boundary evaluates the model on a grid of up to 60 x 60 points, coarser for
# big models, so that it costs at most ~BOUNDARY_WORK weight uses (seconds).
BOUNDARY_WORK = 20_000_000

# What a run's files draw of the hardest sample's backward pass (write_run's `graph`):
# always the network view (network.svg, no Graphviz needed), and the loss graph (graph.svg)
# and its backprop player (backprop.html) at a level: "layer", "neuron" or "ops", "auto"
# (the clearest: a box per layer), or "network" (no graph.svg, the player a layer per
# step). "none" draws nothing.
GRAPHS = ("auto", "network", "layer", "neuron", "ops", "none")

# The levels a loss graph is drawn at -- player.VIEWS: "layer", "neuron" (a box per nn
# Layer or Neuron), "ops" (every Value), "network" (the player steps a layer at a time,
# and there is no static drawing: the network view is write_network's) and "auto" (layer
# for a model's graph, else ops) -- with viz's collapse= for each, and the coarser levels
# to offer when a drawing is too large.
_COLLAPSE = {"auto": "auto", "network": "layer", "layer": "layer", "neuron": "neuron",
             "ops": None}
_COARSER = {"auto": ("neuron", "layer", "network"), "ops": ("neuron", "layer", "network"),
            "neuron": ("layer", "network"), "layer": ("network",), "network": ()}


class Skipped(NamedTuple):
    """Files not drawn: which, why (a phrase), and the coarser levels that would fit."""

    files: tuple[str, ...]
    reason: str
    fits: tuple[str, ...] = ()


@dataclasses.dataclass
class Written:
    """What writing produced: the paths written in order, the drawings skipped, and whether
    `dot` was missing."""

    files: list[str] = dataclasses.field(default_factory=list)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    dot_missing: bool = False

    def add(self, other: Written) -> Written:
        """Append `other`'s files and skips to this record; returns it."""
        self.files.extend(other.files)
        self.skipped.extend(other.skipped)
        self.dot_missing = self.dot_missing or other.dot_missing
        return self


class FolderError(ValueError):
    """The output folder cannot be made or written into."""

    def __init__(self, folder: str, reason: str):
        self.folder = folder
        self.reason = reason
        super().__init__(f"cannot use {folder!r} as an output folder: {reason}")


def prepare_folder(folder: str) -> str:
    """Make `folder` if needed and check that files can be created in it, before any work."""
    if not folder:
        raise FolderError(folder, "the name is empty")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise FolderError(folder, exc.strerror or str(exc)) from None
    try:
        with tempfile.TemporaryFile(dir=folder):  # unnamed where the OS allows: no leftovers
            pass
    except OSError as exc:
        raise FolderError(folder, f"no file can be created in it "
                                  f"({exc.strerror or exc})") from None
    return folder


# --------------------------------------------------------------------- graphs


def write_graph(root: Value, folder: str, name: str, *, level: str = "auto",
                page: str | None = None, budget: int = graph.MAX_NODES) -> Written:
    """`name`.svg of root's graph drawn at `level` and, when `page` is a file name, its
    backprop player opening at that level; without `dot`, `name`.dot and no player. At
    level "network" only the player is written (the network view is write_network's).

    A drawing of more than `budget` nodes and edges is skipped before `dot` starts (the
    Skipped record lists the coarser levels that would fit), as is one viz cannot draw.
    """
    static = level != "network"
    targets = (*([f"{name}.svg"] if static else []), *([page] if page else []))
    size = graph.graph_size(root, collapse=_COLLAPSE[level])
    if size > budget:
        fits = tuple(lv for lv in _COARSER[level]
                     if graph.graph_size(root, collapse=_COLLAPSE[lv]) <= budget)
        reason = (f"the graph at the {level} level has {size:,} nodes and edges, and "
                  f"{budget:,} is the most that draw in seconds")
        return Written(skipped=[Skipped(targets, reason, fits)])
    written = Written()
    if static:
        options = {"collapse": _COLLAPSE[level], "max_nodes": budget}
        try:
            svg = _fitting_svg(root, options, page)
        except graph.DotNotFoundError:
            path = files.write_atomic(os.path.join(folder, f"{name}.dot"),
                                      graph.to_dot(root, **options))
            return Written([path], dot_missing=True)
        except graph.DrawError as exc:
            return Written(skipped=[Skipped(targets, _trouble(exc))])
        written.files.append(files.write_atomic(os.path.join(folder, f"{name}.svg"), svg))
    if page:
        written.add(_write_player(root, os.path.join(folder, page), level, budget))
    return written


def _fitting_svg(root: Value, options: dict, page: str | None) -> str:
    """root's graph as SVG no wider than SCREEN: drawn left to right, else top down, else
    the narrower of the two with a line on top saying how to read it."""
    drawings = []
    for rankdir in ("LR", "TB"):
        svg = graph.to_svg(root, timeout=DOT_TIMEOUT, rankdir=rankdir, **options)
        if svg_width(svg) <= SCREEN:
            return svg
        drawings.append((svg_width(svg), rankdir))
    width, rankdir = min(drawings)
    player = f", or open {page}, which steps through it at a readable size" if page else ""
    note = (f"This drawing is {width:,.0f} px wide, more than a screen: scroll sideways or "
            f"zoom out to follow it{player}.")
    opts = graph.DrawOptions(rankdir=rankdir, **options)
    attributes = (f'label=<{html.escape(note)}> labelloc=t labeljust=l fontsize=14 '
                  'fontname=Helvetica')
    return graph.run_dot(graph.dot_source(graph.plan(root, opts), opts, attributes), "svg",
                         DOT_TIMEOUT).decode("utf-8")


def svg_width(svg: str) -> float:
    """The width in CSS px of an SVG document Graphviz wrote (its width is in pt)."""
    found = re.search(r'<svg\b[^>]*?\swidth="([\d.]+)(pt|px)?"', svg)
    if found is None:
        raise ValueError("the SVG has no width")
    return float(found.group(1)) * (4 / 3 if found.group(2) == "pt" else 1)


def _trouble(exc: graph.DrawError) -> str:
    """Why viz could not draw, as a phrase on one line."""
    if isinstance(exc, graph.RenderTimeoutError):
        return f"dot did not finish within {DOT_TIMEOUT} s and was stopped"
    if isinstance(exc, graph.LabelTooLongError):
        return "a label is longer than Graphviz accepts (16 KB)"
    return " ".join(str(exc).split())


def _write_player(root: Value, path: str, view: str, budget: int) -> Written:
    """The player page replaying root's backward pass from zero grads (root already ran
    backward: replayed on top, the leaves would end at twice their gradient)."""
    values = len(topological_order(root))
    if values > PLAYER_VALUES:
        reason = (f"its graph holds {values:,} values, and {PLAYER_VALUES:,} is the most a "
                  "player page steps through in seconds")
        return Written(skipped=[Skipped((os.path.basename(path),), reason)])
    try:
        with preserved_grads(root) as nodes:
            for node in nodes:
                node.grad = 0.0
            page = player.to_html(root, view=view, timeout=DOT_TIMEOUT, max_nodes=budget)
    except graph.DotNotFoundError:
        return Written(dot_missing=True)
    except graph.DrawError as exc:  # dot timed out or failed on one of the page's layouts
        return Written(skipped=[Skipped((os.path.basename(path),), _trouble(exc))])
    return Written([files.write_atomic(path, page)])


def write_network(model: MLP, folder: str, *, x: Sequence[float] | None = None,
                  loss: Value | None = None, name: str = "network.svg") -> Written:
    """The network view of `model` (network.draw_network: no `dot` needed) as `name`."""
    view = network.draw_network(model, x, loss=loss)
    return Written([files.write_atomic(os.path.join(folder, name), view.svg)])


# ------------------------------------------------------------ plots and params


def write_params(model: MLP, folder: str, name: str = "params.json") -> Written:
    """The model's checkpoint (checkpoint.save) as `name`."""
    path = os.path.join(folder, name)
    checkpoint.save(model, path)
    return Written([path])


def write_loss_curve(losses: Sequence[float], folder: str) -> Written:
    """loss.svg, and loss.png when matplotlib is installed."""
    written = Written([files.write_atomic(os.path.join(folder, "loss.svg"),
                                          plots.loss_curve_svg(losses))])
    return _png(written, plots.save_png_loss_curve(losses, os.path.join(folder, "loss.png")))


def write_boundary(classify: Callable[[float, float], int], points: Sequence[Sequence[float]],
                   classes: Sequence[int], folder: str, resolution: int = 60,
                   held_out: int = 0) -> Written:
    """boundary.svg -- the classes `classify(x0, x1)` predicts on a resolution x resolution
    grid around the points, the last `held_out` of them (a test set) drawn as rings -- and
    boundary.png when matplotlib is installed."""
    grid = plots.boundary_grid(classify, points, resolution)
    svg = plots.decision_boundary_svg(grid, points, classes, held_out=held_out)
    written = Written([files.write_atomic(os.path.join(folder, "boundary.svg"), svg)])
    png = plots.save_png_decision_boundary(grid, points, classes,
                                           os.path.join(folder, "boundary.png"), held_out)
    return _png(written, png)


def _png(written: Written, path: str | None) -> Written:
    """`written` plus the PNG at `path`; None means matplotlib is missing (PNGs are extra)."""
    if path is not None:
        written.files.append(path)
    return written


# ------------------------------------------------------------ a training run


def write_history(history: History, folder: str) -> Written:
    """history.json (History.save) and its replay page training.html (replay.to_html)."""
    saved = history.save(os.path.join(folder, "history.json"))
    page = os.path.join(folder, "training.html")
    replay.to_html(history, page)
    return Written([saved, page])


def write_run(run: Run, folder: str, graph: str = "auto") -> Iterator[Written]:
    """Write a training run's files into `folder`, yielding each one's record as it is done
    (a caller listing them shows progress): params.json, the loss curve, for 2-D data the
    decision boundary, the run's history.json and training.html when it was recorded
    (train(history=True)), then what `graph` (one of GRAPHS) asks for: network.svg, the
    hardest sample's network view, then graph.svg and its player backprop.html."""
    if graph not in GRAPHS:
        raise ValueError(f"unknown graph {graph!r}; choose one of {', '.join(GRAPHS)}")
    yield write_params(run.model, folder)
    yield write_loss_curve(run.losses, folder)
    if run.model.nin == 2:
        samples = run.train_set + run.test_set
        side = math.isqrt(BOUNDARY_WORK // len(run.model.parameters()))
        yield write_boundary(lambda a, b: predict(run.model([a, b])),
                             [x for x, _ in samples], [y for _, y in samples], folder,
                             resolution=max(10, min(60, side)), held_out=len(run.test_set))
    if run.history is not None:
        yield write_history(run.history, folder)
    if graph == "none":
        return
    yield write_network(run.model, folder, x=run.train_set[run.worst][0], loss=run.sample_loss)
    yield write_graph(run.sample_loss, folder, "graph", level=graph, page="backprop.html")
