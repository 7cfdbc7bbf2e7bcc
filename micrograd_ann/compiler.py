"""compile(): a training step traced once and run as generated code on plain floats.

`compile(fn, params, *example_args)` calls fn once on Values, reads the graph it made, and
writes the same arithmetic as one Python function (codegen's pieces: each rule inline or
called, one += per edge), which a CompiledStep runs on every call. The numbers are the
engine's, bit for bit; the speed comes from two things to_source() does not do: a batch's
samples that make the same graph are written once, as the body of a loop over samples
(Python's compiler then only sees one sample's code), and a node with many edges skips
them all when its upstream gradient is 0 (an inactive hinge sample, a relu that is off).
Both are used only where they provably change no bit; the tests compare against
backward() on random graphs. docs/compile.md says what a compiled step promises.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections import Counter
from typing import Callable, Iterable, Iterator, NamedTuple, Sequence

from .checks import check_int, is_number
from .codegen import (CHAIN, Helpers, NodeSource, chunks, edge_line, forward_lines,
                      is_finite_literal, literal, local_derivatives, run_source, shown)
from .engine import OPS, Value

PARAM, CONSTANT, ARGUMENT, MADE, NODE = "param", "constant", "argument", "made", "node"


class CompileError(ValueError):
    """compile() cannot fix this function's graph, or a check found the graph changed."""


# ------------------------------------------------------------------------ the step


def compile(fn: Callable[..., object], params: Sequence[Value], *example_args: object,
            loss: Callable[..., Value] | None = None, constants: Sequence[Value] = (),
            check: bool | int = False, watch: bool = False) -> CompiledStep:
    """Trace fn(*example_args) once on Values; return a step that reruns it on floats.

    `example_args` are numbers or (nested) lists of numbers (arrays too, through their
    tolist()); later calls must pass the same shapes. fn returns the loss, or (loss,
    outputs); with `loss=`, fn returns the outputs and loss(outputs, *more) runs on the
    engine at every call -- for a loss that branches on values. Every Value fn reads must
    be a parameter (listed once; a repeat is ignored), a constant (read at every call, no
    gradient), or made inside fn: a number fn turns into a Value is part of the program.
    Like jax.jit, Python `if`s on values inside fn are fixed at trace time (relu's branch
    is not); check=True (or N) traces again every 100th (Nth) call and raises
    CompileError if the graph changed. With watch=True fn returns one more item, nodes it
    computed (in nested lists) whose numbers and gradients every call returns too: e.g.
    (outputs, watched) with loss=.
    """
    return CompiledStep(fn, params, example_args, loss, constants, check, watch)


