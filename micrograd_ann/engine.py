"""The scalar autograd engine: `Value`, the table of primitive ops, and backward.

Every differentiable op is one entry in `OPS`: its forward (floats in, a float out) and
its local partial derivatives (floats in, one float per input out) sit side by side.
A node stores its Op and those partials as numbers when it is created, so `backward()`
is only "upstream gradient x local partial, added into each input" -- no closures, no
reference cycles. The same rules also run on Values (`gradient_graph`,
`backward(create_graph=True)`), so a gradient can itself be differentiated. A Layer's
neuron (a dot and its relu, tanh or sigmoid) is made as one folded object and becomes its
two nodes when anyone reads the graph (`parents`, `partials`, `topological_order`), so
backward() alone ever sees it folded. This module imports nothing else of the package:
drawing, stepping and checking (viz, trace, gradcheck, higher) read the graph it builds.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import operator
import re
import threading
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

from .checks import (OpDomainError, OpError, OpOverflowError, OpZeroDivisionError, _as_float,
                     check_int, check_number, check_str, is_number, op_error)


class Op(NamedTuple):
    """One primitive: how to compute it and its local derivatives.

    `forward(*inputs, *params)` and `partials(*inputs, *params, out)` take and return
    floats; `params` are constants such as an exponent. `kinks` lists input values where
    the op has no derivative (the partial there is a documented subgradient). For second
    order, `partials` is also called with Values (inputs and out), so it should use only
    arithmetic and Value methods; an op with kinks is piecewise linear: its partials are
    taken as constants between the kinks (their own derivative 0, as in PyTorch).
    """

    name: str
    symbol: str  # drawn in graphs; "{}" is filled with the node's params
    forward: Callable[..., float]
    partials: Callable[..., tuple[float, ...]]
    kinks: tuple[float, ...] = ()


# ------------------------------------------------------------------ forward helpers


def _sigmoid(a: float) -> float:
    """1 / (1 + e^-a), computed without overflow for any |a|."""
    # NOTE: exp() only ever sees a non-positive argument, so it cannot overflow.
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def _real_pow(a: float, b: float) -> float:
    """a ** b as a float; Python would return a complex number for (-8) ** 0.5."""
    out = a**b
    if isinstance(out, complex):
        raise ValueError("a negative base to a fractional power is not a real number")
    return out


def _data(x: float | Value) -> float:
    """The number in x: a rule run on Values (second order) branches on their data."""
    return x.data if isinstance(x, Value) else x


def _pow_partials(a: float | Value, n: float | Value, out: float | Value) -> tuple:
    """d(a^n)/da = n * a^(n-1), with the limits at a == 0 spelled out."""
    # NOTE: the branches read numbers, the formula keeps Values (second order, where a is
    # always a node's input, a Value); floats, the common case, skip the unwrapping.
    a0, n0 = (a, n) if type(a) is float else (_data(a), _data(n))
    if n0 == 0.0 and (a0 == 0.0 or not isinstance(n, Value)):
        return (0.0,)  # NOTE: a Value exponent at 0 still moves the slope: d/dn = 1/a
    if a0 == 0.0 and n0 < 1.0:
        return (math.inf,)  # NOTE: vertical tangent, e.g. a ** 0.5 at 0
    try:
        return (n * a ** (n - 1.0),)
    except OverflowError:  # NOTE: the slope can overflow where the value does not (1/1e-200)
        negative = (n0 < 0.0) != (a0 < 0.0 and (n0 - 1.0) % 2.0 == 1.0)
        return (-math.inf if negative else math.inf,)


def _sqrt_partials(a: float | Value, out: float | Value) -> tuple:
    """d sqrt(a)/da = 1 / (2 sqrt(a)), from the output; inf at 0 (a vertical tangent)."""
    zero = out == 0.0 if type(out) is float else out.data == 0.0  # a Value: second order
    return (math.inf,) if zero else (0.5 / out,)


_RELU_OFF, _RELU_ON = (0.0,), (1.0,)  # shared: a relu node allocates no partials


def _relu_partials(a: float, out: float) -> tuple[float]:
    """1 for a > 0, else 0."""
    return _RELU_OFF if a <= 0.0 else _RELU_ON


def _powv_forward(a: float, b: float) -> float:
    """a ** b where the exponent is differentiable too, so a must be > 0 (or 0 with b > 0)."""
    if a < 0.0:
        raise ValueError("the base must be >= 0 when the exponent is a Value (d/db = a^b ln a)")
    return _real_pow(a, b)


def _powv_partials(a: float | Value, b: float | Value, out: float | Value) -> tuple:
    """d/da = b * a^(b-1); d/db = a^b * ln a, which tends to 0 as a -> 0+ for b > 0."""
    floats = type(a) is float  # else Values (second order): math.log cannot take one
    a0, log = (a, math.log) if floats else (a.data, Value.log)
    return (_pow_partials(a, b, out)[0], 0.0 if a0 == 0.0 else out * log(a))


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
# Each rule takes the op's inputs (then params, then the output) and returns one partial
# per input. Rules that reuse the output (tanh, sigmoid, exp) are both cheap and stable.
# The same rules run on Values for second order, so a branch reads its operand's number
# and a log is Value.log there; kinked rules (relu, abs) only ever see floats.

_ADD_PARTIALS = (1.0, 1.0)  # shared by every + node (Value.__add__ writes the rule out)

OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op("add", "+", operator.add, lambda a, b, out: _ADD_PARTIALS),
        Op("mul", "*", operator.mul, lambda a, b, out: (b, a)),
        Op("pow", "**{}", _real_pow, _pow_partials),  # exponent is a number
        Op("powv", "**", _powv_forward, _powv_partials),  # exponent is a Value
        Op("exp", "exp", math.exp, lambda a, out: (out,)),
        Op("log", "log", math.log, lambda a, out: (1.0 / a,)),
        Op("tanh", "tanh", math.tanh, lambda a, out: (1.0 - out * out,)),
        Op("sigmoid", "sigmoid", _sigmoid, lambda a, out: (out * (1.0 - out),)),
        # NOTE: at the kink a == 0 the subgradient 0 is used (as PyTorch does); written as
        # "a <= 0" so that NaN passes through rather than becoming 0.
        Op("relu", "ReLU", lambda a: 0.0 if a <= 0.0 else a, _relu_partials, kinks=(0.0,)),
        Op("leaky_relu", "leaky_relu({})", lambda a, s: s * a if a <= 0.0 else a,
           lambda a, s, out: (s if a <= 0.0 else 1.0,), kinks=(0.0,)),
        Op("abs", "abs", abs,
           lambda a, out: (1.0 if a > 0.0 else -1.0 if a < 0.0 else 0.0,), kinks=(0.0,)),
        Op("sqrt", "sqrt", math.sqrt, _sqrt_partials),
        Op("sum", "sum", lambda *a: sum(a), lambda *a: (1.0,) * (len(a) - 1)),
        Op("dot", "dot", _dot_forward, _dot_partials),  # one node per neuron: w.x + b
    ]
}


# ------------------------------------------------------------------ anomaly hooks
# Set only by trace.detect_anomaly(). While they are None the engine pays one global
# lookup per node and nothing else.
_on_create: Callable[[Value], None] | None = None
_on_step: Callable[[Value], None] | None = None

# Creation order: a node's inputs always have smaller ids. Every node takes an even id, so
# a folded neuron's dot, made only when the graph is read, can take the odd one just below
# its output's.
_ids = itertools.count(0, 2)


class Value:
    """A scalar in a computation graph: its data, its gradient and how it was made.

    `op` is the Op that made it (None for a leaf), `parents` its inputs in operand order
    (duplicates kept: a*a has two), `partials` the local derivative with respect to each
    parent, computed when the node was created. `Value(data, label="x")` is the spelling
    to use; micrograd's `Value(data, _children=(), _op='')` is accepted for leaves.
    """

    # NOTE: _grad_value is set only by backward(create_graph=True), _origin only inside
    # trace.detect_anomaly() and _z, _zgrad only on a folded neuron, so making a node
    # costs nothing more for them; unset, they read as None through the grad_value
    # property and trace.origin_of. The engine reads _parents and _partials; the public
    # parents and partials are properties that first unfold a folded neuron.
    __slots__ = ("data", "grad", "label", "op", "_parents", "_partials", "params",
                 "id", "module", "_origin", "_grad_value", "_z", "_zgrad")

    def __init__(self, data: float, _children: tuple | str = (), _op: str = "",
                 label: str = ""):
        if isinstance(_children, str):  # Value(2.0, "x"): the label, positionally
            _children, label = (), _children
        if _children:
            raise TypeError("a Value made from children needs its local derivatives: "
                            "build it with engine.apply(Op(...)) (micrograd's _backward "
                            "closures are not used here)")
        self.data = _leaf_data(data)
        self.grad = 0.0
        self.label = check_str("label", label)
        self.op = None
        self._parents: tuple[Value, ...] = ()
        self._partials: tuple[float, ...] = ()
        self.params: tuple[float, ...] = ()
        self.id = next(_ids)
        self.module = ""
        if _on_create is not None:
            _on_create(self)

    # -- arithmetic: add, mul and pow are primitives; the rest is composed ------------

    # NOTE: + and * are most of the nodes a loss line makes, so they apply the table's
    # rule written out (float + and * cannot raise; _node catches an overflow).
    def __add__(self, other: Value | float) -> Value:
        other = _as_value(other)
        if other is NotImplemented:
            return NotImplemented
        return _node(_ADD, (self, other), (), self.data + other.data, _ADD_PARTIALS)

    def __mul__(self, other: Value | float) -> Value:
        other = _as_value(other)
        if other is NotImplemented:
            return NotImplemented
        a, b = self.data, other.data
        return _node(_MUL, (self, other), (), a * b, (b, a))

    def __pow__(self, other: Value | float) -> Value:
        if isinstance(other, Value):
            return _apply(_POWV, (self, other))
        if not is_number(other):
            return NotImplemented
        return _apply(_POW, (self,), (float(other),))

    def __rpow__(self, other: float) -> Value:  # other ** self
        base = _as_value(other)
        if base is NotImplemented:
            return NotImplemented
        return _apply(_POWV, (base, self))

    def __neg__(self) -> Value:  # -self
        return self * -1.0

    def __sub__(self, other: Value | float) -> Value:  # self - other
        if is_number(other):
            return self + -float(other)  # a number is negated as a number: no extra node
        if not isinstance(other, Value):
            return NotImplemented
        return self + (-other)

    def __truediv__(self, other: Value | float) -> Value:  # self / other
        other = _as_value(other)
        if other is NotImplemented:
            return NotImplemented
        return self * other**-1

    # NOTE: a reflected op returns NotImplemented for a non-number, so Python's TypeError
    # names the operator and operands as written ("str" - Value), not an inner op.
    def __radd__(self, other: float) -> Value:  # other + self
        return self.__add__(other)

    def __rmul__(self, other: float) -> Value:  # other * self
        return self.__mul__(other)

    def __rsub__(self, other: float) -> Value:  # other - self
        if not is_number(other):
            return NotImplemented
        return (-self) + other

    def __rtruediv__(self, other: float) -> Value:  # other / self
        if not is_number(other):
            return NotImplemented
        return self**-1 * other

    # -- functions -----------------------------------------------------------------

    def exp(self) -> Value:
        """e^x; derivative e^x."""
        return _apply(_EXP, (self,))

    def log(self) -> Value:
        """Natural log, x > 0; derivative 1/x. log(0) raises rather than nudging x."""
        return _apply(_LOG, (self,))

    def tanh(self) -> Value:
        """tanh(x) via math.tanh; derivative 1 - tanh(x)^2."""
        return _apply(_TANH, (self,))

    def sigmoid(self) -> Value:
        """1 / (1 + e^-x), stable for any |x|; derivative s(1 - s)."""
        return _apply(_SIGMOID, (self,))

    def relu(self) -> Value:
        """max(0, x); derivative 1 for x > 0, else 0 (0 at the kink)."""
        return _apply(_RELU, (self,))

    def leaky_relu(self, slope: float = 0.01) -> Value:
        """x for x > 0, else slope * x; derivative 1 or slope (slope at the kink)."""
        return _apply(_LEAKY_RELU, (self,), (check_number("leaky_relu slope", slope),))

    def abs(self) -> Value:
        """|x|; derivative sign(x) (0 at the kink)."""
        return _apply(_ABS, (self,))

    def sqrt(self) -> Value:
        """sqrt(x), x >= 0; derivative 1 / (2 sqrt(x)) (inf at 0)."""
        return _apply(_SQRT, (self,))

    # -- backward ------------------------------------------------------------------

    def backward(self, grad: float = 1.0, create_graph: bool = False) -> None:
        """Add d(self)/d(node) * grad into every node's .grad, in reverse topological order.

        Leaves accumulate across calls (reset them with zero_grad, as in PyTorch);
        intermediate nodes are reset first, so calling backward twice gives leaves
        exactly twice the gradient and intermediates the same values. To pause on
        steps, see trace.backward_steps and trace.backward(root, break_if=...).
        `create_graph=True` (PyTorch's name) also sets every node's `grad_value`: the
        same gradient as a Value, which can be differentiated again.
        """
        grad = check_number("backward's grad", grad)
        if not isinstance(create_graph, bool):
            raise TypeError(f"create_graph must be True or False, got {create_graph!r}")
        if create_graph:  # first, so an op without a Value rule changes nothing
            for node, value in gradient_graph(self, grad).items():
                node._grad_value = value
        if _on_step is None:
            _propagate(*_backward_order(self, grad))  # _backward_walk in one unpaused loop
            return
        for _ in _backward_walk(self, grad):  # anomaly mode checks after every node
            pass

    def zero_grad(self) -> None:
        """Set this Value's gradient to 0."""
        self.grad = 0.0

    @property
    def grad_value(self) -> Value | None:
        """d(root)/d(self) from the latest root.backward(create_graph=True), as a Value.

        None before one. Replaced by each such call, not accumulated (`grad` is). As in
        PyTorch, it makes a reference cycle (self -> its gradient's graph -> self) that the
        garbage collector frees; higher.grad(f) returns gradients without storing them.
        """
        return getattr(self, "_grad_value", None)

    # -- the graph's edges -----------------------------------------------------------

    @property
    def parents(self) -> tuple[Value, ...]:
        """The inputs in operand order (a*a has two); () for a leaf."""
        if _is_folded(self):
            _unfold(self)
        return self._parents

    @property
    def partials(self) -> tuple[float, ...]:
        """d(self)/d(input) for each of `parents`, computed when the node was made."""
        if _is_folded(self):
            _unfold(self)
        return self._partials

    # -- micrograd compatibility, copying and display -------------------------------

    @property
    def _prev(self) -> set[Value]:
        """micrograd's name for the inputs (a set there; `parents` keeps order)."""
        return set(self.parents)

    @property
    def _op(self) -> str:
        """micrograd's op label, e.g. '+', '*', '**2', 'ReLU'; '' for a leaf."""
        return op_symbol(self)

    @property
    def _backward(self) -> Callable[[], None]:
        """micrograd's per-node step: add this node's contribution into its inputs."""
        self.parents  # NOTE: unfolds a folded neuron, so the step reaches its dot only
        return lambda: _propagate((self,))

    @_backward.setter
    def _backward(self, fn: object) -> None:
        raise AttributeError("a node's backward rule is its Op's partials, not a closure: "
                             "define an Op(name, symbol, forward, partials) and build the "
                             "node with engine.apply(op, *inputs)")

    def __reduce__(self) -> tuple:
        """Pickle and copy the graph flat: leaves as themselves, the nodes above them as
        records rebuilt in order, so depth costs no recursion and ids are fresh."""
        if not self.parents:
            return _leaf, (self.data, self.grad, self.label, self.module)
        nodes = topological_order(self)
        index = {node: i for i, node in enumerate(nodes)}
        records = [node if not node.parents else
                   (_op_ref(node.op), tuple(index[p] for p in node.parents), node.data,
                    node.grad, node.label, node.partials, node.params, node.module)
                   for node in nodes]
        return _rebuild, (records,)

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{label})"


