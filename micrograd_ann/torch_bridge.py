"""The same MLP in PyTorch and back, with the same numbers: the bridge for moving on.

`to_torch(model)` gives a float64 torch.nn.Sequential of Linear and activation layers
holding the model's parameters; `from_torch(seq)` rebuilds an MLP from one. `compare`
runs one forward and backward pass in both engines and reports every parameter's
gradient side by side. Which torch.nn module each activation is and which torch function
each loss is are their registry rows' (activations.ACTIVATIONS, losses.LOSSES); the table
below says which torch optimiser each optimiser is. The README's "Moving to PyTorch"
tables mirror them.

PyTorch is an optional extra: without it these functions raise MissingExtraError
(`pip install -e ".[torch]"`). `import micrograd_ann` never imports torch.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence

from .activations import ACTIVATIONS, Activation
from .checks import is_number
from .engine import Value
from .trace import preserved_grads
from .extras import require
from .losses import LOSSES, Loss, class_targets
from .nn import MLP
from .optim import SGD, Adam, Optimizer

# ---------------------------------------------------------------- the name tables

# optimiser class -> (torch class, the keyword arguments both take, copied one to one)
OPTIMIZERS: dict[type[Optimizer], tuple[str, tuple[str, ...]]] = {
    SGD: ("torch.optim.SGD", ("lr", "momentum", "weight_decay", "dampening", "nesterov")),
    Adam: ("torch.optim.Adam", ("lr", "betas", "eps", "weight_decay")),
}

_PURPOSE = "micrograd_ann.torch_bridge"


def _torch() -> Any:
    """The torch module, imported on first use (MissingExtraError without it)."""
    return require("torch", "torch", _PURPOSE)


def _resolve(path: str) -> Any:
    """The object a dotted table path names, e.g. torch.nn.functional.mse_loss."""
    module, _, name = path.rpartition(".")
    if module.split(".")[0] == "torch":
        return getattr(require(module, "torch", _PURPOSE), name)
    return getattr(importlib.import_module(module), name)


def hinge_loss(scores: Any, targets: Any) -> Any:
    """losses.hinge for tensors: mean of relu(1 - y * score), y in {-1, +1}."""
    return _torch().relu(1.0 - targets * scores).mean()


def _loss_row(loss_fn: object) -> Loss:
    """The losses.LOSSES row whose function is loss_fn (its torch counterpart is the row's)."""
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function, got {type(loss_fn).__name__}")
    for row in LOSSES.values():
        if row.function is loss_fn:
            return row
    names = ", ".join(f"losses.{row.function.__name__}" for row in LOSSES.values())
    raise ValueError(f"loss_fn {getattr(loss_fn, '__name__', loss_fn)!r} has no torch "
                     f"counterpart here; use one of {names}")


def torch_activation(activation: Activation) -> Any:
    """A new torch.nn module computing the activation (its row's module and params)."""
    return getattr(_torch().nn, activation.torch)(*activation.params)


def torch_optimizer(optimizer: Optimizer, torch_model: Any) -> Any:
    """A torch.optim optimiser of the same kind and options over torch_model's parameters.

    `optimizer` must hold the model's parameters (checked by count) and not have stepped
    yet: its momentum or moment estimates are not carried over.
    """
    if type(optimizer) not in OPTIMIZERS:
        raise TypeError(f"optimizer must be an optim.SGD or optim.Adam, "
                        f"got {type(optimizer).__name__}")
    if getattr(optimizer, "steps", 0) or any(
            buf is not None for buf in getattr(optimizer, "momentum_buffers", ())):
        raise ValueError("the optimizer has already stepped; map a fresh one "
                         "(its state is not carried over to torch)")
    params = list(torch_model.parameters())
    count = sum(p.numel() for p in params)
    if count != len(optimizer.params):
        raise ValueError(f"the optimizer holds {len(optimizer.params)} parameters but the "
                         f"torch model has {count}")
    path, options = OPTIMIZERS[type(optimizer)]
    return _resolve(path)(params, **{name: getattr(optimizer, name) for name in options})


# ------------------------------------------------------------------ the two models


def to_torch(model: MLP) -> Any:
    """A float64 torch.nn.Sequential computing `model`: Linear, then its activation, per layer.

    Linear i's weight[j, k] is neuron j's w[k] in layer i and its bias[j] is that neuron's
    b. The torch model always returns a (batch, outputs) tensor.
    """
    if not isinstance(model, MLP):
        raise TypeError(f"to_torch takes an MLP, got {type(model).__name__}")
    torch = _torch()
    modules = []
    for layer in model.layers:
        neurons = layer.neurons
        # skip_init: no random initialisation, so torch's global RNG is left alone
        linear = torch.nn.utils.skip_init(torch.nn.Linear, neurons[0].nin, len(neurons),
                                          dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor([[w.data for w in n.w] for n in neurons],
                                             dtype=torch.float64))
            linear.bias.copy_(torch.tensor([n.b.data for n in neurons], dtype=torch.float64))
        modules.append(linear)
        activation = ACTIVATIONS[neurons[0].activation]
        if activation.torch is not None:
            modules.append(torch_activation(activation))
    return torch.nn.Sequential(*modules)


def from_torch(seq: Any) -> MLP:
    """An MLP with seq's parameters (as float64), from Linear layers each followed by an
    activation module of an activations.ACTIVATIONS row or by nothing (linear).

    The hidden layers must share one activation, as MLP's do; any other module, a
    Linear without bias or an activation module set otherwise than its row's (a LeakyReLU
    slope other than nn's) is a ValueError.
    """
    linears, activations = _structure(seq)
    hidden = sorted(set(activations[:-1]))
    if len(hidden) > 1:
        raise ValueError("an MLP uses one activation for every hidden layer; this model's "
                         f"hidden layers use {', '.join(hidden)}")
    sizes = [linear.out_features for linear in linears]
    model = MLP(linears[0].in_features, sizes, hidden[0] if hidden else "relu",
                activations[-1], seed=0)
    state = {}
    for layer, linear in zip(model.layers, linears):
        weights, biases = linear.weight.tolist(), linear.bias.tolist()
        for neuron, row, bias in zip(layer.neurons, weights, biases):
            names = [name for name, _ in neuron.named_parameters()]
            state.update(zip(names, [*row, bias]))
    model.load_state_dict(state)
    return model


def _structure(seq: Any) -> tuple[list[Any], list[str]]:
    """seq's Linear modules and the activation name after each ("linear" for none)."""
    torch = _torch()
    if not isinstance(seq, torch.nn.Sequential):
        raise TypeError(f"expected a torch.nn.Sequential, got {type(seq).__name__}")
    rows = {getattr(torch.nn, row.torch): row for row in ACTIVATIONS.values() if row.torch}
    supported = "Linear, " + ", ".join(cls.__name__ for cls in rows)
    linears: list[Any] = []
    activations: list[str] = []
    for i, module in enumerate(seq):
        where = f"module {i} ({type(module).__name__})"
        if isinstance(module, torch.nn.Linear):
            if module.bias is None:
                raise ValueError(f"{where} has no bias; every MLP neuron has one")
            if linears and module.in_features != linears[-1].out_features:
                raise ValueError(f"{where} takes {module.in_features} inputs but the layer "
                                 f"before gives {linears[-1].out_features}")
            linears.append(module)
            activations.append("linear")
        elif type(module) in rows:
            if not linears or activations[-1] != "linear":
                raise ValueError(f"{where} must follow a Linear layer")
            row = rows[type(module)]
            wanted = _settings(torch_activation(row))
            for name, value in _settings(module).items():
                if value != wanted[name]:
                    raise ValueError(f"{where} has {name} {value}; nn's {row.name} has "
                                     f"{name} {wanted[name]}")
            activations[-1] = row.name
        else:
            raise ValueError(f"{where} has no MLP counterpart; supported: {supported}")
    if not linears:
        raise ValueError("the Sequential has no Linear layer")
    return linears, activations


def _settings(module: Any) -> dict[str, float]:
    """A torch module's number settings (LeakyReLU's negative_slope), not its flags."""
    return {name: value for name, value in vars(module).items() if is_number(value)}


class _Pair(NamedTuple):
    """One scalar parameter in both models."""

    name: str  # the MLP's dotted name, layers.0.neurons.3.w.1
    torch_name: str  # the torch element, 0.weight[3, 1]
    value: Value
    tensor: Any
    index: tuple[int, ...]


def _pairs(model: MLP, seq: Any) -> list[_Pair]:
    """Every parameter of `model` with its element of `seq`; the shapes must match."""
    linears, _ = _structure(seq)
    if [(linear.in_features, linear.out_features) for linear in linears] != [
            (layer.neurons[0].nin, len(layer.neurons)) for layer in model.layers]:
        raise ValueError(f"the torch model's Linear layers do not match the MLP's sizes "
                         f"{[model.nin, *model.nouts]}")
    index_of = {id(module): i for i, module in enumerate(seq)}
    pairs = []
    for layer, linear in zip(model.layers, linears):
        at = index_of[id(linear)]
        for j, neuron in enumerate(layer.neurons):
            for k, w in enumerate(neuron.w):
                pairs.append(_Pair(f"{neuron.name}.w.{k}", f"{at}.weight[{j}, {k}]", w,
                                   linear.weight, (j, k)))
            pairs.append(_Pair(f"{neuron.name}.b", f"{at}.bias[{j}]", neuron.b,
                               linear.bias, (j,)))
    return pairs


# ------------------------------------------------------------------------ compare


class GradientRow(NamedTuple):
    """One parameter's gradient in both engines."""

    name: str
    torch_name: str
    micrograd: float
    torch: float
    diff: float  # |micrograd - torch|


@dataclass(frozen=True)
class ComparisonReport:
    """Both engines' loss and every parameter's gradient; str() is an aligned table."""

    loss: float
    torch_loss: float
    rows: tuple[GradientRow, ...]

    @property
    def max_diff(self) -> float:
        """The largest |micrograd - torch| over all gradients (nan if any is nan)."""
        diffs = [row.diff for row in self.rows]
        return math.nan if any(map(math.isnan, diffs)) else max(diffs)

    @property
    def worst(self) -> GradientRow:
        """The row with the largest difference."""
        return max(self.rows, key=lambda row: (math.isnan(row.diff), row.diff))

    def __str__(self) -> str:
        worst = self.worst
        lines = [f"loss {self.loss:.10g} (micrograd_ann) vs {self.torch_loss:.10g} (torch); "
                 f"largest gradient difference {self.max_diff:.1e} at {worst.name} (>>)"]
        table = [("", "parameter", "torch", "micrograd_ann grad", "torch grad", "diff")]
        table += [(">>" if row is worst else "", row.name, row.torch_name,
                   f"{row.micrograd:.12g}", f"{row.torch:.12g}", f"{row.diff:.1e}")
                  for row in self.rows]
        widths = [max(len(line[c]) for line in table) for c in range(len(table[0]))]
        for line in table:
            cells = [cell.rjust(w) if c >= 3 else cell.ljust(w)
                     for c, (cell, w) in enumerate(zip(line, widths))]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)


