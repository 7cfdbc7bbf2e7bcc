"""The command line on small settings: run by cli.main in this process (faster), and as
`python -m micrograd_ann` in a subprocess where only a real process shows what is tested
(the entry point, output buffering into a log, Ctrl-C)."""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import Callable

import pytest
from conftest import require_module, require_tool
from helpers import player_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from micrograd_ann import Value, checkpoint, cli, expr, formatting, training

SVG = "{http://www.w3.org/2000/svg}svg"
README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def spawn(*args: str, cwd=None, env=None, merged=False) -> subprocess.CompletedProcess:
    """`python -m micrograd_ann ARGS` in a new process, text output captured (stderr into
    stdout when `merged`, as a log file gets both)."""
    return subprocess.run([sys.executable, "-m", "micrograd_ann", *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                          text=True, timeout=300)


def run(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    """`micrograd-ann ARGS` run by cli.main in this process, in folder `cwd` with environment
    `env` (both put back after), its exit code and output captured as spawn() captures them."""
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


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
    architecture = checkpoint.read(out / "params.json").architecture
    assert (architecture["nin"], architecture["nouts"]) == (2, [4, 1])
    for name in ("loss.svg", "boundary.svg", "graph.svg", "network.svg"):
        assert ET.parse(out / name).getroot().tag == SVG, name
    assert "layers.0" in (out / "graph.svg").read_text()  # --graph auto: a box per layer
    # The loss curve has one point per epoch.
    line = ET.parse(out / "loss.svg").getroot().find(f"{SVG[:-3]}polyline")
    assert len(line.get("points").split()) == 3
    page = (out / "backprop.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page


def test_demo_defaults_reach_97_percent_train_accuracy(tmp_path):
    """The exact `make demo` run: moons with the train defaults, then the neuron."""
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    done = spawn("demo", "--out", str(tmp_path / "out"), env=buffered, merged=True)
    assert done.returncode == 0, done.stdout
    assert accuracy(done.stdout, "train") >= 97.0
    # Piped into a log, the header still comes before the progress lines it introduces.
    assert done.stdout.index("== 1. Training") < done.stdout.index("epoch   1/100")
    assert "sigmoid(n) = 0.9241" in done.stdout
    assert f"All files are in {tmp_path / 'out'}/." in done.stdout.splitlines()
    written = set(os.listdir(tmp_path / "out"))
    assert {"params.json", "loss.svg", "boundary.svg", "network.svg"} <= written
    assert not [name for name in written if name.startswith(".")]  # no temporary files
    if "graph.svg" in written:  # dot installed
        assert {"backprop.html", "neuron.svg", "neuron.html"} <= written


def test_demo_without_dot_trains_writes_dot_source_and_says_how_to_install(monkeypatch,
                                                                          tmp_path):
    # A smaller run than the demo's (whose accuracy the test above checks): the same files.
    small = {**training.PRESETS["moons"], "samples": 20, "hidden": [2], "epochs": 2}
    monkeypatch.setitem(training.PRESETS, "moons", small)
    out = tmp_path / "out"
    done = run("demo", "--out", str(out), env=without_dot(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "MLP(nin=2, nouts=[2, 1]) on moons (16 train / 4 test samples)" in done.stdout
    assert {"graph.dot", "neuron.dot", "params.json", "loss.svg", "network.svg"} <= set(
        os.listdir(out))
    assert (out / "graph.dot").read_text().startswith("digraph {")
    assert "apt-get install graphviz" in done.stderr
    assert "backprop players (.html) need Graphviz" in done.stderr
    assert done.stderr.count("Graphviz's `dot` is not installed") == 1  # once per run
    assert "backprop.html" not in os.listdir(out)
    assert "apt-get install graphviz" in done.stdout  # repeated at the end of the demo
    assert f"All files are in {out}/." in done.stdout.splitlines()
    assert "Traceback" not in done.stderr


def test_demo_without_dot_says_so_even_next_to_an_old_player_page(monkeypatch, capsys,
                                                                  tmp_path):
    """The closing lines follow what this run wrote, not files left by an earlier run."""
    small = {**training.PRESETS["moons"], "samples": 20, "hidden": [2], "epochs": 2}
    monkeypatch.setitem(training.PRESETS, "moons", small)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "backprop.html").write_text("from a run with Graphviz")
    assert cli.main(["demo", "--out", str(out)]) == 0
    hint, closing = capsys.readouterr().out.split("\n\n")[-2:]
    assert "backprop players (.html) need Graphviz" in hint
    assert "apt-get install graphviz" in hint
    assert closing.splitlines()[0] == f"All files are in {out}/."  # nothing replaced
    assert "training.html" in closing and "backprop.html" not in closing  # not offered
    assert (out / "backprop.html").read_text() == "from a run with Graphviz"


def test_train_on_three_classes_uses_cross_entropy(tmp_path):
    done = run("train", "--dataset", "spiral", "--samples", "30", "--hidden", "4",
               "--epochs", "2", "--out", str(tmp_path), env=without_dot(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "cross_entropy loss" in done.stdout
    assert checkpoint.read(tmp_path / "params.json").architecture["nouts"] == [4, 3]


def test_digits_without_scikit_learn_says_what_to_install(monkeypatch, capsys, tmp_path):
    for name in ("sklearn", "sklearn.datasets"):  # `import sklearn...` fails, even when a
        monkeypatch.setitem(sys.modules, name, None)  # test before imported it
    assert cli.main(["train", "--dataset", "digits", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "the digits dataset (scikit-learn) needs" in err[0], err
    assert 'pip install -e ".[digits]"' in err[0]
    assert os.listdir(tmp_path) == []  # the settings were fine: only the folder was made


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
    done = run(*line.split("#")[0].split()[1:], "--out", str(tmp_path),
               env=without_dot(tmp_path))
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
    assert all(line.startswith(("epoch ", "compiled the training step in "))
               for line in progress), done.stderr
    assert error.startswith(f"micrograd-ann train: error: training diverged at {where}")
    assert error.endswith("; try a smaller lr")
    assert os.listdir(tmp_path) == ["empty-bin"]  # nothing written


@pytest.mark.slow  # the digits preset as it is: 250 steps of MLP(64, [32, 10]), twice
def test_digits_trains_compiled_to_90_percent_printing_what_no_compile_prints(tmp_path):
    require_module("sklearn")
    compiled = run("train", "--dataset", "digits", "--graph", "none", "--out",
                   str(tmp_path / "a"))
    plain = run("train", "--dataset", "digits", "--graph", "none", "--out",
                str(tmp_path / "b"), "--no-compile")
    assert compiled.returncode == 0 and plain.returncode == 0, compiled.stderr + plain.stderr
    assert accuracy(compiled.stdout, "test") >= 90.0
    assert_same_training(compiled, plain, tmp_path, steps=250)


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


def test_draw_html_player_plays_from_zero_to_the_printed_gradients(tmp_path):
    require_tool("dot")
    done = run("draw", "tanh(x*w + b)", "x=0.5", "w=-3", "b=2", "--html",
               "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    printed = {m.group(1): m.group(2) for m in re.finditer(r"d/d(\w+) = (\S+)", done.stdout)}
    assert set(printed) == {"x", "w", "b"}
    data = player_data((tmp_path / "expression.html").read_text())
    assert sorted(set(data["init"])) == ["0", "1"]  # step 0: only the seed is set
    # Each leaf's last running total in the steps is its printed gradient, not twice it.
    steps = "\n".join(step["text"] for step in data["steps"])
    for name, grad in printed.items():
        totals = re.findall(rf"^ +{name}\.grad +\+= .*\(now (\S+)\)$", steps, re.M)
        assert totals[-1] == grad, (name, totals)
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
    rewrite = cli._formula_argv
    assert rewrite(["draw", "x*y", "-x", "-1e-3", "-y", "2", "--html"]) == [
        "draw", "x*y", "x=-1e-3", "y=2", "--html"]
    assert rewrite(["draw", "x", "-h"]) == ["draw", "x", "-h"]
    assert rewrite(["draw", "x", "--out", "o", "x=-2"]) == ["draw", "x", "--out", "o", "x=-2"]
    assert rewrite(["draw", "--", "-x", "x=1"]) == ["draw", "--", "-x", "x=1"]
    with pytest.raises(cli.CliError, match="give a variable as -NAME VALUE"):
        rewrite(["draw", "x", "-x", "abc"])


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
    # The first problem in the text is named, the innermost one where several start.
    ("__import__('os').system('touch pwned')",
     "'__import__' is not an allowed function (in \"__import__('os')\"); use only numbers, "
     "variables, + - * / **, unary -, and the functions tanh, exp, log, relu, sigmoid, sqrt, "
     "abs, leaky_relu"),
    ("__import__(x)", "'__import__' is not an allowed function"),
    ("open('pwned', 'w')", "'open' is not an allowed function"),
    ("open(x)", "'open' is not an allowed function"),
    ("x.tanh()", "attribute access ('x.tanh') is not allowed"),
    ("(lambda: x)()", "a lambda"),
    ("f(x)(x)", "'f' is not an allowed function (in 'f(x)')"),
    ("tanh(x)(x)", "a call ('tanh(x)') is not allowed; call a function by name"),
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
                          ("", "cannot use --out '' as a folder: the name is empty")]:
        done = run(*command, "--out", str(out))
        assert_one_line_error(done, fragment)
        assert done.stdout == ""  # failed before training or printing anything
    assert a_file.read_text() == "keep me"


def test_every_command_has_help_with_examples_of_that_command(capsys):
    code, out, _ = main_output(capsys, "--help")
    assert code == 0 and out.startswith("usage: micrograd-ann")
    for command in cli.COMMANDS:
        code, out, _ = main_output(capsys, command.name, "--help")
        assert code == 0 and out.startswith(f"usage: micrograd-ann {command.name}")
        examples = out[out.index("examples:\n"):].splitlines()[1:len(command.examples) + 1]
        assert [line.split()[:2] for line in examples] == [
            ["micrograd-ann", command.name]] * len(command.examples), examples
    out = main_output(capsys, "train", "--help")[1]
    assert "moons    samples=100" in out and "lr=adam:0.05,sgd:0.5" in out


def test_version():
    done = spawn("--version")
    assert done.returncode == 0 and done.stdout == "micrograd-ann 0.1.0\n"


def main_output(capsys, *argv: str) -> tuple[int, str, str]:
    """cli.main(argv) in this process: exit code, stdout, stderr."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_main_error(capsys, argv: list[str], *fragments: str) -> str:
    """cli.main(argv) exits 2 with one line on stderr holding every fragment; the line."""
    code, out, err = main_output(capsys, *argv)
    assert code == 2, (out, err)
    (line,) = err.splitlines()
    assert line.startswith("micrograd-ann") and "error: " in line, line
    for fragment in fragments:
        assert fragment in line, line
    return line


# --------------------------------------------------------- numbers and small fixes


def test_an_option_the_dataset_does_not_take_is_one_line(capsys, tmp_path):
    line = assert_main_error(capsys, ["train", "--dataset", "digits", "--noise", "0.1",
                                      "--out", str(tmp_path / "out")], "--noise", "digits")
    assert line == ("micrograd-ann train: error: --noise does not apply to --dataset digits: "
                    "the digits dataset takes no noise setting")
    assert not (tmp_path / "out").exists()


def test_a_huge_noise_is_a_bad_noise_value(capsys, tmp_path):
    assert_main_error(capsys, ["train", "--noise", "1e308", "--out", str(tmp_path)],
                      "noise must be at most 10, got 1e+308")


def test_one_epoch_and_one_step_are_singular(capsys, tmp_path):
    code, out, _ = main_output(capsys, "train", "--samples", "20", "--hidden", "2",
                               "--epochs", "1", "--graph", "none", "--out", str(tmp_path))
    assert code == 0 and ", 1 epoch, 1 step\n" in out


def test_an_exploding_loss_is_short_and_warns(capsys, tmp_path):
    code, out, err = main_output(capsys, "train", "--samples", "20", "--hidden", "3",
                                 "--epochs", "43", "--optimizer", "sgd", "--lr", "5",
                                 "--loss", "mse", "--graph", "none", "--out", str(tmp_path))
    assert code == 0, err
    last_epoch = [line for line in err.splitlines() if line.startswith("epoch")][-1]
    assert re.fullmatch(r"epoch 43/43  loss \d\.\d\de\+\d\d  accuracy +[\d.]+%", last_epoch)
    (warning,) = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert re.fullmatch(r"warning: the loss grew from 1\.0833 \(epoch 1\) to \d\.\d\de\+\d\d "
                        r"\(epoch 43\); the learning rate is probably too large \(try a "
                        r"smaller lr, e\.g\. 0\.5\)", warning)


def test_minus_zero_is_shown_as_zero(capsys, tmp_path):
    code, out, _ = main_output(capsys, "draw", "x*y", "x=0", "y=-1", "--out", str(tmp_path))
    assert code == 0
    assert out.splitlines()[:3] == ["x*y = 0", "  d/dx = -1", "  d/dy = 0"]
    code, out, _ = main_output(capsys, "draw", "x*y", "x=-0", "y=2", "--out", str(tmp_path))
    assert out.splitlines()[:3] == ["x*y = 0", "  d/dx = 2", "  d/dy = 0"]
    code, out, _ = main_output(capsys, "explain", "--", "-(x*y)", "x=0", "y=1")
    assert code == 0 and re.search(r"y\.grad \+= -1 \* 0 = 0 +\(now 0\)", out)  # -0.0
    assert not re.search(r"(^|\s)-0(\s|$)", out), out


def test_a_formula_starting_with_minus_is_explained_or_taken_after_dashes(capsys, tmp_path):
    assert_main_error(capsys, ["draw", "-x*y", "x=1", "y=2", "--out", str(tmp_path)],
                      "'-x*y' starts with '-'", "'(-x*y)'", "after --")
    code, out, _ = main_output(capsys, "draw", "--out", str(tmp_path), "--", "-x*y", "x=1",
                               "y=2")
    assert code == 0 and out.splitlines()[:3] == ["-x*y = -2", "  d/dx = -2", "  d/dy = -1"]
    code, out, _ = main_output(capsys, "draw", "(-x*y)", "x=1", "y=2", "--out", str(tmp_path))
    assert code == 0 and out.startswith("(-x*y) = -2\n")


def test_explaining_a_leaf_lists_its_gradient(capsys):
    code, out, _ = main_output(capsys, "explain", "x", "x=2")
    assert code == 0 and out.splitlines()[-1].split() == ["x.grad", "=", "1"]


def test_gradcheck_takes_eps_atol_and_rtol(capsys):
    code, out, _ = main_output(capsys, "gradcheck", "exp(x)", "x=1", "--eps", "1e-3",
                               "--atol", "0", "--rtol", "0")  # no rounding error allowed
    assert code == 1 and "[eps=0.001, atol=0, rtol=0]" in out.splitlines()[0]
    code, out, _ = main_output(capsys, "gradcheck", "exp(x)", "x=1", "--eps", "1e-3",
                               "--atol", "0", "--rtol", "1e-6")
    assert code == 0 and out.startswith("gradcheck passed: 1 of 1 input agrees")
    assert "[eps=0.001, atol=0, rtol=1e-06]" in out.splitlines()[0]
    assert_main_error(capsys, ["gradcheck", "x", "x=1", "--eps", "0"], "--eps",
                      "must be positive")


@pytest.mark.parametrize("formula, values", [("x/y", ["x=1", "y=1e-7"]),
                                             ("log(x)", ["x=5e-7"])])
def test_gradcheck_near_a_domain_edge_agrees_with_the_library(capsys, formula, values):
    from micrograd_ann.expr import parse
    from micrograd_ann.gradcheck import gradcheck

    code, out, _ = main_output(capsys, "gradcheck", formula, *values)
    names = [v.split("=")[0] for v in values]
    inputs = [Value(float(v.split("=")[1]), n) for v, n in zip(values, names)]
    library = gradcheck(parse(formula).function(names), inputs, raise_exception=False)
    assert code == 0 and library.passed
    assert out.strip() == str(library).strip()


def test_names_are_normalised_as_the_formula_parser_does(capsys, tmp_path):
    code, out, _ = main_output(capsys, "draw", "ﬁ*2", "fi=3", "--out", str(tmp_path))
    assert code == 0 and out.startswith("ﬁ*2 = 6\n") and "  d/dfi = 2\n" in out
    assert_main_error(capsys, ["draw", "fi", "ﬁ=1", "fi=2", "--out", str(tmp_path)],
                      "'fi' is given more than one value")


# ----------------------------------------------------------------- bounded work
# Bounded in CPU seconds of this process (time.process_time), which other processes
# busy on the machine do not stretch as they stretch the wall clock.


def test_tens_of_thousands_of_assignments_are_refused_quickly(capsys, tmp_path):
    pairs = [f"v{i}=1" for i in range(40_000)]
    start = time.process_time()
    assert_main_error(capsys, ["draw", "v0 + v1", *pairs, "--out", str(tmp_path)],
                      "the limit is 100")
    assert time.process_time() - start < 3.0


def test_gradcheck_of_the_largest_formula_allowed_is_quick(capsys):
    names = [f"v{i}" for i in range(expr.MAX_VARIABLES)]
    start = time.process_time()
    code, out, _ = main_output(capsys, "gradcheck", "tanh(" + " * ".join(names) + ")",
                               *(f"{n}=1.001" for n in names))
    assert code == 0 and out.startswith(f"gradcheck passed: {len(names)} of {len(names)}")
    assert time.process_time() - start < 10.0


@pytest.mark.parametrize("args, fragment", [
    (["--hidden", "100000000"], "MLP(2, [100000000, 1]) has 400,000,001 parameters; the "
     "limit is 200,000"),
    (["--samples", "1000000000"], "samples must be at most 100,000, got 1,000,000,000"),
    (["--epochs", "1000000000"], "epochs must be at most 100,000"),
    (["--hidden", "9" * 5000], "expected positive layer sizes like 16,16, got '999"),
    (["--samples", "100000", "--hidden", "64,64"], "weight uses in its graph; the limit is "
     "5,000,000: use a smaller batch_size or model"),
])
def test_sizes_beyond_the_limits_are_one_line_errors_at_once(capsys, tmp_path, args, fragment):
    start = time.process_time()
    line = assert_main_error(capsys, ["train", *args, "--out", str(tmp_path / "out")],
                             fragment)
    assert time.process_time() - start < 3.0 and len(line) < 300


def test_an_unwritable_out_is_found_before_training(capsys):
    assert_main_error(capsys, ["train", "--out", "/proc"], "cannot use --out '/proc'")
    assert capsys.readouterr() == ("", "")  # no progress line: nothing was trained


# -------------------------------------------------------- drawing within a budget


def test_train_compiles_by_default_and_prints_the_losses_it_prints_without(tmp_path):
    """The moons preset: all its 100 steps compiled (the 20 recorded epochs too), every
    loss and accuracy printed, and every file written, as with --no-compile."""
    compiled = run("train", "--graph", "none", "--out", str(tmp_path / "a"))
    plain = run("train", "--graph", "none", "--out", str(tmp_path / "b"), "--no-compile")
    assert compiled.returncode == 0 and plain.returncode == 0, compiled.stderr + plain.stderr
    assert_same_training(compiled, plain, tmp_path, steps=100)


def assert_same_training(compiled: subprocess.CompletedProcess,
                         plain: subprocess.CompletedProcess, tmp_path, steps: int) -> None:
    """`compiled` ran all its `steps` compiled (its files in tmp_path/a), `plain` none (in
    tmp_path/b), and both printed the same progress and accuracies, and wrote the same
    parameters, history and replay page, byte for byte."""
    assert compiled.stderr.startswith("compiled the training step in ")
    assert compiled.stderr.splitlines()[1:] == plain.stderr.splitlines()
    assert compiled.stdout.splitlines()[3].endswith(f"; {steps} steps ran compiled)")
    assert "compil" not in plain.stdout.splitlines()[3]
    assert compiled.stdout.splitlines()[:3] == plain.stdout.splitlines()[:3]
    for name in ("params.json", "history.json", "training.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


@pytest.mark.slow
def test_a_wide_network_trains_and_draws_within_its_budgets(tmp_path):
    """MLP(2, [64, 64, 1]): per neuron its graph is over the drawing budget, so train draws
    the coarser level it fits (it once spent 50 s drawing it per neuron)."""
    done = run("train", "--hidden", "64,64", "--epochs", "1", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert {"network.svg", "params.json", "loss.svg"} <= set(os.listdir(tmp_path))


def test_a_drawing_over_the_budget_is_skipped_saying_which_graph_to_use(capsys, tmp_path):
    code, out, err = main_output(capsys, "train", "--samples", "20", "--hidden", "64,64",
                                 "--epochs", "1", "--graph", "neuron", "--out", str(tmp_path))
    assert code == 0, err
    (note,) = [line for line in err.splitlines() if line.startswith("NOTE")]
    assert note == ("NOTE: graph.svg and backprop.html not drawn: the graph at the neuron "
                    "level has 4,450 nodes and edges, and 2,000 is the most that draw in "
                    "seconds; use --graph layer or --graph network")
    assert "collapse" not in err and "max_nodes" not in err  # no Python option names
    assert "network.svg" in os.listdir(tmp_path) and "graph.svg" not in os.listdir(tmp_path)


@pytest.mark.parametrize("graph, drawn, absent", [
    ("none", set(), {"network.svg", "graph.svg", "graph.dot", "backprop.html"}),
    ("network", {"network.svg", "backprop.html"}, {"graph.svg", "graph.dot"}),
    ("ops", {"network.svg", "graph.svg", "backprop.html"}, {"graph.dot"}),
])
def test_graph_chooses_what_is_drawn(capsys, tmp_path, graph, drawn, absent):
    require_tool("dot")
    code, out, _ = main_output(capsys, "train", "--samples", "20", "--hidden", "3",
                               "--epochs", "1", "--graph", graph, "--out", str(tmp_path))
    assert code == 0
    files = set(os.listdir(tmp_path))
    assert drawn <= files and not absent & files
    assert {"params.json", "loss.svg", "boundary.svg"} <= files
    if "backprop.html" in files:  # the player opens at the level asked for
        data = player_data((tmp_path / "backprop.html").read_text())
        assert data["views"][0]["level"] == graph


def test_the_drawn_loss_names_its_sample_and_target(tmp_path):
    code = cli.main(["train", "--samples", "20", "--hidden", "3", "--epochs", "2", "--out",
                     str(tmp_path)])
    assert code == 0
    written = set(os.listdir(tmp_path))
    graph = (tmp_path / ("graph.svg" if "graph.svg" in written else "graph.dot")).read_text()
    assert re.search(r"loss of sample \d+ \(class [01]\)", graph)


# ------------------------------------------------------------------------ Ctrl-C


def _interrupted(tmp_path, argv: list[str], running: Callable[[subprocess.Popen], object],
                 after: float) -> subprocess.CompletedProcess:
    """`python -m micrograd_ann ARGV`, sent SIGINT `after` seconds past `running(proc)`
    returning: past the interpreter's own start-up, which no program can guard."""
    proc = subprocess.Popen([sys.executable, "-m", "micrograd_ann", *argv], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = running(proc)
        time.sleep(after)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return subprocess.CompletedProcess(argv, proc.returncode, f"{first or ''}{out}", err)


@pytest.mark.skipif(os.name != "posix", reason="SIGINT")
@pytest.mark.parametrize("after", [0.0, 0.3, 0.8, 1.6, 2.5])
def test_ctrl_c_at_any_moment_is_one_line_exit_130_and_no_partial_files(tmp_path, after):
    out = tmp_path / "out"
    done = _interrupted(tmp_path, ["demo", "--out", str(out)],
                        lambda proc: proc.stdout.readline(), after)  # "== 1. Training ..."
    if done.returncode == 0:  # finished first: nothing to check
        assert "All files are in" in done.stdout
        return
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines()[-1] == "micrograd-ann: interrupted"
    assert "Traceback" not in done.stderr
    for name in os.listdir(out):
        assert not name.startswith("."), name  # no temporary file left
        path = out / name
        if name.endswith((".svg", ".html")):
            assert path.read_text().rstrip().endswith(("</svg>", "</html>")), name
        elif name == "params.json":
            assert checkpoint.read(path).architecture["nin"] == 2


LATE_CTRL_C = """
import os, signal, sys, time
import micrograd_ann.__main__ as entry
import micrograd_ann.cli as cli

cli.main = lambda argv=None: print("done") or 0  # a command that has finished


class Late:
    def __del__(self):  # runs while the interpreter tears its modules down
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)


late = Late()
sys.exit(entry.run())
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGINT")
def test_a_ctrl_c_after_the_command_finished_keeps_its_exit_code():
    # Python puts the default Ctrl-C action back while it shuts down: without run()
    # ignoring it, the finished demo died of the signal (exit -2, no message)
    done = subprocess.run([sys.executable, "-c", LATE_CTRL_C], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "done\n"), done.stderr


@pytest.mark.skipif(os.name != "posix", reason="SIGINT")
def test_ctrl_c_while_importing_scikit_learn(tmp_path):
    require_module("sklearn")

    def folder_made(proc: subprocess.Popen) -> None:  # made just before the data is loaded
        deadline = time.monotonic() + 30
        while not (tmp_path / "o").exists() and time.monotonic() < deadline:
            time.sleep(0.002)

    done = _interrupted(tmp_path, ["train", "--dataset", "digits", "--out", "o"], folder_made,
                        0.0)
    assert (done.returncode, done.stderr.splitlines()) == (
        130, ["micrograd-ann: interrupted"]), done.stderr
    assert os.listdir(tmp_path / "o") == []


# ------------------------------------------------------------------- fuzzing

WORDS = st.sampled_from([
    "--dataset", "digits", "moons", "--samples", "--noise", "--hidden", "--activation",
    "--loss", "--optimizer", "--lr", "--epochs", "--batch-size", "--test-fraction", "--seed",
    "--graph", "--out", "--html", "--inputs", "--weights", "--bias", "--eps", "--atol",
    "--rtol", "--help", "--version", "--", "-", "-h", "-x", "x=1", "y=-2", "x", "x*y",
    "-x*y", "tanh(x)", "log(x)", "x/0", "1e309", "nan", "-0", "0", "1", "3", "16,16",
    "1,5,3", "sigmoid", "relu", "sgd", "hinge", "neuron", "layer", "ﬁ=1", "fi", "\udcff",
    "x==1", "x=", "=1", "é=2", "lambda: x", "__import__('os')", "9" * 30,
])
COMMAND = st.sampled_from(["train", "neuron", "draw", "gradcheck", "explain", "demo",
                           "code", "nope"])


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=COMMAND, words=st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=7))
def test_random_command_lines_end_in_an_exit_code_never_a_traceback(monkeypatch, capsys,
                                                                   tmp_path, command, words):
    def no_training(config, *args, **kwargs):
        raise ValueError("stopped before training (fuzzing the parser)")

    monkeypatch.setattr(training, "train", no_training)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # DOT source: fast
    monkeypatch.chdir(tmp_path)
    code = cli.main([command, *words])
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), (code, out, err)
    if code == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("micrograd-ann"), err
        assert "error: " in lines[0], err
    assert "Traceback" not in err


def test_code_prints_the_backward_pass_as_python_that_runs(capsys):
    code, out, _ = main_output(capsys, "code", "x*x + y", "x=3", "y=1")
    assert code == 0 and out.startswith("def backward_of_v3(v0=3.0, v1=1.0):")
    assert "# leaves: v0 x, v1 y" in out
    scope: dict = {}
    exec(out, scope)
    value, grads = scope["backward_of_v3"]()
    assert (value, grads) == (10.0, {"v0": 6.0, "v1": 1.0})
    assert_main_error(capsys, ["code", "x*x", "x=3", "y=1"], "'y' is given a value but not used")


# ------------------------------------------------- first steps, counts, re-runs


@pytest.mark.parametrize("sizes", ["16,,16", "16,", ",16", ","])
def test_a_missing_layer_size_is_refused(capsys, tmp_path, sizes):
    line = assert_main_error(capsys, ["train", "--hidden", sizes, "--out", str(tmp_path)],
                             f"argument --hidden: a layer size is missing in {sizes!r}")
    assert "give sizes like 16,16" in line
    assert os.listdir(tmp_path) == []  # refused before the folder was used


def test_no_hidden_layer_is_still_an_empty_list():
    parser = cli.build_parser()
    assert parser.parse_args(["train", "--hidden", ""]).hidden == []
    assert parser.parse_args(["train", "--hidden", "16, 8"]).hidden == [16, 8]


def test_a_loss_blowing_up_mid_run_warns_with_its_epoch_even_if_it_comes_down(capsys,
                                                                              tmp_path):
    code, out, err = main_output(capsys, "train", "--lr", "100", "--epochs", "5", "--graph",
                                 "none", "--out", str(tmp_path))
    assert code == 0, err
    losses = [float(m) for m in re.findall(r"^epoch \d/5  loss (\S+)", err, re.M)]
    assert len(losses) == 5 and losses[-1] < max(losses) == losses[1]  # peak at epoch 2
    (warning,) = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert warning == (
        f"warning: the loss grew from {formatting.loss(losses[0])} (epoch 1) to "
        f"{formatting.loss(losses[1])} (epoch 2), ending at "
        f"{formatting.loss(losses[-1])}; the learning rate is probably too large (try a "
        "smaller lr, e.g. 10)")
    assert losses[1] > 1e6 * losses[0]


def test_counts_of_one_are_singular(capsys, tmp_path):
    require_tool("dot")
    assert_main_error(capsys, ["neuron", "--inputs", "1", "--weights", "1,2"],
                      "--inputs has 1 value but --weights has 2")
    code, out, _ = main_output(capsys, "gradcheck", "exp(x)", "x=1")
    assert code == 0 and out.startswith("gradcheck passed: 1 of 1 input agrees  [")
    code, out, _ = main_output(capsys, "draw", "x*2", "x=1", "--html", "--out", str(tmp_path))
    steps = player_data((tmp_path / "expression.html").read_text())["steps"]
    assert code == 0 and len(steps) == 2  # step 0 (the seed), then the one step
    assert steps[0]["text"].endswith(": 1 step")


def test_a_rerun_says_which_files_it_replaced(capsys, tmp_path):
    main_output(capsys, "draw", "x*2", "x=1", "--out", str(tmp_path))
    code, out, _ = main_output(capsys, "draw", "x*2", "x=3", "--html", "--out", str(tmp_path))
    assert code == 0
    written = [line for line in out.splitlines() if " " + str(tmp_path) in line]
    svg, page = (os.path.join(tmp_path, f"expression.{ext}") for ext in ("svg", "html"))
    if os.path.exists(svg):  # dot installed
        assert written == [f"replaced {svg}", f"wrote {page}"]
    else:
        assert written == [f"replaced {os.path.join(tmp_path, 'expression.dot')}"]


def test_help_says_what_to_try_first_and_each_suggestion_runs(capsys, monkeypatch, tmp_path):
    code, out, _ = main_output(capsys, "--help")
    start = out[out.index("start with:\n"):].splitlines()[1:]
    assert [line.split()[:2] for line in start] == [
        ["micrograd-ann", name] for name in ("demo", "explain", "draw", "COMMAND")]
    assert start[0].split() == ["micrograd-ann", "demo", "train", "an", "MLP,", "explain",
                                "a", "neuron"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # DOT source: fast
    explain, draw = (shlex.split(command) for command, _ in cli.TRY_FIRST[1:3])
    code, out, err = main_output(capsys, *explain)
    assert code == 0 and re.search(r"^ *x\.grad = -2\.35934$", out, re.M), err
    code, out, err = main_output(capsys, *draw)
    assert code == 0 and "  d/dx = -2.35934\n" in out, err
    assert os.listdir(tmp_path / cli.DEFAULT_OUT) == ["expression.dot"]


def test_the_demo_ends_with_pages_to_open_and_commands_to_try(capsys, monkeypatch, tmp_path):
    small = {**training.PRESETS["moons"], "samples": 20, "hidden": [2], "epochs": 2}
    monkeypatch.setitem(training.PRESETS, "moons", small)
    bin_folder = os.path.dirname(sys.executable)  # .venv/bin, with micrograd-ann in it
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))  # not on PATH, no dot either
    monkeypatch.chdir(tmp_path)  # bin_folder is outside it: shown in full
    out = tmp_path / "out"
    assert cli.main(["demo", "--out", str(out)]) == 0
    closing = capsys.readouterr().out.split("\n\n")[-1].splitlines()
    assert closing[0] == f"All files are in {out}/."
    assert closing[1].startswith("Open the pages in a browser")
    assert closing[2].split() == [(out / "training.html").as_uri(), "the", "training", "run,",
                                  "epoch", "by", "epoch"]
    assert closing[3] == "Next, try:"
    assert [line.split()[:2] for line in closing[4:7]] == [
        ["micrograd-ann", "explain"], ["micrograd-ann", "draw"], ["micrograd-ann", "COMMAND"]]
    assert closing[7:] == [f"(micrograd-ann is in {bin_folder}, not on your PATH: run `source "
                           f"{bin_folder}/activate` first, or type {bin_folder}/micrograd-ann)"]
    # On PATH: no hint. A second run replaces every file the first one wrote.
    monkeypatch.setenv("PATH", bin_folder + os.pathsep + str(tmp_path / "no-bin"))
    assert cli.main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    replaced = len(re.findall(r"^replaced ", printed, re.M))
    assert replaced == len(os.listdir(out)) and "\nwrote " not in printed
    closing = printed.split("\n\n")[-1].splitlines()
    assert closing[0] == f"All files are in {out}/ ({replaced} files of an earlier run replaced)."
    assert closing[-1].split()[:2] == ["micrograd-ann", "COMMAND"]
