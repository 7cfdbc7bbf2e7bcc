"""Backward as code: a graph written out as the plain Python program it amounts to.

`to_source(root)` writes one function: a line per node computing its value, then a line
per edge adding *upstream grad x local derivative* into an input's gradient, outputs
first -- the whole of backprop with nothing hidden. Each line is generated from the op
table itself: a rule that is plain arithmetic (`tanh: 1.0 - out * out`) is written inline
by running it on symbols, and a rule that branches on values (relu, abs, pow) is called
by name, so the program gives exactly -- bit for bit -- what `backward()` gives.

`to_function(root)` executes that source under a real file name registered with
`linecache`, so pdb, IDE debuggers and tracebacks show its lines. `compile(fn, params,
*example_args)` traces `fn` once and returns a step that reruns the same program on
plain floats: only the graph's structure is fixed (like `jax.jit`), the values and the
branches inside ops (relu on or off) are evaluated on every call.
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import keyword
import linecache
import math
import numbers
import re
import threading
from typing import Callable, Iterable, Iterator, Sequence

from .checks import check_int, is_number
from .engine import OPS, Op, Value, topological_order

# ------------------------------------------------------------- rules on symbols


class _Sym:
    """A number known only by the Python text that computes it, for reading a rule.

    Arithmetic builds text (fully parenthesised, so the generated code evaluates in the
    rule's own order). Anything that needs the value itself (a comparison, bool(),
    math.exp) raises _NotArithmetic, and the rule is then called instead of inlined.
    """

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def _op(self, other: object, symbol: str, reflected: bool = False) -> _Sym:
        if isinstance(other, _Sym):
            other_text = other.text
        elif is_number(other):
            other_text = _literal(float(other))
        else:
            raise _NotArithmetic
        left, right = (other_text, self.text) if reflected else (self.text, other_text)
        return _Sym(f"({left} {symbol} {right})")

    def __add__(self, other): return self._op(other, "+")
    def __radd__(self, other): return self._op(other, "+", True)
    def __sub__(self, other): return self._op(other, "-")
    def __rsub__(self, other): return self._op(other, "-", True)
    def __mul__(self, other): return self._op(other, "*")
    def __rmul__(self, other): return self._op(other, "*", True)
    def __truediv__(self, other): return self._op(other, "/")
    def __rtruediv__(self, other): return self._op(other, "/", True)
    def __pow__(self, other): return self._op(other, "**")
    def __rpow__(self, other): return self._op(other, "**", True)
    def __neg__(self): return _Sym(f"(-{self.text})")

    def _value_needed(self, *_):
        raise _NotArithmetic

    __bool__ = __float__ = __index__ = __lt__ = __le__ = __gt__ = __ge__ = _value_needed
    __eq__ = __ne__ = _value_needed  # type: ignore[assignment]
    __hash__ = None  # type: ignore[assignment]


def _symbolic_sum(items: Iterable, start: object = 0) -> object:
    """builtin sum(), written back as `sum((...))` when it adds symbols, so the generated
    code adds exactly as the rule did on every Python version (3.12 compensates)."""
    items = list(items)
    if not any(isinstance(x, _Sym) for x in (*items, start)):
        return builtins.sum(items, start)
    if type(start) is not int or start != 0 or not all(
            isinstance(x, _Sym) or is_number(x) for x in items):
        raise _NotArithmetic
    texts = [_unwrap(x.text) if isinstance(x, _Sym) else _literal(float(x)) for x in items]
    return _Sym(f"sum(({', '.join(texts)},))")


_trace_lock = threading.Lock()


@contextlib.contextmanager
def _sum_traced(fn: Callable) -> Iterator[None]:
    """Let `fn`'s module see _symbolic_sum as `sum` for one call (it behaves like the
    builtin on numbers, so another thread running the same module meanwhile is safe)."""
    scope = getattr(fn, "__globals__", None)
    if scope is None or "sum" in scope:
        yield
        return
    with _trace_lock:
        scope["sum"] = _symbolic_sum
        try:
            yield
        finally:
            del scope["sum"]


class _NotArithmetic(Exception):
    """A rule needed an actual value, so it cannot be written as one expression."""


def _literal(x: float) -> str:
    """A float as Python source that reads back exactly (inf and nan by name)."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def _inline(rule: Callable, args: Sequence[str | float]) -> list[str] | str | None:
    """`rule` run on symbols: its result's text (a list for a tuple), or None if it
    needs values. Numbers in `args` (an op's params) enter as themselves."""
    symbols = [_Sym(a) if isinstance(a, str) else a for a in args]
    try:
        with _sum_traced(rule):
            result = rule(*symbols)
    except Exception:  # noqa: BLE001 - _NotArithmetic, math.tanh(_Sym), x.data...: any
        return None    # rule that needs real numbers is called instead of inlined
    items = result if isinstance(result, tuple) else (result,)
    texts = []
    for item in items:
        if isinstance(item, _Sym):
            texts.append(_unwrap(item.text))
        elif is_number(item):
            texts.append(_literal(float(item)))
        else:
            return None
    return texts if isinstance(result, tuple) else texts[0]


