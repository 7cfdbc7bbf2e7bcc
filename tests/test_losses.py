"""Losses: values and gradients equal PyTorch's, central differences agree, bad input raises."""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import pytest
from helpers import assert_all_close

from micrograd_ann import Value
from micrograd_ann.gradcheck import numerical_grad
from micrograd_ann.losses import binary_cross_entropy, cross_entropy, hinge, mse, softmax


class Ref(NamedTuple):
    name: str
    loss: Callable  # (nested list of Values, targets) -> Value
    shape: tuple[int, ...]  # () one scalar, (n,) a list, (n, k) a list of rows
    inputs: list[float]  # flattened
    targets: object
    value: float  # from torch 2.13, float64
    grads: list[float]  # d loss / d input, flattened, from torch 2.13


# Reference numbers came from torch 2.13 in float64: F.mse_loss,
# F.binary_cross_entropy_with_logits, F.cross_entropy (reduction="mean") and
# torch.relu(1 - y * s).mean() for hinge; backward() gave the gradients.
REFS = [
    Ref("mse_one", mse, (), [0.7], 1.5, 0.6400000000000001, [-1.6]),
    Ref("mse", mse, (3,), [0.3, -1.2, 2.5], [1.0, -1.0, 0.0], 2.2600000000000002,
        [-0.4666666666666666, -0.1333333333333333, 1.6666666666666665]),
    Ref("mse_rows", mse, (2, 2), [0.3, -1.2, 2.5, 0.1], [[1.0, -1.0], [0.0, 0.5]], 1.735,
        [-0.35, -0.09999999999999998, 1.25, -0.2]),
    Ref("bce", binary_cross_entropy, (7,), [0.5, -2.0, 3.0, 0.0, 1000.0, -1000.0, 0.7],
        [1, 0, 0, 1, 0, 1, 0.3], 286.46227508232033,
        [-0.05393438125687792, 0.017028988860302508, 0.1360820181174905,
         -0.07142857142857142, 0.14285714285714285, -0.14285714285714285,
         0.05259825316688088]),
    Ref("bce_big_right", binary_cross_entropy, (), [1000.0], 1, 0.0, [0.0]),
    Ref("bce_big_right_neg", binary_cross_entropy, (), [-1000.0], 0, 0.0, [0.0]),
    Ref("bce_zero_y0", binary_cross_entropy, (), [0.0], 0, 0.6931471805599453, [0.5]),
    Ref("bce_zero_y1", binary_cross_entropy, (), [0.0], 1, 0.6931471805599453, [-0.5]),
    Ref("bce_neg", binary_cross_entropy, (), [-3.5], 1.0, 3.5297504182726205,
        [-0.9706877692486436]),
    Ref("ce_one", cross_entropy, (3,), [1.0, 2.0, 0.5], 2, 1.964368784107945,
        [0.23122389762214904, 0.6285317192117624, -0.8597556168339116]),
    Ref("ce_rows", cross_entropy, (2, 3), [1000.0, -1000.0, 0.0, 0.1, -0.3, 2.2], [1, 0],
        1001.1430494679518,
        [0.5, -0.5, 0.0, -0.44916885981643434, 0.034073132227891774, 0.4150957275885425]),
    Ref("ce_big", cross_entropy, (1, 3), [1000.0, 999.0, -1000.0], [0], 0.31326168751822286,
        [-0.2689414213699951, 0.2689414213699951, 0.0]),
    Ref("hinge", hinge, (4,), [0.5, -2.0, 1.5, 0.2], [1, 1, -1, -1], 1.8,
        [-0.25, -0.25, 0.25, 0.25]),
]


def _shape(flat: list, shape: tuple[int, ...]):
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    width = shape[1]
    return [flat[i : i + width] for i in range(0, len(flat), width)]


def _loss_of(ref: Ref) -> Callable[[list[Value]], Value]:
    """f(leaves) -> the loss of `ref` on the flattened leaves."""
    return lambda leaves: ref.loss(_shape(leaves, ref.shape), ref.targets)


TORCH = {"rel": 1e-12, "abs": 1e-15}  # tolerances against torch's float64 numbers


@pytest.mark.parametrize("ref", REFS, ids=lambda r: r.name)
def test_value_and_gradient_match_torch(ref):
    leaves = [Value(x) for x in ref.inputs]
    loss = _loss_of(ref)(leaves)
    loss.backward()
    assert_all_close(loss.data, ref.value, **TORCH, what="loss")
    assert_all_close([v.grad for v in leaves], ref.grads, **TORCH, what="gradient")


