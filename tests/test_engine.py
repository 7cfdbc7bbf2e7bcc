"""The Value engine: every op against closed forms and central differences, backward
semantics, depth and width limits, bad input and float errors, and micrograd's published
checks."""

from __future__ import annotations

import copy
import inspect
import math
import operator
import os
import pickle
import sys
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from helpers import TUTORIAL_OUT, TUTORIAL_SLOPE, assert_all_close, tutorial_neuron
from op_cases import CASES, COMPOSED

from micrograd_ann import (
    MLP,
    OPS,
    Op,
    OpDomainError,
    OpError,
    OpOverflowError,
    OpZeroDivisionError,
    Value,
    apply,
    dot,
    sum_values,
    topological_order,
)
import micrograd_ann
from micrograd_ann import engine, trace
from micrograd_ann.gradcheck import numerical_grad

ALL_CASES = CASES + COMPOSED


def _inputs(case, data):
    """Hypothesis-drawn leaves inside the case's domain."""
    return [
        Value(data.draw(st.floats(lo, hi, allow_nan=False), label=f"x{i}"), f"x{i}")
        for i, (lo, hi) in enumerate(case.domain)
    ]


def test_every_table_op_has_a_case():
    covered = {case.op for case in CASES}
    assert covered == set(OPS), f"ops without a test case: {set(OPS) - covered}"


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.name)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_op_value_and_gradient(case, data):
    xs = _inputs(case, data)
    floats = [x.data for x in xs]
    out = case.fn(*xs)
    assert_all_close(out.data, case.ref(*floats), rel=1e-12, abs=1e-12, what="value")
    out.backward()
    analytic = [x.grad for x in xs]
    assert_all_close(analytic, case.grads(*floats), rel=1e-9, abs=1e-12, what="closed form")
    numeric = numerical_grad(lambda vs: case.fn(*vs), xs)
    assert_all_close(analytic, numeric, rel=1e-5, abs=1e-6, what="central difference")


# ------------------------------------------------------------------ kinks and limits
# At points without a derivative the engine uses a documented subgradient or limit.


@pytest.mark.parametrize(
    ("build", "x", "expected"),
    [
        (lambda v: v.relu(), 0.0, 0.0),
        (lambda v: v.abs(), 0.0, 0.0),
        (lambda v: v.leaky_relu(0.2), 0.0, 0.2),
        (lambda v: v.sqrt(), 0.0, math.inf),
        (lambda v: v**0.5, 0.0, math.inf),
        (lambda v: v**0, 0.0, 0.0),
        (lambda v: v**1, 0.0, 1.0),
        (lambda v: v**2, 0.0, 0.0),
    ],
    ids=["relu", "abs", "leaky_relu", "sqrt", "pow_half", "pow_0", "pow_1", "pow_2"],
)
def test_gradient_at_kinks_and_limits(build, x, expected):
    v = Value(x)
    build(v).backward()
    assert v.grad == expected


def test_value_exponent_at_zero_base():
    a, b = Value(0.0), Value(2.0)
    (a**b).backward()
    assert (a.grad, b.grad) == (0.0, 0.0)


def test_kinks_are_listed_in_the_table():
    assert {name for name, op in OPS.items() if op.kinks} == {"relu", "leaky_relu", "abs"}


def test_stable_sigmoid_and_tanh_at_extremes():
    for x, s in [(1000.0, 1.0), (-1000.0, 0.0), (40.0, 1.0)]:
        v = Value(x)
        out = v.sigmoid()
        out.backward()
        assert out.data == pytest.approx(s, abs=1e-15)
        assert v.grad == pytest.approx(0.0, abs=1e-15)
    assert Value(-1000.0).tanh().data == -1.0


# --------------------------------------------------------------- backward semantics


def test_operands_keep_order_and_duplicates():
    a, b = Value(3.0, "a"), Value(-2.0, "b")
    sq = a * a
    assert sq.parents == (a, a)
    sq.backward()
    assert a.grad == 6.0
    c = b - a
    assert c.parents[0] is b


