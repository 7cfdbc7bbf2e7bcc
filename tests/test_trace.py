"""Tests for trace.py: stepping through backward, breakpoints, explain and anomaly mode."""

from __future__ import annotations

import math
import random
import sys

import pytest
from helpers import TUTORIAL_SLOPE, grads_by_node, tutorial_neuron

from micrograd_ann import (
    Neuron,
    OpOverflowError,
    Value,
    dot,
    engine,
    sum_values,
    topological_order,
)
from micrograd_ann import trace
from micrograd_ann.trace import (AnomalyError, backward_steps, detect_anomaly, display_names,
                                 explain)


def _next_line() -> int:
    """The line number just below the caller's line: where the tested statement sits."""
    return sys._getframe(1).f_lineno + 1


def _random_graph(seed: int) -> Value:
    """A random expression over a few leaves, reusing nodes (and the same node twice)."""
    rng = random.Random(seed)
    pool = [Value(rng.uniform(-2, 2), f"x{i}") for i in range(4)]
    unary = [Value.tanh, Value.sigmoid, Value.relu, lambda v: v.leaky_relu(0.1),
             lambda v: v**2, lambda v: -v]
    binary = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b,
              lambda a, b: a * a + b]
    for _ in range(25):
        kind = rng.random()
        if kind < 0.3:
            node = rng.choice(unary)(rng.choice(pool))
        elif kind < 0.8:
            node = rng.choice(binary)(rng.choice(pool), rng.choice(pool))
        elif kind < 0.9:
            node = sum_values(rng.sample(pool, 3))
        else:
            node = dot(rng.sample(pool, 2), rng.sample(pool, 2), rng.choice(pool))
        if abs(node.data) > 5:  # keep values moderate so no op can overflow
            node = node.tanh()
        pool.append(node)
    return sum_values(pool[-6:])


def _grads(root: Value) -> list[float]:
    """Every node's grad in topological order: comparable across two builds of a graph."""
    return list(grads_by_node(root).values())


# ------------------------------------------------------------------- backward_steps


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("grad", [1.0, -0.5])
def test_steps_leave_the_same_gradients_as_backward(seed, grad):
    by_backward = _random_graph(seed)
    by_steps = _random_graph(seed)
    for _ in range(2):  # a second pass too: leaves accumulate, intermediates restart
        by_backward.backward(grad)
        steps = list(backward_steps(by_steps, grad))
        assert _grads(by_steps) == _grads(by_backward)
    assert len(steps) == sum(1 for node in topological_order(by_steps) if node.parents)
    assert [step.index for step in steps] == list(range(1, len(steps) + 1))
    assert {step.total for step in steps} == {len(steps)}


@pytest.mark.parametrize("seed", range(4))
def test_each_step_records_its_node_rule(seed):
    root = _random_graph(seed)
    for step in backward_steps(root, 2.0):
        assert step.op == step.node.op.name
        assert step.upstream == step.node.grad
        assert [u.node for u in step.inputs] == list(step.node.parents)
        assert [u.local for u in step.inputs] == list(step.node.partials)
        last = {}
        for update in step.inputs:
            assert update.contribution == step.upstream * update.local
            last[update.node] = update.grad
        assert all(grad == node.grad for node, grad in last.items())  # the final total


def test_a_repeated_input_shows_its_running_total():
    x = Value(3.0, "x")
    y = x * x
    (step,) = backward_steps(y)
    assert [u.grad for u in step.inputs] == [3.0, 6.0] and x.grad == 6.0
    lines = step.describe().splitlines()
    assert lines[1].endswith("(now 3)") and lines[2].endswith("(now 6)")


def test_steps_run_one_node_at_a_time_and_snapshot_gradients():
    x = Value(3.0, "x")
    y = x * x
    y.label = "y"
    z = y + x
    z.label = "z"
    steps = backward_steps(z)
    first = next(steps)
    assert (first.name, first.upstream) == ("z", 1.0)
    assert x.grad == 1.0  # only z's rule has run: dz/dx through the direct edge
    second = next(steps)
    assert (second.name, second.upstream) == ("y", 1.0)
    assert [u.contribution for u in second.inputs] == [3.0, 3.0]  # x * x keeps both edges
    assert next(steps, None) is None
    assert x.grad == 7.0  # 2x + 1
    assert first.inputs[1].grad == 1.0  # the snapshot, not the final 7


def test_leaf_root_has_no_steps():
    leaf = Value(2.0, "a")
    assert list(backward_steps(leaf, 3.0)) == []
    assert leaf.grad == 3.0


# ------------------------------------------------------------------------ break_if


def _tanh_net() -> tuple[Value, Value, Value]:
    x = Value(0.5, "x")
    w = Value(-2.0, "w")
    h1 = (x * w).tanh()
    h1.label = "h1"
    loss = h1 * Value(3.0, "c")
    loss.label = "loss"
    return loss, h1, x


