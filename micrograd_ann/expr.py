"""Build a graph from a small formula such as "tanh(x*w + b)" without ever calling eval.

The text is parsed with `ast` and walked node by node; only numbers, the named
variables, + - * / **, unary - and +, and calls of the unary Value functions below are
accepted. Anything else (attributes, subscripts, lambdas, other calls) is an ExprError.
Names are Python's, NFKC-normalised ('ﬁ' is 'fi') in the formula and in the values given
alike (normalise_name). Numbers must be finite, written or computed. Work is bounded: a
formula has at most MAX_LENGTH characters and MAX_VARIABLES variables.
"""

from __future__ import annotations

import ast
import io
import keyword
import math
import operator
import tokenize
import unicodedata
import warnings
from typing import Callable, Iterable, Mapping, NamedTuple, Sequence

from .checks import OpError, check_number, check_str, is_number
from .engine import Value


class Function(NamedTuple):
    """A function formulas may call: the Value method and its optional number arguments."""

    method: Callable[..., Value]
    optional: tuple[str, ...] = ()  # names of the numbers allowed after x, e.g. ("slope",)

    @property
    def max_args(self) -> int:
        """How many arguments a call may pass: x, then each optional number."""
        return 1 + len(self.optional)


FUNCTIONS: dict[str, Function] = {
    "tanh": Function(Value.tanh),
    "exp": Function(Value.exp),
    "log": Function(Value.log),
    "relu": Function(Value.relu),
    "sigmoid": Function(Value.sigmoid),
    "sqrt": Function(Value.sqrt),
    "abs": Function(Value.abs),
    "leaky_relu": Function(Value.leaky_relu, ("slope",)),  # leaky_relu(x) or (x, slope)
}

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: lambda v: v}  # Value has no __pos__
MAX_LENGTH = 2000  # characters: formulas are for drawing, and this bounds parse time
MAX_VARIABLES = 100  # gradcheck evaluates the formula twice per variable: bounds its time

ALLOWED = ("numbers, variables, + - * / **, unary -, and the functions "
           + ", ".join(FUNCTIONS))


class ExprError(ValueError):
    """The formula is malformed or uses something outside the allowed grammar."""


def normalise_name(name: str) -> str:
    """`name` as a formula spells it: NFKC-normalised, as Python normalises identifiers
    ('ﬁ' is 'fi', a fullwidth 'ｘ' is 'x'). ExprError if it cannot be a variable (not an
    identifier, a keyword, or one of FUNCTIONS)."""
    check_str("a variable name", name)
    normal = unicodedata.normalize("NFKC", name)
    if not name.isidentifier() or keyword.iskeyword(normal) or normal in FUNCTIONS:
        raise ExprError(f"{name!r} cannot be a variable name")
    return normal


def normalise_variables(
        pairs: Iterable[tuple[str, float | Value]]) -> dict[str, float | Value]:
    """(name, value) pairs as the mapping evaluate() takes, in linear time: names through
    normalise_name, numbers as finite floats, Values as given.

    ExprError for a name given twice (also as two spellings of one name), more than
    MAX_VARIABLES names, or a non-finite number; TypeError for a value of another type.
    """
    values: dict[str, float | Value] = {}
    spelled: dict[str, str] = {}
    for name, value in pairs:
        normal = normalise_name(name)
        if normal in values:
            first = spelled[normal]
            same = f" ({first!r} and {name!r} are the same name)" if first != name else ""
            raise ExprError(f"variable {normal!r} is given more than one value{same}")
        if len(values) == MAX_VARIABLES:
            raise ExprError(f"more than {MAX_VARIABLES} variables are given values; "
                            f"the limit is {MAX_VARIABLES}")
        values[normal] = value if isinstance(value, Value) else _finite(normal, value)
        spelled[normal] = name
    return values


def _finite(name: str, value: object) -> float:
    """A variable's number as a float; ExprError unless finite (TypeError if no number)."""
    try:
        return check_number(f"variable {name!r}", value, finite=True)
    except ValueError as exc:  # not finite, or an int too large for a float
        raise ExprError(str(exc)) from None


def evaluate(text: str,
             variables: Mapping[str, float | Value]) -> tuple[Value, dict[str, Value]]:
    """The Value computed by `text` and the leaf used for each variable: parse, then evaluate.

    See Formula.evaluate; raises ExprError for bad syntax too.
    """
    return parse(text).evaluate(variables)


