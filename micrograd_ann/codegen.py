"""Backward as code: the op table's rules written as Python, and a graph written out as the
program it amounts to.

`to_source(root)` is the teaching output: one line per node computing its value, then,
outputs first, one `+=` line per edge adding *upstream x local derivative* into an input's
gradient -- the plain chain rule, bit for bit what `backward()` computes, nothing skipped.
`to_function` executes it under a file name registered with `linecache`, so pdb and
tracebacks show its lines. compiler.py builds the fast path from the same pieces.

Generated code is safe by construction. Its identifiers are the generator's alone: node
values v12, gradients g12, a called rule's partials d12 (compiler.py adds s3, gs3, ds3
inside its loop), helpers _tanh and _tanh_partials, plus sum, abs, inf and nan. User text
(labels, names of your Ops, docstrings) appears only in comments, through repr(), so it
cannot end a line or become a name; numbers appear only as float.__repr__ of a plain
float. Each op's rule is read once per arity and params: a built-in's arithmetic rule is
run on symbols and written inline, relu, leaky_relu, abs, sum and dot have inline forms
of their own (_TEMPLATES, proven equal to the table's rules by the tests), and every
other rule -- pow's, sqrt's, all of your own Ops' -- is called.
"""

from __future__ import annotations

import builtins
import inspect
import itertools
import keyword
import linecache
import math
import re
import weakref
from typing import Callable, Iterator, NamedTuple, Sequence

from .checks import is_number
from .engine import OPS, Op, Value, topological_order

# ------------------------------------------------------------------ text in the code

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # ASCII: NFKC cannot merge two
CHAIN = 32  # terms per statement in a long sum: CPython's compiler recurses on deep ones


def literal(x: object) -> str:
    """A number as source that reads back exactly: float.__repr__ of a plain float (never
    the repr of a float subclass or numpy scalar), inf and nan by name, a negative one in
    brackets so that it is one operand wherever it stands."""
    if not is_number(x):
        raise TypeError(f"expected a number, got {type(x).__name__}")
    x = float(x)  # NOTE: a plain float even for a float subclass with its own __float__
    if x != x:
        return "nan"
    text = float.__repr__(x)
    if text in ("inf", "-inf"):
        text = text[:-3] + "inf"
    return f"({text})" if text.startswith("-") else text


def shown(text: str, limit: int = 40) -> str:
    """User text (a label, an Op's name) for a comment: an ASCII identifier as it is,
    anything else as a repr, whose escapes keep every line break out of the line."""
    if _IDENTIFIER.match(text) and len(text) <= limit:
        return text
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def chunks(items: Sequence[str], size: int = CHAIN) -> Iterator[Sequence[str]]:
    return (items[i:i + size] for i in range(0, len(items), size))


# ------------------------------------------------------------------ rules on symbols


class _NotArithmetic(BaseException):
    """A rule needed a value, not a symbol. A BaseException, so a rule's own `except
    Exception` cannot swallow it and return a wrong constant."""


class _Sym:
    """A number known only by the source that computes it, for reading a rule: arithmetic
    builds fully bracketed text (so the generated code evaluates in the rule's order);
    anything needing the value itself (a comparison, float(), math.exp) raises."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def _op(self, other: object, symbol: str, reflected: bool = False) -> _Sym:
        if isinstance(other, _Sym):
            other_text = other.text
        elif is_number(other) and not isinstance(other, complex):
            other_text = literal(other)
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
    def __neg__(self): return _Sym(f"(-{self.text})")

    def _value_needed(self, *_):
        raise _NotArithmetic

    # NOTE: ** is left out on purpose: a ** b may be complex, which the table's rule
    # checks for and inline code would not, so a rule with ** is called instead.
    __bool__ = __float__ = __index__ = __int__ = __abs__ = __pow__ = __rpow__ = _value_needed
    __lt__ = __le__ = __gt__ = __ge__ = __eq__ = __ne__ = _value_needed  # type: ignore
    __hash__ = None  # type: ignore[assignment]


def _traced(rule: Callable, arity: int, params: tuple[float, ...],
            with_out: bool) -> tuple[str, ...] | None:
    """`rule` run once on symbols {0}..{arity-1} (then params as numbers, then {arity} for
    out): a format template per result, or None when it needs values."""
    if not _fixed_arity(rule):
        return None
    symbols = [_Sym(f"{{{i}}}") for i in range(arity)]
    args = [*symbols, *params, _Sym(f"{{{arity}}}")] if with_out else [*symbols, *params]
    try:
        result = rule(*args)
    except (_NotArithmetic, Exception):  # noqa: BLE001 - any rule that wants numbers
        return None
    items = result if with_out else (result,)
    if not isinstance(items, (tuple, list)):
        return None
    texts = []
    for item in items:
        if isinstance(item, _Sym):
            texts.append(unwrap(item.text))
        elif is_number(item) and not isinstance(item, complex):
            texts.append(literal(item))
        else:
            return None
    return tuple(texts)


def unwrap(text: str) -> str:
    """Drop one pair of outer brackets when they enclose the whole expression."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and i < len(text) - 1:
            return text
    return text[1:-1]


