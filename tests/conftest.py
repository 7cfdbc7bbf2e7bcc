"""Shared test helpers: tools that may be missing on a user's machine but never in CI."""

from __future__ import annotations

import importlib
import os
import shutil

import pytest

# .ci/run sets this: there every tool is installed, so a missing one is a failure.
REQUIRE_TOOLS = os.environ.get("MICROGRAD_ANN_REQUIRE_TOOLS") == "1"


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true",
                     help="long runs: 20,000 engine fuzzing examples instead of 2,000")


def require_tool(name: str) -> str:
    """Path of executable `name`; skip the test when absent (fail instead in CI)."""
    path = shutil.which(name)
    if path is None:
        message = f"`{name}` is not installed (Debian: run `make test` as root to install it)"
        if REQUIRE_TOOLS:
            pytest.fail(message + " -- CI must have it")
        pytest.skip(message)
    return path


def require_module(name: str, extra: str = "dev"):
    """Import `name` (a package of the pip extra `extra`); skip when absent, but fail in CI."""
    try:
        return importlib.import_module(name)
    except ImportError:
        message = f"Python package {name!r} is not installed (pip install -e '.[{extra}]')"
        if REQUIRE_TOOLS:
            pytest.fail(message + " -- CI must have it")
        pytest.skip(message)
