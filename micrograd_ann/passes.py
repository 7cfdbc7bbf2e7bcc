"""An MLP's forward passes as numbers and as graphs: each layer's outputs for an input.

`float_network` and `forward` compute them in plain floats, with the op table's own forward
functions in model(x)'s order, so they are the very numbers model(x) computes, without a
graph: the recorder evaluates its test set so, and the replay page's pictures are drawn so.
`layer_outputs` and `forward_passes` find them in a graph a model built (the recorder reads
activations and gradients there, the network view what it draws). They read a model as
nn.MLP has it (`Model`): this module sits beside nn, not above it.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Protocol, Sequence

from . import activations
from .engine import OPS, Value, topological_order

_DOT = OPS["dot"]
_DOT_FORWARD = _DOT.forward


# ------------------------------------------------------------------- in floats


def float_network(architecture: Mapping, params: Sequence[float]) -> list:
    """The MLP of `architecture` with `params` (in parameters() order: each neuron's w.0 ..
    w.(n-1), then b), for forward(): [(neurons [(w, b)], activation row)] per layer."""
    sizes = [architecture["nin"], *architecture["nouts"]]
    net, at = [], 0
    for nin, nout, activation in zip(sizes, sizes[1:], activations.of_layers(architecture)):
        neurons = []
        for _ in range(nout):
            neurons.append((params[at:at + nin], params[at + nin]))
            at += nin + 1
        net.append((neurons, activation))
    return net


def forward(net: list, x: Sequence[float]) -> list[list[float]]:
    """Each layer's outputs for input x on a float_network, as floats: the very numbers
    model(x) computes (the op table's forward functions, in the same order)."""
    outputs = []
    for neurons, activation in net:
        x = [_DOT_FORWARD(*w, *x, b) for w, b in neurons]
        if activation.op is not None:
            x = list(map(activation.forward, x))
        outputs.append(x)
    return outputs


# ------------------------------------------------------------------ in graphs


class Model(Protocol):
    """What is read of an nn.MLP: its layers, each with its neurons (name, nin, w,
    activation), and its parameters."""

    layers: list[Any]

    def parameters(self) -> list[Value]: ...


class Pass(NamedTuple):
    """One forward pass found in a graph: the input Values and each layer's outputs."""

    inputs: list[Value]
    layers: list[list[Value]]


def layer_outputs(model: Model,
                  outputs: Sequence[Value | list[Value]]) -> list[list[list[Value]]]:
    """Per model output (one per forward pass: a Value or a list), each layer's outputs.

    The layers are found by walking down one fused dot node per layer; for a graph not
    built so (an unfused model) forward_passes searches the outputs' graphs, which finds
    the same passes more slowly.
    """
    walked = [_walk_down(model, out) for out in outputs]
    if None not in walked:
        return walked
    roots = [v for out in outputs for v in (out if isinstance(out, list) else [out])]
    return [found.layers for found in forward_passes(model, roots)]


def _walk_down(model: Model, output: Value | list[Value]) -> list[list[Value]] | None:
    """The layers' outputs behind one model output, or None if it was not built by
    `model`'s fused layers (each neuron: activation(dot(w, x, b)))."""
    layers = [output if isinstance(output, list) else [output]]
    for layer in reversed(model.layers[1:]):
        inputs = _inputs(layer.neurons[0], layers[0])
        if inputs is None:
            return None
        layers.insert(0, inputs)
    return layers if _inputs(model.layers[0].neurons[0], layers[0]) is not None else None


def _inputs(neuron: Any, outs: list[Value]) -> list[Value] | None:
    """The inputs of the fused dot node behind `outs[0]`, if neuron made it."""
    node = outs[0]
    if node.module != neuron.name:
        return None
    if activations.ACTIVATIONS[neuron.activation].op is not None:
        node = node.parents[0] if node.parents else node
    n = neuron.nin
    if (node.op is not _DOT or len(node.parents) != 2 * n + 1
            or node.parents[0] is not neuron.w[0]):
        return None
    return list(node.parents[n:2 * n])


def forward_passes(model: Model, roots: Sequence[Value]) -> list[Pass]:
    """Every complete forward pass of `model` in the graph of `roots`, in creation order.

    A neuron's nodes carry its name (`module`); its output is the one of them that no
    other of them uses, and its inputs are the operands of those nodes that are neither
    tagged nor parameters, in creation order (x0..x(n-1) for a fused dot node and for
    micrograd's chain of products alike).
    """
    nodes = {node: None for root in roots for node in topological_order(root)}
    neurons = {n.name: n for layer in model.layers for n in layer.neurons}
    params = set(model.parameters())
    tagged = [v for v in sorted(nodes, key=_by_id) if v.module in neurons]
    used_inside = {p for v in tagged for p in v.parents if p.module == v.module}
    # For each neuron, {ids of its inputs: (inputs, output)}: one entry per application.
    applied: dict[str, dict[tuple[int, ...], tuple[list[Value], Value]]] = {}
    for out in (v for v in tagged if v not in used_inside):
        inputs = [p for v in _own_nodes(out) for p in v.parents
                  if p.module != out.module and p not in params]
        if len(inputs) == neurons[out.module].nin:
            applied.setdefault(out.module, {}).setdefault(_key(inputs), (inputs, out))
    passes = []
    for inputs, _ in applied.get(model.layers[0].neurons[0].name, {}).values():
        layers, key = [], _key(inputs)
        for layer in model.layers:
            found = [applied.get(n.name, {}).get(key) for n in layer.neurons]
            if None in found:
                break
            layers.append([out for _, out in found])
            key = _key(layers[-1])
        else:
            passes.append(Pass(inputs, layers))
    return passes


def _by_id(v: Value) -> int:
    return v.id


def _key(values: Sequence[Value]) -> tuple[int, ...]:
    return tuple(v.id for v in values)


def _own_nodes(out: Value) -> list[Value]:
    """`out` and the nodes with its module tag that it was made from, in creation order."""
    own, todo = {out}, [out]
    while todo:
        for p in todo.pop().parents:
            if p.module == out.module and p not in own:
                own.add(p)
                todo.append(p)
    return sorted(own, key=_by_id)
