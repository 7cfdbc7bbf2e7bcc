"""Bad input gets a clear TypeError or ValueError that names what was received, and
float trouble inside an op an OpError naming the op and its operands.

The rule: a wrong *type* (a string, None, a list, a bool, a complex where a number
belongs) is a TypeError, as for Python's own arithmetic; a value of the right type that
is out of range (a wrong input count, nin <= 0, an unknown activation name) is a
ValueError. NaN and inf are floats, so Value() takes them.
"""

from __future__ import annotations

import math
import operator
import random
import re

import pytest

from micrograd_ann import MLP, Layer, Neuron, OpOverflowError, Value, dot, sum_values

# ------------------------------------------------------------------------ Value()


@pytest.mark.parametrize("data, name", [
    ("3", "str"), (None, "NoneType"), ([1], "list"), (1 + 2j, "complex"),
    (True, "bool"), ({}, "dict"),
])
def test_value_rejects_a_non_number_naming_its_type(data, name):
    with pytest.raises(TypeError, match=rf"^Value\(\) takes an int or float, got {name}$"):
        Value(data)


def test_value_of_a_value_says_what_to_use_instead():
    with pytest.raises(TypeError, match=r"got Value \(use v itself, or v\.data"):
        Value(Value(1.0))


@pytest.mark.parametrize("data", [math.nan, math.inf, -math.inf])
def test_nan_and_inf_are_valid_floats(data):
    v = Value(data)
    assert v.data is data or math.isnan(v.data) and math.isnan(data)
    assert type(v.data) is float


def test_ints_become_floats():
    assert type(Value(3).data) is float
    assert Value(3).data == 3.0


# ------------------------------------------------------------- unsupported operands

BINARY = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]
BAD_OPERANDS = ["a", [1], None, 1 + 2j, True]


@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.__name__)
@pytest.mark.parametrize("other", BAD_OPERANDS, ids=repr)
def test_each_operator_returns_not_implemented_for_a_non_number(op, other):
    v = Value(2.0)
    forward = getattr(Value, f"__{op.__name__}__")
    reflected = getattr(Value, f"__r{op.__name__}__")
    assert forward(v, other) is NotImplemented
    assert reflected(v, other) is NotImplemented


@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.__name__)
@pytest.mark.parametrize("other", ["a", None, 1 + 2j], ids=repr)
def test_python_raises_its_usual_type_error_either_way_round(op, other):
    v = Value(2.0)
    with pytest.raises(TypeError, match="'Value'"):  # "a" * 2 is valid: str's own message
        op(v, other)
    with pytest.raises(TypeError):
        op(other, v)


def test_the_type_error_names_the_operator_as_written():
    with pytest.raises(TypeError, match=r"for -: 'str' and 'Value'"):
        "a" - Value(2.0)
    with pytest.raises(TypeError, match=r"for /: 'NoneType' and 'Value'"):
        None / Value(0.0)  # a TypeError, not a division by zero
    with pytest.raises(TypeError, match=r"can't multiply sequence by non-int of type 'Value'"):
        Value(2.0) * [1]


# -------------------------------------------------------------------- float errors


@pytest.mark.parametrize("make, op", [
    (lambda: Value(1e308) * 10, r"mul\(1e\+308, 10\.0\)"),
    (lambda: Value(1e308) + 1e308, r"add\(1e\+308, 1e\+308\)"),
    (lambda: Value(-1e308) - 1e308, r"add\(-1e\+308, -1e\+308\)"),
    (lambda: sum_values([1e308, 1e308, -1.0]), r"sum\(1e\+308, 1e\+308, -1\.0\)"),
    (lambda: dot([1e200, -1e200], [1e200, 1e200]), r"dot\(1e\+200, -1e\+200, "),
    (lambda: Value(1000.0).exp(), r"exp\(1000\.0\)"),
])
def test_overflow_from_finite_inputs_raises_naming_the_op(make, op):
    with pytest.raises(OpOverflowError, match=f"^{op}.*result too large for a float"):
        make()


def test_non_finite_inputs_flow_through_without_an_error():
    assert (Value(math.inf) * 2).data == math.inf
    assert math.isnan((Value(math.nan) + 1).data)
    assert math.isnan((Value(math.inf) - math.inf).data)


# ---------------------------------------------------------------------------- nn


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


def test_a_lone_neuron_rejects_a_non_numeric_input_with_a_type_error():
    for fused in (True, False):
        with pytest.raises(TypeError, match="^input x1 must be a number or a Value, got str"):
            Neuron(2, seed=0, fused=fused)([0.5, "a"])


def test_numeric_inputs_of_every_kind_work():
    model = MLP(3, [1], output_activation="linear", seed=0)
    w = [p.data for p in model.parameters()]
    out = model([1, 2.5, Value(-1.0)])
    assert out.data == pytest.approx(w[0] * 1 + w[1] * 2.5 - w[2] + w[3], abs=1e-15)


@pytest.mark.parametrize("nin", [0, -1, 2.0, "2", True, None])
def test_nin_must_be_a_positive_int(nin):
    with pytest.raises(ValueError, match=rf"^nin must be a positive int, got {nin!r}$"):
        MLP(nin, [1])
    with pytest.raises(ValueError, match="^nin must be a positive int"):
        Neuron(nin)


@pytest.mark.parametrize("nouts", [[], (), None, 3, "31"])
def test_layer_sizes_must_be_a_non_empty_list(nouts):
    message = f"nouts must list at least one layer size, e.g. [16, 16, 1], got {nouts!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        MLP(2, nouts)


@pytest.mark.parametrize("nouts", [[3, 0], [-1], [2.5]])
def test_each_layer_size_must_be_a_positive_int(nouts):
    with pytest.raises(ValueError, match=r"^nout must be a positive int, got"):
        MLP(2, nouts)


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
    with pytest.raises(ValueError, match="either seed= or rng=, not both"):
        MLP(2, [1], seed=0, rng=random.Random(0))


def test_subtracting_a_number_adds_its_negative_with_no_extra_nodes():
    x = Value(5.0)
    out = x - 2
    assert (out.op.name, out.data, out.parents[0]) == ("add", 3.0, x)
    assert out.parents[1].data == -2.0 and not out.parents[1].parents
    with pytest.raises(TypeError):
        x - "2"