def test_break_if_calls_breakpoint_with_the_step_local(monkeypatch):
    seen = []

    def hook(*args, **kwargs):
        step = sys._getframe(1).f_locals["step"]  # the frame breakpoint() was called in
        seen.append((step.name, step.upstream, step.inputs[0].node.grad))

    monkeypatch.setattr(sys, "breakpointhook", hook)
    loss, h1, x = _tanh_net()
    trace.backward(loss, break_if=lambda s: s.node.label == "h1")
    # d loss/d h1 = 3; the step is applied: its input (x*w) has 3 * (1 - tanh(-1)^2)
    assert seen == [("h1", 3.0, 3.0 * (1.0 - math.tanh(-1.0) ** 2))]
    assert x.grad == 3.0 * (1.0 - math.tanh(-1.0) ** 2) * -2.0


def test_break_if_true_breaks_on_every_step_and_backward_is_unchanged(monkeypatch):
    calls = []
    monkeypatch.setattr(sys, "breakpointhook", lambda: calls.append(1))
    with_breaks = _random_graph(7)
    plain = _random_graph(7)
    trace.backward(with_breaks, break_if=lambda s: True)
    plain.backward()
    assert _grads(with_breaks) == _grads(plain)
    assert len(calls) == sum(1 for node in topological_order(plain) if node.parents)


def test_break_if_goes_through_pythonbreakpoint(monkeypatch, tmp_path):
    (tmp_path / "trace_hook_probe.py").write_text(
        "import sys\nnames = []\n"
        "def stop():\n    names.append(sys._getframe(1).f_locals['step'].name)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONBREAKPOINT", "trace_hook_probe.stop")
    monkeypatch.setattr(sys, "breakpointhook", sys.__breakpointhook__)
    loss, _, _ = _tanh_net()
    trace.backward(loss, break_if=lambda s: s.op == "tanh")
    import trace_hook_probe

    assert trace_hook_probe.names == ["h1"]


def test_break_if_must_be_callable():
    loss, _, _ = _tanh_net()
    with pytest.raises(TypeError, match="break_if"):
        trace.backward(loss, break_if="h1")


# ------------------------------------------------------------------------- explain


