"""Tests for network.py: what the SVG holds against the model, then the view in Chromium."""

from __future__ import annotations

import base64
import re

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers import SVG_NS, headless_chromium
from micrograd_ann import MLP, Value
from micrograd_ann.markup import printable
from micrograd_ann.losses import cross_entropy, mse
from micrograd_ann.views.network import (NEGATIVE, POSITIVE, ZERO, NetworkView, _mix,
                                         draw_network)

BLUE, ORANGE, GREY = _mix(POSITIVE, 1.0), _mix(NEGATIVE, 1.0), _mix(ZERO, 1.0)

# MLP(2, [3, 1]) by hand, on x = [1, 2]: hidden pre-activations 0.5, -1.5 (a ReLU off) and
# 2; output 2 * 0.5 + 3 * 0 - 0.5 * 2 + 0.25 = 0.25. With mse(out, 1): d loss / d out =
# 2 (0.25 - 1) = -1.5, so the hidden outputs get -1.5 * (2, 3, -0.5) = (-3, -4.5, 0.75),
# and the inputs 0.5 * -3 - 1 * 0.75 = -2.25 and -0.25 * -3 + 1 * 0.75 = 1.5 (the neuron
# that is off passes nothing back).
HAND = {"layers.0.neurons.0.w.0": 0.5, "layers.0.neurons.0.w.1": -0.25,
        "layers.0.neurons.0.b": 0.5,
        "layers.0.neurons.1.w.0": 1.0, "layers.0.neurons.1.w.1": -1.0,
        "layers.0.neurons.1.b": -0.5,
        "layers.0.neurons.2.w.0": -1.0, "layers.0.neurons.2.w.1": 1.0,
        "layers.0.neurons.2.b": 1.0,
        "layers.1.neurons.0.w.0": 2.0, "layers.1.neurons.0.w.1": 3.0,
        "layers.1.neurons.0.w.2": -0.5, "layers.1.neurons.0.b": 0.25}
HAND_X = [1.0, 2.0]
HAND_TEXTS = {"x0": "x0 1 grad -2.25", "x1": "x1 2 grad 1.5",
              "layers.0.neurons.0": "data 0.5 grad -3",
              "layers.0.neurons.1": "data 0 off grad -4.5",
              "layers.0.neurons.2": "data 2 grad 0.75",
              "layers.1.neurons.0": "data 0.25 grad -1.5"}


def _hand_model(**options) -> MLP:
    model = MLP(2, [3, 1], **options)
    model.load_state_dict(HAND)
    return model


def _digit_like() -> list[float]:
    """64 inputs in [0, 1] in the shape of a 0 on an 8x8 grid (no scikit-learn needed)."""
    ring = {(r, c) for r in range(1, 7) for c in range(2, 6)} - \
        {(r, c) for r in range(2, 6) for c in range(3, 5)}
    return [1.0 if (r, c) in ring else 0.0 for r in range(8) for c in range(8)]


def _demo_view() -> NetworkView:
    model = MLP(2, [16, 16, 1], seed=0)
    loss = mse(model([0.5, -1.5]), 1.0)
    loss.backward()
    return draw_network(model, loss=loss)


def _digits_view() -> NetworkView:
    model = MLP(64, [32, 10], seed=0)
    loss = cross_entropy(model(_digit_like()), 0)
    loss.backward()
    return draw_network(model, loss=loss)


def _tree(view: NetworkView) -> ET.Element:
    return ET.fromstring(view.svg)


def _groups(root: ET.Element, kind: str) -> dict[str, ET.Element]:
    """The <g> of each neuron or input box by its name (data-name)."""
    return {g.get("data-name"): g for g in root.iter(f"{SVG_NS}g")
            if kind in g.get("class", "").split()}


def _box_texts(root: ET.Element, kind: str) -> dict[str, str]:
    return {name: "".join(g.find(f"{SVG_NS}text").itertext())
            for name, g in _groups(root, kind).items()}


def _weight_lines(root: ET.Element) -> dict[str, ET.Element]:
    """Each weight's line by the parameter name its tooltip starts with."""
    lines = {}
    for group in root.iter(f"{SVG_NS}g"):
        if group.get("class") == "mg-weights":
            for line in group.iter(f"{SVG_NS}line"):
                name = line.find(f"{SVG_NS}title").text.split(" = ")[0]
                assert name not in lines, f"two lines for {name}"
                lines[name] = line
    return lines


# ------------------------------------------------------------------ the drawing


@pytest.mark.parametrize("make, inputs", [(_demo_view, 2), (_digits_view, 64)],
                         ids=["demo", "digits"])
