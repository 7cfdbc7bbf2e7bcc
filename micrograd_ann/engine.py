"""The scalar autograd engine: the table of primitive ops, `Value`, and backward.

Each op in `OPS` is its forward (floats in, a float out) beside its local partial
derivatives (one float per input). A node stores its Op and those partials as numbers when
it is made, so backward() is: reset intermediate grads, seed the root, then, outputs first,
`parent.grad += node.grad * local`. No closures, no reference cycles, no recursion. This is
the reference interpreter; higher.py (rules on Values), codegen.py and compiler.py (rules as
Python source: the fast path) and trace.py (one step at a time) read the same table.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from typing import Callable, Iterable, NamedTuple, Sequence

from .checks import (OpDomainError, OpError, OpOverflowError, OpZeroDivisionError,  # noqa: F401
                     as_float, check_number, check_op, check_op_result, check_str,
                     is_number, op_error)


class Op(NamedTuple):
    """One primitive: `forward(*inputs, *params)` and `partials(*inputs, *params, out)`,
    floats in and out (one partial per input); `params` are constants such as an exponent,
    `kinks` the inputs where the op has no derivative (its partial is a subgradient there)."""

    name: str
    symbol: str  # drawn in graphs; "{}" is filled with the node's params
    forward: Callable[..., float]
    partials: Callable[..., tuple[float, ...]]
    kinks: tuple[float, ...] = ()


# ------------------------------------------------------------ rules longer than a line


def _real_pow(a: float, n: float) -> float:
    """a ** n as a float; Python would return a complex number for (-8) ** 0.5."""
    out = a**n
    if isinstance(out, complex):
        raise ValueError("a negative base to a fractional power is not a real number")
    return out


def _pow_partials(a: float, n: float, out: float) -> tuple[float]:
    """d(a^n)/da = n * a^(n-1), with the limits at a == 0 spelled out."""
    if n == 0.0:
        return (0.0,)
    if a == 0.0 and n < 1.0:
        return (math.inf,)  # NOTE: a vertical tangent, e.g. a ** 0.5 at 0
    try:
        return (n * a ** (n - 1.0),)
    except OverflowError:  # NOTE: the slope can overflow where the value does not (1/1e-200)
        negative = (n < 0.0) != (a < 0.0 and (n - 1.0) % 2.0 == 1.0)
        return (-math.inf if negative else math.inf,)


def _powv_partials(a: float, b: float, out: float) -> tuple[float, float]:
    """d/da = b * a^(b-1); d/db = a^b * ln a, whose limit at a = 0 is 0 for b >= 0."""
    # NOTE: PyTorch takes the same limit and keeps a NaN exponent's NaN (0 ** nan is nan).
    if a < 0.0:
        raise ValueError("the base must be >= 0 when the exponent is a Value (d/db = a^b ln a)")
    db = out * math.log(a) if a != 0.0 else 0.0 if b >= 0.0 else math.nan
    return (_pow_partials(a, b, out)[0], db)


def _dot_forward(*args: float) -> float:
    """w . x + b on the table's arguments: w0..w(n-1), x0..x(n-1), then b if odd."""
    n = len(args) // 2
    out = sum(map(operator.mul, args[:n], args[n : 2 * n]))
    return out + args[-1] if len(args) % 2 else out


def _dot_partials(*args: float) -> tuple[float, ...]:
    """d/dw_i = x_i, d/dx_i = w_i, d/db = 1 (the last argument is the output)."""
    n = (len(args) - 1) // 2
    w, x = args[:n], args[n : 2 * n]
    return (*x, *w, 1.0) if len(args) % 2 == 0 else (*x, *w)


# ------------------------------------------------------------------------ the table
# Each rule takes the op's inputs (then params, then the output) and returns one partial per
# input; reusing the output is cheap and stable (tanh), a constant tuple is made once (relu).

OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op("add", "+", operator.add, lambda a, b, out: (1.0, 1.0)),
        Op("mul", "*", operator.mul, lambda a, b, out: (b, a)),
        # NOTE: -out / b, not -a / b**2, whose b**2 over- or underflows where a / b**2 does not
        Op("div", "/", operator.truediv, lambda a, b, out: (1.0 / b, -out / b)),
        Op("pow", "**{}", _real_pow, _pow_partials),  # the exponent is a number (a param)
        Op("powv", "**", _real_pow, _powv_partials),  # the exponent is a Value
        Op("exp", "exp", math.exp, lambda a, out: (out,)),
        Op("log", "log", math.log, lambda a, out: (1.0 / a,)),
        Op("tanh", "tanh", math.tanh, lambda a, out: (1.0 - out * out,)),
        # NOTE: exp() only ever sees a number <= 0, so it cannot overflow for any a
        Op("sigmoid", "sigmoid",
           lambda a: 1.0 / (1.0 + math.exp(-a)) if a >= 0.0 else math.exp(a) / (1.0 + math.exp(a)),
           lambda a, out: (out * (1.0 - out),)),
        # NOTE: at the kink a == 0 the subgradient 0 is used (as PyTorch does); written as
        # "a <= 0" so that NaN passes through rather than becoming 0.
        Op("relu", "ReLU", lambda a: 0.0 if a <= 0.0 else a,
           lambda a, out: (0.0,) if a <= 0.0 else (1.0,), kinks=(0.0,)),
        Op("leaky_relu", "leaky_relu({})", lambda a, s: s * a if a <= 0.0 else a,
           lambda a, s, out: (s if a <= 0.0 else 1.0,), kinks=(0.0,)),
        Op("abs", "abs", abs,
           lambda a, out: (1.0,) if a > 0.0 else (-1.0,) if a < 0.0 else (0.0,), kinks=(0.0,)),
        Op("sqrt", "sqrt", math.sqrt,
           lambda a, out: (math.inf if out == 0.0 else 0.5 / out,)),  # inf: vertical tangent
        # NOTE: left to right from 0.0, as backward() adds; builtin sum() compensates (3.12+)
        Op("sum", "sum", lambda *a: functools.reduce(operator.add, a, 0.0),
           lambda *a: (1.0,) * (len(a) - 1)),
        Op("dot", "dot", _dot_forward, _dot_partials),  # one node per neuron: w . x + b
    ]
}
_ADD, _MUL, _DIV, _POW, _POWV = OPS["add"], OPS["mul"], OPS["div"], OPS["pow"], OPS["powv"]
_EXP, _LOG, _TANH, _SIGMOID = OPS["exp"], OPS["log"], OPS["tanh"], OPS["sigmoid"]
_RELU, _LEAKY_RELU, _ABS, _SQRT = OPS["relu"], OPS["leaky_relu"], OPS["abs"], OPS["sqrt"]
_SUM, _DOT = OPS["sum"], OPS["dot"]

_ids = itertools.count()  # creation order: a node's inputs always have smaller ids
# Hooks other modules plug in (set_hook); while one is None it costs one global lookup.
_on_create: Callable[[Value], None] | None = None  # each new node (trace.detect_anomaly)
_on_step: Callable[[Value], None] | None = None  # each node after its chain rule (same)
_create_graph: Callable[[Value, float], None] | None = None  # higher.py, on import


