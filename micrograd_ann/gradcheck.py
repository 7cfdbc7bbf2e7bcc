"""Gradient checking: compare backward() with central differences, input by input.

`gradcheck(f, inputs)` runs backward once, then nudges each input Value by +-h and
compares its gradient with the central difference (f(x+h) - f(x-h)) / 2h. An input passes
when |analytic - numeric| <= atol + rtol * |numeric| (PyTorch's rule and default tolerances).

The step is relative: h starts at eps * max(1, |x|), so x = 1e10 is moved by 1e4, not by
1e-6 (which is below its float spacing). It is divided by 10 (up to 8 times) while x +- 2h
would leave an op's domain (log near 0), move an argument across a kink listed in
`Op.kinks` that it is not on, or give central differences at h and 2h that differ by more
than SETTLED of their size (a pole such as 1/y near y = 0) -- a test of the differences
alone, so the step does not depend on the tolerances the answer is then judged by. An
input near an edge is still checked, inside the domain, and its row says which step was
used. At a kink the central difference averages the two one-sided slopes
and can match a subgradient by accident, so an input is reported "nondifferentiable" --
not checked, neither passed nor failed -- when it sits on a listed kink, when its left
and right slopes differ with the analytic gradient between them (outside them it is a
failure), or when no step keeps x +- 2h inside the domain (at the edge itself).

`gradgradcheck(f, inputs)` does the same one order up: each second derivative
d2f/dx_i dx_j (from the gradient built as Values, see `higher`) against the central
difference over x_j of backward()'s gradient entry i, with the same steps, kinks and table.
"""

from __future__ import annotations

import math
import operator
import random
import sys
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence, TypeVar

from .checks import OpError, check_int
from .engine import Value, topological_order
from .trace import preserved_grads
from .higher import hessian

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
    step: float | None = None  # the h of the central difference; smaller than eps near an edge
    reason: str = ""  # why an input is NONDIFFERENTIABLE, e.g. "on relu's kink"


@dataclass(frozen=True)
class GradcheckReport:
    """Every input's row and the tolerances used; str() is an aligned table."""

    rows: tuple[GradcheckRow, ...]
    eps: float
    atol: float
    rtol: float
    order: int = 1  # 2: the rows are second derivatives (gradgradcheck)

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
        n, failed, skipped = len(self.rows), len(self.failures), len(self.nondifferentiable)
        check, unit = ("gradcheck", "input") if self.order == 1 else ("gradgradcheck",
                                                                     "second derivative")
        units, s = (unit, "s") if n == 1 else (f"{unit}s", "")  # "1 of 1 input agrees"
        if failed:
            verdict = f"{check} FAILED: {failed} of {n} {units} disagree{s} (marked >>)"
        elif skipped < n:
            verdict = f"{check} passed: {n - skipped} of {n} {units} agree{s}"
        else:
            verdict = (f"{check} checked nothing: "
                       + (f"the {unit} is" if n == 1 else f"all {n} {unit}s are"))
        if skipped == n and not failed:
            verdict += " nondifferentiable here (not checked)"
        elif skipped:
            verdict += f", {skipped} nondifferentiable here (not checked)"
        # A step column only when some input was checked with a smaller step than its first.
        steps = any(row.step not in (None, first_step(row.value, self.eps)) for row in self.rows)
        header = ("", "input" if self.order == 1 else "inputs", "value", "analytic",
                  "numeric", "abs err", "rel err", *(("step",) if steps else ()), "status")
        table = [header] + [_cells(row, steps) for row in self.rows]
        widths = [max(len(line[c]) for line in table) for c in range(len(header))]
        lines = [f"{verdict}  [eps={self.eps:g}, atol={self.atol:g}, rtol={self.rtol:g}]"]
        for line in table:
            cells = [cell.rjust(w) if 2 <= c < len(header) - 1 else cell.ljust(w)
                     for c, (cell, w) in enumerate(zip(line, widths))]
            lines.append("  ".join(cells).rstrip())
        return "\n".join(lines)


