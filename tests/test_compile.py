"""compile(): a traced step run as generated code gives the engine's numbers bit for bit
(a batch's samples as one loop, zero-upstream edges skipped), for any graph, NaN and inf
included; refuses what it cannot fix; raises the engine's errors; frees what it made."""

from __future__ import annotations

import gc
import linecache
import math
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_codegen import same_bits
from test_engine_fuzz import PYTHON_OPS, recipes

import micrograd_ann
from micrograd_ann import (MLP, OPS, Op, OpDomainError, OpError, OpOverflowError,
                           OpZeroDivisionError, Value, apply, compiler, losses, passes,
                           sum_values)
from micrograd_ann.compiler import CompileError
from micrograd_ann.datasets import make_moons


def demo_loss(model: MLP):
    """micrograd's demo loss as users write it: builtin sum, number constants."""
    def loss(X, Y):
        scores = [model(x) for x in X]
        losses_ = [(1 + -y * s).relu() for y, s in zip(Y, scores)]
        data_loss = sum(losses_) * (1.0 / len(losses_))
        return data_loss + 1e-4 * sum(p * p for p in model.parameters())
    return loss


def moons(n: int, seed: int) -> tuple[list[list[float]], list[float]]:
    samples = make_moons(n, noise=0.1, seed=seed)
    return [x for x, _ in samples], [2.0 * y - 1.0 for _, y in samples]


def engine_step(fn, params, *args) -> tuple[float, list[float]]:
    """fn on Values, then backward(): the loss and the parameters' grads, added to theirs."""
    root = fn(*[wrap(a) for a in args])
    root = root[0] if isinstance(root, tuple) else root
    root.backward()
    return root.data, [p.grad for p in params]


def wrap(x):
    return [wrap(item) for item in x] if isinstance(x, list) else Value(x)


@pytest.fixture
def on_engine(monkeypatch):
    """Counts the calls that ran on the engine instead of the generated code."""
    calls = []
    original = compiler.CompiledStep._on_engine

    def counted(self, args):
        calls.append(args)
        return original(self, args)

    monkeypatch.setattr(compiler.CompiledStep, "_on_engine", counted)
    return calls


# ---------------------------------------------------------------- the engine's numbers


def test_a_compiled_demo_step_trains_exactly_as_the_engine_does(on_engine):
    engine_model, compiled_model = MLP(2, [8, 8, 1], seed=3), MLP(2, [8, 8, 1], seed=3)
    X, Y = moons(40, seed=1)
    step = micrograd_ann.compile(demo_loss(compiled_model), compiled_model.parameters(), X, Y)
    assert step.looped and "for (" in step.source  # the 40 samples: one loop body
    loss = demo_loss(engine_model)
    for k in range(25):
        Xk, Yk = moons(40, seed=k)  # new data, same shapes
        for model in (engine_model, compiled_model):
            model.zero_grad()
        want = loss(Xk, Yk)
        want.backward()
        assert step(Xk, Yk) == want.data
        for p, q in zip(engine_model.parameters(), compiled_model.parameters()):
            assert p.grad == q.grad
            p.data -= 0.3 * p.grad
            q.data -= 0.3 * q.grad
    assert not on_engine


def test_a_graph_without_samples_runs_straight_and_equals_the_engine(on_engine):
    w, b = Value(0.5, "w"), Value(-1.0, "b")

    def fn(x):
        h = (w * x + b).tanh()
        return (h * h + w.abs() + (h * 3.0).sigmoid()).log()

    step = compiler.compile(fn, [w, b], 0.7)
    assert not step.looped
    for x in (0.7, -2.0, 3.5, 0.0):
        w.grad = b.grad = 0.0
        got = step(x), w.grad, b.grad
        w.grad = b.grad = 0.0
        want = engine_step(fn, [w, b], x)
        assert got == (want[0], *want[1])
    assert not on_engine


