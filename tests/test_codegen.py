"""codegen: backward written as Python, equal bit for bit to backward(); stepped in pdb;
compiled steps that train exactly as the engine does."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import CASES, COMPOSED
from test_engine_fuzz import _build, recipes

from micrograd_ann import MLP, Op, OpError, Value, apply, codegen, topological_order
from micrograd_ann.datasets import make_moons
from micrograd_ann.nn import tutorial_neuron

TUTORIAL_SOURCE = '''\
from math import isfinite
from micrograd_ann.engine import OPS  # the table of built-in ops
sigmoid = OPS['sigmoid'].forward

def backward_of_out(x0=1.0, x1=5.0, x2=3.0, w0=0.2, w1=0.5, w2=-0.1, b=0.1):
    """out and its gradient with respect to every leaf."""
    # forward: one line per node, inputs first
    n = sum((w0 * x0, w1 * x1, w2 * x2,)) + b
    out = sigmoid(n)
    # backward: seed the output, then each node adds upstream * local into its inputs
    g_x0 = g_x1 = g_x2 = g_w0 = g_w1 = g_w2 = g_b = g_n = 0.0
    g_out = 1.0
    # out = sigmoid(n)    rule: d/da = out * (1.0 - out)
    g_n += g_out * (out * (1.0 - out))
    # n = dot(w0, w1, w2, ..., b)    rule: d/dw_i = x_i, d/dx_i = w_i, d/db = 1
    if g_n or not isfinite(x0 + x1 + x2 + w0 + w1 + w2 + 1.0):  # 0 * local adds nothing unless a local is inf or nan
        g_w0 += g_n * x0
        g_w1 += g_n * x1
        g_w2 += g_n * x2
        g_x0 += g_n * w0
        g_x1 += g_n * w1
        g_x2 += g_n * w2
        g_b += g_n
    return out, {'x0': g_x0, 'x1': g_x1, 'x2': g_x2, 'w0': g_w0, 'w1': g_w1, 'w2': g_w2, 'b': g_b}
'''


def engine_result(root: Value) -> tuple[float, list[float]]:
    """root's value and its leaves' gradients from backward(), starting from zero."""
    leaves = [v for v in topological_order(root) if not v.parents]
    for leaf in leaves:
        leaf.grad = 0.0
    root.backward()
    return root.data, [leaf.grad for leaf in leaves]


def generated_result(root: Value) -> tuple[float, list[float]]:
    value, grads = codegen.to_function(root)()
    return value, list(grads.values())


def same_bits(a: float, b: float) -> bool:
    """Equal as IEEE doubles: nan equals nan, and 0.0 differs from -0.0."""
    return math.copysign(1.0, a) == math.copysign(1.0, b) and (a == b or a != a and b != b)


def assert_same_bits(got: tuple[float, list[float]], want: tuple[float, list[float]]) -> None:
    assert same_bits(got[0], want[0]), (got[0], want[0])
    assert len(got[1]) == len(want[1])
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got[1], want[1])) if not same_bits(g, w)]
    assert not bad, bad


# ------------------------------------------------------------------------ read it


def test_the_tutorial_neuron_reads_as_a_short_program():
    source = codegen.to_source(tutorial_neuron().out)
    assert source == TUTORIAL_SOURCE
    assert len(source.splitlines()) <= 30


def test_unlabelled_nodes_are_named_by_op_and_position_and_rules_are_commented():
    x = Value(3.0, "x")
    source = codegen.to_source((x * x).tanh())
    assert "mul_1 = x * x" in source and "tanh_2 = tanh(mul_1)" in source
    assert "# tanh_2 = tanh(mul_1)    rule: d/da = 1.0 - (out * out)" in source
    assert "g_mul_1 += g_tanh_2 * (1.0 - (tanh_2 * tanh_2))" in source
    assert source.count("g_x += g_mul_1 * x") == 2  # x * x: one line per operand


def test_rules_that_branch_on_values_are_called_by_name():
    x = Value(-2.0, "x")
    source = codegen.to_source(x.relu() + x.leaky_relu(0.1).abs())
    assert "d_relu_1 = relu_partials(x, relu_1)" in source
    assert "leaky_relu_partials(x, 0.1, leaky_relu_2)" in source


def test_labels_that_are_not_identifiers_or_clash_are_renamed():
    a, b = Value(1.0, "my value"), Value(2.0, "sum")
    c = a * b
    c.label = "x"
    d = c + Value(3.0, "x")
    names = codegen.to_source(d)
    assert "def backward_of_add_" in names and "leaf_0=1.0, leaf_1=2.0" in names
    assert "x = leaf_0 * leaf_1" in names and "x_2=3.0" in names


# ----------------------------------------------------------- equal to backward()


@pytest.mark.parametrize("case", CASES + COMPOSED, ids=lambda c: c.name)
@pytest.mark.parametrize("where", [0.25, 0.5, 0.8])
def test_every_op_case_equals_backward_bit_for_bit(case, where):
    args = [Value(lo + where * (hi - lo), f"x{i}") for i, (lo, hi) in enumerate(case.domain)]
    root = case.fn(*args)
    assert_same_bits(generated_result(root), engine_result(root))


@settings(max_examples=150, deadline=None)
@given(recipes(), st.data())
def test_random_graphs_equal_backward_bit_for_bit(recipe, data):
    special = st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan])
    leaf_data = [data.draw(st.one_of(st.floats(-3, 3), special)) for _ in recipe.leaves]
    try:
        _, outputs = _build(recipe, leaf_data)
    except (OpError, ArithmeticError, ValueError):
        return  # the op itself refused these numbers: nothing to generate
    root = outputs[-1]
    assert_same_bits(generated_result(root), engine_result(root))


def test_zero_upstream_times_inf_still_reaches_the_inputs():
    w, x = Value(0.5, "w"), Value(math.inf, "x")
    n = apply(codegen_dot(), w, x, Value(1.0, "b"), Value(0.0, "y"))
    root = n * 0.0  # upstream 0 into a node whose local (x) is inf
    value, grads = codegen.to_function(root)()
    engine_value, engine_grads = engine_result(root)
    assert math.isnan(grads["w"]) and math.isnan(engine_grads[0])


def codegen_dot() -> Op:
    """A user Op with four inputs, so its edges take the guarded (zero-skip) form."""
    return Op("wxby", "wxby", lambda w, x, b, y: w * x + b * y,
              lambda w, x, b, y, out: (x, w, y, b))


def test_your_own_op_is_written_out_too():
    softplus = Op("softplus", "softplus", lambda a: math.log1p(math.exp(a)),
                  lambda a, out: (1.0 / (1.0 + math.exp(-a)),))
    x = Value(0.3, "x")
    root = apply(softplus, x) * x
    source = codegen.to_source(root)
    assert "softplus_1 = softplus(x)" in source and "softplus_partials(x, softplus_1)" in source
    assert_same_bits(generated_result(root), engine_result(root))


def test_arguments_default_to_the_leaves_data_and_can_be_changed():
    out = tutorial_neuron().out
    fn = codegen.to_function(out)
    value, grads = fn(x1=0.0)  # w . x + b = 0.2 - 0.3 + 0.1 = 0: sigmoid(0) = 0.5
    assert value == 0.5 and grads["w1"] == 0.0 and grads["w2"] == 0.25 * 3.0


# ------------------------------------------------------------------ step through it


def test_tracebacks_show_the_generated_line():
    x = Value(2.0, "x")
    fn = codegen.to_function(x.log())
    with pytest.raises(ValueError) as info:
        fn(x=-1.0)
    frames = traceback.extract_tb(info.tb)
    generated = [f for f in frames if f.filename.startswith("<micrograd_ann backward of")]
    assert generated and generated[0].line == "log_1 = log(x)"


def test_the_readmes_pdb_transcript_replays_exactly():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    found = re.search(r"```text\n\$ python -c \"(.*?)\"\n(.*?)```", readme, re.S)
    assert found is not None, "no pdb transcript in the README"
    script, transcript = found.groups()
    commands = re.findall(r"^\(Pdb\) (.+)$", transcript, re.M)
    expected = re.sub(r"^\(Pdb\) .+\n?", "(Pdb) ", transcript, flags=re.M)
    done = subprocess.run([sys.executable, "-c", script], input="\n".join(commands) + "\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected
    assert "-> g_n += g_out * (out * (1.0 - out))" in done.stdout


# ---------------------------------------------------------------------- run it fast


def demo_loss(model: MLP):
    """micrograd's demo loss as users write it: builtin sum, number constants."""
    def loss(X, Y):
        scores = [model(x) for x in X]
        losses = [(1 + -y * s).relu() for y, s in zip(Y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        return data_loss + 1e-4 * sum(p * p for p in model.parameters())
    return loss


def moons(n: int, seed: int) -> tuple[list[list[float]], list[float]]:
    samples = make_moons(n, noise=0.1, seed=seed)
    return [x for x, _ in samples], [2.0 * y - 1.0 for _, y in samples]


def test_a_compiled_step_gives_the_engines_loss_and_gradients_exactly():
    model = MLP(2, [8, 8, 1], seed=3)
    loss = demo_loss(model)
    X, Y = moons(20, seed=1)
    step = codegen.compile(loss, model.parameters(), X, Y)
    X2, Y2 = moons(20, seed=2)  # new data, same shapes
    model.zero_grad()
    want = loss(X2, Y2)
    want.backward()
    want_grads = [p.grad for p in model.parameters()]
    model.zero_grad()
    assert step(X2, Y2) == want.data
    assert [p.grad for p in model.parameters()] == want_grads
    assert step.source.startswith("def step(params_, inputs_):")


def test_compiled_minibatch_training_follows_the_engine_exactly_and_learns():
    def train(compiled: bool) -> tuple[list[float], float]:
        model = MLP(2, [8, 8, 1], seed=5)
        loss = demo_loss(model)
        X, Y = moons(64, seed=0)
        step = codegen.compile(loss, model.parameters(), X[:16], Y[:16]) if compiled else None
        history = []
        for k in range(40):
            i = 16 * (k % 4)
            xb, yb = X[i : i + 16], Y[i : i + 16]
            model.zero_grad()
            if compiled:
                history.append(step(xb, yb))
            else:
                total = loss(xb, yb)
                total.backward()
                history.append(total.data)
            for p in model.parameters():
                p.data -= 0.5 * p.grad
        right = sum((model(x).data > 0) == (y > 0) for x, y in zip(X, Y))
        return history, right / len(X)

    engine_losses, engine_accuracy = train(False)
    compiled_losses, compiled_accuracy = train(True)
    assert compiled_losses == engine_losses
    assert compiled_accuracy == engine_accuracy >= 0.8
    assert compiled_losses[-1] < 0.5 * compiled_losses[0]


def test_check_mode_finds_a_graph_that_changed_shape():
    w = Value(0.5, "w")

    def branchy(x):
        return w * x if x.data > 0 else w * x * x  # Python control flow on a value

    step = codegen.compile(branchy, [w], 1.0, check=1)
    assert step(2.0) == 1.0
    with pytest.raises(codegen.CompileError, match="changed shape"):
        step(-2.0)
    unchecked = codegen.compile(branchy, [w], 1.0)
    assert unchecked(-2.0) == -1.0  # the traced (x > 0) branch, as documented


def test_compile_checks_its_arguments():
    w = Value(1.0)
    with pytest.raises(codegen.CompileError, match="must return a Value"):
        codegen.compile(lambda x: 3.0, [w], 1.0)
    step = codegen.compile(lambda xs: w * xs[0] + xs[1], [w], [1.0, 2.0])
    assert step([3.0, 4.0]) == 7.0 and w.grad == 3.0
    with pytest.raises(ValueError, match="traced shape"):
        step([1.0])
    with pytest.raises(TypeError, match="takes 1 arguments"):
        step([1.0, 2.0], 3.0)
    with pytest.raises(TypeError, match=r"argument 0\[0\] must be a number, got str"):
        step(["a", 2.0])
    with pytest.raises(TypeError, match=r"argument 0\[1\] must be a number, got list"):
        step([1.0, [2.0]])
    with pytest.raises(TypeError, match=r"argument 0\[1\] must be a number, got bool"):
        step([1.0, True])
    w.grad = 0.0
    assert step((3, 4)) == 7.0 and w.grad == 3.0  # ints and tuples are numbers and lists


def test_a_step_can_return_outputs_of_its_graph_in_their_nesting():
    w = Value(2.0, "w")

    def loss(xs):
        outs = [w * x for x in xs]
        return sum(outs), [outs[0], [outs[1]]]

    step = codegen.compile(loss, [w], [1.0, 3.0])
    assert step([2.0, 5.0]) == (14.0, [4.0, [10.0]]) and w.grad == 7.0
    with pytest.raises(codegen.CompileError, match="part of the loss's graph"):
        codegen.compile(lambda xs: (w * xs[0], [w * xs[1]]), [w], [1.0, 2.0])