def _cells(row: GradcheckRow, step: bool) -> tuple[str, ...]:
    mark = ">>" if row.status == FAIL else ""
    status = f"{row.status} ({row.reason})" if row.reason else row.status
    return (mark, row.label, f"{row.value:.6g}", f"{row.analytic:.10g}",
            f"{row.numeric:.10g}", f"{row.abs_error:.1e}", f"{row.rel_error:.1e}",
            *((f"{row.step:g}",) if step else ()), status)


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree; the message is the report's table."""

    def __init__(self, report: GradcheckReport):
        self.report = report
        super().__init__(str(report))


# ----------------------------------------------------------------------- public API


def numerical_grad(f: Function, inputs: Sequence[Value], eps: float = 1e-6) -> list[float]:
    """(f(x+h) - f(x-h)) / 2h for each input, h = eps * max(1, |x|); every input's data is
    restored."""
    inputs = _checked_inputs(inputs)
    _check_tolerances(eps, 0.0, 0.0)
    grads = []
    for i, x in enumerate(inputs):
        h = first_step(x.data, eps)
        plus, minus = _probe(f, inputs, i, (h, -h), _data)
        grads.append((plus - minus) / (2 * h))
    return grads


def gradcheck(f: Function, inputs: Sequence[Value], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, *,
              names: Sequence[str] | None = None) -> GradcheckReport:
    """Compare backward() with central differences for every input of `f(inputs)`.

    Raises GradcheckError (its message the table, failing rows marked) when an input
    fails and `raise_exception` is set. Inputs' data and every graph node's .grad are
    left as they were. `names` label the rows (default: each input's label). eps is the
    largest step tried: near a domain edge, a pole or a kink a smaller one is used.
    """
    inputs = _checked_inputs(inputs)
    _check_tolerances(eps, atol, rtol)
    names = _row_names(inputs, names)
    root = _call(f, inputs)
    analytic = _analytic_grads(root, inputs)
    sides = _kink_sides(root)
    rows = [_check_input(f, inputs, i, names[i], (root.data, sides), analytic[i],
                         eps, atol, rtol)
            for i in range(len(inputs))]
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
                 seed: int = 0, raise_exception: bool = True, order: int = 1
                 ) -> GradcheckReport:
    """gradcheck the parameters of `model` for the loss `loss_fn(model, data)` -> Value.

    loss_fn runs the model on `data` (any object it understands, e.g. (xs, ys)) and
    returns the scalar loss. With `max_params`, that many parameters are sampled
    (reproducibly, from `seed`) for big models; rows are named by parameter path.
    `order=2` runs gradgradcheck instead: every pair of the (sampled) parameters.
    """
    check = gradcheck if check_int("order", order, 1, 2) == 1 else gradgradcheck
    named_parameters = getattr(model, "named_parameters", None)
    if not callable(named_parameters):
        raise TypeError(f"model must be a Module with named_parameters(), "
                        f"got {type(model).__name__}")
    named = list(named_parameters())
    if max_params is not None:
        max_params = check_int("max_params", max_params, 1)  # a wrong type: TypeError
        if len(named) > max_params:
            picked = sorted(random.Random(seed).sample(range(len(named)), max_params))
            named = [named[i] for i in picked]
    return check(lambda _: loss_fn(model, data), [p for _, p in named], eps, atol, rtol,
                 raise_exception, names=[name for name, _ in named])


def gradgradcheck(f: Function, inputs: Sequence[Value], eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True, *,
                  names: Sequence[str] | None = None) -> GradcheckReport:
    """Compare every second derivative of `f(inputs)` with central differences of its
    gradient: one row per pair, named "x_i, x_j", for d2f/dx_i dx_j.

    The analytic side is higher.hessian (the gradient built as Values, differentiated by
    forward mode); the numeric side moves x_j and differences the gradient entry i that
    backward() computes there. Steps, kinks, the report and GradcheckError are gradcheck's.
    """
    inputs = _checked_inputs(inputs)
    _check_tolerances(eps, atol, rtol)
    names = _row_names(inputs, names)
    root = _call(f, inputs)
    second = hessian(root, inputs)
    first = _analytic_grads(root, inputs)
    sides = _kink_sides(root)
    rows = []
    for i in range(len(inputs)):
        def gradient_entry(out: Value, i: int = i) -> Probe:  # what is differenced
            return _analytic_grads(out, inputs)[i], _kink_sides(out)

        rows += [_check_input(f, inputs, j, f"{names[i]}, {names[j]}", (first[i], sides),
                              second[i][j], eps, atol, rtol, gradient_entry)
                 for j in range(len(inputs))]
    report = GradcheckReport(tuple(rows), eps, atol, rtol, order=2)
    if raise_exception and not report.passed:
        raise GradcheckError(report)
    return report