def _unwrap(text: str) -> str:
    """Drop one pair of outer parentheses when they enclose the whole expression."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and i < len(text) - 1:
            return text
    return text[1:-1]


def _rule_text(op: Op, arity: int) -> str:
    """The partials rule in words for a comment: inlined on the names a, b, ... and out,
    else the rule's docstring, else its source (a lambda's body)."""
    names = [chr(ord("a") + i) for i in range(min(arity, 3))]
    if arity <= 3:
        texts = _inline(op.partials, [*names, *_param_names(op, arity), "out"])
        if isinstance(texts, list) and len(texts) == arity:
            return ", ".join(f"d/d{n} = {t}" for n, t in zip(names, texts))
    doc = (op.partials.__doc__ or "").strip().splitlines()
    if doc and op.partials.__name__ != "<lambda>":
        return doc[0].split(";")[0].split(" (")[0].rstrip(".")
    return _lambda_body(op.partials) or "the op's rule, evaluated on this call's values"


def _param_names(op: Op, arity: int) -> list[str]:
    """Placeholder names for an op's params in a comment (an exponent, a slope)."""
    code = getattr(op.partials, "__code__", None)
    if code is None or code.co_flags & 0x04:  # *args: no named params
        return []
    return list(code.co_varnames[arity : code.co_argcount - 1])


def _lambda_body(fn: Callable) -> str:
    """A lambda's body as written in its source file ('' when it cannot be found)."""
    code = getattr(fn, "__code__", None)
    positions = getattr(code, "co_positions", None)  # Python 3.11+
    if positions is None:
        return ""
    spans = [p for p in positions() if None not in p and p[2] != p[3]]
    if not spans:
        return ""
    first, last, start, end = max(spans, key=lambda p: (p[1] - p[0], p[3] - p[2]))
    if first != last:
        return ""
    text = linecache.getline(code.co_filename, first)[start:end].strip()
    return _unwrap(text.rstrip(",)").lstrip("(")) if text.endswith(",)") else text


# ---------------------------------------------------------------- the program