def test_gradients_add_into_grads_already_there_in_the_engines_order():
    """A grad that is not zero (accumulating over two batches) gets each edge added to it
    one by one, as backward() does: not the step's sum added at the end."""
    model = MLP(2, [4, 1], seed=1)
    X, Y = moons(10, seed=2)
    loss = demo_loss(model)
    step = compiler.compile(loss, model.parameters(), X, Y)
    for p in model.parameters():
        p.grad = 0.1
    step(X, Y)
    got = [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = 0.1
    loss(X, Y).backward()
    assert got == [p.grad for p in model.parameters()]


def test_a_grad_of_minus_zero_gives_the_engines_sign(on_engine):
    """Skipping an edge that adds 0 would keep a -0.0 where backward() makes 0.0."""
    w = Value(2.0, "w")
    step = compiler.compile(lambda xs: sum_values([w * x for x in xs]), [w], [0.0, 0.0, 0.0])
    w.grad = -0.0
    step([0.0, 0.0, 0.0])
    got = w.grad
    w.grad = -0.0
    sum_values([w * Value(0.0) for _ in range(3)]).backward()
    assert same_bits(got, w.grad) and on_engine


def _recipe_fn(recipe, n_params, watch=False):
    """The recipe as a function of its leaves: the first n_params are parameters (made
    here), the rest the step's argument; the last output is the loss, the others outputs;
    with `watch`, every node it computes is returned too, as a third item."""
    params = [Value(x, f"p{i}") for i, x in enumerate(recipe.leaves[:n_params])]

    def fn(args):
        nodes = params + list(args)
        for step in recipe.steps:
            operands = [nodes[ref] if isinstance(ref, int) else ref for ref in step.operands]
            if step.kind == "op":
                operands = [a if isinstance(a, Value) else Value(a) for a in operands]
                nodes.append(apply(OPS[step.name], *operands, params=step.params))
            else:
                nodes.append(PYTHON_OPS[step.name](*operands))
        outputs = [nodes[i] for i in recipe.sinks() if isinstance(nodes[i], Value)]
        result = (outputs[-1], outputs[:-1]) if outputs else (nodes[-1], [])
        if not watch:
            return result
        return (*result, [v for v in nodes if isinstance(v, Value) and v.parents])

    return fn, params


SPECIAL = st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1e-320, 1e300])


def _outcome(call):
    """The numbers a call gives (each grad read right after), or the class it raises."""
    try:
        return call()
    except (OpError, ArithmeticError, ValueError) as exc:
        return type(exc)


def _numbers(x: object) -> object:
    """Values' data, numbers as they are, nested lists kept nested."""
    if isinstance(x, list):
        return [_numbers(item) for item in x]
    return x.data if isinstance(x, Value) else x


def _both_ways(step, fn, params: list[Value], args: list, values) -> tuple:
    """The compiled step's outcome and backward()'s on the same numbers, from zero grads:
    (loss, outputs' numbers, grads) each -- with watch=True then the watched nodes'
    numbers and grads -- or the error class it raised. `values(args)` makes fn's
    arguments of Values."""
    def compiled():
        for p in params:
            p.grad = 0.0
        loss, outputs, *watched = step(args)
        return loss, outputs, [p.grad for p in params], *watched

    def backward():
        for p in params:
            p.grad = 0.0
        loss, outputs, *watched = fn(values(args))
        loss.backward()
        grads = [[v.grad for v in nodes] for nodes in watched]
        return (loss.data, _numbers(outputs), [p.grad for p in params],
                *[_numbers(nodes) for nodes in watched], *grads)

    return _outcome(compiled), _outcome(backward)


@settings(max_examples=200, deadline=None)
@given(recipes(), st.data())
def test_random_graphs_compiled_equal_backward_bit_for_bit(recipe, data):
    """Compiled on one set of leaf values, run on another, NaN and inf included: the loss,
    outputs and grads are backward()'s, or the step raises the engine's error. Watching
    every node, each node's number and grad are backward()'s too."""
    n_params = data.draw(st.integers(0, len(recipe.leaves)))
    numbers = st.one_of(st.floats(-3, 3), SPECIAL)
    watch = data.draw(st.booleans())
    fn, params = _recipe_fn(recipe, n_params, watch)
    example = list(recipe.leaves[n_params:])
    try:
        step = compiler.compile(fn, params, example, watch=watch)
    except (OpError, ArithmeticError, ValueError):
        return  # the trace itself refused these numbers
    except CompileError as exc:
        assert "must return a Value" in str(exc)  # a recipe whose last output is a number
        return
    for p in params:
        p.data = data.draw(numbers)
    args = [data.draw(numbers) for _ in example]
    got, want = _both_ways(step, fn, params, args, lambda xs: [Value(x) for x in xs])
    if isinstance(want, type):
        assert got is want
        return
    assert same_bits(got[0], want[0]) and len(got) == len(want) == 3 + 2 * watch
    assert all(all(map(same_bits, a, b)) for a, b in zip(got[1:], want[1:]))


