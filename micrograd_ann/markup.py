"""User text in drawings: shown printable, and escaped for SVG, HTML and Graphviz labels.

A label or a name can hold anything a str can, but XML has no way to write a control
character or a lone surrogate: such a character is shown as its Python escape instead,
so a drawing stays well-formed whatever it shows. A leaf module: every view imports it.
"""

from __future__ import annotations

import html


def printable(s: str) -> str:
    """s as drawings show it: unprintable characters written as Python escapes."""
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)


def text(s: str) -> str:
    """s as printable() shows it, escaped for markup: for an element's text, a quoted
    attribute's value, or a Graphviz HTML-like label."""
    return html.escape(printable(s), quote=True)
