"""Second order and forward mode (micrograd_ann.higher and its gradient_graph,
backward(create_graph=True), gradcheck.gradgradcheck): every table op's second
derivatives against closed forms and finite differences, MLP Hessians, jvp against
backward on random graphs, and graphs 100,000 deep."""

from __future__ import annotations

import math
import random
import struct
import sys

import pytest
import test_engine_fuzz as fuzz
from helpers import TUTORIAL_SLOPE, assert_all_close
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import CASES, COMPOSED

from micrograd_ann import (
    MLP,
    Op,
    OpError,
    Value,
    apply,
    dot,
    sum_values,
    topological_order,
)
from micrograd_ann.gradcheck import (
    GradcheckError,
    check_module,
    gradgradcheck,
    numerical_grad,
)
from micrograd_ann.higher import (
    explain_jvp,
    forward_vs_reverse,
    grad,
    gradient_graph,
    gradients,
    hessian,
    hvp,
    jvp,
)
from micrograd_ann.losses import mse
from micrograd_ann.nn import tutorial_neuron

ALL_CASES = CASES + COMPOSED


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def reverse_over_reverse(root: Value, xs: list[Value]) -> list[list[float]]:
    """H[i][j] by differentiating each gradient Value once more (gradient_graph twice)."""
    rows = []
    for g in gradients(root, xs):
        second = gradient_graph(g)
        rows.append([second[x].data if x in second else 0.0 for x in xs])
    return rows


def differenced_gradient(f, xs: list[Value]) -> list[list[float]]:
    """H[i][j] as central differences (over x_j) of the analytic gradient's entry i."""
    return [numerical_grad(lambda vs, i=i: gradients(f(vs), vs)[i], xs)
            for i in range(len(xs))]


def flat(matrix: list[list[float]]) -> list[float]:
    return [x for row in matrix for x in row]


# ------------------------------------------------------------- every op in the table


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.name)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_op_second_derivatives(case, data):
    xs = [Value(data.draw(st.floats(lo, hi, allow_nan=False), label=f"x{i}"), f"x{i}")
          for i, (lo, hi) in enumerate(case.domain)]
    floats = [x.data for x in xs]
    out = case.fn(*xs)
    want = flat(case.hessian(*floats))
    assert_all_close(flat(reverse_over_reverse(out, xs)), want, rel=1e-9, abs=1e-12,
                     what="reverse over reverse vs closed form")
    assert_all_close(flat(hessian(out, xs)), want, rel=1e-9, abs=1e-12,
                     what="forward over reverse vs closed form")
    numeric = flat(differenced_gradient(lambda vs: case.fn(*vs), xs))
    assert_all_close(flat(hessian(out, xs)), numeric, rel=1e-5, abs=1e-6,
                     what="central differences of the gradient")
    # the gradient as Values holds backward()'s numbers (to the last bit but for 1/a)
    as_values = [g.data for g in gradients(out, xs)]
    out.backward()
    assert_all_close(as_values, [x.grad for x in xs], rel=1e-15, abs=0.0, what="first order")


# --------------------------------------------------------------- grad composes


@pytest.mark.parametrize(("f", "second"), [
    (lambda x: x.tanh(), lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2)),
    (lambda x: x**3, lambda x: 6 * x),
    (lambda x: x.sigmoid(), lambda x: _sig(x) * (1 - _sig(x)) * (1 - 2 * _sig(x))),
    (lambda x: x.exp(), math.exp),
    (lambda x: x.log(), lambda x: -1 / x**2),
    (lambda x: x.sigmoid().log(), lambda x: -_sig(x) * (1 - _sig(x))),
    (lambda x: x.tanh().exp(),
     lambda x: math.exp(math.tanh(x)) * (1 - math.tanh(x) ** 2)
     * (1 - math.tanh(x) ** 2 - 2 * math.tanh(x))),
    (lambda x: (x * x).sigmoid(),  # s(x^2)'' = 2 s' + 4 x^2 s''
     lambda x: 2 * _sig(x * x) * (1 - _sig(x * x))
     + 4 * x * x * _sig(x * x) * (1 - _sig(x * x)) * (1 - 2 * _sig(x * x))),
], ids=["tanh", "cube", "sigmoid", "exp", "log", "log_sigmoid", "exp_tanh", "sigmoid_square"])
def test_grad_of_grad_equals_closed_form(f, second):
    for x in (0.3, 1.7, 2.5):
        assert grad(grad(f))(x).data == pytest.approx(second(x), rel=1e-12, abs=1e-15)


