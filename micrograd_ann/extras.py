"""Optional extras: import one, or raise MissingExtraError saying how to install it.

The core needs only `graphviz`; matplotlib, scikit-learn and PyTorch come in extras
(`pip install -e ".[plot]"`, `".[digits]"`, `".[torch]"`). Callers catch
MissingExtraError by type, never by matching its message.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtraError(ImportError):
    """An optional package is not installed; `extra` names the pip extra that brings it."""

    def __init__(self, module: str, extra: str, purpose: str):
        self.module = module
        self.extra = extra
        super().__init__(f"{purpose} needs the optional extra {extra!r} (Python package "
                         f"{module.split('.')[0]!r}): in the project's folder, run "
                         f"pip install -e \".[{extra}]\"", name=module)


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """`import module`, or MissingExtraError naming `extra` and what needed it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module, extra, purpose) from exc