def _dot(arity: int) -> tuple[str, tuple[str, ...]]:
    """w . x + b as the table computes it (builtin sum over the products, then + b) and
    its partials: x_i for w_i, w_i for x_i, 1 for b."""
    n = arity // 2
    products = "".join(f"{{{i}}} * {{{n + i}}}, " for i in range(n))
    total = f"sum(({products.rstrip(' ')}))" if n else "sum(())"
    bias = (f" + {{{2 * n}}}", "1.0") if arity % 2 else ("", "")
    partials = [f"{{{n + i}}}" for i in range(n)] + [f"{{{i}}}" for i in range(n)]
    return total + bias[0], tuple(partials + [bias[1]] * (arity % 2))


def _branching(forward: str, partial: str) -> Callable[[int, tuple], tuple]:
    """A one-input rule that branches on its value; `{s}` is where its param goes."""
    def templates(arity: int, params: tuple) -> tuple[str, tuple[str, ...]]:
        slope = literal(params[0]) if params else ""
        return forward.replace("{s}", slope), (partial.replace("{s}", slope),)
    return templates


# Inline forms of the built-ins the tracer cannot read: rules that branch on values, and
# those taking any number of inputs (a traced builtin sum() would be a chain of +, which
# Python 3.12's compensated sum() is not). Each equals the table's rule bit for bit, NaN
# and -0.0 included, as test_codegen checks over many inputs. None: call the table's.
_TEMPLATES: dict[str, Callable[[int, tuple], tuple[str | None, tuple[str, ...] | None]]] = {
    "relu": _branching("(0.0 if {0} <= 0.0 else {0})", "(0.0 if {0} <= 0.0 else 1.0)"),
    "leaky_relu": _branching("({s} * {0} if {0} <= 0.0 else {0})", "({s} if {0} <= 0.0 else 1.0)"),
    "abs": _branching("abs({0})", "(1.0 if {0} > 0.0 else -1.0 if {0} < 0.0 else 0.0)"),
    "dot": lambda arity, params: _dot(arity),
    "sum": lambda arity, params: (None, ("1.0",) * arity),
}


class _Rule(NamedTuple):
    """How generated code computes one op at one arity and params: format templates over
    the operands {0}.. (and {arity} for out), or None where the rule is called."""

    forward: str | None
    partials: tuple[str, ...] | None


def _rule(op: Op, arity: int, params: tuple[float, ...]) -> _Rule:
    """The table's rule for `op` as templates: only the built-in ops (table entries) are
    read; your own Ops are always called, so nothing of yours is run on symbols."""
    if OPS.get(op.name) is not op:
        return _Rule(None, None)
    if op.name in _TEMPLATES:
        return _Rule(*_TEMPLATES[op.name](arity, params))
    forward = _traced(op.forward, arity, params, with_out=False)
    partials = _traced(op.partials, arity, params, with_out=True)
    return _Rule(forward and forward[0],
                 partials if partials is not None and len(partials) == arity else None)