@settings(max_examples=150, deadline=None)
@given(recipes(), st.data())
def test_random_graphs_per_sample_compile_to_a_loop_with_backwards_numbers(recipe, data):
    """The recipe run on every sample of a batch (its first leaves the parameters, the
    others the sample's numbers), the losses summed: one loop, backward()'s numbers."""
    n_params = data.draw(st.integers(1, len(recipe.leaves)))
    watch = data.draw(st.booleans())
    fn, params = _recipe_fn(recipe, n_params, watch)
    width = len(recipe.leaves) - n_params
    rows = [[data.draw(st.floats(-3, 3)) for _ in range(width)] for _ in range(4)]
    builtin = data.draw(st.booleans())

    def batch(xs):
        results = [fn(x) for x in xs]
        losses_ = [loss for loss, *_ in results]
        total = sum(losses_) if builtin else sum_values(losses_)
        outputs = [outputs for _, outputs, *_ in results]
        if not watch:
            return total, outputs
        return total, outputs, [total, *(v for *_, nodes in results for v in nodes)]

    try:
        step = compiler.compile(batch, params, rows, watch=watch)
    except (OpError, ArithmeticError, ValueError, TypeError):
        return  # refused numbers, or a recipe whose loss is a number
    for p in params:
        p.data = data.draw(st.one_of(st.floats(-3, 3), SPECIAL))
    rows = [[data.draw(st.one_of(st.floats(-3, 3), SPECIAL)) for _ in range(width)]
            for _ in range(4)]
    got, want = _both_ways(step, batch, params, rows,
                           lambda xs: [[Value(x) for x in row] for row in xs])
    if isinstance(want, type):
        assert got is want
        return
    assert same_bits(got[0], want[0]) and all(map(same_bits, got[2], want[2]))
    assert all(map(same_bits, sum(got[1], []), sum(want[1], [])))
    assert len(got) == len(want) == 3 + 2 * watch
    assert all(all(map(same_bits, a, b)) for a, b in zip(got[3:], want[3:]))


# ------------------------------------------------------------- the leaves it reads


def test_a_value_made_before_and_not_listed_is_refused_not_frozen():
    w, scale = Value(1.0, "w"), Value(2.0, "scale")
    with pytest.raises(CompileError, match=r"reads Value\(data=2.0.*label='scale'\).*"
                                           r"in params \(to train it\) or in constants="):
        compiler.compile(lambda x: w * x * scale, [w], 3.0)
    step = compiler.compile(lambda x: w * x * scale, [w], 3.0, constants=[scale])
    assert step(3.0) == 6.0 and w.grad == 6.0
    scale.data = 3.0  # read at every call
    w.grad = 0.0
    assert step(3.0) == 9.0 and w.grad == 9.0 and scale.grad == 0.0
    made = compiler.compile(lambda x: w * x * Value(2.0), [w], 3.0)  # made inside: a number
    assert made(3.0) == 9.0 * 2.0 / 3.0 * 1.0 or made(3.0) == 6.0


def test_labels_that_are_one_name_to_python_stay_two_values():
    """w and the mathematical italic w are one identifier after NFKC normalisation."""
    w, w_italic = Value(1.0, "w"), Value(4.0, "\U0001d464")

    def loss(x):
        return w * w * x + w_italic * x

    step = compiler.compile(loss, [w, w_italic], 1.0)
    assert step(3.0) == 15.0 and (w.grad, w_italic.grad) == (6.0, 3.0)


def test_a_parameter_listed_twice_gets_its_gradient_once():
    w = Value(3.0, "w")
    step = compiler.compile(lambda x: w * w * x, [w, w], 1.5)
    assert step(1.5) == 13.5 and w.grad == 9.0


