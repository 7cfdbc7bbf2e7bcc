"""Tests for player.py: the page's data, levels and size, then the pages driven in headless
Chromium at 1366x768 -- every step of every view legible (tests/player_sweep.js measures
them on screen), grads as backward_steps gives them, drilling into a neuron and back, text
size, the wheel, and the page inside a notebook's iframe.

MICROGRAD_ANN_DOCS_IMAGES=1 also saves the screenshots docs/players.md shows into docs/."""

from __future__ import annotations

import base64
import html
import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import require_module, require_tool
from helpers import (PLAYER_SWEEP, SVG_NS, TUTORIAL_SLOPE, assert_all_close, grads_by_node,
                     headless_chromium, player_data, save_screenshot, tutorial_leaves)
from micrograd_ann import MLP, Value, datasets, dot, formatting, topological_order
from micrograd_ann.nn import tutorial_neuron
from micrograd_ann.views import graph
from micrograd_ann.views.page import script_json
from micrograd_ann.views.player import Player, render_html, to_html
from micrograd_ann.trace import backward_steps
from micrograd_ann.training import labelled_loss

HOSTILE = "<img src=x onerror=alert(1)>"
SCRIPT_END = '</script><script>document.title="pwned"</script><!--'
PRECISION = 12  # grad texts with 12 significant digits compare tightly with floats
MAX_PAGE_BYTES = 1_500_000  # the digits page must stay under this


def _seed_neuron() -> tuple[Value, list[Value]]:
    """The tutorial's neuron sigmoid(w . x + b), with n = w . x + b split over two paths.

    x0 starts with grad 0.25, so the page must show leaves accumulating as backward() does.
    """
    x, w, b = tutorial_leaves()
    n = dot(w, x, b)
    n.label = "n"
    scaled = n * 0.5 + n * 0.5  # n reaches the output along two paths: grads accumulate
    out = scaled.sigmoid()
    out.label = "out"
    x[0].grad = 0.25
    return out, [*x, *w, b]


def _demo_loss() -> Value:
    """The demo's one-sample loss: MLP(2, [16, 16, 1]) on a moons sample, BCE as the demo
    trains it (71 backward steps)."""
    model = MLP(2, [16, 16, 1], seed=0)
    x, y = datasets.make_moons(100, seed=0)[0]
    return labelled_loss("bce", model(x), y)


def _digits_loss() -> Value:
    """A digits one-sample loss: MLP(64, [32, 10]), cross-entropy, as the CLI builds it."""
    require_module("sklearn", "digits")
    model = MLP(64, [32, 10], seed=0)
    x, y = datasets.load_digits(20, seed=0)[0]
    return labelled_loss("cross_entropy", model(x), y)


def _svg_size(page: str, view: int = 0) -> tuple[float, float]:
    """Width and height (pt) of a view's SVG, as Graphviz laid it out."""
    found = re.search(rf'<template id="mg-view-{view}">(<svg.*?</svg>)', page, re.S)
    svg = ET.fromstring(found.group(1))
    return tuple(float(svg.get(side).removesuffix("pt")) for side in ("width", "height"))


# ----------------------------------------------------------------- without a browser