class _Program:
    """The lines of one graph's forward and backward, with every node's variable name."""

    def __init__(self, root: Value, arguments: Sequence[Value] | None = None,
                 constants: Iterable[Value] = ()):
        if not isinstance(root, Value):
            raise TypeError(f"expected a Value, got {type(root).__name__}")
        self.root = root
        self.nodes = topological_order(root)
        self.names = _variable_names(self.nodes)
        self.leaves = [v for v in self.nodes if not v.parents]
        self.arguments = self.leaves if arguments is None else list(arguments)
        self.constants = set(constants)
        self.namespace: dict[str, object] = {"inf": math.inf, "nan": math.nan,
                                             "isfinite": math.isfinite}
        self.bound: dict[str, tuple[Op, str]] = {}  # name -> (op, "forward" or "partials")

    def forward_lines(self) -> list[str]:
        lines = []
        for v in self.nodes:
            if not v.parents:
                if v in self.constants:
                    lines.append(f"{self.names[v]} = {_literal(v.data)}")
                continue
            args = [self.names[p] for p in v.parents]
            expr = _inline(v.op.forward, [*args, *v.params])
            if not isinstance(expr, str):
                expr = f"{self._function(v.op, 'forward')}({', '.join(args + [_literal(p) for p in v.params])})"
            lines.append(f"{self.names[v]} = {expr}")
        return lines

    def backward_lines(self, wanted: set[Value] | None = None) -> tuple[list[str], list[str]]:
        """The gradient variables' initialisation and the backward lines.

        `wanted`: the leaves whose gradients are needed (None: all); edges into other
        leaves are left out, which changes no other gradient.
        """
        nodes = [v for v in reversed(self.nodes) if v.parents]
        needed = set(self.nodes) if wanted is None else _ancestors_of(nodes, wanted)
        grads = [f"g_{self.names[v]}" for v in self.nodes if v in needed and v is not self.root]
        lines: list[str] = [f"g_{self.names[self.root]} = 1.0"]
        for v in nodes:
            if v not in needed:
                continue
            upstream = f"g_{self.names[v]}"
            args = [self.names[p] for p in v.parents]
            call = [*args, *(_literal(p) for p in v.params), self.names[v]]
            partials = _inline(v.op.partials, [*args, *v.params, self.names[v]])
            shown = args if len(args) <= 4 else [*args[:3], "...", args[-1]]
            lines.append(f"# {self.names[v]} = {v.op.name}({', '.join(shown)})    "
                         f"rule: {_rule_text(v.op, len(args))}")
            if not isinstance(partials, list) or len(partials) != len(args):
                d_name = f"d_{self.names[v]}"
                lines.append(f"{d_name} = {self._function(v.op, 'partials')}({', '.join(call)})")
                partials = [f"{d_name}[{i}]" for i in range(len(args))]
            edges = [(f"g_{self.names[p]}", d) for p, d in zip(v.parents, partials)
                     if p in needed]
            indent = ""
            if len(edges) >= _GUARDED_EDGES:
                # NOTE: with a zero upstream grad every edge adds 0 * local, which changes
                # nothing unless a local is inf or nan (0 * inf = nan must still reach the
                # inputs); a sum of the locals is non-finite whenever one of them is.
                locals_ = (f"sum({d_name})" if partials[0].startswith("d_") else
                           " + ".join(_parenthesised(d) for d in partials))
                lines.append(f"if {upstream} or not isfinite({locals_}):  "
                             "# 0 * local adds nothing unless a local is inf or nan")
                indent = "    "
            for grad, local in edges:
                term = upstream if local == "1.0" else f"{upstream} * {_parenthesised(local)}"
                lines.append(f"{indent}{grad} += {term}")  # x * 1.0 == x, exactly
        init = [" = ".join(grads[i : i + 8]) + " = 0.0" for i in range(0, len(grads), 8)]
        return init, lines

    def _function(self, op: Op, part: str) -> str:
        """The name under which the generated code calls `op`'s forward or partials."""
        name = op.name if part == "forward" else f"{op.name}_partials"
        bound = self.namespace.get(name)
        if bound is not None and bound is not getattr(op, part):
            name = f"{name}_{sum(k.startswith(name) for k in self.namespace)}"
        self.namespace[name] = getattr(op, part)
        self.bound[name] = (op, part)
        return name

    def preamble(self, body: str) -> list[str]:
        """Lines binding what the body calls, so the printed source runs on its own."""
        lines = []
        code = re.sub(r"#.*", "", body)  # comments mention inf and nan in words
        used_math = [n for n in ("inf", "isfinite", "nan") if re.search(rf"\b{n}\b", code)]
        if used_math:
            lines.append(f"from math import {', '.join(used_math)}")
        if any(OPS.get(op.name) is op for op, _ in self.bound.values()):
            lines.append("from micrograd_ann.engine import OPS  # the table of built-in ops")
        for name, (op, part) in self.bound.items():
            if OPS.get(op.name) is op:
                lines.append(f"{name} = OPS[{op.name!r}].{part}")
            else:
                lines.append(f"# {name}: your Op {op.name!r}'s {part} (bind it before running)")
        return lines + [""] if lines else []


