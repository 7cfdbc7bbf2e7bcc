"""Shared test helpers: tools that may be missing on a user's machine but never in CI, the
slow tests (skipped unless asked for), and where browser screenshots go."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import pytest

# .ci/run sets this: there every tool is installed, so a missing one is a failure.
REQUIRE_TOOLS = os.environ.get("MICROGRAD_ANN_REQUIRE_TOOLS") == "1"
# .ci/run sets this too: the tests marked slow run (by default they are skipped).
SLOW = os.environ.get("MICROGRAD_ANN_SLOW") == "1"
SLOW_REASON = ("slow: a long end-to-end run, skipped by default; run the slow tests with "
               "`MICROGRAD_ANN_SLOW=1 make test` (CI does)")
# Where browser tests save screenshots for a person to look at (nothing compares them).
SCREENSHOTS = os.environ.get("MICROGRAD_ANN_SCREENSHOTS")
# How to install the package each extra brings, when `pip install -e '.[EXTRA]'` is not
# the best advice: PyPI's torch for Linux is a CUDA build (gigabytes), a CPU build is enough.
INSTALL = {"torch": "pip install torch --index-url https://download.pytorch.org/whl/cpu "
                    "(a CPU build, all the tests need: see docs/testing.md)"}


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true",
                     help="also run the tests marked slow (as MICROGRAD_ANN_SLOW=1 does)")


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked slow unless --slow or MICROGRAD_ANN_SLOW=1 asks for them."""
    if SLOW or config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason=SLOW_REASON)
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """The folder for browser screenshots: $MICROGRAD_ANN_SCREENSHOTS when set, else one in
    pytest's temporary folder (never the working tree)."""
    if SCREENSHOTS:
        folder = Path(SCREENSHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")


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
        install = INSTALL.get(name, f"pip install -e '.[{extra}]'")
        message = f"Python package {name!r} is not installed: {install}"
        if REQUIRE_TOOLS:
            pytest.fail(message + " -- CI must have it")
        pytest.skip(message)