class CompiledStep:
    """`step(*args)`: forward and backward of a traced function, as generated code.

    Adds each parameter's gradient into its .grad (zero them between steps, as with
    backward()) and returns the loss -- or (loss, outputs' numbers in their nesting) when
    fn returns (loss, outputs) or compile() had loss=, whose extra arguments follow fn's:
    step(xs, ys) is fn(xs) and loss(outputs, ys). With watch=True two more follow: the
    watched nodes' numbers and their gradients after backward(), in fn's nesting (a node
    backward() does not reach has gradient 0). The numbers are those of fn(*args) on
    Values and backward(), bit for bit. A call where some value is not finite (an overflow,
    which the engine reports as an OpError; inf or nan in the data) or a parameter's grad
    is -0.0 runs exactly that on the engine. `source` is the generated code.
    """

    def __init__(self, fn: Callable, params: Sequence[Value], example_args: tuple,
                 loss: Callable | None, constants: Sequence[Value], check: bool | int,
                 watch: bool = False):
        if not callable(fn):
            raise TypeError(f"compile needs a function, got {type(fn).__name__}")
        if loss is not None and not callable(loss):
            raise TypeError(f"loss must be a function of the outputs, got {type(loss).__name__}")
        if not isinstance(watch, bool):
            raise TypeError(f"watch must be True or False, got {watch!r}")
        self.fn, self.loss, self.watch = fn, loss, watch
        self.params = _values("params", params)
        self.constants = _values("constants", constants)
        for where, v in enumerate(self.params):
            if v.parents:
                raise ValueError(f"params[{where}] is not a leaf ({v!r} is computed from other "
                                 "Values): a parameter holds a number of its own")
        if set(self.params) & set(self.constants):
            raise ValueError("a Value cannot be both in params and in constants")
        self._inputs = self.params + self.constants
        self._slots = {v: (PARAM, i) for i, v in enumerate(self.params)}
        self._slots.update((v, (CONSTANT, len(self.params) + i))
                           for i, v in enumerate(self.constants))
        self.check_every = (0 if check is False else 100 if check is True
                            else check_int("check", check, 1))
        self.calls = 0
        args = [_listed(a) for a in example_args]
        self._shapes = [_shape(a, f"argument {i}") for i, a in enumerate(args)]
        # NOTE: the traced graph is freed when _write returns, before Python compiles the code
        source, namespace = self._write(tuple(args))
        self._run, self._lines = run_source(source, namespace,
                                            f"compiled step of {_fn_name(fn)}", "step")

    def _write(self, args: tuple) -> tuple[str, dict[str, object]]:
        """Trace fn, write its step's source, and keep what calls of it need."""
        g = _Graph(self, args)
        self._fingerprint = g.fingerprint() if self.check_every else None
        self._has_outputs, self._output_shape = g.has_outputs, g.shape
        sample_of, self._samples = _samples(self._shapes)
        exported = {g.index[v] for v in g.outputs}
        watched = list(dict.fromkeys(g.index[v] for v in g.watched)) if self.watch else None
        needs = _needs(g, exported if g.root is None else {g.index[g.root]}, watched or ())
        if g.root is not None:
            exported.add(g.index[g.root])
        loop = _loop(g, sample_of, self._samples, exported, needs)
        self.looped = loop is not None
        written = _Source(g, loop, needs, len(self._inputs), len(sample_of),
                          self.loss is not None, watched)
        self._used = [self.params[g.slots[k]] for k in written.used]
        self._ones = [1.0] * len(self._used)
        position = {k: i for i, k in enumerate(written.outputs)}
        self._out_order = [position[g.index[v]] for v in g.outputs]  # user's -> program's
        self._out_params = [v if self._slots.get(v, ("",))[0] == PARAM else None
                            for v in (g.nodes[k] for k in written.outputs)]
        self._gather, self._extra, self._width = _rows(g, loop, len(sample_of))
        self._watch_shape = g.watch_shape
        self._watch_at = [written.watched_at(g.index[v]) for v in g.watched]
        return written.source, written.helpers.namespace

    @property
    def source(self) -> str:
        """The generated code of the step."""
        return "".join(self._lines)

    # -- calling it -------------------------------------------------------------------

    def __call__(self, *args: object) -> float | tuple:
        n = len(self._shapes)
        if len(args) < n or (self.loss is None and len(args) > n):
            more = " (then the loss's)" if self.loss is not None else ""
            raise TypeError(f"the step takes {n} arguments{more}, got {len(args)}")
        flat: list[float] = []
        for i, (arg, shape) in enumerate(zip(args, self._shapes)):
            _flatten(arg, shape, flat, f"argument {i}")
        self.calls += 1
        if self.check_every and self.calls % self.check_every == 1 % self.check_every:
            self._check(args[:n])
        used = self._used
        grads = [p.grad for p in used]
        if min(map(math.copysign, self._ones, grads), default=1.0) < 0.0 and any(
                g == 0.0 and math.copysign(1.0, g) < 0.0 for g in grads):
            return self._on_engine(args)  # NOTE: a skipped edge would keep a -0.0 grad
        values = flat + self._extra if self._extra else flat
        rows = (zip(*[iter(map(values.__getitem__, self._gather))] * self._width)
                if self._width else itertools.repeat((), self._samples))
        run = self._run([v.data for v in self._inputs], flat, rows)
        try:
            outputs = next(run)
        except Exception:  # noqa: BLE001 - an op refused its numbers: the engine says how
            outputs = None
        if outputs is None:
            return self._on_engine(args)
        if self.loss is None:
            loss, grads, *watched = run.send((None, grads))
        else:
            before = [p.grad for p in self.params]
            loss, seeds = self._head(outputs, args[n:])
            if seeds is None:
                for p, grad in zip(self.params, before):
                    p.grad = grad
                return self._on_engine(args)
            # NOTE: the loss may add into the parameters' grads (a regulariser): read after
            _, grads, *watched = run.send((seeds, [p.grad for p in used]))
        for p, grad in zip(used, grads):
            p.grad = grad
        nested = None
        if self._has_outputs:
            nested = _unflatten(iter([outputs[i] for i in self._out_order]), self._output_shape)
        return self._result(loss, nested, self._watched(*watched) if self.watch else ())

    def _result(self, loss: float, outputs: object, watched: tuple) -> float | tuple:
        """What a call returns: the loss, then the outputs' numbers if fn has outputs, then
        the watched nodes' numbers and gradients with watch=True."""
        parts = (loss, outputs) if self._has_outputs else (loss,)
        parts += watched
        return parts if len(parts) > 1 else loss

    def _watched(self, outside: tuple, rows: list[tuple]) -> tuple[object, object]:
        """The watched nodes' numbers and gradients, in fn's nesting, from what the
        generated step yields (_Source.watched_at says where each node's are)."""
        numbers = [*outside, *itertools.chain.from_iterable(rows)]
        data = [numbers[i] for i, _ in self._watch_at]
        grads = [numbers[i] for _, i in self._watch_at]
        return (_unflatten(iter(data), self._watch_shape),
                _unflatten(iter(grads), self._watch_shape))

    def _head(self, outputs: tuple, more: tuple) -> tuple[float, list[float] | None]:
        """loss(outputs, *more) on the engine, the outputs made leaves (a parameter stays
        itself): the loss and the outputs' grads, the seeds of the rest of backward() --
        None if the loss did not reach every output, which backward() would not enter."""
        leaves = [Value(x) if p is None else p for p, x in zip(self._out_params, outputs)]
        copies = [leaf for leaf, p in zip(leaves, self._out_params) if p is None]
        for leaf in copies:
            leaf.grad = -0.0  # NOTE: stays -0.0 only where no edge adds into it
        nested = _unflatten(iter([leaves[i] for i in self._out_order]), self._output_shape)
        loss = self._engine_loss(nested, more)
        seeds = [leaf.grad for leaf in leaves]
        # NOTE: -0.0 + x is x, so a copy reached by the loss holds backward()'s number, but
        # for a sum of -0.0s, which is -0.0 here and 0.0 there: that call runs on the engine
        if 0.0 in seeds and any(math.copysign(1.0, leaf.grad) < 0.0 for leaf in copies
                                if leaf.grad == 0.0):
            return loss.data, None
        return loss.data, seeds

    def _engine_loss(self, outputs: object, more: tuple) -> Value:
        """loss(outputs, *more), backward() run, the constants' grads left as they were."""
        loss = self.loss(outputs, *more)
        if not isinstance(loss, Value):
            raise TypeError(f"loss must return a Value, got {type(loss).__name__}")
        with _kept_grads(self.constants):
            loss.backward()
        return loss

    def _on_engine(self, args: tuple) -> float | tuple:
        """The call as the engine runs it: fn on Values, then backward()."""
        n = len(self._shapes)
        called = self._call(tuple(_listed(a) for a in args[:n]), [])
        if self.loss is not None:
            loss = self._engine_loss(called.outputs, args[n:]).data
        else:
            with _kept_grads(self.constants):
                called.root.backward()
            loss = called.root.data
        watched = called.watched
        return self._result(loss, _numbers(called.outputs),
                            (_numbers(watched), _numbers(watched, "grad")) if self.watch else ())

    def _call(self, args: tuple, made: list[Value]) -> _Called:
        """fn on Values made from args (collected in `made`): its loss, outputs and
        watched nodes."""
        result = self.fn(*[_as_values(a, made) for a in args])
        watched = None
        if self.watch:
            if not isinstance(result, tuple) or len(result) < 2:
                raise CompileError(f"with watch=True, {_fn_name(self.fn)} must return (..., "
                                   f"watched nodes), got {type(result).__name__}")
            *result, watched = result
            result = result[0] if len(result) == 1 else tuple(result)
        if self.loss is not None:
            return _Called(None, result, watched)
        if isinstance(result, Value):
            return _Called(result, None, watched)
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], Value):
            return _Called(result[0], result[1], watched)
        raise CompileError(f"{_fn_name(self.fn)} must return a Value (the loss) or (loss, "
                           f"outputs), got {type(result).__name__}")

    def _check(self, args: tuple) -> None:
        """Trace fn again on these arguments; its graph must be the traced one."""
        if _Graph(self, tuple(_listed(a) for a in args)).fingerprint() != \
                self._fingerprint:
            raise CompileError(f"{_fn_name(self.fn)}'s graph changed on call {self.calls} "
                               "(Python control flow on values, or a number computed from "
                               "them?): compile works only for a fixed graph")