class Value:
    """A scalar in a computation graph: its data, its gradient and how it was made.

    `op` made it (None for a leaf) from `parents`, in operand order (a*a has two); `partials`
    holds d(self)/d(parent) for each, `params` the op's constants (an exponent); `id` counts
    creations (inputs first), `module` names the nn neuron that made it. micrograd's
    `Value(data, _children=(), _op='')` is accepted for leaves.
    """

    # NOTE: __dict__ lets programs keep state on a node (p.m), costing nothing until they do
    __slots__ = ("data", "grad", "label", "op", "parents", "partials", "params", "id",
                 "module", "__dict__")
    grad_value: Value | None = None  # set by backward(create_graph=True): see higher.py

    def __init__(self, data: float, _children: tuple | str = (), _op: str = "",
                 label: str = ""):
        if isinstance(_children, str):  # Value(2.0, "x"): the label, positionally
            _children, label = (), _children
        if _children:
            raise TypeError("a Value made from children needs its local derivatives: build "
                            "it with engine.apply(Op(...)) (micrograd's _backward is not used)")
        if not is_number(data):
            hint = " (use v itself, or v.data for its number)" if isinstance(data, Value) else ""
            raise TypeError(f"Value() takes an int or float, got {type(data).__name__}{hint}")
        self.data, self.grad = as_float("Value()'s data", data), 0.0
        self.label = check_str("label", label)
        self.op, self.parents, self.partials, self.params = None, (), (), ()
        self.id, self.module = next(_ids), ""
        if _on_create is not None:
            _on_create(self)

    # -- arithmetic: every operator makes one node from its table entry ----------------

    def __add__(self, other: Value | float) -> Value:
        other = _as_value(other)
        return NotImplemented if other is NotImplemented else make_node(_ADD, (self, other))

    def __mul__(self, other: Value | float) -> Value:
        other = _as_value(other)
        return NotImplemented if other is NotImplemented else make_node(_MUL, (self, other))

    def __truediv__(self, other: Value | float) -> Value:
        other = _as_value(other)
        return NotImplemented if other is NotImplemented else make_node(_DIV, (self, other))

    def __pow__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return make_node(_POWV, (self, other))
        return make_node(_POW, (self,), (float(other),)) if is_number(other) else NotImplemented

    def __rpow__(self, other: float) -> Value:  # other ** self
        base = _as_value(other)
        return NotImplemented if base is NotImplemented else make_node(_POWV, (base, self))

    def __neg__(self) -> Value:  # -self
        return self * -1.0

    def __sub__(self, other: Value | float) -> Value:  # self - other
        if is_number(other):
            return self + -float(other)  # a number is negated as a number: no extra node
        return self + (-other) if isinstance(other, Value) else NotImplemented

    # NOTE: a reflected op returns NotImplemented for a non-number, so Python's TypeError
    # names the operator and operands as written ("str" - Value), not an inner op.
    __radd__ = __add__  # other + self, as self + other
    __rmul__ = __mul__

    def __rsub__(self, other: float) -> Value:  # other - self
        return (-self) + other if is_number(other) else NotImplemented

    def __rtruediv__(self, other: float) -> Value:  # other / self
        other = _as_value(other)
        return NotImplemented if other is NotImplemented else make_node(_DIV, (other, self))

    # -- functions -----------------------------------------------------------------

    def exp(self) -> Value:
        """e^x; derivative e^x."""
        return make_node(_EXP, (self,))

    def log(self) -> Value:
        """Natural log, x > 0; derivative 1/x. log(0) raises rather than nudging x."""
        return make_node(_LOG, (self,))

    def tanh(self) -> Value:
        """tanh(x) via math.tanh; derivative 1 - tanh(x)^2."""
        return make_node(_TANH, (self,))

    def sigmoid(self) -> Value:
        """1 / (1 + e^-x), stable for any |x|; derivative s(1 - s)."""
        return make_node(_SIGMOID, (self,))

    def relu(self) -> Value:
        """max(0, x); derivative 1 for x > 0, else 0 (0 at the kink)."""
        return make_node(_RELU, (self,))

    def leaky_relu(self, slope: float = 0.01) -> Value:
        """x for x > 0, else slope * x; derivative 1 or slope (slope at the kink)."""
        return make_node(_LEAKY_RELU, (self,), (check_number("leaky_relu slope", slope),))

    def abs(self) -> Value:
        """|x|; derivative sign(x) (0 at the kink)."""
        return make_node(_ABS, (self,))

    def sqrt(self) -> Value:
        """sqrt(x), x >= 0; derivative 1 / (2 sqrt(x)) (inf at 0)."""
        return make_node(_SQRT, (self,))

    # -- backward ------------------------------------------------------------------

    def backward(self, grad: float = 1.0, create_graph: bool = False) -> None:
        """Add d(self)/d(node) * grad into every node's .grad, outputs first.

        Intermediate grads are reset first; leaves accumulate (zero_grad resets them, as in
        PyTorch), so a second call adds each contribution again: twice the gradient, up to
        rounding. To pause on steps: trace.backward_steps. `create_graph=True` also sets each
        node's `grad_value`: the same gradient as a Value, to differentiate again.
        """
        if type(grad) is not float:
            grad = check_number("backward's grad", grad)
        if create_graph is not False:  # second order, plugged in by higher.py
            if not isinstance(create_graph, bool):
                raise TypeError(f"create_graph must be True or False, got {create_graph!r}")
            if _create_graph is None:
                raise RuntimeError("backward(create_graph=True) is higher.py's: import "
                                   "micrograd_ann.higher (using the package's names does)")
            _create_graph(self, grad)
        chain_rule(backward_order(self, grad))

    def zero_grad(self) -> None:
        """Set this Value's gradient to 0."""
        self.grad = 0.0

    def __repr__(self) -> str:  # micrograd's, whose zero grad is the int 0; then any label
        grad = 0 if str(self.grad) == "0.0" else self.grad
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data!r}, grad={grad!r}{label})"

    # -- micrograd's names -----------------------------------------------------------

    _prev = property(lambda self: set(self.parents), doc="micrograd's name for the inputs "
                     "(a set there; `parents` keeps their order and duplicates)")
    _op = property(lambda self: op_symbol(self), doc="micrograd's op label: '*', '**2', ''...")

    @property
    def _backward(self) -> Callable[[], None]:
        """micrograd's per-node step: add this node's contribution into its inputs."""
        return lambda: chain_rule((self,))

    @_backward.setter
    def _backward(self, fn: object) -> None:  # micrograd's closures are not used here
        raise AttributeError("a node's backward rule is its Op's partials: make an Op(name, "
                             "symbol, forward, partials), then engine.apply(op, ...)")

    def __reduce__(self) -> tuple:  # pickle and copy
        """The graph flat: leaves as themselves (a shallow copy shares them), the nodes above
        as records rebuilt in order, so depth costs no recursion."""
        nodes = topological_order(self)
        index = {node: i for i, node in enumerate(nodes)}
        return _rebuild, ([_record(node, index) if node.parents or node is self else node
                           for node in nodes],)


