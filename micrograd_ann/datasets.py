"""Small classification datasets in pure Python, deterministic for a seed.

Every loader returns a list of (features, class index) pairs with classes 0..k-1 as
balanced as n_samples allows, shuffled by `random.Random(seed)` (the global random state
is never touched). `load_digits` needs the optional scikit-learn extra (without it:
extras.MissingExtraError).
"""

from __future__ import annotations

import math
import random
from typing import Callable

from .checks import check_int, check_number
from .extras import require

Sample = tuple[list[float], int]


def _class_sizes(n_samples: int, n_classes: int) -> list[int]:
    """Balanced class sizes: the first n_samples % n_classes classes get one more."""
    base, extra = divmod(n_samples, n_classes)
    return [base + (k < extra) for k in range(n_classes)]


def _linspace(start: float, stop: float, n: int) -> list[float]:
    """n evenly spaced numbers from start to stop, both included (just start when n == 1)."""
    if n == 1:
        return [start]
    return [start + (stop - start) * i / (n - 1) for i in range(n)]


def _jitter(rng: random.Random, points: list[tuple[float, float, int]],
            noise: float) -> list[Sample]:
    """Add Gaussian noise (std `noise`) to every coordinate, then shuffle."""
    samples = [([x + rng.gauss(0.0, noise), y + rng.gauss(0.0, noise)], label)
               for x, y, label in points]
    rng.shuffle(samples)
    return samples


def make_moons(n_samples: int = 100, noise: float = 0.1, seed: int = 0) -> list[Sample]:
    """Two interleaving half circles: class 0 on the unit upper half circle, class 1 on
    the lower one centred at (1, 0.5)."""
    check_int("make_moons: n_samples", n_samples, 2)
    noise = check_number("make_moons: noise", noise, 0.0, finite=True)
    upper, lower = _class_sizes(n_samples, 2)
    points = [(math.cos(t), math.sin(t), 0) for t in _linspace(0.0, math.pi, upper)]
    points += [(1.0 - math.cos(t), 0.5 - math.sin(t), 1) for t in _linspace(0.0, math.pi, lower)]
    return _jitter(random.Random(seed), points, noise)


def make_circles(n_samples: int = 100, noise: float = 0.05, factor: float = 0.5,
                 seed: int = 0) -> list[Sample]:
    """Two concentric circles: class 0 of radius 1, class 1 of radius `factor` (0 < f < 1)."""
    check_int("make_circles: n_samples", n_samples, 2)
    noise = check_number("make_circles: noise", noise, 0.0, finite=True)
    if not 0.0 < factor < 1.0:
        raise ValueError(f"make_circles: factor must be in (0, 1), got {factor!r}")
    points = []
    for label, (radius, n) in enumerate(zip((1.0, factor), _class_sizes(n_samples, 2))):
        for i in range(n):
            t = 2.0 * math.pi * i / n
            points.append((radius * math.cos(t), radius * math.sin(t), label))
    return _jitter(random.Random(seed), points, noise)


def make_xor(n_samples: int = 100, noise: float = 0.1, seed: int = 0) -> list[Sample]:
    """Points uniform in [-1, 1]^2 by quadrant: class 0 where x*y > 0, class 1 where x*y < 0.

    Each class alternates between its two quadrants; noise may push points across an axis.
    """
    check_int("make_xor: n_samples", n_samples, 2)
    noise = check_number("make_xor: noise", noise, 0.0, finite=True)
    rng = random.Random(seed)
    quadrants = {0: [(1, 1), (-1, -1)], 1: [(1, -1), (-1, 1)]}
    points = []
    for label, n in enumerate(_class_sizes(n_samples, 2)):
        for i in range(n):
            sx, sy = quadrants[label][i % 2]
            # 1 - random() is in (0, 1]: never 0, so the quadrant is never ambiguous
            points.append((sx * (1.0 - rng.random()), sy * (1.0 - rng.random()), label))
    return _jitter(rng, points, noise)


SPIRAL_RADIANS = 4.0  # how far each arm turns between radius 0 and radius 1


def make_spiral(n_samples: int = 100, n_classes: int = 3, noise: float = 0.1,
                seed: int = 0) -> list[Sample]:
    """`n_classes` interleaved spiral arms: arm k at radius r in (0, 1] has angle
    2*pi*k/n_classes + SPIRAL_RADIANS * r."""
    check_int("make_spiral: n_classes", n_classes, 2)
    check_int("make_spiral: n_samples", n_samples, n_classes)
    noise = check_number("make_spiral: noise", noise, 0.0, finite=True)
    points = []
    for label, n in enumerate(_class_sizes(n_samples, n_classes)):
        for i in range(n):
            r = (i + 1) / n
            angle = 2.0 * math.pi * label / n_classes + SPIRAL_RADIANS * r
            points.append((r * math.cos(angle), r * math.sin(angle), label))
    return _jitter(random.Random(seed), points, noise)


def load_digits(n_samples: int | None = None, seed: int = 0) -> list[Sample]:
    """scikit-learn's 1,797 8x8 handwritten digits: 64 pixels scaled to [0, 1], label 0-9.

    The data ships with scikit-learn (no download). Returns all samples, or a seeded
    subset of `n_samples` with the ten classes as balanced as the data allows, in a
    seeded order either way.
    """
    if n_samples is not None:  # checked before loading and scaling all the pixels
        check_int("load_digits: n_samples", n_samples, 1)
    sklearn_datasets = require("sklearn.datasets", "digits", "the digits dataset (scikit-learn)")
    pixels, labels = sklearn_datasets.load_digits(return_X_y=True)
    samples = [([float(v) / 16.0 for v in row], int(label))
               for row, label in zip(pixels, labels)]
    if n_samples is None:
        n_samples = len(samples)
    if n_samples > len(samples):
        raise ValueError(f"load_digits: n_samples must be <= {len(samples)}, got {n_samples}")
    rng = random.Random(seed)
    rng.shuffle(samples)
    # Deal the shuffled samples round-robin by class: the first n are balanced.
    seen: dict[int, int] = {}
    ranks = []
    for _, label in samples:
        ranks.append(seen.get(label, 0))
        seen[label] = ranks[-1] + 1
    order = sorted(range(len(samples)), key=ranks.__getitem__)
    return [samples[i] for i in order[:n_samples]]


def train_test_split(samples: list[Sample], test_fraction: float = 0.2,
                     seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """A seeded shuffle split: ceil(test_fraction * n) samples to test, the rest to train."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    shuffled = list(samples)
    if len(shuffled) < 2:
        raise ValueError(f"train_test_split needs at least 2 samples, got {len(shuffled)}")
    n_test = math.ceil(test_fraction * len(shuffled))
    if n_test >= len(shuffled):
        raise ValueError(f"test_fraction={test_fraction!r} of {len(shuffled)} samples puts "
                         f"{n_test} in test and leaves none to train on")
    random.Random(seed).shuffle(shuffled)
    return shuffled[n_test:], shuffled[:n_test]


DATASETS: dict[str, Callable[..., list[Sample]]] = {
    "moons": make_moons,
    "circles": make_circles,
    "xor": make_xor,
    "spiral": make_spiral,
    "digits": load_digits,
}
