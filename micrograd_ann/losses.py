"""Loss functions composed from engine ops, with PyTorch's values, gradients and reduction.

No loss has a derivative rule of its own: each is built from `Value` operations, so its
gradient comes from the op table and every step of it shows up in graphs and traces.

Shapes: one sample (`mse(v, 1.0)`, `cross_entropy([z0, z1, z2], 2)`) or several
(`mse([v, ...], [t, ...])`, `cross_entropy([[...], [...]], [0, 2])`). Several samples are
averaged (PyTorch's reduction="mean"); mse, binary_cross_entropy and hinge also accept
one list of outputs per sample and average over every output, as PyTorch does.
Predictions may be Values or plain numbers; targets are plain numbers.

LOSSES is the registry of the losses `train` knows by name (function, target encoding,
outputs needed, torch counterpart), and predict() the one rule reading a class from outputs.
A new loss is one row (docs/layout.md adds huber).
"""

from __future__ import annotations

import numbers
from typing import Callable, Iterable, NamedTuple, Sequence, Union

from .checks import is_number
from .engine import Value, sum_values

Scalar = Union[Value, float]


# ------------------------------------------------------------------ input checking


def _as_value(who: str, x: object) -> Value:
    """A prediction as a Value: Values pass through, numbers become leaves."""
    if isinstance(x, Value):
        return x
    if is_number(x):
        return Value(x)
    raise TypeError(f"{who}: expected a Value or a number, got {type(x).__name__} {x!r}")


def _target(who: str, y: object) -> float:
    if not is_number(y):
        raise TypeError(f"{who}: targets must be numbers, got {type(y).__name__}")
    return float(y)


def _as_list(who: str, what: str, xs: object) -> list:
    if isinstance(xs, (str, bytes)) or not isinstance(xs, Iterable):
        raise TypeError(f"{who}: expected a sequence for {what}, got {type(xs).__name__}")
    xs = list(xs)
    if not xs:
        raise ValueError(f"{who} needs at least one sample, got empty {what}")
    return xs


def _check_lengths(who: str, what: str, preds: list, targets: list) -> None:
    if len(preds) != len(targets):
        raise ValueError(f"{who}: {len(preds)} {what} but {len(targets)} targets")


def _elementwise(who: str, preds: object, targets: object) -> list[tuple[Value, float]]:
    """(prediction, target) pairs from a scalar, a list, or a list of lists per sample."""
    if isinstance(preds, Value) or is_number(preds):
        return [(_as_value(who, preds), _target(who, targets))]
    preds = _as_list(who, "predictions", preds)
    targets = _as_list(who, "targets", targets)
    _check_lengths(who, "predictions", preds, targets)
    pairs = []
    for i, (p, y) in enumerate(zip(preds, targets)):
        if isinstance(p, (str, bytes)) or not isinstance(p, Iterable):
            pairs.append((_as_value(who, p), _target(who, y)))
            continue
        row = _as_list(who, f"predictions[{i}]", p)
        row_targets = _as_list(who, f"targets[{i}]", y)
        _check_lengths(who, f"predictions in sample {i}", row, row_targets)
        pairs.extend((_as_value(who, q), _target(who, t)) for q, t in zip(row, row_targets))
    return pairs


def _mean(terms: Sequence[Value]) -> Value:
    """The average of `terms` as one 'sum' node times 1/n (the term itself when n == 1)."""
    if len(terms) == 1:
        return terms[0]
    return sum_values(terms) * (1.0 / len(terms))


# ------------------------------------------------------------------------- losses


def mse(preds: Scalar | Sequence, targets: float | Sequence) -> Value:
    """Mean squared error: mean over all outputs of (pred - target)^2.

    Same as torch.nn.functional.mse_loss(reduction="mean").
    """
    pairs = _elementwise("mse", preds, targets)
    return _mean([(p - y) ** 2 for p, y in pairs])