def test_script_json_cannot_end_the_script_or_break_the_parser():
    tricky = {"label": SCRIPT_END + "\u2028\u2029&"}
    text = script_json(tricky)
    for bad in ("</", "<!--", "<", ">", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == tricky


def test_page_leaves_every_gradient_as_it_was():
    require_tool("dot")
    out, _ = _seed_neuron()
    out.grad = 7.0  # stale grads on the root and an intermediate must survive too
    out.parents[0].grad = -3.0
    before = grads_by_node(out)
    to_html(out)
    assert grads_by_node(out) == before


def test_page_is_self_contained_and_has_one_step_per_node():
    require_tool("dot")
    out, _ = _seed_neuron()
    page = to_html(out)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "<link" not in page
    assert page.count("<script") == 2  # the JSON and the inline player script
    data = player_data(page)
    non_leaves = sum(1 for node in topological_order(out) if node.parents)
    assert len(data["steps"]) == non_leaves + 1  # step 0 is the seed
    assert data["steps"][0]["text"].startswith(f"step 0/{non_leaves}  seed out.grad = 1")


def test_side_panel_uses_the_wording_of_explain():
    require_tool("dot")
    out, _ = _seed_neuron()
    data = player_data(to_html(out))
    texts = [step.describe() for step in backward_steps(out)]
    assert [step["text"] for step in data["steps"][1:]] == texts


def test_auto_view_is_every_op_for_a_neuron_and_a_box_per_layer_for_a_model():
    require_tool("dot")
    neuron = tutorial_neuron()
    assert player_data(to_html(neuron.out))["views"][0]["level"] == "ops"
    loss = _demo_loss()
    views = player_data(to_html(loss))["views"]
    assert views[0]["level"] == "layer"
    assert [unit for unit in views[0]["units"] if unit.startswith("m")] == ["m0", "m1", "m2"]
    assert len(views) == 1 + 33  # and one op-level view per neuron, one level down
    assert {view["parent"] for view in views[1:]} == {0}


def test_view_names_the_level_and_collapse_is_its_other_spelling():
    require_tool("dot")
    loss = _demo_loss()
    for options, level in [({"view": "neuron"}, "neuron"), ({"collapse": "neuron"}, "neuron"),
                           ({"view": "network"}, "network"), ({"collapse": None}, "ops")]:
        assert player_data(to_html(loss, **options))["views"][0]["level"] == level
    with pytest.raises(ValueError, match="view must be one of"):
        to_html(loss, view="everything")
    with pytest.raises(ValueError, match="disagree"):
        to_html(loss, view="ops", collapse="layer")


def test_a_network_step_is_a_whole_layer_receiving_its_gradient():
    require_tool("dot")
    loss = _demo_loss()
    top = player_data(to_html(loss, view="network"))["views"][0]
    units = [top["units"][stop[2]] for stop in top["stops"][1:]]  # after the seed
    # The loss's ops, then layers.2, layers.1, layers.0 once each.
    assert units[-3:] == ["m2", "m1", "m0"] and len(set(units)) == len(units)
    steps = sum(1 for node in topological_order(loss) if node.parents)
    assert top["stops"][-1][0] == steps  # the last stop is the end of the pass
    layer1 = top["stops"][-2]
    assert layer1[0] - layer1[1] == 32  # 16 dot and 16 relu nodes in one stop
    assert {stop[4] for stop in top["stops"]} == {-1}  # a whole layer: no row of it marked


def test_side_panel_names_each_neuron_as_its_box_row_shows_it():
    require_tool("dot")
    loss = _demo_loss()
    data = player_data(to_html(loss))
    shown = graph.plan(loss, graph.DrawOptions())
    rows = graph.box_rows(shown)
    texts = "\n".join(step["text"] for step in data["steps"])
    for name, box in shown.boxes.items():
        for value in rows[name]:
            if not value.label:  # the output is labelled "score", and so named
                full = f"{box.title}.{graph.row_name(value, box)}"  # layers.0 + neurons.3
                assert re.search(rf"^    {re.escape(full)}\.grad +\+=", texts, re.M), full
    assert "relu#" not in texts and "dot#" not in texts


def test_edges_come_from_the_plan_and_match_the_drawing():
    require_tool("dot")
    loss = _demo_loss()
    page = to_html(loss)
    view = player_data(page)["views"][0]
    shown = graph.plan(loss, graph.DrawOptions(style="compact"))  # the player's style
    assert [edge for edge, _ in view["edges"]] == [e.id for e in shown.edges]
    svg = re.search(r'<template id="mg-view-0">(<svg.*?</svg>)', page, re.S).group(1)
    drawn = {g.get("id") for g in ET.fromstring(svg).iter(f"{SVG_NS}g")
             if g.get("class") == "edge"}
    assert drawn == {e.id for e in shown.edges}


def test_edge_labels_do_not_size_the_layout():
    require_tool("dot")
    page = to_html(_demo_loss())
    width, height = _svg_size(page)
    assert width < 2500 and height < 600, (width, height)  # 2,360 x 8,435 with labels
    assert "\u00d7" not in page.split('id="mg-data"')[0]  # no "a × b = c" in any SVG


def test_digits_page_is_small_and_neurons_of_a_layer_share_a_layout():
    require_tool("dot")
    loss = _digits_loss()
    page = to_html(loss)
    assert len(page.encode("utf-8")) < MAX_PAGE_BYTES
    width, height = _svg_size(page)
    assert width < 3500 and height < 1100, (width, height)  # was ~68,000 px tall
    views = player_data(page)["views"]
    assert len(views) == 1 + 42  # the loss, then each neuron's own graph
    templates = page.count("<template ")
    assert templates <= 6, templates  # one layout per layer, dead or alive (and the top)


def test_jupyter_iframe_holds_the_whole_page_attribute_escaped():
    require_tool("dot")
    out, _ = _seed_neuron()
    out.label = SCRIPT_END
    player = Player(out, height=300)
    shown = player._repr_html_()
    found = re.fullmatch(r'<iframe srcdoc="([^"]*)" sandbox="allow-scripts" [^>]*></iframe>'
                         r'<div class="mg-untrusted"><p>([^<]*)</p><br>'
                         r'<img src="data:image/svg\+xml;base64,([^"]*)"[^>]*></div>'
                         r'<script>([^<]*)</script>', shown)
    assert found is not None
    assert html.unescape(found.group(1)) == player.html
    assert "height: 300px" in shown
    # Untrusted, Jupyter drops the iframe and the script and shows the note and the
    # picture (the graph after backward); trusted, the script removes them and itself.
    assert "Trust Notebook" in found.group(2) and "not trusted" in found.group(2)
    picture = base64.b64decode(found.group(3)).decode("utf-8")
    assert picture.startswith("<svg") and 'id="mg-data"' not in picture
    assert SCRIPT_END in {t.text for t in ET.fromstring(picture).iter(f"{SVG_NS}text")}
    assert found.group(4) == ("document.currentScript.previousElementSibling.remove();"
                              "document.currentScript.remove();")
    assert "height: 500px" in Player(out)._repr_html_()  # fits a notebook at 1366x768
    with pytest.raises(ValueError, match="height"):
        Player(out, height=50)


def test_each_stop_names_the_row_of_its_neuron_in_a_layer_box():
    require_tool("dot")
    loss = _demo_loss()
    page = to_html(loss)
    top = player_data(page)["views"][0]
    steps = list(backward_steps(loss))
    rows = {unit: [] for unit in range(len(top["units"]))}
    for slot, (unit, _) in enumerate(top["slots"]):
        rows[unit].append(slot)
    for g, _, unit, _, row in top["stops"][1:]:
        node = steps[g - 1].node
        if node.module.startswith(("layers.0.", "layers.1.")):  # boxes of 16 rows
            neuron = int(node.module.rsplit(".", 1)[1])
            assert row == rows[unit][neuron], (g, node.module)
        else:  # the loss's nodes, and layers.2's box of one neuron
            assert row == -1, (g, node.module)


def test_panel_names_are_the_graphs_parameters_inside_their_neuron():
    require_tool("dot")
    loss = _demo_loss()
    data = player_data(to_html(loss))
    texts = "\n".join(step["text"] for step in data["steps"])
    assert "layers.1.neurons.4.w15.grad +=" in texts and "layers.2.neurons.0.b.grad" in texts
    assert not re.search(r"^ +w\d+\.grad", texts, re.M)  # never a bare w3 of some neuron
    # Unlabelled nodes of the loss are drawn with the names the panel gives them.
    svg = re.search(r'<template id="mg-view-0">(<svg.*?</svg>)', to_html(loss), re.S).group(1)
    shown = {t.text for t in ET.fromstring(svg).iter(f"{SVG_NS}text")}
    assert {"log#411", "exp#408", "score"} <= shown


def test_like_nodes_read_side_by_side_are_one_box_of_rows():
    require_tool("dot")
    loss = _digits_loss()  # a softmax: sum of ten exp(score_k + c)
    top = player_data(to_html(loss))["views"][0]
    page = to_html(loss)
    titles = re.findall(r"<b>([^<]*\u00d710)</b>|<text[^>]*font-weight=\"bold\"[^>]*>"
                        r"([^<]*\u00d710)</text>", page)
    assert {a or b for a, b in titles} == {"exp \u00d710", "add \u00d710", "const \u00d710"}
    sums = [stop for stop in top["stops"] if len(stop[3]) == 1 and "10 values" in stop[3][0][1]]
    assert sums  # the sum's step: one edge, to the box of its ten inputs


def test_render_html_writes_the_page(tmp_path):
    require_tool("dot")
    out, _ = _seed_neuron()
    path = render_html(out, tmp_path / "player.html", title="neuron")
    assert path == str(tmp_path / "player.html")
    assert "<title>neuron</title>" in Path(path).read_text(encoding="utf-8")


def test_to_html_needs_a_value():
    with pytest.raises(TypeError, match="needs a Value, got float"):
        to_html(1.5)


# ------------------------------------------------------------------- in the browser

# The grad each slot of the view on screen shows, by Value index (topological order).
SHOWN_GRADS = """
const data = JSON.parse(document.getElementById('mg-data').textContent);
const view = data.views[document.getElementById('mg-graph').dataset.view];
const svg = document.querySelector('#mg-graph svg');
const lines = view.units.map((name, u) => [...svg.getElementById(name).querySelectorAll('text')]
  .filter((t) => t.textContent.includes('grad ')).slice(
    -view.slots.filter(([unit]) => unit === u).length));
const seen = view.units.map(() => 0);
return [view.slots.map(([, value]) => value), view.slots.map(([u]) => {
  const text = lines[u][seen[u]++].textContent;
  return text.slice(text.lastIndexOf('grad ') + 5);
})];
"""

PAGES = {"neuron": lambda: tutorial_neuron().out, "demo": _demo_loss, "digits": _digits_loss}
# Sweeps that take more than a few seconds: every step of every neuron's own view too, or
# a drawing of thousands of nodes.
SLOW = {("demo", "ops"), ("digits", "auto"), ("digits", "network"), ("digits", "neuron")}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium for the whole module, a 1366x768 window; selenium downloads
    nothing."""
    require_tool("dot")
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"), 1366, 768)
    driver.set_script_timeout(300)
    yield driver
    driver.quit()


def _open(browser, path: str | Path) -> None:
    """Load a page and fail on any console error."""
    browser.get(Path(path).as_uri())
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []


def _shown_grads(browser, names: dict[Value, str]) -> dict[Value, float]:
    """Each drawn Value's grad as its node's last 'grad <number>' text line shows it."""
    texts = browser.execute_script(
        "return Object.fromEntries(arguments[0].map((name) => [name,"
        " [...document.getElementById(name).querySelectorAll('text')]"
        "   .map((t) => t.textContent).filter((t) => t.startsWith('grad ')).pop()]));",
        sorted(set(names.values())))
    return {value: float(texts[name].removeprefix("grad ")) for value, name in names.items()}


def _expect(shown: dict[Value, float], expected: dict[Value, float], when: str,
            rel: float = 1e-9) -> None:
    nodes = list(expected)
    assert_all_close([shown[node] for node in nodes], [expected[node] for node in nodes],
                     rel=rel, abs=1e-12, what=f"{when}, nodes {[node.label for node in nodes]}")


def _click(browser, button: str, times: int = 1) -> None:
    for _ in range(times):
        browser.find_element("id", f"mg-{button}").click()


def _slide(browser, k: int) -> None:
    browser.execute_script("const s = document.getElementById('mg-slider');"
                           " s.value = arguments[0]; s.dispatchEvent(new Event('input'));", k)


def _press(browser, key: str, times: int = 1) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).send_keys(key * times).perform()


def _text(browser, id: str) -> str:
    return browser.execute_script(f"return document.getElementById('mg-{id}').textContent")


def _viewbox(browser) -> list[float]:
    return browser.execute_script("const b = document.querySelector('#mg-graph svg')"
                                  ".viewBox.baseVal; return [b.x, b.y, b.width, b.height];")


def _states(root: Value) -> list[list[str]]:
    """Every Value's grad text (4 digits, as the default page shows it) after each step of
    backward_steps(), starting from the seed; grads are put back afterwards."""
    order = topological_order(root)
    saved = [v.grad for v in order]
    for v in order:
        v.grad = 0.0 if v.parents else v.grad
    root.grad += 1.0
    states = [[formatting.number(v.grad, 4) for v in order]]
    for v, grad in zip(order, saved):
        v.grad = grad
    states.extend([formatting.number(v.grad, 4) for v in order] for _ in backward_steps(root))
    for v, grad in zip(order, saved):
        v.grad = grad
    return states


@pytest.fixture(scope="module")
def seed_page(tmp_path_factory):
    """The seed neuron's page, and the grads backward_steps() gives after each step."""
    out, leaves = _seed_neuron()
    path = render_html(out, tmp_path_factory.mktemp("player") / "seed.html", precision=PRECISION)
    names = graph.dot_ids(out, precision=PRECISION)
    before = grads_by_node(out)
    # After seeding and before step 1: intermediates at 0, leaves keep theirs, root seeded.
    states = [{node: 0.0 if node.parents else grad for node, grad in before.items()}]
    states[0][out] = 1.0
    states.extend(grads_by_node(out) for _ in backward_steps(out))
    for node, grad in before.items():
        node.grad = grad
    out.backward()
    final = grads_by_node(out)
    assert final[leaves[0]] != before[leaves[0]]  # x0 really accumulated
    return path, names, states, final


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """page(name, view): the page of one of the issue's three graphs at a view, built once,
    with its root and grad states (and how long building it took)."""
    folder = tmp_path_factory.mktemp("pages")
    built = {}

    def page(name: str, view: str = "auto"):
        if (name, view) not in built:
            root = PAGES[name]()
            path = render_html(root, folder / f"{name}-{view}.html", view=view)
            built[name, view] = (path, root, _states(root), None)
        return built[name, view]

    return page


def test_page_loads_with_the_graph_and_no_console_errors(browser, seed_page):
    path, names, states, _ = seed_page
    _open(browser, path)
    assert browser.find_elements("css selector", "#mg-graph svg")
    assert browser.find_element("id", "mg-position").text == f"backward step 0 / {len(states) - 1}"
    _expect(_shown_grads(browser, names), states[0], "step 0")


def test_next_shows_the_grads_of_backward_steps_and_last_those_of_backward(browser, seed_page):
    path, names, states, final = seed_page
    _open(browser, path)
    for k in range(1, len(states)):
        _click(browser, "next")
        _expect(_shown_grads(browser, names), states[k], f"after {k} x next")
    _click(browser, "first")
    _click(browser, "last")
    _expect(_shown_grads(browser, names), final, "last")
    _click(browser, "prev")
    _expect(_shown_grads(browser, names), states[-2], "last, then prev")


def test_slider_and_keyboard_step_like_the_buttons(browser, seed_page):
    from selenium.webdriver.common.keys import Keys

    path, names, states, final = seed_page
    _open(browser, path)
    for k in (3, 1, len(states) - 1, 0):
        _slide(browser, k)
        _expect(_shown_grads(browser, names), states[k], f"slider at {k}")
    _press(browser, Keys.ARROW_RIGHT, 2)
    _expect(_shown_grads(browser, names), states[2], "right arrow twice")
    _press(browser, Keys.ARROW_LEFT)
    _expect(_shown_grads(browser, names), states[1], "then left arrow")
    _press(browser, Keys.END)
    _expect(_shown_grads(browser, names), final, "End")
    _press(browser, Keys.HOME)
    _expect(_shown_grads(browser, names), states[0], "Home")


def test_current_step_is_highlighted_and_its_edges_labelled(browser, seed_page):
    path, names, _, _ = seed_page
    _open(browser, path)
    _click(browser, "last")  # the dot node n: seven inputs, seven labelled edges
    n = next(value for value in names if value.label == "n")
    current = browser.find_elements("css selector", "#mg-graph .mg-current")
    assert {element.get_attribute("id") for element in current} == {names[n]}
    labels = browser.execute_script("return [...document.querySelectorAll('text.mg-elabel')]"
                                    ".map((l) => l.textContent).filter(Boolean);")
    assert len(labels) == 7
    assert len(browser.find_elements("css selector", "g.edge.mg-active")) == 7
    upstream = TUTORIAL_SLOPE  # s(1 - s) at 2.5; n's two halves add up to it
    w1_label = f"{upstream:.{PRECISION}g} \u00d7 5 = {5 * upstream:.{PRECISION}g}"
    assert w1_label in labels  # upstream x local (x1 = 5) = contribution
    assert "n = dot(w0, w1, w2, x0, x1, x2, b)" in browser.find_element("id", "mg-text").text


def test_each_label_sits_by_its_own_edge_or_a_leader_ties_it_there(browser, seed_page):
    path, _, _, _ = seed_page
    _open(browser, path)
    _click(browser, "last")
    # Each label's box -- or, for a label a line or more off its edge, the end of its leader
    # line -- is within a few units of its own edge, nearer to it than to any other
    # labelled edge.
    found = browser.execute_script(
        "const labels = [...document.querySelectorAll('.mg-elabel')].filter((l) => l.textContent);"
        "const leader = (l) => [...document.querySelectorAll('line.mg-leader')].find((x) =>"
        "  x.dataset.edge === l.dataset.edge && x.getAttribute('visibility') === 'visible');"
        "const far = (l, id) => { let b = l.getBBox(); const a = leader(l);"
        "  if (a) b = {x: +a.getAttribute('x1'), y: +a.getAttribute('y1'), width: 0, height: 0};"
        "  const path = document.getElementById(id).querySelector('path');"
        "  const n = path.getTotalLength(); let best = Infinity;"
        "  for (let k = 0; k <= 200; k++) { const p = path.getPointAtLength(n * k / 200);"
        "    const dx = Math.max(b.x - p.x, 0, p.x - b.x - b.width);"
        "    const dy = Math.max(b.y - p.y, 0, p.y - b.y - b.height);"
        "    best = Math.min(best, Math.hypot(dx, dy)); } return best; };"
        "return labels.map((l) => [l.dataset.edge, far(l, l.dataset.edge),"
        "  Math.min(...labels.filter((o) => o !== l).map((o) => far(l, o.dataset.edge)))]);")
    assert len(found) == 7
    for edge, own, nearest_other in found:
        assert own < 8 and own <= nearest_other, (edge, own, nearest_other)


@pytest.mark.parametrize("name", ["neuron", "demo", "digits"])
def test_every_step_shows_the_grads_of_backward_steps(browser, pages, name):
    path, root, states, _ = pages(name)
    _open(browser, path)
    stops = browser.execute_script(
        "return JSON.parse(document.getElementById('mg-data').textContent).views[0].stops"
        ".map((stop) => stop[0]);")
    assert stops == list(range(len(states)))
    sample = range(len(stops)) if len(stops) <= 80 else \
        sorted({round(k * (len(stops) - 1) / 39) for k in range(40)})
    for k in sample:
        _slide(browser, k)
        values, shown = browser.execute_script(SHOWN_GRADS)
        shown_view = browser.execute_script("return document.getElementById('mg-graph')"
                                            ".dataset.view")
        assert shown == [states[k][v] for v in values], (name, k, shown_view)


@pytest.mark.parametrize("name, view", [
    pytest.param(name, view, marks=[pytest.mark.slow] if (name, view) in SLOW else [])
    for name in PAGES for view in ("auto", "network", "neuron", "ops")])
def test_every_step_of_every_view_is_legible_at_1366x768(browser, pages, screenshots, name,
                                                           view):
    """player_sweep.js: at every stop -- and, from the auto view, at every stop of every
    neuron's own view, left with Escape -- the step's node, its updated inputs and edge
    labels are in the pane, at least 11 px, not overlapping, the current row marked, the
    panel's names shown and its numbers whole; Escape restores where the user was. (The
    layer view is the auto view of a model's graph, and the ops view of the neuron's.)"""
    if name == "digits" and view == "ops":  # 7,442 nodes and edges: not drawn
        with pytest.raises(graph.GraphTooLargeError):
            to_html(PAGES[name](), view=view)
        return
    path, _, states, _ = pages(name, view)
    _open(browser, path)
    drill = view == "auto" and name != "neuron"
    found = browser.execute_script(PLAYER_SWEEP, {"drill": drill, "view": view})
    assert found["problems"] == [] and found["bad"] == 0, found
    if view != "network":
        assert found["perView"][view][0] == len(states)  # every step
    if drill:
        assert found["perView"]["drill"][0] > len(states)  # every neuron's steps, and more
    if view in ("auto", "ops") and name != "neuron":  # for the docs and a look: the first
        labelled = browser.execute_script(  # step past the middle that labels edges
            "return JSON.parse(document.getElementById('mg-data').textContent).views[0].stops"
            ".findIndex((stop, k) => 2 * k >= arguments[0] && stop[3].length > 0);",
            len(states))
        _slide(browser, labelled)
        save_screenshot(browser, screenshots, f"player-{name}-{view}")


@pytest.mark.parametrize("name", ["neuron", "demo"])
def test_the_layer_view_is_the_auto_view_of_a_model(name):
    require_tool("dot")
    root = PAGES[name]()
    assert to_html(root, view="layer" if name == "demo" else "ops") == to_html(root)


def test_drilling_into_a_neuron_shows_its_own_steps_and_escape_comes_back(browser, pages,
                                                                          screenshots):
    from selenium.webdriver.common.keys import Keys

    path, root, states, _ = pages("demo")
    _open(browser, path)
    _slide(browser, 10)
    before = [_text(browser, "position"), _text(browser, "crumbs"),
              browser.find_element("id", "mg-slider").get_attribute("value"), _viewbox(browser)]
    rows = browser.find_elements("css selector", "#mg-graph text.mg-link")
    assert len(rows) == 32  # every neuron's row in the two hidden layers' boxes
    assert "mg-link" in browser.find_element("id", "m2").get_attribute("class")  # one neuron
    layer1 = [row for row in rows
              if row.get_attribute("textContent").startswith("neurons.4:")][1]  # layers.1's
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click',"
                           " {bubbles: true}))", layer1)
    assert _text(browser, "crumbs").endswith("\u25b8layers.1.neurons.4")
    stops = browser.execute_script(
        "const data = JSON.parse(document.getElementById('mg-data').textContent);"
        "return data.views.find((v) => v.title === 'layers.1.neurons.4').stops"
        ".map((stop) => stop[0]);")
    assert len(stops) == 3  # the state before, then its ReLU's step and its dot's
    assert stops[1] == stops[0] + 1 and stops[2] > stops[1]
    for k, g in enumerate(stops):
        _slide(browser, k)
        values, shown = browser.execute_script(SHOWN_GRADS)
        assert shown == [states[g][v] for v in values], (k, g)
        assert _text(browser, "position") == \
            f"layers.1.neurons.4 step {k} / 2 (backward step {g} / 71)"
    save_screenshot(browser, screenshots, "player-demo-neuron")
    _press(browser, Keys.ESCAPE)  # up: the layer view, exactly as it was left
    after = [_text(browser, "position"), _text(browser, "crumbs"),
             browser.find_element("id", "mg-slider").get_attribute("value"), _viewbox(browser)]
    assert after == before and before[0] == "backward step 10 / 71"
    assert browser.find_element("id", "mg-up").get_attribute("disabled")


