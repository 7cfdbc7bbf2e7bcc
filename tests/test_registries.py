"""The activation and loss registries: docs/layout.md's recipes each add a row (softplus,
huber), and every row, those two included, works end to end: training (compiled steps
too), recording, the replay page in Chromium and the torch bridge."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from conftest import require_module
from helpers import headless_chromium
from micrograd_ann import MLP, Value, losses, torch_bridge, training
from micrograd_ann.activations import ACTIVATIONS
from micrograd_ann.losses import LOSSES
from micrograd_ann.passes import float_network, forward
from micrograd_ann.views import replay

LAYOUT = Path(__file__).resolve().parents[1] / "docs" / "layout.md"
ACTIVATION_ROWS = [*ACTIVATIONS, "softplus"]
LOSS_ROWS = [*LOSSES, "huber"]


def recipe(marker: str) -> str:
    """The ```py block of docs/layout.md that holds `marker`."""
    blocks = re.findall(r"```py\n(.*?)```", LAYOUT.read_text(encoding="utf-8"), re.S)
    (block,) = [block for block in blocks if marker in block]
    return block


@pytest.fixture
def added():
    """The registries with the layout page's two recipes run; as they were afterwards."""
    saved = dict(ACTIVATIONS), dict(LOSSES)
    namespace: dict = {}
    exec(recipe('ACTIVATIONS["softplus"]'), namespace)
    exec(recipe('LOSSES["huber"]'), namespace)
    yield namespace
    for registry, before in zip((ACTIVATIONS, LOSSES), saved):
        registry.clear()
        registry.update(before)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"), 1366, 768)
    yield driver
    driver.quit()


def trained(**settings) -> training.Run:
    """Four epochs on 40 moons, all compiled, epochs 2 and 4 recorded: the history the
    engine records, to the bit."""
    config = training.TrainConfig(samples=40, hidden=[4], epochs=4, **settings)
    run = training.train(config, history=True, record_every=2, compiled=True)
    engine = training.train(config, history=True, record_every=2, compiled=False)
    assert run.compiled_steps == 4 and [f.epoch for f in run.history.frames] == [0, 2, 4]
    assert run.history.to_dict() == engine.history.to_dict()
    assert run.history.frames[-1].params == [p.data for p in run.model.parameters()]
    return run


def page_shows(browser, run: training.Run, path: Path) -> None:
    """The run's replay page opens at its last epoch without a script error or warning."""
    replay.to_html(run.history, path)
    browser.get(path.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
    assert browser.execute_script("return replay.frame") == len(run.history.frames) - 1
    shown = browser.execute_script("return document.querySelectorAll('#rp-network .rp-tile')"
                                   ".length")
    assert shown == 2 + sum(run.model.nouts)  # every unit's square is pictured


def test_the_recipes_add_one_row_each(added):
    assert list(ACTIVATIONS)[-1] == "softplus" and list(LOSSES)[-1] == "huber"
    neuron = MLP(1, [1], output_activation="softplus", seed=0).layers[0].neurons[0]
    out = neuron([2.0])
    assert out.op is added["SOFTPLUS"] and out.parents[0].op.name == "dot"
    a = out.parents[0].data
    assert out.data == pytest.approx(math.log1p(math.exp(a)), rel=1e-15)
    out.backward()  # d softplus(w x + b) / d w = sigmoid(w x + b) x
    assert neuron.w[0].grad == pytest.approx(2.0 / (1.0 + math.exp(-a)), rel=1e-15)


@pytest.mark.parametrize("name", ACTIVATION_ROWS)
def test_every_activation_row_works_end_to_end(name, added, browser, tmp_path):
    row = ACTIVATIONS[name]
    run = trained(activation=name)
    x = run.train_set[0][0]
    hidden = run.model.layers[0].outputs(x)
    assert {v.op.name for v in hidden} == {name if row.op else "dot"}
    net = float_network(run.model.architecture(), [p.data for p in run.model.parameters()])
    assert forward(net, x)[0] == [v.data for v in hidden]  # the recorder's forward: the same
    stats = run.history.frames[-1].layers[0]
    assert (stats.dead is None) == (row.off is None)
    assert (stats.flat is None) == (row.off is None and row.tail is None)
    page_shows(browser, run, tmp_path / "page.html")
    require_module("torch", extra="torch")
    seq = torch_bridge.to_torch(run.model)
    modules = ["Linear", row.torch, "Linear"] if row.torch else ["Linear", "Linear"]
    assert [type(m).__name__ for m in seq] == modules
    assert torch_bridge.from_torch(seq).architecture() == run.model.architecture()
    data = [(x, float(y)) for x, y in run.train_set[:10]]
    report = torch_bridge.compare(run.model, losses.binary_cross_entropy, data)
    assert report.max_diff < 1e-12 and report.loss == pytest.approx(report.torch_loss, rel=1e-12)


@pytest.mark.parametrize("name", LOSS_ROWS)
def test_every_loss_row_works_end_to_end(name, added, browser, tmp_path):
    row = LOSSES[name]
    run = trained(loss=name)
    assert run.model.nouts[-1] == row.outputs(2)
    history, targets = run.history, [y for _, y in run.test_set]
    model = history.model_at(0)
    outputs = [model(x) for x, _ in run.test_set]
    assert history.frames[0].test_loss == row(outputs, targets).data
    assert history.frames[0].test_predictions == [training.predict(out) for out in outputs]
    page_shows(browser, run, tmp_path / "page.html")
    require_module("torch", extra="torch")
    width = row.outputs(2)
    data = [(x, row.target(y, width)) for x, y in run.train_set[:10]]
    report = torch_bridge.compare(run.model, row.function, data)
    assert report.max_diff < 1e-12 and report.loss == pytest.approx(report.torch_loss, rel=1e-12)


@pytest.mark.parametrize("name", LOSS_ROWS)
def test_each_loss_is_least_where_predict_reads_the_target_class(name, added):
    # One predict rule for every loss: outputs read as class y cost less against y's target
    # than outputs read as another class.
    row = LOSSES[name]
    for classes in (2, 3):
        if classes > 2 and not row.per_class:
            with pytest.raises(ValueError, match="is for two classes"):
                row.outputs(classes)
            continue
        width = row.outputs(classes)

        def reading(c: int) -> Value | list[Value]:
            if width == 1:
                return Value(2.0 if c == 1 else -2.0)
            return [Value(2.0 if k == c else -2.0) for k in range(width)]

        for y in range(classes):
            assert losses.predict([v.data for v in _listed(reading(y))]) == y
            right = row([reading(y)], [y]).data
            assert all(right < row([reading(c)], [y]).data for c in range(classes) if c != y)


def _listed(output: Value | list[Value]) -> list[Value]:
    return output if isinstance(output, list) else [output]


def test_a_three_class_run_takes_one_output_per_class(added):
    for name, row in LOSSES.items():
        config = training.TrainConfig(dataset="spiral", samples=30, hidden=[3], epochs=1,
                                      loss=name)
        if not row.per_class:
            with pytest.raises(ValueError, match="use cross_entropy or huber or mse"):
                training.train(config)
            continue
        assert training.train(config).model.nouts == [3, 3]
