"""The checkpoint file format: a model's architecture and parameters as JSON, checked.

A checkpoint holds a format tag and version, the architecture (the MLP constructor
arguments that fix the parameter names) and every parameter by its dotted name:

    {"format": "micrograd_ann.checkpoint", "version": 1,
     "architecture": {"nin": 2, "nouts": [16, 16, 1], "activation": "relu",
                      "output_activation": "linear"},
     "parameters": {"layers.0.neurons.0.w.0": 0.6888437030500962, ...}}

Floats are written as repr() writes them, so a save/load round trip is exact. This module
knows only the format: write() and read() move plain data, and save() and load() ask the
model for its architecture() and state_dict(); nn's MLP.from_file builds the model.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping, NamedTuple

from .checks import check_keys, check_number
from .files import RefusedFileError, read_limited, write_atomic
from .limits import MAX_PARAMETERS

FORMAT = "micrograd_ann.checkpoint"
VERSION = 1
_KEYS = ("format", "version", "architecture", "parameters")
_ARCHITECTURE_KEYS = ("nin", "nouts", "activation", "output_activation")

# Reading is bounded before any parsing. A checkpoint holds at most MAX_PARAMETERS
# parameters, the largest model train builds (write() refuses more), and a file is read
# only if it is at most what that many could take: _HEADER_BYTES plus _BYTES_PER_PARAMETER
# each, about twice the longest line save() writes for one, so other layouts fit too.
# load(model, ...) allows the same for the model's own parameters.
_HEADER_BYTES = 64 * 2**10
_BYTES_PER_PARAMETER = 128
MAX_BYTES = _HEADER_BYTES + MAX_PARAMETERS * _BYTES_PER_PARAMETER  # 25,665,536
_LONGEST_INT = 18  # JSON integers with more digits are read as floats (huge: inf), not ints

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A file that cannot be loaded into the model; the message names the file and why."""


class Checkpoint(NamedTuple):
    """A checked checkpoint file: where it came from, the architecture, {name: float}."""

    path: str
    architecture: dict[str, Any]
    parameters: dict[str, float]

    def load_into(self, model: Any) -> None:
        """Set `model`'s parameters, after checking its architecture() is this one.

        CheckpointError naming the file on any mismatch; the model is untouched then.
        """
        _check_architecture(self.path, self.architecture, _architecture(model))
        try:
            model.load_state_dict(self.parameters)  # checks every name before setting any
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{self.path}: {exc}") from None


# ---------------------------------------------------------------------------- write


def save(model: Any, path: PathLike) -> None:
    """Write `model` (anything with architecture() and state_dict(), i.e. an MLP) to `path`."""
    write(path, _architecture(model), model.state_dict())


def write(path: PathLike, architecture: Mapping[str, Any],
          parameters: Mapping[str, float]) -> None:
    """Write a checkpoint atomically (files.write_atomic): a failed write leaves any old file.

    Non-finite parameters, or more than MAX_PARAMETERS of them, are a ValueError (such a
    file could not be loaded back).
    """
    if len(parameters) > MAX_PARAMETERS:
        raise ValueError(f"cannot save a model of {len(parameters):,} parameters: a checkpoint "
                         f"holds at most {MAX_PARAMETERS:,} (limits.MAX_PARAMETERS), so "
                         f"it could not be loaded back")
    bad = [name for name, value in parameters.items() if not math.isfinite(value)]
    if bad:
        raise ValueError(f"cannot save a model with non-finite parameters (it could not be "
                         f"loaded back): {len(bad)} of them, e.g. {bad[0]} = "
                         f"{parameters[bad[0]]}")
    doc = {"format": FORMAT, "version": VERSION, "architecture": dict(architecture),
           "parameters": dict(parameters)}
    write_atomic(path, json.dumps(doc, indent=1) + "\n")


def _architecture(model: Any) -> dict[str, Any]:
    if not callable(getattr(model, "architecture", None)):
        raise TypeError(f"checkpoints hold a model that reports its architecture() "
                        f"(an MLP), got {type(model).__name__}")
    return model.architecture()


# ---------------------------------------------------------------------------- read


def load(model: Any, path: PathLike) -> None:
    """Set `model`'s parameters from a file written by save() for the same architecture.

    The whole file is checked first -- as read() does, and against the model's
    architecture and parameter names -- and on any problem CheckpointError names the file
    and the problem, leaving the model untouched. The file may be at most what this
    model's parameters can take (64 KiB and 128 bytes each).
    """
    expected = _architecture(model)
    count = len(model.state_dict())
    limit = min(MAX_BYTES, _HEADER_BYTES + count * _BYTES_PER_PARAMETER)
    largest = f"the most a checkpoint of a {count}-parameter model takes"
    _read(path, limit, largest, expected).load_into(model)