def test_a_step_too_large_for_its_level_is_shown_at_a_coarser_one(browser, pages):
    path, _, _, _ = pages("demo", "neuron")
    _open(browser, path)
    data = player_data(Path(path).read_text(encoding="utf-8"))
    levels = [view["level"] for view in data["views"]]
    assert levels[:2] == ["neuron", "layer"] and data["views"][0]["coarser"] == [1]
    # Step 7: the output neuron sends gradient to all 16 neurons of layers.1, 16 boxes no
    # pane holds readably; the layer level holds them in one box.
    _slide(browser, 7)
    assert browser.execute_script("return document.getElementById('mg-graph').dataset.view") \
        == "1"
    assert _text(browser, "shown").startswith("step 7 shown at the layer level")
    assert _text(browser, "crumbs") == "loss (class 1) (neuron level)"
    _slide(browser, 2)  # one input: at its own level
    assert browser.execute_script("return document.getElementById('mg-graph').dataset.view") \
        == "0"
    assert _text(browser, "shown") == ""


def test_digits_page_loads_and_steps(browser, pages):
    path, _, states, _ = pages("digits")
    _open(browser, path)
    seen = []
    for id_ in ("next", "next", "next", "last", "prev", "first", "next"):
        _click(browser, id_)
        seen.append(_text(browser, "position"))
    last = len(states) - 1
    assert seen == [f"backward step {k} / {last}" for k in (1, 2, 3, last, last - 1, 0, 1)]