def test_third_order_and_argnum():
    assert grad(grad(grad(lambda x: x**3)))(2.0).data == pytest.approx(6.0, rel=1e-15)
    assert grad(grad(grad(lambda x: x.exp())))(0.5).data == pytest.approx(math.exp(0.5))
    # d/dy (x^2 y^3) = 3 x^2 y^2, then d/dx of that = 6 x y^2
    dfdy = grad(lambda x, y: x * x * y**3, argnum=1)
    assert dfdy(2.0, 3.0).data == pytest.approx(3 * 4 * 9)
    assert grad(dfdy, argnum=0)(2.0, 3.0).data == pytest.approx(6 * 2 * 9)


@pytest.mark.parametrize(("f", "second"), [
    (lambda x: x.relu(), lambda x: 0.0),
    (lambda x: x.abs(), lambda x: 0.0),
    (lambda x: x.leaky_relu(0.1), lambda x: 0.0),
    (lambda x: x.relu() * x, lambda x: 2.0 if x > 0 else 0.0),  # relu' constant
    (lambda x: x.abs() ** 3, lambda x: 6 * abs(x)),
    (lambda x: x.leaky_relu(0.1) ** 2, lambda x: 2.0 if x > 0 else 0.02),
], ids=["relu", "abs", "leaky_relu", "relu_times_x", "abs_cubed", "leaky_squared"])
def test_kinked_ops_give_piecewise_constant_partials(f, second):
    """As in PyTorch: a kinked op's partial is a constant, its own derivative 0, at the
    kink too (where relu's subgradient 0 is used)."""
    for x in (-1.5, -0.2, 0.0, 0.4, 2.0):
        assert grad(grad(f))(x).data == pytest.approx(second(x), abs=1e-15)


def test_pow_rules_at_zero_base():
    assert grad(grad(lambda x: x**2))(0.0).data == 2.0
    assert grad(grad(lambda x: x**3))(0.0).data == 0.0
    # a ** b with a Value exponent at a = 0: d/db is the constant 0, d2/da2 = b(b-1)a^(b-2)
    a, b = Value(0.0), Value(3.0)
    assert hessian(a**b, [a, b]) == [[0.0, 0.0], [0.0, 0.0]]
    assert hessian(lambda v: v[0] ** v[1], [2.0, 3.0])[0][0] == pytest.approx(12.0)


def test_fused_dot_and_sum_at_second_order():
    w = [Value(0.5, "w0"), Value(-1.5, "w1")]
    x = [Value(2.0, "x0"), Value(0.25, "x1")]
    b = Value(0.1, "b")
    z = dot(w, x, b)
    out = sum_values([z * z, z.tanh(), w[0] * x[1]])
    leaves = [*w, *x, b]
    t = math.tanh(z.data)
    dz = [x[0].data, x[1].data, w[0].data, w[1].data, 1.0]  # d z / d leaf
    # d2 out = (2 - 2 t (1 - t^2)) dz dz^T + (2 z + 1 - t^2) d2z + the w0*x1 term
    outer = 2 - 2 * t * (1 - t * t)
    first = 2 * z.data + 1 - t * t
    want = [[outer * dz[i] * dz[j] for j in range(5)] for i in range(5)]
    for i, j in ((0, 2), (1, 3)):
        want[i][j] += first
        want[j][i] += first
    want[0][3] += 1.0
    want[3][0] += 1.0
    assert_all_close(flat(hessian(out, leaves)), flat(want), rel=1e-12, abs=1e-12)
    assert_all_close(flat(reverse_over_reverse(out, leaves)), flat(want), rel=1e-12,
                     abs=1e-12)


