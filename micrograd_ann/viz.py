"""Draw computation graphs: DOT text (pure Python), graphviz Digraphs, files rendered by `dot`.

Naming contract, relied on by tools that edit the SVG (the backprop player, the CLI): the
k-th drawn Value in topological order is node `v{k}`, its op ellipse `v{k}_op`, the j-th
collapsed neuron/layer box `m{j}`; every node's `id` is its name. Edges are `e0, e1, ...`
in the order written: for each Value in topological order, its inputs in operand order, then
the edge from its op ellipse to it; an edge touching a box is written once. A value node's
label has a line "data <number>" and a line "grad <number>". An edge label (edge_labels=True)
is the edge's <text>, with the <polyline> tying it to the edge (decorate=true).
"""

from __future__ import annotations

import html
import math
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple

import graphviz

from .engine import OPS, Value, op_symbol, topological_order

INSTALL_HINT = ("Graphviz's `dot` executable is missing (needed to render; to_dot works "
                "without it). Install Graphviz: apt-get install graphviz (Debian/Ubuntu), "
                "brew install graphviz (macOS) or conda install graphviz.")
FORMATS = ("svg", "png", "pdf")


class DotNotFoundError(RuntimeError):
    """Rendering needs Graphviz's `dot` executable and it is not on PATH."""


class GraphTooLargeError(ValueError):
    """The graph has more nodes than max_nodes; dot could run for minutes on it."""


class RenderTimeoutError(RuntimeError):
    """`dot` did not finish within the timeout and was stopped."""


@dataclass(frozen=True)
class DrawOptions:
    """The keyword options every drawing function takes."""

    precision: int = 4  # significant digits of data, grad and edge labels
    style: str = "ops"  # "ops": op ellipses between values; "compact": op inside the node
    rankdir: str = "LR"  # or "TB"
    color_by: str | None = None  # "grad": shade fills by |grad| on a log scale
    edge_labels: bool = False  # label edges "upstream grad x local derivative = contribution"
    max_nodes: int = 500  # refuse bigger graphs rather than keep dot busy for minutes
    collapse: str | None = None  # "neuron" or "layer": one box per nn Neuron / Layer
    focus: Value | None = None  # draw only the Values within `depth` hops of this one
    depth: int = 2

    def __post_init__(self) -> None:
        choices = {"style": ("ops", "compact"), "rankdir": ("LR", "TB"),
                   "color_by": (None, "grad"), "collapse": (None, "neuron", "layer")}
        for field, allowed in choices.items():
            if getattr(self, field) not in allowed:
                raise ValueError(f"{field} must be one of {allowed}, got {getattr(self, field)!r}")
        for field, low in (("precision", 1), ("max_nodes", 1), ("depth", 0)):
            n = getattr(self, field)
            if isinstance(n, bool) or not isinstance(n, int) or n < low:
                raise ValueError(f"{field} must be an int >= {low}, got {n!r}")
        if self.focus is not None and not isinstance(self.focus, Value):
            raise TypeError(f"focus must be a Value, got {type(self.focus).__name__}")


class Plan(NamedTuple):
    """Which Values are shown and how: what viz draws, and what the player animates."""

    order: list[Value]  # every Value shown, drawn or inside a box, in topological order
    names: dict[Value, str]  # the DOT node showing each Value
    boxes: dict[str, tuple[str, list[Value]]]  # box name -> (module name, member Values)


# ------------------------------------------------------------------- which nodes


def _parameters_of(node: Value) -> list[Value]:
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


def _box_key(module: str, collapse: str) -> str:
    """The neuron's dotted name, or its layer's: the part before '.neurons.'."""
    if collapse == "neuron":
        return module
    head, sep, _ = ("." + module).rpartition(".neurons.")
    return head[1:] if sep else module


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


def plan(root: Value, opts: DrawOptions) -> Plan:
    """Decide which Values are drawn and under which DOT node names; check max_nodes."""
    if not isinstance(root, Value):
        raise TypeError(f"expected a Value to draw, got {type(root).__name__}")
    order = topological_order(root)
    if opts.focus is not None:
        order = _neighbourhood(order, opts.focus, opts.depth)
    key_of: dict[Value, str] = {}
    if opts.collapse:
        shown = set(order)
        for v in order:
            if v._module:
                key_of[v] = _box_key(v._module, opts.collapse)
                key_of.update((p, key_of[v]) for p in _parameters_of(v) if p in shown)
    names: dict[Value, str] = {}
    box_of_key: dict[str, str] = {}
    boxes: dict[str, tuple[str, list[Value]]] = {}
    drawn = 0
    ops = 0
    for v in order:
        key = key_of.get(v)
        if key is None:
            names[v] = f"v{drawn}"
            drawn += 1
            ops += bool(v.parents)
            continue
        if key not in box_of_key:
            box_of_key[key] = f"m{len(boxes)}"
            boxes[box_of_key[key]] = (key, [])
        names[v] = box_of_key[key]
        boxes[names[v]][1].append(v)
    total = drawn + len(boxes) + (ops if opts.style == "ops" else 0)
    if total > opts.max_nodes:
        raise GraphTooLargeError(
            f"the graph has {total} nodes to draw, more than max_nodes={opts.max_nodes}; draw "
            "less with collapse='neuron' or collapse='layer', or focus=value, depth=k "
            "(or raise max_nodes: dot can take minutes on thousands of nodes)")
    return Plan(order, names, boxes)