def test_whole_graph_hides_text_it_cannot_show_readably(browser, pages):
    path, _, _, _ = pages("demo")
    _open(browser, path)
    _slide(browser, 30)
    following = _viewbox(browser)
    _click(browser, "fit")
    assert _viewbox(browser)[2] > 2 * following[2]  # the whole graph, smaller
    assert "mg-overview" in browser.find_element("id", "mg-graph").get_attribute("class")
    assert browser.execute_script("return getComputedStyle(document.querySelector("
                                  "'#mg-graph g.node text')).visibility") == "hidden"
    assert browser.find_element("id", "mg-note").is_displayed()
    _click(browser, "fit")
    assert _viewbox(browser) == pytest.approx(following)
    assert not browser.find_element("id", "mg-note").is_displayed()


def test_text_size_and_presentation_mode_keep_every_step_readable(browser, pages, screenshots):
    path, _, _, _ = pages("demo")
    _open(browser, path)
    _slide(browser, 12)
    panel = "return parseFloat(getComputedStyle(document.getElementById('mg-text')).fontSize)"
    assert browser.execute_script(panel) == 13
    _click(browser, "larger", 2)  # 150 %
    assert _text(browser, "size") == "150%"
    assert browser.execute_script(panel) == pytest.approx(19.5)
    found = browser.execute_script(PLAYER_SWEEP, {"minPx": 16.5, "view": "layer"})
    # Larger text fits less: every step is still at least 16.5 px, and in the pane unless
    # it cannot be (then it is shown at the coarser level or panned to its node).
    assert not [p for p in found["problems"] if p[1] in ("small text", "small label",
                                                         "labels overlap")], found
    _click(browser, "smaller", 5)
    assert _text(browser, "size") == "100%"
    browser.find_element("id", "mg-present").click()
    assert "mg-present" in browser.find_element("tag name", "body").get_attribute("class")
    assert _text(browser, "size") == "150%"
    assert not browser.find_element("id", "mg-legend").is_displayed()
    save_screenshot(browser, screenshots, "player-demo-present")
    _press(browser, "p")  # and back
    assert _text(browser, "size") == "100%"
    assert browser.find_element("id", "mg-legend").is_displayed()


