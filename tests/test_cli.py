"""The command line, run as `python -m micrograd_ann` in a subprocess, on small settings."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import require_tool

from micrograd_ann import checkpoint, cli

SVG = "{http://www.w3.org/2000/svg}svg"


def run(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    """`python -m micrograd_ann ARGS` with text output captured."""
    return subprocess.run([sys.executable, "-m", "micrograd_ann", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("micrograd-ann"), lines[0]
    assert "error" in lines[0]
    for fragment in fragments:
        assert fragment in lines[0]


def accuracy(stdout: str, which: str) -> float:
    return float(re.search(rf"{which} accuracy ([\d.]+)%", stdout).group(1))


def without_dot(tmp_path) -> dict:
    """An environment whose PATH has no `dot` (nor anything else)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    return {**os.environ, "PATH": str(empty)}


# ------------------------------------------------------------------------- train


def test_train_writes_every_file(tmp_path):
    require_tool("dot")
    out = tmp_path / "out"
    done = run("train", "--samples", "40", "--hidden", "4", "--epochs", "3", "--out", str(out))
    assert done.returncode == 0, done.stderr
    # Not a terminal: plain progress lines, one per epoch here (3 epochs).
    assert re.findall(r"epoch (\d)/3", done.stderr) == ["1", "2", "3"]
    assert "train accuracy" in done.stdout and "steps/s" in done.stdout
    model = checkpoint.load_mlp(out / "params.json")
    assert (model.nin, model.nouts) == (2, [4, 1])
    for name in ("loss.svg", "boundary.svg", "graph.svg"):
        assert ET.parse(out / name).getroot().tag == SVG, name
    # The loss curve has one point per epoch.
    line = ET.parse(out / "loss.svg").getroot().find(f"{SVG[:-3]}polyline")
    assert len(line.get("points").split()) == 3
    page = (out / "backprop.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page


def test_demo_defaults_reach_97_percent_train_accuracy(tmp_path):
    """The exact `make demo` run: moons with the train defaults, then the neuron."""
    done = run("demo", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert accuracy(done.stdout, "train") >= 97.0
    assert "sigmoid(n) = 0.9241" in done.stdout
    assert str(tmp_path / "out") in done.stdout.splitlines()[-1]
    written = set(os.listdir(tmp_path / "out"))
    assert {"params.json", "loss.svg", "boundary.svg"} <= written
    if "graph.svg" in written:  # dot installed
        assert {"backprop.html", "neuron.svg", "neuron.html"} <= written


def test_demo_without_dot_trains_writes_dot_source_and_says_how_to_install(tmp_path):
    out = tmp_path / "out"
    done = run("demo", "--out", str(out), env=without_dot(tmp_path))
    assert done.returncode == 0, done.stderr
    assert accuracy(done.stdout, "train") >= 97.0
    assert {"graph.dot", "neuron.dot", "params.json", "loss.svg"} <= set(os.listdir(out))
    assert (out / "graph.dot").read_text().startswith("digraph {")
    assert "apt-get install graphviz" in done.stderr
    assert "apt-get install graphviz" in done.stdout  # repeated at the end of the demo
    assert "Traceback" not in done.stderr


def test_train_on_three_classes_uses_cross_entropy(tmp_path):
    done = run("train", "--dataset", "spiral", "--samples", "30", "--hidden", "4",
               "--epochs", "2", "--out", str(tmp_path), env=without_dot(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "cross_entropy loss" in done.stdout
    assert checkpoint.load_mlp(tmp_path / "params.json").nouts == [4, 3]


def test_digits_without_scikit_learn_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn...` fail
    assert cli.main(["train", "--dataset", "digits"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "micrograd-ann[digits]" in err[0], err


def test_digits_reaches_90_percent_test_accuracy(tmp_path):
    pytest.importorskip("sklearn")
    done = run("train", "--dataset", "digits", "--out", str(tmp_path),
               env=without_dot(tmp_path))
    assert done.returncode == 0, done.stderr
    assert accuracy(done.stdout, "test") >= 90.0


# ------------------------------------------------------------------------ neuron


def test_neuron_prints_the_tutorial_values_and_the_misprint(tmp_path):
    require_tool("dot")
    done = run("neuron", "--out", str(tmp_path), "--html")
    assert done.returncode == 0, done.stderr
    assert "out = sigmoid(n) = 0.9241" in done.stdout
    assert "0.865" in done.stdout and "misprint" in done.stdout
    # d out / d w_i = s(1 - s) x_i with s(1 - s) = 0.07010371654510807 (see NOTES.md).
    for i, x in enumerate([1, 5, 3]):
        grad = float(re.search(rf"w{i}\.grad = (\S+)", done.stdout).group(1))
        assert grad == pytest.approx(0.07010371654510807 * x, rel=1e-5)
    assert ET.parse(tmp_path / "neuron.svg").getroot().tag == SVG
    assert (tmp_path / "neuron.html").exists()


def test_neuron_with_other_values(tmp_path):
    done = run("neuron", "--inputs", "1,2", "--weights", "0.5,0.5", "--bias", "0",
               "--activation", "tanh", "--out", str(tmp_path), env=without_dot(tmp_path))
    assert done.returncode == 0, done.stderr
    assert f"out = tanh(n) = {math.tanh(1.5):.4f}" in done.stdout
    assert "misprint" not in done.stdout
    assert (tmp_path / "neuron.dot").exists()


# ----------------------------------------------------------- draw, gradcheck, explain


def test_draw_prints_gradients_and_writes_the_graph(tmp_path):
    require_tool("dot")
    done = run("draw", "tanh(x*w + b)", "x=0.5", "w=-3", "b=2", "--html",
               "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    t = math.tanh(0.5 * -3 + 2)
    assert f"= {t:.6g}" in done.stdout
    assert f"d/dx = {-3 * (1 - t * t):.6g}" in done.stdout
    assert f"d/dw = {0.5 * (1 - t * t):.6g}" in done.stdout
    assert ET.parse(tmp_path / "expression.svg").getroot().tag == SVG
    assert (tmp_path / "expression.html").exists()


def test_variables_as_dash_name_value_like_the_issue_example(tmp_path):
    dashed = run("draw", "tanh(x*w + b)", "-x", "0.5", "-w", "-3", "-b", "2",
                 "--out", str(tmp_path))
    assigned = run("draw", "tanh(x*w + b)", "x=0.5", "w=-3", "b=2", "--out", str(tmp_path))
    assert dashed.returncode == 0, dashed.stderr
    assert dashed.stdout.splitlines()[:4] == assigned.stdout.splitlines()[:4]
    assert "d/dw = 0.393224" in dashed.stdout


def test_dash_variables_leave_options_and_help_alone():
    rewrite = cli._dash_variables
    assert rewrite(["draw", "x*y", "-x", "-1e-3", "-y", "2", "--html"]) == [
        "draw", "x*y", "x=-1e-3", "y=2", "--html"]
    assert rewrite(["draw", "x", "-h"]) == ["draw", "x", "-h"]
    assert rewrite(["draw", "x", "-x", "abc"]) == ["draw", "x", "-x", "abc"]
    assert rewrite(["train", "-x", "1"]) == ["train", "-x", "1"]


def test_gradcheck_prints_the_table():
    done = run("gradcheck", "x*y + exp(x)", "x=0.5", "y=-2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("gradcheck passed: 2 of 2 inputs agree")
    row = next(line for line in done.stdout.splitlines() if line.split()[0] == "x")
    assert float(row.split()[2]) == pytest.approx(-2 + math.exp(0.5), rel=1e-9)


def test_explain_a_formula_and_the_default_neuron():
    done = run("explain", "x*x + y", "x=3", "y=1")
    assert done.returncode == 0, done.stderr
    assert re.search(r"x\.grad = 6\n", done.stdout) and re.search(r"y\.grad = 1$", done.stdout)
    done = run("explain")
    assert done.returncode == 0, done.stderr
    assert "out = sigmoid(n)" in done.stdout and "b.grad" in done.stdout


@pytest.mark.parametrize("formula, fragment", [
    ("__import__('os').system('touch pwned')", "attribute access"),
    ("__import__('os')", "'__import__' is not an allowed function"),
    ("open('pwned', 'w')", "'open' is not an allowed function"),
    ("x.tanh()", "attribute access"),
    ("(lambda: x)()", "a lambda"),
    ("f(x)(x)", "a call"),
    ("lambda: x", "a lambda"),
    ("x[0]", "indexing"),
    ("[x for x in ()]", "not allowed"),
    ("x if x else x", "if/else"),
    ("'text' + x", "not a number"),
    ("x +", "cannot parse"),
    ("x + y", "variable 'y' has no value"),
    ("tanh(x, x)", "takes one argument"),
    ("log(x - 2)", "outside the op's domain"),
    ("9.0 ** 999 * x", "too large"),
])
def test_draw_refuses_anything_but_the_formula_grammar(tmp_path, formula, fragment):
    done = run("draw", formula, "x=1", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert_one_line_error(done, fragment)
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, fragment", [
    (["train", "--dataset", "mnist"], "invalid choice: 'mnist'"),
    (["train", "--hidden", "16,x"], "--hidden"),
    (["train", "--lr", "-0.1"], "--lr"),
    (["train", "--epochs", "1.5"], "--epochs"),
    (["train", "--test-fraction", "1"], "--test-fraction"),
    (["train", "--dataset", "spiral", "--loss", "hinge", "--epochs", "1"], "two classes"),
    (["train", "--frobnicate"], "unrecognized arguments"),
    (["neuron", "--inputs", "1,2"], "one weight per input"),
    (["neuron", "--bias", "nan"], "finite number"),
    (["draw", "x", "x=one"], "expected a number"),
    (["draw", "x", "x"], "NAME=VALUE"),
    (["draw", "x", "x=1", "x=2"], "more than one value"),
    (["draw", "x", "x=1", "y=2"], "'y' is given a value but not used"),
    (["explain", "y=2"], "the formula comes first"),
    (["no-such-command"], "invalid choice"),
    ([], "required"),
])
def test_bad_arguments_are_one_line_and_exit_code_2(args, fragment):
    assert_one_line_error(run(*args), fragment)


def test_every_command_has_help():
    for command in ([], ["train"], ["neuron"], ["draw"], ["gradcheck"], ["explain"], ["demo"]):
        done = run(*command, "--help")
        assert done.returncode == 0 and done.stdout.startswith("usage: micrograd-ann")
    assert "moons    samples=100" in run("train", "--help").stdout
