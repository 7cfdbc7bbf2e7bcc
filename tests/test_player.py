"""Tests for player.py: the page's data and escaping, then the page driven in headless Chromium."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from conftest import require_tool
from helpers import TUTORIAL_SLOPE, assert_all_close, grads_by_node, player_data, tutorial_leaves
from micrograd_ann import MLP, Value, dot, topological_order
from micrograd_ann.player import Player, _script_json, render_html, to_html
from micrograd_ann.trace import backward_steps
from micrograd_ann.viz import dot_ids

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
HOSTILE = "<img src=x onerror=alert(1)>"
SCRIPT_END = '</script><script>document.title="pwned"</script><!--'
PRECISION = 12  # grad texts with 12 significant digits compare tightly with floats


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


# ----------------------------------------------------------------- without a browser


def test_script_json_cannot_end_the_script_or_break_the_parser():
    tricky = {"label": SCRIPT_END + "\u2028\u2029&"}
    text = _script_json(tricky)
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


def test_jupyter_iframe_holds_the_whole_page_attribute_escaped():
    require_tool("dot")
    out, _ = _seed_neuron()
    out.label = SCRIPT_END
    player = Player(out, height=300)
    shown = player._repr_html_()
    found = re.fullmatch(r'<iframe srcdoc="([^"]*)" sandbox="allow-scripts" [^>]*></iframe>',
                         shown)
    assert found is not None
    assert html.unescape(found.group(1)) == player.html
    assert "height: 300px" in shown


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


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium for the whole module; selenium downloads nothing."""
    require_tool("dot")
    chromium = require_tool("chromium")
    chromedriver = require_tool("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,900",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
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


@pytest.fixture(scope="module")
def seed_page(tmp_path_factory):
    """The seed neuron's page, and the grads backward_steps() gives after each step."""
    out, leaves = _seed_neuron()
    path = render_html(out, tmp_path_factory.mktemp("player") / "seed.html", precision=PRECISION)
    names = dot_ids(out, precision=PRECISION)
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
    assert {element.get_attribute("id") for element in current} == {names[n], names[n] + "_op"}
    labels = [e.text for e in browser.find_elements("css selector", "g.edge.mg-active .mg-elabel")]
    assert len(labels) == 7
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "player-neuron.png"))
    upstream = TUTORIAL_SLOPE  # s(1 - s) at 2.5; n's two halves add up to it
    w1_label = f"{upstream:.{PRECISION}g} \u00d7 5 = {5 * upstream:.{PRECISION}g}"
    assert w1_label in labels  # upstream x local (x1 = 5) = contribution
    assert "n = dot(w0, w1, w2, x0, x1, x2, b)" in browser.find_element("id", "mg-text").text


def test_each_shown_label_is_tied_to_its_own_edge(browser, seed_page):
    path, _, _, _ = seed_page
    _open(browser, path)
    _click(browser, "last")
    # Graphviz's decorate line runs from the label to a point on the edge; only the active
    # edges' lines show, and each ends on its own edge (within half a pixel).
    ends = browser.execute_script(
        "return [...document.querySelectorAll('g.edge')].map((edge) => {"
        "  const line = edge.querySelector('polyline');"
        "  if (!line || getComputedStyle(line).visibility !== 'visible') return null;"
        "  const points = line.points, end = points[points.length - 1];"
        "  const path = edge.querySelector('path'), total = path.getTotalLength();"
        "  let best = Infinity;"
        "  for (let i = 0; i <= 400; i++) {"
        "    const p = path.getPointAtLength(total * i / 400);"
        "    best = Math.min(best, Math.hypot(p.x - end.x, p.y - end.y));"
        "  }"
        "  return [edge.id, edge.classList.contains('mg-active'), best];"
        "}).filter(Boolean);")
    assert len(ends) == 7
    for edge, active, distance in ends:
        assert active and distance < 0.5, (edge, distance)