def test_one_box_per_neuron_and_one_line_per_weight(make, inputs):
    root = _tree(make())
    model = MLP(2, [16, 16, 1]) if inputs == 2 else MLP(64, [32, 10])
    neurons = _groups(root, "mg-neuron")
    assert sorted(neurons) == sorted(n.name for layer in model.layers for n in layer.neurons)
    assert all(len(g.findall(f"{SVG_NS}rect")) == 1 for g in neurons.values())
    weights = sorted(name for name, _ in model.named_parameters() if ".w." in name)
    assert sorted(_weight_lines(root)) == weights  # 304 for the demo, 2,368 for digits
    if inputs == 2:  # few inputs: a box each
        assert sorted(_groups(root, "mg-input")) == ["x0", "x1"]
    else:  # 64 inputs: an 8x8 grid of cells, one rect each
        cells = [r for r in root.iter(f"{SVG_NS}rect") if r.get("class") == "mg-input"]
        assert [c.get("data-name") for c in cells] == [f"x{i}" for i in range(64)]
        assert len({c.get("x") for c in cells}) == len({c.get("y") for c in cells}) == 8


CRAFTED = 'n" onload="alert(1)"><script>alert(2)</script><g x="\x00\ud800&amp;\'\n'


@pytest.mark.parametrize("with_loss", [False, True])
def test_a_crafted_neuron_name_stays_text_in_well_formed_svg(with_loss):
    model = _hand_model(activation="relu")
    model.layers[1].neurons[0].name = CRAFTED
    loss = None
    if with_loss:
        loss = mse(model(HAND_X), 1.0)
        loss.backward()
    root = _tree(draw_network(model, HAND_X if with_loss else None, loss=loss))  # parses
    shown = printable(CRAFTED)  # the NUL, the lone surrogate and the newline as escapes
    assert shown == 'n" onload="alert(1)"><script>alert(2)</script><g x="\\x00\\ud800&amp;\'\\n'
    neurons = _groups(root, "mg-neuron")
    assert sorted(neurons) == sorted([shown, "layers.0.neurons.0", "layers.0.neurons.1",
                                      "layers.0.neurons.2"])
    assert neurons[shown].find(f"{SVG_NS}title").text.startswith(f"{shown} (linear): ")
    assert not [e for e in root.iter() if e.tag.endswith("script") or "onload" in e.attrib]
    assert sorted(_weight_lines(root))[-3:] == [f"{shown}.w.{k}" for k in range(3)]


def test_numbers_shown_are_the_activations_and_grads_of_the_model():
    model = _hand_model()
    loss = mse(model(HAND_X), 1.0)
    loss.backward()
    root = _tree(draw_network(model, loss=loss))
    assert {**_box_texts(root, "mg-input"), **_box_texts(root, "mg-neuron")} == HAND_TEXTS
    tips = {name: g.find(f"{SVG_NS}title").text for name, g in _groups(root, "mg-neuron").items()}
    assert tips["layers.0.neurons.2"] == "layers.0.neurons.2 (relu): data 2, grad 0.75, bias 1"
    lines = _weight_lines(root)
    # d loss / d w = (grad at the neuron's output) x (its input): -1.5 x h0 = -1.5 x 0.5.
    assert lines["layers.1.neurons.0.w.0"].find(f"{SVG_NS}title").text == \
        "layers.1.neurons.0.w.0 = 2, grad -0.75"
    title = "".join(next(root.iter(f"{SVG_NS}text")).itertext())
    assert title == "MLP(2, [3, 1]) on x = [1, 2]  \u00b7  loss 0.562"  # (0.25 - 1)^2


def test_x_alone_shows_activations_and_no_grads():
    model = _hand_model()
    root = _tree(draw_network(model, HAND_X))
    assert _box_texts(root, "mg-neuron") == {name: text.partition(" grad")[0]
                                             for name, text in HAND_TEXTS.items() if "." in name}
    assert all(p.grad == 0.0 for p in model.parameters())  # its own forward, no backward


def test_without_x_each_neuron_shows_its_bias():
    texts = _box_texts(_tree(draw_network(_hand_model())), "mg-neuron")
    assert texts == {"layers.0.neurons.0": "b 0.5", "layers.0.neurons.1": "b -0.5",
                     "layers.0.neurons.2": "b 1", "layers.1.neurons.0": "b 0.25"}


def test_a_negative_zero_is_shown_as_0():
    model = _hand_model()
    model.layers[0].neurons[0].b.data = -0.0  # a bias trained down to -0.0 still reads "0"
    texts = _box_texts(_tree(draw_network(model)), "mg-neuron")
    assert texts["layers.0.neurons.0"] == "b 0"