def test_params_and_constants_are_checked():
    w, h = Value(1.0), Value(2.0)
    with pytest.raises(ValueError, match=r"params\[0\] is not a leaf"):
        compiler.compile(lambda x: x * 2.0, [w * h], 1.0)
    with pytest.raises(ValueError, match="both in params and in constants"):
        compiler.compile(lambda x: w * x, [w], 1.0, constants=[w])
    with pytest.raises(TypeError, match=r"params must be Values; params\[1\] is float"):
        compiler.compile(lambda x: w * x, [w, 2.0], 1.0)
    with pytest.raises(TypeError, match="params must be a list of Values"):
        compiler.compile(lambda x: w * x, w, 1.0)
    with pytest.raises(TypeError, match="compile needs a function"):
        compiler.compile(3, [w], 1.0)
    with pytest.raises(CompileError, match="must return a Value"):
        compiler.compile(lambda x: 3.0, [w], 1.0)


def test_the_package_offers_compile_without_shadowing_the_builtin():
    assert micrograd_ann.compile is compiler.compile
    assert "compile" not in micrograd_ann.__all__
    scope: dict = {}
    exec("from micrograd_ann import *", scope)  # noqa: S102
    assert "compile" not in scope


# ---------------------------------------------------------- errors as the engine's


@pytest.mark.parametrize("fn, x, error", [
    (lambda w, x: (w * x) * 1e300, 1e10, OpOverflowError),
    (lambda w, x: sum_values([w * x, w * x]) * 1e308, 1e10, OpOverflowError),
    (lambda w, x: (w * x).exp(), 1e4, OpOverflowError),
    (lambda w, x: (w * x).log(), -1.0, OpDomainError),
    (lambda w, x: w / (x - 2.0), 2.0, OpZeroDivisionError),
])
def test_where_the_engine_raises_the_step_raises_the_same(fn, x, error):
    w = Value(1.0, "w")
    step = compiler.compile(lambda x: fn(w, x), [w], 0.5)
    with pytest.raises(error):
        fn(w, Value(x))
    with pytest.raises(error):
        step(x)
    assert w.grad == 0.0  # nothing written by a step that raised


def test_inf_and_nan_in_the_data_give_the_engines_numbers():
    w = Value(2.0, "w")
    step = compiler.compile(lambda xs: sum_values([(w * x).relu() for x in xs]), [w], [1.0, 2.0])
    # relu(2 * inf) + relu(2 * -inf) = inf; dw gets 1 * inf and 0 * -inf = nan
    assert step([math.inf, -math.inf]) == math.inf and math.isnan(w.grad)
    w.grad = 0.0
    assert step([1.0, -math.inf]) == 2.0 and math.isnan(w.grad)
    w.grad = 0.0
    assert step([1.0, -3.0]) == 2.0 and w.grad == 1.0


def test_your_op_is_called_and_checked_as_the_engine_checks_it():
    double = Op("double", "double", lambda a: 2.0 * a, lambda a, out: (2.0,))
    w = Value(1.5, "w")
    step = compiler.compile(lambda x: apply(double, w * x), [w], 2.0)
    assert "_double(" in step.source and step(2.0) == 6.0 and w.grad == 4.0
    sloppy = Op("sloppy", "sloppy", lambda a: True if a > 0 else 1.0, lambda a, out: (1.0,))
    step = compiler.compile(lambda x: apply(sloppy, w * x), [w], -2.0)
    with pytest.raises(TypeError, match="sloppy's forward returned bool"):
        step(2.0)


# -------------------------------------------------------------- arguments and shapes


