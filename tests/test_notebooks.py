"""Every notebook in notebooks/ runs top to bottom on a fresh kernel, stored without outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from conftest import require_tool
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
SLOW = {"05_watch_it_learn.ipynb"}  # trains six-layer networks: seconds more than the rest
CELL_TIMEOUT = 120  # seconds per cell; each notebook takes a few seconds in all


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Run every cell in a new "python3" kernel: jupyter_client starts that kernel with
    this interpreter (sys.executable), so it sees this virtualenv's micrograd_ann."""
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}})
    return client.execute()


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS


def test_the_kernel_runs_this_interpreter(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.prefix)"))
    outputs = execute(nb, tmp_path).cells[0].outputs
    assert outputs[0]["text"].strip() == sys.prefix


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW
                                  else p for p in NOTEBOOKS], ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    require_tool("dot")  # the notebooks draw graphs
    execute(nbformat.read(path, as_version=4), tmp_path)  # a failing cell raises, naming it