def test_backward_twice_doubles_leaves_and_keeps_intermediates():
    a, b = Value(2.0), Value(-3.0)
    h = (a * b).tanh()
    out = h * a + b
    out.backward()
    first = (a.grad, b.grad, h.grad, out.grad)
    out.backward()
    # 2x up to rounding: a leaf reached by two paths sums its contributions in a new order
    assert (a.grad, b.grad) == pytest.approx((2 * first[0], 2 * first[1]), rel=1e-15)
    assert (h.grad, out.grad) == (first[2], first[3])
    c = Value(1.5)
    d = (c * 2.0).exp()  # one path: exactly twice
    d.backward()
    d.backward()
    assert c.grad == 2 * (2.0 * d.data)


def test_backward_seed_and_leaf_root():
    a = Value(2.0)
    out = a * a
    out.backward(grad=0.5)
    assert a.grad == 2.0
    leaf = Value(1.0)
    leaf.backward()
    leaf.backward()
    assert leaf.grad == 2.0


def test_zero_grad_on_value():
    a = Value(2.0)
    (a * 3).backward()
    a.zero_grad()
    assert a.grad == 0.0


def test_topological_order_puts_inputs_first():
    a, b = Value(1.0), Value(2.0)
    c = a * b
    d = c + a
    order = topological_order(d)
    assert order.index(a) < order.index(c) < order.index(d)
    assert order.index(b) < order.index(c)
    assert len(order) == 4


# 100,000 deep is 100x Python's default recursion limit; `make bench` times 1,000,000.


def test_a_chain_100_000_deep_has_no_recursion_limit():
    x = Value(0.5)
    y = x
    for _ in range(100_000):
        y = y.relu()
    y.backward()
    assert x.grad == 1.0


def test_builtin_sum_and_sum_values_of_100_000():
    xs = [Value(float(i % 7)) for i in range(100_000)]
    chain = sum(xs)  # a chain 100,000 deep
    chain.backward()
    assert chain.data == sum(i % 7 for i in range(100_000))
    assert xs[0].grad == 1.0 and xs[-1].grad == 1.0
    wide = sum_values(xs)  # one node with 100,000 inputs
    assert len(wide.parents) == 100_000
    wide.backward()
    assert wide.data == chain.data
    assert xs[0].grad == 2.0 and xs[12_345].grad == 2.0


def test_dot_with_numbers_and_without_bias():
    w = [Value(0.5), Value(-2.0)]
    out = dot(w, [4.0, 1.0])
    assert out.data == 0.0
    assert len(out.parents) == 4
    out.backward()
    assert [wi.grad for wi in w] == [4.0, 1.0]
    with pytest.raises(ValueError, match="2 weights and 3 inputs"):
        dot(w, [1.0, 2.0, 3.0])


def test_sum_values_rejects_empty_and_bad_items():
    with pytest.raises(ValueError, match="at least one"):
        sum_values([])
    with pytest.raises(TypeError, match="str"):
        sum_values([Value(1.0), "2"])


# ------------------------------------------------------------------------ bad input
# A wrong *type* (a string, None, a list, a bool, a complex where a number belongs) is a
# TypeError, as for Python's own arithmetic. NaN and inf are floats, so Value() takes them.


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


def test_subtracting_a_number_adds_its_negative_with_no_extra_nodes():
    x = Value(5.0)
    out = x - 2
    assert (out.op.name, out.data, out.parents[0]) == ("add", 3.0, x)
    assert out.parents[1].data == -2.0 and not out.parents[1].parents
    with pytest.raises(TypeError):
        x - "2"


# ----------------------------------------------------------------------- float errors


