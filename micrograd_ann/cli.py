"""The `micrograd-ann` command line: train, neuron, draw, gradcheck, explain and demo.

Only this module reads argv and prints: training runs the loop, the tools compute, and
outputs writes the files and says, as data, what it wrote. A user error -- a bad flag
value, an unknown dataset, a malformed formula, a size beyond a documented limit -- is one
line on stderr and exit code 2, never a traceback; Ctrl-C is one line and exit code 130.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import math
import os
import pathlib
import shutil
import sys
from typing import Callable, NamedTuple, Sequence

from . import codegen, expr, formatting, losses, training
from .activations import ACTIVATIONS
from .views import outputs
from .checks import OpError
from .engine import OPS, Value, topological_order
from .extras import MissingExtraError
from .gradcheck import gradcheck
from .nn import (TUTORIAL_ACTIVATION, TUTORIAL_BIAS, TUTORIAL_INPUTS, TUTORIAL_WEIGHTS,
                 Neuron)
from .trace import explain

PROG = "micrograd-ann"
DEFAULT_OUT = "micrograd-ann-out"
INTERRUPTED = f"{PROG}: interrupted"  # also printed by __main__ when Ctrl-C comes sooner
DOT_NOTE = ("Graphviz's `dot` is not installed: graphs were saved as DOT source (.dot), and "
            "the SVG graphs and backprop players (.html) need Graphviz. Install it: "
            "apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS) or "
            "conda install graphviz.")
_LONGEST_ERROR = 300  # characters: an error quoting a huge argument stays readable
# What to run first (`--help` lists them all; the demo ends with the ones after itself).
TRY_FIRST = (
    ("demo", "train an MLP, explain a neuron"),
    ("explain 'tanh(x*w + b)' x=0.5 w=-3 b=2", "backward, step by step"),
    ("draw 'tanh(x*w + b)' x=0.5 w=-3 b=2 --html", "its graph, a page to step"),
    ("COMMAND --help", "options and examples"),
)
# The pages the demo writes, as its closing lines describe them.
PAGES = {"training.html": "the training run, epoch by epoch",
         "backprop.html": "backprop of the hardest sample's loss, step by step",
         "neuron.html": "the tutorial's neuron, step by step"}

EXPR_HELP = (
    f"EXPR is Python syntax using only {expr.ALLOWED}. It is parsed, never run as code. "
    "Give each variable a value after EXPR, as NAME=VALUE or -NAME VALUE (a variable "
    "named h needs h=VALUE: -h asks for help). A formula that starts with '-' goes in "
    "parentheses, '(-x*y)', or after --, e.g. -- '-x*y' x=1 y=2 (options before the --).")


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (with a pointer to --help), not a page."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def _one_line(message: str) -> str:
    """`message` on one line, its middle cut out if it is very long (a huge argument)."""
    message = " ".join(message.split())
    if len(message) <= _LONGEST_ERROR:
        return message
    return message[:_LONGEST_ERROR - 80] + " ... " + message[-75:]


def _quoted(text: str) -> str:
    """`text` as an error message quotes it: repr, cut to 40 characters."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


# --------------------------------------------------------------- argument types


def _number(text: str) -> float:
    """A finite float; -0 is read as 0, so no result shows as -0 because of it."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {_quoted(text)}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {_quoted(text)}")
    return value + 0.0


def _integer(text: str) -> int:
    """A whole number of at most 18 digits (more is no count or seed anyone means)."""
    if len(text.strip().lstrip("+-")) > 18:  # also keeps int() clear of its digit limit
        raise argparse.ArgumentTypeError(f"expected a whole number of at most 18 digits, "
                                         f"got {_quoted(text)}")
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {_quoted(text)}") from None


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type: `kind` (_number or _integer), which must be above zero."""

    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {_quoted(text)}")
        return value

    return parse


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {_quoted(text)}")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0.0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {_quoted(text)}")
    return value