def dot_ids(root: Value, **options) -> dict[Value, str]:
    """For every Value in the (collapsed/focused) graph, the DOT node that displays it."""
    return plan(root, DrawOptions(**options)).names


# ------------------------------------------------------------------------ labels

_ROLE = {  # (fill, border): leaves, intermediate nodes, the root
    "leaf": ("#dbeafe", "#2563eb"),
    "node": ("#ffffff", "#6b7280"),
    "root": ("#dcfce7", "#16a34a"),
}
_BOX = ("#fef3c7", "#b45309")
_BAD = ("#fee2e2", "#dc2626")  # NaN or inf in data or grad
_DEAD = "#e5e7eb"  # a ReLU with output 0 passes no gradient back
_OP = 'shape=ellipse style=filled fillcolor="#f3f4f6" width=0.4 height=0.3 margin=0.03'


def _text(s: str) -> str:
    """s escaped for an HTML-like label; unprintable characters shown as escapes."""
    if not s.isprintable():
        s = "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)
    return html.escape(s, quote=True)


def _red_if(bad: bool, line: str) -> str:
    """The whole line in red when it shows a NaN or inf (one SVG text element either way)."""
    return f'<FONT COLOR="{_BAD[1]}">{line}</FONT>' if bad else line


def number(x: float, precision: int) -> str:
    """x with `precision` significant digits, as every label shows numbers."""
    return f"{x:.{precision}g}"


def edge_text(upstream: float, local: float, precision: int) -> str:
    """The chain rule on one edge: "upstream grad × local derivative = contribution"."""
    parts = (number(x, precision) for x in (upstream, local, upstream * local))
    return "{} \u00d7 {} = {}".format(*parts)


def _numbers(v: Value, opts: DrawOptions) -> list[str]:
    """The 'data <number>' and 'grad <number>' lines of a value's label."""
    p = opts.precision
    return [_red_if(not math.isfinite(v.data), f"data {number(v.data, p)}"),
            _red_if(not math.isfinite(v.grad), f"grad {number(v.grad, p)}")]


def _is_dead(v: Value) -> bool:
    """A ReLU whose output is 0: its local derivative is 0, so no gradient passes back."""
    return v.op is OPS["relu"] and v.data == 0.0


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


def _node(name: str, lines: list[str], fill: str, border: str, extra: str = "") -> str:
    label = "<BR/>".join(lines)
    return (f'\t{name} [id={name} label=<{label}> fillcolor="{fill}" color="{border}"'
            f"{extra}]\n")


def _value_node(v: Value, name: str, role: str, fill: str | None, opts: DrawOptions) -> str:
    lines = [f"<B>{_text(v.label)}</B>"] if v.label else []
    if opts.style == "compact" and v.op:
        lines.append(f"<I>{_text(op_symbol(v))}</I>")
    lines += _numbers(v, opts)
    extra = " penwidth=2" if role == "root" or v is opts.focus else ""
    if _is_dead(v):
        lines.append("<I>dead ReLU</I>")
        extra += ' style="rounded,filled,dashed"'
    fill = fill or (_DEAD if _is_dead(v) else _ROLE[role][0])
    border = _ROLE[role][1]
    if not (math.isfinite(v.data) and math.isfinite(v.grad)):
        fill, border = _BAD
        extra += " penwidth=2"
    return _node(name, lines, fill, border, extra)


def _box_node(name: str, module: str, members: list[Value], outputs: list[Value],
              is_root: bool, opts: DrawOptions) -> str:
    """A collapsed neuron or layer: its name, parameter count and outputs' data and grad."""
    params = sum(not v.parents for v in members)
    lines = [f"<B>{_text(module or 'module')}</B>", f"{params} params"]
    for v in outputs:  # one output: the value-node lines; several: one row per neuron
        shown = _numbers(v, opts) + (["<I>dead ReLU</I>"] if _is_dead(v) else [])
        if len(outputs) == 1:
            lines += shown
        else:
            lines.append(f"{_text(v._module.rpartition('.')[2])}: " + "  ".join(shown))
    fill, border = _BOX
    extra = ' shape=box3d style="filled"'
    if is_root:
        border = _ROLE["root"][1]
        extra += " penwidth=2"
    if any(not (math.isfinite(v.data) and math.isfinite(v.grad)) for v in members):
        fill, border = _BAD
    return _node(name, lines, fill, border, extra)


