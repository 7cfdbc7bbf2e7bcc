"""The backprop player: one self-contained HTML page that steps through backward().

Graphviz lays the graph out once (viz.to_svg). Everything a step changes -- the node being
processed, every grad text, the labels on its incoming edges -- is computed here from
trace.backward_steps() and embedded as JSON, so the page's script only switches classes
and text: steps are instant even for large graphs. Script, style and SVG are inline, so
the page works offline and opens straight from disk.

Making a page runs the real backward pass, then puts every gradient back as it was:
building a player never changes your graph (unlike explain(), which accumulates).
"""

from __future__ import annotations

import html
import json
import re
from functools import partial
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Callable, NamedTuple

from . import trace, viz
from .engine import Value, preserved_grads
from .trace import formula, format_number

# Graphviz writes each edge as <g id="e3" class="edge"><title>tail&#45;&gt;head</title>.
_EDGE = re.compile(r'<g\b[^>]*\bid="(e\d+)"[^>]*>\s*<title>([^<]*)</title>')


def to_html(root: Value, path: str | PathLike | None = None, *, grad: float = 1.0,
            forward: bool = False, title: str | None = None, **viz_options) -> str:
    """The player page for the graph ending at `root`; also written to `path` when given.

    `viz_options` are viz.to_svg's (collapse, focus, depth, max_nodes, precision, rankdir,
    timeout, ...); edge_labels defaults to True here, so Graphviz leaves room for the labels
    each step writes. `grad` seeds backward like root.backward(grad); `forward=True` starts
    with the forward pass (a checkbox on the page toggles it).
    """
    if not isinstance(root, Value):
        raise TypeError(f"to_html needs a Value, got {type(root).__name__}")
    viz_options.setdefault("edge_labels", True)
    grad = float(grad)
    # Drawn with the final grads, so Graphviz sizes each label for numbers of that width.
    steps, svg = _run_backward(root, grad, lambda: viz.to_svg(root, **viz_options))
    viz_options.pop("timeout", None)  # only to_svg runs dot
    opts = viz.DrawOptions(**viz_options)
    layout = _layout(root, viz.plan(root, opts), svg)
    names = trace.display_names(root)  # one topological walk for every label on the page
    data = _timeline(root, grad, steps, layout, opts.precision, names)
    data["startForward"] = bool(forward)
    if title is None:
        title = f"backprop player: {names[root]}"
    page = _page(title, svg, data)
    if path is not None:
        Path(path).write_text(page, encoding="utf-8")
    return page


def render_html(root: Value, path: str | PathLike, **options) -> str:
    """Write the player page for `root` to `path` and return the path, like viz.render."""
    to_html(root, path, **options)
    return str(path)


class Player:
    """A player page that shows itself inline in Jupyter (an iframe holding the page).

    `Player(root, **options)` takes to_html's options; `.html` is the page, `save(path)`
    writes it. The iframe is sandboxed: the page's script runs, nothing else is allowed.
    """

    def __init__(self, root: Value, *, height: int = 640, **options):
        self.html = to_html(root, **options)
        self.height = height

    def save(self, path: str | PathLike) -> str:
        """Write the page to `path` and return the path."""
        Path(path).write_text(self.html, encoding="utf-8")
        return str(path)

    def _repr_html_(self) -> str:
        page = html.escape(self.html, quote=True)
        return (f'<iframe srcdoc="{page}" sandbox="allow-scripts" '
                f'style="width: 100%; height: {int(self.height)}px; border: 1px solid #ddd">'
                "</iframe>")


# -------------------------------------------------------------------- step data


class _Layout(NamedTuple):
    """What the page can change: drawn nodes, their grad texts, edges."""

    units: list[str]  # DOT nodes that show Values: value nodes and collapsed boxes
    slots: list[tuple[int, Value]]  # (unit index, Value) per grad text, in label order
    names: dict[Value, str]  # the unit showing each drawn Value (viz.dot_ids)
    edges: list[tuple[str, str, str]]  # (edge id, tail node, head node) as in the SVG


