"""The one table of op test cases: each engine op with a reference forward, its
closed-form partials and second partials, and a domain clear of kinks and poles.

test_engine checks values and gradients against these; test_gradcheck runs the
library's gradcheck over the same table; test_higher checks second derivatives against
the closed-form Hessians; a completeness test fails if an op in engine.OPS has no case.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

from micrograd_ann import Value, dot, sum_values


class Case(NamedTuple):
    name: str  # a test id; `op` is the engine.OPS entry it covers
    op: str
    fn: Callable[..., Value]  # Values in, Value out
    ref: Callable[..., float]  # floats in, float out (from math, not the engine)
    grads: Callable[..., Sequence[float]]  # closed-form partials, one per input
    domain: Sequence[tuple[float, float]]  # (low, high) for each input
    hessian: Callable[..., Sequence[Sequence[float]]]  # closed-form second partials


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _zero(*inputs: float) -> list[list[float]]:
    """The Hessian of a linear op (add, sum) or a piecewise linear one (relu, abs)."""
    return [[0.0] * len(inputs) for _ in inputs]


def _powv_hessian(a: float, b: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """a^b: d2/da2 = b(b-1) a^(b-2), d2/da db = a^(b-1) (1 + b ln a), d2/db2 = a^b ln^2 a."""
    mixed = a ** (b - 1) * (1 + b * math.log(a))
    return ((b * (b - 1) * a ** (b - 2), mixed), (mixed, a**b * math.log(a) ** 2))


def _dot_hessian(w0: float, w1: float, x0: float, x1: float, b: float) -> list[list[float]]:
    """w . x + b, inputs in the order w0, w1, x0, x1, b: only d2/dw_i dx_i = 1."""
    h = _zero(w0, w1, x0, x1, b)
    for w, x in ((0, 2), (1, 3)):
        h[w][x] = h[x][w] = 1.0
    return h


CASES = [
    Case("add", "add", lambda a, b: a + b, lambda a, b: a + b,
         lambda a, b: (1.0, 1.0), [(-3, 3), (-3, 3)],
         hessian=lambda a, b: ((0, 0), (0, 0))),
    Case("mul", "mul", lambda a, b: a * b, lambda a, b: a * b,
         lambda a, b: (b, a), [(-3, 3), (-3, 3)],
         hessian=lambda a, b: ((0, 1), (1, 0))),
    Case("div", "div", lambda a, b: a / b, lambda a, b: a / b,
         lambda a, b: (1 / b, -a / b**2), [(-3, 3), (0.2, 3)],
         hessian=lambda a, b: ((0, -1 / b**2), (-1 / b**2, 2 * a / b**3))),
    Case("rdiv", "div", lambda a: 2.0 / a, lambda a: 2.0 / a,
         lambda a: (-2.0 / a**2,), [(-3, -0.2)],
         hessian=lambda a: ((4.0 / a**3,),)),
    Case("pow3", "pow", lambda a: a**3, lambda a: a**3,
         lambda a: (3 * a**2,), [(-2, 2)],
         hessian=lambda a: ((6 * a,),)),
    Case("pow_half", "pow", lambda a: a**0.5, lambda a: math.sqrt(a),
         lambda a: (0.5 / math.sqrt(a),), [(0.1, 5)],
         hessian=lambda a: ((-0.25 * a**-1.5,),)),
    Case("pow_neg", "pow", lambda a: a**-2, lambda a: a**-2,
         lambda a: (-2 * a**-3,), [(0.2, 3)],
         hessian=lambda a: ((6 * a**-4,),)),
    Case("powv", "powv", lambda a, b: a**b, lambda a, b: a**b,
         lambda a, b: (b * a ** (b - 1), a**b * math.log(a)), [(0.2, 3), (-2, 2)],
         hessian=_powv_hessian),
    Case("exp", "exp", lambda a: a.exp(), math.exp, lambda a: (math.exp(a),), [(-5, 5)],
         hessian=lambda a: ((math.exp(a),),)),
    Case("log", "log", lambda a: a.log(), math.log, lambda a: (1 / a,), [(0.05, 10)],
         hessian=lambda a: ((-1 / a**2,),)),
    Case("tanh", "tanh", lambda a: a.tanh(), math.tanh,
         lambda a: (1 / math.cosh(a) ** 2,), [(-4, 4)],
         hessian=lambda a: ((-2 * math.tanh(a) / math.cosh(a) ** 2,),)),
    Case("sigmoid", "sigmoid", lambda a: a.sigmoid(), _sig,
         lambda a: (_sig(a) * (1 - _sig(a)),), [(-8, 8)],
         hessian=lambda a: ((_sig(a) * (1 - _sig(a)) * (1 - 2 * _sig(a)),),)),
    Case("relu_pos", "relu", lambda a: a.relu(), lambda a: max(a, 0.0),
         lambda a: (1.0,), [(0.05, 3)],
         hessian=_zero),
    Case("relu_neg", "relu", lambda a: a.relu(), lambda a: max(a, 0.0),
         lambda a: (0.0,), [(-3, -0.05)],
         hessian=_zero),
    Case("leaky_relu_neg", "leaky_relu", lambda a: a.leaky_relu(0.1),
         lambda a: 0.1 * a, lambda a: (0.1,), [(-3, -0.05)],
         hessian=_zero),
    Case("leaky_relu_pos", "leaky_relu", lambda a: a.leaky_relu(0.1),
         lambda a: a, lambda a: (1.0,), [(0.05, 3)],
         hessian=_zero),
    Case("abs_neg", "abs", lambda a: a.abs(), abs, lambda a: (-1.0,), [(-3, -0.05)],
         hessian=_zero),
    Case("abs_pos", "abs", lambda a: a.abs(), abs, lambda a: (1.0,), [(0.05, 3)],
         hessian=_zero),
    Case("sqrt", "sqrt", lambda a: a.sqrt(), math.sqrt,
         lambda a: (0.5 / math.sqrt(a),), [(0.05, 9)],
         hessian=lambda a: ((-0.25 * a**-1.5,),)),
    Case("sum", "sum", lambda a, b, c: sum_values([a, b, c]), lambda a, b, c: a + b + c,
         lambda a, b, c: (1.0, 1.0, 1.0), [(-3, 3)] * 3,
         hessian=_zero),
    Case("dot", "dot", lambda w0, w1, x0, x1, b: dot([w0, w1], [x0, x1], b),
         lambda w0, w1, x0, x1, b: w0 * x0 + w1 * x1 + b,
         lambda w0, w1, x0, x1, b: (x0, x1, w0, w1, 1.0), [(-2, 2)] * 5,
         hessian=_dot_hessian),
]

# Operators composed from the primitives: no rule of their own, same checks.
COMPOSED = [
    Case("neg", "mul", lambda a: -a, lambda a: -a, lambda a: (-1.0,), [(-3, 3)],
         hessian=_zero),
    Case("sub", "add", lambda a, b: a - b, lambda a, b: a - b,
         lambda a, b: (1.0, -1.0), [(-3, 3), (-3, 3)],
         hessian=_zero),
    Case("div", "mul", lambda a, b: a / b, lambda a, b: a / b,
         lambda a, b: (1 / b, -a / b**2), [(-3, 3), (0.2, 3)],
         hessian=lambda a, b: ((0, -1 / b**2), (-1 / b**2, 2 * a / b**3))),
    Case("rsub", "add", lambda a: 2 - a, lambda a: 2 - a, lambda a: (-1.0,), [(-3, 3)],
         hessian=_zero),
    Case("rdiv", "mul", lambda a: 2 / a, lambda a: 2 / a, lambda a: (-2 / a**2,), [(0.2, 3)],
         hessian=lambda a: ((4 / a**3,),)),
    Case("rpow", "powv", lambda a: 2**a, lambda a: 2**a,
         lambda a: (2**a * math.log(2),), [(-3, 3)],
         hessian=lambda a: ((2**a * math.log(2) ** 2,),)),
]
