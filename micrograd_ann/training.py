"""Train an MLP on a built-in dataset: per-dataset presets, the loop, progress and plots.

Used by the `train` and `demo` commands. The loop is the textbook one: forward a
batch, average the loss, zero_grad, backward, step.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from typing import Sequence, TextIO

from . import checkpoint, datasets, losses, plots
from .engine import OpError, Value, topological_order
from .nn import MLP
from .optim import SGD, Adam

OPTIMIZERS = {"sgd": SGD, "adam": Adam}


class DivergedError(ValueError):
    """The loss or the parameters stopped being finite numbers: the step size is too large."""

    def __init__(self, epoch: int, what: str):
        super().__init__(f"training diverged at epoch {epoch} ({what}); try a smaller lr")


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on; `None` fields take the dataset's preset."""

    dataset: str = "moons"
    samples: int | None = None
    noise: float | None = None  # 2-D datasets only
    hidden: list[int] | None = None
    activation: str | None = None
    loss: str | None = None
    optimizer: str | None = None
    lr: float | None = None
    epochs: int | None = None
    batch_size: int | None = None  # 0 means the whole training set
    test_fraction: float = 0.2
    seed: int = 0


LR_2D = {"adam": 0.05, "sgd": 0.5}  # full-batch training on the 2-D datasets

# Chosen to finish in seconds on one core (digits: ~30 s, >= 90 % test accuracy); moons
# is what `demo` runs (100 % train accuracy in ~2 s). `lr` is per optimizer, so picking
# the other optimizer without a learning rate still gets one that suits it.
_TWO_D = dict(samples=100, noise=0.1, hidden=[16, 16], activation="relu", loss="bce",
              optimizer="adam", lr=LR_2D, epochs=100, batch_size=0)
PRESETS: dict[str, dict] = {
    "moons": dict(_TWO_D),
    "circles": {**_TWO_D, "noise": 0.05},
    "xor": dict(_TWO_D),
    "spiral": {**_TWO_D, "samples": 150, "noise": 0.05, "loss": "cross_entropy"},
    "digits": dict(samples=1000, noise=None, hidden=[32], activation="relu",
                   loss="cross_entropy", optimizer="adam", lr={"adam": 0.01, "sgd": 0.1},
                   epochs=10, batch_size=32),
}


def resolve(config: TrainConfig) -> TrainConfig:
    """A copy of `config` with every unset field taken from its dataset's preset.

    Raises ValueError for an unknown dataset, loss or optimizer, naming the choices.
    """
    preset = _choose("dataset", config.dataset, PRESETS)
    filled = {k: v for k, v in preset.items() if getattr(config, k) is None and k != "lr"}
    config = dataclasses.replace(config, **filled)
    _choose("loss", config.loss, LOSSES)
    _choose("optimizer", config.optimizer, OPTIMIZERS)
    if config.lr is None:
        config = dataclasses.replace(config, lr=preset["lr"][config.optimizer])
    return config


def _choose(kind: str, name: str, table: dict):
    """table[name], or a ValueError naming the unknown `kind` and the choices."""
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; choose one of " + ", ".join(table))
    return table[name]


@dataclasses.dataclass
class Run:
    """A finished training run: the model, its data, the curves and the timings."""

    config: TrainConfig
    model: MLP
    train_set: list
    test_set: list
    losses: list[float]  # mean training loss per epoch
    accuracies: list[float]  # training accuracy per epoch, from that epoch's forward passes
    train_accuracy: float  # after the last step
    test_accuracy: float
    seconds: float
    steps: int
    sample_loss: Value  # the largest one-sample training loss, backward done: for drawing

    def summary(self) -> str:
        """Four lines: model and data, settings, accuracies, and the time taken."""
        c = self.config
        return "\n".join([
            f"trained MLP(nin={self.model.nin}, nouts={self.model.nouts}) on {c.dataset} "
            f"({len(self.train_set)} train / {len(self.test_set)} test samples)",
            f"  {c.optimizer}, lr {c.lr:g}, {c.loss} loss, {c.epochs} epochs, {self.steps} steps",
            f"  train accuracy {self.train_accuracy:.1%}, test accuracy {self.test_accuracy:.1%}",
            f"  time {self.seconds:.1f} s ({self.steps / self.seconds:.1f} steps/s)",
        ])


