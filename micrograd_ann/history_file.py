"""The history file format: a recorded training run as JSON, checked field by field.

    {"format": "micrograd_ann.history", "version": 2,
     "architecture": {"nin": 2, "nouts": [16, 16, 1], "activation": "relu",
                      "output_activation": "linear"},
     "record_every": 5, "epochs": 100, "info": {"dataset": "moons", ...},
     "saturation": 0.97, "leaky_slope": 0.01,
     "train": [[[0.5, -1.0], 0], ...], "test": [...],
     "frames": [{"epoch": 0, "train_loss": 0.69, "train_accuracy": 0.5,
                 "test_loss": 0.7, "test_accuracy": null,
                 "params": "<base64>", "test_predictions": [1, 0, ...],
                 "layers": null}, ...]}

A frame's parameters (parameters() order) are the base64 of their float64 bytes, little
endian: exact, and 11 bytes each instead of ~20 as JSON numbers. A metric that is nan is
null; `layers` holds each layer's statistics (history.LayerStats) from the frame's epoch.

check() is the one definition of a valid history: read() runs it on a file before anything
is built from it, and History.save() and to_html() on what they write or draw, so what
save() writes read() accepts. Its sizes are bounded by the limits below, derived from what
`train` can record (limits.py), and checked before any model is built: a file declaring a
100,000 x 100,000 layer is refused in microseconds.
"""

from __future__ import annotations

import base64
import json
import math
import numbers
import os
import sys
from array import array
from typing import Sequence

from .checks import check_keys, is_number, shown
from .files import RefusedFileError, read_limited
from .limits import BINS, MAX_PARAMETERS, MAX_SAMPLES
from .activations import ACTIVATIONS, of_layers

FORMAT = "micrograd_ann.history"
VERSION = 2
FRAMES = 20  # by default a run of known length is recorded about this many times

# ------------------------------------------------------------------------- limits
# A history holds at most MAX_PARAMETERS parameters per frame and MAX_SAMPLES samples, as
# train does; MAX_INPUTS numbers in all its samples' inputs (train's 2-D datasets at
# MAX_SAMPLES; the 1,797 8x8 digits take 115,008); and frames that save() writes in at most
# MAX_FRAME_BYTES -- room for 21 frames (FRAMES + 1, what train records) of the largest
# model train builds. History keeps to that by thinning its frames as it records.
MAX_INPUTS = 2 * MAX_SAMPLES
MAX_FRAME_BYTES = 50 * 2**20
MAX_INFO_BYTES = 64 * 2**10  # `info` as JSON
_HEADER_BYTES = MAX_INFO_BYTES + 64 * 2**10
_NUMBER_BYTES, _SAMPLE_BYTES = 25, 12  # at most, with its comma; a sample's brackets and class
MAX_BYTES = (_HEADER_BYTES + MAX_FRAME_BYTES + _NUMBER_BYTES * MAX_INPUTS
             + _SAMPLE_BYTES * MAX_SAMPLES)  # about 58 MB
# Parsing is bounded too: every JSON number and every list or object of a valid file fits
# these counts (each frame byte estimated below stands for at most 1/7 of a number).
_MAX_NUMBERS = MAX_FRAME_BYTES // 7 + MAX_INPUTS + MAX_SAMPLES + MAX_INFO_BYTES
_MAX_CONTAINERS = 2 * MAX_SAMPLES + MAX_FRAME_BYTES // 100 + MAX_INFO_BYTES

_KEYS = ("format", "version", "architecture", "record_every", "epochs", "info",
         "saturation", "leaky_slope", "train", "test", "frames")
_ARCHITECTURE_KEYS = ("nin", "nouts", "activation", "output_activation")
_FRAME_KEYS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
               "params", "test_predictions", "layers")
_LAYER_KEYS = ("activations", "gradients", "dead", "flat", "grad_norm", "update_ratio")
_HISTOGRAM_KEYS = ("lo", "hi", "counts")


class HistoryError(ValueError):
    """A file that is not a saved History; the message names the file, the field and what
    is wrong with it."""


def frame_bytes(n_params: int, n_test: int, nouts: Sequence[int]) -> int:
    """At most the bytes save() writes for one frame of a model with these sizes: its
    parameters, test predictions, dead units and per-layer statistics."""
    return 11 * n_params + 7 * n_test + 7 * sum(nouts) + 800 * len(nouts) + 260


def parameter_count(nin: int, nouts: Sequence[int]) -> int:
    """Weights and biases of MLP(nin, nouts), computed without building it."""
    return sum((n_in + 1) * n_out for n_in, n_out in zip([nin, *nouts], nouts))


