"""A training run, epoch by epoch: losses, parameters and per-layer diagnostics.

`History` watches a training loop -- `on_batch(loss, outputs, targets)` after each
backward() and before the optimiser's step (or `on_numbers`, the same in numbers, after a
compiled step), `on_epoch()` after each epoch -- and keeps a
`Frame` for epoch 0 (before training) and every `record_every`-th epoch: train and test
loss and accuracy, every parameter, and per layer what makemore part 3 plots to tell a
healthy network from a stuck one (diagnostics.py: activation and gradient histograms, dead
and saturated units, gradient norm, update-to-data ratio, and the warning signs they show).
Saved as JSON (the format, its checks and its limits are history_file.py's); drawn by the
views (views.replay.to_html: the replay page; views.plots).

Recording is cheap by construction: the training loss, the activations and the gradients
are read from the graphs the training steps built anyway (passes.layer_outputs), or taken
as a compiled step returns them (compiler.compile's watch=True), and the test set is
evaluated with a plain-float forward pass that calls the op table's own forward
functions (passes.forward: no graph, no second formula).
"""

from __future__ import annotations

import json
import math
import os
from typing import Callable, Mapping, NamedTuple, Sequence

from . import activations, diagnostics, history_file, passes
from .activations import LEAKY_SLOPE, SATURATION
from .checks import check_int
from .diagnostics import Histogram, LayerStats, WarningSign
from .engine import Value
from .files import write_atomic
from .history_file import FRAMES, HistoryError  # noqa: F401 - history.HistoryError
from .limits import MAX_PARAMETERS
from .losses import predict
from .nn import MLP

Sample = tuple[Sequence[float], int]
Output = Value | list[Value]

RECORD_EVERY = 5  # otherwise every 5th epoch (the demo's 100 epochs give 21 frames either way)


class Frame(NamedTuple):
    """One recorded epoch. `params` (parameters() order) and the test numbers are the model
    after the epoch; the train loss and accuracy are the epoch's own, over its batches as
    training's progress reports them (each batch seen with the weights of its step).
    Epoch 0 is the untrained model on both sets; its `layers` is None (no step yet)."""

    epoch: int
    train_loss: float
    train_accuracy: float
    test_loss: float  # nan without a test set
    test_accuracy: float
    params: list[float]
    test_predictions: list[int]
    layers: list[LayerStats] | None


