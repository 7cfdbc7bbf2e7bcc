"""micrograd's `engine` module: its Value is micrograd_ann's (a superset of micrograd's)."""

from ..engine import Value

__all__ = ["Value"]