def classes(nouts: Sequence[int]) -> int:
    """How many classes a model's outputs tell apart: 2 for one output (its sign)."""
    return max(2, nouts[-1])


def encode_params(params: Sequence[float]) -> str:
    """Parameters as the file holds them: base64 of little-endian float64s."""
    data = array("d", params)
    if sys.byteorder == "big":
        data.byteswap()
    return base64.b64encode(data.tobytes()).decode("ascii")


def decode_params(text: str) -> list[float]:
    """encode_params() undone (the text is checked by check())."""
    data = array("d", base64.b64decode(text, validate=True))
    if sys.byteorder == "big":
        data.byteswap()
    return data.tolist()


# --------------------------------------------------------------------- reading


def read(path: str | os.PathLike) -> dict:
    """The checked content of a history file. HistoryError naming the file and the field for
    anything that is not a saved history: a special file, more than MAX_BYTES (before
    reading), not UTF-8 JSON, too many numbers or lists, or any field check() refuses. A
    missing or unreadable file is the usual OSError."""
    where = os.fsdecode(path)
    try:
        data = read_limited(where, MAX_BYTES)
    except RefusedFileError as exc:
        more = " (history_file.MAX_BYTES)" if exc.too_large else ""
        raise HistoryError(f"{where}: not a history: {exc.reason}{more}") from None
    if data.count(b"[") + data.count(b"{") > _MAX_CONTAINERS:
        raise HistoryError(f"{where}: not a history: more lists and objects than any "
                           f"history holds")
    numbers = _NumberParser()
    try:
        doc = json.loads(data.decode("utf-8"), parse_float=numbers.float,
                         parse_int=numbers.int, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise HistoryError(f"{where}: not valid JSON (not UTF-8 text: {exc.reason} at byte "
                           f"{exc.start})") from None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else exc
        raise HistoryError(f"{where}: not valid JSON: {reason}") from None
    try:
        check(doc)
    except (TypeError, ValueError) as exc:
        raise HistoryError(f"{where}: {exc}") from None
    return doc


class _NumberParser:
    """json's number parsers for one file, counting: more numbers than any history holds
    is an error. Integers of more than 18 digits are read as floats (no big-int work)."""

    def __init__(self):
        self.seen = 0

    def float(self, text: str) -> float:
        self.seen += 1
        if self.seen > _MAX_NUMBERS:
            raise ValueError("more numbers than any history holds")
        return float(text)

    def int(self, text: str) -> int | float:
        return int(self.float(text)) if len(text.lstrip("-")) <= 18 else self.float(text)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON (a metric that is nan is null)")


# ------------------------------------------------------------------- checking


def check(doc: object) -> None:
    """Raise TypeError or ValueError, one line naming the field, unless `doc` is a history
    as save() writes it -- sizes first, so nothing large is looked at before it is known
    to be within the limits."""
    check_keys("the file", doc, _KEYS)
    if doc["format"] != FORMAT:
        raise ValueError(f"format: {shown(doc['format'])}, not {FORMAT!r}: not a history")
    version = doc["version"]
    if type(version) is not int or version != VERSION:
        newer = "newer" if type(version) is int and version > VERSION else "another"
        raise ValueError(f"version: {shown(version)}, written by {newer} micrograd_ann; "
                         f"this one reads version {VERSION}")
    nin, nouts = _architecture(doc["architecture"])
    n_params = parameter_count(nin, nouts)
    _int("record_every", doc["record_every"], 1)
    if doc["epochs"] is not None:
        _int("epochs", doc["epochs"], 1)
    check_info("info", doc["info"])
    _number("saturation", doc["saturation"], 0.0, 1.0)
    _number("leaky_slope", doc["leaky_slope"])
    train, test = doc["train"], doc["test"]
    check_samples(train, test, nin, classes(nouts))
    frames = _list("frames", doc["frames"])
    if not frames:
        raise ValueError("frames: empty; a history holds at least epoch 0")
    each = frame_bytes(n_params, len(test), nouts)
    if len(frames) * each > MAX_FRAME_BYTES:
        raise ValueError(f"frames: {len(frames):,} frames of MLP({nin}, {nouts}) take more "
                         f"than the {MAX_FRAME_BYTES:,} bytes a history holds "
                         f"(history_file.MAX_FRAME_BYTES)")
    epoch = -1
    for k, frame in enumerate(frames):
        epoch = _frame(f"frames[{k}]", frame, epoch, n_params, len(test), nouts, doc)


def _architecture(arch: object) -> tuple[int, list[int]]:
    check_keys("architecture", arch, _ARCHITECTURE_KEYS)
    nin = _int("architecture.nin", arch["nin"], 1, MAX_PARAMETERS)
    nouts = _list("architecture.nouts", arch["nouts"])
    if not nouts or len(nouts) > MAX_PARAMETERS:
        raise ValueError(f"architecture.nouts: {len(nouts):,} layers; an MLP has 1 to "
                         f"{MAX_PARAMETERS:,}")
    for i, n in enumerate(nouts):
        _int(f"architecture.nouts[{i}]", n, 1, MAX_PARAMETERS)
    count = parameter_count(nin, nouts)
    if count > MAX_PARAMETERS:
        raise ValueError(f"architecture: MLP({nin}, {shown(nouts)}) has {count:,} parameters; "
                         f"a history holds at most {MAX_PARAMETERS:,} (limits.MAX_PARAMETERS)")
    for key in ("activation", "output_activation"):
        if not isinstance(arch[key], str) or arch[key] not in ACTIVATIONS:
            raise ValueError(f"architecture.{key}: {shown(arch[key])}, not one of "
                             f"{', '.join(ACTIVATIONS)}")
    return nin, nouts


def check_info(field: str, info: object) -> None:
    """`info` must be an object of JSON data: str keys; str, finite number, bool, null,
    list or object values; at most MAX_INFO_BYTES as JSON."""
    if not isinstance(info, dict):
        raise TypeError(f"{field}: expected a dict of JSON data, got {type(info).__name__}")
    try:
        size = len(json.dumps(info, allow_nan=False))  # ASCII: characters are bytes
    except (TypeError, ValueError, RecursionError):
        size = None
    if size is None:
        _json_data(field, info, 0)  # says where and why
        raise ValueError(f"{field}: not JSON data")  # what json refused and it did not see
    if size > MAX_INFO_BYTES:
        raise ValueError(f"{field}: {size:,} bytes as JSON; at most {MAX_INFO_BYTES:,}")


def _json_data(field: str, value: object, depth: int) -> None:
    """TypeError or ValueError naming the first part of `value` that is not JSON data."""
    if depth > 50:
        raise ValueError(f"{field}: nested more than 50 deep")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{field}: key {shown(key)} is not a str")
            _json_data(f"{field}[{key!r}]", item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _json_data(f"{field}[{i}]", item, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{field}: {value} is not a finite number")
    elif not isinstance(value, (str, int, float, bool, type(None))):
        raise TypeError(f"{field}: a {type(value).__name__} is not JSON data (str, number, "
                        f"bool, None, list or dict)")


def check_samples(train: object, test: object, nin: int, n_classes: int) -> None:
    """train and test: lists of [x, class] pairs, x a list of nin finite numbers, the class an
    int in [0, n_classes); at least one training sample, MAX_SAMPLES and MAX_INPUTS in all."""
    train = _list("train", train)
    test = _list("test", test)
    if not train:
        raise ValueError("train: no samples; a history needs at least one")
    total = len(train) + len(test)
    if total > MAX_SAMPLES:
        raise ValueError(f"train and test: {total:,} samples; a history holds at most "
                         f"{MAX_SAMPLES:,} (limits.MAX_SAMPLES)")
    if total * nin > MAX_INPUTS:
        raise ValueError(f"train and test: {total:,} samples of {nin} inputs; a history holds "
                         f"at most {MAX_INPUTS:,} input numbers")
    for name, samples in (("train", train), ("test", test)):
        for i, sample in enumerate(samples):
            field = f"{name}[{i}]"
            if not isinstance(sample, (list, tuple)) or len(sample) != 2:
                raise TypeError(f"{field}: expected a pair [inputs, class], got "
                                f"{shown(sample)}")
            x, y = sample
            if not isinstance(x, (list, tuple)) or len(x) != nin:
                raise ValueError(f"{field}: expected {nin} inputs (the model's nin), got "
                                 f"{shown(x)}")
            for j, v in enumerate(x):
                _number(f"{field} input {j}", v)
            _int(f"{field} class", y, 0, n_classes - 1)


def _frame(field: str, frame: object, after: int, n_params: int, n_test: int,
           nouts: list[int], doc: dict) -> int:
    """Check one frame (its epoch later than `after`); its epoch."""
    check_keys(field, frame, _FRAME_KEYS)
    epoch = _int(f"{field}.epoch", frame["epoch"], 0 if after < 0 else after + 1)
    if after < 0 and epoch != 0:
        raise ValueError(f"{field}.epoch: {epoch}; the first frame is epoch 0")
    for key in ("train_loss", "test_loss"):
        _metric(f"{field}.{key}", frame[key])
    for key in ("train_accuracy", "test_accuracy"):
        _metric(f"{field}.{key}", frame[key], 0.0, 1.0)
    params = frame["params"]
    if not isinstance(params, str):
        raise TypeError(f"{field}.params: expected base64 text, got {type(params).__name__}")
    if len(params) != 4 * -(-8 * n_params // 3):
        raise ValueError(f"{field}.params: {len(params):,} characters of base64; "
                         f"{n_params:,} parameters take {4 * -(-8 * n_params // 3):,}")
    try:
        values = decode_params(params)
    except ValueError:  # binascii.Error
        raise ValueError(f"{field}.params: not base64 text") from None
    if not all(map(math.isfinite, values)):
        bad = next(i for i, v in enumerate(values) if not math.isfinite(v))
        raise ValueError(f"{field}.params: parameter {bad} is {values[bad]}; every parameter "
                         f"must be finite (did the run diverge?)")
    predictions = _list(f"{field}.test_predictions", frame["test_predictions"])
    if len(predictions) != n_test:
        raise ValueError(f"{field}.test_predictions: {len(predictions)} for {n_test} test "
                         f"samples")
    top = classes(nouts) - 1
    for i, p in enumerate(predictions):
        _int(f"{field}.test_predictions[{i}]", p, 0, top)
    if frame["layers"] is not None:
        _layers(f"{field}.layers", frame["layers"], nouts, doc["architecture"])
    return epoch


def _layers(field: str, layers: object, nouts: list[int], arch: dict) -> None:
    layers = _list(field, layers)
    if len(layers) != len(nouts):
        raise ValueError(f"{field}: {len(layers)} layers, the architecture has {len(nouts)}")
    for i, (stats, width, activation) in enumerate(zip(layers, nouts, of_layers(arch))):
        at = f"{field}[{i}]"
        check_keys(at, stats, _LAYER_KEYS)
        for key in ("activations", "gradients"):
            _histogram(f"{at}.{key}", stats[key])
        dead = stats["dead"]
        if activation.off is None and dead is not None:
            raise ValueError(f"{at}.dead: a list for a {activation.name} layer; only layers "
                             f"whose activation can be off (relu) have dead units (null)")
        if activation.off is not None:
            dead = _list(f"{at}.dead", dead)
            for j, unit in enumerate(dead):
                _int(f"{at}.dead[{j}]", unit, 0 if j == 0 else dead[j - 1] + 1, width - 1)
        if stats["flat"] is not None:
            _number(f"{at}.flat", stats["flat"], 0.0, 1.0)
        _metric(f"{at}.grad_norm", stats["grad_norm"], 0.0)
        if stats["update_ratio"] is not None:
            _number(f"{at}.update_ratio", stats["update_ratio"])


def _histogram(field: str, hist: object) -> None:
    check_keys(field, hist, _HISTOGRAM_KEYS)
    lo = _number(f"{field}.lo", hist["lo"])
    _number(f"{field}.hi", hist["hi"], lo)
    counts = _list(f"{field}.counts", hist["counts"])
    if len(counts) != BINS:
        raise ValueError(f"{field}.counts: {len(counts)} bins, not {BINS}")
    for b, n in enumerate(counts):
        _int(f"{field}.counts[{b}]", n, 0)


# ---------------------------------------------------------------- field checks


def _list(field: str, value: object) -> list:
    if not isinstance(value, list):
        raise TypeError(f"{field}: expected a list, got {shown(value)}")
    return value


def _int(field: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{field}: expected an int, got {shown(value)}")
    value = int(value)
    if value < low or (high is not None and value > high):
        upto = f" to {high:,}" if high is not None else " or more"
        raise ValueError(f"{field}: {shown(value)}, expected {low:,}{upto}")
    return value


def _number(field: str, value: object, low: float = -math.inf,
            high: float = math.inf) -> float:
    """A finite number (not a bool) in [low, high]."""
    if not is_number(value):
        raise TypeError(f"{field}: expected a number, got {shown(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{field}: {value} is not a finite number")
    if not low <= value <= high:
        raise ValueError(f"{field}: {value!r}, expected {low:g} to {high:g}")
    return value


def _metric(field: str, value: object, low: float = -math.inf, high: float = math.inf) -> None:
    """A finite number in [low, high], or null for nan."""
    if value is not None:
        _number(field, value, low, high)
