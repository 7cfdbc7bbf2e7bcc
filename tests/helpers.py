"""Helpers shared by the test modules: one parity check, the tutorial's neuron, snapshots,
a headless browser."""

from __future__ import annotations

import json
import math
import numbers
import os
import re
from pathlib import Path
from typing import Iterable

from micrograd_ann import Value, topological_order
from micrograd_ann.nn import (TUTORIAL_BIAS, TUTORIAL_INPUTS, TUTORIAL_WEIGHTS,
                              tutorial_neuron)

SVG_NS = "{http://www.w3.org/2000/svg}"  # ElementTree's prefix for SVG tags

# ------------------------------------------------------------------------ parity


def assert_all_close(got: float | Iterable[float], want: float | Iterable[float], *,
                     rel: float, abs: float, what: str = "") -> None:
    """Assert each got[i] is within max(rel * |want[i]|, abs) of want[i] (pytest.approx's rule).

    Equal values (infinities too) pass, nan never does; a single number is a list of one.
    A failure names `what`, then every differing index with both numbers.
    """
    got, want = _as_list(got), _as_list(want)
    prefix = f"{what}: " if what else ""
    assert len(got) == len(want), f"{prefix}{len(got)} values, expected {len(want)}: {got} {want}"
    bad = [f"[{i}] got {g!r}, want {w!r}" for i, (g, w) in enumerate(zip(got, want))
           if not (g == w or math.fabs(g - w) <= max(rel * math.fabs(w), abs))]
    summary = f"{prefix}{len(bad)} of {len(got)} differ (rel={rel}, abs={abs}): "
    assert not bad, summary + "; ".join(bad)


def _as_list(values: float | Iterable[float]) -> list[float]:
    return [values] if isinstance(values, numbers.Real) else list(values)


# ------------------------------------------------------------- the tutorial neuron
# The package defines it once (nn.tutorial_neuron); these are its closed-form results.

TUTORIAL_X, TUTORIAL_W, TUTORIAL_B = TUTORIAL_INPUTS, TUTORIAL_WEIGHTS, TUTORIAL_BIAS
TUTORIAL_OUT = 0.9241418199787566  # sigmoid(2.5); the tutorial printed 0.865, a misprint
TUTORIAL_SLOPE = 0.07010371654510807  # s(1 - s) at 2.5 = d out/d n; d out/d w_i = this * x_i


def tutorial_leaves(labels: bool = True) -> tuple[list[Value], list[Value], Value]:
    """Leaves x, w and b, made in that order (creation order fixes names and listings)."""
    x, w, b, _, _ = tutorial_neuron(labels)
    return x, w, b


# ---------------------------------------------------------------------- snapshots


def grads_by_node(root: Value) -> dict[Value, float]:
    """Every node's grad, keyed by node in topological order."""
    return {node: node.grad for node in topological_order(root)}


def player_data(page: str) -> dict:
    """The JSON a player page embeds for its script (steps, units, ...)."""
    found = re.search(r'<script type="application/json" id="mg-data">(.*?)</script>', page)
    assert found is not None, "no <script id=\"mg-data\"> in the page"
    return json.loads(found.group(1))


# ------------------------------------------------------------------------ browser


def headless_chromium(profile: Path, width: int = 1400, height: int = 900):
    """A selenium driver for a headless Chromium with a `width` x `height` window and its
    browser console logged; selenium downloads nothing. Skips (fails in CI) without them."""
    from conftest import require_tool  # not at the top: only browser tests need it

    chromium = require_tool("chromium")
    chromedriver = require_tool("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=options)


# The player's legibility sweep (tests/player_sweep.js), run in a page by execute_script.
PLAYER_SWEEP = (Path(__file__).resolve().parent / "player_sweep.js").read_text(encoding="utf-8")


def save_screenshot(browser, folder: Path, name: str) -> None:
    """NAME.png in the screenshots folder (see conftest), and docs/NAME.png too with
    MICROGRAD_ANN_DOCS_IMAGES=1."""
    browser.save_screenshot(str(folder / f"{name}.png"))
    if os.environ.get("MICROGRAD_ANN_DOCS_IMAGES") == "1":
        browser.save_screenshot(str(Path(__file__).resolve().parents[1] / "docs" / f"{name}.png"))

# ------------------------------------------------------------- damaged JSON files
# The fuzzers of files the package reads (checkpoints, histories) damage a valid file
# two ways: bytes overwritten with junk, or one value somewhere replaced.


def edited_bytes(draw, text: str, junk) -> bytes:
    """`text` with 1 to 6 runs of its bytes replaced by `junk` (a strategy of bytes)."""
    from hypothesis import strategies as st

    data = bytearray(text.encode())
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        data[at:at + draw(st.integers(0, 20))] = draw(junk)
    return bytes(data)


def value_replaced(draw, text: str, places: list[tuple], values) -> bytes:
    """The JSON `text` with the value at one of `places` (a path of keys and indexes)
    replaced by one drawn from `values`."""
    from hypothesis import strategies as st

    doc = json.loads(text)
    *keys, last = draw(st.sampled_from(places))
    holder = doc
    for key in keys:
        holder = holder[key]
    holder[last] = draw(values)
    return json.dumps(doc).encode()


def assert_file_error(exc: Exception, path) -> None:
    """What a fuzzer accepts of a refused file: one printable line that names the file."""
    message = str(exc)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    message.encode("utf-8")  # printable: no lone surrogates