# ---------------------------------------------------------- backward(create_graph)


def test_backward_create_graph_sets_grad_values():
    x = Value(0.5, "x")
    assert x.grad_value is None
    y = x.tanh() * x
    y.backward(create_graph=True)
    t = math.tanh(0.5)
    assert x.grad == pytest.approx(t + 0.5 * (1 - t * t), rel=1e-15)
    assert x.grad_value.data == pytest.approx(x.grad, rel=1e-15)
    assert y.grad_value.data == 1.0
    x.zero_grad()
    x.grad_value.backward()  # the gradient's own gradient: d2y/dx2
    assert x.grad == pytest.approx(2 * (1 - t * t) - 2 * 0.5 * t * (1 - t * t), rel=1e-12)


def test_create_graph_keeps_the_float_gradients_and_replaces_grad_values():
    a, b = Value(1.3, "a"), Value(-0.7, "b")
    out = ((a * b).exp() + a.log() * b.sigmoid()) / b

    def grads_after(**options):
        a.zero_grad()
        b.zero_grad()
        out.backward(**options)
        return a.grad, b.grad

    plain = grads_after()
    assert grads_after(create_graph=True) == plain  # the same floats, bit for bit
    first = a.grad_value
    out.backward(create_graph=True)  # leaves' .grad accumulate; grad_value is replaced
    assert (a.grad, b.grad) == pytest.approx((2 * plain[0], 2 * plain[1]), rel=1e-15)
    assert a.grad_value is not first and a.grad_value.data == pytest.approx(plain[0])


def test_gradient_graph_changes_no_grad():
    x = Value(2.0)
    y = x * x
    y.backward()
    before = (x.grad, y.grad)
    grads = gradient_graph(y, 3.0)
    assert (x.grad, y.grad) == before
    assert grads[x].data == 12.0 and grads[y].data == 3.0


def test_create_graph_is_checked_and_user_rules_need_value_arithmetic():
    x = Value(0.3)
    with pytest.raises(TypeError, match="create_graph must be True or False"):
        (x * x).backward(create_graph=1)
    exp_op = Op("my_exp", "my_exp", math.exp, lambda a, out: (math.exp(a),))
    y = apply(exp_op, x)
    with pytest.raises(NotImplementedError, match="my_exp's partials rule cannot run on Values"):
        y.backward(create_graph=True)
    assert x.grad == 0.0  # nothing changed
    step = Op("my_step", "my_step", lambda a: a, lambda a, out: (1.0 if a > 0 else 0.5,))
    with pytest.raises(NotImplementedError, match="my_step's partials rule"):
        gradients(apply(step, x), [x])  # Values have no order: a > 0 cannot run
    square = Op("my_square", "my_square", lambda a: a * a, lambda a, out: (2 * a,))
    assert grad(grad(lambda v: apply(square, v)))(0.3).data == 2.0  # arithmetic works


def test_nothing_is_built_behind_a_dead_relu_and_nan_still_propagates():
    w, x = Value(0.5, "w"), Value(-2.0, "x")
    dead = dot([w], [x]).relu()  # w * x < 0: relu passes no gradient
    g = gradients(dead * 3.0, [w])[0]
    assert (g.data, g.parents) == (0.0, ())  # a constant, no graph
    a = Value(-1.0)
    out = a.relu() * Value(math.inf)  # relu's partial 0 meets an infinite upstream grad
    assert math.isnan(gradients(out, [a])[0].data)
    out.backward()
    assert math.isnan(a.grad)  # as backward() has it: 0 * inf = nan


