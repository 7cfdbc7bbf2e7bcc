"""Optimisers: trajectories equal torch.optim's, bad arguments raise, and SGD trains an MLP."""

from __future__ import annotations

import math

import pytest
from helpers import assert_all_close

from micrograd_ann import MLP, Value, sum_values
from micrograd_ann.datasets import make_moons
from micrograd_ann.losses import hinge
from micrograd_ann.optim import SGD, Adam


def _f(x: Value, y: Value, z: Value) -> Value:
    """A small quadratic with a cross term, minimised by gradient descent below."""
    return (x - 1) ** 2 + 3 * y * y + x * y + 0.5 * z**2 - z


START = (1.5, -0.8, 0.3)

# Parameters after each of 5 steps from START, minimising _f, made with torch 2.13
# (float64 0-dim tensors, foreach=False) and the same keyword arguments. They agree to
# the last bit or two: torch's CPU kernel fuses the multiply-add in p - lr*g (one rounding).
TRAJECTORIES = [
    ('sgd', {'lr': 0.1}, [
        [1.48, -0.47, 0.37],
        [1.431, -0.33599999999999997, 0.433],
        [1.3784, -0.27749999999999997, 0.48969999999999997],
        [1.33047, -0.24884, 0.5407299999999999],
        [1.28926, -0.23258299999999998, 0.586657],
    ]),
    ('sgd_momentum', {'lr': 0.1, 'momentum': 0.9}, [
        [1.48, -0.47, 0.37],
        [1.413, -0.0389999999999999, 0.496],
        [1.274, 0.23100000000000012, 0.6598],
        [1.071, 0.20800000000000005, 0.8412400000000001],
        [0.8533, -0.044600000000000035, 1.020412],
    ]),
    ('sgd_damped_decay', {'lr': 0.1, 'momentum': 0.9, 'dampening': 0.1, 'weight_decay': 0.01}, [
        [1.4785, -0.46919999999999995, 0.3697],
        [1.41391735, -0.05075471999999985, 0.48882427],
        [1.284583241185, 0.2260466985480002, 0.641601986857],
        [1.0954572320518134, 0.23728682428993686, 0.8107803114229987],
        [0.8857197963676782, 0.020463343314589797, 0.979340873224047],
    ]),
    ('sgd_nesterov', {'lr': 0.05, 'momentum': 0.9, 'nesterov': True, 'weight_decay': 0.05}, [
        [1.473875, -0.4826999999999999, 0.365075],
        [1.4115568437500001, -0.2100162999999999, 0.45140126875],
        [1.3147648250546875, -0.04308270173124994, 0.5513174278171875],
        [1.196459800549912, 0.013359781444215652, 0.6575767675013293],
        [1.075053886634707, -0.009749047554041775, 0.7636666391231615],
    ]),
    ('adam', {'lr': 0.1}, [
        [1.4000000049999997, -0.7000000003030303, 0.39999999857142854],
        [1.306782045596349, -0.6007601707638837, 0.49930557878001336],
        [1.231187148791567, -0.5030420912242523, 0.5972565158058183],
        [1.1806594458201536, -0.4079214076060742, 0.6929983417455664],
        [1.1497829932750185, -0.31690745549683746, 0.7854483538964101],
    ]),
    ('adam_decay', {'lr': 0.05, 'betas': (0.8, 0.99), 'eps': 1e-06, 'weight_decay': 0.1}, [
        [1.4500001428567346, -0.7500000147928951, 0.3499999253732457],
        [1.400632096091884, -0.7002462303562988, 0.3997272202224527],
        [1.3524757552038036, -0.6509291775189525, 0.4489683831207504],
        [1.306237045508426, -0.6022599084941538, 0.49748584082134856],
        [1.2627234075418836, -0.5544704256291282, 0.5450186838732352],
    ]),
    ('adam_low_beta', {'lr': 0.1, 'betas': (0.3, 0.9)}, [
        [1.4000000049999997, -0.7000000003030303, 0.3999999985714286],
        [1.3209003654904174, -0.6043222276381038, 0.4959626419765698],
        [1.2719696788055561, -0.5157661026249717, 0.5855651512240097],
        [1.236450008946068, -0.4368016076780304, 0.6671493977762557],
        [1.1977198266269111, -0.3690667317007243, 0.7396461080074513],
    ]),
]


@pytest.mark.parametrize("name, options, expected", TRAJECTORIES,
                         ids=[t[0] for t in TRAJECTORIES])
def test_trajectory_matches_torch(name, options, expected):
    params = [Value(v) for v in START]
    opt = (Adam if name.startswith("adam") else SGD)(params, **options)
    for step, want in enumerate(expected):
        opt.zero_grad()
        _f(*params).backward()
        opt.step()
        assert_all_close([p.data for p in params], want, rel=1e-12, abs=1e-15,
                         what=f"{name} after step {step + 1}")


