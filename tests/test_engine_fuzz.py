"""Fuzzing the op table: random expression graphs built from every op in engine.OPS.

Each case is a recipe: some leaves, then up to 30 steps, each either a table op applied
through `engine.make_node` (so an op added to OPS is fuzzed with no change here) or one of
Python's operators (+ - * / ** and unary -) mixing Values and plain numbers, which also
exercises the composed and reflected operators. Graphs have up to ~70 nodes (~20 on
average); every node no step used is an output. Numbers include zeros, negative bases
and extreme magnitudes. Every case must either
  * raise an engine.OpError subclass (the documented float errors), or
  * give finite values everywhere, with each leaf's gradient equal to a central
    difference wherever that reference can be trusted (the rule is in _check_leaf).
Any other exception escaping is a failure.

`make test` runs 2,000 examples (profile "fuzz"); HYPOTHESIS_PROFILE=fuzz-slow runs 20,000.
"""

from __future__ import annotations

import inspect
import math
import operator
import os
import sys
from collections import Counter
from typing import NamedTuple, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from micrograd_ann import engine
from micrograd_ann.engine import OPS, OpError, Value, topological_order

settings.register_profile("fuzz", max_examples=2_000, deadline=None)
settings.register_profile("fuzz-slow", max_examples=20_000, deadline=None)

MAX_STEPS = 30
EPS = sys.float_info.epsilon
TINY = 5e-324  # the spacing of subnormal floats: the rounding floor near 0

SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 1e-8, -1e-8, 1e8,
           1e-300, -1e-300, TINY, 1e300, -1e300, sys.float_info.max]
# Mostly moderate, half of those positive, so deep graphs often get past log, sqrt and
# powers to a gradient check; one draw in five is an edge value and one in five any
# finite float (mostly huge or tiny).
MODERATE = st.one_of(st.floats(-4, 4), st.floats(0.01, 4))
NUMBERS = st.one_of(MODERATE, MODERATE, MODERATE, st.sampled_from(SPECIAL),
                    st.floats(allow_nan=False, allow_infinity=False))


def _arity(name: str) -> tuple[int | None, int]:
    """(inputs, params) of a table op, read from its rule partials(*inputs, *params, out).

    A variadic rule (sum, dot) gives None inputs; a '{}' in the symbol is where the op's
    one param is drawn (pow's exponent, leaky_relu's slope).
    """
    op = OPS[name]
    kinds = [p.kind for p in inspect.signature(op.partials).parameters.values()]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return None, 0
    params = 1 if "{}" in op.symbol else 0
    return len(kinds) - 1 - params, params


ARITY = {name: _arity(name) for name in OPS}
PYTHON_OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
              "truediv": operator.truediv, "pow": operator.pow, "neg": operator.neg}
KINDS = [("op", name) for name in OPS] + [("py", name) for name in PYTHON_OPS]


class Step(NamedTuple):
    kind: str  # "op": OPS[name] via engine.make_node; "py": PYTHON_OPS[name]
    name: str
    operands: tuple  # an int is the index of an earlier node, a float a plain number
    params: tuple[float, ...]


class Recipe(NamedTuple):
    leaves: tuple[float, ...]
    steps: tuple[Step, ...]

    def sinks(self) -> list[int]:
        """Nodes (leaves included) that no step uses: the recipe's outputs."""
        used = {ref for step in self.steps for ref in step.operands if isinstance(ref, int)}
        return [i for i in range(len(self.leaves) + len(self.steps)) if i not in used]


@st.composite
def recipes(draw) -> Recipe:
    leaves = tuple(draw(st.lists(NUMBERS, min_size=1, max_size=5)))
    steps = []
    for _ in range(draw(st.integers(1, MAX_STEPS))):
        made = len(leaves) + len(steps)
        # Shrinks towards the newest node, which makes deep graphs the simple case.
        node = st.integers(0, made - 1).map(lambda back, made=made: made - 1 - back)
        operand = st.one_of(node, node, NUMBERS)
        kind, name = draw(st.sampled_from(KINDS))
        if kind == "op":
            inputs, params = ARITY[name]
            count = draw(st.integers(1, 4)) if inputs is None else inputs
            operands = tuple(draw(operand) for _ in range(count))
            steps.append(Step(kind, name, operands, tuple(draw(NUMBERS) for _ in range(params))))
            continue
        operands = tuple(draw(operand) for _ in range(1 if name == "neg" else 2))
        if not any(isinstance(ref, int) for ref in operands):
            operands = (draw(node), *operands[1:])  # Python's own float maths otherwise
        steps.append(Step(kind, name, operands, ()))
    return Recipe(leaves, tuple(steps))


