"""gradcheck: every table op passes, a wrong derivative is caught and named, kinks are
reported as nondifferentiable, the step shrinks near domain edges, poles and kinks,
inputs and gradients are restored, modules are checked."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import CASES, COMPOSED

from micrograd_ann import MLP, OPS, Op, OpDomainError, Value, apply, engine
from micrograd_ann.gradcheck import (
    FAIL,
    NONDIFFERENTIABLE,
    OK,
    GradcheckError,
    assert_gradients_close,
    check_module,
    first_step,
    gradcheck,
    gradgradcheck,
    numerical_grad,
)
from micrograd_ann.losses import binary_cross_entropy, cross_entropy, hinge, mse

# x**2 with the factor 2 forgotten: d/dx is x instead of 2x.
BROKEN_SQUARE = Op("broken_square", "sq", lambda a: a * a, lambda a, out: (a,))


def _marked_line(text: str, label: str) -> list[str]:
    """The columns of the table line marked '>>' for input `label`."""
    lines = [line.split() for line in text.splitlines() if line.startswith(">>")]
    matching = [cols for cols in lines if cols[1] == label]
    assert len(matching) == 1, f"no single marked row for {label!r} in:\n{text}"
    return matching[0]


# ------------------------------------------------------------------- every table op


def test_every_table_op_has_a_case():
    covered = {case.op for case in CASES + COMPOSED}
    assert set(OPS) <= covered, f"ops without a case: {sorted(set(OPS) - covered)}"


@pytest.mark.parametrize("case", CASES + COMPOSED, ids=lambda c: c.name)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_every_op_passes_gradcheck_away_from_kinks(case, data):
    xs = [Value(data.draw(st.floats(lo, hi), label=f"x{i}"), f"x{i}")
          for i, (lo, hi) in enumerate(case.domain)]
    report = gradcheck(lambda vs: case.fn(*vs), xs)
    assert [row.status for row in report.rows] == [OK] * len(xs)
    expected = case.grads(*(x.data for x in xs))
    assert [row.numeric for row in report.rows] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_numerical_grad_matches_closed_form():
    x, y = Value(0.7), Value(-1.3)
    grads = numerical_grad(lambda v: v[0] * v[1] + v[0].exp(), [x, y])
    assert grads == pytest.approx([-1.3 + math.exp(0.7), 0.7], rel=1e-8)


# ---------------------------------------------------------------- wrong derivatives


def test_wrong_derivative_is_caught_and_named():
    a, b = Value(1.5, "a"), Value(2.0, "b")
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda v: engine.make_node(BROKEN_SQUARE, (v[0],)) * v[1], [a, b])
    report = info.value.report
    assert not report.passed
    assert [row.label for row in report.failures] == ["a"]
    bad, good = report.rows
    assert bad.analytic == 3.0  # x * y = 1.5 * 2: the broken rule
    assert bad.numeric == pytest.approx(6.0, rel=1e-8)  # 2 x y
    assert good.status == OK and good.analytic == pytest.approx(2.25)
    cols = _marked_line(str(info.value), "a")
    assert float(cols[3]) == 3.0
    assert float(cols[4]) == pytest.approx(6.0, rel=1e-8)
    assert cols[-1] == FAIL


def test_report_without_raising():
    report = gradcheck(lambda v: engine.make_node(BROKEN_SQUARE, (v[0],)), [Value(-2.0)],
                       raise_exception=False)
    (row,) = report.rows
    assert (row.label, row.status, row.analytic) == ("inputs[0]", FAIL, -2.0)
    assert row.numeric == pytest.approx(-4.0, rel=1e-8)
    assert row.abs_error == pytest.approx(2.0, rel=1e-8)
    assert row.rel_error == pytest.approx(0.5, rel=1e-8)
    assert "gradcheck FAILED: 1 of 1" in str(report)


def test_assert_gradients_close_fails_with_the_table():
    x = Value(3.0, "x")
    assert_gradients_close(lambda v: v[0] ** 2, [x])  # the correct rule passes
    with pytest.raises(AssertionError) as info:
        assert_gradients_close(lambda v: engine.make_node(BROKEN_SQUARE, (v[0],)), [x])
    cols = _marked_line(str(info.value), "x")
    assert (float(cols[3]), round(float(cols[4]), 6)) == (3.0, 6.0)


def test_tolerances_decide():
    # An analytic 1% off passes a 2% rtol and fails the default 0.1%.
    off = Op("off_by_1pct", "off", lambda a: 2 * a, lambda a, out: (2.02,))

    def f(v):
        return engine.make_node(off, (v[0],))

    assert gradcheck(f, [Value(1.0)], rtol=0.02).passed
    assert not gradcheck(f, [Value(1.0)], raise_exception=False).passed


# -------------------------------------------------------------------------- kinks


@pytest.mark.parametrize("fn", [Value.relu, Value.abs, Value.leaky_relu],
                         ids=["relu", "abs", "leaky_relu"])
def test_kink_is_nondifferentiable_not_a_failure(fn):
    report = gradcheck(lambda v: fn(v[0]) * v[1], [Value(0.0, "k"), Value(2.0, "y")])
    assert report.passed
    assert [row.status for row in report.rows] == [NONDIFFERENTIABLE, OK]
    assert report.rows[0].reason == f"on {fn.__name__}'s kink"
    text = str(report)
    assert text.startswith("gradcheck passed: 1 of 2 inputs agree, 1 nondifferentiable "
                           "here (not checked)  [eps=1e-06")
    assert f"nondifferentiable (on {fn.__name__}'s kink)" in text
    assert " step " not in text  # every input was checked with eps itself


def test_a_report_with_nothing_checked_says_so():
    one = gradcheck(lambda v: v[0].relu(), [Value(0.0, "x")])
    assert one.passed and one.nondifferentiable == list(one.rows)
    assert str(one).startswith("gradcheck checked nothing: the input is nondifferentiable "
                               "here (not checked)  [")
    both = gradcheck(lambda v: (v[0] - 1).relu() * (v[1] - 2).abs(),
                     [Value(1.0, "x"), Value(2.0, "y")])
    assert str(both).startswith("gradcheck checked nothing: all 2 inputs are "
                                "nondifferentiable here (not checked)  [")
    assert [row.reason for row in both.rows] == ["on relu's kink", "on abs's kink"]


def test_abs_at_zero_would_agree_by_accident():
    # Central difference (|h| - |-h|) / 2h = 0 equals abs's subgradient 0 at the kink.
    (row,) = gradcheck(lambda v: v[0].abs(), [Value(0.0)]).rows
    assert row.analytic == 0.0 and row.numeric == 0.0
    assert row.status == NONDIFFERENTIABLE


def test_kink_reached_through_other_ops():
    # relu(3x - 3) has its kink at x = 1: on it, no step can tell the slopes apart.
    (row,) = gradcheck(lambda v: (3 * v[0] - 3).relu(), [Value(1.0)]).rows
    assert (row.status, row.reason) == (NONDIFFERENTIABLE, "on relu's kink")


def test_near_a_kink_a_smaller_step_checks_the_input():
    # x = 1 + 1e-7: the argument 3x - 3 = 3e-7 crosses 0 for h = 1e-6 and 1e-7, not 1e-8.
    (row,) = gradcheck(lambda v: (3 * v[0] - 3).relu(), [Value(1.0 + 1e-7)]).rows
    assert (row.status, row.step) == (OK, pytest.approx(1e-8))
    assert row.numeric == pytest.approx(3.0, rel=1e-6)
    (row,) = gradcheck(lambda v: v[0].relu(), [Value(5e-7)]).rows
    assert (row.status, row.step, row.numeric) == (OK, pytest.approx(1e-7), 1.0)


def test_near_but_clear_of_a_kink_is_checked():
    for x in (1e-4, -1e-4, 3 * 1e-6):
        (row,) = gradcheck(lambda v: v[0].relu() + v[0].abs(), [Value(x)]).rows
        assert row.status == OK, row


def test_kink_too_small_for_the_slopes_is_found_from_the_table():
    # The slopes 0 and 1e-7 agree within atol: only Op.kinks reveals the kink.
    (row,) = gradcheck(lambda v: v[0].relu() * 1e-7, [Value(0.0)]).rows
    assert row.status == NONDIFFERENTIABLE


def test_unlisted_kink_found_by_one_sided_slopes():
    # A test-local abs whose table entry declares no kinks: the slopes -1 and 1 differ.
    hidden = Op("hidden_abs", "habs", abs, lambda a, out: (1.0 if a > 0 else -1.0,))
    report = gradcheck(lambda v: engine.make_node(hidden, (v[0],)), [Value(0.0)])
    assert report.rows[0].status == NONDIFFERENTIABLE


def test_curvature_is_not_a_kink():
    # 1000 (x - 1)^2 at its minimum: first-order one-sided slopes would be -+2000 eps.
    (row,) = gradcheck(lambda v: 1000 * (v[0] - 1) ** 2, [Value(1.0)]).rows
    assert row.status == OK and row.analytic == 0.0


# ----------------------------------------------------------- restoring the inputs


def test_data_and_grads_restored():
    x, y, c = Value(0.5, "x"), Value(-2.0, "y"), Value(4.0, "c")
    x.grad, y.grad, c.grad = 7.0, -1.0, 3.0
    report = gradcheck(lambda v: v[0] * v[1] * c, [x, y])
    assert report.rows[0].analytic == pytest.approx(-8.0)
    assert (x.data, y.data, c.data) == (0.5, -2.0, 4.0)
    assert (x.grad, y.grad, c.grad) == (7.0, -1.0, 3.0)


@pytest.mark.parametrize("check", [numerical_grad, gradcheck])
def test_inputs_restored_when_f_raises(check):
    x, y = Value(0.25, "x"), Value(1.0, "y")

    def f(v):
        if v[1].data != 1.0:  # fails only once y is nudged
            raise RuntimeError("boom")
        return v[0] * v[1]

    with pytest.raises(RuntimeError, match="boom"):
        check(f, [x, y])
    assert (x.data, y.data) == (0.25, 1.0)
    assert (x.grad, y.grad) == (0.0, 0.0)


def test_near_a_domain_edge_the_step_keeps_inside_the_domain():
    # log at 1e-7: x - eps is outside log's domain; h = 1e-10 stays inside, and there the
    # differences at h and 2h agree to SETTLED.
    x = Value(1e-7, "x")
    (row,) = gradcheck(lambda v: v[0].log(), [x]).rows
    assert (row.status, row.step) == (OK, pytest.approx(1e-10))
    assert row.numeric == pytest.approx(1e7, rel=1e-6)
    assert x.data == 1e-7
    lines = str(gradcheck(lambda v: v[0].log(), [x])).splitlines()
    assert lines[1].split()[-2:] == ["step", "status"] and lines[2].split()[-2:] == ["1e-10", OK]


def test_x_over_y_near_its_pole_passes():
    # y = 1e-7: y - eps = -9e-7 is across the pole of 1/y; the step shrinks to 1e-11.
    report = gradcheck(lambda v: v[0] / v[1], [Value(1.0, "x"), Value(1e-7, "y")])
    assert [(row.status, row.step) for row in report.rows] == [(OK, 1e-6),
                                                                (OK, pytest.approx(1e-11))]
    assert report.rows[1].analytic == pytest.approx(-1e14)
    assert report.rows[1].numeric == pytest.approx(-1e14, rel=1e-7)


def test_a_smaller_step_still_catches_a_wrong_derivative():
    # log's forward with the derivative doubled, checked 1e-7 from its domain's edge.
    bad_log = Op("bad_log", "bad_log", math.log, lambda a, out: (2.0 / a,))
    (row,) = gradcheck(lambda v: apply(bad_log, v[0]), [Value(1e-7)],
                       raise_exception=False).rows
    assert (row.status, row.step) == (FAIL, pytest.approx(1e-10))
    assert row.numeric == pytest.approx(1e7, rel=1e-6)


def test_a_domain_error_at_the_input_itself_propagates():
    with pytest.raises(OpDomainError, match=r"^log\(-1\.0\)"):
        gradcheck(lambda v: v[0].log(), [Value(-1.0)])


def test_bad_arguments():
    x = Value(1.0)
    with pytest.raises(TypeError, match="single Value"):
        gradcheck(lambda v: v[0], x)
    with pytest.raises(TypeError, match=r"inputs\[1\] must be a Value, got float"):
        gradcheck(lambda v: v[0], [x, 2.0])
    with pytest.raises(ValueError, match="empty"):
        gradcheck(lambda v: x, [])
    with pytest.raises(TypeError, match="f must return a Value, got float"):
        gradcheck(lambda v: 1.0, [x])
    with pytest.raises(ValueError, match="eps must be a positive finite number, got 0"):
        numerical_grad(lambda v: v[0], [x], eps=0)
    with pytest.raises(ValueError, match="rtol must be >= 0, got -1"):
        gradcheck(lambda v: v[0], [x], rtol=-1)
    with pytest.raises(ValueError, match="names has 2 entries for 1 inputs"):
        gradcheck(lambda v: v[0], [x], names=["a", "b"])


# ------------------------------------------------------------------------ modules

XS = [[0.5, -1.0, 2.0], [-0.3, 0.8, 0.1], [1.2, 0.4, -0.7], [-1.5, -0.2, 0.9]]


def _loss(loss, targets):
    """loss_fn(model, xs) for check_module: `loss` over the model's outputs on xs."""
    return lambda model, xs: loss([model(x) for x in xs], targets)