def test_relus_off_for_this_x_are_marked_and_only_they():
    root = _tree(draw_network(_hand_model(), HAND_X))
    neurons = _groups(root, "mg-neuron")
    off = sorted(name for name, g in neurons.items() if "mg-off" in g.get("class").split())
    assert off == ["layers.0.neurons.1"]
    rect = neurons["layers.0.neurons.1"].find(f"{SVG_NS}rect")
    assert rect.get("stroke-dasharray") and "ReLU off for this x" in \
        neurons["layers.0.neurons.1"].find(f"{SVG_NS}title").text
    # "dead" is the replay's word, for a ReLU at 0 for every sample: not used here.
    assert "dead" not in draw_network(_hand_model(), HAND_X).svg
    # A tanh neuron at 0 passes gradient back (slope 1): not off.
    tanh = MLP(2, [1, 1], activation="tanh")
    tanh.load_state_dict({"layers.0.neurons.0.w.0": 1.0, "layers.0.neurons.0.w.1": -1.0,
                          "layers.0.neurons.0.b": 0.0, "layers.1.neurons.0.w.0": 1.0,
                          "layers.1.neurons.0.b": 0.0})
    root = _tree(draw_network(tanh, [2.0, 2.0]))
    assert _box_texts(root, "mg-neuron")["layers.0.neurons.0"] == "data 0"
    assert not any("mg-off" in g.get("class") for g in _groups(root, "mg-neuron").values())


def test_line_colour_is_the_weight_sign_and_width_grows_with_its_size():
    model = MLP(2, [16, 16, 1], seed=0)
    model.layers[1].neurons[3].w[5].data = 0.0
    lines = _weight_lines(_tree(draw_network(model)))
    params = dict(model.named_parameters())
    for name, line in lines.items():
        w = params[name].data
        assert line.get("stroke") == (BLUE if w > 0 else ORANGE if w < 0 else GREY), name
    assert lines["layers.1.neurons.3.w.5"].get("stroke") == GREY
    for layer in model.layers:
        ranked = sorted((abs(w.data), float(lines[f"{n.name}.w.{k}"].get("stroke-width")))
                        for n in layer.neurons for k, w in enumerate(n.w))
        widths = [width for _, width in ranked]
        assert widths == sorted(widths) and widths[0] < widths[-1]


def test_grid_cells_are_shaded_by_the_input_values():
    x = _digit_like()
    root = _tree(draw_network(MLP(64, [32, 10], seed=0), x))
    fills = {r.get("data-name"): r.get("fill") for r in root.iter(f"{SVG_NS}rect")
             if r.get("class") == "mg-input"}
    assert {fills[f"x{i}"] for i, v in enumerate(x) if v == 1.0} == {BLUE}
    assert {fills[f"x{i}"] for i, v in enumerate(x) if v == 0.0} == {"#ffffff"}


def test_a_batch_loss_draws_the_sample_x_names():
    model = _hand_model()
    batch = [[3.0, -1.0], HAND_X, [0.0, 0.5]]
    loss = mse([model(x) for x in batch], [0.0, 1.0, 0.0])  # the mean over three samples
    loss.backward()
    with pytest.raises(ValueError, match="holds 3 forward passes of the model"):
        draw_network(model, loss=loss)
    texts = _box_texts(_tree(draw_network(model, HAND_X, loss=loss)), "mg-neuron")
    # The same sample as alone, its output's gradient a third: 2 (0.25 - 1) / 3.
    assert texts["layers.1.neurons.0"] == "data 0.25 grad -0.5"
    assert texts["layers.0.neurons.0"] == "data 0.5 grad -1"
    with pytest.raises(ValueError, match=r"none of the 3 forward passes .* x = \[9.0, 9.0\]"):
        draw_network(model, [9, 9], loss=loss)


def test_micrograds_unfused_chain_reads_the_same():
    fused, chain = _hand_model(), _hand_model(fused=False)
    views = []
    for model in (fused, chain):
        loss = mse(model([Value(1.0), Value(2.0)]), 1.0)
        loss.backward()
        views.append(draw_network(model, loss=loss).svg)
    assert views[0] == views[1]


def test_a_loss_not_made_by_the_model_is_refused():
    other = _hand_model()
    loss = mse(other(HAND_X), 1.0)
    with pytest.raises(ValueError, match="no complete forward pass of this model"):
        draw_network(_hand_model(), loss=loss)