# ------------------------------------------------------------------------ internals

SHRINK = 10.0  # a step that does not work is divided by this and tried again,
MAX_SHRINKS = 8  # at most this many times: the smallest step is eps * max(1, |x|) / 10**8
# Central differences at h and 2h within this fraction of their size have settled: the
# error of the one at h is then about a third of that, well inside any rtol a float64
# check asks for (PyTorch's default is 1e-3).
SETTLED = 1e-6
Probe = tuple[float, tuple[tuple[str, int], ...]]  # f's value and its kink sides


def first_step(x: float, eps: float) -> float:
    """The first step tried for an input of value x: eps * max(1, |x|), so that x +- h
    differ from x by many of its float spacings however large x is."""
    return eps * max(1.0, abs(x))


def _check_input(f: Function, inputs: list[Value], i: int, name: str, base: Probe,
                 analytic: float, eps: float, atol: float, rtol: float,
                 measure: Callable[[Value], Probe] | None = None) -> GradcheckRow:
    """inputs[i]'s row, from the largest step h = first_step / 10**k that keeps x +- 2h
    inside every op's domain and off every kink, with central differences at h and 2h
    agreeing. `measure(f's output)` gives what is differenced and the kink sides (default:
    f's value; gradgradcheck: a gradient entry)."""
    first = first_step(inputs[i].data, eps)
    for shrinks in range(MAX_SHRINKS + 1):
        h = first / SHRINK**shrinks
        numeric, reason, retry = _at_step(f, inputs, i, base, analytic, h, atol, rtol,
                                          measure or _data_and_kink_sides)
        if not retry:
            break
    return _row(name, inputs[i].data, analytic, numeric, h, reason, atol, rtol)


def _at_step(f: Function, inputs: list[Value], i: int, base: Probe, analytic: float,
             h: float, atol: float, rtol: float, measure: Callable[[Value], Probe]
             ) -> tuple[float, str, bool]:
    """(numeric gradient, why it is nondifferentiable or "", whether a smaller step may
    do better) for inputs[i] at step h."""
    f0, sides = base
    left = _probe_side(f, inputs, i, (-h, -2 * h), measure)
    right = _probe_side(f, inputs, i, (h, 2 * h), measure)
    if isinstance(left, OpError) or isinstance(right, OpError):  # x +- 2h leaves a domain
        edge, side, sign = (left, right, 1) if isinstance(left, OpError) else (right, left, -1)
        numeric = (math.nan if isinstance(side, OpError)
                   else _one_sided(f0, side[0][0], side[1][0], sign * h))
        return numeric, f"within {2 * h:g} of the edge of {edge.op}'s domain", True
    (f_m1, _), (f_m2, _) = left
    (f_p1, _), (f_p2, _) = right
    numeric = (f_p1 - f_m1) / (2 * h)
    kink = _crossed_kink(sides, [s for _, s in (*left, *right)])
    if kink is not None:
        op, on_it = kink  # on it: no smaller step helps; near it: one clears it
        where = f"on {op}'s kink" if on_it else f"within {2 * h:g} of {op}'s kink"
        return numeric, where, not on_it
    # NOTE: the central difference's own rounding is ~|f| * 2^-52 / h; a pole or an
    # unlisted kink within 2h shows as differences at h and 2h that disagree by more.
    # Neither the analytic gradient nor the user's tolerances enter: a loose rtol must
    # not accept a step across a pole.
    wide = (f_p2 - f_m2) / (4 * h)
    size = SETTLED * max(abs(numeric), abs(wide))
    f_max = max(abs(v) for v in (f_m2, f_m1, f0, f_p1, f_p2))
    rounding = 4 * sys.float_info.epsilon * f_max / h
    settled = abs(numeric - wide) <= size + rounding
    retry = not settled and rounding * SHRINK <= size  # unless rounding would swamp the test
    if _unlisted_kink(f0, f_m2, f_m1, f_p1, f_p2, h, analytic, atol, rtol):
        return numeric, "its left and right slopes differ", retry
    return numeric, "", retry


