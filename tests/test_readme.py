"""The README's Python examples run as printed, in order, in one namespace (as a reader
pastes them into one session), and print what the README says they print."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from conftest import require_tool

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


def test_readme_examples_run_and_print_what_they_say(tmp_path, monkeypatch):
    require_tool("dot")  # the examples draw and render graphs
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    namespace: dict = {}
    for code, shown in _examples():
        error = ERROR.search(shown) or ERROR.search(code)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            if error is None:
                exec(compile(code, str(README), "exec"), namespace)
                printed = out.getvalue()
            else:
                with pytest.raises(Exception) as info:
                    exec(compile(code, str(README), "exec"), namespace)
                assert type(info.value).__name__ == error.group(1), code
                printed = f"{error.group(1)}: {info.value}"
        for line in _expected_lines(code, shown):
            if not line.startswith("#"):
                assert line in printed, f"README example printed {printed!r}, not {line!r}"
