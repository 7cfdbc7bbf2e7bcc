"""Gradient checking: compare backward() with central differences, input by input.

`gradcheck(f, inputs)` runs backward once, then nudges each input Value by +-eps and
compares its gradient with (f(x+eps) - f(x-eps)) / 2eps. An input passes when
|analytic - numeric| <= atol + rtol * |numeric| (PyTorch's rule and default tolerances).
At a kink the central difference averages the two one-sided slopes and can match a
subgradient by accident, so an input is reported as "nondifferentiable" -- neither passed
nor failed -- when moving it by up to 2eps moves an argument of some op across (or onto)
a kink listed in its `Op.kinks`, when its left and right slopes disagree with the analytic
gradient between them (outside them it is a failure), or when 2eps away an op leaves its
domain (too near the edge for eps to tell).

Only first derivatives are checked: second order is out of scope, because the engine's
partials are floats, not Values.
"""

from __future__ import annotations

import math
import operator
import random
import sys
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence, TypeVar

from .engine import OPS, OpError, Value, preserved_grads, topological_order

Function = Callable[[list[Value]], Value]  # f(inputs) -> a scalar Value
T = TypeVar("T")

OK = "ok"
FAIL = "FAIL"
NONDIFFERENTIABLE = "nondifferentiable"


class GradcheckRow(NamedTuple):
    """One input: its value, both gradients, their errors and the verdict."""

    label: str
    value: float
    analytic: float  # from backward()
    numeric: float  # central difference
    abs_error: float
    rel_error: float  # abs_error / |numeric|
    status: str  # OK, FAIL or NONDIFFERENTIABLE


@dataclass(frozen=True)
class GradcheckReport:
    """Every input's row and the tolerances used; str() is an aligned table."""

    rows: tuple[GradcheckRow, ...]
    eps: float
    atol: float
    rtol: float

    @property
    def passed(self) -> bool:
        """True when no input failed (nondifferentiable inputs are not failures)."""
        return not self.failures

    @property
    def failures(self) -> list[GradcheckRow]:
        return [row for row in self.rows if row.status == FAIL]

    @property
    def nondifferentiable(self) -> list[GradcheckRow]:
        return [row for row in self.rows if row.status == NONDIFFERENTIABLE]

    def __str__(self) -> str:
        n, failed, kinked = len(self.rows), len(self.failures), len(self.nondifferentiable)
        if failed:
            verdict = f"gradcheck FAILED: {failed} of {n} inputs disagree (marked >>)"
        else:
            verdict = f"gradcheck passed: {n - kinked} of {n} inputs agree"
        if kinked:
            verdict += f", {kinked} at a kink (not checked)"
        header = ("", "input", "value", "analytic", "numeric", "abs err", "rel err", "status")
        table = [header] + [_cells(row) for row in self.rows]
        widths = [max(len(line[c]) for line in table) for c in range(len(header))]
        lines = [f"{verdict}  [eps={self.eps:g}, atol={self.atol:g}, rtol={self.rtol:g}]"]
        for line in table:
            cells = [cell.rjust(w) if 2 <= c <= 6 else cell.ljust(w)
                     for c, (cell, w) in enumerate(zip(line, widths))]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)


def _cells(row: GradcheckRow) -> tuple[str, ...]:
    mark = ">>" if row.status == FAIL else ""
    return (mark, row.label, f"{row.value:.6g}", f"{row.analytic:.10g}",
            f"{row.numeric:.10g}", f"{row.abs_error:.1e}", f"{row.rel_error:.1e}", row.status)


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree; the message is the report's table."""

    def __init__(self, report: GradcheckReport):
        self.report = report
        super().__init__(str(report))


# ----------------------------------------------------------------------- public API


def numerical_grad(f: Function, inputs: Sequence[Value], eps: float = 1e-6) -> list[float]:
    """(f(x+eps) - f(x-eps)) / 2eps for each input; every input's data is restored."""
    inputs = _checked_inputs(inputs)
    _check_tolerances(eps, 0.0, 0.0)
    grads = []
    for i in range(len(inputs)):
        plus, minus = _probe(f, inputs, i, (eps, -eps), _data)
        grads.append((plus - minus) / (2 * eps))
    return grads