# A folded neuron: a Layer's neuron, activation(w . x + b) with relu, tanh or sigmoid,
# made as one Value until someone reads the graph. It is the activation's node (data,
# grad, op, label, module), but its _parents are the dot's, its _partials the dot's with
# the activation's partial appended (one more than it has parents: what marks it), _z the
# dot's value and _zgrad its grad. That is half the objects a training step allocates, so
# half the garbage collector's work; backward() runs both nodes' edges in one go. Reading
# `parents` or `partials` (every tool does, through topological_order) unfolds it into
# the two nodes, so graphs, steppers, gradcheck and pickles never see a folded one.


def _is_folded(node: Value) -> bool:
    """Whether node is a folded neuron (its dot not yet made)."""
    return len(node._partials) != len(node._parents)


_unfold_lock = threading.Lock()


def _unfold(node: Value) -> None:
    """Make a folded neuron two nodes: a new dot (the id just below node's, holding the
    grad backward gave it) and node itself, now the activation's node on that dot."""
    with _unfold_lock:  # two threads reading one node's parents make one dot
        if not _is_folded(node):
            return
        *partials, gain = node._partials
        dot = _node(_DOT, node._parents, (), node._z, tuple(partials), node.module)
        dot.id, dot.grad = node.id - 1, node._zgrad
        node._parents, node._partials = (dot,), (gain,)
        del node._z, node._zgrad


