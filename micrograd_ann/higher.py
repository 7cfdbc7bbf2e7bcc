"""Second-order gradients and forward mode, both read from the engine's one op table.

Reverse over reverse: `gradient_graph` runs backward()'s chain rule with each op's rule run
on Values instead of read from the stored floats, so the gradient is a graph of its own
that can be differentiated again: `gradients`, `grad(f)` (grad(grad(f)) works) and
`backward(create_graph=True)`, which this module registers with the engine. Forward mode:
`jvp` pushes tangents from the inputs to the output through the partials every node
already stores -- one directional derivative per pass. The two combine: `hvp` and
`hessian` run forward mode over the gradient's graph. `explain_jvp` and
`forward_vs_reverse` show forward mode next to backward: a whole gradient is one forward
pass per input, or one backward pass.

Functions given to `hessian`, `hvp` and `jvp` take a list of Values and return a Value,
as for gradcheck; `grad(f)` follows jax.grad instead: f takes its arguments one by one.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

from . import engine
from .checks import OpOverflowError, check_int, check_number
from .engine import OPS, Value, sum_values, topological_order
from .formatting import number
from .trace import display_names, formula

Function = Callable[[list[Value]], Value]  # f(inputs) -> a scalar Value, as in gradcheck

# ---------------------------------------------------------------- reverse over reverse


def gradients(root: Value, inputs: Sequence[Value]) -> list[Value]:
    """d root / d input for each input, as Values that can be differentiated again.

    torch.autograd.grad(root, inputs, create_graph=True), in effect; no .grad changes.
    An input that root does not depend on gets a constant 0.
    """
    _check_value("root", root)
    inputs = _checked_values(inputs)
    grads = gradient_graph(root)
    return [grads[x] if x in grads else Value(0.0) for x in inputs]


def grad(f: Callable[..., Value], argnum: int = 0) -> Callable[..., Value]:
    """d f / d (argument `argnum`), as a function of f's arguments (jax.grad's spelling).

    It returns a Value, so grad(grad(f)) is the second derivative. Numbers passed to it
    become leaves; Values are used as they are, so its result joins their graph.
    """
    if not callable(f):
        raise TypeError(f"grad needs a function, got {type(f).__name__}")
    check_int("argnum", argnum)

    def derivative(*args: Value | float) -> Value:
        if argnum >= len(args):
            raise TypeError(f"grad(f, argnum={argnum}) was called with {len(args)} "
                            f"argument(s); it needs at least {argnum + 1}")
        xs = _leaves(args)
        return gradients(_checked_out(f(*xs)), [xs[argnum]])[0]

    derivative.__name__ = derivative.__qualname__ = f"grad({getattr(f, '__name__', 'f')})"
    return derivative


# --------------------------------------------------------- gradients as Values
# One table, two readings: the rules below run each Op's partials on Values (its inputs,
# then the node itself as `out`). Most rules are arithmetic and work on Values as they
# are; the few that branch on numbers get a Value rule here, next to each other.


def _pow_rule(a: Value, n: float, out: Value) -> tuple:
    """d(a^n)/da = n * a^(n-1) as a Value; the float rule's constants at its limits."""
    if n == 0.0 or (a.data == 0.0 and n < 1.0):
        return OPS["pow"].partials(a.data, n, out.data)
    try:
        return (n * a ** (n - 1.0),)
    except OverflowError:  # the slope overflows: the float rule's signed inf
        return OPS["pow"].partials(a.data, n, out.data)


def _powv_rule(a: Value, b: Value, out: Value) -> tuple:
    """d/da = b * a^(b-1), d/db = a^b * ln a, as Values; at a == 0 the float rule's limits."""
    limits = OPS["powv"].partials(a.data, b.data, out.data)
    if a.data == 0.0:
        return (limits[0] if b.data < 1.0 else b * a ** (b - 1.0), limits[1])
    try:
        return (b * a ** (b - 1.0), out * a.log())
    except OverflowError:
        return (limits[0], out * a.log())


def _sqrt_rule(a: Value, out: Value) -> tuple:
    """d sqrt(a)/da = 1 / (2 sqrt(a)), from the output; inf at 0 (a vertical tangent)."""
    return (math.inf,) if out.data == 0.0 else (0.5 / out,)


VALUE_RULES = {"pow": _pow_rule, "powv": _powv_rule, "sqrt": _sqrt_rule}


