"""torch_bridge: the same MLP in PyTorch computes the same outputs, gradients and training
trajectories; round trips are exact; unsupported torch models are refused by name."""

from __future__ import annotations

import inspect
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_module
from helpers import assert_all_close

from micrograd_ann import MLP, Value, losses
from micrograd_ann.activations import ACTIVATIONS, LEAKY_SLOPE
from micrograd_ann.datasets import make_moons
from micrograd_ann.extras import MissingExtraError
from micrograd_ann.losses import LOSSES
from micrograd_ann.optim import SGD, Adam
from micrograd_ann.torch_bridge import (OPTIMIZERS, _resolve, compare, from_torch, to_torch,
                                        torch_loss, torch_optimizer)

TORCH_PAGE = Path(__file__).resolve().parents[1] / "docs" / "torch.md"


@pytest.fixture(scope="module")
def torch():
    return require_module("torch", extra="torch")


def _inputs(n: int, nin: int, seed: int = 0) -> list[list[float]]:
    rng = random.Random(seed)
    return [[rng.uniform(-3, 3) for _ in range(nin)] for _ in range(n)]


def _outputs(model: MLP, x: list[float]) -> list[float]:
    out = model(x)
    return [out.data] if isinstance(out, Value) else [v.data for v in out]


# Architectures: every activation hidden and as output, a linear hidden layer, width 1.
MODELS = [
    dict(nin=3, nouts=[5, 4, 2], activation="relu"),
    dict(nin=3, nouts=[5, 1], activation="tanh", output_activation="sigmoid"),
    dict(nin=2, nouts=[4, 3], activation="sigmoid", output_activation="tanh"),
    dict(nin=2, nouts=[6, 6, 1], activation="leaky_relu", output_activation="relu"),
    dict(nin=4, nouts=[3, 1, 2], activation="linear", output_activation="leaky_relu"),
]


def _model(spec: dict, seed: int = 0) -> MLP:
    spec = dict(spec)
    return MLP(spec.pop("nin"), spec.pop("nouts"), seed=seed, **spec)


# ------------------------------------------------------------------ without torch


def test_importing_any_module_of_the_package_never_imports_torch():
    code = ("import importlib, pkgutil, sys, micrograd_ann\n"
            "for m in pkgutil.iter_modules(micrograd_ann.__path__):\n"
            "    if m.name != '__main__':  # that one runs the CLI\n"
            "        importlib.import_module('micrograd_ann.' + m.name)\n"
            "print('micrograd_ann.torch_bridge' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "True False"


def test_missing_torch_raises_missing_extra_error_with_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    with pytest.raises(MissingExtraError) as info:
        to_torch(MLP(2, [1], seed=0))
    assert isinstance(info.value, ImportError) and info.value.extra == "torch"
    assert 'pip install -e ".[torch]"' in str(info.value)


# ------------------------------------------------------------------ the two models


@pytest.mark.parametrize("spec", MODELS, ids=lambda s: f"{s['activation']}-{s['nouts']}")
def test_outputs_equal_on_random_inputs(torch, spec):
    model = _model(spec, seed=3)
    seq = to_torch(model)
    assert all(p.dtype == torch.float64 for p in seq.parameters())
    xs = _inputs(30, spec["nin"], seed=1)
    with torch.no_grad():
        got = seq(torch.tensor(xs, dtype=torch.float64)).tolist()
    for i, x in enumerate(xs):
        assert_all_close(got[i], _outputs(model, x), rel=1e-12, abs=1e-12, what=f"sample {i}")


def test_to_torch_places_each_neuron_in_its_row(torch):
    model = MLP(2, [3, 1], seed=0)
    seq = to_torch(model)
    neuron = model.layers[0].neurons[2]
    assert seq[0].weight[2].tolist() == [w.data for w in neuron.w]
    assert seq[0].bias[2].item() == neuron.b.data
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]


def test_to_torch_leaves_torchs_random_state_alone(torch):
    torch.manual_seed(7)
    want = torch.rand(3)
    torch.manual_seed(7)
    to_torch(MLP(3, [8, 8, 2], seed=0))
    assert torch.equal(torch.rand(3), want)


@pytest.mark.parametrize("spec", MODELS, ids=lambda s: f"{s['activation']}-{s['nouts']}")
def test_round_trip_is_exact(torch, spec):
    model = _model(spec, seed=5)
    again = from_torch(to_torch(model))
    assert again.architecture() == model.architecture()
    assert again.state_dict() == model.state_dict()  # bit for bit


