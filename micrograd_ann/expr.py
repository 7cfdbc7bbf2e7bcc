"""Build a graph from a small formula such as "tanh(x*w + b)" without ever calling eval.

The text is parsed with `ast` and walked node by node; only numbers, the named
variables, + - * / **, unary - and +, and calls of the unary Value functions below are
accepted. Anything else (attributes, subscripts, lambdas, other calls) is an ExprError.
"""

from __future__ import annotations

import ast
import operator
from typing import Callable, Mapping, NamedTuple

from .engine import OpError, Value, is_number


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

ALLOWED = ("numbers, variables, + - * / **, unary -, and the functions "
           + ", ".join(FUNCTIONS))


class ExprError(ValueError):
    """The formula is malformed or uses something outside the allowed grammar."""


def evaluate(text: str,
             variables: Mapping[str, float | Value]) -> tuple[Value, dict[str, Value]]:
    """The Value computed by `text` and the leaf used for each variable: parse, then evaluate.

    See Formula.evaluate; raises ExprError for bad syntax too.
    """
    return parse(text).evaluate(variables)


def parse(text: str) -> Formula:
    """`text` parsed once, to evaluate at many points (gradcheck); ExprError for bad syntax."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the formula is {len(text)} characters long; the limit is {MAX_LENGTH}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"cannot parse {_shorten(text)}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExprError(f"cannot parse {_shorten(text)}: it is nested too deeply") from None
    return Formula(text, tree.body)


class Formula:
    """A parsed formula: the text (for messages) and its expression tree."""

    def __init__(self, text: str, body: ast.expr):
        self.text = text
        self.body = body

    def evaluate(self,
                 variables: Mapping[str, float | Value]) -> tuple[Value, dict[str, Value]]:
        """The Value computed by the formula and the leaf used for each variable.

        Numbers become leaves labelled by their name; Values are used as given (gradcheck
        passes its own). Every occurrence of a name is the same leaf: "x*x" uses x twice.
        Raises ExprError for names without a value, values left unused, or a failing op.
        """
        shown = _shorten(self.text)
        for name in variables:
            if not name.isidentifier() or name in FUNCTIONS:
                raise ExprError(f"{name!r} cannot be a variable name")
        leaves = {name: value if isinstance(value, Value) else Value(value, name)
                  for name, value in variables.items()}
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


class _Walker:
    """Evaluates an allowed expression tree; numbers stay floats, variables are leaves."""

    def __init__(self, text: str, leaves: Mapping[str, Value]):
        self.text = text
        self.leaves = leaves
        self.used: set[str] = set()

    def visit(self, node: ast.AST) -> Value | float:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.visit(node.operand))
        if isinstance(node, ast.Call):
            return self.call(node)
        raise ExprError(f"{self.what(node)} is not allowed; use only {ALLOWED}")

    def constant(self, node: ast.Constant) -> float:
        value = node.value
        if not is_number(value):
            raise ExprError(f"{self.source(node)} is not a number; use only {ALLOWED}")
        return float(value)  # floats overflow quickly instead of growing huge ints

    def name(self, node: ast.Name) -> Value:
        if node.id in FUNCTIONS:
            raise ExprError(f"{node.id} is a function: call it, e.g. {node.id}(x)")
        if node.id not in self.leaves:
            raise ExprError(f"variable {node.id!r} has no value; pass {node.id}=VALUE")
        self.used.add(node.id)
        return self.leaves[node.id]

    def call(self, node: ast.Call) -> Value:
        func = node.func
        if not isinstance(func, ast.Name):
            raise ExprError(f"{self.what(func)} is not allowed; "
                            f"call a function by name, e.g. tanh(x)")
        if func.id not in FUNCTIONS:
            raise ExprError(f"{func.id!r} is not an allowed function; use one of "
                            + ", ".join(FUNCTIONS))
        function = FUNCTIONS[func.id]
        if node.keywords or not 1 <= len(node.args) <= function.max_args:
            takes = (f"x and an optional {', '.join(function.optional)}"
                     if function.optional else "one argument")
            raise ExprError(f"{self.source(node)}: {func.id} takes {takes}")
        arg = self.visit(node.args[0])
        numbers = [self.visit(extra) for extra in node.args[1:]]
        if any(isinstance(number, Value) for number in numbers):
            raise ExprError(f"{self.source(node)}: the {' and '.join(function.optional)} "
                            "must be a number, not a variable")
        return function.method(arg if isinstance(arg, Value) else Value(arg), *numbers)

    def source(self, node: ast.AST) -> str:
        return _shorten(ast.get_source_segment(self.text.strip(), node) or type(node).__name__)

    def what(self, node: ast.AST) -> str:
        """A short description of a disallowed construct, quoting the text."""
        kinds = {ast.Attribute: "attribute access", ast.Lambda: "a lambda",
                 ast.Subscript: "indexing", ast.Compare: "a comparison",
                 ast.BoolOp: "and/or", ast.IfExp: "if/else", ast.Call: "a call"}
        kind = next((k for t, k in kinds.items() if isinstance(node, t)), "this syntax")
        return f"{kind} ({self.source(node)})"


def _shorten(text: str, limit: int = 60) -> str:
    """`text` quoted, cut to `limit` characters so an error stays one readable line."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
