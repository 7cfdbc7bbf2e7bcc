"""The command line, run as `python -m micrograd_ann` in a subprocess, on small settings."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import require_module, require_tool

from micrograd_ann import checkpoint, cli, training

SVG = "{http://www.w3.org/2000/svg}svg"
README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def run(*args: str, cwd=None, env=None, merged=False) -> subprocess.CompletedProcess:
    """`python -m micrograd_ann ARGS` with text output captured (stderr into stdout when
    `merged`, as a log file gets both)."""
    return subprocess.run([sys.executable, "-m", "micrograd_ann", *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                          text=True, timeout=300)


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
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = run("demo", "--out", str(tmp_path / "out"), env=buffered, merged=True)
    assert done.returncode == 0, done.stdout
    assert accuracy(done.stdout, "train") >= 97.0
    # Piped into a log, the header still comes before the progress lines it introduces.
    assert done.stdout.index("== 1. Training") < done.stdout.index("epoch   1/100")
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
    assert "backprop players (.html) need Graphviz" in done.stderr
    assert "backprop.html" not in os.listdir(out)
    assert "apt-get install graphviz" in done.stdout  # repeated at the end of the demo
    assert str(out) in done.stdout.splitlines()[-1]  # the folder stays the last line
    assert "Traceback" not in done.stderr


def test_demo_without_dot_says_so_even_next_to_an_old_player_page(monkeypatch, capsys,
                                                                  tmp_path):
    """The closing line follows what this run wrote, not files left by an earlier run."""
    small = {**training.PRESETS["moons"], "samples": 20, "hidden": [2], "epochs": 2}
    monkeypatch.setitem(training.PRESETS, "moons", small)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "backprop.html").write_text("from a run with Graphviz")
    assert cli.main(["demo", "--out", str(out)]) == 0
    *_, hint, folder = capsys.readouterr().out.splitlines()
    assert "backprop players (.html) need Graphviz" in hint
    assert "apt-get install graphviz" in hint
    assert folder == f"All files are in {out}/."
    assert (out / "backprop.html").read_text() == "from a run with Graphviz"


def test_train_on_three_classes_uses_cross_entropy(tmp_path):
    done = run("train", "--dataset", "spiral", "--samples", "30", "--hidden", "4",
               "--epochs", "2", "--out", str(tmp_path), env=without_dot(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "cross_entropy loss" in done.stdout
    assert checkpoint.load_mlp(tmp_path / "params.json").nouts == [4, 3]


def test_digits_without_scikit_learn_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn...` fail
    assert cli.main(["train", "--dataset", "digits", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "pip install scikit-learn" in err[0], err
    assert 'pip install -e ".[digits]"' in err[0]  # the package is not on PyPI


def test_other_import_errors_are_not_blamed_on_scikit_learn(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise ImportError("cannot import name 'plots'")

    monkeypatch.setattr(training, "train", broken)
    with pytest.raises(ImportError, match="cannot import name 'plots'"):
        cli.main(["train", "--out", str(tmp_path)])


def test_sgd_without_lr_gets_a_learning_rate_that_suits_it(tmp_path):
    # Adam's preset lr (0.05) left this at 46 % train accuracy.
    done = run("train", "--dataset", "circles", "--hidden", "8,8", "--optimizer", "sgd",
               "--epochs", "50", "--out", str(tmp_path), env=without_dot(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "sgd, lr 0.5," in done.stdout
    assert accuracy(done.stdout, "train") >= 95.0


def test_the_readme_train_example_learns(tmp_path):
    with open(README, encoding="utf-8") as f:
        line = next(line for line in f if line.startswith("micrograd-ann train "))
    done = run(*line.split()[1:], "--out", str(tmp_path), env=without_dot(tmp_path))
    assert done.returncode == 0, done.stderr
    assert accuracy(done.stdout, "train") >= 95.0


@pytest.mark.parametrize("args, where", [
    (["train", "--lr", "1e308", "--epochs", "3"], "epoch 2 (loss nan)"),
    (["train", "--optimizer", "sgd", "--lr", "1e6", "--loss", "mse"], "epoch 19 (sum("),
])
def test_a_diverging_run_ends_with_one_line_naming_the_epoch(tmp_path, args, where):
    done = run(*args, "--out", str(tmp_path), env=without_dot(tmp_path))
    assert done.returncode == 2, done.stderr
    *progress, error = done.stderr.splitlines()
    assert all(line.startswith("epoch ") for line in progress), done.stderr
    assert error.startswith(f"micrograd-ann train: error: training diverged at {where}")
    assert error.endswith("; try a smaller lr")
    assert os.listdir(tmp_path) == ["empty-bin"]  # nothing written


def test_digits_reaches_90_percent_test_accuracy(tmp_path):
    require_module("sklearn")
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


def _player_leaf_grads(page: str) -> tuple[dict[str, str], dict[str, str]]:
    """The grad texts of the page's leaves at step 0 and after its last step, by label."""
    data = json.loads(re.search(r'id="mg-data">(.*?)</script>', page, re.S).group(1))
    grads = list(data["init"])
    for step in data["steps"]:
        for slot, text in step["grads"]:
            grads[slot] = text
    leaves = {}  # unit index -> label, from the forward-pass texts ("x = 0.5   (leaf)")
    for item in data["forward"]:
        if item["text"].endswith("(leaf)"):
            leaves[item["u"]] = item["text"].split()[2]
    slots = {leaves[unit]: s for s, unit in enumerate(data["slots"]) if unit in leaves}
    return ({name: data["init"][s] for name, s in slots.items()},
            {name: grads[s] for name, s in slots.items()})