# ----------------------------------------------------------------------- the trace


class _Called(NamedTuple):
    """What one call of fn gave: the loss (None with loss=), the outputs and the watched
    nodes, each in fn's nesting (None when fn gave none)."""

    root: Value | None
    outputs: object
    watched: object


class _Graph:
    """One call of fn on Values: its nodes in creation order and what each leaf is.

    A leaf is a parameter, a declared constant (both read on every call), an argument
    (a number of the call, made a Value here) or a number fn made into a Value itself (a
    literal of the program); any other Value made before the call is refused.
    """

    def __init__(self, step: CompiledStep, args: tuple):
        made: list[Value] = []
        before = Value(0.0).id  # ids count creations: fn's Values come after this one
        called = step._call(args, made)
        self.root = called.root
        self.has_outputs = called.outputs is not None
        self.outputs = _leaves_of(called.outputs) if self.has_outputs else []
        self.shape = _shape(called.outputs, "outputs", Value) if self.has_outputs else None
        self.watched = [] if called.watched is None else _leaves_of(called.watched)
        self.watch_shape = (None if called.watched is None
                            else _shape(called.watched, "watched", Value))
        roots = ([] if self.root is None else [self.root]) + list(
            dict.fromkeys(self.outputs + self.watched))
        self.nodes = _collect(roots, step._slots, before, step.fn)
        self.index = {v: k for k, v in enumerate(self.nodes)}
        index = self.index
        arguments = {v: i for i, v in enumerate(made)}
        self.kinds: list[str] = []
        self.slots: list[int] = []  # a leaf's parameter, constant or argument number
        self.parents: list[tuple[int, ...]] = []
        for v in self.nodes:
            slot = step._slots.get(v)
            if slot is not None:
                kind, slot = slot
                self.parents.append(())
            elif v.parents:
                kind, slot = NODE, -1
                self.parents.append(tuple(map(index.__getitem__, v.parents)))
            else:
                kind, slot = (ARGUMENT, arguments[v]) if v in arguments else (MADE, -1)
                self.parents.append(())
            self.kinds.append(kind)
            self.slots.append(slot)
        for i, v in enumerate(self.watched):
            if self.kinds[index[v]] != NODE:
                kind = self.kinds[index[v]]
                raise CompileError(f"watched node {i} ({v!r}) is a leaf ({kind}), not computed "
                                   f"by {_fn_name(step.fn)}: watch nodes it computes (a "
                                   "parameter's gradient is its .grad)")

    def fingerprint(self) -> int:
        """What compile fixes, as one number: every node's op, params and inputs by
        position, and every leaf's kind (a made number's value too)."""
        ops: dict[int, int] = {}
        entries = []
        for k, v in enumerate(self.nodes):
            if self.kinds[k] == NODE:
                op = ops.setdefault(id(v.op), len(ops))
                entries.append((op, tuple(map(literal, v.params)), self.parents[k]))
            else:
                made = literal(v.data) if self.kinds[k] == MADE else self.slots[k]
                entries.append((self.kinds[k], made))
        return hash(tuple(entries))