# ------------------------------------------------------------------ loss and labels


def _n_outputs(loss: str, n_classes: int) -> int:
    if loss == "cross_entropy" or (loss == "mse" and n_classes > 2):
        return n_classes
    if n_classes > 2:
        raise ValueError(f"loss {loss!r} is for two classes and this dataset has {n_classes}; "
                         "use cross_entropy or mse")
    return 1


def _signs(targets: Sequence[int]) -> list[float]:
    """Classes 0/1 as the targets -1/+1 of a margin or squared error on one output."""
    return [2.0 * y - 1.0 for y in targets]


def _hinge(outputs: list, targets: Sequence[int]) -> Value:
    return losses.hinge(outputs, _signs(targets))


def _bce(outputs: list, targets: Sequence[int]) -> Value:
    return losses.binary_cross_entropy(outputs, [float(y) for y in targets])


def _mse(outputs: list, targets: Sequence[int]) -> Value:
    if isinstance(outputs[0], list):  # several outputs: compare with one-hot targets
        width = len(outputs[0])
        return losses.mse(outputs, [[float(k == y) for k in range(width)] for y in targets])
    return losses.mse(outputs, _signs(targets))


def _cross_entropy(outputs: list, targets: Sequence[int]) -> Value:
    return losses.cross_entropy(outputs, list(targets))


LOSSES = {"hinge": _hinge, "bce": _bce, "mse": _mse, "cross_entropy": _cross_entropy}


def batch_loss(loss: str, outputs: list, targets: Sequence[int]) -> Value:
    """The mean loss of a batch of model outputs against class indices.

    One output (two classes): hinge and mse want targets -1/+1, bce wants 0/1.
    Several outputs: cross_entropy takes the class index, mse a one-hot vector.
    """
    return _choose("loss", loss, LOSSES)(outputs, targets)


def labelled_loss(loss: str, output: Value | list[Value], target: int) -> Value:
    """One sample's loss with its nodes named for graphs and players: the model's output
    "score" (or "score0", "score1", ...), the loss "loss", the loss's constants "const"."""
    outputs = output if isinstance(output, list) else [output]
    for k, value in enumerate(outputs):
        value.label = "score" if len(outputs) == 1 else f"score{k}"
    result = batch_loss(loss, [output], [target])
    for node in topological_order(result):
        if not node.parents and not node.label:
            node.label = "const"  # a number of the loss formula: the target, 1, ...
    result.label = "loss"
    return result


def predict(output: Value | list[Value]) -> int:
    """The class an output means: argmax of several, or the sign of one (0 or 1)."""
    if isinstance(output, list):
        return max(range(len(output)), key=lambda k: output[k].data)
    return int(output.data > 0.0)


def accuracy(model: MLP, samples: Sequence) -> float:
    """Fraction of `samples` whose predicted class is right (nan for no samples)."""
    if not samples:
        return math.nan
    return sum(predict(model(x)) == y for x, y in samples) / len(samples)


# ------------------------------------------------------------------------ training