def test_hostile_labels_show_as_text_and_run_nothing(browser, tmp_path):
    a = Value(2.0, HOSTILE)
    b = Value(3.0, SCRIPT_END + "\u2028")
    out = a * b
    out.label = "out 'quoted' \"twice\""
    path = render_html(out, tmp_path / "hostile.html")
    _open(browser, path)
    _click(browser, "last")
    assert browser.title == "backprop player: out 'quoted' \"twice\""
    assert browser.find_elements("tag name", "img") == []
    svg_text = browser.find_element("css selector", "#mg-graph svg").text
    assert HOSTILE in svg_text
    assert f"{HOSTILE}.grad" in browser.find_element("id", "mg-text").text
    assert SCRIPT_END in browser.find_element("id", "mg-text").text
    assert len(browser.find_elements("tag name", "script")) == 2


def test_a_lone_surrogate_in_the_title_is_written_escaped(tmp_path):
    require_tool("dot")
    out = Value(2.0, "x") * Value(3.0, "y")
    out.label = "loss \ud800"
    path = render_html(out, tmp_path / "surrogate.html")
    assert "<title>backprop player: loss \\ud800</title>" in \
        Path(path).read_text(encoding="utf-8")
    page = to_html(out, title="mine \udfff")
    assert "<title>mine \\udfff</title>" in page