def _collect(roots: list[Value], slots: dict[Value, tuple], before: int,
             fn: Callable) -> list[Value]:
    """Every node the roots depend on, sorted by creation; parameters and constants are
    leaves; any other Value made before the call (id up to `before`) is refused."""
    nodes = list(roots)
    seen = set(nodes)
    for v in nodes:  # grows while it is walked: breadth first
        if v in slots:
            continue
        if v.id <= before:
            raise CompileError(
                f"{_fn_name(fn)} reads {v!r}, made before compile() traced it and not in "
                "params or constants: pass it in params (to train it) or in constants= (to "
                "read its .data on every call without a gradient)")
        parents = v.parents
        if seen.issuperset(parents):  # most inputs are shared, found already: one C call
            continue
        for p in parents:
            if p not in seen:
                seen.add(p)
                nodes.append(p)
    nodes.sort(key=_by_id)
    return nodes


_by_id = operator.attrgetter("id")


def _fn_name(fn: Callable) -> str:
    return shown(getattr(fn, "__name__", type(fn).__name__))


# ---------------------------------------------------------------- samples as a loop

NONE, MANY, UNSEEN = -1, -2, -3  # a node's sample: none, several; no user seen yet


class _Loop(NamedTuple):
    """A batch's samples written once: sample s's nodes are members[s], each sample's in
    the same order doing the same thing; the other nodes run before (pre) or after (post)."""

    members: list[list[int]]
    pre: list[int]
    post: list[int]
    exported: list[int]  # positions in a sample of the nodes used outside it
    holes: list[int]  # positions whose numbers differ from sample to sample


def _loop(g: _Graph, sample_of: list[int], samples: int, exported: set[int],
          needs: list[bool]) -> _Loop | None:
    """The loop over samples, if the graph is one: every sample's nodes (those depending
    on its arguments, and numbers or nodes only it uses) do the same thing, and running
    them sample by sample adds every gradient in backward()'s order; else None."""
    if samples < 2:
        return None
    parents = g.parents
    dep = _dependence(g, sample_of)
    block = _owners(g, dep, exported)
    members: list[list[int]] = [[] for _ in range(samples)]
    for k, b in enumerate(block):
        if b >= 0:
            members[b].append(k)
    if not _trim(g, members, block, exported) or not any(parents[k] for k in members[0]):
        return None
    glue = [k for k, b in enumerate(block) if b == MANY and parents[k]]
    outside = dict.fromkeys(exported & set(itertools.chain(*members)), True)
    for k in glue:
        for p in parents[k]:
            if block[p] >= 0:
                if dep[k] == NONE:  # NOTE: computed before the loop, it cannot read it
                    return None
                outside[p] = True
    if not all(_same_work(g, members[0], m, outside, needs) for m in members[1:]):
        return None
    lo = min(m[0] for m in members)
    feeds = set(itertools.chain.from_iterable(parents[k] for m in members for k in m))
    pre, post = [], []
    for k in glue:
        early = dep[k] == NONE and (k in feeds or k < lo)
        if k in feeds and not early:
            return None
        (pre if early else post).append(k)
    late = set(post)
    if any(p in late for k in pre for p in parents[k]):
        return None
    if not _in_backward_order(g, members, pre, post, block, outside, needs):
        return None
    first = members[0]
    exported_at = [i for i, k in enumerate(first) if k in outside]
    holes = [i for i, k in enumerate(first) if not parents[k] and (
        g.kinds[k] == ARGUMENT or len({literal(g.nodes[m[i]].data) for m in members}) > 1)]
    return _Loop(members, pre, post, exported_at, holes)


def _dependence(g: _Graph, sample_of: list[int]) -> list[int]:
    """Each node's sample: the one whose arguments it depends on, NONE or MANY."""
    dep: list[int] = []
    get = dep.__getitem__
    for kind, slot, parents in zip(g.kinds, g.slots, g.parents):
        if kind == ARGUMENT:
            dep.append(sample_of[slot])
        elif not parents:
            dep.append(NONE)
        else:
            found = set(map(get, parents))  # one C-level pass over a dot's many inputs
            found.discard(NONE)
            dep.append(found.pop() if len(found) == 1 else MANY if found else NONE)
    return dep


def _owners(g: _Graph, dep: list[int], exported: set[int]) -> list[int]:
    """Each node's sample in the loop (MANY: outside it). A node depending on no
    argument (made from numbers and parameters) goes with the one sample using it."""
    count = len(g.nodes)
    orphans = {k for k in range(count) if dep[k] == NONE and g.kinds[k] in (NODE, MADE)}
    block = [MANY] * count
    users = [UNSEEN] * count
    for k in reversed(range(count)):
        if g.kinds[k] in (PARAM, CONSTANT):
            b = MANY
        elif dep[k] != NONE:
            b = dep[k]
        else:
            b = users[k] if users[k] >= 0 and k not in exported else MANY
        block[k] = b
        for p in orphans.intersection(g.parents[k]):  # NOTE: C-level over a dot's inputs
            u = users[p]
            users[p] = b if u == UNSEEN else u if u == b else MANY
    return block


