"""viz: golden DOT, escaping, colours and flags, size limits, collapsing, rendering with dot."""

from __future__ import annotations

import math
import os
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import graphviz
import pytest
from conftest import require_tool
from helpers import SVG_NS, TUTORIAL_SLOPE, TUTORIAL_X, tutorial_neuron

from micrograd_ann import MLP, Value, formatting, sum_values, topological_order
from micrograd_ann.views import graph

def _small():
    """L = relu(a*b + 10) with a=2, b=-3: dL/da = b = -3, dL/db = a = 2."""
    a = Value(2.0, "a")
    b = Value(-3.0, "b")
    c = a * b
    c.label = "c"
    out = (c + 10.0).relu()
    out.label = "L"
    out.backward()
    return out


GOLDEN = """digraph {
\tgraph [rankdir=LR]
\tnode [shape=box style="rounded,filled" fontname=Helvetica fontsize=11]
\tedge [fontname=Helvetica fontsize=9 color="#6b7280" fontcolor="#374151"]
\tv0 [id=v0 label=<<B>a</B><BR/>data 2<BR/>grad -3> fillcolor="#dbeafe" color="#2563eb"]
\tv1 [id=v1 label=<<B>b</B><BR/>data -3<BR/>grad 2> fillcolor="#dbeafe" color="#2563eb"]
\tv2 [id=v2 label=<<B>c</B><BR/>data -6<BR/>grad 1> fillcolor="#ffffff" color="#6b7280"]
\tv2_op [id=v2_op label=<*> shape=ellipse style=filled fillcolor="#f3f4f6" width=0.4 \
height=0.3 margin=0.03]
\tv0 -> v2_op [id=e0]
\tv1 -> v2_op [id=e1]
\tv2_op -> v2 [id=e2]
\tv3 [id=v3 label=<data 10<BR/>grad 1> fillcolor="#dbeafe" color="#2563eb"]
\tv4 [id=v4 label=<data 4<BR/>grad 1> fillcolor="#ffffff" color="#6b7280"]
\tv4_op [id=v4_op label=<+> shape=ellipse style=filled fillcolor="#f3f4f6" width=0.4 \
height=0.3 margin=0.03]
\tv2 -> v4_op [id=e3]
\tv3 -> v4_op [id=e4]
\tv4_op -> v4 [id=e5]
\tv5 [id=v5 label=<<B>L</B><BR/>data 4<BR/>grad 1> fillcolor="#dcfce7" color="#16a34a" \
penwidth=2]
\tv5_op [id=v5_op label=<ReLU> shape=ellipse style=filled fillcolor="#f3f4f6" width=0.4 \
height=0.3 margin=0.03]
\tv4 -> v5_op [id=e6]
\tv5_op -> v5 [id=e7]
}
"""


def _node_line(dot: str, name: str) -> str:
    return re.search(rf"^\t{name} \[.*$", dot, re.M).group(0)


def _mlp_loss(fused=True):
    """A one-sample MLP(2, [16, 16, 1]) graph with a hinge loss, after backward."""
    model = MLP(2, [16, 16, 1], seed=0, fused=fused)
    out = model([0.5, -1.0])
    loss = (1.0 - out).relu()
    loss.backward()
    return model, out, loss


def _svg_texts(svg: str) -> dict[str, list[str]]:
    """The text lines inside each SVG group, keyed by the group's id."""
    groups = ET.fromstring(svg).iter(f"{SVG_NS}g")
    return {g.get("id"): [t.text for t in g.iter(f"{SVG_NS}text")] for g in groups}


# ---------------------------------------------------------------------- DOT text


def test_golden_dot_for_a_small_expression():
    assert graph.to_dot(_small()) == GOLDEN


def test_same_graph_built_twice_gives_identical_dot():
    options = {"edge_labels": True, "color_by": "grad", "style": "compact"}
    assert graph.to_dot(_small(), **options) == graph.to_dot(_small(), **options)


def test_draw_dot_is_a_fresh_digraph_with_the_same_source():
    root = _small()
    first, second = graph.draw_dot(root), graph.draw_dot(root)
    assert isinstance(first, graphviz.Digraph) and first is not second
    assert first.source == second.source == graph.to_dot(root)
    assert first.format == "svg"