def _fixed_arity(rule: Callable) -> bool:
    """Whether `rule` takes a fixed number of arguments (no *args)."""
    try:
        kinds = [p.kind for p in inspect.signature(rule).parameters.values()]
    except (TypeError, ValueError):  # a builtin without a signature: call it
        return False
    return inspect.Parameter.VAR_POSITIONAL not in kinds


_OPERAND = re.compile(r"\{(\d+)\}\Z")
_LITERAL = re.compile(r"\(?-?(?:inf|nan|\d[\d.e+-]*)\)?\Z")


def is_finite_literal(text: str) -> bool:
    """Whether `text` is a finite number as literal() writes it."""
    return bool(_LITERAL.match(text)) and "inf" not in text and "nan" not in text


class Helpers:
    """The ops a program calls, by the names it calls them (_tanh, _tanh_partials), with
    their templates read once per op, arity and params. `checked`: calls of your own Ops
    go through the engine's checks of their results (a float; one per input)."""

    def __init__(self, checked: bool = False):
        self.checked = checked
        self.namespace: dict[str, object] = {"inf": math.inf, "nan": math.nan}
        if checked:
            self.namespace.update(_real=_real, _reals=_reals)
        self.bound: dict[str, tuple[Op, str]] = {}  # name -> (op, "forward" or "partials")
        self._names: dict[tuple[int, str], str] = {}
        self._rules: dict[tuple, _Rule] = {}

    def rule(self, op: Op, arity: int, params: tuple[float, ...]) -> _Rule:
        """op's templates at this arity and params, read from the table the first time."""
        # NOTE: keyed by id(op): the graph holds its ops while a program is written; params
        # by their text, since -0.0 == 0.0 but a slope of -0.0 gives other signs
        key = (id(op), arity, tuple(map(literal, params)))
        found = self._rules.get(key)
        if found is None:
            found = self._rules[key] = _rule(op, arity, params)
        return found

    def name(self, op: Op, part: str) -> str:
        """The name under which the code calls op's forward or partials."""
        key = (id(op), part)
        if key not in self._names:
            base = op.name if isinstance(op.name, str) and _IDENTIFIER.match(op.name) else "op"
            base = f"_{base}" + ("_partials" if part == "partials" else "")
            name = base
            for n in itertools.count(2):
                if name not in self.namespace:
                    break
                name = f"{base}_{n}"
            self._names[key] = name
            self.namespace[name] = getattr(op, part)
            self.bound[name] = (op, part)
        return self._names[key]


class NodeSource(NamedTuple):
    """One node as a program writes it: its op and the source of its operands."""

    op: Op
    params: tuple[float, ...]
    operands: list[str]  # value names or literals
    out: str  # the variable holding its value
    d: str  # the variable holding its called partials, if its rule is called


def forward_lines(helpers: Helpers, node: NodeSource) -> list[str]:
    """`out = ...` and, when the partials rule is called, `d = rule(...)` right after it (as
    the engine computes a node's partials when it makes the node)."""
    op, params, operands, out, d = node
    rule = helpers.rule(op, len(operands), params)
    args = ", ".join([*operands, *map(literal, params)])
    checked = helpers.checked and OPS.get(op.name) is not op
    if rule.forward is not None:
        lines = [f"{out} = {unwrap(rule.forward.format(*operands))}"]
    elif checked:
        lines = [f"{out} = _real({helpers.name(op, 'forward')}({args}))"]
    else:
        lines = [f"{out} = {helpers.name(op, 'forward')}({args})"]
    if rule.partials is None:
        call = f"{helpers.name(op, 'partials')}({args}, {out})"
        lines.append(f"{d} = _reals({call}, {len(operands)})" if checked else f"{d} = {call}")
    return lines


def _real(x: object) -> float:
    """Your Op's result as the engine keeps it: a float (else the engine's error)."""
    if type(x) is float:
        return x
    if not is_number(x):
        raise TypeError(f"an Op returned {type(x).__name__}, not a number")
    return float(x)


def _reals(partials: object, n: int) -> tuple[float, ...]:
    """Your Op's partials as the engine keeps them: n floats (else the engine's error)."""
    if not isinstance(partials, (tuple, list)) or len(partials) != n:
        raise TypeError(f"an Op's partials rule returned {partials!r} for {n} inputs")
    return tuple(map(_real, partials))


