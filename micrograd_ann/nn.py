"""Neurons, layers and MLPs built from Values, with micrograd's API and PyTorch's names.

A neuron's pre-activation w . x + b is one fused 'dot' node (2*nin + 1 inputs) rather
than a chain of 2*nin binary nodes; `fused=False` builds micrograd's chain instead, which
gives the same values and gradients. Every node a neuron makes is tagged with the
neuron's dotted name (`node._module`), so graphs can be collapsed per neuron or layer.
"""

from __future__ import annotations

import random
from typing import Callable, Iterator, Sequence

from .engine import Value, dot, sum_values

ACTIVATIONS: dict[str, Callable[[Value], Value] | None] = {
    "relu": Value.relu,
    "tanh": Value.tanh,
    "sigmoid": Value.sigmoid,
    "leaky_relu": Value.leaky_relu,
    "linear": None,
}


def _check_activation(name: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return name


def _make_rng(seed: int | None, rng: random.Random | None) -> random.Random:
    if rng is not None and seed is not None:
        raise ValueError("pass either seed= or rng=, not both")
    return rng if rng is not None else random.Random(seed)


def _check_inputs(who: str, expected: int, x: Sequence[float | Value]) -> None:
    if len(x) != expected:
        raise ValueError(f"{who} expects {expected} inputs, got {len(x)}")


def _as_inputs(x: Sequence[float | Value]) -> list[Value]:
    """Inputs as Values, converting plain numbers once for a whole layer."""
    return [v if isinstance(v, Value) else Value(v, f"x{i}") for i, v in enumerate(x)]


def _check_size(what: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise ValueError(f"{what} must be a positive int, got {n!r}")
    return n


class Module:
    """Base class: parameters(), named_parameters() and zero_grad()."""

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """(dotted name, parameter) pairs, e.g. ('layers.0.neurons.3.w.1', Value)."""
        return iter(())

    def parameters(self) -> list[Value]:
        """All trainable Values, in a fixed order."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0."""
        for p in self.parameters():
            p.grad = 0.0

    def draw(self, inputs: Sequence[float | Value], **options):
        """The graph of this module applied to `inputs` (see viz.draw_dot)."""
        from .viz import draw_dot  # lazy: graphviz is only needed for drawing

        out = self(inputs)
        return draw_dot(out if isinstance(out, Value) else sum_values(out), **options)


class Neuron(Module):
    """activation(w . x + b) with weights and bias drawn uniformly from [-1, 1].

    `nonlin` is micrograd's switch (True: relu, False: linear) and overrides `activation`.
    """

    def __init__(self, nin: int, activation: str = "relu", *, nonlin: bool | None = None,
                 seed: int | None = None, rng: random.Random | None = None,
                 fused: bool = True, name: str = ""):
        _check_size("nin", nin)
        if nonlin is not None:
            activation = "relu" if nonlin else "linear"
        self.activation = _check_activation(activation)
        rng = _make_rng(seed, rng)
        self.w = [Value(rng.uniform(-1, 1), f"w{i}") for i in range(nin)]
        self.b = Value(0.0, "b")
        self.fused = fused
        self.name = name  # dotted path inside its model, set by Layer

    @property
    def nin(self) -> int:
        return len(self.w)

    def __call__(self, x: Sequence[float | Value]) -> Value:
        _check_inputs(self.name or "neuron", len(self.w), x)
        if self.fused:
            act = dot(self.w, x, self.b)
            made = [act]
        else:  # micrograd's chain: b + w0*x0 + w1*x1 + ...
            made = [wi * xi for wi, xi in zip(self.w, x)]
            act = self.b
            for term in made[:]:
                act = act + term
                made.append(act)
        fn = ACTIVATIONS[self.activation]
        out = act if fn is None else fn(act)
        if fn is not None:
            made.append(out)
        for node in made:
            node._module = self.name
        return out

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        prefix = f"{self.name}." if self.name else ""
        for i, w in enumerate(self.w):
            yield f"{prefix}w.{i}", w
        yield f"{prefix}b", self.b

    def __repr__(self) -> str:
        kind = {"relu": "ReLU", "linear": "Linear"}.get(self.activation, self.activation)
        return f"{kind}Neuron({len(self.w)})"


class Layer(Module):
    """`nout` neurons reading the same inputs; calling it returns a list of Values."""

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

    def __call__(self, x: Sequence[float | Value]) -> list[Value]:
        x = _as_inputs(x)
        return [n(x) for n in self.neurons]

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for neuron in self.neurons:
            yield from neuron.named_parameters()

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
        if not nouts:
            raise ValueError("nouts must list at least one layer size, e.g. [16, 16, 1]")
        _check_activation(activation)
        _check_activation(output_activation)
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
            x = layer(x)
        return x[0] if len(x) == 1 else x

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        for layer in self.layers:
            yield from layer.named_parameters()

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"