@pytest.mark.parametrize(
    ("build", "error", "base", "op_name"),
    [
        (lambda: Value(0.0).log(), OpDomainError, ValueError, "log"),
        (lambda: Value(-1.0).log(), OpDomainError, ValueError, "log"),
        (lambda: Value(-4.0).sqrt(), OpDomainError, ValueError, "sqrt"),
        (lambda: Value(-8.0) ** 0.5, OpDomainError, ValueError, "pow"),
        (lambda: Value(-2.0) ** Value(2.0), OpDomainError, ValueError, "powv"),
        (lambda: Value(1.0) / 0, OpZeroDivisionError, ZeroDivisionError, "div"),
        (lambda: 3 / Value(0.0), OpZeroDivisionError, ZeroDivisionError, "div"),
        (lambda: Value(1000.0).exp(), OpOverflowError, OverflowError, "exp"),
        (lambda: Value(10.0) ** 1000, OpOverflowError, OverflowError, "pow"),
    ],
    ids=["log0", "log_neg", "sqrt_neg", "pow_complex", "powv_neg", "div0", "rdiv0", "exp",
         "pow_big"],
)
def test_float_errors_name_the_op_and_operands(build, error, base, op_name):
    with pytest.raises(error) as info:
        build()
    assert isinstance(info.value, base) and isinstance(info.value, OpError)
    assert info.value.op == op_name
    assert str(info.value).startswith(f"{op_name}(")


def test_log_error_message_shows_the_operand():
    with pytest.raises(OpDomainError, match=r"log\(-1\.0\)"):
        Value(-1.0).log()


@pytest.mark.parametrize("make, op", [
    (lambda: Value(1e308) * 10, r"mul\(1e\+308, 10\.0\)"),
    (lambda: Value(1e308) + 1e308, r"add\(1e\+308, 1e\+308\)"),
    (lambda: Value(-1e308) - 1e308, r"add\(-1e\+308, -1e\+308\)"),
    (lambda: sum_values([1e308, 1e308, -1.0]), r"sum\(1e\+308, 1e\+308, -1\.0\)"),
    (lambda: dot([1e200, -1e200], [1e200, 1e200]), r"dot\(1e\+200, -1e\+200, "),
])
def test_overflow_from_finite_inputs_raises_naming_the_op(make, op):
    with pytest.raises(OpOverflowError, match=f"^{op}.*result too large for a float"):
        make()


def test_non_finite_inputs_flow_through_without_an_error():
    assert (Value(math.inf) * 2).data == math.inf
    assert math.isnan((Value(math.nan) + 1).data)
    assert math.isnan((Value(math.inf) - math.inf).data)


# --------------------------------------------------------- micrograd compatibility


def test_micrograd_sanity_check():
    # Values from micrograd's test_engine.py, which computes them with PyTorch.
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert (y.data, x.grad) == (-20.0, 46.0)


def test_micrograd_more_ops():
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    # micrograd's README: g = 24.7041, a.grad = 138.8338, b.grad = 645.5773
    assert g.data == pytest.approx(24.7041, abs=1e-4)
    assert a.grad == pytest.approx(138.8338, abs=1e-4)
    assert b.grad == pytest.approx(645.5773, abs=1e-4)


def test_micrograd_attribute_names():
    a, b = Value(2.0), Value(3.0)
    c = a * b
    assert c._prev == {a, b}
    assert (c._op, (a**2)._op, a.relu()._op, a._op) == ("*", "**2", "ReLU", "")
    c.grad = 1.0
    c._backward()
    assert (a.grad, b.grad) == (3.0, 2.0)


def test_repr_shows_data_grad_and_label():
    assert repr(Value(2, "w")) == "Value(data=2.0, grad=0, label='w')"  # micrograd's zero
    v = Value(-1.5)
    v.grad = -0.0
    assert repr(v) == "Value(data=-1.5, grad=-0.0)"
    v.grad = 0.25
    assert repr(v) == "Value(data=-1.5, grad=0.25)"


