"""Draw computation graphs: DOT text (pure Python), graphviz Digraphs, files rendered by `dot`.

What is drawn is decided first, as data (`plan()`: a `Plan`), then written as DOT; the
backprop player reads the same Plan, so it never has to parse Graphviz's output. Naming
contract: the k-th drawn Value in topological order is node `v{k}`, its op ellipse `v{k}_op`,
the j-th box (a collapsed neuron or layer, or a group of inputs) `m{j}`; every node's and
edge's `id` is its name. Edges `e0, e1, ...` are `Plan.edges` in order. A value node's label
has a line "data <number>" and a line "grad <number>"; a box's rows (box_rows) are lines
"name: data <number>  grad <number>", read across its columns.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple

import graphviz

from ..checks import check_int
from ..engine import OPS, Value, op_symbol, topological_order
from ..files import write_atomic
from ..markup import text as _text
from .. import formatting

INSTALL_HINT = ("Graphviz's `dot` executable is missing (needed to render; to_dot works "
                "without it). Install Graphviz: apt-get install graphviz (Debian/Ubuntu), "
                "brew install graphviz (macOS) or conda install graphviz.")
FORMATS = ("svg", "png", "pdf")
MAX_NODES = 2000  # nodes + edges: dot lays out that many in about a second
GROUP_ABOVE = 8  # more model inputs than this are drawn as one box
COLUMN_ROWS = 32  # a box lists its rows in columns of up to this many
MAX_ROWS = 100  # a box shows at most this many rows, then says how many more there are
LABEL_LIMIT = 16_000  # bytes; Graphviz rejects a label longer than 16,384


class DrawError(Exception):
    """The graph could not be drawn; the message says why and what to do instead."""


class DotNotFoundError(DrawError, RuntimeError):
    """Rendering needs Graphviz's `dot` executable and it is not on PATH."""


class GraphvizError(DrawError, RuntimeError):
    """`dot` failed, or exited 0 without writing a drawing of the asked format."""


class RenderTimeoutError(GraphvizError):
    """`dot` did not finish within the timeout; it and its children were stopped."""


class GraphTooLargeError(DrawError, ValueError):
    """The drawing has more nodes plus edges than max_nodes; dot could run for minutes."""


class LabelTooLongError(DrawError, ValueError):
    """A node's label is longer than Graphviz accepts (16 KB)."""


@dataclass(frozen=True)
class DrawOptions:
    """The keyword options every drawing function takes."""

    precision: int = 4  # significant digits of data, grad and edge labels
    style: str = "ops"  # "ops": op ellipses between values; "compact": op inside the node
    rankdir: str = "LR"  # or "TB"
    color_by: str | None = None  # "grad": shade fills by |grad| on a log scale
    edge_labels: bool = False  # label edges "upstream grad x local derivative = contribution"
    max_nodes: int = MAX_NODES  # refuse drawings with more nodes + edges than this
    # "auto": "layer" for a graph with nn nodes (unless focus= is given), else None;
    # "neuron" or "layer": one box per nn Neuron / Layer; None: every Value
    collapse: str | None = "auto"
    focus: Value | None = None  # draw only the Values within `depth` hops of this one
    depth: int = 2

    def __post_init__(self) -> None:
        choices = {"style": ("ops", "compact"), "rankdir": ("LR", "TB"),
                   "color_by": (None, "grad"), "collapse": ("auto", None, "neuron", "layer")}
        for field, allowed in choices.items():
            if getattr(self, field) not in allowed:
                raise ValueError(f"{field} must be one of {allowed}, got {getattr(self, field)!r}")
        for field, low in (("precision", 1), ("max_nodes", 1), ("depth", 0)):
            check_int(field, getattr(self, field), low)
        if self.focus is not None and not isinstance(self.focus, Value):
            raise TypeError(f"focus must be a Value, got {type(self.focus).__name__}")


class Box(NamedTuple):
    """Values drawn as one node: an nn module's nodes and parameters, or a group of inputs."""

    title: str  # "layers.0", "layers.0.neurons.3", "inputs"
    members: list[Value]  # in topological order
    kind: str  # "module", or what the members are, in the plural ("inputs", "weights")


class Edge(NamedTuple):
    """One drawn edge; `node` is the Value whose inputs (or op ellipse) it draws."""

    id: str  # "e3"
    tail: str  # DOT node names
    head: str
    node: Value
    local: float | None  # its partial, for an edge label; None: a box or op-ellipse edge