def gradient_graph(root: Value, grad: float = 1.0) -> dict[Value, Value]:
    """d(root)/d(node) * grad for every node in root's graph, as Values that can be
    differentiated again; no node's .grad changes.

    A gradient that is a constant (root's own, or one reached only through +, sum and
    kinked ops) is a new leaf holding that number. Its data is what backward() adds up,
    bit for bit: the same products, added in the same order, from +0.0. Where a product
    overflows (backward's floats give inf silently, a Value op would raise), the gradient
    is a constant leaf holding that inf, as backward() has it.
    """
    seed = check_number("gradient_graph's grad", grad)
    incoming: dict[Value, list[float | Value]] = {root: [seed]}
    grads: dict[Value, Value] = {}
    for node in reversed(topological_order(root)):
        upstream = _total(incoming.pop(node))  # every node here feeds root: one arrived
        grads[node] = upstream if isinstance(upstream, Value) else Value(upstream)
        if node.parents:
            for parent, local in zip(node.parents, _value_partials(node)):
                incoming.setdefault(parent, []).append(_times(upstream, local))
    return grads


def _value_partials(node: Value) -> tuple[float | Value, ...]:
    """node's local derivatives from its Op's rule run on Values (its inputs, then node
    itself as `out`), so they carry a graph; for a kinked op, its stored constants."""
    op = node.op
    if op.kinks:  # piecewise linear: a constant between kinks, derivative 0 (PyTorch's)
        return node.partials
    rule = VALUE_RULES.get(op.name) if OPS.get(op.name) is op else None
    try:
        partials = (rule or op.partials)(*node.parents, *node.params, node)
    except OpOverflowError:  # the float rule gave inf there: keep those partials, constants
        return node.partials
    except TypeError as exc:
        raise NotImplementedError(
            f"{op.name}'s partials rule cannot run on Values ({exc}), so its gradient "
            f"cannot be differentiated again; write the rule with arithmetic that works on "
            f"floats and Values alike (as the built-in ops' rules are)") from None
    if len(partials) != len(node.parents):
        raise ValueError(f"{op.name}'s partials gave {len(partials)} values on Values for "
                         f"{len(node.parents)} inputs")
    return partials


def _data(x: float | Value) -> float:
    return x.data if isinstance(x, Value) else x


def _times(upstream: float | Value, local: float | Value) -> float | Value:
    """upstream * local, making no node for a constant factor 1 (the seed, +, sum) or 0 (a
    dead relu: the product is the constant 0 * x, nan if x is inf, as backward() makes
    it), so nothing is built behind a unit that passes no gradient."""
    if not isinstance(upstream, Value):
        if upstream == 1.0:
            return local
        if upstream == 0.0:
            return upstream * _data(local)
    if not isinstance(local, Value):
        if local == 1.0:
            return upstream
        if local == 0.0:
            return _data(upstream) * local
    try:
        return upstream * local
    except OpOverflowError:  # backward's float product is inf: the same inf, as a constant
        return Value(_data(upstream) * _data(local))


def _total(parts: list[float | Value]) -> float | Value:
    """The contributions to one gradient, added as backward() adds them: from +0.0, in
    arrival order (a constant 0 among Values changes no such sum, so it gets no leaf)."""
    if not any(isinstance(part, Value) for part in parts):
        total = 0.0
        for part in parts:
            total += part
        return total
    values = [part for part in parts if isinstance(part, Value) or part != 0.0]
    if len(values) > 1:
        try:
            return sum_values(values)
        except OpOverflowError:  # as in _times: backward's inf, as a constant
            return Value(_total([_data(part) for part in values]))
    only = values[0]  # NOTE: backward's 0.0 + -0.0 is +0.0, so a lone -0.0 gets that add
    return only + 0.0 if only.data == 0.0 and math.copysign(1.0, only.data) < 0 else only


def _backward_with_graph(root: Value, grad: float) -> None:
    """backward(create_graph=True)'s first part: every node's grad_value, as a Value."""
    for node, value in gradient_graph(root, grad).items():
        node.grad_value = value


engine.set_hook("create_graph", _backward_with_graph)


# ----------------------------------------------------------------------- forward mode


def _forward(order: list[Value], tangents: dict[Value, float]) -> Iterator[Value]:
    """The forward pass over `order` (topological): each node's tangent is the sum of
    local * input tangent over its inputs that have one, stored in `tangents` (which
    holds the seeds, {input: tangent}); yields each node given a tangent.

    A node that depends on no seed gets no tangent -- a zero that is never multiplied, so
    an infinite partial there cannot make a nan; a seeded node keeps its seed.
    """
    for node in order:
        if not node.parents or node in tangents:
            continue
        total = None
        for parent, local in zip(node.parents, node.partials):
            tangent = tangents.get(parent)
            if tangent is not None:
                total = local * tangent if total is None else total + local * tangent
        if total is not None:
            tangents[node] = total
            yield node


