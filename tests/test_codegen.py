"""codegen's teaching output: backward written as Python, equal bit for bit to backward();
safe for any label, Op name or number; its inline rules equal the op table's; stepped in
pdb; its lines released from linecache with the function. (compile: test_compile.py.)"""

from __future__ import annotations

import gc
import io
import itertools
import linecache
import math
import random
import re
import subprocess
import sys
import tokenize
import traceback
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_cases import CASES, COMPOSED
from test_engine_fuzz import ARITY, _build, recipes

from micrograd_ann import OPS, Op, OpError, Value, apply, codegen, sum_values, topological_order
from micrograd_ann.nn import tutorial_neuron

DOCS = Path(__file__).resolve().parents[1] / "docs" / "compile.md"


def engine_result(root: Value) -> tuple[float, list[float]]:
    """root's value and its leaves' gradients from backward(), starting from zero."""
    leaves = [v for v in topological_order(root) if not v.parents]
    for leaf in leaves:
        leaf.grad = 0.0
    root.backward()
    return root.data, [leaf.grad for leaf in leaves]


def generated_result(root: Value) -> tuple[float, list[float]]:
    value, grads = codegen.to_function(root)()
    return value, list(grads.values())


def same_bits(a: float, b: float) -> bool:
    """Equal as IEEE doubles, 0.0 and -0.0 told apart; any NaN equals any NaN (its sign
    follows CPython's specialisation of the operation, not the maths)."""
    if a != a or b != b:
        return a != a and b != b
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def assert_same_bits(got: tuple[float, list[float]], want: tuple[float, list[float]]) -> None:
    assert same_bits(got[0], want[0]), (got[0], want[0])
    assert len(got[1]) == len(want[1])
    bad = [(i, g, w) for i, (g, w) in enumerate(zip(got[1], want[1])) if not same_bits(g, w)]
    assert not bad, bad


# NAME tokens generated code may hold: its own variables and helpers, Python's words.
OURS = re.compile(r"(?:v|g|d|s|gs|ds)\d+|_[A-Za-z0-9_]*|sum|abs|inf|nan|zip|reversed|list|"
                  r"iter|def|return|yield|for|in|if|else|or|not|None|from|import|math|"
                  r"micrograd_ann|engine|OPS|forward|partials|step|backward_of_v\d+|pass|"
                  r"append")


def names_in(source: str) -> set[str]:
    """Every identifier in `source` outside comments and strings."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {t.string for t in tokens if t.type == tokenize.NAME}


# ------------------------------------------------------------------------ read it


def test_the_tutorial_neuron_reads_as_a_short_program():
    source = codegen.to_source(tutorial_neuron().out)
    assert "def backward_of_v8(v0=1.0, v1=5.0, v2=3.0, v3=0.2, v4=0.5, v5=(-0.1), v6=0.1):" \
        in source
    assert "# leaves: v0 x0, v1 x1, v2 x2, v3 w0, v4 w1, v5 w2, v6 b" in source
    assert "    v7 = sum((v3 * v0, v4 * v1, v5 * v2,)) + v6  # n\n" in source
    assert "    v8 = _sigmoid(v7)  # out\n" in source
    assert "    # v8 out = sigmoid(v7): d/da = out * (1.0 - out)\n" \
           "    g7 += g8 * (v8 * (1.0 - v8))\n" in source
    assert source.count(" += g7") == 7  # the dot: one line per edge
    assert "if " not in source.split("def ")[1]  # the plain chain rule: no speed guards
    assert len(source.splitlines()) <= 30


def test_each_edge_is_one_line_and_rules_are_commented():
    x = Value(3.0, "x")
    source = codegen.to_source((x * x).tanh())
    assert "v1 = v0 * v0" in source and "v2 = _tanh(v1)" in source
    assert "# v2 = tanh(v1): d/da = 1.0 - (out * out)" in source
    assert "g1 += g2 * (1.0 - (v2 * v2))" in source
    assert source.count("g0 += g1 * v0") == 2  # x * x: one line per operand


def test_rules_that_branch_are_written_from_the_codegen_templates_or_called():
    x = Value(-2.0, "x")
    source = codegen.to_source(x.relu() + x.leaky_relu(0.1).abs() + x.abs().sqrt() ** 3)
    assert "v1 = 0.0 if v0 <= 0.0 else v0" in source
    assert "g0 += g1 * (0.0 if v0 <= 0.0 else 1.0)" in source
    assert "v2 = 0.1 * v0 if v0 <= 0.0 else v0" in source
    assert "d7 = _pow_partials(v6, 3.0, v7)" in source  # pow's rule is called


def test_labels_are_comments_only_and_the_program_still_runs():
    """A label like a helper (tanh, _tanh, relu_partials), like a node (v0, g1), NFKC twins
    (w and the mathematical italic w) or text that would end a line cannot change the code."""
    labels = ["_tanh", "g1", "v0", "w", "\U0001d464", "x\nimport os", "a\u2028b", "c\x85d",
              "e\x0cf", "\ud800", '"""', "'''", "# x", "\\", "sum", "inf", "\u202egnp"]
    leaves = [Value(0.25 * (i + 1), label) for i, label in enumerate(labels)]
    total = leaves[0]
    for leaf in leaves[1:]:
        total = (total * leaf).tanh() + leaf
    total.label = "_sigmoid"
    source = codegen.to_source(total)
    assert names_in(source) <= {n for n in names_in(source) if OURS.fullmatch(n)}
    for line in source.splitlines():
        assert "import os" not in line or line.lstrip().startswith("#")
    assert len(source.splitlines()) == len(source.split("\n")) - 1  # no line separators
    assert_same_bits(generated_result(total), engine_result(total))