def _leaf_data(data: object) -> float:
    """The float a leaf holds; anything but a real number is a TypeError."""
    if type(data) is float:
        return data
    if not is_number(data):
        hint = " (use v itself, or v.data for its number)" if isinstance(data, Value) else ""
        raise TypeError(f"Value() takes an int or float, got {type(data).__name__}{hint}")
    return _as_float("Value()'s data", data)


def _leaf(data: float, grad: float, label: str, module: str) -> Value:
    """A pickled leaf, made again."""
    leaf = Value(data, label=label)
    leaf.grad = grad
    leaf.module = module
    return leaf


def _op_ref(op: Op) -> str | Op:
    """How a pickle names an op: a built-in by name, your own Op as itself."""
    return op.name if OPS.get(op.name) is op else op


def _rebuild(records: list) -> Value:
    """The graph __reduce__ recorded, with new ids in the same (topological) order."""
    nodes: list[Value] = []
    for record in records:
        if isinstance(record, Value):
            nodes.append(record)
            continue
        op, parents, data, grad, label, partials, params, module = record
        node = _node(OPS[op] if isinstance(op, str) else op,
                     tuple(nodes[i] for i in parents), params, data, partials)
        node.grad, node.label, node.module = grad, label, module
        nodes.append(node)
    return nodes[-1]