def _sizes(text: str) -> list[int]:
    """'16,16' -> [16, 16]; '' -> [] (no hidden layer); '16,,16' is refused (a size left
    out is more likely a typo than a wish for two layers)."""
    text = text.replace(" ", "")
    parts = text.split(",") if text else []
    if "" in parts:
        raise argparse.ArgumentTypeError(f"a layer size is missing in {_quoted(text)} (two "
                                         "commas, or one at an end); give sizes like 16,16")
    if not all(p.isascii() and p.isdigit() and len(p) <= 18 and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"expected positive layer sizes like 16,16, "
                                         f"got {_quoted(text)}")
    return [int(p) for p in parts]


def _numbers(text: str) -> list[float]:
    """'1,5,3' -> [1.0, 5.0, 3.0]."""
    return [_number(p) for p in text.split(",")]


def _assignment(text: str) -> tuple[str, float]:
    """'x=0.5' -> ('x', 0.5); the name is checked (and normalised) with the formula's."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. x=0.5), got {_quoted(text)}")
    return name.strip(), _number(value)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _formula_argv(argv: list[str]) -> list[str]:
    """A formula command's argv for argparse: `-x 0.5` rewritten as `x=0.5`, and a formula
    that starts with '-' (which argparse would take for an option) explained.

    -NAME VALUE is a variable when NAME is an identifier other than h (help) and VALUE
    reads as a number. Everything after `--` is left alone.
    """
    out = argv[:1]
    i = 1
    while i < len(argv):
        arg, name = argv[i], argv[i][1:]
        if arg == "--":
            return out + argv[i:]
        if (arg.startswith("-") and name.isidentifier() and name != "h"
                and i + 1 < len(argv) and _is_float(argv[i + 1])):
            out.append(f"{name}={argv[i + 1]}")
            i += 2
            continue
        if arg[:1] == "-" and arg[:2] != "--" and arg not in ("-", "-h") and not _is_float(arg):
            raise CliError(f"{_quoted(arg)} starts with '-', so it reads as an option: put a "
                           f"formula that starts with '-' in parentheses, {_quoted(f'({arg})')}"
                           ", or after --, and give a variable as -NAME VALUE")
        out.append(arg)
        i += 1
    return out


# --------------------------------------------------------------------- report


class Report:
    """Prints what a command wrote: a line per file ("replaced" for a file an earlier run
    left in the folder, "wrote" for a new one), a note per drawing skipped, and the note
    that `dot` is missing once per run (`dot_missing` remembers it)."""

    def __init__(self, folder: str | None = None) -> None:
        self.dot_missing = False
        self.before = _files_in(folder)  # what the output folder held before this run
        self.written: list[str] = []
        self.replaced: list[str] = []

    def files(self, written: outputs.Written, graph_option: bool = False) -> None:
        """List `written`; with `graph_option`, a skipped drawing names the --graph to use."""
        for path in written.files:
            self.written.append(path)
            if os.path.realpath(path) in self.before:
                self.replaced.append(path)
                print(f"replaced {path}")
            else:
                print(f"wrote {path}")
        for skipped in written.skipped:
            use = ""
            if graph_option and skipped.fits:
                use = "; use " + " or ".join(f"--graph {view}" for view in skipped.fits)
            print(f"NOTE: {' and '.join(skipped.files)} not drawn: {skipped.reason}{use}",
                  file=sys.stderr)
        if written.dot_missing and not self.dot_missing:
            print(f"NOTE: {DOT_NOTE}", file=sys.stderr)
        self.dot_missing = self.dot_missing or written.dot_missing


def _files_in(folder: str | None) -> set[str]:
    """The real paths of the files in `folder` (none if it is not a readable folder)."""
    try:
        names = os.listdir(folder) if folder else []
    except OSError:
        return set()
    return {os.path.realpath(os.path.join(folder, name)) for name in names}


def _prepare(out: str) -> None:
    """The output folder, made and checked before any work: a bad --out fails at once."""
    try:
        outputs.prepare_folder(out)
    except outputs.FolderError as exc:
        raise CliError(f"cannot use --out {out!r} as a folder: {exc.reason}") from None


# --------------------------------------------------------------------- commands


def cmd_train(args: argparse.Namespace, report: Report) -> int:
    """Train, report, and write parameters, plots, the network view, graph and player."""
    fields = {f.name for f in dataclasses.fields(training.TrainConfig)}
    config = training.TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    try:
        training.resolve(config)  # every setting checked before the folder or any work
    except training.UnusedSettingError as exc:
        raise CliError(f"--{exc.field} does not apply to --dataset {exc.dataset}: "
                       f"{exc}") from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    _prepare(args.out)
    try:
        run = training.train(config, progress=sys.stderr, history=True,
                             compiled=args.compile)
    except (MissingExtraError, ValueError) as exc:  # scikit-learn, a loss, a diverging run
        raise CliError(str(exc)) from None
    print(run.summary())
    warning = run.warning()
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    for written in outputs.write_run(run, args.out, args.graph):  # listed as written
        report.files(written, graph_option=True)
    return 0


def _neuron(inputs: Sequence[float], weights: Sequence[float], bias: float,
            activation: str) -> tuple[Value, Value]:
    """A neuron as separate ops (w_i * x_i, +, activation): its pre-activation and output.

    Products are labelled "w0x0", ..., running sums "s1", "s2", ..., the last one "n".
    """
    if len(inputs) != len(weights):
        raise CliError(f"--inputs has {formatting.plural(len(inputs), 'value')} but --weights "
                       f"has {len(weights)}; give one weight per input")
    neuron = Neuron(len(inputs), activation, fused=False)
    for w, value in zip(neuron.w, weights):
        w.data = value
    neuron.b.data = bias
    out = neuron([Value(x, f"x{i}") for i, x in enumerate(inputs)])
    n = out.parents[0] if ACTIVATIONS[activation].op is not None else out
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


def cmd_neuron(args: argparse.Namespace, report: Report) -> int:
    """Forward value, the misprint note, the backward pass step by step, and the graph."""
    n, out = _neuron(args.inputs, args.weights, args.bias, args.activation)
    _prepare(args.out)
    print(f"neuron: x = {args.inputs}, w = {args.weights}, b = {args.bias}, {args.activation}")
    if out is n:
        print(f"forward: n = w.x + b = {n.data + 0.0:.4f} (no activation)")
    else:
        print(f"forward: n = w.x + b = {n.data + 0.0:.4g}; "
              f"out = {args.activation}(n) = {out.data + 0.0:.4f}")
    tutorial = (list(TUTORIAL_INPUTS), list(TUTORIAL_WEIGHTS), TUTORIAL_BIAS, TUTORIAL_ACTIVATION)
    if (args.inputs, args.weights, args.bias, args.activation) == tutorial:
        print(f"(The tutorial printed 0.865 -- a misprint: w.x + b = {n.data:g} and "
              f"sigmoid({n.data:g}) = {out.data:.4f}.)")
    print()
    print(explain(out))
    report.files(outputs.write_graph(out, args.out, "neuron", level="ops",
                                     page="neuron.html" if args.html else None))
    return 0


def _formula(args: argparse.Namespace) -> tuple[expr.Formula, dict[str, float]]:
    """The parsed formula and its variables by normalised name (expr's rules, in linear
    time); every problem with the command line around them is a one-line error."""
    name, sep, value = args.expr.partition("=")
    if sep and name.strip().isidentifier() and _is_float(value):
        raise CliError(f"{_quoted(args.expr)} is NAME=VALUE: the formula comes first, then a "
                       "value for each variable, e.g. 'x*y' x=2 y=3")
    variables = expr.normalise_variables(args.assignments)
    return expr.parse(args.expr), variables


def cmd_draw(args: argparse.Namespace, report: Report) -> int:
    """Compute the formula and its gradients, print them, and draw the graph."""
    formula, variables = _formula(args)
    root, leaves = formula.evaluate(variables)
    _prepare(args.out)
    root.backward()
    print(f"{args.expr.strip()} = {formatting.number(root.data)}")
    for name, leaf in leaves.items():
        print(f"  d/d{name} = {formatting.number(leaf.grad)}")
    report.files(outputs.write_graph(root, args.out, "expression",
                                     page="expression.html" if args.html else None))
    return 0


def cmd_gradcheck(args: argparse.Namespace, report: Report) -> int:
    """Print the gradcheck table; exit code 1 when a gradient disagrees."""
    formula, variables = _formula(args)  # parsed once, evaluated at every probe
    formula.evaluate(variables)  # report formula errors before any checking
    names = list(variables)
    inputs = [Value(value, name) for name, value in variables.items()]
    tolerances = {k: getattr(args, k) for k in ("eps", "atol", "rtol")
                  if getattr(args, k) is not None}
    try:
        result = gradcheck(formula.function(names), inputs, raise_exception=False,
                           **tolerances)
    except ValueError as exc:  # tolerances the check cannot use
        raise CliError(str(exc)) from None
    print(result)
    return 0 if result.passed else 1


def cmd_explain(args: argparse.Namespace, report: Report) -> int:
    """explain() on the formula, or on the tutorial's neuron when no formula is given."""
    if args.expr is None:
        if args.assignments:
            raise CliError("NAME=VALUE needs a formula before it")
        root = _neuron(TUTORIAL_INPUTS, TUTORIAL_WEIGHTS, TUTORIAL_BIAS, TUTORIAL_ACTIVATION)[1]
    else:
        formula, variables = _formula(args)
        root = formula.evaluate(variables)[0]
    print(explain(root))
    return 0


