"""Neurons, layers and MLPs built from Values, with micrograd's API and PyTorch's names.

Inside a Layer or MLP a neuron's pre-activation w . x + b is one fused 'dot' node
(2*nin + 1 inputs) rather than a chain of 2*nin binary nodes, then one node for its
activation (a row of activations.py); a Neuron on its own (or `fused=False`) builds
micrograd's chain b + w0*x0 + w1*x1 + ..., which gives the same values and gradients up to
rounding and draws as micrograd's graph. Every node a neuron makes is tagged with the
neuron's dotted name (`node.module`), so graphs can be collapsed per neuron or layer.
Without seed= or rng=, weights come from Python's global `random`, drawn as micrograd draws
them, so `random.seed(n)` first reproduces micrograd's models.
"""

from __future__ import annotations

import math
import os
import random
from typing import Iterator, Mapping, NamedTuple, Sequence

from . import activations, checkpoint
from .checks import check_int, is_number
from .engine import OPS, Value, dot, make_node

_DOT = OPS["dot"]


def _make_rng(seed: int | None, rng: random.Random | None) -> random.Random | None:
    """The weights' generator: rng, a private Random(seed), or None for Python's global one."""
    if rng is not None and seed is not None:
        raise ValueError("pass either seed= or rng=, not both")
    return random.Random(seed) if rng is None and seed is not None else rng


def _check_inputs(who: str, expected: int, x: Sequence[float | Value]) -> None:
    try:
        n = len(x)
    except TypeError:
        raise TypeError(f"{who} expects a sequence of {expected} inputs, "
                        f"got {type(x).__name__}") from None
    if n != expected:
        raise ValueError(f"{who} expects {expected} inputs, got {n}")


def _as_inputs(x: Sequence[float | Value]) -> list[Value]:
    """Inputs as Values, converting plain numbers once for a whole layer.

    A non-number is a TypeError naming its position (a wrong type, as for Value() itself).
    """
    if all(type(v) is Value for v in x):  # a hidden layer's inputs
        return list(x)
    values = []
    for i, v in enumerate(x):
        if not isinstance(v, Value):
            try:
                v = Value(v, f"x{i}")
            except TypeError:
                raise TypeError(f"input x{i} must be a number or a Value, "
                                f"got {type(v).__name__}: {v!r}") from None
        values.append(v)
    return values


def _check_size(what: str, n: object) -> int:
    """A layer size: an int (else TypeError) of at least 1 (else ValueError)."""
    return check_int(what, n, 1)