def test_arguments_are_checked_and_arrays_taken():
    np = pytest.importorskip("numpy")
    w = Value(1.0)
    step = compiler.compile(lambda xs: w * xs[0] + xs[1], [w], [1.0, 2.0])
    assert step([3.0, 4.0]) == 7.0 and w.grad == 3.0
    with pytest.raises(ValueError, match=r"argument 0 must have the traced shape \(2 items\)"):
        step([1.0])
    with pytest.raises(TypeError, match="takes 1 arguments"):
        step([1.0, 2.0], 3.0)
    with pytest.raises(TypeError, match=r"argument 0\[0\] must be a number, got str"):
        step(["a", 2.0])
    with pytest.raises(TypeError, match=r"argument 0\[1\] must be a number, got list"):
        step([1.0, [2.0]])
    with pytest.raises(TypeError, match=r"argument 0\[1\] must be a number, got bool"):
        step([1.0, True])
    with pytest.raises(TypeError, match="put Values in params or constants"):
        compiler.compile(lambda x: w * x, [w], Value(1.0))
    w.grad = 0.0
    assert step((3, 4)) == 7.0 and w.grad == 3.0  # ints and tuples are numbers and lists
    w.grad = 0.0
    assert step(np.array([3.0, 4.0])) == 7.0 and w.grad == 3.0
    w.grad = 0.0
    assert step([np.float64(3.0), np.int64(4)]) == 7.0 and w.grad == 3.0
    model = MLP(2, [3, 1], seed=0)
    X = np.array(moons(5, seed=0)[0])
    arrays = compiler.compile(lambda xs: sum_values([model(x) for x in xs]), model.parameters(),
                             X)
    assert arrays(X) == arrays(X.tolist())


def test_a_step_returns_outputs_in_their_nesting():
    w = Value(2.0, "w")

    def loss(xs):
        outs = [w * x for x in xs]
        return sum(outs), [outs[0], [outs[1]], outs[0]]

    step = compiler.compile(loss, [w], [1.0, 3.0])
    assert step([2.0, 5.0]) == (14.0, [4.0, [10.0], 4.0]) and w.grad == 7.0


def test_one_output_is_returned_as_a_number_compiled_or_on_the_engine():
    w = Value(2.0, "w")
    step = compiler.compile(lambda x: w * x, [w], 3.0, loss=lambda out: out * out)
    assert step(3.0) == (36.0, 6.0) == step._on_engine((3.0,))
    pair = compiler.compile(lambda x: (w * x * x, w * x), [w], 3.0)
    assert pair(3.0) == (18.0, 6.0) == pair._on_engine((3.0,))


def test_watched_layer_outputs_come_back_with_backwards_grads_from_the_loop(on_engine):
    """An MLP's layer outputs watched (passes.layer_outputs), the loss on the engine: per
    sample and layer, the numbers and grads backward() leaves in those nodes."""
    models = [MLP(2, [4, 3, 3], seed=6) for _ in range(2)]
    X = moons(8, seed=2)[0]
    ys = [i % 3 for i in range(8)]

    def forward(xs):
        outs = [models[1](x) for x in xs]
        return outs, passes.layer_outputs(models[1], outs)

    step = compiler.compile(forward, models[1].parameters(), X, watch=True,
                            loss=lambda outs, ys: losses.cross_entropy(outs, ys))
    assert step.looped and "_W.append((" in step.source
    loss, outs, data, grads = step(X, ys)
    want_outs = [models[0](x) for x in X]
    want = losses.cross_entropy(want_outs, ys)
    want.backward()
    layers = passes.layer_outputs(models[0], want_outs)
    assert (loss, outs) == (want.data, _numbers(want_outs))
    assert data == [[_numbers(layer) for layer in sample] for sample in layers]
    assert grads == [[[v.grad for v in layer] for layer in sample] for sample in layers]
    assert 0.0 in sum(sum(data, []), [])  # a relu that is off: its edges skipped
    assert len(set(sum(sum(grads, []), []))) == 8 * (4 + 3 + 3)
    assert [p.grad for p in models[0].parameters()] == [p.grad for p in models[1].parameters()]
    assert not on_engine
    models[1].zero_grad()  # a call the engine runs returns the same
    assert step._on_engine((X, ys)) == (loss, outs, data, grads)


def test_a_watched_node_gets_backwards_grad_reached_or_not():
    """A node the loss does not reach keeps grad 0; one that leads to no parameter still
    gets its gradient (the loss's own node, 1.0, too)."""
    w = Value(2.0, "w")

    def fn(x):
        h = w * x
        off, k = h.exp(), x * 3.0
        loss = h * k
        return loss, [off, [k, h], loss]

    step = compiler.compile(fn, [w], 1.5, watch=True)
    want = (24.0, [math.exp(4.0), [6.0, 4.0], 24.0], [0.0, [4.0, 6.0], 1.0])
    assert step(2.0) == want and w.grad == 12.0
    assert step._on_engine((2.0,)) == want and w.grad == 24.0


