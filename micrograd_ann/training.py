"""Train an MLP on a built-in dataset: per-dataset presets and limits, the loop, progress.

Used by the `train` and `demo` commands (views.outputs.write_run writes a run's files). The
loop is the textbook one: forward a batch, average the loss, zero_grad, backward, step. The
losses it knows by name are losses.LOSSES's rows, and classes are read from outputs by
losses.predict.
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from typing import Sequence, TextIO

from . import compiler, datasets, formatting, losses, passes
from .checks import OpError
from .engine import Value, topological_order
from .history import History
from .limits import MAX_EPOCHS, MAX_PARAMETERS, MAX_SAMPLES, MAX_STEP_SIZE
from .nn import MLP
from .optim import SGD, Adam

OPTIMIZERS = {"sgd": SGD, "adam": Adam}

# ------------------------------------------------------------------------- limits
# Work is bounded before it starts: a run holds at most MAX_SAMPLES samples, MAX_EPOCHS
# loss values and MAX_PARAMETERS parameters, and one step's graph is at most
# MAX_STEP_SIZE weight-sample products (~50 bytes each: MAX_STEP_SIZE is ~250 MB). The
# numbers live in limits.py, where checkpoints and histories read them too.
MAX_NOISE = 10.0  # the 2-D datasets span ~2 units: beyond this they are noise alone
EXPLODING = 10.0  # a loss rising this many times above its first epoch's is reported

# When train() compiles its step (compiler.compile): compiling costs a few plain steps
# (at most ten) and a compiled step a fraction of one (a tenth to a fifth), so it pays
# once COMPILE_AFTER full-size batches would run compiled (recorded epochs too: the step
# returns what a History reads). The generated code holds a line or two per weight and
# Python needs a few KB per line to compile it, so models with more than
# COMPILE_MAX_PARAMETERS parameters are not compiled.
COMPILE_AFTER = 20
COMPILE_MAX_PARAMETERS = 20_000


class DivergedError(ValueError):
    """The loss or the parameters stopped being finite numbers: the step size is too large."""

    def __init__(self, epoch: int, what: str):
        super().__init__(f"training diverged at epoch {epoch} ({what}); try a smaller lr")


class UnusedSettingError(ValueError):
    """A setting the chosen dataset does not take (noise for digits)."""

    def __init__(self, field: str, dataset: str):
        self.field = field
        self.dataset = dataset
        super().__init__(f"the {dataset} dataset takes no {field} setting")


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
# the other optimizer without a learning rate still gets one that suits it. A preset
# noise of None means the dataset takes no noise.
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

    Raises ValueError for an unknown dataset, loss or optimizer (naming the choices), a
    value beyond the limits above, and UnusedSettingError for a setting the dataset
    does not take.
    """
    preset = _choose("dataset", config.dataset, PRESETS)
    if config.noise is not None and preset["noise"] is None:
        raise UnusedSettingError("noise", config.dataset)
    filled = {k: v for k, v in preset.items() if getattr(config, k) is None and k != "lr"}
    config = dataclasses.replace(config, **filled)
    _choose("loss", config.loss, losses.LOSSES)
    _choose("optimizer", config.optimizer, OPTIMIZERS)
    for field, limit in (("samples", MAX_SAMPLES), ("epochs", MAX_EPOCHS),
                         ("batch_size", MAX_SAMPLES), ("noise", MAX_NOISE)):
        value = getattr(config, field)
        if value is not None and value > limit:
            raise ValueError(f"{field} must be at most {_amount(limit)}, got {_amount(value)}")
    if config.lr is None:
        config = dataclasses.replace(config, lr=preset["lr"][config.optimizer])
    return config


def _amount(x: float) -> str:
    """100000 -> '100,000'; 1e308 -> '1e+308'."""
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def _choose(kind: str, name: str, table: dict):
    """table[name], or a ValueError naming the unknown `kind` and the choices."""
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; choose one of " + ", ".join(table))
    return table[name]