def test_sgd_step_is_p_minus_lr_grad():
    p = Value(2.0)
    p.grad = 0.5
    SGD([p], lr=0.1).step()
    assert p.data == 2.0 - 0.1 * 0.5


def test_adam_first_step_moves_each_parameter_by_lr():
    # after one step m/sqrt(v) = sign(g) once bias-corrected, so |dp| = lr (up to eps)
    params = [Value(1.0), Value(-2.0)]
    params[0].grad, params[1].grad = 3.0, -0.01
    Adam(params, lr=0.05, eps=1e-300).step()
    assert math.isclose(params[0].data, 0.95, rel_tol=1e-15)
    assert math.isclose(params[1].data, -1.95, rel_tol=1e-15)


def test_zero_grad_and_lr_change_between_steps():
    p = Value(1.0)
    opt = SGD([p], lr=1.0)
    p.grad = 4.0
    opt.zero_grad()
    assert p.grad == 0.0
    p.grad = 1.0
    opt.lr = 0.25  # a schedule just sets lr
    opt.step()
    assert p.data == 0.75


def test_params_may_be_any_iterable():
    model = MLP(2, [3, 1], seed=0)
    for params in (model.parameters(), iter(model.parameters()), (p for p in model.parameters())):
        assert SGD(params, lr=0.1).params == model.parameters()


@pytest.mark.parametrize("make, error, words", [
    (lambda p: SGD(p, lr=-0.1), ValueError, "lr must be >= 0, got -0.1"),
    (lambda p: SGD(p, lr=float("nan")), ValueError, "lr must be a finite number, got nan"),
    (lambda p: SGD(p, lr=float("inf")), ValueError, "lr must be a finite number, got inf"),
    (lambda p: SGD(p, lr=True), TypeError, "lr must be a number, got bool"),
    (lambda p: SGD(p, lr="0.1"), TypeError, "lr must be a number, got str"),
    (lambda p: SGD(p, lr=0.1, momentum=-0.5), ValueError, "momentum must be >= 0, got -0.5"),
    (lambda p: SGD(p, lr=0.1, weight_decay=-1), ValueError, "weight_decay must be >= 0, got -1"),
    (lambda p: SGD(p, lr=0.1, nesterov=True), ValueError, "nesterov needs momentum > 0"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "dampening=0.1"),
    (lambda p: Adam(p, eps=-1e-8), ValueError, "eps must be >= 0, got -1e-08"),
    (lambda p: Adam(p, eps=0), ValueError, "eps must be > 0, got 0"),
    (lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov="no"), TypeError,
     "nesterov must be True or False, got 'no'"),
    (lambda p: Adam(p, betas=(1.0, 0.999)), ValueError, "betas[0] must be in [0, 1), got 1.0"),
    (lambda p: Adam(p, betas=(0.9, -0.1)), ValueError, "betas[1] must be in [0, 1), got -0.1"),
    (lambda p: Adam(p, betas=(0.9,)), ValueError, "a pair (beta1, beta2), got (0.9,)"),
    (lambda p: Adam([], lr=0.1), ValueError, "empty parameter list"),
    (lambda p: Adam(iter([]), lr=0.1), ValueError, "empty parameter list"),
    (lambda p: SGD([p[0], 1.5], lr=0.1), TypeError, "parameter 1 is a float, not a Value: 1.5"),
    (lambda p: SGD(p[0], lr=0.1), TypeError, "an iterable of Values"),
    (lambda p: SGD(p + p[:1], lr=0.1), ValueError, "parameter 2 (Value(data=1.0"),
])
def test_bad_arguments_raise_naming_the_value(make, error, words):
    with pytest.raises(error) as info:
        make([Value(1.0), Value(2.0)])
    assert words in str(info.value)


def test_sgd_trains_mlp_on_moons():
    # micrograd's demo: max-margin loss + 1e-4 L2, full batch, lr decaying from 1.0
    data = make_moons(100, noise=0.1, seed=0)
    targets = [2 * y - 1 for _, y in data]
    model = MLP(2, [16, 16, 1], seed=0)
    opt = SGD(model.parameters(), lr=1.0)
    losses = []
    steps = 50
    for k in range(steps):
        scores = [model(x) for x, _ in data]
        reg = sum_values(p * p for p in model.parameters())
        loss = hinge(scores, targets) + 1e-4 * reg
        opt.zero_grad()
        loss.backward()
        opt.lr = 1.0 - 0.9 * k / steps
        opt.step()
        losses.append(loss.data)
    correct = sum((model(x).data > 0) == (y == 1) for x, y in data)
    assert correct >= 95, (correct, losses[0], losses[-1])
    assert losses[-1] < 0.25 * losses[0]
