"""nn: the fused neuron equals micrograd's chain, where each is built, names, seeds and
the global random draws, shapes, and errors (a wrong type is a TypeError, a right type
with a wrong value -- an input count, nin <= 0, an activation name -- a ValueError)."""

from __future__ import annotations

import random
import re

import pytest
from helpers import assert_all_close

from micrograd_ann import MLP, Layer, Neuron, Value, sum_values, topological_order


def _grads(model, x):
    model.zero_grad()
    out = model(x)
    loss = out if isinstance(out, Value) else sum_values(out)
    loss.backward()
    return loss.data, [p.grad for p in model.parameters()]


def _ops(root: Value) -> list[str]:
    return [node.op.name for node in topological_order(root) if node.op is not None]


# ------------------------------------------------------------- fused and unfused


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
    n = Neuron(3, "tanh", seed=0, fused=True)
    out = n([1.0, 2.0, 3.0])
    pre = out.parents[0]
    assert (out.op.name, pre.op.name, len(pre.parents)) == ("tanh", "dot", 7)
    assert pre.parents[:3] == tuple(n.w) and pre.parents[-1] is n.b
    assert [w.label for w in n.w] + [n.b.label] == ["w0", "w1", "w2", "b"]


def test_a_lone_neuron_builds_micrograds_chain_and_layers_fuse():
    # micrograd's Neuron: sum((wi*xi for ...), b), i.e. ((b + w0*x0) + w1*x1), then relu.
    lone = Neuron(2, seed=0)
    out = lone([1.0, -2.0])
    assert _ops(out) == ["mul", "mul", "add", "add", "relu"]
    first_sum = out.parents[0].parents[0]
    assert first_sum.parents[0] is lone.b and first_sum.parents[1].op.name == "mul"
    w0, w1 = (p.data for p in lone.w)
    assert out.data == max(0.0, (0.0 + w0 * 1.0) + w1 * -2.0)
    assert _ops(Layer(2, 1, seed=0)([1.0, -2.0])) == ["dot", "relu"]
    assert _ops(MLP(2, [1], seed=0)([1.0, -2.0])) == ["dot"]
    assert _ops(Layer(2, 1, seed=0, fused=False)([1.0, -2.0])) == _ops(out)


def test_neuron_nodes_are_tagged_with_the_neuron_name():
    model = MLP(2, [3, 1], seed=0)
    out = model([0.5, -0.5])
    assert (out.op.name, out.module) == ("dot", "layers.1.neurons.0")  # linear output
    hidden = out.parents[3]  # after the 3 weights come the inputs: layer 0's outputs
    assert (hidden.op.name, hidden.module) == ("relu", "layers.0.neurons.0")
    assert hidden.parents[0].module == "layers.0.neurons.0"
    assert out.parents[0].module == ""  # a weight: a leaf, not made by the neuron


def test_named_parameters_are_stable():
    model = MLP(2, [3, 1], seed=0)
    names = [name for name, _ in model.named_parameters()]
    assert names[:4] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1",
                         "layers.0.neurons.0.b", "layers.0.neurons.1.w.0"]
    assert names[-1] == "layers.1.neurons.0.b"
    assert len(names) == len(model.parameters()) == 3 * 3 + 4


# ------------------------------------------------------------------- random draws


def test_seeded_models_are_reproducible_and_uniform():
    a = [p.data for p in MLP(2, [16, 16, 1], seed=3).parameters()]
    b = [p.data for p in MLP(2, [16, 16, 1], rng=random.Random(3)).parameters()]
    c = [p.data for p in MLP(2, [16, 16, 1], seed=4).parameters()]
    assert a == b and a != c
    weights = [p.data for p in Neuron(500, seed=1).w]
    assert all(-1 <= w <= 1 for w in weights)
    assert min(weights) < -0.9 and max(weights) > 0.9


def test_without_a_seed_weights_are_drawn_from_the_global_random_in_order():
    # micrograd's draws: random.uniform(-1, 1) per weight, layer by layer, neuron by
    # neuron; biases start at 0 and draw nothing.
    random.seed(5)
    model = MLP(2, [3, 1])
    after = random.random()
    random.seed(5)
    expected = [random.uniform(-1, 1) for _ in range(2 * 3 + 3 * 1)]
    assert random.random() == after  # exactly one draw per weight, no more
    weights = [p.data for name, p in model.named_parameters() if not name.endswith(".b")]
    assert weights == expected
    assert [p.data for name, p in model.named_parameters() if name.endswith(".b")] == [0.0] * 4
    random.seed(5)
    assert [w.data for w in Neuron(2).w] == expected[:2]
    random.seed(5)
    assert [p.data for p in Layer(2, 3).parameters()][:2] == expected[:2]


@pytest.mark.parametrize("make", [
    lambda: MLP(2, [3, 1], seed=0), lambda: Layer(2, 3, rng=random.Random(1)),
    lambda: Neuron(4, seed=2),
], ids=["MLP seed", "Layer rng", "Neuron seed"])
def test_a_seed_or_rng_leaves_the_global_random_alone(make):
    random.seed(9)
    state = random.getstate()
    make()
    assert random.getstate() == state


# ------------------------------------------------------------------------- shapes