class Plan(NamedTuple):
    """Which Values are shown and how: what viz draws, and what the player animates."""

    root: Value
    order: list[Value]  # every Value shown, drawn or inside a box, in topological order
    names: dict[Value, str]  # the DOT node showing each Value
    targets: dict[Value, str]  # the DOT node each Value's input edges point to
    boxes: dict[str, Box]
    edges: list[Edge]
    titles: dict[Value, str]  # the name a value node or box row shows for a Value unlabelled

    @property
    def size(self) -> int:
        """Nodes plus edges: what `dot`'s time grows with."""
        ops = sum(1 for v, target in self.targets.items() if target != self.names[v])
        return len(set(self.names.values())) + ops + len(self.edges)


# ------------------------------------------------------------------- which nodes


def parameters_of(node: Value) -> list[Value]:
    """The weight and bias leaves among a neuron node's inputs, found by position.

    A fused 'dot' takes w0..w(n-1), x0..x(n-1), b; the unfused chain is w_i * x_i and
    b + w0*x0 + ...: the parameter is operand 0 there (see nn.Neuron).
    """
    name = node.op.name if node.op else ""
    if name == "dot":
        n = len(node.parents) // 2
        candidates = node.parents[:n] + node.parents[2 * n :]
    elif name in ("mul", "add"):
        candidates = node.parents[:1]
    else:
        candidates = ()
    return [p for p in candidates if not p.parents]


def layer_of(module: str) -> str:
    """A neuron's layer: the part of its dotted name before '.neurons.' ('' for '')."""
    head, sep, _ = ("." + module).rpartition(".neurons.")
    return head[1:] if sep else module


def _box_key(module: str, collapse: str) -> str:
    """The neuron's dotted name, or its layer's."""
    return module if collapse == "neuron" else layer_of(module)


def _neighbourhood(order: list[Value], focus: Value, depth: int) -> list[Value]:
    """The Values at most `depth` input/consumer hops from `focus`, in the same order."""
    consumers: dict[Value, list[Value]] = {v: [] for v in order}
    if focus not in consumers:
        raise ValueError(f"focus {focus!r} is not in the graph being drawn")
    for v in order:
        for p in v.parents:
            consumers[p].append(v)
    keep = {focus}
    frontier = [focus]
    for _ in range(depth):
        reached = [u for v in frontier for u in (*v.parents, *consumers[v]) if u not in keep]
        keep.update(reached)
        frontier = reached
    return [v for v in order if v in keep]


def _outside_operands(order: list[Value], groups: dict[Value, tuple[str, str]]) -> list[Value]:
    """The leaves outside any group that grouped nodes read (a model's inputs), in order."""
    found = dict.fromkeys(p for v in order if v in groups for p in v.parents
                          if p not in groups and not p.parents)
    shown = set(order)
    return [p for p in found if p in shown]


def module_groups(order: list[Value], collapse: str) -> dict[Value, tuple[str, str]]:
    """collapse="neuron"/"layer": each nn node and its parameters go in its module's box;
    more than GROUP_ABOVE model inputs go in one box, "inputs"."""
    shown = set(order)
    groups: dict[Value, tuple[str, str]] = {}
    for v in order:
        if v.module:
            box = (_box_key(v.module, collapse), "module")
            groups[v] = box
            groups.update((p, box) for p in parameters_of(v) if p in shown)
    inputs = _outside_operands(order, groups)
    if len(inputs) > GROUP_ABOVE:
        groups.update((v, ("inputs", "inputs")) for v in inputs)
    return groups


def plan(root: Value, opts: DrawOptions) -> Plan:
    """Decide which Values are drawn and under which DOT node names; check max_nodes."""
    shown, collapse = _unchecked_plan(root, opts)
    if shown.size > opts.max_nodes:
        boxes = " collapse='neuron' or collapse='layer', or" if collapse is None else ""
        raise GraphTooLargeError(
            f"the drawing has {shown.size:,} nodes and edges, more than max_nodes="
            f"{opts.max_nodes:,} (dot can take minutes on thousands); draw less with{boxes} "
            "focus=value, depth=k, or raise max_nodes")
    return shown


