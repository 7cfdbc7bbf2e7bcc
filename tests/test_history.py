"""Tests for history.py: what a History records against the model it watched, its hints,
its JSON file, and the plots of a history (plots.history_*)."""

from __future__ import annotations

import json
import math

import pytest

from conftest import require_module
from helpers import assert_all_close
import micrograd_ann
from micrograd_ann import MLP, SGD, passes, training
from micrograd_ann.activations import SATURATION
from micrograd_ann.diagnostics import Histogram, LayerStats
from micrograd_ann.engine import topological_order
from micrograd_ann.history import FRAMES, RECORD_EVERY, Frame, History, HistoryError
from micrograd_ann.training import batch_loss, predict

# Six points; every one of them gives the same hidden outputs below, since the hidden
# weights start at 0.
POINTS = [([0.5, -1.0], 0), ([1.5, 0.25], 1), ([-0.75, 0.5], 0), ([2.0, 1.0], 1),
          ([0.0, 0.0], 0), ([1.0, -0.5], 1)]
TEST = [([0.25, 0.75], 1), ([-1.0, -1.0], 0)]


def bce(outputs, targets):
    return batch_loss("bce", outputs, targets)


def hand_built(activation: str, biases: list[float]) -> MLP:
    """MLP(2, [len(biases), 1]): hidden weights 0, so unit j outputs activation(biases[j])
    for every input; the output neuron's weights 0.5, -0.25, 0.75, ..."""
    model = MLP(2, [len(biases), 1], activation, seed=0)
    for neuron, b in zip(model.layers[0].neurons, biases):
        neuron.w[0].data = neuron.w[1].data = 0.0
        neuron.b.data = b
    for j, w in enumerate(model.layers[1].neurons[0].w):
        w.data = (0.5, -0.25, 0.75, 1.0)[j % 4]
    return model


def run(model: MLP, epochs: int, lr: float = 0.01, **options) -> History:
    """Full-batch SGD on POINTS for `epochs` epochs, recorded by a History."""
    history = History(model, POINTS, TEST, loss_fn=bce, epochs=epochs, **options)
    optimizer = SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        outputs = [model(x) for x, _ in POINTS]
        loss = bce(outputs, [y for _, y in POINTS])
        optimizer.zero_grad()
        loss.backward()
        history.on_batch(loss, outputs, [y for _, y in POINTS])
        optimizer.step()
        history.on_epoch()
    return history


# ------------------------------------------------------------------ what is recorded


def test_recorded_epochs_follow_record_every_and_keep_the_last():
    history = run(MLP(2, [3, 1], seed=0), epochs=10, record_every=3)
    assert [f.epoch for f in history.frames] == [0, 3, 6, 9, 10]
    assert history.frames[0].layers is None  # before any step
    assert all(f.layers is not None for f in history.frames[1:])


def test_default_record_every_gives_about_FRAMES_frames():
    model = MLP(2, [3, 1], seed=0)
    assert History(model, POINTS, loss_fn=bce, epochs=100).record_every == 100 // FRAMES
    assert History(model, POINTS, loss_fn=bce, epochs=10).record_every == 1
    assert History(model, POINTS, loss_fn=bce).record_every == RECORD_EVERY


def test_a_frame_holds_the_model_after_its_epoch_and_the_epochs_own_training_loss():
    model = MLP(2, [4, 1], "tanh", seed=5)
    history = run(model, epochs=4, lr=0.5, record_every=1)
    assert history.frames[-1].params == [p.data for p in model.parameters()]
    targets = [y for _, y in POINTS]
    for k, frame in enumerate(history.frames):
        at = history.model_at(k)
        assert frame.test_loss == bce([at(x) for x, _ in TEST], [y for _, y in TEST]).data
        assert frame.test_accuracy == training.accuracy(at, TEST)
        assert frame.test_predictions == [predict(at(x)) for x, _ in TEST]
        # Full batch: epoch k's one pass ran with the model after epoch k - 1 (at epoch
        # 0, the model itself); the loss is totalled as training totals it.
        seen = history.model_at(max(k - 1, 0))
        outputs = [seen(x) for x, _ in POINTS]
        loss = bce(outputs, targets).data
        assert frame.train_loss == (loss * len(POINTS) / len(POINTS) if k else loss)
        assert frame.train_accuracy == training.accuracy(seen, POINTS)