# ------------------------------------------------------------------ building nodes

_new_value = object.__new__


def _apply(op: Op, parents: tuple[Value, ...], params: tuple[float, ...] = ()) -> Value:
    """Run `op` on the parents' data and return the new node with its partials.

    One or two inputs without params (relu, +, *: most nodes) skip building an argument
    list; every branch calls the same table entry.
    """
    try:
        if params or len(parents) > 2:
            args = [p.data for p in parents]
            args.extend(params)
            out = op.forward(*args)
            partials = op.partials(*args, out)
        elif len(parents) == 1:
            a = parents[0].data
            out = op.forward(a)
            partials = op.partials(a, out)
        else:
            a = parents[0].data
            b = parents[1].data
            out = op.forward(a, b)
            partials = op.partials(a, b, out)
    except (ArithmeticError, ValueError) as exc:
        raise op_error(op.name, _operands(parents, params), exc) from None
    return _node(op, parents, params, out, partials)


def _operands(parents: tuple[Value, ...], params: tuple[float, ...]) -> list[float]:
    """The numbers an op was called with: its inputs' data, then its params."""
    return [p.data for p in parents] + list(params)


def _node(op: Op, parents: tuple[Value, ...], params: tuple[float, ...], out: float,
          partials: tuple[float, ...], module: str = "") -> Value:
    """The new node for `op`'s result, stamped with its creation order (and the dotted name
    of the nn module that made it, if any)."""
    # NOTE: float + and * overflow to inf (or inf - inf = nan) silently where math.exp
    # raises; x - x != 0 only for inf and nan. Non-finite inputs may give them freely.
    if out - out != 0.0 and op is not None:  # a leaf may hold inf or nan
        operands = _operands(parents, params)
        if all(map(math.isfinite, operands)):
            raise OpOverflowError(op.name, operands, "result too large for a float")
    node = _new_value(Value)
    node.data = out
    node.grad = 0.0
    node.label = ""
    node.op = op
    node._parents = parents
    node._partials = partials
    node.params = params
    node.id = next(_ids)
    node.module = module
    if _on_create is not None:
        _on_create(node)
    return node