def _run(order: list[Value], tangents: dict[Value, float]) -> dict[Value, float]:
    """The whole forward pass, for its tangents."""
    for _ in _forward(order, tangents):
        pass
    return tangents


def jvp(root_or_f: Value | Function, inputs: Sequence[Value | float],
        tangents: Sequence[float]) -> tuple[float, float]:
    """(value, directional derivative) of root along `tangents` on `inputs`, in one pass.

    Forward mode: each node's tangent is sum(partial_i * tangent of input i), in
    topological order, from the partials the nodes store. `root_or_f` is the output
    Value (inputs: Values in its graph) or f(inputs) -> Value (numbers become leaves).
    """
    root, inputs = _root_and_inputs(root_or_f, inputs)
    tangent = _run(topological_order(root), _seeds(inputs, tangents))
    return root.data, tangent.get(root, 0.0)


def hvp(root_or_f: Value | Function, inputs: Sequence[Value | float],
        vector: Sequence[float]) -> list[float]:
    """The Hessian of root times `vector`, H v, with no Hessian built: the gradient as
    Values (one reverse pass), then one forward pass over its graph (forward over reverse)."""
    root, inputs = _root_and_inputs(root_or_f, inputs)
    grads = gradients(root, inputs)
    return _hvp(grads, _gradient_order(grads), inputs, vector)


def hessian(root_or_f: Value | Function, inputs: Sequence[Value | float]) -> list[list[float]]:
    """The matrix of second derivatives d2 root / d input_i d input_j, as floats.

    One reverse pass builds the gradient as Values, then one forward pass per input over
    its graph gives a column (forward over reverse); .grad is left alone.
    """
    root, inputs = _root_and_inputs(root_or_f, inputs)
    grads = gradients(root, inputs)
    order = _gradient_order(grads)
    n = len(inputs)
    columns = [_hvp(grads, order, inputs, [float(i == j) for i in range(n)])
               for j in range(n)]
    return [[columns[j][i] for j in range(n)] for i in range(n)]


def _gradient_order(grads: list[Value]) -> list[Value]:
    """Every node the gradient's entries depend on, in topological order."""
    return topological_order(sum_values(grads))  # a node over them all, to walk once


def _hvp(grads: list[Value], order: list[Value], inputs: list[Value],
         vector: Sequence[float]) -> list[float]:
    """The tangent of every gradient entry when `vector` is the inputs' tangent: H v."""
    tangent = _run(order, _seeds(inputs, vector))
    return [tangent.get(g, 0.0) for g in grads]


# -------------------------------------------------------------------------- as text


def explain_jvp(root: Value, inputs: Sequence[Value], tangents: Sequence[float]) -> str:
    """The forward pass of jvp as text, one block per node, like trace.explain's backward.

    Each block adds local derivative * input tangent over the node's inputs; nodes that
    depend on no seeded input are skipped, as forward mode skips them.
    """
    _check_value("root", root)
    inputs = _checked_values(inputs)
    tangents = _seeds(inputs, tangents)
    names = display_names(root)
    seeded = ", ".join(f"{_name(x, names, i)} = {number(tangents[x])}"
                       for i, x in enumerate(dict.fromkeys(inputs)))
    steps = list(_forward(list(names), tangents))  # names: the nodes in topological order
    lines = [f"forward pass (jvp) to {names[root]} = {number(root.data)}, "
             f"tangents {seeded}: {len(steps)} steps"]
    for k, node in enumerate(steps, start=1):
        lines.append(f"step {k}/{len(steps)}  {names[node]} = "
                     f"{formula(node, [names[parent] for parent in node.parents])}")
        cells = [(names[parent], number(local), number(tangents[parent]),
                  number(local * tangents[parent]))  # the products _forward added
                 for parent, local in zip(node.parents, node.partials) if parent in tangents]
        widths = [max(len(row[c]) for row in cells) for c in range(3)]
        for name, local, tangent, product in cells:
            lines.append(f"    from {name:<{widths[0]}}  local {local:<{widths[1]}} * "
                         f"tangent {tangent:<{widths[2]}} = {product}")
        lines.append(f"    {names[node]}.tangent = {number(tangents[node])}")
    lines.append(f"directional derivative of {names[root]}: "
                 f"{number(tangents.get(root, 0.0))}")
    return "\n".join(lines)