def _unchecked_plan(root: Value, opts: DrawOptions) -> tuple[Plan, str | None]:
    """The plan, and the collapse= it used ("auto" resolved)."""
    if not isinstance(root, Value):
        raise TypeError(f"expected a Value to draw, got {type(root).__name__}")
    order = topological_order(root)
    if opts.focus is not None:
        order = _neighbourhood(order, opts.focus, opts.depth)
    collapse = opts.collapse
    if collapse == "auto":
        nn_nodes = opts.focus is None and any(v.module for v in order)
        collapse = "layer" if nn_nodes else None
    groups = module_groups(order, collapse) if collapse else {}
    return grouped_plan(root, order, groups, opts), collapse


def grouped_plan(root: Value, order: list[Value], groups: dict[Value, tuple[str, str]],
                 opts: DrawOptions, titles: dict[Value, str] | None = None) -> Plan:
    """The plan drawing `order` (topological) with each Value of `groups` inside the box
    (title, kind) it maps to, and unlabelled value nodes and rows named by `titles`; no
    max_nodes check."""
    names: dict[Value, str] = {}
    targets: dict[Value, str] = {}
    box_of_title: dict[str, str] = {}
    boxes: dict[str, Box] = {}
    edges: list[Edge] = []
    boxed_edges: set[tuple[str, str]] = set()
    drawn = 0
    for v in order:
        group = groups.get(v)
        if group is None:
            names[v] = f"v{drawn}"
            drawn += 1
            ops = opts.style == "ops" and v.parents
            targets[v] = f"{names[v]}_op" if ops else names[v]
        else:
            if group[0] not in box_of_title:
                box_of_title[group[0]] = f"m{len(boxes)}"
                boxes[box_of_title[group[0]]] = Box(group[0], [], group[1])
            names[v] = targets[v] = box_of_title[group[0]]
            boxes[names[v]].members.append(v)
        target = targets[v]
        for parent, local in zip(v.parents, v.partials):
            source = names.get(parent)
            if source is None or source == target:  # outside the focus, or inside one box
                continue
            if source in boxes or target in boxes:
                if (source, target) in boxed_edges:
                    continue  # a box's edge to a node is drawn once
                boxed_edges.add((source, target))
                local = None
            edges.append(Edge(f"e{len(edges)}", source, target, v, local))
        if target != names[v]:
            edges.append(Edge(f"e{len(edges)}", target, names[v], v, None))
    return Plan(root, order, names, targets, boxes, edges, titles or {})


def dot_ids(root: Value, **options) -> dict[Value, str]:
    """For every Value in the (collapsed/focused) graph, the DOT node that displays it."""
    return plan(root, DrawOptions(**options)).names


def graph_size(root: Value, **options) -> int:
    """How many nodes plus edges the drawing has: what max_nodes limits (not checked here)."""
    return _unchecked_plan(root, DrawOptions(**options))[0].size


def box_rows(shown: Plan) -> dict[str, list[Value]]:
    """The Values each box lists with their data and grad: a module's nodes used outside it
    (or the root), else its last one; a group's members. Each box draws at most MAX_ROWS
    of them, the first ones, and says how many more there are."""
    used = {shown.root}
    for v in shown.order:
        used.update(p for p in v.parents if p in shown.names and shown.names[p] != shown.names[v])
    rows = {}
    for name, box in shown.boxes.items():
        if box.kind == "module":
            rows[name] = [v for v in box.members if v in used and v.parents] or box.members[-1:]
        else:
            rows[name] = box.members
    return rows


def row_name(v: Value, box: Box, titles: dict[Value, str] | None = None) -> str:
    """How a box names one of its rows: the Value's label ('x12', 'score'), else its dotted
    name inside the box ('neurons.3'), else its title in `titles` ('exp#2550')."""
    name = v.label or v.module or (titles or {}).get(v, "")
    return name[len(box.title) + 1:] if name.startswith(box.title + ".") else name


def layout_key(shown: Plan, opts: DrawOptions) -> tuple:
    """Plans with equal keys are laid out alike by Graphviz, up to the numbers and labels
    they show: the same nodes, boxes, rows and edges, and the same marks (ReLU off, NaN)."""
    fills = _grad_fills(shown.order) if opts.color_by == "grad" else {}
    marks = tuple((shown.names[v], bool(v.label or shown.titles.get(v)), _is_off(v),
                   _finite(v), fills.get(v)) for v in shown.order)
    boxes = tuple((box.title, box.kind, len(box.members)) for box in shown.boxes.values())
    edges = tuple((e.tail, e.head) for e in shown.edges)
    return marks, boxes, edges, tuple(len(rows) for rows in box_rows(shown).values())