def test_only_nodes_fn_computes_can_be_watched():
    w = Value(2.0, "w")
    for watched, kind in (([w], "param"), (None, "argument")):
        with pytest.raises(CompileError, match=rf"node 0 .* is a leaf \({kind}\), not computed"):
            compiler.compile(lambda x: (w * x, watched or [x]), [w], 1.0, watch=True)
    with pytest.raises(CompileError, match=r"with watch=True, '<lambda>' must return \(\.\.\., "):
        compiler.compile(lambda x: w * x, [w], 1.0, watch=True)
    with pytest.raises(CompileError, match=r"watched\[1\] must be Values"):
        compiler.compile(lambda x: (w * x, [w * x, 2.0]), [w], 1.0, watch=True)
    with pytest.raises(TypeError, match="watch must be True or False, got 1"):
        compiler.compile(lambda x: w * x, [w], 1.0, watch=1)


def test_check_mode_finds_a_graph_or_a_number_that_changed():
    w = Value(0.5, "w")

    def branchy(x):
        return w * x if x.data > 0 else w * x * x  # Python control flow on a value

    step = compiler.compile(branchy, [w], 1.0, check=1)
    assert step(2.0) == 1.0
    with pytest.raises(CompileError, match="changed"):
        step(-2.0)
    unchecked = compiler.compile(branchy, [w], 1.0)
    assert unchecked(-2.0) == -1.0  # the traced (x > 0) branch, as documented
    shifted = compiler.compile(lambda x: w * (x - x.data), [w], 1.0, check=True)
    shifted(1.0)  # call 1 is checked: the traced graph
    with pytest.raises(CompileError, match="changed on call 101"):
        for _ in range(100):
            shifted(2.0)


# ------------------------------------------------------- a loss run on the engine


@pytest.mark.parametrize("name, outputs", [("bce", 1), ("hinge", 1), ("cross_entropy", 3),
                                           ("mse", 3)])
def test_a_loss_that_branches_runs_on_the_engine_and_the_numbers_stay_exact(name, outputs,
                                                                             on_engine):
    from micrograd_ann.training import batch_loss

    models = [MLP(2, [5, outputs], seed=4) for _ in range(2)]
    X = moons(12, seed=3)[0]
    step = compiler.compile(lambda xs: [models[1](x) for x in xs], models[1].parameters(), X,
                           loss=lambda outs, ys: batch_loss(name, outs, ys))
    assert step.looped
    for k in range(4):
        Xk, _ = moons(12, seed=k)
        ys = [(k + i) % (2 if outputs == 1 else outputs) for i in range(12)]
        want = batch_loss(name, [models[0](x) for x in Xk], ys)
        want.backward()
        loss, outs = step(Xk, ys)
        assert loss == want.data
        assert outs == [models[0](x).data if outputs == 1 else [v.data for v in models[0](x)]
                        for x in Xk]
        for p, q in zip(models[0].parameters(), models[1].parameters()):
            assert p.grad == q.grad
            p.grad = q.grad = 0.0
    assert not on_engine


def test_a_loss_reading_parameters_adds_in_the_engines_order():
    model = MLP(2, [3, 1], seed=2)
    X = moons(6, seed=1)[0]

    def loss(outs, ys):
        return losses.mse(outs, ys) + 1e-2 * sum_values([p * p for p in model.parameters()])

    step = compiler.compile(lambda xs: [model(x) for x in xs], model.parameters(), X, loss=loss)
    value, _ = step(X, [1.0] * 6)
    got = [p.grad for p in model.parameters()]
    model.zero_grad()
    want = loss([model(x) for x in X], [1.0] * 6)
    want.backward()
    assert value == want.data and got == [p.grad for p in model.parameters()]


# ------------------------------------------------------------- sizes and memory


def test_a_3000_input_sum_compiles():
    w = Value(0.5, "w")
    step = compiler.compile(lambda xs: sum_values([w * x for x in xs]), [w], [1.0] * 3000)
    assert step([2.0] * 3000) == 3000.0 and w.grad == 6000.0
    step = compiler.compile(lambda xs: sum(w * x for x in xs), [w], [1.0] * 3000)  # a chain
    w.grad = 0.0
    assert step([2.0] * 3000) == 3000.0 and w.grad == 6000.0


