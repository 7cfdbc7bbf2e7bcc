"""Helpers shared by the test modules: one parity check, the tutorial's neuron, snapshots."""

from __future__ import annotations

import json
import math
import numbers
import re
from typing import Iterable, NamedTuple

from micrograd_ann import Value, dot, topological_order

SVG_NS = "{http://www.w3.org/2000/svg}"  # ElementTree's prefix for SVG tags

# ------------------------------------------------------------------------ parity


def assert_all_close(got: float | Iterable[float], want: float | Iterable[float], *,
                     rel: float, abs: float, what: str = "") -> None:
    """Assert each got[i] is within max(rel * |want[i]|, abs) of want[i] (pytest.approx's rule).

    Equal values (infinities too) pass, nan never does; a single number is a list of one.
    A failure names `what`, then every differing index with both numbers.
    """
    got, want = _as_list(got), _as_list(want)
    prefix = f"{what}: " if what else ""
    assert len(got) == len(want), f"{prefix}{len(got)} values, expected {len(want)}: {got} {want}"
    bad = [f"[{i}] got {g!r}, want {w!r}" for i, (g, w) in enumerate(zip(got, want))
           if not (g == w or math.fabs(g - w) <= max(rel * math.fabs(w), abs))]
    summary = f"{prefix}{len(bad)} of {len(got)} differ (rel={rel}, abs={abs}): "
    assert not bad, summary + "; ".join(bad)


def _as_list(values: float | Iterable[float]) -> list[float]:
    return [values] if isinstance(values, numbers.Real) else list(values)


# ------------------------------------------------------------- the tutorial neuron
# sigmoid(w . x + b) with x = [1, 5, 3], w = [0.2, 0.5, -0.1], b = 0.1: w . x + b = 2.5.

TUTORIAL_X = (1.0, 5.0, 3.0)
TUTORIAL_W = (0.2, 0.5, -0.1)
TUTORIAL_B = 0.1
TUTORIAL_OUT = 0.9241418199787566  # sigmoid(2.5); the tutorial printed 0.865, a misprint
TUTORIAL_SLOPE = 0.07010371654510807  # s(1 - s) at 2.5 = d out/d n; d out/d w_i = this * x_i


class TutorialNeuron(NamedTuple):
    x: list[Value]
    w: list[Value]
    b: Value
    n: Value  # w . x + b
    out: Value  # sigmoid(n)


def tutorial_leaves(labels: bool = True) -> tuple[list[Value], list[Value], Value]:
    """Leaves x, w and b, made in that order (creation order fixes names and listings)."""
    x = [Value(v, f"x{i}" if labels else "") for i, v in enumerate(TUTORIAL_X)]
    w = [Value(v, f"w{i}" if labels else "") for i, v in enumerate(TUTORIAL_W)]
    b = Value(TUTORIAL_B, "b" if labels else "")
    return x, w, b


def tutorial_neuron(labels: bool = True, fused: bool = True) -> TutorialNeuron:
    """The neuron before backward: n is one 'dot' node, or w_i * x_i products added then b.

    With labels, leaves are x0..x2, w0..w2, b and the nodes n and out; without, all blank.
    """
    x, w, b = tutorial_leaves(labels)
    if fused:
        n = dot(w, x, b)
    else:
        products = [wi * xi for wi, xi in zip(w, x)]
        n = products[0] + products[1] + products[2] + b
    out = n.sigmoid()
    if labels:
        n.label = "n"
        out.label = "out"
    return TutorialNeuron(x, w, b, n, out)


# ---------------------------------------------------------------------- snapshots


def grads_by_node(root: Value) -> dict[Value, float]:
    """Every node's grad, keyed by node in topological order."""
    return {node: node.grad for node in topological_order(root)}


def player_data(page: str) -> dict:
    """The JSON a player page embeds for its script (steps, units, ...)."""
    found = re.search(r'<script type="application/json" id="mg-data">(.*?)</script>', page)
    assert found is not None, "no <script id=\"mg-data\"> in the page"
    return json.loads(found.group(1))
