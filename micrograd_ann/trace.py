"""Step through backprop: the backward pass one node at a time, as data and as text.

`backward_steps(root)` does exactly what `root.backward()` does -- both run
`engine.backward_order` and then `engine.chain_rule` on each node -- but pauses after
each node to yield a `Step`: the
node, its upstream gradient and, for each input, the local derivative, the contribution
added and the input's gradient right after that addition. `explain(root)` writes the
whole pass as a table, `backward(root, break_if=...)` opens the debugger on chosen steps,
and `detect_anomaly()` stops at the first NaN or infinity, naming the line of your code
that made the node.
"""

from __future__ import annotations

import contextlib
import linecache
import math
import os
import sys
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, NamedTuple

from . import engine, formatting
from .engine import Value, op_symbol, topological_order

# ------------------------------------------------------------------------- steps


class InputUpdate(NamedTuple):
    """What one step added into one input: input.grad += upstream * local."""

    node: Value
    name: str
    local: float  # d(step.node)/d(input), stored on the node when it was made
    contribution: float  # upstream * local: the amount added
    grad: float  # input.grad right after this addition (a*a: the first says a half)


@dataclass(frozen=True, repr=False)
class Step:
    """One node of the backward pass, captured right after its chain rule ran.

    `index` counts from 1 up to `total` (the number of non-leaf nodes); `upstream` is the
    node's gradient, d(root)/d(node) times the seed; `inputs` follow operand order.
    """

    index: int
    total: int
    node: Value
    name: str
    op: str
    upstream: float
    inputs: tuple[InputUpdate, ...]

    def describe(self) -> str:
        """This step in words: the node's formula, then one `+=` line per input.

        `explain()` prints these blocks and the HTML player shows the same wording.
        """
        names = [update.name for update in self.inputs]
        upstream = formatting.number(self.upstream)
        head = (f"step {self.index}/{self.total}  {self.name} = {formula(self.node, names)}"
                f"   upstream grad {upstream}")
        name_width = max(len(name) for name in names) + len(".grad")
        local_width = max(len(formatting.number(update.local)) for update in self.inputs)
        added_width = max(len(formatting.number(update.contribution)) for update in self.inputs)
        lines = [head]
        for update in self.inputs:
            target = f"{update.name}.grad"
            lines.append(f"    {target:<{name_width}} += {upstream} * "
                         f"{formatting.number(update.local):<{local_width}} = "
                         f"{formatting.number(update.contribution):<{added_width}}   "
                         f"(now {formatting.number(update.grad)})")
        return "\n".join(lines)

    __str__ = describe

    def __repr__(self) -> str:
        shown = ", ".join(f"{u.name}.grad={formatting.number(u.grad)}" for u in self.inputs[:3])
        more = f", ... ({len(self.inputs)} inputs)" if len(self.inputs) > 3 else ""
        return (f"<Step {self.index}/{self.total} {self.name} [{self.op}] "
                f"upstream={formatting.number(self.upstream)}: {shown}{more}>")


def formula(node: Value, names: list[str]) -> str:
    """How a node was made, from its inputs' names: 'a * b', 'x**2', 'tanh(n)', 'dot(...)'."""
    symbol = op_symbol(node)
    if not symbol or symbol[0].isalpha():  # a function; params (a slope) follow the inputs
        args = names + [f"{p:g}" for p in node.params]
        return f"{node.op.name}({', '.join(args)})"
    if len(names) == 1:  # a constant power: the exponent is part of the symbol
        return names[0] + symbol
    return f" {symbol} ".join(names)


def display_names(root: Value) -> dict[Value, str]:
    """A display name for every node under `root`: its label, else 'op#k' or 'leaf#k'.

    k is the node's position in topological order, so names are the same on every run
    (never id()).
    """
    return {
        node: node.label or f"{node.op.name if node.op else 'leaf'}#{k}"
        for k, node in enumerate(topological_order(root))
    }


def backward_steps(root: Value, grad: float = 1.0) -> Iterator[Step]:
    """Do what root.backward(grad) does, one node at a time, yielding a Step after each.

    Draining it leaves every gradient exactly as backward() would.
    """
    return _steps(root, grad, display_names(root))


def _steps(root: Value, grad: float, names: dict[Value, str]) -> Iterator[Step]:
    """backward_steps() with the node names already chosen (explain() reuses them)."""
    total = sum(1 for node in names if node.parents)
    for index, node in enumerate(engine.backward_order(root, grad), start=1):
        before = [parent.grad for parent in node.parents]
        engine.chain_rule((node,))
        upstream = node.grad
        running = dict(zip(node.parents, before))  # a*a: both entries start from a.grad
        inputs = []
        for parent, local in zip(node.parents, node.partials):
            running[parent] += upstream * local  # the same sums, in the same order, as
            inputs.append(InputUpdate(parent, names[parent], local,  # engine.chain_rule
                                      upstream * local, running[parent]))
        yield Step(index, total, node, names[node], node.op.name, upstream, tuple(inputs))


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