def read(path: PathLike) -> Checkpoint:
    """The checked content of a checkpoint file, as plain data.

    CheckpointError naming the file for anything that is not a checkpoint: a special file
    (directory, FIFO, device), more than MAX_BYTES (checked before reading), not UTF-8
    JSON, nested too deeply, a wrong layout, non-finite or non-number parameters, an
    architecture of more than MAX_PARAMETERS parameters, or more or fewer parameters than
    its sizes imply. A missing or unreadable file is the usual OSError.
    """
    return _read(path, MAX_BYTES, "the most any checkpoint may take (checkpoint.MAX_BYTES)")


def _read(path: PathLike, max_bytes: int, largest: str,
          expected: dict[str, Any] | None = None) -> Checkpoint:
    """read(), at most `max_bytes` (`largest` says whose limit that is); with the `expected`
    architecture, a different one is reported first and the names are left to the model."""
    where = os.fsdecode(path)
    text = _read_text(where, max_bytes, largest)
    try:
        doc = json.loads(text, object_pairs_hook=_unique_keys, parse_int=_json_int)
    except ValueError as exc:  # JSONDecodeError, a duplicate key
        raise CheckpointError(f"{where}: not valid checkpoint JSON (truncated, or not "
                              f"written by save()?): {exc}") from None
    except RecursionError:
        raise CheckpointError(f"{where}: not a checkpoint: its JSON is nested too "
                              f"deeply") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{where}: not a micrograd_ann checkpoint "
                              f"(no \"format\": \"{FORMAT}\")")
    version = doc.get("version")
    if type(version) is not int or version != VERSION:
        newer = " (written by a newer micrograd_ann?)" if type(version) is int else ""
        raise CheckpointError(f"{where}: format version {version!r}{newer}; "
                              f"this micrograd_ann reads version {VERSION}")
    _check_keys(where, "the file", doc, _KEYS)
    _check_keys(where, "\"architecture\"", doc["architecture"], _ARCHITECTURE_KEYS)
    parameters = _parameters(where, doc["parameters"])
    if expected is not None:
        _check_architecture(where, doc["architecture"], expected)
    else:
        count = _parameter_count(doc["architecture"])
        if count is not None and count > MAX_PARAMETERS:
            raise CheckpointError(f"{where}: the architecture has {count:,} parameters, more "
                                  f"than the {MAX_PARAMETERS:,} a checkpoint may hold")
        if count is not None and count != len(parameters):
            raise CheckpointError(f"{where}: the architecture has {count} parameters, "
                                  f"the file holds {len(parameters)}")
    return Checkpoint(where, doc["architecture"], parameters)


def _check_architecture(where: str, found: dict[str, Any], expected: dict[str, Any]) -> None:
    # Compared as JSON text, so 1 and true, or 2 and 2.0, count as different.
    differ = [key for key in _ARCHITECTURE_KEYS
              if json.dumps(found[key]) != json.dumps(expected.get(key))]
    if differ:
        shown = "; ".join(f"{key}={found[key]!r} in the file, {expected.get(key)!r} "
                          f"in the model" for key in differ)
        raise CheckpointError(f"{where}: architecture does not match: {shown}")


def _read_text(where: str, max_bytes: int, largest: str) -> str:
    """The file's text, read only if it is a regular file of at most max_bytes bytes."""
    try:
        data = read_limited(where, max_bytes)
    except RefusedFileError as exc:
        more = f", {largest}" if exc.too_large else ""
        raise CheckpointError(f"{where}: not a checkpoint: {exc.reason}{more}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{where}: not valid checkpoint JSON (not UTF-8 text: "
                              f"{exc.reason} at byte {exc.start})") from None


def _json_int(digits: str) -> int | float:
    """json's int parser: short integers as ints, long ones as floats (they are parameters
    or nonsense), so a 400-digit number costs no big-int work and reads as inf."""
    return int(digits) if len(digits.lstrip("-")) <= _LONGEST_INT else float(digits)


def _parameters(where: str, parameters: object) -> dict[str, float]:
    if not isinstance(parameters, dict):
        raise CheckpointError(f"{where}: \"parameters\" must be an object of name: number, "
                              f"got {type(parameters).__name__}")
    for name in parameters:
        if not name.isprintable():  # no control characters or lone surrogates in messages
            raise CheckpointError(f"{where}: parameter name {name!r} is not printable text")
    try:
        return {name: check_number(f"parameter {name}", value, finite=True)
                for name, value in parameters.items()}
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: {exc}") from None


def _parameter_count(architecture: dict[str, Any]) -> int | None:
    """Weights and biases the architecture implies; None if its sizes are not valid (then
    MLP() says why). Checked before building, so a corrupt size cannot make a huge model.
    """
    nouts = architecture["nouts"]
    sizes = [architecture["nin"], *nouts] if isinstance(nouts, list) and nouts else []
    if not sizes or not all(type(n) is int and n > 0 for n in sizes):
        return None
    return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))


def _check_keys(where: str, what: str, obj: object, keys: tuple[str, ...]) -> None:
    try:
        check_keys(what, obj, keys)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: {exc}") from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object hook: a repeated key is an error, not 'the last one wins'."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen.add(key)
    return dict(pairs)