_GUARDED_EDGES = 3  # nodes with this many edges skip them all at once when upstream is 0


_BARE = re.compile(r"[\w.\[\]]+|-?[\d.]+(?:e[-+]?\d+)?|-inf")  # a name, d[i], a literal


def _parenthesised(text: str) -> str:
    """`text` as one operand of `*`: names and numbers bare, expressions in brackets."""
    return text if _BARE.fullmatch(text) else f"({text})"


def _ancestors_of(nodes_outputs_first: list[Value], wanted: set[Value]) -> set[Value]:
    """The nodes through which gradient reaches `wanted`: they and everything above them."""
    needed = set(wanted)
    for v in reversed(nodes_outputs_first):  # inputs before outputs
        if any(p in needed for p in v.parents):
            needed.add(v)
    return needed


def _variable_names(nodes: list[Value]) -> dict[Value, str]:
    """A Python name per node: its label when that is an identifier, else op_k or leaf_k
    (k its position in topological order, as explain() numbers nodes); never a clash."""
    names: dict[Value, str] = {}
    reserved = set(dir(builtins)) | {"inf", "nan", "isfinite", "params_", "inputs_"}
    taken = set(reserved)
    for k, v in enumerate(nodes):
        base = v.label if v.label.isidentifier() and not keyword.iskeyword(v.label) else ""
        if not base or base.startswith(("g_", "d_")) or base in reserved:
            base = f"{v.op.name if v.op else 'leaf'}_{k}"
        name = base
        for n in itertools.count(2):
            if name not in taken:
                break
            name = f"{base}_{n}"
        taken.add(name)
        names[v] = name
    return names


# -------------------------------------------------------------- read and step it

_file_numbers = itertools.count(1)


def to_source(root: Value, name: str | None = None) -> str:
    """Python source of a function computing root and the gradient of every leaf.

    Its arguments are the leaves (defaulting to their current data); it returns root's
    value and a dict of the leaves' gradients, each exactly as backward() from zero
    gradients would leave them.
    """
    program = _Program(root)
    return _source(program, name)[0]


def _source(program: _Program, name: str | None) -> tuple[str, dict[str, object]]:
    names = program.names
    fname = name or f"backward_of_{names[program.root]}"
    if not fname.isidentifier() or keyword.iskeyword(fname):
        raise ValueError(f"name must be a Python identifier, got {fname!r}")
    params = ", ".join(f"{names[v]}={_literal(v.data)}" for v in program.arguments)
    forward = program.forward_lines()
    init, backward = program.backward_lines()
    grads = ", ".join(f"{names[v]!r}: g_{names[v]}" for v in program.leaves)
    body = ["# forward: one line per node, inputs first",
            *forward,
            "# backward: seed the output, then each node adds upstream * local into its inputs",
            *init, *backward,
            f"return {names[program.root]}, {{{grads}}}"]
    head = (f"def {fname}({params}):\n"
            f'    """{names[program.root]} and its gradient with respect to every leaf."""\n')
    code = head + "".join(f"    {line}\n" for line in body)
    return "".join(f"{line}\n" for line in program.preamble(code)) + code, program.namespace


def to_function(root: Value, name: str | None = None) -> Callable[..., tuple]:
    """to_source(root), executed: a function whose lines pdb and tracebacks can show."""
    program = _Program(root)
    source, namespace = _source(program, name)
    return _exec(source, namespace, f"backward of {program.names[root]}",
                 name or f"backward_of_{program.names[root]}")


