"""Bad input and float errors: the checks every argument goes through, and the errors ops raise.

A leaf module: it imports nothing of the package, so the engine and every tool can use it.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Sequence

# ---------------------------------------------------------------- errors of ops


class OpError(Exception):
    """A float error inside an op, naming the op and its operand values."""

    def __init__(self, op: str, operands: Sequence[float], reason: str):
        self.op = op
        self.operands = tuple(operands)
        self.reason = reason
        shown = ", ".join(repr(x) for x in self.operands[:6])
        if len(self.operands) > 6:  # a sum or dot can have thousands
            shown += f", ... ({len(self.operands)} operands)"
        super().__init__(f"{op}({shown}): {reason}")


class OpDomainError(OpError, ValueError):
    """An op was asked for a value outside its domain, e.g. log(-1)."""


class OpZeroDivisionError(OpError, ZeroDivisionError):
    """An op divided by zero, e.g. x / 0."""


class OpOverflowError(OpError, OverflowError):
    """An op's result is too large for a float, e.g. exp(1000)."""


def op_error(name: str, operands: Sequence[float], exc: Exception) -> OpError:
    """The OpError for a float exception `exc` raised by op `name` on `operands`."""
    if isinstance(exc, ZeroDivisionError):
        return OpZeroDivisionError(name, operands, f"division by zero ({exc})")
    if isinstance(exc, OverflowError):
        return OpOverflowError(name, operands, f"result too large for a float ({exc})")
    return OpDomainError(name, operands, f"outside the op's domain ({exc})")


# ------------------------------------------------------------------ bad input
# One rule for every argument the package checks: a wrong type is a TypeError, the right
# type with a wrong value a ValueError, and the message names the argument.


def is_number(x: object) -> bool:
    """A real number that is not a bool: what Value() and the operators accept."""
    if type(x) is float or type(x) is int:  # 1 + v, -y * s: no slow ABC isinstance check
        return True
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def check_number(what: str, x: object, low: float = -math.inf, high: float = math.inf,
                 *, finite: bool = False) -> float:
    """`x` as a float in [low, high] (finite if asked); names `what` when it is not."""
    if not is_number(x):
        raise TypeError(f"{what} must be a number, got {type(x).__name__} {x!r}")
    x = as_float(what, x)
    if not low <= x <= high or (finite and not math.isfinite(x)):
        kind = "a finite number" if finite else "a number"
        bounds = [f">= {low:g}"] * (low > -math.inf) + [f"<= {high:g}"] * (high < math.inf)
        raise ValueError(f"{what} must be {kind}{' ' if bounds else ''}"
                         f"{' and '.join(bounds)}, got {x!r}")
    return x


def as_float(what: str, x: numbers.Real) -> float:
    """float(x); an int too large for a float is a wrong value (ValueError), not a crash."""
    try:
        return float(x)
    except OverflowError:
        raise ValueError(f"{what} is too large for a float ({len(str(abs(int(x))))} "
                         "digits)") from None


def check_int(what: str, x: object, minimum: int = 0, maximum: int | None = None) -> int:
    """`x` as an int in [minimum, maximum]; bools and floats are a TypeError."""
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{what} must be an int, got {type(x).__name__} {x!r}")
    if x < minimum or (maximum is not None and x > maximum):
        upto = "" if maximum is None else f" and at most {maximum:,}"
        raise ValueError(f"{what} must be at least {minimum}{upto}, got {x!r}")
    return int(x)


def shown(value: object) -> str:
    """A value for a one-line message: its repr (so unprintable text comes escaped), cut
    short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_keys(field: str, obj: object, keys: tuple[str, ...]) -> dict:
    """`obj` itself if it is a dict with exactly `keys` (a JSON object read from a file):
    else a TypeError or ValueError naming `field`, what is missing and what is not wanted."""
    if not isinstance(obj, dict):
        raise TypeError(f"{field}: expected an object, got {shown(obj)}")
    missing = [key for key in keys if key not in obj]
    extra = [key for key in obj if key not in keys]
    if missing or extra:
        raise ValueError(f"{field}: missing {shown(missing)}, unexpected {shown(extra)}; "
                         f"expected exactly {', '.join(keys)}")
    return obj


def check_str(what: str, x: object) -> str:
    """`x` itself if it is a str, else a TypeError naming `what`."""
    if not isinstance(x, str):
        raise TypeError(f"{what} must be a str, got {type(x).__name__}")
    return x


# ------------------------------------------------------------------ your own ops
# engine.apply() runs these on an Op of yours (the built-ins are checked by the test suite).

_NAME_OK = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_op(op: object, op_type: type, builtins: dict, inputs: tuple) -> None:
    """apply()'s op: an `op_type` (engine.Op) with at least one input, and, if not one of
    the `builtins`, a name that is an identifier no built-in has, a symbol that is a plain
    str (it is drawn and named), functions for forward and partials, numbers for kinks."""
    if not isinstance(op, op_type):
        raise TypeError(f"apply needs an engine.Op, got {type(op).__name__}")
    if not inputs:
        raise ValueError(f"apply({op.name!r}) needs at least one input")
    if builtins.get(op.name) is op:
        return
    name, symbol = op.name, op.symbol
    if name in builtins:
        raise ValueError(f"{name!r} is a built-in op's name; give your Op another name")
    if not isinstance(name, str) or not _NAME_OK.match(name):
        raise ValueError(f"an Op's name must be an identifier such as 'softplus', got "
                         f"{name!r}")
    if not isinstance(symbol, str):
        raise TypeError(f"{name}: symbol must be a str, got {type(symbol).__name__}")
    try:
        symbol.format("")
    except (IndexError, KeyError, ValueError) as exc:
        raise ValueError(f"{name}: symbol {symbol!r} may hold only '{{}}' (where the "
                         f"params go), not other braces ({exc})") from None
    if not (callable(op.forward) and callable(op.partials)):
        raise TypeError(f"{name}: forward and partials must be functions")
    if not all(map(is_number, op.kinks)):
        raise TypeError(f"{name}: kinks must be numbers, got {op.kinks!r}")


def check_op_result(name: str, args: list[float], out: object, partials: object,
                    n: int) -> tuple[float, tuple[float, ...]]:
    """Your Op's forward result as a float (finite when its inputs are) and its partials as
    a tuple of one real number per input."""
    if not is_number(out):
        raise TypeError(f"{name}'s forward returned {type(out).__name__} {out!r}; it "
                        f"must return a float (of plain numbers, not Values)")
    out = float(out)
    if math.isnan(out) and all(map(math.isfinite, args)):
        raise ValueError(f"{name}'s forward returned nan for finite inputs {args!r}")
    if not isinstance(partials, (tuple, list)):
        raise TypeError(f"{name}'s partials returned {type(partials).__name__} "
                        f"{partials!r}; return a tuple with one local derivative per input")
    if len(partials) != n:
        raise ValueError(f"{name}'s partials gave {len(partials)} values for {n} inputs; "
                         f"return one local derivative per input")
    return out, tuple(check_number(f"{name} partial", d) for d in partials)