def _words(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


def test_explain_the_seed_neuron():
    neuron = tutorial_neuron()
    out = neuron.out
    # s = sigmoid(2.5) = 0.924142; s(1 - s) = 0.0701037; d out/d w_i = 0.0701037 * x_i,
    # d out/d x_i = 0.0701037 * w_i, d out/d b = 0.0701037 (six significant digits).
    assert _words(explain(out)) == [
        "backward pass from out = 0.924142, seed grad 1: 2 steps",
        "step 1/2 out = sigmoid(n) upstream grad 1",
        "n.grad += 1 * 0.0701037 = 0.0701037 (now 0.0701037)",
        "step 2/2 n = dot(w0, w1, w2, x0, x1, x2, b) upstream grad 0.0701037",
        "w0.grad += 0.0701037 * 1 = 0.0701037 (now 0.0701037)",
        "w1.grad += 0.0701037 * 5 = 0.350519 (now 0.350519)",
        "w2.grad += 0.0701037 * 3 = 0.210311 (now 0.210311)",
        "x0.grad += 0.0701037 * 0.2 = 0.0140207 (now 0.0140207)",
        "x1.grad += 0.0701037 * 0.5 = 0.0350519 (now 0.0350519)",
        "x2.grad += 0.0701037 * -0.1 = -0.00701037 (now -0.00701037)",
        "b.grad += 0.0701037 * 1 = 0.0701037 (now 0.0701037)",
        "leaf gradients:",
        "x0.grad = 0.0140207",
        "x1.grad = 0.0350519",
        "x2.grad = -0.00701037",
        "w0.grad = 0.0701037",
        "w1.grad = 0.350519",
        "w2.grad = 0.210311",
        "b.grad = 0.0701037",
    ]
    assert neuron.w[1].grad == pytest.approx(TUTORIAL_SLOPE * 5, rel=1e-12)


def test_unlabelled_nodes_get_stable_names():
    first = display_names(tutorial_neuron(labels=False).out)
    second = display_names(tutorial_neuron(labels=False).out)
    assert list(first.values()) == [f"leaf#{k}" for k in range(7)] + ["dot#7", "sigmoid#8"]
    assert list(second.values()) == list(first.values())
    step = next(backward_steps(tutorial_neuron(labels=False).out))
    assert _words(step.describe())[0] == "step 1/2 sigmoid#8 = sigmoid(dot#7) upstream grad 1"


@pytest.mark.parametrize("make, formula", [
    (lambda a, b: a + b, "a + b"),
    (lambda a, b: a * b, "a * b"),
    (lambda a, b: a**2, "a**2"),
    (lambda a, b: a**b, "a ** b"),
    (lambda a, b: a.tanh(), "tanh(a)"),
    (lambda a, b: a.leaky_relu(0.1), "leaky_relu(a, 0.1)"),
    (lambda a, b: sum_values([a, b, a]), "sum(a, b, a)"),
])
def test_describe_writes_the_formula(make, formula):
    out = make(Value(2.0, "a"), Value(0.5, "b"))
    out.label = "out"
    step = next(backward_steps(out))
    assert _words(str(step))[0] == f"step 1/1 out = {formula} upstream grad 1"


def test_step_repr_is_one_short_line():
    steps = list(backward_steps(tutorial_neuron().out))
    assert repr(steps[0]) == "<Step 1/2 out [sigmoid] upstream=1: n.grad=0.0701037>"
    assert repr(steps[1]) == ("<Step 2/2 n [dot] upstream=0.0701037: w0.grad=0.0701037, "
                              "w1.grad=0.350519, w2.grad=0.210311, ... (7 inputs)>")


# --------------------------------------------------------------------- anomaly mode


def test_anomaly_names_the_user_line_of_a_nan_from_zero_times_inf():
    a = Value(0.0, "a")
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        line = _next_line()
        a * math.inf
    error = info.value
    assert (error.origin.filename, error.origin.lineno) == (__file__, line)
    assert error.origin.function == "test_anomaly_names_the_user_line_of_a_nan_from_zero_times_inf"
    assert math.isnan(error.node.data)
    message = str(error)
    assert "mul(a=0.0, inf) = nan" in message
    assert f"test_trace.py:{line}" in message
    assert "a * math.inf" in message  # the source line itself


def test_anomaly_reports_inf_carried_in_from_an_inf_input():
    big = Value(math.inf, "big")
    with pytest.raises(AnomalyError, match=r"mul\(big=inf, 10.0\) = inf") as info:
        with detect_anomaly():
            line = _next_line()
            big * 10
    assert info.value.origin.lineno == line


def test_overflow_from_finite_inputs_is_an_op_error_even_in_anomaly_mode():
    with pytest.raises(OpOverflowError, match=r"mul\(1e\+308, 10.0\)"):
        with detect_anomaly():
            Value(1e308) * 10


def test_anomaly_reports_a_nan_gradient_at_the_node_that_made_it():
    with detect_anomaly():
        q = Value(0.0, "q")
        line = _next_line()
        r = q.sqrt()  # d/dq = inf at 0, and the upstream gradient below is 0
        r.label = "r"
        out = r * 0.0
        with pytest.raises(AnomalyError) as info:
            out.backward()
    assert info.value.node is r
    assert info.value.origin.lineno == line
    message = str(info.value)
    assert "gradient of 'q' became nan at sqrt(q=0.0)" in message
    assert "upstream grad 0.0 * local derivative inf" in message
    assert f"node 'r', created at {__file__}:{line}" in message


def test_anomaly_reports_an_inf_gradient_while_stepping():
    k = Value(1e200, "k")
    y = k * 1e-200  # finite forward values, but d out/d 1e-200 = 1e200 * 1e200
    y.label = "y"
    out = y * 1e200
    with detect_anomaly(), pytest.raises(AnomalyError, match="became inf at mul") as info:
        explain(out)
    assert info.value.node is y
    assert info.value.origin is None
    assert "created outside detect_anomaly()" in str(info.value)


def test_anomaly_origin_skips_library_frames():
    with detect_anomaly():
        line = _next_line()
        neuron = Neuron(3, "tanh", seed=0)
        out = neuron([1.0, 2.0, 3.0])
    for node in topological_order(out):
        expected = line if node in neuron.parameters() else line + 1
        origin = trace.origin_of(node)
        assert (origin.filename, origin.lineno) == (__file__, expected)


def test_anomaly_mode_is_off_by_default_and_hooks_are_restored():
    assert engine._on_create is None and engine._on_step is None
    assert trace.origin_of(Value(1.0) * 2.0) is None
    with detect_anomaly():
        outer = (engine._on_create, engine._on_step)
        assert None not in outer
        with pytest.raises(ValueError), detect_anomaly():
            raise ValueError("boom")
        assert (engine._on_create, engine._on_step) == outer
        with detect_anomaly():
            pass
        assert (engine._on_create, engine._on_step) == outer
    assert engine._on_create is None and engine._on_step is None
    with pytest.raises(AnomalyError), detect_anomaly():
        Value(math.inf) * 0.0
    assert engine._on_create is None and engine._on_step is None


def test_explain_a_custom_op_with_an_empty_symbol():
    blank = engine.Op("blank", "", lambda a: 2 * a, lambda a, out: (2.0,))
    out = engine.apply(blank, Value(1.5, "x"))
    assert "blank(x)" in explain(out) and "blank" not in engine.OPS


def test_overlapping_anomaly_blocks_in_two_threads_end_with_the_hooks_off():
    import threading

    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with detect_anomaly():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def second():
        a_in.wait(5)
        with detect_anomaly():
            b_in.set()
            a_out.wait(5)
            seen["on after the first exits"] = engine._on_create is not None

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"on after the first exits": True}
    assert engine._on_create is None and engine._on_step is None