def local_derivatives(helpers: Helpers, node: NodeSource) -> list[str]:
    """Each input's local derivative as one operand of `*`: a name, a literal, a bracketed
    expression, or d[i] for a called rule."""
    op, params, operands, out, d = node
    partials = helpers.rule(op, len(operands), params).partials
    if partials is None:
        return [f"{d}[{i}]" for i in range(len(operands))]
    texts = []
    for template in partials:
        operand = _OPERAND.match(template)
        if operand:
            texts.append([*operands, out][int(operand.group(1))])
        elif _LITERAL.match(template):
            texts.append(template)
        else:
            texts.append(f"({unwrap(template.format(*operands, out))})")
    return texts


def edge_line(target: str, upstream: str, local: str) -> str:
    """target += upstream * local (x * 1.0 is x exactly, so that factor is left out)."""
    return f"{target} += {upstream}" if local == "1.0" else f"{target} += {upstream} * {local}"


def _rule_text(helpers: Helpers, node: NodeSource) -> str:
    """The partials rule in words for a comment: inline on a, b, c and out, else the
    rule's docstring (escaped: it may be yours), else where it lives."""
    op, params, operands, _, _ = node
    partials = helpers.rule(op, len(operands), params).partials
    if partials is not None and len(set(partials)) == 1 and _LITERAL.match(partials[0]):
        return f"d/d(each input) = {partials[0]}"
    if partials is not None and len(operands) <= 3:
        names = "abc"[:len(operands)]
        return ", ".join(f"d/d{n} = {unwrap(t.format(*names, 'out'))}"
                         for n, t in zip(names, partials))
    doc = (getattr(op.partials, "__doc__", None) or "").strip().splitlines()
    if doc and getattr(op.partials, "__name__", "") != "<lambda>":
        return repr(doc[0].split(" (")[0].rstrip(".")[:80])[1:-1]
    return f"{shown(op.name)}'s partials rule"


# ------------------------------------------------------------------ read it: to_source


def to_source(root: Value, name: str | None = None) -> str:
    """Python source of a function computing root and the gradient of every leaf.

    Its arguments are the leaves, v0, v1, ... (defaulting to their current data; the
    comment above the body gives their labels); it returns root's value and a dict of the
    leaves' gradients by argument name, exactly as backward() from zero gradients would
    leave them.
    """
    return _Listing(root, name).source


def to_function(root: Value, name: str | None = None) -> Callable[..., tuple]:
    """to_source(root), executed: a function whose lines pdb and tracebacks can show."""
    listing = _Listing(root, name)
    return run_source(listing.source, listing.helpers.namespace,
                 f"backward of {listing.root_name}", listing.name)[0]


class _Listing:
    """The teaching program of one graph: straight-line code, no loops and no guards."""

    def __init__(self, root: Value, name: str | None):
        if not isinstance(root, Value):
            raise TypeError(f"expected a Value, got {type(root).__name__}")
        nodes = topological_order(root)
        index = {v: k for k, v in enumerate(nodes)}
        self.root_name = f"v{index[root]}"
        self.name = _function_name(name, f"backward_of_{self.root_name}")
        self.helpers = helpers = Helpers()
        names = [f"v{k}" for k in range(len(nodes))]
        leaves = [k for k, v in enumerate(nodes) if not v.parents]
        labels = [f"v{k} {shown(nodes[k].label)}" for k in leaves if nodes[k].label]
        body = [f'"""{self.root_name} and the gradient of every leaf, as backward() '
                'computes them."""']
        if labels:
            body += [f"# leaves: {line}" for line in _wrapped(labels)]
        body.append("# forward: one line per node, inputs first")
        written: dict[int, NodeSource] = {}
        for k, v in enumerate(nodes):
            if not v.parents:
                continue
            node = written[k] = NodeSource(v.op, v.params, [names[index[p]] for p in v.parents],
                                      names[k], f"d{k}")
            lines = forward_lines(helpers, node)
            if v.label:
                lines[0] += f"  # {shown(v.label)}"
            body += lines
        body.append("# backward: seed the output, then each node adds upstream * local into "
                    "its inputs")
        grads = [f"g{k}" for k in range(len(nodes)) if nodes[k] is not root]
        body += [" = ".join(chunk) + " = 0.0" for chunk in chunks(grads, 8)]
        body.append(f"g{index[root]} = 1.0")
        for k in reversed(range(len(nodes))):
            if k not in written:
                continue
            node = written[k]
            inputs = node.operands if len(node.operands) <= 4 else [
                *node.operands[:3], "...", node.operands[-1]]
            label = f" {shown(nodes[k].label)}" if nodes[k].label else ""
            body.append(f"# v{k}{label} = {shown(node.op.name)}({', '.join(inputs)}): "
                        f"{_rule_text(helpers, node)}")
            for p, local in zip(nodes[k].parents, local_derivatives(helpers, node)):
                body.append(edge_line(f"g{index[p]}", f"g{k}", local))
        returned = ", ".join(f"'v{k}': g{k}" for k in leaves)
        body.append(f"return {self.root_name}, {{{returned}}}")
        arguments = ", ".join(f"v{k}={literal(nodes[k].data)}" for k in leaves)
        code = f"def {self.name}({arguments}):\n" + "".join(f"    {line}\n" for line in body)
        self.source = _preamble(helpers, code) + code