def test_a_torch_model_survives_the_round_trip(torch):
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2),
                              torch.nn.Sigmoid())  # float32, torch's own initialisation
    model = from_torch(seq)
    assert model.architecture() == {"nin": 3, "nouts": [4, 2], "activation": "tanh",
                                    "output_activation": "sigmoid"}
    back = to_torch(model)
    for mine, theirs in zip(back.parameters(), seq.parameters()):
        assert torch.equal(mine, theirs.double())  # float32 values are exact in float64


def test_from_torch_reads_leaky_relu_and_linear_hidden_layers(torch):
    nn = torch.nn
    model = from_torch(nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(), nn.Linear(3, 3),
                                     nn.LeakyReLU(LEAKY_SLOPE), nn.Linear(3, 1)))
    assert (model.activation, model.output_activation) == ("leaky_relu", "linear")
    model = from_torch(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1), nn.ReLU()))
    assert (model.activation, model.output_activation) == ("linear", "relu")


UNSUPPORTED = [
    ("dropout", lambda nn: [nn.Linear(2, 3), nn.Dropout(0.5), nn.Linear(3, 1)],
     r"module 1 \(Dropout\) has no MLP counterpart; supported: Linear, ReLU"),
    ("conv", lambda nn: [nn.Conv1d(1, 1, 2)], r"module 0 \(Conv1d\) has no MLP counterpart"),
    ("nested", lambda nn: [nn.Sequential(nn.Linear(2, 2))],
     r"module 0 \(Sequential\) has no MLP counterpart"),
    ("gelu", lambda nn: [nn.Linear(2, 2), nn.GELU()], r"module 1 \(GELU\) has no MLP"),
    ("no bias", lambda nn: [nn.Linear(2, 2, bias=False)], r"module 0 \(Linear\) has no bias"),
    ("leaky slope", lambda nn: [nn.Linear(2, 2), nn.LeakyReLU(0.2)],
     r"module 1 \(LeakyReLU\) has negative_slope 0.2; nn's leaky_relu has negative_slope "
     r"0.01"),
    ("sizes", lambda nn: [nn.Linear(2, 3), nn.ReLU(), nn.Linear(4, 1)],
     r"module 2 \(Linear\) takes 4 inputs but the layer before gives 3"),
    ("activation first", lambda nn: [nn.ReLU(), nn.Linear(2, 1)],
     r"module 0 \(ReLU\) must follow a Linear layer"),
    ("two activations", lambda nn: [nn.Linear(2, 2), nn.ReLU(), nn.Tanh()],
     r"module 2 \(Tanh\) must follow a Linear layer"),
    ("mixed hidden", lambda nn: [nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2), nn.Tanh(),
                                 nn.Linear(2, 1)],
     r"one activation for every hidden layer; this model's hidden layers use relu, tanh"),
    ("empty", lambda nn: [], r"the Sequential has no Linear layer"),
]


@pytest.mark.parametrize("name, modules, message", UNSUPPORTED, ids=[u[0] for u in UNSUPPORTED])
def test_from_torch_refuses_what_an_mlp_cannot_be(torch, name, modules, message):
    with pytest.raises(ValueError, match=message):
        from_torch(torch.nn.Sequential(*modules(torch.nn)))


def test_wrong_types_are_type_errors(torch):
    with pytest.raises(TypeError, match="expected a torch.nn.Sequential, got Linear"):
        from_torch(torch.nn.Linear(2, 1))
    with pytest.raises(TypeError, match="to_torch takes an MLP, got Layer"):
        to_torch(MLP(2, [1], seed=0).layers[0])


# ------------------------------------------------------------------------ compare

# (loss, model sizes, data): every loss of the table, one- and many-output models.
MOONS = make_moons(12, noise=0.1, seed=0)
LOSS_CASES = [
    ("mse", losses.mse, [3, 1], [(x, float(y)) for x, y in MOONS]),
    ("mse_two_outputs", losses.mse, [3, 2], [(x, [float(y), -1.0]) for x, y in MOONS]),
    ("binary_cross_entropy", losses.binary_cross_entropy, [4, 1], MOONS),
    ("hinge", losses.hinge, [4, 1], [(x, 2.0 * y - 1.0) for x, y in MOONS]),
    ("cross_entropy", losses.cross_entropy, [4, 3],
     [(x, (y + i) % 3) for i, (x, y) in enumerate(MOONS)]),
]