def _notebook(tmp_path, cell_html: str, frame: str = "width: 100%") -> Path:
    """A page standing in for a notebook: a tall text above and below one output."""
    text = "<p>" + "A notebook paragraph. " * 400 + "</p>"
    path = tmp_path / "notebook.html"
    path.write_text(f'<!DOCTYPE html><body style="margin: 0"><div id="out" style="{frame}">'
                    f"{text}{cell_html}{text}</div></body>", encoding="utf-8")
    return path


def test_jupyter_iframe_runs_the_player_and_the_wheel_scrolls_the_notebook(browser, tmp_path,
                                                                           screenshots):
    out, _ = _seed_neuron()
    _open(browser, _notebook(tmp_path, Player(out)._repr_html_()))
    assert browser.find_elements("css selector", ".mg-untrusted") == []  # scripts ran
    frame = browser.find_element("tag name", "iframe")
    assert frame.size["height"] == 500
    browser.execute_script("arguments[0].scrollIntoView()", frame)
    browser.switch_to.frame(frame)
    try:
        _click(browser, "next")
        assert browser.find_element("id", "mg-position").text.startswith("backward step 1 / ")
        wheel = ("const g = document.getElementById('mg-graph');"
                 "const e = new WheelEvent('wheel', {deltaY: 100, ctrlKey: arguments[0],"
                 " clientX: 100, clientY: 100, bubbles: true, cancelable: true});"
                 "g.dispatchEvent(e); return e.defaultPrevented;")
        box = _viewbox(browser)
        assert browser.execute_script(wheel, False) is False  # left to the notebook
        assert _viewbox(browser) == box
        assert browser.execute_script(wheel, True) is True  # Ctrl + wheel zooms
        assert _viewbox(browser)[2] > box[2]
    finally:
        browser.switch_to.default_content()
    save_screenshot(browser, screenshots, "player-in-a-notebook")


