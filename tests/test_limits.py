"""limits.py and docs/limits.md: every limit the page names has the value the code holds,
and the limits that must agree (what train writes, the readers read) do."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from micrograd_ann import checkpoint, history_file, limits, training
from micrograd_ann.views import replay

DOC = Path(__file__).resolve().parent.parent / "docs" / "limits.md"
CONSTANT = re.compile(r"`([\w.]+)\.([A-Z][A-Z_]+)`")
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?:e-?\d+)?")


def test_every_limit_on_the_page_has_the_codes_value():
    checked = 0
    for row in DOC.read_text(encoding="utf-8").splitlines():
        numbers = {float(n.replace(",", "")) for n in NUMBER.findall(row)}
        for module, name in CONSTANT.findall(row):
            value = getattr(importlib.import_module(f"micrograd_ann.{module}"), name)
            assert float(value) in numbers, f"{module}.{name} = {value:,} is not on: {row}"
            checked += 1
    assert checked >= 25


def test_the_readers_take_what_train_writes():
    assert training.MAX_PARAMETERS is limits.MAX_PARAMETERS
    assert training.MAX_SAMPLES is limits.MAX_SAMPLES
    assert checkpoint.MAX_BYTES == 64 * 2**10 + 128 * limits.MAX_PARAMETERS
    assert history_file.MAX_INPUTS == 2 * limits.MAX_SAMPLES
    assert replay.PAGE_NUMBERS == 5 * limits.MAX_PARAMETERS