def test_a_helper_named_like_your_op_cannot_be_shadowed():
    """Your Op named like a built-in's helper, or like the names the code uses."""
    ops = [Op(name, name, lambda a: 2.0 * a, lambda a, out: (2.0,))
           for name in ("tanh_2", "inf", "nan", "v1", "relu_partials", "real", "abs_")]
    x = Value(0.5, "tanh")
    root = x.tanh()
    for op in ops:
        root = apply(op, root) + x
    assert_same_bits(generated_result(root), engine_result(root))


def test_numbers_are_written_by_float_repr_alone():
    """A float subclass whose repr is code, and a numpy scalar, are written as the float."""
    np = pytest.importorskip("numpy")

    class Sneaky(float):
        def __repr__(self):
            return "__import__('os').system('echo pwned')"

    x = Value(1.5, "x")
    root = x * 2.0
    x.data = Sneaky(1.5)  # data is a plain attribute: anything may be put there
    source = codegen.to_source(root)
    assert "os" not in source and "v0=1.5" in source
    x.data = np.float64(0.25)
    assert "v0=0.25" in codegen.to_source(root) and "np." not in codegen.to_source(root)
    for special, text in ((math.inf, "v0=inf"), (-math.inf, "v0=(-inf)"),
                          (math.nan, "v0=nan"), (-0.0, "v0=(-0.0)")):
        x.data = special
        source = codegen.to_source(root)
        assert text in source and ("from math import" in source) == (special != 0.0)
        value, grads = codegen.to_function(root)()
        assert same_bits(value, special * 2.0)


def test_a_name_must_be_ascii_and_not_a_helpers():
    root = Value(1.0) * 2.0
    assert codegen.to_source(root, name="f").startswith("def f(")
    for bad in ("_sigmoid", "ｆ", "class", "a b"):
        with pytest.raises(ValueError, match="ASCII identifier"):
            codegen.to_source(root, name=bad)
    with pytest.raises(TypeError, match="name must be a str"):
        codegen.to_source(root, name=3)
    with pytest.raises(TypeError, match="expected a Value"):
        codegen.to_source(2.0)


# ----------------------------------------------------------- equal to backward()


@pytest.mark.parametrize("case", CASES + COMPOSED, ids=lambda c: c.name)
@pytest.mark.parametrize("where", [0.25, 0.5, 0.8])
def test_every_op_case_equals_backward_bit_for_bit(case, where):
    args = [Value(lo + where * (hi - lo), f"x{i}") for i, (lo, hi) in enumerate(case.domain)]
    root = case.fn(*args)
    assert_same_bits(generated_result(root), engine_result(root))


SPECIAL = st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1e308, -1e-320])