def test_a_player_mounted_at_zero_size_measures_once_it_has_one(browser, tmp_path):
    """Jupyter can run the page's script while its frame is 0 x 0 (and an export keeps
    outputs below the fold unsized): nothing measured then may stick."""
    out, _ = _seed_neuron()
    _open(browser, _notebook(tmp_path, Player(out)._repr_html_(),
                             frame="width: 0; height: 0; overflow: hidden"))
    browser.execute_script("document.getElementById('out').style.cssText = 'width: 100%'")
    frame = browser.find_element("tag name", "iframe")
    browser.execute_script("arguments[0].scrollIntoView()", frame)
    time.sleep(0.3)  # a few animation frames
    browser.switch_to.frame(frame)
    try:
        assert browser.find_element("id", "mg-position").text.startswith("backward step 0 / ")
        _click(browser, "last")  # n = dot(...): its seven labels beside their edges
        found = browser.execute_script(PLAYER_SWEEP, {})
        assert found["bad"] == 0, found
        spread = browser.execute_script(
            "const xs = [...document.querySelectorAll('.mg-elabel')].filter((l) => l.textContent)"
            ".map((l) => l.getBoundingClientRect()); return [xs.length,"
            " Math.max(...xs.map((r) => r.top)) - Math.min(...xs.map((r) => r.top))];")
        assert spread[0] == 7 and spread[1] > 50  # spread out, not piled at one edge
        # Centred texts were centred on real boxes: each node's texts share their middle.
        middles = browser.execute_script(
            "return [...document.querySelectorAll('#mg-graph g.node')].map((g) =>"
            " [...g.querySelectorAll('text')].map((t) => { const r = t.getBoundingClientRect();"
            " return Math.round(r.left + r.width / 2); }));")
        assert all(max(m) - min(m) <= 6 for m in middles if m), middles
    finally:
        browser.switch_to.default_content()


def test_forward_mode_reveals_nodes_in_topological_order(browser, tmp_path):
    out, _ = _seed_neuron()
    path = render_html(out, tmp_path / "forward.html", forward=True)
    _open(browser, path)
    units = browser.execute_script("return JSON.parse("
                                   "document.getElementById('mg-data').textContent)"
                                   ".views[0].units")
    hidden = browser.find_elements("css selector", "g.node.mg-hidden")
    assert len({element.get_attribute("id") for element in hidden}) == len(units) - 1
    assert browser.find_element("id", "mg-text").text.startswith(f"forward 1/{len(units)}  x0 = 1")
    _click(browser, "last")
    assert browser.find_elements("css selector", ".mg-hidden") == []
    assert browser.find_element("id", "mg-position").text.startswith("backward step")