def cmd_code(args: argparse.Namespace, report: Report) -> int:
    """Print the formula's forward and backward pass as a Python function (codegen)."""
    formula, variables = _formula(args)
    root, _ = formula.evaluate(variables)
    root.label = root.label or "out"
    print(codegen.to_source(root), end="")
    return 0


def cmd_demo(args: argparse.Namespace, report: Report) -> int:
    """`train` on moons with its defaults, then `neuron --html`, then where the files are."""
    _prepare(args.out)
    print("== 1. Training an MLP on two moons ==")
    _run(["train", "--out", args.out], report)
    print("\n== 2. The tutorial's neuron, forward and backward ==")
    _run(["neuron", "--out", args.out, "--html"], report)
    where = os.path.abspath(args.out)
    if report.dot_missing:
        print(f"\n{DOT_NOTE}")
    replaced = (f" ({formatting.plural(len(report.replaced), 'file')} of an earlier run "
                "replaced)" if report.replaced else "")
    print(f"\nAll files are in {where}/{replaced}.")
    pages = [path for path in report.written if path.endswith(".html")]
    if pages:
        print("Open the pages in a browser (click, or paste the address); the .svg files "
              "open there too:")
        width = max(len(_uri(path)) for path in pages)
        for path in pages:
            print(f"  {_uri(path):<{width}}  {PAGES.get(os.path.basename(path), '')}".rstrip())
    prog, hint = _how_to_run()
    print("Next, try:")
    width = max(len(command) for command, _ in TRY_FIRST[1:])
    for command, does in TRY_FIRST[1:]:
        print(f"  {prog} {command:<{width}}  {does}")
    if hint:
        print(hint)
    return 0