def _bce_from_logit(z: Value, y: float) -> Value:
    """max(z, 0) - z*y + log(1 + e^-|z|), written out for the sign of z.

    NOTE: branching on z.data (a constant decision, like subtracting the max in softmax)
    avoids relu and abs, whose subgradient 0 at z == 0 would give -y instead of the true
    derivative sigmoid(0) - y = 0.5 - y. exp() only ever sees a non-positive argument.
    With log(1 + x) rather than log1p, terms below ~1e-16 round away (absolute error).
    """
    if z.data >= 0.0:
        return z * (1.0 - y) + ((-z).exp() + 1.0).log()
    return (z.exp() + 1.0).log() - z * y


def binary_cross_entropy(logits: Scalar | Sequence, targets: float | Sequence) -> Value:
    """Binary cross-entropy from logits: mean of max(z,0) - z*y + log(1 + e^-|z|).

    Equals -[y log sigmoid(z) + (1-y) log(1 - sigmoid(z))], stable for any |z|; targets
    are probabilities in [0, 1]. Same as binary_cross_entropy_with_logits(reduction="mean").
    """
    pairs = _elementwise("binary_cross_entropy", logits, targets)
    for _, y in pairs:
        if not 0.0 <= y <= 1.0:
            raise ValueError(f"binary_cross_entropy: targets must be in [0, 1], got {y!r}")
    return _mean([_bce_from_logit(z, y) for z, y in pairs])


def hinge(scores: Scalar | Sequence, targets: float | Sequence) -> Value:
    """Max-margin loss of micrograd's demo: mean of relu(1 - y*score), y in {-1, +1}."""
    pairs = _elementwise("hinge", scores, targets)
    for _, y in pairs:
        if y not in (-1.0, 1.0):
            raise ValueError(f"hinge: targets must be -1 or +1, got {y!r}")
    return _mean([(s * -y + 1.0).relu() for s, y in pairs])


def _logits(who: str, values: object, what: str = "logits") -> list[Value]:
    return [_as_value(who, z) for z in _as_list(who, what, values)]


def _shifted_exps(zs: list[Value]) -> tuple[float, list[Value]]:
    """(m, [e^(z_j - m)]) with m = max z_j taken as a constant, so no exp overflows."""
    m = max(z.data for z in zs)
    return m, [(z - m).exp() for z in zs]


def softmax(values: Sequence[Scalar]) -> list[Value]:
    """e^z_j / sum_k e^z_k, computed as e^(z_j - max z) / sum_k e^(z_k - max z).

    Subtracting the max (a constant: it does not change the result or its gradient)
    keeps every exp() <= 1. Same as torch.softmax over one vector.
    """
    _, exps = _shifted_exps(_logits("softmax", values))
    inv_total = sum_values(exps) ** -1
    return [e * inv_total for e in exps]


def _check_class(who: str, target: object, n_classes: int, sample: str) -> int:
    if not isinstance(target, numbers.Integral) or isinstance(target, bool):
        raise TypeError(f"{who}: a target must be a class index (int){sample}, "
                        f"got {type(target).__name__} {target!r}")
    if not 0 <= target < n_classes:
        raise ValueError(f"{who}: target {target}{sample} is out of range for "
                         f"{n_classes} classes (0..{n_classes - 1})")
    return int(target)


def _cross_entropy_one(logits: object, target: object, sample: str = "") -> Value:
    """log(sum_j e^z_j) - z_target, with log-sum-exp computed as m + log(sum e^(z_j - m))."""
    who = "cross_entropy"
    zs = _logits(who, logits, f"logits{sample}")
    target = _check_class(who, target, len(zs), sample)
    m, exps = _shifted_exps(zs)
    return sum_values(exps).log() + (m - zs[target])


