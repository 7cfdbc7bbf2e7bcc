"""training: presets, batch losses against closed forms, the loop and progress."""

from __future__ import annotations

import io
import math
import tracemalloc

import pytest

from micrograd_ann import MLP, Value, formatting, training
from micrograd_ann.engine import topological_order
from micrograd_ann.training import (
    MAX_PARAMETERS, MAX_SAMPLES, MAX_STEP_SIZE, PRESETS, DivergedError, Progress,
    TrainConfig, UnusedSettingError, batch_loss, predict, resolve, train,
)


def test_resolve_fills_only_unset_fields_from_the_preset():
    config = resolve(TrainConfig(dataset="circles", lr=0.5, hidden=[3]))
    assert (config.lr, config.hidden) == (0.5, [3])
    assert config.epochs == PRESETS["circles"]["epochs"]
    assert config.optimizer == PRESETS["circles"]["optimizer"]
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        resolve(TrainConfig(dataset="mnist"))


@pytest.mark.parametrize("config, message", [
    (TrainConfig(loss="hnige"), "unknown loss 'hnige'; choose one of hinge, bce, mse, "
     "cross_entropy"),
    (TrainConfig(optimizer="sdg"), "unknown optimizer 'sdg'; choose one of sgd, adam"),
    (TrainConfig(dataset="mnist"), "unknown dataset 'mnist'; choose one of moons, circles, "
     "xor, spiral, digits"),
])
def test_a_misspelled_choice_is_refused_naming_the_choices(config, message):
    with pytest.raises(ValueError) as info:
        resolve(config)
    assert str(info.value) == message  # library words: no command-line flags


def test_batch_loss_refuses_an_unknown_loss_instead_of_using_mse():
    with pytest.raises(ValueError, match="^unknown loss 'hnige'; choose one of hinge,"):
        batch_loss("hnige", [Value(0.5)], [1])


def test_the_preset_learning_rate_follows_the_optimizer():
    assert resolve(TrainConfig(dataset="moons")).lr == 0.05  # Adam, the preset optimizer
    assert resolve(TrainConfig(dataset="moons", optimizer="sgd")).lr == 0.5
    assert resolve(TrainConfig(dataset="digits", optimizer="sgd")).lr == 0.1
    assert resolve(TrainConfig(dataset="moons", optimizer="sgd", lr=0.2)).lr == 0.2


@pytest.mark.parametrize("config, message", [
    (TrainConfig(samples=20, hidden=[3], epochs=3, lr=1e308), "epoch 2 (loss nan)"),
    (TrainConfig(samples=20, hidden=[3], epochs=1, lr=1e308),
     "epoch 1 (parameters not finite after the last step)"),
    (TrainConfig(optimizer="sgd", lr=1e6, loss="mse"), "epoch 19 (sum("),  # an OpError
])
def test_a_diverging_run_raises_naming_the_epoch(config, message):
    with pytest.raises(DivergedError, match=r"^training diverged at ") as info:
        train(config)
    assert str(info.value).startswith(f"training diverged at {message}")
    assert str(info.value).endswith("; try a smaller lr")


def test_batch_losses_match_closed_forms():
    z = [Value(0.5), Value(-2.0)]
    # hinge with targets -1/+1 from classes 0/1: mean(relu(1 - t*z))
    assert batch_loss("hinge", z, [1, 0]).data == pytest.approx((0.5 + 0.0) / 2)
    # bce from logits: log(1 + e^-z) for class 1, log(1 + e^z) for class 0
    expected = (math.log1p(math.exp(-0.5)) + math.log1p(math.exp(-2.0))) / 2
    assert batch_loss("bce", z, [1, 0]).data == pytest.approx(expected, rel=1e-12)
    assert batch_loss("mse", z, [1, 0]).data == pytest.approx((0.25 + 1.0) / 2)
    rows = [[Value(1.0), Value(2.0), Value(0.0)]]
    log_sum = math.log(math.e + math.e**2 + 1.0)
    assert batch_loss("cross_entropy", rows, [0]).data == pytest.approx(log_sum - 1.0)
    # mse over several outputs compares with one-hot targets
    assert batch_loss("mse", rows, [1]).data == pytest.approx((1.0 + 1.0 + 0.0) / 3)


def test_predict_is_the_sign_of_one_output_or_the_argmax():
    assert [predict(Value(0.1)), predict(Value(-0.1)), predict(Value(0.0))] == [1, 0, 0]
    assert predict([Value(0.1), Value(3.0), Value(-1.0)]) == 1


def test_two_class_losses_refuse_more_classes():
    with pytest.raises(ValueError, match="two classes and this dataset has 3") as info:
        train(TrainConfig(dataset="spiral", samples=30, loss="bce", epochs=1))
    assert str(info.value).startswith("loss 'bce' is for")  # not "--loss": no argv here