def test_dead_relus_are_exactly_the_units_that_output_0_for_every_sample():
    # Units 1 and 3 start with bias < 0 and no weights: 0 everywhere, and a relu at a <= 0
    # passes no gradient, so they never change: dead in every epoch. Units 0 and 2 output
    # 1 and 2 for every sample.
    history = run(hand_built("relu", [1.0, -1.0, 2.0, -0.5]), epochs=3, record_every=1)
    for frame in history.frames[1:]:
        hidden = frame.layers[0]
        assert hidden.dead == [1, 3]
        assert hidden.flat == 0.5  # half of all hidden outputs are 0
        assert frame.layers[1].dead is None  # the linear output has no dead units
    hints = history.hints(1)
    assert hints[0] == ("layers.0: 50% of ReLUs dead (0 for every sample, so no gradient "
                        "flows) \u2014 try a smaller lr or leaky_relu")


@pytest.mark.parametrize("activation, biases, flat", [
    ("tanh", [3.0, 0.0, -3.0, 1.0], 0.5),  # |tanh(3)| = 0.995 > 0.97; tanh(1) = 0.76
    ("sigmoid", [5.0, 0.0, 4.0, -5.0], 0.5),  # |2 s - 1| at 5: 0.987; at 4: 0.964 (not)
])
def test_saturation_counts_the_outputs_in_the_flat_tails(activation, biases, flat):
    history = run(hand_built(activation, biases), epochs=1, record_every=1)
    stats = history.frames[1].layers[0]
    assert stats.flat == flat and stats.dead is None
    assert 0.97 == SATURATION
    assert history.hints(1)[0].startswith(f"layers.0: 50% of {activation} outputs saturated")


def test_gradient_norm_and_update_ratio_are_those_of_the_epochs_last_step():
    model = MLP(2, [3, 1], "tanh", seed=7)
    lr = 0.1
    before = [p.data for p in model.parameters()]
    clone = MLP(2, [3, 1], "tanh", seed=7)  # the same first step, worked out by hand
    outputs = [clone(x) for x, _ in POINTS]
    bce(outputs, [y for _, y in POINTS]).backward()
    history = run(model, epochs=1, lr=lr, record_every=1)
    for i, layer in enumerate(clone.layers):
        weights = [w for n in layer.neurons for w in n.w]
        grads = [w.grad for w in weights]
        norm = math.sqrt(sum(g * g for g in grads))
        size = math.sqrt(sum(w.data ** 2 for w in weights))
        stats = history.frames[1].layers[i]
        assert_all_close(stats.grad_norm, norm, rel=1e-12, abs=0, what=f"layer {i} norm")
        # SGD's step is -lr * grad: the ratio is log10(lr |grad| / |w|)
        assert_all_close(stats.update_ratio, math.log10(lr * norm / size), rel=1e-9, abs=0,
                         what=f"layer {i} ratio")
    assert before != history.frames[1].params


def test_histograms_count_every_output_and_gradient_of_the_epoch():
    history = run(MLP(2, [4, 3, 1], "sigmoid", seed=0), epochs=2, record_every=1)
    stats = history.frames[1].layers
    assert [sum(s.activations.counts) for s in stats] == [6 * 4, 6 * 3, 6 * 1]
    assert (stats[0].activations.lo, stats[0].activations.hi) == (0.0, 1.0)  # sigmoid's range
    grads = stats[1].gradients
    assert grads.lo == -grads.hi and grads.hi > 0


def test_weights_without_a_size_have_no_update_ratio():
    history = run(hand_built("relu", [1.0, -1.0, 2.0, -0.5]), epochs=1, record_every=1)
    assert history.frames[1].layers[0].update_ratio is None  # hidden weights were all 0
    assert history.frames[1].layers[1].update_ratio is not None


# -------------------------------------------------------------------------- hints


def _stats(norm: float, ratio: float | None = -3.0) -> LayerStats:
    flat = Histogram(0.0, 1.0, [1])
    return LayerStats(flat, flat, None, None, norm, ratio)


def _with_frames(*frames: Frame) -> History:
    history = History(MLP(2, [3, 3, 1], "tanh", seed=0), POINTS, loss_fn=bce)
    history.frames = list(frames)
    return history


def _frame(epoch: int, layers: list[LayerStats], loss: float = 0.5,
           accuracy: float = 0.5) -> Frame:
    return Frame(epoch, loss, accuracy, math.nan, math.nan, [], [], layers)


def test_vanishing_gradients_are_named_with_their_factors():
    history = _with_frames(_frame(5, [_stats(1e-3), _stats(5e-3), _stats(1e-1)]))
    assert history.hints(0) == [
        "layers 0 and 1: gradients 20\u00d7 to 100\u00d7 smaller than the output layer's, so "
        "learning there is slow (vanishing gradients) \u2014 try relu or fewer layers"]
    assert [(w.kind, w.layers) for w in history.warnings(0)] == [("vanishing", [0, 1])]