def _probe_side(f: Function, inputs: list[Value], i: int, offsets: tuple[float, float],
                measure: Callable[[Value], Probe]) -> list[Probe] | OpError:
    """measure(f's output) -- a value and kink sides -- at x + each offset, or the OpError
    of a probe outside a domain."""
    try:
        return _probe(f, inputs, i, offsets, measure)
    except OpError as exc:
        return exc


def _one_sided(f0: float, f1: float, f2: float, h: float) -> float:
    """Second-order one-sided difference from f(x), f(x+h), f(x+2h); h < 0 for the left."""
    return (4 * f1 - f2 - 3 * f0) / (2 * h)


def _crossed_kink(sides: tuple[tuple[str, int], ...],
                  probes: Sequence[tuple[tuple[str, int], ...]]) -> tuple[str, bool] | None:
    """(op, on it) for a kink some probe moved an argument across or onto -- preferring one
    an argument already sits on, since no smaller step helps there; None if none did."""
    crossed = None
    for probe in probes:
        if len(probe) != len(sides):  # f built another graph: a branch in f is its kink
            crossed = crossed or ("f", False)
            continue
        for (op, side), (_, moved) in zip(sides, probe):
            if moved != side:
                if side == 0:
                    return op, True
                crossed = crossed or (op, False)
    return crossed


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


def _data_and_kink_sides(out: Value) -> Probe:
    return out.data, _kink_sides(out)


def _analytic_grads(root: Value, inputs: list[Value]) -> list[float]:
    """d root / d input from one backward(); every node's .grad is put back afterwards."""
    with preserved_grads(root, inputs) as nodes:
        for node in nodes:
            node.grad = 0.0
        root.backward()
        return [x.grad for x in inputs]


def _kink_sides(root: Value) -> tuple[tuple[str, int], ...]:
    """For each argument of each op with kinks: the op and -1, 0 or 1 as the argument is
    below, on or above the kink."""
    sides = []
    for node in topological_order(root):
        for kink in node.op.kinks if node.op is not None else ():
            sides.extend((node.op.name, (p.data > kink) - (p.data < kink))
                         for p in node.parents)
    return tuple(sides)


def _unlisted_kink(f0: float, f_m2: float, f_m1: float, f_p1: float, f_p2: float, h: float,
                   analytic: float, atol: float, rtol: float) -> bool:
    """A kink the op table does not list: the left and right slopes differ, and the
    analytic gradient lies between them (a subgradient; outside them it is just wrong)."""
    # NOTE: second-order one-sided differences, so curvature alone (x**2 at its minimum)
    # does not make the two slopes differ; rounding in f moves each by ~|f| * 2^-52 / h.
    left = _one_sided(f0, f_m1, f_m2, -h)
    right = _one_sided(f0, f_p1, f_p2, h)
    tol = atol + rtol * max(abs(left), abs(right)) + 8 * sys.float_info.epsilon * abs(f0) / h
    if abs(left - right) <= tol:
        return False
    return min(left, right) - tol <= analytic <= max(left, right) + tol


def _close(value: float, reference: float, atol: float, rtol: float) -> bool:
    return abs(value - reference) <= atol + rtol * abs(reference)


def _row(label: str, value: float, analytic: float, numeric: float, step: float,
         nondifferentiable: str, atol: float, rtol: float) -> GradcheckRow:
    """The row's errors and status; `nondifferentiable` is the reason not to check, or ""."""
    abs_error = abs(analytic - numeric)
    if numeric:
        rel_error = abs_error / abs(numeric)
    else:
        rel_error = 0.0 if abs_error == 0.0 else math.inf
    if nondifferentiable:
        status = NONDIFFERENTIABLE
    else:
        status = OK if _close(analytic, numeric, atol, rtol) else FAIL
    return GradcheckRow(label, value, analytic, numeric, abs_error, rel_error, status, step,
                        nondifferentiable)


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