def _build(recipe: Recipe, leaf_data: Sequence[float]) -> tuple[list[Value], list[Value]]:
    """The recipe's leaves and outputs (the nodes no step used), for these leaf values."""
    leaves = [Value(x, f"x{i}") for i, x in enumerate(leaf_data)]
    nodes = list(leaves)
    for step in recipe.steps:
        args = [nodes[ref] if isinstance(ref, int) else ref for ref in step.operands]
        if step.kind == "op":
            parents = tuple(a if isinstance(a, Value) else Value(a) for a in args)
            nodes.append(engine.make_node(OPS[step.name], parents, step.params))
        else:
            nodes.append(PYTHON_OPS[step.name](*args))
    return leaves, [nodes[i] for i in recipe.sinks()]


def _graph(outputs: list[Value]) -> list[Value]:
    """Every node the outputs depend on, in creation order (so the leaves come first)."""
    nodes = {node: None for out in outputs for node in topological_order(out)}
    return sorted(nodes, key=lambda node: node.id)


def _sides(nodes: list[Value]) -> list[int]:
    """For each input of each kinked op, which side of each kink it is on (0: at it)."""
    return [(p.data > k) - (p.data < k)
            for node in nodes if node.op and node.op.kinks
            for p in node.parents for k in node.op.kinks]


class Adjoints(NamedTuple):
    position: int  # where the output is in the graph's node list
    grads: list[float]  # d(output)/d(node) for every node of the graph, from backward()
    noise: float  # estimated rounding error of the output's value


def check_recipe(recipe: Recipe) -> str:
    """Raise AssertionError unless the recipe errors cleanly or its gradients check out.

    Returns what happened: "OpError", "infinite partial", or the best of its checks
    ("tight", "loose", "skipped"; see _check_leaf). Each output is checked on its own,
    so a huge output cannot drown a small one's differences in its rounding.
    """
    try:
        leaves, outputs = _build(recipe, recipe.leaves)
    except OpError:
        return "OpError"
    graph = _graph(outputs)
    for node in graph:
        assert math.isfinite(node.data), f"non-finite value from finite leaves: {node!r}"
    sides = _sides(graph)
    adjoints = [_adjoints(graph.index(out), graph) for out in outputs]
    if not any(adjoints):
        return "infinite partial"
    checks = {_check_leaf(recipe, i, graph, adjoints, sides) for i in range(len(leaves))}
    return next(result for result in ("tight", "loose", "skipped") if result in checks)


def _adjoints(position: int, graph: list[Value]) -> Adjoints | None:
    """Backward from graph[position]; None where the chain rule has no finite answer."""
    for node in graph:
        node.grad = 0.0
    graph[position].backward()
    # NOTE: an infinite partial (sqrt or x ** 0.5 at 0: a vertical tangent) or an
    # adjoint that overflowed makes the chain rule meaningless in floats (inf * 0 = nan,
    # as in PyTorch): there is no finite derivative to compare with.
    if not all(math.isfinite(g) for node in graph for g in (node.grad, *node.partials)):
        return None
    # First-order rounding error of the output: each node's own rounding (half an ulp,
    # at least the subnormal spacing) carried to it by the adjoint d(out)/d(node).
    noise = sum(abs(n.grad) * max(EPS * abs(n.data), TINY) for n in graph)
    return Adjoints(position, [n.grad for n in graph], noise)


def _backward_error(graph: list[Value], grads: list[float], slopes: list[float]) -> float:
    """First-order rounding error of a leaf's gradient: every contribution grad * partial,
    and every += of it into an input, is off by half an ulp or, where it underflows, by up
    to the subnormal spacing (a product that vanishes to 0 loses all of itself); that
    error reaches the leaf through d(input)/d(leaf), the `slopes` of each node."""
    position = {node: n for n, node in enumerate(graph)}
    return sum(slopes[position[parent]] * (2 * EPS * abs(grad * partial) + TINY)
               for node, grad in zip(graph, grads)
               for parent, partial in zip(node.parents, node.partials))


