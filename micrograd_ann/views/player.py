"""The backprop player: one self-contained HTML page that steps through backward().

A model's loss is shown at a level that stays readable (semantic zoom): one box per layer
or per neuron, or every Value; clicking a neuron opens its own op-level graph, and "up"
comes back. Graphviz lays each graph out once, from viz's plan, without edge labels. What
a step changes -- the node whose rule runs, the grads it updates, the chain rule on its
edges -- is computed here from trace.backward_steps() and embedded as JSON; the page's
script (views/assets/) only switches classes and text, writes the current step's edge
labels, and pans and zooms so that the whole step is in view. Script, style and SVG are
inline, so the page works offline and opens straight from disk.

Making a page runs the real backward pass, then puts every gradient back as it was:
building a player never changes your graph (unlike explain(), which accumulates).
"""

from __future__ import annotations

import dataclasses
import html
import re
from functools import partial
from os import PathLike
from string import Template
from typing import NamedTuple

from .. import formatting, markup, trace
from . import graph
from .page import JUPYTER_HEIGHT, asset, iframe, script_json
from ..checks import check_int, check_number, check_str
from ..engine import OPS, Value, topological_order
from ..files import write_atomic
from ..trace import formula, preserved_grads

VIEWS = ("auto", "network", "layer", "neuron", "ops")
_COLLAPSE = {"network": "layer", "layer": "layer", "neuron": "neuron", "ops": None}
_LEVEL_OF = {None: "ops", "neuron": "neuron", "layer": "layer"}  # viz's collapse= spelling
# Coarser levels a step is shown at when it does not fit the pane readably at the level
# asked for (a neuron's dot step updates all its inputs: 16 boxes do not fit, one does).
_COARSER = {"ops": ("neuron", "layer"), "neuron": ("layer",), "layer": (), "network": ()}
# Room between ranks for the current step's edge labels, which the layout does not reserve:
# a label in two or three lines fits between ranks drawn left to right, a few rows of
# one-line labels between ranks drawn top down. More room would also stretch the edges
# that span ranks (a loss's short path beside its long one) beyond a pane.
_SPACING = {"LR": "ranksep=1.3", "TB": "ranksep=0.7"}


def to_html(root: Value, path: str | PathLike | None = None, *, view: str = "auto",
            grad: float = 1.0, forward: bool = False, title: str | None = None,
            **viz_options) -> str:
    """The player page for the graph ending at `root`; also written to `path` when given.

    `view` is the level the page opens at: "ops" (every Value), "neuron" or "layer" (a box
    per nn Neuron or Layer, each step one node's rule), "network" (a box per layer, each
    step a whole layer receiving its gradient) or "auto": "layer" for a graph made by nn
    modules, else "ops". A neuron, drawn as a box or as a box's row, opens its own op-level
    graph when clicked. `viz_options` are graph.to_svg's (precision, rankdir, focus, depth,
    max_nodes, timeout, ...; collapse= is another spelling of view=); edge labels are the
    page's own, shown for the current step. `grad` seeds backward like root.backward(grad);
    `forward=True` starts with the forward pass (a checkbox on the page toggles it).
    """
    if not isinstance(root, Value):
        raise TypeError(f"to_html needs a Value, got {type(root).__name__}")
    level = _level(root, view, viz_options.pop("collapse", "auto"), viz_options.get("focus"))
    timeout = viz_options.pop("timeout", 60)
    viz_options.pop("edge_labels", None)  # drawn by the page, so they never size the layout
    viz_options.setdefault("style", "compact")  # an op in its node: half the ranks
    opts = graph.DrawOptions(**viz_options, collapse=_COLLAPSE[level])
    grad = check_number("grad", grad, finite=True)
    names = _names(root)
    before = {value: value.grad for value in names}
    with preserved_grads(root):
        steps = list(trace.backward_steps(root, grad))
        views, links = _views(root, names, level, opts)
        shared = _shared_layouts(views)
        # Drawn with the final grads, so boxes are sized for numbers of that width.
        svgs = {i: graph.run_dot(graph.dot_source(v.plan, v.opts, _SPACING[v.opts.rankdir]), "svg",
                               timeout).decode("utf-8")
                for i, v in enumerate(views) if shared[i] == i}
    data = _timeline(root, grad, before, steps, names, opts.precision)
    data["views"] = [_view_data(v, links[i], shared[i], i, steps, names, opts.precision)
                     for i, v in enumerate(views)]
    data["views"][0].update(_forward_data(views[0].plan, names))
    data["views"][0]["coarser"] = [i for i, v in enumerate(views)
                                   if i and v.parent is None]
    data["startForward"] = bool(forward)
    page = _page(title or f"backprop player: {names[root]}", svgs, data)
    if path is not None:
        write_atomic(path, page)
    return page