def test_draw_html_player_plays_from_zero_to_the_printed_gradients(tmp_path):
    require_tool("dot")
    done = run("draw", "tanh(x*w + b)", "x=0.5", "w=-3", "b=2", "--html",
               "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    printed = {m.group(1): float(m.group(2))
               for m in re.finditer(r"d/d(\w+) = (\S+)", done.stdout)}
    start, end = _player_leaf_grads((tmp_path / "expression.html").read_text())
    assert start == {"x": "0", "w": "0", "b": "0"}
    assert set(end) == set(printed) == {"x", "w", "b"}
    for name, grad in printed.items():  # not twice the gradient
        assert float(end[name]) == pytest.approx(grad, rel=1e-3), name
    # The SVG shows the real gradients too (x.grad = -2.35934).
    assert "grad &#45;2.359<" in (tmp_path / "expression.svg").read_text()


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


def test_formula_commands_are_the_ones_taking_expr():
    parser = cli.build_parser()
    for argv in (["train"], ["neuron"], ["demo"], ["draw", "x"], ["gradcheck", "x"],
                 ["explain"]):
        args = parser.parse_args(argv)
        assert hasattr(args, "expr") == (argv[0] in cli.FORMULA_COMMANDS), argv


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
    (["train", "--lr", "nan"], "expected a finite number, got 'nan'"),
    (["train", "--lr", "inf"], "expected a finite number, got 'inf'"),
    (["train", "--lr", "1e309"], "expected a finite number, got '1e309'"),
    (["train", "--loss", "hnige"], "invalid choice: 'hnige'"),
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
def test_bad_arguments_are_one_line_and_exit_code_2(tmp_path, args, fragment):
    assert_one_line_error(run(*args, cwd=tmp_path), fragment)


@pytest.mark.parametrize("command", [["train"], ["neuron"], ["draw", "x", "x=1"], ["demo"]])
def test_an_unusable_out_folder_is_one_line_before_any_work(tmp_path, command):
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    for out, fragment in [(a_file, "File exists"), (a_file / "sub", "Not a directory"),
                          ("", "--out is empty")]:
        done = run(*command, "--out", str(out))
        assert_one_line_error(done, fragment)
        assert done.stdout == ""  # failed before training or printing anything
    assert a_file.read_text() == "keep me"


def test_every_command_has_help():
    for command in ([], ["train"], ["neuron"], ["draw"], ["gradcheck"], ["explain"], ["demo"]):
        done = run(*command, "--help")
        assert done.returncode == 0 and done.stdout.startswith("usage: micrograd-ann")
    assert "moons    samples=100" in run("train", "--help").stdout
    assert "lr=adam:0.05,sgd:0.5" in run("train", "--help").stdout