def _check_leaf(recipe: Recipe, i: int, graph: list[Value], adjoints: list[Adjoints | None],
                sides: list[int]) -> str:
    """Compare leaf i's gradients with central differences D, within their own errors.

    Skipped when x +- 2h crosses 0 (a tiny x: div and negative powers have a pole there),
    when a graph perturbed to x +- h or x +- 2h raises (a pole or domain edge is that
    close) or moves a kinked op's input (the table's `kinks`) to another side of a
    kink, onto one or off one: D would straddle two pieces. (An input that stays at a
    kink does not depend on this leaf, so its subgradient cannot matter.) Otherwise the
    gradient must be within 10x the estimated error (plus 1e-6 relative): D's truncation
    |D(h) - D(2h)| / 3 (D(2h) has 4x the h^2 error), D's rounding noise / h, and the
    gradient's own rounding. Huge values, cancellation and steep curvature so widen the
    tolerance exactly as much as they blur the numbers; "tight" means some check was good
    to 1e-4, "loose" none was.
    NOTE: the error estimates use backward's adjoints, but only scaled by ~eps / h
    (~2e-10), so a wrong adjoint cannot hide its own error.
    """
    x = recipe.leaves[i]
    # Relative to x, so x +- h keeps x's digits (1e-300 + 1e-6 would lose x), with a
    # floor at which x +- h is still centred on x to within 1e-16 of h.
    h = 1e-6 * max(abs(x), 1e-290)
    if abs(x) <= 2 * h:  # the steps cross 0, where div and negative powers have a pole
        return "skipped"
    at, values = {}, {}
    for k in (-2, -1, 1, 2):
        data = list(recipe.leaves)
        data[i] = x + k * h
        try:
            _, outputs = _build(recipe, data)
        except OpError:
            return "skipped"
        nodes = _graph(outputs)
        if _sides(nodes) != sides:
            return "skipped"
        at[k], values[k] = data[i], [node.data for node in nodes]
    slopes = [abs(a - b) / (at[1] - at[-1]) for a, b in zip(values[1], values[-1])]
    result = "skipped"
    for adjoint in filter(None, adjoints):
        n = adjoint.position
        d1 = (values[1][n] - values[-1][n]) / (at[1] - at[-1])
        d2 = (values[2][n] - values[-2][n]) / (at[2] - at[-2])
        error = (abs(d1 - d2) / 3 + adjoint.noise / h
                 + _backward_error(graph, adjoint.grads, slopes))
        if not math.isfinite(error):
            continue
        grad = adjoint.grads[i]  # the leaves are made first, so graph[i] is leaf i
        assert abs(grad - d1) <= 10 * error + 1e-6 * abs(d1), (
            f"output {n}, leaf x{i}: backward gives {grad!r}, central difference {d1!r} "
            f"(estimated error {error:.3g})")
        if error <= 1e-4 * abs(d1):
            result = "tight"
        elif result == "skipped":
            result = "loose"
    return result


def _profile() -> str:
    return os.environ.get("HYPOTHESIS_PROFILE", "fuzz")


def test_every_random_graph_errors_cleanly_or_matches_finite_differences():
    outcomes: Counter[str] = Counter()

    @settings(settings.get_profile(_profile()))
    @given(recipes())
    def run(recipe):
        outcomes[check_recipe(recipe)] += 1

    run()
    # About 30% of cases get a tight gradient check (most others raise OpError: log,
    # sqrt or a power of a negative); far fewer means the checker is skipping them.
    assert outcomes["tight"] >= 0.1 * sum(outcomes.values()), outcomes


def test_the_table_arities_are_what_the_ops_take():
    assert ARITY["add"] == (2, 0)
    assert ARITY["pow"] == (1, 1)
    assert ARITY["leaky_relu"] == (1, 1)
    assert ARITY["sum"] == (None, 0)
    for name, (inputs, params) in ARITY.items():
        args = [0.5] * ((inputs or 3) + params)
        OPS[name].forward(*args)  # raises TypeError if the count were wrong


def test_the_checker_catches_a_wrong_partial(monkeypatch):
    recipe = Recipe((0.7, -1.3), (Step("op", "mul", (0, 1), ()), Step("op", "tanh", (2,), ())))
    assert check_recipe(recipe) == "tight"
    wrong = OPS["tanh"]._replace(partials=lambda a, out: (1.0 - out * out * 1.001,))
    monkeypatch.setitem(engine.OPS, "tanh", wrong)
    with pytest.raises(AssertionError, match="leaf x0: backward gives"):
        check_recipe(recipe)


def test_the_checker_skips_only_kinks_the_leaf_moves_across():
    # |x - 0.2999999| at x = 0.3: the kink is 1e-7 away, inside x +- h (h = 3e-7).
    crossing = Recipe((0.3,), (Step("py", "sub", (0, 0.2999999), ()), Step("op", "abs", (1,), ())))
    assert check_recipe(crossing) == "skipped"
    smooth = Recipe((0.3,), (Step("op", "abs", (0,), ()),))
    assert check_recipe(smooth) == "tight"
    at_kink = Recipe((0.3,), (Step("op", "abs", (0,), ()), Step("op", "relu", (-0.0,), ())))
    assert check_recipe(at_kink) == "tight"  # relu(-0.0) sits at its kink, but not on x0
    on_kink = Recipe((0.0,), (Step("op", "relu", (0,), ()),))
    assert check_recipe(on_kink) == "skipped"
