"""nn: the fused neuron equals micrograd's chain, names, seeds, shapes and errors."""

from __future__ import annotations

import random

import pytest
from helpers import assert_all_close

from micrograd_ann import MLP, Layer, Neuron, Value, sum_values


def _grads(model, x):
    model.zero_grad()
    out = model(x)
    loss = out if isinstance(out, Value) else sum_values(out)
    loss.backward()
    return loss.data, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", "linear"])
def test_fused_neuron_equals_unfused_chain(activation):
    fused = MLP(3, [4, 4, 2], activation=activation, seed=7)
    chain = MLP(3, [4, 4, 2], activation=activation, seed=7, fused=False)
    x = [0.3, -1.2, 2.0]
    loss_f, grads_f = _grads(fused, x)
    loss_c, grads_c = _grads(chain, x)
    assert_all_close(loss_f, loss_c, rel=1e-12, abs=1e-12, what="loss")
    assert_all_close(grads_f, grads_c, rel=1e-12, abs=1e-15, what="parameter gradients")


def test_fused_neuron_is_one_node_with_2nin_plus_1_inputs():
    n = Neuron(3, "tanh", seed=0)
    out = n([1.0, 2.0, 3.0])
    pre = out.parents[0]
    assert (out.op.name, pre.op.name, len(pre.parents)) == ("tanh", "dot", 7)
    assert pre.parents[:3] == tuple(n.w) and pre.parents[-1] is n.b
    assert [w.label for w in n.w] + [n.b.label] == ["w0", "w1", "w2", "b"]


def test_neuron_nodes_are_tagged_with_the_neuron_name():
    model = MLP(2, [3, 1], seed=0)
    out = model([0.5, -0.5])
    assert (out.op.name, out._module) == ("dot", "layers.1.neurons.0")  # linear output
    hidden = out.parents[3]  # after the 3 weights come the inputs: layer 0's outputs
    assert (hidden.op.name, hidden._module) == ("relu", "layers.0.neurons.0")
    assert hidden.parents[0]._module == "layers.0.neurons.0"
    assert out.parents[0]._module == ""  # a weight: a leaf, not made by the neuron


def test_named_parameters_are_stable():
    model = MLP(2, [3, 1], seed=0)
    names = [name for name, _ in model.named_parameters()]
    assert names[:4] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1",
                         "layers.0.neurons.0.b", "layers.0.neurons.1.w.0"]
    assert names[-1] == "layers.1.neurons.0.b"
    assert len(names) == len(model.parameters()) == 3 * 3 + 4


def test_seeded_models_are_reproducible_and_uniform():
    a = [p.data for p in MLP(2, [16, 16, 1], seed=3).parameters()]
    b = [p.data for p in MLP(2, [16, 16, 1], rng=random.Random(3)).parameters()]
    c = [p.data for p in MLP(2, [16, 16, 1], seed=4).parameters()]
    assert a == b and a != c
    weights = [p.data for p in Neuron(500, seed=1).w]
    assert all(-1 <= w <= 1 for w in weights)
    assert min(weights) < -0.9 and max(weights) > 0.9


def test_width_one_layers_and_output_shapes():
    model = MLP(2, [16, 1, 1], seed=0)  # fails in micrograd: an inner layer of width 1
    assert isinstance(model([1.0, 2.0]), Value)
    multi = MLP(2, [4, 3], seed=0)
    out = multi([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 3
    assert isinstance(Layer(2, 1, seed=0)([1.0, 2.0]), list)


def test_micrograd_nonlin_keyword_and_repr():
    assert Neuron(2, nonlin=False, seed=0).activation == "linear"
    assert Neuron(2, False, seed=0).activation == "linear"  # micrograd's positional form
    assert Neuron(2, True, seed=0).activation == "relu"
    assert Layer(2, 2, nonlin=True, seed=0).neurons[0].activation == "relu"
    assert repr(MLP(2, [2, 1], seed=0)) == (
        "MLP of [Layer of [ReLUNeuron(2), ReLUNeuron(2)], Layer of [LinearNeuron(2)]]")


def test_output_activation():
    model = MLP(2, [3, 1], output_activation="sigmoid", seed=0)
    assert model([0.1, 0.2]).op.name == "sigmoid"


def test_zero_grad_clears_every_parameter():
    model = MLP(2, [3, 1], seed=0)
    _grads(model, [1.0, -1.0])
    assert any(p.grad for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_errors_name_sizes_and_choices():
    with pytest.raises(ValueError, match="MLP expects 2 inputs, got 3"):
        MLP(2, [1], seed=0)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="expects 2 inputs, got 1"):
        Neuron(2, seed=0)([1.0])
    with pytest.raises(ValueError, match="relu, tanh, sigmoid, leaky_relu, linear"):
        MLP(2, [1], activation="swish")
    with pytest.raises(ValueError, match="at least one layer"):
        MLP(2, [])
    with pytest.raises(ValueError, match="nin must be a positive int, got 0"):
        Neuron(0)
    with pytest.raises(ValueError, match="nout must be a positive int"):
        Layer(2, -1)
    with pytest.raises(ValueError, match="not both"):
        MLP(2, [1], seed=1, rng=random.Random(1))