# -------------------------------------------------------------------------- DOT


def box_outputs(shown: Plan, root: Value) -> dict[str, list[Value]]:
    """Each box's Values that are used outside it (or are the root), else its last one."""
    used = {root}
    for v in shown.order:
        used.update(p for p in v.parents if p in shown.names and shown.names[p] != shown.names[v])
    return {name: [v for v in members if v in used and v.parents] or members[-1:]
            for name, (_, members) in shown.boxes.items()}


def _edge_label(v: Value, local: float, opts: DrawOptions) -> str:
    """The chain rule on an input's edge, tied to its edge by a line (decorate=true).

    NOTE: where several edges converge on one op, a bare label can sit nearer a neighbour's
    edge than its own; the underline and leader line Graphviz adds make the owner plain.
    """
    text = _text(edge_text(v.grad, local, opts.precision))
    return f" decorate=true label=<{_red_if(not math.isfinite(v.grad * local), text)}>"


def _dot_lines(root: Value, shown: Plan, opts: DrawOptions) -> list[str]:
    # NOTE: ordering=out keeps collapsed boxes in neuron order (0, 1, ..., 15) where dot
    # would otherwise reorder them to save a few edge crossings.
    ordering = " ordering=out" if opts.collapse else ""
    lines = [f"\tgraph [rankdir={opts.rankdir}{ordering}]\n",
             '\tnode [shape=box style="rounded,filled" fontname=Helvetica fontsize=11]\n',
             # fontcolor also colours the lines decorate=true draws under edge labels
             '\tedge [fontname=Helvetica fontsize=9 color="#6b7280" fontcolor="#374151"]\n']
    fills = _grad_fills(shown.order) if opts.color_by == "grad" else {}
    outputs = box_outputs(shown, root)
    boxed_edges: set[tuple[str, str]] = set()
    edges = 0
    for v in shown.order:
        name = shown.names[v]
        if name in shown.boxes:
            target = name
            module, members = shown.boxes[name]
            if members[0] is v:
                is_root = root in outputs[name]
                lines.append(_box_node(name, module, members, outputs[name], is_root, opts))
        else:
            role = "root" if v is root else "node" if v.parents else "leaf"
            lines.append(_value_node(v, name, role, fills.get(v), opts))
            target = f"{name}_op" if opts.style == "ops" and v.parents else name
            if target != name:
                lines.append(f"\t{target} [id={target} label=<{_text(op_symbol(v))}> {_OP}]\n")
        for parent, local in zip(v.parents, v.partials):
            source = shown.names.get(parent)
            if source is None or source == name:  # outside the focus, or inside one box
                continue
            label = ""
            if source in shown.boxes or target in shown.boxes:
                if (source, target) in boxed_edges:
                    continue
                boxed_edges.add((source, target))
            elif opts.edge_labels:
                label = _edge_label(v, local, opts)
            lines.append(f"\t{source} -> {target} [id=e{edges}{label}]\n")
            edges += 1
        if target != name:
            lines.append(f"\t{target} -> {name} [id=e{edges}]\n")
            edges += 1
    return lines


def to_dot(root: Value, **options) -> str:
    """The DOT source of root's graph; needs no `dot` binary and is the same run to run."""
    opts = DrawOptions(**options)
    return "digraph {\n" + "".join(_dot_lines(root, plan(root, opts), opts)) + "}\n"


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
    draw_dot(root, format="svg", rankdir="LR").
    """
    opts = DrawOptions(**options)
    return _Digraph(body=_dot_lines(root, plan(root, opts), opts), format=format)


# ----------------------------------------------------------------------- render


def _run_dot(source: str, fmt: str, timeout: float) -> bytes:
    """`dot -T<fmt>` on source, stopped after `timeout` seconds."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    exe = shutil.which("dot")
    if exe is None:
        raise DotNotFoundError(INSTALL_HINT)
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=source.encode("utf-8"),
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RenderTimeoutError(
            f"dot did not finish within timeout={timeout} s and was stopped; draw fewer "
            "nodes with collapse= or focus=, or pass a larger timeout") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"dot failed with exit code {done.returncode}: {message}")
    return done.stdout


def render(root: Value, path: str | Path, format: str = "svg", timeout: float = 60,
           **options) -> str:
    """Write root's graph to `path` as svg, png or pdf via `dot`; return the path."""
    data = _run_dot(to_dot(root, **options), format, timeout)
    Path(path).write_bytes(data)
    return str(path)


def to_svg(root: Value, timeout: float = 60, **options) -> str:
    """root's graph as SVG text, rendered by `dot`."""
    return _run_dot(to_dot(root, **options), "svg", timeout).decode("utf-8")
