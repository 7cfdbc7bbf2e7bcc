"""The README's and the docs' Python examples run as printed and print what they say.

A README block runs in a fresh interpreter, as a reader pastes it into a new session; a
docs page's blocks run in order in one interpreter, as a reader follows the page. Fenced
```python blocks are examples (a ```text block right after one is its output); ```py
blocks are listings, shown and not run. Every docs page is linked from the README.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_module, require_tool

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
# A ```python block, then optionally the ```text block showing its output.
BLOCK = re.compile(r"```python\n(.*?)```\n(?:\s*```text\n(.*?)```)?", re.S)
ERROR = re.compile(r"^(?:# )?(\w+Error): ", re.M)  # an error the page says it raises
LINK = re.compile(r"\]\(((?:docs/)?[\w-]+\.md)(?:#[\w-]*)?\)")

# Runs a page's blocks in one namespace, in order; prints, per block, what it printed or
# the error it raised, as JSON.
SESSION = r"""
import contextlib, io, json, sys, traceback
blocks = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
results = []
for code in blocks:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, "<docs example>", "exec"), namespace)
        results.append({"printed": out.getvalue(), "error": None})
    except Exception as exc:
        results.append({"printed": out.getvalue(), "error": type(exc).__name__,
                        "message": str(exc), "trace": traceback.format_exc()})
print(json.dumps(results))
"""


def examples(path: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2) or "") for m in BLOCK.finditer(path.read_text())]


def expected_lines(code: str, shown: str) -> list[str]:
    """What must appear in the output: the ```text block, and `print(...)  # value`."""
    lines = [line.strip() for line in shown.splitlines() if line.strip()]
    lines += [m.group(1).strip() for m in re.finditer(r"^print\(.*\)\s+#\s*(.+)$", code, re.M)]
    return [line for line in lines if not line.startswith("#")]


def needs(code: str) -> None:
    """Skip for a tool the example needs that this machine lacks (never in CI)."""
    require_tool("dot")  # the examples draw and render graphs
    if "torch" in code:
        require_module("torch", extra="torch")


def check(code: str, shown: str, printed: str, error: str | None, message: str,
          where: str) -> None:
    """The block printed what the page shows, or raised the error the page names."""
    expected = ERROR.search(shown) or ERROR.search(code)
    if expected is None:
        assert error is None, f"{where} raised {error}: {message}\n{code}"
    else:
        assert error == expected.group(1), f"{where}: expected {expected.group(1)}, got {error}"
        printed = f"{error}: {message}"
    for line in expected_lines(code, shown):
        assert line in printed, f"{where} printed {printed!r}, not {line!r}"


def test_readme_has_examples_and_fits_a_front_page():
    assert len(examples(README)) >= 4
    lines = README.read_text().splitlines()
    assert len(lines) <= 300
    assert any("make demo" in line for line in lines[:40])
    assert any("make test" in line for line in lines[:40])


@pytest.mark.parametrize("index", range(len(examples(README))))
def test_each_readme_example_runs_alone_and_prints_what_it_says(index, tmp_path):
    code, shown = examples(README)[index]
    needs(code)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    error = re.search(r"^(?:[\w.]+\.)?(\w+Error): (.*)", done.stderr, re.M | re.S)
    if done.returncode == 0:
        check(code, shown, done.stdout, None, "", f"README example {index}")
    else:
        assert error, done.stderr
        check(code, shown, done.stdout, error.group(1), error.group(2),
              f"README example {index}")


@pytest.mark.parametrize("page", [p for p in DOCS if examples(p)], ids=lambda p: p.name)
def test_each_docs_page_runs_as_one_session_and_prints_what_it_says(page, tmp_path):
    blocks = examples(page)
    needs("".join(code for code, _ in blocks))
    done = subprocess.run([sys.executable, "-c", SESSION], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300,
                          input=json.dumps([code for code, _ in blocks]))
    assert done.returncode == 0, done.stderr
    for k, ((code, shown), result) in enumerate(zip(blocks, json.loads(done.stdout))):
        check(code, shown, result["printed"], result["error"], result.get("message", ""),
              f"{page.name} block {k}")


def test_every_docs_page_is_linked_from_the_readme_and_every_link_resolves():
    linked = set(LINK.findall(README.read_text()))
    assert {f"docs/{p.name}" for p in DOCS} <= linked, "orphaned docs pages"
    for path in [README, *DOCS]:
        for target in LINK.findall(path.read_text()):
            base = ROOT if path == README else ROOT / "docs"
            assert (base / target).exists(), f"{path.name} links to missing {target}"


def test_the_harness_catches_a_wrong_output():
    with pytest.raises(AssertionError, match="not '4'"):
        check("print(2 + 1)  # 4", "", "3\n", None, "", "a made-up block")
    with pytest.raises(AssertionError, match="expected ValueError"):
        check("int('x')\n# ValueError: invalid literal", "", "", None, "", "a made-up block")