@pytest.mark.parametrize("loss, nout, targets", [
    (mse, 1, [0.3, -1.0, 0.5, 2.0]),
    (binary_cross_entropy, 1, [1.0, 0.0, 0.0, 1.0]),
    (hinge, 1, [1.0, -1.0, -1.0, 1.0]),
    (cross_entropy, 3, [0, 2, 1, 2]),  # needs one logit per class
], ids=["mse", "binary_cross_entropy", "hinge", "cross_entropy"])
def test_check_module_with_each_loss(loss, nout, targets):
    model = MLP(3, [4, 4, nout], seed=1)
    # With b = 0, a sample no layer-0 neuron fires for puts a layer-1 relu exactly on
    # its kink (then correctly reported nondifferentiable); b = 0.1 keeps clear of that.
    for p in model.parameters():
        p.grad = 0.5
        if p.label == "b":
            p.data = 0.1
    report = check_module(model, _loss(loss, targets), XS)
    names = [name for name, _ in model.named_parameters()]
    assert [row.label for row in report.rows] == names
    assert all(row.status == OK for row in report.rows), str(report)
    assert any(row.analytic != 0.0 for row in report.rows)
    assert all(p.grad == 0.5 for p in model.parameters())


def test_check_module_samples_parameters_reproducibly():
    model = MLP(3, [4, 4, 1], seed=2)
    loss_fn = _loss(mse, [1.0, 0.0, -1.0, 0.5])
    first = check_module(model, loss_fn, XS, max_params=5, seed=7)
    again = check_module(model, loss_fn, XS, max_params=5, seed=7)
    labels = [row.label for row in first.rows]
    assert len(labels) == 5 and labels == [row.label for row in again.rows]
    order = [name for name, _ in model.named_parameters()]
    assert labels == sorted(labels, key=order.index)


