"""The engine's hot paths against the table they specialise: dot() and a Layer's fused
neurons (dot + activation in one call) against OPS["dot"] and the activation's entry,
+ and * written out against their entries, the one- and two-input branches of
Value._apply against each op's own rule, backward()'s loop (which skips zero-gradient
nodes, a dot by its value) bit for bit against a plain reference loop and _backward_walk,
is_number's shortcut against the ABC check, and Module.parameters() without names against
named_parameters()."""

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
from micrograd_ann.nn import Layer, Module, Neuron, _as_inputs

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


def _bits(x: float) -> bytes:
    """x's bits, so that 0.0 and -0.0 differ; every NaN is one value here. CPython gives
    nan + nan the sign of either operand depending on which of its two float additions
    runs (the interpreter's inlined one once a line is hot, or float.__add__), so a NaN's
    sign is not part of what the engine promises; being NaN is."""
    return b"nan" if x != x else struct.pack("<d", x)


# Non-finite operands too: every fast path must give the table's bits (NaN as NaN).
ANY_FLOAT = st.one_of(finite, st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan,
                                               1e300, -1e300, 5e-324]))


def _same_node(fast: Value, data: float, partials: tuple, op: str, parents: tuple) -> None:
    assert _bits(fast.data) == _bits(data), (fast.data, data)
    assert list(map(_bits, fast.partials)) == list(map(_bits, partials))
    assert fast.op is OPS[op] and fast.params == () and fast.parents == parents


def _table(op: str, *args: float) -> tuple[float, tuple]:
    """(value, partials) by the table's own rule, or the error class it raises."""
    out = OPS[op].forward(*args)
    return out, OPS[op].partials(*args, out)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.lists(ANY_FLOAT, min_size=n, max_size=n), st.lists(ANY_FLOAT, min_size=n, max_size=n),
    st.one_of(st.none(), ANY_FLOAT))),
    st.sampled_from([None, "relu", "tanh", "sigmoid"]))
def test_a_fused_neuron_is_the_table_dot_then_the_tables_activation(wxb, activation):
    w, x, b = wxb
    ws, xs = [Value(v) for v in w], [Value(v) for v in x]
    bias = None if b is None else Value(b)
    args = [*w, *x] if b is None else [*w, *x, b]
    z, dz = _table("dot", *args)
    if all(map(math.isfinite, args)) and not math.isfinite(z):  # finite operands overflowed
        with pytest.raises(OpOverflowError, match="dot"):
            engine.fused_neuron(ws, xs, bias, x, None if activation is None else OPS[activation])
        return
    out = engine.fused_neuron(ws, xs, bias, x, None if activation is None else OPS[activation],
                              module="layers.0.neurons.3")
    folded = engine._is_folded(out)
    assert folded == (activation is not None and math.isfinite(z))
    node = out if activation is None else out.parents[0]  # a folded one unfolds here
    assert not engine._is_folded(out) and not engine._is_folded(node)
    _same_node(node, z, dz, "dot", (*ws, *xs) if b is None else (*ws, *xs, bias))
    assert node.module == out.module == "layers.0.neurons.3"
    if activation is not None:
        _same_node(out, *_table(activation, z), activation, (node,))
        # next to each other, as dot() then .relu() makes them (every node takes an even
        # id; a folded neuron's dot, made later, the odd one below its output's)
        assert out.id == node.id + (1 if folded else 2)


@pytest.mark.parametrize("x", [0.0, -0.0, 2.5, -2.5, math.inf, -math.inf, math.nan], ids=repr)
def test_a_fused_relu_matches_value_relu_at_the_kink_and_beyond(x):
    w = [Value(1.0)]
    fast = engine.fused_neuron(w, [Value(x)], None, [x], OPS["relu"])
    slow = dot(w, [Value(x)]).relu()
    assert _bits(fast.data) == _bits(slow.data) and fast.partials == slow.partials


@settings(max_examples=300, deadline=None)
@given(ANY_FLOAT, ANY_FLOAT, st.sampled_from(["add", "mul"]))
def test_add_and_mul_written_out_give_the_tables_bits(a, b, op):
    va, vb = Value(a), Value(b)
    out, partials = _table(op, a, b)
    if not math.isfinite(out) and math.isfinite(a) and math.isfinite(b):
        with pytest.raises(OpOverflowError, match=op):
            va + vb if op == "add" else va * vb
        return
    _same_node(va + vb if op == "add" else va * vb, out, partials, op, (va, vb))


@pytest.mark.parametrize("x", [2, -0.0, 1.5, math.inf, math.nan, True and 3, Fraction(1, 4)],
                         ids=repr)