def _uri(path: str) -> str:
    """file:///... for `path`: terminals make it a link, and browsers take it pasted."""
    return pathlib.Path(path).resolve().as_uri()


def _how_to_run() -> tuple[str, str | None]:
    """How to type this command line here -- 'micrograd-ann', else `python -m micrograd_ann`
    with this Python -- and a line on how to have it on PATH, when it is not."""
    folder = os.path.dirname(sys.executable)
    script = os.path.join(folder, PROG)
    found = shutil.which(PROG)
    if found and os.path.exists(script) and os.path.samefile(found, script):
        return PROG, None
    if not os.path.exists(script):  # not installed: run from a source tree
        return f"{_short(sys.executable)} -m micrograd_ann", None
    shown = _short(folder)
    activate = os.path.join(folder, "activate")
    first = (f"run `source {_short(activate)}` first" if os.path.exists(activate)
             else f"add {shown} to PATH")
    return PROG, f"({PROG} is in {shown}, not on your PATH: {first}, or type {_short(script)})"


def _short(path: str) -> str:
    """`path` relative to the working folder when it is inside it, else absolute."""
    relative = os.path.relpath(path)
    return path if relative.startswith(os.pardir) else relative


def _run(argv: list[str], report: Report) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args, report)


# ------------------------------------------------------------------- arguments


