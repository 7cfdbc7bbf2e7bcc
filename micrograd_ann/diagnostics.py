"""Per-layer diagnostics of a training run, and the warning signs they show, in words.

What makemore part 3 plots to tell a healthy network from a stuck one, for one layer and
one epoch: histograms of its outputs and of the gradients arriving at them, its dead or
saturated units, its weight-gradient norm and the update-to-data ratio of its step
(layer_stats). warnings() reads them against the *_HINT thresholds below. Which units are
dead or saturated is the activation's row's to say (activations.py: `off`, `tail`).
History records the statistics; the replay page and plots show them.
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple, Sequence

from .activations import SATURATION, Activation
from .limits import BINS

# When a diagnostic is a warning sign (see warnings()).
DEAD_HINT = 0.5  # of a layer's units dead (off for every sample)
SATURATED_HINT = 0.25  # of a layer's outputs saturated
VANISHING_HINT = 10.0  # a layer's weight gradients this many times smaller than the output's
LARGE_UPDATE_HINT = -0.5  # log10 of update / data: each step moves weights by > 30 %
SMALL_UPDATE_HINT = -4.0  # ... by < 0.01 % (makemore: about -3 is healthy)
FITTED = 0.99  # train accuracy from which small steps and a flat loss are a finished fit
STALL_EPOCHS, STALL_CHANGE = 20, 0.01  # a loss within 1 % of itself for 20 epochs: stalled


class Histogram(NamedTuple):
    """`counts[i]` values fell in bin i of `len(counts)` equal bins from lo to hi."""

    lo: float
    hi: float
    counts: list[int]


class LayerStats(NamedTuple):
    """One layer during one epoch, from every forward and backward pass of that epoch."""

    activations: Histogram  # the layer's outputs, every sample and unit
    gradients: Histogram  # d loss / d output at those outputs
    dead: list[int] | None  # the units off for every sample; None if the activation has no off
    flat: float | None  # fraction of outputs where the activation is flat (see flat_share)
    grad_norm: float  # |d loss / d w| over the layer's weights, at the epoch's last step
    update_ratio: float | None  # log10(|step| / |w|) of that step; None when it moved nothing


class WarningSign(NamedTuple):
    """A warning sign in a frame: the line shown, its kind ("dead", "saturated",
    "vanishing", "large steps", "small steps" or "stalled") and the layers it names."""

    text: str
    kind: str
    layers: list[int]


# -------------------------------------------------------------------- statistics


def layer_stats(activation: Activation, width: int, outputs: Sequence[float],
                grads: Sequence[float], before: Sequence[float], after: Sequence[float],
                weight_grads: Sequence[float]) -> LayerStats:
    """A layer's statistics: its `outputs` over an epoch (sample by sample, `width` units
    each) and the `grads` at them; its weights `before` and `after` the epoch's last step,
    and their gradients at that step."""
    dead = None
    if activation.off is not None:
        dead = [j for j in range(width) if all(v == activation.off for v in outputs[j::width])]
    moved = norm([a - b for a, b in zip(after, before)])
    size = norm(before)
    ratio = math.log10(moved / size) if moved > 0 and size > 0 else None
    return LayerStats(histogram(outputs, *output_range(activation, outputs)),
                      histogram(grads, *gradient_range(grads)), dead,
                      flat_share(activation, outputs), norm(weight_grads), ratio)


def norm(values: Sequence[float]) -> float:
    return math.sqrt(math.fsum(v * v for v in values))


def histogram(values: Sequence[float], lo: float, hi: float, bins: int = BINS) -> Histogram:
    """Counts of the values in `bins` equal bins over [lo, hi] (hi in the last); values
    outside, nan among them, are not counted. With lo == hi all land in the middle bin."""
    counts = [0] * bins
    if hi > lo:
        scale, top = bins / (hi - lo), bins - 1
        for v in values:
            if lo <= v <= hi:
                counts[min(int((v - lo) * scale), top)] += 1
    else:
        counts[bins // 2] = sum(v == lo for v in values)
    return Histogram(lo, hi, counts)


def output_range(activation: Activation, data: Sequence[float]) -> tuple[float, float]:
    """The activation's own range where it has one, else the data's (with the output of
    a unit that is off, so that its bar is always there)."""
    if activation.range is not None:
        return activation.range
    finite = [v for v in data if math.isfinite(v)] or [0.0]
    if activation.off is not None:
        finite.append(activation.off)
    lo = min(finite)
    return lo, max(max(finite), lo)


def gradient_range(values: Sequence[float]) -> tuple[float, float]:
    """[-r, r] with r the largest |value|, but at most 4 RMS: a few large gradients would
    squeeze all the others into the middle bar (values beyond r go uncounted)."""
    finite = [v for v in values if math.isfinite(v)]
    largest = max(map(abs, finite), default=0.0)
    rms = norm(finite) / math.sqrt(len(finite)) if finite else 0.0
    return -min(largest, 4 * rms), min(largest, 4 * rms)


def flat_share(activation: Activation, data: Sequence[float]) -> float | None:
    """The fraction of outputs on a flat part of the activation, where almost no gradient
    passes back: exactly its `off` output (relu's 0: the unit is off), or beyond SATURATION
    into its flat tails (tanh |out| > 0.97; sigmoid |2 out - 1| > 0.97, the same slope). None
    for activations with neither (linear, leaky_relu) or without outputs."""
    if not data:
        return None
    if activation.off is not None:
        return sum(v == activation.off for v in data) / len(data)
    if activation.tail is not None:
        return sum(activation.tail(v) > SATURATION for v in data) / len(data)
    return None


# -------------------------------------------------------------- warning signs


def warnings(frames: Sequence, activations: Sequence[Activation], widths: Sequence[int],
             k: int) -> list[WarningSign]:
    """The warning signs in frame k of a run's `frames` (history.Frame), whose layers have
    these activations and widths: dead units, saturated units, vanishing gradients, steps
    too large or too small for the weights, and a training loss that has stopped falling
    short of a fit."""
    frame = frames[k]
    if not frame.layers:
        return []
    found = []
    for i, (stats, activation, width) in enumerate(zip(frame.layers, activations, widths)):
        if stats.dead is not None and len(stats.dead) >= DEAD_HINT * width:
            found.append(WarningSign(
                f"layers.{i}: {len(stats.dead) / width:.0%} of {activation.title}s dead "
                f"({activation.off:g} for every sample, so no gradient flows) \u2014 try a "
                f"smaller lr or leaky_relu", "dead", [i]))
        if activation.tail is not None and stats.flat is not None and \
                stats.flat >= SATURATED_HINT:
            found.append(WarningSign(
                f"layers.{i}: {stats.flat:.0%} of {activation.title} outputs saturated (on "
                f"the flat tails, so little gradient) \u2014 try smaller weights or relu",
                "saturated", [i]))
    last = frame.layers[-1].grad_norm
    weak = {i: last / stats.grad_norm if stats.grad_norm else math.inf
            for i, stats in enumerate(frame.layers[:-1])
            if stats.grad_norm * VANISHING_HINT < last}
    if weak:
        found.append(WarningSign(
            f"{_listing(weak)}: gradients {_times(weak)} smaller than the output layer's, "
            f"so learning there is slow (vanishing gradients) \u2014 try relu or fewer "
            f"layers", "vanishing", list(weak)))
    ratios = {i: s.update_ratio for i, s in enumerate(frame.layers) if s.update_ratio is not None}
    large = {i: r for i, r in ratios.items() if r > LARGE_UPDATE_HINT}
    if large:
        found.append(WarningSign(
            f"{_listing(large)}: steps change the weights by up to "
            f"{10 ** max(large.values()):.0%} of their size, too much to settle \u2014 "
            f"try a smaller lr", "large steps", list(large)))
    small = {i: r for i, r in ratios.items() if r < SMALL_UPDATE_HINT}
    if small and frame.train_accuracy < FITTED:
        found.append(WarningSign(
            f"{_listing(small)}: steps change the weights by at most "
            f"{10 ** max(small.values()):.0e} of their size, so they hardly move "
            f"\u2014 try a larger lr (or Adam)", "small steps", list(small)))
    since = _stalled_since(frames, k)
    if since is not None:
        found.append(WarningSign(
            f"the training loss has stayed at {frame.train_loss:.3g} since epoch {since} "
            f"with {frame.train_accuracy:.0%} train accuracy: learning has stalled",
            "stalled", []))
    return found


def _stalled_since(frames: Sequence, k: int) -> int | None:
    """The first epoch of the flat stretch (>= STALL_EPOCHS long) ending at frame k, if
    the training loss moved less than STALL_CHANGE of itself there without a fit."""
    frame = frames[k]
    if frame.train_accuracy >= FITTED or not math.isfinite(frame.train_loss):
        return None
    since = None
    for earlier in reversed(frames[:k]):
        if abs(earlier.train_loss - frame.train_loss) > STALL_CHANGE * frame.train_loss:
            break
        since = earlier.epoch
    return since if since is not None and frame.epoch - since >= STALL_EPOCHS else None


def _listing(layers: Mapping[int, float]) -> str:
    """The layers named: 'layers.3', 'layers 0, 2 and 5', or 'layers 0 to 6' for a run."""
    numbers = list(layers)
    if len(numbers) == 1:
        return f"layers.{numbers[0]}"
    if len(numbers) > 2 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"layers {numbers[0]} to {numbers[-1]}"
    return "layers " + ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def _times(factors: Mapping[int, float]) -> str:
    """The factors' range: '66\u00d7', or '28\u00d7 to 66\u00d7'."""
    low, high = (f"{f:,.0f}\u00d7" for f in (min(factors.values()), max(factors.values())))
    return low if low == high else f"{low} to {high}"
