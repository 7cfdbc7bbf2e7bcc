"""The engine's hot paths against the table they specialise: dot() against OPS["dot"],
the one- and two-input branches of Value._apply against each op's own rule, and
backward()'s plain loop against a plain reference backward and _backward_walk."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import CASES

from micrograd_ann import OPS, OpOverflowError, Value, dot, engine, topological_order

finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 20).flatmap(lambda n: st.tuples(
    st.lists(finite, min_size=n, max_size=n),
    st.lists(finite, min_size=n, max_size=n),
    st.one_of(st.none(), finite),
)))
def test_dot_equals_the_table_entry_bit_for_bit(wxb):
    w, x, b = wxb
    node = dot([Value(v) for v in w], [Value(v) for v in x], None if b is None else Value(b))
    args = [*w, *x] if b is None else [*w, *x, b]
    expected = OPS["dot"].forward(*args)
    assert node.data == expected, (w, x, b, node.data, expected)
    assert node.partials == OPS["dot"].partials(*args, expected)
    assert node.op.name == "dot" and node.params == ()
    assert len(node.parents) == len(node.partials) == len(args)


def test_dot_converts_numbers_and_keeps_operand_order():
    w = [Value(2.0), Value(-3.0)]
    node = dot(w, [0.5, 4], 1)
    assert node.data == 2.0 * 0.5 - 3.0 * 4 + 1  # -10.0
    assert node.parents[:2] == tuple(w)
    assert [p.data for p in node.parents[2:]] == [0.5, 4.0, 1.0]
    assert node.partials == (0.5, 4.0, 2.0, -3.0, 1.0)


def test_dot_overflow_raises_like_every_other_op():
    with pytest.raises(OpOverflowError, match=r"dot\(1e\+200, 1e\+200\)"):
        dot([Value(1e200)], [Value(1e200)])


def test_dot_and_unary_nodes_reach_the_creation_hook(monkeypatch):
    seen = []
    monkeypatch.setattr(engine, "_on_create", seen.append)
    a = Value(-1.5)
    d = dot([a], [a], a)
    r = d.relu()
    assert seen == [a, d, r]


# One- and two-input ops without params take Value._apply's short branches: each must
# run its own table entry, operands in order (powv and its partials are not symmetric).
SHORT = [case for case in CASES if len(case.domain) <= 2 and OPS[case.op].symbol.count("{}") == 0]


@pytest.mark.parametrize("case", SHORT, ids=lambda c: c.name)
def test_short_branches_run_the_table_entry(case):
    rng = random.Random(case.name)
    for _ in range(20):
        data = [rng.uniform(lo, hi) for lo, hi in case.domain]
        node = case.fn(*(Value(v) for v in data))
        rule = OPS[case.op]
        out = rule.forward(*data)
        assert node.op.name == case.op
        assert node.data == out
        assert node.partials == rule.partials(*data, out)
        assert node.partials == pytest.approx(case.grads(*data), rel=1e-12)


def test_short_branches_cover_relu_add_mul_and_powv():
    assert {c.op for c in SHORT} >= {"relu", "add", "mul", "powv", "tanh", "exp"}


def _reference_backward(root: Value) -> None:
    """The textbook loop, no shortcuts: reset inner grads, seed, zip every node."""
    order = topological_order(root)
    for node in order:
        if node.parents:
            node.grad = 0.0
    root.grad += 1.0
    for node in reversed(order):
        for parent, local in zip(node.parents, node.partials):
            parent.grad += node.grad * local


def _small_net(seed: int) -> tuple[list[Value], Value]:
    """A graph with every node shape: dot, relu/tanh (one input), +, *, sum, a**a."""
    rng = random.Random(seed)
    leaves = [Value(rng.uniform(-2, 2), f"p{i}") for i in range(6)]
    a, b, c, d, e, f = leaves
    h = [dot([a, b], [c, d], e).relu(), dot([c, f], [a, a]).tanh(), (a * b + c).sigmoid()]
    out = engine.sum_values(h) * f + d.abs() ** 1.5 + (a * a - 1.0).relu()
    return leaves, out


@pytest.mark.parametrize("seed", range(5))
def test_backward_equals_the_reference_loop(seed):
    leaves, out = _small_net(seed)
    out.backward()
    fast = [v.grad for v in topological_order(out)]
    for v in topological_order(out):
        v.grad = 0.0
    _reference_backward(out)
    assert [v.grad for v in topological_order(out)] == fast
    assert all(math.isfinite(g) for g in fast)


def test_backward_and_backward_walk_step_the_same_nodes(monkeypatch):
    _, out = _small_net(7)
    stepped = []
    monkeypatch.setattr(engine, "_on_step", stepped.append)
    out.backward()
    grads = [v.grad for v in topological_order(out)]
    monkeypatch.setattr(engine, "_on_step", None)
    walked = [node for node, _ in engine._backward_walk(out, 1.0)]
    assert stepped == walked
    assert walked[0] is out and all(node.parents for node in walked)
    # the walk reset the intermediates and added a second 1.0 seed into the leaves
    assert [v.grad if v.parents else v.grad / 2 for v in topological_order(out)] == \
        pytest.approx(grads, rel=1e-12)