def test_step_sizes_too_large_or_too_small_are_named():
    history = _with_frames(_frame(5, [_stats(1.0, -0.3), _stats(1.0), _stats(1.0, -4.5)]))
    assert history.hints(0) == [
        "layers.0: steps change the weights by up to 50% of their size, too much to settle "
        "\u2014 try a smaller lr",
        "layers.2: steps change the weights by at most 3e-05 of their size, so they hardly "
        "move \u2014 try a larger lr (or Adam)"]
    assert [(w.kind, w.layers) for w in history.warnings(0)] == [("large steps", [0]),
                                                                 ("small steps", [2])]
    fitted = _with_frames(_frame(5, [_stats(1.0), _stats(1.0), _stats(1.0, -4.5)],
                                 accuracy=1.0))
    assert fitted.hints(0) == []  # small steps at the end of a fit are no problem


def test_a_flat_loss_without_a_fit_is_a_stall():
    layers = [_stats(1.0), _stats(1.0), _stats(1.0)]
    losses = [0.9, 0.693, 0.6931, 0.6929, 0.6932]
    history = _with_frames(*(_frame(10 * k, layers, loss) for k, loss in enumerate(losses)))
    assert history.hints(4) == ["the training loss has stayed at 0.693 since epoch 10 with "
                                "50% train accuracy: learning has stalled"]
    assert history.hints(2) == []  # flat for 10 epochs only
    assert history.hints(0) == [] and _with_frames(_frame(0, None)).hints(0) == []


def test_a_healthy_run_has_no_hints():
    run_ = training.train(training.TrainConfig(samples=60, epochs=30), history=True)
    assert [run_.history.hints(k) for k in range(len(run_.history.frames))] == \
        [[]] * len(run_.history.frames)


# ------------------------------------------------------------ training and the CLI


def test_train_records_when_asked_and_agrees_with_the_run():
    run_ = training.train(training.TrainConfig(samples=40, epochs=6), history=True,
                          record_every=2)
    history = run_.history
    assert [f.epoch for f in history.frames] == [0, 2, 4, 6]
    assert history.frames[-1].params == [p.data for p in run_.model.parameters()]
    assert [f.train_loss for f in history.frames[1:]] == run_.losses[1::2]
    assert [f.train_accuracy for f in history.frames[1:]] == run_.accuracies[1::2]
    assert history.frames[-1].test_accuracy == run_.test_accuracy
    assert history.info["dataset"] == "moons"
    assert training.train(training.TrainConfig(samples=40, epochs=2)).history is None


# -------------------------------------------------------------------------- files


def test_json_round_trip_is_exact(tmp_path):
    history = run(MLP(2, [3, 1], "leaky_relu", seed=4), epochs=3, record_every=1)
    path = history.save(tmp_path / "history.json")
    again = History.load(path)
    assert again.to_dict() == history.to_dict()
    assert again.frames == history.frames
    assert again.hints(2) == history.hints(2)
    assert not [p for p in tmp_path.iterdir() if p.name != "history.json"]  # atomic: no temp