def _exec(source: str, namespace: dict[str, object], title: str, name: str) -> Callable:
    """Run `source` (one def) under a file name of its own, registered with linecache."""
    filename = f"<micrograd_ann {title} #{next(_file_numbers)}>"
    # NOTE: mtime None marks the entry as not backed by a file, so linecache.checkcache()
    # keeps it; pdb and traceback then read the generated lines from here.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    scope = dict(namespace)
    exec(builtins.compile(source, filename, "exec"), scope)  # noqa: S102 - our own source
    return scope[name]


# ------------------------------------------------------------------ run it fast


class CompileError(ValueError):
    """compile() cannot fix this function's graph, or a check found the graph changed."""


class CompiledStep:
    """`step(*args) -> float`: forward and backward of a traced function on plain floats.

    Adds each parameter's gradient into its `.grad` (as backward() does: zero them
    between steps) and returns the loss -- or, when fn returns `(loss, outputs)` (outputs:
    Values of the loss's graph, in nested lists), `(loss, outputs' numbers)` in the same
    nesting. `source` holds the generated code.
    """

    def __init__(self, fn: Callable[..., Value], params: Sequence[Value],
                 example_args: tuple, check: bool | int):
        self.fn = fn
        self.params = list(params)
        self.shapes = [_shape(a, f"argument {i}") for i, a in enumerate(example_args)]
        self.check_every = (0 if check is False else 100 if check is True
                            else check_int("check", check, 1))
        self.calls = 0
        root, inputs, outputs = self._trace(example_args)
        self.structure = _structure(root)
        self.has_outputs = outputs is not None
        self.output_shape = None if outputs is None else _shape(outputs, "outputs", Value)
        program = _Program(root)
        known = set(self.params) | set(inputs)
        program.constants = {v for v in program.leaves if v not in known}
        self.source, namespace = self._source(program, inputs, _leaves_of(outputs))
        self._run = _exec(self.source, namespace, f"compiled step of {fn.__name__}", "step")

    def _trace(self, args: tuple) -> tuple[Value, list[Value], object]:
        inputs: list[Value] = []
        values = [_as_values(a, inputs) for a in args]
        root = self.fn(*values)
        outputs = None
        if isinstance(root, tuple) and len(root) == 2:
            root, outputs = root
        if not isinstance(root, Value):
            raise CompileError(f"{self.fn.__name__} must return a Value (the loss) or "
                               f"(loss, outputs), got {type(root).__name__}")
        missing = [i for i, p in enumerate(self.params) if not isinstance(p, Value)]
        if missing:
            raise TypeError(f"params must be Values; params[{missing[0]}] is not")
        return root, inputs, outputs

    def _source(self, program: _Program, inputs: list[Value],
                outputs: list[Value]) -> tuple[str, dict]:
        names = program.names
        in_graph = set(program.nodes)
        if not all(v in in_graph for v in outputs):
            raise CompileError("every output must be part of the loss's graph")
        params = [p for p in self.params if p in in_graph]
        self._used = params  # the parameters the step reads and adds gradients into
        init, backward = program.backward_lines(set(params))
        unpack = [f"{names[p]} = params_[{i}]" for i, p in enumerate(params)]
        unpack += [f"{names[x]} = inputs_[{i}]" for i, x in enumerate(inputs) if x in in_graph]
        grads = "".join(f"g_{names[p]}, " for p in params)
        shown = "".join(f"{names[v]}, " for v in outputs)
        body = [*unpack, *program.forward_lines(), *init, *backward,
                f"return {names[program.root]}, ({grads}), ({shown})"]
        source = "def step(params_, inputs_):\n" + "".join(f"    {line}\n" for line in body)
        return source, program.namespace

    def __call__(self, *args) -> float:
        if len(args) != len(self.shapes):
            raise TypeError(f"the step takes {len(self.shapes)} arguments, got {len(args)}")
        flat: list[float] = []
        for i, (arg, shape) in enumerate(zip(args, self.shapes)):
            _flatten(arg, shape, flat, f"argument {i}")
        self.calls += 1
        if self.check_every and self.calls % self.check_every == 1 % self.check_every:
            self._check(args)
        used = self._used
        loss, grads, outputs = self._run([p.data for p in used], flat)
        for p, g in zip(used, grads):
            p.grad += g
        if not self.has_outputs:
            return loss
        return loss, _unflatten(iter(outputs), self.output_shape)

    def _check(self, args: tuple) -> None:
        """Trace fn again on these arguments; its graph must have the traced structure."""
        root, _, _ = self._trace(args)
        if _structure(root) != self.structure:
            raise CompileError(f"{self.fn.__name__}'s graph changed shape on call "
                               f"{self.calls} (Python control flow on values?): compile "
                               "works only for a fixed graph structure")


