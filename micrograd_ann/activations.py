"""The activations a neuron can apply, one row each: everything the package knows of them.

A row names an op -- an entry of the engine's table or an `engine.Op` of your own -- and its
constant params. `row(v)` makes the one node a neuron's activation is, and `row.forward(a)`
is that op's own forward on a float: the numbers the node would hold, without a graph (the
recorder's test set and the replay page's pictures use it, so no formula is written twice).
The other fields are what the tools need: the torch.nn module (torch_bridge), a fixed output
range (histograms, the page's squares), and where the activation is flat, which makes the
"dead" and "saturated" diagnostics (diagnostics.py, the replay page).

A new activation is one op and one row; docs/layout.md shows softplus added so:

    ACTIVATIONS["softplus"] = Activation("softplus", SOFTPLUS_OP, torch="Softplus")
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable, Mapping

from .engine import OPS, Op, Value, apply, make_node

# nn's leaky_relu is Value.leaky_relu with its default slope (torch's default is 0.01 too).
LEAKY_SLOPE: float = inspect.signature(Value.leaky_relu).parameters["slope"].default
SATURATION = 0.97  # an output this far into the flat tails (tail() > it) is saturated


@dataclass(frozen=True)
class Activation:
    """One activation: its op and params, and what the tools need to know about it."""

    name: str
    op: Op | None  # the node it makes; None for linear (the pre-activation itself)
    params: tuple[float, ...] = ()  # the op's constants: leaky_relu's slope
    torch: str | None = None  # the torch.nn module class, made with `params`; None: no module
    range: tuple[float, float] | None = None  # every output lies in [lo, hi]; None: unbounded
    # The output of a unit that is off (relu: 0): it passes no gradient back, and a unit off
    # for every sample of an epoch is dead. None: the activation is never off.
    off: float | None = None
    # How far an output lies into flat tails, from 0 to 1 (tanh: |out|); beyond SATURATION
    # the unit is saturated and passes almost no gradient back. None: no flat tails.
    tail: Callable[[float], float] | None = None
    title: str = ""  # how text names it ("a ReLU off", "ReLUNeuron"); "" for the name itself

    # Set from `op` and `params` when the row is made:
    # v -> the node of the op on the Value v (None for linear); an Op of your own is applied
    # with engine.apply, which checks it and its results.
    node: Callable[[Value], Value] | None = field(init=False, repr=False, compare=False)
    # a -> the op's own forward on the number a, as a node computes it (a float).
    forward: Callable[[float], float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", self.name)
        object.__setattr__(self, "node", _node_function(self.op, self.params))
        object.__setattr__(self, "forward", _float_function(self.op, self.params))

    def __call__(self, v: Value) -> Value:
        """The activation of v: one node of the op (v itself for linear)."""
        return v if self.node is None else self.node(v)


def _node_function(op: Op | None, params: tuple[float, ...]) -> Callable[[Value], Value] | None:
    """A row's `node`: what Value.tanh() and the like do for a built-in op."""
    if op is None:
        return None
    if OPS.get(op.name) is not op:
        return lambda v: apply(op, v, params=params)
    return lambda v: make_node(op, (v,), params)


def _float_function(op: Op | None, params: tuple[float, ...]) -> Callable[[float], float]:
    """A row's `forward`: the op's forward itself where it can be (math.tanh)."""
    if op is None:
        return float
    fn = op.forward
    if OPS.get(op.name) is not op:  # yours may return an int: converted, as apply does
        return lambda a: float(fn(a, *params))
    return fn if not params else lambda a: fn(a, *params)


ACTIVATIONS: dict[str, Activation] = {
    row.name: row
    for row in [
        Activation("relu", OPS["relu"], torch="ReLU", off=0.0, title="ReLU"),
        Activation("tanh", OPS["tanh"], torch="Tanh", range=(-1.0, 1.0), tail=abs),
        # 2 out - 1: the same slope at the same tail as tanh's (6 % of its largest)
        Activation("sigmoid", OPS["sigmoid"], torch="Sigmoid", range=(0.0, 1.0),
                   tail=lambda out: abs(2.0 * out - 1.0)),
        Activation("leaky_relu", OPS["leaky_relu"], (LEAKY_SLOPE,), torch="LeakyReLU"),
        Activation("linear", None, title="Linear"),
    ]
}


def get(name: str) -> Activation:
    """The row of `name`; ValueError naming the choices if there is none."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def of_layers(architecture: Mapping) -> list[Activation]:
    """Each layer's row for an MLP's architecture(): `activation` in the hidden layers,
    `output_activation` in the last."""
    hidden = len(architecture["nouts"]) - 1
    names = [architecture["activation"]] * hidden + [architecture["output_activation"]]
    return [get(name) for name in names]