def test_no_test_set_is_saved_as_null_and_read_as_nan(tmp_path):
    model = MLP(2, [3, 1], seed=0)
    history = History(model, POINTS, loss_fn=bce)
    path = history.save(tmp_path / "h.json")
    assert json.loads(open(path).read())["frames"][0]["test_loss"] is None
    assert math.isnan(History.load(path).frames[0].test_loss)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="micrograd_ann.checkpoint"), "format"),
    (lambda d: d["frames"][0].update(params=d["frames"][0]["params"][4:]),
     r"frames\[0\]\.params: 136 characters of base64; 13 parameters take 140"),
    (lambda d: d.pop("frames"), r"the file: missing \['frames'\]"),
])
def test_a_file_that_is_not_a_history_is_refused_naming_it(tmp_path, change, message):
    doc = History(MLP(2, [3, 1], seed=0), POINTS, loss_fn=bce).to_dict()
    change(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(HistoryError, match=message) as caught:
        History.load(path)
    assert str(path) in str(caught.value)


def test_truncated_json_is_a_history_error(tmp_path):
    path = tmp_path / "cut.json"
    History(MLP(2, [3, 1], seed=0), POINTS, loss_fn=bce).save(path)
    path.write_text(path.read_text()[:100])
    with pytest.raises(HistoryError, match="not valid JSON"):
        History.load(path)


def test_a_loaded_history_records_nothing(tmp_path):
    path = History(MLP(2, [3, 1], seed=0), POINTS, loss_fn=bce).save(tmp_path / "h.json")
    with pytest.raises(ValueError, match="loaded from a file"):
        History.load(path).on_epoch()
    with pytest.raises(ValueError, match="loaded from a file"):
        History.load(path).on_numbers(0.5, [0.25], [1], [[[0.5], [0.25]]], [[[0.1], [1.0]]])


@pytest.mark.parametrize("call, error, message", [
    (lambda: History(1.0, POINTS, loss_fn=bce), TypeError, "watches an MLP, got float"),
    (lambda: History(MLP(2, [1]), [], loss_fn=bce), ValueError, "training set"),
    (lambda: History(MLP(2, [1]), POINTS, loss_fn=bce, record_every=0), ValueError,
     "record_every must be at least 1"),
    (lambda: History(MLP(2, [1]), POINTS, loss_fn=bce, record_every=1.5), TypeError,
     "record_every must be an int"),
])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_a_compiled_loop_records_with_on_numbers_what_on_batch_records(activation):
    """Your own loop with a compiled step: watch=True returns each sample's layer outputs
    and their gradients, on_numbers records them: the History on_batch records from the
    engine's graphs, to the bit."""
    model = MLP(2, [4, 3, 1], activation, seed=5)
    history = History(model, POINTS, TEST, loss_fn=bce, epochs=6, record_every=2)
    xs, ys = [x for x, _ in POINTS], [y for _, y in POINTS]

    def forward(xs):
        outputs = [model(x) for x in xs]
        return outputs, passes.layer_outputs(model, outputs)

    step = micrograd_ann.compile(forward, model.parameters(), xs, loss=bce, watch=True)
    optimizer = SGD(model.parameters(), lr=0.5)
    for _ in range(6):
        optimizer.zero_grad()
        loss, outputs, data, grads = step(xs, ys)
        history.on_numbers(loss, outputs, ys, data, grads)
        optimizer.step()
        history.on_epoch()
    engine = run(MLP(2, [4, 3, 1], activation, seed=5), epochs=6, lr=0.5, record_every=2)
    assert step.looped and [f.epoch for f in history.frames] == [0, 2, 4, 6]
    assert history.to_dict() == engine.to_dict()
    assert sum(history.frames[-1].layers[1].gradients.counts) == 3 * len(POINTS)


def test_on_numbers_refuses_a_batch_that_does_not_pair_up():
    history = History(MLP(2, [3, 1], seed=0), POINTS, loss_fn=bce, record_every=1)
    with pytest.raises(ValueError, match="on_numbers got 2 outputs for 3 targets"):
        history.on_numbers(0.5, [0.25, 1.0], [0, 1, 0], [], [])
    with pytest.raises(ValueError, match="on_numbers got 1 outputs, 1 samples' layer outputs "
                                         "and 0 samples' gradients"):
        history.on_numbers(0.5, [0.25], [1], [[[0.5, 0.0, 1.0], [0.25]]], [])


def test_recording_reads_graphs_without_changing_them():
    model = MLP(2, [3, 1], seed=0)
    history = History(model, POINTS, loss_fn=bce, record_every=1)
    outputs = [model(x) for x, _ in POINTS]
    loss = bce(outputs, [y for _, y in POINTS])
    loss.backward()
    before = [(v.data, v.grad) for v in topological_order(loss)]
    history.on_batch(loss, outputs, [y for _, y in POINTS])
    history.on_epoch()
    assert [(v.data, v.grad) for v in topological_order(loss)] == before


# ---------------------------------------------------------------- plots of a history


@pytest.fixture(scope="module")
def deep():
    """A short run of a deep sigmoid net, recorded."""
    return run(MLP(2, [4, 4, 4, 1], "sigmoid", seed=0), epochs=4, lr=0.5, record_every=2)


def test_history_plots_draw_what_was_recorded(deep):
    require_module("matplotlib", "plot")
    from micrograd_ann.views import plots

    curves = plots.history_curves(deep, deep, labels=["a", "b"])
    loss_ax = curves.axes[0]
    assert len(loss_ax.lines) == 4  # train and test for each history
    assert list(loss_ax.lines[0].get_ydata()) == [f.train_loss for f in deep.frames]
    diagnostics = plots.history_diagnostics(deep, 1)
    bars = [p.get_height() for p in diagnostics.axes[0].patches]
    assert bars == deep.frames[1].layers[0].activations.counts
    boundary = plots.history_boundary(deep)
    assert boundary.axes[0].get_title().startswith(f"epoch {deep.frames[-1].epoch}")


def test_history_plots_refuse_what_they_cannot_draw(deep):
    require_module("matplotlib", "plot")
    from micrograd_ann.views import plots

    with pytest.raises(ValueError, match="before any step"):
        plots.history_diagnostics(deep, 0)
    with pytest.raises(ValueError, match="2 labels for 1 histories"):
        plots.history_curves(deep, labels=["a", "b"])
    wide = History(MLP(3, [2, 1], seed=0), [([0.0, 1.0, 2.0], 1)], loss_fn=bce)
    with pytest.raises(ValueError, match="needs 2 inputs"):
        plots.history_boundary(wide)