def test_the_tutorials_neuron():
    neuron = tutorial_neuron(labels=False)  # w.x + b = 2.5
    out = neuron.out
    assert out.data == pytest.approx(TUTORIAL_OUT, rel=1e-15)
    assert out.data != pytest.approx(0.865, abs=1e-3)  # the tutorial's misprint
    out.backward()
    s = 1 / (1 + math.exp(-2.5))
    assert_all_close([wi.grad for wi in neuron.w], [s * (1 - s) * x for x in (1, 5, 3)],
                     rel=1e-6, abs=1e-12, what="weight gradients")
    assert neuron.b.grad == pytest.approx(TUTORIAL_SLOPE, rel=1e-12)


# ------------------------------------------------------------------ your own ops


def _softplus_op():
    return Op("softplus", "softplus", lambda a: math.log1p(math.exp(a)),
              lambda a, out: (1 / (1 + math.exp(-a)),))


def test_apply_a_builtin_is_the_operator():
    a = Value(3.0)
    node = apply(OPS["mul"], a, 2)
    assert (node.op, node.data, node.partials) == (OPS["mul"], 6.0, (2.0, 3.0))
    assert apply(OPS["leaky_relu"], -1.0, params=[0.5]).data == -0.5


def test_your_own_op_is_carried_by_its_node_and_works_everywhere():
    from micrograd_ann.views import graph
    from micrograd_ann.gradcheck import gradcheck
    from micrograd_ann.trace import explain

    softplus = _softplus_op()
    builtins = dict(OPS)
    x = Value(0.3, "x")
    out = apply(softplus, x) * 2
    out.backward()
    assert out.data == pytest.approx(2 * math.log(1 + math.exp(0.3)), rel=1e-15)
    assert x.grad == pytest.approx(2 / (1 + math.exp(-0.3)), rel=1e-15)
    assert out.parents[0].op is softplus and out.parents[0]._op == "softplus"
    assert OPS == builtins  # the table of built-ins is not written to
    assert "softplus" in graph.to_dot(out) and "softplus" in explain(out)
    assert gradcheck(lambda v: apply(softplus, v[0]), [Value(-0.7)]).passed
    again = _softplus_op()  # two Ops of one name (a re-run notebook cell) coexist
    assert apply(again, 1.0).op is again


def test_apply_refuses_builtin_names_and_non_ops():
    with pytest.raises(ValueError, match="'tanh' is a built-in"):
        apply(Op("tanh", "t", math.tanh, lambda a, out: (0.0,)), 1.0)
    with pytest.raises(TypeError, match="needs an engine.Op"):
        apply("tanh", 1.0)
    with pytest.raises(TypeError, match="str"):
        apply(OPS["exp"], "1")
    with pytest.raises(ValueError, match="at least one input"):
        apply(OPS["exp"])


def _rule(forward=lambda a: 2.0 * a, partials=lambda a, out: (2.0,), name="twice",
          symbol="twice"):
    return Op(name, symbol, forward, partials)


@pytest.mark.parametrize("op, error, message", [
    (_rule(forward=lambda a: complex(a, 1)), TypeError, "forward returned complex"),
    (_rule(forward=lambda a: math.nan), ValueError, "returned nan for finite inputs"),
    (_rule(forward=lambda a: Value(a)), TypeError, "forward returned Value"),
    (_rule(forward=lambda a: "2"), TypeError, "forward returned str"),
    (_rule(partials=lambda a, out: 2.0), TypeError, "partials returned float"),
    (_rule(partials=lambda a, out: {0: 2.0}), TypeError, "partials returned dict"),
    (_rule(partials=lambda a, out: (1.0, 2.0)), ValueError, "gave 2 values for 1 inputs"),
    (_rule(partials=lambda a, out: (Value(1.0),)), TypeError, "twice partial must be a number"),
    (_rule(name="my op"), ValueError, "must be an identifier"),
    (_rule(name=""), ValueError, "must be an identifier"),
    (_rule(symbol="{"), ValueError, "may hold only"),
    (_rule(symbol="{x}"), ValueError, "may hold only"),
    (_rule(symbol=3), TypeError, "symbol must be a str"),
    (Op("twice", "t", 2.0, lambda a, out: (2.0,)), TypeError, "must be functions"),
])
def test_apply_checks_a_rule_of_your_own_where_it_is_applied(op, error, message):
    with pytest.raises(error, match=message) as info:
        apply(op, 1.5)
    assert "twice" in str(info.value) or op.name != "twice"