def _train_arguments(cmd: argparse.ArgumentParser) -> None:
    per_dataset = "default: per dataset"
    cmd.add_argument("--dataset", choices=list(training.PRESETS), default="moons",
                     help="default: %(default)s (digits needs scikit-learn)")
    cmd.add_argument("--samples", type=_positive(_integer),
                     help=f"dataset size, at most {training.MAX_SAMPLES:,} ({per_dataset})")
    cmd.add_argument("--noise", type=_non_negative,
                     help=f"2-D datasets, at most {training.MAX_NOISE:g} ({per_dataset})")
    cmd.add_argument("--hidden", type=_sizes, metavar="N,N,...",
                     help=f"hidden layer sizes, e.g. 16,16 ('' for none); at most "
                     f"{training.MAX_PARAMETERS:,} parameters in all ({per_dataset})")
    cmd.add_argument("--activation", choices=[name for name, row in ACTIVATIONS.items()
                                              if row.op is not None],
                     help=f"hidden activation ({per_dataset})")
    cmd.add_argument("--loss", choices=list(losses.LOSSES),
                     help=f"hinge, bce and mse(+-1) need two classes ({per_dataset})")
    cmd.add_argument("--optimizer", choices=list(training.OPTIMIZERS), help=per_dataset)
    cmd.add_argument("--lr", type=_positive(_number),
                     help=f"learning rate ({per_dataset} and optimizer)")
    cmd.add_argument("--epochs", type=_positive(_integer),
                     help=f"at most {training.MAX_EPOCHS:,} ({per_dataset})")
    cmd.add_argument("--batch-size", type=_positive(_integer),
                     help=f"samples per step ({per_dataset}; moons: the whole training set)")
    cmd.add_argument("--test-fraction", type=_fraction, default=0.2,
                     help="share held out for testing (default: %(default)s)")
    cmd.add_argument("--seed", type=_integer, default=0,
                     help="data, split, init and shuffling (default: %(default)s)")
    cmd.add_argument("--compile", action=argparse.BooleanOptionalAction,
                     help="run steps as generated Python (codegen): the same numbers "
                     "(losses, weights, training.html), faster. Default: compile when at "
                     f"least {training.COMPILE_AFTER} full-size batches would run and the "
                     f"model has at most {training.COMPILE_MAX_PARAMETERS:,} parameters; a "
                     "smaller last batch runs on the engine")
    cmd.add_argument("--graph", choices=outputs.GRAPHS, default="auto",
                     help="what to draw of the hardest sample's backward pass: always "
                     "network.svg, and graph.svg and backprop.html a box per layer or per "
                     "neuron, or every op; auto: the clearest (layer); network: no graph.svg, "
                     "the player a layer per step; none: nothing (default: %(default)s)")
    _out_argument(cmd)