def _layout(root: Value, drawn: viz.Plan, svg: str) -> _Layout:
    """Units and grad slots as viz drew them; a box shows the grads of its outputs."""
    outputs = viz.box_outputs(drawn, root)
    units: list[str] = []
    slots: list[tuple[int, Value]] = []
    for value in drawn.order:
        name = drawn.names[value]
        if name in drawn.boxes:
            if value is not drawn.boxes[name][1][0]:
                continue  # a box is one unit, met at its first member
            shown = outputs[name]
        else:
            shown = [value]
        slots.extend((len(units), v) for v in shown)
        units.append(name)
    edges = [(eid, *_edge_ends(title)) for eid, title in _EDGE.findall(svg)]
    return _Layout(units, slots, drawn.names, edges)


def _edge_ends(title: str) -> tuple[str, str]:
    """'v1&#45;&gt;v2_op' -> ('v1', 'v2_op'): the DOT nodes an edge joins."""
    tail, head = html.unescape(title).split("->")
    return tail.split(":")[0], head.split(":")[0]


def _run_backward(root: Value, grad: float,
                  when_done: Callable[[], str]) -> tuple[list[trace.Step], str]:
    """Every step of backward(grad) from root, and when_done() called right after the last.

    Then every gradient is put back as it was.
    """
    with preserved_grads(root):
        steps = list(trace.backward_steps(root, grad))
        return steps, when_done()


def _timeline(root: Value, grad: float, steps: list[trace.Step], layout: _Layout,
              precision: int, names: dict[Value, str]) -> dict:
    """The JSON the page plays: units, grad slots, edges, backward and forward steps."""
    unit_index = {unit: u for u, unit in enumerate(layout.units)}
    slot_of = {value: i for i, (_, value) in enumerate(layout.slots)}
    edge_index: dict[tuple[str, str], list[int]] = {}
    for e, (_, tail, head) in enumerate(layout.edges):
        edge_index.setdefault((tail, head), []).append(e)

    number = partial(viz.number, precision=precision)
    # The state after seeding, as engine._backward_walk leaves it before the first step:
    # intermediate grads restart at 0, leaves keep theirs, the root gets the seed added.
    init = [number(0.0 if value.parents else value.grad) for _, value in layout.slots]
    seed = grad + (0.0 if root.parents else root.grad)
    never = len(steps) + 1
    reached = [never] * len(layout.units)
    if root in slot_of:
        init[slot_of[root]] = number(seed)
        reached[layout.slots[slot_of[root]][0]] = 0
    played = [_seed_step(root, names[root], seed, len(steps),
                         unit_index.get(layout.names.get(root), -1))]
    for step in steps:
        head = layout.names.get(step.node)
        played.append({
            "u": unit_index.get(head, -1),
            "text": step.describe(),
            "edges": _edge_labels(step, layout.names, edge_index, precision),
            "grads": [[slot_of[u.node], number(u.grad)] for u in step.inputs if u.node in slot_of],
        })
    edge_step = [never] * len(layout.edges)
    for s in reversed(range(1, len(played))):  # the first step touching each unit and edge
        for slot, _ in played[s]["grads"]:
            reached[layout.slots[slot][0]] = s
        for e, _ in played[s]["edges"]:
            edge_step[e] = s
    for e, (_, tail, head) in enumerate(layout.edges):
        if tail == head + "_op":  # op ellipse -> its value: carries the grad once it arrives
            edge_step[e] = reached[unit_index[head]]
    return {
        "units": layout.units,
        "slots": [unit for unit, _ in layout.slots],
        "reached": reached,
        "before": [number(value.grad) for _, value in layout.slots],  # for the forward pass
        "init": init,
        "steps": played,
        **_forward_data(layout, unit_index, edge_step, names),
    }


def _edge_labels(step: trace.Step, names: dict[Value, str],
                 edge_index: dict[tuple[str, str], list[int]], precision: int) -> list[list]:
    """[edge, label] for each drawn edge the step sends gradient along.

    Labels are viz's edge labels (viz.edge_text), the chain rule as explain() states it;
    the k-th `a` of a*a goes on the k-th edge when the edge is drawn twice.
    """
    head = names.get(step.node)
    labels: dict[int, list[str]] = {}
    seen: dict[tuple[str, str], int] = {}
    for update in step.inputs:
        key = _edge_key(edge_index, names.get(update.node), head)
        if key is None:
            continue
        candidates = edge_index[key]
        e = candidates[min(seen.get(key, 0), len(candidates) - 1)]
        seen[key] = seen.get(key, 0) + 1
        labels.setdefault(e, []).append(viz.edge_text(step.upstream, update.local, precision))
    return [[e, "; ".join(parts)] for e, parts in labels.items()]


