"""The `micrograd-ann` command line: train, neuron, draw, gradcheck, explain and demo.

Only this module reads argv and prints. A user error (a bad flag value, an unknown
dataset, a malformed formula) is one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from typing import Callable, Sequence

from . import datasets, expr, training
from .engine import OPS, OpError, Value, preserved_grads, topological_order
from .nn import ACTIVATIONS, Neuron
from .trace import explain, format_number

DEFAULT_OUT = "micrograd-ann-out"
_dot_missing = False  # set when `dot` is found missing: note it once per run, and in demo

# The seed tutorial's neuron. It printed 0.865; w.x + b = 2.5 and sigmoid(2.5) = 0.9241.
TUTORIAL_NEURON = {"inputs": [1.0, 5.0, 3.0], "weights": [0.2, 0.5, -0.1], "bias": 0.1,
                   "activation": "sigmoid"}

FORMULA_COMMANDS = ("draw", "gradcheck", "explain")  # take EXPR and NAME=VALUE (-NAME VALUE)

EXPR_HELP = (
    f"\n\nEXPR is Python syntax using only {expr.ALLOWED}.\n"
    "It is parsed, never evaluated as code. "
    "Give each variable a value as NAME=VALUE (or -NAME VALUE) after EXPR:\n\n"
    "  micrograd-ann draw 'tanh(x*w + b)' x=0.5 w=-3 b=2\n"
    "  micrograd-ann draw 'tanh(x*w + b)' -x 0.5 -w -3 -b 2\n\n"
    "A formula that starts with '-' goes in parentheses: draw '(-x*y)' x=1 y=2."
)


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (with a pointer to --help), not a page."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# --------------------------------------------------------------- argument types


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: `kind` (_number or _integer), which must be above zero."""

    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
        return value

    return parse


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0.0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _sizes(text: str) -> list[int]:
    """'16,16' -> [16, 16]; '' -> [] (no hidden layer)."""
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected positive layer sizes like 16,16, got {text!r}")
    return [int(p) for p in parts]


def _numbers(text: str) -> list[float]:
    """'1,5,3' -> [1.0, 5.0, 3.0]."""
    return [_number(p) for p in text.split(",")]