class History:
    """What a training run looked like, epoch by epoch; `frames` holds the records.

    In the loop: `loss.backward()`, then `history.on_batch(loss, outputs, targets)` (the
    batch's mean loss, the model's output per sample and the classes), then the
    optimiser's step; `history.on_epoch()` after each epoch. `loss_fn(outputs, targets)`
    is the loop's loss, called on the outputs of a plain-float forward pass for the test
    set (and for the training set at epoch 0); the predicted class is losses.predict's
    (every loss's rule). Epoch 0, every `record_every`-th epoch and, when `epochs`
    is given, the last are recorded; by default record_every is epochs // FRAMES (at least
    1), or RECORD_EVERY without `epochs`. `info` (JSON data) is shown on the page.

    A history stays within what its file may hold (history_file's limits): the model at
    most limits.MAX_PARAMETERS parameters, the samples finite inputs and classes the
    model's outputs can tell apart, checked here. When one more frame would take more
    than MAX_FRAME_BYTES, every other recorded epoch is dropped and record_every doubles:
    a long run is kept at an even, coarser step instead of growing without bound.
    """

    def __init__(self, model: MLP, train_set: Sequence[Sample],
                 test_set: Sequence[Sample] = (), *,
                 loss_fn: Callable[[list[Output], list[int]], Value],
                 record_every: int | None = None,
                 epochs: int | None = None, info: Mapping[str, object] | None = None):
        if not isinstance(model, MLP):
            raise TypeError(f"History watches an MLP, got {type(model).__name__}")
        if not train_set:
            raise ValueError("History needs the training set (at least one sample)")
        self.epochs = None if epochs is None else check_int("epochs", epochs, 1)
        if record_every is None:
            record_every = RECORD_EVERY if epochs is None else max(1, epochs // FRAMES)
        self.record_every = check_int("record_every", record_every, 1)
        self.architecture = model.architecture()
        self.names = [name for name, _ in model.named_parameters()]
        if len(self.names) > MAX_PARAMETERS:
            raise ValueError(f"History records models of at most {MAX_PARAMETERS:,} parameters "
                             f"(limits.MAX_PARAMETERS); this one has {len(self.names):,}")
        self.train_set = [(list(x), y) for x, y in train_set]
        self.test_set = [(list(x), y) for x, y in test_set]
        history_file.check_samples(self.train_set, self.test_set, model.nin,
                                   history_file.classes(model.nouts))
        self.train_set = [([float(v) for v in x], int(y)) for x, y in self.train_set]
        self.test_set = [([float(v) for v in x], int(y)) for x, y in self.test_set]
        self.info = dict(info or {})
        history_file.check_info("info", self.info)
        self.frames: list[Frame] = []
        each = history_file.frame_bytes(len(self.names), len(self.test_set), model.nouts)
        self._max_frames = max(2, history_file.MAX_FRAME_BYTES // each)
        self._model, self._loss_fn = model, loss_fn
        self._params = model.parameters()
        self._weights = _weight_indices(model)
        self._epoch = 0
        self._reset()
        self.frames.append(self._frame(None))

    # -- recording ---------------------------------------------------------------

    def on_batch(self, loss: Value, outputs: Sequence[Output], targets: Sequence[int]) -> None:
        """After `loss.backward()` and before the optimiser's step: in a recorded epoch,
        read this batch's loss, predictions, activations and gradients from its graph."""
        self._check_batch("on_batch", outputs, targets)
        if not self._recording:
            return
        layers = passes.layer_outputs(self._model, outputs)
        self.on_numbers(loss.data, [_numbers(out) for out in outputs], targets,
                        [[[v.data for v in layer] for layer in sample] for sample in layers],
                        [[[v.grad for v in layer] for layer in sample] for sample in layers])

    def on_numbers(self, loss: float, outputs: Sequence[float | Sequence[float]],
                   targets: Sequence[int], data: Sequence[Sequence[Sequence[float]]],
                   grads: Sequence[Sequence[Sequence[float]]]) -> None:
        """on_batch given numbers instead of a graph (after a compiled step, which returns
        them): the batch's mean loss, each sample's outputs and class, and per sample
        each layer's outputs (`data`) and their gradients (`grads`), as on_batch finds
        them in the graph (passes.layer_outputs); parameters' grads are read as there."""
        self._check_batch("on_numbers", outputs, targets)
        if not self._recording:
            return
        if not len(data) == len(grads) == len(outputs):
            raise ValueError(f"on_numbers got {len(outputs)} outputs, {len(data)} samples' "
                             f"layer outputs and {len(grads)} samples' gradients")
        self._before = [p.data for p in self._params]
        self._grads = [p.grad for p in self._params]
        self._loss_total += loss * len(outputs)  # as training totals its epoch's loss
        self._seen += len(outputs)
        self._right += sum(predict(out if isinstance(out, (list, tuple)) else [out]) == y
                           for out, y in zip(outputs, targets))
        for layers, layer_grads in zip(data, grads):
            for i, (outs, outs_grads) in enumerate(zip(layers, layer_grads)):
                self._data[i].extend(outs)
                self._grad_at[i].extend(outs_grads)

    def _check_batch(self, method: str, outputs: Sequence, targets: Sequence[int]) -> None:
        """ValueError if this History cannot record (loaded from a file) or the batch's
        outputs and targets do not pair up."""
        if self._model is None:
            raise ValueError("this History was loaded from a file; it records nothing")
        if len(outputs) != len(targets):
            raise ValueError(f"{method} got {len(outputs)} outputs for {len(targets)} targets")

    def on_epoch(self) -> None:
        """After an epoch's last step: record it if it is one of the recorded epochs."""
        if self._model is None:
            raise ValueError("this History was loaded from a file; it records nothing")
        self._epoch += 1
        if self._recording:
            self.frames.append(self._frame(self._layer_stats() if self._seen else None))
        self._reset()

    def _reset(self) -> None:
        """Empty the per-epoch accumulators; decide whether the coming epoch is recorded,
        first thinning the frames if it would be one too many."""
        coming = self._epoch + 1
        self._recording = self._records(coming)
        while self._recording and len(self.frames) >= self._max_frames:
            self.record_every *= 2
            self.frames = [f for f in self.frames if f.epoch % self.record_every == 0]
            self._recording = self._records(coming)
        self._data = [[] for _ in self._model.layers]
        self._grad_at = [[] for _ in self._model.layers]
        self._before: list[float] = []
        self._grads: list[float] = []
        self._loss_total, self._seen, self._right = 0.0, 0, 0

    def _records(self, epoch: int) -> bool:
        return epoch % self.record_every == 0 or epoch == self.epochs

    def _frame(self, layers: list[LayerStats] | None) -> Frame:
        params = [p.data for p in self._params]
        net = passes.float_network(self.architecture, params)
        if self._seen:
            train = self._loss_total / self._seen, self._right / self._seen
        else:  # epoch 0, or an epoch without on_batch: evaluate the model as it is
            train = self._evaluate(net, self.train_set)[:2]
        test = self._evaluate(net, self.test_set)
        return Frame(self._epoch, *train, *test[:2], params, test[2], layers)

    def _evaluate(self, net: list, samples: list) -> tuple[float, float, list[int]]:
        """Loss, accuracy and predicted classes on `samples`, forward in plain floats."""
        if not samples:
            return math.nan, math.nan, []
        outputs, predictions = [], []
        for x, _ in samples:
            out = passes.forward(net, x)[-1]
            predictions.append(predict(out))
            values = [Value(v) for v in out]
            outputs.append(values[0] if len(values) == 1 else values)
        targets = [y for _, y in samples]
        right = sum(p == y for p, y in zip(predictions, targets))
        return self._loss_fn(outputs, targets).data, right / len(samples), predictions

    def _layer_stats(self) -> list[LayerStats]:
        rows = activations.of_layers(self.architecture)
        return [diagnostics.layer_stats(
            row, len(layer.neurons), self._data[i], self._grad_at[i],
            [self._before[k] for k in self._weights[i]],
            [self._params[k].data for k in self._weights[i]],
            [self._grads[k] for k in self._weights[i]])
            for i, (layer, row) in enumerate(zip(self._model.layers, rows))]

    # -- reading -----------------------------------------------------------------

    @property
    def activations(self) -> list[str]:
        """Each layer's activation name."""
        return [row.name for row in activations.of_layers(self.architecture)]

    def classifier(self, k: int) -> Callable[[Sequence[float]], int]:
        """x -> the class frame k's model predicts for x (losses.predict), in floats."""
        net = passes.float_network(self.architecture, self.frames[k].params)
        return lambda x: predict(passes.forward(net, x)[-1])

    def model_at(self, k: int) -> MLP:
        """A new MLP holding frame k's parameters."""
        model = MLP(**self.architecture)
        model.load_state_dict(dict(zip(self.names, self.frames[k].params)))
        return model

    def hints(self, k: int) -> list[str]:
        """One line per warning sign in frame k: the texts of warnings(k)."""
        return [warning.text for warning in self.warnings(k)]

    def warnings(self, k: int) -> list[WarningSign]:
        """The warning signs in frame k (diagnostics.warnings): dead units, saturated units,
        vanishing gradients, steps too large or too small, a stalled loss."""
        return diagnostics.warnings(self.frames, activations.of_layers(self.architecture),
                                    self.architecture["nouts"], k)

    # -- files ---------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The history as JSON data, as save() writes it (history_file's format)."""
        return {"format": history_file.FORMAT, "version": history_file.VERSION,
                "architecture": self.architecture, "record_every": self.record_every,
                "epochs": self.epochs, "info": self.info, "saturation": SATURATION,
                "leaky_slope": LEAKY_SLOPE,
                "train": [[x, y] for x, y in self.train_set],
                "test": [[x, y] for x, y in self.test_set],
                "frames": [_frame_dict(f) for f in self.frames]}

    def save(self, path: str | os.PathLike) -> str:
        """Write the history as JSON, atomically (files.write_atomic); returns the path.
        What would not load back (history_file.check) is a ValueError naming the field."""
        doc = self.check("save")
        return write_atomic(path, json.dumps(doc, separators=(",", ":")))

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """A History read from a file save() wrote; HistoryError naming the file and the
        field if it is not one, checked before anything is built (history_file.read)."""
        doc = history_file.read(path)
        self = cls.__new__(cls)
        self._model = None
        self.architecture = dict(doc["architecture"])
        self.names = [name for name, _ in MLP(**self.architecture).named_parameters()]
        self.record_every, self.epochs = doc["record_every"], doc["epochs"]
        self.info = doc["info"]
        self.train_set = [([float(v) for v in x], y) for x, y in doc["train"]]
        self.test_set = [([float(v) for v in x], y) for x, y in doc["test"]]
        self.frames = [_frame_from(f) for f in doc["frames"]]
        return self

    def check(self, doing: str = "use") -> dict:
        """to_dict(), checked as load() checks a file: ValueError "cannot {doing} this
        history: ..." naming the field if it is not one a file may hold (a nan in the data or
        `info`, a diverged run). save() checks so, and so does the replay page."""
        doc = self.to_dict()
        try:
            history_file.check(doc)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot {doing} this history: {exc}") from None
        return doc


# ------------------------------------------------------------------- helpers


def _numbers(output: Output) -> list[float]:
    """A model output's data: [v] for one Value, one number per Value of a list."""
    return [v.data for v in output] if isinstance(output, list) else [output.data]


def _weight_indices(model: MLP) -> list[list[int]]:
    """Each layer's weights (not biases) as indices into parameters()."""
    indices, at = [], 0
    for layer in model.layers:
        mine = []
        for neuron in layer.neurons:
            mine.extend(range(at, at + neuron.nin))
            at += neuron.nin + 1
        indices.append(mine)
    return indices


# ------------------------------------------------------------------------- JSON


def _number(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _frame_dict(frame: Frame) -> dict:
    layers = None if frame.layers is None else [
        {"activations": s.activations._asdict(), "gradients": s.gradients._asdict(),
         "dead": s.dead, "flat": s.flat, "grad_norm": _number(s.grad_norm),
         "update_ratio": s.update_ratio} for s in frame.layers]
    return {"epoch": frame.epoch, "train_loss": _number(frame.train_loss),
            "train_accuracy": _number(frame.train_accuracy),
            "test_loss": _number(frame.test_loss),
            "test_accuracy": _number(frame.test_accuracy),
            "params": history_file.encode_params(frame.params),
            "test_predictions": frame.test_predictions, "layers": layers}


def _nan_if_none(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _frame_from(doc: dict) -> Frame:
    """A Frame from a frame of a checked file (history_file.check)."""
    layers = None if doc["layers"] is None else [
        LayerStats(Histogram(**s["activations"]), Histogram(**s["gradients"]), s["dead"],
                   s["flat"], _nan_if_none(s["grad_norm"]), s["update_ratio"])
        for s in doc["layers"]]
    return Frame(doc["epoch"], _nan_if_none(doc["train_loss"]),
                 _nan_if_none(doc["train_accuracy"]), _nan_if_none(doc["test_loss"]),
                 _nan_if_none(doc["test_accuracy"]), history_file.decode_params(doc["params"]),
                 doc["test_predictions"], layers)