def _neuron_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--inputs", type=_numbers, default=list(TUTORIAL_INPUTS),
                     metavar="X,X,...", help="input values (default: %s)"
                     % ",".join(f"{v:g}" for v in TUTORIAL_INPUTS))
    cmd.add_argument("--weights", type=_numbers, default=list(TUTORIAL_WEIGHTS),
                     metavar="W,W,...", help="one weight per input (default: %s)"
                     % ",".join(f"{v:g}" for v in TUTORIAL_WEIGHTS))
    cmd.add_argument("--bias", type=_number, default=TUTORIAL_BIAS, help="default: %(default)s")
    cmd.add_argument("--activation", choices=list(ACTIVATIONS), default=TUTORIAL_ACTIVATION,
                     help="default: %(default)s")
    _output_arguments(cmd)


def _formula_arguments(optional: bool = False, output: bool = False,
                       tolerances: bool = False) -> Callable[[argparse.ArgumentParser], None]:
    """Adds EXPR (left out only when `optional`), NAME=VALUE pairs, and the options."""

    def add(cmd: argparse.ArgumentParser) -> None:
        cmd.add_argument("expr", metavar="EXPR", nargs="?" if optional else None,
                         help="e.g. 'tanh(x*w + b)'"
                         + (" (default: the tutorial's neuron)" if optional else ""))
        cmd.add_argument("assignments", metavar="NAME=VALUE", nargs="*", type=_assignment,
                         help=f"a value for each variable, e.g. x=0.5 w=-3 b=2 "
                         f"(at most {expr.MAX_VARIABLES} variables)")
        if tolerances:
            cmd.add_argument("--eps", type=_positive(_number),
                             help="the largest finite-difference step (default: gradcheck's)")
            cmd.add_argument("--atol", type=_non_negative,
                             help="absolute tolerance (default: gradcheck's)")
            cmd.add_argument("--rtol", type=_non_negative,
                             help="relative tolerance (default: gradcheck's)")
        if output:
            _output_arguments(cmd)

    return add


def _out_argument(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--out", default=DEFAULT_OUT,
                     help="output folder (default: %(default)s); a file of the same name "
                     "from an earlier run is replaced, and listed as replaced")


def _output_arguments(cmd: argparse.ArgumentParser) -> None:
    _out_argument(cmd)
    cmd.add_argument("--html", action="store_true",
                     help="also write a backprop player page (.html) to step through")


def _presets_help() -> str:
    """One line per dataset listing its preset, for `train --help`."""
    lines = ["presets (batch_size 0 = the whole training set):"]
    for name, preset in training.PRESETS.items():
        shown = [f"{k}={_default(v)}" for k, v in preset.items() if v is not None]
        lines.append(f"  {name:<8} {' '.join(shown)}")
    return "\n".join(lines)


def _default(value: object) -> str:
    """A default as help shows it: [16, 16] -> '16,16'; {'adam': 0.05} -> 'adam:0.05'."""
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(f"{v:g}" for v in value)
    return str(value)


# ----------------------------------------------------------------- the commands


class Command(NamedTuple):
    """A subcommand: its name, summary line, description, arguments, what runs it, and the
    examples its --help shows (each one using this command)."""

    name: str
    summary: str
    description: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Report], int]
    examples: tuple[str, ...]
    formula: bool = False  # takes EXPR and NAME=VALUE (-NAME VALUE): see _formula_argv
    epilog: Callable[[], str] | None = None  # more help after the examples