def gradcheck(f: Function, inputs: Sequence[Value], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, *,
              names: Sequence[str] | None = None) -> GradcheckReport:
    """Compare backward() with central differences for every input of `f(inputs)`.

    Raises GradcheckError (its message the table, failing rows marked) when an input
    fails and `raise_exception` is set. Inputs' data and every graph node's .grad are
    left as they were. `names` label the rows (default: each input's label).
    """
    inputs = _checked_inputs(inputs)
    _check_tolerances(eps, atol, rtol)
    names = _row_names(inputs, names)
    root = _call(f, inputs)
    analytic = _analytic_grads(root, inputs)
    sides = _kink_sides(root)
    rows = []
    for i, x in enumerate(inputs):
        try:
            near = _probe(f, inputs, i, (-eps, eps), _data_and_kink_sides)
        except OpError as exc:  # the same error, saying which input went over the edge
            raise type(exc)(exc.op, exc.operands, f"{exc.reason}; input {names[i]} = "
                            f"{x.data!r} is within eps={eps:g} of the edge of "
                            f"{exc.op}'s domain") from None
        (f_m1, _), (f_p1, _) = near
        numeric = (f_p1 - f_m1) / (2 * eps)
        at_kink = any(probe_sides != sides for _, probe_sides in near)
        try:
            far = _probe(f, inputs, i, (-2 * eps, 2 * eps), _data_and_kink_sides)
        except OpError:  # 2*eps away leaves an op's domain: too near its edge to judge
            at_kink = True
        else:
            (f_m2, _), (f_p2, _) = far
            at_kink = (at_kink or any(probe_sides != sides for _, probe_sides in far)
                       or _unlisted_kink(root.data, f_m2, f_m1, f_p1, f_p2, eps,
                                         analytic[i], atol, rtol))
        rows.append(_row(names[i], x.data, analytic[i], numeric, at_kink, atol, rtol))
    report = GradcheckReport(tuple(rows), eps, atol, rtol)
    if raise_exception and not report.passed:
        raise GradcheckError(report)
    return report


def assert_gradients_close(f: Function, inputs: Sequence[Value], *, eps: float = 1e-6,
                           atol: float = 1e-5, rtol: float = 1e-3) -> GradcheckReport:
    """For tests: gradcheck that fails (GradcheckError is an AssertionError) with the table."""
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    return gradcheck(f, inputs, eps, atol, rtol, raise_exception=True)


def check_module(model, loss_fn: Callable[..., Value], data: object, *, eps: float = 1e-6,
                 atol: float = 1e-5, rtol: float = 1e-3, max_params: int | None = None,
                 seed: int = 0, raise_exception: bool = True) -> GradcheckReport:
    """gradcheck the parameters of `model` for the loss `loss_fn(model, data)` -> Value.

    loss_fn runs the model on `data` (any object it understands, e.g. (xs, ys)) and
    returns the scalar loss. With `max_params`, that many parameters are sampled
    (reproducibly, from `seed`) for big models; rows are named by parameter path.
    """
    named_parameters = getattr(model, "named_parameters", None)
    if not callable(named_parameters):
        raise TypeError(f"model must be a Module with named_parameters(), "
                        f"got {type(model).__name__}")
    named = list(named_parameters())
    if max_params is not None:
        if isinstance(max_params, bool) or not isinstance(max_params, int) or max_params < 1:
            raise ValueError(f"max_params must be a positive int or None, got {max_params!r}")
        if len(named) > max_params:
            picked = sorted(random.Random(seed).sample(range(len(named)), max_params))
            named = [named[i] for i in picked]
    return gradcheck(lambda _: loss_fn(model, data), [p for _, p in named], eps, atol, rtol,
                     raise_exception, names=[name for name, _ in named])


# ------------------------------------------------------------------------ internals


def _call(f: Function, inputs: list[Value]) -> Value:
    out = f(inputs)
    if not isinstance(out, Value):
        raise TypeError(f"f must return a Value, got {type(out).__name__} ({out!r})")
    return out