def test_fit_to_window_starts_on_only_for_graphs_that_stay_readable(browser, tmp_path):
    out = Value(2.0, "a") * Value(-3.0, "b")
    _open(browser, render_html(out, tmp_path / "small.html"))  # fits at its natural size
    assert browser.find_element("id", "mg-fit").is_selected()
    assert "mg-fit" in browser.find_element("id", "mg-graph").get_attribute("class")
    _click(browser, "fit")  # the user can still turn it off
    assert "mg-fit" not in browser.find_element("id", "mg-graph").get_attribute("class")


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


def test_jupyter_iframe_runs_the_player(browser, tmp_path):
    out, _ = _seed_neuron()
    notebook_output = tmp_path / "notebook.html"
    notebook_output.write_text(f"<!DOCTYPE html><body>{Player(out)._repr_html_()}</body>",
                               encoding="utf-8")
    _open(browser, notebook_output)
    browser.switch_to.frame(browser.find_element("tag name", "iframe"))
    try:
        _click(browser, "next")
        assert browser.find_element("id", "mg-position").text.startswith("backward step 1 / ")
        assert browser.find_elements("css selector", "#mg-graph svg")
    finally:
        browser.switch_to.default_content()


def test_forward_mode_reveals_nodes_in_topological_order(browser, tmp_path):
    out, _ = _seed_neuron()
    path = render_html(out, tmp_path / "forward.html", forward=True)
    _open(browser, path)
    units = browser.execute_script("return JSON.parse("
                                   "document.getElementById('mg-data').textContent).units")
    hidden = browser.find_elements("css selector", "g.node.mg-hidden")
    assert len({element.get_attribute("id").removesuffix("_op") for element in hidden}) == \
        len(units) - 1
    assert browser.find_element("id", "mg-text").text.startswith(f"forward 1/{len(units)}  x0 = 1")
    _click(browser, "last")
    assert browser.find_elements("css selector", ".mg-hidden") == []
    assert browser.find_element("id", "mg-position").text.startswith("backward step")


def test_collapsed_mlp_loads_and_steps_within_a_second(browser, tmp_path):
    model = MLP(2, [16, 16, 1], seed=0)
    out = model([0.5, -1.5])
    path = render_html(out, tmp_path / "mlp.html", collapse="neuron")
    names = dot_ids(out, collapse="neuron")
    _open(browser, path)
    # Thousands of px tall: fitting would shrink the text to specks, so it starts off.
    assert not browser.find_element("id", "mg-fit").is_selected()
    assert "mg-fit" not in browser.find_element("id", "mg-graph").get_attribute("class")
    # The generous bound: every step renders in under a second.
    times = browser.execute_script(
        "const times = [];"
        "for (const id of arguments[0]) {"
        "  const start = performance.now();"
        "  document.getElementById('mg-' + id).click();"
        "  times.push(performance.now() - start);"
        "} return times;", ["next", "next", "next", "last", "prev", "first"])
    assert max(times) < 1000, times
    # Step 3 runs the dot node hidden in a hidden neuron's box (step 2 ran its ReLU).
    step_nodes = [node for node in reversed(topological_order(out)) if node.parents]
    assert step_nodes[2].op.name == "dot" and step_nodes[1].op.name == "relu"
    _click(browser, "next", 3)
    boxes = [e.get_attribute("id") for e in browser.find_elements("css selector", ".mg-current")]
    assert boxes == [names[step_nodes[2]]] == [names[step_nodes[1]]]
    assert boxes[0].startswith("m")
    _click(browser, "last")
    out.backward()
    outputs = {}  # each box shows its neuron's output: the Value it made last
    for value, name in names.items():
        if value._id > outputs.get(name, value)._id or name not in outputs:
            outputs[name] = value
    final = {value: value.grad for value in outputs.values()}
    _expect(_shown_grads(browser, names), final, "last, collapsed", rel=1e-3)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "player-mlp.png"))