@pytest.mark.parametrize("name, loss_fn, nouts, data", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_and_gradients_equal_in_both_engines(torch, name, loss_fn, nouts, data):
    model = MLP(2, nouts, activation="tanh", seed=2)
    report = compare(model, loss_fn, data)
    assert [row.name for row in report.rows] == [n for n, _ in model.named_parameters()]
    assert abs(report.loss - report.torch_loss) <= 1e-12 * abs(report.loss)
    assert sum(abs(row.torch) for row in report.rows) > 1e-3  # a real gradient, not zeros
    assert report.max_diff <= 1e-10, str(report)


def test_compare_rows_hold_the_closed_form_gradient(torch):
    # y = w x + b with mse against t: dL/dw = 2 (w x + b - t) x, dL/db = 2 (w x + b - t)
    model = MLP(1, [1], seed=0)
    w, b = model.layers[0].neurons[0].w[0], model.layers[0].neurons[0].b
    w.data, b.data = 1.5, -0.25
    report = compare(model, losses.mse, [([2.0], 1.0)])
    residual = 1.5 * 2.0 - 0.25 - 1.0
    assert [(r.name, r.torch_name) for r in report.rows] == [
        ("layers.0.neurons.0.w.0", "0.weight[0, 0]"), ("layers.0.neurons.0.b", "0.bias[0]")]
    assert [r.micrograd for r in report.rows] == [2 * residual * 2.0, 2 * residual]
    assert [r.torch for r in report.rows] == [2 * residual * 2.0, 2 * residual]
    assert report.loss == report.torch_loss == residual**2
    assert report.max_diff == 0.0


def test_compare_leaves_both_models_as_they_were(torch):
    model = MLP(2, [3, 1], seed=0)
    for p in model.parameters():
        p.grad = 0.5
    seq = to_torch(model)
    compare(model, losses.mse, [([0.1, 0.2], 1.0)], torch_model=seq)
    assert all(p.grad == 0.5 for p in model.parameters())
    assert all(p.grad is None for p in seq.parameters())


def test_compare_measures_a_float32_model_against_the_float64_reference(torch):
    torch.manual_seed(1)
    seq32 = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    report = compare(from_torch(seq32), losses.binary_cross_entropy, MOONS, torch_model=seq32)
    assert 1e-10 < report.max_diff < 1e-5  # float32 rounding: seen, and small
    assert report.worst.diff == report.max_diff


def test_report_table_lists_every_parameter_and_marks_the_worst(torch):
    report = compare(MLP(2, [2, 1], seed=0), losses.mse, [([0.5, -1.0], 0.3)])
    lines = str(report).splitlines()
    assert lines[0].startswith("loss ") and "largest gradient difference" in lines[0]
    assert lines[1].split() == ["parameter", "torch", "micrograd_ann", "grad", "torch", "grad",
                                "diff"]
    assert len(lines) == 2 + len(report.rows) == 2 + 9
    marked = [line for line in lines[2:] if line.startswith(">>")]
    assert len(marked) == 1 and report.worst.name in marked[0]
    for row, line in zip(report.rows, lines[2:]):
        assert re.match(rf"(>>)?\s+{re.escape(row.name)}\s+{re.escape(row.torch_name)}\s", line)
        assert line.split()[-3:] == [f"{row.micrograd:.12g}", f"{row.torch:.12g}",
                                     f"{row.diff:.1e}"]


def test_compare_refuses_a_loss_without_counterpart_and_a_mismatched_model(torch):
    model = MLP(2, [3, 1], seed=0)
    with pytest.raises(ValueError, match="'softmax' has no torch counterpart here; use one "
                                         "of losses.hinge, losses.binary_cross_entropy"):
        compare(model, losses.softmax, MOONS)
    with pytest.raises(TypeError, match="loss_fn must be a function, got str"):
        compare(model, "mse", MOONS)
    with pytest.raises(ValueError, match=r"do not match the MLP's sizes \[2, 3, 1\]"):
        compare(model, losses.mse, MOONS, torch_model=to_torch(MLP(2, [4, 1], seed=0)))
    with pytest.raises(ValueError, match="at least one"):
        compare(model, losses.mse, [])


# ----------------------------------------------------------- training trajectories

OPTIMIZER_CASES = [
    ("sgd", SGD, {"lr": 0.3}),
    ("sgd_momentum_decay", SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01,
                                 "dampening": 0.2}),
    ("sgd_nesterov", SGD, {"lr": 0.1, "momentum": 0.8, "nesterov": True}),
    ("adam", Adam, {"lr": 0.05}),
    ("adam_options", Adam, {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6,
                            "weight_decay": 0.1}),
]