def test_width_one_layers_and_output_shapes():
    model = MLP(2, [16, 1, 1], seed=0)  # fails in micrograd: an inner layer of width 1
    assert isinstance(model([1.0, 2.0]), Value)
    multi = MLP(2, [4, 3], seed=0)
    out = multi([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 3


def test_a_layer_of_one_neuron_returns_the_value_itself():
    layer = Layer(2, 1, seed=0)
    out = layer([1.0, 2.0])  # as micrograd's Layer: out[0] if len(out) == 1 else out
    assert isinstance(out, Value)
    assert out.data == layer.outputs([1.0, 2.0])[0].data
    assert [v.data for v in Layer(2, 2, seed=0)([1.0, 2.0])] == [
        v.data for v in Layer(2, 2, seed=0).outputs([1.0, 2.0])]


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


# ------------------------------------------------------------------------- errors


def test_wrong_input_count_is_a_value_error():
    with pytest.raises(ValueError, match="^MLP expects 2 inputs, got 3$"):
        MLP(2, [3, 1], seed=0)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="^neuron expects 3 inputs, got 2$"):
        Neuron(3, seed=0)([1.0, 2.0])
    with pytest.raises(ValueError, match=r"^layer expects 2 inputs, got 1$"):
        Layer(2, 2, seed=0)([1.0])


def test_inputs_that_are_not_a_sequence_are_a_type_error():
    with pytest.raises(TypeError, match="^MLP expects a sequence of 2 inputs, got float$"):
        MLP(2, [1], seed=0)(3.0)


@pytest.mark.parametrize("bad, name", [("a", "str"), (None, "NoneType"), ([1.0], "list"),
                                       (False, "bool")])
def test_a_non_numeric_input_is_a_type_error_naming_its_position(bad, name):
    model = MLP(2, [3, 1], seed=0)
    with pytest.raises(TypeError, match=rf"^input x1 must be a number or a Value, got {name}"):
        model([0.5, bad])
    with pytest.raises(TypeError, match=rf"input x0 must be a number or a Value, got {name}"):
        Layer(2, 2, seed=0)([bad, 0.5])


@pytest.mark.parametrize("fused", [True, False])
def test_a_lone_neuron_rejects_a_non_numeric_input_with_a_type_error(fused):
    with pytest.raises(TypeError, match="^input x1 must be a number or a Value, got str"):
        Neuron(2, seed=0, fused=fused)([0.5, "a"])


@pytest.mark.parametrize("fused", [True, False])
def test_numeric_inputs_of_every_kind_work(fused):
    model = MLP(3, [1], output_activation="linear", seed=0, fused=fused)
    w = [p.data for p in model.parameters()]
    out = model([1, 2.5, Value(-1.0)])
    assert out.data == pytest.approx(w[0] * 1 + w[1] * 2.5 - w[2] + w[3], abs=1e-15)


@pytest.mark.parametrize("nin, error, message", [
    (0, ValueError, "must be at least 1, got 0"), (-1, ValueError, "must be at least 1, got -1"),
    (2.0, TypeError, "must be an int, got float 2.0"), ("2", TypeError, "must be an int, got str"),
    (True, TypeError, "must be an int, got bool"), (None, TypeError, "must be an int, got NoneType"),
])
def test_nin_must_be_a_positive_int(nin, error, message):
    with pytest.raises(error, match=rf"^nin {message}"):
        MLP(nin, [1])
    with pytest.raises(error, match=rf"^nin {message}"):
        Neuron(nin)


@pytest.mark.parametrize("nouts", [[], (), None, 3, "31"])
def test_layer_sizes_must_be_a_non_empty_list(nouts):
    message = f"nouts must list at least one layer size, e.g. [16, 16, 1], got {nouts!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        MLP(2, nouts)


@pytest.mark.parametrize("nouts, error", [([3, 0], ValueError), ([-1], ValueError),
                                          ([2.5], TypeError)])
def test_each_layer_size_must_be_a_positive_int(nouts, error):
    at = len(nouts) - 1
    with pytest.raises(error, match=rf"^nouts\[{at}\] must be"):
        MLP(2, nouts)
    with pytest.raises(error, match=rf"^nout must be .*, got .*{nouts[-1]!r}$"):
        Layer(2, nouts[-1])


@pytest.mark.parametrize("where", ["activation", "output_activation"])
@pytest.mark.parametrize("name", ["Relu", "softmax", "", None, ["relu"]])
def test_an_unknown_activation_lists_the_valid_names(where, name):
    message = f"unknown activation {name!r}; choose one of relu, tanh, sigmoid, leaky_relu, linear"
    expected = f"^{re.escape(message)}$"
    with pytest.raises(ValueError, match=expected):
        MLP(2, [3, 1], **{where: name})
    if where == "activation":
        with pytest.raises(ValueError, match=expected):
            Neuron(2, name)


def test_seed_and_rng_together_are_rejected():
    with pytest.raises(ValueError, match="^pass either seed= or rng=, not both$"):
        MLP(2, [1], seed=0, rng=random.Random(0))


def test_every_layer_size_is_checked_before_any_layer_is_built():
    # found by the checkpoint fuzz test: a huge first size, then a bad one, must not
    # start building 275 billion neurons
    with pytest.raises(TypeError, match=r"nouts\[1\] must be an int, got dict"):
        MLP(2, [275_292_644_499, {"": -3433}])
    with pytest.raises(TypeError, match="nin must be an int, got str"):
        MLP("2", [1])
    with pytest.raises(ValueError, match=r"nouts\[0\] must be at least 1, got 0"):
        MLP(2, [0, 1])