def parse(text: str) -> Formula:
    """`text` parsed once, to evaluate at many points (gradcheck).

    ExprError for bad syntax, an assignment, anything outside the grammar (a string, an
    attribute, a call of an unlisted function, ...), a number that is not finite, or more
    than MAX_LENGTH characters or MAX_VARIABLES variables (checked before any costly work).
    """
    check_str("the formula", text)
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the formula is {len(text)} characters long; the limit is {MAX_LENGTH}")
    shown = _shorten(text)
    try:
        with warnings.catch_warnings():  # "1if x" and "'\\d'" warn: nothing for the user to see
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        if _assigns(text):
            raise ExprError(f"{shown} is an assignment, not a formula: write the expression "
                            "alone and give each variable its value separately "
                            "(NAME=VALUE on the command line)") from None
        raise ExprError(f"cannot parse {shown}: {exc.msg}") from None
    except UnicodeEncodeError as exc:  # ast.parse encodes to UTF-8
        raise ExprError(f"cannot parse {shown}: {exc.object[exc.start]!r} at position "
                        f"{exc.start} is a lone surrogate, not a character") from None
    except (RecursionError, MemoryError):
        raise ExprError(f"cannot parse {shown}: it is nested too deeply") from None
    _check_tree(text, tree.body)
    return Formula(text, tree.body)


def _is_finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an int too large for a float
        return False


def _assigns(text: str) -> bool:
    """Whether `text` has =, := or an augmented assignment outside brackets."""
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type != tokenize.OP:
                continue
            depth += (token.string in "([{") - (token.string in ")]}")
            comparison = token.string in ("==", "!=", "<=", ">=")
            if depth == 0 and token.string.endswith("=") and not comparison:
                return True
    except (tokenize.TokenError, SyntaxError):
        pass
    return False