def _trim(g: _Graph, members: list[list[int]], block: list[int], exported: set[int]) -> bool:
    """Give every sample as many nodes as the smallest has: a larger one's newest nodes
    that nothing else of it reads go out of the loop (the first + of builtin sum() over
    per-sample losses is sample 0's alone). False if that does not even them out."""
    size = min(map(len, members))
    for s, m in enumerate(members):
        if len(m) == size:
            continue
        readers = Counter(p for k in m for p in g.parents[k] if block[p] == s)
        while len(m) > size and not readers[m[-1]] and m[-1] not in exported:
            k = m.pop()
            block[k] = MANY
            readers.subtract(p for p in g.parents[k] if block[p] == s)
        if len(m) > size:
            return False
    return size > 0


def _same_work(g: _Graph, first: list[int], other: list[int], outside: dict[int, bool],
               needs: list[bool]) -> bool:
    """Whether sample `other` does what sample `first` does, node for node: the same op
    and params, inputs at the same places (or the same nodes outside the sample), leaves
    of the same kind, the same nodes used outside and carrying gradients."""
    nodes, parents, kinds = g.nodes, g.parents, g.kinds
    same = dict(zip(first, other))  # first's node -> other's; outside nodes map to themselves
    for a, b in same.items():
        if (kinds[a] != kinds[b] or needs[a] != needs[b]
                or (a in outside) != (b in outside)):
            return False
        if parents[a]:
            va, vb = nodes[a], nodes[b]
            if (va.op is not vb.op or tuple(map(literal, va.params)) !=
                    tuple(map(literal, vb.params))
                    or tuple(map(same.get, parents[a], parents[a])) != parents[b]):
                return False
    return True


def _in_backward_order(g: _Graph, members: list[list[int]], pre: list[int],
                       post: list[int], block: list[int], outside: dict[int, bool],
                       needs: list[bool]) -> bool:
    """Whether the loop's backward (post nodes, then sample by sample from the last, then
    pre nodes, each part outputs first) adds into every gradient shared between parts in
    the order backward() does: by decreasing creation number of the adding node.

    The usual case is checked in time proportional to the nodes: the nodes of a sample
    that add into a shared gradient come after those of the sample before, post nodes
    after every sample's, pre nodes before; otherwise every edge is checked.
    """
    parents = g.parents
    shared = [i for i, k in enumerate(members[0])
              if any(needs[p] and block[p] == MANY for p in parents[k])]
    lo, hi = min(m[0] for m in members), max(m[-1] for m in members)
    adding = [[m[i] for i in shared] for m in members]
    if (all(a[-1] < b[0] for a, b in zip(adding, adding[1:]) if a and b)
            and all(k > hi for k in post) and all(k < lo for k in pre)):
        return True
    last: dict[int, int] = {}
    schedule = itertools.chain(reversed(post),
                               *(reversed(m) for m in reversed(members)), reversed(pre))
    for k in schedule:
        for p in parents[k]:
            if needs[p] and (block[p] == MANY or p in outside):
                if last.get(p, k) < k:
                    return False
                last[p] = k
    return True


# ----------------------------------------------------------------------- the source

GUARDED = 3  # a node with this many edges skips them all when its upstream grad is 0