def test_check_module_catches_a_wrong_loss_gradient():
    model = MLP(3, [4, 1], activation="tanh", seed=3)

    def broken(m, xs):
        return sum(engine.make_node(BROKEN_SQUARE, (m(x),)) for x in xs)

    with pytest.raises(GradcheckError) as info:
        check_module(model, broken, XS)
    assert "layers.1.neurons.0.b" in {row.label for row in info.value.report.failures}


def test_check_module_arguments():
    with pytest.raises(TypeError, match="model must be a Module"):
        check_module([Value(1.0)], lambda m, d: m[0], None)
    with pytest.raises(ValueError, match="max_params must be at least 1, got 0"):
        check_module(MLP(1, [1]), lambda m, d: m([1.0]), None, max_params=0)
    with pytest.raises(TypeError, match="max_params must be an int, got float 2.0"):
        check_module(MLP(1, [1]), lambda m, d: m([1.0]), None, max_params=2.0)


def test_a_wrong_gradient_on_a_large_function_value_still_fails():
    # Rounding in f ~ 3e7 makes the one-sided slopes differ by ~10; that is no kink.
    bad_sin = Op("bad_sin", "bad_sin", math.sin, lambda a, out: (2 * math.cos(a),))
    report = gradcheck(lambda v: engine.make_node(bad_sin, (v[0],)) + 3e7, [Value(0.3, "x")],
                       raise_exception=False)
    assert [row.status for row in report.rows] == [FAIL]
    assert report.rows[0].analytic == pytest.approx(2 * math.cos(0.3))
    assert report.rows[0].numeric == pytest.approx(math.cos(0.3), rel=1e-3)