def _check_tree(text: str, body: ast.expr) -> None:
    """Refuse anything outside the grammar, and too many variables, before any work.

    Of several problems the one that comes first in the text is named, the innermost of
    those starting at one place: in `__import__("os").system("ls")` that is the call of
    __import__, not the attribute around it or the string inside it.
    """
    names = set()
    problems = []
    for node in ast.walk(body):  # iterative: any depth
        if isinstance(node, ast.Name) and node.id not in FUNCTIONS:
            names.add(node.id)
        problem = _problem(text, node) if isinstance(node, ast.expr) else None
        if problem:
            where = (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
            problems.append((where, problem))
    if problems:
        raise ExprError(min(problems)[1])
    if len(names) > MAX_VARIABLES:
        raise ExprError(f"{_shorten(text)} uses {len(names)} variables; the limit is "
                        f"{MAX_VARIABLES}")


def _problem(text: str, node: ast.expr) -> str | None:
    """Why `node` itself is outside the grammar (its children are judged on their own), or
    None when it is allowed."""
    if isinstance(node, ast.Constant):
        if not is_number(node.value):
            return f"{_source(text, node)} is not a number; use only {ALLOWED}"
        if not _is_finite(node.value):
            return (f"{_source(text, node)} is not a finite number (too large for a float); "
                    "numbers must be finite, as variables' are")
        return None
    if isinstance(node, ast.Call):
        return _call_problem(text, node)
    if (isinstance(node, ast.Name) or (isinstance(node, ast.BinOp) and type(node.op) in _BINARY)
            or (isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY)):
        return None
    return f"{_what(text, node)} is not allowed; use only {ALLOWED}"


def _call_problem(text: str, node: ast.Call) -> str | None:
    """Why a call is not allowed: not a listed function called by its name with x and its
    optional numbers, by position. (Its arguments are judged on their own.)"""
    func = node.func
    if not isinstance(func, ast.Name):
        return f"{_what(text, func)} is not allowed; call a function by name, e.g. tanh(x)"
    if func.id not in FUNCTIONS:
        return (f"{func.id!r} is not an allowed function (in {_source(text, node)}); use "
                f"only {ALLOWED}")
    function = FUNCTIONS[func.id]
    if node.keywords:
        given = ", ".join(f"{k.arg}=" if k.arg else "**" for k in node.keywords)
        return (f"{_source(text, node)}: keyword arguments ({given}) are not allowed; pass "
                "numbers by position, e.g. leaky_relu(x, 0.1)")
    if not 1 <= len(node.args) <= function.max_args:
        takes = (f"x and an optional {', '.join(function.optional)}"
                 if function.optional else "one argument")
        return f"{_source(text, node)}: {func.id} takes {takes}"
    return None


class Formula:
    """A parsed formula (made by parse()): the text, for messages, and its checked tree."""

    def __init__(self, text: str, body: ast.expr):
        self.text = text
        self.body = body

    def evaluate(self,
                 variables: Mapping[str, float | Value]) -> tuple[Value, dict[str, Value]]:
        """The Value computed by the formula and the leaf used for each variable.

        Numbers become leaves labelled by their name; Values are used as given (gradcheck
        passes its own). Every occurrence of a name is the same leaf: "x*x" uses x twice.
        The leaves are keyed by normalised name (see normalise_variables, which checks the
        variables). Raises ExprError for names without a value, values left unused, a
        result that is not a finite real number, or a failing op.
        """
        shown = _shorten(self.text)
        leaves = {name: value if isinstance(value, Value) else Value(value, name)
                  for name, value in normalise_variables(variables.items()).items()}
        walker = _Walker(self.text, leaves)
        try:
            result = walker.visit(self.body)
        except RecursionError:
            raise ExprError(f"{shown} is nested too deeply") from None
        except OverflowError:
            raise ExprError(f"cannot compute {shown}: a number is too large for a float") from None
        except (ArithmeticError, OpError) as exc:
            raise ExprError(f"cannot compute {shown}: {exc}") from None
        if not isinstance(result, Value):
            raise ExprError(f"{shown} uses no variables, so it has no graph to draw")
        unused = sorted(set(leaves) - walker.used)
        if unused:
            raise ExprError(f"variable {unused[0]!r} is given a value but not used in {shown}")
        return result, leaves

    def function(self, names: Sequence[str]) -> Callable[[Sequence[Value]], Value]:
        """f(xs): the formula on Values given in the order of `names` (gradcheck's form).

        Checked once with evaluate() first; here an op's own error -- a probe stepping out
        of its domain -- propagates as that OpError, for the caller to judge.
        """
        def f(xs: Sequence[Value]) -> Value:
            return _Walker(self.text, dict(zip(names, xs))).visit(self.body)
        return f


class _Walker:
    """Evaluates a tree _check_tree allowed; numbers stay floats, variables are leaves."""

    def __init__(self, text: str, leaves: Mapping[str, Value]):
        self.text = text
        self.leaves = leaves
        self.used: set[str] = set()

    def visit(self, node: ast.AST) -> Value | float:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            out = _BINARY[type(node.op)](self.visit(node.left), self.visit(node.right))
            # Numbers alone are Python floats: 1e300 * 1e300 is inf, (-8) ** 0.5 complex.
            if not isinstance(out, Value) and not (type(out) is float and math.isfinite(out)):
                raise ExprError(f"cannot compute {_shorten(self.text)}: {self.source(node)} "
                                f"is {out!r}, not a finite real number")
            return out
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self.visit(node.operand))
        return self.call(node)  # _check_tree allowed nothing else

    def constant(self, node: ast.Constant) -> float:
        return float(node.value)  # checked by parse(); floats never grow into huge ints

    def name(self, node: ast.Name) -> Value:
        if node.id in FUNCTIONS:
            raise ExprError(f"{node.id} is a function: call it, e.g. {node.id}(x)")
        if node.id not in self.leaves:
            raise ExprError(f"variable {node.id!r} has no value; pass {node.id}=VALUE")
        self.used.add(node.id)
        return self.leaves[node.id]

    def call(self, node: ast.Call) -> Value:
        function = FUNCTIONS[node.func.id]
        arg = self.visit(node.args[0])
        numbers = [self.visit(extra) for extra in node.args[1:]]
        if any(isinstance(number, Value) for number in numbers):
            raise ExprError(f"{self.source(node)}: the {' and '.join(function.optional)} "
                            "must be a number, not a variable")
        return function.method(arg if isinstance(arg, Value) else Value(arg), *numbers)

    def source(self, node: ast.AST) -> str:
        return _source(self.text, node)


def _what(text: str, node: ast.AST) -> str:
    """A short description of a disallowed construct, quoting the text."""
    kinds = {ast.Attribute: "attribute access", ast.Lambda: "a lambda",
             ast.Subscript: "indexing", ast.Compare: "a comparison",
             ast.NamedExpr: "an assignment", ast.BoolOp: "and/or",
             ast.IfExp: "if/else", ast.Call: "a call"}
    kind = next((k for t, k in kinds.items() if isinstance(node, t)), "this syntax")
    return f"{kind} ({_source(text, node)})"


def _source(text: str, node: ast.AST) -> str:
    """The formula's text for `node`, shortened and quoted."""
    return _shorten(ast.get_source_segment(text.strip(), node) or type(node).__name__)


def _shorten(text: str, limit: int = 60) -> str:
    """`text` quoted, cut to `limit` characters so an error stays one readable line."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