# ------------------------------------------------------------------------ labels

_ROLE = {  # (fill, border): leaves, intermediate nodes, the root
    "leaf": ("#dbeafe", "#2563eb"),
    "node": ("#ffffff", "#6b7280"),
    "root": ("#dcfce7", "#16a34a"),
}
_BOX = ("#fef3c7", "#b45309")
_GROUP = ("#eff6ff", "#2563eb")  # a box of leaves: the colours of a leaf, lighter
_BAD = ("#fee2e2", "#dc2626")  # NaN or inf in data or grad
_OFF_FILL = "#e5e7eb"  # a ReLU with output 0 passes no gradient back
OFF = "ReLU off (0)"  # how a drawing marks such a ReLU
_OP = 'shape=ellipse style=filled fillcolor="#f3f4f6" width=0.4 height=0.3 margin=0.03'


def _red_if(bad: bool, line: str) -> str:
    """The whole line in red when it shows a NaN or inf (one SVG text element either way)."""
    return f'<FONT COLOR="{_BAD[1]}">{line}</FONT>' if bad else line


def _numbers(v: Value, opts: DrawOptions) -> list[str]:
    """The 'data <number>' and 'grad <number>' lines of a value's label."""
    p = opts.precision
    return [_red_if(not math.isfinite(v.data), f"data {formatting.number(v.data, p)}"),
            _red_if(not math.isfinite(v.grad), f"grad {formatting.number(v.grad, p)}")]


def _is_off(v: Value) -> bool:
    """A ReLU whose output is 0 here: its local derivative is 0, so no gradient passes back
    through it for this input. (The training replay calls a ReLU that is off for every
    sample of an epoch dead.)"""
    return v.op is OPS["relu"] and v.data == 0.0


def _finite(v: Value) -> bool:
    return math.isfinite(v.data) and math.isfinite(v.grad)


def _grad_fills(values: list[Value]) -> dict[Value, str]:
    """White to orange by log10|grad| across the drawn Values; zero grads stay white."""
    logs = {v: math.log10(abs(v.grad)) for v in values if v.grad and math.isfinite(v.grad)}
    low = min(logs.values(), default=0.0)
    span = max(logs.values(), default=0.0) - low or 1.0
    fills = dict.fromkeys(values, "#ffffff")
    for v, lg in logs.items():
        t = 0.15 + 0.85 * (lg - low) / span
        red, green, blue = (round(255 + t * (c - 255)) for c in (0xF9, 0x73, 0x16))
        fills[v] = f"#{red:02x}{green:02x}{blue:02x}"
    return fills


def _node(name: str, label: str, fill: str, border: str, extra: str = "") -> str:
    if len(label.encode("utf-8")) > LABEL_LIMIT:
        raise LabelTooLongError(
            f"node {name}'s label is {len(label.encode('utf-8')):,} bytes, more than Graphviz "
            f"accepts (16 KB); give the Value a shorter label")
    return f'\t{name} [id={name} label=<{label}> fillcolor="{fill}" color="{border}"{extra}]\n'


def _value_node(v: Value, name: str, title: str, role: str, fill: str | None,
                opts: DrawOptions) -> str:
    lines = [f"<B>{_text(title)}</B>"] if title else []
    if opts.style == "compact" and v.op:
        lines.append(f"<I>{_text(op_symbol(v))}</I>")
    lines += _numbers(v, opts)
    extra = " penwidth=2" if role == "root" or v is opts.focus else ""
    if _is_off(v):
        lines.append(f"<I>{OFF}</I>")
        extra += ' style="rounded,filled,dashed"'
    fill = fill or (_OFF_FILL if _is_off(v) else _ROLE[role][0])
    border = _ROLE[role][1]
    if not _finite(v):
        fill, border = _BAD
        extra += " penwidth=2"
    return _node(name, "<BR/>".join(lines), fill, border, extra)