_ADD, _MUL, _POW, _POWV = OPS["add"], OPS["mul"], OPS["pow"], OPS["powv"]
_EXP, _LOG, _TANH, _SIGMOID = OPS["exp"], OPS["log"], OPS["tanh"], OPS["sigmoid"]
_RELU, _LEAKY_RELU, _ABS, _SQRT = OPS["relu"], OPS["leaky_relu"], OPS["abs"], OPS["sqrt"]
_SUM, _DOT = OPS["sum"], OPS["dot"]


def _as_value(x: object) -> Value:
    """x itself if a Value, a new leaf for a plain number, else NotImplemented."""
    if isinstance(x, Value):
        return x
    if not is_number(x):
        return NotImplemented
    return _node(None, (), (), _leaf_data(x), ())  # Value(x), without its label checks


_ONLY_VALUES = frozenset({Value})


def are_values(items: Iterable[object]) -> bool:
    """True if every item is a Value (not a subclass): one C-level check, for the common
    case of a hidden layer's inputs."""
    return set(map(type, items)) <= _ONLY_VALUES


def _as_values(items: tuple) -> tuple[Value, ...]:
    """`items` with plain numbers made leaves; the common all-Values case is one C-level check."""
    if are_values(items):
        return items
    return tuple(map(_leaf_if_number, items))


def _leaf_if_number(v: Value | float) -> Value:
    leaf = _as_value(v)
    if leaf is NotImplemented:
        raise TypeError(f"expected a Value or a number, got {type(v).__name__}")
    return leaf