def _check_parameter(name: str, value: object) -> float:
    """A state-dict value as a float: a real number (not bool) and finite."""
    if not is_number(value):
        raise TypeError(f"parameter {name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"parameter {name} is {value}; only finite values can be loaded")
    return value


class IncompatibleKeys(NamedTuple):
    """What load_state_dict(strict=False) skipped: model names absent from the dict,
    and dict names the model does not have."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _listed(names: Sequence[str], limit: int = 5) -> str:
    """The first few names, and how many there are when that is not all of them."""
    shown = ", ".join(names[:limit])
    return shown + (f" ... ({len(names)} in all)" if len(names) > limit else "")


class Module:
    """Base class: parameters(), named_parameters(), zero_grad() and state dicts."""

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """(dotted name, parameter) pairs, e.g. ('layers.0.neurons.3.w.1', Value)."""
        return iter(())

    def parameters(self) -> list[Value]:
        """All trainable Values, in named_parameters() order. Neuron, Layer and MLP list
        them without making the names (a training step asks for them three times)."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0."""
        for p in self.parameters():
            p.grad = 0.0

    def state_dict(self) -> dict[str, float]:
        """{dotted name: value} for every parameter, in parameters() order."""
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, float],
                        strict: bool = True) -> IncompatibleKeys:
        """Set parameters from {name: number}; everything is checked before anything changes.

        strict=True: the names must be exactly this model's (ValueError listing the
        missing and unexpected ones); strict=False loads the names both share and
        returns the rest. Values must be finite real numbers; gradients are left as is.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict expects a mapping of name -> number, "
                            f"got {type(state).__name__}")
        params = dict(self.named_parameters())
        missing = [name for name in params if name not in state]
        unexpected = [str(name) for name in state if name not in params]
        if strict and (missing or unexpected):
            parts = [f"{len(state)} values for {len(params)} parameters"]
            if missing:
                parts.append(f"missing: {_listed(missing)}")
            if unexpected:
                parts.append(f"unexpected: {_listed(unexpected)}")
            raise ValueError("state dict does not match the model: " + "; ".join(parts))
        updates = [(params[name], _check_parameter(name, value))
                   for name, value in state.items() if name in params]
        for p, value in updates:
            p.data = value
        return IncompatibleKeys(missing, unexpected)


class Neuron(Module):
    """activation(w . x + b); weights drawn uniformly from [-1, 1], the bias starts at 0.

    `nonlin` is micrograd's switch (True: relu, False: linear) and overrides `activation`;
    micrograd's positional form Neuron(nin, False) works too. On its own a neuron builds
    micrograd's visible chain (fused=False); a Layer makes its neurons fused=True unless
    told otherwise.
    Without seed= or rng= the weights are `random.uniform(-1, 1)` from the global
    generator, one per input in order, as micrograd draws them.
    """

    def __init__(self, nin: int, activation: str = "relu", *, nonlin: bool | None = None,
                 seed: int | None = None, rng: random.Random | None = None,
                 fused: bool = False, name: str = ""):
        _check_size("nin", nin)
        if isinstance(activation, bool):  # micrograd's Neuron(nin, nonlin)
            nonlin = activation
        if nonlin is not None:
            activation = "relu" if nonlin else "linear"
        self.activation = activations.get(activation).name
        rng = _make_rng(seed, rng)
        uniform = random.uniform if rng is None else rng.uniform  # None: micrograd's draws
        self.w = [Value(uniform(-1, 1), f"w{i}") for i in range(nin)]
        self.b = Value(0.0, "b")
        self.fused = fused
        self.name = name  # dotted path inside its model, set by Layer

    @property
    def nin(self) -> int:
        return len(self.w)

    def __call__(self, x: Sequence[float | Value]) -> Value:
        _check_inputs(self.name or "neuron", len(self.w), x)
        return self._forward(_as_inputs(x))

    def _forward(self, x: list[Value]) -> Value:
        """The neuron on inputs already checked and made Values (a Layer does that once for
        all its neurons)."""
        activate = activations.ACTIVATIONS[self.activation].node  # None for linear
        if self.fused:  # (x: Values, checked once per layer; w and b: Values we made)
            z = make_node(_DOT, (*self.w, *x, self.b))
            out = z if activate is None else activate(z)
            z.module = out.module = self.name
            return out
        made = [wi * xi for wi, xi in zip(self.w, x)]  # micrograd's chain: b + w0*x0 + ...
        act = self.b
        for term in made[:]:
            act = act + term
            made.append(act)
        out = act if activate is None else activate(act)
        made.append(out)
        for node in made:
            node.module = self.name
        return out

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        prefix = f"{self.name}." if self.name else ""
        for i, w in enumerate(self.w):
            yield f"{prefix}w.{i}", w
        yield f"{prefix}b", self.b

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def __repr__(self) -> str:
        return f"{activations.ACTIVATIONS[self.activation].title}Neuron({len(self.w)})"


class Layer(Module):
    """`nout` neurons reading the same inputs; calling it returns a list of Values, or
    (as micrograd's Layer does) the Value itself when nout is 1."""

    def __init__(self, nin: int, nout: int, activation: str = "relu", *,
                 nonlin: bool | None = None, seed: int | None = None,
                 rng: random.Random | None = None, fused: bool = True, name: str = ""):
        _check_size("nout", nout)
        rng = _make_rng(seed, rng)
        prefix = f"{name}." if name else ""
        self.neurons = [
            Neuron(nin, activation, nonlin=nonlin, rng=rng, fused=fused,
                   name=f"{prefix}neurons.{i}")
            for i in range(nout)
        ]
        self.name = name

    def __call__(self, x: Sequence[float | Value]) -> Value | list[Value]:
        out = self.outputs(x)
        return out[0] if len(out) == 1 else out

    def outputs(self, x: Sequence[float | Value]) -> list[Value]:
        """The neurons' outputs as a list, whatever nout is (an MLP chains layers so)."""
        _check_inputs(self.name or "layer", self.neurons[0].nin, x)
        x = _as_inputs(x)  # once for the whole layer, not once per neuron
        return [n._forward(x) for n in self.neurons]

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for neuron in self.neurons:
            yield from neuron.named_parameters()

    def parameters(self) -> list[Value]:
        return [p for neuron in self.neurons for p in neuron.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """Layers of sizes `nouts` on `nin` inputs; hidden layers use `activation`.

    Like micrograd, a model whose last layer has one neuron returns a single Value;
    otherwise a list. Inner layers of width 1 are fine (MLP(2, [16, 1, 1])).
    """

    def __init__(self, nin: int, nouts: Sequence[int], activation: str = "relu",
                 output_activation: str = "linear", *, seed: int | None = None,
                 rng: random.Random | None = None, fused: bool = True):
        _check_size("nin", nin)
        if isinstance(nouts, (int, str)) or not nouts:
            raise ValueError(f"nouts must list at least one layer size, e.g. [16, 16, 1], "
                             f"got {nouts!r}")
        for i, n in enumerate(nouts):  # every size checked before any layer is built
            _check_size(f"nouts[{i}]", n)
        activations.get(activation)
        activations.get(output_activation)
        rng = _make_rng(seed, rng)
        sizes = [nin, *nouts]
        self.layers = [
            Layer(sizes[i], sizes[i + 1],
                  activation if i < len(nouts) - 1 else output_activation,
                  rng=rng, fused=fused, name=f"layers.{i}")
            for i in range(len(nouts))
        ]
        self.nin = nin
        self.nouts = list(nouts)
        self.activation = activation
        self.output_activation = output_activation

    def __call__(self, x: Sequence[float | Value]) -> Value | list[Value]:
        _check_inputs("MLP", self.nin, x)
        for layer in self.layers:
            x = layer.outputs(x)
        return x[0] if len(x) == 1 else x

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for layer in self.layers:
            yield from layer.named_parameters()

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]

    def architecture(self) -> dict[str, object]:
        """The constructor arguments that fix the parameter names: nin, nouts, activations."""
        return {"nin": self.nin, "nouts": list(self.nouts), "activation": self.activation,
                "output_activation": self.output_activation}

    def save(self, path: str | os.PathLike) -> None:
        """Write architecture and parameters to a JSON file, atomically (checkpoint.save)."""
        checkpoint.save(self, path)

    @staticmethod
    def from_file(path: str | os.PathLike) -> MLP:
        """A new model rebuilt from a file written by save() alone; CheckpointError naming
        the file if it is not one (checkpoint.read lists what is checked)."""
        saved = checkpoint.read(path)
        try:  # seed=0: the weights are overwritten, so leave Python's global random alone
            model = MLP(**saved.architecture, seed=0)
        except (TypeError, ValueError) as exc:
            raise checkpoint.CheckpointError(f"{saved.path}: invalid architecture: "
                                             f"{exc}") from None
        saved.load_into(model)
        return model

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


# ------------------------------------------------------------- the tutorial's neuron
# The seed tutorial's worked example. It printed 0.865, but its own numbers give
# w . x + b = 0.2 + 2.5 - 0.3 + 0.1 = 2.5 and sigmoid(2.5) = 0.9241418199787566.

TUTORIAL_INPUTS = (1.0, 5.0, 3.0)
TUTORIAL_WEIGHTS = (0.2, 0.5, -0.1)
TUTORIAL_BIAS = 0.1
TUTORIAL_ACTIVATION = "sigmoid"


class TutorialNeuron(NamedTuple):
    """The tutorial's neuron before backward: its leaves, n = w . x + b and out."""

    x: list[Value]
    w: list[Value]
    b: Value
    n: Value
    out: Value


def tutorial_neuron(labels: bool = True, fused: bool = True) -> TutorialNeuron:
    """sigmoid(w . x + b) with the tutorial's numbers, leaves made in the order x, w, b.

    n is one 'dot' node, or (fused=False) the products w_i * x_i added, then b. With
    labels, leaves are x0..x2, w0..w2, b and the nodes n and out; without, all blank.
    """
    def leaves(prefix: str, values: Sequence[float]) -> list[Value]:
        return [Value(v, label=f"{prefix}{i}" if labels else "") for i, v in enumerate(values)]

    x, w = leaves("x", TUTORIAL_INPUTS), leaves("w", TUTORIAL_WEIGHTS)
    b = Value(TUTORIAL_BIAS, label="b" if labels else "")
    if fused:
        n = dot(w, x, b)
    else:
        products = [wi * xi for wi, xi in zip(w, x)]
        n = products[0] + products[1] + products[2] + b
    out = n.sigmoid()
    if labels:
        n.label, out.label = "n", "out"
    return TutorialNeuron(x, w, b, n, out)