@pytest.mark.parametrize("ref", REFS, ids=lambda r: r.name)
def test_gradient_matches_central_difference(ref):
    leaves = [Value(x) for x in ref.inputs]
    _loss_of(ref)(leaves).backward()
    numeric = numerical_grad(_loss_of(ref), leaves, eps=1e-6)
    # |loss| up to ~1e3 leaves the difference quotient ~1e-7 of rounding noise
    assert_all_close([v.grad for v in leaves], numeric, rel=1e-9, abs=2e-6,
                     what="backward vs central difference")


# softmax(z) and the gradient of sum_j w_j softmax(z)_j, w = [0.3, -1.1, 2.0], from torch 2.13
SOFTMAX_REFS = [
    ([1.0, 2.0, 0.5], [0.23122389762214907, 0.6285317192117624, 0.14024438316608848],
     [0.14833682553144045, -0.4767231095630531, 0.32838628403161274]),
    ([1000.0, 999.0, -1000.0], [0.7310585786300049, 0.26894142136999516, 0.0],
     [0.27525670653807466, -0.2752567065380746, 0.0]),
]


@pytest.mark.parametrize("logits, probs, grads", SOFTMAX_REFS)
def test_softmax_matches_torch(logits, probs, grads):
    leaves = [Value(z) for z in logits]
    out = softmax(leaves)
    assert_all_close([p.data for p in out], probs, **TORCH, what="probabilities")
    sum(w * p for w, p in zip([0.3, -1.1, 2.0], out)).backward()
    assert_all_close([v.grad for v in leaves], grads, **TORCH, what="gradient")


def test_softmax_sums_to_one_and_accepts_numbers():
    out = softmax([3, -1.5, 0.25, 7])
    assert math.isclose(sum(p.data for p in out), 1.0, rel_tol=1e-15)
    assert out[3].data == max(p.data for p in out)


def test_several_samples_are_the_mean_of_single_samples():
    preds, targets = [0.4, -1.3, 2.0], [1, -1, -1]
    for loss in (mse, hinge, binary_cross_entropy):
        ys = [max(t, 0) for t in targets] if loss is binary_cross_entropy else targets
        singles = [loss(Value(p), y).data for p, y in zip(preds, ys)]
        assert math.isclose(loss(preds, ys).data, sum(singles) / 3, rel_tol=1e-14)
    rows = [[0.1, 0.2, -0.3], [2.0, -1.0, 0.5]]
    singles = [cross_entropy(r, t).data for r, t in zip(rows, [2, 0])]
    assert math.isclose(cross_entropy(rows, [2, 0]).data, sum(singles) / 2, rel_tol=1e-14)


def test_bce_gradient_at_zero_is_sigmoid_minus_target():
    # relu/abs would give the subgradient 0 at z == 0; the true derivative is 0.5 - y
    for y in (0.0, 0.25, 1.0):
        z = Value(0.0)
        binary_cross_entropy(z, y).backward()
        assert z.grad == 0.5 - y


def test_inputs_may_be_generators_and_tuples():
    preds = (Value(x) for x in [1.0, 2.0])
    assert mse(preds, (0, 0)).data == 2.5
    assert math.isclose(cross_entropy((0.0, 0.0), 1).data, math.log(2), rel_tol=1e-15)


@pytest.mark.parametrize("call, error, words", [
    (lambda: mse([1.0, 2.0], [1.0]), ValueError, "2 predictions but 1 targets"),
    (lambda: mse([], []), ValueError, "at least one sample"),
    (lambda: mse([[1.0, 2.0]], [[1.0]]), ValueError, "2 predictions in sample 0 but 1"),
    (lambda: mse(Value(1.0), "1"), TypeError, "targets must be numbers, got str"),
    (lambda: mse(Value(1.0), True), TypeError, "got bool"),
    (lambda: mse(["a"], [1.0]), TypeError, "got str 'a'"),
    (lambda: mse("ab", [1.0]), TypeError, "expected a sequence for predictions, got str"),
    (lambda: hinge([1.0, 2.0], [1, 0]), ValueError, "-1 or +1, got 0.0"),
    (lambda: binary_cross_entropy([1.0], [1.5]), ValueError, "in [0, 1], got 1.5"),
    (lambda: cross_entropy([1.0, 2.0], 2), ValueError, "target 2 is out of range for 2"),
    (lambda: cross_entropy([1.0, 2.0], -1), ValueError, "target -1 is out of range"),
    (lambda: cross_entropy([[1.0, 2.0]], [1.0]), TypeError, "class index (int) (sample 0)"),
    (lambda: cross_entropy([[1.0, 2.0]], [0, 1]), ValueError, "1 rows of logits but 2"),
    (lambda: cross_entropy([[1.0, 2.0], [1.0]], [0, 0]), ValueError, "sizes [1, 2]"),
    (lambda: cross_entropy([], 0), ValueError, "at least one sample, got empty logits"),
    (lambda: softmax([]), ValueError, "at least one sample"),
])
def test_bad_input_raises_naming_the_values(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