def render_html(root: Value, path: str | PathLike, **options) -> str:
    """Write the player page for `root` to `path` and return the path, like graph.render."""
    to_html(root, path, **options)
    return str(path)


class Player:
    """A player page that shows itself inline in Jupyter (an iframe holding the page).

    `Player(root, height=500, **options)` takes to_html's options; `.html` is the page,
    `save(path)` writes it. The iframe is sandboxed: the page's script runs, nothing else
    is allowed. `height` (px) fits a notebook on a 1366x768 screen; raise it on a taller
    one. A notebook that is not trusted shows, instead of the player, a note saying how to
    trust it.
    """

    def __init__(self, root: Value, *, height: int = JUPYTER_HEIGHT, **options):
        self.height = check_int("height", height, 200)
        self.html = to_html(root, **options)

    def save(self, path: str | PathLike) -> str:
        """Write the page to `path` and return the path."""
        return write_atomic(path, self.html)

    def _repr_html_(self) -> str:
        picture = re.search(r'<template id="mg-view-0">(<svg.*?</svg>)\s*</template>',
                            self.html, re.S)
        return iframe(self.html, self.height, "backprop player",
                      picture.group(1) if picture else None)


def _level(root: Value, view: str, collapse: object, focus: object) -> str:
    """The level the page opens at: `view`, or the one collapse= names, "auto" resolved."""
    if check_str("view", view) not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    if collapse != "auto":
        if collapse not in _LEVEL_OF:
            raise ValueError(f"collapse must be one of {tuple(_LEVEL_OF)}, got {collapse!r}")
        if view not in ("auto", _LEVEL_OF[collapse]):
            raise ValueError(f"view={view!r} and collapse={collapse!r} disagree; pass one")
        return _LEVEL_OF[collapse]
    if view != "auto":
        return view
    return "layer" if focus is None and any(v.module for v in topological_order(root)) \
        else "ops"


# ------------------------------------------------------------------------ names


def _names(root: Value) -> dict[Value, str]:
    """Every Value's name as the page shows it, in topological order.

    A neuron's parameters inside it ('layers.0.neurons.3.w12': the box shows the neuron,
    its own graph the weight 'w12'); then labels ('x3', 'loss'); then, for nn nodes, the
    names the boxes show: a neuron's output is the neuron ('layers.0.neurons.3'), its
    inner nodes are named inside it ('layers.0.neurons.3.dot'); else trace's names
    ('add#7').
    """
    plain = trace.display_names(root)
    owner: dict[Value, str] = {}
    outputs = {root}
    inner: dict[tuple[str, str], int] = {}
    for v in plain:
        if v.module:
            owner.update((p, v.module) for p in graph.parameters_of(v))
            key = (v.module, v.op.name)
            inner[key] = inner.get(key, 0) + 1
        outputs.update(p for p in v.parents if p.module and p.module != v.module)
    names = {}
    for v, name in plain.items():
        if v in owner:
            name = f"{owner[v]}.{name}"
        elif v.module and not v.label:
            unique = inner[(v.module, v.op.name)] == 1
            name = v.module if v in outputs else f"{v.module}.{v.op.name if unique else name}"
        names[v] = name
    return names


def _renamed(step: trace.Step, names: dict[Value, str]) -> trace.Step:
    """The step with the page's names, so its description matches the drawing."""
    inputs = tuple(u._replace(name=names[u.node]) for u in step.inputs)
    return dataclasses.replace(step, name=names[step.node], inputs=inputs)


# ------------------------------------------------------------------------ views