def test_an_unlisted_kink_with_a_wrong_subgradient_fails():
    # abs without its kink in the table, and a "subgradient" 5 outside [-1, 1].
    bad_abs = Op("bad_abs", "bad_abs", abs, lambda a, out: (5.0,))
    report = gradcheck(lambda v: engine.make_node(bad_abs, (v[0],)), [Value(0.0, "x")],
                       raise_exception=False)
    assert [row.status for row in report.rows] == [FAIL]


def test_at_a_domain_edge_is_reported_not_raised():
    # sqrt at 0: no step keeps x - h inside the domain. The row shows the one-sided
    # difference from the right, (4 sqrt(h) - sqrt(2h)) / 2h, and is not checked.
    (row,) = gradcheck(lambda v: v[0].sqrt(), [Value(0.0, "x")]).rows
    h = row.step
    assert (row.status, h) == (NONDIFFERENTIABLE, pytest.approx(1e-14))
    assert row.reason == "within 2e-14 of the edge of sqrt's domain"
    assert row.numeric == pytest.approx((4 * math.sqrt(h) - math.sqrt(2 * h)) / (2 * h))
    assert row.analytic == math.inf


# ----------------------------------------------------------- steps at any scale


@pytest.mark.parametrize("f, values, gradients", [
    (lambda v: v[0] * v[1], [1e8, 3.0], [3.0, 1e8]),  # an absolute 1e-6 gave 2.98 for x
    (lambda v: v[0] + 1, [1e10], [1.0]),  # ... and 1.907 here: 1e-6 is below x's spacing
    (lambda v: v[0] * v[1], [-1e300, 1e-300], [1e-300, -1e300]),
    (lambda v: v[0] * v[0], [1e150], [2e150]),
])
def test_the_step_grows_with_the_input(f, values, gradients):
    inputs = [Value(x) for x in values]
    report = gradcheck(f, inputs)
    assert [row.status for row in report.rows] == [OK] * len(values)
    assert [row.numeric for row in report.rows] == pytest.approx(gradients, rel=1e-9)
    assert [row.step for row in report.rows] == [1e-6 * max(1, abs(x)) for x in values]
    assert " step " not in str(report)  # every input kept its first step
    assert numerical_grad(f, inputs) == pytest.approx(gradients, rel=1e-9)


