"""expr: formulas parsed with ast into graphs; only the whitelisted grammar is accepted."""

from __future__ import annotations

import inspect
import math

import pytest

from micrograd_ann import Value
from micrograd_ann.engine import OPS
from micrograd_ann.expr import FUNCTIONS, MAX_LENGTH, ExprError, evaluate, parse


def test_value_and_gradients_match_the_closed_form():
    root, leaves = evaluate("x**3 / y - -x + (+y) * 2", {"x": 1.5, "y": -2.0})
    root.backward()
    x, y = 1.5, -2.0
    assert root.data == pytest.approx(x**3 / y + x + y * 2, rel=1e-15)
    assert leaves["x"].grad == pytest.approx(3 * x**2 / y + 1, rel=1e-15)
    assert leaves["y"].grad == pytest.approx(-(x**3) / y**2 + 2, rel=1e-15)
    assert [leaves["x"].label, leaves["y"].label] == ["x", "y"]


def test_a_name_used_twice_is_one_leaf():
    root, leaves = evaluate("x * x", {"x": 3.0})
    assert root.parents == (leaves["x"], leaves["x"])
    root.backward()
    assert leaves["x"].grad == 6.0


def test_given_values_are_used_as_the_leaves():
    x = Value(2.0, "mine")
    root, leaves = evaluate("exp(x)", {"x": x})
    assert leaves["x"] is x and root.parents == (x,)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_calls_the_value_method(name):
    root, _ = evaluate(f"{name}(x)", {"x": 0.7})
    assert root.data == getattr(Value(0.7), name)().data


def _takes_one_input_and_no_params(partials) -> bool:
    """True for an op whose rule is partials(a, out): one input, no params, no *args."""
    kinds = [p.kind for p in inspect.signature(partials).parameters.values()]
    return len(kinds) == 2 and inspect.Parameter.VAR_POSITIONAL not in kinds


def test_every_unary_op_and_leaky_relu_is_a_function_making_that_op():
    unary = {name for name, op in OPS.items() if _takes_one_input_and_no_params(op.partials)}
    assert {"exp", "log", "tanh", "relu", "abs"} <= unary and "pow" not in unary
    for name in unary | {"leaky_relu"}:
        assert name in FUNCTIONS, f"engine op {name!r} cannot be called in a formula"
        assert evaluate(f"{name}(x)", {"x": 0.7})[0].op.name == name


def test_a_parsed_formula_evaluates_at_many_points():
    formula = parse("x * y + exp(x)")
    for x, y in [(0.5, -2.0), (1.0, 3.0)]:
        root, leaves = formula.evaluate({"x": x, "y": y})
        assert root.data == pytest.approx(x * y + math.exp(x), rel=1e-15)
        assert leaves["x"].data == x
    with pytest.raises(ExprError, match="variable 'x' has no value"):
        formula.evaluate({})
    with pytest.raises(ExprError, match="cannot parse 'x \\+'"):
        parse("x +")


def test_leaky_relu_takes_a_slope_and_constants_become_leaves():
    assert evaluate("leaky_relu(x, 0.2)", {"x": -2.0})[0].data == pytest.approx(-0.4)
    root, _ = evaluate("x + tanh(1)", {"x": 0.0})
    assert root.data == pytest.approx(math.tanh(1))


@pytest.mark.parametrize("text, variables, fragment", [
    ("x", {"tanh": 1.0}, "cannot be a variable name"),
    ("x", {"x": 1.0, "y": 2.0}, "'y' is given a value but not used"),
    ("tanh + x", {"x": 1.0}, "tanh is a function"),
    ("2 * 3", {}, "uses no variables"),
    ("x / (x - 1)", {"x": 1.0}, "division by zero"),
    ("leaky_relu(x, slope=0.1)", {"x": 1.0}, "optional slope"),
    ("leaky_relu(x, x)", {"x": 1.0}, "the slope must be a number, not a variable"),
    ("x" * (MAX_LENGTH + 1), {}, "the limit is"),
    ("-" * 1990 + "x", {"x": 1.0}, "nested too deeply"),
])
def test_errors_name_the_problem(text, variables, fragment):
    with pytest.raises(ExprError, match=fragment) as info:
        evaluate(text, variables)
    assert len(str(info.value)) < 200  # long formulas are shortened in messages