class _View(NamedTuple):
    """One graph the page can show."""

    title: str  # the root's name, or the neuron's
    level: str  # "network", "layer", "neuron" or "ops"
    parent: int | None  # the view one level up
    plan: graph.Plan
    opts: graph.DrawOptions
    own: frozenset[Value] | None  # the Values whose steps it stops at; None: every step


class _Link(NamedTuple):
    """A click that opens a view one level down: on a unit, or on one of its rows."""

    unit: str
    row: Value | None
    view: int


def _views(root: Value, names: dict[Value, str], level: str,
           opts: graph.DrawOptions) -> tuple[list[_View], list[list[_Link]]]:
    """The page's views -- the graph at `level`, the same graph at the coarser levels a
    step too large to read falls back to, then one op-level view per neuron drawn as a box
    or a box's row in them -- and, for each view, its links to the views below."""
    tops = [level]
    if any(v.module for v in topological_order(root)) and opts.focus is None:
        tops += _COARSER[level]
    views: list[_View] = []
    links: list[list[_Link]] = []
    for at in tops:
        views.append(_View(names[root], at, None, _top_plan(root, names, opts, at), opts, None))
        links.append([])
    neuron_opts = dataclasses.replace(opts, collapse=None, focus=None, rankdir="TB")
    opened: dict[str, int | None] = {}

    def neuron_view(module: str, members: list[Value]) -> int | None:
        if module not in opened:
            sub = _neuron_plan(members, names, neuron_opts)
            opened[module] = None if sub is None else len(views)
            if sub is not None:
                views.append(_View(module, "ops", 0, sub, neuron_opts, frozenset(members)))
                links.append([])
        return opened[module]

    for top in range(len(tops)):
        shown = views[top].plan
        rows = graph.box_rows(shown)
        for name, box in shown.boxes.items():
            if box.kind != "module":
                continue
            by_neuron = _by_neuron(box.members)
            # A box of one neuron opens it; a layer's box opens the neuron of each row.
            for row in (rows[name][:graph.MAX_ROWS] if len(by_neuron) > 1 else [None]):
                module = next(iter(by_neuron)) if row is None else row.module
                child = neuron_view(module, by_neuron.get(module, []))
                if child is not None:
                    links[top].append(_Link(name, row, child))
    return views, links


def _top_plan(root: Value, names: dict[Value, str], opts: graph.DrawOptions,
              level: str) -> graph.Plan:
    """The whole graph at `level`, as viz plans it, with runs of like nodes in boxes
    (_parallel_groups) and each unlabelled Value titled as the side panel names it."""
    opts = dataclasses.replace(opts, collapse=_COLLAPSE[level])
    shown = graph.plan(root, opts)  # checks max_nodes
    if opts.focus is None:
        groups = graph.module_groups(shown.order, opts.collapse) if opts.collapse else {}
        groups.update(_parallel_groups(shown.order, groups, names))
        shown = graph.grouped_plan(root, shown.order, groups, opts)
    return shown._replace(titles={v: names[v] for v in shown.order if not v.label})


def _parallel_groups(order: list[Value], groups: dict[Value, tuple[str, str]],
                     names: dict[Value, str]) -> dict[Value, tuple[str, str]]:
    """Boxes for like nodes read side by side: more than graph.GROUP_ABOVE inputs of one
    node that share its op and are used only there (the ten exp(score_k + c) a softmax's
    sum reads), then, position by position, the inputs they alone use (the ten
    score_k + c, their constants). A step on the sum then updates the rows of one box,
    where ten nodes would not fit a pane."""
    uses: dict[Value, int] = {}
    for v in order:
        for p in v.parents:
            uses[p] = uses.get(p, 0) + 1
    found: dict[Value, tuple[str, str]] = {}

    def free(column: list[Value]) -> bool:
        return (len(set(column)) == len(column)
                and all(uses.get(v) == 1 and not v.module and v not in groups
                        and v not in found for v in column)
                and (len({v.op for v in column}) == 1 or not any(v.parents for v in column)))

    titles: set[str] = set()

    def group(column: list[Value]) -> None:
        what = column[0].op.name if column[0].op else column[0].label or "leaf"
        title = f"{what} \u00d7{len(column)}"
        while title in titles:
            title += "'"
        titles.add(title)
        found.update((c, (title, "values")) for c in column)

    for v in reversed(order):
        column = list(dict.fromkeys(v.parents))
        if len(column) <= graph.GROUP_ABOVE or column[0].op is None or not free(column):
            continue
        todo = [column]
        while todo:
            column = todo.pop()
            group(column)
            arity = {len(c.parents) for c in column}
            if len(arity) == 1:
                behind = ([c.parents[j] for c in column] for j in range(arity.pop()))
                todo += [inputs for inputs in behind if free(inputs)]
    return found