class _Source:
    """The generated step of one traced graph: `source` and what it calls (`namespace`),
    and the order of the numbers the wrapper passes in and reads out.

    `step(_P, _A, _R)` takes the parameters' and constants' data, the arguments' numbers
    and the rows of per-sample numbers; it yields the outputs' values (None when a value
    is not finite, so that the engine runs instead), is sent (seeds of the outputs' grads
    or None, the parameters' grads), and yields (the loss, the parameters' new grads) --
    with `watched` nodes, then also the numbers and grads of those outside the loop and a
    list of rows, one per sample from the last, of those in it (watched_at: where each is).
    """

    def __init__(self, g: _Graph, loop: _Loop | None, needs: list[bool], n_inputs: int,
                 n_flat: int, seeded: bool, watched: list[int] | None):
        self.g, self.loop, self.needs = g, loop, needs
        self.helpers = Helpers(checked=True)
        self.helpers.namespace["_isfinite"] = math.isfinite
        kinds = g.kinds
        self.member = {}  # node -> its position in its sample
        self.sample = {}  # node -> its sample
        if loop is not None:
            for s, m in enumerate(loop.members):
                self.member.update((k, i) for i, k in enumerate(m))
                self.sample.update(dict.fromkeys(m, s))
        self.outputs = list(dict.fromkeys(g.index[v] for v in g.outputs))
        loop_out = [] if loop is None else [m[i] for m in loop.members for i in loop.exported]
        # NOTE: outputs computed in the loop and used by nothing after it (a model's
        # outputs under loss=) pass as lists, without a name per sample in the code
        self.direct = seeded and bool(loop_out) and not loop.post and set(loop_out) == set(
            self.outputs)
        if self.direct:
            self.outputs = loop_out
        self.watched = watched
        self.watch_out = [k for k in watched or () if k not in self.member]
        self.watch_in = sorted({self.member[k] for k in watched or () if k in self.member})
        self._row_at = {i: c for c, i in enumerate(self.watch_in)}  # position -> column
        self._out_at = {k: c for c, k in enumerate(self.watch_out)}
        self.used = sorted((k for k in range(len(g.nodes)) if kinds[k] == PARAM),
                           key=lambda k: g.slots[k])
        root = None if g.root is None else g.index[g.root]
        seeds = {k for k in self.outputs if needs[k] and kinds[k] == NODE} if seeded else set()
        body = self._inputs(n_inputs, n_flat)
        body.append("_c = 0.0")
        pre = [] if loop is None else loop.pre
        post = [k for k in range(len(g.nodes)) if kinds[k] == NODE] if loop is None else loop.post
        body += self._forward(pre)
        backward_loop = [] if loop is None else self._sample_backward()
        if loop is not None:
            body += self._sample_forward()
        body += self._forward(post)
        out = "_O" if self.direct else f"({''.join(f'{self.value(k)}, ' for k in self.outputs)})"
        body.append(f"_seeds, _G = yield None if _c - _c else {out}")
        body += self._assign([f"g{k}" for k in self.used], "_G")
        zeros = [f"g{k}" for k in range(len(g.nodes)) if needs[k] and kinds[k] == NODE
                 and k not in self.member and k != root and k not in seeds]
        if not self.direct:
            zeros += [f"g{k}" for k in loop_out if needs[k] and k != root and k not in seeds]
            body += self._assign([f"g{k}" if k in seeds else "_" for k in self.outputs],
                                 "_seeds")
        body += [" = ".join(chunk) + " = 0.0" for chunk in chunks(zeros, 16)]
        if not seeded and root is not None and needs[root]:
            body.append(f"g{root} += 1.0" if kinds[root] == PARAM else f"g{root} = 1.0")
        for k in reversed(post):
            body += self._backward(k)
        body += backward_loop
        for k in reversed(pre):
            body += self._backward(k)
        grads = "".join(f"g{k}, " for k in self.used)
        watched = ""
        if self.watched is not None:
            outside = [self.value(k) for k in self.watch_out]
            outside += [self.grad_or_zero(k) for k in self.watch_out]
            rows = "_W" if self.watch_in else "()"
            watched = f", ({''.join(f'{x}, ' for x in outside)}), {rows}"
        body.append(f"yield {'None' if root is None else self.value(root)}, ({grads}){watched}")
        self.source = "def step(_P, _A, _R):\n" + "".join(f"    {line}\n" for line in body)

    # -- names --------------------------------------------------------------------

    def value(self, k: int, inside: bool = False) -> str:
        """Node k's value as an operand: a literal for a number fn made, s<i> for a node
        of the sample the loop is at (`inside`), else v<k>."""
        g = self.g
        if inside and k in self.member:
            i = self.member[k]
            if g.kinds[k] == MADE and i not in self.loop.holes:
                return literal(g.nodes[k].data)
            return f"s{i}"
        return literal(g.nodes[k].data) if g.kinds[k] == MADE else f"v{k}"

    def grad(self, k: int, inside: bool = False) -> str:
        return f"gs{self.member[k]}" if inside and k in self.member else f"g{k}"

    def grad_or_zero(self, k: int, inside: bool = False) -> str:
        """Node k's gradient, or 0.0 for a node backward() does not reach."""
        return self.grad(k, inside) if self.needs[k] else "0.0"

    def watched_at(self, k: int) -> tuple[int, int]:
        """Where watched node k's number and gradient are in what the step yields for the
        watched nodes, laid end to end: those outside the loop (numbers, then grads), then
        each sample's row (numbers, then grads), the last sample's first."""
        if k in self.member:
            samples, width = len(self.loop.members), len(self.watch_in)
            at = 2 * len(self.watch_out) + 2 * width * (samples - 1 - self.sample[k])
            at += self._row_at[self.member[k]]
            return at, at + width
        at = self._out_at[k]
        return at, at + len(self.watch_out)

    def node(self, k: int, inside: bool = False) -> NodeSource:
        v = self.g.nodes[k]
        operands = [self.value(p, inside) for p in self.g.parents[k]]
        if inside:
            i = self.member[k]
            return NodeSource(v.op, v.params, operands, f"s{i}", f"ds{i}")
        return NodeSource(v.op, v.params, operands, f"v{k}", f"d{k}")

    @staticmethod
    def _assign(names: list[str], source: str) -> list[str]:
        """`a, b, _ = source` (nothing when no name is used)."""
        if all(name == "_" for name in names):
            return []
        return [f"{', '.join(names)}, = {source}"]

    # -- parts ----------------------------------------------------------------------

    def _inputs(self, n_inputs: int, n_flat: int) -> list[str]:
        """Unpack the parameters, the constants and the arguments shared by all samples."""
        g = self.g
        inputs, flat = ["_"] * n_inputs, ["_"] * n_flat
        for k, kind in enumerate(g.kinds):
            if kind in (PARAM, CONSTANT):
                inputs[g.slots[k]] = f"v{k}"
            elif kind == ARGUMENT and k not in self.member:
                flat[g.slots[k]] = f"v{k}"
        return self._assign(inputs, "_P") + self._assign(flat, "_A")

    def _forward(self, nodes: list[int], inside: bool = False) -> list[str]:
        """The nodes' forward lines, then their values added into the finiteness check _c."""
        lines = []
        for k in nodes:
            if self.g.parents[k]:
                lines += forward_lines(self.helpers, self.node(k, inside))
        values = [self.value(k, inside) for k in nodes if self.g.parents[k]]
        lines += [f"_c = _c + {' + '.join(chunk)}" for chunk in chunks(values)]
        return lines

    def _backward(self, k: int, inside: bool = False) -> list[str]:
        """Node k's edges into the inputs that need a gradient; a node with many edges and
        partials that are all finite skips them when its upstream grad is 0 (each would add
        0 to a sum, which changes nothing: no grad here is ever -0.0)."""
        g, needs = self.g, self.needs
        if not (needs[k] and g.parents[k]):
            return []
        node = self.node(k, inside)
        up = self.grad(k, inside)
        locals_ = local_derivatives(self.helpers, node)
        edges = [edge_line(self.grad(p, inside), up, local)
                 for p, local in zip(g.parents[k], locals_) if needs[p]]
        if len(edges) < GUARDED:
            return edges
        guard = _guard(self.helpers, node, up)
        return edges if guard is None else [guard, *(f"    {edge}" for edge in edges)]

    def _sample_backward(self) -> list[str]:
        """The loop over samples, last first, each sample's nodes outputs first."""
        loop, needs = self.loop, self.needs
        first = loop.members[0]
        seeds = [i for i in loop.exported if needs[first[i]]]
        zeros = [f"gs{i}" for i, k in enumerate(first)
                 if needs[k] and self.g.parents[k] and i not in seeds]
        lines = [" = ".join(chunk) + " = 0.0" for chunk in chunks(zeros, 16)]
        for k in reversed(first):
            lines += self._backward(k, inside=True)
        if self.watch_in:
            row = [f"s{i}" for i in self.watch_in]
            row += [self.grad_or_zero(first[i], inside=True) for i in self.watch_in]
            lines.append(f"_W.append(({''.join(f'{x}, ' for x in row)}))")
        self.state = sorted(set(re.findall(r"\b(?:s|ds)\d+\b", "\n".join(lines))),
                            key=lambda name: (name[0], int(name.lstrip("ds"))))
        state = "".join(f"{name}, " for name in self.state)
        targets = "".join(f"gs{i}, " for i in seeds)
        if not seeds:
            head = f"for ({state}) in reversed(_S):"
        elif self.direct and len(loop.exported) == 1:
            head = f"for ({state}), {targets} in zip(reversed(_S), reversed(_seeds)):"
        elif self.direct:
            targets = "".join(f"gs{i}, " if i in seeds else "_, " for i in loop.exported)
            rows = f"zip(*[iter(_seeds)] * {len(loop.exported)})"
            head = f"for ({state}), ({targets}) in zip(reversed(_S), reversed(list({rows}))):"
        else:
            per_sample = "".join(
                "(" + "".join(f"g{m[i]}, " for i in seeds) + "), "
                for m in reversed(loop.members))
            head = f"for ({state}), ({targets}) in zip(reversed(_S), ({per_sample})):"
        start = ["_W = []"] if self.watch_in else []
        return [*start, head, *(f"    {line}" for line in lines or ["pass"])]

    def _sample_forward(self) -> list[str]:
        """The loop over samples, first to last: their forward lines, what backward reads
        of each (_S), and the values used outside the loop (_O, unpacked after it)."""
        loop = self.loop
        first = loop.members[0]
        targets = "".join(f"s{i}, " for i in loop.holes)
        lines = self._forward(first, inside=True)
        lines.append(f"_S.append(({''.join(f'{name}, ' for name in self.state)}))")
        if loop.exported:
            lines.append(f"_O += ({''.join(f's{i}, ' for i in loop.exported)})")
        out = ["_S = []", "_O = []", f"for ({targets}) in _R:",
               *(f"    {line}" for line in lines)]
        if self.direct:
            return out
        return out + self._assign([f"v{m[i]}" for m in loop.members for i in loop.exported],
                                  "_O")


