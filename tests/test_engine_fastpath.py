"""The engine's hot paths against the table they specialise: dot() against OPS["dot"],
the one- and two-input branches of Value._apply against each op's own rule, backward()'s
loop (which skips zero-gradient nodes) bit for bit against a plain reference loop and
_backward_walk, is_number's shortcut against the ABC check, and Module.parameters()
without names against named_parameters()."""

from __future__ import annotations

import math
import numbers
import random
import struct
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import CASES

from micrograd_ann import MLP, OPS, OpOverflowError, Value, dot, engine, topological_order
from micrograd_ann.nn import Layer, Module, Neuron

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


def _reference_backward(root: Value, grad: float = 1.0) -> None:
    """The textbook loop, no shortcuts: reset inner grads, seed, zip every node."""
    order = topological_order(root)
    for node in order:
        if node.parents:
            node.grad = 0.0
    root.grad += grad
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


# ------------------------------------------------------ backward's zero-gradient skip
# backward() skips a many-input node whose grad is 0 when every partial is finite (each
# edge would add a zero). The fuzz builds graphs straight from engine._node with partials
# it chooses -- zeros, -0.0, inf and nan among them -- and stale grads everywhere, and
# compares every grad bit for bit (the sign of a zero and NaNs included) with the plain loop.


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


EDGES = st.sampled_from([0.0, -0.0, 1.0, -2.5, 1e308, -5e-324, math.inf, -math.inf, math.nan])
PARTIALS = st.one_of(st.just(0.0), st.just(0.0), EDGES, st.floats(-4, 4))
GRADS = st.one_of(st.just(0.0), st.just(-0.0), EDGES, st.floats(-4, 4))
SEEDS = st.sampled_from([1.0, -0.5, 0.0, -0.0, 3e300, math.inf])
# a rule of its own is never run here: each node is made with the partials drawn for it
_GIVEN = engine.Op("given", "given", lambda *a: 0.0, lambda *a: ())


@st.composite
def graphs(draw) -> list[Value]:
    """Leaves, then nodes of 1-4 inputs (repeats allowed) on earlier ones; stale grads."""
    nodes = [Value(0.0) for _ in range(draw(st.integers(1, 5)))]
    for _ in range(draw(st.integers(1, 25))):
        parents = tuple(draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=4)))
        partials = tuple(draw(PARTIALS) for _ in parents)
        nodes.append(engine._node(_GIVEN, parents, (), 0.0, partials))
    for node in nodes:
        node.grad = draw(GRADS)
    return nodes


def _grads_after(nodes: list[Value], run) -> list[bytes]:
    """Every node's grad, as bits, after `run` twice (leaves add up, inner grads reset),
    starting from the grads the nodes hold now, which are put back afterwards."""
    start = [node.grad for node in nodes]
    run()
    run()
    after = [_bits(node.grad) for node in nodes]
    for node, grad in zip(nodes, start):
        node.grad = grad
    return after


@settings(max_examples=400, deadline=None)
@given(graphs(), SEEDS)
def test_backward_with_skips_equals_the_plain_loop_bit_for_bit(nodes, seed):
    root = nodes[-1]
    reference = _grads_after(nodes, lambda: _reference_backward(root, seed))
    assert _grads_after(nodes, lambda: root.backward(seed)) == reference
    walked = _grads_after(nodes, lambda: list(engine._backward_walk(root, seed)))
    assert walked == reference  # the stepper's path: trace.backward_steps, anomaly mode


def test_a_zero_grad_still_carries_nan_through_an_infinite_partial():
    w, x = Value(-1.0), Value(math.inf)
    out = dot([w], [x]).relu()  # relu(-inf) is off: the dot's grad is 0, its d/dw = x = inf
    out.backward()
    assert math.isnan(w.grad)  # 0 * inf, as the plain loop gives
    assert x.grad == 0.0


def _dead_product() -> tuple[Value, Value, Value]:
    """a * b behind a relu that is off, so the product's grad is 0 (a plain 0.0)."""
    a, b = Value(2.0), Value(3.0)
    return a, b, (a * b * -1.0).relu()


def test_a_skipped_node_adds_nothing_so_a_leaf_keeps_minus_zero():
    a, _, out = _dead_product()
    product = out.parents[0].parents[0]
    a.grad = -0.0
    engine._propagate([product], skip_zeros=True)  # grad 0, partials (3, 2): skipped
    assert _bits(a.grad) == _bits(-0.0)
    engine._propagate([product])  # the plain rule adds 0.0 * 3.0: -0.0 + 0.0 is 0.0
    assert _bits(a.grad) == _bits(0.0)


def test_a_leaf_grad_of_minus_zero_turns_the_skip_off():
    a, b, out = _dead_product()
    assert engine._backward_order(out, 1.0)[1] is True
    a.grad = -0.0
    assert engine._backward_order(out, 1.0)[1] is False
    out.backward()
    assert _bits(a.grad) == _bits(0.0) and _bits(b.grad) == _bits(0.0)  # as the plain loop


@pytest.mark.parametrize("seed", range(3))
def test_a_network_with_dead_units_and_infinities_matches_the_plain_loop(seed):
    rng = random.Random(seed)
    model = MLP(3, [6, 6, 1], seed=seed)
    inputs = [[rng.uniform(-2, 2), rng.choice([rng.uniform(-2, 2), math.inf, -math.inf]),
               rng.uniform(-2, 2)] for _ in range(8)]
    losses = [(1 + -rng.choice([-1.0, 1.0]) * model(x)).relu() for x in inputs]
    root = sum(losses) * (1.0 / len(losses))
    nodes = topological_order(root)
    assert any(not math.isfinite(n.data) for n in nodes) and \
        any(n.grad == 0.0 for n in nodes)  # the graph has both kinds of edge
    reference = _grads_after(nodes, lambda: _reference_backward(root))
    assert _grads_after(nodes, root.backward) == reference


# -------------------------------------------------------- is_number and parameters()


@pytest.mark.parametrize("x", [0, 7, -3, 10**400, 1.5, -0.0, math.inf, math.nan, True, False,
                               Fraction(1, 3), Decimal("1.5"), 1 + 0j, "1", None, [1.0]],
                         ids=repr)
def test_is_number_shortcut_agrees_with_the_abc_check(x):
    assert engine.is_number(x) == (isinstance(x, numbers.Real) and not isinstance(x, bool))


@pytest.mark.parametrize("module", [MLP(2, [3, 2], seed=0), Layer(3, 4, seed=0),
                                    Neuron(5, seed=0), MLP(2, [16, 16, 1], seed=1)],
                         ids=repr)
def test_parameters_are_named_parameters_without_the_names(module):
    expected = [p for _, p in module.named_parameters()]
    assert module.parameters() == expected  # Values compare by identity
    assert Module.parameters(module) == expected
    assert len(set(map(id, expected))) == len(expected)