def _by_neuron(members: list[Value]) -> dict[str, list[Value]]:
    """A box's Values grouped by the neuron that made them (parameters go with theirs)."""
    owner = {p: v.module for v in members if v.module for p in graph.parameters_of(v)}
    groups: dict[str, list[Value]] = {}
    for v in members:
        module = v.module or owner.get(v)
        if module:
            groups.setdefault(module, []).append(v)
    return groups


def _weights(members: list[Value]) -> list[Value]:
    """The weights among a neuron's parameters: a dot's first half, a product's operand 0."""
    found = []
    for v in members:
        if v.op is OPS["dot"]:
            found += v.parents[: len(v.parents) // 2]
        elif v.op is OPS["mul"]:
            found += v.parents[:1]
    return [w for w in found if not w.parents]


def _neuron_plan(members: list[Value], names: dict[Value, str],
                 opts: graph.DrawOptions) -> graph.Plan | None:
    """One neuron's op-level graph: its nodes and parameters, and the Values it reads.

    More than graph.GROUP_ABOVE weights are drawn as one box, and so are more inputs (one
    box per layer they come from). None when it would exceed max_nodes.
    """
    if not members:
        return None
    inside = set(members)
    outside = list(dict.fromkeys(p for v in members for p in v.parents if p not in inside))
    order = sorted([*outside, *members], key=lambda v: v.id)  # inputs are made first
    groups: dict[Value, tuple[str, str]] = {}
    weights = _weights(members)
    if len(weights) > graph.GROUP_ABOVE:
        groups.update((w, ("weights", "weights")) for w in weights)
    if len(outside) > graph.GROUP_ABOVE:
        for p in outside:
            layer = graph.layer_of(p.module)
            groups[p] = (layer, "outputs") if layer else ("inputs", "inputs")
    titles = {v: names[v] for v in members if v.parents}  # as the side panel names them
    shown = graph.grouped_plan(max(members, key=lambda v: v.id), order, groups, opts, titles)
    return shown if shown.size <= opts.max_nodes else None


def _shared_layouts(views: list[_View]) -> list[int]:
    """For each view, the view whose SVG it shows with its own numbers and labels.

    Neurons of one layer have graphs of the same shape, so one layout serves them all
    (graph.layout_key): the one with the longest numbers, so the others' fit in its boxes.
    """
    def width(view: _View) -> int:
        return sum(len(formatting.number(x, view.opts.precision))
                   for v in view.plan.order for x in (v.data, v.grad))

    alike: dict[tuple, list[int]] = {}
    for i, view in enumerate(views):
        key = (i,) if view.parent is None else graph.layout_key(view.plan, view.opts)
        alike.setdefault(key, []).append(i)
    shared = list(range(len(views)))
    for group in alike.values():
        widest = max(group, key=lambda i: width(views[i]))
        for i in group:
            shared[i] = widest
    return shared


# ----------------------------------------------------------------- step data


def _timeline(root: Value, grad: float, before: dict[Value, float],
              steps: list[trace.Step], names: dict[Value, str], precision: int) -> dict:
    """What every view shares: grads before the pass and after seeding, and each step's
    text and the grads it sets, by Value index (topological order)."""
    index = {value: i for i, value in enumerate(names)}
    number = partial(formatting.number, digits=precision)
    # The state after seeding, as engine._backward_walk leaves it before the first step:
    # intermediate grads restart at 0, leaves keep theirs, the root gets the seed added.
    seed = grad + (0.0 if root.parents else before[root])
    init = [number(0.0 if v.parents else before[v]) for v in names]
    init[index[root]] = number(seed)
    text = (f"step 0/{len(steps)}  seed {names[root]}.grad = {formatting.number(seed)}\n"
            f"    backward pass from {names[root]} = {formatting.number(root.data)}: "
            f"{len(steps)} step{'' if len(steps) == 1 else 's'}")
    played = [{"node": index[root], "text": text, "grads": []}]
    for step in steps:
        played.append({
            "node": index[step.node],
            "text": _renamed(step, names).describe(),
            "grads": [[index[u.node], number(u.grad)] for u in step.inputs],
        })
    return {"data": [number(v.data) for v in names], "before": [number(before[v]) for v in names],
            "init": init, "steps": played}


def _view_data(view: _View, links: list[_Link], layout: int, i: int,
               steps: list[trace.Step], names: dict[Value, str], precision: int) -> dict:
    """One view's drawing as data: its units (DOT nodes showing Values), grad slots, edges,
    the steps it stops at with the labels of their edges, its links down, and the view
    whose SVG it shows (`layout`; another's: its own labels then replace that one's)."""
    shown = view.plan
    index = {value: k for k, value in enumerate(names)}
    rows = graph.box_rows(shown)
    units: list[str] = []
    slots: list[list[int]] = []
    fixed: list[int] = []  # slots in a box's rows: left where Graphviz placed them
    # (box, neuron or Value) -> the slot of the row showing it
    row_of: dict[tuple[int, str | Value], int] = {}
    for value in shown.order:
        name = shown.names[value]
        if name in units:
            continue
        listed = rows.get(name, [value])[:graph.MAX_ROWS]
        if name in shown.boxes and len(listed) > 1:
            fixed += range(len(slots), len(slots) + len(listed))
            row_of.update(((len(units), v.module or v), len(slots) + k)
                          for k, v in enumerate(listed))
        slots += [[len(units), index[v]] for v in listed]
        units.append(name)
    unit_of = {name: u for u, name in enumerate(units)}
    stops = _stops(view, steps, index, _edge_labels(shown, precision), row_of)
    slot_of = {(unit, value): k for k, (unit, value) in enumerate(slots)}
    return {
        "title": view.title, "level": view.level, "parent": view.parent,
        "rankdir": view.opts.rankdir,
        "units": units, "slots": slots, "fixed": fixed,
        "shown": [[index[v], unit_of[shown.names[v]]] for v in shown.order],
        "edges": [[e.id, e.tail] for e in shown.edges],
        "opEdges": [[k, unit_of[e.head]] for k, e in enumerate(shown.edges)
                    if e.tail == shown.targets[e.node] != shown.names[e.node]],
        "stops": stops,
        "intro": _intro(view, stops, len(steps)),
        "links": [[unit_of[link.unit],
                   -1 if link.row is None else slot_of[(unit_of[link.unit], index[link.row])],
                   link.view] for link in links],
        "template": f"mg-view-{layout}",
        "labels": [] if layout == i else [
            [unit_of[shown.names[v]], markup.printable(v.label or shown.titles[v])]
            for v in shown.order
            if (v.label or v in shown.titles) and shown.names[v] not in shown.boxes],
    }


def _edge_labels(shown: graph.Plan, precision: int):
    """A function from a run of steps to [[edge, label], ...] for the edges they send
    gradient along: the chain rule for one input, a count for many along one edge."""
    edge_index: dict[tuple[str, str], list[int]] = {}
    for k, edge in enumerate(shown.edges):
        edge_index.setdefault((edge.tail, edge.head), []).append(k)
    number = partial(formatting.number, digits=precision)

    def labels(run: list[trace.Step]) -> list[list]:
        parts: dict[int, list[tuple[float, float]]] = {}
        for step in run:
            head = shown.targets.get(step.node)
            seen: dict[tuple[str, str], int] = {}
            for update in step.inputs:
                key = (shown.names.get(update.node), head)
                if key not in edge_index:
                    continue  # outside this view, or both ends inside one box
                candidates = edge_index[key]  # a*a: the k-th `a` on the k-th edge
                e = candidates[min(seen.get(key, 0), len(candidates) - 1)]
                seen[key] = seen.get(key, 0) + 1
                parts.setdefault(e, []).append((step.upstream, update.local))
        found = []
        for e, chain in parts.items():
            if len(chain) == 1:
                found.append([e, formatting.edge_text(*chain[0], precision)])
            elif len({upstream for upstream, _ in chain}) == 1:
                found.append([e, f"{number(chain[0][0])} \u00d7 local \u2192 {len(chain)} values"])
            else:
                found.append([e, f"{len(chain)} contributions"])
        return found

    return labels


def _stops(view: _View, steps: list[trace.Step], index: dict[Value, int],
           labels, row_of: dict[tuple[int, str | Value], int]) -> list[list]:
    """[g, from, unit, edge labels, row] for each place the view's slider stops: the state
    after step g, showing what steps from+1..g did, and the slot of the row of the step's
    neuron or Value in a box of rows (else -1). A neuron's view starts just before its first step;
    a network view makes each run of steps on one box a single stop."""
    shown = view.plan
    units: dict[str, int] = {}
    for value in shown.order:
        units.setdefault(shown.names[value], len(units))

    def unit(node: Value) -> int:
        return units.get(shown.names.get(node), -1)

    def stop(run: list[int]) -> list:
        first = steps[run[0] - 1]
        key = (unit(first.node), first.node.module or first.node)
        row = row_of.get(key, -1) if len(run) == 1 else -1
        return [run[-1], run[0] - 1, unit(first.node),
                labels([steps[g - 1] for g in run]), row]

    if view.own is not None:
        own = [g for g, step in enumerate(steps, 1) if step.node in view.own]
        start = own[0] - 1 if own else 0
        return [[start, start, -1, [], -1]] + [stop([g]) for g in own]
    runs: list[list[int]] = []
    for g, step in enumerate(steps, 1):
        if view.level == "network" and runs and unit(steps[runs[-1][-1] - 1].node) == \
                unit(step.node):
            runs[-1].append(g)
        else:
            runs.append([g])
    return [[0, 0, unit(shown.root), [], -1]] + [stop(run) for run in runs]


def _intro(view: _View, stops: list[list], total: int) -> str:
    """The side panel at a neuron view's first stop: where its steps are in the pass."""
    if view.own is None:
        return ""
    count = len(stops) - 1
    where = (f"backward steps {stops[1][0]}-{stops[-1][0]} of {total}" if count > 1
             else f"backward step {stops[1][0]} of {total}" if count else "no backward steps")
    return (f"{view.title}: its own graph. Its {count} step{'s' * (count != 1)} "
            f"({where}) follow;\nhere, the state just before them. 'up' goes back.")


def _forward_data(shown: graph.Plan, names: dict[Value, str]) -> dict:
    """The forward pass on the top view: units appear in the order their first Value was
    made; an edge appears with the later of its two ends."""
    first: dict[str, Value] = {}
    for value in shown.order:
        first.setdefault(shown.names[value], value)
    units = list(first)
    order = sorted(range(len(units)), key=lambda u: first[units[u]].id)
    fwd = [0] * len(units)
    forward = []
    for f, u in enumerate(order):
        value = first[units[u]]
        fwd[u] = f
        box = shown.boxes.get(units[u])
        where = f"[{box.title}] " if box else ""
        if value.parents:
            made_as = formula(value, [names[p] for p in value.parents])
            text = f"{names[value]} = {made_as} = {formatting.number(value.data)}"
        else:
            text = f"{names[value]} = {formatting.number(value.data)}   (leaf)"
        forward.append(f"forward {f + 1}/{len(order)}  {where}{text}")
    unit_of = {name: u for u, name in enumerate(units)}
    ends = [max(fwd[unit_of[shown.names[e.node]]],
                fwd[unit_of[e.tail]] if e.tail in unit_of else 0) for e in shown.edges]
    return {"fwd": fwd, "forward": forward, "edgeFwd": ends}


# ------------------------------------------------------------------------- page


def _page(title: str, svgs: dict[int, str], data: dict) -> str:
    """The page from assets/player.html, with style, views, data and script inline."""
    # Each SVG without its XML declaration and doctype, in a <template>: parsed, not shown.
    views = "\n".join(f'<template id="mg-view-{i}">{svg[svg.index("<svg"):]}</template>'
                      for i, svg in svgs.items())
    return Template(asset("player.html")).substitute(
        title=html.escape(markup.printable(title)), style=asset("player.css"), views=views,
        data=script_json(data), script=asset("player.js"))