def compile(fn: Callable[..., Value], params: Sequence[Value], *example_args,
            check: bool | int = False) -> CompiledStep:
    """Trace fn(*example_args) once on Values and return a step on plain floats.

    `example_args` are numbers or nested lists of numbers; later calls must pass the
    same shapes. The graph's structure is fixed at trace time -- Python `if`s on values
    inside fn are not re-evaluated -- while branches inside ops (relu, abs) are.
    check=True (or every=N) re-traces every 100th (Nth) call and raises CompileError if
    the structure changed.
    """
    if not callable(fn):
        raise TypeError(f"compile needs a function returning a Value, got {type(fn).__name__}")
    return CompiledStep(fn, params, example_args, check)


def _shape(x: object, where: str, leaf: type | None = None) -> object:
    """A nested list's shape: None for a number (or a `leaf`), else the items' shapes."""
    if (is_number(x) and leaf is None) or (leaf is not None and isinstance(x, leaf)):
        return None
    if isinstance(x, (list, tuple)):
        return tuple(_shape(item, f"{where}[{i}]", leaf) for i, item in enumerate(x))
    kind = "numbers" if leaf is None else f"{leaf.__name__}s"
    raise TypeError(f"{where} must be a {kind[:-1]} or a (nested) list of {kind}, got "
                    f"{type(x).__name__}")


def _leaves_of(x: object) -> list:
    """A nested list's items in order (x itself when it is not a list; [] for None)."""
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return [leaf for item in x for leaf in _leaves_of(item)]
    return [x]


def _unflatten(items: Iterator[float], shape: object) -> object:
    """Numbers from `items` in the nesting `shape` describes (lists for tuples)."""
    if shape is None:
        return next(items)
    return [_unflatten(items, sub) for sub in shape]


def _flatten(x: object, shape: object, out: list[float], where: str) -> None:
    if shape is None:
        if not is_number(x):
            raise TypeError(f"{where} must be a number, got {type(x).__name__}")
        out.append(float(x))
        return
    if not isinstance(x, (list, tuple)) or len(x) != len(shape):
        raise ValueError(f"{where} must have the traced shape ({len(shape)} items)")
    for i, (item, sub) in enumerate(zip(x, shape)):
        if sub is None and type(item) is float:  # most items: no call, no name to format
            out.append(item)
        else:
            _flatten(item, sub, out, f"{where}[{i}]")


def _as_values(x: object, made: list[Value]) -> object:
    """Numbers as new leaves (collected in `made`, in order), lists kept as lists."""
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        made.append(Value(x))
        return made[-1]
    return [_as_values(item, made) for item in x]


def _structure(root: Value) -> tuple:
    """What compile fixes: each node's op, params and inputs, by position."""
    nodes = topological_order(root)
    index = {v: i for i, v in enumerate(nodes)}
    return tuple((v.op, v.params, tuple(index[p] for p in v.parents)) for v in nodes)