def _probe(f: Function, inputs: list[Value], i: int, offsets: Sequence[float],
           measure: Callable[[Value], T]) -> list[T]:
    """measure(f's output) with inputs[i] moved by each offset in turn; then put back.

    NOTE: measured before the input is put back: the input may itself be an argument of
    a kinked op, and the output's graph reads its data from the input.
    """
    x = inputs[i]
    base = x.data
    try:
        results = []
        for offset in offsets:
            x.data = base + offset
            results.append(measure(_call(f, inputs)))
        return results
    finally:
        x.data = base


_data = operator.attrgetter("data")


def _data_and_kink_sides(out: Value) -> tuple[float, tuple[int, ...]]:
    return out.data, _kink_sides(out)


def _analytic_grads(root: Value, inputs: list[Value]) -> list[float]:
    """d root / d input from one backward(); every node's .grad is put back afterwards."""
    with preserved_grads(root, inputs) as nodes:
        for node in nodes:
            node.grad = 0.0
        root.backward()
        return [x.grad for x in inputs]


def _kink_sides(root: Value) -> tuple[int, ...]:
    """For each argument of each op with kinks: -1, 0 or 1 as it is below, on or above."""
    sides = []
    for node in topological_order(root):
        for kink in node.op.kinks if node.op is not None else ():
            sides.extend((p.data > kink) - (p.data < kink) for p in node.parents)
    return tuple(sides)


def _unlisted_kink(f0: float, f_m2: float, f_m1: float, f_p1: float, f_p2: float, eps: float,
                   analytic: float, atol: float, rtol: float) -> bool:
    """A kink the op table does not list: the left and right slopes differ, and the
    analytic gradient lies between them (a subgradient; outside them it is just wrong)."""
    # NOTE: second-order one-sided differences, so curvature alone (x**2 at its minimum)
    # does not make the two slopes differ; rounding in f moves each by ~|f| * 2^-52 / eps.
    left = (3 * f0 - 4 * f_m1 + f_m2) / (2 * eps)
    right = (4 * f_p1 - f_p2 - 3 * f0) / (2 * eps)
    tol = atol + rtol * max(abs(left), abs(right)) + 8 * sys.float_info.epsilon * abs(f0) / eps
    if abs(left - right) <= tol:
        return False
    return min(left, right) - tol <= analytic <= max(left, right) + tol


def _close(value: float, reference: float, atol: float, rtol: float) -> bool:
    return abs(value - reference) <= atol + rtol * abs(reference)


def _row(label: str, value: float, analytic: float, numeric: float, at_kink: bool,
         atol: float, rtol: float) -> GradcheckRow:
    abs_error = abs(analytic - numeric)
    if numeric:
        rel_error = abs_error / abs(numeric)
    else:
        rel_error = 0.0 if abs_error == 0.0 else math.inf
    if at_kink:
        status = NONDIFFERENTIABLE
    else:
        status = OK if _close(analytic, numeric, atol, rtol) else FAIL
    return GradcheckRow(label, value, analytic, numeric, abs_error, rel_error, status)


def _checked_inputs(inputs: Sequence[Value]) -> list[Value]:
    if isinstance(inputs, Value):
        raise TypeError("inputs must be a list of Values, e.g. [x], not a single Value")
    inputs = list(inputs)
    if not inputs:
        raise ValueError("inputs is empty: pass the Values to check, e.g. [x, y]")
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"inputs[{i}] must be a Value, got {type(x).__name__} ({x!r})")
    return inputs


def _check_tolerances(eps: float, atol: float, rtol: float) -> None:
    if not eps > 0.0 or not math.isfinite(eps):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    for name, tol in (("atol", atol), ("rtol", rtol)):
        if not tol >= 0.0:
            raise ValueError(f"{name} must be >= 0, got {tol!r}")


def _row_names(inputs: list[Value], names: Sequence[str] | None) -> list[str]:
    if names is None:
        return [x.label or f"inputs[{i}]" for i, x in enumerate(inputs)]
    names = list(names)
    if len(names) != len(inputs):
        raise ValueError(f"names has {len(names)} entries for {len(inputs)} inputs")
    return names