def _samples(data: Sequence[tuple[Any, Any]]) -> tuple[list[Any], list[Any]]:
    """(inputs of every sample, target of every sample) from [(inputs, target), ...]."""
    samples = list(data)
    if not samples:
        raise ValueError("expected at least one (inputs, target) sample, got none")
    return [x for x, _ in samples], [y for _, y in samples]


def torch_loss(torch_model: Any, loss_fn: Callable[..., Value],
               data: Sequence[tuple[Any, Any]]) -> Any:
    """loss_fn's torch counterpart (its losses.LOSSES row's) of torch_model over `data`: a
    0-dim tensor.

    `data` is a list of (inputs, target) samples, as for loss_fn([model(x) ...], targets);
    inputs and float targets take the dtype of torch_model's parameters.
    """
    row = _loss_row(loss_fn)
    torch = _torch()
    xs, targets = _samples(data)
    dtype = next(torch_model.parameters()).dtype
    outputs = torch_model(torch.tensor(xs, dtype=dtype))
    if row.target is class_targets:  # long class indices; else floats shaped like outputs
        target_tensor = torch.tensor(targets, dtype=torch.long)
    else:  # one number per sample for a one-output model: (batch,) -> (batch, 1)
        target_tensor = torch.tensor(targets, dtype=dtype).reshape(outputs.shape)
    return _resolve(row.torch)(outputs, target_tensor)