def op_symbol(node: Value) -> str:
    """How a node's op is drawn: its table symbol with params filled in, '' for a leaf."""
    if node.op is None:
        return ""
    return node.op.symbol.format(", ".join(f"{p:g}" for p in node.params))


# ---------------------------------------------------------------- your own ops

_NAME_OK = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def apply(op: Op, *inputs: Value | float, params: Sequence[float] = ()) -> Value:
    """One new node: `op` (a table entry, or an Op of your own) applied to `inputs`.

    The node carries its Op, so graphs, the stepper and gradcheck know yours like a
    built-in; `OPS` itself stays the fixed table. A rule of your own is checked here (the
    built-ins are checked by the test suite), so a bad one fails where it is applied.
    """
    if not isinstance(op, Op):
        raise TypeError(f"apply needs an engine.Op, got {type(op).__name__}")
    if OPS.get(op.name, op) is not op:
        raise ValueError(f"{op.name!r} is a built-in op's name; give your Op another name")
    _check_op(op)
    if not inputs:
        raise ValueError(f"apply({op.name!r}) needs at least one input")
    params = tuple(check_number(f"{op.name} param", p) for p in params)
    parents = _as_values(inputs)
    if op is OPS.get(op.name):
        return _apply(op, parents, params)
    args = _operands(parents, params)
    try:
        out = op.forward(*args)
        partials = op.partials(*args, out)
    except (ArithmeticError, ValueError) as exc:
        raise op_error(op.name, args, exc) from None
    return _node(op, parents, params, _checked_out(op, args, out),
                 _checked_partials(op, partials, len(parents)))


def _check_op(op: Op) -> None:
    """An Op's name is an identifier and its symbol a plain str (it is drawn and named)."""
    if not isinstance(op.name, str) or not _NAME_OK.match(op.name):
        raise ValueError(f"an Op's name must be an identifier such as 'softplus', got "
                         f"{op.name!r}")
    if not isinstance(op.symbol, str):
        raise TypeError(f"{op.name}: symbol must be a str, got {type(op.symbol).__name__}")
    try:
        op.symbol.format("")
    except (IndexError, KeyError, ValueError) as exc:
        raise ValueError(f"{op.name}: symbol {op.symbol!r} may hold only '{{}}' (where the "
                         f"params go), not other braces ({exc})") from None
    if not (callable(op.forward) and callable(op.partials)):
        raise TypeError(f"{op.name}: forward and partials must be functions")
    if not all(map(is_number, op.kinks)):
        raise TypeError(f"{op.name}: kinks must be numbers, got {op.kinks!r}")


def _checked_out(op: Op, args: list[float], out: object) -> float:
    """Your forward's result: a real number, and finite when its inputs are."""
    if not is_number(out):
        raise TypeError(f"{op.name}'s forward returned {type(out).__name__} {out!r}; it "
                        f"must return a float (of plain numbers, not Values)")
    out = float(out)
    if math.isnan(out) and all(map(math.isfinite, args)):
        raise ValueError(f"{op.name}'s forward returned nan for finite inputs {args!r}")
    return out


def _checked_partials(op: Op, partials: object, n: int) -> tuple[float, ...]:
    """Your rule's partials: a tuple or list of one real number per input."""
    if not isinstance(partials, (tuple, list)):
        raise TypeError(f"{op.name}'s partials returned {type(partials).__name__} "
                        f"{partials!r}; return a tuple with one local derivative per input")
    if len(partials) != n:
        raise ValueError(f"{op.name}'s partials gave {len(partials)} values for {n} inputs; "
                         f"return one local derivative per input")
    return tuple(check_number(f"{op.name} partial", d) for d in partials)


# ------------------------------------------------------------------- many inputs


def sum_values(values: Iterable[Value | float]) -> Value:
    """One 'sum' node over all values (not a chain of adds); d/dv_i = 1."""
    parents = _as_values(tuple(values))
    if not parents:
        raise ValueError("sum_values needs at least one value")
    return _apply(_SUM, parents)


def dot(weights: Sequence[Value], inputs: Sequence[Value | float],
        bias: Value | float | None = None) -> Value:
    """One 'dot' node for w . x + b -- a whole neuron's pre-activation.

    Inputs are w0..w(n-1), x0..x(n-1), then b: d/dw_i = x_i, d/dx_i = w_i, d/db = 1.
    """
    if len(weights) != len(inputs) or not weights:
        raise ValueError(f"dot needs as many weights as inputs, and at least one; got "
                         f"{len(weights)} weights and {len(inputs)} inputs")
    weights = _as_values(tuple(weights))
    inputs = _as_values(tuple(inputs))
    bias = None if bias is None else _leaf_if_number(bias)
    return fused_neuron(weights, inputs, bias, [x.data for x in inputs])


