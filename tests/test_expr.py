"""expr: formulas parsed with ast into graphs; only the whitelisted grammar is accepted,
names are normalised as Python does, numbers stay finite and work is bounded."""

from __future__ import annotations

import inspect
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from micrograd_ann import Value
from micrograd_ann.engine import OPS
from micrograd_ann.expr import (
    FUNCTIONS, MAX_LENGTH, MAX_VARIABLES, ExprError, evaluate, normalise_name,
    normalise_variables, parse,
)


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
    ("leaky_relu(x, slope=0.1)", {"x": 1.0},
     r"keyword arguments \(slope=\) are not allowed; pass numbers by position"),
    ("leaky_relu(x, 0.1, 0.2)", {"x": 1.0}, "x and an optional slope"),
    ("x = 1", {"x": 1.0}, "'x = 1' is an assignment, not a formula"),
    ("y=2", {}, "'y=2' is an assignment"),
    ("x += 1", {"x": 1.0}, "is an assignment"),
    ("x := 1", {"x": 1.0}, "is an assignment"),
    ("(x := 1) + x", {"x": 1.0}, r"an assignment \('x := 1'\) is not allowed"),
    ("x == 1", {"x": 1.0}, r"a comparison \('x == 1'\) is not allowed"),
    ("tanh(x == 1)", {"x": 1.0}, "a comparison"),
    ("x <= 1", {"x": 1.0}, "a comparison"),
    ("tanh(x=1", {"x": 1.0}, "cannot parse .*never closed"),
    ("leaky_relu(x, x)", {"x": 1.0}, "the slope must be a number, not a variable"),
    ("x" * (MAX_LENGTH + 1), {}, "the limit is"),
    ("-" * 1990 + "x", {"x": 1.0}, "nested too deeply"),
])
def test_errors_name_the_problem(text, variables, fragment):
    with pytest.raises(ExprError, match=fragment) as info:
        evaluate(text, variables)
    assert len(str(info.value)) < 200  # long formulas are shortened in messages


# ------------------------------------------------------------------- text is text


@pytest.mark.parametrize("text, fragment", [
    ("x\ud800", r"'\\ud800' at position 1 is a lone surrogate"),
    ("x + '\udcff'", "lone surrogate"),
    ("x\u200b + 1", "cannot parse"),  # zero-width space
    ("x\u202e + 1", "cannot parse"),  # right-to-left override
    ("\x00", "cannot parse"),
])
def test_odd_unicode_is_an_error_that_can_be_printed(text, fragment):
    with pytest.raises(ExprError, match=fragment) as info:
        evaluate(text, {"x": 1.0})
    str(info.value).encode("utf-8")  # no lone surrogate in the message


def test_names_are_normalised_as_python_normalises_them():
    assert normalise_name("ﬁ") == "fi" and normalise_name("ｘ") == "x"
    root, leaves = evaluate("ﬁ * 2 + ｘ", {"fi": 3.0, "ｘ": 1.0})
    assert root.data == 7.0 and list(leaves) == ["fi", "x"]
    assert [leaf.label for leaf in leaves.values()] == ["fi", "x"]
    assert evaluate("fi + x", {"ﬁ": 3.0, "x": 1.0})[0].data == 4.0


@pytest.mark.parametrize("pairs, fragment", [
    ([("ﬁ", 1.0), ("fi", 2.0)], r"'fi' is given more than one value \('ﬁ' and 'fi' are the "
                                r"same name\)"),
    ([("x", 1.0), ("x", 2.0)], r"'x' is given more than one value$"),
    ([("if", 1.0)], "'if' cannot be a variable name"),
    ([("tanh", 1.0)], "'tanh' cannot be a variable name"),
    ([("x²", 1.0)], "'x²' cannot be a variable name"),
    ([("\ud800", 1.0)], r"'\\ud800' cannot be a variable name"),
    ([("x", math.inf)], "variable 'x' must be a finite number, got inf"),
    ([("x", math.nan)], "variable 'x' must be a finite number, got nan"),
    ([("x", 10**400)], r"variable 'x' is too large for a float \(401 digits\)"),
])
def test_bad_variables_are_expr_errors(pairs, fragment):
    with pytest.raises(ExprError, match=fragment):
        normalise_variables(pairs)