def test_a_number_in_an_operator_becomes_the_leaf_value_would_make(x):
    v = Value(1.0)
    leaf = (v + x).parents[1]
    made = Value(x)
    for slot in ("grad", "label", "op", "parents", "partials", "params", "module"):
        assert getattr(leaf, slot) == getattr(made, slot), slot
    assert _bits(leaf.data) == _bits(made.data) and leaf.id < made.id


def test_a_dot_with_a_finite_value_has_finite_partials():
    # backward's skip reads a dot's value instead of summing its partials, so a finite
    # value must mean every partial (inputs, weights, the bias's 1) is finite. The other
    # way round need not hold (an infinite bias has partial 1): that node is not skipped.
    specials = [0.0, -0.0, 1.0, -3.0, 1e300, math.inf, -math.inf, math.nan]
    for w in specials:
        for x in specials:
            for b in [None, 0.0, math.inf, math.nan]:
                try:
                    node = dot([Value(w)], [Value(x)], None if b is None else Value(b))
                except OpOverflowError:
                    continue  # finite operands whose value overflowed: no node to skip
                if math.isfinite(node.data):
                    assert all(map(math.isfinite, node.partials)), (w, x, b)


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
# edge would add a zero; a dot's partials are known finite from its value). The fuzz
# builds graphs straight from engine._node with partials it chooses -- zeros, -0.0, inf
# and nan among them -- or from dots, relus, + and * on leaves that hold such numbers,
# with stale grads everywhere, and compares every grad bit for bit (the sign of a zero
# and NaNs included) with the plain loop.


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


@st.composite
def networks(draw):
    """A recipe for leaves (finite, infinite, nan, signed zeros) feeding dots, relus, +,
    * and a Layer's neurons (folded: one object until the graph is read), the nodes a
    training step is made of, with stale grads on every node; each call of the returned
    function builds the graph afresh (unfolding cannot be undone: each run needs its own)."""
    leaves = [draw(ANY_FLOAT) for _ in range(draw(st.integers(2, 6)))]
    steps, size = [], len(leaves)
    for _ in range(draw(st.integers(1, 12))):
        pick = st.integers(0, size - 1)
        kind = draw(st.sampled_from(["dot", "neuron", "neuron", "relu", "add", "mul"]))
        if kind in ("dot", "neuron"):
            n = draw(st.integers(1, 3))
            args = (draw(st.lists(pick, min_size=n, max_size=n)),
                    draw(st.lists(pick, min_size=n, max_size=n)),
                    draw(st.one_of(st.none(), pick)),
                    draw(st.booleans() if kind == "dot" else
                         st.sampled_from(["relu", "relu", "tanh", "sigmoid"])))
        else:
            args = (draw(pick), draw(pick))
        steps.append((kind, args))
        size += 1
    grads = draw(st.lists(GRADS, min_size=size, max_size=size))

    def build() -> list[Value]:
        nodes = [Value(v) for v in leaves]
        for kind, (a, b, *rest) in steps:
            try:
                if kind in ("dot", "neuron"):
                    ws, xs = [nodes[i] for i in a], [nodes[i] for i in b]
                    bias = None if rest[0] is None else nodes[rest[0]]
                    if kind == "dot":
                        node = dot(ws, xs, bias)
                        node = node.relu() if rest[1] else node
                    else:
                        node = engine.fused_neuron(ws, xs, bias, [x.data for x in xs],
                                                   OPS[rest[1]])
                elif kind == "relu":
                    node = nodes[a].relu()
                else:
                    node = nodes[a] + nodes[b] if kind == "add" else nodes[a] * nodes[b]
            except OpOverflowError:
                node = Value(0.0)  # keeps the recipe's indices; as made, every build alike
            nodes.append(node)
        for node, grad in zip(nodes, grads):
            node.grad = grad
        return nodes

    return build


def _every_node(nodes: list[Value]) -> list[Value]:
    """nodes and everything they depend on, folded neurons unfolded, in creation order."""
    return sorted({n: None for node in nodes for n in topological_order(node)},
                  key=lambda n: n.id)


def _all_grads(nodes: list[Value]) -> list[bytes]:
    """The grad of every node in the graphs of `nodes`, as bits, in creation order."""
    return [_bits(node.grad) for node in _every_node(nodes)]


def _hand_made(nodes: list[Value]):
    """One graph for every run (it has no folded node); each run starts from its grads."""
    start = [node.grad for node in nodes]

    def build() -> list[Value]:
        for node, grad in zip(nodes, start):
            node.grad = grad
        return nodes

    return build