def _assignment(text: str) -> tuple[str, float]:
    """'x=0.5' -> ('x', 0.5)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. x=0.5), got {text!r}")
    return name.strip(), _number(value)


def _dash_variables(argv: list[str]) -> list[str]:
    """`draw EXPR -x 0.5 -w -3` rewritten as `draw EXPR x=0.5 w=-3` for argparse.

    -NAME VALUE is a variable when NAME is an identifier other than h (help) and VALUE
    reads as a number; anything else is left for argparse to judge.
    """
    if not argv or argv[0] not in FORMULA_COMMANDS:
        return argv
    out = [argv[0]]
    i = 1
    while i < len(argv):
        name = argv[i][1:]
        if (argv[i].startswith("-") and name.isidentifier() and name != "h"
                and i + 1 < len(argv) and _is_float(argv[i + 1])):
            out.append(f"{name}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The full command-line interface; each subcommand sets `func`."""
    parser = _Parser(prog="micrograd-ann",
                     description="A scalar autograd engine where every gradient step is visible.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train an MLP on a built-in dataset",
                           description="Train an MLP on a built-in dataset, show progress, "
                           "and write parameters, plots, a graph and a backprop player. "
                           "Options left unset take the dataset's preset (below).",
                           epilog=_presets_help(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_train_arguments(train)
    train.set_defaults(func=cmd_train)

    neuron = sub.add_parser("neuron", help="the tutorial's neuron, forward and backward",
                            description="The seed tutorial's neuron: forward value, the "
                            "backward pass step by step, and its graph.")
    _add_neuron_arguments(neuron)
    _add_output_arguments(neuron)
    neuron.set_defaults(func=cmd_neuron)

    _add_formula_command(sub, "draw", "draw the graph of a formula, with gradients",
                         cmd_draw, output=True)
    _add_formula_command(sub, "gradcheck",
                         "compare a formula's gradients with finite differences", cmd_gradcheck)
    _add_formula_command(sub, "explain", "print a formula's backward pass step by step",
                         cmd_explain, optional=True)

    demo = sub.add_parser("demo", help="train on moons, then explain the neuron",
                          description="Train an MLP on two moons with the default settings, "
                          "then run `neuron`, and list the files written.")
    _add_out_argument(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def _add_formula_command(sub, name: str, summary: str, func: Callable[..., int],
                         optional: bool = False, output: bool = False) -> None:
    """A subcommand taking EXPR (left out only when `optional`) and NAME=VALUE pairs."""
    cmd = sub.add_parser(name, help=summary, description=summary + ". " + EXPR_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("expr", metavar="EXPR", nargs="?" if optional else None,
                     help="e.g. 'tanh(x*w + b)'"
                     + (" (default: the tutorial's neuron)" if optional else ""))
    cmd.add_argument("assignments", metavar="NAME=VALUE", nargs="*", type=_assignment,
                     help="a value for each variable, e.g. x=0.5 w=-3 b=2")
    if output:
        _add_output_arguments(cmd)
    cmd.set_defaults(func=func)


def _presets_help() -> str:
    """One line per dataset listing its preset, for `train --help`."""
    lines = ["presets (batch_size 0 = the whole training set):"]
    for name, preset in training.PRESETS.items():
        shown = [f"{k}={_shown(v)}" for k, v in preset.items() if v is not None]
        lines.append(f"  {name:<8} {' '.join(shown)}")
    return "\n".join(lines)


def _shown(value: object) -> str:
    """A default as help shows it: [16, 16] -> '16,16'; {'adam': 0.05} -> 'adam:0.05'."""
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(f"{v:g}" for v in value)
    return str(value)


def _add_train_arguments(cmd: argparse.ArgumentParser) -> None:
    per_dataset = "default: per dataset"
    cmd.add_argument("--dataset", choices=list(training.PRESETS), default="moons",
                     help="default: %(default)s (digits needs scikit-learn)")
    cmd.add_argument("--samples", type=_positive(_integer), help=f"dataset size ({per_dataset})")
    cmd.add_argument("--noise", type=_non_negative, help=f"2-D datasets ({per_dataset})")
    cmd.add_argument("--hidden", type=_sizes, metavar="N,N,...",
                     help=f"hidden layer sizes, e.g. 16,16 ({per_dataset})")
    cmd.add_argument("--activation", choices=[a for a in ACTIVATIONS if a != "linear"],
                     help=f"hidden activation ({per_dataset})")
    cmd.add_argument("--loss", choices=list(training.LOSSES),
                     help=f"hinge, bce and mse(+-1) need two classes ({per_dataset})")
    cmd.add_argument("--optimizer", choices=list(training.OPTIMIZERS), help=per_dataset)
    cmd.add_argument("--lr", type=_positive(_number),
                     help=f"learning rate ({per_dataset} and optimizer)")
    cmd.add_argument("--epochs", type=_positive(_integer), help=per_dataset)
    cmd.add_argument("--batch-size", type=_positive(_integer),
                     help=f"samples per step ({per_dataset}; moons: the whole training set)")
    cmd.add_argument("--test-fraction", type=_fraction, default=0.2,
                     help="share held out for testing (default: %(default)s)")
    cmd.add_argument("--seed", type=int, default=0, help="data, split, init and shuffling "
                     "(default: %(default)s)")
    _add_out_argument(cmd)


def _add_neuron_arguments(cmd: argparse.ArgumentParser) -> None:
    tn = TUTORIAL_NEURON
    cmd.add_argument("--inputs", type=_numbers, default=tn["inputs"], metavar="X,X,...",
                     help=f"input values (default: {_shown(tn['inputs'])})")
    cmd.add_argument("--weights", type=_numbers, default=tn["weights"], metavar="W,W,...",
                     help=f"one weight per input (default: {_shown(tn['weights'])})")
    cmd.add_argument("--bias", type=_number, default=tn["bias"], help="default: %(default)s")
    cmd.add_argument("--activation", choices=list(ACTIVATIONS), default=tn["activation"],
                     help="default: %(default)s")


def _add_out_argument(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")


def _add_output_arguments(cmd: argparse.ArgumentParser) -> None:
    _add_out_argument(cmd)
    cmd.add_argument("--html", action="store_true",
                     help="also write a backprop player page (.html) to step through")


# --------------------------------------------------------------------- commands


def cmd_train(args: argparse.Namespace) -> int:
    """Train, report, and write parameters, plots, graph and player page."""
    fields = {f.name for f in dataclasses.fields(training.TrainConfig)}
    config = training.TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    _make_folder(args.out)
    try:
        run = training.train(config, progress=sys.stderr)
    except ImportError as exc:
        if str(exc) != datasets.DIGITS_INSTALL_HINT:
            raise  # a broken installation, not the one optional import (scikit-learn)
        raise CliError(str(exc)) from None
    except ValueError as exc:  # a loss that does not fit the data, a diverging run
        raise CliError(str(exc)) from None
    print(run.summary())
    files = training.write_outputs(run, args.out)
    files.extend(_write_graph(run.sample_loss, args.out, "graph", html=True,
                              collapse="neuron"))
    _list_files(files)
    return 0


def _tutorial_neuron(args: argparse.Namespace) -> tuple[Value, Value]:
    """The neuron as separate ops (w_i * x_i, +, activation): pre-activation and output.

    Products are labelled "w0x0", ..., running sums "s1", "s2", ..., the last one "n".
    """
    if len(args.inputs) != len(args.weights):
        raise CliError(f"--inputs has {len(args.inputs)} values but --weights has "
                       f"{len(args.weights)}; give one weight per input")
    neuron = Neuron(len(args.inputs), args.activation, fused=False)
    for w, value in zip(neuron.w, args.weights):
        w.data = value
    neuron.b.data = args.bias
    out = neuron([Value(x, f"x{i}") for i, x in enumerate(args.inputs)])
    n = out.parents[0] if args.activation != "linear" else out
    sums = 0
    for node in topological_order(n):
        if node.op is OPS["mul"]:
            node.label = "".join(p.label for p in node.parents)
        elif node.op is OPS["add"]:
            sums += 1
            node.label = f"s{sums}"
    n.label = "n"
    if out is not n:
        out.label = "out"
    return n, out


def cmd_neuron(args: argparse.Namespace) -> int:
    """Forward value, the misprint note, the backward pass step by step, and the graph."""
    n, out = _tutorial_neuron(args)
    _make_folder(args.out)
    print(f"neuron: x = {args.inputs}, w = {args.weights}, b = {args.bias}, {args.activation}")
    print(f"forward: n = w.x + b = {n.data:.4g}; out = {args.activation}(n) = {out.data:.4f}"
          if out is not n else f"forward: n = w.x + b = {n.data:.4f} (no activation)")
    is_tutorial = all(getattr(args, k) == v for k, v in TUTORIAL_NEURON.items())
    if is_tutorial:
        print(f"(The tutorial printed 0.865 -- a misprint: w.x + b = {n.data:g} and "
              f"sigmoid({n.data:g}) = {out.data:.4f}.)")
    print()
    print(explain(out))
    _list_files(_write_graph(out, args.out, "neuron", html=args.html))
    return 0


def _formula(args: argparse.Namespace) -> expr.Formula:
    """The parsed formula; every problem with the command line around it is a one-line error."""
    if "=" in args.expr:
        raise CliError(f"{args.expr!r}: the formula comes first, then NAME=VALUE for each "
                       "variable, e.g. 'x*y' x=2 y=3")
    names = [name for name, _ in args.assignments]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CliError(f"variable {duplicates[0]!r} is given more than one value")
    return expr.parse(args.expr)


def cmd_draw(args: argparse.Namespace) -> int:
    """Compute the formula and its gradients, print them, and draw the graph."""
    root, leaves = _formula(args).evaluate(dict(args.assignments))
    _make_folder(args.out)
    root.backward()
    print(f"{args.expr} = {format_number(root.data)}")
    for name, leaf in leaves.items():
        print(f"  d/d{name} = {format_number(leaf.grad)}")
    _list_files(_write_graph(root, args.out, "expression", html=args.html))
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    """Print the gradcheck table; exit code 1 when a gradient disagrees."""
    from .gradcheck import gradcheck

    formula = _formula(args)  # parsed once, evaluated at every probe
    formula.evaluate(dict(args.assignments))  # report formula errors before any checking
    names = [name for name, _ in args.assignments]
    inputs = [Value(value, name) for name, value in args.assignments]
    report = gradcheck(lambda xs: formula.evaluate(dict(zip(names, xs)))[0], inputs,
                       raise_exception=False)
    print(report)
    return 0 if report.passed else 1


def cmd_explain(args: argparse.Namespace) -> int:
    """explain() on the formula, or on the tutorial's neuron when no formula is given."""
    if args.expr is None:
        if args.assignments:
            raise CliError("NAME=VALUE needs a formula before it")
        args = argparse.Namespace(**TUTORIAL_NEURON)
        root = _tutorial_neuron(args)[1]
    else:
        root = _formula(args).evaluate(dict(args.assignments))[0]
    print(explain(root))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """`train` on moons with its defaults, then `neuron`, then where the files are."""
    parser = build_parser()
    _make_folder(args.out)
    print("== 1. Training an MLP on two moons ==")
    cmd_train(parser.parse_args(["train", "--out", args.out]))
    print("\n== 2. The tutorial's neuron, forward and backward ==")
    cmd_neuron(parser.parse_args(["neuron", "--out", args.out, "--html"]))
    where = os.path.abspath(args.out)
    if _dot_missing:
        print(f"\n{_dot_note()}\nAll files are in {where}/.")
    else:
        print(f"\nAll files are in {where}/ -- open the .svg graphs and plots, and the .html "
              "pages (step through backprop), in a browser.")
    return 0


# ---------------------------------------------------------------------- output


def _write_graph(root: Value, out: str, stem: str, html: bool, **options) -> list[str]:
    """SVG of the graph (DOT source when `dot` is missing) and, if asked, the player page."""
    from . import player, viz

    try:
        files = [viz.render(root, os.path.join(out, stem + ".svg"), **options)]
        if html:
            page = "backprop.html" if stem == "graph" else stem + ".html"
            # The graph already ran backward; the page replays it, so it starts from zero
            # grads (else the leaves would end at twice their gradient).
            with preserved_grads(root) as nodes:
                for node in nodes:
                    node.grad = 0.0
                files.append(str(player.render_html(root, os.path.join(out, page),
                                                    **options)))
    except viz.DotNotFoundError:
        path = os.path.join(out, stem + ".dot")
        files = [training.write_text(path, viz.to_dot(root, **options))]
        _note_dot_missing()
    except (viz.GraphTooLargeError, viz.RenderTimeoutError) as exc:
        print(f"NOTE: {stem} not drawn: {exc}", file=sys.stderr)
        files = []
    return files


def _dot_note() -> str:
    """What was written instead of SVG and HTML, and how to install Graphviz."""
    from . import viz

    return ("Graphs were saved as DOT source (.dot): the SVG graphs and backprop players "
            f"(.html) need Graphviz. {viz.INSTALL_HINT}")


def _note_dot_missing() -> None:
    global _dot_missing
    if not _dot_missing:
        print(f"NOTE: {_dot_note()}", file=sys.stderr)
    _dot_missing = True


def _make_folder(out: str) -> None:
    """Create the output folder before any work, so a bad --out fails at once."""
    if not out:
        raise CliError("--out is empty; give a folder name")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot use --out {out!r} as a folder: {exc.strerror}") from None


def _list_files(paths: Sequence[str]) -> None:
    for path in paths:
        print(f"wrote {path}")


# ------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 check failed, 2 user error)."""
    if hasattr(sys.stdout, "reconfigure"):  # keep progress (stderr) and results in order
        sys.stdout.reconfigure(line_buffering=True)
    global _dot_missing
    _dot_missing = False  # a new run: say it again, also when main() is called in-process
    parser = build_parser()
    args = parser.parse_args(_dash_variables(list(sys.argv[1:] if argv is None else argv)))
    try:
        return args.func(args)
    except (CliError, expr.ExprError, OpError) as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `micrograd-ann explain | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # e.g. no permission to write into --out
        where = f" {exc.filename!r}" if exc.filename else ""
        print(f"{parser.prog} {args.command}: error: cannot write{where}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