def _guard(helpers: Helpers, node: NodeSource, up: str) -> str | None:
    """`if up or <a partial is not finite>:` for one node's edges, or None when finiteness
    cannot be told cheaply (then every edge runs)."""
    if node.op is OPS.get("dot"):  # NOTE: w . x + b is finite only if every operand is
        return f"if {up} or {node.out} - {node.out}:"
    locals_ = local_derivatives(helpers, node)
    if all(map(is_finite_literal, locals_)):
        return f"if {up}:"
    if helpers.rule(node.op, len(node.operands), node.params).partials is None:
        return f"if {up} or not _isfinite(sum({node.d})):"
    if len(locals_) <= CHAIN:
        return f"if {up} or not _isfinite({' + '.join(locals_)}):"
    return None


# ------------------------------------------------------------ arguments and rows


def _values(what: str, items: Sequence[Value]) -> list[Value]:
    """`items` as a list of Values without repeats (the first of each kept)."""
    if isinstance(items, Value) or not isinstance(items, Iterable):
        raise TypeError(f"{what} must be a list of Values, got {type(items).__name__}")
    items = list(items)
    for i, v in enumerate(items):
        if not isinstance(v, Value):
            raise TypeError(f"{what} must be Values; {what}[{i}] is {type(v).__name__}")
    return list(dict.fromkeys(items))