@settings(max_examples=150, deadline=None)
@given(recipes(), st.data())
def test_random_graphs_equal_backward_bit_for_bit(recipe, data):
    leaf_data = [data.draw(st.one_of(st.floats(-3, 3), SPECIAL)) for _ in recipe.leaves]
    try:
        _, outputs = _build(recipe, leaf_data)
    except (OpError, ArithmeticError, ValueError):
        return  # the op itself refused these numbers: nothing to generate
    root = outputs[-1]
    assert_same_bits(generated_result(root), engine_result(root))


def test_a_3000_input_sum_is_written_and_runs():
    leaves = [Value(float(i), f"x{i}") for i in range(3000)]
    root = sum_values(leaves) * 0.5
    value, grads = generated_result(root)
    assert value == 0.5 * sum(range(3000)) and grads[:3000] == [0.5] * 3000


def test_your_own_op_is_called_by_name():
    softplus = Op("softplus", "softplus", lambda a: math.log1p(math.exp(a)),
                  lambda a, out: (1.0 / (1.0 + math.exp(-a)),))
    x = Value(0.3, "x")
    root = apply(softplus, x) * x
    source = codegen.to_source(root)
    assert "v1 = _softplus(v0)" in source and "d1 = _softplus_partials(v0, v1)" in source
    assert "# _softplus: the forward of your Op softplus (bind it" in source
    assert_same_bits(generated_result(root), engine_result(root))


def test_arguments_default_to_the_leaves_data_and_can_be_changed():
    fn = codegen.to_function(tutorial_neuron().out)
    value, grads = fn(v1=0.0)  # w . x + b = 0.2 - 0.3 + 0.1 = 0: sigmoid(0) = 0.5
    assert value == 0.5 and grads["v4"] == 0.0 and grads["v5"] == 0.25 * 3.0


# ---------------------------------------------------- the table's rules, inline


def _inputs(arity: int, count: int, seed: int) -> list[tuple[float, ...]]:
    """Argument tuples for an op: every combination of special values for one or two
    inputs, then random ones (mostly moderate, some special)."""
    special = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-300, -1e300, math.inf, -math.inf, math.nan]
    rng = random.Random(seed)
    found = list(itertools.product(special, repeat=arity)) if arity <= 2 else []
    for _ in range(count):
        found.append(tuple(rng.choice(special) if rng.random() < 0.2 else rng.uniform(-4, 4)
                           for _ in range(arity)))
    return found


def _evaluated(template: str, arity: int, with_out: bool):
    names = [f"a{i}" for i in range(arity)] + (["out"] if with_out else [])
    scope = {"inf": math.inf, "nan": math.nan}
    return eval(f"lambda {', '.join(names)}: {template.format(*names)}", scope)  # noqa: S307


def _outcome(fn, *args):
    try:
        return fn(*args)
    except (ArithmeticError, ValueError):
        return "raises"


OP_SHAPES = [(name, arity, params)
             for name, (inputs, n_params) in ARITY.items()
             for arity in ([inputs] if inputs is not None else [1, 2, 3, 4, 5])
             for params in ([()] if n_params == 0 else [(p,) for p in (2.0, -1.0, 0.5, 0.01,
                                                                        -0.0, 0.0, 3.0)])]


@pytest.mark.parametrize("name, arity, params", OP_SHAPES)
def test_inline_rules_equal_the_table_bit_for_bit(name, arity, params):
    """Whatever codegen writes inline (a template of its own or a rule run on symbols)
    gives the table's forward and partials on every input, NaN, inf and -0.0 included."""
    op = OPS[name]
    rule = codegen._rule(op, arity, params)
    forward = None if rule.forward is None else _evaluated(rule.forward, arity, False)
    partials = None if rule.partials is None else [
        _evaluated(t, arity, True) for t in rule.partials]
    for args in _inputs(arity, 300, seed=arity):
        want = _outcome(op.forward, *args, *params)
        if forward is not None:
            got = _outcome(forward, *args)
            assert got == want == "raises" or same_bits(got, want), (name, args, got, want)
        if partials is None or want == "raises" or isinstance(want, complex):
            continue
        table = _outcome(op.partials, *args, *params, want)
        if table == "raises":
            continue
        for i, part in enumerate(partials):
            got = _outcome(part, *args, want)
            assert got != "raises" and same_bits(got, table[i]), (name, args, i, got, table)