def test_nan_from_non_finite_inputs_is_allowed_for_your_op():
    node = apply(_rule(forward=lambda a: a - a), math.inf)
    assert math.isnan(node.data) and node.partials == (2.0,)


def test_nan_passes_through_relu_and_leaky_relu():
    assert math.isnan(Value(math.nan).relu().data)
    assert math.isnan(Value(math.nan).leaky_relu().data)
    assert Value(-0.5).relu().data == 0.0


def test_a_slope_that_overflows_is_inf_not_an_error():
    b = Value(1e-200)
    out = 1 / b
    assert out.data == pytest.approx(1e200)
    out.backward()
    assert b.grad == -math.inf  # d(1/b)/db = -1/b^2
    c = Value(5e-324)
    (c**0.01).backward()  # 0.01 c^-0.99 ~ 1e318: too large, positive
    assert c.grad == math.inf
    d = Value(-1e-200)
    (d**-1).backward()  # -d^-2 ~ -1e400: too large, negative whatever d's sign
    assert d.grad == -math.inf


def test_constants_of_ops_must_be_numbers():
    with pytest.raises(TypeError, match="leaky_relu slope must be a number, got str"):
        Value(-1.0).leaky_relu("0.1")
    with pytest.raises(ValueError, match="at least one"):
        dot([], [])


def test_preserved_grads_puts_every_gradient_back():
    a, b = Value(2.0), Value(3.0)
    out = (a * b).tanh()
    a.grad, extra = 5.0, Value(1.0)
    extra.grad = 7.0
    with trace.preserved_grads(out, [extra]) as nodes:
        assert set(nodes) == {a, b, out, out.parents[0], extra}
        out.backward()
        extra.grad = 0.0
        assert a.grad != 5.0
    assert (a.grad, b.grad, out.grad, extra.grad) == (5.0, 0.0, 0.0, 7.0)


def test_an_error_in_a_wide_op_shows_a_few_operands():
    xs = [Value(1e308) for _ in range(80)]
    with pytest.raises(OpOverflowError) as info:
        sum_values(xs)
    message = str(info.value)
    assert message.startswith("sum(1e+308, 1e+308, 1e+308, 1e+308, 1e+308, 1e+308, ... (80 ")
    assert len(message) < 200 and len(info.value.operands) == 80


# ------------------------------------------------------- micrograd's constructor, copies


def test_micrograd_constructor_spellings():
    assert Value(2.0, (), "").data == 2.0 and Value(2.0, _children=(), _op="").op is None
    assert Value(1.5, "x").label == "x" == Value(1.5, label="x").label
    assert Value(1.5, (), "", "x").label == "x"
    with pytest.raises(TypeError, match="engine.apply"):
        Value(3.0, (Value(1.0), Value(2.0)), "+")
    with pytest.raises(TypeError, match="label must be a str"):
        Value(1.0, label=3)


def test_a_backward_closure_points_to_apply():
    out = Value(1.0) * 2.0
    with pytest.raises(AttributeError, match="engine.apply"):
        out._backward = lambda: None


@pytest.mark.parametrize("grad", ["1", None, True, 1j])
def test_backward_takes_a_real_grad_only(grad):
    with pytest.raises(TypeError, match="backward's grad"):
        (Value(1.0) * 2.0).backward(grad)


def _copied(how: str, root):
    import copy
    import pickle

    return {"pickle": lambda r: pickle.loads(pickle.dumps(r)), "copy": copy.copy,
            "deepcopy": copy.deepcopy}[how](root)