def test_draw_dot_takes_micrograds_arguments():
    root = _small()
    drawn = graph.draw_dot(root, format="png", rankdir="TB")  # micrograd's notebook call
    assert drawn.format == "png" and "rankdir=TB" in drawn.source


def test_dot_ids_follow_topological_order_and_match_the_dot():
    root = _small()
    names = graph.dot_ids(root)
    assert [names[v] for v in topological_order(root)] == [f"v{k}" for k in range(6)]
    dot = graph.to_dot(root)
    assert all(f"\t{name} [id={name} " in dot for name in names.values())


def test_compact_style_puts_the_op_in_the_value_node():
    dot = graph.to_dot(_small(), style="compact", rankdir="TB")
    assert "_op" not in dot and "rankdir=TB" in dot
    assert "label=<<B>c</B><BR/><I>*</I><BR/>data -6<BR/>grad 1>" in dot
    assert "\tv0 -> v2 [id=e0]" in dot


def test_edge_labels_show_upstream_times_local_equals_contribution():
    dot = graph.to_dot(_small(), edge_labels=True)
    # into c = a*b (grad 1): local d c/d a = b = -3, d c/d b = a = 2
    # decorate=true: Graphviz ties each label to its own edge with a line
    assert "\tv0 -> v2_op [id=e0 decorate=true label=<1 \u00d7 -3 = -3>]" in dot
    assert "\tv1 -> v2_op [id=e1 decorate=true label=<1 \u00d7 2 = 2>]" in dot


def test_edge_labels_on_the_tutorial_neuron():
    neuron = tutorial_neuron(fused=False)  # w_i * x_i products added, then b
    w1 = neuron.w[1]
    neuron.out.backward()
    dot = graph.to_dot(neuron.out, edge_labels=True)
    names = graph.dot_ids(neuron.out)
    product = next(v for v in names if w1 in v.parents)
    # s(1-s) = 0.0701 at w.x+b = 2.5; d out/d w1 = s(1-s) * x1 = 0.3505
    edge = rf"\t{names[w1]} -> {names[product]}_op \[id=e\d+ decorate=true label=<(.*)>\]"
    assert re.search(edge, dot).group(1) == "0.0701 \u00d7 5 = 0.3505"
    assert formatting.edge_text(TUTORIAL_SLOPE, TUTORIAL_X[1], 4) == "0.0701 \u00d7 5 = 0.3505"
    assert w1.grad == pytest.approx(TUTORIAL_SLOPE * 5.0, rel=1e-12)


def test_precision_sets_significant_digits():
    v = Value(math.pi, "pi")
    assert "data 3.142<BR/>" in graph.to_dot(v)
    assert "data 3.14159<BR/>" in graph.to_dot(v, precision=6)


HOSTILE = ['<b>&amp;</b>', '{a|b}', 'say "hi" \'there\'', 'x > y < z & w', ']];}{',
           'tab\there\nnewline', 'nul\x00bell\x07', 'lone \ud800 surrogate', 'ünï 😀']


def test_hostile_labels_are_escaped_and_render():
    require_tool("dot")
    leaves = [Value(float(i), label) for i, label in enumerate(HOSTILE)]
    root = sum_values(leaves)
    dot = graph.to_dot(root, style="compact")
    for leaf in leaves:
        label = re.search(r"label=<(.*)> fill", _node_line(dot, graph.dot_ids(root)[leaf]))
        assert "<B>" in label.group(1) and not re.search(r"<(?!/?B>|BR/>)", label.group(1))
    texts = _svg_texts(graph.to_svg(root, style="compact"))
    for leaf in leaves:  # printable text comes back verbatim, the rest as Python escapes
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in leaf.label)
        assert texts[graph.dot_ids(root)[leaf]][0] == shown


# --------------------------------------------------------------- colour and flags