def test_a_big_batch_compiles_without_a_line_per_sample():
    """train's step over 3,200 samples (4,000 with a test split): the loop holds one
    sample's code, and the outputs pass as one list."""
    from micrograd_ann.training import batch_loss

    model = MLP(2, [16, 16, 1], seed=0)
    X = moons(3200, seed=0)[0]
    step = compiler.compile(lambda xs: [model(x) for x in xs], model.parameters(), X,
                           loss=lambda outs, ys: batch_loss("bce", outs, ys))
    assert step.looped and len(step.source.splitlines()) < 1_500
    loss, outs = step(X, [i % 2 for i in range(3200)])
    assert len(outs) == 3200 and math.isfinite(loss)


@pytest.mark.slow
def test_compiling_needs_memory_in_proportion_to_one_engine_step():
    """MLP(2, [100, 100, 1]) on 80 samples: compiling peaks at a few times what one plain
    step's graph holds (it once took over 2 GiB), and keeps a fraction of it."""
    from micrograd_ann.training import batch_loss

    model = MLP(2, [100, 100, 1], seed=0)
    X, ys = moons(80, seed=0)[0], [i % 2 for i in range(80)]
    gc.collect()
    tracemalloc.start()
    try:
        batch_loss("bce", [model(x) for x in X], ys).backward()
        graph = tracemalloc.get_traced_memory()[1]
        gc.collect()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        step = compiler.compile(lambda xs: [model(x) for x in xs], model.parameters(), X,
                               loss=lambda outs, ys: batch_loss("bce", outs, ys))
        peak, kept = tracemalloc.get_traced_memory()[1] - base, \
            tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert peak < 4 * graph and kept < graph / 2, (peak, kept, graph)
    assert step.looped


def test_linecache_lets_go_of_steps_no_one_holds():
    before = set(linecache.cache)
    model = MLP(2, [4, 1], seed=0)
    X, Y = moons(10, seed=0)
    for _ in range(40):
        step = compiler.compile(demo_loss(model), model.parameters(), X, Y)
        step(X, Y)
    assert len({f for f in set(linecache.cache) - before if "micrograd_ann" in f}) == 1
    del step
    gc.collect()
    assert {f for f in set(linecache.cache) - before if "micrograd_ann" in f} == set()


def test_the_compiled_code_names_nothing_of_yours():
    """Labels and your Op's name appear nowhere in the generated step but comments."""
    from test_codegen import OURS, names_in

    odd = Op("v1", "v1", lambda a: a * 3.0, lambda a, out: (3.0,))
    w = Value(1.0, "_tanh")
    step = compiler.compile(lambda xs: sum_values([apply(odd, (w * x).tanh()) for x in xs]),
                           [w], [1.0, 2.0])
    assert all(OURS.fullmatch(name) for name in names_in(step.source))
    assert step([1.0, 2.0]) == 3.0 * (math.tanh(1.0) + math.tanh(2.0))




def test_an_output_the_loss_does_not_read_runs_no_backward():
    """backward() never enters an output outside the loss's graph, so an infinite partial
    there (sqrt at 0) multiplies no 0 into a nan: in either form of compile."""
    w = Value(0.0, "w")

    def fn(x):
        return (w * x).exp(), [(w * x).sqrt()]

    step = compiler.compile(fn, [w], 0.0)
    assert step(0.0) == (1.0, [0.0]) and w.grad == 0.0
    head = compiler.compile(lambda x: [(w * x).exp(), (w * x).sqrt()], [w], 0.0,
                            loss=lambda outs: outs[0] * 1.0)
    assert head(0.0) == (1.0, [1.0, 0.0]) and w.grad == 0.0
    head_all = compiler.compile(lambda x: [(w * x).exp(), (w * x).sqrt()], [w], 0.0,
                                loss=lambda outs: outs[0] + outs[1] * 0.0)
    assert head_all(0.0)[0] == 1.0 and math.isnan(w.grad)  # 0 * inf, as backward() gives
    w.grad = 0.0
    outs = [(w * Value(0.0)).exp(), (w * Value(0.0)).sqrt()]
    (outs[0] + outs[1] * 0.0).backward()
    assert math.isnan(w.grad)