def test_variables_of_the_wrong_type_are_type_errors():
    with pytest.raises(TypeError, match="a variable name must be a str, got int"):
        normalise_variables([(1, 1.0)])
    with pytest.raises(TypeError, match="variable 'x' must be a number, got str"):
        evaluate("x", {"x": "1"})


# ------------------------------------------------------------------ finite numbers


@pytest.mark.parametrize("text, fragment", [
    ("x + 1e309", r"'1e309' is not a finite number \(too large for a float\)"),
    ("x + " + "9" * 400, "is not a finite number"),
    ("leaky_relu(x, 1e999)", "'1e999' is not a finite number"),
    ("x + 1e300 * 1e300", r"'1e300 \* 1e300' is inf, not a finite real number"),
    ("x + (-8) ** 0.5", r"'\(-8\) \*\* 0.5' is \(.*j\), not a finite real number"),
    ("x * 1e25", "cannot compute 'x \\* 1e25': a number is too large for a float"),
])
def test_non_finite_numbers_are_refused_like_non_finite_values(text, fragment):
    with pytest.raises(ExprError, match=fragment):
        evaluate(text, {"x": 1e300})


# --------------------------------------------------------------------- bounded work


def test_at_most_max_variables_in_a_formula_and_in_the_values():
    names = [f"v{i}" for i in range(MAX_VARIABLES + 1)]
    root, _ = evaluate(" + ".join(names[:-1]), {name: 1.0 for name in names[:-1]})
    assert root.data == MAX_VARIABLES
    with pytest.raises(ExprError, match=rf"uses {MAX_VARIABLES + 1} variables; the limit is "
                                        rf"{MAX_VARIABLES}$"):
        parse(" + ".join(names))
    start = time.process_time()
    many = ((f"v{i}", 1.0) for i in range(10**9))  # stops at the limit, never lists them all
    with pytest.raises(ExprError, match=f"more than {MAX_VARIABLES} variables are given"):
        normalise_variables(many)
    assert time.process_time() - start < 0.5


def test_the_formula_must_be_a_str():
    with pytest.raises(TypeError, match="the formula must be a str, got bytes"):
        parse(b"x")


# ------------------------------------------------------------------------- fuzzing
# Random text from formula-like pieces and odd characters: parsing and evaluating either
# work or raise ExprError with a one-line message that can be printed; nothing else
# escapes, and no formula takes long (in CPU seconds: a busy machine stretches wall time).

PIECES = st.sampled_from([
    "x", "y", "ﬁ", "ｘ", "tanh", "leaky_relu", "exp", "log", "(", ")", ",", "+", "-", "*",
    "/", "**", "=", "==", ":=", "<", "0", "1.5", "1e309", "1e300", "9" * 30, "-8", "0.5",
    "j", "_", ".", "[", "]", "'", " ", "\n", "if", "lambda", "slope=", "\ud800", "\u200b",
    "\x00", "é", "²", "#", "\\",
])
TEXTS = st.one_of(st.lists(PIECES, max_size=25).map("".join), st.text(max_size=40))


@settings(max_examples=1500, deadline=None)
@given(text=TEXTS)
def test_fuzz_only_expr_errors_escape(text):
    start = time.process_time()
    try:
        evaluate(text, {"x": 0.5, "y": -2.0})
    except ExprError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 400, message
        message.encode("utf-8")
    assert time.process_time() - start < 0.5, text


# ------------------------------------------------------------- naming the problem


@pytest.mark.parametrize("text, named", [
    # an unlisted function's call comes first in the text, before its strings
    ('__import__("os").system("ls")', "'__import__' is not an allowed function (in "
                                      "'__import__(\"os\")')"),
    ("x + exec('1') + 'a'", "'exec' is not an allowed function (in \"exec('1')\")"),
    ("'a' + exec('1')", "\"'a'\" is not a number"),
    ("x.real(1)", "attribute access ('x.real') is not allowed"),  # inside the call
    ("x + y[0] + z.w", "indexing ('y[0]') is not allowed"),
])
def test_the_first_problem_in_the_text_is_named_with_what_is_allowed(text, named):
    with pytest.raises(ExprError) as info:
        parse(text)  # refused before anything is evaluated: no variable needs a value
    message = str(info.value)
    assert message.startswith(named), message
    assert message.endswith("; use only numbers, variables, + - * / **, unary -, and the "
                            "functions " + ", ".join(FUNCTIONS)), message