def _check_size(nin: int, nouts: Sequence[int], batch: int) -> None:
    """ValueError, before the model is built, if it or one step's graph is over the limits."""
    parameters = sum((n_in + 1) * n_out for n_in, n_out in zip([nin, *nouts], nouts))
    shape = f"MLP({nin}, {list(nouts)})"
    if parameters > MAX_PARAMETERS:
        raise ValueError(f"{shape} has {parameters:,} parameters; the limit is "
                         f"{MAX_PARAMETERS:,}: use smaller hidden layers")
    if parameters * batch > MAX_STEP_SIZE:
        raise ValueError(f"one step of {shape} on {batch:,} samples holds {parameters:,} x "
                         f"{batch:,} = {parameters * batch:,} weight uses in its graph; the "
                         f"limit is {MAX_STEP_SIZE:,}: use a smaller batch_size or model")


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
    seconds: float  # the whole loop, compiling included
    steps: int
    worst: int  # the index in train_set of the sample with the largest loss
    sample_loss: Value  # that sample's loss, labelled, backward done: for drawing
    history: History | None = None  # epoch by epoch, when train() was asked to record
    compiled_steps: int = 0  # steps run by the compiled step (the rest by the engine)
    compile_seconds: float = 0.0  # what compiling it took, part of `seconds`

    def summary(self) -> str:
        """Four lines: model and data, settings, accuracies, and the time taken."""
        c = self.config
        return "\n".join([
            f"trained MLP(nin={self.model.nin}, nouts={self.model.nouts}) on {c.dataset} "
            f"({len(self.train_set)} train / {len(self.test_set)} test samples)",
            f"  {c.optimizer}, lr {c.lr:g}, {c.loss} loss, {formatting.plural(c.epochs, 'epoch')}, "
            f"{formatting.plural(self.steps, 'step')}",
            f"  train accuracy {self.train_accuracy:.1%}, test accuracy {self.test_accuracy:.1%}",
            f"  time {self.seconds:.1f} s ({self.steps / max(self.seconds, 1e-9):.1f} steps/s)"
            + (f", compiling included ({self.compile_seconds:.2f} s; "
               f"{formatting.plural(self.compiled_steps, 'step')} ran compiled)"
               if self.compiled_steps else ""),
        ])

    def warning(self) -> str | None:
        """A sentence when the loss rose far above its first epoch's at any epoch (finite,
        but exploding, even if it came down again): its peak, the epoch, and where it ended."""
        first, last = self.losses[0], self.losses[-1]
        peak = max(self.losses)
        if peak <= EXPLODING * max(first, 1e-12):
            return None
        at = self.losses.index(peak) + 1
        ending = "" if at == len(self.losses) else f", ending at {formatting.loss(last)}"
        return (f"the loss grew from {formatting.loss(first)} (epoch 1) to "
                f"{formatting.loss(peak)} (epoch {at}){ending}; the learning rate is probably "
                f"too large (try a smaller lr, e.g. {self.config.lr / 10:g})")


# ------------------------------------------------------------------ loss and labels


def batch_loss(loss: str, outputs: list, targets: Sequence[int]) -> Value:
    """The mean loss of a batch of model outputs against class indices, by the loss's name
    (losses.LOSSES: each row encodes classes as its targets: -1/+1, 0/1, one-hot, ...)."""
    return _choose("loss", loss, losses.LOSSES)(outputs, targets)


def labelled_loss(loss: str, output: Value | list[Value], target: int,
                  sample: int | None = None) -> Value:
    """One sample's loss with its nodes named for graphs and players: the model's output
    "score" (or "score0", "score1", ...), the loss's constants "const", and the loss
    itself after the sample and its class: "loss of sample 7 (class 1)"."""
    outputs = output if isinstance(output, list) else [output]
    for k, value in enumerate(outputs):
        value.label = "score" if len(outputs) == 1 else f"score{k}"
    result = batch_loss(loss, [output], [target])
    for node in topological_order(result):
        if not node.parents and not node.label:
            node.label = "const"  # a number of the loss formula: the target, 1, ...
    which = "" if sample is None else f" of sample {sample}"
    result.label = f"loss{which} (class {target})"
    return result


def predict(output: Value | float | list) -> int:
    """The class an output means (losses.predict's rule: argmax of several, or the sign of
    one); outputs are Values, or their numbers (a compiled step's)."""
    outputs = output if isinstance(output, list) else [output]
    return losses.predict([v.data if isinstance(v, Value) else v for v in outputs])


def accuracy(model: MLP, samples: Sequence) -> float:
    """Fraction of `samples` whose predicted class is right (nan for no samples)."""
    if not samples:
        return math.nan
    return sum(predict(model(x)) == y for x, y in samples) / len(samples)


# ------------------------------------------------------------------------ training