def _record(node: Value, index: dict[Value, int]) -> tuple:
    """A node as data: a built-in op by name (yours as itself), its inputs by position, and
    its fields with what a program stored on it (not grad_value, a graph of its own)."""
    op = node.op.name if node.op is not None and OPS.get(node.op.name) is node.op else node.op
    fields = {k: v for k, v in vars(node).items() if k != "grad_value"}
    fields.update((k, getattr(node, k)) for k in ("grad", "label", "partials", "params",
                                                  "module"))
    return op, node.data, [index[p] for p in node.parents], fields


def _rebuild(records: list) -> Value:
    """The graph __reduce__ recorded, with fresh ids in the same (topological) order."""
    nodes: list[Value] = []
    for record in records:
        if not isinstance(record, Value):
            op, data, parents, fields = record
            record = Value(data)
            record.op = OPS[op] if isinstance(op, str) else op
            record.parents = tuple(nodes[i] for i in parents)
            for name, value in fields.items():
                setattr(record, name, value)
        nodes.append(record)
    return nodes[-1]


# ------------------------------------------------------------------ building nodes

def make_node(op: Op, parents: tuple[Value, ...], params: tuple[float, ...] = (),
              checked: bool = False) -> Value:
    """The one way a node is made: run `op` on its parents' data (Values) and keep the
    partials; `checked`: the Op is yours, so its results are checked (built-ins: by tests)."""
    args = [p.data for p in parents]
    args += params
    try:
        out = op.forward(*args)
        partials = op.partials(*args, out)
    except (ArithmeticError, ValueError) as exc:
        raise op_error(op.name, args, exc) from None
    if checked:
        out, partials = check_op_result(op.name, args, out, partials, len(parents))
    # NOTE: float + and * overflow silently where math.exp raises; x - x != 0 for inf and
    # nan only. Non-finite inputs may give them freely.
    if out - out != 0.0 and all(map(math.isfinite, args)):
        raise OpOverflowError(op.name, args, "result too large for a float")
    node = object.__new__(Value)  # (Value.__init__ makes leaves)
    node.data = out
    node.grad = 0.0
    node.label = ""
    node.op = op
    node.parents = parents
    node.partials = partials
    node.params = params
    node.id = next(_ids)
    node.module = ""
    if _on_create is not None:
        _on_create(node)
    return node