def test_leaves_intermediates_and_root_have_distinct_colours():
    dot = graph.to_dot(_small())
    fills = [re.search(r'fillcolor="(#\w+)" color="(#\w+)"', _node_line(dot, name)).groups()
             for name in ("v0", "v2", "v5")]
    assert len(set(fills)) == 3


def test_color_by_grad_shades_larger_gradients_darker():
    x, z = Value(1.0, "x"), Value(3.0, "z")
    y = x * 1000.0 + z * 0.0
    y.backward()  # grads: x 1000, the constant 0.0: 3, y 1, z 0
    dot = graph.to_dot(y, color_by="grad")
    names = graph.dot_ids(y)

    def fill(v):
        return re.search(r'fillcolor="#(\w+)"', _node_line(dot, names[v])).group(1)

    def brightness(v):
        return sum(int(fill(v)[i : i + 2], 16) for i in (0, 2, 4))

    zero_const = y.parents[1].parents[1]
    assert (x.grad, zero_const.grad, y.grad, z.grad) == (1000.0, 3.0, 1.0, 0.0)
    assert brightness(x) < brightness(zero_const) < brightness(y) < brightness(z)
    assert fill(z) == "ffffff" and fill(x) == "f97316"  # no gradient: white; largest: orange
    assert 'color="#2563eb"' in _node_line(dot, names[x])  # a leaf's border keeps its role


def test_nan_and_inf_are_flagged_red():
    a = Value(float("nan"), "a")
    b = Value(2.0, "b")
    out = a * b + b
    out.grad = math.inf
    dot = graph.to_dot(out)
    names = graph.dot_ids(out)
    for v in (a, out):
        assert 'color="#dc2626" penwidth=2' in _node_line(dot, names[v])
    assert '<FONT COLOR="#dc2626">data nan</FONT>' in _node_line(dot, names[a])
    assert '<FONT COLOR="#dc2626">grad inf</FONT>' in _node_line(dot, names[out])
    assert "#dc2626" not in _node_line(dot, names[b])


def test_relu_off_is_marked():
    x = Value(-2.0, "x")
    off, on = x.relu(), (-x).relu()
    root = sum_values([off, on])
    dot = graph.to_dot(root)
    names = graph.dot_ids(root)
    assert "<I>ReLU off (0)</I>" in _node_line(dot, names[off])
    assert 'style="rounded,filled,dashed"' in _node_line(dot, names[off])
    assert "ReLU off" not in _node_line(dot, names[on]) and "dead" not in dot


# ------------------------------------------------------------------ big graphs


def test_max_nodes_counts_edges_too_and_refuses_with_a_hint():
    root = _small()  # 6 values + 3 op ellipses = 9 nodes; 8 edges
    assert graph.graph_size(root) == 17 and graph.graph_size(root, style="compact") == 6 + 5
    assert graph.to_dot(root, max_nodes=17)
    with pytest.raises(graph.GraphTooLargeError,
                       match=r"17 nodes and edges, more than max_nodes=16.*collapse=.*focus="):
        graph.to_dot(root, max_nodes=16)
    assert graph.to_dot(root, style="compact", max_nodes=11)


def test_a_few_nodes_with_thousands_of_edges_are_refused():
    # 242 nodes, 6,561 edges: dot took 40 s on such a graph; nodes alone looked harmless.
    inputs = [Value(float(i), f"x{i}") for i in range(81)]
    sums = [sum_values(inputs) for _ in range(81)]
    root = sum_values(sums)
    assert graph.graph_size(root) > graph.MAX_NODES
    with pytest.raises(graph.GraphTooLargeError, match="nodes and edges"):
        graph.to_dot(root)


def test_unfused_mlp_graph_drawn_per_op_exceeds_the_default_limit():
    _, _, loss = _mlp_loss(fused=False)
    with pytest.raises(graph.GraphTooLargeError, match=r"more than max_nodes=2,000"):
        graph.draw_dot(loss, collapse=None)
    with pytest.raises(ValueError):  # GraphTooLargeError is a ValueError
        graph.dot_ids(loss, collapse=None)
    dot = graph.to_dot(loss, collapse=None, max_nodes=10_000)  # one statement per node, edge
    assert graph.graph_size(loss, collapse=None) == dot.count(" [id=") > 3000