def train(config: TrainConfig, progress: TextIO | None = None, *, history: bool = False,
          record_every: int | None = None, compiled: bool | None = None) -> Run:
    """Load the data, build the model and optimiser, and run the training loop; with
    `history=True` the Run's `history` records the run (History: record_every=...).

    Steps run compiled (compiler.compile: the model's forward and backward as generated
    code, the loss on the engine) where that pays: with `compiled=None`, when at least
    COMPILE_AFTER full-size batches would run compiled and the model has at most
    COMPILE_MAX_PARAMETERS parameters; `compiled=True` compiles whenever a batch can use it,
    False never. The numbers are the engine's, bit for bit, for every loss, and so is
    what a History records (the step returns each layer's outputs and their gradients:
    History.on_numbers). A last batch smaller than the others runs on the engine.
    """
    c = resolve(config)
    loader = datasets.DATASETS[c.dataset]
    kwargs = {} if c.noise is None else {"noise": c.noise}
    data = loader(n_samples=c.samples, seed=c.seed, **kwargs)
    train_set, test_set = datasets.train_test_split(data, c.test_fraction, seed=c.seed)
    n_classes = max(y for _, y in data) + 1
    nouts = [*c.hidden, losses.LOSSES[c.loss].outputs(n_classes)]
    batch = min(c.batch_size or len(train_set), len(train_set))
    _check_size(len(data[0][0]), nouts, batch)
    model = MLP(len(data[0][0]), nouts, c.activation, seed=c.seed)
    optimizer = OPTIMIZERS[c.optimizer](model.parameters(), lr=c.lr)
    recorder = None if not history else History(
        model, train_set, test_set, loss_fn=lambda outs, ys: batch_loss(c.loss, outs, ys),
        record_every=record_every, epochs=c.epochs,
        info={"dataset": c.dataset, c.optimizer: f"lr {c.lr:g}", "loss": c.loss,
              "batch": batch, "seed": c.seed})
    order_rng = random.Random(c.seed)
    bar = Progress(c.epochs, progress)
    run_losses, run_accs, steps, compiled_steps = [], [], 0, 0
    start = time.perf_counter()
    step = _compiled_step(model, c.loss, train_set, batch, c.epochs, recorder is not None,
                          compiled)
    compile_seconds = time.perf_counter() - start if step is not None else 0.0
    if step is not None and progress is not None:
        progress.write(f"compiled the training step in {compile_seconds:.2f} s\n")
    epoch = 0
    try:
        for epoch in range(1, c.epochs + 1):
            order = list(train_set)
            if batch < len(order):
                order_rng.shuffle(order)
            total, correct = 0.0, 0
            for i in range(0, len(order), batch):
                chunk = order[i:i + batch]
                xs, ys = [x for x, _ in chunk], [y for _, y in chunk]
                optimizer.zero_grad()
                if step is None or len(chunk) < batch:
                    scores = [model(x) for x in xs]
                    loss = batch_loss(c.loss, scores, ys)
                    loss.backward()
                    loss_value = loss.data
                    if recorder is not None:
                        recorder.on_batch(loss, scores, ys)
                elif recorder is None:
                    loss_value, scores = step(xs, ys)
                    compiled_steps += 1
                else:
                    loss_value, scores, data, grads = step(xs, ys)
                    recorder.on_numbers(loss_value, scores, ys, data, grads)
                    compiled_steps += 1
                optimizer.step()
                steps += 1
                total += loss_value * len(chunk)
                correct += sum(predict(out) == y for out, y in zip(scores, ys))
            run_losses.append(total / len(order))
            run_accs.append(correct / len(order))
            if recorder is not None:
                recorder.on_epoch()
            bar.update(epoch, run_losses[-1], run_accs[-1])
            if not math.isfinite(run_losses[-1]):
                raise DivergedError(epoch, f"loss {run_losses[-1]}")
        seconds = time.perf_counter() - start
        if not all(math.isfinite(p.data) for p in model.parameters()):  # the last step's
            raise DivergedError(epoch, "parameters not finite after the last step")
        worst, train_accuracy = _worst_and_accuracy(model, c.loss, train_set)
        x, y = train_set[worst]
        sample_loss = labelled_loss(c.loss, model(x), y, sample=worst)
    except OpError as exc:  # e.g. a dot product overflowing: the weights blew up
        raise DivergedError(epoch, str(exc)) from exc
    finally:
        bar.close()
    model.zero_grad()  # so the drawn grads are this one sample's, not the last batch's too
    sample_loss.backward()
    return Run(c, model, train_set, test_set, run_losses, run_accs, train_accuracy,
               accuracy(model, test_set), seconds, steps, worst, sample_loss, recorder,
               compiled_steps, compile_seconds)


def _compiled_step(model: MLP, loss: str, samples: Sequence, batch: int, epochs: int,
                   watch: bool, compiled: bool | None) -> compiler.CompiledStep | None:
    """The model's forward over a batch compiled, its loss on the engine:
    step(xs, targets) -> (loss, outputs), and with `watch` also each sample's layer outputs
    (passes.layer_outputs) as numbers and their gradients; None where train()'s rule says
    it does not pay."""
    if compiled is not None and not isinstance(compiled, bool):
        raise TypeError(f"compiled must be True, False or None, got {compiled!r}")
    runs = len(samples) // batch * epochs  # full-size batches
    if compiled is False or (compiled is None and (
            runs < COMPILE_AFTER or len(model.parameters()) > COMPILE_MAX_PARAMETERS)):
        return None

    def forward(xs: list) -> list | tuple[list, list]:
        outputs = [model(x) for x in xs]
        return (outputs, passes.layer_outputs(model, outputs)) if watch else outputs

    return compiler.compile(forward, model.parameters(), [list(x) for x, _ in samples[:batch]],
                            loss=lambda outputs, ys: batch_loss(loss, outputs, ys), watch=watch)


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
        text = (f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs}  "
                f"loss {formatting.loss(loss)}  accuracy {acc:6.1%}")
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