def fused_neuron(weights: Sequence[Value], inputs: Sequence[Value], bias: Value | None,
                 input_data: list[float], activation: Op | None = None,
                 module: str = "") -> Value:
    """activation(w . x + b): dot()'s node and, given `activation` (an Op without params,
    e.g. relu), that op's node on it, both tagged `module`. Nothing is checked: a Layer has
    made its inputs Values and read their data once for all its neurons, and calls this
    per neuron (a training step's hot path, so the dot rule is written out here).

    With relu, tanh or sigmoid and a finite w . x + b, the two nodes are one folded neuron
    until the graph is read (outside anomaly mode, whose hooks see every node).
    """
    w = [p.data for p in weights]
    z = sum(map(operator.mul, w, input_data))
    if bias is None:
        parents = (*weights, *inputs)
    else:
        z += bias.data
        parents = (*weights, *inputs, bias)
    # NOTE: these three give a finite value and partial for a finite z, so a folded neuron
    # never needs the overflow checks and its dot's partials (its operands) are finite.
    if ((activation is _RELU or activation is _TANH or activation is _SIGMOID)
            and z - z == 0.0 and _on_create is None):
        if activation is _RELU:  # NOTE: the table's relu rule written out: two calls fewer
            out, gain = (z, 1.0) if z > 0.0 else (0.0, 0.0)
        else:
            out = activation.forward(z)
            gain = activation.partials(z, out)[0]
        partials = (*input_data, *w, gain) if bias is None else (*input_data, *w, 1.0, gain)
        node = _node(activation, parents, (), out, partials, module)
        node._z = z
        node._zgrad = 0.0
        return node
    partials = (*input_data, *w) if bias is None else (*input_data, *w, 1.0)
    node = _node(_DOT, parents, (), z, partials, module)
    if activation is None:
        return node
    try:  # the table's rule itself, as _apply runs it on one input
        act = activation.forward(z)
        partials = activation.partials(z, act)
    except (ArithmeticError, ValueError) as exc:
        raise op_error(activation.name, (z,), exc) from None
    return _node(activation, (node,), (), act, partials, module)


# ------------------------------------------------------------------------ backward


def topological_order(root: Value) -> list[Value]:
    """Every node that `root` depends on, inputs before the nodes made from them.

    NOTE: iterative, so graph depth is unbounded. Ids come from a creation counter and a
    node's inputs always exist before it, so sorting the reachable nodes by id is a
    topological order.
    """
    nodes = _reachable(root)
    folded = [node for node in nodes if _is_folded(node)]
    for node in folded:
        _unfold(node)
        nodes.append(node._parents[0])  # its dot, now a node of its own
    nodes.sort(key=_by_id)
    return nodes


def _reachable(root: Value) -> list[Value]:
    """root and every node it depends on, breadth first (not yet in topological order)."""
    nodes = [root]
    seen = {root}
    for node in nodes:  # the list grows while we walk it: a breadth-first search
        parents = node._parents
        if seen.issuperset(parents):  # most inputs are shared, found already: one C call
            continue
        for parent in parents:
            if parent not in seen:
                seen.add(parent)
                nodes.append(parent)
    return nodes


_by_id = operator.attrgetter("id")


@contextlib.contextmanager
def preserved_grads(root: Value, extra: Iterable[Value] = ()) -> Iterator[list[Value]]:
    """Run a block that may change gradients (a trial backward), then put back the grad of
    every node in root's graph and of `extra`; the block gets those nodes."""
    saved = {node: node.grad for node in topological_order(root)}
    saved.update((x, x.grad) for x in extra if x not in saved)
    try:
        yield list(saved)
    finally:
        for node, grad in saved.items():
            node.grad = grad