def test_a_model_graph_is_drawn_one_box_per_layer_unless_collapse_says_otherwise():
    _, _, loss = _mlp_loss()
    assert graph.draw_dot(loss).source == graph.to_dot(loss, collapse="layer")
    assert "shape=box3d" not in graph.to_dot(loss, collapse=None)
    assert graph.to_dot(loss, collapse="neuron").count("shape=box3d") == 33
    small = _small()  # no nn nodes: every Value, as before
    assert graph.to_dot(small) == graph.to_dot(small, collapse=None) == GOLDEN
    middle = topological_order(loss)[-5]
    assert "box3d" not in graph.to_dot(loss, focus=middle, depth=1)  # a focus shows Values


@pytest.mark.parametrize("fused", [True, False])
def test_collapse_neuron_draws_one_box_per_neuron(fused):
    model, out, loss = _mlp_loss(fused)
    dot = graph.to_dot(loss, collapse="neuron")
    names = graph.dot_ids(loss, collapse="neuron")
    boxes = re.findall(r"^\t(m\d+) \[id=\1 .*shape=box3d", dot, re.M)
    assert boxes == [f"m{j}" for j in range(33)]  # 16 + 16 + 1 neurons
    assert all(names[p].startswith("m") for p in model.parameters())
    inputs = [v for v in topological_order(loss) if v.label in ("x0", "x1")]
    assert [names[v] for v in inputs] == ["v0", "v1"]  # inputs stay outside, drawn
    assert names[out] == "m32"  # the model's output is the last box
    assert dot.count("params<BR/>") == 33 and dot.count("<B>w0</B>") == 0
    params = [len(n.parameters()) for layer in model.layers for n in layer.neurons]
    counts = [int(c) for c in re.findall(r"<BR/>(\d+) params<BR/>", dot)]
    assert sorted(counts) == sorted(params)


def test_collapsed_boxes_are_drawn_in_neuron_order():
    require_tool("dot")
    _, _, loss = _mlp_loss()
    svg = ET.fromstring(graph.to_svg(loss, collapse="neuron", timeout=20))
    tops = {}
    for g in svg.iter(f"{SVG_NS}g"):
        if re.fullmatch(r"m([0-9]|1[0-5])", g.get("id", "")):  # layer 0's 16 boxes
            points = g.find(f"{SVG_NS}polygon").get("points").split()
            ys = [float(pt.split(",")[1]) for pt in points]
            tops[int(g.get("id")[1:])] = min(ys)
    assert sorted(tops, key=tops.get) == list(range(16))  # top to bottom: 0, 1, ..., 15


def test_collapse_layer_draws_one_box_per_layer():
    _, out, loss = _mlp_loss()
    dot = graph.to_dot(loss, collapse="layer")
    assert re.findall(r"^\t(m\d+) \[", dot, re.M) == ["m0", "m1", "m2"]
    assert re.findall(r"<B>(layers\.\d)</B>(?:</TD></TR><TR><TD COLSPAN=\"1\">|<BR/>)"
                      r"(\d+) params", dot) == [
        ("layers.0", "48"), ("layers.1", "272"), ("layers.2", "17")]
    rows = re.findall(r'<TD ALIGN="LEFT"[^>]*>(neurons\.\d+): data', _node_line(dot, "m1"))
    assert rows == [f"neurons.{k}" for k in range(16)]  # named as the side panel names them
    assert f"data {out.data:.4g}<BR/>grad {out.grad:.4g}>" in _node_line(dot, "m2")
    assert "\tm0 -> m1 [id=" in dot and dot.count("m0 -> m1") == 1  # 256 edges drawn once