def test_grad_checks_its_arguments():
    with pytest.raises(TypeError, match="grad needs a function"):
        grad(3.0)
    with pytest.raises(TypeError, match=r"argnum=1\) was called with 1 argument"):
        grad(lambda x, y: x * y, argnum=1)(2.0)
    with pytest.raises(TypeError, match="f must return a Value, got float"):
        grad(lambda x: 2.0)(1.0)
    with pytest.raises(TypeError, match="input x0 must be a number"):
        grad(lambda x: x)("1")
    assert grad(lambda x, y: x)(1.0, 2.0).data == 1.0
    assert grad(lambda x, y: x, argnum=1)(1.0, 2.0).data == 0.0  # y is not used


# -------------------------------------------------------------- Hessians and hvp


def small_function(v: list[Value]) -> Value:
    x, y, z = v
    return (x * y).tanh() + z**2 * x.exp() + (y * z).sigmoid() + (x / z).log()


def test_hessian_and_hvp_match_finite_differences():
    xs = [Value(0.4, "x"), Value(-1.1, "y"), Value(0.8, "z")]
    h = hessian(small_function, xs)
    assert_all_close(flat(h), flat(differenced_gradient(small_function, xs)), rel=1e-6,
                     abs=1e-8, what="finite differences")
    assert_all_close(flat(h), flat([list(col) for col in zip(*h)]), rel=1e-13, abs=1e-15,
                     what="symmetry")
    assert_all_close(flat(h), flat(reverse_over_reverse(small_function(xs), xs)),
                     rel=1e-12, abs=1e-14, what="reverse over reverse")
    v = [0.3, -2.0, 1.5]
    hv = [sum(hij * vj for hij, vj in zip(row, v)) for row in h]
    assert_all_close(hvp(small_function, xs, v), hv, rel=1e-12, abs=1e-14, what="H v")
    # H v is the directional derivative of the gradient: difference it along v
    eps = 1e-6
    moved = [[Value(x.data + s * eps * vi) for x, vi in zip(xs, v)] for s in (1, -1)]
    plus, minus = ([g.data for g in gradients(small_function(m), m)] for m in moved)
    assert_all_close(hvp(small_function, xs, v), [(p - m) / (2 * eps) for p, m in
                                                  zip(plus, minus)], rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_mlp_hessians_match_finite_differences(activation):
    model = MLP(2, [3, 1], activation=activation, seed=1)
    data = [([0.5, -1.2], 0.7), ([-0.3, 0.8], -0.4)]

    def loss(_: list[Value]) -> Value:
        return mse([model(x) for x, _ in data], [y for _, y in data])

    params = model.parameters()  # 13: a Hessian of 169 entries
    h = hessian(loss, params)
    assert_all_close(flat(h), flat(differenced_gradient(loss, params)), rel=1e-5, abs=1e-7,
                     what=f"{activation} MLP, parameters")
    inputs = [Value(0.5, "x0"), Value(-1.2, "x1")]
    h = hessian(lambda v: model(v).tanh(), inputs)
    assert_all_close(flat(h), flat(differenced_gradient(lambda v: model(v).tanh(), inputs)),
                     rel=1e-5, abs=1e-7, what=f"{activation} MLP, inputs")


# ------------------------------------------------------------------- forward mode

UNARY = [Value.tanh, Value.sigmoid, Value.relu, Value.abs, lambda v: v.leaky_relu(0.2),
         lambda v: (v * v + 1.0).sqrt(), lambda v: (v.tanh() + 2.0).log(),
         lambda v: v.tanh().exp(), lambda v: v**2, lambda v: (v.sigmoid() + 0.5) ** v.tanh()]


def random_graph(rng: random.Random, leaves: list[Value], size: int, outputs: int
                 ) -> list[Value]:
    """`outputs` roots of a graph of `size` random ops over the leaves (values stay small)."""
    nodes = list(leaves)
    for _ in range(size):
        kind = rng.random()
        if kind < 0.45:
            node = rng.choice(UNARY)(rng.choice(nodes))
        elif kind < 0.75:
            a, b = rng.choice(nodes), rng.choice(nodes)
            node = (a * b).tanh() if rng.random() < 0.5 else a + b * rng.uniform(-1, 1)
        elif kind < 0.9:
            picked = rng.sample(nodes, min(3, len(nodes)))
            node = dot(picked, [rng.choice(nodes) for _ in picked], rng.choice(nodes)).tanh()
        else:
            node = sum_values(rng.sample(nodes, min(4, len(nodes)))).sigmoid()
        nodes.append(node)
    return nodes[-outputs:]


@pytest.mark.parametrize("seed", range(12))
def test_jvp_agrees_with_backward_on_random_graphs(seed):
    """v^T (J u) from forward passes equals (v^T J) u from one backward pass."""
    rng = random.Random(seed)
    leaves = [Value(rng.uniform(-1.5, 1.5), f"x{i}") for i in range(4)]
    roots = random_graph(rng, leaves, 25, 3)
    u = [rng.uniform(-1, 1) for _ in leaves]
    v = [rng.uniform(-1, 1) for _ in roots]
    ju = [jvp(root, leaves, u)[1] for root in roots]
    combined = sum_values([vk * root for vk, root in zip(v, roots)])
    combined.backward()
    vj = [x.grad for x in leaves]
    assert sum(a * b for a, b in zip(v, ju)) == pytest.approx(
        sum(a * b for a, b in zip(vj, u)), rel=1e-10, abs=1e-13)
    assert jvp(combined, leaves, u)[1] == pytest.approx(sum(a * b for a, b in zip(vj, u)),
                                                        rel=1e-10, abs=1e-13)
    # and the two readings of the table agree at second order on the same graph
    assert_all_close(flat(hessian(combined, leaves)),
                     flat(reverse_over_reverse(combined, leaves)), rel=1e-9, abs=1e-12)


def test_jvp_of_a_function_and_its_seeds():
    value, tangent = jvp(lambda v: v[0] * v[1].exp(), [2.0, 0.5], [1.0, 3.0])
    assert value == 2.0 * math.exp(0.5)
    assert tangent == pytest.approx(math.exp(0.5) + 2.0 * math.exp(0.5) * 3.0, rel=1e-15)
    x = Value(1.5)
    assert jvp(x * x, [x, x], [1.0, 2.0])[1] == 9.0  # one variable listed twice: 3 * 2x
    y = Value(0.0)
    # y does not depend on the seeded input: no tangent, so sqrt's infinite slope at 0
    # is never multiplied (no nan), as backward gives x its gradient 0
    assert jvp(x + y.sqrt(), [x], [1.0]) == (1.5, 1.0)
    with pytest.raises(ValueError, match="2 tangents for 1 inputs"):
        jvp(x * x, [x], [1.0, 2.0])
    with pytest.raises(TypeError, match="inputs must be a list"):
        jvp(x * x, x, [1.0])


def test_explain_jvp_on_the_tutorial_neuron():
    t = tutorial_neuron()
    text = explain_jvp(t.out, t.w, [1.0, 0.0, 0.0])
    assert text.splitlines() == [
        "forward pass (jvp) to out = 0.924142, tangents w0 = 1, w1 = 0, w2 = 0: 2 steps",
        "step 1/2  n = dot(w0, w1, w2, x0, x1, x2, b)",
        "    from w0  local 1 * tangent 1 = 1",
        "    from w1  local 5 * tangent 0 = 0",
        "    from w2  local 3 * tangent 0 = 0",
        "    n.tangent = 1",
        "step 2/2  out = sigmoid(n)",
        "    from n  local 0.0701037 * tangent 1 = 0.0701037",
        "    out.tangent = 0.0701037",
        "directional derivative of out: 0.0701037",
    ]
    assert jvp(t.out, t.w, [1.0, 0.0, 0.0])[1] == pytest.approx(TUTORIAL_SLOPE, rel=1e-15)


def test_forward_vs_reverse_counts_passes():
    t = tutorial_neuron()
    text = forward_vs_reverse(t.out, [*t.w, t.b])
    lines = text.splitlines()
    assert lines[0] == "gradient of out = 0.924142 with respect to 4 inputs, through 2 op nodes"
    assert "forward mode (jvp): 4 passes" in lines[1] and "8 node steps" in lines[1]
    assert "reverse mode (backward): 1 pass" in lines[2] and "2 node steps" in lines[2]
    rows = {line.split()[0]: line.split()[1:] for line in lines[4:8]}
    slope = TUTORIAL_SLOPE
    for name, want in (("w0", slope), ("w1", 5 * slope), ("w2", 3 * slope), ("b", slope)):
        forward, reverse = map(float, rows[name])
        assert forward == pytest.approx(want, rel=1e-5) and reverse == forward


# ----------------------------------------------------------------- gradgradcheck


def test_gradgradcheck_reports_every_pair():
    x, y = Value(0.7, "x"), Value(-2.0, "y")
    report = gradgradcheck(lambda v: (v[0] * v[1]).tanh() + v[0].exp() * v[1], [x, y])
    assert report.passed and report.order == 2
    assert [row.label for row in report.rows] == ["x, x", "x, y", "y, x", "y, y"]
    t = math.tanh(-1.4)
    d2 = -2 * t * (1 - t * t)  # tanh'' at x*y
    want = [d2 * 4.0 + math.exp(0.7) * -2.0, d2 * -1.4 + (1 - t * t) + math.exp(0.7),
            d2 * -1.4 + (1 - t * t) + math.exp(0.7), d2 * 0.49]
    assert_all_close([row.analytic for row in report.rows], want, rel=1e-12, abs=1e-14)
    text = str(report).splitlines()
    assert text[0].startswith("gradgradcheck passed: 4 of 4 second derivatives agree")
    assert text[1].split() == ["inputs", "value", "analytic", "numeric", "abs", "err", "rel",
                               "err", "status"]


def test_gradgradcheck_catches_a_wrong_second_derivative():
    # A smooth op declared with a kink: its partial 3a^2 is taken as a constant, so its
    # first derivative is right and its second (0 instead of 6a) is wrong.
    cube = Op("cube", "cube", lambda a: a**3, lambda a, out: (3 * a * a,), kinks=(0.0,))
    x = Value(0.8, "x")
    with pytest.raises(GradcheckError, match=r"gradgradcheck FAILED: 1 of 1 second deriv"):
        gradgradcheck(lambda v: apply(cube, v[0]), [x])
    report = gradgradcheck(lambda v: apply(cube, v[0]), [x], raise_exception=False)
    assert report.rows[0].analytic == 0.0
    assert report.rows[0].numeric == pytest.approx(6 * 0.8, rel=1e-6)


def test_gradgradcheck_at_a_kink_and_on_a_model():
    z, y = Value(0.0, "z"), Value(-2.0, "y")
    report = gradgradcheck(lambda v: v[0].relu() * v[1], [z, y])
    assert [row.status for row in report.rows] == ["nondifferentiable", "ok",
                                                   "nondifferentiable", "ok"]
    model = MLP(2, [3, 1], activation="tanh", seed=0)
    data = [([0.5, 1.0], 0.3), ([-1.0, 0.2], -0.5)]

    def loss(m, d):
        return mse([m(x) for x, _ in d], [t for _, t in d])

    report = check_module(model, loss, data, order=2, max_params=4, seed=3)
    assert report.passed and len(report.rows) == 16
    assert report.rows[0].label.startswith("layers.") and ", layers." in report.rows[0].label
    with pytest.raises(ValueError, match="order must be at least 1 and at most 2"):
        check_module(model, loss, data, order=3)


# ------------------------------------------------------------------ deep graphs

DEEP = 100_000


@pytest.mark.slow
def test_second_order_through_100000_nodes_needs_no_recursion():
    assert sys.getrecursionlimit() <= 10_000  # a recursive walk would fail long before
    w, x = Value(1.0, "w"), Value(0.75, "x")
    y = x
    for _ in range(DEEP):  # y = x * w^DEEP, a chain DEEP multiplications deep
        y = y * w
    n = float(DEEP)
    want = [[0.0, n], [n, n * (n - 1) * 0.75]]  # d2/dx dw = n w^(n-1); d2/dw2 = n(n-1)x w^(n-2)
    assert hessian(y, [x, w]) == want  # forward over reverse
    y.backward(create_graph=True)  # reverse over reverse: the gradient's graph is as deep
    x.zero_grad()
    w.zero_grad()
    w.grad_value.backward()
    assert [x.grad, w.grad] == want[1]

    v = Value(1.5)
    total = sum(v * v for _ in range(DEEP))  # builtin sum: a chain of DEEP additions
    assert grad(grad(lambda _: total))(v).data == 2.0 * DEEP


def test_second_order_through_a_deep_chain_of_tanh():
    def chain(x: Value) -> Value:
        for _ in range(DEEP // 10):
            x = x.tanh()
        return x

    # y_k = tanh(y_(k-1)): y_k' = (1 - y_k^2) y_(k-1)', y_k'' = (1 - y_k^2) y_(k-1)''
    # - 2 y_k (1 - y_k^2) y_(k-1)'^2, by hand in floats
    y, d1, d2 = 0.9, 1.0, 0.0
    for _ in range(DEEP // 10):
        y = math.tanh(y)
        slope = 1 - y * y
        d1, d2 = slope * d1, slope * d2 - 2 * y * slope * d1 * d1
    assert grad(grad(chain))(0.9).data == pytest.approx(d2, rel=1e-9)
    assert hessian(lambda v: chain(v[0]), [0.9]) == [[pytest.approx(d2, rel=1e-9)]]


# ------------------------------------------------- grad and grad_value, bit for bit


def _same_bits(x: float, y: float) -> bool:
    """Equal as floats down to the sign of zero; any NaN equals any NaN."""
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return struct.pack("<d", x) == struct.pack("<d", y)


def _assert_grad_values_match(root: Value) -> None:
    root.backward(create_graph=True)
    for node in topological_order(root):
        assert _same_bits(node.grad_value.data, node.grad), (node, node.grad_value)


@pytest.mark.parametrize("build", [
    lambda y: (Value(-0.0) * y).abs(),
    lambda y: Value(-0.0).tanh() * y,
    lambda y: y * -0.0,
    lambda y: (y * 1e-300).log() * 1e300,  # upstream 1e300 * local 1/3e-300 overflows
    lambda y: (y * 1e-300).sqrt() * 1e300,
], ids=["abs_neg_zero", "tanh_neg_zero", "times_neg_zero", "log_overflow", "sqrt_overflow"])
def test_grad_value_has_the_bits_of_grad_at_signed_zeros_and_overflows(build):
    _assert_grad_values_match(build(Value(3.0, "y")))


@settings(max_examples=400, deadline=None)
@given(recipe=fuzz.recipes(), data=st.data())
def test_grad_value_has_the_bits_of_grad_on_random_graphs(recipe, data):
    leaf_data = [data.draw(fuzz.NUMBERS) for _ in recipe.leaves]
    try:
        _, outputs = fuzz._build(recipe, leaf_data)
        root = outputs[0] if len(outputs) == 1 else sum_values(outputs)
        _assert_grad_values_match(root)
    except OpError:
        pass  # the documented float errors, here or in the gradient's graph
