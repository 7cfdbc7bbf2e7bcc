"""How numbers and counts are written for people: step listings, DOT labels, SVG, pages.

One rule for every view: `number(x, digits)` gives `digits` significant digits and never
"-0" (-0.0 is written 0, as a gradient of exactly zero is). A leaf module: it imports
nothing of the package.
"""

from __future__ import annotations

def number(x: float, digits: int = 6) -> str:
    """x with `digits` significant digits, never '-0' (-0.0 + 0.0 is 0.0)."""
    return f"{x + 0.0:.{digits}g}"


def edge_text(upstream: float, local: float, digits: int) -> str:
    """The chain rule on one edge: "upstream grad × local derivative = contribution"."""
    parts = (number(x, digits) for x in (upstream, local, upstream * local))
    return "{} \u00d7 {} = {}".format(*parts)


def plural(n: int, noun: str) -> str:
    """'1 epoch', '2 epochs', '1,000 steps'."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def loss(x: float) -> str:
    """A loss for people: 4 decimals in the usual range, else 3 significant digits
    (1.19e+80, not 80 digits); never '-0'."""
    x += 0.0  # -0.0 + 0.0 is 0.0
    if x == 0.0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:.4f}"
    return f"{x:.3g}"