def test_many_model_inputs_are_drawn_as_one_box_and_long_boxes_in_columns():
    model = MLP(40, [3], seed=0)
    out = model([0.1 * i for i in range(40)])
    shown = graph.plan(out[0], graph.DrawOptions())
    inputs = next(box for box in shown.boxes.values() if box.kind == "inputs")
    assert [v.label for v in inputs.members] == [f"x{i}" for i in range(40)]
    dot = graph.to_dot(out[0])
    line = _node_line(dot, shown.names[inputs.members[0]])
    assert "<B>inputs</B>" in line and "40 inputs" in line
    cells = re.findall(r'<TD ALIGN="LEFT">(x\d+): data', line)
    assert cells[:4] == ["x0", "x1", "x2", "x3"]  # two columns of 20, read across
    assert line.count("<TR>") == 2 + 20
    few = MLP(8, [2], seed=0)([1.0] * 8)[0]  # eight inputs stay drawn one by one
    assert all(box.kind == "module" for box in graph.plan(few, graph.DrawOptions()).boxes.values())


def test_a_box_shows_at_most_max_rows_rows():
    loss = MLP(2, [graph.MAX_ROWS + 20, 1], seed=0)([0.5, -0.5])
    line = _node_line(graph.to_dot(loss, collapse="layer"), "m0")  # layers.0's box
    shown = re.findall(r"(neurons\.\d+): data", line)
    assert shown == [f"neurons.{k}" for k in range(graph.MAX_ROWS)]
    assert "<I>... and 20 more</I>" in line


def test_plan_edges_are_the_drawn_edges_in_order():
    for options in ({}, {"collapse": "neuron"}, {"style": "compact"}):
        root = _mlp_loss()[2] if options.get("collapse") else _small()
        shown = graph.plan(root, graph.DrawOptions(**options))
        drawn = re.findall(r"^\t(\S+) -> (\S+) \[id=(e\d+)", graph.to_dot(root, **options), re.M)
        assert [(e.tail, e.head, e.id) for e in shown.edges] == drawn


def test_grouped_plan_draws_chosen_groups_and_names():
    a, b = Value(1.0, "a"), Value(2.0, "b")
    c = a * b
    opts = graph.DrawOptions()
    shown = graph.grouped_plan(c, [a, b, c], {a: ("both", "inputs"), b: ("both", "inputs")},
                             opts, titles={c: "product"})
    dot = graph.dot_source(shown, opts)
    assert list(shown.boxes) == ["m0"] and shown.boxes["m0"].members == [a, b]
    assert "<B>both</B>" in dot and "2 inputs" in dot and "<B>product</B>" in dot
    assert [(e.tail, e.head) for e in shown.edges] == [("m0", "v0_op"), ("v0_op", "v0")]


def test_focus_draws_only_the_neighbourhood():
    a = Value(1.0, "a")
    chain = [a]
    for _ in range(6):
        chain.append(chain[-1].tanh())
    middle = chain[3]
    names = graph.dot_ids(chain[-1], focus=middle, depth=1)
    assert list(names) == chain[2:5]
    assert list(graph.dot_ids(chain[-1], focus=middle, depth=0)) == [middle]
    assert "penwidth=2" in _node_line(graph.to_dot(chain[-1], focus=middle, depth=1), "v1")
    with pytest.raises(ValueError, match="focus"):
        graph.to_dot(chain[2], focus=chain[5])


@pytest.mark.parametrize("options, error", [
    ({"style": "fancy"}, ValueError), ({"rankdir": "RL"}, ValueError),
    ({"collapse": "model"}, ValueError), ({"precision": 0}, ValueError),
    ({"max_nodes": "10"}, TypeError), ({"max_nodes": 0}, ValueError), ({"focus": 3.0}, TypeError),
    ({"colour": "red"}, TypeError),
])
def test_bad_options_are_rejected(options, error):
    with pytest.raises(error):
        graph.to_dot(_small(), **options)


def test_drawing_a_non_value_is_a_type_error():
    with pytest.raises(TypeError, match="float"):
        graph.to_dot(1.5)


# ------------------------------------------------------------ rendering with dot


def test_mlp_graph_renders_to_svg_with_named_nodes():
    require_tool("dot")
    _, _, loss = _mlp_loss(fused=False)
    names = graph.dot_ids(loss, collapse=None, max_nodes=4000)
    # a generous bound: dot takes about a second here; it is stopped after 20 s
    texts = _svg_texts(graph.to_svg(loss, timeout=20, collapse=None, max_nodes=4000))
    assert len(names) == len(topological_order(loss)) > 900
    for v, name in names.items():
        assert f"data {formatting.number(v.data, 4)}" in texts[name]
        assert f"grad {formatting.number(v.grad, 4)}" in texts[name]
    assert sum(1 for key in texts if re.fullmatch(r"e\d+", key)) > 1000