@settings(max_examples=600, deadline=None)
@given(st.one_of(graphs().map(_hand_made), networks()), SEEDS)
def test_backward_with_skips_equals_the_plain_loop_bit_for_bit(build, seed):
    def grads(run, stays_folded=False):
        nodes = build()
        folded = [node for node in nodes if engine._is_folded(node)]
        run(nodes[-1])
        if stays_folded:  # backward() runs a folded neuron's two nodes without making them
            assert all(engine._is_folded(node) for node in folded)
        run(nodes[-1])  # twice: leaves add up, inner grads reset
        return _all_grads(nodes)

    reference = grads(lambda root: _reference_backward(root, seed))  # unfolds first
    assert grads(lambda root: root.backward(seed), stays_folded=True) == reference
    walked = grads(lambda root: list(engine._backward_walk(root, seed)))
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


def _dead_and_infinite_network(seed: int) -> Value:
    """The mean hinge loss of an MLP on inputs some of which are infinite."""
    rng = random.Random(seed)
    model = MLP(3, [6, 6, 1], seed=seed)
    inputs = [[rng.uniform(-2, 2), rng.choice([rng.uniform(-2, 2), math.inf, -math.inf]),
               rng.uniform(-2, 2)] for _ in range(8)]
    losses = [(1 + -rng.choice([-1.0, 1.0]) * model(x)).relu() for x in inputs]
    return sum(losses) * (1.0 / len(losses))


@pytest.mark.parametrize("seed", range(3))
def test_a_network_with_dead_units_and_infinities_matches_the_plain_loop(seed):
    plain, fast = _dead_and_infinite_network(seed), _dead_and_infinite_network(seed)
    nodes = topological_order(plain)
    assert any(not math.isfinite(n.data) for n in nodes) and \
        any(n.grad == 0.0 for n in nodes)  # the graph has both kinds of edge
    for _ in range(2):
        _reference_backward(plain)
        fast.backward()  # its neurons with a finite pre-activation are folded
    assert _all_grads([fast]) == _all_grads([plain])


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


# -------------------------------------------------------------------- a Layer's call


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear", "leaky_relu"])
@pytest.mark.parametrize("fused", [True, False])
def test_a_layer_makes_what_its_neurons_make_one_by_one(activation, fused):
    layer = Layer(3, 4, activation, seed=5, fused=fused, name="layers.1")
    layer.neurons[2].activation = "tanh"  # a neuron changed after the layer was built
    x = [Value(0.7), Value(-1.2), Value(0.0)]
    fast = layer.outputs(x)
    slow = [n._forward(x, [v.data for v in x]) for n in layer.neurons]
    for a, b in zip(fast, slow):
        mine, theirs = topological_order(a), topological_order(b)
        assert len(mine) == len(theirs)
        for u, v in zip(mine, theirs):
            if not u.parents:
                assert u is v  # the same leaves: weights, bias, inputs
                continue
            assert (u.op, u.params, u.module, u.label) == (v.op, v.params, v.module, v.label)
            assert _bits(u.data) == _bits(v.data) and u.partials == v.partials


@pytest.mark.parametrize("x", [(Value(1.0), Value(2.0)), [Value(1.0), 2, 3.5], [1.0, 2.0]],
                         ids=["tuple of Values", "mixed", "numbers"])
def test_inputs_that_are_all_values_are_taken_as_they_are(x):
    got = _as_inputs(x)
    assert isinstance(got, list) and len(got) == len(x)
    for given_, value in zip(x, got):
        if isinstance(given_, Value):
            assert value is given_
        else:
            assert value.data == given_ and not value.parents


def test_a_wrong_input_still_names_its_position():
    with pytest.raises(TypeError, match="input x1 must be a number or a Value"):
        _as_inputs([Value(1.0), "2"])


# ------------------------------------------------------------------ folded neurons
# A Layer's neuron with relu, tanh or sigmoid is one folded Value until the graph is
# read: reading parents or partials (topological_order, every tool) makes its dot. Each
# test compares it with dot(...).relu(), the two nodes it stands for.