def train(config: TrainConfig, progress: TextIO | None = None) -> Run:
    """Load the data, build the model and optimiser, and run the training loop."""
    c = resolve(config)
    loader = datasets.DATASETS[c.dataset]
    kwargs = {} if c.noise is None else {"noise": c.noise}
    data = loader(n_samples=c.samples, seed=c.seed, **kwargs)
    train_set, test_set = datasets.train_test_split(data, c.test_fraction, seed=c.seed)
    n_classes = max(y for _, y in data) + 1
    model = MLP(len(data[0][0]), [*c.hidden, _n_outputs(c.loss, n_classes)], c.activation,
                seed=c.seed)
    optimizer = OPTIMIZERS[c.optimizer](model.parameters(), lr=c.lr)
    batch = c.batch_size or len(train_set)
    order_rng = random.Random(c.seed)
    bar = Progress(c.epochs, progress)
    run_losses, run_accs, steps = [], [], 0
    start = time.perf_counter()
    epoch = 0
    try:
        for epoch in range(1, c.epochs + 1):
            order = list(train_set)
            if batch < len(order):
                order_rng.shuffle(order)
            total, correct = 0.0, 0
            for i in range(0, len(order), batch):
                chunk = order[i:i + batch]
                outputs = [model(x) for x, _ in chunk]
                loss = batch_loss(c.loss, outputs, [y for _, y in chunk])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                steps += 1
                total += loss.data * len(chunk)
                correct += sum(predict(out) == y for out, (_, y) in zip(outputs, chunk))
            run_losses.append(total / len(order))
            run_accs.append(correct / len(order))
            bar.update(epoch, run_losses[-1], run_accs[-1])
            if not math.isfinite(run_losses[-1]):
                raise DivergedError(epoch, f"loss {run_losses[-1]}")
        seconds = time.perf_counter() - start
        if not all(math.isfinite(p.data) for p in model.parameters()):  # the last step's
            raise DivergedError(epoch, "parameters not finite after the last step")
        worst, train_accuracy = _worst_and_accuracy(model, c.loss, train_set)
        sample_loss = labelled_loss(c.loss, model(train_set[worst][0]), train_set[worst][1])
    except OpError as exc:  # e.g. a dot product overflowing: the weights blew up
        raise DivergedError(epoch, str(exc)) from exc
    finally:
        bar.close()
    model.zero_grad()  # so the drawn grads are this one sample's, not the last batch's too
    sample_loss.backward()
    return Run(c, model, train_set, test_set, run_losses, run_accs,
               train_accuracy, accuracy(model, test_set), seconds, steps, sample_loss)


def _worst_and_accuracy(model: MLP, loss: str, samples: Sequence) -> tuple[int, float]:
    """The index of the sample with the largest loss (the first, on ties) and the accuracy,
    from one forward pass per sample; only the losses' values are kept, not their graphs."""
    worst, largest, correct = 0, -math.inf, 0
    for i, (x, y) in enumerate(samples):
        output = model(x)
        value = batch_loss(loss, [output], [y]).data
        if value > largest:
            worst, largest = i, value
        correct += predict(output) == y
    return worst, correct / len(samples)


class Progress:
    """Per-epoch loss and accuracy: a live bar on a terminal, about ten lines otherwise."""

    WIDTH = 24

    def __init__(self, epochs: int, stream: TextIO | None):
        self.epochs = epochs
        self.stream = stream
        self.live = stream is not None and stream.isatty()
        self.every = max(1, epochs // 10)

    def update(self, epoch: int, loss: float, acc: float) -> None:
        """Show epoch `epoch`'s mean loss and accuracy (a pipe gets every `every`-th epoch)."""
        if self.stream is None:
            return
        text = (f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}  loss {loss:.4f}  "
                f"accuracy {acc:6.1%}")
        if self.live:
            done = round(self.WIDTH * epoch / self.epochs)
            self.stream.write(f"\r[{'#' * done}{'.' * (self.WIDTH - done)}] {text}")
        elif epoch == 1 or epoch % self.every == 0 or epoch == self.epochs:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the live bar's line, so what is printed next starts on a line of its own."""
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- files


def write_outputs(run: Run, out: str) -> list[str]:
    """Save the parameters (JSON), the loss curve and, for 2-D data, the decision boundary.

    Plots are SVG, plus PNG when matplotlib is installed. Returns the paths written.
    """
    os.makedirs(out, exist_ok=True)
    params = os.path.join(out, "params.json")
    checkpoint.save(run.model, params)
    files = [params, write_text(os.path.join(out, "loss.svg"), plots.loss_curve_svg(run.losses))]
    files.append(plots.save_png_loss_curve(run.losses, os.path.join(out, "loss.png")))
    if run.model.nin == 2:
        points = [x for x, _ in run.train_set + run.test_set]
        classes = [y for _, y in run.train_set + run.test_set]
        grid = plots.boundary_grid(lambda a, b: predict(run.model([a, b])), points)
        svg = plots.decision_boundary_svg(grid, points, classes)
        files.append(write_text(os.path.join(out, "boundary.svg"), svg))
        files.append(plots.save_png_decision_boundary(grid, points, classes,
                                                      os.path.join(out, "boundary.png")))
    return [f for f in files if f is not None]


def write_text(path: str, text: str) -> str:
    """Write `text` to `path` as UTF-8; returns `path`, for lists of files written."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
