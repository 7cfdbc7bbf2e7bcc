"""Tests for passes.py: the plain-float forward gives model(x)'s numbers bit for bit, and
the layers' outputs found in a graph are the model's own."""

from __future__ import annotations

import pytest

from micrograd_ann import MLP
from micrograd_ann.activations import ACTIVATIONS
from micrograd_ann.passes import float_network, forward, forward_passes, layer_outputs
from micrograd_ann.training import batch_loss
from test_history import POINTS, bce


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_the_float_forward_gives_exactly_the_models_numbers(activation):
    model = MLP(3, [5, 4, 2], activation, seed=3)
    net = float_network(model.architecture(), [p.data for p in model.parameters()])
    for x in ([0.5, -1.25, 2.0], [-3.0, 0.0, 0.75], [10.0, -10.0, 1e-3]):
        out = model(x)
        passes = forward_passes(model, out)
        want = [[v.data for v in layer] for layer in passes[0].layers]
        assert forward(net, x) == want  # bit for bit: the same op-table functions, same order


def test_the_fast_walk_finds_the_passes_the_search_finds():
    model = MLP(2, [4, 3, 2], "tanh", seed=1)
    outputs = [model(x) for x, _ in POINTS]
    loss = batch_loss("cross_entropy", outputs, [y for _, y in POINTS])
    walked = layer_outputs(model, outputs)
    searched = [p.layers for p in forward_passes(model, [loss])]
    assert len(walked) == len(POINTS)
    assert [[list(map(id, layer)) for layer in p] for p in walked] == \
        [[list(map(id, layer)) for layer in p] for p in searched]


def test_an_unfused_model_is_read_by_searching_the_graph():
    model = MLP(2, [3, 1], "relu", seed=2, fused=False)  # micrograd's chains: no dot nodes
    outputs = [model(x) for x, _ in POINTS]
    loss = bce(outputs, [y for _, y in POINTS])
    found = layer_outputs(model, outputs)
    assert [layers[-1][0] for layers in found] == outputs
    assert found == [p.layers for p in forward_passes(model, [loss])]