@pytest.mark.parametrize("how", ["pickle", "copy", "deepcopy"])
def test_a_copied_graph_backpropagates_like_the_original(how):
    x, w = Value(0.5, "x"), Value(-3.0, "w")
    y = (x * w + 2.0).tanh()
    twin = _copied(how, y)
    twin.backward()
    leaves = {v.label: v for v in topological_order(twin) if v.label}
    slope = 1 - y.data**2
    assert twin.data == y.data and leaves["x"].grad == -3.0 * slope
    assert leaves["w"].grad == 0.5 * slope
    assert (leaves["x"] is x) == (how == "copy")  # a shallow copy shares the leaves
    names = sorted(v.op.name for v in topological_order(twin) if v.op)
    assert names == sorted(v.op.name for v in topological_order(y) if v.op)


def test_a_graph_unpickled_in_a_fresh_process_has_gradients(tmp_path):
    import pickle
    import subprocess
    import sys

    x = Value(2.0, "x")
    y = x * x * x  # dy/dx = 12
    (tmp_path / "g.pkl").write_bytes(pickle.dumps(y))
    code = ("import pickle, sys; from micrograd_ann import Value, topological_order\n"
            "[Value(i) for i in range(1000)]\n"  # the new process's ids run ahead
            f"y = pickle.load(open({str(tmp_path / 'g.pkl')!r}, 'rb'))\n"
            "y.backward(); print([v.grad for v in topological_order(y) if not v.parents])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[12.0]"


@pytest.mark.parametrize("how", ["pickle", "copy", "deepcopy"])
def test_deep_graphs_copy_without_recursion(how):
    x = Value(1.0, "x")
    y = x
    for _ in range(6_000):
        y = y + 1.0
    twin = _copied(how, y)
    twin.backward()
    assert twin.data == 6_001.0 and min(topological_order(twin), key=lambda v: v.id).grad == 1.0


def test_a_pickled_model_keeps_its_parameters():
    import pickle

    model = MLP(2, [3, 1], seed=4)
    twin = pickle.loads(pickle.dumps(model))
    assert [p.data for p in twin.parameters()] == [p.data for p in model.parameters()]
    assert twin([0.3, -0.2]).data == model([0.3, -0.2]).data


def test_an_int_too_large_for_a_float_is_a_value_error():
    with pytest.raises(ValueError, match="too large for a float"):
        Value(10**400)
    with pytest.raises(ValueError, match="slope is too large"):
        Value(1.0).leaky_relu(10**400)


# ------------------------------------------------------ the reference interpreter


def _lines_run_inside_backward(root: Value) -> set[tuple[str, int]]:
    """(file, line) of every package line that runs inside root.backward(), as a debugger
    stepping in would visit them."""
    package = os.path.dirname(micrograd_ann.__file__)
    seen: set[tuple[str, int]] = set()

    def tracer(frame, event, arg):
        if event == "line" and frame.f_code.co_filename.startswith(package):
            seen.add((os.path.basename(frame.f_code.co_filename), frame.f_lineno))
        return tracer

    sys.settrace(tracer)
    try:
        root.backward()
    finally:
        sys.settrace(None)
    return seen


def _small_mlp_loss() -> Value:
    model = MLP(2, [4, 4, 1], seed=0)
    return sum((model(x) - y) ** 2 for x, y in [([1.0, -2.0], 1.0), ([0.5, 0.3], -1.0)])


@pytest.mark.parametrize("build", [_small_mlp_loss,
                                   lambda: (Value(2.0) * Value(-3.0) + Value(2.0)).tanh()],
                         ids=["mlp_loss", "tanh_of_ab_plus_a"])
def test_stepping_into_backward_shows_the_chain_rule_within_30_lines(build):
    lines = _lines_run_inside_backward(build())
    assert len(lines) <= 30, sorted(lines)
    source = inspect.getsource(engine)
    rule = source.splitlines().index("            parent.grad += upstream * local") + 1
    assert ("engine.py", rule) in lines
    assert {name for name, _ in lines} == {"engine.py"}


def test_parents_and_partials_are_plain_attributes():
    for name in ("data", "grad", "label", "op", "parents", "partials", "params", "id",
                 "module"):
        assert isinstance(vars(Value)[name], types.MemberDescriptorType), name
    a = Value(2.0)
    out = a * a
    out.parents = (a, a)  # settable, and reading them builds nothing
    assert out.parents == (a, a) and out.partials == (2.0, 2.0)


def test_a_layer_neuron_is_a_dot_node_and_its_activation_node():
    model = MLP(2, [3, 1], seed=1)
    out = model([1.0, 2.0])
    assert out.op.name == "dot" and len(out.parents) == 3 * 2 + 1
    hidden = out.parents[3]
    assert hidden.op.name == "relu" and hidden.module == "layers.0.neurons.0"
    (z,) = hidden.parents
    assert z.op.name == "dot" and z.module == "layers.0.neurons.0" and len(z.parents) == 5
    assert z.parents[:2] == tuple(model.layers[0].neurons[0].w)


def test_programs_can_keep_their_own_attributes_on_values():
    p = Value(1.0)
    p.m, p.v = 0.0, 0.5  # an AdamW keeping its moments on the parameter, as with micrograd
    node = p * 2.0
    node._vis_color = "red"
    assert (p.m, p.v, node._vis_color) == (0.0, 0.5, "red")
    twin = copy.deepcopy(node)
    assert twin._vis_color == "red" and twin.parents[0].m == 0.0
    assert pickle.loads(pickle.dumps(p)).v == 0.5
    with pytest.raises(AttributeError):
        Value(1.0).not_set_anywhere


def test_division_is_one_node_with_partials_that_stay_finite():
    a, b = Value(1e-100), Value(1e-160)
    out = a / b
    assert out.op.name == "div" and out.parents == (a, b) and out._op == "/"
    out.backward()
    assert out.data == 1e-100 / 1e-160
    assert b.grad == -(1e-100 / 1e-160) / 1e-160 == pytest.approx(-1e220, rel=1e-12)
    assert a.grad == 1 / 1e-160  # a * b**-1 made this -inf and 0.0 before
    c, d = Value(1e300), Value(1e300)
    (c / d).backward()
    assert d.grad == pytest.approx(-1e-300, rel=1e-12) and c.grad == 1e-300
    e = Value(3.0)
    (2.0 / e).backward()
    assert e.grad == -(2.0 / 3.0) / 3.0


def test_zero_to_a_nan_power_keeps_the_nan_in_the_exponent_gradient():
    a, b = Value(0.0), Value(math.nan)
    (a**b).backward()
    assert math.isnan(b.grad)  # PyTorch: nan too
    a, b = Value(0.0), Value(2.0)
    (a**b).backward()
    assert b.grad == 0.0 and a.grad == 0.0  # the limit of a^b ln a as a -> 0+


def test_log_of_a_subnormal_stores_an_infinite_partial():
    # NOTE: 1/5e-324 is beyond the float range, so the stored partial is inf and a zero
    # upstream gradient (a relu that is off) makes it nan; PyTorch divides the upstream
    # gradient by x instead and gets 0. Documented in docs/engine.md.
    x = Value(5e-324)
    y = x.log()
    assert y.partials == (math.inf,)
    y.relu().backward()
    assert math.isnan(x.grad)


def test_a_second_backward_adds_each_contribution_again():
    a = Value(1.0)
    out = a * 1.1 + a * 4.7  # two edges into a; backward adds 4.7 first (the later node)
    out.backward()
    assert a.grad == (0.0 + 4.7) + 1.1 == 5.800000000000001
    out.backward()
    assert a.grad == (5.800000000000001 + 4.7) + 1.1 == 11.6  # while 2 * 5.800000000000001
    assert 2 * 5.800000000000001 == 11.600000000000001  # is one ulp more