def _edge_key(edge_index: dict, tail: str | None, head: str | None) -> tuple[str, str] | None:
    """The drawn edge along which head's step sends gradient to tail, if there is one."""
    if tail is None or head is None or tail == head:
        return None  # outside the focus, or both inside one box
    for key in ((tail, head + "_op"), (tail, head)):
        if key in edge_index:
            return key
    return None


def _seed_step(root: Value, name: str, seed: float, total: int, unit: int) -> dict:
    """Step 0: the root (shown as `name`) seeded, nothing propagated yet."""
    text = (f"step 0/{total}  seed {name}.grad = {format_number(seed)}\n"
            f"    backward pass from {name} = {format_number(root.data)}: {total} steps")
    return {"u": unit, "text": text, "edges": [], "grads": []}


def _forward_data(layout: _Layout, unit_index: dict[str, int], edge_step: list[int],
                  labels: dict[Value, str]) -> dict:
    """The forward pass: units appear in the order their (first) shown Value was made."""
    first: dict[int, Value] = {}
    for unit, value in layout.slots:
        first.setdefault(unit, value)
    order = sorted(first, key=lambda unit: first[unit]._id)
    fwd = [0] * len(layout.units)
    for f, unit in enumerate(order):
        fwd[unit] = f
    forward = []
    for f, unit in enumerate(order):
        value = first[unit]
        where = "" if layout.units[unit].startswith("v") else f"[{value._module}] "
        if value.parents:
            made_as = formula(value, [labels[p] for p in value.parents])
            text = f"{labels[value]} = {made_as} = {format_number(value.data)}"
        else:
            text = f"{labels[value]} = {format_number(value.data)}   (leaf)"
        forward.append({"u": unit, "text": f"forward {f + 1}/{len(order)}  {where}{text}"})
    edges = []
    for (eid, tail, head), step in zip(layout.edges, edge_step):
        ends = [fwd[unit_index[name.removesuffix("_op")]] for name in (tail, head)]
        edges.append([eid, step, max(ends)])
    return {"fwd": fwd, "forward": forward, "edges": edges}


# ------------------------------------------------------------------------- page


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("player_assets", name).read_text("utf-8")


def _script_json(data: dict) -> str:
    """JSON that is safe inside <script>: no '</', '<!--' or U+2028/9 can end or break it."""
    text = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    # ensure_ascii already writes U+2028/U+2029 as \\u escapes; these three stop the HTML
    # parser seeing a tag or comment start inside the script.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page(title: str, svg: str, data: dict) -> str:
    svg = svg[svg.index("<svg"):]  # drop the XML declaration and doctype
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>\n{_asset('player.css')}</style>",
        "</head>",
        "<body>",
        _CONTROLS,
        '<div id="mg-main">',
        f'<div id="mg-graph">\n{svg}</div>',
        '<aside id="mg-panel"><pre id="mg-text"></pre>',
        _LEGEND,
        "</aside>",
        "</div>",
        f'<script type="application/json" id="mg-data">{_script_json(data)}</script>',
        f"<script>\n{_asset('player.js')}</script>",
        "</body>",
        "</html>",
    ])


_CONTROLS = """<div id="mg-controls">
<button id="mg-first" title="first step (Home)">|&#x25C0;</button>
<button id="mg-prev" title="previous step (left arrow)">&#x25C0;</button>
<button id="mg-play" title="play (space)">play</button>
<button id="mg-next" title="next step (right arrow)">&#x25B6;</button>
<button id="mg-last" title="last step (End)">&#x25B6;|</button>
<input id="mg-slider" type="range" min="0" max="0" value="0" aria-label="step">
<span id="mg-position"></span>
<label>speed <select id="mg-speed">
<option value="1">1/s</option><option value="2" selected>2/s</option>
<option value="5">5/s</option><option value="10">10/s</option><option value="30">30/s</option>
</select></label>
<label><input id="mg-forward" type="checkbox"> forward pass first</label>
<label><input id="mg-fit" type="checkbox"> fit to window</label>
</div>"""

_LEGEND = """<p id="mg-legend">
<span style="outline: 2px solid #d62728">red</span>: the node whose rule runs now, and the edges
its gradient flows back along (local derivative, amount added);
<span style="color: #1f5fbf; font-weight: bold">blue</span> grads were just updated;
faded nodes have no gradient from this pass yet.
Keys: &larr; &rarr; step, Home/End, space plays.</p>"""