def backward(root: Value, grad: float = 1.0,
             break_if: Callable[[Step], bool] | None = None) -> None:
    """root.backward(grad), calling breakpoint() after each step where break_if(step) holds.

    breakpoint() honours PYTHONBREAKPOINT and IDE debuggers; in the debugger the local
    `step` is the Step just applied, and `continue` resumes the pass.
    """
    if break_if is None:
        root.backward(grad)
        return
    if not callable(break_if):
        raise TypeError(f"break_if must be a function of a Step, got {break_if!r}")
    for step in backward_steps(root, grad):
        if break_if(step):
            breakpoint()  # inspect `step`, `step.node`, `step.inputs`; `c` carries on


def explain(root: Value, grad: float = 1.0) -> str:
    """Run backward from `root` and return the whole pass as text, one block per step.

    Like backward(), this accumulates into the leaves' gradients.
    """
    names = display_names(root)
    steps = [step.describe() for step in _steps(root, grad, names)]
    head = (f"backward pass from {names[root]} = {formatting.number(root.data)}, "
            f"seed grad {formatting.number(grad)}: {len(steps)} steps")
    leaves = [node for node in names if not node.parents]
    width = max(len(names[leaf]) for leaf in leaves) + len(".grad")
    lines = [f"    {names[leaf] + '.grad':<{width}} = {formatting.number(leaf.grad)}"
             for leaf in leaves]
    return "\n".join([head, *steps, "leaf gradients:", *lines])


# ---------------------------------------------------------------------- anomalies


class Origin(NamedTuple):
    """Where user code created a node; recorded only inside detect_anomaly()."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{self.filename}:{self.lineno} in {self.function}"

    def source(self) -> str:
        """The text of the creating line, '' when the file cannot be read."""
        return linecache.getline(self.filename, self.lineno).strip()


class AnomalyError(ArithmeticError):
    """A forward result or a gradient became NaN or infinite inside detect_anomaly().

    `node` is the node whose forward value, or whose step's gradient, went bad;
    `origin` is where user code created it (None if made outside detect_anomaly()).
    """

    def __init__(self, message: str, node: Value):
        super().__init__(message)
        self.node = node
        self.origin: Origin | None = origin_of(node)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def origin_of(node: Value) -> Origin | None:
    """Where user code created `node`, if it was made inside detect_anomaly(); else None."""
    return getattr(node, "created_at", None)  # set only by _check_created


def _user_origin() -> Origin | None:
    """The innermost calling frame outside micrograd_ann: the user's line."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return None
    return Origin(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)


def _call(node: Value) -> str:
    """The node's op applied to its inputs' values, e.g. 'mul(a=0.0, inf)'."""
    args = [f"{p.label}={p.data!r}" if p.label else repr(p.data) for p in node.parents]
    args.extend(repr(p) for p in node.params)
    return f"{node.op.name}({', '.join(args)})"


def _where(node: Value) -> str:
    """'node 'h' (created at file:line in f: `source`)', for error messages."""
    label = repr(node.label) if node.label else "(unlabelled)"
    origin = origin_of(node)
    if origin is None:
        return f"node {label}, created outside detect_anomaly() so its line is unknown"
    return f"node {label}, created at {origin}: {origin.source()}"


def _check_created(node: Value) -> None:
    """Each new node while anomaly mode is on: remember the user's line, check its data."""
    node.created_at = _user_origin()
    if node.parents and not math.isfinite(node.data):
        raise AnomalyError(f"forward pass: {_call(node)} = {node.data!r}; {_where(node)}", node)


def _check_step(node: Value) -> None:
    """After each chain-rule step while anomaly mode is on: every input's grad is finite."""
    for i, (parent, local) in enumerate(zip(node.parents, node.partials)):
        if not math.isfinite(parent.grad):
            name = repr(parent.label) if parent.label else f"input {i}"
            raise AnomalyError(
                f"backward pass: gradient of {name} became {parent.grad!r} at {_call(node)}"
                f" (upstream grad {node.grad!r} * local derivative {local!r}); {_where(node)}",
                node,
            )


_anomaly_lock = threading.Lock()
_anomaly_depth = 0  # how many detect_anomaly() blocks are open, in any thread


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Inside this block, raise AnomalyError at the first NaN/inf value or gradient.

    Each new Value records the line of user code that made it (node.created_at), which the
    error names. The switch is process-global (engine hooks), not per thread: it is on
    while any block is open in any thread, so blocks that overlap in two threads (or
    nest) switch it off only when the last one exits. Off, it costs nothing.
    """
    global _anomaly_depth
    with _anomaly_lock:
        _anomaly_depth += 1
        engine.set_hook("on_create", _check_created)
        engine.set_hook("on_step", _check_step)
    try:
        yield
    finally:
        with _anomaly_lock:
            _anomaly_depth -= 1
            if _anomaly_depth == 0:
                engine.set_hook("on_create", None)
                engine.set_hook("on_step", None)