def _listed(x: object) -> object:
    """An array (anything with tolist(), e.g. numpy's) as nested lists; else x itself."""
    if isinstance(x, (list, tuple, str, bytes, Value)) or is_number(x):
        return x
    tolist = getattr(x, "tolist", None)
    if callable(tolist):
        return tolist()
    return x


def _shape(x: object, where: str, leaf: type | None = None) -> object:
    """A nested list's shape: None for a number (or a `leaf`), else the items' shapes."""
    if (leaf is None and is_number(x)) or (leaf is not None and isinstance(x, leaf)):
        return None
    if isinstance(x, (list, tuple)):
        return tuple(_shape(_listed(item) if leaf is None else item,
                            f"{where}[{i}]", leaf) for i, item in enumerate(x))
    if leaf is None:
        hint = " (put Values in params or constants)" if isinstance(x, Value) else ""
        raise TypeError(f"{where} must be a number or a (nested) list of numbers, got "
                        f"{type(x).__name__}{hint}")
    raise CompileError(f"{where} must be Values in (nested) lists, got {type(x).__name__}")


def _size(shape: object) -> int:
    return 1 if shape is None else sum(map(_size, shape))


def _samples(shapes: list[object]) -> tuple[list[int], int]:
    """Each argument number's sample (NONE if shared), and how many samples there are:
    the items of the first list argument, and of every list argument as long as it."""
    count = next((len(s) for s in shapes if s is not None and len(s) >= 2), 0)
    sample_of: list[int] = []
    for shape in shapes:
        if shape is not None and len(shape) == count:
            for s, item in enumerate(shape):
                sample_of += [s] * _size(item)
        else:
            sample_of += [NONE] * _size(shape)
    return sample_of, count


def _needs(g: _Graph, seeded: set[int], watched: Iterable[int]) -> list[bool]:
    """Whether each node's gradient is needed: it leads to a parameter or a watched node
    (or is one), and backward() reaches it from the seeded nodes (the loss, or the outputs
    under loss=). An output outside the loss's graph is never reached: nothing of it runs
    backward."""
    reached = set(seeded)
    for k in reversed(range(len(g.nodes))):
        if k in reached:
            reached.update(g.parents[k])
    watched = set(watched)
    needs: list[bool] = []
    for k, (kind, parents) in enumerate(zip(g.kinds, g.parents)):
        needs.append(k in reached and (kind == PARAM or k in watched
                                       or any(map(needs.__getitem__, parents))))
    return needs


def _rows(g: _Graph, loop: _Loop | None, n_flat: int) -> tuple[list[int], list[float], int]:
    """Where each sample's per-sample numbers are, in order: an index into the arguments'
    numbers followed by the numbers fn made that differ between samples."""
    if loop is None:
        return [], [], 1
    gather: list[int] = []
    extra: list[float] = []
    for m in loop.members:
        for i in loop.holes:
            k = m[i]
            if g.kinds[k] == ARGUMENT:
                gather.append(g.slots[k])
            else:
                gather.append(n_flat + len(extra))
                extra.append(g.nodes[k].data)
    return gather, extra, len(loop.holes)


def _flatten(x: object, shape: object, out: list[float], where: str) -> None:
    """Append x's numbers (floats, as Value() would hold them) to `out`, checking that x
    has the traced `shape`."""
    if shape is None:
        if type(x) is not float:
            x = _listed(x)
            if not is_number(x):
                raise TypeError(f"{where} must be a number, got {type(x).__name__}")
            x = float(x)
        out.append(x)
        return
    x = _listed(x)
    if not isinstance(x, (list, tuple)) or len(x) != len(shape):
        got = f"{len(x)} items" if isinstance(x, (list, tuple)) else type(x).__name__
        raise ValueError(f"{where} must have the traced shape ({len(shape)} items), got {got}")
    if shape.count(None) == len(shape) and set(map(type, x)) == {float}:  # C-level checks
        out.extend(x)
        return
    for i, (item, sub) in enumerate(zip(x, shape)):
        _flatten(item, sub, out, f"{where}[{i}]")


def _as_values(x: object, made: list[Value]) -> object:
    """Numbers as new leaves (collected in `made`, in order), lists kept as lists."""
    x = _listed(x)
    if is_number(x):
        made.append(Value(x))
        return made[-1]
    return [_as_values(item, made) for item in x]


def _leaves_of(x: object) -> list:
    """A nested list's items in order (x itself when it is not a list)."""
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _leaves_of(item)]
    return [x]


def _unflatten(items: Iterator, shape: object) -> object:
    """Items in the nesting `shape` describes (lists for tuples)."""
    if shape is None:
        return next(items)
    return [_unflatten(items, sub) for sub in shape]


def _numbers(x: object, field: str = "data") -> object:
    """Values in nested lists as their numbers (or grads), in the same nesting (lists for
    tuples); None stays None."""
    if isinstance(x, (list, tuple)):
        return [_numbers(item, field) for item in x]
    return None if x is None else getattr(x, field)


class _kept_grads:
    """A block after which the Values' grads are what they were before it."""

    def __init__(self, values: list[Value]):
        self.values = values

    def __enter__(self) -> None:
        self.saved = [v.grad for v in self.values]

    def __exit__(self, *_: object) -> None:
        for v, grad in zip(self.values, self.saved):
            v.grad = grad