@pytest.mark.parametrize("call, error, message", [
    (lambda m: draw_network("model"), TypeError, "draws an MLP, got str"),
    (lambda m: draw_network(m, [1.0]), ValueError, "must hold 2 inputs"),
    (lambda m: draw_network(m, 1.0), TypeError, "sequence of 2 numbers, got float"),
    (lambda m: draw_network(m, ["a", 1]), TypeError, "numbers or Values, got str"),
    (lambda m: draw_network(m, loss=0.5), TypeError, "loss must be a Value, got float"),
    (lambda m: draw_network(m, precision=0), ValueError, "precision must be at least 1"),
    (lambda m: draw_network(m, input_shape=(1, 1)), ValueError, "1 cells for 2 inputs"),
    (lambda m: draw_network(m, input_shape=[1, 2]), TypeError, "a \\(rows, cols\\) tuple"),
], ids=["model", "x-length", "x-type", "x-item", "loss", "precision", "shape", "shape-type"])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call(_hand_model())


def test_input_shape_draws_few_inputs_as_cells():
    root = _tree(draw_network(_hand_model(), HAND_X, input_shape=(1, 2)))
    cells = [r for r in root.iter(f"{SVG_NS}rect") if r.get("class") == "mg-input"]
    assert len(cells) == 2 and not _groups(root, "mg-input")


def test_never_runs_dot_or_imports_graphviz(tmp_path):
    # A fresh interpreter whose PATH has no programs at all: no dot to find, nothing to run.
    target = tmp_path / "n.svg"
    script = ("import sys, subprocess\n"
              "subprocess.Popen = None  # any attempt to start a program fails\n"
              "from micrograd_ann import MLP\n"
              "from micrograd_ann.network import draw_network\n"
              "model = MLP(2, [16, 16, 1], seed=0)\n"
              f"draw_network(model, [0.5, -1.5]).save({str(target)!r})\n"
              "assert 'graphviz' not in sys.modules\n")
    env = {**os.environ, "PATH": str(tmp_path)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    assert target.read_text(encoding="utf-8").startswith("<svg ")


def test_save_writes_the_svg_and_jupyter_shows_it(tmp_path):
    view = draw_network(_hand_model(), HAND_X)
    target = tmp_path / "network.svg"
    target.write_text("old", encoding="utf-8")
    assert view.save(target) == str(target)
    assert target.read_text(encoding="utf-8") == view.svg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["network.svg"]  # no temp file left
    with pytest.raises(ValueError, match="give the file a .svg name"):
        view.save(tmp_path / "network.png")
    assert view._repr_svg_() == view.svg


def test_jupyter_shows_a_picture_that_a_trusted_notebook_puts_inline():
    view = draw_network(_hand_model(), HAND_X)
    found = re.fullmatch(r'<img src="data:image/svg\+xml;base64,([^"]*)"[^>]*>'
                         r"<script>([^<]*)</script>", view._repr_html_())
    assert found is not None  # an untrusted notebook drops the script, keeps the picture
    assert base64.b64decode(found.group(1)).decode("utf-8") == view.svg
    assert "outerHTML" in found.group(2) and "atob(" in found.group(2)


# ------------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A 1366x768 headless Chromium window, as on a small laptop."""
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"), 1366, 768)
    yield driver
    driver.quit()


@pytest.mark.parametrize("make, name", [(_demo_view, "demo"), (_digits_view, "digits")],
                         ids=["demo", "digits"])
def test_view_fits_a_small_laptop_window_with_readable_text(browser, tmp_path, screenshots,
                                                            make, name):
    path = make().save(tmp_path / f"{name}.svg")
    browser.get(Path(path).as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    shown = browser.execute_script(
        "const svg = document.documentElement, box = svg.getBoundingClientRect();"
        "const boxes = [...document.querySelectorAll('.mg-neuron text, .mg-input text')];"
        "return {right: box.right, bottom: box.bottom, width: innerWidth, height: innerHeight,"
        "  scale: svg.getScreenCTM().a, boxes: boxes.length,"
        "  sizes: [...document.querySelectorAll('text')]"
        "    .map((t) => parseFloat(getComputedStyle(t).fontSize)),"
        "  heights: boxes.map((t) => t.getBoundingClientRect().height)};")
    assert shown["right"] <= shown["width"] and shown["bottom"] <= shown["height"], shown
    assert shown["boxes"] == (35 if name == "demo" else 42)  # the neurons, and 2 inputs
    assert shown["scale"] == 1 and min(shown["sizes"]) >= 10  # every text, at natural size
    assert min(shown["heights"]) >= 10  # the box texts' glyphs as drawn, not only the CSS
    browser.save_screenshot(str(screenshots / f"network-{name}.png"))
