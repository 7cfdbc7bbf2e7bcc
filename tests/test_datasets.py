"""Datasets: sizes, balance, determinism, geometry, the digits loader and the split."""

from __future__ import annotations

import math
import random
import sys
import types
from collections import Counter

import pytest
from conftest import require_module

from micrograd_ann.datasets import (
    DATASETS,
    SPIRAL_RADIANS,
    load_digits,
    make_circles,
    make_moons,
    make_spiral,
    make_xor,
    train_test_split,
)
from micrograd_ann.extras import MissingExtraError

GENERATORS = [make_moons, make_circles, make_xor, make_spiral]


@pytest.mark.parametrize("make", GENERATORS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [3, 100, 101])
def test_count_balance_and_types(make, n):
    data = make(n)
    assert len(data) == n
    counts = Counter(label for _, label in data)
    k = 3 if make is make_spiral else 2
    assert sorted(counts) == list(range(k))
    assert max(counts.values()) - min(counts.values()) <= 1
    for features, label in data:
        assert type(label) is int
        assert len(features) == 2 and all(type(v) is float for v in features)


@pytest.mark.parametrize("make", GENERATORS, ids=lambda f: f.__name__)
def test_deterministic_for_a_seed_and_independent_of_global_random(make):
    random.seed(1)
    first = make(50, seed=7)
    random.seed(2)
    assert make(50, seed=7) == first
    assert make(50, seed=8) != first


def test_moons_lie_on_their_half_circles_without_noise():
    for (x, y), label in make_moons(101, noise=0.0):
        cx, cy = (0.0, 0.0) if label == 0 else (1.0, 0.5)
        assert math.isclose(math.hypot(x - cx, y - cy), 1.0, rel_tol=1e-12)
        assert (y >= -1e-12) if label == 0 else (y <= 0.5 + 1e-12)


def test_circles_have_radius_one_and_factor_without_noise():
    for (x, y), label in make_circles(60, noise=0.0, factor=0.3):
        assert math.isclose(math.hypot(x, y), (1.0, 0.3)[label], rel_tol=1e-12)


def test_xor_class_is_the_sign_of_x_times_y_without_noise():
    data = make_xor(200, noise=0.0)
    assert all((x * y < 0) == (label == 1) for (x, y), label in data)
    assert all(abs(x) <= 1.0 and abs(y) <= 1.0 for (x, y), _ in data)
    quadrants = Counter((x > 0, y > 0) for (x, y), _ in data)
    assert sorted(quadrants.values()) == [50, 50, 50, 50]


def test_spiral_arms_follow_the_formula_without_noise():
    data = make_spiral(90, n_classes=3, noise=0.0)
    for (x, y), label in data:
        r = math.hypot(x, y)
        angle = 2 * math.pi * label / 3 + SPIRAL_RADIANS * r
        assert math.isclose(x, r * math.cos(angle), abs_tol=1e-12)
        assert math.isclose(y, r * math.sin(angle), abs_tol=1e-12)
    assert max(math.hypot(*f) for f, _ in data) == pytest.approx(1.0)


def test_noise_has_the_requested_spread():
    noisy = make_circles(400, noise=0.2, seed=3)
    radii = [math.hypot(*f) - (1.0, 0.5)[label] for f, label in noisy]
    spread = math.sqrt(sum(r * r for r in radii) / len(radii))
    assert 0.17 < spread < 0.23  # the radial part of 2-D N(0, 0.2^2) noise has std ~0.2


@pytest.mark.parametrize("call, error, words", [
    (lambda: make_moons(0), ValueError, "n_samples must be at least 2, got 0"),
    (lambda: make_moons(-5), ValueError, "got -5"),
    (lambda: make_xor(2.5), TypeError, "n_samples must be an int, got float"),
    (lambda: make_spiral(2, n_classes=3), ValueError, "at least 3, got 2"),
    (lambda: make_spiral(10, n_classes=1), ValueError, "n_classes must be at least 2, got 1"),
    (lambda: make_circles(10, factor=1.0), ValueError, "factor must be in (0, 1), got 1.0"),
    (lambda: make_moons(10, noise=-0.1), ValueError, "noise must be a finite number >= 0"),
    (lambda: make_moons(10, noise="0.1"), TypeError, "noise must be a number, got str"),
    (lambda: train_test_split([1, 2], test_fraction=1.0), ValueError, "in (0, 1), got 1.0"),
    (lambda: train_test_split([1]), ValueError, "at least 2 samples, got 1"),
    (lambda: train_test_split([1, 2], 0.9), ValueError, "puts 2 in test and leaves none"),
])
def test_bad_arguments_raise_naming_the_value(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


def test_train_test_split_partitions_deterministically():
    data = make_moons(101)
    train, test = train_test_split(data, test_fraction=0.2, seed=4)
    assert (len(train), len(test)) == (80, 21)  # ceil(0.2 * 101) to test
    assert sorted(train + test) == sorted(data)
    assert train_test_split(data, 0.2, seed=4) == (train, test)
    assert train_test_split(data, 0.2, seed=5) != (train, test)


def test_registry_names_every_loader():
    assert DATASETS == {"moons": make_moons, "circles": make_circles, "xor": make_xor,
                        "spiral": make_spiral, "digits": load_digits}


def test_digits_without_scikit_learn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` fail
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    hint = r'the digits dataset \(scikit-learn\) needs .*pip install -e "\.\[digits\]"'
    with pytest.raises(MissingExtraError, match=hint):
        load_digits()


def _fake_sklearn(monkeypatch, n_per_class: int) -> None:
    """A stand-in sklearn.datasets whose images are their label in every pixel."""
    pixels = [[label] * 64 for label in range(10) for _ in range(n_per_class)]
    labels = [label for label in range(10) for _ in range(n_per_class)]
    module = types.ModuleType("sklearn.datasets")
    module.load_digits = lambda return_X_y: (pixels, labels)
    monkeypatch.setitem(sys.modules, "sklearn", types.ModuleType("sklearn"))
    monkeypatch.setitem(sys.modules, "sklearn.datasets", module)


def test_digits_scaling_balance_and_seeding(monkeypatch):
    _fake_sklearn(monkeypatch, n_per_class=20)
    everything = load_digits()
    assert len(everything) == 200
    assert all(f == [label / 16.0] * 64 for f, label in everything)
    subset = load_digits(n_samples=35, seed=1)
    assert sorted(Counter(label for _, label in subset).values()) == [3] * 5 + [4] * 5
    assert load_digits(n_samples=35, seed=1) == subset
    with pytest.raises(ValueError, match="n_samples must be <= 200, got 201"):
        load_digits(n_samples=201)


def test_real_digits_when_scikit_learn_is_installed():
    require_module("sklearn")  # the [digits] extra; the dev extra has it too
    data = load_digits()
    assert len(data) == 1797
    assert all(len(f) == 64 and 0.0 <= min(f) and max(f) <= 1.0 for f, _ in data)
    counts = Counter(label for _, label in data)
    assert [counts[k] for k in range(10)] == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert math.isclose(sum(sum(f) for f, _ in data), 35107.375)  # sum of raw pixels / 16
    assert max(max(f) for f, _ in data) == 1.0  # pixel values run 0..16
    assert load_digits(100, seed=2) == load_digits(100, seed=2)