def test_progress_is_a_bar_on_a_terminal_and_about_ten_lines_otherwise():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    pipe, tty = io.StringIO(), Terminal()
    for stream in (pipe, tty):
        bar = Progress(100, stream)
        for epoch in range(1, 101):
            bar.update(epoch, 1.0 / epoch, 0.5)
        bar.close()
    assert len(pipe.getvalue().splitlines()) == 11  # epochs 1, 10, 20, ..., 100
    assert pipe.getvalue().splitlines()[-1] == "epoch 100/100  loss 0.0100  accuracy  50.0%"
    assert tty.getvalue().count("\r") == 100 and tty.getvalue().endswith("\n")
    assert "\r[" + "#" * Progress.WIDTH + "] epoch 100/100" in tty.getvalue()


def test_train_counts_steps_and_records_each_epoch():
    run = train(TrainConfig(samples=20, hidden=[3], epochs=2, batch_size=4))
    assert len(run.train_set) == 16 and len(run.test_set) == 4
    assert run.steps == 2 * 4 and len(run.losses) == len(run.accuracies) == 2
    assert all(0.0 <= a <= 1.0 for a in run.accuracies)
    # bce of score z for class y, written out: log(1 + e^-z) for class 1, log(1 + e^z) for 0.
    scores = [run.model(x).data for x, _ in run.train_set]
    bce = [math.log1p(math.exp(-z if y == 1 else z)) for z, (_, y) in zip(scores, run.train_set)]
    assert run.sample_loss.data == pytest.approx(max(bce), rel=1e-12)
    assert run.sample_loss.grad == 1.0
    # A score above 0 means class 1.
    right = sum((z > 0.0) == (y == 1) for z, (_, y) in zip(scores, run.train_set))
    assert run.train_accuracy == right / 16


def test_the_sample_loss_is_labelled_and_holds_only_its_own_gradients():
    run = train(TrainConfig(samples=20, hidden=[3], epochs=2, batch_size=4))
    loss = run.sample_loss
    labels = {node.label for node in topological_order(loss)}
    assert loss.label == f"loss of sample {run.worst} (class {run.train_set[run.worst][1]})"
    assert {"score", "const", "x0", "w0", "b"} <= labels
    assert all(node.label for node in topological_order(loss) if not node.parents)
    # Not the last batch's gradient plus this one's: a fresh backward gives the same grads.
    params = run.model.parameters()
    drawn = [p.grad for p in params]
    assert any(drawn)
    run.model.zero_grad()
    loss.backward()
    assert [p.grad for p in params] == drawn


def test_cross_entropy_scores_are_numbered():
    run = train(TrainConfig(dataset="spiral", samples=30, hidden=[3], epochs=1))
    labels = {node.label for node in topological_order(run.sample_loss)}
    assert {"score0", "score1", "score2"} <= labels


# ------------------------------------------------------------------ limits


@pytest.mark.parametrize("config, message", [
    (TrainConfig(samples=MAX_SAMPLES + 1), f"samples must be at most {MAX_SAMPLES:,}, got "
     f"{MAX_SAMPLES + 1:,}"),
    (TrainConfig(epochs=10**9), "epochs must be at most 100,000, got 1,000,000,000"),
    (TrainConfig(noise=1e308), "noise must be at most 10, got 1e+308"),
])
def test_settings_beyond_the_limits_are_refused_before_any_work(config, message):
    with pytest.raises(ValueError) as info:
        resolve(config)
    assert str(info.value) == message


def test_a_dataset_without_noise_refuses_a_noise_setting():
    with pytest.raises(UnusedSettingError) as info:
        resolve(TrainConfig(dataset="digits", noise=0.1))
    assert (info.value.field, info.value.dataset) == ("noise", "digits")
    assert str(info.value) == "the digits dataset takes no noise setting"


@pytest.mark.parametrize("config, message", [
    (TrainConfig(hidden=[100_000_000]), f"MLP(2, [100000000, 1]) has 400,000,001 parameters; "
     f"the limit is {MAX_PARAMETERS:,}"),
    (TrainConfig(samples=20_000, hidden=[64, 64]), f"holds 4,417 x 16,000 = 70,672,000 weight "
     f"uses in its graph; the limit is {MAX_STEP_SIZE:,}"),
])
def test_a_model_or_step_too_large_is_refused_before_it_is_built(config, message):
    tracemalloc.start()
    with pytest.raises(ValueError, match="^(MLP|one step)") as info:
        train(config)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 * 2**20, peak  # no model, no data of that size was made
    assert message in str(info.value)


# ------------------------------------------------------------- numbers for people


@pytest.mark.parametrize("x, text", [
    (0.5, "0.5000"), (0.001, "0.0010"), (1.19e80, "1.19e+80"), (4.2e-05, "4.2e-05"),
    (-0.0, "0.0000"), (99999.0, "99999.0000"), (123456.0, "1.23e+05"),
])
def test_losses_are_printed_for_people(x, text):
    assert formatting.loss(x) == text


def test_counts_are_singular_for_one():
    assert [formatting.plural(1, "step"), formatting.plural(2, "step"), formatting.plural(1000, "epoch")] == [
        "1 step", "2 steps", "1,000 epochs"]
    run = train(TrainConfig(samples=20, hidden=[3], epochs=1))
    assert "1 epoch, 1 step\n" in run.summary()