COMMANDS: list[Command] = [
    Command("train", "train an MLP on a built-in dataset",
            "Train an MLP on a built-in dataset, show progress, and write parameters, plots, "
            "the network view, a graph and a backprop player. Options left unset take the "
            "dataset's preset (below).",
            _train_arguments, cmd_train,
            ("train --dataset circles --hidden 8,8 --optimizer sgd --lr 0.5 --epochs 50",
             "train --hidden 64,64 --epochs 20 --graph network"),
            epilog=_presets_help),
    Command("neuron", "the tutorial's neuron, forward and backward",
            "The seed tutorial's neuron: forward value, the backward pass step by step, and "
            "its graph.", _neuron_arguments, cmd_neuron,
            ("neuron --html", "neuron --inputs 1,2 --weights 0.5,-1 --bias 0 --activation tanh")),
    Command("draw", "draw the graph of a formula, with gradients",
            "Draw the graph of a formula and print its value and gradients. " + EXPR_HELP,
            _formula_arguments(output=True), cmd_draw,
            ("draw 'tanh(x*w + b)' x=0.5 w=-3 b=2 --html",
             "draw 'tanh(x*w + b)' -x 0.5 -w -3 -b 2", "draw '(-x*y)' x=1 y=2"),
            formula=True),
    Command("gradcheck", "compare a formula's gradients with finite differences",
            "Compare a formula's gradients with central differences; exit code 1 when one "
            "disagrees. " + EXPR_HELP,
            _formula_arguments(tolerances=True), cmd_gradcheck,
            ("gradcheck 'x*y + exp(x)' x=0.5 y=-2", "gradcheck 'x/y' x=1 y=1e-7 --rtol 1e-2"),
            formula=True),
    Command("explain", "print a formula's backward pass step by step",
            "Print a formula's backward pass step by step (without EXPR: the tutorial's "
            "neuron). " + EXPR_HELP,
            _formula_arguments(optional=True), cmd_explain,
            ("explain", "explain 'x*x + y' x=3 y=1"), formula=True),
    Command("code", "print a formula's backward pass as Python",
            "Print a formula's forward and backward pass as the plain Python function it "
            "amounts to: one line per node, one += line per chain-rule step. " + EXPR_HELP,
            _formula_arguments(), cmd_code,
            ("code 'tanh(x*w + b)' x=0.5 w=-3 b=2", "code 'x*x' x=3"), formula=True),
    Command("demo", "train on moons, then explain the neuron",
            "Train an MLP on two moons with the default settings, then run `neuron --html`; "
            "list the files written, the pages to open and what to try next.",
            _out_argument, cmd_demo, ("demo", "demo --out /tmp/mg")),
]
FORMULA_COMMANDS = tuple(c.name for c in COMMANDS if c.formula)


def build_parser() -> argparse.ArgumentParser:
    """The full command-line interface; each subcommand sets `run` (see COMMANDS)."""
    width = max(len(command) for command, _ in TRY_FIRST)
    start = "".join(f"  {PROG} {command:<{width}}  {does}\n" for command, does in TRY_FIRST)
    parser = _Parser(prog=PROG, epilog="start with:\n" + start,
                     description="A scalar autograd engine where every gradient step is visible.",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        examples = "examples:\n" + "".join(f"  {PROG} {e}\n" for e in command.examples)
        cmd = sub.add_parser(command.name, help=command.summary,
                             description=command.description,
                             epilog=examples + ("\n" + command.epilog() if command.epilog else ""),
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        command.arguments(cmd)
        cmd.set_defaults(run=command.run)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version(PROG)
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "(not installed)"


# ------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 a check failed, 2 a user error,
    130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for stream in (sys.stdout, sys.stderr):  # odd text in a formula never stops a print
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    if hasattr(sys.stdout, "reconfigure"):  # keep progress (stderr) and results in order
        sys.stdout.reconfigure(line_buffering=True)
    where = f"{PROG} {argv[0]}" if argv and argv[0] in (c.name for c in COMMANDS) else PROG
    try:
        if argv and argv[0] in FORMULA_COMMANDS:
            argv = _formula_argv(argv)
        args = build_parser().parse_args(argv)
        return args.run(args, Report(getattr(args, "out", None)))
    except SystemExit as exc:  # argparse: --help, --version, a usage error (printed)
        return int(exc.code or 0)
    except (CliError, expr.ExprError, OpError) as exc:
        print(f"{where}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `micrograd-ann explain | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # e.g. the disk filling up while writing into --out
        at = f" {exc.filename!r}" if exc.filename else ""
        print(f"{where}: error: cannot write{at}: {exc.strerror or exc}", file=sys.stderr)
        return 2