def _as_value(x: object) -> Value:
    """x itself if a Value, a new leaf for a plain number, else NotImplemented."""
    return x if isinstance(x, Value) else Value(x) if is_number(x) else NotImplemented


def _as_values(items: Sequence[object]) -> tuple[Value, ...]:
    """`items` as Values, plain numbers made leaves; anything else is a TypeError."""
    values = tuple(map(_as_value, items))
    if NotImplemented in values:
        bad = items[values.index(NotImplemented)]
        raise TypeError(f"expected a Value or a number, got {type(bad).__name__}")
    return values


def op_symbol(node: Value) -> str:
    """How a node's op is drawn: its table symbol with params filled in, '' for a leaf."""
    params = ", ".join(f"{p:g}" for p in node.params)
    return "" if node.op is None else node.op.symbol.format(params)


def apply(op: Op, *inputs: Value | float, params: Sequence[float] = ()) -> Value:
    """One new node: `op` (a table entry, or an Op of your own) applied to `inputs`. The node
    carries its Op, so every tool knows yours like a built-in (`OPS` stays fixed); a rule of
    your own is checked here, so a bad one fails where it is applied."""
    check_op(op, Op, OPS, inputs)
    params = tuple(check_number(f"{op.name} param", p) for p in params)
    return make_node(op, _as_values(inputs), params, checked=op is not OPS.get(op.name))


def sum_values(values: Iterable[Value | float]) -> Value:
    """One 'sum' node over all values (not a chain of adds); d/dv_i = 1."""
    parents = _as_values(tuple(values))
    if not parents:
        raise ValueError("sum_values needs at least one value")
    return make_node(_SUM, parents)


def dot(weights: Sequence[Value | float], inputs: Sequence[Value | float],
        bias: Value | float | None = None) -> Value:
    """One 'dot' node for w . x + b -- a whole neuron's pre-activation.

    Inputs are w0..w(n-1), x0..x(n-1), then b: d/dw_i = x_i, d/dx_i = w_i, d/db = 1.
    """
    if len(weights) != len(inputs) or not weights:
        raise ValueError(f"dot needs as many weights as inputs, and at least one; got "
                         f"{len(weights)} weights and {len(inputs)} inputs")
    operands = (*weights, *inputs) if bias is None else (*weights, *inputs, bias)
    return make_node(_DOT, _as_values(operands))


# ------------------------------------------------------------------------ backward


def topological_order(root: Value) -> list[Value]:
    """Every node `root` depends on, inputs first. NOTE: iterative, so depth is unbounded;
    inputs are made before the nodes using them, so sorting by id is a topological order."""
    nodes = [root]
    seen = {root}
    for node in nodes:  # the list grows while we walk it: a breadth-first search
        if seen.issuperset(node.parents):  # most inputs are shared, found already
            continue
        for parent in node.parents:
            if parent not in seen:
                seen.add(parent)
                nodes.append(parent)
    nodes.sort(key=operator.attrgetter("id"))
    return nodes


def backward_order(root: Value, grad: float = 1.0) -> list[Value]:
    """Start a backward pass: reset intermediate grads, add `grad` into root's; return the
    nodes whose chain rule is still to run, outputs first (trace steps through them)."""
    order = []
    for node in reversed(topological_order(root)):
        if node.parents:  # intermediates restart; leaves accumulate
            node.grad = 0.0
            order.append(node)
    root.grad += grad
    return order


def chain_rule(nodes: Iterable[Value]) -> None:
    """Backward's steps: each input's grad += node's grad * local derivative, node by node
    (backward() passes all nodes at once, the stepper in trace.py one at a time)."""
    for node in nodes:
        upstream = node.grad
        for parent, local in zip(node.parents, node.partials):
            parent.grad += upstream * local
        if _on_step is not None:
            _on_step(node)


def set_hook(name: str, fn: Callable | None) -> None:
    """Plug in `fn` as the hook 'on_create', 'on_step' or 'create_graph' (None: off)."""
    if name not in ("on_create", "on_step", "create_graph"):
        raise ValueError(f"no hook {name!r}: 'on_create', 'on_step' or 'create_graph'")
    globals()[f"_{name}"] = fn