@pytest.mark.parametrize("name, cls, options", OPTIMIZER_CASES,
                         ids=[c[0] for c in OPTIMIZER_CASES])
def test_training_trajectories_agree(torch, name, cls, options):
    model = MLP(2, [6, 3], activation="tanh", seed=4)
    data = [(x, (y + i) % 3) for i, (x, y) in enumerate(MOONS)]
    seq = to_torch(model)
    opt = cls(model.parameters(), **options)
    torch_opt = torch_optimizer(opt, seq)
    start = model.state_dict()
    for step in range(10):
        loss = losses.cross_entropy([model(x) for x, _ in data], [y for _, y in data])
        opt.zero_grad()
        loss.backward()
        opt.step()
        torch_opt.zero_grad()
        torch_loss(seq, losses.cross_entropy, data).backward()
        torch_opt.step()
        assert_all_close(list(from_torch(seq).state_dict().values()),
                         list(model.state_dict().values()), rel=0.0, abs=1e-9,
                         what=f"{name} after step {step + 1}")
    moved = max(abs(model.state_dict()[k] - v) for k, v in start.items())
    assert moved > 0.05  # the trajectory went somewhere


def test_torch_optimizer_copies_every_option(torch):
    seq = to_torch(MLP(2, [1], seed=0))
    params = list(from_torch(seq).parameters())
    topt = torch_optimizer(SGD(params, lr=0.2, momentum=0.5, weight_decay=0.1,
                               dampening=0.3), seq)
    assert type(topt) is torch.optim.SGD
    assert {k: topt.defaults[k] for k in ("lr", "momentum", "weight_decay", "dampening",
                                          "nesterov")} == {
        "lr": 0.2, "momentum": 0.5, "weight_decay": 0.1, "dampening": 0.3, "nesterov": False}
    topt = torch_optimizer(Adam(params, lr=0.01, betas=(0.5, 0.6), eps=1e-3), seq)
    assert (type(topt), topt.defaults["betas"], topt.defaults["eps"]) == (
        torch.optim.Adam, (0.5, 0.6), 1e-3)


def test_torch_optimizer_refuses_state_it_cannot_carry(torch):
    model = MLP(2, [1], seed=0)
    seq = to_torch(model)
    opt = Adam(model.parameters())
    opt.step()
    with pytest.raises(ValueError, match="already stepped"):
        torch_optimizer(opt, seq)
    with pytest.raises(ValueError, match="holds 2 parameters but the torch model has 3"):
        torch_optimizer(SGD(model.parameters()[:2], lr=0.1), seq)
    with pytest.raises(TypeError, match="optim.SGD or optim.Adam, got list"):
        torch_optimizer([], seq)


# ------------------------------------------------------------------------- tables


def test_optimizer_table_lists_every_constructor_option():
    for cls, (_, options) in OPTIMIZERS.items():
        names = list(inspect.signature(cls.__init__).parameters)[2:]  # after self, params
        assert sorted(names) == sorted(options), cls.__name__


def test_table_paths_name_real_functions(torch):
    for row in LOSSES.values():
        assert callable(_resolve(row.torch)), row.torch
    for path, _ in OPTIMIZERS.values():
        assert issubclass(_resolve(path), torch.optim.Optimizer), path
    for row in ACTIVATIONS.values():
        assert row.torch is None or issubclass(getattr(torch.nn, row.torch), torch.nn.Module)


def _docs_rows() -> dict[str, tuple[str, str]]:
    """docs/torch.md's table: first cell -> (second cell, notes), backticks dropped."""
    section = TORCH_PAGE.read_text()
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|([^|]*)\|", section, re.M)
    return {first: (second, notes.strip()) for first, second, notes in rows}


def test_the_docs_table_mirrors_the_code_tables():
    rows = _docs_rows()
    want = {f"losses.{row.function.__name__}": row.torch.replace("micrograd_ann.", "")
            for row in LOSSES.values()}
    want.update({f"optim.{cls.__name__}": path for cls, (path, _) in OPTIMIZERS.items()})
    want.update({f'"{name}"': f"torch.nn.{row.torch}" for name, row in ACTIVATIONS.items()
                 if row.torch})
    assert {first: second for first, (second, _) in rows.items()} == want
    for cls, (_, options) in OPTIMIZERS.items():
        assert rows[f"optim.{cls.__name__}"][1] == f"`{', '.join(options)}`"