def _twins(activation: str, w=(0.5, -1.5), x=(2.0, 0.25), b=0.125, fold=True):
    """The same neuron twice on shared leaves: folded (or not, with fold=False), then as
    dot() and the activation."""
    ws, xs, bias = [Value(v) for v in w], [Value(v) for v in x], Value(b)
    if fold:
        first = engine.fused_neuron(ws, xs, bias, list(x), OPS[activation], "neurons.0")
        assert engine._is_folded(first)
    else:
        first = getattr(dot(ws, xs, bias), activation)()
    plain = getattr(dot(ws, xs, bias), activation)()
    return [*ws, *xs, bias], first, plain


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("when", ["before", "between", "after"])
@pytest.mark.parametrize("b", [0.125, -5.0], ids=["on", "off"])
def test_a_folded_neuron_has_the_grads_its_two_nodes_would_have(activation, when, b):
    leaves, folded, plain = _twins(activation, b=b)
    root = folded * 3.0 + plain * -2.0  # each leaf gets both neurons' contributions
    if when == "before":
        assert _bits(folded.parents[0].grad) == _bits(0.0)  # as dot() makes it
    root.backward()
    if when == "between":
        folded.parents  # noqa: B018 (unfolds)
    root.backward()
    assert (engine._is_folded(folded)) == (when == "after")  # backward keeps it so
    dot_f, dot_p = folded.parents[0], plain.parents[0]
    assert not engine._is_folded(folded) and not engine._is_folded(dot_f)  # read: unfolded
    assert [_bits(v.grad) for v in (folded, dot_f)] == \
        [_bits(3.0), _bits(3.0 * plain.partials[0])]
    assert _bits(plain.grad) == _bits(-2.0) and dot_f.partials == dot_p.partials
    assert dot_f.data == dot_p.data and dot_f.module == folded.module == "neurons.0"
    # every leaf's grad: the folded neuron's part and the plain one's, exactly as two
    # plain neurons would add them (the folded one's edges come first: it was made first)
    again, first, second = _twins(activation, b=b, fold=False)
    root2 = first * 3.0 + second * -2.0
    _reference_backward(root2)
    _reference_backward(root2)
    assert [_bits(v.grad) for v in leaves] == [_bits(v.grad) for v in again]


def test_a_folded_neuron_reads_as_its_two_nodes_everywhere():
    leaves, folded, plain = _twins("relu")
    assert folded._prev == {folded.parents[0]}  # micrograd's name unfolds too
    dot_f = folded.parents[0]
    assert dot_f.id == folded.id - 1 and dot_f.id % 2 == 1  # just below its output
    assert [n.op.name for n in topological_order(folded) if n.op] == ["dot", "relu"]
    assert [n.id for n in topological_order(folded)] == \
        sorted(n.id for n in topological_order(folded))


def test_micrograds_backward_step_on_a_folded_neuron_reaches_its_dot_only():
    leaves, folded, _ = _twins("relu")
    folded.grad = 2.0
    folded._backward()
    assert folded.parents[0].grad == 2.0 and all(v.grad == 0.0 for v in leaves)


def test_a_folded_graph_pickles_as_its_unfolded_graph():
    import pickle

    _, folded, plain = _twins("tanh")
    copy = pickle.loads(pickle.dumps(folded))
    assert [(n.op and n.op.name, n.data) for n in topological_order(copy)] == \
        [(n.op and n.op.name, n.data) for n in topological_order(plain)]


def test_anomaly_mode_sees_every_node_so_nothing_is_folded(monkeypatch):
    seen = []
    monkeypatch.setattr(engine, "_on_create", seen.append)
    w, x = Value(1.5), Value(2.0)
    out = engine.fused_neuron([w], [x], None, [2.0], OPS["relu"])
    assert not engine._is_folded(out) and seen == [w, x, out.parents[0], out]


def test_a_non_finite_pre_activation_is_not_folded():
    # the overflow checks and the NaN rules then run as they do for two plain nodes
    for x in [math.inf, -math.inf, math.nan]:
        out = engine.fused_neuron([Value(1.0)], [Value(x)], None, [x], OPS["relu"])
        assert not engine._is_folded(out) and out.parents[0].op is OPS["dot"]


def test_threads_unfolding_one_neuron_make_one_dot(monkeypatch):
    import threading
    import time

    _, folded, _ = _twins("sigmoid")
    make = engine._node

    def slow_node(*args, **kwargs):  # widens the window in which another thread could
        time.sleep(0.01)             # find the neuron still folded and make a second dot
        return make(*args, **kwargs)

    monkeypatch.setattr(engine, "_node", slow_node)
    start, dots = threading.Barrier(8), []

    def read():
        start.wait()
        dots.append(folded.parents[0])

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(dots) == 8 and len(set(map(id, dots))) == 1 and dots[0].op is OPS["dot"]


def test_a_layers_folded_outputs_feed_the_next_layer_as_they_are():
    model = MLP(2, [3, 3, 1], seed=0)
    hidden = model.layers[0].outputs([0.5, -1.0])
    assert all(engine._is_folded(h) for h in hidden)
    assert _as_inputs(hidden) == hidden  # the one-check path, no copies
    out = model.layers[1].outputs(hidden)
    assert all(engine._is_folded(h) for h in hidden)  # reading data keeps them folded
    # unfolded: out and its dot, 3 w and b, per hidden unit its 2 nodes, 2 w and b, 2 inputs
    assert len(topological_order(out[0])) == 2 + 4 + 3 * (2 + 3) + 2
    assert not any(engine._is_folded(n) for n in topological_order(out[0]))