def _wrapped(items: list[str], width: int = 80) -> list[str]:
    """Comma-separated items in lines of at most about `width` characters."""
    lines, line = [], ""
    for item in items:
        if line and len(line) + len(item) > width:
            lines.append(line.rstrip(", "))
            line = ""
        line += item + ", "
    return lines + [line.rstrip(", ")] if line else lines


def _function_name(name: str | None, default: str) -> str:
    """A name for the generated function: ASCII (so NFKC cannot turn it into another),
    not a keyword, and not starting with _ (the helpers' names)."""
    if name is None:
        return default
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if not _IDENTIFIER.match(name) or name.startswith("_") or keyword.iskeyword(name):
        raise ValueError(f"name must be an ASCII identifier not starting with _ and not a "
                         f"keyword, got {name!r}")
    return name


def _preamble(helpers: Helpers, code: str) -> str:
    """Lines binding what the code calls, so that the printed source runs on its own."""
    lines = []
    used = [n for n in ("inf", "nan") if re.search(rf"(?<![\w'])\b{n}\b", _code_only(code))]
    if used:
        lines.append(f"from math import {', '.join(used)}")
    builtin = {name: spec for name, spec in helpers.bound.items() if OPS.get(spec[0].name)
               is spec[0]}
    if builtin:
        lines.append("from micrograd_ann.engine import OPS  # the table of built-in ops")
    for name, (op, part) in helpers.bound.items():
        if name in builtin:
            lines.append(f"{name} = OPS[{op.name!r}].{part}")
        else:
            lines.append(f"# {name}: the {part} of your Op {shown(str(op.name))} "
                         "(bind it before running this)")
    return "\n".join(lines) + "\n\n" if lines else ""


def _code_only(code: str) -> str:
    """`code` without its comments and docstring (they may mention inf in words)."""
    return re.sub(r"#.*|\"\"\".*?\"\"\"", "", code)


# -------------------------------------------------------------- run generated code

_file_numbers = itertools.count(1)


def run_source(source: str, namespace: dict[str, object], title: str,
          name: str) -> tuple[Callable, list[str]]:
    """Run `source` (one def) under a file name of its own, registered with linecache
    until the function it defines is garbage collected; the function and its lines."""
    filename = f"<micrograd_ann {title} #{next(_file_numbers)}>"
    # NOTE: mtime None marks the entry as not backed by a file, so linecache.checkcache()
    # keeps it; pdb and traceback then read the generated lines from here.
    lines = source.splitlines(True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    scope = dict(namespace)
    try:
        exec(builtins.compile(source, filename, "exec"), scope)  # noqa: S102 - our own source
    except BaseException:
        linecache.cache.pop(filename, None)
        raise
    function = scope.pop(name)  # NOTE: no cycle through its own globals, so it is freed
    weakref.finalize(function, linecache.cache.pop, filename, None)  # as soon as unused
    return function, lines