def _box_label(box: Box, rows: list[Value], opts: DrawOptions,
               titles: dict[Value, str]) -> str:
    """Title and count, then the rows: a value's lines for a module with one, else a table
    of rows "name: data D  grad G" in columns of up to COLUMN_ROWS, read across."""
    count = (f"{sum(not v.parents for v in box.members)} params" if box.kind == "module"
             else f"{len(box.members)} {box.kind}")
    head = [f"<B>{_text(box.title or 'module')}</B>", count]
    if len(rows) == 1 and box.kind == "module":
        # A labelled output ("score") is named, as explain() and the player name it.
        named = [_text(rows[0].label)] if rows[0].label else []
        off = [f"<I>{OFF}</I>"] if _is_off(rows[0]) else []
        return "<BR/>".join(head[:1] + named + head[1:] + _numbers(rows[0], opts) + off)
    tail = [f"<I>... and {len(rows) - MAX_ROWS} more</I>"] if len(rows) > MAX_ROWS else []
    rows = rows[:MAX_ROWS]
    cols = _columns(len(rows))
    cells = [_cell(v, box, opts, titles) for v in rows]
    grid = ["<TR>" + "".join(cells[i:i + cols]) + "</TR>" for i in range(0, len(cells), cols)]
    span = [f'<TR><TD COLSPAN="{cols}">{line}</TD></TR>' for line in head]
    end = [f'<TR><TD COLSPAN="{cols}">{line}</TD></TR>' for line in tail]
    return ('<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0">'
            + "".join(span + grid + end) + "</TABLE>")


def _columns(rows: int) -> int:
    """Columns of up to COLUMN_ROWS rows (read across)."""
    return math.ceil(rows / COLUMN_ROWS)


def _cell(v: Value, box: Box, opts: DrawOptions, titles: dict[Value, str]) -> str:
    """One row of a box: "name: data D  grad G"; the row of a ReLU that is off is grey, as
    its node would be."""
    grey = f' BGCOLOR="{_OFF_FILL}"' if _is_off(v) else ""
    return (f'<TD ALIGN="LEFT"{grey}>{_text(row_name(v, box, titles))}: '
            f'{"  ".join(_numbers(v, opts))}</TD>')


def _box_node(name: str, box: Box, rows: list[Value], is_root: bool, opts: DrawOptions,
              titles: dict[Value, str]) -> str:
    """A collapsed neuron or layer, or a group of inputs, with its rows' data and grad."""
    fill, border = _BOX if box.kind == "module" else _GROUP
    extra = ' shape=box3d style="filled"' if box.kind == "module" else ""
    if is_root:
        border = _ROLE["root"][1]
        extra += " penwidth=2"
    if not all(_finite(v) for v in box.members):
        fill, border = _BAD
    return _node(name, _box_label(box, rows, opts, titles), fill, border, extra)


# -------------------------------------------------------------------------- DOT


def _edge_label(v: Value, local: float, opts: DrawOptions) -> str:
    """The chain rule on an input's edge, tied to its edge by a line (decorate=true).

    NOTE: where several edges converge on one op, a bare label can sit nearer a neighbour's
    edge than its own; the underline and leader line Graphviz adds make the owner plain.
    """
    text = _text(formatting.edge_text(v.grad, local, opts.precision))
    return f" decorate=true label=<{_red_if(not math.isfinite(v.grad * local), text)}>"


def dot_lines(shown: Plan, opts: DrawOptions, graph: str = "") -> list[str]:
    """The statements of `shown`'s DOT graph: settings (`graph`: more graph attributes),
    then each node and its in-edges."""
    # NOTE: ordering=out keeps collapsed boxes in neuron order (0, 1, ..., 15) where dot
    # would otherwise reorder them to save a few edge crossings.
    ordering = " ordering=out" if shown.boxes else ""
    lines = [f"\tgraph [rankdir={opts.rankdir}{ordering}{' ' if graph else ''}{graph}]\n",
             '\tnode [shape=box style="rounded,filled" fontname=Helvetica fontsize=11]\n',
             # fontcolor also colours the lines decorate=true draws under edge labels
             '\tedge [fontname=Helvetica fontsize=9 color="#6b7280" fontcolor="#374151"]\n']
    fills = _grad_fills(shown.order) if opts.color_by == "grad" else {}
    rows = box_rows(shown)
    in_edges: dict[Value, list[Edge]] = {}
    for edge in shown.edges:
        in_edges.setdefault(edge.node, []).append(edge)
    root = shown.root
    for v in shown.order:
        name = shown.names[v]
        if name in shown.boxes:
            box = shown.boxes[name]
            if box.members[0] is v:
                lines.append(_box_node(name, box, rows[name], root in rows[name], opts,
                                       shown.titles))
        else:
            role = "root" if v is root else "node" if v.parents else "leaf"
            title = v.label or shown.titles.get(v, "")
            lines.append(_value_node(v, name, title, role, fills.get(v), opts))
            target = shown.targets[v]
            if target != name:
                lines.append(f"\t{target} [id={target} label=<{_text(op_symbol(v))}> {_OP}]\n")
        for edge in in_edges.get(v, ()):
            label = ""
            if opts.edge_labels and edge.local is not None:
                label = _edge_label(v, edge.local, opts)
            lines.append(f"\t{edge.tail} -> {edge.head} [id={edge.id}{label}]\n")
    return lines