def test_render_writes_each_format(tmp_path):
    require_tool("dot")
    magic = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF"}
    for fmt, start in magic.items():
        path = graph.render(_small(), tmp_path / f"g.{fmt}", format=fmt)
        assert path == str(tmp_path / f"g.{fmt}")
        assert (tmp_path / f"g.{fmt}").read_bytes().startswith(start)
    with pytest.raises(ValueError, match="format"):
        graph.render(_small(), tmp_path / "g.gif", format="gif")


def test_digraph_displays_inline_as_svg():
    require_tool("dot")
    bundle = graph.draw_dot(_small())._repr_mimebundle_()
    assert "<g id=\"v5\" class=\"node\">" in bundle["image/svg+xml"]


def test_missing_dot_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no `dot` anywhere
    root = _small()
    assert graph.to_dot(root) == GOLDEN
    for attempt in (lambda: graph.to_svg(root), lambda: graph.render(root, tmp_path / "g.svg"),
                    lambda: graph.draw_dot(root).pipe(format="svg")):
        with pytest.raises(graph.DotNotFoundError, match="apt-get install graphviz.*brew.*conda"):
            attempt()
    assert not (tmp_path / "g.svg").exists()


def _fake_dot(monkeypatch, folder, script: str) -> None:
    """A `dot` running `script` (sh), found on PATH before the real one."""
    fake = folder / "dot"
    fake.write_text("#!/bin/sh\n" + script)
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_slow_dot_is_stopped_after_the_timeout(monkeypatch, tmp_path):
    _fake_dot(monkeypatch, tmp_path, "exec sleep 30\n")
    with pytest.raises(graph.RenderTimeoutError, match=r"timeout=0\.2 s"):
        graph.to_svg(_small(), timeout=0.2)


def _running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (killed, not yet reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_timeout_also_stops_the_children_of_dot(monkeypatch, tmp_path):
    # The child keeps dot's stdout open: killing dot alone would leave the read hanging.
    pid_file = tmp_path / "child.pid"
    _fake_dot(monkeypatch, tmp_path, f"sleep 30 &\necho $! > '{pid_file}'\nwait\n")
    start = time.perf_counter()
    with pytest.raises(graph.RenderTimeoutError):
        graph.to_svg(_small(), timeout=0.5)
    assert time.perf_counter() - start < 5
    child = int(pid_file.read_text())
    for _ in range(50):  # SIGKILL is immediate; give the kernel a moment
        if not _running(child):
            break
        time.sleep(0.02)
    assert not _running(child)


@pytest.mark.parametrize("script, message", [
    ("cat > /dev/null\necho 'not a drawing'\n", r"exited 0 but did not write SVG"),
    ("cat > /dev/null\nprintf '<svg><g>'\n", r"exited 0 but did not write SVG"),  # cut short
    ("cat > /dev/null\necho 'Error: syntax error' >&2\nexit 3\n",
     r"dot failed with exit code 3: Error: syntax error"),
])
def test_dot_misbehaving_is_a_graphviz_error(monkeypatch, tmp_path, script, message):
    _fake_dot(monkeypatch, tmp_path, script)
    with pytest.raises(graph.GraphvizError, match=message):
        graph.to_svg(_small())
    with pytest.raises(graph.DrawError):  # the one class the CLI catches
        graph.render(_small(), tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()


def test_a_label_too_long_for_graphviz_is_refused_before_dot_runs():
    root = Value(1.0, "x" * 17_000) * 2.0
    with pytest.raises(graph.LabelTooLongError, match=r"node v0's label is 17,\d+ bytes.*16 KB"):
        graph.to_dot(root)
    assert graph.to_dot(Value(1.0, "x" * 15_000) * 2.0)  # under the limit: drawn