def test_first_step_is_eps_up_to_1_then_relative():
    assert [first_step(x, 1e-6) for x in (0.0, -0.5, 1.0, -3.0, 1e10)] == \
        [1e-6, 1e-6, 1e-6, 3e-6, 1e4]


def test_a_wrong_gradient_at_a_large_input_still_fails():
    triple = Op("triple", "3x", lambda a: 3 * a, lambda a, out: (6.0,))  # should be 3
    (row,) = gradcheck(lambda v: apply(triple, v[0]), [Value(1e8)], raise_exception=False).rows
    assert (row.status, row.numeric) == (FAIL, 3.0)


def test_second_derivatives_at_a_large_input():
    # d2/dx2 of x*x*y is 2y: an absolute step of 1e-6 on x = 1e8 missed it by ~1 %
    report = gradgradcheck(lambda v: v[0] * v[0] * v[1], [Value(1e8), Value(3.0)])
    assert [row.numeric for row in report.rows] == pytest.approx([6.0, 2e8, 2e8, 0.0],
                                                                 rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("rtol", [1e-6, 1e-3, 1e-2, 0.1, 0.5])
def test_the_step_near_a_pole_does_not_depend_on_the_tolerances(rtol):
    # x/y at y = 1e-7: with h = 1e-6, y - h is across the pole and the difference is
    # +1.01e12; an rtol of 1e-2 used to accept that step and FAIL the right -1e14.
    report = gradcheck(lambda v: v[0] / v[1], [Value(1.0, "x"), Value(1e-7, "y")], rtol=rtol)
    assert [(row.status, row.step) for row in report.rows] == [(OK, 1e-6),
                                                                (OK, pytest.approx(1e-11))]
    assert report.rows[1].numeric == pytest.approx(-1e14, rel=1e-7)
