"""The README's Python examples run as printed, in order, in one namespace (as a reader
pastes them into one session), and print what the README says they print."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_module, require_tool

README = Path(__file__).resolve().parents[1] / "README.md"
# A ```python block, then optionally the ```text block showing its output.
BLOCK = re.compile(r"```python\n(.*?)```\n(?:\s*```text\n(.*?)```)?", re.S)
ERROR = re.compile(r"^(?:# )?(\w+Error): ", re.M)  # an error the README says it raises


def _examples() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2) or "") for m in BLOCK.finditer(README.read_text())]


def _expected_lines(code: str, shown: str) -> list[str]:
    """What must appear in the output: the ```text block, and `print(...)  # value`."""
    lines = [line.strip() for line in shown.splitlines() if line.strip()]
    lines += [m.group(1).strip() for m in re.finditer(r"^print\(.*\)\s+#\s*(.+)$", code, re.M)]
    return lines


def test_readme_has_examples():
    assert len(_examples()) >= 8


def _uses_torch(code: str) -> bool:
    return "torch" in code


@pytest.mark.parametrize("index", range(len(_examples())))
def test_each_readme_example_runs_alone_and_prints_what_it_says(index, tmp_path):
    """Each block in a fresh interpreter, as a reader pastes it into a new session."""
    code, shown = _examples()[index]
    require_tool("dot")  # the examples draw and render graphs
    if _uses_torch(code):
        require_module("torch", extra="torch")  # "Moving to PyTorch" runs both engines
    error = ERROR.search(shown) or ERROR.search(code)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    if error is None:
        assert done.returncode == 0, f"README example failed:\n{code}\n{done.stderr}"
        printed = done.stdout
    else:
        raised = re.search(rf"^(?:[\w.]+\.)?{error.group(1)}: (.*)", done.stderr, re.M | re.S)
        assert done.returncode != 0 and raised, done.stderr
        printed = f"{error.group(1)}: {raised.group(1)}"
    for line in _expected_lines(code, shown):
        if not line.startswith("#"):
            assert line in printed, f"README example printed {printed!r}, not {line!r}"