def compare(model: MLP, loss_fn: Callable[..., Value], data: Sequence[tuple[Any, Any]],
            torch_model: Any = None) -> ComparisonReport:
    """One forward and backward pass of loss_fn over `data` in both engines, side by side.

    `data` is a list of (inputs, target) samples; `loss_fn` a loss of micrograd_ann.losses
    (its LOSSES row gives its torch counterpart). `torch_model` defaults to to_torch(model); pass
    your own (any dtype) to check it against `model`. Both models are left as they were.
    """
    _loss_row(loss_fn)
    if not isinstance(model, MLP):
        raise TypeError(f"compare takes an MLP, got {type(model).__name__}")
    torch = _torch()
    seq = to_torch(model) if torch_model is None else torch_model
    pairs = _pairs(model, seq)
    data = list(data)  # read twice: once per engine
    xs, targets = _samples(data)

    loss = loss_fn([model(x) for x in xs], targets)
    params = [pair.value for pair in pairs]
    with preserved_grads(loss, params):
        model.zero_grad()
        loss.backward()
        ours = [p.grad for p in params]

    theirs = torch_loss(seq, loss_fn, data)
    tensors = list(seq.parameters())  # autograd.grad: the tensors' .grad stay untouched
    grads = dict(zip(map(id, tensors), torch.autograd.grad(theirs, tensors)))
    rows = []
    for pair, g in zip(pairs, ours):
        t = grads[id(pair.tensor)][pair.index].item()
        rows.append(GradientRow(pair.name, pair.torch_name, g, t, abs(g - t)))
    return ComparisonReport(loss.data, theirs.item(), tuple(rows))