def cross_entropy(logits: Sequence, targets: int | Sequence[int]) -> Value:
    """Softmax cross-entropy: mean over samples of log(sum_j e^z_j) - z_target.

    `targets` are class indices. Same as torch.nn.functional.cross_entropy
    (reduction="mean", no class weights, label smoothing or ignore_index).
    """
    who = "cross_entropy"
    if isinstance(targets, numbers.Integral) and not isinstance(targets, bool):
        return _cross_entropy_one(logits, targets)
    rows = [_as_list(who, f"logits[{i}]", row)
            for i, row in enumerate(_as_list(who, "logits", logits))]
    targets = _as_list(who, "targets", targets)
    _check_lengths(who, "rows of logits", rows, targets)
    widths = {len(row) for row in rows}
    if len(widths) > 1:
        raise ValueError(f"{who}: every sample needs the same number of logits, "
                         f"got sizes {sorted(widths)}")
    terms = [_cross_entropy_one(row, t, f" (sample {i})")
             for i, (row, t) in enumerate(zip(rows, targets))]
    return _mean(terms)


# ---------------------------------------------------------------- the registry
# The losses `train` knows by name, one row each. Classes are read from outputs by one rule,
# predict(), and every row's targets agree with it: on one output class 1 is the positive
# side, on several the class's output is the largest.


def predict(outputs: Sequence[float]) -> int:
    """The class a model's outputs (numbers) mean, whatever the loss: the sign of one
    output (1 if > 0, else 0), or the first largest of several."""
    if len(outputs) == 1:
        return int(outputs[0] > 0.0)
    return max(range(len(outputs)), key=outputs.__getitem__)


def sign_targets(y: int, width: int) -> float | list[float]:
    """Class y as a target of `width` outputs: -1 or +1 on one (class 0 or 1); on several,
    1 at the class's output and 0 elsewhere (one-hot)."""
    if width == 1:
        return 2.0 * y - 1.0
    return [float(k == y) for k in range(width)]


def probability_targets(y: int, width: int) -> float:
    """Class 0 or 1 as the probability of class 1, for one output (a logit)."""
    return float(y)


def class_targets(y: int, width: int) -> int:
    """The class index itself, for one output per class."""
    return y


class Loss(NamedTuple):
    """A loss by name: its function, how classes become its targets, the outputs it needs,
    and the torch function that computes the same from tensors (torch_bridge)."""

    name: str
    function: Callable[..., Value]  # (outputs, targets) -> the mean loss (e.g. losses.mse)
    target: Callable[[int, int], object]  # (class, outputs per sample) -> its target
    one_output: bool  # tells two classes on one output (by its sign)
    per_class: bool  # takes one output per class (the largest wins)
    torch: str  # the torch counterpart's dotted path; its targets are `target`'s

    def outputs(self, classes: int) -> int:
        """How many outputs a model needs for `classes` classes with this loss: one for two
        classes where the loss reads a sign, else one per class."""
        if classes == 2 and self.one_output:
            return 1
        if self.per_class:
            return classes
        takers = " or ".join(sorted(row.name for row in LOSSES.values() if row.per_class))
        raise ValueError(f"loss {self.name!r} is for two classes and this dataset has "
                         f"{classes}; use {takers}")

    def __call__(self, outputs: list, classes: Sequence[int]) -> Value:
        """The mean loss of a batch of model outputs (a Value, or a list per sample)
        against class indices."""
        width = len(outputs[0]) if isinstance(outputs[0], list) else 1
        return self.function(outputs, [self.target(y, width) for y in classes])


LOSSES: dict[str, Loss] = {
    row.name: row
    for row in [
        Loss("hinge", hinge, sign_targets, True, False, "micrograd_ann.torch_bridge.hinge_loss"),
        Loss("bce", binary_cross_entropy, probability_targets, True, False,
             "torch.nn.functional.binary_cross_entropy_with_logits"),
        Loss("mse", mse, sign_targets, True, True, "torch.nn.functional.mse_loss"),
        Loss("cross_entropy", cross_entropy, class_targets, False, True,
             "torch.nn.functional.cross_entropy"),
    ]
}