def dot_source(shown: Plan, opts: DrawOptions, graph: str = "") -> str:
    """The DOT text of a plan (`graph`: more graph attributes, e.g. "ranksep=1")."""
    return "digraph {\n" + "".join(dot_lines(shown, opts, graph)) + "}\n"


def to_dot(root: Value, **options) -> str:
    """The DOT source of root's graph; needs no `dot` binary and is the same run to run."""
    opts = DrawOptions(**options)
    return dot_source(plan(root, opts), opts)


@contextmanager
def _dot_required() -> Iterator[None]:
    try:
        yield
    except graphviz.ExecutableNotFound as exc:
        raise DotNotFoundError(INSTALL_HINT) from exc


class _Digraph(graphviz.Digraph):
    """A Digraph whose pipe() and render() say how to install Graphviz if `dot` is missing."""

    def pipe(self, *args, **kwargs):
        with _dot_required():
            return super().pipe(*args, **kwargs)

    def render(self, *args, **kwargs):
        with _dot_required():
            return super().render(*args, **kwargs)


def draw_dot(root: Value, format: str = "svg", **options) -> graphviz.Digraph:
    """A new graphviz.Digraph of root's graph; Jupyter shows it inline as SVG.

    `format` is the Digraph's output format for .render()/.pipe(), as in micrograd's
    draw_dot(root, format="svg", rankdir="LR"). A graph made by nn modules is drawn one box
    per layer unless `collapse=` says otherwise (collapse=None draws every Value).
    """
    opts = DrawOptions(**options)
    return _Digraph(body=dot_lines(plan(root, opts), opts), format=format)


# ----------------------------------------------------------------------- render

_MAGIC = {"svg": b"<svg", "png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}


def run_dot(source: str, fmt: str = "svg", timeout: float = 60) -> bytes:
    """`dot -T<fmt>` on DOT source; it and any process it started are stopped after
    `timeout` seconds. Output that is not a drawing of that format is a GraphvizError."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    exe = shutil.which("dot")
    if exe is None:
        raise DotNotFoundError(INSTALL_HINT)
    posix = os.name == "posix"
    # In a session of its own, so a timeout stops dot's children too (they hold its pipes).
    proc = subprocess.Popen([exe, f"-T{fmt}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=posix)
    try:
        out, err = proc.communicate(source.encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        if posix:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.communicate()
        raise RenderTimeoutError(
            f"dot did not finish within timeout={timeout} s and was stopped; draw fewer "
            "nodes with collapse= or focus=, or pass a larger timeout") from None
    if proc.returncode != 0:
        message = " ".join(err.decode("utf-8", "replace").split())[:300]
        raise GraphvizError(f"dot failed with exit code {proc.returncode}: {message}")
    start = out.lstrip()[:4096] if fmt == "svg" else out[:len(_MAGIC[fmt])]
    if _MAGIC[fmt] not in start or (fmt == "svg" and not out.rstrip().endswith(b"</svg>")):
        raise GraphvizError(f"dot exited 0 but did not write {fmt.upper()} (it wrote "
                            f"{len(out):,} bytes starting {out[:40]!r}); check the Graphviz "
                            "installation (dot -V)")
    return out


def render(root: Value, path: str | Path, format: str = "svg", timeout: float = 60,
           **options) -> str:
    """Write root's graph to `path` as svg, png or pdf via `dot`, atomically; return the path."""
    return write_atomic(path, run_dot(to_dot(root, **options), format, timeout))


def to_svg(root: Value, timeout: float = 60, **options) -> str:
    """root's graph as SVG text, rendered by `dot`."""
    return run_dot(to_dot(root, **options), "svg", timeout).decode("utf-8")