def test_a_finite_but_exploding_loss_warns_and_prints_short_numbers():
    stream = io.StringIO()
    run = train(TrainConfig(samples=20, hidden=[3], epochs=43, optimizer="sgd", lr=5.0,
                            loss="mse"), progress=stream)
    assert 1e70 < run.losses[-1] < math.inf
    last = stream.getvalue().splitlines()[-1]
    assert last.startswith("epoch 43/43  loss ") and "e+" in last and len(last) < 60
    assert run.warning() == (f"the loss grew from {formatting.loss(run.losses[0])} (epoch 1) to "
                             f"{formatting.loss(run.losses[-1])} (epoch 43); the learning rate is "
                             "probably too large (try a smaller lr, e.g. 0.5)")
    assert train(TrainConfig(samples=20, hidden=[3], epochs=3)).warning() is None


def _same_run(a: training.Run, b: training.Run) -> bool:
    """Two runs with the same losses, accuracies and final weights, bit for bit."""
    return (a.losses == b.losses and a.accuracies == b.accuracies
            and [p.data for p in a.model.parameters()] == [p.data for p in b.model.parameters()])


@pytest.mark.parametrize("config", [
    TrainConfig(epochs=25, loss="hinge"),
    TrainConfig(epochs=25),  # bce: its formula follows the logit's sign, on the engine
    TrainConfig(epochs=25, loss="mse", optimizer="sgd", lr=0.05),
    TrainConfig(dataset="spiral", samples=60, epochs=25),  # cross_entropy, 3 outputs
    TrainConfig(samples=60, epochs=5, batch_size=10),  # mini-batches of one size
    TrainConfig(samples=55, epochs=5, batch_size=10),  # and a smaller last one
], ids=["hinge", "bce", "mse", "cross_entropy", "batches", "last batch"])
def test_compiled_training_gives_the_engines_numbers_for_every_loss(config):
    compiled, engine = train(config), train(config, compiled=False)
    assert compiled.compiled_steps > 0 and engine.compiled_steps == 0
    assert _same_run(compiled, engine)
    assert compiled.train_accuracy == engine.train_accuracy


@pytest.mark.parametrize("config", [
    TrainConfig(epochs=25),  # relu, bce, full batch
    TrainConfig(dataset="spiral", samples=60, epochs=25, activation="tanh"),  # 3 outputs
    TrainConfig(samples=55, epochs=25, batch_size=10, loss="hinge"),  # a smaller last batch
], ids=["bce", "cross_entropy", "last batch"])
def test_a_history_recorded_from_compiled_steps_is_the_engines(config):
    """Recorded epochs run compiled too: the step returns the layer outputs and their
    gradients, and every frame (histograms, dead units, grad norms, update ratios) is the
    one recorded from the engine's graphs, to the bit."""
    compiled = train(config, history=True, record_every=3)
    engine = train(config, history=True, record_every=3, compiled=False)
    full = len(compiled.train_set) // (config.batch_size or len(compiled.train_set))
    assert compiled.compiled_steps == 25 * full and engine.compiled_steps == 0
    assert _same_run(compiled, engine)
    assert compiled.history.to_dict() == engine.history.to_dict()
    assert all(frame.layers for frame in compiled.history.frames[1:])


def test_digits_compiles_by_default_and_gives_the_engines_numbers():
    pytest.importorskip("sklearn")
    config = TrainConfig(dataset="digits", samples=200, epochs=4)
    compiled = train(config, history=True)
    engine = train(config, history=True, compiled=False)
    assert compiled.compiled_steps == 4 * 5  # 160 training samples, batches of 32
    assert _same_run(compiled, engine)
    assert compiled.history.to_dict() == engine.history.to_dict()


def test_train_compiles_only_where_it_pays_and_says_what_it_cost():
    short = train(TrainConfig(epochs=3))  # 3 steps: compiling would not pay
    assert short.compiled_steps == 0 and "compil" not in short.summary()
    forced = train(TrainConfig(epochs=3), compiled=True)
    assert forced.compiled_steps == 3 and 0.0 < forced.compile_seconds < forced.seconds
    assert forced.summary().splitlines()[-1].endswith(
        f"compiling included ({forced.compile_seconds:.2f} s; 3 steps ran compiled)")
    stream = io.StringIO()
    recorded = train(TrainConfig(epochs=20), progress=stream, history=True)
    assert recorded.compiled_steps == 20  # recorded epochs (here every one) run compiled too
    assert stream.getvalue().startswith("compiled the training step in ")
    assert len(recorded.history.frames) == 21 and recorded.history.frames[-1].layers
    samples = [([0.5, -0.5], 0)] * 8
    big, small = MLP(2, [150, 150, 1]), MLP(2, [16, 16, 1])  # 23,101 and 337 parameters
    assert len(big.parameters()) > training.COMPILE_MAX_PARAMETERS
    assert training._compiled_step(big, "bce", samples, 8, 25, False, None) is None
    assert training._compiled_step(small, "bce", samples, 8, 25, False, None) is not None
    assert training._compiled_step(small, "bce", samples, 8, 19, True, None) is None
    with pytest.raises(TypeError, match="compiled must be True, False or None"):
        train(TrainConfig(epochs=1), compiled="yes")