def test_the_hot_rules_are_inline():
    """The rules a training step runs most are written out, not called."""
    for name, arity in (("add", 2), ("mul", 2), ("relu", 1), ("dot", 5), ("tanh", 1),
                        ("sigmoid", 1), ("exp", 1)):
        assert codegen._rule(OPS[name], arity, ()).partials is not None, name
    for name, arity in (("add", 2), ("mul", 2), ("relu", 1), ("dot", 33), ("abs", 1)):
        assert codegen._rule(OPS[name], arity, ()).forward is not None, name
    assert codegen._rule(OPS["leaky_relu"], 1, (0.01,)).forward is not None
    assert codegen._rule(OPS["pow"], 1, (0.5,)).forward is None  # (-8) ** 0.5 is complex


def test_a_rule_that_swallows_exceptions_is_not_inlined():
    """A rule's own `except Exception` cannot turn a symbol it cannot handle into a
    constant: symbols raise a BaseException."""
    def forward(a):
        try:
            return 1.0 if a > 0 else 0.0
        except Exception:  # noqa: BLE001
            return 7.0

    assert codegen._traced(forward, 1, (), with_out=False) is None


def test_a_rule_taking_any_number_of_inputs_is_not_traced():
    """builtin sum() over symbols is a chain of +; over floats Python 3.12 compensates."""
    assert codegen._traced(lambda *a: sum(a), 3, (), with_out=False) is None
    assert codegen._traced(lambda a, b, c: a + b + c, 3, (), with_out=False) == (
        "({0} + {1}) + {2}",)


# ------------------------------------------------------------------ step through it


def test_tracebacks_show_the_generated_line():
    x = Value(2.0, "x")
    fn = codegen.to_function(x.log())
    with pytest.raises(ValueError) as info:
        fn(v0=-1.0)
    frames = traceback.extract_tb(info.tb)
    generated = [f for f in frames if f.filename.startswith("<micrograd_ann backward of")]
    assert generated and generated[0].line == "v1 = _log(v0)"


def test_the_docs_pdb_transcript_replays_exactly():
    found = re.search(r"```text\n\$ python -c \"(.*?)\"\n(.*?)```", DOCS.read_text(), re.S)
    assert found is not None, "no pdb transcript in docs/compile.md"
    script, transcript = found.groups()
    commands = re.findall(r"^\(Pdb\) (.+)$", transcript, re.M)
    expected = re.sub(r"^\(Pdb\) .+\n?", "(Pdb) ", transcript, flags=re.M)
    done = subprocess.run([sys.executable, "-c", script], input="\n".join(commands) + "\n",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected
    assert "-> g7 += g8 * (v8 * (1.0 - v8))" in done.stdout


def test_linecache_lets_go_of_a_function_no_one_holds():
    before = set(linecache.cache)
    for _ in range(20):
        fn = codegen.to_function(Value(1.0) * 2.0)
        assert fn()[0] == 2.0
    del fn
    gc.collect()
    assert {f for f in set(linecache.cache) - before if "micrograd_ann" in f} == set()


def test_the_docs_examples_print_what_they_say(tmp_path):
    """Each ```python block of docs/compile.md run alone prints its ```text block (when one
    follows it) and the values its `print(...)  # value` comments give."""
    blocks = re.findall(r"```python\n(.*?)```\n(?:\s*```text\n(.*?)```)?", DOCS.read_text(),
                        re.S)
    assert len(blocks) >= 2
    for code, shown in blocks:
        done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        expected = shown.splitlines() + re.findall(r"^print\(.*\)\s+#\s*(.+)$", code, re.M)
        for line in expected:
            assert line.strip() in done.stdout, (line, done.stdout)


def test_the_code_command_prints_a_program_that_runs_whatever_the_names():
    """`micrograd-ann code 'relu(x) * relu_partials'`: a variable named like a helper."""
    done = subprocess.run([sys.executable, "-m", "micrograd_ann", "code",
                           "relu(x) * relu_partials + tanh(_tanh)", "x=1.5", "relu_partials=2",
                           "_tanh=0.5"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    scope: dict = {}
    exec(done.stdout, scope)  # noqa: S102 - the program the command printed
    function = next(f for name, f in scope.items() if name.startswith("backward_of_"))
    value, grads = function()
    assert value == 1.5 * 2.0 + math.tanh(0.5)
    assert sorted(grads.values()) == sorted([2.0, 1.5, 1.0 - math.tanh(0.5) ** 2])
