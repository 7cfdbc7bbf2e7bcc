"""The command line at its edges: gradcheck at any scale, and Ctrl-C from the first
instruction. (test_cli.py covers the commands themselves.)"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from micrograd_ann import cli


def main_output(capsys, *argv: str) -> tuple[int, str, str]:
    """cli.main(argv) in this process: exit code, stdout, stderr."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> dict[str, list[str]]:
    """The gradcheck table's rows by input name: the columns after the name."""
    lines = [line.split() for line in out.splitlines()[2:]]
    return {cols[0]: cols[1:] for cols in lines}


# --------------------------------------------------------------- gradcheck at any scale


@pytest.mark.parametrize("formula, values, numeric", [
    ("x*y", ["x=1e8", "y=3"], {"x": "3", "y": "100000000"}),  # used to exit 1: 2.98
    ("x + 1", ["x=1e10"], {"x": "1"}),  # ... and 1.907 here
    ("x*y", ["x=-1e200", "y=1e-200"], {"x": "1e-200", "y": "-1e+200"}),
])
def test_gradcheck_passes_exact_gradients_at_any_scale(capsys, formula, values, numeric):
    code, out, err = main_output(capsys, "gradcheck", formula, *values)
    assert code == 0 and out.startswith("gradcheck passed"), out + err
    assert {name: cols[2] for name, cols in rows(out).items()} == numeric


@pytest.mark.parametrize("rtol", ["1e-6", "1e-3", "1e-2", "0.3"])
def test_gradcheck_near_a_pole_passes_the_right_gradient_whatever_the_rtol(capsys, rtol):
    # with --rtol 1e-2 the step across the pole (+1.01e12) was accepted and -1e14 FAILED
    code, out, err = main_output(capsys, "gradcheck", "x/y", "x=1", "y=1e-7", "--rtol", rtol)
    assert code == 0 and out.startswith("gradcheck passed: 2 of 2 inputs agree"), out + err
    y = rows(out)["y"]
    assert (y[1], y[-2], y[-1]) == ("-1e+14", "1e-11", "ok")
    assert float(y[2]) == pytest.approx(-1e14, rel=1e-7)


MAGNITUDES = st.builds(lambda m, e: f"{m}e{e}", st.integers(-9, 9).filter(bool),
                       st.integers(0, 90))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(x=MAGNITUDES, y=MAGNITUDES, formula=st.sampled_from(["x*y", "(-3*x*y)", "x*x*y",
                                                            "x*(y + 1)"]))
def test_fuzz_gradcheck_of_a_product_passes_at_any_scale(capsys, x, y, formula):
    # each input's term is proportional to the result: the central difference is exact up
    # to rounding at any magnitude from 1 up, once the step scales with the input. (Below
    # 1 the step stays eps: x*x*y at x = 1e-20, y = 1e18 drowns in rounding.)
    code, out, err = main_output(capsys, "gradcheck", formula, f"x={x}", f"y={y}")
    assert code == 0, out + err


# ------------------------------------------------------------------------ Ctrl-C

OUR_FRAME = re.compile(r"micrograd_ann[/\\]\w+\.py")  # a traceback line in one of our files


def _interrupted_after(argv: list[str], delay: float, cwd) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _entry_points() -> list[list[str]]:
    script = shutil.which("micrograd-ann", path=os.path.dirname(sys.executable))
    return [[sys.executable, "-m", "micrograd_ann"], *([[script]] if script else [])]


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGINT")
@pytest.mark.parametrize("entry", _entry_points(), ids=lambda argv: os.path.basename(argv[-1]))
def test_ctrl_c_from_the_first_instruction_is_one_line_and_exit_130(tmp_path, entry):
    # Sent every 8 ms from the start: a signal that comes while Python itself starts up
    # (before any of our code runs) is Python's to report; from our first instruction on,
    # through every import, it must be the one line and 130. The package's imports took
    # ~60 ms and printed a traceback (exit -2): these delays land there several times.
    argv = [*entry, "train", "--epochs", "100000", "--out", "out"]
    ours = 0
    for step in range(40):
        done = _interrupted_after(argv, 0.008 * step, tmp_path)
        if OUR_FRAME.search(done.stderr) or done.returncode == 130:
            lines = done.stderr.splitlines()  # progress lines, then the one line
            assert (done.returncode, lines[-1:]) == (130, ["micrograd-ann: interrupted"]) \
                and "Traceback" not in done.stderr, \
                f"interrupted after {0.008 * step:.3f} s:\n{done.stderr}"
            ours += 1
        else:  # in the interpreter's own start-up: no line of ours ran
            assert "micrograd-ann: interrupted" not in done.stderr, (done.returncode,
                                                                     done.stderr)
    assert ours >= 10, "too few interrupts landed in our code to tell"