def _propagate(nodes: Iterable[Value], skip_zeros: bool = False) -> None:
    """The chain rule, node by node: input.grad += node.grad * d(node)/d(input).

    Takes many nodes so backward() runs one loop instead of one call per node. With
    `skip_zeros`, a many-input node whose grad is 0 and whose partials are all finite is
    skipped: each of its edges would add a 0 (most edges of a training step: inactive
    hinge samples, relus that are off), which leaves every grad as it was unless one is
    -0.0 (-0.0 + 0.0 is 0.0; _backward_order says when none is).
    """
    for node in nodes:
        upstream = node.grad
        parents = node._parents
        if len(parents) == 1:  # relu, tanh, ...: skip the zip
            parents[0].grad += upstream * node._partials[0]
            continue
        partials = node._partials
        if len(partials) != len(parents):  # _is_folded: first the activation's edge
            upstream = node._zgrad = 0.0 + upstream * partials[-1]  # into its (reset) dot
            if upstream == 0.0 and skip_zeros:
                continue  # NOTE: a folded dot's value, so each of its partials, is finite
        elif upstream == 0.0 and skip_zeros:
            # NOTE: the sum is finite only if every partial is, and 0 * inf or 0 * nan is
            # nan, which must still reach the inputs. A dot's partials are its operands,
            # all finite when its value is (inf * x and nan * x are never finite).
            total = node.data if node.op is _DOT else sum(partials)
            if total - total == 0.0:
                continue
        for parent, local in zip(parents, partials):  # (zip stops before a folded gain)
            parent.grad += upstream * local


def _backward_walk(root: Value, grad: float) -> Iterator[tuple[Value, list[float]]]:
    """Seed `root` with `grad`, then propagate each non-leaf node, yielding it after with
    its inputs' grads from before the step (so a stepper can show running totals).

    This is backward, one node at a time: trace.backward_steps() turns each yielded node
    into a Step. The anomaly hook `_on_step`, when set, sees each node before it is
    yielded. backward() without the hook runs the same two parts in one plain loop.
    """
    topological_order(root)  # NOTE: unfolds every folded neuron, so each node is a step
    nodes, skip_zeros = _backward_order(root, grad)
    for node in nodes:
        before = [parent.grad for parent in node._parents]
        _propagate((node,), skip_zeros)
        if _on_step is not None:
            _on_step(node)
        yield node, before


def _backward_order(root: Value, grad: float) -> tuple[list[Value], bool]:
    """Reset intermediate grads and seed `root`; the non-leaf nodes, outputs first, and
    whether _propagate may skip zero-grad nodes: yes unless a leaf's grad is -0.0.

    NOTE: grads that start at +0.0 never become -0.0 (a sum is -0.0 only if both terms
    are), so only a -0.0 set by hand on a leaf could tell a skipped 0 from an added one.
    """
    nodes = []
    skip_zeros = True
    for node in _reachable(root):
        if node._parents:
            node.grad = 0.0  # intermediates restart; leaves accumulate
            nodes.append(node)
        elif node.grad == 0.0 and math.copysign(1.0, node.grad) < 0.0:
            skip_zeros = False
    nodes.sort(key=_by_id, reverse=True)  # outputs first
    root.grad += grad
    return nodes, skip_zeros


# --------------------------------------------------------- gradients as Values
# Reverse over reverse: the chain rule of backward(), with each Op's rule run on Values
# instead of read from the stored floats, builds the gradient as a graph of its own,
# which backward() (or gradient_graph) can differentiate again. One table, two readings.


def gradient_graph(root: Value, grad: float = 1.0) -> dict[Value, Value]:
    """d(root)/d(node) * grad for every node in root's graph, as Values that can be
    differentiated again; no node's .grad changes.

    A gradient that is a constant (root's own, or one reached only through +, sum and
    kinked ops) is a new leaf holding that number. Its data equals what backward() adds
    up, to the last bit except where a rule divides (1/a is built as a**-1).
    """
    seed = check_number("gradient_graph's grad", grad)
    incoming: dict[Value, list[float | Value]] = {root: [seed]}
    grads: dict[Value, Value] = {}
    for node in reversed(topological_order(root)):
        parts = incoming.pop(node)  # every node here feeds root, so something arrived
        upstream = parts[0] if len(parts) == 1 else _total(parts)
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
    try:
        partials = op.partials(*node.parents, *node.params, node)
    except TypeError as exc:
        raise NotImplementedError(
            f"{op.name}'s partials rule cannot run on Values ({exc}), so its gradient "
            f"cannot be differentiated again; write the rule with arithmetic that works on "
            f"floats and Values alike (as the built-in ops' rules are)") from None
    if len(partials) != len(node.parents):
        raise ValueError(f"{op.name}'s partials gave {len(partials)} values on Values for "
                         f"{len(node.parents)} inputs")
    return partials


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
    return upstream * local


def _total(parts: list[float | Value]) -> float | Value:
    """The contributions to one gradient, summed in arrival order as backward() adds them
    (a constant 0 among Values changes no sum, so it gets no leaf)."""
    if not any(isinstance(part, Value) for part in parts):
        return sum(parts)
    values = [part for part in parts if isinstance(part, Value) or part != 0.0]
    return values[0] if len(values) == 1 else sum_values(values)