def forward_vs_reverse(root: Value, inputs: Sequence[Value]) -> str:
    """root's gradient computed both ways, as text: forward mode needs one pass per input
    (tangent 1 on it, 0 elsewhere), reverse mode one backward pass for all of them."""
    _check_value("root", root)
    inputs = _checked_values(inputs)
    names = display_names(root)
    order = list(names)  # topological order
    forward, forward_steps = [], 0
    for x in inputs:
        tangents = {x: 1.0}
        forward_steps += sum(1 for _ in _forward(order, tangents))
        forward.append(tangents.get(root, 0.0))
    grads = gradient_graph(root)  # the chain rule backward() runs, one visit per node
    reverse = [grads[x].data if x in grads else 0.0 for x in inputs]
    ops = sum(1 for node in names if node.parents)
    n = len(inputs)
    table = [("input", "forward mode", "reverse mode")]
    table += [(_name(x, names, i), number(f), number(r))
              for i, (x, f, r) in enumerate(zip(inputs, forward, reverse))]
    widths = [max(len(row[c]) for row in table) for c in range(3)]
    lines = [f"gradient of {names[root]} = {number(root.data)} with respect to {n} "
             f"input{'s' * (n != 1)}, through {ops} op node{'s' * (ops != 1)}",
             f"  forward mode (jvp): {n} pass{'es' * (n != 1)}, tangent 1 on one input "
             f"each, {forward_steps} node steps in all",
             f"  reverse mode (backward): 1 pass, seed 1 on {names[root]}, {ops} node steps"]
    lines += ["    " + "  ".join(cell.ljust(w) if c == 0 else cell.rjust(w)
                                 for c, (cell, w) in enumerate(zip(row, widths)))
              for row in table]
    lines.append("each forward pass gives one input's derivative, the backward pass all of "
                 "them:\na loss of many parameters wants reverse mode")
    return "\n".join(lines)


def _name(x: Value, names: dict[Value, str], i: int) -> str:
    """An input's display name: as in the graph's listings, else its label or position."""
    return names.get(x) or x.label or f"inputs[{i}]"


# ------------------------------------------------------------------------ internals


def _root_and_inputs(root_or_f: Value | Function, inputs: Sequence[Value | float]
                     ) -> tuple[Value, list[Value]]:
    """The root and its inputs: root_or_f itself, or f called on the inputs as leaves."""
    if isinstance(root_or_f, Value):
        return root_or_f, _checked_values(inputs)
    if not callable(root_or_f):
        raise TypeError(f"expected a root Value or a function f(inputs) -> Value, got "
                        f"{type(root_or_f).__name__}")
    leaves = _leaves(_listed(inputs))
    return _checked_out(root_or_f(leaves)), leaves


def _seeds(inputs: list[Value], tangents: Sequence[float]) -> dict[Value, float]:
    """{input: tangent}; an input listed twice gets the sum (it is one variable)."""
    tangents = _listed(tangents, "tangents")
    if len(tangents) != len(inputs):
        raise ValueError(f"{len(tangents)} tangents for {len(inputs)} inputs; give one each")
    seeds: dict[Value, float] = {}
    for i, (x, t) in enumerate(zip(inputs, tangents)):
        seeds[x] = seeds.get(x, 0.0) + check_number(f"tangents[{i}]", t)
    return seeds


def _leaves(items: Sequence[Value | float]) -> list[Value]:
    """Values as they are; numbers as new leaves labelled x0, x1, ..."""
    leaves = []
    for i, item in enumerate(items):
        if not isinstance(item, Value):
            check_number(f"input x{i}", item)
            item = Value(item, f"x{i}")
        leaves.append(item)
    return leaves


def _listed(items: object, what: str = "inputs") -> list:
    if isinstance(items, Value) or not isinstance(items, (list, tuple)):
        raise TypeError(f"{what} must be a list, e.g. [x, y], not {type(items).__name__}")
    if not items:
        raise ValueError(f"{what} is empty")
    return list(items)


def _checked_values(inputs: Sequence[Value]) -> list[Value]:
    inputs = _listed(inputs)
    for i, x in enumerate(inputs):
        _check_value(f"inputs[{i}]", x)
    return inputs


def _check_value(what: str, x: object) -> None:
    if not isinstance(x, Value):
        raise TypeError(f"{what} must be a Value, got {type(x).__name__} ({x!r})")


def _checked_out(out: object) -> Value:
    if not isinstance(out, Value):
        raise TypeError(f"f must return a Value, got {type(out).__name__} ({out!r})")
    return out
